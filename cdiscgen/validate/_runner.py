"""Run the catalog over a study: every rule sees every dataset; a crashing rule becomes a finding."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from cdiscgen._findings import Finding, Findings, Severity
from cdiscgen._specs import Study
from cdiscgen.validate._context import (
    DEFAULT_LIMIT,
    DatasetMetaLike,
    Listed,
    ListingKey,
    ValidationContext,
    as_frames,
)
from cdiscgen.validate._registry import Rule, Scope, get_rule, iter_rules, list_rules, rule

log = logging.getLogger(__name__)

#: Tried in order when a transport file is not ASCII (the FDA profile's encoding).
FALLBACK_ENCODINGS = ("cp1252",)


#: What became of a rule in a run, worst first: it crashed (CDG0001 says why), it found something, it
#: examined data and found nothing, or the data it checks is absent (no TS, no ADaM, no define.xml...).
FAILED, ISSUES, CLEAN, NOT_APPLICABLE = "failed", "issues", "clean", "not applicable"
STATUSES = (FAILED, ISSUES, CLEAN, NOT_APPLICABLE)

#: The standards a report names, from study.yaml's `standards` (key -> shown as).
_STANDARD_NAMES = (
    ("sdtmig", "SDTMIG"),
    ("sdtm", "SDTM"),
    ("adamig", "ADaMIG"),
    ("define_xml", "Define-XML"),
    ("sdtm_ct", "SDTM CT"),
    ("adam_ct", "ADaM CT"),
)


@dataclass(frozen=True)
class RuleRun:
    """One rule in one run: its status, how many findings it gave and what it examined."""

    code: str
    status: str
    findings: int
    examined: tuple[str, ...]

    def merged(self, other: RuleRun) -> RuleRun:
        """The same rule run on another part of the study (define.xml rules run per folder)."""
        status = min(self.status, other.status, key=STATUSES.index)
        examined = tuple(sorted(set(self.examined) | set(other.examined)))
        return RuleRun(self.code, status, self.findings + other.findings, examined)


@dataclass
class ValidationResult:
    """Findings of one run, seconds spent per rule code, the datasets looked at, each rule's run and the
    standards (with CT versions) the rules checked against."""

    findings: Findings
    timings: dict[str, float] = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)
    runs: dict[str, RuleRun] = field(default_factory=dict)
    standards: dict[str, str] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(self.timings.values())


def compute_standards(study: Study | None) -> dict[str, str]:
    """The standards and CT versions of study.yaml, by the name a reviewer knows; empty without a study."""
    declared = ((study.settings.get("study") or {}).get("standards") or {}) if study is not None else {}
    return {shown: str(declared[key]) for key, shown in _STANDARD_NAMES if declared.get(key)}


@rule(
    "CDG0001", "Rule failed", severity=Severity.ERROR, scope=Scope.ANY, reference="cdiscgen validation runner"
)
def check_rule_failed(ctx: ValidationContext, rule: Rule) -> Iterable[Finding]:
    """A rule raised an exception instead of returning findings; its checks are incomplete for this run.
    The exception text is the message; the other rules still run.

    Bad: a rule that divides by a column of zeros and raises.
    Good: a rule that returns a finding about the zeros.
    """
    return ()


#: Where a study's explanations of findings live (relative to the study folder).
EXPLANATIONS_FILE = "specs/explanations.yaml"


@rule(
    "CDG0005",
    "Explanation matches no finding",
    severity=Severity.NOTICE,
    scope=Scope.ANY,
    reference="the study's specs/explanations.yaml; FDA Study Data Technical Conformance Guide section 2.2 "
    "(the reviewer's guide explains the conformance findings left in the data)",
)
def check_explanation_unused(ctx: ValidationContext, rule: Rule) -> Iterable[Finding]:
    """Every explanation in specs/explanations.yaml matches a finding of the run (the runner checks it
    after the rules): one that matches nothing explains a finding the data no longer has, or names the
    wrong dataset, variable or subject.

    Bad: an explanation of CDG2701 on AE after the AE data were corrected.
    Good: the explanation removed with the finding.
    """
    return ()


@rule(
    "CDG0002",
    "Dataset file cannot be read",
    severity=Severity.ERROR,
    scope=Scope.ANY,
    reference="SAS TS-140 (transport v5 layout); FDA Technical Conformance Guide section 3.3.1",
)
def check_file_unreadable(ctx: ValidationContext, rule: Rule) -> Iterable[Finding]:
    """Every *.xpt file in the folder is a readable SAS transport v5 file.

    Bad: a truncated lb.xpt, or a SAS7BDAT file renamed to .xpt.
    Good: an XPT v5 file written by a conformant writer.
    """
    return ctx.note_files()


@rule(
    "CDG0004",
    "Transport file is not version 5",
    severity=Severity.ERROR,
    scope=Scope.ANY,
    reference="FDA Study Data Technical Conformance Guide section 3.3.1 (SAS transport version 5); SAS TS-140",
)
def check_file_version(ctx: ValidationContext, rule: Rule) -> Iterable[Finding]:
    """A transport file is version 5. A version 8 file is read (so that the other rules run) and named.

    Bad: lb.xpt written as version 8 (LIBV8 header; 32-character names allowed).
    Good: lb.xpt written as version 5 (LIBRARY header).
    """
    return ctx.note_files()


@rule(
    "CDG0003",
    "Transport file is not ASCII",
    severity=Severity.ERROR,
    scope=Scope.ANY,
    reference="FDA Study Data Technical Conformance Guide section 3.3.2 (ASCII); SAS TS-140",
)
def check_file_encoding(ctx: ValidationContext, rule: Rule) -> Iterable[Finding]:
    """A transport file's text decodes as ASCII. A file that only decodes as Windows-1252 is read that
    way so that the other rules can run, and CDG0204 names each value with a non-ASCII character.

    Bad: ts.xpt holding byte 0x92 (a cp1252 curly apostrophe).
    Good: ts.xpt holding "'" (0x27).
    """
    return ctx.note_files()


def _read_xpt(
    path: Path, rows: tuple[int, int] | None = None, columns: list[str] | None = None
) -> tuple[pd.DataFrame, DatasetMetaLike, list[Finding]]:
    """One transport file, or its records `rows` = (start, stop), or its variables `columns` only; the
    single place that knows the reader (swap it here)."""
    from cdiscgen.export import XptError, read_xpt
    from cdiscgen.export._xpt_read import require_regular_file

    require_regular_file(path)  # before any open: a FIFO would block the fallbacks below
    try:
        frame, meta = read_xpt(path, rows=rows, columns=columns)
        return frame, meta, []
    except XptError as first:
        if _is_transport_v8(path):
            frame, meta = _read_xpt_v8(path, rows)
            frame = frame if columns is None else frame[[c for c in frame.columns if c in columns]]
            note = get_rule("CDG0004").finding(
                f"{path.name} is a SAS transport version 8 file; submissions need version 5",
                dataset=meta.dataset.upper(),
                file=path.name,
                value="8",
                expected="5",
            )
            return frame, meta, [note]
        for encoding in FALLBACK_ENCODINGS:
            try:
                frame, meta = read_xpt(path, encoding=encoding, rows=rows, columns=columns)
            except XptError:
                continue
            note = get_rule("CDG0003").finding(
                f"{path.name} is not ASCII; read as {encoding} ({first})",
                dataset=meta.dataset.upper(),
                file=path.name,
                value=encoding,
                expected="ascii",
            )
            return frame, meta, [note]
        raise


_V8_LIBRARY = b"HEADER RECORD*******LIBV8   HEADER RECORD!!!!!!!"


def _is_transport_v8(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(_V8_LIBRARY)) == _V8_LIBRARY


def _read_xpt_v8(path: Path, rows: tuple[int, int] | None = None) -> tuple[pd.DataFrame, DatasetMetaLike]:
    """A version 8 transport file (long names and labels), read with pyreadstat so that the rules can
    still run on it; text as str with "" for missing, numbers as float."""
    from datetime import datetime

    import pyreadstat

    from cdiscgen.export import XptMeta, XptVariable

    start, stop = rows if rows is not None else (0, 0)
    limit = max(stop - start, 1) if rows is not None else 0  # pyreadstat reads every row for 0
    frame, m = pyreadstat.read_xport(
        str(path), disable_datetime_conversion=True, row_offset=start, row_limit=limit
    )
    if rows is not None:
        frame = frame.iloc[: stop - start]
    variables = []
    for name, label in zip(frame.columns, m.column_labels, strict=True):
        numeric = frame[name].dtype.kind in "fiu"
        if not numeric:
            frame[name] = frame[name].astype("string").fillna("").astype("str")
        else:
            frame[name] = frame[name].astype("float64")
        width = (m.variable_storage_width or {}).get(name)
        variables.append(XptVariable(name, label or "", "num" if numeric else "char", width or None))
    stamp = m.creation_time or datetime(1960, 1, 1)
    name = (m.table_name or path.stem).upper()
    records = len(frame) if rows is None else None
    meta = XptMeta(name, m.file_label or "", tuple(variables), stamp, stamp, records)
    return frame, meta


def read_folder(
    folder: Path, *, variables_only: bool = False
) -> tuple[dict[str, pd.DataFrame], dict[str, DatasetMetaLike], dict[str, str], list[Finding]]:
    """Every *.xpt of a folder (not its sub-folders): frames and metadata by upper-case file stem.
    `variables_only`: each file is read through, a block of records at a time, as its findings require (an
    undecodable value anywhere), and its frame kept without records."""
    frames: dict[str, pd.DataFrame] = {}
    metas: dict[str, DatasetMetaLike] = {}
    files: dict[str, str] = {}
    notes: list[Finding] = []
    # every entry named *.xpt, not only regular files: a FIFO, a device or a dangling link is reported
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() == ".xpt" and not p.is_dir())
    for path in paths:
        name = path.stem.upper()
        try:
            frame, meta, found = _read_variables(path) if variables_only else _read_xpt(path)
        except Exception as exc:  # noqa: BLE001 - any unreadable file becomes a finding
            log.warning("cannot read %s: %s", path, exc)
            notes.append(
                get_rule("CDG0002").finding(
                    f"{path.name} cannot be read: {exc}", dataset=name, file=path.name
                )
            )
            continue
        frames[name], metas[name], files[name] = frame, meta, path.name
        notes.extend(found)
    return frames, metas, files, notes


#: Records read at a time when a file is read through for its variables only.
INDEX_RECORDS = 100_000


def read_blocks(path: Path) -> Iterator[tuple[pd.DataFrame, DatasetMetaLike, list[Finding]]]:
    """A file a block of INDEX_RECORDS records at a time, each with its metadata and what reading it
    finds (one empty block for a file without records); whole where the reader cannot count the records
    without reading them (version 8)."""
    frame, meta, notes = _read_xpt(path, (0, 0))
    records = getattr(meta, "records", None)
    if records is None:
        yield _read_xpt(path)
        return
    if not records:
        yield frame, meta, notes
        return
    for start in range(0, records, INDEX_RECORDS):
        yield _read_xpt(path, (start, min(start + INDEX_RECORDS, records)))


def _read_variables(path: Path) -> tuple[pd.DataFrame, DatasetMetaLike, list[Finding]]:
    """A file's variables (a frame without records), metadata and what reading it finds: a file whose
    text is ASCII throughout (looked through without decoding) finds nothing beyond its header; another
    one is read through a block at a time (`read_blocks`) for what reading it whole finds (the first
    undecodable value), never the whole file in memory."""
    from cdiscgen.export._xpt_read import text_is_ascii

    if text_is_ascii(path):
        return _read_xpt(path, (0, 0))
    blocks = read_blocks(path)
    block, meta, notes = next(blocks)
    variables = _without_records(block)
    for _, _, found in blocks:
        notes = notes or found  # the first block that needs a fallback says so (as the whole read would)
    return variables, meta, notes


def _without_records(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame's variables and types, no records, sharing no memory with it (a slice would keep the
    whole columns alive)."""
    return pd.DataFrame({column: pd.Series([], dtype=frame[column].dtype) for column in frame.columns})


