"""XPT v5 read speed: our read_xpt vs pyreadstat.read_xport, on a seeded LB-like file.

Usage: python benchmarks/xpt_read.py [--rows N] [--runs 3]
Writes the seeded LB-like frame of benchmarks/xpt_write.py (13 character and 7 numeric columns) with our
writer, reads it with each reader and prints rows/s (median of the runs), the ratio, and as last line
`xpt_read rows=N ours_rows_s=A pyreadstat_rows_s=B`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pyreadstat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from xpt_write import make_frame  # noqa: E402  (the seeded generator of the write benchmark)

from cdiscgen.export import FDA, read_xpt, write_xpt  # noqa: E402


def median_seconds(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    frame, variables = make_frame(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lb.xpt"
        write_xpt(
            frame,
            path,
            dataset="LB",
            label="Laboratory Test Results",
            variables=variables,
            profile=FDA,
            created=datetime(2025, 3, 28),
        )
        del frame
        print(f"file: {args.rows} rows x {len(variables)} columns, {path.stat().st_size / 2**20:.1f} MiB")
        readers = {
            "ours": lambda: read_xpt(path),
            "pyreadstat": lambda: pyreadstat.read_xport(str(path)),
        }
        results = {}
        for name, fn in readers.items():
            seconds = median_seconds(fn, args.runs)
            results[name] = args.rows / seconds
            print(f"{name:>10}: {seconds:8.3f} s  {args.rows / seconds:14,.0f} rows/s")
    ours, rs = results["ours"], results["pyreadstat"]
    print(f"ratio: ours/pyreadstat {ours / rs:.1f}x")
    print(f"xpt_read rows={args.rows} ours_rows_s={ours:.0f} pyreadstat_rows_s={rs:.0f}")


if __name__ == "__main__":
    main()
