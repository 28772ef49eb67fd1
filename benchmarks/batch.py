"""A portfolio on 2 workers against the same runs one after the other (issue 16).

    python benchmarks/batch.py [--studies 20] [--subjects 1000] [--workers 2] [--out benchmarks/_out/batch]

Each study is the bundled one simulated with its own seed. The runs are made twice: one `cdiscgen run`
command after the other (what a portfolio costs without batch), then by `cdiscgen batch` on an embedded
Dask LocalCluster of --workers processes. Prints both wall times, the speed-up, the peak memory of each
worker, and whether every output of the batch is byte for byte the sequential one (run.json aside: it
records timings). Target: speed-up >= 1.7 on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

# benchmarks/sdtm.py would shadow the `sdtm` package: this folder must not be on the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from cdiscgen._batch import PlannedRun, run_batch  # noqa: E402


def files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "run.json"
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--studies", type=int, default=20)
    parser.add_argument("--subjects", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/_out/batch"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    runs = [
        PlannedRun(name=f"s{i:02d}", study_dir=None, raw_dir=None, subjects=args.subjects, seed=1000 + i)
        for i in range(args.studies)
    ]

    print(f"{args.studies} studies x {args.subjects} subjects, sequentially ...", flush=True)
    started = time.perf_counter()
    command = Path(sys.executable).with_name("cdiscgen")
    for run in runs:
        subprocess.run(
            [str(command), "-q", "run", "--subjects", str(run.subjects), "--seed", str(run.seed)]
            + ["--out", str(args.out / "sequential" / run.name)],
            check=True,
        )
    sequential = time.perf_counter() - started

    print(f"the same on {args.workers} Dask workers ...", flush=True)
    result = run_batch(runs, args.out / "batch", workers=args.workers, force=True)
    batch = result.seconds
    doc = json.loads((args.out / "batch" / "batch.json").read_text())
    same = all(files(args.out / "sequential" / r.name) == files(args.out / "batch" / r.name) for r in runs)

    print(f"sequential: {sequential:8.1f} s  ({args.studies} cdiscgen run commands)")
    print(f"batch:      {batch:8.1f} s  on {args.workers} workers ({len(result.failed)} failed)")
    print(f"speed-up:   {sequential / batch:8.2f} x  (target >= 1.7)")
    for worker, mb in doc["worker_peak_rss_mb"].items():
        print(f"peak RSS of worker {worker}: {mb:,.0f} MB")
    print(f"every output identical to the sequential run: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
