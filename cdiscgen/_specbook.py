"""A study's specs as a workbook in the layout of the Pinnacle 21 specification template, and back.

`export_spec_workbook` writes the metadata of `specs/` as the sheets programmers know (Study, Datasets,
Variables, ValueLevel, WhereClauses, Codelists, Dictionaries, Methods, Comments, Documents), one row per
dataset, variable, value-level entry, where-clause condition, codelist term, method, comment and document.
What that layout has no table for (study.yaml's design and rules, units, explanations, ADaM parameter
files, notes) travels as text, one row per line: each mapping file in a sheet of its own ("Mapping DM"),
everything else in the Files sheet. `import_spec_workbook` turns the workbook back into a study folder in
the canonical layout of `_specyaml`, so export then import gives the same bytes.

Import checks the workbook (sheets, columns, cell types, references between sheets) and then the written
specs as `cdiscgen check-specs` does; every problem names its cell (`Variables!F37: ...`). With any error
nothing is written.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdiscgen._findings import Finding, Severity
from cdiscgen._schemas import CODELIST_SCHEMA, VALUE_LEVEL_SCHEMA
from cdiscgen._specs import SpecError, check_stage_specs, check_study, resolve_study_dir
from cdiscgen._specyaml import Lines, codelists_lines, dataset_lines, define_lines, text_of
from cdiscgen._yaml import load_yaml

__all__ = ["SHEETS", "export_spec_workbook", "import_spec_workbook"]


@dataclass(frozen=True)
class Column:
    """One column of a sheet: its header, the key of the spec item it holds (dotted for a nested key, empty
    for a column the sheet's own structure uses) and how the cell reads."""

    header: str
    key: str
    kind: str = (
        "text"  # text | verbatim (a file's line) | int | number | bool | names (comma-separated) | lines
    )
    width: int = 14


def _c(header: str, key: str = "", kind: str = "text", width: int = 14) -> Column:
    return Column(header, key, kind, width)


_CODELIST_COLUMNS = (
    _c("ID", "id", width=16),
    _c("Name", "name", width=30),
    _c("NCI Codelist Code", "code", width=12),
    _c("Data Type", "data_type", width=9),
    _c("Extensible", "extensible", "bool", 9),
    _c("Sponsor", "sponsor", "bool", 9),
    _c("Source", "source", width=12),
    _c("Developer Notes", "notes", width=30),
    _c("CT Release", "release", width=10),
)

SHEETS: dict[str, tuple[Column, ...]] = {
    "Study": (_c("Attribute", width=20), _c("Value", width=80)),
    "Datasets": (
        _c("Dataset", "dataset", width=10),
        _c("Description", "label", width=34),
        _c("Class", "class", width=20),
        _c("Subclass", "subclass"),
        _c("Structure", "structure", width=40),
        _c("Key Variables", "keys", "names", 36),
        _c("Standard", "standard", width=12),
        _c("Domain", "domain", width=8),
        _c("Repeating", "repeating", "bool", 9),
        _c("Reference Data", "reference_data", "bool", 9),
        _c("Split By", "split_by", width=10),
        _c("SEQ Order", "seq_order", "names", 30),
        _c("Value Level By", "value_level.by", "names", 24),
        _c("Value Level Variables", "value_level.variables", "names", 24),
        _c("Comment", "comment", width=40),
        _c("Developer Notes", "notes", width=30),
    ),
    "Variables": (
        _c("Order", kind="int", width=6),
        _c("Dataset", width=10),
        _c("Variable", "name", width=10),
        _c("Label", "label", width=34),
        _c("Data Type", "type", width=10),
        _c("Length", "length", "int", 7),
        _c("Significant Digits", "significant_digits", "int", 8),
        _c("Format", "format", width=10),
        _c("Core", "core", width=6),
        _c("Codelist", "codelist", width=12),
        _c("Origin", "origin", width=10),
        _c("Source", "source", width=12),
        _c("Method", "method", width=16),
        _c("Role", "role", width=16),
        _c("Comment", "comment", width=30),
        _c("Supplemental", "supplemental", "bool", 9),
        _c("QORIG", "qorig", width=10),
        _c("QEVAL", "qeval", width=10),
        _c("Split Stem", "split.stem", width=9),
        _c("Split Break", "split.break", width=9),
        _c("Range Min", "range.min", "number", 9),
        _c("Range Max", "range.max", "number", 9),
    ),
    "ValueLevel": (
        _c("Order", kind="int", width=6),
        _c("Dataset", width=10),
        _c("Variable", "variable", width=10),
        _c("Where Clause", width=36),
        _c("Label", "label", width=30),
        _c("Data Type", "type", width=10),
        _c("Codelist", "codelist", width=12),
        _c("Unit", "unit", width=10),
        _c("Origin", "origin", width=10),
        _c("Method", "method", width=16),
        _c("Comment", "comment", width=30),
    ),
    "WhereClauses": (
        _c("ID", width=36),
        _c("Dataset", width=10),
        _c("Variable", width=10),
        _c("Comparator", width=10),
        _c("Value", width=30),
    ),
    "Codelists": (
        *_CODELIST_COLUMNS,
        _c("Order", kind="int", width=6),
        _c("Term", "value", width=30),
        _c("NCI Term Code", "code", width=12),
        _c("Decoded Value", "decode", width=34),
        _c("Term Sponsor", "sponsor", "bool", 9),
        _c("Convention", "convention", width=20),
        _c("Synonyms", "synonyms", "lines", 24),
    ),
    "Dictionaries": (
        *_CODELIST_COLUMNS,
        _c("Dictionary", "dictionary.name", width=14),
        _c("Version", "dictionary.version", width=10),
        _c("Href", "dictionary.href", width=30),
    ),
    "Methods": (
        _c("ID", "id", width=22),
        _c("Name", "name", width=20),
        _c("Type", "type", width=12),
        _c("Description", "description", width=80),
        _c("Document", "document", width=12),
        _c("Dataset", width=10),
    ),
    "Comments": (_c("ID", "id", width=22), _c("Description", "text", width=80), _c("Document", "document")),
    "Documents": (
        _c("ID", "id", width=16),
        _c("Title", "title", width=40),
        _c("Href", "href", width=30),
        _c("Kind", "kind", width=16),
        _c("Standard", "standard", width=9),
    ),
    "Files": (_c("File", width=34), _c("Line", kind="int", width=6), _c("Text", kind="verbatim", width=110)),
}
"""The sheets of a spec workbook, in order, with their columns. Sheets "Mapping XX" (Line, Text) follow."""

MAPPING_PREFIX = "Mapping "
_MAPPING_COLUMNS = (_c("Line", kind="int", width=6), _c("Text", kind="verbatim", width=110))
_TERM_COLUMNS = SHEETS["Codelists"][len(_CODELIST_COLUMNS) :]
_REQUIRED_SHEETS = ("Datasets", "Variables", "Codelists")
_STUDY_ATTRIBUTES = (("StudyName", "studyid"), ("StudyDescription", "title"), ("ProtocolName", "protocol"))
_STANDARD_DIRS = {"SDTMIG": "sdtm", "ADaMIG": "adam"}
_WORKBOOK_CODE = "SPEC200"


# ============================================================================================ export


def export_spec_workbook(study_dir: Path | str | None, xlsx: Path | str) -> Path:
    """Write the study's specs as a workbook; the study must pass check-specs (raises SpecError)."""
    root = resolve_study_dir(study_dir)
    study, findings = check_study(root)
    errors = findings.at_least(Severity.ERROR)
    if errors or study is None:
        raise SpecError(errors)
    rows: dict[str, list[list[Any]]] = {name: [] for name in SHEETS}
    settings = load_yaml(root / "specs" / "study.yaml")["study"]
    rows["Study"] = [[attr, settings.get(key)] for attr, key in _STUDY_ATTRIBUTES]
    tabular = _export_datasets(root, rows)
    _export_codelists(root, rows)
    define_path = root / "specs" / "define.yaml"
    define_doc = (load_yaml(define_path) or {}) if define_path.is_file() else {}
    for method in define_doc.get("methods") or []:
        rows["Methods"].append(_row(SHEETS["Methods"], method))
    for comment in define_doc.get("comments") or []:
        rows["Comments"].append(_row(SHEETS["Comments"], comment))
    for document in define_doc.get("documents") or []:
        rows["Documents"].append(_row(SHEETS["Documents"], document))
    tabular |= {"specs/codelists.yaml", "specs/define.yaml"}
    mapping_sheets: dict[str, list[list[Any]]] = {}
    for rel, text in _text_files(root, tabular):
        sheet = _mapping_sheet_name(rel)
        lines = text.split("\n")[:-1]
        if sheet:
            mapping_sheets[sheet] = [[i, line] for i, line in enumerate(lines, 1)]
        else:
            rows["Files"].extend([rel, i, line] for i, line in enumerate(lines, 1))
    out = Path(xlsx)
    _write_workbook(out, rows, mapping_sheets)
    return out


def _export_datasets(root: Path, rows: dict[str, list[list[Any]]]) -> set[str]:
    """Datasets, Variables, ValueLevel, WhereClauses and the datasets' Methods rows; the files they cover."""
    covered: set[str] = set()
    for sub in ("sdtm", "adam"):
        for path in sorted((root / "specs" / sub).glob("*.yaml")):
            doc = load_yaml(path)
            rel = path.relative_to(root).as_posix()
            expected = _dataset_file(doc["dataset"], doc["standard"])
            if rel != expected:
                raise ValueError(
                    f"{rel}: a workbook names each dataset's file by its name and standard; rename it "
                    f"{expected} before exporting"
                )
            covered.add(rel)
            name = doc["dataset"]
            rows["Datasets"].append(_row(SHEETS["Datasets"], doc))
            for order, variable in enumerate(doc["variables"], 1):
                rows["Variables"].append(_row(SHEETS["Variables"], variable, Order=order, Dataset=name))
            for method in doc.get("methods") or []:
                rows["Methods"].append(_row(SHEETS["Methods"], method, Dataset=name))
            clauses: dict[tuple[tuple[str, str], ...], str] = {}
            entries = (doc.get("value_level") or {}).get("entries") or []
            for order, entry in enumerate(entries, 1):
                where = tuple((str(k), str(v)) for k, v in entry["where"].items())
                if where not in clauses:
                    clauses[where] = _where_clause_id(name, where, set(clauses.values()))
                    rows["WhereClauses"].extend(
                        [clauses[where], name, var, "EQ", value] for var, value in where
                    )
                rows["ValueLevel"].append(
                    _row(
                        SHEETS["ValueLevel"],
                        entry,
                        Order=order,
                        Dataset=name,
                        **{"Where Clause": clauses[where]},
                    )
                )
    return covered


def _export_codelists(root: Path, rows: dict[str, list[list[Any]]]) -> None:
    doc = load_yaml(root / "specs" / "codelists.yaml")
    if doc.get("spreadsheets"):
        files = ", ".join(str(s["file"]) for s in doc["spreadsheets"])
        raise ValueError(
            f"specs/codelists.yaml takes terms from CT spreadsheets ({files}); a spec workbook cannot carry "
            "them yet: list the terms in codelists.yaml first"
        )
    for codelist in doc["codelists"]:
        head = _row(_CODELIST_COLUMNS, codelist)
        if codelist.get("dictionary"):
            rows["Dictionaries"].append(_row(SHEETS["Dictionaries"], codelist))
            continue
        terms = codelist.get("terms") or [{}]
        for order, term in enumerate(terms, 1):
            tail = _row(_TERM_COLUMNS, term, Order=order if term else None)
            rows["Codelists"].append(head + tail)


def _row(columns: Iterable[Column], item: dict, **structural: Any) -> list[Any]:
    """A sheet row from a spec item; structural columns (Order, Dataset) are given by header."""
    out: list[Any] = []
    for column in columns:
        value = structural.get(column.header) if not column.key else _get(item, column.key)
        out.append(_cell_value(value, column.kind))
    return out


def _get(item: dict, dotted: str) -> Any:
    value: Any = item
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _cell_value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "bool":
        return "Yes" if value else "No"
    if kind == "names":
        return ", ".join(value)
    if kind == "lines":
        return "\n".join(str(v) for v in value)
    if kind in ("int", "number") or isinstance(value, int | float):
        return value
    return str(value)


def _where_clause_id(dataset: str, where: tuple[tuple[str, str], ...], taken: set[str]) -> str:
    base = "WC." + ".".join([dataset, *(re.sub(r"\s+", "_", value) for _, value in where)])
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}.{n}"
    return candidate


