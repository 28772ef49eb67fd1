"""Validation of a large study without holding its datasets of subjects whole together (issue 16).

The rules about one subject's records (`Partition.SUBJECT`) run on each subject partition's records, read
from the files, with the datasets without USUBJID (trial design) whole; the define.xml rules see each
folder with its own define.xml. The rules that compare subjects through summaries of the whole study
(`Partition.SUMMARISED`: distinct pairings, counts, longest values) run on each partition twice: first to
gather the partitions' summaries, then to judge each partition's records by the summaries combined. What
is left (`Partition.STUDY`: today only the runner's own rules, which read no records) runs in passes over
the datasets of subjects: a large one read whole alone, small ones together (`PASS_RECORDS`), the others
present without records, plus the datasets a rule reads besides (`RuleInfo.reads`); each pass keeps the
findings about its datasets, and a first pass with no dataset of subjects whole keeps those about the rest
(trial design, define.xml, the folders). Without such a rule only that first pass runs.

A partition is given as the records of each file it holds: `{dataset: (start, stop)}`, the rows of the
file from `start` to `stop` (the files hold the subjects in order, as a partitioned run writes them). Every
dataset with USUBJID is split, and every record of a file belongs to exactly one partition: ranges that
leave records out, or overlap, are refused. A finding of a partition other than the first is kept when it
is about one of its records (a dataset it holds for its subjects only); findings about a dataset as a
whole (its variables, its metadata) and about the datasets held whole are the same in every partition and
are kept from the first. The findings, the rule runs and the datasets are those of `validate_submission`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cdiscgen._findings import Finding, Findings
from cdiscgen._specs import Study
from cdiscgen._tasks import run_in_order
from cdiscgen.validate._context import DEFAULT_LIMIT, Across, ValidationContext, as_frames
from cdiscgen.validate._registry import Partition, Rule, Scope, get_rule, iter_rules
from cdiscgen.validate._runner import (
    FAILED,
    NOT_APPLICABLE,
    DatasetFolder,
    RuleOutcome,
    RuleRun,
    ValidationResult,
    _count_notes,
    _read_xpt,
    apply_rule,
    collect_outcomes,
    count_failures,
    explain,
    read_dataset_folder,
    rule_run,
    run_parts,
    validate_submission,
)

log = logging.getLogger(__name__)

#: The records of each file a partition holds: dataset -> (first row, row after the last).
RecordRanges = Mapping[str, tuple[int, int]]


def validate_in_partitions(
    folders: Iterable[Path | str],
    partitions: Sequence[RecordRanges],
    *,
    study: Study | None,
    limit: int = DEFAULT_LIMIT,
    client: Any = None,
) -> ValidationResult:
    """Validate dataset folders as one study without holding its datasets of subjects whole together: the
    subject-level rules one partition at a time (or, with a Dask `client`, as tasks of its cluster, side
    by side), the others on the folders' index; the result is `validate_submission`'s over the same
    folders."""
    index = [read_dataset_folder(f, variables_only=True) for f in folders]
    paths = {name: Path(part.name) / file for part in index for name, file in part.files.items()}
    records = {name: _records(paths[name], meta) for part in index for name, meta in part.meta.items()}
    of_subjects = {
        name for part in index for name, frame in part.frames.items() if "USUBJID" in frame.columns
    }
    ranged = _check_ranges(partitions, records, of_subjects if partitions else set())
    held = {name: _read_records(paths[name]) for name in sorted(set(records) - ranged)}
    prefixes = {name: _first_prefix(paths[name], records[name]) for name in sorted(ranged)}
    wanted = list(iter_rules())
    result = _study_rules([r for r in wanted if r.info.partition == Partition.STUDY], index, held, ranged,
                          paths, records, prefixes, study, limit)  # fmt: skip
    per_partition = [r for r in wanted if r.info.partition in (Partition.SUBJECT, Partition.SUMMARISED)]
    codes = tuple(r.code for r in per_partition)
    work = PartitionWork(
        index, held, frozenset(ranged), paths, codes, study, limit, prefixes, keep_last=client is None
    )
    numbered = list(enumerate(partitions or [{}]))
    across = Across()
    if any(r.info.partition == Partition.SUMMARISED for r in per_partition):
        gathered = run_in_order(gather_partition, [(work, ranges, n) for n, ranges in numbered], client)
        for number, summaries in enumerate(gathered):
            across.take(number, summaries)  # the summaries of the study, gathered from each partition
    across.gathering = False
    outcomes: dict[str, RuleOutcome] = {}
    # in this process the last partition gathered is judged first, from the records it still holds
    order = numbered[::-1] if work.keep_last else numbered
    calls = [(work, ranges, n, across) for n, ranges in order]
    judged: dict[int, list[RuleOutcome]] = {}
    for (number, _), found in zip(order, run_in_order(judge_partition, calls, client), strict=True):
        judged[number] = found
        log.info("partition %d of %d validated", number + 1, len(numbered))
    work.let_go()
    for number in sorted(judged):  # merged in partition order, whichever order they were judged in
        for outcome in judged.pop(number):
            code = outcome.rule.code
            outcomes[code] = outcomes[code].merged(outcome) if code in outcomes else outcome
    by_subject = collect_outcomes(outcomes.values(), result.datasets, study, limit)
    for r in per_partition:  # a define.xml rule with no define.xml beside any folder
        if r.code not in by_subject.runs:
            by_subject.runs[r.code] = RuleRun(r.code, NOT_APPLICABLE, 0, ())
    _combine(result, by_subject)
    explain(result, study)
    return result


@dataclass
class PartitionWork:
    """What validating any partition needs besides its own records: the folders' index (variables and
    metadata), the datasets held whole, which datasets are split, where the files are, the rules to run,
    and the datasets' prefixes."""

    index: list[DatasetFolder]
    held: dict[str, pd.DataFrame]
    ranged: frozenset[str]
    paths: dict[str, Path]
    codes: tuple[str, ...]
    study: Study | None
    limit: int
    prefixes: dict[str, str]
    token: str = field(default_factory=lambda: uuid.uuid4().hex)  # this validation, in any process
    keep_last: bool = False  # the last partition's records are kept for its next pass (in this process)
    _last: tuple[int, dict[str, pd.DataFrame], dict] | None = field(default=None, repr=False, compare=False)

    def contexts(
        self, ranges: RecordRanges, across: Across, number: int
    ) -> list[tuple[ValidationContext, list[Rule]]]:
        """What the rules see of partition `number` of `ranges` (its records read from the files, or kept
        from its previous pass: `keep_last`, with what the rules derived from them there)."""
        datasets, derived = self._records_of(ranges, number)
        rules = [get_rule(code) for code in self.codes]
        return _contexts(self.index, datasets, ranges, set(self.ranged), rules, self.study, self.limit,
                         self.prefixes, across, _file_cache(self.token), derived)  # fmt: skip

    def _records_of(self, ranges: RecordRanges, number: int) -> tuple[dict[str, pd.DataFrame], dict]:
        if self._last is not None and self._last[0] == number:
            return self._last[1], self._last[2]
        self._last = None  # the previous partition's records go before these are read
        datasets = dict(self.held)
        for name in sorted(self.ranged):
            datasets[name] = _read_records(self.paths[name], ranges[name])
        derived: dict = {}
        if self.keep_last:
            self._last = (number, datasets, derived)
        return datasets, derived

    def let_go(self) -> None:
        """Drop the records kept of the last partition."""
        self._last = None


