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
from sdtm._algorithms import compute_mask
from sdtm._context import ROW, RuleContext, row_findings

log = logging.getLogger(__name__)

STEPS = ("filter", "deduplicate", "merge", "transpose")

StepResult = tuple[pd.DataFrame, list[Finding]]


def derive_filter(raw: pd.DataFrame, step: Mapping[str, Any], ctx: RuleContext, forms: Mapping) -> StepResult:
    """Keep the rows where the condition holds (a spec decision, logged, not a finding)."""
    mask = compute_mask(raw, step["filter"])
    dropped = int((~mask).sum())
    if dropped:
        log.info("%s: filter keeps %d of %d rows of %s", ctx.dataset, len(raw) - dropped, len(raw), ctx.file)
    return raw.loc[mask], []


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

    A key repeated in the other form is MAP007 (the first row is used).
    """
    spec = step["merge"]
    other: pd.DataFrame = forms[spec["form"]]
    on = list(spec["by"])
    prefix = spec.get("prefix", "")
    take = [c for c in spec["columns"] if c not in on]
    right = other[on + take + [ROW]].copy()
    norm_keys = {k: right[k].astype("str").str.strip() for k in on}
    for k in on:
        right[k] = norm_keys[k]
    dup = right.duplicated(on, keep="first")
    findings = row_findings(
        other,
        dup.reindex(other.index, fill_value=False),
        code="MAP007",
        severity=Severity.WARNING,
        message=f"{spec['form']}: key ({', '.join(on)}) repeats an earlier row; the first one is merged",
        ctx=RuleContext(ctx.dataset, "", ctx.codelists, spec["form"]),
    )
    right = right.loc[~dup].drop(columns=[ROW]).rename(columns={c: prefix + c for c in take})
    left_keys = pd.DataFrame({k: raw[k].astype("str").str.strip() for k in on}, index=raw.index)
    merged = left_keys.reset_index().merge(right, on=on, how="left").set_index("index")
    out = raw.copy()
    for c in take:
        out[prefix + c] = merged[prefix + c].reindex(raw.index).fillna("").astype("str")
    return out, findings


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
