"""The mapping engine: raw CSV forms + mapping specs + study metadata -> SDTM datasets, trace, findings.

Order of work: check every mapping spec (no data read) -> check every raw form exists with its declared
columns (nothing mapped) -> read the forms -> per dataset, per source: steps, then one rule per variable
-> unit standardisation -> DM reference dates -> visits (one table for all domains) -> EPOCH, --DY,
--SEQ, --LOBXFL, --NRIND -> SUPP--, SE, SV, trial design -> exactly the spec's variables in spec order.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cdiscgen._arrowtext import compute_positions_among
from cdiscgen._conditions import normalise_value
from cdiscgen._distinct import on_distinct
from cdiscgen._exposure import compute_undesigned_mask, declared_treatments, exposure_dataset
from cdiscgen._findings import Finding, Findings, Severity
from cdiscgen._specs import DatasetSpec, Study
from sdtm._algorithms import compute_numbers, compute_rule
from sdtm._context import FILE, INTERNAL, RECID, ROW, USUBJID, VISITCODE, RuleContext, row_findings
from sdtm._derive import (
    compute_date_part,
    compute_seq,
    compute_seq_order,
    derive_baseline_flags,
    derive_dy,
    derive_nrind,
    derive_record_flags,
    derive_seq,
    derive_supp,
)
from sdtm._elements import compute_subject_elements, derive_epoch, derive_se
from sdtm._longtext import derive_long_text
from sdtm._mapspec import MappingSpec, SourceSpec, form_missing_tokens, read_mapping_specs
from sdtm._partition import SubjectRange
from sdtm._plausible import compute_implausible_values
from sdtm._rawcsv import (
    RawFormError,
    compute_missing_tokens_left,
    compute_suspect_rows,
    read_form_header,
    read_raw_form,
    read_raw_form_blocks,
)
from sdtm._reference import derive_dm, derive_reference_dates
from sdtm._relrec import CITES, LINK, compute_link_values, compute_linked_records, derive_relrec
from sdtm._steps import STEP_FUNCTIONS
from sdtm._units import derive_standard_units, read_units
from sdtm._visits import compute_visit_table, derive_sv, derive_visit

if TYPE_CHECKING:
    from sdtm._split import RawPieces

log = logging.getLogger(__name__)

TRACE_COLUMNS = ("RAWFILE", "RAWRECID", "RAWROW")


class RawDataError(ValueError):
    """A raw form is missing or lacks a declared column; nothing is mapped or written."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "raw data does not match the mapping specs:\n" + "\n".join(f"  {p}" for p in problems)
        )


@dataclass
class SdtmResult:
    """SDTM datasets (spec variables in spec order), their raw traceability and the mapping findings."""

    datasets: dict[str, pd.DataFrame] = field(default_factory=dict)
    trace: dict[str, pd.DataFrame] = field(default_factory=dict)
    findings: Findings = field(default_factory=Findings)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step ("map DM", "derive", ...)


# ------------------------------------------------------------------------------------------------ I/O


def check_raw_forms(raw_dir: Path, specs: list[MappingSpec]) -> list[str]:
    """Every form the specs read exists and has its declared columns (only the header is read)."""
    problems: list[str] = []
    for form, columns in sorted(_required_columns(specs).items()):
        path = Path(raw_dir) / form
        if not path.is_file():
            problems.append(f"{path}: raw form is missing")
            continue
        try:
            header = read_form_header(path)
        except RawFormError as exc:
            problems.append(str(exc))
            continue
        for column in columns:
            if column not in header:
                problems.append(f"{path}: required column {column} is missing (line 1, the header)")
    return problems


