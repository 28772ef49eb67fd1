"""The whole `cdiscgen run` at scale: per-stage seconds, rows/s, peak RSS and disk use.

    python benchmarks/pipeline.py --subjects 10000 [--partition-subjects 2000 [--workers 2] [--check-whole]]
                                  [--out benchmarks/_out/pipeline]

Peak RSS per stage is the largest resident set sampled every 0.2 s while the stage ran (VmRSS of
/proc/self/status), so it shows which stage sets the run's peak; start RSS is the resident set when the
stage began (what earlier stages left: the stage's own memory is the difference). With `--workers`, the
partitions run on an embedded Dask cluster: the largest resident set of any one worker process and of
the main process and its workers together are printed too.

`--check-whole` then runs the same study unpartitioned and says whether every output file is the same,
byte for byte (run.json aside: its timings differ).

`--save-baseline FILE` stores this run's figures (seconds and peak RSS per stage, total, the 40-subject run)
and the SHA-256 of every output file; a later run prints its figures beside the stored ones and says
whether every output file is byte for byte the baseline's (`--baseline FILE`; by default
benchmarks/baselines/pipeline-<subjects>.json when it exists and the run is not partitioned). A baseline
states the commit and machine it was measured on.

Targets (issue 8, 2-core machine): 10,000 subjects in under 3 minutes, peak memory under 4 GB,
output under 3 GB; the default 40-subject run in under 15 seconds including start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

# benchmarks/sdtm.py would shadow the `sdtm` package: this folder must not be on the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from cdiscgen._pipeline import RunOptions, run_pipeline  # noqa: E402


def resident_bytes(pid: int | str = "self") -> int:
    """A process's resident set now (VmRSS), 0 where /proc is not available."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """The processes started by `pid` and by those (Dask's nannies and their workers), from /proc."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for children in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                kids = [int(k) for k in children.read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


class Recorder:
    """Seconds, rows and the peak resident set of each stage (sampled every 0.2 s by a thread)."""

    def __init__(self) -> None:
        self.rows: dict[str, int | None] = {}
        self.seconds: dict[str, float] = {}
        self.peak: dict[str, int] = {}
        self.start: dict[str, int] = {}
        self.worker_peak = 0  # the largest resident set of one process started by this one
        self.tree_peak = 0  # of this process and those it started, together
        self._current: str | None = None
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self._note()

    def _note(self) -> None:
        name = self._current
        if name is not None:
            mine = resident_bytes()
            self.peak[name] = max(self.peak.get(name, 0), mine)
            others = [resident_bytes(pid) for pid in descendants(os.getpid())]
            self.worker_peak = max([self.worker_peak, *others])
            self.tree_peak = max(self.tree_peak, mine + sum(others))

    def stop(self) -> None:
        self._stop.set()
        self._sampler.join()

    def stage_started(self, name: str) -> None:
        print(f"  {name} ...", flush=True)
        self.start.setdefault(name, resident_bytes())
        self._current = name
        self._note()

    def stage_finished(self, name: str, seconds: float, rows: int | None) -> None:
        self._note()
        self._current = None
        self.rows[name] = rows
        self.seconds[name] = seconds


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def compare_with_whole(args: argparse.Namespace, files: dict[str, str]) -> None:
    """The same study run unpartitioned: every output file's checksum compared (run.json aside)."""
    whole_out = args.out.parent / "pipeline-whole"
    if whole_out.exists():
        shutil.rmtree(whole_out)
    t0 = time.perf_counter()
    recorder = Recorder()
    whole = run_pipeline(
        RunOptions(out_dir=whole_out, subjects=args.subjects, seed=args.seed, sites=args.sites), recorder
    )
    recorder.stop()
    seconds = time.perf_counter() - t0
    mine = {k: v for k, v in files.items() if k != "run.json"}
    theirs = {k: v for k, v in whole.files.items() if k != "run.json"}
    differing = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
    verdict = "identical" if not differing else f"DIFFERENT: {', '.join(differing[:10])}"
    print(f"unpartitioned run ({seconds:.0f} s): {len(theirs)} files, partitioned run's files {verdict}")
    if not args.keep:
        shutil.rmtree(whole_out, ignore_errors=True)


def load_baseline(args: argparse.Namespace) -> dict | None:
    path = args.baseline
    if path is None and not args.partition_subjects:
        default = Path(__file__).resolve().parent / "baselines" / f"pipeline-{args.subjects}.json"
        path = default if default.is_file() else None
    if path is None:
        return None
    baseline = json.loads(path.read_text())
    if (baseline["subjects"], baseline["seed"], baseline["sites"]) != (args.subjects, args.seed, args.sites):
        sys.exit(f"{path}: a baseline of {baseline['subjects']} subjects, seed {baseline['seed']}, "
                 f"{baseline['sites']} sites; this run differs")  # fmt: skip
    return baseline


def compare_files(baseline: dict, files: dict[str, str]) -> None:
    """Every output file's SHA-256 against the baseline's (run.json aside: its timings differ)."""
    theirs = {k: v for k, v in baseline["files"].items() if k != "run.json"}
    mine = {k: v for k, v in files.items() if k != "run.json"}
    differing = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
    verdict = "byte for byte the baseline's" if not differing else f"DIFFERENT: {', '.join(differing[:10])}"
    print(f"output files: {len(mine)}, {verdict}")