def validate_datasets(
    datasets: Mapping[str, pd.DataFrame],
    *,
    study: Study | None = None,
    meta: Mapping[str, DatasetMetaLike] | None = None,
    define_path: Path | None = None,
    codes: Iterable[str] | None = None,
    limit: int = DEFAULT_LIMIT,
    files: Mapping[str, str] | None = None,
) -> ValidationResult:
    """Run every rule (or only `codes`) over all datasets at once and collect their findings.

    `meta` (by dataset name) carries what the transport files say: labels, types, lengths
    (`cdiscgen.export.XptMeta` or anything shaped like it); without it the label/length rules that need
    it are skipped. `define_path` enables the define.xml rules. The study's explanations
    (specs/explanations.yaml) are given to the findings they match.
    """
    result = _run_rules(datasets, study, meta, define_path, codes, limit, files)
    explain(result, study)
    return result


def _run_rules(
    datasets: Mapping[str, pd.DataFrame],
    study: Study | None,
    meta: Mapping[str, DatasetMetaLike] | None,
    define_path: Path | None,
    codes: Iterable[str] | None,
    limit: int,
    files: Mapping[str, str] | None,
    cache: dict[Any, Any] | None = None,
    prefixes: Mapping[str, str] | None = None,
) -> ValidationResult:
    ctx = ValidationContext(
        datasets=as_frames(datasets),
        study=study,
        meta={str(k).upper(): v for k, v in (meta or {}).items()},
        define_path=Path(define_path) if define_path is not None else None,
        files={str(k).upper(): v for k, v in (files or {}).items()},
        limit=limit,
        cache={} if cache is None else cache,
        prefixes=dict(prefixes or {}),
    )
    wanted = set(codes) if codes is not None else None
    outcomes = [apply_rule(ctx, r) for r in iter_rules() if wanted is None or r.code in wanted]
    return collect_outcomes(outcomes, ctx.names(), study, limit)