def compute_untabulated(raw_dir: Path, specs: list[MappingSpec], study: Study) -> list[Finding]:
    """What was collected and reaches no dataset: a raw form (*.csv) no mapping reads (MAP024) unless
    study.yaml's `not_tabulated_forms` says why, and a column of a read form that no source declares among
    its `columns` or its `not_tabulated` ones (MAP025). Only headers are read."""
    needed = _required_columns(specs)
    excused = {form: set(cols) for form, cols in needed.items()}
    for spec in specs:
        for src in spec.sources:
            excused.setdefault(src.form, set()).update(src.not_tabulated)
    forms_excused = study.settings.get("not_tabulated_forms") or {}
    findings: list[Finding] = []
    for path in sorted(Path(raw_dir).glob("*.csv")):
        if path.name not in needed:
            if path.name not in forms_excused:
                findings.append(
                    Finding(
                        code="MAP024",
                        severity=Severity.WARNING,
                        message=f"raw form {path.name} is read by no mapping (mappings/*.yaml) and study.yaml "
                        "does not say why (not_tabulated_forms)",
                        file=path.name,
                    )
                )
            continue
        for column in read_form_header(path):
            if column not in excused[path.name]:
                findings.append(
                    Finding(
                        code="MAP025",
                        severity=Severity.WARNING,
                        message=f"column {column} of {path.name} is read by no source; declare it under the "
                        "source's not_tabulated with the reason, or map it",
                        variable=column,
                        file=path.name,
                        line=1,
                    )
                )
    return findings


def declared_column_values(specs: list[MappingSpec]) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """Per form, the distinct (column, declared values) of the sources that read it: a form several
    sources read (EX and EC both read the dosing form) is checked once per declaration, not per source."""
    out: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for spec in specs:
        for src in spec.sources:
            for column, allowed in src.column_values.items():
                entry = (column, tuple(allowed))
                if entry not in out.setdefault(src.form, []):
                    out[src.form].append(entry)
    return out


def _declared_sets(declared: list[tuple[str, tuple[str, ...]]]) -> dict[str, set[str]]:
    """Per column, every value some source declares for it (normalised as comparisons see it)."""
    out: dict[str, set[str]] = {}
    for column, allowed in declared:
        out.setdefault(column, set()).update(normalise_value(v) for v in allowed)
    return out


def compute_undeclared_values(
    raw: pd.DataFrame, declared: list[tuple[str, tuple[str, ...]]], ctx: RuleContext
) -> list[Finding]:
    """MAP020 for every raw value outside its column's `column_values`; a blank is one of them only when
    "" is declared (a blank GIVEN on a dose is no more "No" than "Yes")."""
    findings: list[Finding] = []
    for column, allowed in declared:
        values = raw[column].astype("str")
        wanted = {normalise_value(v) for v in allowed}
        (bad, blank) = on_distinct(
            values,
            lambda u, wanted=wanted: (~u.str.strip().str.upper().isin(wanted), u.str.strip() == ""),
        )
        bad, blank = bad.to_numpy(dtype=bool), blank.to_numpy(dtype=bool)
        expected = ", ".join(repr(v) if v == "" else v for v in allowed)
        findings += row_findings(
            raw,
            bad & ~blank,
            code="MAP020",
            severity=Severity.ERROR,
            message=f"{column} {{value!r}} is not one of its declared values; filters and conditions do not "
            "treat it as any of them",
            ctx=ctx,
            values=values,
            expected=expected,
        )
        findings += row_findings(
            raw,
            bad & blank,
            code="MAP020",
            severity=Severity.ERROR,
            message=f'{column} is blank, which is not one of its declared values (declare "" in '
            "column_values where a blank is expected); filters and conditions do not treat it as any of them",
            ctx=ctx,
            values=values,
            expected=expected,
        )
    return findings


def compute_undesigned_treatments(frames: dict[str, pd.DataFrame], study: Study) -> list[Finding]:
    """MAP021 for every exposure record whose treatment design.treatments does not name: it is not
    exposure (no reference date or treatment date comes from it), and the raw row is named to be fixed."""
    name = exposure_dataset(study.settings)
    frame = frames.get(name)
    if frame is None:
        return []
    trt = f"{name[:2]}TRT"
    declared = ", ".join(sorted(declared_treatments(study.settings) or ()))
    return row_findings(
        frame,
        compute_undesigned_mask(frame, study.settings),
        code="MAP021",
        severity=Severity.ERROR,
        message=f"{trt} {{value!r}} is not a treatment of design.treatments; the record is not counted as "
        "exposure (reference dates, treatment dates)",
        ctx=RuleContext(name, trt, study.codelists),
        values=frame[trt] if trt in frame.columns else None,
        expected=declared,
    )


