"""The closed vocabulary of mapping algorithms: assign, hardcode, condition, iso8601, not_submitted.

Every algorithm has one signature, `compute_<name>(raw, rule, ctx) -> (values, findings)`: `raw` is the
prepared raw frame (after the source's steps), `rule` the rule mapping from the spec, `ctx` the target.
`values` is a `str` Series aligned with `raw.index` ("" = missing). Nothing is evaluated from spec text.

Value rules (documented for spec writers):
- Raw values are stripped of leading/trailing spaces before anything else.
- `assign` through a codelist and/or a `values:` map compares case- and space-insensitively; a value that
  maps nowhere is kept as collected, upper-cased, and reported (MAP001: ERROR for a non-extensible
  codelist, WARNING otherwise).
- `condition` comparisons are case- and space-insensitive too.
- `iso8601`: partial dates stay partial (UN-MAR-2024 -> 2024-03, UNK-UNK-2019 -> 2019), a value that fits no
  declared format is MAP003, an impossible date (2024-02-30) is MAP004; both leave the value empty.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from cdiscgen._findings import Finding, Severity
from sdtm._context import RuleContext, row_findings

log = logging.getLogger(__name__)

ALGORITHMS = ("assign", "hardcode", "condition", "iso8601", "not_submitted")
COMPARISON_OPS = ("eq", "ne", "in", "not_in", "empty", "not_empty")

_MONTHS = {m: i for i, m in enumerate(("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC").split(), start=1)}
_MON = "(?P<mon>" + "|".join(_MONTHS) + ")"
# Closed set of input date formats; each regex captures y and (m or mon) and d where the format has them.
DATE_FORMATS: dict[str, str] = {
    "YYYY-MM-DD": r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$",
    "DD/MM/YYYY": r"^(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})$",
    "MM/DD/YYYY": r"^(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})$",
    "DDMONYYYY": rf"^(?P<d>\d{{1,2}}){_MON}(?P<y>\d{{4}})$",
    "DD-MON-YYYY": rf"^(?P<d>\d{{1,2}})-{_MON}-(?P<y>\d{{4}})$",
    "UN-MON-YYYY": rf"^UNK?-{_MON}-(?P<y>\d{{4}})$",
    "UNK-UNK-YYYY": r"^UNK?-UNK?-(?P<y>\d{4})$",
    "YYYY-MM": r"^(?P<y>\d{4})-(?P<m>\d{1,2})$",
    "YYYY": r"^(?P<y>\d{4})$",
}
_TIME_RE = r"^(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?$"

Result = tuple[pd.Series, list[Finding]]


def _clean(raw: pd.DataFrame, column: str) -> pd.Series:
    return raw[column].astype("str").str.strip()


def _empty(raw: pd.DataFrame) -> pd.Series:
    return pd.Series("", index=raw.index, dtype="str")


# ----------------------------------------------------------------------------------------------- assign


def compute_assign(raw: pd.DataFrame, rule: Mapping[str, Any], ctx: RuleContext) -> Result:
    """A raw column, stripped; optionally through a `values:` map and/or a codelist (with its synonyms).

    The codelist is the rule's `codelist:` or else the target variable's; `codelist: null` switches it off.
    `case: upper` upper-cases a value that goes through no codelist.
    """
    values = _clean(raw, rule["assign"])
    codelist_id = (
        rule["codelist"] if "codelist" in rule else (ctx.var_spec.codelist if ctx.var_spec else None)
    )
    local = {str(k).strip().upper(): str(v) for k, v in (rule.get("values") or {}).items()}
    codelist = ctx.codelists.get(codelist_id) if codelist_id else None
    if codelist is None and not local:
        if rule.get("case") == "upper":
            values = values.str.upper()
        return values, []
    lookup = dict(codelist.synonym_map()) if codelist is not None else {}
    lookup.update(local)

    def through_lookup(distinct: pd.Series) -> tuple[pd.Series, pd.Series]:
        key = distinct.str.upper()
        mapped = key.map(lookup)
        unmapped = (distinct != "") & mapped.isna()
        return mapped.where(~unmapped, key).fillna("").astype("str"), unmapped

    out, unmapped = on_unique(values, through_lookup)
    findings: list[Finding] = []
    if unmapped.any():
        strict = codelist is not None and not codelist.extensible
        where = f"codelist {codelist.id}" if codelist is not None else "the rule's values map"
        findings = row_findings(
            raw,
            unmapped,
            code="MAP001",
            severity=Severity.ERROR if strict else Severity.WARNING,
            message=f"value {{value!r}} of {rule['assign']} is not in {where} (kept upper-cased)",
            ctx=ctx,
            values=values,
            expected=", ".join(sorted(set(lookup.values())))[:200],
        )
    return out, findings


# --------------------------------------------------------------------------------------------- hardcode


def compute_hardcode(raw: pd.DataFrame, rule: Mapping[str, Any], ctx: RuleContext) -> Result:
    """A constant (a CT term when the target has a codelist; the spec check verifies it)."""
    value = rule["hardcode"]
    return pd.Series("" if value is None else str(value), index=raw.index, dtype="str"), []


# ---------------------------------------------------------------------------------------- not_submitted


def compute_not_submitted(raw: pd.DataFrame, rule: Mapping[str, Any], ctx: RuleContext) -> Result:
    """The variable is in the metadata but not collected: always empty (the spec states why)."""
    return _empty(raw), []


# -------------------------------------------------------------------------------------------- condition


def compute_mask(raw: pd.DataFrame, cond: Mapping[str, Any]) -> pd.Series:
    """A structured comparison (`column`/`op`/`value`) or `all:`/`any:` of them -> boolean mask."""
    if "all" in cond:
        mask = pd.Series(True, index=raw.index)
        for c in cond["all"]:
            mask &= compute_mask(raw, c)
        return mask
    if "any" in cond:
        mask = pd.Series(False, index=raw.index)
        for c in cond["any"]:
            mask |= compute_mask(raw, c)
        return mask
    values = _clean(raw, cond["column"]).str.upper()
    op = cond["op"]
    if op == "empty":
        return values == ""
    if op == "not_empty":
        return values != ""
    target = cond.get("value")
    if op in ("in", "not_in"):
        wanted = [str(v).strip().upper() for v in (target if isinstance(target, list) else [target])]
        isin = values.isin(wanted)
        return isin if op == "in" else ~isin
    wanted_one = str(target).strip().upper()
    return values == wanted_one if op == "eq" else values != wanted_one


def compute_condition(raw: pd.DataFrame, rule: Mapping[str, Any], ctx: RuleContext) -> Result:
    """if/elif/else: the first branch whose `if` holds gives the value (a scalar or a nested rule).

    Rows that match no branch (and no `else`) are empty.
    """
    out = _empty(raw)
    remaining = pd.Series(True, index=raw.index)
    findings: list[Finding] = []
    for branch in rule["condition"]:
        if "else" in branch:
            hit, then = remaining.copy(), branch["else"]
        else:
            hit, then = compute_mask(raw, branch["if"]) & remaining, branch["then"]
        remaining &= ~hit
        if not hit.any():
            continue
        if isinstance(then, Mapping):
            sub = raw.loc[hit]
            values, found = compute_rule(sub, then, ctx)
            out.loc[hit] = values
            findings.extend(found)
        else:
            out.loc[hit] = "" if then is None else str(then)
    return out, findings


# ---------------------------------------------------------------------------------------------- iso8601


def on_unique(values: pd.Series, fn: Callable[[pd.Series], tuple[pd.Series, ...]]) -> tuple[pd.Series, ...]:
    """Apply a column function to the distinct values only and spread the results back (dates, times and
    results repeat a lot: a million lab rows hold a few thousand distinct dates)."""
    codes, uniques = pd.factorize(values.astype("str"), use_na_sentinel=False)
    parts = fn(pd.Series(uniques, dtype="str"))
    return tuple(_spread(p, codes, values.index) for p in parts)


def _spread(part: pd.Series, codes: np.ndarray, index: pd.Index) -> pd.Series:
    """`part` (one value per distinct value) at every row: a take on the column's own array (Arrow text
    stays Arrow; no Python object per row)."""
    if isinstance(part.dtype, np.dtype):
        return pd.Series(part.to_numpy()[codes], index=index, dtype=part.dtype)
    return pd.Series(part.array.take(codes), index=index, dtype=part.dtype)


def compute_iso8601_date(values: pd.Series, formats: list[str]) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse dates in any of `formats` -> (ISO 8601 text, unparseable mask, impossible mask).

    Partial dates stay partial. Vectorised: one regex extraction per format, on distinct values only.
    """
    return on_unique(values, lambda u: _parse_dates(u, formats))  # type: ignore[return-value]


