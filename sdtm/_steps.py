"""Source-level steps run on a raw form before its variable rules: filter, deduplicate, merge, transpose.

Every step has one signature, `derive_<step>(raw, step, ctx, forms) -> (frame, findings)`, and keeps the
internal traceability columns (raw file, row, record id) of the rows it keeps or creates.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cdiscgen._findings import Finding, Severity
from sdtm._algorithms import compute_mask_findings
from sdtm._context import ROW, RuleContext, row_findings

log = logging.getLogger(__name__)

STEPS = ("filter", "deduplicate", "merge", "transpose")

StepResult = tuple[pd.DataFrame, list[Finding]]


def derive_filter(raw: pd.DataFrame, step: Mapping[str, Any], ctx: RuleContext, forms: Mapping) -> StepResult:
    """Keep the rows where the condition holds (a spec decision, logged, not a finding)."""
    mask, findings = compute_mask_findings(raw, step["filter"], ctx)
    dropped = int((~mask).sum())
    if dropped:
        log.info("%s: filter keeps %d of %d rows of %s", ctx.dataset, len(raw) - dropped, len(raw), ctx.file)
    return raw.loc[mask], findings


def derive_deduplicate(
    raw: pd.DataFrame, step: Mapping[str, Any], ctx: RuleContext, forms: Mapping
) -> StepResult:
    """Drop rows repeating an earlier row on `keys` (keep `first` or `last`); each drop is a NOTICE (MAP005)."""
    spec = step["deduplicate"]
    keys = list(spec["keys"])
    keep = spec.get("keep", "first")
    norm = pd.DataFrame({k: raw[k].astype("str").str.strip().str.upper() for k in keys}, index=raw.index)
    group = norm.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    del norm
    dup = pd.Series(group, index=raw.index).duplicated(keep=keep)
    if not dup.any():
        return raw, []
    # the raw row that is kept for each dropped one: the one row of its key group that is not a duplicate
    is_dup = dup.to_numpy()
    kept_row = np.zeros(int(group.max()) + 1, dtype=np.int64)
    kept_row[group[~is_dup]] = raw[ROW].to_numpy()[~is_dup]
    kept_of = np.full(len(raw), "", dtype=object)
    kept_of[is_dup] = pd.Series(kept_row[group[is_dup]]).astype("str").to_numpy()
    message = f"duplicate of raw row {{value}} on ({', '.join(keys)}); dropped ({keep} kept)"
    findings = row_findings(
        raw,
        dup,
        code="MAP005",
        severity=Severity.NOTICE,
        message=message,
        ctx=RuleContext(ctx.dataset, "", ctx.codelists, ctx.file),
        values=pd.Series(kept_of, index=raw.index, dtype=object),
    )
    return raw.loc[~dup], findings


def derive_merge(raw: pd.DataFrame, step: Mapping[str, Any], ctx: RuleContext, forms: Mapping) -> StepResult:
    """Left-join another form on its `by` columns; `columns` (declared) come across, prefixed by `prefix`.

    Optional: `where` (a condition on the other form's columns) keeps only those rows of it; `order_by`
    (its columns, text order) sorts them first; `pick: first|last` takes that row of a repeated key;
    `aggregate: {COLUMN: min|max|count|first|last}` summarises a column over all rows of the key instead.
    A key repeated in the other form without `pick` or `aggregate` is MAP007 (the first row is used).
    """
    spec = step["merge"]
    other: pd.DataFrame = forms[spec["form"]]
    on = list(spec["by"])
    prefix = spec.get("prefix", "")
    take = [c for c in spec["columns"] if c not in on]
    aggregate = dict(spec.get("aggregate") or {})
    findings: list[Finding] = []
    octx = RuleContext(ctx.dataset, "", ctx.codelists, spec["form"])
    if spec.get("where"):
        keep, found = compute_mask_findings(other, spec["where"], octx)
        findings += found
        other = other.loc[keep]
    order_by = list(spec.get("order_by") or [])
    right = other[list(dict.fromkeys(on + take + order_by)) + [ROW]].copy()
    for k in on + take + order_by:
        right[k] = right[k].astype("str").str.strip()
    if order_by:
        right = right.sort_values(order_by, kind="stable")
    pick = spec.get("pick")
    dup = right.duplicated(on, keep="last" if pick == "last" else "first")
    if pick is None and not aggregate:
        findings += row_findings(
            other,
            dup.reindex(other.index, fill_value=False),
            code="MAP007",
            severity=Severity.WARNING,
            message=f"{spec['form']}: key ({', '.join(on)}) repeats an earlier row; the first one is merged",
            ctx=octx,
        )
    summary = None
    if aggregate:
        parts = [_aggregate(right, on, column, how) for column, how in aggregate.items()]
        summary = pd.concat(parts, axis=1).reset_index()
    right = right.loc[~dup, on + [c for c in take if c not in aggregate]]
    if summary is not None:
        right = right.merge(summary, on=on, how="left")
    right = right.rename(columns={c: prefix + c for c in take})
    left_keys = pd.DataFrame({k: raw[k].astype("str").str.strip() for k in on}, index=raw.index)
    merged = left_keys.reset_index().merge(right, on=on, how="left").set_index("index")
    out = raw.copy(deep=False)  # copy-on-write: the columns set below are out's own
    for c in take:
        col = merged[prefix + c].reindex(raw.index)
        if c in aggregate and aggregate[c] == "count":
            col = col.fillna(0).astype(int).astype("str")
        out[prefix + c] = col.fillna("").astype("str")
    return out, findings


def _aggregate(right: pd.DataFrame, on: list[str], column: str, how: str) -> pd.Series:
    """One value of `column` per key: the number of rows (count), or min/max (text order)/first/last of
    its non-empty values."""
    if how == "count":
        return right.groupby(on, sort=False).size().rename(column)
    present = right.loc[right[column] != "", [*on, column]]
    grouped = present.groupby(on, sort=False)[column]
    return {"min": grouped.min, "max": grouped.max, "first": grouped.first, "last": grouped.last}[how]()


def derive_transpose(
    raw: pd.DataFrame, step: Mapping[str, Any], ctx: RuleContext, forms: Mapping
) -> StepResult:
    """Wide -> long: one row per (raw row, listed column); `name` holds the column, `value` its cell.

    `drop_empty: true` leaves out empty cells (e.g. organ responses at visits without organ labs).
    """
    spec = step["transpose"]
    columns = list(spec["columns"])
    name, value = spec["name"], spec["value"]
    keep = [c for c in raw.columns if c not in columns]
    n, k = len(raw), len(columns)
    base = raw[keep].iloc[np.repeat(np.arange(n), k)].reset_index(drop=True)
    base[name] = pd.Series(np.tile(np.array(columns, dtype=object), n), dtype="str")
    cells = raw[columns].astype("str").to_numpy().reshape(-1) if n else np.array([], dtype=object)
    base[value] = pd.Series(cells, dtype="str")
    if spec.get("drop_empty", False):
        base = base.loc[base[value].str.strip() != ""].reset_index(drop=True)
    return base, []


STEP_FUNCTIONS = {
    "filter": derive_filter,
    "deduplicate": derive_deduplicate,
    "merge": derive_merge,
    "transpose": derive_transpose,
}
