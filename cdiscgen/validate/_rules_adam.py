"""ADaM rules: ADSL structure, parameters, analysis values, time-to-event, flags and dates."""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from cdiscgen._arrowtext import is_among
from cdiscgen._findings import Finding, Severity
from cdiscgen.validate._context import ValidationContext
from cdiscgen.validate._registry import Partition, Rule, Scope, rule
from cdiscgen.validate._rules_sdtm import _one_to_one

#: ADaMIG population flags (Y/N, no null) besides the study's `analysis_sets`.
POPULATION_FLAGS = re.compile(r"^(ITT|SAF|EFF|FAS|PPROT|COMPL|RAND|ENRL|SCRN|COMP\d+)FL$")
#: Record-level flags that are "Y" or null.
RECORD_FLAGS = re.compile(r"^(ABLFL|ANL\d\dFL|ONTRTFL|TRTEMFL|LSTASFL|ANL\d\dRFL)$")


def _bds(ctx: ValidationContext) -> list[str]:
    return [n for n in ctx.adam_names() if "PARAMCD" in ctx.datasets[n].columns]


def _tte(ctx: ValidationContext) -> list[str]:
    return [n for n in ctx.adam_names() if "CNSR" in ctx.datasets[n].columns]


def baseline_keys(frame: pd.DataFrame) -> list[str]:
    """What one baseline belongs to: the subject, the parameter and (when present) BASETYPE."""
    return [k for k in ("USUBJID", "PARAMCD", "BASETYPE") if k in frame.columns]


def flagged_twice(ctx: ValidationContext, name: str, flag: str, keys: list[str]) -> np.ndarray:
    """Records with `flag` = "Y" that share their `keys` values with another such record."""
    yes = (ctx.text(name, flag) == "Y").fillna(False).to_numpy(dtype=bool)
    table = pd.DataFrame({k: ctx.text(name, k).fillna("") for k in keys})
    repeated = np.zeros(len(yes), dtype=bool)
    repeated[yes] = table[yes].duplicated(keep=False).to_numpy()
    return repeated