def _parse_dates(values: pd.Series, formats: list[str]) -> tuple[pd.Series, pd.Series, pd.Series]:
    text = values.astype("str").str.strip().str.upper()
    year = pd.Series(np.nan, index=text.index)
    month = pd.Series(np.nan, index=text.index)
    day = pd.Series(np.nan, index=text.index)
    matched = pd.Series(False, index=text.index)
    for name in formats:
        parts = text.str.extract(DATE_FORMATS[name])
        hit = parts["y"].notna() & ~matched
        if not hit.any():
            continue
        year = year.mask(hit, pd.to_numeric(parts["y"], errors="coerce"))
        if "m" in parts:
            month = month.mask(hit, pd.to_numeric(parts["m"], errors="coerce"))
        if "mon" in parts:
            month = month.mask(hit, parts["mon"].map(_MONTHS).astype("float"))
        if "d" in parts:
            day = day.mask(hit, pd.to_numeric(parts["d"], errors="coerce"))
        matched |= hit
    unparseable = (text != "") & ~matched
    y = year.to_numpy()
    m = month.to_numpy()
    d = day.to_numpy()
    leap = (np.nan_to_num(y) % 4 == 0) & ((np.nan_to_num(y) % 100 != 0) | (np.nan_to_num(y) % 400 == 0))
    month_len = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=float)
    mi = np.clip(np.nan_to_num(m, nan=0).astype(int), 0, 12)
    dim = month_len[mi] + ((mi == 2) & leap)
    bad_month = matched.to_numpy() & ~np.isnan(m) & ((m < 1) | (m > 12))
    bad_day = matched.to_numpy() & ~np.isnan(d) & ~bad_month & ((d < 1) | (d > dim))
    impossible = pd.Series(bad_month | bad_day, index=text.index)
    ok = matched & ~impossible
    ys = pd.Series(np.nan_to_num(y, nan=0).astype(int), index=text.index).astype("str").str.zfill(4)
    ms = pd.Series(np.nan_to_num(m, nan=0).astype(int), index=text.index).astype("str").str.zfill(2)
    ds = pd.Series(np.nan_to_num(d, nan=0).astype(int), index=text.index).astype("str").str.zfill(2)
    has_m = pd.Series(~np.isnan(m), index=text.index)
    has_d = pd.Series(~np.isnan(d), index=text.index) & has_m
    iso = ys.where(~has_m, ys + "-" + ms)
    iso = iso.where(~has_d, iso + "-" + ds)
    iso = iso.where(ok, "").astype("str")
    return iso, unparseable, impossible


