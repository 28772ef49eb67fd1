"""Benchmark of the raw -> SDTM mapping: rows/s per domain on a simulated study (default 10,000 subjects).

    .venv/bin/python benchmarks/sdtm.py [--subjects N] [--seed S] [--raw DIR]

Prints figures only (no asserts): simulation time, then per dataset the records written, the seconds
spent mapping it (sources, steps, rules, unit standardisation) and records/s, then the shared
derivation time (reference dates, visits, EPOCH, --DY, --SEQ, --LOBXFL, --NRIND, SUPP--, SE, SV) and the
total, with peak memory (RSS) of the process. Simulating in the same process raises that peak too, so the
figure for run_sdtm alone comes from `--raw` (e.g. a folder made by `cdiscgen simulate`).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

# This script is named like the `sdtm` package; keep its own folder off the import path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from cdiscgen._specs import load_study  # noqa: E402
from cdiscgen.simulate import simulate_study  # noqa: E402
from sdtm import run_sdtm  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument(
        "--raw", type=Path, default=None, help="use an existing raw folder instead of simulating"
    )
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    study = load_study(root)
    with tempfile.TemporaryDirectory() as tmp:
        raw = args.raw
        if raw is None:
            raw = Path(tmp) / "raw"
            t0 = time.perf_counter()
            simulate_study(raw, subjects=args.subjects, seed=args.seed)
            print(f"simulated {args.subjects} subjects in {time.perf_counter() - t0:.1f} s -> {raw}")
        raw_rows = sum(sum(1 for _ in p.open()) - 1 for p in raw.glob("*.csv"))
        before = _peak_rss_mib()
        t0 = time.perf_counter()
        result = run_sdtm(raw, study)
        total = time.perf_counter() - t0
    print(f"raw rows: {raw_rows:,}; read raw forms: {result.timings.get('read raw', 0):.2f} s")
    print(f"{'dataset':<8} {'records':>12} {'map s':>8} {'records/s':>14}")
    for name, df in result.datasets.items():
        secs = result.timings.get(f"map {name}")
        if secs is None:
            print(f"{name:<8} {len(df):>12,} {'(derived)':>8}")
        else:
            print(f"{name:<8} {len(df):>12,} {secs:>8.2f} {len(df) / secs:>14,.0f}")
    records = sum(len(df) for df in result.datasets.values())
    print(f"derivations (all domains): {result.timings.get('derive', 0):.2f} s")
    print(f"total run_sdtm: {total:.2f} s for {records:,} records = {records / total:,.0f} records/s")
    print(f"findings: {result.findings.by_code()}")
    size = sum(df.memory_usage(deep=True).sum() for df in result.datasets.values()) / 2**20
    print(f"datasets in memory: {size:,.0f} MiB")
    print(f"peak RSS: {_peak_rss_mib():,.0f} MiB (before run_sdtm: {before:,.0f} MiB)")


def _peak_rss_mib() -> float:
    """The process's high-water resident set size (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