def compute_repeated_record_ids(raw: pd.DataFrame, form: str, column: str) -> list[Finding]:
    """MAP022 for every raw row whose record id an earlier row of its form already has: the trace (record
    -> raw file, id and line) cannot tell them apart, and a repeated id is the mark of an export repeated
    or merged twice. A blank id is not compared."""
    ids = raw[column].astype("str").str.strip()
    present = (ids != "").to_numpy()
    repeated = ids.duplicated(keep="first").to_numpy() & present
    if not repeated.any():
        return []
    first_line = raw.loc[present].drop_duplicates(column).set_index(column)[ROW] + 1
    earlier = ids.map(first_line).fillna(0).astype(int).astype("str")
    return row_findings(
        raw,
        repeated,
        code="MAP022",
        severity=Severity.ERROR,
        message=f"{column} {{value}}: each raw row needs its own record id (the trace names records by it); "
        "was the export repeated or merged twice?",
        ctx=RuleContext("", column, {}, form),
        values="'" + ids + "' is already the id of line " + earlier,
    )


def record_id_columns(specs: list[MappingSpec]) -> dict[str, tuple[str, ...]]:
    """Per form, the record-id columns its sources declare that name rows: a source whose record id is its
    subject column (a form without a row id, such as the CDISC pilot's exports) declares none."""
    out: dict[str, tuple[str, ...]] = {}
    for spec in specs:
        for src in spec.sources:
            if src.record_id != src.subject:
                out[src.form] = tuple(dict.fromkeys([*out.get(src.form, ()), src.record_id]))
    return out


def compute_repeated_subjects(dm: pd.DataFrame) -> list[Finding]:
    """MAP016 for every DM record whose USUBJID an earlier record already has (DM: one per subject)."""
    repeated = dm["USUBJID"].duplicated(keep="first")
    if not repeated.any():
        return []
    first_row = dm.drop_duplicates("USUBJID").set_index("USUBJID")[ROW]
    earlier = dm["USUBJID"].map(first_row).fillna(0).astype(int) + 1
    return row_findings(
        dm,
        repeated.to_numpy(),
        code="MAP016",
        severity=Severity.ERROR,
        message="subject already has a DM record (raw line {value}); DM holds one record per subject",
        ctx=RuleContext("DM", "USUBJID", {}),
        values=earlier.astype("str"),
    )


@dataclass(frozen=True)
class FormReader:
    """Reads a raw form as the mapping specs need it: their columns, the form's missing-value tokens, and
    the findings of reading it (values left as missing tokens, repeated record ids, undeclared values)."""

    needed: dict[str, tuple[str, ...]]
    missing: dict[str, tuple[str, ...]]
    declared: dict[str, list[tuple[str, tuple[str, ...]]]]
    row_ids: dict[str, tuple[str, ...]]

    @classmethod
    def of(cls, specs: list[MappingSpec], study: Study) -> FormReader:
        return cls(
            _required_columns(specs),
            form_missing_tokens(specs, study),
            declared_column_values(specs),
            record_id_columns(specs),
        )

    def read(self, raw_dir: Path, form: str) -> tuple[pd.DataFrame, list[Finding]]:
        """The form and the findings of reading it; RawDataError if it cannot be read at all."""
        findings: list[Finding] = []
        try:
            df = read_raw_form(raw_dir / form, self.needed[form], findings, self.missing.get(form, ()))
        except RawFormError as exc:
            raise RawDataError([str(exc)]) from None
        declared = self.declared.get(form, [])
        columns = [c for c in df.columns if c not in INTERNAL]
        findings.extend(compute_missing_tokens_left(df, columns, _declared_sets(declared)))
        for column in self.row_ids.get(form, ()):
            findings.extend(compute_repeated_record_ids(df, form, column))
        findings.extend(compute_undeclared_values(df, declared, RuleContext("", "", {}, form)))
        return df, findings

    def read_in_blocks(
        self, raw_dir: Path, form: str, rows: int, take: Callable[[pd.DataFrame], None]
    ) -> list[Finding]:
        """The form `rows` records at a time, each block given to `take`, and the findings of reading it
        as `read` finds them; the form is never whole in memory (what is found across rows, record ids
        repeated and missing-value tokens left, is found from those columns of the suspect rows)."""
        declared = self.declared.get(form, [])
        ids = self.row_ids.get(form, ())
        findings: list[Finding] = []
        undeclared: list[Finding] = []
        suspects: list[pd.DataFrame] = []
        id_parts: list[pd.DataFrame] = []
        columns: list[str] = []
        try:
            blocks = read_raw_form_blocks(raw_dir / form, self.needed[form], rows, self.missing.get(form, ()))
            for block, found in blocks:
                columns = [c for c in block.columns if c not in INTERNAL]
                findings.extend(found)
                suspects.append(block.loc[compute_suspect_rows(block)])
                if ids:
                    id_parts.append(block[[*ids, ROW, FILE]])
                undeclared.extend(compute_undeclared_values(block, declared, RuleContext("", "", {}, form)))
                take(block)
        except RawFormError as exc:
            raise RawDataError([str(exc)]) from None
        suspect = pd.concat(suspects, ignore_index=True)
        findings.extend(compute_missing_tokens_left(suspect, columns, _declared_sets(declared)))
        if ids:
            every_id = pd.concat(id_parts, ignore_index=True)
            for column in ids:
                findings.extend(compute_repeated_record_ids(every_id, form, column))
        return findings + undeclared


