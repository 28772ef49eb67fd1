"""The distinct texts a define.xml profile reads from a column without a code per record, against the
rule written out here: a text is the value itself unless it is blank; a number is its digits when it is
integral (below 10**15), else 15 significant digits; missing values have no text."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from define._profile import ValueSummary, compute_distinct_texts

TEXTS = st.one_of(
    st.none(), st.sampled_from(["", " ", "\t", "A", " A", "A ", "é", "10.50"]), st.text(max_size=6)
)
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**16), 10**16).map(float),
    st.sampled_from([math.nan, 0.0, -0.0, 1e15, -1e15, 1e15 - 1, 0.1 + 0.2, 2.5, -2.5, 1e-7]),
)


def _text_rule(value: str | None) -> str | None:
    return value if value is not None and value.strip() else None


def _number_rule(value: float) -> str | None:
    if math.isnan(value):
        return None
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".15g")


@given(st.lists(TEXTS, max_size=40))
def test_text_column_distinct_texts(values):
    column = pd.Series(values, dtype="str")
    expected = {t for t in map(_text_rule, values) if t is not None}
    found = compute_distinct_texts(column)
    assert set(found) == expected and len(found) == len(expected)


@given(st.lists(NUMBERS, max_size=40))
def test_float_column_distinct_texts(values):
    column = pd.Series(values, dtype="float64")
    expected = {t for t in map(_number_rule, values) if t is not None}
    assert set(compute_distinct_texts(column)) == expected


def test_other_columns_keep_their_texts():
    column = pd.Series([1, None, 3, 1], dtype="Int64")
    assert sorted(compute_distinct_texts(column)) == ["1", "3"]
    assert sorted(compute_distinct_texts(pd.Series(["B", None, "  ", "A"], dtype=object))) == ["A", "B"]


def test_decimals_only_when_asked():
    texts = compute_distinct_texts(pd.Series([1.5, 0.048, np.nan]))
    assert ValueSummary.of(texts, keep_terms=False).decimals == 3
    assert ValueSummary.of(texts, keep_terms=False, with_decimals=False).decimals is None
    summary = ValueSummary.of(texts, keep_terms=True)
    assert summary.terms == {"1.5", "0.048"} and summary.longest == 5 and summary.present
