"""XPT v5 write speed: our writer vs pyreadstat.write_xport vs pyarrow parquet vs a plain write of the bytes
our writer produced (the disk's floor), on an LB-like frame; and our Dataset-JSON 1.1 / NDJSON writers on the
same frame.

Usage: python benchmarks/xpt_write.py [--rows N] [--runs 5]
Prints rows/s (median of the runs) and peak traced memory for each writer, the ratios, and as last line
`xpt_write rows=N ours_rows_s=A pyreadstat_rows_s=B parquet_rows_s=C plain_rows_s=P json_rows_s=D
ndjson_rows_s=E`.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import threading
import time
import tracemalloc
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyreadstat

from cdiscgen.export import FDA, JsonColumn, XptVariable, write_dataset_json, write_dataset_ndjson, write_xpt

CHAR_COLUMNS = {
    "STUDYID": 1,
    "DOMAIN": 1,
    "USUBJID": 500,
    "LBTESTCD": 14,
    "LBTEST": 14,
    "LBCAT": 3,
    "LBORRES": 2000,
    "LBORRESU": 8,
    "LBSTRESC": 2000,
    "LBSTRESU": 8,
    "LBNRIND": 3,
    "VISIT": 20,
    "LBDTC": 400,
}
NUM_COLUMNS = ["LBSEQ", "LBSTRESN", "LBSTNRLO", "LBSTNRHI", "VISITNUM", "LBDY", "LBDT"]


def make_frame(rows: int, seed: int = 20250328) -> tuple[pd.DataFrame, list[XptVariable]]:
    """A seeded LB-like frame: 13 character and 7 numeric columns, some missing values."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    variables: list[XptVariable] = []
    for name, distinct in CHAR_COLUMNS.items():
        pool = np.array([f"{name[:4]}-{k:05d}" for k in range(distinct)], dtype=object)
        values = pool[rng.integers(0, distinct, rows)]
        if name in ("LBORRES", "LBSTRESC", "LBNRIND"):
            values[rng.random(rows) < 0.05] = None
        data[name] = pd.Series(values, dtype="str")
        variables.append(XptVariable(name, f"{name} label", "char"))
    for name in NUM_COLUMNS:
        values = rng.normal(100, 30, rows).round(3)
        values[rng.random(rows) < 0.05] = np.nan
        data[name] = values
        variables.append(
            XptVariable(name, f"{name} label", "num", format="DATE9." if name == "LBDT" else None)
        )
    return pd.DataFrame(data), variables


def json_columns(variables: list[XptVariable]) -> list[JsonColumn]:
    """Dataset-JSON columns of the frame: text as string, numbers as double (the seeded values are not
    whole numbers, so not integer or date)."""
    return [
        JsonColumn(f"IT.LB.{v.name}", v.name, v.label, "string" if v.type == "char" else "double")
        for v in variables
    ]


def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(fn, runs: int) -> tuple[float, int, int]:
    """Median seconds of `runs` calls after one warm-up call; for one extra call, the peak growth of the
    resident set (sampled every 2 ms: it sees arrow's and C libraries' memory, which tracemalloc does not)
    and tracemalloc's peak."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    gc.collect()
    base = _rss()
    peak_rss = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak_rss[0] = max(peak_rss[0], _rss())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    fn()
    done.set()
    sampler.join()
    tracemalloc.start()
    fn()
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(times), max(peak_rss[0], _rss()) - base, traced


def interleaved(fns: dict[str, object], runs: int) -> dict[str, float]:
    """Median seconds of each function over `runs` rounds that call them in turn, so that every one meets
    the same state of the page cache and of the disk's write-back (which drifts between runs)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    frame, variables = make_frame(args.rows)
    frame_bytes = int(frame.memory_usage(deep=True).sum())
    print(
        f"frame: {args.rows} rows x {frame.shape[1]} columns, memory_usage(deep=True) {frame_bytes / 2**20:.1f} MiB"
    )
    created = datetime(2025, 3, 28)
    labels = [v.label for v in variables]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        json_args = dict(
            dataset="LB",
            label="Laboratory Test Results",
            columns=json_columns(variables),
            study_oid="BENCH",
            metadata_version_oid="MDV.BENCH",
            metadata_ref=None,
            created=created,
            originator="benchmarks/xpt_write.py",
            source_system=("cdiscgen", "bench"),
            item_group_oid="IG.LB",
        )

        def ours() -> None:
            write_xpt(
                frame,
                folder / "lb.xpt",
                dataset="LB",
                label="Laboratory Test Results",
                variables=variables,
                profile=FDA,
                created=created,
            )

        ours()
        xpt_bytes = (folder / "lb.xpt").read_bytes()
        writers = {
            "ours": ours,
            "pyreadstat": lambda: pyreadstat.write_xport(
                frame, str(folder / "lb_rs.xpt"), table_name="LB", column_labels=labels, file_format_version=5
            ),
            "parquet": lambda: pq.write_table(table, folder / "lb.parquet"),
            "plain": lambda: (folder / "lb_plain.xpt").write_bytes(xpt_bytes),
            "json": lambda: write_dataset_json(frame, folder / "lb.json", **json_args),
            "ndjson": lambda: write_dataset_ndjson(frame, folder / "lb.ndjson", **json_args),
        }
        results = {}
        for name, fn in writers.items():
            seconds, peak, traced = measure(fn, args.runs)
            results[name] = (args.rows / seconds, peak)
            print(
                f"{name:>10}: {seconds:8.3f} s  {args.rows / seconds:14,.0f} rows/s  "
                f"peak RSS growth {peak / 2**20:8.1f} MiB ({peak / frame_bytes:.2f}x frame)  "
                f"tracemalloc peak {traced / 2**20:.1f} MiB"
            )
        paired = interleaved({"ours": writers["ours"], "plain": writers["plain"]}, args.runs)
        print(
            f"ours and the plain write in turns: {paired['ours']:.3f} s and {paired['plain']:.3f} s "
            f"(ours takes {paired['ours'] / paired['plain']:.2f}x the plain write)"
        )
        sizes = {name: (folder / name).stat().st_size / 2**20 for name in ("lb.xpt", "lb.json", "lb.ndjson")}
        print("sizes: " + ", ".join(f"{name} {size:.1f} MiB" for name, size in sizes.items()))
    names = ("ours", "pyreadstat", "parquet", "plain", "json", "ndjson")
    ours, rs, parquet, plain, js, nd = (results[k][0] for k in names)
    print(
        f"ratios: ours/pyreadstat {ours / rs:.1f}x, ours/parquet {ours / parquet:.2f}x, "
        f"ours' time/plain write's {paired['ours'] / paired['plain']:.2f}x (in turns), json/xpt {js / ours:.2f}x"
    )
    print(
        f"xpt_write rows={args.rows} ours_rows_s={ours:.0f} pyreadstat_rows_s={rs:.0f} parquet_rows_s={parquet:.0f}"
        f" plain_rows_s={plain:.0f} json_rows_s={js:.0f} ndjson_rows_s={nd:.0f}"
    )


if __name__ == "__main__":
    main()
