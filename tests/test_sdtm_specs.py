"""Bad mapping specs fail before any data is read, naming file and line; a raw form missing a declared
column fails naming file and column."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from cdiscgen._specs import SpecError, load_study
from cdiscgen.simulate import simulate_study
from sdtm import RawDataError, check_mapping_specs, run_sdtm

ROOT = Path(__file__).resolve().parents[1]


def copy_study(tmp_path: Path) -> Path:
    target = tmp_path / "study"
    shutil.copytree(ROOT / "specs", target / "specs")
    shutil.copytree(ROOT / "mappings", target / "mappings")
    return target


def edit(path: Path, old: str, new: str) -> int:
    """Replace one line's text; return its 1-based line number."""
    lines = path.read_text().splitlines()
    hits = [i for i, line in enumerate(lines) if old in line]
    assert len(hits) == 1, f"{old!r} must occur once in {path}"
    lines[hits[0]] = lines[hits[0]].replace(old, new)
    path.write_text("\n".join(lines) + "\n")
    return hits[0] + 1


def errors_for(study_dir: Path) -> list:
    return [f for f in check_mapping_specs(load_study(study_dir)) if str(f.severity) == "error"]


def test_bundled_mapping_specs_are_clean():
    assert check_mapping_specs(load_study(ROOT)) == []


@pytest.mark.parametrize(
    "old,new,code,words",
    [
        ("LBORRESU: {assign: UNIT}", "LBORRESU: {lookup: UNIT}", "SPEC101", "unknown algorithm 'lookup'"),
        ("LBORRESU: {assign: UNIT}", "LBORRESU: {assign: UNITS}", "SPEC104", "raw column 'UNITS'"),
        ("LBORRESU: {assign: UNIT}", "LBXYZ: {assign: UNIT}", "SPEC111", "LBXYZ is not a variable of LB"),
        (
            "then: {assign: UNIT}",  # LBORRESU (a unit where there is a result)
            "then: {hardcode: furlong}",
            "SPEC105",
            "'furlong' is not a term of codelist UNIT",
        ),
        (
            "then: {assign: UNIT}",
            "then: {assign: UNIT, codelist: NOPE}",
            "SPEC106",
            "codelist 'NOPE' does not exist",
        ),
        # issue 28, item 7: passed check-specs, then `run` failed naming no file or line
        (
            "LBORRESU: {assign: UNIT}",  # the safety-lab source's (the line must be unique in lb.yaml)
            'LBORRESU: {assign: UNIT, extract: "(?P<n"}',
            "SPEC115",
            "regular expression '(?P<n' does not compile: missing >, unterminated name",
        ),
    ],
)
def test_bad_variable_rule_is_named_by_file_and_line(tmp_path, old, new, code, words):
    study_dir = copy_study(tmp_path)
    line = edit(study_dir / "mappings" / "lb.yaml", old, new)
    errors = errors_for(study_dir)
    assert [(f.code, f.file, f.line) for f in errors] == [(code, "mappings/lb.yaml", line)]
    assert words in errors[0].message


def test_values_map_target_outside_the_codelist(tmp_path):
    study_dir = copy_study(tmp_path)
    line = edit(
        study_dir / "mappings" / "rs.yaml", "values: {Not evaluable: NE}", "values: {Not evaluable: NOT EVAL}"
    )
    errors = errors_for(study_dir)
    assert [(f.code, f.file, f.line) for f in errors] == [("SPEC105", "mappings/rs.yaml", line)]


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        # the stage source writes only RSTESTCD ALSTAGE records: RSCAT is checked against the codelist the
        # value-level entry for ALSTAGE names (clinical-classification categories), not the response one
        (
            "RSCAT: {hardcode: MAYO 2004 WITH EUROPEAN MODIFICATION}",
            "RSCAT: {hardcode: PALLADINI 2012}",
            "codelist CCCAT (MAYO 2004 WITH EUROPEAN MODIFICATION)",
        ),
        (
            "RSCAT: {hardcode: PROTOCOL DEFINED RESPONSE CRITERIA}",  # the MRD source: RSTESTCD MRDIND
            "RSCAT: {hardcode: MAYO 2004 WITH EUROPEAN MODIFICATION}",
            "codelist RSCAT (PALLADINI 2012, PALLADINI 2014, PROTOCOL DEFINED RESPONSE CRITERIA)",
        ),
    ],
    ids=["classification-category-on-a-stage", "response-category-on-mrd"],
)
def test_a_hardcoded_value_is_checked_against_its_value_level_codelist(tmp_path, old, new, named):
    study_dir = copy_study(tmp_path)
    path = study_dir / "mappings" / "rs.yaml"
    line = edit(path, old, new)
    errors = errors_for(study_dir)
    assert [(f.code, f.file, f.line) for f in errors] == [("SPEC105", "mappings/rs.yaml", line)]
    assert named in errors[0].message


