"""The one condition grammar of the specs: mapping `filter`/`condition` rules on raw columns and target
variables, and study-level selectors on SDTM records (which EX records are exposure, which DS record
closes an element). Closed and structured; nothing in a spec is evaluated as code.

A condition is one comparison or a combination of them:

- `{column: C, op: OP, value: V}` - a raw column (mapping specs only)
- `{variable: X, op: OP, value: V}` - a variable of the dataset (in a mapping: a target variable whose
  rule comes earlier in the same source; in study.yaml: an SDTM variable)
- `{dm: X, ...}` - a DM variable of the record's subject, as derived (study.yaml record flags only)
- instead of `value`, `other_column: C2`, `other_variable: X2` or `other_dm: X2` compares two operands
  row by row
- `{all: [...]}`, `{any: [...]}`, `{not: {...}}`

Operators: `eq ne in not_in` (text, case- and space-insensitive; numeric when the value is a number),
`lt le gt ge` (ordered: numbers, or ISO 8601 dates when the value is a quoted date or both operands hold
dates), `empty not_empty`, `matches` (the whole value matches a regular expression, case-insensitive),
`contains` (a substring, case-insensitive). Dates are compared on their date part, at the precision both
have: 2014-03 is after 2014-01-11, while 2014-01 against 2014-01-11 gives no answer (the comparison does
not hold), as does a missing date. In an ordered comparison a value that is neither a number nor a date matches nothing and is reported by the
caller (`non_numeric` of the result).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cdiscgen._arrowtext import compute_arrow_text, may_need_trimming
from cdiscgen._distinct import compute_combinations, on_distinct
from cdiscgen._iso8601 import KNOWN_DATE_PREFIX

TEXT_OPS = ("eq", "ne", "in", "not_in")
NUMERIC_OPS = ("lt", "le", "gt", "ge")
PRESENCE_OPS = ("empty", "not_empty")
PATTERN_OPS = ("matches", "contains")
CONDITION_OPS = TEXT_OPS + NUMERIC_OPS + PRESENCE_OPS + PATTERN_OPS
OPERAND_KEYS = ("column", "variable", "dm")
OTHER_KEYS = ("other_column", "other_variable", "other_dm")
COMPLETE_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}")

Operand = Callable[[str, str], pd.Series]
"""(kind, name) -> the operand's values aligned with the frame; kind is one of OPERAND_KEYS."""


@dataclass(frozen=True)
class ConditionProblem:
    line: int | None
    key: str
    message: str


@dataclass
class MaskResult:
    """Rows where the condition holds, and rows whose value was not a number in a numeric comparison
    (`non_numeric`: one (kind, name, mask) per comparison that met such values)."""

    mask: pd.Series
    non_numeric: list[tuple[str, str, pd.Series]] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ check


