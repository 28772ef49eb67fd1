"""Console rendering for the CLI: stage progress (rich on a terminal, log lines otherwise), the run
summary, findings tables and the rule catalog."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Table

from cdiscgen._pipeline import LogReporter, Reporter, RunResult


class RichReporter:
    """One spinner line per stage while it runs, a tick with seconds and rows when it ends."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._status: Any = None
        self._started = 0.0

    def stage_started(self, name: str) -> None:
        self._started = time.perf_counter()
        self._status = self.console.status(f"[bold]{name}[/] ...")
        self._status.start()

    def stage_finished(self, name: str, seconds: float, rows: int | None) -> None:
        if self._status is not None:
            self._status.stop()
        rows_text = f"  {rows:>10,} rows" if rows is not None else ""
        self.console.print(f"[green]✓[/] {name:<12} {seconds:7.2f} s{rows_text}")

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()


class _QuietReporter:
    def stage_started(self, name: str) -> None:
        pass

    def stage_finished(self, name: str, seconds: float, rows: int | None) -> None:
        pass


@contextmanager
def make_reporter(*, quiet: bool) -> Iterator[Reporter]:
    if quiet:
        yield _QuietReporter()
        return
    if sys.stderr.isatty():
        reporter = RichReporter(Console(stderr=True))
        try:
            yield reporter
        finally:
            reporter.close()
        return
    yield LogReporter()


def print_run_summary(result: RunResult) -> None:
    console = Console()
    counts = result.findings.by_severity()
    table = Table(title=f"cdiscgen run -> {result.out_dir}", show_lines=False)
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("rows", justify="right")
    for stage in result.stages:
        table.add_row(stage.name, f"{stage.seconds:.2f}", f"{stage.rows:,}" if stage.rows is not None else "")
    console.print(table)
    console.print(
        f"findings: {counts.get('error', 0)} error(s), {counts.get('warning', 0)} warning(s), "
        f"{counts.get('notice', 0)} notice(s) — see {result.out_dir / 'validation' / 'report.html'}"
    )


def print_top_findings(findings: Any, *, per_code: int = 5, console: Console | None = None) -> None:
    """The first findings of each code (most severe codes first), each with its place (file:line, dataset,
    variable, USUBJID) and value, so a user sees what to fix without opening a report."""
    from cdiscgen._stages import finding_names

    console = console or Console(stderr=True, width=None if sys.stderr.isatty() else 160)
    ordered = sorted(findings, key=lambda f: (-int(f.severity), f.code))
    if not ordered:
        return
    names = finding_names()
    table = Table(
        title=f"findings (at most {per_code} per code; every one is in the report)", show_lines=False
    )
    for column in ("code", "severity", "where", "value", "message"):
        table.add_column(column, overflow="fold")
    shown: dict[str, int] = {}
    total: dict[str, int] = {}
    for f in ordered:
        total[f.code] = total.get(f.code, 0) + 1
    for f in ordered:
        if shown.get(f.code, 0) >= per_code:
            continue
        shown[f.code] = shown.get(f.code, 0) + 1
        code = f.code if f.code not in names else f"{f.code}\n{names[f.code]}"
        more = total[f.code] - per_code
        message = f.message + (f"  (+{more} more)" if shown[f.code] == per_code and more > 0 else "")
        table.add_row(code, str(f.severity), f.location(), "" if f.value is None else str(f.value), message)
    console.print(table)


def render_findings(findings: Any) -> None:
    from cdiscgen._stages import finding_names
    from cdiscgen.report import render_console

    render_console(findings, Console(), names=finding_names())


def print_rule_catalog() -> None:
    from cdiscgen.validate import list_rules

    table = Table(title="cdiscgen conformance rules")
    for column in ("code", "severity", "scope", "name", "published", "reference"):
        table.add_column(column)
    for rule in list_rules():
        published = "\n".join(rule.published)  # CORE, CDISC conformance and FDA business rule IDs
        table.add_row(
            rule.code, str(rule.severity), str(rule.scope), rule.name, published, str(rule.reference)
        )
    Console().print(table)
