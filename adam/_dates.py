"""ISO 8601 text dates to ADaM numeric dates.

Representation chosen for every ADaM date (ADT, TRTSDT, DTHDT, STARTDT, ...): **float64 days since
1960-01-01** (the SAS date value; NaN = missing), so the XPT writer can store them as numerics with
format DATE9. without conversion. Study days and durations are plain differences of these numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdiscgen._iso8601 import KNOWN_DATE_PREFIX, PLACEHOLDER

from ._errors import AdamInputError

SAS_EPOCH = pd.Timestamp("1960-01-01")
_ISO = r"^\d{4}(?:-\d{2}(?:-\d{2}(?:T\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?)?)?)?$"


def _text(values: pd.Series) -> pd.Series:
    return values.astype("string").fillna("").str.strip()


def compute_date_parts(
    frame: pd.DataFrame, variable: str, *, dataset: str
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Split an --DTC column into (complete date as SAS days, year, month) after validating it.

    Complete dates give a SAS day number; partial dates (YYYY or YYYY-MM, or a placeholder form whose known
    start is one: 2024-03--T10:20, 2024---05) give NaN days but keep their year/month so that imputation
    rules can use them. Malformed text raises AdamInputError naming the
    dataset, variable and USUBJID.
    """
    if variable not in frame.columns:
        empty = pd.Series(np.nan, index=frame.index, dtype="float64")
        return empty, empty.copy(), empty.copy()
    # A date column repeats few values many times (visit dates): each distinct value is read once.
    codes, distinct = pd.factorize(frame[variable], use_na_sentinel=False)
    distinct = _text(pd.Series(distinct)).to_numpy(dtype=object)
    days, year, month, bad = _parse_dates(pd.Series(distinct, dtype="str"))
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy()[codes])[0])
        usubjid = str(frame["USUBJID"].iloc[pos]) if "USUBJID" in frame.columns else None
        raise AdamInputError(
            f"malformed ISO 8601 date {distinct[codes[pos]]!r}",
            dataset=dataset,
            variable=variable,
            usubjid=usubjid,
        )

    def spread(values: pd.Series) -> pd.Series:
        return pd.Series(values.to_numpy(dtype="float64")[codes], index=frame.index, dtype="float64")

    return spread(days), spread(year), spread(month)


def _parse_dates(text: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """(SAS days, year, month, malformed) of distinct ISO 8601 texts ("" = missing)."""
    present = text != ""
    ok = text.str.match(_ISO) | text.str.fullmatch(PLACEHOLDER) | ~present
    # the date known from the start (a placeholder form such as 2024-03--T10:20 is the partial 2024-03)
    date_part = text.str.extract(KNOWN_DATE_PREFIX, expand=False).fillna("").astype("str")
    complete = present & (date_part.str.len() == 10)
    parsed = pd.to_datetime(date_part.where(complete, None), format="%Y-%m-%d", errors="coerce")
    month = pd.to_numeric(date_part.str.slice(5, 7).where(date_part.str.len() >= 7, None), errors="coerce")
    bad = ~ok | (complete & parsed.isna()) | (month.notna() & ~month.between(1, 12))
    days = ((parsed - SAS_EPOCH).dt.days).astype("float64")
    year = pd.to_numeric(date_part.str.slice(0, 4).where(date_part != "", None), errors="coerce").astype(
        "float64"
    )
    return days, year, month.astype("float64"), bad


def compute_sas_date(frame: pd.DataFrame, variable: str, *, dataset: str) -> pd.Series:
    """Complete dates of an --DTC column as SAS day numbers (partial or missing -> NaN)."""
    return compute_date_parts(frame, variable, dataset=dataset)[0]


def compute_first_day_imputation(
    frame: pd.DataFrame, variable: str, *, dataset: str
) -> tuple[pd.Series, pd.Series]:
    """Impute a partial date to the first day of the known month/year.

    Returns (SAS days, date imputation flag): "" for a complete date, "D" when the day was imputed,
    "M" when month and day were imputed (ADaMIG --DTF values).
    """
    days, year, month = compute_date_parts(frame, variable, dataset=dataset)
    need = days.isna() & year.notna()
    first = pd.to_datetime(
        {"year": year.where(need, 2000), "month": month.where(need & month.notna(), 1), "day": 1}
    )
    imputed = (first - SAS_EPOCH).dt.days.astype("float64")
    out = days.where(~need, imputed)
    flag = pd.Series("", index=frame.index, dtype="str")
    flag = flag.mask(need & month.notna(), "D").mask(need & month.isna(), "M")
    return out, flag


def compute_study_day(adt: pd.Series, trtsdt: pd.Series) -> pd.Series:
    """--DY convention: date - first dose (+1 on or after it); no day 0."""
    adt = pd.to_numeric(pd.Series(adt), errors="coerce").astype("float64")
    trtsdt = pd.to_numeric(pd.Series(trtsdt, index=adt.index), errors="coerce").astype("float64")
    diff = adt - trtsdt
    return diff + (diff >= 0).astype("float64")


def compute_iso_from_sas(days: pd.Series) -> pd.Series:
    """SAS day numbers back to ISO 8601 dates (for messages and HTML); NaN -> ""."""
    stamp = SAS_EPOCH + pd.to_timedelta(days, unit="D")
    return stamp.dt.strftime("%Y-%m-%d").fillna("").astype("str")


def compute_range_imputation(
    frame: pd.DataFrame, variable: str, *, dataset: str, side: str
) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """Impute a partial date to the first (side="first") or last ("last") day of its possible range.

    Returns (SAS days, flag, range start, range end): the flag is "" for a complete date, "D" when the
    day was imputed, "M" when month and day were (ADaMIG --DTF); the range is the span of dates the
    partial value allows (equal to the date when complete, NaN when no year is known).
    """
    days, year, month = compute_date_parts(frame, variable, dataset=dataset)
    need = days.isna() & year.notna()
    has_month = need & month.notna()
    y = year.where(need, 2000)
    first_month = month.where(has_month, 1)
    last_month = month.where(has_month, 12)
    lo = pd.to_datetime({"year": y, "month": first_month, "day": 1})
    hi = pd.to_datetime({"year": y, "month": last_month, "day": 1}) + pd.offsets.MonthEnd(0)
    lo_days = ((lo - SAS_EPOCH).dt.days).astype("float64").where(need, days)
    hi_days = ((hi - SAS_EPOCH).dt.days).astype("float64").where(need, days)
    out = lo_days if side == "first" else hi_days
    flag = pd.Series("", index=frame.index, dtype="str").mask(has_month, "D").mask(need & month.isna(), "M")
    return out, flag, lo_days, hi_days