def _required_columns(specs: list[MappingSpec]) -> dict[str, tuple[str, ...]]:
    needed: dict[str, tuple[str, ...]] = {}
    for spec in specs:
        for src in spec.sources:
            for form, cols in src.required_columns().items():
                needed[form] = tuple(dict.fromkeys([*needed.get(form, ()), *cols]))
    return needed


# --------------------------------------------------------------------------------------------- mapping


def _map_source(
    src: SourceSpec,
    forms: dict[str, pd.DataFrame],
    spec: DatasetSpec,
    study: Study,
    *,
    last: bool = False,
    partition: SubjectRange | None = None,
) -> tuple[pd.DataFrame, list[Finding]]:
    """One source's rows of the dataset. `last`: no later source reads the form, so it leaves `forms` here
    (a filter or de-duplication then does not hold the whole form beside the rows it keeps). `partition`:
    only the records of its USUBJIDs (a partition of the study)."""
    own = last and src.form not in {step["merge"]["form"] for step in src.steps if "merge" in step}
    # columns are only added: copy-on-write keeps a form that stays in `forms` intact
    raw = forms.pop(src.form) if own else forms[src.form].copy(deep=False)
    raw[RECID] = raw[src.record_id].astype("str").str.strip()
    ctx = RuleContext(spec.name, "", study.codelists, src.form)
    subject, findings = compute_subject_key(raw, src, RuleContext(spec.name, "USUBJID", {}, src.form))
    raw[USUBJID] = study.compute_usubjid(subject)
    if src.visit:
        raw[VISITCODE] = raw[src.visit].astype("str")
    for step in src.steps:
        (kind,) = step
        raw, found = STEP_FUNCTIONS[kind](raw, step, ctx, forms)
        findings.extend(found)
    raw = raw.reset_index(drop=True)
    if "USUBJID" in src.variables:
        # a USUBJID the spec maps explicitly is the one findings name (its own findings come below)
        mapped, _ = compute_rule(
            raw, src.variables["USUBJID"], RuleContext(spec.name, "USUBJID", study.codelists)
        )
        raw[USUBJID] = mapped.where(mapped != "", raw[USUBJID])
    if partition is not None:
        raw = raw.loc[partition.mask(raw[USUBJID])].reset_index(drop=True)
    out = pd.DataFrame(index=raw.index)
    for name, rule in src.variables.items():
        var = spec.variable(name)
        vctx = RuleContext(spec.name, name, study.codelists, src.form, var, targets=out)
        values, found = compute_rule(raw, rule, vctx)
        findings.extend(found)
        if var.is_numeric:
            text = values.astype("str").str.strip()
            number = compute_numbers(text)
            bad = (text != "") & number.isna()
            findings.extend(
                row_findings(
                    raw,
                    bad,
                    code="MAP006",
                    severity=Severity.WARNING,
                    message=f"{{value!r}} is not a number (or out of range); {name} left empty",
                    ctx=vctx,
                    values=text,
                )
            )
            out[name] = number.astype("float")
        else:
            out[name] = values.astype("str")
    for c in (ROW, FILE, RECID, USUBJID, VISITCODE):
        if c in raw.columns:
            out[c] = _array(raw[c])
    if src.link:
        name, column, cites = src.link
        out[LINK] = _array(compute_link_values(raw, name, column))
        out[CITES] = cites
    return out, findings


