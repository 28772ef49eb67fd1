"""The console summary: one rich table row per rule that fired."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cdiscgen._findings import Severity
from cdiscgen.report._common import (
    FindingsLike,
    as_findings,
    code_name,
    rule_index,
    rule_order,
    rules_run_rows,
    rules_run_sentence,
)
from cdiscgen.validate import RuleInfo, ValidationResult

SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.NOTICE: "cyan"}


def render_console(
    findings: FindingsLike,
    console: Console,
    *,
    rules: Iterable[RuleInfo] | None = None,
    names: Mapping[str, str] | None = None,
) -> None:
    """Print a table (rule, severity, count, message) and the totals by severity to `console`; for a
    validation run, also how many rules ran and with what status (clean is not "not checked")."""
    table_findings = as_findings(findings)
    index = rule_index(rules)
    if isinstance(findings, ValidationResult):
        console.print(Text(rules_run_sentence(rules_run_rows(findings, index)), style="dim"))
    if not table_findings:
        console.print(Text("No findings.", style="green"))
        return
    first: dict[str, str] = {}
    count: dict[str, int] = {}
    worst: dict[str, Severity] = {}
    for f in table_findings.sorted():
        first.setdefault(f.code, f.message)
        count[f.code] = count.get(f.code, 0) + 1
        worst[f.code] = max(worst.get(f.code, f.severity), f.severity)
    table = Table(title="Validation findings", show_lines=False)
    table.add_column("Rule", no_wrap=True)
    table.add_column("Severity", no_wrap=True)
    table.add_column("Count", justify="right")
    table.add_column("Message")
    for code in rule_order(table_findings):
        name = code_name(code, index, names)
        rule_cell = Text(code)
        if name != code:
            rule_cell.append(f"\n{name}", style="dim")
        table.add_row(
            rule_cell,
            Text(str(worst[code]), style=SEVERITY_STYLE[worst[code]]),
            str(count[code]),
            Text(first[code] + (" (first of several)" if count[code] > 1 else "")),
        )
    console.print(table)
    totals = table_findings.by_severity()
    line = Text("Total: ")
    for i, (sev, n) in enumerate(totals.items()):
        if i:
            line.append(", ")
        line.append(f"{n} {sev}", style=SEVERITY_STYLE[Severity.parse(sev)] if n else "dim")
    explained = len(table_findings.explained())
    if explained:
        line.append(f" (and {explained} explained in the study's specs/explanations.yaml)", style="dim")
    console.print(line)