#: What rules keep of the files alone (a parsed define.xml), shared by the partitions of one validation
#: that a process validates: [the validation's token, the cache]; another validation starts it afresh.
_FILE_CACHE: list = [None, {}]


def _file_cache(token: str) -> dict:
    if _FILE_CACHE[0] != token:
        _FILE_CACHE[:] = [token, {}]
    return _FILE_CACHE[1]


def gather_partition(work: PartitionWork, ranges: RecordRanges, number: int) -> dict[tuple, Any]:
    """The summaries of the study's records that partition `number` holds (its findings are dropped: it
    is judged once the summaries of every partition are combined)."""
    across = Across()
    across.partition = number
    for ctx, rules in work.contexts(ranges, across, number):
        for r in rules:
            if r.info.partition == Partition.SUMMARISED:
                apply_rule(ctx, r)
    return across.gathered(number)


def judge_partition(
    work: PartitionWork, ranges: RecordRanges, number: int, across: Across
) -> list[RuleOutcome]:
    """Every rule's outcome over partition `number`, the SUMMARISED ones judged by the summaries of the
    whole study; after the first partition, only what is about the partition's own records."""
    found = []
    for ctx, rules in work.contexts(ranges, across, number):
        for r in rules:
            outcome = apply_rule(ctx, r)
            found.append(_owned(outcome, ctx.ranged) if number else outcome)
    return found


