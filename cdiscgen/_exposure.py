"""Which exposure records count as exposure: one rule for the SDTM reference dates (RFXSTDTC/RFXENDTC),
the validator's checks of them and ADaM's treatment dates.

A study states it in `reference_dates.exposure` of study.yaml (`dataset`, default EX; `where`, a
condition on that dataset's variables). Without a `where`, every record counts except a dose of 0 of a
treatment that is not a placebo: a 0 mg record of an active drug is a dose withheld (an interruption),
while a placebo administration is recorded with dose 0 and is exposure. Placebo treatments are the ones
declared `placebo: true` in design.treatments; without study metadata, an EXTRT containing "PLACEBO".

Where design.treatments is declared, a record of a treatment it does not name is never exposure, whatever
the rule: a misspelt or foreign drug name must not move RFXSTDTC or ADSL.TRTSDT. The SDTM stage reports
each such record (MAP021, an error) with its raw file and line.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cdiscgen._conditions import compute_condition_mask

DEFAULT_EXPOSURE_DATASET = "EX"


def exposure_dataset(settings: dict[str, Any] | None) -> str:
    """The domain whose records are the exposure (EX unless study.yaml says otherwise)."""
    rule = ((settings or {}).get("reference_dates") or {}).get("exposure") or {}
    return str(rule.get("dataset") or DEFAULT_EXPOSURE_DATASET)


def declared_treatments(settings: dict[str, Any] | None, *, placebo: bool = False) -> frozenset[str] | None:
    """Names (upper case) of design.treatments (only the `placebo: true` ones with `placebo`), or None
    when the study does not declare them."""
    treatments = ((settings or {}).get("design") or {}).get("treatments")
    if treatments is None:
        return None
    return frozenset(str(t["name"]).strip().upper() for t in treatments if t.get("placebo") or not placebo)


def _treatment_names(records: pd.DataFrame, settings: dict[str, Any] | None) -> pd.Series:
    trt_col = f"{exposure_dataset(settings)[:2]}TRT"
    if trt_col not in records.columns:
        return pd.Series("", index=records.index, dtype="str")
    return records[trt_col].fillna("").astype("str").str.strip().str.upper()


def compute_undesigned_mask(records: pd.DataFrame, settings: dict[str, Any] | None) -> np.ndarray:
    """True for the exposure records of a treatment design.treatments does not name (all False when the
    study declares no treatments or the dataset has no --TRT)."""
    declared = declared_treatments(settings)
    if declared is None or f"{exposure_dataset(settings)[:2]}TRT" not in records.columns:
        return np.zeros(len(records), dtype=bool)
    return ~_treatment_names(records, settings).isin(declared).to_numpy()


def compute_exposure_mask(records: pd.DataFrame, settings: dict[str, Any] | None) -> np.ndarray:
    """Boolean per record of the exposure dataset: True where the record is exposure."""
    return _compute_rule_mask(records, settings) & ~compute_undesigned_mask(records, settings)


def _compute_rule_mask(records: pd.DataFrame, settings: dict[str, Any] | None) -> np.ndarray:
    rule = ((settings or {}).get("reference_dates") or {}).get("exposure") or {}
    if rule.get("where"):

        def operand(kind: str, name: str) -> pd.Series:
            if name not in records.columns:
                return pd.Series("", index=records.index, dtype="str")
            return records[name]

        return compute_condition_mask(rule["where"], operand, records.index).mask.to_numpy(dtype=bool)
    dose_col = f"{exposure_dataset(settings)[:2]}DOSE"
    if dose_col not in records.columns:
        return np.ones(len(records), dtype=bool)
    dose = pd.to_numeric(records[dose_col], errors="coerce").to_numpy(dtype=float)
    treatment = _treatment_names(records, settings)
    placebos = declared_treatments(settings, placebo=True)
    if placebos is not None:
        placebo = treatment.isin(placebos).to_numpy()
    else:
        placebo = treatment.str.contains("PLACEBO", regex=False).to_numpy()
    return ~(dose == 0) | placebo