@dataclass
class RuleOutcome:
    """What one rule gave over one context (the whole study or a subject partition), before the limit:
    the records it listed with their places, its other findings and the records it found per dataset and
    variable."""

    rule: Rule
    failed: bool
    listed: list[Listed]
    others: list[Finding]
    hits: dict[ListingKey, int]
    examined: tuple[str, ...]
    seconds: float

    def merged(self, other: RuleOutcome) -> RuleOutcome:
        """The outcome over two parts of the study (each finding already kept by one of them)."""
        hits = dict(self.hits)
        for key, count in other.hits.items():
            hits[key] = hits.get(key, 0) + count
        # a crash is said once
        others = self.others + [f for f in other.others if f.code != "CDG0001" or f not in self.others]
        return RuleOutcome(
            self.rule,
            self.failed or other.failed,
            self.listed + other.listed,
            others,
            hits,
            tuple(sorted(set(self.examined) | set(other.examined))),
            self.seconds + other.seconds,
        )


def apply_rule(ctx: ValidationContext, r: Rule) -> RuleOutcome:
    """Run one rule over a context; a crash becomes its CDG0001 finding."""
    started = time.perf_counter()
    ctx.start_reading()
    failed = False
    try:
        found = list(r.check(ctx, r))
    except Exception as exc:  # noqa: BLE001 - a crashing rule must not stop the run
        log.exception("rule %s failed", r.code)
        failed = True
        found = [
            get_rule("CDG0001").finding(
                f"rule {r.code} ({r.info.name}) failed: {type(exc).__name__}: {exc}", value=r.code
            )
        ]
    listed, others, hits = ctx.take_listed(found)
    files = ctx.files
    listed = [replace(entry, finding=_with_file(entry.finding, files)) for entry in listed]
    others = [_with_file(f, files) for f in others]
    examined = tuple(ctx.examined())
    return RuleOutcome(r, failed, listed, others, hits, examined, time.perf_counter() - started)