def _contexts(
    index: list[DatasetFolder],
    datasets: Mapping[str, pd.DataFrame],
    ranges: RecordRanges,
    ranged: set[str],
    rules: list[Rule],
    study: Study,
    limit: int,
    prefixes: Mapping[str, str],
    across: Across,
    cache: dict,
    derived: dict,
) -> list[tuple[ValidationContext, list[Rule]]]:
    """What a partition's rules see, as `run_parts` gives it: every folder's datasets together for the
    rules of the data, and each folder with its define.xml for the rules of define.xml (the same frames:
    what the contexts derive from them, such as stripped text, is derived once, into `derived`)."""

    def context(names: list[str], meta: Mapping, files: Mapping, define: Path | None) -> ValidationContext:
        return ValidationContext(
            datasets=as_frames({name: datasets[name] for name in names}),
            study=study,
            meta=dict(meta),
            define_path=define,
            files=dict(files),
            limit=limit,
            cache=cache,
            first_rows={name: ranges[name][0] for name in names if name in ranged},
            ranged=frozenset(set(names) & ranged),
            prefixes=dict(prefixes),
            summaries=across,
            _derived=derived,
        )

    of_data = [r for r in rules if r.info.scope != Scope.DEFINE]
    of_define = [r for r in rules if r.info.scope == Scope.DEFINE]
    metas = {k: v for part in index for k, v in part.meta.items()}
    files = {k: v for part in index for k, v in part.files.items()}
    out = [(context(sorted(datasets), metas, files, None), of_data)]
    for part in index:
        if part.define_path is not None and of_define:
            out.append((context(sorted(part.frames), part.meta, part.files, part.define_path), of_define))
    return out


#: What the runner finds itself (a rule that crashed, files it cannot read, explanations matching nothing):
#: rules that read no records.
RUNNER_RULES = frozenset({"CDG0001", "CDG0002", "CDG0003", "CDG0004", "CDG0005"})


def _study_rules(
    rules: list[Rule],
    index: list[DatasetFolder],
    held: Mapping[str, pd.DataFrame],
    ranged: set[str],
    paths: Mapping[str, Path],
    records: Mapping[str, int],
    prefixes: Mapping[str, str],
    study: Study,
    limit: int,
) -> ValidationResult:
    """The rules that compare subjects, run in passes that each hold some datasets of subjects whole
    (`_groups`), with the datasets the rules read besides; the other datasets of subjects are there
    without records. A pass keeps the findings about its datasets; a first pass, with no dataset of
    subjects whole, those about the others (the datasets held whole, define.xml, the folders)."""
    codes = [r.code for r in rules]
    extra = sorted({name for r in rules for name in r.info.reads if name in ranged})
    also = {name: _read_records(paths[name]) for name in extra}
    cache: dict = {}
    passes: list[tuple[ValidationResult, frozenset[str]]] = []
    reading = [
        r for r in rules if r.code not in RUNNER_RULES
    ]  # a pass per group only for rules reading records
    for focus in [frozenset(), *(_groups(sorted(ranged), records) if reading else [])]:
        whole = also | {name: _read_records(paths[name]) for name in sorted(focus)}
        parts = [
            replace(part, frames={n: whole.get(n, held.get(n, frame)) for n, frame in part.frames.items()},
                    notes=[])
            for part in index
        ]  # fmt: skip
        passes.append(
            (run_parts(parts, study=study, limit=limit, codes=codes, cache=cache, prefixes=prefixes), focus)
        )
        del whole, parts
    findings = Findings()
    for found, focus in passes:
        for f in found.findings:
            if f.code == "CDG0001":  # a rule crashed in this pass: said once, whichever pass it was
                if f not in findings.items:
                    findings.add(f)
            elif (f.dataset in focus) if focus else (f.dataset not in ranged):
                findings.add(f)
    result = ValidationResult(
        findings=findings,
        timings={code: sum(found.timings.get(code, 0.0) for found, _ in passes) for code in codes},
        datasets=sorted(name for part in index for name in part.frames),
        runs=_runs_of(codes, findings, [found for found, _ in passes]),
        standards=passes[0][0].standards,
    )
    notes = [note for part in index for note in part.notes]
    result.findings.extend(notes)
    _count_notes(result, notes)
    return result