def check_condition(
    cond: Any,
    *,
    line: int | None,
    key: str,
    allowed: Mapping[str, Callable[[str], str | None]],
) -> list[ConditionProblem]:
    """Problems of one condition. `allowed` maps each operand kind the context accepts ("column",
    "variable") to a function that returns None for a known name or a message why the name is wrong."""
    out: list[ConditionProblem] = []
    if not isinstance(cond, Mapping):
        return [ConditionProblem(line, key, f"a condition must be a mapping, got {cond!r}")]
    line = getattr(cond, "line", line)
    combinators = [k for k in ("all", "any", "not") if k in cond]
    if combinators:
        (kind,) = combinators[:1]
        if set(cond) != {kind}:
            return [
                ConditionProblem(line, key, f"`{kind}` stands alone in a condition, got keys {sorted(cond)}")
            ]
        body = cond[kind]
        if kind == "not":
            return check_condition(body, line=line, key=f"{key}.not", allowed=allowed)
        if not isinstance(body, list) or not body:
            return [ConditionProblem(line, f"{key}.{kind}", f"{kind} needs a list of conditions")]
        for i, c in enumerate(body):
            sub_line = body.line_of(i) if hasattr(body, "line_of") else line
            out += check_condition(c, line=sub_line, key=f"{key}.{kind}[{i}]", allowed=allowed)
        return out
    known = {"op", "value", *OPERAND_KEYS, *OTHER_KEYS}
    unknown = sorted(set(cond) - known)
    if unknown:
        out.append(
            ConditionProblem(
                line,
                key,
                f"unknown key(s) {unknown} in a condition (use {'/'.join(sorted(allowed))}, op, value "
                "or other_column/other_variable, or all/any/not)",
            )
        )
    operands = [k for k in OPERAND_KEYS if k in cond]
    if len(operands) != 1:
        out.append(
            ConditionProblem(line, key, f"a comparison names exactly one of {', '.join(sorted(allowed))}")
        )
    for k in [*operands, *(k for k in OTHER_KEYS if k in cond)]:
        kind = k.removeprefix("other_")
        if kind not in allowed:
            out.append(ConditionProblem(line, f"{key}.{k}", f"`{k}` cannot be used here"))
            continue
        name = cond[k]
        problem = allowed[kind](name) if isinstance(name, str) else f"{k} must be a name, got {name!r}"
        if problem:
            out.append(ConditionProblem(line, f"{key}.{k}", problem))
    op = cond.get("op")
    if op not in CONDITION_OPS:
        out.append(
            ConditionProblem(line, f"{key}.op", f"comparison {op!r} is not one of {', '.join(CONDITION_OPS)}")
        )
        return out
    others = [k for k in OTHER_KEYS if k in cond]
    if op in PRESENCE_OPS:
        if "value" in cond or others:
            out.append(ConditionProblem(line, key, f"`{op}` takes no value"))
        return out
    if len(others) + ("value" in cond) != 1:
        out.append(
            ConditionProblem(
                line, key, f"comparison {op} needs exactly one of value, other_column, other_variable"
            )
        )
        return out
    value = cond.get("value")
    if others and op in ("in", "not_in", "matches", "contains"):
        out.append(ConditionProblem(line, key, f"`{op}` compares with a value, not with another column"))
    if op in ("in", "not_in") and "value" in cond and not isinstance(value, list):
        out.append(ConditionProblem(line, f"{key}.value", f"`{op}` needs a list of values, got {value!r}"))
    if op in NUMERIC_OPS and "value" in cond and not (_is_number(value) or _is_date_value(value)):
        out.append(
            ConditionProblem(
                line,
                f"{key}.value",
                f"`{op}` compares numbers or dates; {value!r} is neither a number nor a quoted "
                'ISO 8601 date ("2024-01-31")',
            )
        )
    if op == "matches" and "value" in cond:
        try:
            re.compile(str(value))
        except re.error as exc:
            out.append(
                ConditionProblem(
                    line, f"{key}.value", f"regular expression {value!r} does not compile: {exc}"
                )
            )
    if isinstance(value, bool) or (isinstance(value, list) and any(isinstance(v, bool) for v in value)):
        out.append(
            ConditionProblem(
                line,
                f"{key}.value",
                'a YAML boolean (yes/no/true/false unquoted) is not a collected value; quote it, e.g. "Yes"',
            )
        )
    return out


def condition_names(cond: Any, kind: str) -> set[str]:
    """Every `kind` ("column" or "variable") name a (well-formed) condition refers to."""
    if not isinstance(cond, Mapping):
        return set()
    out: set[str] = set()
    for k in ("all", "any"):
        for c in cond.get(k) or []:
            out |= condition_names(c, kind)
    if "not" in cond:
        out |= condition_names(cond["not"], kind)
    for k in (kind, f"other_{kind}"):
        if isinstance(cond.get(k), str):
            out.add(cond[k])
    return out