def _dataset_file(dataset: str, standard: str) -> str:
    sub = _STANDARD_DIRS.get(str(standard).split(" ")[0], "sdtm")
    return f"specs/{sub}/{str(dataset).lower()}.yaml"


def _text_files(root: Path, tabular: set[str]) -> Iterator[tuple[str, str]]:
    """Every other file of specs/ and mappings/ as text (path relative to the study folder)."""
    for part in ("specs", "mappings"):
        base = root / part
        if not base.is_dir():
            continue
        for path in sorted(p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            rel = path.relative_to(root).as_posix()
            if rel in tabular:
                continue
            data = path.read_bytes()
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(
                    f"{rel}: not a UTF-8 text file; a spec workbook carries text files only"
                ) from None
            if "\r" in text:
                raise ValueError(f"{rel}: has carriage returns; save it with Unix line ends before exporting")
            yield rel, text if text.endswith("\n") or not text else text + "\n"


def _mapping_sheet_name(rel: str) -> str | None:
    """The sheet of a mapping file (`mappings/dm.yaml` -> "Mapping DM"); None for other files."""
    match = re.fullmatch(r"mappings/([a-z0-9_]+)\.yaml", rel)
    if not match or len(MAPPING_PREFIX) + len(match.group(1)) > 31:
        return None
    return MAPPING_PREFIX + match.group(1).upper()


def _write_workbook(
    out: Path, rows: dict[str, list[list[Any]]], mapping_sheets: dict[str, list[list[Any]]]
) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    header_font = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", fgColor="1F4E78")
    sheets = [(name, SHEETS[name], rows[name]) for name in SHEETS if name != "Files"]
    sheets += [(name, _MAPPING_COLUMNS, mapping_sheets[name]) for name in sorted(mapping_sheets)]
    sheets.append(("Files", SHEETS["Files"], rows["Files"]))
    for name, columns, body in sheets:
        sheet = book.create_sheet(name)
        sheet.append([c.header for c in columns])
        for cell in sheet[1]:
            cell.font, cell.fill = header_font, header_fill
            cell.alignment = Alignment(vertical="top", wrap_text=True)
        sheet.row_dimensions[1].height = 30  # two lines: a long header wraps within its column
        for values in body:
            sheet.append(values)
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # a value starting with '=' is text, never a formula
        for i, column in enumerate(columns, 1):
            sheet.column_dimensions[get_column_letter(i)].width = column.width
        sheet.freeze_panes = "A2"
        sheet.print_title_rows = "1:1"  # printed or as PDF: landscape, one page wide, the header on each page
        sheet.page_setup.orientation = "landscape"
        sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight = 1, 0
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(1, len(body) + 1)}"
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    os.close(fd)
    try:
        book.save(tmp)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ============================================================================================ import