#: Datasets of subjects smaller than this many records share a pass of the rules that compare subjects.
PASS_RECORDS = 200_000


def _groups(names: list[str], records: Mapping[str, int]) -> list[frozenset[str]]:
    """The datasets of subjects in passes: a large one alone, small ones together up to PASS_RECORDS."""
    groups: list[frozenset[str]] = []
    current: list[str] = []
    held = 0
    for name in names:
        if current and held + records[name] > PASS_RECORDS:
            groups.append(frozenset(current))
            current, held = [], 0
        current.append(name)
        held += records[name]
    if current:
        groups.append(frozenset(current))
    return groups


def _runs_of(codes: list[str], kept: Findings, passes: list[ValidationResult]) -> dict[str, RuleRun]:
    """Each rule's run over the passes, from the findings kept: failed in any pass, else what it kept
    and examined."""
    counts = kept.by_code()
    runs: dict[str, RuleRun] = {}
    for code in codes:
        seen = [found.runs[code] for found in passes if code in found.runs]
        examined = tuple(sorted({name for run in seen for name in run.examined}))
        failed = any(run.status == FAILED for run in seen)
        runs[code] = rule_run(code, failed, counts.get(code, 0), examined)
    count_failures(runs)
    return runs


def _records(path: Path, meta: object) -> int:
    """The records of a file, as its reader counted them."""
    count = getattr(meta, "records", None)
    if count is None:
        raise ValueError(f"{path}: the reader did not count the records")
    return count


def _first_prefix(path: Path, records: int, chunk: int = 1000) -> str:
    """The prefix the whole dataset gives (its first DOMAIN value, else its name), reading its first
    records only."""
    for start in range(0, max(records, 1), chunk):
        frame = _read_records(path, (start, min(start + chunk, records)))
        if "DOMAIN" not in frame.columns:
            break
        ctx = ValidationContext(datasets=as_frames({"X": frame}))
        if ctx.text("X", "DOMAIN").notna().any():
            return ctx.prefix("X")
    return ValidationContext(datasets=as_frames({path.stem.upper(): frame})).prefix(path.stem.upper())


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
    left_out = sorted(of_subjects - ranged)
    if left_out:
        raise ValueError(f"{', '.join(left_out)} hold(s) USUBJID but no partition gives its records")
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


def _read_records(path: Path, rows: tuple[int, int] | None = None) -> pd.DataFrame:
    """A file's records (`rows`, else all); what reading it finds was noted when the files were indexed."""
    frame, _, _ = _read_xpt(path, rows)
    return frame


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
    count_failures(result.runs)
    result.runs = dict(sorted(result.runs.items()))


def subject_record_ranges(
    folders: Iterable[Path | str], partition_subjects: int
) -> list[dict[str, tuple[int, int]]]:
    """The records of each file of subjects that partitions of about `partition_subjects` subjects hold,
    found in the files themselves (a package written by any tool): DM's subjects (ADSL's without DM) in
    text order, cut every `partition_subjects`; each file's rows found by reading it a block of records at
    a time. A file whose records are not in USUBJID order cannot be cut so: ValueError naming it and the
    row."""
    if partition_subjects < 1:
        raise ValueError(f"a partition holds at least 1 subject, not {partition_subjects}")
    paths = _transport_files(folders)
    return _ranges_at(paths, _study_subjects(paths)[partition_subjects::partition_subjects])


def _transport_files(folders: Iterable[Path | str]) -> dict[str, Path]:
    """The *.xpt files of the folders by upper-case file stem."""
    return {
        path.stem.upper(): path
        for folder in folders
        for path in sorted(Path(folder).iterdir())
        if path.suffix.lower() == ".xpt" and path.is_file()
    }


def _study_subjects(paths: Mapping[str, Path]) -> list[str]:
    """DM's subjects (ADSL's without DM) in text order."""
    source = next((name for name in ("DM", "ADSL") if name in paths), None)
    if source is None:
        raise ValueError("partitions are cut from the subjects of DM (or ADSL): neither file is there")
    found = _subjects_of(paths[source])
    return sorted(found[1].tolist()) if found is not None else []


