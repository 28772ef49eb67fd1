"""SDTM rules: dates, sequence numbers, study days, subjects, reference dates, flags, CT, TS and SUPP--."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from cdiscgen._arrowtext import is_among
from cdiscgen._distinct import compute_mapped
from cdiscgen._exposure import compute_exposure_mask
from cdiscgen._findings import Finding, Severity
from cdiscgen.validate._context import ValidationContext
from cdiscgen.validate._dates import check_iso8601, compare_iso8601, compute_days
from cdiscgen.validate._registry import Partition, Rule, Scope, rule

# ------------------------------------------------------------------------------------------- dates


def _dtc_columns(ctx: ValidationContext, name: str) -> list[str]:
    frame = ctx.datasets[name]
    return [c for c in frame.columns if str(c).endswith("DTC") and not is_numeric_dtype(frame[c])]


def _iso(ctx: ValidationContext, name: str, col: str) -> tuple[np.ndarray, np.ndarray]:
    """check_iso8601 of a column, computed once per run (CDG0301 and CDG0302 both need it)."""
    return ctx.of_dataset("iso8601", name, lambda frame: check_iso8601(frame[col]), col)


@rule(
    "CDG0301",
    "Date/time not in ISO 8601 format",
    severity=Severity.ERROR,
    scope=Scope.ANY,
    reference="SDTMIG 3.4 sections 4.4.1-4.4.4 (ISO 8601, partial dates); Pinnacle 21 SD0003",
    partition=Partition.SUBJECT,
)
def check_iso8601_shape(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Every --DTC value is an ISO 8601 date/time: right-truncated for partial dates (2024-03) or
    with a hyphen for a missing middle component (2024---15); no trailing placeholder, no other layout.

    Bad: LBDTC "2024-3-5", "05MAR2024", "2024-03-" or "2024-03-05T".
    Good: LBDTC "2024-03-05", "2024-03" or "2024-03-05T09:30".
    """
    for name in ctx.names():
        for col in _dtc_columns(ctx, name):
            bad, _ = _iso(ctx, name, col)
            yield from ctx.findings_where(
                rule, name, bad, f"{col} is not an ISO 8601 date/time", variable=col
            )