@dataclass
class _Cells:
    """Where the values of one spec item came from: its sheet, row and the column of each key."""

    sheet: str
    row: int
    columns: dict[str, str] = field(default_factory=dict)  # last key part -> column letter

    def ref(self, key: str | None = None) -> str:
        letter = self.columns.get(key or "", self.columns.get("", "A"))
        return f"{self.sheet}!{letter}{self.row}"


class _Problems:
    def __init__(self, book: str) -> None:
        self.book = book
        self.items: list[Finding] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(
            Finding(
                code=_WORKBOOK_CODE, severity=Severity.ERROR, message=f"{where}: {message}", file=self.book
            )
        )


@dataclass
class _Sheet:
    name: str
    columns: tuple[Column, ...]
    letters: dict[str, str]  # header -> column letter
    rows: list[tuple[int, dict[str, Any]]]  # (row number, header -> raw cell value), blank rows left out


def import_spec_workbook(xlsx: Path | str, out_dir: Path | str, *, replace: bool = False) -> Path:
    """Write `specs/` and `mappings/` of OUT_DIR from a spec workbook. Every problem of the workbook and
    of the specs it makes is raised at once (SpecError, each naming its cell); then nothing is written."""
    xlsx, out_dir = Path(xlsx), Path(out_dir)
    if not xlsx.is_file():
        raise FileNotFoundError(f"{xlsx}: no such workbook")
    taken = [out_dir / part for part in ("specs", "mappings") if (out_dir / part).exists()]
    if taken and not replace:
        raise FileExistsError(
            f"{taken[0]} exists; import into a new folder, or pass --replace to replace specs/ and mappings/"
        )
    problems = _Problems(xlsx.name)
    sheets = _read_sheets(xlsx, problems)
    built = _build_files(sheets, problems)
    out_dir.absolute().parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.spec-import.", dir=out_dir.absolute().parent))
    try:
        for rel, text in built.files.items():
            target = work / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        (work / "mappings").mkdir(exist_ok=True)
        _check_written(work, built, problems)
        if problems.items:
            raise SpecError(problems.items)
        out_dir.mkdir(exist_ok=True)
        for part in ("specs", "mappings"):  # the old folder moved aside (a rename), then the new one in
            if (out_dir / part).exists():
                os.replace(out_dir / part, work / f"{part}.old")
            os.replace(work / part, out_dir / part)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out_dir


