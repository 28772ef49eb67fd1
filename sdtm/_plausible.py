"""Plausibility of mapped values: numbers within the range their variable declares (`range: {min, max}`
in specs/sdtm), dates within the study's plausible window (`plausible_dates` in study.yaml; default from
1900-01-01 to one year after the data cut-off). A value outside is kept as collected and reported, so a
typed year 1000 or a negative dose is seen and queried rather than silently moving reference dates."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from cdiscgen._distinct import compute_mapped
from cdiscgen._findings import Finding, Severity
from cdiscgen._specs import DatasetSpec, Study
from sdtm._context import RuleContext, row_findings

DEFAULT_EARLIEST = "1900-01-01"


def plausible_date_window(study: Study) -> tuple[str, str]:
    """(earliest, latest) ISO dates a collected date may have."""
    window = study.settings.get("plausible_dates") or {}
    cutoff = study.cutoff
    latest_default = _one_year_after(cutoff).isoformat() if cutoff else "2100-12-31"
    return str(window.get("earliest", DEFAULT_EARLIEST)), str(window.get("latest", latest_default))


def _one_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def compute_implausible_values(frame: pd.DataFrame, spec: DatasetSpec, study: Study) -> list[Finding]:
    """MAP018 for numbers outside their declared range, MAP019 for dates outside the plausible window."""
    findings: list[Finding] = []
    for var in spec.variables:
        if var.name not in frame.columns:
            continue
        ctx = RuleContext(spec.name, var.name, study.codelists)
        if var.is_numeric and var.value_range is not None:
            low, high = var.value_range
            values = frame[var.name].to_numpy(dtype=float)
            with np.errstate(invalid="ignore"):
                bad = np.zeros(len(values), dtype=bool)
                if low is not None:
                    bad |= values < low
                if high is not None:
                    bad |= values > high
            if not bad.any():
                continue
            shown = "..".join("" if b is None else f"{b:g}" for b in (low, high))
            findings += row_findings(
                frame,
                bad,
                code="MAP018",
                severity=Severity.ERROR,
                message=f"{var.name} {{value}} is outside its plausible range [{shown}] (specs); kept as collected",
                ctx=ctx,
                values=compute_mapped(frame[var.name], lambda x: f"{x:g}"),
                expected=shown,
            )
        elif var.name.endswith("DTC") and not var.is_numeric:
            earliest, latest = plausible_date_window(study)
            text = frame[var.name].astype("str")
            findings += row_findings(
                frame,
                compute_outside_window(text, earliest, latest),
                code="MAP019",
                severity=Severity.ERROR,
                message=f"{var.name} {{value}} is outside the plausible dates {earliest} to {latest}; kept as collected",
                ctx=ctx,
                values=text,
                expected=f"{earliest} to {latest}",
            )
    return findings


def compute_outside_window(dtc: pd.Series, earliest: str, latest: str) -> np.ndarray:
    """True where an ISO 8601 date is wholly before `earliest` or after `latest`, compared at the value's
    own precision (a year 1000 is; 1900 against 1900-01-01 is not). Works on the distinct values."""
    codes, uniques = pd.factorize(dtc.fillna("").astype("str").str[:10], use_na_sentinel=False)
    days = [d if isinstance(d, str) else "" for d in uniques]
    outside = np.array(
        [bool(d) and (d < earliest[: len(d)] or d > latest[: len(d)]) for d in days], dtype=bool
    )
    return outside[codes] if len(uniques) else np.zeros(len(dtc), dtype=bool)