def compute_iso8601_time(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """HH:MM[:SS] (24 h) -> ISO time text and a mask of non-empty values that are not a valid time."""
    return on_unique(values, _parse_times)  # type: ignore[return-value]


def _parse_times(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    text = values.astype("str").str.strip()
    parts = text.str.extract(_TIME_RE)
    h = pd.to_numeric(parts["h"], errors="coerce")
    mi = pd.to_numeric(parts["mi"], errors="coerce")
    s = pd.to_numeric(parts["s"], errors="coerce")
    ok = h.notna() & (h < 24) & (mi < 60) & (s.isna() | (s < 60))
    hh = h.fillna(0).astype(int).astype("str").str.zfill(2)
    mm = mi.fillna(0).astype(int).astype("str").str.zfill(2)
    ss = s.fillna(0).astype(int).astype("str").str.zfill(2)
    iso = (hh + ":" + mm).where(s.isna(), hh + ":" + mm + ":" + ss)
    return iso.where(ok, "").astype("str"), (text != "") & ~ok


def compute_iso8601(raw: pd.DataFrame, rule: Mapping[str, Any], ctx: RuleContext) -> Result:
    """`iso8601: {date: COL, time: COL}` with `formats: [...]` -> ISO 8601 date or datetime text.

    A time is appended only to a complete date; an invalid time is MAP003 and the date is kept.
    """
    spec = rule["iso8601"]
    date_col = spec["date"] if isinstance(spec, Mapping) else spec
    time_col = spec.get("time") if isinstance(spec, Mapping) else None
    raw_dates = _clean(raw, date_col)
    iso, unparseable, impossible = compute_iso8601_date(raw_dates, list(rule["formats"]))
    findings = row_findings(
        raw,
        unparseable,
        code="MAP003",
        severity=Severity.ERROR,
        message=f"{date_col} {{value!r}} is not a date in any declared format ({', '.join(rule['formats'])})",
        ctx=ctx,
        values=raw_dates,
    )
    findings += row_findings(
        raw,
        impossible,
        code="MAP004",
        severity=Severity.ERROR,
        message=f"{date_col} {{value!r}} is an impossible date; left empty",
        ctx=ctx,
        values=raw_dates,
    )
    if time_col:
        raw_times = _clean(raw, time_col)
        times, bad_time = compute_iso8601_time(raw_times)
        findings += row_findings(
            raw,
            bad_time,
            code="MAP003",
            severity=Severity.ERROR,
            message=f"{time_col} {{value!r}} is not a time HH:MM; the date is kept without it",
            ctx=ctx,
            values=raw_times,
        )
        complete = iso.str.len() == 10
        iso = iso.where(~(complete & (times != "")), iso + "T" + times)
    return iso, findings


# ------------------------------------------------------------------------------------------- dispatcher

_ALGORITHM_FUNCTIONS: dict[str, Callable[[pd.DataFrame, Mapping[str, Any], RuleContext], Result]] = {
    "assign": compute_assign,
    "hardcode": compute_hardcode,
    "condition": compute_condition,
    "iso8601": compute_iso8601,
    "not_submitted": compute_not_submitted,
}


def rule_algorithm(rule: Mapping[str, Any]) -> str | None:
    """The algorithm key of a rule (the spec check guarantees exactly one)."""
    found = [k for k in ALGORITHMS if k in rule]
    return found[0] if len(found) == 1 else None


def compute_rule(raw: pd.DataFrame, rule: Mapping[str, Any] | Any, ctx: RuleContext) -> Result:
    """Run one rule (a mapping with one algorithm key, or a bare scalar = hardcode)."""
    if not isinstance(rule, Mapping):
        return compute_hardcode(raw, {"hardcode": rule}, ctx)
    algorithm = rule_algorithm(rule)
    if algorithm is None:
        raise ValueError(f"rule for {ctx.dataset}.{ctx.variable} has no single algorithm: {dict(rule)!r}")
    return _ALGORITHM_FUNCTIONS[algorithm](raw, rule, ctx)
