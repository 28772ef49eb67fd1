"""OCCDS engine: occurrence datasets (ADAE, ADCM, ADMH) from one SDTM events/interventions domain,
by the ordered steps of specs/adam/params/<dataset>.yaml (`engine: occds`).

Each record of the source domain for a subject of ADSL becomes one record, with every ADSL variable
available to the steps (TRTSDT, TRTEDT, DTHDT, ...). Steps: analysis dates with partial-date imputation
and --DTF flags (`impute_date`), study days, durations, treatment-emergence with a declared window,
flags from conditions (PREFL/ONTRTFL), first-occurrence flags (AOCCFL/AOCCSFL/AOCCPFL/AOCCIFL) and value
maps (ASEVN, ATOXGRN).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from cdiscgen._findings import Finding, Severity

from ._codes import RECORDS_WITHOUT_SUBJECT
from ._common import number, text
from ._dates import compute_range_imputation
from ._errors import AdamInputError
from ._steps import (
    derive_assign,
    derive_copy,
    derive_cut,
    derive_duration,
    derive_extreme_flag,
    derive_flag,
    derive_map,
    derive_study_day,
)


def derive_imputed_date(frame: pd.DataFrame, step: Mapping, ctx: Any = None) -> pd.DataFrame:
    """An analysis date from an --DTC variable, a partial date imputed to the first or last day of its
    range (flag D/M) and kept within the `not_before` / `not_after` dates that fall in that range
    (admiral's min_dates/max_dates: an AE start in the month of first dose is imputed to the first dose,
    an end in the month of death to the death date)."""
    dataset = ctx["dataset"] if ctx else "records"
    side = step.get("impute", "first")
    days, flag, lo, hi = compute_range_imputation(frame, step["source"], dataset=dataset, side=side)
    imputed = flag != ""
    for name in step.get("not_before") or []:
        bound = number(frame, name)
        inside = imputed & bound.between(lo, hi) & (bound > days)
        days = days.where(~inside, bound)
    for name in step.get("not_after") or []:
        bound = number(frame, name)
        inside = imputed & bound.between(lo, hi) & (bound < days)
        days = days.where(~inside, bound)
    if side == "none":
        days = days.where(~imputed)
    frame[step["variable"]] = days.to_numpy()
    if step.get("flag"):
        frame[step["flag"]] = np.where(frame[step["variable"]].notna() & imputed, flag, "")
    return frame


def derive_treatment_emergent(frame: pd.DataFrame, step: Mapping, ctx: Any = None) -> pd.DataFrame:
    """Treatment-emergent flag (admiral's derive_var_trtemfl), first case that applies: untreated
    (no treatment start) -> ""; ended before first dose -> ""; no start date -> Y (conservative); start on
    or after the first dose and, when the treatment end is known, on or before its end + `end_window`
    days -> Y; otherwise ""."""
    start = number(frame, step.get("start", "ASTDT"))
    end = number(frame, step.get("end", "AENDT"))
    trt_start = number(frame, step.get("treatment_start", "TRTSDT"))
    trt_end = number(frame, step.get("treatment_end", "TRTEDT"))
    window = float(step.get("end_window", 0))
    treated = trt_start.notna()
    ended_before = end.notna() & (end < trt_start)
    no_start = start.isna()
    during = (start >= trt_start) & (trt_end.isna() | (start <= trt_end + window))
    flag = treated & ~ended_before & (no_start | during)
    frame[step["variable"]] = np.where(flag, "Y", "")
    return frame


OCCDS_STEPS: dict[str, Callable[[pd.DataFrame, Mapping, Any], pd.DataFrame]] = {
    "impute_date": derive_imputed_date,
    "study_day": derive_study_day,
    "duration": derive_duration,
    "treatment_emergent": derive_treatment_emergent,
    "flag": derive_flag,
    "assign": derive_assign,
    "copy": derive_copy,
    "map": derive_map,
    "cut": derive_cut,
    "extreme_flag": derive_extreme_flag,
}
"""Every OCCDS step kind (the keys of the `derivations` items) and its function."""


def derive_occds(
    sdtm: Mapping[str, pd.DataFrame], adsl: pd.DataFrame, doc: Mapping, *, name: str, cutoff_days: float
) -> tuple[pd.DataFrame, list[Finding]]:
    """The occurrence dataset `name` from its source domain and ADSL, by the spec's steps."""
    source = doc["source"]
    findings: list[Finding] = []
    records = sdtm.get(source)
    if records is None:
        raise AdamInputError(f"required SDTM dataset is missing ({name} is derived from it)", dataset=source)
    if "USUBJID" not in records.columns:
        raise AdamInputError("required variable is missing", dataset=source, variable="USUBJID")
    records = records.copy()
    ids = text(records, "USUBJID")
    known = ids.isin(adsl["USUBJID"])
    if (~known).any():
        findings.append(
            Finding(
                RECORDS_WITHOUT_SUBJECT,
                Severity.WARNING,
                f"{int((~known).sum())} {source} record(s) of subjects not in ADSL are not in {name}",
                dataset=name,
                usubjid=str(ids[~known].iloc[0]),
            )
        )
    records = records[known.to_numpy()].reset_index(drop=True)
    subject = adsl.drop(columns=[c for c in adsl.columns if c in records.columns and c != "USUBJID"])
    frame = records.merge(subject, on="USUBJID", how="left", sort=False)
    ctx = {"dataset": source, "cutoff_days": cutoff_days}
    for item in doc.get("derivations") or []:
        ((kind, body),) = item.items()
        frame = OCCDS_STEPS[kind](frame, body or {}, ctx)
    order = list(doc.get("order") or ["USUBJID"])
    missing = [v for v in order if v not in frame.columns]
    if missing:
        raise AdamInputError(f"{name} sort key is missing", dataset=source, variable=missing[0])
    frame = frame.sort_values(order, kind="mergesort").reset_index(drop=True)
    if doc.get("sequence"):
        frame[doc["sequence"]] = frame.groupby("USUBJID").cumcount().astype("float64") + 1
    return frame, findings
