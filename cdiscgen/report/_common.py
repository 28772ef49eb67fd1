"""What every renderer shares: the findings table in report order and the rule documentation."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cdiscgen._atomic import write_bytes_atomic
from cdiscgen._findings import Finding, Findings, Severity
from cdiscgen.validate import STATUSES, RuleInfo, ValidationResult, list_rules

#: Column order of report.json findings and of the detail tables (DESIGN.md contract).
REPORT_FIELDS: tuple[str, ...] = (
    "code",
    "severity",
    "dataset",
    "variable",
    "usubjid",
    "seq",
    "value",
    "expected",
    "message",
    "file",
    "line",
    "explanation",
)

FindingsLike = Findings | ValidationResult | Iterable[Finding]


def as_findings(findings: FindingsLike) -> Findings:
    if isinstance(findings, Findings):
        return findings
    if isinstance(findings, ValidationResult):
        return findings.findings
    return Findings(list(findings))


def rule_index(rules: Iterable[RuleInfo] | None) -> dict[str, RuleInfo]:
    return {r.code: r for r in (list_rules() if rules is None else rules)}


#: The shape of a conformance rule code (`cdiscgen.validate` registers them).
RULE_CODE = re.compile(r"^CDG\d{4}$")

#: Where a finding code comes from, by prefix (conformance rules are CDG + 4 digits).
_SOURCES: tuple[tuple[str, str], ...] = (
    ("MAP", "SDTM mapping"),
    ("CDG-ADAM", "ADaM derivation"),
    ("ADM", "ADaM derivation"),
    ("DEF", "Define-XML build"),
    ("SPEC", "Study specs"),
)


def code_source(code: str) -> str:
    """What produced a finding code: a conformance rule, or a stage of the pipeline (by code prefix)."""
    if RULE_CODE.match(code):
        return "Conformance rule"
    return next((source for prefix, source in _SOURCES if code.startswith(prefix)), "Other")


def code_name(code: str, rules: Mapping[str, RuleInfo], names: Mapping[str, str] | None = None) -> str:
    """The name of a finding code: the rule's name, else the one `names` gives, else the code itself."""
    if code in rules:
        return rules[code].name
    return (names or {}).get(code) or code


def finding_row(f: Finding) -> dict[str, Any]:
    """One finding as the report.json contract orders it."""
    d = f.as_dict()
    return {k: d[k] for k in REPORT_FIELDS}


def summary(
    findings: Findings, rules: Mapping[str, RuleInfo], names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Counts by severity and by code, and the fired codes with their name (see `code_name`) and severity."""
    by_code = findings.by_code()
    severities: dict[str, str] = {}
    for f in findings:
        current = severities.get(f.code)
        if current is None or Severity.parse(current) < f.severity:
            severities[f.code] = str(f.severity)
    return {
        "total": len(findings),
        "by_severity": findings.by_severity(),
        "explained": len(findings.explained()),
        "by_code": by_code,
        "rules": {
            code: {
                "name": code_name(code, rules, names),
                "severity": severities[code],
                "count": count,
            }
            for code, count in by_code.items()
        },
    }


#: Columns of the rules-run table (report.json `rules_run`, the HTML and XLSX rules-run tables).
RULES_RUN_FIELDS: tuple[str, ...] = (
    "code",
    "name",
    "severity",
    "status",
    "findings",
    "examined",
    "published",
    "reference",
)


def rules_run_rows(
    validation: ValidationResult | None, rules: Mapping[str, RuleInfo]
) -> list[dict[str, Any]]:
    """Every rule the validation ran, in code order: its status (issues / clean / not applicable /
    failed), its own finding count and what it examined; empty without a validation run."""
    if validation is None:
        return []
    rows = []
    for code, run in sorted(validation.runs.items()):
        info = rules.get(code)
        rows.append(
            {
                "code": code,
                "name": info.name if info else code,
                "severity": str(info.severity) if info else "",
                "status": run.status,
                "findings": run.findings,
                "examined": list(run.examined),
                "published": list(info.published) if info else [],
                "reference": info.reference if info else "",
            }
        )
    return rows


def rejection_rows(runs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rules that check FDA's Technical Rejection Criteria for Study Data (published TRCnnnn), one row per
    criterion: pass (the rule examined the data and found nothing), fail, or not applicable."""
    verdict = {"clean": "pass", "issues": "fail", "failed": "fail"}
    rows = []
    for run in runs:
        for criterion in (p for p in run["published"] if str(p).startswith("TRC")):
            rows.append(
                {
                    "criterion": criterion,
                    "code": run["code"],
                    "name": run["name"],
                    "result": verdict.get(run["status"], "not applicable"),
                    "findings": run["findings"],
                }
            )
    return sorted(rows, key=lambda r: (r["criterion"], r["code"]))


def status_counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many rules ended in each status, in the order a reviewer reads them."""
    counts: dict[str, int] = {}
    for status in STATUSES:
        n = sum(1 for r in rows if r["status"] == status)
        if n:
            counts[status] = n
    return counts


def rules_run_sentence(rows: list[Mapping[str, Any]]) -> str:
    """ "147 rules run: 1 with issues, 144 clean, 2 not applicable" (what the console and HTML say)."""
    said = ", ".join(
        f"{n} {'with issues' if status == 'issues' else status}" for status, n in status_counts(rows).items()
    )
    return f"{len(rows)} rules run: {said}"


def rule_order(findings: Findings) -> list[str]:
    """Codes that fired, most severe first, then by code."""
    worst: dict[str, int] = {}
    for f in findings:
        worst[f.code] = max(worst.get(f.code, 0), int(f.severity))
    return sorted(worst, key=lambda c: (-worst[c], c))


def write_atomic(path: Path, data: bytes) -> Path:
    """Write through a temporary file in the same folder and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_bytes_atomic(path, data)
