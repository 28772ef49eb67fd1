"""`cdiscgen batch` (issue 16): a plan of small studies on an embedded Dask LocalCluster of two worker
processes; each run is the same as `cdiscgen run` (byte for byte), a broken one is reported with its named
error and leaves no output, and the plan's own mistakes name file and line."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from cdiscgen._batch import PlanError, read_plan
from cdiscgen._pipeline import RunOptions, run_pipeline
from cdiscgen.cli import main
from tests.conftest import REPO, dask_cluster_processes

pytestmark = pytest.mark.slow

PLAN = """\
runs:
  - {name: s1, simulate: {subjects: 5, seed: 11, sites: 2}}
  - {name: broken, study: broken, simulate: {subjects: 5, seed: 12}}
  - {name: s2, simulate: {subjects: 5, seed: 13, sites: 2}}
  - {name: s3, simulate: {subjects: 6, seed: 14, sites: 3}, cutoff: 2026-06-30}
"""


def files(root: Path) -> dict[str, bytes]:
    """Every output file but run.json (it records timings and the output folder)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "run.json"
    }


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    base = tmp_path_factory.mktemp("batch")
    broken = base / "broken"
    shutil.copytree(REPO / "specs", broken / "specs")
    shutil.copytree(REPO / "mappings", broken / "mappings")
    dm = broken / "mappings" / "dm.yaml"
    dm.write_text(dm.read_text().replace("dataset: DM\n", "dataset: DMX\n"), encoding="utf-8")
    (base / "plan.yaml").write_text(PLAN, encoding="utf-8")
    result = CliRunner().invoke(
        main, ["batch", str(base / "plan.yaml"), "--out", str(base / "out"), "--workers", "2"]
    )
    return base, result


def test_the_progress_names_each_run_when_its_worker_starts_it_and_when_it_ends(batch):
    base, result = batch
    doc = json.loads((base / "out" / "batch.json").read_text())
    lines = result.stderr.splitlines()
    assert lines[0] == "runs: 0 done, 0 running, 0 failed, 4 waiting (of 4)", result.stderr
    for run in doc["runs"]:
        started = lines.index(f"{run['name']}: started on {run['worker']}")
        ended = next(i for i, line in enumerate(lines) if line.startswith(f"{run['name']}: "))
        assert started == ended, f"{run['name']}: its start is not its first line"
        end = next(i for i, line in enumerate(lines[started + 1 :]) if line.startswith(f"{run['name']}: "))
        assert ("FAILED" in lines[started + 1 + end]) == (run["status"] == "failed")
    # the last line counts them all
    finals = [line for line in lines if line.endswith("(of 4)")]
    assert finals[-1].endswith("runs: 3 done, 0 running, 1 failed, 0 waiting (of 4)"), finals[-1]


def test_the_board_counts_runs_by_state():
    from cdiscgen._console import BatchBoard

    board = BatchBoard()
    board.batch_started(6, 1)  # one unchanged, five to run
    assert board.run_started("a", "w:1") and board.run_started("b", "w:2")
    board.run_finished("a", failed=False)
    board.run_finished("c", failed=True)  # its start event never came, or comes late:
    assert not board.run_started("c", "w:1")
    assert board.summary() == "runs: 1 done, 1 unchanged, 1 running, 1 failed, 2 waiting (of 6)"
    assert [line.split(" (")[0] for line in board.running_lines()] == ["b on w:2"]


def test_the_terminal_board_shows_finished_runs_above_the_live_counts():
    from rich.console import Console

    from cdiscgen._batch import RunOutcome
    from cdiscgen._console import RichBatchProgress

    console = Console(record=True, width=120, force_terminal=True)
    progress = RichBatchProgress(console)
    progress.batch_started(2, 0)
    progress.run_started("a", "host:11")
    progress.run_finished(
        RunOutcome(name="a", status="failed", out_dir="x", error="SpecError: bad [x]", seconds=1.25)
    )
    progress.run_started("b", "host:12")
    progress.close()
    text = console.export_text()
    assert "✗ a: FAILED after 1.2 s: SpecError: bad [x]" in text
    assert "runs: 0 done, 1 running, 1 failed, 0 waiting (of 2)" in text
    assert "b on host:12" in text