@rule(
    "CDG1101",
    "ADSL has more than one record per subject",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 3.1 (ADSL: one record per subject)",
    partition=Partition.SUBJECT,
)
def check_adsl_unique(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """USUBJID is unique in ADSL.

    Bad: two ADSL records for DARPAL-01-001.
    Good: one ADSL record per subject.
    """
    if "ADSL" not in ctx.datasets or "USUBJID" not in ctx.datasets["ADSL"].columns:
        return
    u = ctx.text("ADSL", "USUBJID")
    yield from ctx.findings_where(
        rule,
        "ADSL",
        (u.notna() & u.duplicated(keep=False)).to_numpy(dtype=bool),
        "USUBJID appears more than once in ADSL",
        variable="USUBJID",
    )


@rule(
    "CDG1102",
    "ADaM subject not in ADSL",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 3.1 (ADSL holds every subject of the analysis datasets)",
    partition=Partition.SUBJECT,
)
def check_subjects_in_adsl(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Every USUBJID of every other ADaM dataset has an ADSL record.

    Bad: ADTTE holds DARPAL-01-040 and ADSL does not.
    Good: ADSL holds every subject of ADRS and ADTTE.
    """
    if "ADSL" not in ctx.datasets or "USUBJID" not in ctx.datasets["ADSL"].columns:
        return
    known = ctx.text("ADSL", "USUBJID")
    for name in ctx.adam_names():
        if name == "ADSL" or "USUBJID" not in ctx.datasets[name].columns:
            continue
        u = ctx.text(name, "USUBJID")
        yield from ctx.findings_where(
            rule,
            name,
            u.notna().to_numpy(dtype=bool) & ~is_among(u, known),
            "USUBJID is not in ADSL",
            variable="USUBJID",
        )


@rule(
    "CDG1103",
    "PARAMCD and PARAM not one-to-one",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 3.3.4 (PARAMCD/PARAM one-to-one within a dataset)",
    partition=Partition.SUMMARISED,
)
def check_paramcd_param(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Each PARAMCD has exactly one PARAM and each PARAM one PARAMCD within a BDS dataset.

    Bad: PFS with PARAM "Progression-Free Survival (days)" and "PFS (days)".
    Good: one PARAM per PARAMCD.
    """
    for name in _bds(ctx):
        if "PARAM" in ctx.datasets[name].columns:
            yield from _one_to_one(ctx, rule, name, "PARAMCD", "PARAM")


@rule(
    "CDG1104",
    "AVAL and AVALC not one-to-one within a parameter",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 3.3.4 (AVALC and AVAL map one-to-one within PARAMCD)",
    partition=Partition.SUMMARISED,
)
def check_aval_avalc(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Within a PARAMCD, where both are populated each AVALC has one AVAL and each AVAL one AVALC.

    Bad: BOR with AVALC "CR" as AVAL 1 in one record and 2 in another.
    Good: CR 1, VGPR 2, PR 3 in every record of BOR.
    """
    for name in _bds(ctx):
        if {"AVAL", "AVALC"} <= set(ctx.datasets[name].columns):
            yield from _one_to_one(ctx, rule, name, "AVALC", "AVAL", within="PARAMCD")


@rule(
    "CDG1105",
    "CNSR outside the declared values",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 3.3.8 (CNSR: 0 = event, positive integers = censoring); ADaM BDS-TTE",
    partition=Partition.SUBJECT,
)
def check_cnsr(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """CNSR is populated with a value of the study's CNSR codelist (without one: an integer >= 0).

    Bad: CNSR 5 (declared 0, 1, 2, 3), CNSR -1 or CNSR null.
    Good: CNSR 0 for an event, 1 for the last assessment censoring.
    """
    cl = ctx.codelist("CNSR")
    allowed = set(cl.values) if cl is not None else None
    for name in _tte(ctx):
        v = ctx.text(name, "CNSR")
        if allowed is not None:
            bad = ~v.isin(allowed).fillna(False)
            expected = "one of " + ", ".join(sorted(allowed))
        else:
            bad = ~v.str.fullmatch(r"\d+").fillna(False)
            expected = "an integer >= 0"
        yield from ctx.findings_where(
            rule,
            name,
            bad.to_numpy(dtype=bool),
            "CNSR is not a declared value",
            variable="CNSR",
            expected=expected,
        )


@rule(
    "CDG1106",
    "Negative time-to-event value",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 / ADaM BDS for Time-to-Event Analyses section 2 (AVAL: elapsed time >= 0)",
    partition=Partition.SUBJECT,
)
def check_tte_aval(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """In a time-to-event dataset AVAL (the time to event or censoring) is not negative.

    Bad: PFS AVAL -3.
    Good: PFS AVAL 358.
    """
    for name in _tte(ctx):
        frame = ctx.datasets[name]
        if "AVAL" in frame.columns and is_numeric_dtype(frame["AVAL"]):
            aval = frame["AVAL"].to_numpy(dtype="float64", na_value=np.nan)
            yield from ctx.findings_where(
                rule, name, aval < 0, "AVAL is negative", variable="AVAL", value=aval, expected=">= 0"
            )


@rule(
    "CDG1107",
    "Analysis date before the start date",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaM BDS for Time-to-Event Analyses section 2 (STARTDT <= ADT)",
    partition=Partition.SUBJECT,
)
def check_tte_dates(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """In a time-to-event dataset ADT (event or censoring date) is on or after STARTDT.

    Bad: STARTDT 2024-01-01, ADT 2023-12-30.
    Good: ADT 2024-12-23.
    """
    for name in _tte(ctx):
        frame = ctx.datasets[name]
        if (
            {"ADT", "STARTDT"} <= set(frame.columns)
            and is_numeric_dtype(frame["ADT"])
            and is_numeric_dtype(frame["STARTDT"])
        ):
            adt = frame["ADT"].to_numpy(dtype="float64", na_value=np.nan)
            start = frame["STARTDT"].to_numpy(dtype="float64", na_value=np.nan)
            yield from ctx.findings_where(
                rule,
                name,
                adt < start,
                "ADT is before STARTDT",
                variable="ADT",
                value=_sas_date(adt),
                expected=">= " + _sas_date(start),
            )


def _sas_date(days: np.ndarray) -> pd.Series:
    """SAS date numbers (days since 1960-01-01) as ISO text for messages."""
    base = np.datetime64("1960-01-01")
    finite = np.isfinite(days)
    out = pd.Series(pd.NA, index=range(len(days)), dtype="str")
    if finite.any():
        dates = base + days[finite].astype("int64").astype("timedelta64[D]")
        out[finite] = np.datetime_as_string(dates, unit="D")
    return out


def _population_flags(ctx: ValidationContext, columns: list[str]) -> list[str]:
    declared = set()
    if ctx.study is not None:
        declared = {s.get("flag") for s in ctx.study.settings.get("analysis_sets", []) or []}
    return [c for c in columns if c in declared or POPULATION_FLAGS.match(str(c))]


@rule(
    "CDG1108",
    "Population flag not Y or N",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 3.1.4 (population flags: Y or N, no null)",
    published=("AD0019", "AD0020", "AD0021", "AD0022", "AD0023", "AD0024", "AD0025"),
    partition=Partition.SUBJECT,
)
def check_population_flags(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """ADSL population flags (the study's analysis sets and ITTFL, SAFFL, EFFFL, FASFL, PPROTFL,
    COMPLFL, RANDFL, ENRLFL, COMPxxFL) hold "Y" or "N" in every record.

    Bad: SAFFL null for an untreated subject.
    Good: SAFFL "N".
    """
    if "ADSL" not in ctx.datasets:
        return
    for col in _population_flags(ctx, list(ctx.datasets["ADSL"].columns)):
        v = ctx.text("ADSL", col)
        yield from ctx.findings_where(
            rule,
            "ADSL",
            ~v.isin({"Y", "N"}).fillna(False).to_numpy(dtype=bool),
            f"population flag {col} must be Y or N",
            variable=col,
            expected="Y or N",
        )


@rule(
    "CDG1109",
    "Record-level flag not Y or null",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 3.3.8 (ABLFL, ANLzzFL, ONTRTFL, TRTEMFL: Y or null)",
    partition=Partition.SUBJECT,
)
def check_record_flags(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Record-level flags ABLFL, ANLzzFL, ONTRTFL, TRTEMFL and LSTASFL hold "Y" or are null.

    Bad: ANL01FL "N".
    Good: ANL01FL "Y" or null.
    """
    for name in ctx.adam_names():
        for col in ctx.datasets[name].columns:
            if RECORD_FLAGS.match(str(col)):
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
    "CDG1110",
    "More than one baseline record",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 4.2.1 (one ABLFL = Y per USUBJID, PARAMCD and BASETYPE)",
    partition=Partition.SUBJECT,
)
def check_baseline_unique(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """At most one record per subject, parameter (and BASETYPE) has ABLFL = "Y".

    Bad: two KAPPA records of one subject with ABLFL "Y".
    Good: only the baseline assessment's KAPPA record.
    """
    for name in _bds(ctx):
        frame = ctx.datasets[name]
        if "ABLFL" not in frame.columns or "USUBJID" not in frame.columns:
            continue
        dup = flagged_twice(ctx, name, "ABLFL", baseline_keys(frame))
        yield from ctx.findings_where(
            rule, name, dup, "another record of this subject and parameter has ABLFL = Y", variable="ABLFL"
        )


@rule(
    "CDG1111",
    "Treatment start after treatment end",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 3.2 (TRTSDT, TRTEDT)",
    partition=Partition.SUBJECT,
)
def check_treatment_dates(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """In ADSL, TRTSDT is on or before TRTEDT.

    Bad: TRTSDT 2024-01-08, TRTEDT 2024-01-01.
    Good: TRTSDT 2024-01-08, TRTEDT 2024-06-20.
    """
    frame = ctx.datasets.get("ADSL")
    if frame is None or not {"TRTSDT", "TRTEDT"} <= set(frame.columns):
        return
    if not (is_numeric_dtype(frame["TRTSDT"]) and is_numeric_dtype(frame["TRTEDT"])):
        return
    s = frame["TRTSDT"].to_numpy(dtype="float64", na_value=np.nan)
    e = frame["TRTEDT"].to_numpy(dtype="float64", na_value=np.nan)
    yield from ctx.findings_where(
        rule,
        "ADSL",
        e < s,
        "TRTEDT is before TRTSDT",
        variable="TRTEDT",
        value=_sas_date(e),
        expected=">= " + _sas_date(s),
    )


@rule(
    "CDG1112",
    "ADaM date variable is not numeric",
    severity=Severity.ERROR,
    scope=Scope.ADAM,
    reference="ADaMIG 1.3 section 3.1.3 (*DT, *TM, *DTM are numeric SAS dates/times)",
    partition=Partition.SUBJECT,
)
def check_adam_date_types(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Variables named *DT, *TM or *DTM in an ADaM dataset are numeric (SAS date, time, datetime).

    Bad: ADT stored as the text "2024-03-05".
    Good: ADT numeric 23440 with format DATE9.
    """
    for name in ctx.adam_names():
        frame = ctx.datasets[name]
        meta = ctx.meta_variables(name)
        for col in frame.columns:
            if re.fullmatch(r"[A-Z0-9_]*(DT|TM|DTM)", str(col)) and not str(col).endswith("DTC"):
                numeric = meta[col].type == "num" if col in meta else is_numeric_dtype(frame[col])
                if not numeric:
                    yield rule.finding(
                        f"{col} is character; ADaM dates and times are numeric",
                        dataset=name,
                        variable=col,
                        expected="num",
                    )