def _ranges_at(paths: Mapping[str, Path], cuts: list[str]) -> list[dict[str, tuple[int, int]]]:
    """The records of each file of subjects in the partitions that start at each subject of `cuts`."""
    partitions: list[dict[str, tuple[int, int]]] = [{} for _ in range(len(cuts) + 1)]
    for name, path in sorted(paths.items()):
        rows = _cut_rows(path, cuts)
        if rows is None:
            continue  # no USUBJID: held whole by every partition
        for number, (start, stop) in enumerate(zip(rows, rows[1:], strict=False)):
            partitions[number][name] = (start, stop)
    return partitions


def _subjects_of(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """Each record's USUBJID in a file as a number, and the subject each number stands for (in order of
    first record): not a text per record (its other variables are not read); None for a file without it."""
    _, meta, _ = _read_xpt(path, (0, 0))
    if "USUBJID" not in {v.name for v in meta.variables}:
        return None
    frame, _, _ = _read_xpt(path, columns=["USUBJID"])
    codes, subjects = pd.factorize(frame["USUBJID"].astype("str"), use_na_sentinel=False)
    return codes, subjects.to_numpy(dtype=object)


def _cut_rows(path: Path, cuts: list[str]) -> list[int] | None:
    """The first row of each cut's subjects in a file sorted by USUBJID, framed by 0 and its record count;
    None for a file without USUBJID."""
    found = _subjects_of(path)
    if found is None:
        return None
    codes, subjects = found
    in_order = np.argsort(subjects, kind="stable")
    place = np.empty(len(subjects), dtype=np.int64)
    place[in_order] = np.arange(len(subjects))
    places = place[codes]  # each record's subject's place in text order
    later = np.flatnonzero(places[1:] < places[:-1])
    if later.size:
        back = int(later[0]) + 1
        raise ValueError(
            f"{path.name}: record {back + 1:,} ({subjects[codes[back]]}) comes after {subjects[codes[back - 1]]}: "
            "the records are not in USUBJID order, so subject partitions cannot be cut from it; validate "
            "without --partition-subjects"
        )
    ordered = subjects[in_order]
    return [0, *(int(np.searchsorted(places, np.searchsorted(ordered, cut))) for cut in cuts), codes.size]


#: Bytes of transport files validated whole: a larger package is validated in subject partitions of
#: about this size (what reading a file back holds is ~1.5 times its bytes, besides what the rules keep).
WHOLE_BYTES = 1 << 30


def validate_within(
    folders: Iterable[Path | str],
    *,
    study: Study | None,
    whole_bytes: int = WHOLE_BYTES,
    limit: int = DEFAULT_LIMIT,
) -> ValidationResult:
    """`validate_submission`'s result, holding about `whole_bytes` of the transport files at a time: a
    larger package is validated in partitions of consecutive subjects (`validate_in_partitions`, in this
    process), as many as its files are times `whole_bytes`. A package whose files are not in USUBJID
    order cannot be cut so and is validated whole."""
    folders = [Path(f) for f in folders]
    partitions = _partitions_within(folders, whole_bytes)
    if partitions is None:
        return validate_submission(folders, study=study, limit=limit)
    log.info("validating %d subject partitions of the package", len(partitions))
    return validate_in_partitions(folders, partitions, study=study, limit=limit)


def _partitions_within(folders: list[Path], whole_bytes: int) -> list[dict[str, tuple[int, int]]] | None:
    """The subject partitions of about `whole_bytes` of the folders' files; None for one partition or for
    files that cannot be cut by subject (out of USUBJID order, or unreadable: validating them whole
    reports that as a finding)."""
    paths = _transport_files(folders)
    size = sum(path.stat().st_size for path in paths.values())
    count = -(-size // max(whole_bytes, 1))
    if count < 2 or not ({"DM", "ADSL"} & set(paths)):
        return None
    try:
        subjects = _study_subjects(paths)
        per = -(-len(subjects) // count)
        if per < 1 or per >= len(subjects):
            return None
        return _ranges_at(paths, subjects[per::per])
    except Exception as exc:  # noqa: BLE001 - out of USUBJID order, or unreadable: a finding when whole
        log.info("the package is validated whole: %s", exc)
        return None