def save_baseline(
    args: argparse.Namespace, recorder: Recorder, total: float, peak_gb: float, run40: float, files: dict
) -> None:
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout.strip()
    baseline = {
        "subjects": args.subjects,
        "seed": args.seed,
        "sites": args.sites,
        "commit": commit or "unknown",
        "measured": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "total_s": round(total, 2),
        "peak_rss_gb": round(peak_gb, 2),
        "run40_s": round(run40, 2),
        "stages": {
            name: {"seconds": round(seconds, 2), "peak_gb": round(recorder.peak.get(name, 0) / 1024**3, 2)}
            for name, seconds in recorder.seconds.items()
        },
        "files": dict(sorted(files.items())),
    }
    args.save_baseline.parent.mkdir(parents=True, exist_ok=True)
    args.save_baseline.write_text(json.dumps(baseline, indent=1) + "\n")
    print(f"baseline stored: {args.save_baseline}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subjects", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--partition-subjects", type=int, default=None, help="as `cdiscgen run`")
    parser.add_argument(
        "--workers", type=int, default=1, help="as `cdiscgen run` (with --partition-subjects)"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/_out/pipeline"))
    parser.add_argument("--keep", action="store_true", help="keep the output tree")
    parser.add_argument(
        "--check-whole", action="store_true", help="compare the files with those of an unpartitioned run"
    )
    parser.add_argument("--baseline", type=Path, default=None, help="figures to print beside this run's")
    parser.add_argument("--save-baseline", type=Path, default=None, help="store this run's figures here")
    args = parser.parse_args()
    baseline = load_baseline(args)

    if args.out.exists():
        shutil.rmtree(args.out)
    recorder = Recorder()
    start = time.perf_counter()
    result = run_pipeline(
        RunOptions(
            out_dir=args.out,
            subjects=args.subjects,
            seed=args.seed,
            sites=args.sites,
            partition_subjects=args.partition_subjects,
            workers=args.workers,
        ),
        recorder,
    )
    total = time.perf_counter() - start
    recorder.stop()
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # ru_maxrss is KiB on Linux
    disk_gb = tree_bytes(result.out_dir) / 1024**3

    partitions = f", partitions of {args.partition_subjects:,}" if args.partition_subjects else ""
    partitions += f" on {args.workers} worker processes" if args.workers > 1 else ""
    print(f"\ncdiscgen run, {args.subjects:,} subjects, {args.sites} sites{partitions}")
    before = baseline.get("stages", {}) if baseline else {}
    extra = f"{'baseline s':>12}{'baseline peak':>15}" if baseline else ""
    print(
        f"{'stage':<14}{'seconds':>10}{'rows':>14}{'rows/s':>14}{'start RSS GiB':>15}{'peak RSS GiB':>15}{extra}"
    )
    for name, seconds in recorder.seconds.items():
        rows = recorder.rows.get(name)
        rate = f"{rows / seconds:,.0f}" if rows and seconds > 0 else ""
        began = f"{recorder.start.get(name, 0) / 1024**3:.2f}"
        peak = f"{recorder.peak.get(name, 0) / 1024**3:.2f}"
        old = before.get(name)
        then = f"{old['seconds']:>12.2f}{old['peak_gb']:>15.2f}" if old else ""
        print(
            f"{name:<14}{seconds:>10.2f}{(f'{rows:,}' if rows is not None else ''):>14}{rate:>14}{began:>15}"
            f"{peak:>15}{then}"
        )
    print(f"{'total':<14}{total:>10.2f}" + (f"   baseline {baseline['total_s']:.2f} s" if baseline else ""))
    print(
        f"peak RSS {peak_gb:.2f} GiB (the kernel's high-water mark); output {disk_gb:.2f} GiB; "
        f"findings {result.findings.by_severity()}"
    )
    if args.workers > 1:
        print(
            f"peak RSS of one worker process {recorder.worker_peak / 1024**3:.2f} GiB; of the main process "
            f"and its workers together {recorder.tree_peak / 1024**3:.2f} GiB"
        )

    if args.check_whole and args.partition_subjects:
        compare_with_whole(args, result.files)

    # start-up included: the default 40-subject run as a user runs it
    small = args.out.parent / "pipeline-40"
    if small.exists():
        shutil.rmtree(small)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cdiscgen.cli", "-q", "run", "--out", str(small)], check=False)
    cli_seconds = time.perf_counter() - t0
    print(f"default 40-subject `cdiscgen run` incl. start-up: {cli_seconds:.2f} s")
    if baseline:
        print(
            f"baseline ({baseline['commit']}, {baseline['measured']}): total {baseline['total_s']:.1f} s, "
            f"peak RSS {baseline['peak_rss_gb']:.2f} GiB, 40-subject run {baseline['run40_s']:.2f} s; "
            f"this run {total / baseline['total_s']:.2f}x the time"
        )
        compare_files(baseline, result.files)
    if args.save_baseline:
        save_baseline(args, recorder, total, peak_gb, cli_seconds, result.files)
    print(
        f"pipeline subjects={args.subjects} total_s={total:.1f} peak_rss_gb={peak_gb:.2f} "
        f"disk_gb={disk_gb:.2f} run40_s={cli_seconds:.1f}"
    )
    if not args.keep:
        shutil.rmtree(args.out, ignore_errors=True)
        shutil.rmtree(small, ignore_errors=True)


if __name__ == "__main__":
    main()
