"""A portfolio in one command: the runs of a batch plan, each the same `run_pipeline` as `cdiscgen run`,
executed as tasks of a Dask cluster (an embedded LocalCluster of worker processes, or an existing
cluster named by its scheduler address), with one report of the whole batch.

A plan (YAML):

    runs:
      - name: darpal-cut1            # the run's output folder under --out (letters, digits, . _ -)
        study: studies/darpal        # study folder, relative to the plan file [the bundled study]
        raw: raw/darpal-2026-06      # raw CSV folder, relative to the plan file; or:
        simulate: {subjects: 40, seed: 20240101, sites: 5}
        cutoff: 2026-06-30           # the data cut [the study's]

Each run writes into its own temporary tree and swaps it in place when it succeeds (run_pipeline), so a
failing run leaves its previous output as it was and stops no other run. The batch report
(`batch.json`, `batch.html` in --out) gives per run its status, the error of a failed one, stage timings,
rows, findings by severity and its validation report, and for the batch the wall time, the CPU time of
the runs and the peak memory of each worker process.
"""

from __future__ import annotations

import html
import json
import os
import resource
import signal
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from cdiscgen._atomic import remove_stale_work, write_text_atomic
from cdiscgen._specs import schema_problems
from cdiscgen._tasks import connect, quiet_cluster_logs, start_local_cluster
from cdiscgen._yaml import YamlSyntaxError, load_yaml