def collect_outcomes(
    outcomes: Iterable[RuleOutcome], datasets: list[str], study: Study | None, limit: int
) -> ValidationResult:
    """The findings, timings and rule runs of the rules' outcomes: per rule, dataset and variable the
    records of the first `limit` rows are listed and the rest summarised in one finding."""
    findings = Findings()
    timings: dict[str, float] = {}
    runs: dict[str, RuleRun] = {}
    for outcome in outcomes:
        code = outcome.rule.code
        found = (
            [f for f in outcome.others if f.code == "CDG0001"] if outcome.failed else _limited(outcome, limit)
        )
        timings[code] = outcome.seconds
        runs[code] = rule_run(code, outcome.failed, len(found), outcome.examined)
        findings.extend(found)
        log.debug("%s: %d finding(s) in %.3fs", code, len(found), outcome.seconds)
    count_failures(runs)
    return ValidationResult(
        findings=findings, timings=timings, datasets=datasets, runs=runs, standards=compute_standards(study)
    )


def rule_run(code: str, failed: bool, findings: int, examined: tuple[str, ...]) -> RuleRun:
    """A rule's run from what it did: it crashed, found something, examined data, or had none to see."""
    if failed:
        return RuleRun(code, FAILED, 0, examined)
    return RuleRun(code, ISSUES if findings else CLEAN if examined else NOT_APPLICABLE, findings, examined)


