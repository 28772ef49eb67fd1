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
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from cdiscgen._findings import Finding, Findings
from cdiscgen._partitions import (
    SpilledDatasets,
    SpilledPartition,
    TraceFiles,
    spill_partition,
    write_trace_pieces,
)
from cdiscgen._specs import Study
from cdiscgen._tasks import run_in_order

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
    client: Any = None,
) -> list[dict[str, tuple[int, int]]]:
    """The stages sdtm, adam, export-sdtm, export-adam, define-sdtm, define-adam and summary of one run,
    in partitions; returns the records of each written file each partition holds (what validation reads partition by
    partition). The partitions are mapped and derived in this process one after the other, or as tasks
    of the Dask cluster of `client` (`cdiscgen._tasks.partition_client`)."""
    from adam import SUMMARY_COLUMNS, compute_endpoint_summary, summary_applies, write_summary
    from cdiscgen._publish import PublishResult, write_datasets
    from define import DefineResult, write_define

    with tempfile.TemporaryDirectory(prefix=".partitions-", dir=spill_root) as tmp:
        spill = Path(tmp)
        sdtm = stage(
            "sdtm",
            lambda: _map_partitions(raw_dir, study, partition_subjects, spill, findings, layout, client),
            lambda m: m.rows(),
        )
        adam: SpilledDatasets | None = None
        if with_adam:
            adam = stage(
                "adam",
                lambda: _derive_partitions(sdtm, study, cutoff, spill / "adam", findings, client),
                lambda a: sum(a.parts(n).rows for n in a.names()),
            )

        def export(datasets: dict[str, Any], folder: Path) -> PublishResult:
            return write_datasets(datasets, study, folder, created=created, json_dir=layout["json"])

        rows = lambda r: sum(r.rows.values())  # noqa: E731
        written = {"SDTM": stage("export-sdtm", lambda: export(sdtm.datasets(), layout["sdtm"]), rows)}
        if adam is not None:
            parts = {n: adam.parts(n) for n in adam.names()}
            written["ADaM"] = stage("export-adam", lambda: export(parts, layout["adam"]), rows)

        def write_described(standard: str) -> DefineResult:
            if standard == "SDTM":
                profiles = {**{n: sdtm.spilled.profile(n) for n in sdtm.spilled.names()}, **sdtm.study_level}
            else:
                profiles = {n: adam.profile(n) for n in adam.names()}
            return write_define(study, profiles, layout[standard.lower()], standard=standard, created=created,
                                lengths=written[standard].lengths)  # fmt: skip

        for standard in written:
            described = stage(
                f"define-{standard.lower()}", lambda standard=standard: write_described(standard)
            )
            findings.extend(described.findings)

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
    client: Any = None,
) -> _Mapped:
    from sdtm import list_subjects, split_raw_forms, subject_ranges, trial_design_datasets

    subjects = list_subjects(raw_dir, study)
    ranges = subject_ranges(subjects, max(1, math.ceil(len(subjects) / partition_subjects)))
    pieces = split_raw_forms(raw_dir, study, ranges, spill / "raw")
    findings.extend(pieces.findings)
    spilled = SpilledDatasets(spill / "sdtm", study)
    trace = TraceFiles(spill / "trace")
    task_pieces = replace(pieces, findings=[])  # the split's findings are the main process's
    calls = [
        (raw_dir, study, subject_range, task_pieces, spilled.partition_folder(number), spill / "trace-pieces" / str(number))
        for number, subject_range in enumerate(ranges, start=1)
    ]  # fmt: skip
    others: set[str] = set()
    for number, mapped in enumerate(run_in_order(map_partition, calls, client), start=1):
        findings.extend(mapped.findings)
        spilled.record(mapped.spilled)
        trace.append(mapped.trace)
        others.update(mapped.others)
        log.info("partition %d of %d mapped: %s", number, len(ranges), ranges[number - 1])
    pieces.remove()
    trace.move_into(layout["trace"])
    dm = spilled.whole("DM") if "DM" in spilled.names() else None
    design = trial_design_datasets(study, dm)
    unpartitioned = sorted(others - set(design))
    if unpartitioned:
        raise RuntimeError(
            f"dataset(s) {', '.join(unpartitioned)} have no USUBJID and are not trial design: they cannot be "
            "built in subject partitions; run without --partition-subjects"
        )
    return _Mapped(spilled, design, len(ranges))


@dataclass
class MappedPartition:
    """What mapping one partition leaves for the main process: its spilled datasets, its trace files, its
    findings and the names of the datasets it made without USUBJID (the trial design, built again from
    the whole DM)."""

    spilled: SpilledPartition
    trace: dict[str, Path]
    findings: list[Finding]
    others: tuple[str, ...]


def map_partition(
    raw_dir: Path, study: Study, subject_range: Any, pieces: Any, folder: Path, trace_folder: Path
) -> MappedPartition:
    """One partition's SDTM (in this process or a worker's): the subject-level datasets spilled to
    `folder`, the trace to `trace_folder`."""
    from sdtm import run_sdtm

    result = run_sdtm(raw_dir, study, partition=subject_range, pieces=pieces)
    by_subject = {n: f for n, f in result.datasets.items() if "USUBJID" in f.columns}
    return MappedPartition(
        spill_partition(by_subject, folder, study),
        write_trace_pieces(result.trace, trace_folder),
        list(result.findings),
        tuple(sorted(set(result.datasets) - set(by_subject))),
    )


def _derive_partitions(
    sdtm: _Mapped, study: Study, cutoff: date | None, folder: Path, findings: Findings, client: Any = None
) -> SpilledDatasets:
    from adam._codes import INPUT_EMPTY

    spilled = SpilledDatasets(folder, study)
    records = {
        **{name: sdtm.spilled.parts(name).rows for name in sdtm.spilled.names()},
        **{name: len(frame) for name, frame in sdtm.study_level.items()},
    }
    calls = [
        (sdtm.spilled.partition_files(number), sdtm.study_level, study, cutoff, spilled.partition_folder(number), records)
        for number in range(1, sdtm.partitions + 1)
    ]  # fmt: skip
    said: set[tuple] = set()
    for made, found in run_in_order(derive_partition, calls, client):
        for f in found:
            if f.code == INPUT_EMPTY:  # about the whole study's input: every partition says it alike
                if (f.dataset, f.severity) in said:
                    continue
                said.add((f.dataset, f.severity))
            findings.add(f)
        spilled.record(made)
    return spilled


def derive_partition(
    files: dict[str, Path],
    study_level: dict[str, pd.DataFrame],
    study: Study,
    cutoff: date | None,
    folder: Path,
    records: dict[str, int],
) -> tuple[SpilledPartition, list[Finding]]:
    """One partition's ADaM (in this process or a worker's) from its spilled SDTM and the trial design,
    spilled to `folder`; `records`: the whole study's records of each SDTM dataset."""
    from adam import derive_adam

    datasets = {**{name: pd.read_parquet(path) for name, path in files.items()}, **study_level}
    result = derive_adam(datasets, study.settings, cutoff=cutoff, study_dir=study.root, study_records=records)
    return spill_partition(result.datasets, folder, study), list(result.findings)
