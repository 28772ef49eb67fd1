"""Validation of a large study one subject partition at a time (issue 16): the rules that need the whole
study (`Partition.STUDY`) see it whole; every other rule runs on each partition's records read from the
files, with the trial design and the other datasets without USUBJID whole, and the partitions' findings
together are those of the whole run.

A partition is given as the records of each file it holds: `{dataset: (start, stop)}`, the rows of the
file from `start` to `stop` (the files hold the subjects in order, as a partitioned run writes them). Every
record of a file belongs to exactly one partition: ranges that leave records out, or overlap, are refused.
A finding of a partition other than the first is kept when it is about one of its records (a dataset it
holds for its subjects only); findings about a dataset as a whole (its variables, its metadata) and about
the datasets held whole are the same in every partition and are kept from the first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd

from cdiscgen._findings import Finding
from cdiscgen._specs import Study
from cdiscgen.validate._context import DEFAULT_LIMIT, ValidationContext, as_frames
from cdiscgen.validate._registry import Partition, iter_rules
from cdiscgen.validate._runner import (
    CLEAN,
    FAILED,
    ISSUES,
    RuleOutcome,
    RuleRun,
    ValidationResult,
    _read_xpt,
    apply_rule,
    collect_outcomes,
    explain,
    read_dataset_folder,
    run_parts,
)

log = logging.getLogger(__name__)

#: The records of each file a partition holds: dataset -> (first row, row after the last).
RecordRanges = Mapping[str, tuple[int, int]]


def validate_in_partitions(
    folders: Iterable[Path | str],
    partitions: Sequence[RecordRanges],
    *,
    study: Study,
    limit: int = DEFAULT_LIMIT,
) -> ValidationResult:
    """Validate dataset folders as one study, the subject-level rules one partition at a time; the result
    is `validate_submission`'s over the same folders."""
    parts = [read_dataset_folder(f) for f in folders]
    wanted = list(iter_rules())
    whole_codes = [r.code for r in wanted if r.info.partition == Partition.STUDY]
    result = run_parts(parts, study=study, limit=limit, codes=whole_codes)
    paths = {name: Path(part.name) / file for part in parts for name, file in part.files.items()}
    rows = {name: len(frame) for part in parts for name, frame in part.frames.items()}
    of_subjects = {
        name for part in parts for name, frame in part.frames.items() if "USUBJID" in frame.columns
    }
    ranged = _check_ranges(partitions, rows, of_subjects if partitions else set())
    metas = {k: v for part in parts for k, v in part.meta.items()}
    files = {k: v for part in parts for k, v in part.files.items()}
    frames = {name: frame for part in parts for name, frame in part.frames.items()}
    prefixes = _prefixes(frames)
    # the whole datasets of subjects are read again partition by partition: let them go
    held = {name: frame for name, frame in frames.items() if name not in ranged}
    del parts, frames
    subject_rules = [r for r in wanted if r.info.partition == Partition.SUBJECT]
    outcomes: dict[str, RuleOutcome] = {}
    for number, ranges in enumerate(partitions):
        datasets = dict(held)
        for name in sorted(ranged):
            datasets[name] = _read_records(paths[name], ranges[name])
        ctx = ValidationContext(
            datasets=as_frames(datasets),
            study=study,
            meta=dict(metas),
            files=dict(files),
            limit=limit,
            first_rows={name: ranges[name][0] for name in ranged},
            ranged=frozenset(ranged),
            prefixes=prefixes,
        )
        for r in subject_rules:
            outcome = apply_rule(ctx, r)
            if number:
                outcome = _owned(outcome, ctx.ranged)
            outcomes[r.code] = outcomes[r.code].merged(outcome) if r.code in outcomes else outcome
        log.info("partition %d of %d validated", number + 1, len(partitions))
        del ctx, datasets
    if not partitions:  # no subjects: the subject-level rules see the datasets as they are
        ctx = ValidationContext(
            datasets=as_frames(held), study=study, meta=metas, files=files, limit=limit, prefixes=prefixes
        )
        outcomes = {r.code: apply_rule(ctx, r) for r in subject_rules}
    by_subject = collect_outcomes(outcomes.values(), result.datasets, study, limit)
    _combine(result, by_subject)
    explain(result, study)
    return result


def _check_ranges(
    partitions: Sequence[RecordRanges], rows: Mapping[str, int], of_subjects: set[str]
) -> set[str]:
    """The datasets the partitions split: every dataset of subjects (a rule about one subject's records
    must see all of them), each in every partition, its ranges following one another from the first
    record to the last (nothing validated twice, nothing left out)."""
    ranged = {name for ranges in partitions for name in ranges}
    unknown = sorted(ranged - set(rows))
    if unknown:
        raise ValueError(f"partition ranges name dataset(s) not read from the folders: {', '.join(unknown)}")
    for name in sorted(of_subjects - ranged):
        raise ValueError(f"{name} holds USUBJID but no partition gives its records")
    for name in sorted(ranged):
        expected = 0
        for number, ranges in enumerate(partitions, start=1):
            if name not in ranges:
                raise ValueError(f"partition {number} gives no records of {name} (give an empty range)")
            start, stop = ranges[name]
            if start != expected or stop < start:
                raise ValueError(
                    f"partition {number} gives records {start}-{stop} of {name}; the next record is {expected}"
                )
            expected = stop
        if expected != rows[name]:
            raise ValueError(
                f"the partitions give {expected:,} records of {name}; its file holds {rows[name]:,}"
            )
    return ranged


def _read_records(path: Path, rows: tuple[int, int]) -> pd.DataFrame:
    frame, _, _ = _read_xpt(path, rows)
    return frame


def _prefixes(frames: Mapping[str, pd.DataFrame]) -> dict[str, str]:
    """Each dataset's prefix from its whole records (the first DOMAIN value), once."""
    ctx = ValidationContext(datasets=as_frames(frames))
    return {name: ctx.prefix(name) for name in ctx.names()}


def _owned(outcome: RuleOutcome, ranged: frozenset[str]) -> RuleOutcome:
    """What a partition after the first adds: its records' findings (a finding without a subject, or on
    a dataset held whole, is the first partition's), and a crash."""
    listed = [e for e in outcome.listed if e.key[0] in ranged]
    hits = {key: count for key, count in outcome.hits.items() if key[0] in ranged}
    others = [f for f in outcome.others if _about_own_record(f, ranged) or f.code == "CDG0001"]
    return replace(outcome, listed=listed, hits=hits, others=others)


def _about_own_record(f: Finding, ranged: frozenset[str]) -> bool:
    return bool(f.usubjid) and f.dataset in ranged


def _combine(result: ValidationResult, other: ValidationResult) -> None:
    """The runs of two disjoint sets of rules as one result (CDG0001 counts the failures of both)."""
    result.findings.extend(other.findings)
    result.timings.update(other.timings)
    result.runs.update(other.runs)
    if "CDG0001" in result.runs:
        failures = sum(run.status == FAILED for code, run in result.runs.items() if code != "CDG0001")
        result.runs["CDG0001"] = RuleRun("CDG0001", ISSUES if failures else CLEAN, failures, ())
    result.runs = dict(sorted(result.runs.items()))