def count_failures(runs: dict[str, RuleRun]) -> None:
    """The runner's own rule (CDG0001), when it ran: did every other rule run to its end?"""
    if "CDG0001" in runs:
        failures = sum(run.status == FAILED for code, run in runs.items() if code != "CDG0001")
        runs["CDG0001"] = RuleRun("CDG0001", ISSUES if failures else CLEAN, failures, ())


def _limited(outcome: RuleOutcome, limit: int) -> list[Finding]:
    """The rule's findings with, per dataset and variable, the records of the first `limit` rows listed
    (in the order the rule gave them) and one finding saying how many more there are."""
    shown: set[int] = set()
    by_key: dict[ListingKey, list[Listed]] = {}
    for entry in outcome.listed:
        by_key.setdefault(entry.key, []).append(entry)
    for entries in by_key.values():
        shown.update(id(e) for e in sorted(entries, key=lambda e: e.place)[:limit])
    found = [e.finding for e in outcome.listed if id(e) in shown] + outcome.others
    for key, count in outcome.hits.items():
        if count > limit:
            entries = by_key.get(key, [])
            found.append(
                outcome.rule.finding(
                    f"{count - limit} more record(s) with the same problem are not listed",
                    dataset=key[0],
                    variable=key[1],
                    value=str(count),
                    file=entries[0].finding.file if entries else None,
                )
            )
    return found


def _folders_without_define(parts: list[DatasetFolder], wanted: set[str]) -> list[Finding]:
    """FDA Technical Rejection Criterion 1736 asks a define.xml beside each folder of data (CDG0011)."""
    if "CDG0011" not in wanted:
        return []
    return [
        get_rule("CDG0011").finding(
            f"{part.name} holds {len(part.frames)} dataset(s) and no define.xml",
            value=part.name,
            expected="define.xml",
        )
        for part in parts
        if part.frames and part.define_path is None
    ]


