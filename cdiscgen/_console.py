"""Console rendering for the CLI: stage progress (rich on a terminal, log lines otherwise), the run
summary, findings tables and the rule catalog."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table

from cdiscgen._pipeline import LogReporter, Reporter, RunResult

if TYPE_CHECKING:
    from cdiscgen._batch import RunOutcome


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


class BatchBoard:
    """Where a batch stands: runs done (or unchanged), running (on which worker, since when), failed,
    waiting. Updated from two threads (starts arrive on the Dask client's thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self.unchanged = 0
        self.done = 0
        self.failed = 0
        self.running: dict[str, tuple[str, float]] = {}
        self._finished: set[str] = set()

    def batch_started(self, total: int, unchanged: int) -> None:
        with self._lock:
            self.total, self.unchanged = total, unchanged

    def run_started(self, name: str, worker: str) -> bool:
        """False when the start comes after the run's end (a short run; the event is late)."""
        with self._lock:
            if name in self._finished:
                return False
            self.running[name] = (worker, time.monotonic())
            return True

    def run_finished(self, name: str, failed: bool) -> None:
        with self._lock:
            self._finished.add(name)
            self.running.pop(name, None)
            self.failed += failed
            self.done += not failed

    def summary(self) -> str:
        with self._lock:
            waiting = self.total - self.unchanged - self.done - self.failed - len(self.running)
            unchanged = f", {self.unchanged} unchanged" if self.unchanged else ""
            return (
                f"runs: {self.done} done{unchanged}, {len(self.running)} running, "
                f"{self.failed} failed, {waiting} waiting (of {self.total})"
            )

    def running_lines(self) -> list[str]:
        now = time.monotonic()
        with self._lock:
            return [
                f"{name} on {worker} ({now - since:.0f} s)"
                for name, (worker, since) in sorted(self.running.items())
            ]


def _outcome_line(outcome: RunOutcome) -> str:
    if outcome.status == "done":
        findings = ", ".join(f"{n} {s}" for s, n in outcome.findings.items())
        return f"{outcome.name}: done in {outcome.seconds:.1f} s ({findings or 'no findings'})"
    return f"{outcome.name}: FAILED after {outcome.seconds:.1f} s: {outcome.error}"


class RichBatchProgress:
    """On a terminal: a live board (done / running with worker and elapsed time / failed / waiting) under
    one line per finished run."""

    def __init__(self, console: Console) -> None:
        from rich.live import Live

        self.board = BatchBoard()
        self.console = console
        self._live = Live(console=console, get_renderable=self._render, refresh_per_second=4)

    def _render(self) -> Any:
        from rich.text import Text

        lines = [Text(self.board.summary(), style="bold")]
        lines += [Text(f"  ⠿ {line}") for line in self.board.running_lines()]
        return Group(*lines)

    def batch_started(self, total: int, unchanged: int) -> None:
        self.board.batch_started(total, unchanged)
        self._live.start()

    def run_started(self, name: str, worker: str) -> None:
        self.board.run_started(name, worker)

    def run_finished(self, outcome: RunOutcome) -> None:
        failed = outcome.status != "done"
        self.board.run_finished(outcome.name, failed)
        mark = "[red]✗[/]" if failed else "[green]✓[/]"
        self.console.print(f"{mark} {escape(_outcome_line(outcome))}")

    def close(self) -> None:
        self._live.stop()


class LineBatchProgress:
    """Elsewhere (CI, a log file): one plain line per start and per end, with the board's counts."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.board = BatchBoard()
        self.echo = echo

    def batch_started(self, total: int, unchanged: int) -> None:
        self.board.batch_started(total, unchanged)
        self.echo(self.board.summary())

    def run_started(self, name: str, worker: str) -> None:
        if self.board.run_started(name, worker):
            self.echo(f"{name}: started on {worker}")

    def run_finished(self, outcome: RunOutcome) -> None:
        self.board.run_finished(outcome.name, outcome.status != "done")
        self.echo(f"{_outcome_line(outcome)}; {self.board.summary()}")

    def close(self) -> None:
        pass


@contextmanager
def make_batch_progress(*, quiet: bool) -> Iterator[Any]:
    """The batch's display: none with -q, the live board on a terminal, plain lines elsewhere."""
    if quiet:
        yield None
        return
    progress: RichBatchProgress | LineBatchProgress
    if sys.stderr.isatty():
        progress = RichBatchProgress(Console(stderr=True))
    else:
        progress = LineBatchProgress(lambda line: click.echo(line, err=True))
    try:
        yield progress
    finally:
        progress.close()
