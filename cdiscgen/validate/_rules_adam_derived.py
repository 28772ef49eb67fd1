"""ADaM rules on derived values and traceability: change from baseline, baseline, analysis study days,
time-to-event values, imputation flags, analysis windows, ADSL values carried into other datasets, and
SRCDOM/SRCVAR/SRCSEQ pointing at a real record.

Each rule recomputes the derivation the ADaMIG defines from the record's own inputs and reports the
records whose stored value differs. Numbers are compared with a relative tolerance of 1e-9 (floating-point
noise, not rounding: a value rounded for display is a finding, since the analysis reads what is stored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import is_numeric_dtype

from cdiscgen._arrowtext import compute_positions_among, is_among
from cdiscgen._distinct import compute_mapped, on_distinct
from cdiscgen._findings import Finding, Severity
from cdiscgen.validate._context import ValidationContext, compute_pair_rows, compute_text
from cdiscgen.validate._dates import check_iso8601
from cdiscgen.validate._registry import Partition, Rule, Scope, rule
from cdiscgen.validate._rules_adam import _bds, _tte, baseline_keys, flagged_twice

#: (study day, date) pairs of the ADaMIG: ADY from ADT, ASTDY from ASTDT, AENDY from AENDT
STUDY_DAYS = (("ADY", "ADT"), ("ASTDY", "ASTDT"), ("AENDY", "AENDT"))
#: (date, the SDTM date/time it is taken from): ADT from --DTC, ASTDT from --STDTC, AENDT from --ENDTC
DATE_SOURCES = (("ADT", "DTC"), ("ASTDT", "STDTC"), ("AENDT", "ENDTC"))
#: days per unit of a time-to-event AVAL (AVALU, or the unit in PARAM's parentheses)
DAYS_PER_UNIT = {"DAYS": 1.0, "WEEKS": 7.0, "MONTHS": 365.25 / 12, "YEARS": 365.25}
#: a time-to-event AVAL in a unit other than days is usually rounded; this much is accepted
ROUNDING_OTHER_UNITS = 0.005
#: the analysis window of a record: records sharing these (those present) are one analysis timepoint
WINDOW_KEYS = ("USUBJID", "PARAMCD", "BASETYPE", "AVISITN", "AVISIT", "ATPTN", "ATPT", "DTYPE")
#: the keys another dataset shares with ADSL without copying a subject-level value
NOT_COPIED = frozenset({"STUDYID", "USUBJID"})
_DATE_FLAGS = {"DTF": frozenset({"D", "M", "Y"}), "TMF": frozenset({"H", "M", "S"})}


def _numbers(frame: pd.DataFrame, column: str) -> np.ndarray | None:
    """The column as float64 (NaN for null), or None when it is absent or not numeric."""
    if column not in frame.columns or not is_numeric_dtype(frame[column]):
        return None
    return frame[column].to_numpy(dtype="float64", na_value=np.nan)


def _differs(stored: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Where both are numbers and differ beyond floating-point noise."""
    both = np.isfinite(stored) & np.isfinite(expected)
    scale = np.maximum(np.abs(expected), 1.0)
    with np.errstate(invalid="ignore"):
        return both & (np.abs(stored - expected) > 1e-9 * scale)