@rule(
    "CDG0302",
    "Impossible date/time",
    severity=Severity.ERROR,
    scope=Scope.ANY,
    reference="SDTMIG 3.4 section 4.4.2; ISO 8601 calendar; Pinnacle 21 SD0003",
    partition=Partition.SUBJECT,
)
def check_iso8601_calendar(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """An ISO 8601 value names a real calendar moment: month 01-12, a day that exists in that month
    (leap years counted), hour 00-23, minute and second 00-59.

    Bad: EXSTDTC "2024-02-30" or "2023-02-29" or "2024-03-05T25:00".
    Good: EXSTDTC "2024-02-29".
    """
    for name in ctx.names():
        for col in _dtc_columns(ctx, name):
            _, impossible = _iso(ctx, name, col)
            yield from ctx.findings_where(
                rule, name, impossible, f"{col} is not a possible date/time", variable=col
            )


def _end_start_pairs(ctx: ValidationContext, name: str) -> list[tuple[str, str]]:
    cols = set(ctx.datasets[name].columns)
    pairs = []
    for col in sorted(cols):
        if str(col).endswith("ENDTC"):
            stem = str(col)[:-5]
            for start in (f"{stem}STDTC", f"{stem}DTC"):
                if start in cols:
                    pairs.append((start, col))
                    break
    return pairs


@rule(
    "CDG0303",
    "End date/time before start date/time",
    severity=Severity.ERROR,
    scope=Scope.SDTM,
    reference="SDTMIG 3.4 section 4.4.3; Pinnacle 21 SD0012-like (--STDTC after --ENDTC)",
    published=(
        "CORE-000718",
        "FB3209",
        "CORE-000866",
        "FB3210",
        "CORE-000711",
        "FB3404",
        "CORE-000714",
        "FB3408",
    ),
    partition=Partition.SUBJECT,
)
def check_end_after_start(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """--ENDTC is not before --STDTC (Findings: --DTC, the start of the collection), compared at the
    precision both values have (2024-03 vs 2024-03-10 compares only year and month). DM's reference
    periods too: RFENDTC not before RFSTDTC, RFXENDTC not before RFXSTDTC.

    Bad: EXSTDTC "2024-03-10", EXENDTC "2024-03-09".
    Good: EXSTDTC "2024-03-10", EXENDTC "2024-03-10" or "2024-03".
    """
    for name in ctx.sdtm_names():
        frame = ctx.datasets[name]
        for start, end in _end_start_pairs(ctx, name):
            cmp = compare_iso8601(frame[end], frame[start])
            yield from ctx.findings_where(
                rule,
                name,
                cmp < 0,
                f"{end} is before {start}",
                variable=end,
                expected=">= " + ctx.text(name, start),
            )


def _rfstdtc_days(ctx: ValidationContext, reference: str = "RFSTDTC") -> pd.Series | None:
    if "DM" not in ctx.datasets or reference not in ctx.datasets["DM"].columns or ctx.dm_subjects is None:
        return None
    days = pd.Series(compute_days(ctx.datasets["DM"][reference]), index=ctx.dm_subjects.to_numpy())
    days = days[days.index.notna()]
    return days[~days.index.duplicated()]


@rule(
    "CDG0304",
    "Study day inconsistent with RFSTDTC",
    severity=Severity.ERROR,
    scope=Scope.SDTM,
    reference="SDTMIG 3.4 section 4.4.4 (study day, no day 0); Pinnacle 21 SD1089-like",
    published=("CORE-000529", "CG0006", "FB1603", "CORE-000552", "CG0220", "CORE-000553", "CG0222"),
    partition=Partition.SUBJECT,
)
def check_study_day(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """--DY, --STDY and --ENDY equal the day of --DTC/--STDTC/--ENDTC counted from DM.RFSTDTC (or the
    reference date study.yaml's subjects.study_day_from names): date - RFSTDTC + 1 on or after RFSTDTC,
    date - RFSTDTC before it; there is no day 0. Checked where both dates are complete.

    Bad: RFSTDTC 2024-01-08, LBDTC 2024-01-07, LBDY 0; or LBDTC 2024-01-10, LBDY 2.
    Good: LBDTC 2024-01-07 -> LBDY -1; LBDTC 2024-01-10 -> LBDY 3.
    """
    reference = ctx.study.study_day_reference if ctx.study is not None else "RFSTDTC"
    rf = _rfstdtc_days(ctx, reference)
    if rf is None:
        return
    for name in ctx.sdtm_names():
        frame = ctx.datasets[name]
        if "USUBJID" not in frame.columns or ctx.is_supp(name):
            continue
        p = ctx.prefix(name)
        ref = compute_mapped(ctx.text(name, "USUBJID"), rf).to_numpy(dtype="float64", na_value=np.nan)
        for dy, dtc in ((f"{p}DY", f"{p}DTC"), (f"{p}STDY", f"{p}STDTC"), (f"{p}ENDY", f"{p}ENDTC")):
            if dy not in frame.columns or dtc not in frame.columns or not is_numeric_dtype(frame[dy]):
                continue
            days = compute_days(frame[dtc])
            delta = days - ref
            expected = np.where(delta >= 0, delta + 1, delta)
            actual = frame[dy].to_numpy(dtype="float64", na_value=np.nan)
            known = ~np.isnan(expected) & ~np.isnan(actual)
            bad = known & (actual != expected)
            yield from ctx.findings_where(
                rule,
                name,
                bad,
                f"{dy} does not match {dtc} and DM.{reference}",
                variable=dy,
                value=actual,
                expected=expected,
            )


# ------------------------------------------------------------------------------------ keys & subjects


@rule(
    "CDG0401",
    "--SEQ not unique within a subject",
    severity=Severity.ERROR,
    scope=Scope.ANY,
    reference="SDTMIG 3.4 section 4.1.9 (--SEQ unique per subject within a domain); ADaMIG 1.3 ASEQ",
    partition=Partition.SUBJECT,
)
def check_seq_unique(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """--SEQ (ADaM: ASEQ) identifies one record per USUBJID within a dataset.

    Bad: two LB records of subject 001 with LBSEQ 3.
    Good: LBSEQ 1, 2, 3, ... within each subject.
    """
    for name in ctx.names():
        seq = ctx.seq_column(name)
        frame = ctx.datasets[name]
        if seq is None or "USUBJID" not in frame.columns:
            continue
        keys = pd.DataFrame({"u": ctx.text(name, "USUBJID"), "s": frame[seq]})
        dup = keys.duplicated(keep=False).to_numpy() & keys["s"].notna().to_numpy()
        yield from ctx.findings_where(
            rule, name, dup, f"{seq} is used more than once for this subject", variable=seq
        )


@rule(
    "CDG0403",
    "--SEQ repeated across the split datasets of a domain",
    severity=Severity.ERROR,
    scope=Scope.SDTM,
    reference="SDTMIG 3.4 section 4.1.7 (split domains: --SEQ unique within USUBJID across all the datasets "
    "of the domain)",
    partition=Partition.SUBJECT,
)
def check_seq_across_splits(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """A domain split into several datasets (QSPH and QSSL hold DOMAIN QS) numbers its records as one
    domain: --SEQ identifies one record of a subject across all of them, so that RELREC and SUPP-- can
    point at it.

    Bad: QSPH and QSSL both holding QSSEQ 1 for subject 001.
    Good: QSSEQ 1-20 in QSPH, 21-35 in QSSL.
    """
    by_domain: dict[str, list[str]] = {}
    for name in ctx.sdtm_names():
        if ctx.is_supp(name) or ctx.seq_column(name) is None or "USUBJID" not in ctx.datasets[name].columns:
            continue
        by_domain.setdefault(ctx.prefix(name), []).append(name)
    for domain, names in sorted(by_domain.items()):
        if len(names) < 2:
            continue
        keys = pd.concat(
            [
                pd.DataFrame({"u": ctx.text(n, "USUBJID"), "s": ctx.text(n, ctx.seq_column(n) or ""), "d": n})
                for n in names
            ],
            ignore_index=True,
        )
        # a (subject, --SEQ) held by more than one of the datasets
        shared = (
            keys.dropna()
            .groupby(["u", "s"])["d"]
            .transform("nunique")
            .gt(1)
            .reindex(keys.index, fill_value=False)
        )
        start = 0
        for n in names:
            stop = start + len(ctx.datasets[n])
            mask = shared.iloc[start:stop].to_numpy(dtype=bool)
            start = stop
            others = ", ".join(x for x in names if x != n)
            yield from ctx.findings_where(
                rule,
                n,
                mask,
                f"{ctx.seq_column(n)} of this subject is also used in another dataset of {domain} ({others})",
                variable=ctx.seq_column(n),
            )


@rule(
    "CDG0402",
    "Duplicate record on the dataset keys",
    severity=Severity.WARNING,
    scope=Scope.ANY,
    reference="SDTMIG 3.4 section 3.2.1.1 (natural keys); Define-XML 2.1 KeySequence",
    partition=Partition.SUBJECT,
)
def check_natural_keys(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """The key variables of the dataset spec identify each record.

    Bad: two LB records with the same USUBJID, LBTESTCD, LBSPEC, LBMETHOD, VISITNUM and LBDTC.
    Good: a repeated test on the same date distinguished by an unscheduled VISITNUM.
    """
    for name in ctx.names():
        spec = ctx.spec(name)
        frame = ctx.datasets[name]
        if spec is None or not spec.keys or not all(k in frame.columns for k in spec.keys):
            continue
        if name in ctx.ranged and "USUBJID" not in spec.keys:
            raise ValueError(
                f"the keys of {name} ({', '.join(spec.keys)}) lack USUBJID: records of different subjects "
                "cannot be compared one subject partition at a time"
            )
        dup = ctx.duplicated(name, spec.keys)
        value = pd.Series(pd.NA, index=ctx.datasets[name].index, dtype="str")
        if dup.any():
            keys = pd.DataFrame({k: ctx.text(name, k)[dup] for k in spec.keys})
            value[dup] = keys.fillna("").agg("|".join, axis=1)
        yield from ctx.findings_where(
            rule, name, dup, f"another record has the same keys ({', '.join(spec.keys)})", value=value
        )


@rule(
    "CDG0501",
    "Subject not in DM",
    severity=Severity.ERROR,
    scope=Scope.ANY,
    reference="SDTMIG 3.4 section 5.2 (DM: one record per subject); Pinnacle 21 SD0085-like",
    published=("CORE-000201", "CG0029", "AD0053"),
    partition=Partition.SUBJECT,
)
def check_subjects_in_dm(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Every USUBJID of every dataset (SDTM and ADaM) has a record in DM.

    Bad: LB holds USUBJID DARPAL-01-099 and DM does not.
    Good: DM holds every subject that has data.
    """
    subjects = ctx.dm_subjects
    if subjects is None:
        return
    for name in ctx.names():
        if name == "DM" or "USUBJID" not in ctx.datasets[name].columns:
            continue
        u = ctx.text(name, "USUBJID")
        bad = u.notna().to_numpy() & ~is_among(u, subjects)
        yield from ctx.findings_where(rule, name, bad, "USUBJID is not in DM", variable="USUBJID")


@rule(
    "CDG0502",
    "DM has more than one record per subject",
    severity=Severity.ERROR,
    scope=Scope.SDTM,
    reference="SDTMIG 3.4 section 5.2 (DM structure: one record per subject)",
    published=("CORE-000351", "CG0151"),
    partition=Partition.SUBJECT,
)
def check_dm_unique(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """USUBJID is unique in DM.

    Bad: two DM records for DARPAL-01-001.
    Good: one DM record per subject.
    """
    if ctx.dm_subjects is None:
        return
    u = ctx.dm_subjects
    yield from ctx.findings_where(
        rule,
        "DM",
        (u.notna() & u.duplicated(keep=False)).to_numpy(),
        "USUBJID appears more than once in DM",
        variable="USUBJID",
    )


def _dm_column_by_subject(ctx: ValidationContext, column: str) -> pd.Series:
    values = ctx.text("DM", column)
    out = pd.Series(values.to_numpy(), index=ctx.dm_subjects.to_numpy(), dtype="str")  # type: ignore[union-attr]
    return out[~out.index.duplicated() & out.index.notna()]


def _ex_reference(
    ctx: ValidationContext, rule: Rule, dm_var: str, per_subject: pd.Series, what: str
) -> Iterator[Finding]:
    dm = ctx.datasets["DM"]
    if dm_var not in dm.columns:
        return
    subjects = ctx.dm_subjects
    derived = subjects.map(per_subject)  # type: ignore[union-attr]
    actual = ctx.text("DM", dm_var)
    cmp = compare_iso8601(actual, derived)
    differ = (cmp != 0) & ~np.isnan(cmp)
    one_missing = actual.isna().to_numpy() != derived.isna().to_numpy()
    yield from ctx.findings_where(
        rule,
        "DM",
        differ | one_missing,
        f"{dm_var} is not the {what} in EX",
        variable=dm_var,
        expected=derived,
    )


def _exposed(ctx: ValidationContext) -> np.ndarray:
    """EX rows that are exposure, by the one rule the SDTM stage uses (cdiscgen._exposure): the study's
    `reference_dates.exposure`, else every row except a 0 dose of a treatment that is not a placebo."""
    ex = ctx.datasets["EX"]
    return compute_exposure_mask(ex, ctx.study.settings if ctx.study is not None else None)


@rule(
    "CDG0503",
    "RFXSTDTC is not the first exposure in EX",
    severity=Severity.ERROR,
    scope=Scope.SDTM,
    reference="SDTMIG 3.4 section 5.2 (RFXSTDTC: date/time of first study treatment); Pinnacle 21 SD1259-like",
    published=("CORE-000239", "CG0148"),
    partition=Partition.SUBJECT,
)
def check_rfxstdtc(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """DM.RFXSTDTC equals the earliest EXSTDTC of the subject (at the precision both have); a subject
    without EX records has no RFXSTDTC. A 0 mg record of an active treatment (a dose withheld, an
    interruption) is not exposure and does not count; placebo (EXDOSE 0) does.

    Bad: RFXSTDTC 2024-01-09 when the first EXSTDTC is 2024-01-08.
    Good: RFXSTDTC 2024-01-08.
    """
    if ctx.dm_subjects is None or "EX" not in ctx.datasets or "EXSTDTC" not in ctx.datasets["EX"].columns:
        return
    given = _exposed(ctx)
    start = ctx.text("EX", "EXSTDTC")[given]
    first = start.groupby(ctx.text("EX", "USUBJID")[given]).min()
    yield from _ex_reference(ctx, rule, "RFXSTDTC", first, "earliest EXSTDTC")


@rule(
    "CDG0504",
    "RFXENDTC is not the last exposure in EX",
    severity=Severity.ERROR,
    scope=Scope.SDTM,
    reference="SDTMIG 3.4 section 5.2 (RFXENDTC: date/time of last study treatment); Pinnacle 21 SD1260-like",
    published=("CORE-000238", "CG0147"),
    partition=Partition.SUBJECT,
)
def check_rfxendtc(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """DM.RFXENDTC equals the latest EXENDTC (EXSTDTC where EXENDTC is null) of the subject. A 0 mg record
    of an active treatment (a dose withheld, an interruption) is not exposure and does not count; placebo
    (EXDOSE 0) does.

    Bad: RFXENDTC 2024-05-01 when the last exposure ends 2024-06-20.
    Good: RFXENDTC 2024-06-20, also when a 0 mg interruption record runs on to 2024-06-27.
    """
    if ctx.dm_subjects is None or "EX" not in ctx.datasets or "EXSTDTC" not in ctx.datasets["EX"].columns:
        return
    given = _exposed(ctx)
    end = ctx.text("EX", "EXSTDTC")
    if "EXENDTC" in ctx.datasets["EX"].columns:
        end = ctx.text("EX", "EXENDTC").fillna(end)
    last = end[given].groupby(ctx.text("EX", "USUBJID")[given]).max()
    yield from _ex_reference(ctx, rule, "RFXENDTC", last, "latest EXENDTC")


def _value_counts(ctx: ValidationContext, name: str, column: str) -> pd.Series:
    return ctx.text(name, column).value_counts()


def _summed(parts: list[pd.Series]) -> pd.Series:
    return pd.concat(parts).groupby(level=0).sum()


@rule(
    "CDG0505",
    "STUDYID differs from the study",
    severity=Severity.ERROR,
    scope=Scope.ANY,
    reference="SDTMIG 3.4 section 4.1.2 (STUDYID identical across a study); ADaMIG 1.3 section 3.2",
    published=("CORE-000172", "CG0409"),
    partition=Partition.SUMMARISED,
)
def check_studyid(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Every record carries the study's STUDYID (the study config's, else the one DM uses most).

    Bad: LB with STUDYID "DARPAL01" in a study DARPAL.
    Good: STUDYID "DARPAL" everywhere.
    """
    if ctx.study is not None:
        expected = ctx.study.studyid
    elif "DM" in ctx.datasets and "STUDYID" in ctx.datasets["DM"].columns:
        counts = ctx.across(rule, "DM", ("studyids",), partial(_value_counts, ctx, "DM", "STUDYID"), _summed)
        if counts.empty:
            return
        expected = sorted(counts[counts == counts.max()].index)[0]
    else:
        return
    for name in ctx.names():
        if "STUDYID" not in ctx.datasets[name].columns:
            continue
        s = ctx.text(name, "STUDYID")
        yield from ctx.findings_where(
            rule,
            name,
            (s.notna() & (s != expected)).to_numpy(),
            "STUDYID differs from the study",
            variable="STUDYID",
            expected=expected,
        )


@rule(
    "CDG0506",
    "DOMAIN does not match the dataset",
    severity=Severity.ERROR,
    scope=Scope.SDTM,
    reference="SDTMIG 3.4 sections 4.1.2 and 4.1.7 (DOMAIN; split datasets keep the 2-letter DOMAIN)",
    published=("CORE-000598", "CG0413"),
    partition=Partition.SUBJECT,
)
def check_domain_value(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """DOMAIN holds the 2-letter domain code the dataset name starts with (QSPH -> QS).

    Bad: DOMAIN "LAB" in lb.xpt, or "QSPH" in the split dataset qsph.xpt.
    Good: DOMAIN "LB"; DOMAIN "QS" in qsph.xpt.
    """
    for name in ctx.sdtm_names():
        if "DOMAIN" not in ctx.datasets[name].columns:
            continue
        d = ctx.text(name, "DOMAIN")
        ok = d.isna() | ((d.str.len() == 2) & (d == name[:2])).fillna(False)
        yield from ctx.findings_where(
            rule,
            name,
            ~ok.to_numpy(dtype=bool),
            "DOMAIN does not match the dataset",
            variable="DOMAIN",
            expected=name[:2],
        )


@rule(
    "CDG0507",
    "Death flag and death date disagree",
    severity=Severity.ERROR,
    scope=Scope.SDTM,
    reference="SDTMIG 3.4 section 5.2 (DTHFL: Y when DTHDTC is populated); Pinnacle 21 SD1200-like",
    published=("CORE-000007", "CG0435", "FB0606"),
    partition=Partition.SUBJECT,
)
def check_death_flag(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """DM.DTHFL is "Y" when DTHDTC is populated, and DTHDTC is populated when DTHFL is "Y".

    Bad: DTHDTC 2024-09-01 and DTHFL null.
    Good: DTHDTC 2024-09-01 and DTHFL "Y".
    """
    if "DM" not in ctx.datasets or not {"DTHFL", "DTHDTC"} <= set(ctx.datasets["DM"].columns):
        return
    fl, dtc = ctx.text("DM", "DTHFL"), ctx.text("DM", "DTHDTC")
    flagged = (fl == "Y").fillna(False).to_numpy(dtype=bool)
    dated = dtc.notna().to_numpy()
    yield from ctx.findings_where(
        rule, "DM", dated & ~flagged, "DTHDTC is populated but DTHFL is not Y", variable="DTHFL", expected="Y"
    )
    yield from ctx.findings_where(
        rule, "DM", flagged & ~dated, "DTHFL is Y but DTHDTC is null", variable="DTHDTC"
    )


@rule(
    "CDG0508",
    "Arm null reason inconsistent with arm",
    severity=Severity.ERROR,
    scope=Scope.SDTM,
    reference="SDTMIG 3.4 section 5.2 DM assumption 4a (ARMNRS when ARMCD and/or ACTARMCD is null)",
    published=(
        "CORE-000045",
        "CG0517",
        "CORE-000046",
        "CG0519",
        "CORE-000121",
        "CG0520",
        "CORE-000223",
        "CG0513",
        "CORE-000224",
        "CG0515",
        "CORE-000119",
        "CG0521",
        "CORE-000120",
        "CG0522",
    ),
    partition=Partition.SUBJECT,
)
def check_arm_null_reason(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """SDTMIG's rules for the arm variables: a null ARMCD has a null ARM and a reason in ARMNRS; so has a
    null ACTARMCD (ACTARM null); when ARMCD and ACTARMCD are both populated ARMNRS is null; a subject never
    assigned (SCREEN FAILURE, NOT ASSIGNED) has all four null; ASSIGNED, NOT TREATED keeps its planned arm.

    Bad: a screen failure with ARMNRS "SCREEN FAILURE" and ARMCD "DARAPOM"; ARMNRS "ASSIGNED, NOT TREATED"
    with ACTARMCD "DARAPOM".
    Good: ARMNRS "SCREEN FAILURE" and the four null; ARMNRS "ASSIGNED, NOT TREATED" with ARMCD "DARAPOM"
    and ACTARMCD null.
    """
    if "DM" not in ctx.datasets or "ARMNRS" not in ctx.datasets["DM"].columns:
        return
    columns = ctx.datasets["DM"].columns
    null = {
        c: ctx.text("DM", c).isna().to_numpy() for c in ("ARMCD", "ARM", "ACTARMCD", "ACTARM") if c in columns
    }
    reason = ctx.text("DM", "ARMNRS").fillna("").str.upper().to_numpy()
    given = reason != ""
    never_assigned = np.isin(reason, ["SCREEN FAILURE", "NOT ASSIGNED"])
    for code, label in (("ARMCD", "ARM"), ("ACTARMCD", "ACTARM")):
        if code not in null:
            continue
        yield from ctx.findings_where(
            rule, "DM", null[code] & ~given, f"{code} is null and ARMNRS gives no reason", variable="ARMNRS"
        )
        if label in null:
            yield from ctx.findings_where(
                rule, "DM", null[code] & ~null[label], f"{code} is null but {label} is not", variable=label
            )
    if "ARMCD" in null and "ACTARMCD" in null:
        both = ~null["ARMCD"] & ~null["ACTARMCD"]
        yield from ctx.findings_where(
            rule,
            "DM",
            both & given,
            "ARMCD and ACTARMCD are populated, so ARMNRS must be null",
            variable="ARMNRS",
        )
    said = ctx.text("DM", "ARMNRS").fillna("")
    for col, is_null in null.items():
        yield from ctx.findings_where(
            rule,
            "DM",
            never_assigned & ~is_null,
            said.map(lambda r, c=col: f"ARMNRS {r!r} says no arm was assigned, but {c} is populated"),
            variable=col,
        )


# ------------------------------------------------------------------------------------ findings class


def _group_columns(ctx: ValidationContext, name: str, p: str, parts: tuple[str, ...]) -> list[str]:
    cols = ctx.datasets[name].columns
    return [f"{p}{x}" for x in parts if f"{p}{x}" in cols]


@rule(
    "CDG0601",
    "More than one last-observation-before-exposure flag",
    severity=Severity.ERROR,
    scope=Scope.SDTM,
    reference="SDTMIG 3.4 section 4.5.9 (--LOBXFL); FDA business rule FB1301-like",
    partition=Partition.SUBJECT,
)
def check_lobxfl_unique(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """At most one record per subject and test has --LOBXFL = "Y": per --TESTCD and the qualifiers that
    tell results of one test apart (category, specimen, method, position, location, laterality, planned
    time point; SDTMIG 3.4 section 4.5.9).

    Bad: two serum KLCFR records of one subject with LBLOBXFL "Y".
    Good: only the last pre-dose KLCFR record has LBLOBXFL "Y".
    """
    for name in ctx.sdtm_names():
        p = ctx.prefix(name)
        flag = f"{p}LOBXFL"
        frame = ctx.datasets[name]
        if flag not in frame.columns or f"{p}TESTCD" not in frame.columns or "USUBJID" not in frame.columns:
            continue
        parts = ("TESTCD", "CAT", "SCAT", "SPEC", "METHOD", "POS", "LOC", "LAT", "DIR", "TPTNUM", "TPT")
        keys = ["USUBJID", *_group_columns(ctx, name, p, parts)]
        yes = (ctx.text(name, flag) == "Y").fillna(False).to_numpy(dtype=bool)
        table = pd.DataFrame({k: ctx.text(name, k) for k in keys})
        dup = np.zeros(len(frame), dtype=bool)
        dup[yes] = table[yes].duplicated(keep=False).to_numpy()
        yield from ctx.findings_where(
            rule, name, dup, f"another record of this subject and test has {flag} = Y", variable=flag
        )


_Y_OR_NULL_SUFFIXES = ("LOBXFL", "BLFL", "DRVFL", "PRESP")


@rule(
    "CDG0602",
    "Flag is not Y or null",
    severity=Severity.ERROR,
    scope=Scope.SDTM,
    reference="SDTMIG 3.4 section 4.5.9 and the domain models (--LOBXFL, --BLFL, --DRVFL, --PRESP: Y or null)",
    published=("CORE-000170", "CG0541"),
    partition=Partition.SUBJECT,
)
def check_y_or_null_flags(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """--LOBXFL, --BLFL, --DRVFL and --PRESP hold "Y" or are null (never "N").

    Bad: LBLOBXFL "N".
    Good: LBLOBXFL "Y" or null.
    """
    for name in ctx.sdtm_names():
        p = ctx.prefix(name)
        for suffix in _Y_OR_NULL_SUFFIXES:
            col = f"{p}{suffix}"
            if col in ctx.datasets[name].columns:
                v = ctx.text(name, col)
                yield from ctx.findings_where(
                    rule,
                    name,
                    (v.notna() & (v != "Y")).to_numpy(dtype=bool),
                    f"{col} must be Y or null",
                    variable=col,
                    expected="Y or null",
                )


@rule(
    "CDG0603",
    "Standard unit differs within a test",
    severity=Severity.WARNING,
    scope=Scope.SDTM,
    reference="SDTMIG 3.4 section 4.5.1 (standard units); Pinnacle 21 SD1320-like",
    published=("CORE-000612", "FB7001", "CORE-000699", "FB3001"),
    partition=Partition.SUMMARISED,
)
def check_stresu_consistent(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """All records of a test (--TESTCD, with --SPEC and --METHOD where present) use one --STRESU.

    Bad: KLCFR results in mg/L and in mg/dL.
    Good: every serum KLCFR result in mg/L.
    """
    for name in ctx.sdtm_names():
        p = ctx.prefix(name)
        unit = f"{p}STRESU"
        frame = ctx.datasets[name]
        if unit not in frame.columns or f"{p}TESTCD" not in frame.columns:
            continue
        keys = _group_columns(ctx, name, p, ("TESTCD", "SPEC", "METHOD"))
        table = ctx.distinct_rows(rule, name, [*keys, unit])
        table = table[table[unit].notna()]
        counts = table.groupby(keys, dropna=False)[unit].agg(lambda s: ", ".join(sorted(s)))
        for key, units in counts.items():
            if "," in units:
                key = key if isinstance(key, tuple) else (key,)
                where = " ".join(
                    f"{k}={'' if v is None or v is pd.NA or v != v else v}"
                    for k, v in zip(keys, key, strict=True)
                )
                yield rule.finding(
                    f"{where} has more than one {unit}", dataset=name, variable=unit, value=units
                )


@rule(
    "CDG0604",
    "Numeric standard result disagrees with the character one",
    severity=Severity.WARNING,
    scope=Scope.SDTM,
    reference="SDTMIG 3.4 section 4.5.1 (--STRESN is the numeric form of --STRESC); Pinnacle 21 SD0036-like",
    published=("CORE-000542", "FB3102", "CORE-000732", "FB3103", "CORE-000863", "FB3101"),
    partition=Partition.SUBJECT,
)
def check_stresn(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Where --STRESC is a number, --STRESN holds the same number; --STRESN is null otherwise.

    Bad: LBSTRESC "12.5", LBSTRESN 125.
    Good: LBSTRESC "12.5", LBSTRESN 12.5; LBSTRESC "<5", LBSTRESN null.
    """
    for name in ctx.sdtm_names():
        p = ctx.prefix(name)
        c, n = f"{p}STRESC", f"{p}STRESN"
        frame = ctx.datasets[name]
        if c not in frame.columns or n not in frame.columns or not is_numeric_dtype(frame[n]):
            continue
        as_number = ctx.numbers(name, c).to_numpy()
        stored = frame[n].to_numpy(dtype="float64", na_value=np.nan)
        both = ~np.isnan(as_number) & ~np.isnan(stored)
        differ = both & ~np.isclose(as_number, stored, rtol=1e-9, atol=0)
        bad = differ | (np.isnan(as_number) != np.isnan(stored))
        yield from ctx.findings_where(
            rule, name, bad, f"{n} is not the numeric value of {c}", variable=n, expected=ctx.text(name, c)
        )


@rule(
    "CDG0605",
    "Original result without a standard result",
    severity=Severity.WARNING,
    scope=Scope.SDTM,
    reference="SDTMIG 3.4 section 4.5.1 (--STRESC populated when --ORRES is); Pinnacle 21 SD0036",
    published=("CORE-000021", "CG0397"),
    partition=Partition.SUBJECT,
)
def check_stresc_present(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """A record with --ORRES has --STRESC.

    Bad: LBORRES "12.5", LBSTRESC null.
    Good: LBORRES "12.5", LBSTRESC "12.5".
    """
    for name in ctx.sdtm_names():
        p = ctx.prefix(name)
        o, c = f"{p}ORRES", f"{p}STRESC"
        if o in ctx.datasets[name].columns and c in ctx.datasets[name].columns:
            bad = ctx.text(name, o).notna().to_numpy() & ctx.text(name, c).isna().to_numpy()
            yield from ctx.findings_where(
                rule, name, bad, f"{o} is populated and {c} is null", variable=c, value=ctx.text(name, o)
            )


@rule(
    "CDG0606",
    "Test code and test name not one-to-one",
    severity=Severity.ERROR,
    scope=Scope.SDTM,
    reference="SDTMIG 3.4 section 4.5.1 (--TESTCD/--TEST); Pinnacle 21 SD1117/SD1118-like",
    published=("CORE-000303", "FB0901"),
    partition=Partition.SUMMARISED,
)
def check_testcd_test(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Each --TESTCD has exactly one --TEST within a dataset, and each --TEST exactly one --TESTCD.

    Bad: KLCFR with LBTEST "Kappa Light Chain, Free" and "Kappa FLC".
    Good: KLCFR always "Kappa Light Chain, Free".
    """
    for name in ctx.sdtm_names():
        p = ctx.prefix(name)
        cd, tn = f"{p}TESTCD", f"{p}TEST"
        if cd in ctx.datasets[name].columns and tn in ctx.datasets[name].columns:
            yield from _one_to_one(ctx, rule, name, cd, tn)


def _one_to_one(
    ctx: ValidationContext, rule: Rule, name: str, a: str, b: str, within: str | None = None
) -> Iterator[Finding]:
    cols = [within, a, b] if within else [a, b]
    pairs = ctx.distinct_rows(rule, name, cols).dropna(subset=[a, b])
    scope = [within] if within else []
    for left, right in ((a, b), (b, a)):
        if not pairs.duplicated(subset=[*scope, left]).any():
            continue  # each value of `left` goes with one value of `right`
        per = pairs.groupby([*scope, left])[right].agg(lambda s: sorted(s.astype(str)))
        for key, values in per.items():
            if len(values) > 1:
                key = key if isinstance(key, tuple) else (key,)
                where = f" within {within} {key[0]}" if within else ""
                yield rule.finding(
                    f"{left} {key[-1]!r}{where} has more than one {right}",
                    dataset=name,
                    variable=left,
                    value=key[-1],
                    expected=f"one {right}; found " + " | ".join(values),
                )


_CODE_SHAPE = r"[A-Z_][A-Z0-9_]{0,7}"


@rule(
    "CDG0607",
    "Short name not valid",
    severity=Severity.ERROR,
    scope=Scope.SDTM,
    reference="SDTMIG 3.4 section 4.5.1 (--TESTCD: <= 8 characters, not starting with a digit) and 8.4.1 (QNAM)",
    published=("CORE-000220", "CORE-000541", "CG0372", "CORE-000221", "CG0417"),
    partition=Partition.SUBJECT,
)
def check_short_names(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """--TESTCD, --PARMCD and QNAM values have at most 8 characters: letters, digits and underscores,
    not starting with a digit.

    Bad: LBTESTCD "1KAPPA" or "KAPPA-FREE".
    Good: LBTESTCD "KLCFR".
    """
    for name in ctx.sdtm_names():
        p = ctx.prefix(name)
        for col in (f"{p}TESTCD", f"{p}PARMCD", "QNAM"):
            if col in ctx.datasets[name].columns:
                v = ctx.text(name, col)
                bad = (v.notna() & ~v.str.fullmatch(_CODE_SHAPE).fillna(False)).to_numpy(dtype=bool)
                yield from ctx.findings_where(
                    rule, name, bad, f"{col} is not a valid short name", variable=col
                )


# ---------------------------------------------------------------------------------------------- timing


@rule(
    "CDG0701",
    "EPOCH missing on a subject observation",
    severity=Severity.WARNING,
    scope=Scope.SDTM,
    reference="FDA Study Data Technical Conformance Guide section 4.1.4.1 (EPOCH); SDTMIG 3.4 section 4.4.10",
    partition=Partition.SUBJECT,
)
def check_epoch(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Events, interventions and findings carry EPOCH; each dated record has it populated.

    A record whose date is partial (YYYY or YYYY-MM) is not flagged: when the partial date can stand for
    dates in more than one epoch, EPOCH cannot be known and stays null (method MT.EPOCH). Nor is a record
    dated before the subject's study start (the first SE element's SESTDTC, else DM.RFICDTC): a
    diagnosis or a prior therapy belongs to no study epoch.

    Bad: an LB record with LBDTC 2024-01-08 and EPOCH null, or EX without an EPOCH column.
    Good: EPOCH "TREATMENT" on that record; DSSTDTC "2024" (spanning epochs) with EPOCH null; MHSTDTC
    2019-03-02, before consent, with EPOCH null.
    """
    study_start = _subject_study_start(ctx)
    for name in ctx.sdtm_names():
        if ctx.observation_class(name) is None:
            continue
        frame = ctx.datasets[name]
        if "EPOCH" not in frame.columns:
            yield rule.finding(f"{name} has no EPOCH variable", dataset=name, variable="EPOCH")
            continue
        p = ctx.prefix(name)
        dtc = next((c for c in (f"{p}STDTC", f"{p}DTC") if c in frame.columns), None)
        if dtc is None:
            continue
        dates = ctx.text(name, dtc)
        complete_date = dates.str.len().fillna(0).to_numpy() >= 10  # YYYY-MM-DD or longer
        bad = dates.notna().to_numpy() & complete_date & ctx.text(name, "EPOCH").isna().to_numpy()
        if bad.any() and study_start and "USUBJID" in frame.columns:
            start = ctx.text(name, "USUBJID").map(study_start).astype(object).fillna("").to_numpy(dtype=str)
            before_start = (start != "") & (dates.fillna("").str.slice(0, 10).to_numpy(dtype=str) < start)
            bad &= ~before_start
        yield from ctx.findings_where(
            rule,
            name,
            bad,
            f"EPOCH is null on a record with {dtc}",
            variable="EPOCH",
            value=ctx.text(name, dtc),
        )


def _subject_study_start(ctx: ValidationContext) -> dict[str, str]:
    """The day (YYYY-MM-DD) each subject's study participation starts: the earliest complete SESTDTC of
    SE, else DM.RFICDTC; subjects with neither are absent."""
    starts: dict[str, str] = {}
    for name, column in (("DM", "RFICDTC"), ("SE", "SESTDTC")):
        frame = ctx.datasets.get(name)
        if frame is None or not {"USUBJID", column} <= set(frame.columns):
            continue
        day = ctx.text(name, column).str.slice(0, 10)
        complete = day.str.len() == 10
        pairs = pd.DataFrame({"s": ctx.text(name, "USUBJID"), "d": day}).loc[
            complete.fillna(False).to_numpy()
        ]
        starts.update(pairs.groupby("s")["d"].min().to_dict())
    return starts


# ------------------------------------------------------------------------------------------------- CT


def _codelist_targets(ctx: ValidationContext, name: str) -> Iterator[tuple[str, str, np.ndarray | None, str]]:
    """(variable, codelist id, row mask or None, where-text) for dataset- and value-level codelists."""
    spec = ctx.spec(name)
    if spec is None:
        return
    frame = ctx.datasets[name]
    for var in spec.submitted_variables:
        if var.codelist and var.name in frame.columns:
            yield var.name, var.codelist, None, ""
    for entry in (spec.value_level or {}).get("entries", []) or []:
        col, cl = entry.get("variable"), entry.get("codelist")
        where = entry.get("where") or {}
        if not cl or col not in frame.columns or not all(k in frame.columns for k in where):
            continue
        mask = np.ones(len(frame), dtype=bool)
        for k, v in where.items():
            mask &= (ctx.text(name, k) == str(v)).fillna(False).to_numpy(dtype=bool)
        yield col, cl, mask, " where " + ", ".join(f"{k}={v}" for k, v in where.items())


def _ct_check(ctx: ValidationContext, rule: Rule, *, extensible: bool) -> Iterator[Finding]:
    for name in ctx.names():
        for col, cl_id, mask, where in _codelist_targets(ctx, name):
            cl = ctx.codelist(cl_id)
            if cl is None or cl.is_external or cl.extensible != extensible:
                continue  # an external dictionary lists no values to compare with
            distinct = ctx.distinct(name, col)
            # a SUPP-- QNAM codelist admits the parts of a long text (AETERM1) without listing them
            allowed = cl.values | {d for d in distinct - cl.values if cl.continuation_term(d)}
            if distinct <= allowed:
                continue  # every value a term: no row to look at
            v = ctx.text(name, col)
            bad = (v.notna() & ~v.isin(allowed)).to_numpy(dtype=bool)
            if mask is not None:
                bad = bad & mask
            kind = "extensible" if extensible else "non-extensible"
            yield from ctx.findings_where(
                rule,
                name,
                bad,
                f"{col} value is not in the {kind} codelist {cl.id} ({cl.name}){where}",
                variable=col,
                expected=f"codelist {cl.id}",
            )


@rule(
    "CDG0801",
    "Value not in a non-extensible codelist",
    severity=Severity.ERROR,
    scope=Scope.ANY,
    reference="SDTMIG 3.4 section 4.3 (controlled terminology); FDA business rule CT2001; Pinnacle 21 CT2001",
    partition=Partition.SUBJECT,
)
def check_ct_non_extensible(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """A variable bound to a non-extensible codelist (dataset or value level) only holds its terms.

    Bad: SEX "FEMALE" (codelist SEX has F, M, U) or QSTESTCD "EQ5D0207".
    Good: SEX "F".
    """
    yield from _ct_check(ctx, rule, extensible=False)


@rule(
    "CDG0802",
    "Value neither a CT term nor a declared sponsor term",
    severity=Severity.WARNING,
    scope=Scope.ANY,
    reference="SDTMIG 3.4 section 4.3; FDA business rule CT2002; Pinnacle 21 CT2002",
    partition=Partition.SUBJECT,
)
def check_ct_extensible(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """A variable bound to an extensible codelist holds a term of the codelist: a CT term the study
    uses or a sponsor extension declared in specs/codelists.yaml (marked `sponsor: true`).

    Bad: LBTESTCD "KAPPA" (not in CT, not declared as an extension).
    Good: LBTESTCD "KLCFR"; RSTESTCD "CARDRESP" declared as a sponsor term.
    """
    yield from _ct_check(ctx, rule, extensible=True)


@rule(
    "CDG0803",
    "Sponsor term in a non-extensible codelist",
    severity=Severity.ERROR,
    scope=Scope.ANY,
    reference="SDTMIG 3.4 section 4.3 (non-extensible codelists cannot be extended); Define-XML 2.1 ExtendedValue",
    partition=Partition.SUBJECT,
)
def check_ct_sponsor_in_closed(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Data do not use a sponsor-defined term of a non-extensible CDISC codelist. A codelist the sponsor
    defines itself extends nothing; a term the implementation guide prescribes (`convention`, e.g. AEACN
    MULTIPLE for several study treatments, SDTMIG 3.4 AE) is not the sponsor's extension either.

    Bad: RACE "MULTIPLE" declared as a sponsor term of the non-extensible codelist RACE (C74457).
    Good: a CT term of C74457, with the detail in SUPPDM.
    """
    for name in ctx.names():
        for col, cl_id, mask, where in _codelist_targets(ctx, name):
            cl = ctx.codelist(cl_id)
            if cl is None or cl.extensible or cl.sponsor:
                continue
            sponsor = {t.value for t in cl.terms if t.sponsor and not t.convention}
            if not sponsor:
                continue
            bad = ctx.text(name, col).isin(sponsor).fillna(False).to_numpy(dtype=bool)
            if mask is not None:
                bad = bad & mask
            yield from ctx.findings_where(
                rule,
                name,
                bad,
                f"{col} uses a sponsor term of the non-extensible codelist {cl.id}{where}",
                variable=col,
            )


# ------------------------------------------------------------------------------------------------- TS

#: TS parameters FDA expects in every submission (FDA Study Data Technical Conformance Guide 4.1.1.3 and
#: the SDTMIG Appendix C "Trial Summary Codes" FDA column), conservative subset.
TS_REQUIRED = (
    "ACTSUB",
    "ADDON",
    "AGEMAX",
    "AGEMIN",
    "ADAPT",
    "CURTRT",
    "DCUTDTC",
    "FCNTRY",
    "HLTSUBJI",
    "INDIC",
    "INTMODEL",
    "INTTYPE",
    "LENGTH",
    "NARMS",
    "OBJPRIM",
    "PCLAS",
    "PLANSUB",
    "RANDOM",
    "REGID",
    "SDTIGVER",
    "SDTMVER",
    "SENDTC",
    "SEXPOP",
    "SPONSOR",
    "SSTDTC",
    "STOPRULE",
    "STYPE",
    "TBLIND",
    "TCNTRL",
    "THERAREA",
    "TINDTP",
    "TITLE",
    "TPHASE",
    "TRT",
    "TTYPE",
)
TS_DATES = ("SSTDTC", "SENDTC", "DCUTDTC")
TS_CODED = {
    "TRT": ("UNII",),
    "INDIC": ("SNOMED", "SNOMED CT"),
    "PCLAS": ("MED-RT",),
    "FCNTRY": ("ISO 3166", "ISO 3166-1 alpha-3"),
}
"""TS parameters whose value FDA expects coded, and the names of the code's reference terminology
(TSVCDREF) accepted for it: the Dictionary Name term of CDISC CT (codelist DICTNAM, C66788) first, then the
spelling the guidance documents use (the SDTM-MSG 2.0 package writes "SNOMED")."""
TS_CONDITIONAL = {"CURTRT": ("ADDON", "Y")}
"""TS parameters FDA requires only when another parameter has a value: CURTRT when the treatment is an
add-on (ADDON Y)."""


@rule(
    "CDG0901",
    "TS lacks a parameter FDA requires",
    severity=Severity.ERROR,
    scope=Scope.SDTM,
    reference="FDA Study Data Technical Conformance Guide section 4.1.1.3; FDA business rules FB4xxx (TS); SDTMIG 3.4 Appendix C",
    partition=Partition.SUBJECT,
)
def check_ts_parameters(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """TS holds every parameter of `TS_REQUIRED` (SSTDTC, SDTIGVER, TITLE, TPHASE, STYPE, SPONSOR,
    INDIC, TRT, PLANSUB, ...). A parameter without a value is still present, with TSVALNF. CURTRT is
    required only for an add-on trial (ADDON Y).

    Bad: TS without SSTDTC (FDA's eCTD checks read the study start date from it).
    Good: TSPARMCD SSTDTC, TSVAL 2024-01-01.
    """
    if "TS" not in ctx.datasets or "TSPARMCD" not in ctx.datasets["TS"].columns:
        return
    present = set(ctx.text("TS", "TSPARMCD").dropna())
    values = _ts_values(ctx)
    for code in TS_REQUIRED:
        condition = TS_CONDITIONAL.get(code)
        if condition is not None and condition[1] not in values.get(condition[0], set()):
            continue
        if code not in present:
            yield rule.finding(f"TS has no {code} record", dataset="TS", variable="TSPARMCD", expected=code)


def _ts_values(ctx: ValidationContext) -> dict[str, set[str]]:
    """TSVAL by TSPARMCD (upper case)."""
    if "TSVAL" not in ctx.datasets["TS"].columns:
        return {}
    pairs = pd.DataFrame({"p": ctx.text("TS", "TSPARMCD"), "v": ctx.text("TS", "TSVAL").str.upper()}).dropna()
    return pairs.groupby("p")["v"].agg(set).to_dict()


@rule(
    "CDG0902",
    "TS value and null flavor both missing",
    severity=Severity.ERROR,
    scope=Scope.SDTM,
    reference="SDTMIG 3.4 section 7.6.1 (TSVAL null only with TSVALNF); Pinnacle 21 SD1221-like",
    partition=Partition.SUBJECT,
)
def check_ts_values(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """A TS record has TSVAL, or TSVALNF saying why not.

    Bad: TSPARMCD AGEMAX with TSVAL and TSVALNF null.
    Good: TSPARMCD AGEMAX, TSVAL null, TSVALNF "PINF".
    """
    if "TS" not in ctx.datasets or "TSVAL" not in ctx.datasets["TS"].columns:
        return
    nf = ctx.text("TS", "TSVALNF").isna().to_numpy() if "TSVALNF" in ctx.datasets["TS"].columns else True
    bad = ctx.text("TS", "TSVAL").isna().to_numpy() & nf
    yield from ctx.findings_where(
        rule,
        "TS",
        bad,
        "TSVAL is null and TSVALNF gives no reason",
        variable="TSVAL",
        value=ctx.text("TS", "TSPARMCD") if "TSPARMCD" in ctx.datasets["TS"].columns else None,
    )


# ------------------------------------------------------------------------ technical rejection criteria


@rule(
    "CDG0010",
    "Study start date missing from TS (technical rejection)",
    severity=Severity.ERROR,
    scope=Scope.SDTM,
    reference="FDA Technical Rejection Criteria for Study Data, eCTD validation 1734 (a TS dataset with the "
    "study start date); FDA Study Data Technical Conformance Guide section 4.1.1.3",
    published=("TRC1734",),
    partition=Partition.SUBJECT,
)
def check_trc_study_start(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """The tabulation data hold ts.xpt with an SSTDTC record whose TSVAL is a complete ISO 8601 date. FDA's
    gateway rejects study data without it before any reviewer sees them.

    Bad: no ts.xpt; TS without SSTDTC; SSTDTC "2024-01" or "01JAN2024".
    Good: TSPARMCD SSTDTC, TSVAL "2024-01-08".
    """
    if not ctx.sdtm_names():
        return
    if "TS" not in ctx.datasets:
        yield rule.finding("the tabulation data hold no TS dataset (ts.xpt)", dataset="TS", expected="TS")
        return
    ts = ctx.datasets["TS"]
    if not {"TSPARMCD", "TSVAL"} <= set(ts.columns):
        yield rule.finding("TS has no TSPARMCD/TSVAL to hold SSTDTC", dataset="TS", variable="TSPARMCD")
        return
    values = ctx.text("TS", "TSVAL")[ctx.text("TS", "TSPARMCD") == "SSTDTC"].dropna()
    complete = values[values.str.fullmatch(r"\d{4}-\d{2}-\d{2}")]
    bad_shape, impossible = check_iso8601(complete.reset_index(drop=True))
    if complete.empty or (bad_shape | impossible).all():
        shown = ", ".join(sorted(values)) or "none"
        yield rule.finding(
            f"TS has no SSTDTC with a complete ISO 8601 date (TSVAL: {shown})",
            dataset="TS",
            variable="TSVAL",
            value=shown,
            expected="SSTDTC YYYY-MM-DD",
        )


@rule(
    "CDG0011",
    "DM, ADSL or define.xml missing (technical rejection)",
    severity=Severity.ERROR,
    scope=Scope.ANY,
    reference="FDA Technical Rejection Criteria for Study Data, eCTD validation 1736 (SDTM: dm.xpt and define.xml; "
    "ADaM: adsl.xpt and define.xml)",
    published=("TRC1736",),
    partition=Partition.SUBJECT,
)
def check_trc_required_files(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Tabulation data hold DM, analysis data hold ADSL, and each folder of data has its define.xml (the
    runner checks the folders). FDA's gateway rejects study data that lack them.

    Bad: an ADaM folder without adsl.xpt; an SDTM folder without define.xml.
    Good: dm.xpt and define.xml in the SDTM folder, adsl.xpt and define.xml in the ADaM folder.
    """
    for name in ("DM", "ADSL"):
        ctx.datasets.get(name)  # noted as examined when present
    if ctx.sdtm_names() and "DM" not in ctx.datasets:
        yield rule.finding("the tabulation data hold no DM dataset (dm.xpt)", dataset="DM", expected="DM")
    if ctx.adam_names() and "ADSL" not in ctx.datasets:
        yield rule.finding(
            "the analysis data hold no ADSL dataset (adsl.xpt)", dataset="ADSL", expected="ADSL"
        )


@rule(
    "CDG0903",
    "TS date parameter is not a complete ISO 8601 date",
    severity=Severity.ERROR,
    scope=Scope.SDTM,
    reference="SDTMIG 3.4 Appendix C (SSTDTC, SENDTC, DCUTDTC: ISO 8601 date); FDA Technical Rejection Criteria 1734",
    published=("CORE-000505", "CG0285"),
    partition=Partition.SUBJECT,
)
def check_ts_dates(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """TSVAL of SSTDTC, SENDTC and DCUTDTC is a complete, possible ISO 8601 date.

    Bad: SSTDTC "01JAN2024" or "2024-01".
    Good: SSTDTC "2024-01-01".
    """
    if "TS" not in ctx.datasets or not {"TSPARMCD", "TSVAL"} <= set(ctx.datasets["TS"].columns):
        return
    is_date = ctx.text("TS", "TSPARMCD").isin(TS_DATES).fillna(False).to_numpy(dtype=bool)
    val = ctx.text("TS", "TSVAL")
    bad = is_date & val.notna().to_numpy() & np.isnan(compute_days(val))
    yield from ctx.findings_where(
        rule,
        "TS",
        bad,
        "TSVAL of a date parameter is not a complete ISO 8601 date",
        variable="TSVAL",
        expected="YYYY-MM-DD",
    )


@rule(
    "CDG0904",
    "TS parameter without the code of its reference terminology",
    severity=Severity.WARNING,
    scope=Scope.SDTM,
    reference="FDA Study Data Technical Conformance Guide section 4.1.1.3 (TRT: UNII, INDIC: SNOMED CT, PCLAS: MED-RT); CDISC CORE CG0456 (FCNTRY: ISO 3166-1 alpha-3)",
    partition=Partition.SUBJECT,
)
def check_ts_codes(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """TRT carries its UNII, INDIC its SNOMED CT concept, PCLAS its MED-RT class and FCNTRY its ISO 3166-1
    alpha-3 code in TSVALCD, with that terminology named in TSVCDREF (the CT Dictionary Name term: UNII,
    SNOMED, MED-RT, ISO 3166; "SNOMED CT" and "ISO 3166-1 alpha-3" are accepted too). A record with a null flavor instead
    of a value is not checked. The code is never made up: study.yaml states it from the registry, or the
    gap stays visible here.

    Bad: TSPARMCD TRT, TSVAL DARATUMUMAB, TSVALCD null; FCNTRY with TSVCDREF "ISO 3166".
    Good: TSPARMCD FCNTRY, TSVAL ITA, TSVALCD ITA, TSVCDREF "ISO 3166-1 alpha-3".
    """
    if "TS" not in ctx.datasets or not {"TSPARMCD", "TSVAL"} <= set(ctx.datasets["TS"].columns):
        return
    frame = ctx.datasets["TS"]
    parmcd = ctx.text("TS", "TSPARMCD").fillna("")
    code = (
        ctx.text("TS", "TSVALCD").fillna("")
        if "TSVALCD" in frame.columns
        else pd.Series("", index=frame.index)
    )
    ref = (
        ctx.text("TS", "TSVCDREF").fillna("")
        if "TSVCDREF" in frame.columns
        else pd.Series("", index=frame.index)
    )
    accepted = parmcd.map(TS_CODED)
    expected = accepted.map(lambda names: names[0] if isinstance(names, tuple) else "")
    known_ref = pd.Series(
        [r in names if isinstance(names, tuple) else False for r, names in zip(ref, accepted, strict=True)],
        index=ref.index,
    )
    valued = ctx.text("TS", "TSVAL").notna()
    bad = (expected != "") & valued & ((code == "") | ~known_ref)
    yield from ctx.findings_where(
        rule,
        "TS",
        bad.to_numpy(),
        parmcd + " has no " + expected + " code (TSVALCD with TSVCDREF " + expected + ")",
        variable="TSVALCD",
        value=code,
        expected=expected,
    )


# ---------------------------------------------------------------------------------------------- SUPP--


def _parents(ctx: ValidationContext, rdomain: str) -> list[str]:
    out = []
    for name in ctx.sdtm_names():
        if ctx.is_supp(name):
            continue
        if name == rdomain or (
            "DOMAIN" in ctx.datasets[name].columns
            and ctx.prefix(name) == rdomain
            and name.startswith(rdomain)
        ):
            out.append(name)
    return out


@rule(
    "CDG1001",
    "SUPP-- record points at no parent record",
    severity=Severity.ERROR,
    scope=Scope.SDTM,
    reference="SDTMIG 3.4 section 8.4 (RDOMAIN, USUBJID, IDVAR, IDVARVAL identify the parent); Pinnacle 21 SD0077-like",
    published=("CORE-000206", "CG0371"),
    partition=Partition.SUBJECT,
)
def check_supp_parent(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """RDOMAIN names a dataset of the study, USUBJID is a subject of it, IDVAR (when populated) is one of
    its variables and IDVARVAL is the value of IDVAR in a record of that subject.

    Bad: SUPPRS with IDVAR RSSEQ, IDVARVAL 99 when the subject has no RSSEQ 99.
    Good: IDVARVAL 12 where RS has RSSEQ 12 for that subject.
    """
    for name in ctx.sdtm_names():
        frame = ctx.datasets[name]
        if not ctx.is_supp(name) or not {"RDOMAIN", "USUBJID"} <= set(frame.columns):
            continue
        rd, u = ctx.text(name, "RDOMAIN"), ctx.text(name, "USUBJID")
        idvar = (
            ctx.text(name, "IDVAR")
            if "IDVAR" in frame.columns
            else pd.Series(pd.NA, index=frame.index, dtype="str")
        )
        idval = (
            ctx.text(name, "IDVARVAL")
            if "IDVARVAL" in frame.columns
            else pd.Series(pd.NA, index=frame.index, dtype="str")
        )
        bad = np.zeros(len(frame), dtype=bool)
        why = pd.Series("", index=frame.index, dtype="str")
        groups = pd.DataFrame({"rd": rd, "iv": idvar}).drop_duplicates()
        for rdomain, iv in groups.itertuples(index=False):
            rows = ((rd == rdomain) if rdomain is not pd.NA else rd.isna()).fillna(False)
            rows &= ((idvar == iv) if iv is not pd.NA and iv == iv else idvar.isna()).fillna(False)
            rows = rows.to_numpy(dtype=bool)
            parents = _parents(ctx, rdomain) if isinstance(rdomain, str) else []
            if not parents:
                bad |= rows
                why[rows] = f"RDOMAIN {rdomain} has no dataset"
                continue
            if isinstance(iv, str) and not all(iv in ctx.datasets[p].columns for p in parents):
                bad |= rows
                why[rows] = f"IDVAR {iv} is not a variable of {rdomain}"
                continue
            if isinstance(iv, str):
                known = pd.concat([ctx.text(p, "USUBJID") + "\x1f" + ctx.text(p, iv) for p in parents])
                mine = u + "\x1f" + idval
                what = f"no {rdomain} record of this subject has {iv} = IDVARVAL"
            else:
                known = pd.concat([ctx.text(p, "USUBJID") for p in parents])
                mine = u
                what = f"USUBJID is not in {rdomain}"
            missing = rows & ~is_among(mine, known)
            bad |= missing
            why[missing] = what
        yield from ctx.findings_where(rule, name, bad, why, variable="IDVARVAL", value=idval)


@rule(
    "CDG1002",
    "Duplicate qualifier for one parent record",
    severity=Severity.ERROR,
    scope=Scope.SDTM,
    reference="SDTMIG 3.4 section 8.4.1 (one QNAM per parent record); Pinnacle 21 SD0076-like",
    published=("CORE-000203", "CG0411"),
    partition=Partition.SUBJECT,
)
def check_supp_unique(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """A QNAM appears once per parent record (STUDYID, RDOMAIN, USUBJID, IDVAR, IDVARVAL).

    Bad: two SUPPDM records with QNAM INVISO for one subject.
    Good: one.
    """
    for name in ctx.sdtm_names():
        frame = ctx.datasets[name]
        if not ctx.is_supp(name):
            continue
        keys = [
            k for k in ("STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM") if k in frame.columns
        ]
        table = pd.DataFrame({k: ctx.text(name, k) for k in keys})
        yield from ctx.findings_where(
            rule,
            name,
            table.duplicated(keep=False).to_numpy(),
            "QNAM appears more than once for this parent record",
            variable="QNAM",
        )