_NAME = {"type": "string", "required": True, "regex": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"}
PLAN_SCHEMA: dict = {
    "runs": {
        "type": "list",
        "required": True,
        "minlength": 1,
        "schema": {
            "type": "dict",
            "schema": {
                "name": _NAME,
                "study": {"type": "string", "empty": False},
                "raw": {"type": "string", "empty": False, "excludes": "simulate"},
                "simulate": {
                    "type": "dict",
                    "excludes": "raw",
                    "schema": {
                        "subjects": {"type": "integer", "min": 1},
                        "seed": {"type": "integer", "min": 0},
                        "sites": {"type": "integer", "min": 1},
                    },
                },
                "cutoff": {"type": ["date", "string"], "regex": r"^\d{4}-\d{2}-\d{2}$"},
            },
        },
    }
}


class PlanError(ValueError):
    """A plan that cannot be run: every problem with the plan's file and line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class PlannedRun:
    """One run of a plan, with its paths resolved (plain data: it travels to a worker process)."""

    name: str
    study_dir: str | None
    raw_dir: str | None
    subjects: int = 40
    seed: int = 20240101
    sites: int = 5
    cutoff: str | None = None


@dataclass
class RunOutcome:
    """What one run gave back to the batch (plain data, from the worker)."""

    name: str
    status: str  # "done" or "failed"
    out_dir: str
    error: str | None = None
    stages: list[dict[str, Any]] = field(default_factory=list)
    findings: dict[str, int] = field(default_factory=dict)
    report: str | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    worker: str = ""
    worker_peak_rss_mb: float = 0.0


def read_plan(path: Path) -> list[PlannedRun]:
    """The runs of a plan file; PlanError names file and line of every problem (and repeated names)."""
    path = Path(path)
    try:
        doc = load_yaml(path)
    except YamlSyntaxError as exc:
        raise PlanError([f"{path}:{exc.line}: YAML syntax error: {exc.problem}"]) from None
    except OSError as exc:
        raise PlanError([f"{path}: {exc.strerror}"]) from None
    problems = [f"{path}:{p.line}: {p.key}: {p.message}" for p in schema_problems(doc, PLAN_SCHEMA)]
    if problems:
        raise PlanError(problems)
    base = path.resolve().parent
    runs, seen = [], {}
    for i, entry in enumerate(doc["runs"]):
        line = doc["runs"].line_of(i)
        if entry["name"] in seen:
            problems.append(
                f"{path}:{line}: run name {entry['name']!r} is used twice (also line {seen[entry['name']]})"
            )
            continue
        seen[entry["name"]] = line
        raw = base / entry["raw"] if entry.get("raw") else None
        if raw is not None and not raw.is_dir():
            problems.append(f"{path}:{line}: runs[{i}].raw: {raw} is not a folder")
        sim = entry.get("simulate") or {}
        runs.append(
            PlannedRun(
                name=entry["name"],
                study_dir=str(base / entry["study"]) if entry.get("study") else None,
                raw_dir=str(raw) if raw is not None else None,
                subjects=int(sim.get("subjects", 40)),
                seed=int(sim.get("seed", 20240101)),
                sites=int(sim.get("sites", 5)),
                cutoff=str(entry["cutoff"]) if entry.get("cutoff") else None,
            )
        )
    if problems:
        raise PlanError(problems)
    return runs


STARTED_TOPIC = "cdiscgen-batch-started"  # the Dask event a worker sends when it starts a run


def _announce_start(name: str, worker: str) -> None:
    """Tell the batch's client that this worker has started the run (no-op outside a Dask worker)."""
    try:
        from distributed import get_worker

        get_worker().log_event(STARTED_TOPIC, {"run": name, "process": worker})
    except (ImportError, ValueError):  # not running on a Dask worker (a direct call)
        pass


def execute_run(run: PlannedRun, out_root: str) -> RunOutcome:
    """One run, as `cdiscgen run` does it (in a worker process): never raises; a failure is its outcome."""
    from cdiscgen._pipeline import RunOptions, run_pipeline

    out_dir = str(Path(out_root) / run.name)
    started, cpu = time.perf_counter(), time.process_time()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    _announce_start(run.name, worker)
    outcome = RunOutcome(name=run.name, status="done", out_dir=out_dir, worker=worker)
    try:
        result = run_pipeline(
            RunOptions(
                out_dir=Path(out_dir),
                study_dir=Path(run.study_dir) if run.study_dir else None,
                raw_dir=Path(run.raw_dir) if run.raw_dir else None,
                subjects=run.subjects,
                seed=run.seed,
                sites=run.sites,
                cutoff=date.fromisoformat(run.cutoff) if run.cutoff else None,
            )
        )
        outcome.stages = [
            {"name": s.name, "seconds": round(s.seconds, 3), "rows": s.rows} for s in result.stages
        ]
        outcome.findings = {str(k): v for k, v in result.findings.by_severity().items()}
        report = Path(out_dir) / "validation" / "report.html"
        outcome.report = str(report) if report.exists() else None
    except Exception as exc:  # noqa: BLE001 - a run's failure is reported, the batch goes on
        outcome.status = "failed"
        outcome.error = f"{type(exc).__name__}: {exc}"
    outcome.seconds = round(time.perf_counter() - started, 3)
    outcome.cpu_seconds = round(time.process_time() - cpu, 3)
    outcome.worker_peak_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return outcome


FINGERPRINTS = ".batch-inputs"  # folder in --out: per run, the fingerprint of the inputs of its output


def compute_inputs_fingerprint(run: PlannedRun) -> str:
    """A digest of everything a run's output depends on: its options, the cdiscgen version, and the bytes
    (and names) of every file of its study's specs/ and mappings/ and of its raw folder."""
    import hashlib

    from cdiscgen import __version__
    from cdiscgen._specs import resolve_study_dir

    digest = hashlib.sha256()
    options = {**asdict(run), "study_dir": None, "raw_dir": None, "version": __version__}
    digest.update(json.dumps(options, sort_keys=True).encode())
    study = resolve_study_dir(run.study_dir)
    folders = [("specs", study / "specs"), ("mappings", study / "mappings")]
    if run.raw_dir:
        folders.append(("raw", Path(run.raw_dir)))
    for label, folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(f"{label}/{path.relative_to(folder).as_posix()}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _unchanged(run: PlannedRun, out_dir: Path, fingerprint: str) -> bool:
    """The run's output exists and was made from exactly these inputs."""
    stored = out_dir / FINGERPRINTS / f"{run.name}.sha256"
    return (
        (out_dir / run.name / "run.json").is_file()
        and stored.is_file()
        and stored.read_text().strip() == fingerprint
    )


class BatchProgress(Protocol):
    """What a batch tells its display: how many runs it has, then each start (as the worker reports it,
    possibly after the run's end for a very short run) and each outcome."""

    def batch_started(self, total: int, unchanged: int) -> None: ...

    def run_started(self, name: str, worker: str) -> None: ...

    def run_finished(self, outcome: RunOutcome) -> None: ...


@dataclass
class BatchResult:
    out_dir: Path
    runs: list[RunOutcome]
    seconds: float
    scheduler: str

    @property
    def failed(self) -> list[RunOutcome]:
        return [r for r in self.runs if r.status == "failed"]


def run_batch(
    runs: list[PlannedRun],
    out_dir: Path,
    *,
    workers: int = 2,
    scheduler: str | None = None,
    progress: BatchProgress | None = None,
    force: bool = False,
) -> BatchResult:
    """Every run as a task of a Dask cluster: an embedded LocalCluster of `workers` processes (one thread
    each), or the existing cluster at `scheduler` (tcp://host:port). A run whose inputs have not changed
    since its last successful output is not run again (status "unchanged") unless `force`. Outcomes are in
    plan order."""
    from dask.distributed import as_completed

    quiet_cluster_logs()
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    fingerprints = {run.name: compute_inputs_fingerprint(run) for run in runs}
    done: dict[str, RunOutcome] = {}
    for run in runs:
        if not force and _unchanged(run, out_dir, fingerprints[run.name]):
            report = out_dir / run.name / "validation" / "report.html"
            done[run.name] = RunOutcome(
                name=run.name,
                status="unchanged",
                out_dir=str(out_dir / run.name),
                report=str(report) if report.exists() else None,
            )
    todo = [run for run in runs if run.name not in done]
    if progress is not None:
        progress.batch_started(len(runs), len(done))
    cluster = None
    address = ""
    if not todo:
        result = BatchResult(
            out_dir, [done[r.name] for r in runs], round(time.perf_counter() - started, 3), address
        )
        write_batch_report(result)
        return result
    interrupted: list[int] = []
    if scheduler is None:
        cluster = start_local_cluster(workers)
    previous_handler = _note_sigint(interrupted)
    try:
        with connect(cluster, scheduler) as client:
            address = str(client.scheduler.address)
            if progress is not None:
                client.subscribe_topic(
                    STARTED_TOPIC, lambda event: progress.run_started(event[1]["run"], event[1]["process"])
                )
            futures = [
                client.submit(execute_run, run, str(out_dir), key=f"run-{i}-{run.name}", pure=False)
                for i, run in enumerate(todo)
            ]
            for future in as_completed(futures):
                if interrupted:  # a Ctrl-C that dask's client swallowed still stops the batch
                    raise KeyboardInterrupt(f"signal {interrupted[0]}")
                outcome = future.result()
                done[outcome.name] = outcome
                if outcome.status == "done":
                    (out_dir / FINGERPRINTS).mkdir(exist_ok=True)
                    stored = out_dir / FINGERPRINTS / f"{outcome.name}.sha256"
                    write_text_atomic(stored, fingerprints[outcome.name] + "\n")
                if progress is not None:
                    progress.run_finished(outcome)
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)
        if cluster is not None:
            cluster.close()
            # an interrupted batch: the trees its killed workers were building go (a run's previous output
            # was never touched: it is only swapped when the run is complete)
            for run in runs:
                remove_stale_work(out_dir / run.name)
    if interrupted:
        raise KeyboardInterrupt(f"signal {interrupted[0]}")
    result = BatchResult(
        out_dir, [done[r.name] for r in runs], round(time.perf_counter() - started, 3), address
    )
    write_batch_report(result)
    return result


def _note_sigint(interrupted: list[int]) -> Any:
    """Ctrl-C raises KeyboardInterrupt as usual and is also recorded: under load a KeyboardInterrupt raised
    inside dask's client code was seen lost (the batch ran to its end, exit 0), so the batch checks the
    record between runs and at its end. Only in the main thread (elsewhere signals do not arrive); gives the
    handler it replaced (None when it replaced none)."""

    def on_sigint(signum: int, frame: object) -> None:
        interrupted.append(signum)
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, on_sigint)


