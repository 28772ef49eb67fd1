"""report.json: the stable CI contract of DESIGN.md (byte-identical across reruns)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cdiscgen.report._common import (
    FindingsLike,
    as_findings,
    finding_row,
    rejection_rows,
    rule_index,
    rules_run_rows,
    status_counts,
    summary,
    write_atomic,
)
from cdiscgen.validate import RuleInfo, ValidationResult

#: Timings in report.json are rounded so that their text does not carry noise digits.
TIMING_DECIMALS = 4


def compute_report(
    findings: FindingsLike,
    *,
    created: str | None = None,
    rules: Iterable[RuleInfo] | None = None,
    timings: Mapping[str, float] | None = None,
    names: Mapping[str, str] | None = None,
    validation: ValidationResult | None = None,
) -> dict[str, Any]:
    """The report.json document: `summary`, `findings` (sorted), `created` when given, `timing` when given;
    with a `validation` run also `standards` (and CT versions) and `rules_run` (every rule with its status).

    `names` gives the name of codes that are not conformance rules (MAP001, DEF002, ...); default: the code.
    """
    table = as_findings(findings)
    index = rule_index(rules)
    doc: dict[str, Any] = {}
    if created is not None:
        doc["created"] = created
    doc["summary"] = summary(table, index, names)
    if validation is not None:
        runs = rules_run_rows(validation, index)
        doc["summary"]["rules_run"] = status_counts(runs)
        doc["standards"] = dict(validation.standards)
        doc["technical_rejection"] = rejection_rows(runs)
        doc["rules_run"] = runs
    doc["findings"] = [finding_row(f) for f in table.sorted()]
    if timings is not None:
        doc["timing"] = {
            "total_seconds": round(sum(timings.values()), TIMING_DECIMALS),
            "rules": {code: round(seconds, TIMING_DECIMALS) for code, seconds in sorted(timings.items())},
        }
    return doc


def write_report_json(
    findings: FindingsLike,
    path: Path | str,
    *,
    created: str | None = None,
    rules: Iterable[RuleInfo] | None = None,
    timings: Mapping[str, float] | None = None,
    names: Mapping[str, str] | None = None,
    validation: ValidationResult | None = None,
) -> Path:
    """Write report.json (UTF-8, 2-space indent, newline at the end); the same input gives the same bytes."""
    doc = compute_report(
        findings, created=created, rules=rules, timings=timings, names=names, validation=validation
    )
    text = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    return write_atomic(Path(path), text.encode("utf-8"))