def _stored_not_derived(stored: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Where a stored value differs from its derivation, or is populated where nothing can be derived."""
    return _differs(stored, expected) | (np.isfinite(stored) & ~np.isfinite(expected))


def _number_findings(
    ctx: ValidationContext,
    rule: Rule,
    name: str,
    variable: str,
    wrong: np.ndarray,
    stored: np.ndarray,
    expected: np.ndarray,
    message: str,
) -> Iterator[Finding]:
    """Findings on the `wrong` records with the stored and the derived number as text (formatted for those
    records only: a million-record dataset with three bad records formats six numbers)."""
    yield from ctx.findings_where(
        rule,
        name,
        wrong,
        message,
        variable=variable,
        value=_texts_where(stored, wrong),
        expected=_texts_where(expected, wrong),
    )


def _texts_where(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    out = np.full(len(x), None, dtype=object)
    if rows.any():
        out[rows] = compute_text(pd.Series(x[rows])).to_numpy(dtype=object)
    return out


@rule(
    "CDG1113",
    "CHG is not AVAL - BASE",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 3.3.4 (CHG = AVAL - BASE)",
    partition=Partition.SUBJECT,
)
def check_chg(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Where CHG is populated it equals AVAL - BASE of the record, and both are populated.

    Bad: AVAL 12.4, BASE 10.0, CHG 2.0; or CHG 1.5 on a record without BASE.
    Good: CHG 2.4.
    """
    for name in _bds(ctx):
        frame = ctx.datasets[name]
        chg, aval, base = (_numbers(frame, c) for c in ("CHG", "AVAL", "BASE"))
        if chg is None or aval is None or base is None:
            continue
        expected = aval - base
        wrong = _stored_not_derived(chg, expected)
        yield from _number_findings(ctx, rule, name, "CHG", wrong, chg, expected, "CHG is not AVAL - BASE")


@rule(
    "CDG1114",
    "PCHG is not 100 x (AVAL - BASE) / BASE",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 3.3.4 (PCHG = (AVAL - BASE) / BASE x 100; undefined when BASE is 0)",
    partition=Partition.SUBJECT,
)
def check_pchg(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Where PCHG is populated it equals (AVAL - BASE) / BASE x 100; with BASE 0 or null it is null.

    Bad: AVAL 15, BASE 10, PCHG 5 (CHG stored as PCHG); PCHG 0 with BASE 0.
    Good: PCHG 50; PCHG null where BASE is 0.
    """
    for name in _bds(ctx):
        frame = ctx.datasets[name]
        pchg, aval, base = (_numbers(frame, c) for c in ("PCHG", "AVAL", "BASE"))
        if pchg is None or aval is None or base is None:
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            expected = np.where(base != 0, (aval - base) / base * 100.0, np.nan)
        wrong = _stored_not_derived(pchg, expected)
        message = "PCHG is not (AVAL - BASE) / BASE x 100"
        yield from _number_findings(ctx, rule, name, "PCHG", wrong, pchg, expected, message)


def _baseline_values(ctx: ValidationContext, name: str, column: str) -> pd.Series | None:
    """Per record, the `column` value of its subject's and parameter's ABLFL = Y record (NA without one)."""
    frame = ctx.datasets[name]
    if "ABLFL" not in frame.columns or not {"USUBJID", "PARAMCD", column} <= set(frame.columns):
        return None
    keys = baseline_keys(frame)
    table = pd.DataFrame({k: ctx.text(name, k).fillna("") for k in keys})
    table["_value"] = frame[column].to_numpy() if is_numeric_dtype(frame[column]) else ctx.text(name, column)
    flagged = (ctx.text(name, "ABLFL") == "Y").fillna(False).to_numpy(dtype=bool)
    baseline = table[flagged].drop_duplicates(keys, keep=False)  # two baselines are CDG1110's
    merged = table[keys].merge(baseline, on=keys, how="left")
    return merged["_value"]


@rule(
    "CDG1115",
    "BASE is not the AVAL of the baseline record",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 3.3.4 (BASE: the AVAL of the record with ABLFL = Y, per BASETYPE)",
    partition=Partition.SUBJECT,
)
def check_base(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Where a subject's parameter (within BASETYPE) has one ABLFL = "Y" record, BASE on every record of
    it is that record's AVAL (or null).

    Bad: the baseline KAPPA record has AVAL 84.2; a week 4 record has BASE 80.1.
    Good: BASE 84.2 on every KAPPA record of the subject.
    """
    for name in _bds(ctx):
        frame = ctx.datasets[name]
        base = _numbers(frame, "BASE")
        if base is None or _numbers(frame, "AVAL") is None:
            continue
        expected = _baseline_values(ctx, name, "AVAL")
        if expected is None:
            continue
        expected = expected.to_numpy(dtype="float64", na_value=np.nan)
        message = "BASE is not the AVAL of the baseline (ABLFL = Y) record"
        yield from _number_findings(
            ctx, rule, name, "BASE", _differs(base, expected), base, expected, message
        )


@rule(
    "CDG1116",
    "BASEC is not the AVALC of the baseline record",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 3.3.4 (BASEC: the AVALC of the record with ABLFL = Y)",
    partition=Partition.SUBJECT,
)
def check_basec(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Where a subject's parameter has one ABLFL = "Y" record with an AVALC, BASEC on every record of it
    is that AVALC (or null).

    Bad: the baseline record has AVALC "<0.5"; a later record has BASEC "0.5".
    Good: BASEC "<0.5".
    """
    for name in _bds(ctx):
        if not {"BASEC", "AVALC"} <= set(ctx.datasets[name].columns):
            continue
        expected = _baseline_values(ctx, name, "AVALC")
        if expected is None:
            continue
        basec = ctx.text(name, "BASEC").reset_index(drop=True)
        expected = expected.astype("string")
        wrong = basec.notna() & expected.notna() & (basec != expected)
        yield from ctx.findings_where(
            rule,
            name,
            wrong.fillna(False).to_numpy(dtype=bool),
            "BASEC is not the AVALC of the baseline (ABLFL = Y) record",
            variable="BASEC",
            expected=expected,  # findings_where reads only the rows it lists
        )


def _treatment_start(ctx: ValidationContext, name: str) -> np.ndarray | None:
    """TRTSDT per record: the record's own, else the subject's in ADSL."""
    frame = ctx.datasets[name]
    own = _numbers(frame, "TRTSDT")
    if own is not None:
        return own
    adsl = ctx.datasets.get("ADSL")
    start = None if adsl is None else _numbers(adsl, "TRTSDT")
    if start is None or "USUBJID" not in frame.columns:
        return None
    lookup = pd.Series(start, index=ctx.text("ADSL", "USUBJID").to_numpy())
    lookup = lookup[~lookup.index.duplicated()]
    return compute_mapped(ctx.text(name, "USUBJID"), lookup).to_numpy(dtype="float64", na_value=np.nan)


def study_day(date: np.ndarray, start: np.ndarray) -> np.ndarray:
    """ADaMIG study day: date - start + 1 on or after the start, date - start before it (no day 0)."""
    return date - start + (date >= start)


@rule(
    "CDG1117",
    "Analysis study day disagrees with its date and TRTSDT",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 3.3.3 (ADY = ADT - TRTSDT + 1 on or after TRTSDT, ADT - TRTSDT before)",
    partition=Partition.SUBJECT,
)
def check_analysis_days(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """ADY, ASTDY and AENDY are the study day of ADT, ASTDT and AENDT counted from TRTSDT (the record's,
    else the subject's in ADSL): date - TRTSDT + 1 on or after it, date - TRTSDT before it; there is no
    day 0. A study day without its date is reported too.

    Bad: TRTSDT 2024-01-08, ADT 2024-01-15, ADY 7 (or ADY 0 for a record dated 2024-01-07).
    Good: ADY 8; ADY -1 for 2024-01-07.
    """
    for name in ctx.adam_names():
        frame = ctx.datasets[name]
        pairs = [(dy, dt) for dy, dt in STUDY_DAYS if _numbers(frame, dy) is not None]
        if not pairs:
            continue
        start = _treatment_start(ctx, name)
        if start is None:
            continue
        for dy_name, dt_name in pairs:
            day, date = _numbers(frame, dy_name), _numbers(frame, dt_name)
            if date is None:
                continue
            with np.errstate(invalid="ignore"):
                expected = np.where(np.isfinite(date) & np.isfinite(start), study_day(date, start), np.nan)
            wrong = (np.isfinite(day) & np.isfinite(expected) & (day != expected)) | (
                np.isfinite(day) & ~np.isfinite(date)
            )
            message = f"{dy_name} is not the study day of {dt_name} from TRTSDT"
            yield from _number_findings(ctx, rule, name, dy_name, wrong, day, expected, message)


def _tte_unit(ctx: ValidationContext, name: str) -> pd.Series:
    """Per record the AVAL unit in upper case: AVALU, else the last parenthesised word of PARAM, else DAYS."""
    frame = ctx.datasets[name]
    if "AVALU" in frame.columns:
        unit = ctx.text(name, "AVALU").str.upper()
    elif "PARAM" in frame.columns:
        unit = ctx.text(name, "PARAM").str.extract(r"\((\w+)\)\s*$", expand=False).str.upper()
    else:
        unit = pd.Series(pd.NA, index=frame.index, dtype="string")
    unit = unit.fillna("DAYS").reset_index(drop=True)
    return unit.where(~unit.isin(["DAY", "WEEK", "MONTH", "YEAR"]), unit + "S")


@rule(
    "CDG1118",
    "Time-to-event AVAL is not ADT - STARTDT + 1",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaM BDS for Time-to-Event Analyses section 2 (AVAL = ADT - STARTDT + 1, in AVALU)",
    partition=Partition.SUBJECT,
)
def check_tte_duration(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """In a time-to-event dataset AVAL is the days from STARTDT to ADT counting both (ADT - STARTDT + 1),
    converted to the unit of AVALU (or of PARAM's parentheses: days, weeks, months of 365.25/12 days,
    years of 365.25 days; another unit is not examined). Days match exactly; another unit within 0.005 (a
    value rounded to 2 decimals).

    Bad: STARTDT 2024-01-08, ADT 2024-03-07, AVAL 59 (the +1 forgotten).
    Good: AVAL 60; in months 60 / 30.4375 = 1.97.
    """
    for name in _tte(ctx):
        frame = ctx.datasets[name]
        aval, adt, start = (_numbers(frame, c) for c in ("AVAL", "ADT", "STARTDT"))
        if aval is None or adt is None or start is None:
            continue
        unit = _tte_unit(ctx, name)
        per_day = unit.map(DAYS_PER_UNIT).to_numpy(dtype="float64", na_value=np.nan)
        expected = (adt - start + 1) / per_day
        in_days = (unit == "DAYS").to_numpy(dtype=bool)
        tolerance = np.where(in_days, 1e-9, ROUNDING_OTHER_UNITS)
        both = np.isfinite(aval) & np.isfinite(expected)
        with np.errstate(invalid="ignore"):
            wrong = both & (np.abs(aval - expected) > tolerance)
        message = "AVAL is not ADT - STARTDT + 1 (in the unit of the parameter)"
        yield from _number_findings(ctx, rule, name, "AVAL", wrong, aval, expected, message)


# ------------------------------------------------------------------------------------- traceability


def _source_dataset_known(ctx: ValidationContext, source: str) -> bool:
    """Whether the package holds the standard SRCDOM names: an ADaM name needs ADaM datasets loaded, an
    SDTM name SDTM datasets (validating an ADaM folder alone cannot resolve SDTM sources)."""
    return bool(ctx.adam_names()) if source.startswith("AD") else bool(ctx.sdtm_names())


def _with_source(ctx: ValidationContext, name: str) -> pd.Series | None:
    frame = ctx.datasets[name]
    if "SRCDOM" not in frame.columns:
        return None
    return ctx.text(name, "SRCDOM").str.upper().reset_index(drop=True)


@rule(
    "CDG1119",
    "SRCDOM is not a dataset of the package",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 3.3.9 (SRCDOM: the dataset the value was taken from)",
    partition=Partition.SUBJECT,
)
def check_srcdom(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """SRCDOM names a dataset submitted with the ADaM datasets (an SDTM domain or an ADaM dataset).
    Not examined for the SDTM sources when no SDTM dataset is validated with the ADaM ones.

    Bad: SRCDOM "LBX" (a typo), or "QS" when no QS was submitted.
    Good: SRCDOM "LB".
    """
    present = set(ctx.names())
    for name in ctx.adam_names():
        source = _with_source(ctx, name)
        if source is None:
            continue
        known = {s: _source_dataset_known(ctx, s) for s in source.dropna().unique()}
        checkable = compute_mapped(source, known).eq(True).to_numpy(dtype=bool)
        wrong = checkable & ~is_among(source, present)
        yield from ctx.findings_where(
            rule, name, wrong, "SRCDOM is not a submitted dataset", variable="SRCDOM"
        )


@rule(
    "CDG1120",
    "SRCVAR is not a variable of SRCDOM",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 3.3.9 (SRCVAR: the variable of SRCDOM the value was taken from)",
    partition=Partition.SUBJECT,
)
def check_srcvar(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """SRCVAR is a variable of the dataset SRCDOM names, and is null when SRCDOM is.

    Bad: SRCDOM "LB", SRCVAR "LBSTRESX"; or SRCVAR "LBSTRESN" with SRCDOM null.
    Good: SRCDOM "LB", SRCVAR "LBSTRESN".
    """
    for name in ctx.adam_names():
        source = _with_source(ctx, name)
        if source is None or "SRCVAR" not in ctx.datasets[name].columns:
            continue
        variable = ctx.text(name, "SRCVAR").str.upper().reset_index(drop=True)
        submitted = [s for s in source.dropna().unique() if s in ctx.datasets]
        owners = [s for s in submitted for _ in ctx.datasets[s].columns]
        pairs = pd.MultiIndex.from_arrays(
            [owners, [str(c) for s in submitted for c in ctx.datasets[s].columns]]
        )
        known = source.isin(submitted)
        has = pd.Series(pd.MultiIndex.from_arrays([source, variable]).isin(pairs))
        wrong = (known & variable.notna() & ~has) | (source.isna() & variable.notna())
        yield from ctx.findings_where(
            rule,
            name,
            wrong.to_numpy(dtype=bool),
            "SRCVAR is not a variable of the SRCDOM dataset",
            variable="SRCVAR",
        )


def _predecessor_seq(ctx: ValidationContext, source: str) -> str | None:
    """An ADaM dataset without ASEQ that carries its SDTM records' --SEQ (ADAE's AESEQ): the number a
    SRCSEQ pointing into it gives (the CDISC pilot's ADTTE: SRCSEQ = ADAE.AESEQ)."""
    if not ctx.is_adam(source):
        return None
    candidates = [
        c for c in ctx.datasets[source].columns if len(c) == 5 and c.endswith("SEQ") and c != "ASEQ"
    ]
    return candidates[0] if len(candidates) == 1 else None


def _points_at_no_record(
    ctx: ValidationContext, source: str, subjects: pd.Series, numbers: np.ndarray
) -> np.ndarray | None:
    """Per (subject, sequence number) pointing into `source`: no record of the subject there has it. A
    dataset without --SEQ/ASEQ (ADSL) has no record to point at; None when its sequence numbers are not
    numbers (CDG0106 reports that)."""
    frame = ctx.datasets[source]
    seq = ctx.seq_column(source) or _predecessor_seq(ctx, source)
    if seq is None or "USUBJID" not in frame.columns:
        return np.ones(len(numbers), dtype=bool)
    own = _numbers(frame, seq)
    if own is None:
        return None
    return compute_pair_rows(subjects, numbers, ctx.text(source, "USUBJID").fillna(""), own) < 0


@rule(
    "CDG1121",
    "SRCSEQ points at no record of SRCDOM",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 3.3.9 (SRCSEQ: the --SEQ of the SRCDOM record the value came from)",
    partition=Partition.SUBJECT,
)
def check_srcseq(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """SRCSEQ is the --SEQ (ASEQ for an ADaM source, or the --SEQ it carries when it has no ASEQ) of a
    record of the same subject in SRCDOM; a dataset without a sequence variable (ADSL) takes no SRCSEQ,
    and SRCSEQ needs SRCDOM.

    Bad: SRCDOM "LB", SRCSEQ 999 and the subject has no LBSEQ 999.
    Good: SRCSEQ 14, the LBSEQ of the record the result was taken from.
    """
    for name in ctx.adam_names():
        frame = ctx.datasets[name]
        source = _with_source(ctx, name)
        seq = _numbers(frame, "SRCSEQ")
        if source is None or seq is None or "USUBJID" not in frame.columns:
            continue
        subjects = ctx.text(name, "USUBJID").fillna("").reset_index(drop=True)
        pointing = np.isfinite(seq)
        wrong = pointing & source.isna().to_numpy(dtype=bool)
        for src in source.dropna().unique():
            rows = pointing & (source == src).to_numpy(dtype=bool)
            if src not in ctx.datasets or not rows.any():
                continue
            missing = _points_at_no_record(ctx, src, subjects[rows], seq[rows])
            if missing is not None:
                wrong[np.flatnonzero(rows)[missing]] = True
        yield from ctx.findings_where(
            rule,
            name,
            wrong,
            "SRCSEQ is not the sequence number of a record of this subject in SRCDOM",
            variable="SRCSEQ",
            value=_texts_where(seq, wrong),
        )


# ---------------------------------------------------------------------------------- imputation flags


def _flag_pairs(frame: pd.DataFrame) -> list[tuple[str, str, frozenset[str]]]:
    """(flag, its date or time variable, allowed values) for every *DTF/*TMF column with its partner."""
    pairs = []
    for column in map(str, frame.columns):
        for suffix, allowed in _DATE_FLAGS.items():
            root = column[: -len(suffix)]
            if column.endswith(suffix) and root:
                partner = next((root + e for e in ("DT", "DTM", "TM") if root + e in frame.columns), None)
                if partner is not None:
                    pairs.append((column, partner, allowed))
    return pairs


@rule(
    "CDG1122",
    "Imputation flag without its date or time",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 3.1.3 (*DTF/*TMF: level of imputation of the date/time it accompanies)",
    partition=Partition.SUBJECT,
)
def check_flag_without_date(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """A date imputation flag (*DTF) or time imputation flag (*TMF) is null where its date, datetime or
    time (*DT, *DTM, *TM of the same root) is null: nothing was imputed.

    Bad: ADTF "D" and ADT null.
    Good: ADTF "D" and ADT 2024-03-01 imputed from "2024-03".
    """
    for name in ctx.adam_names():
        frame = ctx.datasets[name]
        for flag, partner, _ in _flag_pairs(frame):
            missing = frame[partner].isna().to_numpy(dtype=bool)
            yield from ctx.findings_where(
                rule,
                name,
                ctx.text(name, flag).notna().to_numpy(dtype=bool) & missing,
                f"{flag} is populated but {partner} is null",
                variable=flag,
            )


@rule(
    "CDG1123",
    "Imputation flag value not in DATEFL/TIMEFL",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 3.1.3; CDISC CT DATEFL (C81223: D, M, Y), TIMEFL (C81226: H, M, S)",
    published=("AD0039",),
    partition=Partition.SUBJECT,
)
def check_flag_values(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """A *DTF holds D, M or Y (day, month, year imputed); a *TMF holds H, M or S.

    Bad: ADTF "DAY" or "Y " with an imputed day.
    Good: ADTF "D".
    """
    for name in ctx.adam_names():
        frame = ctx.datasets[name]
        for flag, _, allowed in _flag_pairs(frame):
            values = ctx.text(name, flag)
            yield from ctx.findings_where(
                rule,
                name,
                (values.notna() & ~values.isin(allowed)).fillna(False).to_numpy(dtype=bool),
                f"{flag} is not one of {', '.join(sorted(allowed))}",
                variable=flag,
                expected=", ".join(sorted(allowed)),
            )


def _source_dates(ctx: ValidationContext, name: str, sdtm_suffix: str) -> pd.Series | None:
    """Per record the SDTM date/time (--DTC, --STDTC or --ENDTC) the analysis date was taken from: a column
    of the record itself (an OCCDS dataset keeps AESTDTC), else the SRCDOM/SRCSEQ record's."""
    frame = ctx.datasets[name]
    own = [c for c in map(str, frame.columns) if c.endswith(sdtm_suffix) and len(c) == 2 + len(sdtm_suffix)]
    if len(own) == 1:
        return ctx.text(name, own[0]).reset_index(drop=True)
    source = _with_source(ctx, name)
    seq = _numbers(frame, "SRCSEQ")
    if source is None or seq is None or "USUBJID" not in frame.columns:
        return None
    out = pa.nulls(len(frame), pa.large_string())
    subjects = ctx.text(name, "USUBJID").reset_index(drop=True)
    for src in source.dropna().unique():
        if src not in ctx.datasets or ctx.is_adam(src):
            continue
        seq_col = ctx.seq_column(src)
        column = f"{ctx.prefix(src)}{sdtm_suffix}"
        numbers = None if seq_col is None else _numbers(ctx.datasets[src], seq_col)
        if numbers is None or column not in ctx.datasets[src].columns:
            continue
        rows = (source == src).to_numpy(dtype=bool)
        at = compute_pair_rows(subjects[rows], seq[rows], ctx.text(src, "USUBJID"), numbers)
        taken = pa.array(ctx.text(src, column).array.take(at, allow_fill=True), type=pa.large_string())
        out = pc.replace_with_mask(out, pa.array(rows), taken)
    return pd.Series(pd.array(out, dtype="str"), copy=False)


def _partial(dates: pd.Series) -> np.ndarray:
    """Where an ISO 8601 date/time (CDG0301 reports the others) has less than a full date (YYYY-MM-DD)."""
    (partial,) = on_distinct(dates, _partial_distinct)
    return partial  # type: ignore[return-value]


def _partial_distinct(dates: pd.Series) -> tuple[np.ndarray]:
    not_iso, _ = check_iso8601(dates)
    full = dates.str.match(r"\d{4}-\d{2}-\d{2}").fillna(False).to_numpy(dtype=bool)
    return (dates.notna().to_numpy(dtype=bool) & ~not_iso & ~full,)


@rule(
    "CDG1124",
    "Date imputed from a partial date without its imputation flag",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 3.1.3 (an imputed *DT has its *DTF populated)",
    partition=Partition.SUBJECT,
)
def check_imputed_without_flag(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """ADT, ASTDT or AENDT taken from a partial SDTM date (--DTC, --STDTC, --ENDTC of the record or of its
    SRCDOM/SRCSEQ record) was imputed, so its flag (ADTF, ASTDTF, AENDTF) is populated.

    Bad: AESTDTC "2024-03", ASTDT 2024-03-01, ASTDTF null.
    Good: ASTDTF "D".
    """
    for name in ctx.adam_names():
        frame = ctx.datasets[name]
        for date, suffix in DATE_SOURCES:
            flag = date + "F"
            if date not in frame.columns:
                continue
            sources = _source_dates(ctx, name, suffix)
            if sources is None:
                continue
            flags = (
                ctx.text(name, flag).reset_index(drop=True)
                if flag in frame.columns
                else pd.Series(pd.NA, index=range(len(frame)), dtype="string")
            )
            wrong = _partial(sources) & frame[date].notna().to_numpy(dtype=bool) & flags.isna().to_numpy()
            yield from ctx.findings_where(
                rule,
                name,
                wrong,
                f"{date} is taken from a partial date and {flag} is null",
                variable=flag if flag in frame.columns else date,
                value=sources,  # findings_where reads only the rows it lists
            )


@rule(
    "CDG1125",
    "More than one record per analysis window flagged for analysis",
    severity=Severity.WARNING,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 3.3.8 (ANLzzFL: the record used for the analysis of a timepoint)",
    partition=Partition.SUBJECT,
)
def check_one_analysis_record(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Within a subject, parameter and analysis timepoint (BASETYPE, AVISITN/AVISIT, ATPTN/ATPT and DTYPE,
    those present) at most one record has ANLzzFL = "Y": the flag picks the value analysed there.

    Bad: two week 4 KAPPA records of a subject (an unscheduled repeat and the scheduled one) with ANL01FL "Y".
    Good: ANL01FL "Y" on the one chosen by the windowing rule.
    """
    for name in _bds(ctx):
        frame = ctx.datasets[name]
        keys = [k for k in WINDOW_KEYS if k in frame.columns]
        if "USUBJID" not in keys or not ({"AVISITN", "AVISIT"} & set(keys)):
            continue
        for flag in (c for c in map(str, frame.columns) if re.fullmatch(r"ANL\d\dFL", c)):
            yield from ctx.findings_where(
                rule,
                name,
                flagged_twice(ctx, name, flag, keys),
                f"another record of this analysis timepoint has {flag} = Y",
                variable=flag,
            )


@rule(
    "CDG1126",
    "ADSL variable differs from ADSL",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 3.2 (ADSL variables copied into another dataset keep ADSL's values)",
    partition=Partition.SUBJECT,
)
def check_adsl_copies(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """A variable another ADaM dataset shares by name with ADSL holds the subject's ADSL value.

    Bad: ADLB TRTSDT 2024-01-09 where ADSL TRTSDT is 2024-01-08; ADAE SAFFL "N" for a SAFFL "Y" subject.
    Good: the ADSL values, copied.
    """
    adsl = ctx.datasets.get("ADSL")
    if adsl is None or "USUBJID" not in adsl.columns:
        return
    subjects = ctx.text("ADSL", "USUBJID")
    once = subjects.where(~subjects.duplicated(keep=False))  # a subject on two ADSL rows has no ADSL value
    for name in ctx.adam_names():
        frame = ctx.datasets[name]
        if name == "ADSL" or "USUBJID" not in frame.columns:
            continue
        shared = [c for c in frame.columns if c in adsl.columns and c not in NOT_COPIED]
        records = ctx.text(name, "USUBJID")
        # the record's ADSL row, found once for every shared variable; -1 where ADSL has no such subject
        rows = compute_positions_among(records, once)
        known = rows >= 0
        for column in shared:
            expected = pd.Series(
                ctx.text("ADSL", column).array.take(rows, allow_fill=True), index=records.index
            )
            mine = ctx.text(name, column)
            # blank text is missing here (ctx.text): two missing values agree, as a transport file cannot
            # tell a blank from a missing value
            same = (mine == expected).to_numpy(dtype=bool, na_value=False) | (
                mine.isna() & expected.isna()
            ).to_numpy()
            wrong = known & ~same
            yield from ctx.findings_where(
                rule,
                name,
                wrong,
                f"{column} differs from the subject's ADSL.{column}",
                variable=column,
                expected=expected,  # findings_where reads only the rows it lists
            )