def compute_subject_key(
    raw: pd.DataFrame, src: SourceSpec, ctx: RuleContext
) -> tuple[pd.Series, list[Finding]]:
    """The raw subject key of each row: the `subject` column stripped, or what its rule gives (MAP012 for
    an id the `extract` pattern does not match, MAP027 for a template with a blank part)."""
    if isinstance(src.subject, str):
        return raw[src.subject].astype("str").str.strip(), []
    return compute_rule(
        raw, {**src.subject, "codelist": None} if "assign" in src.subject else src.subject, ctx
    )


def _concat_sources(parts: list[pd.DataFrame], spec: DatasetSpec) -> pd.DataFrame:
    """The records of a dataset's sources, one after the other; a variable one source maps and another
    does not is blank ("" or NaN by its type) on the other's records, never a missing-value float."""
    if len(parts) == 1:
        return parts[0]
    columns = list(dict.fromkeys(c for part in parts for c in part.columns))
    numeric = {v.name for v in spec.variables if v.is_numeric}
    aligned = []
    for part in parts:
        for c in columns:
            if c not in part.columns:
                blank = pd.Series(np.nan if c in numeric else "", index=part.index)
                part = part.assign(**{c: blank.astype("float" if c in numeric else "str")})
        aligned.append(part[columns])
    return pd.concat(aligned, ignore_index=True)


def _array(column: pd.Series) -> object:
    """A column's values for a new frame of the same length, without a round trip through Python objects
    (an empty column still goes through NumPy, which gives the same dtype as before: object)."""
    return column.array if len(column) else column.to_numpy()


def _finish_frame(df: pd.DataFrame, spec: DatasetSpec, study: Study) -> pd.DataFrame:
    """Identifiers, every spec variable present (char "" / numeric NaN), the record date for visits."""
    out = df.copy(deep=False)
    p = spec.domain or spec.name
    if "STUDYID" in spec.variable_names:
        out["STUDYID"] = study.studyid
    if "DOMAIN" in spec.variable_names:
        out["DOMAIN"] = p
    if "USUBJID" not in out.columns or (out["USUBJID"].astype("str") == "").all():
        out["USUBJID"] = out[USUBJID] if USUBJID in out else ""
    for v in spec.variables:
        if v.name not in out.columns:
            out[v.name] = np.nan if v.is_numeric else ""
    date_var = next((c for c in (f"{p}DTC", f"{p}STDTC") if c in out.columns), None)
    out["_VDATE"] = compute_date_part(out[date_var]) if date_var else ""
    return out


