"""A sponsor's controlled-terminology spreadsheet (CSV or XLSX) as codelist terms and collected-value
synonyms, so that nobody retypes it as YAML.

codelists.yaml names the file and which of its columns hold what:

    spreadsheets:
      - file: sponsor-ct.xlsx          # relative to specs/; .csv or .xlsx
        sheet: Terminology             # xlsx only (default: the first sheet)
        columns: {codelist: Codelist Code, code: Term Code, value: Term Value,
                  collected: Collected Value, synonyms: Synonyms, edc_codelist: EDC Codelist}

One row per collected value: the codelist (its `id` in codelists.yaml or its NCI C-code), the submission
value and its C-code (blank: a sponsor term), the value the EDC collects and further synonyms (`;`
between them), and the EDC codelist the collected value belongs to. A synonym with an EDC codelist holds
only for a mapping rule that names it (`assign: UNIT, edc_codelist: UNIT_CV1`): the same collected "U" can
be U/L in one EDC list and a plain unit in another. The codelist itself (name, extensibility, data type)
stays declared in codelists.yaml; its terms may come from the sheet alone.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

ROLES = ("codelist", "code", "value", "collected", "synonyms", "edc_codelist")
REQUIRED_ROLES = ("codelist", "value")


class CtSheetError(ValueError):
    """A spreadsheet that cannot be read (missing file or sheet, a named column not in the header)."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class CtRow:
    line: int  # the row in the file (header = 1)
    codelist: str
    code: str
    value: str
    collected: tuple[str, ...]  # the collected value and its synonyms
    edc_codelist: str


def read_ct_sheet(path: Path, columns: dict[str, str], sheet: str | None = None) -> list[CtRow]:
    """The rows of a CT spreadsheet that name a codelist and a value (blank rows are skipped)."""
    header, rows = _read_table(path, sheet)
    where = {}
    for role, name in columns.items():
        if name not in header:
            raise CtSheetError(1, f"column {name!r} ({role}) is not in the header ({', '.join(header)})")
        where[role] = header.index(name)
    for role in REQUIRED_ROLES:
        if role not in where:
            raise CtSheetError(None, f"`columns` must name the {role} column")
    out = []
    for line, row in rows:

        def cell(role: str, row: list[str] = row) -> str:
            i = where.get(role)
            return row[i].strip() if i is not None and i < len(row) else ""

        if not any(c.strip() for c in row):
            continue
        synonyms = [s.strip() for s in cell("synonyms").split(";") if s.strip()]
        collected = tuple(dict.fromkeys([c for c in [cell("collected"), *synonyms] if c]))
        out.append(
            CtRow(line, cell("codelist"), cell("code"), cell("value"), collected, cell("edc_codelist"))
        )
    return out


def _read_table(path: Path, sheet: str | None) -> tuple[list[str], list[tuple[int, list[str]]]]:
    if not path.is_file():
        raise CtSheetError(None, f"{path} does not exist")
    if path.suffix.lower() == ".xlsx":
        return _read_xlsx(path, sheet)
    if sheet is not None:
        raise CtSheetError(None, "`sheet` is for an .xlsx file")
    text = path.read_bytes().decode("utf-8-sig", errors="strict")
    reader = csv.reader(io.StringIO(text, newline=""))
    lines = list(reader)
    if not lines:
        raise CtSheetError(1, "the file is empty (no header line)")
    return [h.strip() for h in lines[0]], [(i + 2, r) for i, r in enumerate(lines[1:])]


def _read_xlsx(path: Path, sheet: str | None) -> tuple[list[str], list[tuple[int, list[str]]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises zip, XML and its own errors for a bad file
        raise CtSheetError(
            None, f"{path} is not a readable .xlsx workbook ({type(exc).__name__}: {exc})"
        ) from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise CtSheetError(None, f"no sheet {sheet!r} ({', '.join(book.sheetnames)})")
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        rows = [["" if v is None else _cell_text(v) for v in r] for r in ws.iter_rows(values_only=True)]
    finally:
        book.close()
    if not rows:
        raise CtSheetError(1, "the sheet is empty (no header row)")
    return [h.strip() for h in rows[0]], [(i + 2, r) for i, r in enumerate(rows[1:])]


def _cell_text(value: object) -> str:
    """A cell as text: 5.0 -> "5" (a spreadsheet stores a typed code as a number)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
