"""The closed vocabulary of mapping algorithms: assign, hardcode, condition, iso8601, template,
not_submitted.

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
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from cdiscgen._conditions import compute_condition_mask
from cdiscgen._distinct import on_distinct
from cdiscgen._findings import Finding, Severity
from cdiscgen._specs import term_key
from sdtm._context import INTERNAL, RuleContext, row_findings
from sdtm._dates import MONTH_NUMBER, DateFormat, compile_date_format
from sdtm._template import compute_template, template_columns

log = logging.getLogger(__name__)

ALGORITHMS = ("assign", "hardcode", "condition", "iso8601", "template", "not_submitted")

_TIME_RE = r"^(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?$"

Result = tuple[pd.Series, list[Finding]]


def _clean(raw: pd.DataFrame, column: str) -> pd.Series:
    return raw[column].astype("str").str.strip()


def _empty(raw: pd.DataFrame) -> pd.Series:
    return pd.Series("", index=raw.index, dtype="str")


# ----------------------------------------------------------------------------------------------- assign


def compute_assign(raw: pd.DataFrame, rule: Mapping[str, Any], ctx: RuleContext) -> Result:
    """A raw column, stripped; optionally through a `values:` map and/or a codelist (with its synonyms).

    The codelist is the rule's `codelist:` or else the target variable's; `codelist: null` switches it off;
    an external dictionary's (MedDRA) is none.
    `case: upper` upper-cases a value that goes through no codelist. A value neither translates is kept
    upper-cased with a MAP001 finding, unless `otherwise:` says what to do: `keep` (as collected; a finding
    only when it is outside the codelist) or a value to give it.
    """
    values = _clean(raw, rule["assign"])
    findings: list[Finding] = []
    if rule.get("extract"):
        values, findings = _extract(raw, values, rule, ctx)
    codelist_id = (
        rule["codelist"] if "codelist" in rule else (ctx.var_spec.codelist if ctx.var_spec else None)
    )
    local = {term_key(str(k)): str(v) for k, v in (rule.get("values") or {}).items()}
    codelist = ctx.codelists.get(codelist_id) if codelist_id else None
    if codelist is not None and codelist.is_external:
        codelist = None  # an external dictionary (MedDRA) lists no terms: the coder's value is kept
    if codelist is None and not local:
        if rule.get("case") == "upper":
            values = values.str.upper()
        return values, findings
    lookup = dict(codelist.synonym_map(rule.get("edc_codelist"))) if codelist is not None else {}
    lookup.update(local)

    def through_lookup(distinct: pd.Series) -> tuple[pd.Series, pd.Series]:
        key = distinct.str.split().str.join(" ").str.upper()
        mapped = key.map(lookup)
        unmapped = (distinct != "") & mapped.isna()
        return mapped.where(~unmapped, key).fillna("").astype("str"), unmapped

    out, unmapped = on_distinct(values, through_lookup)
    otherwise = rule.get("otherwise")
    kept = "kept upper-cased"
    if otherwise is not None and unmapped.any():
        # an open map: what it does not translate is kept as collected, or given the stated value
        keep = str(otherwise) == "keep"
        out = out.where(~unmapped, values if keep else str(otherwise))
        kept = "kept as collected"
        if not keep or codelist is None:
            unmapped = pd.Series(False, index=unmapped.index)  # nothing left outside a codelist
    if unmapped.any():
        strict = codelist is not None and not codelist.extensible
        where = f"codelist {codelist.id}" if codelist is not None else "the rule's values map"
        findings += row_findings(
            raw,
            unmapped,
            code="MAP001",
            severity=Severity.ERROR if strict else Severity.WARNING,
            message=f"value {{value!r}} of {rule['assign']} is not in {where} ({kept})",
            ctx=ctx,
            values=values,
            expected=", ".join(sorted(set(lookup.values())))[:200],
        )
    return out, findings


def _extract(raw: pd.DataFrame, values: pd.Series, rule: Mapping[str, Any], ctx: RuleContext) -> Result:
    """The part of each value that `extract:` (a regular expression) captures: its first group, or the
    whole match without a group. A non-empty value it does not match is MAP012 and left empty."""
    pattern = re.compile(str(rule["extract"]), re.IGNORECASE)

    def pick(distinct: pd.Series) -> tuple[pd.Series, pd.Series]:
        def one(text: str) -> str | None:
            m = pattern.search(text)
            if m is None:
                return None
            return m.group(1) if pattern.groups else m.group(0)

        got = distinct.map(one)
        missed = (distinct != "") & got.isna()
        return got.fillna("").astype("str").str.strip(), missed

    out, missed = on_distinct(values, pick)
    findings = row_findings(
        raw,
        missed,
        code="MAP012",
        severity=Severity.ERROR,
        message=f"{rule['assign']} {{value!r}} does not match the extract pattern {rule['extract']!r}; left empty",
        ctx=ctx,
        values=values,
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


def compute_mask(raw: pd.DataFrame, cond: Mapping[str, Any], ctx: RuleContext | None = None) -> pd.Series:
    """The rows of `raw` where a condition (cdiscgen._conditions grammar) holds."""
    return compute_mask_findings(raw, cond, ctx)[0]


def compute_mask_findings(
    raw: pd.DataFrame, cond: Mapping[str, Any], ctx: RuleContext | None
) -> tuple[pd.Series, list[Finding]]:
    """compute_mask, and a MAP011 finding per row whose value is not a number in a numeric comparison.

    `column` operands are raw columns of `raw`; `variable` operands are target variables computed earlier
    in the same source (`ctx.targets`, aligned with `raw` by index)."""

    def operand(kind: str, name: str) -> pd.Series:
        if kind == "column":
            return raw[name]
        targets = ctx.targets if ctx is not None else None
        if targets is None or name not in targets:
            raise KeyError(f"condition names variable {name}, which has no value yet in this source")
        return targets[name].loc[raw.index]

    result = compute_condition_mask(cond, operand, raw.index)
    findings: list[Finding] = []
    for kind, name, bad in result.non_numeric:
        values = operand(kind, name).astype("str")
        findings += row_findings(
            raw,
            bad,
            code="MAP011",
            severity=Severity.WARNING,
            message=f"{kind} {name} value {{value!r}} is not a number (nor a date) where the condition compares numbers or dates; it does not hold",
            ctx=ctx or RuleContext("", "", {}),
            values=values,
        )
    return result.mask, findings


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
            mask, found = compute_mask_findings(raw, branch["if"], ctx)
            findings.extend(found)
            hit, then = mask & remaining, branch["then"]
        remaining &= ~hit
        if not hit.any():
            continue
        if isinstance(then, Mapping):
            # the rows it holds for, with only the columns the rule can read (not a copy of every column)
            sub = raw if hit.all() else raw.loc[hit, _columns_named(then, raw.columns)]
            values, found = compute_rule(sub, then, ctx)
            out.loc[hit] = values
            findings.extend(found)
        else:
            out.loc[hit] = "" if then is None else str(then)
    return out, findings


def _columns_named(rule: Any, columns: pd.Index) -> list[str]:
    """The columns a rule can read: every text in it that names one (a template's fields too) and the
    bookkeeping columns findings name. Naming more than it reads costs a column; a rule reads no column
    it does not name."""
    named: set[str] = set(INTERNAL)

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key == "template":
                    named.update(template_columns(str(value)))
                walk(key)
                walk(value)
        elif isinstance(node, list | tuple):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            named.add(node)

    walk(rule)
    return [c for c in columns if c in named]


# ---------------------------------------------------------------------------------------------- iso8601


def compute_numbers(text: pd.Series) -> pd.Series:
    """Numbers of numeric text; NaN where the text is not a number or is one no float (and no XPT
    number) holds: 1e400 (infinite) or 1e-400 (rounds to 0 although not zero)."""
    number = pd.to_numeric(text, errors="coerce").astype("float")
    values = number.to_numpy()
    underflow = (values == 0) & text.str.contains(r"[1-9][^eE]*[eE]", regex=True).to_numpy(dtype=bool)
    out_of_range = np.isinf(values) | underflow
    return number.where(~out_of_range)


def compute_iso8601_date(
    values: pd.Series,
    formats: list[str],
    *,
    unknown: tuple[str, ...] | list[str] = (),
    pivot_year: int | None = None,
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse dates in any of `formats` (patterns of sdtm._dates) -> (ISO 8601 text, unparseable mask,
    impossible mask). Partial dates stay partial; a time in the same field is kept on a complete date.

    Vectorised: one regex extraction per format, on distinct values only.
    """
    compiled = [compile_date_format(f, tuple(unknown)) for f in formats]
    return on_distinct(values, lambda u: _parse_dates(u, compiled, pivot_year))  # type: ignore[return-value]


def _parse_dates(
    values: pd.Series, formats: list[DateFormat], pivot_year: int | None
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """One distinct value at a time (on_distinct has removed the repeats): a regex match per format in plain
    Python costs far less than a pandas pass per format and part when a column holds a few hundred dates.
    Digits are ASCII digits: another script's digits are not read as a date (they were read as year 0000).
    A missing value is blank, not unparseable."""
    patterns = [re.compile(f.regex, re.ASCII) for f in formats]
    iso, unparseable, impossible = [], [], []
    for value in values.tolist():
        text = "" if value is None or value is pd.NA or value != value else str(value).strip().upper()
        parts = _first_match(text, patterns)
        if parts is None:
            iso.append("")
            unparseable.append(text != "")
            impossible.append(False)
            continue
        text_iso, bad = _iso_of_parts(parts, pivot_year)
        iso.append("" if bad else text_iso)
        unparseable.append(False)
        impossible.append(bad)
    index = values.index
    return (
        pd.Series(iso, index=index, dtype="str"),
        pd.Series(unparseable, index=index, dtype=bool),
        pd.Series(impossible, index=index, dtype=bool),
    )


def _first_match(text: str, patterns: list[re.Pattern[str]]) -> dict[str, str | None] | None:
    """The named parts of the first format that reads `text` with a year, else None."""
    for pattern in patterns:
        match = pattern.search(text)
        if match is not None:
            parts = match.groupdict()
            if parts.get("y") is not None or parts.get("yy") is not None:
                return parts
    return None


def _digits(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _iso_of_parts(parts: dict[str, str | None], pivot_year: int | None) -> tuple[str, bool]:
    """(ISO 8601 text, impossible) of the parts a format read. An unknown month or day (UN, UNK) is absent:
    the value is right-truncated, or year---day when only the month is unknown (SDTMIG 3.4 4.4.2)."""
    if parts.get("y") is not None:
        year = int(parts["y"])  # type: ignore[arg-type]
    else:
        base = int(pivot_year or 1900)
        year = base - base % 100 + int(parts["yy"])  # type: ignore[arg-type]
        year = year if year >= base else year + 100
    month = _digits(parts.get("m")) if "m" in parts else MONTH_NUMBER.get(parts.get("mon") or "")
    day = _digits(parts.get("d"))
    hour, minute, second = _digits(parts.get("h")), _digits(parts.get("mi")), _digits(parts.get("s"))
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    bad_month = month is not None and not 1 <= month <= 12
    days = 31 if month is None or bad_month else _MONTH_DAYS[month] + (month == 2 and leap)
    bad_day = day is not None and not bad_month and not 1 <= day <= days
    bad_time = hour is not None and (hour > 23 or (minute or 0) > 59 or (second or 0) > 59)
    if bad_month or bad_day or bad_time:
        return "", True
    text = f"{year:04d}"
    if month is not None:
        text += f"-{month:02d}"
        if day is not None:
            text += f"-{day:02d}"
            if hour is not None:
                text += f"T{hour:02d}:{minute or 0:02d}" + ("" if second is None else f":{second:02d}")
    elif day is not None:
        text += f"---{day:02d}"
    return text, False


def compute_iso8601_time(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """HH:MM[:SS] (24 h) -> ISO time text and a mask of non-empty values that are not a valid time."""
    return on_distinct(values, _parse_times)  # type: ignore[return-value]


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

    A time is appended to the date; to a partial one in the placeholder form of SDTMIG 4.4.4, a hyphen for
    each missing date component (2024-03 at 10:20 -> 2024-03--T10:20, 2024 -> 2024----T10:20, 2024---05 ->
    2024---05T10:20); a time without a date is kept alone (-----T10:20). An invalid time is MAP003 and the
    date is kept.
    """
    spec = rule["iso8601"]
    date_col = spec["date"] if isinstance(spec, Mapping) else spec
    time_col = spec.get("time") if isinstance(spec, Mapping) else None
    raw_dates = _clean(raw, date_col)
    iso, unparseable, impossible = compute_iso8601_date(
        raw_dates,
        [str(f) for f in rule["formats"]],
        unknown=tuple(str(u) for u in rule.get("unknown") or ()),
        pivot_year=rule.get("pivot_year"),
    )
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
        dateless = np.asarray(unparseable, dtype=bool) | np.asarray(impossible, dtype=bool)
        iso = iso.where((times == "").to_numpy() | dateless, compute_placeholder_date(iso) + "T" + times)
    return iso, findings


_PLACEHOLDER_PAD = {0: "-----", 4: "----", 7: "--", 9: "", 10: ""}  # by date length: yyyy, yyyy-mm, yyyy---dd


def compute_placeholder_date(iso: pd.Series) -> pd.Series:
    """ISO dates (complete, right-truncated or year---day) written out to the day, a hyphen standing for
    each missing component, so that a time can follow (SDTMIG 4.4.4)."""
    return iso + iso.str.len().map(_PLACEHOLDER_PAD).fillna("").astype("str")


# ------------------------------------------------------------------------------------------- dispatcher

_ALGORITHM_FUNCTIONS: dict[str, Callable[[pd.DataFrame, Mapping[str, Any], RuleContext], Result]] = {
    "assign": compute_assign,
    "hardcode": compute_hardcode,
    "condition": compute_condition,
    "iso8601": compute_iso8601,
    "template": compute_template,
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
