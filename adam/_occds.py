"""OCCDS engine: occurrence datasets (ADAE, ADCM, ADMH) from one SDTM events/interventions domain,
by the ordered steps of specs/adam/params/<dataset>.yaml (`engine: occds`).

Each record of the source domain for a subject of ADSL becomes one record, with every ADSL variable
available to the steps (TRTSDT, TRTEDT, DTHDT, ...) and the supplemental qualifiers the spec names
(`supplemental: [QNAM, ...]`, from SUPP<source>). Steps: analysis dates with partial-date imputation
and --DTF flags (`impute_date`), study days, durations, treatment-emergence with a declared window,
flags from conditions (PREFL/ONTRTFL), first-occurrence flags (AOCCFL/AOCCSFL/AOCCPFL/AOCCIFL) and value
maps (ASEVN, ATOXGRN).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from cdiscgen._findings import Finding

from ._common import number
from ._errors import AdamInputError
from ._steps import (
    compute_subject_records,
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
    merge_supplemental,
)

#: The ADSL variables the steps read when the spec names no other (treatment start and end).
TREATMENT_START, TREATMENT_END = "TRTSDT", "TRTEDT"


def derive_treatment_emergent(frame: pd.DataFrame, step: Mapping, ctx: Any = None) -> pd.DataFrame:
    """Treatment-emergent flag (as admiral's derive_var_trtemfl), first case that applies: untreated (no
    treatment start) -> ""; ended before the first dose -> ""; no start date -> Y (conservative); start on
    or after the first dose and, when the treatment end is known, on or before its end + `end_window` days
    -> Y; with `initial_intensity` and `intensity` declared, an event present before the first dose that
    worsened (intensity above the initial one, or either unknown) -> Y; otherwise ""."""
    start = number(frame, step.get("start", "ASTDT"))
    end = number(frame, step.get("end", "AENDT"))
    trt_start = number(frame, step.get("treatment_start", TREATMENT_START))
    trt_end = number(frame, step.get("treatment_end", TREATMENT_END))
    window = float(step.get("end_window", 0))
    treated = trt_start.notna()
    ended_before = end.notna() & (end < trt_start)
    no_start = start.isna()
    during = (start >= trt_start) & (trt_end.isna() | (start <= trt_end + window))
    flag = treated & ~ended_before & (no_start | during | compute_worsened(frame, step, start, trt_start))
    frame[step["variable"]] = np.where(flag, "Y", "")
    return frame


def compute_worsened(frame: pd.DataFrame, step: Mapping, start: pd.Series, trt_start: pd.Series) -> pd.Series:
    """Events that started before the first dose and worsened: the intensity (grade, severity code) is
    above the initial one, or one of them is unknown (conservative); all False without the two declared."""
    if "intensity" not in step:
        return pd.Series(False, index=frame.index)
    initial = number(frame, step["initial_intensity"])
    now = number(frame, step["intensity"])
    return (start < trt_start) & ((initial < now) | initial.isna() | now.isna())


OCCDS_STEPS: dict[str, Callable[[pd.DataFrame, Mapping, Any], pd.DataFrame]] = {
    "impute_date": derive_imputed_date,
    "study_day": derive_study_day,
    "duration": derive_duration,
    "treatment_emergent": derive_treatment_emergent,
    "flag": derive_flag,
    "assign": derive_assign,
    "copy": derive_copy,
    "compute": derive_compute,
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
    frame, findings = compute_subject_records(sdtm, adsl, source, name)
    if doc.get("supplemental"):
        frame = merge_supplemental(frame, sdtm, source, doc["supplemental"], name)
    ctx = {"dataset": source, "cutoff_days": cutoff_days}
    frame = derive_steps(frame, doc.get("derivations"), OCCDS_STEPS, ctx)
    order = list(doc.get("order") or ["USUBJID"])
    missing = [v for v in order if v not in frame.columns]
    if missing:
        raise AdamInputError(f"{name} sort key is missing", dataset=source, variable=missing[0])
    frame = frame.sort_values(order, kind="mergesort").reset_index(drop=True)
    if doc.get("sequence"):
        frame[doc["sequence"]] = frame.groupby("USUBJID").cumcount().astype("float64") + 1
    return frame, findings