def test_a_failed_run_is_named_and_the_others_complete(batch):
    base, result = batch
    assert result.exit_code == 1, result.output  # done, with a failed run
    doc = json.loads((base / "out" / "batch.json").read_text())
    status = {r["name"]: (r["status"], r["error"]) for r in doc["runs"]}
    assert [r["name"] for r in doc["runs"]] == ["s1", "broken", "s2", "s3"]  # plan order
    assert {n: s for n, (s, _) in status.items()} == {
        "s1": "done",
        "broken": "failed",
        "s2": "done",
        "s3": "done",
    }
    assert "SPEC041" in status["broken"][1] and "mappings/dm.yaml:" in status["broken"][1]
    assert (doc["runs_done"], doc["runs_failed"]) == (3, 1) and len(doc["worker_peak_rss_mb"]) >= 1
    # nothing of the failed run, and no half-written tree anywhere
    assert not (base / "out" / "broken").exists()
    assert not [p for p in (base / "out").rglob("*") if "partial" in p.name]
    html = (base / "out" / "batch.html").read_text()
    assert (
        "3 run(s) done, 0 unchanged (not run again), 1 failed" in html
        and "SPEC041" in html
        and 'href="s1/validation/report.html"' in html
    )


def test_each_run_is_byte_identical_to_cdiscgen_run(batch, tmp_path):
    base, _ = batch
    for name, subjects, seed, sites in (("s1", 5, 11, 2), ("s3", 6, 14, 3)):
        alone = tmp_path / name
        run_pipeline(RunOptions(out_dir=alone, subjects=subjects, seed=seed, sites=sites))
        mine, theirs = files(base / "out" / name), files(alone)
        assert mine.keys() == theirs.keys() and mine == theirs, name
        batch_run = json.loads((base / "out" / name / "run.json").read_text())
        assert batch_run["files"] == json.loads((alone / "run.json").read_text())["files"]