def text_comparisons(cond: Any, line: int | None = None) -> list[tuple[str, str, list[str], int | None]]:
    """(kind, name, constants, line) of every comparison of a (well-formed) condition with text constants
    (eq ne in not_in): what a declared value list can be checked against."""
    if not isinstance(cond, Mapping):
        return []
    line = getattr(cond, "line", line)
    out = []
    for k in ("all", "any"):
        for c in cond.get(k) or []:
            out += text_comparisons(c, line)
    if "not" in cond:
        out += text_comparisons(cond["not"], line)
    kind = next((k for k in OPERAND_KEYS if k in cond), None)
    if kind is None or cond.get("op") not in TEXT_OPS or "value" not in cond:
        return out
    values = cond["value"] if isinstance(cond["value"], list) else [cond["value"]]
    if any(isinstance(v, bool) for v in values):
        return out  # a YAML boolean: reported by check_condition already
    if values and not all(_is_number(v) for v in values):
        out.append((kind, str(cond[kind]), [str(v) for v in values], line))
    return out


def normalise_value(value: Any) -> str:
    """A value as text comparisons see it: stripped, upper case."""
    return str(value).strip().upper()


# --------------------------------------------------------------------------------------------- evaluate


def compute_condition_mask(cond: Mapping[str, Any], operand: Operand, index: pd.Index) -> MaskResult:
    """Evaluate a (checked) condition; `operand(kind, name)` gives the values of a column or variable."""
    if "all" in cond or "any" in cond:
        is_all = "all" in cond
        mask = pd.Series(is_all, index=index)
        notes: list = []
        for c in cond["all" if is_all else "any"]:
            part = compute_condition_mask(c, operand, index)
            mask = (mask & part.mask) if is_all else (mask | part.mask)
            notes += part.non_numeric
        return MaskResult(mask, notes)
    if "not" in cond:
        part = compute_condition_mask(cond["not"], operand, index)
        return MaskResult(~part.mask, part.non_numeric)
    kind = next(k for k in OPERAND_KEYS if k in cond)
    name = cond[kind]
    raw = operand(kind, name)
    text = _text(raw)
    op = cond["op"]
    if op == "empty":
        return MaskResult(text == "")
    if op == "not_empty":
        return MaskResult(text != "")
    other_key = next((k for k in OTHER_KEYS if k in cond), None)
    if other_key is not None:
        other = operand(other_key.removeprefix("other_"), cond[other_key])
        return _compare_operands(raw, other, op, kind, name)
    value = cond["value"]
    if op in ("in", "not_in"):
        wanted = list(value) if isinstance(value, list) else [value]
        if wanted and all(_is_number(v) for v in wanted):
            hit = _numbers(raw)[0].isin([float(v) for v in wanted])
        else:
            hit = text.str.upper().isin([str(v).strip().upper() for v in wanted])
        return MaskResult(hit if op == "in" else ~hit)
    if op == "matches":
        pattern = re.compile(str(value), re.IGNORECASE)
        (hit,) = on_distinct(
            text, lambda u: (u.map(lambda s: pattern.fullmatch(s) is not None).astype(bool),)
        )
        return MaskResult(hit)
    if op == "contains":
        return MaskResult(text.str.upper().str.contains(str(value).strip().upper(), regex=False))
    if op in NUMERIC_OPS and _is_date_value(value):
        return _compare_ordered(raw, pd.Series(str(value), index=raw.index), op, kind, name)
    if op in NUMERIC_OPS or _is_number(value):
        number, bad = _numbers(raw)
        target = float(value)
        hit = _numeric(number, target, op)
        notes = [(kind, name, bad)] if bad.any() else []
        return MaskResult(hit, notes)
    wanted_one = str(value).strip().upper()
    equal = text.str.upper() == wanted_one
    return MaskResult(equal if op == "eq" else ~equal)


def _compare_operands(left: pd.Series, right: pd.Series, op: str, kind: str, name: str) -> MaskResult:
    if op in NUMERIC_OPS:
        return _compare_ordered(left, right, op, kind, name)
    equal = _text(left).str.upper() == _text(right).str.upper()
    return MaskResult(equal if op == "eq" else ~equal)


