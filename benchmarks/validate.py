"""Validation speed on a synthetic LB of ~3 million rows (seeded): seconds per rule and in total.
With `--sdtm DIR` (a folder of XPT files, e.g. the SDTM of a 10,000-subject simulated study), also the
time to validate that study's LB (with its DM, which the cross-dataset rules need).

    .venv/bin/python benchmarks/validate.py [--rows 3000000] [--seed 20260115] [--top 25] [--sdtm DIR]
    .venv/bin/python benchmarks/validate.py --rows 0 --sdtm out10k/m5/datasets/darpal/tabulations/sdtm
    .venv/bin/python benchmarks/validate.py --rows 0 --package out10k    # a whole `cdiscgen run` output

`--package DIR` validates what `cdiscgen run` validates: every SDTM and ADaM folder under DIR/m5 with its
define.xml, every rule, as one study (the figure the 60 s target of issue 15 is about); reading the
transport files is timed apart.

Prints figures only; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cdiscgen._specs import Study, load_study
from cdiscgen.validate import ValidationResult, validate_datasets

log = logging.getLogger("benchmarks.validate")

TESTS = [
    ("KLCFR", "Kappa Light Chain, Free", "mg/L", "SERUM"),
    ("LLCFR", "Lambda Light Chain, Free", "mg/L", "SERUM"),
    ("KLCLLCFR", "Kappa Lt Chain,Free/Lambda Lt Chain,Free", "RATIO", "SERUM"),
    ("BNPPRONT", "N-Terminal ProB-type Natriuretic Peptide", "ng/L", "SERUM"),
    ("TROPONT", "Troponin T", "ng/L", "SERUM"),
    ("CREAT", "Creatinine", "umol/L", "SERUM"),
    ("PROTEXR", "Protein Excretion Rate", "g/day", "URINE"),
    ("MPROTEXR", "Monoclonal Protein Excretion Rate", "mg/day", "URINE"),
]


def build(rows: int, seed: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    per_subject = 1000
    n_subj = max(rows // per_subject, 1)
    subjects = np.array([f"DARPAL-01-{i:04d}" for i in range(1, n_subj + 1)])
    first = np.datetime64("2024-01-08") + rng.integers(0, 365, n_subj).astype("timedelta64[D]")
    dm = pd.DataFrame(
        {
            "STUDYID": "DARPAL",
            "DOMAIN": "DM",
            "USUBJID": subjects,
            "RFSTDTC": np.datetime_as_string(first, unit="D"),
            "RFXSTDTC": np.datetime_as_string(first, unit="D"),
        }
    ).astype({"STUDYID": "str", "DOMAIN": "str", "USUBJID": "str", "RFSTDTC": "str", "RFXSTDTC": "str"})

    n = n_subj * per_subject
    subj = np.repeat(np.arange(n_subj), per_subject)
    test = rng.integers(0, len(TESTS), n)
    offset = rng.integers(-20, 700, n)
    dates = first[subj] + offset.astype("timedelta64[D]")
    day = np.where(offset >= 0, offset + 1, offset).astype("float64")
    value = np.round(rng.lognormal(3, 1, n), 2)
    text = pd.Series(value).astype("str").to_numpy()
    codes = np.array([t[0] for t in TESTS])[test]
    lb = pd.DataFrame(
        {
            "STUDYID": "DARPAL",
            "DOMAIN": "LB",
            "USUBJID": subjects[subj],
            "LBSEQ": (np.arange(n) % per_subject + 1).astype("float64"),
            "LBTESTCD": codes,
            "LBTEST": np.array([t[1] for t in TESTS])[test],
            "LBORRES": text,
            "LBORRESU": np.array([t[2] for t in TESTS])[test],
            "LBSTRESC": text,
            "LBSTRESN": value,
            "LBSTRESU": np.array([t[2] for t in TESTS])[test],
            "LBNRIND": np.where(value > 50, "HIGH", "NORMAL"),
            "LBSPEC": np.array([t[3] for t in TESTS])[test],
            "LBLOBXFL": "",
            "VISITNUM": (np.arange(n) % per_subject + 1).astype("float64"),
            "EPOCH": np.where(offset < 0, "SCREENING", "TREATMENT"),
            "LBDTC": np.datetime_as_string(dates, unit="D"),
            "LBDY": day,
        }
    )
    for col in lb.columns:
        if lb[col].dtype == object or str(lb[col].dtype).startswith("<U"):
            lb[col] = lb[col].astype("str")
    # a sprinkle of defects so that finding construction is part of the measure
    bad = rng.choice(n, 200, replace=False)
    lb.loc[bad[:100], "LBDTC"] = "2024-02-30"
    lb.loc[bad[100:], "LBDY"] = 0.0
    return {"DM": dm, "LB": lb}


def _print_timings(result: ValidationResult, top: int) -> None:
    print(f"{'rule':<9} {'seconds':>8}")
    for code, seconds in sorted(result.timings.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{code:<9} {seconds:8.3f}")


def bench_folder_lb(folder: Path, study: Study, top: int) -> None:
    """Read DM and LB of an SDTM folder, validate them (every rule) and print the figures."""
    from cdiscgen.export import read_xpt

    started = time.perf_counter()
    frames, metas = {}, {}
    for name in ("DM", "LB"):
        path = folder / f"{name.lower()}.xpt"
        if not path.is_file():
            raise SystemExit(f"{path} not found: --sdtm needs a folder holding dm.xpt and lb.xpt")
        frames[name], metas[name] = read_xpt(path)
    read = time.perf_counter() - started
    started = time.perf_counter()
    result = validate_datasets(frames, study=study, meta=metas)
    total = time.perf_counter() - started
    lb = frames["LB"]
    print()
    print(
        f"study LB from {folder}: {len(lb):,} rows x {lb.shape[1]} columns, "
        f"{lb['USUBJID'].nunique():,} subjects (read in {read:.1f} s)"
    )
    _print_timings(result, top)
    print(f"{'total':<9} {total:8.3f}  ({len(lb) / total:,.0f} rows/s)")
    print(f"findings: {len(result.findings):,} {result.findings.by_code()}")


def bench_package(out: Path, study: Study, top: int) -> None:
    """Read every dataset folder of a run output and validate them together (what `cdiscgen run` does)."""
    from cdiscgen.validate import read_dataset_folder, validate_parts

    folders = sorted(out.glob("m5/datasets/*/tabulations/sdtm")) + sorted(
        out.glob("m5/datasets/*/analysis/adam/datasets")
    )
    if not folders:
        raise SystemExit(
            f"{out} holds no m5/datasets/*/tabulations/sdtm: --package needs a `cdiscgen run` output"
        )
    started = time.perf_counter()
    parts = [read_dataset_folder(f) for f in folders]
    read = time.perf_counter() - started
    rows = sum(len(frame) for part in parts for frame in part.frames.values())
    datasets = sum(len(part.frames) for part in parts)
    started = time.perf_counter()
    result = validate_parts(parts, study=study)
    total = time.perf_counter() - started
    print()
    print(
        f"package {out}: {datasets} datasets, {rows:,} rows in {len(folders)} folder(s) (read in {read:.1f} s)"
    )
    _print_timings(result, top)
    print(f"{'total':<9} {total:8.3f}  ({rows / total:,.0f} rows/s, {len(result.runs)} rules)")
    print(
        f"findings: {len(result.findings):,} {result.findings.by_severity()}, explained {len(result.findings.explained())}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--seed", type=int, default=20260115)
    parser.add_argument("--top", type=int, default=25, help="rules listed, slowest first")
    parser.add_argument(
        "--sdtm", type=Path, default=None, help="folder of XPT files (dm.xpt, lb.xpt): also time its LB"
    )
    parser.add_argument(
        "--package", type=Path, default=None, help="a `cdiscgen run` output: validate all of it"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    study = load_study()
    if args.rows > 0:
        bench_synthetic(args.rows, args.seed, study, args.top)
    if args.sdtm is not None:
        bench_folder_lb(args.sdtm, study, args.top)
    if args.package is not None:
        bench_package(args.package, study, args.top)


def bench_synthetic(rows: int, seed: int, study: Study, top: int) -> None:
    """Validate a seeded synthetic DM + LB of `rows` LB rows and print the figures."""
    started = time.perf_counter()
    frames = build(rows, seed)
    built = time.perf_counter() - started
    started = time.perf_counter()
    result = validate_datasets(frames, study=study)
    total = time.perf_counter() - started

    print(
        f"synthetic LB: {len(frames['LB']):,} rows x {frames['LB'].shape[1]} columns, "
        f"{len(frames['DM']):,} subjects (built in {built:.1f} s)"
    )
    _print_timings(result, top)
    print(f"{'total':<9} {total:8.3f}  ({len(frames['LB']) / total:,.0f} rows/s)")
    print(f"findings: {len(result.findings):,} {result.findings.by_code()}")


if __name__ == "__main__":
    main()
