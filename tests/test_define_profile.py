"""The distinct texts a define.xml profile reads from a column without a code per record, against the
rule written out here: a text is the value itself unless it is blank; a number is its digits when it is
integral (below 10**15), else 15 significant digits; missing values have no text."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from define._common import decimals
from define._profile import ValueSummary, _Texts, compute_distinct_texts

TEXTS = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "\t", "\u3000", "\xa0\x1c", "A", " A", "A ", "é", "10.50"]),
    st.text(max_size=6),
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


@given(st.lists(TEXTS, max_size=40))
def test_text_column_summary_without_terms_or_decimals(values):
    """Arrow's summary of a text column: present when some value is not blank, longest its UTF-8 bytes."""
    column = pd.Series(values, dtype="str")
    texts = {t for t in map(_text_rule, values) if t is not None}
    summary = ValueSummary.of_column(column, keep_terms=False, with_decimals=False)
    assert summary.present == bool(texts)
    assert summary.longest == max((len(t.encode("utf-8")) for t in texts), default=0)
    assert summary.terms is None and summary.decimals is None
    kept = ValueSummary.of_column(column, keep_terms=True, with_decimals=False)
    assert kept.terms == texts and kept.longest == summary.longest


def test_blank_as_str_strip_sees_it():
    # \x1c-\x1f and U+3000 are whitespace to str.strip; U+00E9 and U+65E5 are not
    column = pd.Series(["\x1c\x1f", "\u3000", "", "  ", "\u00e9", "\u65e5\u672c"], dtype="str")
    summary = ValueSummary.of_column(column, keep_terms=False, with_decimals=False)
    assert summary.present and summary.longest == 6  # the two CJK characters, 3 bytes each
    blank = pd.Series(["\x1c\x1f", "\u3000", "", "  ", None], dtype="str")
    assert not ValueSummary.of_column(blank, keep_terms=False, with_decimals=False).present


@pytest.mark.parametrize(
    ("texts", "places"),
    [
        (["1.50", "2", "-.125"], 3),  # plain numbers: the characters after the point, trailing zeros too
        (["1e-5", "2.5"], 5),  # an exponent: as Decimal reads it
        ([" 3.1234 ", "2.5"], 4),  # blanks around a number
        (["\u0661.\u0662\u0663", "1"], 2),  # Arabic-Indic digits are digits to Decimal
        (["5.", "+7", "0"], 0),
        (["abc", "NaN", "Infinity", "."], None),
        ([], None),
    ],
)
def test_decimals_of_texts_worked_by_hand(texts, places):
    assert decimals(texts) == places


def test_every_character_str_strip_strips_is_blank_and_no_other():
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    assert not ValueSummary.of_column(
        pd.Series(spaces, dtype="str"), keep_terms=False, with_decimals=False
    ).present
    for other in (
        "\u200b",
        "\ufeff",
        "\x00",
        "\x7f",
        "\u00a0x",
    ):  # zero-width space, BOM, NUL, DEL: not whitespace
        assert ValueSummary.of_column(
            pd.Series([other], dtype="str"), keep_terms=False, with_decimals=False
        ).present


@given(st.lists(TEXTS, max_size=40))
def test_a_text_column_is_coded_by_the_texts_of_its_values(values):
    """The codes of each record into the distinct texts, blanks and missing values -1, in order of first
    appearance: the text column (read by Arrow) as the same values held as objects (to_text of each)."""
    codes, texts = _Texts(pd.DataFrame({"X": pd.Series(values, dtype="str")}))("X")
    expected: dict[str, int] = {}
    for value in values:
        text = _text_rule(value)
        if text is not None:
            expected.setdefault(text, len(expected))
    assert texts == list(expected)
    assert codes.tolist() == [
        expected.get(_text_rule(v), -1) if _text_rule(v) is not None else -1 for v in values
    ]