def test_a_link_needs_its_declared_column_and_the_relrec_spec(tmp_path):
    # a link on a raw column the source does not declare is named like any other column (SPEC104)
    study_dir = copy_study(tmp_path)
    line = edit(
        study_dir / "mappings" / "ds.yaml",
        "link: {name: AE, column: AE_NUMBER, cites: true}",
        "link: {name: AE, column: AE_NUM, cites: true}",
    )
    errors = errors_for(study_dir)
    assert [(f.code, f.file, f.line) for f in errors] == [("SPEC104", "mappings/ds.yaml", line)]
    assert "'AE_NUM'" in errors[0].message
    # without specs/sdtm/relrec.yaml there is nowhere to put the relationships: named before any data is read
    study_dir = copy_study(tmp_path / "second")
    (study_dir / "specs" / "sdtm" / "relrec.yaml").unlink()
    errors = errors_for(study_dir)
    assert {f.code for f in errors} == {"SPEC102"} and len(errors) == 5  # AE, EX, EC x2, DS sources
    assert all("specs/sdtm/relrec.yaml" in f.message for f in errors)


def test_condition_on_undeclared_column_and_bad_operator(tmp_path):
    study_dir = copy_study(tmp_path)
    path = study_dir / "mappings" / "lb.yaml"
    line = edit(path, "- if: {column: RESULT, op: empty}", "- if: {column: RESULT, op: blank}")
    errors = errors_for(study_dir)
    assert [(f.code, f.line) for f in errors] == [("SPEC103", line)]
    assert "'blank'" in errors[0].message


def test_unknown_step_and_ambiguous_date_formats(tmp_path):
    study_dir = copy_study(tmp_path)
    step_line = edit(study_dir / "mappings" / "lb.yaml", "- deduplicate: {keys:", "- dedup: {keys:")
    fmt_line = edit(
        study_dir / "mappings" / "cm.yaml",
        "formats: [YYYY-MM-DD, DD/MM/YYYY,",
        "formats: [MM/DD/YYYY, DD/MM/YYYY,",
    )
    errors = errors_for(study_dir)
    assert sorted((f.code, f.file, f.line) for f in errors) == [
        ("SPEC107", "mappings/cm.yaml", fmt_line),
        ("SPEC108", "mappings/lb.yaml", step_line),
    ]


def test_bad_spec_fails_before_any_data_is_read(tmp_path):
    study_dir = copy_study(tmp_path)
    edit(study_dir / "mappings" / "lb.yaml", "LBORRESU: {assign: UNIT}", "LBORRESU: {lookup: UNIT}")
    # the raw folder does not even exist: a SpecError (not a missing-file error) proves nothing was read
    with pytest.raises(SpecError) as info:
        run_sdtm(tmp_path / "no-such-raw-folder", load_study(study_dir))
    assert "mappings/lb.yaml" in str(info.value)


def test_raw_form_missing_a_required_column_names_file_and_column(tmp_path):
    raw = tmp_path / "raw"
    simulate_study(raw, subjects=6, seed=7)
    lab = pd.read_csv(raw / "central_lab.csv", dtype="str", keep_default_na=False)
    lab.drop(columns=["COLL_TIME"]).to_csv(raw / "central_lab.csv", index=False)
    (raw / "mrd.csv").unlink()
    with pytest.raises(RawDataError) as info:
        run_sdtm(raw, load_study(ROOT))
    message = str(info.value)
    assert "central_lab.csv: required column COLL_TIME is missing" in message
    assert "mrd.csv: raw form is missing" in message
