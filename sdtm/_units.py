"""Unit standardisation: --ORRES/--ORRESU -> --STRESC/--STRESN/--STRESU through specs/units.yaml.

`specs/units.yaml` lists, per test (and optionally method), the standard unit and the conversion from
each original unit (UNIT submission values; "" = no unit reported, e.g. a ratio): a factor
(STRESN = ORRES x factor) or `{factor, offset}` (STRESN = ORRES x factor + offset, e.g. F -> C:
factor 5/9, offset -160/9); factors and offsets may be written as fractions ("5/9"). `decimals` rounds
the standard result (half away from zero; default 6): STRESC is that number as text and STRESN the
same number, so the two always agree. A result with a comparator (`<0.5`, `>35000`) keeps the comparator
and the converted number in STRESC and leaves STRESN empty. An original unit the table does not know is
MAP002 (STRESC/N/U left empty).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from cdiscgen._distinct import on_distinct, on_distinct_rows
from cdiscgen._findings import Finding, Severity
from cdiscgen._specs import Codelist, schema_problems
from cdiscgen._yaml import YamlSyntaxError, load_yaml
from sdtm._algorithms import compute_numbers
from sdtm._context import RuleContext, row_findings

log = logging.getLogger(__name__)

_FRACTION_RE = r"^-?\d+(\.\d+)?(/\d+(\.\d+)?)?$"
DEFAULT_DECIMALS = 6

UNITS_SCHEMA: dict = {
    "tests": {
        "type": "list",
        "required": True,
        "schema": {
            "type": "dict",
            "schema": {
                "testcd": {"type": "string", "required": True, "regex": r"^[A-Z][A-Z0-9]{0,7}$"},
                "method": {"type": "string", "nullable": True},
                "standard": {"type": "string", "required": True},
                "from": {
                    "type": "dict",
                    "required": True,
                    "minlength": 1,
                    "keysrules": {"type": "string"},
                    "valuesrules": {
                        "type": ["number", "string", "dict"],
                        "regex": _FRACTION_RE,
                        "schema": {
                            "factor": {"type": ["number", "string"], "required": True, "regex": _FRACTION_RE},
                            "offset": {"type": ["number", "string"], "regex": _FRACTION_RE},
                        },
                    },
                },
                "decimals": {"type": "integer", "min": 0, "max": 12},
                "comment": {"type": "string"},
            },
        },
    }
}

_NUM_RE = r"^(?P<cmp><=|>=|<|>)?\s*(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)$"


def compute_number(value: object) -> float:
    """A number of the units table: a YAML number or a fraction written as text ("5/9", "-160/9")."""
    if isinstance(value, int | float):
        return float(value)
    top, _, bottom = str(value).partition("/")
    return float(top) / float(bottom) if bottom else float(top)


def _conversion(value: object) -> tuple[float, float]:
    if isinstance(value, dict):
        return compute_number(value["factor"]), compute_number(value.get("offset", 0))
    return compute_number(value), 0.0


@dataclass(frozen=True)
class UnitTable:
    """Rows of (testcd, method or "", original unit, standard unit, factor, offset, decimals)."""

    rows: pd.DataFrame

    @property
    def tests(self) -> set[tuple[str, str]]:
        return set(zip(self.rows["TESTCD"], self.rows["METHOD"], strict=True))


def read_units(path: Path) -> UnitTable:
    """Read a validated units table (check_units_table reports the problems)."""
    doc = load_yaml(path)
    records = [
        (
            t["testcd"],
            t.get("method") or "",
            str(u),
            t["standard"],
            *_conversion(f),
            int(t.get("decimals", DEFAULT_DECIMALS)),
        )
        for t in doc["tests"]
        for u, f in t["from"].items()
    ]
    columns = ["TESTCD", "METHOD", "ORRESU", "STRESU", "FACTOR", "OFFSET", "DECIMALS"]
    rows = pd.DataFrame(records, columns=columns)
    for c in ("TESTCD", "METHOD", "ORRESU", "STRESU"):
        rows[c] = rows[c].astype("str")
    return UnitTable(rows)


def check_units_table(path: Path, codelists: dict[str, Codelist], rel: str) -> list[Finding]:
    """Schema, units in the UNIT codelist, no test listed twice; findings name file and line."""
    out: list[Finding] = []

    def err(line: int | None, key: str, msg: str) -> None:
        out.append(Finding("SPEC150", Severity.ERROR, msg, variable=key, file=rel, line=line))

    if not path.is_file():
        err(None, "", "the unit conversion table specs/units.yaml is missing")
        return out
    try:
        doc = load_yaml(path)
    except YamlSyntaxError as exc:
        err(exc.line, "", f"YAML syntax error: {exc.problem}")
        return out
    if not isinstance(doc, dict):
        err(getattr(doc, "line", 1), "tests", "invalid units table: not a mapping")
        return out
    problems = schema_problems(doc, UNITS_SCHEMA)
    for problem in problems:
        err(problem.line, problem.key, f"invalid units table: {problem.message}")
    if problems:
        return out
    units = codelists.get("UNIT")
    known = units.values if units else frozenset()
    seen: set[tuple[str, str]] = set()
    for i, t in enumerate(doc["tests"]):
        line = doc["tests"].line_of(i)
        key = (t["testcd"], t.get("method") or "")
        if key in seen:
            err(line, f"tests[{i}]", f"test {key[0]} {key[1]} is listed twice")
        seen.add(key)
        for unit, conversion in t["from"].items():
            try:
                factor, _ = _conversion(conversion)
            except (ValueError, ZeroDivisionError):
                factor = 0.0
            if factor == 0:
                err(
                    line,
                    f"tests[{i}].from.{unit}",
                    f"the factor from {unit!r} of {t['testcd']} must be a non-zero number",
                )
        for u in [t["standard"], *t["from"]]:
            if u and u not in known:
                err(
                    line,
                    f"tests[{i}]",
                    f"unit {u!r} of {t['testcd']} is not a submission value of codelist UNIT",
                )
    return out


def _parse_result(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    parts = values.str.extract(_NUM_RE)
    number = compute_numbers(parts["num"].fillna("").astype("str"))
    return number, parts["cmp"].fillna("").astype("str")


def compute_rounded(values: np.ndarray, decimals: np.ndarray) -> np.ndarray:
    """Round half away from zero to `decimals` places (per value), as a result is reported. Each value is
    first read as the decimal it stands for (15 significant digits: 36.885, not 36.88499999...), so float
    noise from a conversion never decides the rounding; zero comes out as +0. Works on the distinct
    (value, decimals) pairs."""
    values = np.ascontiguousarray(values, dtype=float)
    if not len(values):
        return values
    decimals = np.ascontiguousarray(np.broadcast_to(np.asarray(decimals, dtype=float), values.shape))
    # pairs keyed by bit pattern (-0.0 stays apart from 0.0), as one integer per row: no tuple per row
    value_codes, distinct_values = pd.factorize(values.view(np.int64))
    decimal_codes, distinct_decimals = pd.factorize(decimals.view(np.int64))
    width = len(distinct_decimals)
    codes, pairs = pd.factorize(value_codes.astype(np.int64) * width + decimal_codes)
    pair_values = distinct_values[pairs // width].view(float).tolist()
    pair_decimals = distinct_decimals[pairs % width].view(float).tolist()
    rounded = np.array(
        [_round_one(v, d) for v, d in zip(pair_values, pair_decimals, strict=True)], dtype=float
    )
    return rounded[codes] + 0.0  # a result rounded to zero is 0, never -0 (-0.004 to 2 places is 0.00)


def _round_one(value: float, decimals: float) -> float:
    if np.isnan(value) or np.isinf(value) or np.isnan(decimals):
        return value
    exact = Decimal(f"{value:.15g}")
    return float(exact.quantize(Decimal(1).scaleb(-int(decimals)), rounding=ROUND_HALF_UP))


def _range_limits(texts: pd.Series) -> tuple[np.ndarray]:
    """A reference range limit as a number (NaN where it is not one), per distinct text."""
    return (pd.to_numeric(texts.str.strip(), errors="coerce").to_numpy(dtype=float),)


def _fmt(values: np.ndarray) -> pd.Series:
    """Numbers (already rounded) as short text: shortest round-trip form, no trailing '.0'."""
    codes, distinct = pd.factorize(np.asarray(values, dtype=float), use_na_sentinel=False)
    texts = ["" if np.isnan(x) else np.format_float_positional(float(x), trim="-") for x in distinct]
    texts = pa.array(["0" if t == "-0" else t for t in texts], type=pa.large_string())
    return pd.Series(pd.array(texts.take(codes), dtype="str"), copy=False)  # Arrow: no object per row


def derive_standard_units(
    df: pd.DataFrame, domain: str, table: UnitTable, ctx: RuleContext
) -> tuple[pd.DataFrame, list[Finding]]:
    """Fill --STRESC/--STRESN/--STRESU (and --STNRLO/--STNRHI from --ORNRLO/--ORNRHI) for the tests in the table.

    Tests not in the table (character results such as immunofixation) keep the --STRESC their rule gave.
    Each record's standard values depend on its own test, method, units, result and ranges only: they are
    worked out once per distinct combination (a million lab records hold tens of thousands) and spread.
    """
    p = domain
    out = df.copy(deep=False)  # copy-on-write: the columns set below are out's own
    inputs = [
        c
        for c in ("TESTCD", "METHOD", "ORRESU", "ORRES", "ORNRLO", "ORNRHI", "STRESC", "STRESN", "STRESU")
        if f"{p}{c}" in out
    ]
    names: list[str] = []

    def standardise(rows: pd.DataFrame) -> tuple[pd.Series | np.ndarray, ...]:
        parts = _standardised(rows, p, table)
        names.extend(parts)
        return tuple(parts.values())

    spread = on_distinct_rows(out, [f"{p}{c}" for c in inputs], standardise)
    parts = dict(zip(names, spread, strict=True))
    for name in [n for n in names if not n.startswith("_")]:
        out[name] = parts[name]
    findings = row_findings(
        out,
        parts["_UNKNOWN_UNIT"],
        code="MAP002",
        severity=Severity.ERROR,
        message=f"unit {{value!r}} is not a known unit for this test in specs/units.yaml; {p}STRESC/N/U left empty",
        ctx=RuleContext(ctx.dataset, f"{p}ORRESU", ctx.codelists),
        values=parts["_ORRESU"],
    )
    findings += row_findings(
        out,
        parts["_NOT_NUMERIC"],
        code="MAP006",
        severity=Severity.WARNING,
        message=f"result {{value!r}} of a numeric test is not a number (or out of range); {p}STRESC/N left empty",
        ctx=RuleContext(ctx.dataset, f"{p}ORRES", ctx.codelists),
        values=parts["_ORRES"],
    )
    return out, findings


def _standardised(rows: pd.DataFrame, p: str, table: UnitTable) -> dict[str, pd.Series | np.ndarray]:
    """derive_standard_units for each of `rows`: the standard variables to set (in the order they are
    set), and for the findings which rows have an unknown unit or a result that is not a number, with
    the units and (stripped) results they name."""
    testcd = rows[f"{p}TESTCD"].astype("str")
    method = rows[f"{p}METHOD"].astype("str") if f"{p}METHOD" in rows else pd.Series("", index=rows.index)
    orresu = rows[f"{p}ORRESU"].astype("str")
    orres = rows[f"{p}ORRES"].astype("str").str.strip()
    units = table.rows
    with_method = units["METHOD"] != ""
    specific = pd.MultiIndex.from_arrays([units.loc[with_method, "TESTCD"], units.loc[with_method, "METHOD"]])
    is_specific = pd.MultiIndex.from_arrays([testcd, method]).isin(specific)
    key_method = method.where(is_specific, "").astype("str")
    listed = pd.MultiIndex.from_arrays([testcd, key_method]).isin(
        pd.MultiIndex.from_arrays([units["TESTCD"], units["METHOD"]])
    )
    keys = pd.DataFrame({"TESTCD": testcd, "METHOD": key_method, "ORRESU": orresu}, index=rows.index)
    hit = keys.reset_index().merge(units, on=["TESTCD", "METHOD", "ORRESU"], how="left").set_index("index")
    factor = hit["FACTOR"].reindex(rows.index).to_numpy(dtype=float)
    offset = hit["OFFSET"].reindex(rows.index).fillna(0.0).to_numpy(dtype=float)
    decimals = hit["DECIMALS"].reindex(rows.index).fillna(DEFAULT_DECIMALS).to_numpy(dtype=float)
    stresu = hit["STRESU"].reindex(rows.index).fillna("").astype("str")
    number_s, comparator = on_distinct(orres, _parse_result)
    number = number_s.to_numpy(dtype=float)
    has_result = (orres != "").to_numpy()
    converted = compute_rounded(number * factor + offset, decimals)
    ok = listed & has_result & ~np.isnan(converted)
    text = (comparator + _fmt(converted).set_axis(rows.index)).where(ok, "")
    stresc = rows[f"{p}STRESC"].astype("str") if f"{p}STRESC" in rows else pd.Series("", index=rows.index)
    old_stresn = (
        rows[f"{p}STRESN"].to_numpy(dtype=float) if f"{p}STRESN" in rows else np.full(len(rows), np.nan)
    )
    parts: dict[str, pd.Series | np.ndarray] = {
        f"{p}STRESC": stresc.where(~listed, text).astype("str"),
        f"{p}STRESN": np.where(
            listed, np.where(ok & (comparator == "").to_numpy(), converted, np.nan), old_stresn
        ),
        f"{p}STRESU": (
            pd.Series(np.where(ok, stresu, ""), index=rows.index)
            .astype("str")
            .where(listed, rows[f"{p}STRESU"].astype("str") if f"{p}STRESU" in rows else "")
        ),
    }
    for src, dst in (("ORNRLO", "STNRLO"), ("ORNRHI", "STNRHI")):
        if f"{p}{src}" in rows:
            (rng,) = on_distinct(rows[f"{p}{src}"], _range_limits)
            parts[f"{p}{dst}"] = np.where(listed, compute_rounded(rng * factor + offset, decimals), np.nan)
    parts["_UNKNOWN_UNIT"] = listed & has_result & np.isnan(factor)
    parts["_NOT_NUMERIC"] = listed & has_result & np.isnan(number) & ~np.isnan(factor)
    parts["_ORRESU"] = orresu
    parts["_ORRES"] = orres
    return parts
