"""BDS engine: findings datasets (ADVS, ADEG, ADQS, a non-AL ADLB) from one SDTM findings domain, by
specs/adam/params/<dataset>.yaml (`engine: bds`).

The parameter table maps SDTM tests (--TESTCD, optionally narrowed by a condition) to PARAMCD/PARAMN/
PARAM; each record gets AVAL (--STRESN), AVALC (--STRESC where declared), ADT (--DTC), ATPT/ATPTN and
every ADSL variable. Then the ordered steps add what admiral's templates add: derived parameters,
analysis visits (value maps or windows), summary records (DTYPE AVERAGE), reference ranges and
indicators, BASETYPE, the baseline flag (ABLFL, a stated extreme-record rule), BASE/BNRIND, CHG/PCHG,
ANL01FL, ONTRTFL, extreme records (DTYPE LOV), TRTP/TRTA and ASEQ.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cdiscgen._distinct import compute_mapped
from cdiscgen._findings import Finding, Severity

from ._codes import INPUT_ABSENT
from ._common import compute_group_means, compute_group_sums, number, text
from ._dates import compute_sas_date
from ._errors import AdamInputError
from ._steps import (
    ARITHMETIC,
    compute_order_keys,
    compute_sorted,
    compute_subject_records,
    compute_where_mask,
    derive_assign,
    derive_compute,
    derive_copy,
    derive_cut,
    derive_duration,
    derive_extreme_flag,
    derive_flag,
    derive_imputed_date,
    derive_map,
    derive_steps,
    derive_study_day,
    merge_subject_variables,
    sort_in_place,
)

# closed vocabulary of derived parameters: name -> (inputs, function of the input AVAL columns); the
# two-input formulas of ARITHMETIC (ratio, percent, ...) take their inputs from the step
FORMULAS: dict[str, tuple[tuple[str, ...], Callable[..., pd.Series]]] = {
    # mean arterial pressure from systolic and diastolic pressure (mmHg)
    "mean_arterial_pressure": (("SYSBP", "DIABP"), lambda sys, dia: (2 * dia + sys) / 3),
    # body mass index (kg/m2) from weight (kg) and height (cm)
    "bmi": (("WEIGHT", "HEIGHT"), lambda w, h: w / (h / 100) ** 2),
    # body surface area (m2), Mosteller: sqrt(height cm x weight kg / 3600)
    "bsa_mosteller": (("HEIGHT", "WEIGHT"), lambda h, w: np.sqrt(h * w / 3600)),
}


def _source_frame(
    sdtm: Mapping[str, pd.DataFrame], adsl: pd.DataFrame, doc: Mapping, name: str
) -> tuple[pd.DataFrame, list[Finding]]:
    """The source domain's records of ADSL's subjects, with ADSL's variables and the spec's
    `record_derivations` (record-level variables the parameters take their values from)."""
    source = doc["source"]
    frame, findings = compute_subject_records(sdtm, adsl, source, name)
    ctx = {"dataset": source, "adsl": adsl}
    return derive_steps(frame, doc.get("record_derivations"), BDS_STEPS, ctx), findings


def _test_records(frame: pd.DataFrame, doc: Mapping, name: str) -> tuple[pd.DataFrame, list[Finding]]:
    """Records of the parameters defined by a test code (`testcd`): PARAMCD by the parameter table,
    AVAL (--STRESN), AVALC (--STRESC), ADT (--DTC), ATPT/ATPTN, SRCDOM/SRCVAR/SRCSEQ."""
    by_test = [p for p in doc["parameters"] if "testcd" in p]
    if not by_test:
        return frame.iloc[0:0], []
    source = doc["source"]
    prefix = source[:2]
    testcd = f"{prefix}TESTCD"
    if testcd not in frame.columns:
        raise AdamInputError("required variable is missing", dataset=source, variable=testcd)
    findings: list[Finding] = []
    codes = text(frame, testcd).str.upper()
    paramcd = pd.Series("", index=frame.index, dtype="object")
    for p in by_test:
        hit = (codes == p["testcd"].upper()) & (paramcd == "") & compute_where_mask(frame, p.get("where"))
        paramcd[hit] = p["paramcd"]
    for p in by_test:
        if not (paramcd == p["paramcd"]).any():
            findings.append(
                Finding(
                    INPUT_ABSENT,
                    Severity.WARNING,
                    f"no {source} records of {testcd} {p['testcd']}: parameter {p['paramcd']} has no records",
                    dataset=name,
                    variable="PARAMCD",
                    value=p["paramcd"],
                )
            )
    rec = frame[(paramcd != "").to_numpy()].reset_index(drop=True)
    rec["PARAMCD"] = paramcd[paramcd != ""].to_numpy()
    rec["AVAL"] = number(rec, f"{prefix}STRESN")
    rec["AVALC"] = text(rec, f"{prefix}STRESC")
    rec["ADT"] = compute_sas_date(rec, f"{prefix}DTC", dataset=source)
    rec["ATPT"] = text(rec, f"{prefix}TPT")
    rec["ATPTN"] = number(rec, f"{prefix}TPTNUM")
    rec["DTYPE"] = ""
    rec["SRCDOM"], rec["SRCVAR"], rec["SRCSEQ"] = source, f"{prefix}STRESN", number(rec, f"{prefix}SEQ")
    return rec, findings


def _variable_records(
    frame: pd.DataFrame, doc: Mapping, name: str, observed: set[str]
) -> tuple[list[pd.DataFrame], list[Finding]]:
    """Records of the parameters that take a record variable (`aval` or `avalc`; interventions such as
    EX have no test code): one copy of each source record meeting the parameter's `where`. SRCVAR names
    the variable when the source domain has it."""
    source = doc["source"]
    parts, findings = [], []
    for p in doc["parameters"]:
        var = p.get("aval") or p.get("avalc")
        if not var:
            continue
        if var not in frame.columns:
            findings.append(
                Finding(
                    INPUT_ABSENT,
                    Severity.WARNING,
                    f"{source} has no {var}: parameter {p['paramcd']} has no records",
                    dataset=name,
                    variable=var,
                    value=p["paramcd"],
                )
            )
            continue
        # copy-on-write: the columns set below are the filtered frame's own, no copy needed
        rec = frame[compute_where_mask(frame, p.get("where"))]
        rec["PARAMCD"] = p["paramcd"]
        rec["AVAL"] = number(rec, var) if "aval" in p else np.nan
        rec["AVALC"] = text(rec, var) if "avalc" in p else ""
        rec["DTYPE"] = ""
        rec["SRCDOM"], rec["SRCVAR"] = source, var if var in observed else ""
        rec["SRCSEQ"] = number(rec, f"{source[:2]}SEQ")
        parts.append(rec)
    return parts, findings


def _records(
    sdtm: Mapping[str, pd.DataFrame], adsl: pd.DataFrame, doc: Mapping, name: str
) -> tuple[pd.DataFrame, list[Finding]]:
    """The analysed records: those of the test-coded parameters, then those of the variable ones."""
    frame, findings = _source_frame(sdtm, adsl, doc, name)
    observed = set(sdtm[doc["source"]].columns)
    tests, found = _test_records(frame, doc, name)
    parts, found_more = _variable_records(frame, doc, name, observed)
    pieces = ([tests] if any("testcd" in p for p in doc["parameters"]) else []) + parts
    records = pd.concat(pieces, ignore_index=True) if len(pieces) > 1 else (pieces or [tests])[0]
    return records, findings + found + found_more


def derive_parameter(frame: pd.DataFrame, step: Mapping, ctx: Mapping) -> pd.DataFrame:
    """New records of a derived parameter from a closed formula of other parameters' AVAL, per `by`
    group: a named formula of fixed parameters (BMI) or a two-input formula of ARITHMETIC on the
    step's `inputs` (ratio, percent); inputs named in `constant` are the subject's single value (HEIGHT
    for BMI)."""
    if step["formula"] in FORMULAS:
        inputs, formula = FORMULAS[step["formula"]]
    else:
        inputs, formula = tuple(step["inputs"]), ARITHMETIC[step["formula"]]
    by = list(step["by"])
    wide = _complete_inputs(frame, inputs, by, set(step.get("constant") or []))
    new = wide[by].copy()
    new["PARAMCD"] = step["paramcd"]
    new["AVAL"] = formula(*(wide[c].astype("float64") for c in inputs)).to_numpy()
    new["DTYPE"] = ""
    return pd.concat([frame, merge_subject_variables(new, ctx["adsl"])], ignore_index=True)


def _complete_inputs(
    frame: pd.DataFrame, inputs: Sequence[str], by: list[str], constant: set[str]
) -> pd.DataFrame:
    """One row per `by` group with the AVAL of every input parameter as a column, only the groups where
    every input is present (an input named in `constant` is the subject's single value)."""
    slim = _columns_of(frame, [*by, "USUBJID", "PARAMCD", "AVAL"])  # records are wide: take only these
    usable = slim[((frame["DTYPE"] == "") & frame["AVAL"].notna()).to_numpy()]
    keyed = usable[(~usable["PARAMCD"].isin(constant) & usable["PARAMCD"].isin(inputs)).to_numpy()]
    wide = keyed.groupby([*by, "PARAMCD"], dropna=False, sort=False)["AVAL"].first().unstack("PARAMCD")
    wide = wide.reset_index()
    wide.columns.name = None
    for code in constant:
        per_subject = usable[usable["PARAMCD"] == code].drop_duplicates("USUBJID", keep="last")
        wide[code] = wide["USUBJID"].map(per_subject.set_index("USUBJID")["AVAL"])
    for code in inputs:
        if code not in wide.columns:
            wide[code] = np.nan
    return wide[wide[list(inputs)].notna().all(axis=1)]


def _columns_of(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """The frame's columns among `names` (once each, in that order): filtering them takes those alone, not
    the dozens of ADSL variables every record carries."""
    return frame[[c for c in dict.fromkeys(names) if c in frame.columns]]


def derive_score(frame: pd.DataFrame, step: Mapping, ctx: Mapping) -> pd.DataFrame:
    """A questionnaire score per `by` group (one time point) from several item parameters, only where
    every item is answered: their sum (`sum`: the EQ-5D-5L level sum score), or a value set (`value_set`:
    `start` plus the decrement of each item's level, the EQ-5D-5L index; a level the table does not list
    decrements 0, as level 1 does). A level that is not one of the items' `levels` is an AdamInputError."""
    inputs = list(step["inputs"])
    by = list(step["by"])
    wide = _complete_inputs(frame, inputs, by, set())
    levels = {float(v) for v in step.get("levels") or []}
    for code in inputs:
        off = ~wide[code].astype("float64").isin(levels) if levels else pd.Series(False, index=wide.index)
        if off.any():
            row = wide[off].iloc[0]
            raise AdamInputError(
                f"{code} = {row[code]:g} is not a level of the score {step['paramcd']} ({sorted(levels)})",
                dataset="ADaM",
                variable="AVAL",
                usubjid=str(row["USUBJID"]),
            )
    if "value_set" in step:
        table = step["value_set"]
        value = pd.Series(float(table["start"]), index=wide.index)
        for code in inputs:
            decrements = {float(k): float(v) for k, v in (table["decrements"].get(code) or {}).items()}
            value = value + wide[code].astype("float64").map(decrements).fillna(0.0)
    else:
        value = wide[inputs].astype("float64").sum(axis=1)
    new = wide[by].copy()
    new["PARAMCD"] = step["paramcd"]
    new["AVAL"] = value.round(int(step.get("digits", 12))).to_numpy()
    new["DTYPE"] = ""
    return pd.concat([frame, merge_subject_variables(new, ctx["adsl"])], ignore_index=True)


def _aggregated(rows: pd.DataFrame, by: list[str], function: str) -> pd.Series:
    """One value per `by` group: sum/mean/min/max/count of the non-missing AVAL (a sum of none is 0), or
    Y when any AVALC of the group is present (`any`), "" otherwise."""
    keys = [rows[b] for b in by]
    if function == "any":
        present = (text(rows, "AVALC") != "").groupby(keys, dropna=False, sort=True).any()
        return present.map({True: "Y", False: ""}).rename("AVALC")
    values = number(rows, "AVAL")
    if function == "sum":
        result = compute_group_sums(values, keys, sort=True)["sum"]
    elif function == "mean":
        result = compute_group_means(values, keys, sort=True)
    else:
        grouped = values.groupby(keys, dropna=False, sort=True)
        result = grouped.count() if function == "count" else getattr(grouped, function)()
    return result.astype("float64").rename("AVAL")


def derive_aggregate(frame: pd.DataFrame, step: Mapping, ctx: Mapping) -> pd.DataFrame:
    """New parameters summarising other parameters' records per `by` group (admiral's
    derive_param_exposure: total dose, total duration, any dose adjustment), among the observed records
    meeting `where`; `set` gives the new records' constants (PARCAT1), `start`/`end` the variables that
    take the earliest start and the latest end (the start where an end is missing) of the summarised
    records."""
    by = list(step["by"])
    start, end = step.get("start"), step.get("end")
    slim = _columns_of(frame, [*by, "PARAMCD", "AVAL", "AVALC", *(v for v in (start, end) if v)])
    source = slim[((frame["DTYPE"] == "") & compute_where_mask(frame, step.get("where"))).to_numpy()]
    new = []
    for p in step["parameters"]:
        rows = source[source["PARAMCD"] == p["source"]]
        if not len(rows):
            continue
        out = _aggregated(rows, by, p["function"]).reset_index()
        keys = [rows[b] for b in by]
        if start:
            out[start] = number(rows, start).groupby(keys, dropna=False, sort=True).min().to_numpy()
        if end:
            latest = number(rows, end).fillna(number(rows, start) if start else np.nan)
            out[end] = latest.groupby(keys, dropna=False, sort=True).max().to_numpy()
        out["PARAMCD"] = p["paramcd"]
        if "AVAL" not in out.columns:
            out["AVAL"] = np.nan
        out["DTYPE"] = ""
        for var, val in (step.get("set") or {}).items():
            out[var] = val
        new.append(out)
    if not new:
        return frame
    added = merge_subject_variables(pd.concat(new, ignore_index=True), ctx["adsl"])
    return pd.concat([frame, added], ignore_index=True)


def derive_summary_records(frame: pd.DataFrame, step: Mapping, ctx: Mapping) -> pd.DataFrame:
    """Summary records (DTYPE, e.g. AVERAGE): the mean of the non-missing AVAL of each `by` group of
    observed records; only the `by` variables, AVAL, DTYPE and ADSL's are set on them."""
    by = list(step["by"])
    slim = _columns_of(frame, [*by, "AVAL"])
    source = slim[((frame["DTYPE"] == "") & compute_where_mask(frame, step.get("where"))).to_numpy()]
    grouped = compute_group_means(source["AVAL"], [source[b] for b in by], sort=False).reset_index()
    grouped = grouped[grouped["AVAL"].notna()]
    grouped["DTYPE"] = step["dtype"]
    return pd.concat([frame, merge_subject_variables(grouped, ctx["adsl"])], ignore_index=True)


def derive_lookup(frame: pd.DataFrame, step: Mapping, ctx: Mapping) -> pd.DataFrame:
    """Variables from a table keyed by one variable (reference ranges by PARAMCD)."""
    key = text(frame, step["by"])
    table = step["values"]
    names = sorted({v for row in table.values() for v in row})
    for var in names:
        frame[var] = key.map({k: row.get(var) for k, row in table.items()}).astype("float64")
    return frame


def derive_range_indicator(frame: pd.DataFrame, step: Mapping, ctx: Mapping) -> pd.DataFrame:
    """LOW / NORMAL / HIGH of a value against its low and high limits ("" without value or limits)."""
    value = number(frame, step.get("value", "AVAL"))
    low, high = number(frame, step.get("low", "ANRLO")), number(frame, step.get("high", "ANRHI"))
    out = np.select(
        [value.isna() | (low.isna() & high.isna()), value < low, value > high],
        ["", "LOW", "HIGH"],
        default="NORMAL",
    )
    frame[step["variable"]] = out
    return frame


def derive_base(frame: pd.DataFrame, step: Mapping, ctx: Mapping) -> pd.DataFrame:
    """BASE-type variables: the value of the baseline-flagged record of each `by` group on every record
    of that group (BASE from AVAL, BNRIND from ANRIND)."""
    flag = step.get("flag", "ABLFL")
    by = list(step["by"])
    base = frame[frame[flag] == "Y"].drop_duplicates(by, keep="last")[[*by, step["source"]]]
    base = base.rename(columns={step["source"]: "_BASE"})
    merged = frame[by].merge(base, on=by, how="left", sort=False)
    frame[step["variable"]] = merged["_BASE"].to_numpy()
    return frame


def derive_change(frame: pd.DataFrame, step: Mapping, ctx: Mapping) -> pd.DataFrame:
    """CHG = AVAL - BASE and PCHG = CHG / |BASE| x 100 (BASE not 0) on the records meeting `where`."""
    where = compute_where_mask(frame, step.get("where"))
    aval, base = number(frame, "AVAL"), number(frame, "BASE")
    chg = (aval - base).where(where)
    frame[step.get("variable", "CHG")] = chg
    if step.get("percent"):
        frame[step["percent"]] = (chg / base.abs() * 100).where(base != 0)
    return frame


def derive_extreme_records(frame: pd.DataFrame, step: Mapping, ctx: Mapping) -> pd.DataFrame:
    """New records copying the first/last record of each `by` group among those meeting `where`, with
    the values in `set` and the variables in `clear` emptied (admiral's derive_extreme_records: an End of
    Treatment LOV record)."""
    eligible = frame[compute_where_mask(frame, step.get("where"))]
    names, ascending = compute_order_keys(list(step["order"]))
    by = list(step["by"])
    ordered = compute_sorted(eligible, by + names, [True] * len(by) + ascending)
    new = ordered.drop_duplicates(by, keep="last" if step.get("pick", "last") == "last" else "first").copy()
    for var, value in (step.get("set") or {}).items():
        new[var] = value
    for var in step.get("clear") or []:
        new[var] = np.nan if pd.api.types.is_numeric_dtype(frame[var]) else ""
    return pd.concat([frame, new], ignore_index=True)


BDS_STEPS: dict[str, Callable[[pd.DataFrame, Mapping, Any], pd.DataFrame]] = {
    "parameter": derive_parameter,
    "score": derive_score,
    "aggregate": derive_aggregate,
    "compute": derive_compute,
    "impute_date": derive_imputed_date,
    "summary_records": derive_summary_records,
    "lookup": derive_lookup,
    "range_indicator": derive_range_indicator,
    "base": derive_base,
    "change": derive_change,
    "extreme_records": derive_extreme_records,
    "study_day": derive_study_day,
    "duration": derive_duration,
    "flag": derive_flag,
    "assign": derive_assign,
    "copy": derive_copy,
    "map": derive_map,
    "cut": derive_cut,
    "extreme_flag": derive_extreme_flag,
}
"""Every BDS step kind (the keys of the `derivations` items) and its function."""


def _fill_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Records added by steps carry NaN in text columns: make them "" like the observed records."""
    for col in frame.columns:
        if frame[col].dtype == object:
            frame[col] = frame[col].where(frame[col].notna(), "")
    return frame


def derive_bds(
    sdtm: Mapping[str, pd.DataFrame], adsl: pd.DataFrame, doc: Mapping, *, name: str, cutoff_days: float
) -> tuple[pd.DataFrame, list[Finding]]:
    """The BDS dataset `name`: its records from the source domain, the spec's steps, PARAM/PARAMN from
    the parameter table, records after the cut-off left out, ASEQ by the stated sort key."""
    frame, findings = _records(sdtm, adsl, doc, name)
    ctx = {"dataset": doc["source"], "adsl": adsl, "cutoff_days": cutoff_days}
    dated = doc.get("cutoff_date", "ADT")
    if dated in frame.columns:
        frame = frame[~(number(frame, dated) > cutoff_days)].reset_index(drop=True)
    frame = derive_steps(frame, doc.get("derivations"), BDS_STEPS, ctx, after=_fill_text)
    table = {p["paramcd"]: p for p in doc["parameters"]}
    param, paramn = ({k: p[key] for k, p in table.items()} for key in ("param", "paramn"))
    frame["PARAM"] = compute_mapped(frame["PARAMCD"], param).fillna("")
    frame["PARAMN"] = compute_mapped(frame["PARAMCD"], paramn).astype("float64")
    names, ascending = compute_order_keys(list(doc.get("order") or ["PARAMN", "ADT"]))
    frame = sort_in_place(frame, ["USUBJID", *names], [True, *ascending])
    frame[doc.get("sequence", "ASEQ")] = frame.groupby("USUBJID").cumcount().astype("float64") + 1
    return frame, findings