def _compare_ordered(left: pd.Series, right: pd.Series, op: str, kind: str, name: str) -> MaskResult:
    """Row by row: as numbers where both are numbers, as ISO 8601 dates where both are dates; otherwise
    the comparison does not hold. Values that are neither numbers nor dates are reported. Works on the
    distinct (left, right) pairs: dates repeat, so a million records hold few pairs."""
    left_text, right_text = _text(left), _text(right)
    codes, first = compute_combinations([left_text, right_text])  # Arrow codes, no Python object per row
    hit, bad = _ordered_values(
        pd.Series(left_text.array.take(first), dtype="str"),
        pd.Series(right_text.array.take(first), dtype="str"),
        op,
    )
    bad_rows = pd.Series(bad[codes], index=left.index)
    return MaskResult(
        pd.Series(hit[codes], index=left.index), [(kind, name, bad_rows)] if bad_rows.any() else []
    )


def _ordered_values(left: pd.Series, right: pd.Series, op: str) -> tuple[np.ndarray, np.ndarray]:
    """(holds, neither a number nor a date) for aligned text values."""
    a, bad_a = _numbers(left)
    b, bad_b = _numbers(right)
    hit = _numeric_arrays(a.to_numpy(), b.to_numpy(), op)
    da, pa = _dates(left)
    db, pb = _dates(right)
    both = (pa > 0) & (pb > 0)
    if both.any():
        hit[both] = _date_order(da[both], db[both], np.minimum(pa[both], pb[both]), op)
    bad = (bad_a.to_numpy() & (pa == 0)) | (bad_b.to_numpy() & (pb == 0))
    return hit, bad


def _dates(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The leading date part of ISO 8601 text (YYYY, YYYY-MM or YYYY-MM-DD) and its length (4, 7, 10;
    0 where the value is no date)."""
    (part,) = on_distinct(
        _text(values), lambda u: (u.str.extract(KNOWN_DATE_PREFIX, expand=False).fillna("").astype("str"),)
    )
    return part.to_numpy(dtype=object), part.str.len().to_numpy()


def _date_order(a: np.ndarray, b: np.ndarray, precision: np.ndarray, op: str) -> np.ndarray:
    """Compare dates at the precision both have: known where they differ there; where they agree, equal
    only if both are complete dates, otherwise unknown (the comparison does not hold)."""
    out = np.zeros(len(a), dtype=bool)
    for n in (4, 7, 10):
        at = precision == n
        if not at.any():
            continue
        x = np.array([v[:n] for v in a[at]], dtype=object)
        y = np.array([v[:n] for v in b[at]], dtype=object)
        same = x == y
        decided = {"lt": x < y, "le": x < y, "gt": x > y, "ge": x > y}[op]
        if op in ("le", "ge") and n == 10:
            decided = decided | same
        out[at] = decided
    return out


def _is_date_value(value: Any) -> bool:
    return isinstance(value, str) and COMPLETE_DATE_RE.match(value) is not None and len(value) >= 10


def _text(values: pd.Series) -> pd.Series:
    if values.dtype.kind in "fiu":
        (out,) = on_distinct(values, lambda u: (u.map(_number_text).astype("str"),), as_text=False)
        return out
    text = values.fillna("").astype("str")
    # stripping copies the column; the usual one has nothing to strip
    return text.str.strip() if may_need_trimming(compute_arrow_text(text)) else text


def _numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numbers of the values (NaN where empty or not a number) and the mask of non-empty non-numbers."""
    if values.dtype.kind in "fiu":
        number = pd.to_numeric(values, errors="coerce").astype("float")
        return number, pd.Series(False, index=values.index)
    text = _text(values)
    (number,) = on_distinct(text, lambda u: (pd.to_numeric(u, errors="coerce").astype("float"),))
    return number, (text != "") & number.isna()


def _numeric(number: pd.Series, target: float, op: str) -> pd.Series:
    return pd.Series(_numeric_arrays(number.to_numpy(dtype=float), target, op), index=number.index)


def _numeric_arrays(a: np.ndarray, b: Any, op: str) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        if op in ("eq", "ne"):
            out = a == b
            return out if op == "eq" else ~out
        return {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number_text(x: float) -> str:
    """A number as the text a condition compares: integral ones as "3", others as Python's repr."""
    return "" if pd.isna(x) else (str(int(x)) if float(x).is_integer() else repr(float(x)))
