"""`cdiscgen run --partition-subjects N`: the SDTM and ADaM of a study built in subject partitions of about
N subjects (docs/partitioned-runs.md), spilled to Parquet as each is made, then written, described in
define.xml and summarised from the partitions; the files are those of the unpartitioned run.

Study-level steps see the whole study: the partitions are ranges of DM's USUBJIDs, the trial design comes
from the whole DM, each finding is kept once (by the partition that owns it)."""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from cdiscgen._findings import Findings
from cdiscgen._partitions import SpilledDatasets, TraceFiles
from cdiscgen._specs import Study

log = logging.getLogger(__name__)

Stage = Callable[..., Any]


@dataclass
class _Mapped:
    """The SDTM of the partitions: subject-level datasets spilled, study-level ones whole."""

    spilled: SpilledDatasets
    study_level: dict[str, pd.DataFrame]
    partitions: int

    def datasets(self) -> dict[str, Any]:
        return {**{n: self.spilled.parts(n) for n in self.spilled.names()}, **self.study_level}

    def rows(self) -> int:
        return sum(self.spilled.parts(n).rows for n in self.spilled.names()) + sum(
            len(f) for f in self.study_level.values()
        )


def run_partitioned(
    raw_dir: Path,
    study: Study,
    *,
    partition_subjects: int,
    layout: dict[str, Path],
    spill_root: Path,
    created: datetime,
    cutoff: date | None,
    with_adam: bool,
    stage: Stage,
    findings: Findings,
) -> list[dict[str, tuple[int, int]]]:
    """The stages sdtm, adam, export-sdtm, export-adam, define and summary of one run, in partitions;
    returns the records of each written file each partition holds (what validation reads partition by
    partition)."""
    from adam import SUMMARY_COLUMNS, compute_endpoint_summary, summary_applies, write_summary
    from cdiscgen._publish import PublishResult, write_datasets
    from define import write_define

    with tempfile.TemporaryDirectory(prefix=".partitions-", dir=spill_root) as tmp:
        spill = Path(tmp)
        sdtm = stage(
            "sdtm",
            lambda: _map_partitions(raw_dir, study, partition_subjects, spill, findings, layout),
            lambda m: m.rows(),
        )
        adam: SpilledDatasets | None = None
        if with_adam:
            adam = stage(
                "adam",
                lambda: _derive_partitions(sdtm, study, cutoff, spill / "adam", findings),
                lambda a: sum(a.parts(n).rows for n in a.names()),
            )

        def export(datasets: dict[str, Any], folder: Path) -> PublishResult:
            return write_datasets(datasets, study, folder, created=created, json_dir=layout["json"])

        rows = lambda r: sum(r.rows.values())  # noqa: E731
        written = {"SDTM": stage("export-sdtm", lambda: export(sdtm.datasets(), layout["sdtm"]), rows)}
        if adam is not None:
            parts = {n: adam.parts(n) for n in adam.names()}
            written["ADaM"] = stage("export-adam", lambda: export(parts, layout["adam"]), rows)

        def write_defines() -> list:
            described = {
                "SDTM": {**{n: sdtm.spilled.profile(n) for n in sdtm.spilled.names()}, **sdtm.study_level}
            }
            if adam is not None:
                described["ADaM"] = {n: adam.profile(n) for n in adam.names()}
            return [
                write_define(study, datasets, layout["sdtm" if standard == "SDTM" else "adam"],
                             standard=standard, created=created, lengths=written[standard].lengths)
                for standard, datasets in described.items()
            ]  # fmt: skip

        for define in stage("define", write_defines):
            findings.extend(define.findings)

        def summarise() -> None:
            # the variables the summary reads, of every record
            small = {n: adam.whole(n, columns) for n, columns in SUMMARY_COLUMNS.items() if n in adam.names()}
            summary = compute_endpoint_summary(
                small["ADSL"],
                small["ADRS"],
                small["ADTTE"],
                study.settings,
                small.get("ADAE"),
                small.get("ADQS"),
            )
            write_summary(summary, layout["analysis"])

        if adam is not None and summary_applies({n: adam.parts(n) for n in adam.names()}, study.settings):
            stage("summary", summarise)
        ranges = sdtm.spilled.record_ranges()
        for number, adam_ranges in enumerate(adam.record_ranges() if adam is not None else ()):
            ranges[number].update(adam_ranges)
        return ranges


def _map_partitions(
    raw_dir: Path,
    study: Study,
    partition_subjects: int,
    spill: Path,
    findings: Findings,
    layout: dict[str, Path],
) -> _Mapped:
    from sdtm import list_subjects, run_sdtm, split_raw_forms, subject_ranges, trial_design_datasets

    subjects = list_subjects(raw_dir, study)
    ranges = subject_ranges(subjects, max(1, math.ceil(len(subjects) / partition_subjects)))
    pieces = split_raw_forms(raw_dir, study, ranges, spill / "raw")
    findings.extend(pieces.findings)
    spilled = SpilledDatasets(spill / "sdtm", study)
    trace = TraceFiles(spill / "trace")
    others: dict[str, pd.DataFrame] = {}
    for number, subject_range in enumerate(ranges, start=1):
        result = run_sdtm(raw_dir, study, partition=subject_range, pieces=pieces)
        findings.extend(result.findings)
        by_subject = {n: f for n, f in result.datasets.items() if "USUBJID" in f.columns}
        spilled.add(by_subject)
        trace.add(result.trace)
        for name, frame in result.datasets.items():
            if name not in by_subject:
                others.setdefault(name, frame)
        log.info("partition %d of %d mapped: %s", number, len(ranges), subject_range)
        del result, by_subject
    pieces.remove()
    trace.move_into(layout["trace"])
    dm = spilled.whole("DM") if "DM" in spilled.names() else None
    design = trial_design_datasets(study, dm)
    unpartitioned = sorted(set(others) - set(design))
    if unpartitioned:
        raise RuntimeError(
            f"dataset(s) {', '.join(unpartitioned)} have no USUBJID and are not trial design: they cannot be "
            "built in subject partitions; run without --partition-subjects"
        )
    return _Mapped(spilled, design, len(ranges))


def _derive_partitions(
    sdtm: _Mapped, study: Study, cutoff: date | None, folder: Path, findings: Findings
) -> SpilledDatasets:
    from adam import derive_adam

    spilled = SpilledDatasets(folder, study)
    for number in range(1, sdtm.partitions + 1):
        datasets = {**sdtm.spilled.partition(number), **sdtm.study_level}
        result = derive_adam(datasets, study.settings, cutoff=cutoff, study_dir=study.root)
        findings.extend(result.findings)
        spilled.add(result.datasets)
        del result, datasets
    return spilled