def _read_sheets(xlsx: Path, problems: _Problems) -> dict[str, _Sheet]:
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    try:
        book = load_workbook(xlsx, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors on a broken file
        raise ValueError(f"{xlsx}: not a readable .xlsx workbook ({exc})") from None
    out: dict[str, _Sheet] = {}
    try:
        for name in book.sheetnames:
            if name in SHEETS:
                columns = SHEETS[name]
            elif name.startswith(MAPPING_PREFIX) and re.fullmatch(r"[A-Z0-9_]+", name[len(MAPPING_PREFIX) :]):
                columns = _MAPPING_COLUMNS
            else:
                known = ", ".join(SHEETS)
                problems.add(
                    f"{name}!A1", f"unknown sheet {name!r}; a spec workbook has {known} and 'Mapping XX'"
                )
                continue
            grid = book[name].iter_rows(values_only=True)
            header = next(grid, ()) or ()
            letters: dict[str, str] = {}
            for i, value in enumerate(header, 1):
                if value is None or str(value).strip() == "":
                    continue
                text = str(value).strip()
                if text not in {c.header for c in columns}:
                    problems.add(f"{name}!{get_column_letter(i)}1", f"unknown column {text!r}")
                letters[text] = get_column_letter(i)
            for column in columns:
                if column.header not in letters:
                    problems.add(f"{name}!1", f"missing column {column.header!r}")
            index = {h: i for i, h in enumerate(str(v).strip() if v is not None else "" for v in header)}
            rows = []
            for number, values in enumerate(grid, 2):
                record = {
                    c.header: values[index[c.header]]
                    for c in columns
                    if index.get(c.header, 1 << 30) < len(values)
                }
                if any(v is not None and str(v).strip() != "" for v in record.values()):
                    rows.append((number, record))
            out[name] = _Sheet(name, columns, letters, rows)
    finally:
        book.close()
    for name in _REQUIRED_SHEETS:
        if name not in out and not any(p.message.startswith(f"{name}!") for p in problems.items):
            problems.add(f"{name}!A1", "missing sheet")
    return out


def _read_cell(sheet: _Sheet, number: int, column: Column, raw: Any, problems: _Problems) -> Any:
    """A cell's value as its column's kind; None when blank or wrong (the problem is recorded)."""
    where = f"{sheet.name}!{sheet.letters.get(column.header, 'A')}{number}"
    kind = column.kind
    if kind == "verbatim":  # a line of a file: its leading spaces are YAML's indentation
        return None if raw is None else str(raw)
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    if kind == "text":
        return (
            _number_text(raw)
            if isinstance(raw, int | float) and not isinstance(raw, bool)
            else str(raw).strip()
        )
    if kind == "int":
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, str) and re.fullmatch(r"\s*-?\d+\s*", raw):
            return int(raw)
        problems.add(where, f"{column.header} {raw!r} is not a whole number")
        return None
    if kind == "number":
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return int(raw) if isinstance(raw, float) and raw.is_integer() else raw
        try:
            value = float(str(raw))
        except ValueError:
            problems.add(where, f"{column.header} {raw!r} is not a number")
            return None
        return int(value) if value.is_integer() else value
    if kind == "bool":
        text = str(raw).strip().upper()
        if raw is True or text in ("YES", "Y", "TRUE"):
            return True
        if raw is False or text in ("NO", "N", "FALSE"):
            return False
        problems.add(where, f"{column.header} {raw!r} is not Yes or No")
        return None
    if kind == "names":
        return [part.strip() for part in re.split(r"[,\s]+", str(raw)) if part.strip()]
    if kind == "lines":
        return [line.strip() for line in str(raw).split("\n") if line.strip()]
    raise AssertionError(kind)