def _count_notes(result: ValidationResult, notes: Iterable[Finding]) -> None:
    """The findings made while reading the files (CDG0002-0004) are their rules' issues."""
    counts: dict[str, int] = {}
    for note in notes:
        counts[note.code] = counts.get(note.code, 0) + 1
    for code, count in counts.items():
        before = result.runs.get(code)
        examined = before.examined if before is not None else ()
        result.runs[code] = RuleRun(code, ISSUES, count + (before.findings if before else 0), examined)


def _with_file(f: Finding, files: Mapping[str, str]) -> Finding:
    if f.file is None and f.dataset in files:
        return replace(f, file=files[f.dataset])
    return f


def validate_folder(
    folder: Path | str,
    *,
    study: Study | None = None,
    define_path: Path | str | None = None,
    codes: Iterable[str] | None = None,
    limit: int = DEFAULT_LIMIT,
) -> ValidationResult:
    """Read every *.xpt of `folder` (SDTM, ADaM or both) and validate them together.

    When `define_path` is None and the folder holds a define.xml, that one is checked.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    frames, metas, files, notes = read_folder(folder)
    if define_path is None and (folder / "define.xml").is_file():
        define_path = folder / "define.xml"
    result = validate_datasets(
        frames,
        study=study,
        meta=metas,
        define_path=Path(define_path) if define_path else None,
        codes=codes,
        limit=limit,
        files=files,
    )
    wanted = set(codes) if codes is not None else {r.code for r in list_rules()}
    if define_path is None:
        part = DatasetFolder(
            frames=frames, meta=metas, files=files, define_path=None, notes=[], name=str(folder)
        )
        notes = notes + _folders_without_define([part], wanted)
    result.findings.extend(notes)
    _count_notes(result, notes)
    return result


def find_dataset_folders(root: Path | str) -> list[Path]:
    """Folders under `root` (itself included) holding *.xpt, except agency `split/` parts."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder")
    folders = {p.parent for p in root.rglob("*.xpt") if p.parent.name != "split"}
    return sorted(folders)


@dataclass
class DatasetFolder:
    """The datasets of one folder (read from disk or built in memory) and that folder's define.xml.

    `notes` holds what reading the files found (CDG0002, CDG0003); they join the findings as they are.
    """

    frames: dict[str, pd.DataFrame]
    meta: dict[str, DatasetMetaLike] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    define_path: Path | None = None
    notes: list[Finding] = field(default_factory=list)
    name: str = ""


def read_dataset_folder(folder: Path | str, *, variables_only: bool = False) -> DatasetFolder:
    """Every *.xpt of `folder` and its define.xml (when there is one) as a `DatasetFolder`
    (`variables_only` as `read_folder`)."""
    folder = Path(folder)
    frames, metas, files, notes = read_folder(folder, variables_only=variables_only)
    define = folder / "define.xml"
    return DatasetFolder(
        frames=frames,
        meta=metas,
        files=files,
        define_path=define if define.is_file() else None,
        notes=notes,
        name=str(folder),
    )


def validate_parts(
    parts: Iterable[DatasetFolder],
    *,
    study: Study | None = None,
    limit: int = DEFAULT_LIMIT,
    codes: Iterable[str] | None = None,
) -> ValidationResult:
    """Validate several dataset folders as one study (what `validate_submission` does after reading).

    Every rule except the define.xml rules sees all datasets together, so cross-dataset rules work across
    folders; the define.xml rules run per folder, against that folder's own define.xml and datasets.
    `codes` limits the run to those rules.
    """
    result = run_parts(parts, study=study, limit=limit, codes=codes)
    explain(result, study)
    return result


