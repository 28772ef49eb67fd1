"""report.xlsx: a Summary sheet (one row per rule that fired), a Details sheet (one row per finding) and,
for a validation run, a Rules run sheet (every rule with its status and what it examined)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

from cdiscgen._findings import Severity
from cdiscgen.report._common import (
    FindingsLike,
    as_findings,
    code_name,
    code_source,
    rule_index,
    rule_order,
    rules_run_rows,
    write_atomic,
)
from cdiscgen.validate import RuleInfo, ValidationResult

SUMMARY_HEADER = ("Code", "Name", "Severity", "Count", "Scope", "Reference", "Rule", "Source")
RULES_RUN_HEADER = (
    "Code",
    "Name",
    "Severity",
    "Status",
    "Findings",
    "Examined",
    "Published rules",
    "Reference",
)
DETAIL_HEADER = (
    "Code",
    "Severity",
    "Dataset",
    "USUBJID",
    "SEQ",
    "Variable",
    "Value",
    "Expected",
    "Message",
    "File",
    "Line",
    "Explanation",
)
_BOLD = Font(bold=True)
_HEAD_FILL = PatternFill("solid", fgColor="DDE4EE")


def _cell(ws: Worksheet, value: object, *, header: bool = False) -> WriteOnlyCell:
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"  # text, never a formula
    if header:
        cell.font, cell.fill = _BOLD, _HEAD_FILL
    return cell


def _row(ws: Worksheet, values: Iterable[object], *, header: bool = False) -> None:
    ws.append([_cell(ws, v, header=header) for v in values])


def write_report_xlsx(
    findings: FindingsLike,
    path: Path | str,
    *,
    created: str | None = None,
    rules: Iterable[RuleInfo] | None = None,
    names: Mapping[str, str] | None = None,
    validation: ValidationResult | None = None,
) -> Path:
    """Write report.xlsx with openpyxl (write-only mode, so large finding tables stay fast).

    `names` gives the name of codes that are not conformance rules; default: the code.
    """
    table = as_findings(findings)
    index = rule_index(rules)
    wb = Workbook(write_only=True)
    summary = wb.create_sheet("Summary")
    for col, width in zip("ABCDEFGH", (10, 44, 10, 9, 9, 50, 80, 18), strict=True):
        summary.column_dimensions[col].width = width
    summary.freeze_panes = "A2"
    _row(summary, SUMMARY_HEADER, header=True)
    counts = table.by_code()
    sev: dict[str, Severity] = {}
    for f in table:
        sev[f.code] = max(sev.get(f.code, f.severity), f.severity)
    for code in rule_order(table):
        info = index.get(code)
        _row(
            summary,
            (
                code,
                code_name(code, index, names),
                str(sev[code]),
                counts[code],
                str(info.scope) if info else "",
                info.reference if info else "",
                info.text if info else "",
                code_source(code),
            ),
        )
    _row(summary, ())
    _row(summary, ("Total", "", "", len(table)))
    for name, n in table.by_severity().items():
        _row(summary, (name, "", "", n))
    _row(summary, ("explained", "", "", len(table.explained())))
    if created:
        _row(summary, ("Created", created))
    for standard, version in (validation.standards if validation is not None else {}).items():
        _row(summary, (standard, version))

    details = wb.create_sheet("Details")
    for col, width in zip("ABCDEFGHIJKL", (10, 9, 9, 16, 7, 11, 30, 24, 70, 14, 6, 60), strict=True):
        details.column_dimensions[col].width = width
    details.freeze_panes = "A2"
    _row(details, DETAIL_HEADER, header=True)
    for f in table.sorted():
        _row(
            details,
            (
                f.code,
                str(f.severity),
                f.dataset,
                f.usubjid,
                f.seq,
                f.variable,
                f.value,
                f.expected,
                f.message,
                f.file,
                f.line,
                f.explanation,
            ),
        )
    if validation is not None:
        _write_rules_run(wb.create_sheet("Rules run"), rules_run_rows(validation, index))
    buffer = io.BytesIO()
    wb.save(buffer)
    return write_atomic(Path(path), compute_reproducible_xlsx(buffer.getvalue(), created))


def _write_rules_run(sheet: Worksheet, rows: list[dict]) -> None:
    for col, width in zip("ABCDEFGH", (10, 44, 10, 15, 9, 40, 30, 60), strict=True):
        sheet.column_dimensions[col].width = width
    sheet.freeze_panes = "A2"
    _row(sheet, RULES_RUN_HEADER, header=True)
    for r in rows:
        _row(
            sheet,
            (
                r["code"],
                r["name"],
                r["severity"],
                r["status"],
                r["findings"],
                ", ".join(r["examined"]),
                ", ".join(r["published"]),
                r["reference"],
            ),
        )


_STAMP_RE = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def compute_reproducible_xlsx(data: bytes, created: str | None) -> bytes:
    """The workbook with the wall clock taken out, so that the same findings give the same bytes:
    openpyxl stamps docProps/core.xml (created, modified) and every zip entry with the time of saving.
    Both become `created` (the run's creation time), or 1980-01-01 without one."""
    when = datetime.fromisoformat(created) if created else datetime(1980, 1, 1)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode("ascii")
    zip_time = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _STAMP_RE.sub(rb"\g<1>" + stamp + rb"\g<2>", content)
            entry = zipfile.ZipInfo(info.filename, date_time=zip_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            target.writestr(entry, content)
    return out.getvalue()