def _number_text(value: int | float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _item(
    sheet: _Sheet,
    number: int,
    record: dict[str, Any],
    problems: _Problems,
    columns: Iterable[Column] | None = None,
) -> tuple[dict, _Cells, dict[str, Any]]:
    """The spec item of one row (nested keys as dicts), where its values came from, and its structural
    columns (Order, Dataset, ...)."""
    item: dict = {}
    structural: dict[str, Any] = {}
    cells = _Cells(sheet.name, number)
    for column in columns if columns is not None else sheet.columns:
        value = _read_cell(sheet, number, column, record.get(column.header), problems)
        letter = sheet.letters.get(column.header, "A")
        if not column.key:
            structural[column.header] = value
            cells.columns[column.header] = letter
            continue
        parts = column.key.split(".")
        cells.columns[parts[-1]] = letter
        cells.columns.setdefault(parts[0], letter)
        if value is None:
            continue
        target = item
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return item, cells, structural


@dataclass
class _Built:
    """The files a workbook makes and, per file, the cells behind each line."""

    files: dict[str, str] = field(default_factory=dict)
    lines: dict[str, list[_Cells | None]] = field(default_factory=dict)

    def add(self, rel: str, lines: Lines, cells_of: dict[tuple, _Cells]) -> None:
        self.files[rel] = text_of(lines)
        owners: list[_Cells | None] = []
        for _, path in lines:
            owner = None
            for n in range(len(path), 0, -1):  # the item's own cells, else its nearest parent's
                owner = cells_of.get(path[:n])
                if owner is not None:
                    break
            owners.append(owner)
        self.lines[rel] = owners


def _build_files(sheets: dict[str, _Sheet], problems: _Problems) -> _Built:
    built = _Built()
    methods = _methods_of(sheets, problems)
    datasets = _build_datasets(sheets, methods, problems)
    for rel, (doc, cells_of) in datasets.items():
        built.add(rel, dataset_lines(doc), cells_of)
    codelists, cells_of = _build_codelists(sheets, problems)
    built.add("specs/codelists.yaml", codelists_lines(codelists), cells_of)
    define_doc: dict[str, list] = {"documents": [], "comments": [], "methods": []}
    define_cells: dict[tuple, _Cells] = {}
    for sheet_name, key in (("Documents", "documents"), ("Comments", "comments")):
        sheet = sheets.get(sheet_name)
        for number, record in sheet.rows if sheet else []:
            item, cells, _ = _item(sheet, number, record, problems)
            define_cells[(key, len(define_doc[key]))] = cells
            define_doc[key].append(item)
    for item, cells in methods.get(None, []):
        define_cells[("methods", len(define_doc["methods"]))] = cells
        define_doc["methods"].append(item)
    built.add("specs/define.yaml", define_lines(define_doc), define_cells)
    for rel, text, owners in _text_files_of(sheets, problems):
        if rel in built.files:
            problems.add(
                owners[0].ref() if owners and owners[0] else "Files!A1",
                f"{rel} is written from the metadata sheets; it cannot also be a file here",
            )
            continue
        built.files[rel] = text
        built.lines[rel] = owners
    _check_study_sheet(sheets, built.files, problems)
    return built


def _methods_of(
    sheets: dict[str, _Sheet], problems: _Problems
) -> dict[str | None, list[tuple[dict, _Cells]]]:
    out: dict[str | None, list[tuple[dict, _Cells]]] = {}
    sheet = sheets.get("Methods")
    for number, record in sheet.rows if sheet else []:
        item, cells, structural = _item(sheet, number, record, problems)
        out.setdefault(structural["Dataset"], []).append((item, cells))
    return out


def _build_datasets(
    sheets: dict[str, _Sheet], methods: dict[str | None, list[tuple[dict, _Cells]]], problems: _Problems
) -> dict[str, tuple[dict, dict[tuple, _Cells]]]:
    """Each dataset spec file with the cells behind its items."""
    out: dict[str, tuple[dict, dict[tuple, _Cells]]] = {}
    by_name: dict[str, tuple[dict, dict[tuple, _Cells]]] = {}
    sheet = sheets.get("Datasets")
    for number, record in sheet.rows if sheet else []:
        doc, cells, _ = _item(sheet, number, record, problems)
        name = doc.get("dataset")
        if not name:
            problems.add(cells.ref("dataset"), "Dataset is empty")
            continue
        if name in by_name:
            problems.add(cells.ref("dataset"), f"dataset {name} is listed twice")
            continue
        by_name[name] = (doc, {(): cells})
        rel = _dataset_file(name, doc.get("standard", ""))
        out[rel] = by_name[name]
    _attach(sheets, "Variables", by_name, problems, _add_variable)
    for name, items in methods.items():
        if name is None:
            continue
        if name not in by_name:
            problems.add(items[0][1].ref("Dataset"), f"dataset {name} is not in the Datasets sheet")
            continue
        doc, cells_of = by_name[name]
        for item, cells in items:
            cells_of[("methods", len(doc.setdefault("methods", [])))] = cells
            doc["methods"].append(item)
    clauses = _where_clauses(sheets, problems)
    _attach(
        sheets,
        "ValueLevel",
        by_name,
        problems,
        lambda doc, cells_of, item, cells, s: _add_entry(doc, cells_of, item, cells, s, clauses, problems),
    )
    for doc, _ in by_name.values():
        _order_keys(doc)
    return out


def _attach(sheets: dict[str, _Sheet], sheet_name: str, by_name: dict, problems: _Problems, add: Any) -> None:
    """Rows of a sheet with Order and Dataset columns, added to their dataset in Order."""
    sheet = sheets.get(sheet_name)
    grouped: dict[str, list[tuple[int, int, dict, _Cells, dict]]] = {}
    for number, record in sheet.rows if sheet else []:
        item, cells, structural = _item(sheet, number, record, problems)
        name = structural.get("Dataset")
        if not name:
            problems.add(cells.ref("Dataset"), "Dataset is empty")
            continue
        if name not in by_name:
            problems.add(cells.ref("Dataset"), f"dataset {name} is not in the Datasets sheet")
            continue
        order = structural.get("Order")
        if order is None:
            problems.add(cells.ref("Order"), "Order is empty")
            order = 1 << 30
        grouped.setdefault(name, []).append((order, number, item, cells, structural))
    for name, rows in grouped.items():
        doc, cells_of = by_name[name]
        for _, _, item, cells, structural in sorted(rows, key=lambda r: (r[0], r[1])):
            add(doc, cells_of, item, cells, structural)


def _add_variable(doc: dict, cells_of: dict, item: dict, cells: _Cells, _structural: dict) -> None:
    variables = doc.setdefault("variables", [])
    cells_of[("variables", len(variables))] = cells
    variables.append(item)  # the writer puts its keys in order


def _where_clauses(sheets: dict[str, _Sheet], problems: _Problems) -> dict[str, dict[str, str]]:
    """Where clause ID -> its conditions (variable -> value)."""
    out: dict[str, dict[str, str]] = {}
    sheet = sheets.get("WhereClauses")
    for number, record in sheet.rows if sheet else []:
        _, cells, s = _item(sheet, number, record, problems)
        if not s["ID"] or not s["Variable"]:
            problems.add(cells.ref("ID" if not s["ID"] else "Variable"), "ID and Variable must not be empty")
            continue
        comparator = (s["Comparator"] or "EQ").upper()
        if comparator != "EQ":
            problems.add(
                cells.ref("Comparator"),
                f"comparator {s['Comparator']!r} is not supported; a value-level condition is an equality (EQ)",
            )
            continue
        conditions = out.setdefault(s["ID"], {})
        if s["Variable"] in conditions:
            problems.add(cells.ref("Variable"), f"where clause {s['ID']} names {s['Variable']} twice")
        conditions[s["Variable"]] = s["Value"] or ""
    return out


def _add_entry(
    doc: dict,
    cells_of: dict,
    item: dict,
    cells: _Cells,
    structural: dict,
    clauses: dict[str, dict[str, str]],
    problems: _Problems,
) -> None:
    clause_id = structural.get("Where Clause")
    cells.columns["where"] = cells.columns["Where Clause"]  # a finding on `where` points at the clause
    if clause_id is None:
        problems.add(cells.ref("where"), "Where Clause is empty")
        return
    if clause_id not in clauses:
        problems.add(cells.ref("where"), f"where clause {clause_id!r} is not in the WhereClauses sheet")
        return
    level = doc.get("value_level")
    if level is None:
        problems.add(
            cells.ref("variable"),
            f"dataset {doc.get('dataset')} has value-level rows but no Value Level By / Variables in the Datasets sheet",
        )
        return
    entries = level.setdefault("entries", [])
    cells_of[("value_level", "entries", len(entries))] = cells
    entry = {"where": dict(clauses[clause_id]), **item}
    entries.append({k: entry[k] for k in VALUE_LEVEL_SCHEMA["entries"]["schema"]["schema"] if k in entry})


def _order_keys(doc: dict) -> None:
    level = doc.get("value_level")
    if level is not None:
        doc["value_level"] = {k: level[k] for k in ("by", "variables", "entries") if k in level}


def _build_codelists(
    sheets: dict[str, _Sheet], problems: _Problems
) -> tuple[list[dict], dict[tuple, _Cells]]:
    codelists: dict[str, dict] = {}
    first_cells: dict[str, _Cells] = {}
    terms: dict[str, list[tuple[int, int, dict, _Cells]]] = {}
    head_columns = _CODELIST_COLUMNS
    sheet = sheets.get("Codelists")
    for number, record in sheet.rows if sheet else []:
        head, cells, _ = _item(sheet, number, record, problems, head_columns)
        term, term_cells, structural = _item(sheet, number, record, problems, _TERM_COLUMNS)
        cells.columns |= {k: v for k, v in term_cells.columns.items() if k not in ("code", "sponsor")}
        cells.columns |= {"terms": term_cells.columns.get("value", "A")}
        cid = head.get("id")
        if not cid:
            problems.add(cells.ref("id"), "ID is empty")
            continue
        if cid not in codelists:
            codelists[cid], first_cells[cid] = head, cells
        else:
            for key, value in head.items():
                if codelists[cid].get(key) != value:
                    problems.add(
                        cells.ref(key),
                        f"{key} {value!r} differs from codelist {cid}'s first row ({first_cells[cid].row})",
                    )
        if term:
            if "value" not in term:
                problems.add(term_cells.ref("value"), "Term is empty")
                continue
            order = structural.get("Order")
            terms.setdefault(cid, []).append(
                (order if order is not None else 1 << 30, number, term, term_cells)
            )
    cells_of: dict[tuple, _Cells] = {}
    out: list[dict] = []
    for cid, head in codelists.items():
        cells_of[("codelists", len(out))] = first_cells[cid]
        rows = sorted(terms.get(cid, []), key=lambda r: (r[0], r[1]))
        if rows:
            head["terms"] = [_typed_term(term, head.get("data_type")) for _, _, term, _ in rows]
            for i, (_, _, _, term_cells) in enumerate(rows):
                cells_of[("codelists", len(out), "terms", i)] = term_cells
        out.append(head)
    sheet = sheets.get("Dictionaries")
    for number, record in sheet.rows if sheet else []:
        item, cells, _ = _item(sheet, number, record, problems)
        if item.get("id") in codelists:
            problems.add(cells.ref("id"), f"codelist {item['id']} is also in the Codelists sheet")
            continue
        cells_of[("codelists", len(out))] = cells
        out.append(item)
    return [{k: c[k] for k in CODELIST_SCHEMA if k in c} for c in out], cells_of


def _typed_term(term: dict, data_type: str | None) -> dict:
    """A term's value as its codelist's data type (a spreadsheet cell of an integer codelist may be 1 or
    "1"); text codelists keep text."""
    term = {k: term[k] for k in ("value", "code", "decode", "sponsor", "convention", "synonyms") if k in term}
    if data_type in ("integer", "float"):
        text = str(term["value"])
        try:
            number = float(text)
        except ValueError:
            return term
        term["value"] = int(number) if data_type == "integer" and number.is_integer() else number
    return term


def _text_files_of(
    sheets: dict[str, _Sheet], problems: _Problems
) -> Iterator[tuple[str, str, list[_Cells | None]]]:
    """The files carried as lines: the Files sheet and each Mapping sheet."""
    grouped: dict[str, list[tuple[int, int, str, _Cells]]] = {}
    for name, sheet in sheets.items():
        mapping = name.startswith(MAPPING_PREFIX)
        if name != "Files" and not mapping:
            continue
        for number, record in sheet.rows:
            _, cells, s = _item(sheet, number, record, problems)
            cells.columns[""] = sheet.letters.get("Text", "A")
            rel = f"mappings/{name[len(MAPPING_PREFIX) :].lower()}.yaml" if mapping else s["File"]
            if not rel:
                problems.add(cells.ref("File"), "File is empty")
                continue
            if not _safe_study_path(rel):
                problems.add(cells.ref("File"), f"{rel!r} is not a path inside specs/ or mappings/")
                continue
            if s["Line"] is None:
                problems.add(cells.ref("Line"), "Line is empty")
                continue
            grouped.setdefault(rel, []).append((s["Line"], number, s["Text"] or "", cells))
    for rel, rows in grouped.items():
        rows.sort(key=lambda r: (r[0], r[1]))
        expected = list(range(1, len(rows) + 1))
        if [r[0] for r in rows] != expected:
            bad = next(r for r, n in zip(rows, expected, strict=True) if r[0] != n)
            problems.add(
                bad[3].ref("Line"),
                f"{rel}: lines must be numbered 1, 2, ... without gaps or repeats (found {bad[0]})",
            )
            continue
        owners: list[_Cells | None] = [r[3] for r in rows]
        yield rel, "".join(r[2] + "\n" for r in rows), owners


def _safe_study_path(rel: str) -> bool:
    parts = rel.split("/")
    return (
        parts[0] in ("specs", "mappings")
        and len(parts) > 1
        and all(p not in ("", ".", "..") for p in parts)
        and "\\" not in rel
    )


def _check_study_sheet(sheets: dict[str, _Sheet], files: dict[str, str], problems: _Problems) -> None:
    """The Study sheet repeats study.yaml's names (which live in the Files sheet): they must agree."""
    sheet = sheets.get("Study")
    text = files.get("specs/study.yaml")
    if sheet is None or text is None:
        return
    import yaml

    try:
        settings = (yaml.safe_load(text) or {}).get("study") or {}
    except yaml.YAMLError:
        return  # the specs check reports the syntax error at its line
    keys = dict(_STUDY_ATTRIBUTES)
    for number, record in sheet.rows:
        _, cells, s = _item(sheet, number, record, problems)
        attribute = s["Attribute"]
        if attribute not in keys:
            problems.add(
                cells.ref("Attribute"),
                f"unknown attribute {attribute!r}; the Study sheet has {', '.join(keys)}",
            )
            continue
        given, wanted = s["Value"], settings.get(keys[attribute])
        if (given or None) != (str(wanted) if wanted is not None else None):
            problems.add(
                cells.ref("Value"),
                f"{attribute} {given!r} differs from study.{keys[attribute]} {wanted!r} of specs/study.yaml "
                "(sheet Files): change both",
            )


def _check_written(work: Path, built: _Built, problems: _Problems) -> None:
    """check-specs on the written folder; each finding traced back to the cell behind its line."""
    study, findings = check_study(work)
    if study is not None:
        findings.extend(check_stage_specs(study))
    for finding in findings.at_least(Severity.ERROR):
        owners = built.lines.get(finding.file or "")
        owner = owners[finding.line - 1] if owners and finding.line and finding.line <= len(owners) else None
        key = _last_key(finding.variable)
        where = (
            owner.ref(key)
            if owner
            else (f"{finding.file}:{finding.line}" if finding.line else (finding.file or "specs"))
        )
        problems.add(where, f"{finding.message} ({finding.code})")


def _last_key(dotted: str | None) -> str | None:
    if not dotted:
        return None
    return re.sub(r"\[.*?\]", "", dotted).split(".")[-1] or None