def write_batch_report(result: BatchResult) -> None:
    """batch.json and batch.html in the batch's output folder (written atomically)."""
    peaks: dict[str, float] = {}
    for r in result.runs:
        peaks[r.worker] = max(peaks.get(r.worker, 0.0), r.worker_peak_rss_mb)
    doc = {
        "scheduler": result.scheduler,
        "wall_seconds": result.seconds,
        "cpu_seconds": round(sum(r.cpu_seconds for r in result.runs), 3),
        "runs_done": sum(r.status == "done" for r in result.runs),
        "runs_unchanged": sum(r.status == "unchanged" for r in result.runs),
        "runs_failed": len(result.failed),
        "worker_peak_rss_mb": dict(sorted(peaks.items())),
        "runs": [asdict(r) for r in result.runs],
    }
    write_text_atomic(result.out_dir / "batch.json", json.dumps(doc, indent=2) + "\n")
    write_text_atomic(result.out_dir / "batch.html", _html(doc, result.out_dir))


def _html(doc: Mapping[str, Any], out_dir: Path) -> str:
    e = html.escape
    rows = []
    for r in doc["runs"]:
        findings = ", ".join(f"{n} {s}" for s, n in r["findings"].items()) or "-"
        report = Path(r["report"]).relative_to(out_dir).as_posix() if r["report"] else None
        link = f'<a href="{e(report)}">report</a>' if report else "-"
        stages = ", ".join(f"{s['name']} {s['seconds']:.1f} s" for s in r["stages"]) or "-"
        detail = e(r["error"]) if r["error"] else e(stages)
        rows.append(
            f'<tr class="{e(r["status"])}"><td>{e(r["name"])}</td><td>{e(r["status"])}</td>'
            f"<td>{r['seconds']:.1f}</td><td>{e(findings)}</td><td>{link}</td><td>{detail}</td></tr>"
        )
    peaks = "".join(f"<li>{e(w)}: {mb:.0f} MB</li>" for w, mb in doc["worker_peak_rss_mb"].items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>cdiscgen batch</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}
tr.failed td{{background:#fde8e8}}th{{background:#f0f0f0}}</style></head><body>
<h1>cdiscgen batch</h1>
<p>{doc["runs_done"]} run(s) done, {doc["runs_unchanged"]} unchanged (not run again), {doc["runs_failed"]} failed; wall time {doc["wall_seconds"]:.1f} s,
CPU time of the runs {doc["cpu_seconds"]:.1f} s; scheduler {e(doc["scheduler"])}.</p>
<p>Peak memory per worker process:</p><ul>{peaks}</ul>
<table><tr><th>run</th><th>status</th><th>seconds</th><th>findings</th><th>validation</th><th>stages / error</th></tr>
{"".join(rows)}
</table></body></html>
"""