def run_parts(
    parts: Iterable[DatasetFolder],
    *,
    study: Study | None = None,
    limit: int = DEFAULT_LIMIT,
    codes: Iterable[str] | None = None,
    cache: dict[Any, Any] | None = None,
    prefixes: Mapping[str, str] | None = None,
) -> ValidationResult:
    """`validate_parts` before the study's explanations are given to the findings; `cache` is shared by
    the contexts (what rules keep of the files alone, such as a parsed define.xml, for several runs),
    `prefixes` gives the datasets' prefixes where the records at hand cannot (a dataset read in part)."""
    parts = list(parts)
    frames: dict[str, pd.DataFrame] = {}
    metas: dict[str, DatasetMetaLike] = {}
    files: dict[str, str] = {}
    notes: list[Finding] = []
    for part in parts:
        clash = sorted(set(part.frames) & set(frames))
        if clash:
            raise ValueError(f"dataset(s) {', '.join(clash)} appear in more than one folder ({part.name})")
        frames.update(part.frames)
        metas.update(part.meta)
        files.update(part.files)
        notes.extend(part.notes)
    wanted = set(codes) if codes is not None else {r.code for r in list_rules()}
    define_codes = {r.code for r in list_rules() if r.scope == Scope.DEFINE} & wanted
    other_codes = wanted - define_codes
    result = _run_rules(frames, study, metas, None, other_codes, limit, files, cache, prefixes)
    notes = notes + _folders_without_define(parts, wanted)
    result.findings.extend(notes)
    _count_notes(result, notes)
    for part in parts:
        if part.define_path is None or not define_codes:
            continue
        found = _run_rules(
            part.frames, study, part.meta, part.define_path, define_codes, limit, part.files, cache, prefixes
        )
        result.findings.extend(found.findings)
        for code, seconds in found.timings.items():
            result.timings[code] = result.timings.get(code, 0.0) + seconds
        for code, run in found.runs.items():
            result.runs[code] = result.runs[code].merged(run) if code in result.runs else run
    for code in sorted(define_codes - set(result.runs)):  # no folder has a define.xml
        result.runs[code] = RuleRun(code, NOT_APPLICABLE, 0, ())
    result.runs = dict(sorted(result.runs.items()))
    return result


def explain(result: ValidationResult, study: Study | None) -> None:
    """Give each finding the reason of the first explanation of the study that matches it (it then counts
    apart from its severity); an explanation of a rule that ran and matched nothing is a CDG0005 notice,
    so an explanation outliving its finding does not linger in the reviewer's guide."""
    explanations = study.explanations if study is not None else ()
    if not explanations:
        return
    by_code: dict[str, list[int]] = {}
    for i, e in enumerate(explanations):
        by_code.setdefault(e.code, []).append(i)
    used: set[int] = set()
    items = []
    for f in result.findings:
        hit = next((i for i in by_code.get(f.code, ()) if explanations[i].matches(f)), None)
        if hit is not None:
            used.add(hit)
            f = replace(f, explanation=explanations[hit].reason)
        items.append(f)
    result.findings.items = items
    if "CDG0005" not in result.runs:
        return
    stale = [e for i, e in enumerate(explanations) if i not in used and e.code in result.runs]
    for e in stale:
        where = " ".join(x for x in (e.dataset, e.variable) if x)
        result.findings.add(
            get_rule("CDG0005").finding(
                f"the explanation of {e.code}{' on ' + where if where else ''} matches no finding of this run",
                dataset=e.dataset,
                variable=e.variable,
                value=e.code,
                file=EXPLANATIONS_FILE,
                line=e.line,
            )
        )
    result.runs["CDG0005"] = RuleRun("CDG0005", ISSUES if stale else CLEAN, len(stale), ())


def validate_submission(
    folders: Iterable[Path | str],
    *,
    study: Study | None = None,
    limit: int = DEFAULT_LIMIT,
) -> ValidationResult:
    """Validate several dataset folders as one study (e.g. SDTM tabulations and ADaM analysis datasets).

    Every rule except the define.xml rules sees all datasets together, so cross-dataset rules work across
    folders; the define.xml rules run per folder, against that folder's own define.xml and datasets.
    """
    return validate_parts([read_dataset_folder(f) for f in folders], study=study, limit=limit)