def _final(
    df: pd.DataFrame, spec: DatasetSpec, order: np.ndarray | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The submitted dataset (spec variables in spec order) and its trace, rows in `order` (positions; None =
    as they are). `df` is the engine's working frame and is consumed: each column is dropped from it once
    taken, so the working frame and the dataset are never both held whole."""
    taken: dict[str, pd.Series] = {}

    def column(name: str) -> pd.Series:
        if name not in taken:
            col = df.pop(name)
            taken[name] = (col if order is None else col.take(order)).reset_index(drop=True)
        return taken[name]

    n = len(df)
    data = {}
    for v in spec.submitted_variables:
        col = column(v.name) if v.name in df.columns or v.name in taken else None
        if col is None:
            col = pd.Series(np.nan if v.is_numeric else "", index=pd.RangeIndex(n))
        if v.is_numeric:
            data[v.name] = pd.to_numeric(col, errors="coerce").astype("float")
        elif col.dtype == "str" and not col.hasnans:
            data[v.name] = col  # already what the line below would make
        else:
            data[v.name] = col.where(col.notna(), "").astype("str")
    out = pd.DataFrame(data, index=pd.RangeIndex(n))
    p = spec.domain or spec.name
    trace_cols = {}
    for name, src in (("USUBJID", "USUBJID"), (f"{p}SEQ", f"{p}SEQ")):
        if src in df.columns or src in taken:
            trace_cols[name] = _array(column(src))
    for name, src in zip(TRACE_COLUMNS, (FILE, RECID, ROW), strict=True):
        trace_cols[name] = _array(column(src)) if src in df.columns or src in taken else ""
    taken.clear()
    trace = pd.DataFrame(trace_cols)
    if "RAWROW" in trace:
        trace["RAWROW"] = pd.to_numeric(trace["RAWROW"], errors="coerce").astype("Int64")
    return out, trace


def _forms_last_used(specs: list[MappingSpec]) -> dict[str, tuple[int, int]]:
    """For each raw form, the last (mapping spec, source) that reads it (as its form or in a merge)."""
    return {
        form: (i, j)
        for i, spec in enumerate(specs)
        for j, src in enumerate(spec.sources)
        for form in src.required_columns()
    }


def _visit_records(df: pd.DataFrame, order: np.ndarray | None) -> pd.DataFrame | None:
    """What derive_sv reads of a dataset (USUBJID, VISITNUM, VISIT, record date), rows in `order`, without
    the repeats (derive_sv keeps the first row per subject and visit, and the earliest/latest date)."""
    cols = ["USUBJID", "VISITNUM", "VISIT", "_VDATE"]
    if not all(c in df.columns for c in cols):
        return None
    positions = np.arange(len(df)) if order is None else order
    has_visit = df["VISITNUM"].notna().to_numpy()
    part = df[cols].take(positions[has_visit[positions]]).drop_duplicates()
    return part.reset_index(drop=True)


def run_sdtm(
    raw_dir: Path, study: Study, partition: SubjectRange | None = None, pieces: RawPieces | None = None
) -> SdtmResult:
    """Map the raw forms in `raw_dir` to SDTM with the study's `mappings/` and `specs/`; with a `partition`
    (a range of USUBJIDs), the records of those subjects only: the subject-level datasets of the partitions
    (sdtm.subject_ranges), one after the other, are the whole run's, and so are their findings, each kept
    by the partition that owns it (SubjectRange.owns). The trial design datasets are built from the
    partition's DM (TS ACTSUB counts its subjects): a partitioned run builds them once from the whole DM
    (docs/partitioned-runs.md). `pieces`: the forms a partitioned run split by subject once
    (sdtm.split_raw_forms): the partition reads its piece of them instead of the whole form.

    Raises SpecError (mapping specs invalid; no data read) or RawDataError (a form or a declared column is
    missing; nothing mapped). Data problems are findings in the result.

    Memory: a raw form is read (only its declared columns) when the first spec needs it and dropped after
    the last one; each dataset is turned into its submitted frame right after its derivations and its
    working frame dropped column by column.
    """
    specs = read_mapping_specs(study)
    if not specs:
        raise RawDataError([f"{study.mappings_dir}: no mapping specs (mappings/*.yaml); nothing to map"])
    problems = check_raw_forms(Path(raw_dir), specs)
    if problems:
        raise RawDataError(problems)
    started = time.perf_counter()
    untabulated = compute_untabulated(Path(raw_dir), specs, study)
    reader = FormReader.of(specs, study)
    last_used = _forms_last_used(specs)
    forms: dict[str, pd.DataFrame] = {}
    read_seconds = 0.0
    result = SdtmResult()
    result.findings.extend(untabulated)
    units = read_units(study.specs_dir / "units.yaml") if any(s.standardise_units for s in specs) else None
    frames: dict[str, pd.DataFrame] = {}
    read_seconds += time.perf_counter() - started
    for i, mspec in enumerate(specs):
        t0 = time.perf_counter()
        for form in sorted({f for s in mspec.sources for f in s.required_columns()} - set(forms)):
            if pieces is not None and form in pieces.forms:
                # split once by subject; its read findings were reported then, from the whole form
                forms[form] = pieces.read(form, partition)
                continue
            forms[form], found = reader.read(Path(raw_dir), form)
            result.findings.extend(found)
        t_read = time.perf_counter() - t0
        read_seconds += t_read
        dspec = study.dataset(mspec.dataset)
        parts = []
        for j, src in enumerate(mspec.sources):
            part, found = _map_source(
                src, forms, dspec, study, last=last_used[src.form] == (i, j), partition=partition
            )
            result.findings.extend(found)
            parts.append(part)
            for form in [f for f, last in last_used.items() if last == (i, j)]:
                forms.pop(form, None)
        frame = _finish_frame(_concat_sources(parts, dspec), dspec, study)
        del parts
        if mspec.standardise_units and units is not None:
            frame, found = derive_standard_units(
                frame, dspec.domain or dspec.name, units, RuleContext(dspec.name, "", study.codelists)
            )
            result.findings.extend(found)
        frames[mspec.dataset] = frame
        del frame
        result.timings[f"map {mspec.dataset}"] = time.perf_counter() - t0 - t_read
        log.info(
            "%s: %d records mapped from %d source(s)",
            mspec.dataset,
            len(frames[mspec.dataset]),
            len(mspec.sources),
        )
    result.timings = {"read raw": read_seconds, **result.timings}

    t0 = time.perf_counter()
    result.findings.extend(compute_undesigned_treatments(frames, study))
    dm = frames.get("DM")
    refs = None
    elements = None
    if dm is not None:
        result.findings.extend(compute_repeated_subjects(dm))
        refs = derive_reference_dates(dm, frames, study)
        for name, f in frames.items():
            if name != "DM":
                result.findings.extend(
                    row_findings(
                        f,
                        compute_positions_among(f["USUBJID"], dm["USUBJID"]) < 0,  # one Arrow hash lookup
                        code="MAP010",
                        severity=Severity.ERROR,
                        message="subject {value!r} is not in DM (enrollment)",
                        ctx=RuleContext(name, "USUBJID", study.codelists),
                        values=f["USUBJID"],
                    )
                )
        frames["DM"], found = derive_dm(dm, refs, study)
        result.findings.extend(found)
        elements = compute_subject_elements(frames["DM"], refs, frames, study)
        del dm
    dm_derived = frames.get("DM")
    table = compute_visit_table(list(frames.values()), study)
    visit_records: list[pd.DataFrame] = []
    linked_records: list[pd.DataFrame] = []
    dm_done: pd.DataFrame | None = None
    for name in list(frames):
        dspec = study.dataset(name)
        f = frames.pop(name)
        f, found = derive_visit(f, table, study, RuleContext(name, "VISIT", study.codelists))
        result.findings.extend(found)
        if refs is not None and elements is not None:
            f = derive_epoch(f, dspec, elements, refs)
            f = derive_dy(f, dspec, refs, study.study_day_reference)
        order = None
        seq = f"{dspec.domain or name}SEQ"
        if dspec.has_variable(seq):
            # number --SEQ in key order but leave the rows where they are: the frame is put in order once,
            # column by column, when the dataset is written (--LOBXFL and --NRIND do not depend on row order
            # once --SEQ is set)
            order = compute_seq_order(f, dspec)
            usubjid = f["USUBJID"] if order is None else f["USUBJID"].take(order)
            numbers = compute_seq(usubjid.reset_index(drop=True))
            f[seq] = numbers if order is None else _scatter(numbers, order)
        else:
            f = derive_seq(f, dspec)
        if refs is not None:
            f = derive_baseline_flags(f, dspec, refs, study)
        f, found = derive_record_flags(f, dspec, dm_derived, study)
        result.findings.extend(found)
        f = derive_nrind(f, dspec)
        result.findings.extend(compute_implausible_values(f, dspec, study))
        supp_name = f"SUPP{dspec.domain or name}"
        f, continued, found = derive_long_text(
            f,
            dspec,
            study.export_encoding,
            supp=supp_name in study.datasets,
            ctx=RuleContext(name, "", study.codelists),
        )
        result.findings.extend(found)
        if (dspec.supplemental_variables or continued) and supp_name in study.datasets:
            cols = ["USUBJID", seq, *(v.name for v in [*dspec.supplemental_variables, *continued])]
            sub = f[[c for c in dict.fromkeys(cols) if c in f.columns]]
            sub = sub if order is None else sub.take(order).reset_index(drop=True)
            supp = derive_supp(sub, dspec, study.studyid, continued)
            result.datasets[supp_name] = _final(supp, study.dataset(supp_name))[0]
            del sub, supp
        if name == "DM":
            dm_done = f.copy(deep=False) if order is None else f.take(order).reset_index(drop=True)
        records = _visit_records(f, order)
        if records is not None:
            visit_records.append(records)
        linked = compute_linked_records(f, dspec, seq)
        if linked is not None:
            linked_records.append(linked)
        result.datasets[name], result.trace[name] = _final(f, dspec, order)
        del f
    if refs is not None and dm_done is not None and elements is not None:
        if "SE" in study.datasets:
            se_spec = study.dataset("SE")
            se = derive_se(elements)
            se = derive_seq(
                derive_dy(_finish_frame(se, se_spec, study), se_spec, refs, study.study_day_reference),
                se_spec,
            )
            result.datasets["SE"], result.trace["SE"] = _final(se, se_spec)
        if "SV" in study.datasets:
            sv_spec = study.dataset("SV")
            sv = _finish_frame(derive_sv(visit_records, study), sv_spec, study)
            sv = derive_dy(
                derive_epoch(sv, sv_spec, elements, refs), sv_spec, refs, study.study_day_reference
            )
            result.datasets["SV"], result.trace["SV"] = _final(derive_seq(sv, sv_spec), sv_spec)
    if any(src.link for m in specs for src in m.sources):  # check-specs made sure RELREC has its spec
        relrec, found = derive_relrec(linked_records, study)
        result.findings.extend(found)
        result.datasets["RELREC"] = _final(relrec, study.dataset("RELREC"))[0]
    result.timings["derive"] = time.perf_counter() - t0
    result.datasets.update(_trial_design(study, result.datasets.get("DM")))
    result.datasets = dict(sorted(result.datasets.items()))
    result.trace = dict(sorted(result.trace.items()))
    if partition is not None:
        split = pieces.forms if pieces is not None else frozenset()
        result.findings = Findings([f for f in result.findings if partition.owns(f, split)])
    return result


def list_subjects(raw_dir: Path, study: Study) -> list[str]:
    """The USUBJIDs DM's sources give (mapped as run_sdtm maps them, nothing else derived), sorted: what a
    partitioned run cuts into subject ranges. Empty when the study maps no DM."""
    specs = read_mapping_specs(study)
    dm = next((m for m in specs if m.dataset == "DM"), None)
    if dm is None:
        return []
    needed = _required_columns(specs)
    missing = form_missing_tokens(specs, study)
    forms: dict[str, pd.DataFrame] = {}
    for form in sorted({f for src in dm.sources for f in src.required_columns()}):
        try:
            forms[form] = read_raw_form(Path(raw_dir) / form, needed[form], [], missing.get(form, ()))
        except RawFormError as exc:
            raise RawDataError([str(exc)]) from None
    subjects: set[str] = set()
    for src in dm.sources:
        part, _ = _map_source(src, forms, study.dataset("DM"), study)
        subjects.update(part[USUBJID].astype("str"))
    return sorted(subjects)


def trial_design_datasets(study: Study, dm: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """TS/TA/TE/TV/TI of the study, TS's ACTSUB and FCNTRY from `dm` (the whole mapped DM): what a
    partitioned run builds once, after its partitions."""
    return _trial_design(study, dm)


def _scatter(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Values given in `order` (positions) put back at those positions."""
    out = np.empty_like(values)
    out[order] = values
    return out


def _trial_design(study: Study, dm: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """TS/TA/TE/TV/TI from sdtm._trial_design when that module exists; `dm` (the mapped DM) gives TS its
    ACTSUB and FCNTRY."""
    try:
        module = importlib.import_module("sdtm._trial_design")
    except ImportError:
        log.info("sdtm._trial_design is not available; trial design domains not built")
        return {}
    notes: list[str] = []
    frames = dict(module.derive_trial_design(study, dm, notes))
    for note in notes:
        log.warning("%s", note)
    return frames
