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

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from cdiscgen._findings import Finding, Severity

from ._codes import INPUT_ABSENT, RECORDS_WITHOUT_SUBJECT
from ._common import number, text
from ._dates import compute_sas_date
from ._errors import AdamInputError
from ._steps import (
    compute_order_keys,
    compute_sorted,
    compute_where_mask,
    derive_assign,
    derive_copy,
    derive_cut,
    derive_duration,
    derive_extreme_flag,
    derive_flag,
    derive_map,
    derive_study_day,
)

# closed vocabulary of derived parameters: name -> (inputs, function of the input AVAL columns)
FORMULAS: dict[str, tuple[tuple[str, ...], Callable[..., pd.Series]]] = {
    # mean arterial pressure from systolic and diastolic pressure (mmHg)
    "mean_arterial_pressure": (("SYSBP", "DIABP"), lambda sys, dia: (2 * dia + sys) / 3),
    # body mass index (kg/m2) from weight (kg) and height (cm)
    "bmi": (("WEIGHT", "HEIGHT"), lambda w, h: w / (h / 100) ** 2),
    # body surface area (m2), Mosteller: sqrt(height cm x weight kg / 3600)
    "bsa_mosteller": (("HEIGHT", "WEIGHT"), lambda h, w: np.sqrt(h * w / 3600)),
}


def _records(
    sdtm: Mapping[str, pd.DataFrame], adsl: pd.DataFrame, doc: Mapping, name: str
) -> tuple[pd.DataFrame, list[Finding]]:
    """The analysed SDTM records: PARAMCD by the parameter table, AVAL/AVALC, ADT, ATPT/ATPTN, ADSL."""
    source = doc["source"]
    frame = sdtm.get(source)
    if frame is None:
        raise AdamInputError(f"required SDTM dataset is missing ({name} is derived from it)", dataset=source)
    prefix = source[:2]
    testcd = f"{prefix}TESTCD"
    for col in ("USUBJID", testcd):
        if col not in frame.columns:
            raise AdamInputError("required variable is missing", dataset=source, variable=col)
    findings: list[Finding] = []
    codes = text(frame, testcd).str.upper()
    paramcd = pd.Series("", index=frame.index, dtype="object")
    for p in doc["parameters"]:
        if "testcd" not in p:
            continue
        hit = (codes == p["testcd"].upper()) & (paramcd == "") & compute_where_mask(frame, p.get("where"))
        paramcd[hit] = p["paramcd"]
    for p in doc["parameters"]:
        if "testcd" in p and not (paramcd == p["paramcd"]).any():
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
    rec = frame[(paramcd != "").to_numpy()].copy()
    rec["PARAMCD"] = paramcd[paramcd != ""].to_numpy()
    known = text(rec, "USUBJID").isin(adsl["USUBJID"])
    if (~known).any():
        findings.append(
            Finding(
                RECORDS_WITHOUT_SUBJECT,
                Severity.WARNING,
                f"{int((~known).sum())} {source} record(s) of subjects not in ADSL are not in {name}",
                dataset=name,
                usubjid=str(text(rec, "USUBJID")[~known].iloc[0]),
            )
        )
    rec = rec[known.to_numpy()].reset_index(drop=True)
    rec["AVAL"] = number(rec, f"{prefix}STRESN")
    rec["AVALC"] = text(rec, f"{prefix}STRESC")
    rec["ADT"] = compute_sas_date(rec, f"{prefix}DTC", dataset=source)
    rec["ATPT"] = text(rec, f"{prefix}TPT")
    rec["ATPTN"] = number(rec, f"{prefix}TPTNUM")
    rec["DTYPE"] = ""
    rec["SRCDOM"], rec["SRCVAR"], rec["SRCSEQ"] = source, f"{prefix}STRESN", number(rec, f"{prefix}SEQ")
    return _with_adsl(rec, adsl), findings


def _with_adsl(rec: pd.DataFrame, adsl: pd.DataFrame) -> pd.DataFrame:
    subject = adsl.drop(columns=[c for c in adsl.columns if c in rec.columns and c != "USUBJID"])
    return rec.merge(subject, on="USUBJID", how="left", sort=False)


def derive_parameter(frame: pd.DataFrame, step: Mapping, ctx: Mapping) -> pd.DataFrame:
    """New records of a derived parameter from a closed formula of other parameters' AVAL, per `by`
    group; inputs named in `constant` are the subject's single value (HEIGHT for BMI)."""
    inputs, formula = FORMULAS[step["formula"]]
    by = list(step["by"])
    constant = set(step.get("constant") or [])
    usable = frame[(frame["DTYPE"] == "") & frame["AVAL"].notna()]
    keyed = usable[~usable["PARAMCD"].isin(constant)]
    keyed = keyed[keyed["PARAMCD"].isin(inputs)]
    wide = keyed.groupby([*by, "PARAMCD"], dropna=False, sort=False)["AVAL"].first().unstack("PARAMCD")
    wide = wide.reset_index()
    wide.columns.name = None
    for code in constant:
        per_subject = usable[usable["PARAMCD"] == code].drop_duplicates("USUBJID", keep="last")
        wide[code] = wide["USUBJID"].map(per_subject.set_index("USUBJID")["AVAL"])
    for code in inputs:
        if code not in wide.columns:
            wide[code] = np.nan
    wide = wide[wide[list(inputs)].notna().all(axis=1)]
    new = wide[by].copy()
    new["PARAMCD"] = step["paramcd"]
    new["AVAL"] = formula(*(wide[c].astype("float64") for c in inputs)).to_numpy()
    new["DTYPE"] = ""
    return pd.concat([frame, _with_adsl(new, ctx["adsl"])], ignore_index=True)


def derive_summary_records(frame: pd.DataFrame, step: Mapping, ctx: Mapping) -> pd.DataFrame:
    """Summary records (DTYPE, e.g. AVERAGE): the mean of the non-missing AVAL of each `by` group of
    observed records; only the `by` variables, AVAL, DTYPE and ADSL's are set on them."""
    source = frame[(frame["DTYPE"] == "") & compute_where_mask(frame, step.get("where"))]
    by = list(step["by"])
    grouped = source.groupby(by, dropna=False, sort=False)["AVAL"].mean().reset_index()
    grouped = grouped[grouped["AVAL"].notna()]
    grouped["DTYPE"] = step["dtype"]
    return pd.concat([frame, _with_adsl(grouped, ctx["adsl"])], ignore_index=True)


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
    frame = frame[~(frame["ADT"] > cutoff_days)].reset_index(drop=True)
    for item in doc.get("derivations") or []:
        ((kind, body),) = item.items()
        frame = _fill_text(BDS_STEPS[kind](frame, body or {}, ctx))
    table = {p["paramcd"]: p for p in doc["parameters"]}
    frame["PARAM"] = frame["PARAMCD"].map({k: p["param"] for k, p in table.items()}).fillna("")
    frame["PARAMN"] = frame["PARAMCD"].map({k: p["paramn"] for k, p in table.items()}).astype("float64")
    names, ascending = compute_order_keys(list(doc.get("order") or ["PARAMN", "ADT"]))
    frame = compute_sorted(frame, ["USUBJID", *names], [True, *ascending])
    frame = frame.reset_index(drop=True)
    frame[doc.get("sequence", "ASEQ")] = frame.groupby("USUBJID").cumcount().astype("float64") + 1
    return frame, findings