@pytest.mark.parametrize(
    ("plan", "words"),
    [
        ("runs:\n  - {name: a}\n  - {name: a}\n", "plan.yaml:3: run name 'a' is used twice (also line 2)"),
        (
            "runs:\n  - {name: a, raw: r, simulate: {subjects: 3}}\n",
            "plan.yaml:2: runs[0(a)].raw: 'raw': excludes 'simulate'",
        ),
        ("runs:\n  - {name: a, raw: nowhere}\n", "plan.yaml:2: runs[0].raw:"),
        ("runs:\n  - {name: 'a b'}\n", "plan.yaml:2: runs[0(a b)].name"),
        ("runs: [\n", "plan.yaml:"),
    ],
)
def test_a_plan_mistake_names_file_and_line(tmp_path, plan, words):
    path = tmp_path / "plan.yaml"
    path.write_text(textwrap.dedent(plan), encoding="utf-8")
    with pytest.raises(PlanError) as exc:
        read_plan(path)
    assert words in str(exc.value), str(exc.value)
    result = CliRunner().invoke(main, ["batch", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and not (tmp_path / "out").exists()


def _checksums_hold(run_dir: Path) -> bool:
    """The run folder is one complete tree: every file run.json lists has its checksum, and no other."""
    import hashlib

    listed = json.loads((run_dir / "run.json").read_text())["files"]
    present = {
        p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file() and p.name != "run.json"
    }
    return set(listed) == present and all(
        hashlib.sha256((run_dir / name).read_bytes()).hexdigest() == digest for name, digest in listed.items()
    )


def test_sigint_during_a_batch_leaves_every_output_complete(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "runs:\n  - {name: r1, simulate: {subjects: 4, seed: 1}}\n  - {name: r2, simulate: {subjects: 4, seed: 2}}\n"
    )
    out = tmp_path / "out"
    first = CliRunner().invoke(main, ["-q", "batch", str(plan), "--out", str(out)])
    assert first.exit_code == 0, first.output
    before = {name: files(out / name) for name in ("r1", "r2")}
    # the same runs, larger: interrupted while they run
    plan.write_text(
        "runs:\n  - {name: r1, simulate: {subjects: 30, seed: 3}}\n  - {name: r2, simulate: {subjects: 30, seed: 4}}\n"
    )
    cli = Path(sys.executable).parent / "cdiscgen"
    proc = subprocess.Popen(
        [str(cli), "-q", "batch", str(plan), "--out", str(out)], stderr=subprocess.PIPE, text=True
    )
    # interrupted once a worker is building a run's new tree (not while the cluster is still starting)
    deadline = time.monotonic() + 120
    while not list(out.glob(".r*.partial-*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None and list(out.glob(".r*.partial-*")), "no run was under way to interrupt"
    time.sleep(1)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    for name in ("r1", "r2"):
        # the previous output, untouched, or (a run that finished first) the new one, complete
        assert files(out / name) == before[name] or _checksums_hold(out / name), name
    assert not [p for p in out.rglob("*") if "partial" in p.name or "previous" in p.name]


def test_the_same_plan_on_an_existing_dask_cluster(tmp_path):
    with dask_cluster_processes(2) as address:
        plan = tmp_path / "plan.yaml"
        plan.write_text(
            "runs:\n  - {name: s1, simulate: {subjects: 5, seed: 11, sites: 2}}\n  - {name: s2, simulate: {subjects: 5, seed: 13, sites: 2}}\n"
        )
        result = CliRunner().invoke(
            main, ["-q", "batch", str(plan), "--out", str(tmp_path / "out"), "--scheduler", address]
        )
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "out" / "batch.json").read_text())
    assert doc["scheduler"] == address and doc["runs_done"] == 2
    # run by the cluster's worker processes, byte for byte what cdiscgen run gives
    assert len({r["worker"] for r in doc["runs"]}) >= 1
    alone = tmp_path / "alone"
    run_pipeline(RunOptions(out_dir=alone, subjects=5, seed=11, sites=2))
    assert files(tmp_path / "out" / "s1") == files(alone)


def test_a_rerun_skips_the_runs_whose_inputs_are_unchanged(tmp_path):
    study = tmp_path / "study"
    shutil.copytree(REPO / "specs", study / "specs")
    shutil.copytree(REPO / "mappings", study / "mappings")
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "runs:\n  - {name: a, simulate: {subjects: 3, seed: 1}}\n"
        "  - {name: b, study: study, simulate: {subjects: 3, seed: 2}}\n"
    )
    out = tmp_path / "out"

    def batch(*extra: str) -> dict[str, str]:
        result = CliRunner().invoke(main, ["-q", "batch", str(plan), "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        return {r["name"]: r["status"] for r in json.loads((out / "batch.json").read_text())["runs"]}

    assert batch() == {"a": "done", "b": "done"}
    made = (out / "b" / "run.json").stat().st_mtime_ns
    assert batch() == {"a": "unchanged", "b": "unchanged"}
    assert (out / "b" / "run.json").stat().st_mtime_ns == made  # not run again
    # a spec of b's study changes: b's output is no longer what its inputs give, a's still is
    note = study / "specs" / "define.yaml"
    note.write_text(note.read_text() + "\n# reviewed\n", encoding="utf-8")
    from cdiscgen._batch import _unchanged, compute_inputs_fingerprint

    runs = {r.name: r for r in read_plan(plan)}
    assert {n: _unchanged(r, out, compute_inputs_fingerprint(r)) for n, r in runs.items()} == {
        "a": True,
        "b": False,
    }
    # --force runs both again; afterwards both are up to date
    assert batch("--force") == {"a": "done", "b": "done"}
    assert batch() == {"a": "unchanged", "b": "unchanged"}


def _worker_settings() -> tuple[object, object]:
    import os

    import dask.config

    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), dask.config.get("distributed.worker.profile.enabled")


def test_the_embedded_workers_run_without_dask_memory_trimming_or_profiler(monkeypatch):
    # dask's default worker settings made each run ~30% slower (a 64 KiB trim threshold, a 10 ms
    # profiler); glibc's own threshold stays, unless the user's environment sets one
    from dask.distributed import Client

    from cdiscgen._tasks import start_local_cluster

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with start_local_cluster(1) as cluster, Client(cluster) as client:
        settings = list(client.run(_worker_settings).values())
    assert settings == [(None, False)]
