"""Renderers of a findings table: console (rich), report.json, report.xlsx and report.html.

All four read the same findings in the same order (`Findings.sorted()`); report.json is the CI contract
of DESIGN.md and is byte-identical across reruns (timings go into it only when asked for).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from cdiscgen.report._common import REPORT_FIELDS, FindingsLike
from cdiscgen.report._console import render_console
from cdiscgen.report._html import compute_html, write_report_html
from cdiscgen.report._json import compute_report, write_report_json
from cdiscgen.report._xlsx import write_report_xlsx
from cdiscgen.validate import RuleInfo, ValidationResult

log = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("json", "xlsx", "html")


def write_reports(
    findings: FindingsLike,
    out_dir: Path | str,
    *,
    formats: Sequence[str] = FORMATS,
    created: str | datetime | None = None,
    rules: Iterable[RuleInfo] | None = None,
    timing: bool = False,
    names: Mapping[str, str] | None = None,
    validation: ValidationResult | None = None,
) -> list[Path]:
    """Write report.<format> for each of `formats` into `out_dir`; return the paths written.

    `findings` is a `Findings`, any iterable of `Finding`, or a `ValidationResult`. With `timing=True`
    and a `ValidationResult`, report.json gets a top-level "timing" block (seconds per rule, rounded);
    leave it off when report.json must be byte-identical across runs. `names` gives the names of codes
    that are not conformance rules (the SDTM, ADaM, define and spec stages' MAP001, DEF002, ...); a code
    without a name is shown as itself. `validation` (default: `findings` when it is a `ValidationResult`)
    adds what the reviewer needs to tell "clean" from "not checked": every rule run with its status, and the
    standards and CT versions checked against.
    """
    if validation is None and isinstance(findings, ValidationResult):
        validation = findings
    if isinstance(created, datetime):
        created = created.isoformat()
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown report format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    out = Path(out_dir)
    rules = list(rules) if rules is not None else None
    timings = None
    if timing:
        if isinstance(findings, ValidationResult):
            timings = findings.timings
        else:
            log.warning("timing=True needs a ValidationResult; report.json is written without timings")
    written: list[Path] = []
    for fmt in formats:
        path = out / f"report.{fmt}"
        if fmt == "json":
            write_report_json(
                findings,
                path,
                created=created,
                rules=rules,
                timings=timings,
                names=names,
                validation=validation,
            )
        elif fmt == "xlsx":
            write_report_xlsx(
                findings, path, created=created, rules=rules, names=names, validation=validation
            )
        else:
            write_report_html(
                findings, path, created=created, rules=rules, names=names, validation=validation
            )
        log.info("wrote %s", path)
        written.append(path)
    return written


__all__ = [
    "FORMATS",
    "REPORT_FIELDS",
    "compute_html",
    "compute_report",
    "render_console",
    "write_report_html",
    "write_report_json",
    "write_report_xlsx",
    "write_reports",
]
