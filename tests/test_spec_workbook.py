"""`cdiscgen spec export` / `spec import`: a study's specs as a workbook in the Pinnacle 21 specification
layout and back. Expected values come from the YAML files themselves (read with PyYAML) and from the
workbook read with openpyxl, never from the code under test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from cdiscgen.cli import main

from .conftest import REPO

STUDIES = {"darpal": REPO, "cdiscpilot01": REPO / "examples" / "cdiscpilot01"}


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for part in ("specs", "mappings")
        for p in sorted((folder / part).rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def _export(study: Path, xlsx: Path) -> None:
    result = CliRunner().invoke(main, ["spec", "export", "--study", str(study), "--xlsx", str(xlsx)])
    assert result.exit_code == 0, result.output


def _import(xlsx: Path, out: Path, *extra: str):
    return CliRunner().invoke(main, ["spec", "import", str(xlsx), "--out", str(out), *extra])


def _column(sheet, header: str) -> str:
    headers = [c.value for c in sheet[1]]
    return get_column_letter(headers.index(header) + 1)


def _row_of(sheet, **wanted: str) -> int:
    columns = {h: _column(sheet, h) for h in wanted}
    for row in range(2, sheet.max_row + 1):
        if all(sheet[f"{columns[h]}{row}"].value == v for h, v in wanted.items()):
            return row
    raise AssertionError(f"no row {wanted} in {sheet.title}")


@pytest.fixture(scope="module")
def darpal_book(tmp_path_factory) -> Path:
    xlsx = tmp_path_factory.mktemp("book") / "darpal.xlsx"
    _export(REPO, xlsx)
    return xlsx


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_export_then_import_gives_the_same_files_byte_for_byte(name, tmp_path):
    study = STUDIES[name]
    _export(study, tmp_path / "spec.xlsx")
    result = _import(tmp_path / "spec.xlsx", tmp_path / "back")
    assert result.exit_code == 0, result.output
    original, back = _files(study), _files(tmp_path / "back")
    assert sorted(back) == sorted(original)
    changed = [name for name in original if original[name] != back[name]]
    assert changed == []


def test_workbook_has_the_specification_sheets_one_row_per_item(darpal_book):
    book = load_workbook(darpal_book)
    assert book.sheetnames[:10] == [
        "Study", "Datasets", "Variables", "ValueLevel", "WhereClauses", "Codelists", "Dictionaries",
        "Methods", "Comments", "Documents",
    ]  # fmt: skip
    mapping_files = sorted(p.stem.upper() for p in (REPO / "mappings").glob("*.yaml"))
    assert [s for s in book.sheetnames if s.startswith("Mapping ")] == [f"Mapping {m}" for m in mapping_files]
    specs = [yaml.safe_load(p.read_text()) for p in sorted((REPO / "specs").glob("[sa][dd]*/*.yaml"))]
    assert book["Datasets"].max_row - 1 == len(specs)
    assert book["Variables"].max_row - 1 == sum(len(s["variables"]) for s in specs)
    entries = sum(len((s.get("value_level") or {}).get("entries") or []) for s in specs)
    assert book["ValueLevel"].max_row - 1 == entries
    codelists = yaml.safe_load((REPO / "specs" / "codelists.yaml").read_text())["codelists"]
    assert book["Codelists"].max_row - 1 == sum(
        len(c.get("terms") or [None]) for c in codelists if "dictionary" not in c
    )
    assert book["Dictionaries"].max_row - 1 == sum(1 for c in codelists if "dictionary" in c)
    for sheet in book.worksheets:  # frozen header, filter over the table, column widths set
        assert sheet.freeze_panes == "A2", sheet.title
        assert sheet.auto_filter.ref.startswith("A1:"), sheet.title
        assert sheet.column_dimensions["A"].width > 0
    variables = book["Variables"]
    age = _row_of(variables, Dataset="DM", Variable="AGE")
    dm = yaml.safe_load((REPO / "specs" / "sdtm" / "dm.yaml").read_text())
    spec = next(v for v in dm["variables"] if v["name"] == "AGE")
    assert variables[f"{_column(variables, 'Label')}{age}"].value == spec["label"]
    assert variables[f"{_column(variables, 'Range Max')}{age}"].value == spec["range"]["max"]
    assert variables[f"{_column(variables, 'Order')}{age}"].value == dm["variables"].index(spec) + 1
    sex = book["Codelists"]
    row = _row_of(sex, ID="SEX", Term="F")
    assert sex[f"{_column(sex, 'NCI Term Code')}{row}"].value == "C16576"
    assert sex[f"{_column(sex, 'Synonyms')}{row}"].value == "FEMALE"
    assert sex[f"{_column(sex, 'Extensible')}{row}"].value == "No"


def test_value_level_rows_point_at_where_clauses(darpal_book):
    book = load_workbook(darpal_book)
    lb = yaml.safe_load((REPO / "specs" / "sdtm" / "lb.yaml").read_text())
    vlm, clauses = book["ValueLevel"], book["WhereClauses"]
    rows = [r for r in range(2, vlm.max_row + 1) if vlm[f"B{r}"].value == "LB"]
    assert len(rows) == len(lb["value_level"]["entries"])
    for row, entry in zip(rows, lb["value_level"]["entries"], strict=True):
        clause = vlm[f"{_column(vlm, 'Where Clause')}{row}"].value
        conditions = {
            clauses[f"C{r}"].value: clauses[f"E{r}"].value
            for r in range(2, clauses.max_row + 1)
            if clauses[f"A{r}"].value == clause
        }
        assert conditions == entry["where"]
        assert vlm[f"{_column(vlm, 'Codelist')}{row}"].value == entry.get("codelist")


def test_an_edited_cell_reaches_the_yaml(darpal_book, tmp_path):
    book = load_workbook(darpal_book)
    variables = book["Variables"]
    row = _row_of(variables, Dataset="DM", Variable="AGE")
    variables[f"{_column(variables, 'Label')}{row}"] = "Age at Consent"
    methods = book["Methods"]
    row = _row_of(methods, ID="MT.DM.DTHFL")
    variables_text = "=IF(death, Y, blank)"  # text that looks like a formula stays text
    methods[f"{_column(methods, 'Description')}{row}"] = variables_text
    methods[f"{_column(methods, 'Description')}{row}"].data_type = "s"
    book.save(tmp_path / "edited.xlsx")
    result = _import(tmp_path / "edited.xlsx", tmp_path / "study")
    assert result.exit_code == 0, result.output
    dm = yaml.safe_load((tmp_path / "study" / "specs" / "sdtm" / "dm.yaml").read_text())
    assert next(v for v in dm["variables"] if v["name"] == "AGE")["label"] == "Age at Consent"
    assert next(m for m in dm["methods"] if m["id"] == "MT.DM.DTHFL")["description"] == variables_text
    check = CliRunner().invoke(main, ["check-specs", "--study", str(tmp_path / "study")])
    assert check.exit_code == 0, check.output


def test_a_workbook_with_errors_names_every_cell_and_writes_nothing(darpal_book, tmp_path):
    book = load_workbook(darpal_book)
    book.create_sheet("Notes")["A1"] = "a sheet the layout does not have"
    codelists = book["Codelists"]
    codelists.delete_cols([c.value for c in codelists[1]].index("Decoded Value") + 1)
    variables = book["Variables"]
    sex = _row_of(variables, Dataset="DM", Variable="SEX")
    codelist_cell = f"{_column(variables, 'Codelist')}{sex}"
    variables[codelist_cell] = "NY2"
    age = _row_of(variables, Dataset="DM", Variable="AGE")
    label_cell = f"{_column(variables, 'Label')}{age}"
    variables[label_cell] = "Age in Completed Years at Informed Consent"  # 42 characters
    length_cell = f"{_column(variables, 'Length')}{age}"
    variables[length_cell] = "three"
    book.save(tmp_path / "bad.xlsx")
    result = _import(tmp_path / "bad.xlsx", tmp_path / "study")
    assert result.exit_code == 2
    out = result.output
    assert "Notes!A1: unknown sheet 'Notes'" in out
    assert "Codelists!1: missing column 'Decoded Value'" in out
    assert f"Variables!{length_cell}: Length 'three' is not a whole number" in out
    assert "nothing was written" in out
    assert not (tmp_path / "study").exists()
    # the sheet-structure errors fixed, the spec errors are found next, each at its cell
    book = load_workbook(tmp_path / "bad.xlsx")
    del book["Notes"]
    book["Codelists"].cell(1, book["Codelists"].max_column + 1, "Decoded Value")
    book["Variables"][length_cell] = None
    book.save(tmp_path / "bad2.xlsx")
    result = _import(tmp_path / "bad2.xlsx", tmp_path / "study")
    assert result.exit_code == 2
    assert f"Variables!{codelist_cell}:" in result.output and "NY2" in result.output
    assert f"Variables!{label_cell}:" in result.output and "longer than 40" in result.output
    assert not (tmp_path / "study").exists()


def test_import_refuses_an_existing_study_unless_replacing(darpal_book, tmp_path):
    target = tmp_path / "study"
    (target / "specs").mkdir(parents=True)
    (target / "specs" / "old.yaml").write_text("kept: true\n")
    result = _import(darpal_book, target)
    assert result.exit_code == 2 and "--replace" in result.output
    assert (target / "specs" / "old.yaml").exists()
    result = _import(darpal_book, target, "--replace")
    assert result.exit_code == 0, result.output
    assert not (target / "specs" / "old.yaml").exists()
    assert _files(target) == _files(REPO)
    assert [p.name for p in target.iterdir() if p.name.startswith(".")] == []


def test_study_sheet_must_agree_with_study_yaml(darpal_book, tmp_path):
    book = load_workbook(darpal_book)
    study = book["Study"]
    row = _row_of(study, Attribute="StudyName")
    study[f"B{row}"] = "OTHER-STUDY"
    book.save(tmp_path / "renamed.xlsx")
    result = _import(tmp_path / "renamed.xlsx", tmp_path / "study")
    assert result.exit_code == 2
    assert f"Study!B{row}: StudyName 'OTHER-STUDY' differs from study.studyid" in result.output


def test_where_clause_comparators_and_file_lines_are_checked(darpal_book, tmp_path):
    book = load_workbook(darpal_book)
    clauses = book["WhereClauses"]
    clauses["D2"] = "IN"
    files = book["Files"]
    files["B3"] = 7  # the third line of a file numbered 7: a gap
    book.save(tmp_path / "bad.xlsx")
    result = _import(tmp_path / "bad.xlsx", tmp_path / "study")
    assert result.exit_code == 2
    assert "WhereClauses!D2: comparator 'IN' is not supported" in result.output
    assert "Files!B" in result.output and "numbered 1, 2, ..." in result.output


def test_export_refuses_a_study_with_spec_errors(tmp_path):
    study = tmp_path / "study"
    shutil.copytree(REPO / "specs", study / "specs")
    dm = study / "specs" / "sdtm" / "dm.yaml"
    dm.write_text(dm.read_text().replace("codelist: SEX", "codelist: SEX2"))
    result = CliRunner().invoke(
        main, ["spec", "export", "--study", str(study), "--xlsx", str(tmp_path / "x.xlsx")]
    )
    assert result.exit_code == 2
    assert "SEX2" in result.output
    assert not (tmp_path / "x.xlsx").exists()


def test_a_mapping_error_is_named_at_its_line_of_the_mapping_sheet(darpal_book, tmp_path):
    book = load_workbook(darpal_book)
    sheet = book["Mapping DM"]
    text = _column(sheet, "Text")
    row = next(
        r
        for r in range(2, sheet.max_row + 1)
        if "SUBJID: {assign: SUBJECT}" in (sheet[f"{text}{r}"].value or "")
    )
    sheet[f"{text}{row}"] = sheet[f"{text}{row}"].value.replace("assign", "asign")
    book.save(tmp_path / "bad.xlsx")
    result = _import(tmp_path / "bad.xlsx", tmp_path / "study")
    assert result.exit_code == 2
    assert f"Mapping DM!{text}{row}:" in result.output and "asign" in result.output
    assert not (tmp_path / "study").exists()
