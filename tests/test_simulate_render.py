"""The simulator's text rendering renders each distinct value once and spreads it: every row gets the text
it would get alone. Dates are checked against datetime's own rendering of each format."""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from cdiscgen.simulate._render import _format_fixed, format_dates, format_fixed, format_printf

DAYS = st.one_of(st.none(), st.dates(dt.date(1930, 1, 1), dt.date(2030, 12, 31)))
FORMATS = st.sampled_from(["ISO", "DMY", "DMONY", "OTHER"])


def _date_text(day: dt.date | None, fmt: str) -> str:
    if day is None:
        return ""
    if fmt == "DMY":
        return day.strftime("%d/%m/%Y")
    if fmt == "DMONY":
        return f"{day.day:02d}{day.strftime('%b').upper()}{day.year:04d}"
    return day.isoformat()


@given(
    st.lists(st.tuples(st.sampled_from([0, 1, 2]), FORMATS), max_size=30),
    st.lists(DAYS, min_size=3, max_size=3),
)
def test_dates_in_each_rows_format(picks, pool):
    # few distinct days among many rows, as in a form
    days = [pool[i] for i, _ in picks]
    formats = [f for _, f in picks]
    values = np.array([np.datetime64(d) if d else np.datetime64("NaT") for d in days], dtype="datetime64[D]")
    got = format_dates(values, np.array(formats, dtype=object))
    assert got.dtype == object and list(got) == [_date_text(d, f) for d, f in zip(days, formats, strict=True)]


@given(
    st.lists(
        st.tuples(
            st.one_of(st.just(np.nan), st.sampled_from([0.0, -0.0, 1.5, 2.345, -0.5]), st.floats(-1e6, 1e6)),
            st.integers(0, 3),
        ),
        max_size=30,
    )
)
def test_fixed_decimals_as_each_row_alone(pairs):
    values = np.array([v for v, _ in pairs], dtype=float)
    decimals = np.array([d for _, d in pairs], dtype=np.int64)
    got = format_fixed(values, decimals)
    alone = [_format_fixed(values[i : i + 1], decimals[i : i + 1])[0] for i in range(len(pairs))]
    assert got.dtype == object and list(got) == alone
    if len(pairs):
        assert list(format_fixed(values, 2)) == [
            _format_fixed(values[i : i + 1], np.array([2]))[0] for i in range(len(pairs))
        ]


@given(
    st.lists(st.sampled_from([0, 1, 2, 3]), max_size=40),
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=4, max_size=4),
    st.sampled_from(["%.0f", "%.1f", "%.2f"]),
)
def test_printf_per_distinct_value_is_python_printf_per_row(picks, pool, fmt):
    values = np.array([pool[k] for k in picks], dtype=float)
    got = format_printf(fmt, values)
    assert got.tolist() == [fmt % v for v in values.tolist()]
