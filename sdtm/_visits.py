"""VISIT, VISITNUM and VISITDY from the collected visit codes, one table for all domains, and SV.

Collected codes match study.yaml's visit codes ignoring case and repeated spaces. Unscheduled visits come
in two kinds (`unscheduled` in study.yaml):
- codes placed by date (`code`/`codes`, e.g. UNS): VISITNUM = the subject's latest scheduled visit on or
  before the date + `visitnum_step` x the occurrence after it; VISIT = "<visit_label> n.nn";
- codes that carry their number (`patterns`, regular expressions with a group `visitnum`, e.g.
  'Unscheduled 6.1'): VISITNUM = that number, VISIT = "<visit_label> <number as collected>".
VISITDY is the planned study day of a scheduled visit (null for unscheduled ones).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from cdiscgen._distinct import on_distinct
from cdiscgen._findings import Finding, Severity
from cdiscgen._specs import Study
from sdtm._context import VISITCODE, RuleContext, row_findings
from sdtm._derive import compute_date_part

TABLE_COLUMNS = ["USUBJID", "CODE", "DATE", "VISITNUM", "VISIT"]


def _normalise(codes: pd.Series) -> pd.Series:
    """Collected codes as unscheduled patterns read them: inner spaces collapsed, upper case."""
    return codes.fillna("").astype("str").str.split().str.join(" ").str.upper()


def _key(normalised: pd.Series) -> pd.Series:
    """Normalised codes as the schedule matches them (visit_key): without any space."""
    return normalised.str.replace(" ", "", regex=False)


def _schedule(study: Study) -> pd.DataFrame:
    """KEY (every spelling of every scheduled code) -> VISITNUM, VISIT."""
    return pd.DataFrame(
        [(k, v.visitnum, v.visit) for v in study.visits for k in v.keys], columns=["KEY", "VISITNUM", "VISIT"]
    )


def compute_numbered_unscheduled(codes: pd.Series, study: Study) -> pd.DataFrame:
    """Distinct normalised codes that match an unscheduled pattern -> CODE, VISITNUM, VISIT."""
    label = str(study.settings["unscheduled"]["visit_label"])
    rows = []
    patterns = [re.compile(p, re.IGNORECASE) for p in study.unscheduled_patterns]
    for code in codes.drop_duplicates():
        for pattern in patterns:
            m = pattern.fullmatch(code)
            if m is None:
                continue
            number = m.group("visitnum")
            try:
                rows.append((code, float(number), f"{label} {number}"))
            except (TypeError, ValueError):
                continue
            break
    return pd.DataFrame(rows, columns=["CODE", "VISITNUM", "VISIT"])


def compute_visit_table(frames: list[pd.DataFrame], study: Study) -> pd.DataFrame:
    """Every (USUBJID, visit code, date) in the data -> VISITNUM/VISIT (see the module doc)."""
    uns = study.settings["unscheduled"]
    step = float(uns.get("visitnum_step") or 0.01)
    by_date = set(study.unscheduled_codes)
    sched = _schedule(study)
    parts = [f[["USUBJID", VISITCODE, "_VDATE"]] for f in frames if VISITCODE in f.columns and len(f)]
    if not parts:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    allv = pd.concat(parts, ignore_index=True).rename(columns={VISITCODE: "CODE", "_VDATE": "DATE"})
    (allv["CODE"],) = on_distinct(allv["CODE"], lambda codes: (_normalise(codes),))
    allv = allv.drop_duplicates()
    allv["KEY"] = _key(allv["CODE"])
    scheduled = allv.merge(sched, on="KEY", how="inner")
    numbered = allv.merge(compute_numbered_unscheduled(allv["CODE"], study), on="CODE", how="inner")
    is_uns = allv["KEY"].isin(by_date)
    unsv = allv.loc[is_uns & (allv["DATE"] != "")].drop_duplicates(["USUBJID", "DATE"])
    # each scheduled visit's actual date: the earliest date recorded for it
    sched_dates = (
        scheduled.loc[scheduled["DATE"] != ""].groupby(["USUBJID", "VISITNUM"], as_index=False)["DATE"].min()
    )
    out = [scheduled[TABLE_COLUMNS], numbered[TABLE_COLUMNS]]
    if len(unsv):
        left = unsv.assign(_D=pd.to_datetime(unsv["DATE"], errors="coerce")).sort_values("_D")
        right = sched_dates.assign(_D=pd.to_datetime(sched_dates["DATE"], errors="coerce")).sort_values("_D")
        right = right.dropna(subset=["_D"])[["USUBJID", "_D", "VISITNUM"]]
        # the latest scheduled visit on or before the date; ties on date -> the highest VISITNUM
        right = right.sort_values(["_D", "VISITNUM"]).drop_duplicates(["USUBJID", "_D"], keep="last")
        known = left["_D"].notna()
        m = pd.merge_asof(left.loc[known], right, on="_D", by="USUBJID", direction="backward")
        m["VISITNUM"] = m["VISITNUM"].fillna(0.0)
        m = m.sort_values(["USUBJID", "_D"], kind="stable")
        n = m.groupby(["USUBJID", "VISITNUM"]).cumcount() + 1
        m["VISITNUM"] = np.round(m["VISITNUM"] + step * n, 6)
        m["VISIT"] = uns["visit_label"] + " " + m["VISITNUM"].map("{:.2f}".format)
        out.append(m[TABLE_COLUMNS])
    table = pd.concat(out, ignore_index=True)
    table["VISIT"] = table["VISIT"].astype("str")
    return table


def derive_visit(
    df: pd.DataFrame, table: pd.DataFrame, study: Study, ctx: RuleContext
) -> tuple[pd.DataFrame, list[Finding]]:
    """VISITNUM/VISIT (and VISITDY where the dataset has it) from the visit table; an unknown visit code
    is MAP008 (VISIT/VISITNUM left empty)."""
    out = df.copy(deep=False)  # copy-on-write: the columns set below are out's own
    if VISITCODE not in out.columns:
        return out, []
    # codes repeat on every record of a visit: each distinct collected code is normalised once
    code, keyed = on_distinct(out[VISITCODE], lambda codes: (_normalise(codes), _key(_normalise(codes))))
    by_date = list(study.unscheduled_codes)
    is_uns_row = _key(table["CODE"]).isin(by_date)
    sched = table.loc[~is_uns_row].drop_duplicates(["CODE"])[["CODE", "VISITNUM", "VISIT"]]
    uns = table.loc[is_uns_row].drop_duplicates(["USUBJID", "DATE"])
    # scheduled and numbered codes: looked up once per distinct code; unscheduled by date: by subject and
    # date, for those rows only (both tables hold one row per key: one match or none per row)
    codes, distinct = pd.factorize(code, use_na_sentinel=False)
    a = pd.DataFrame({"CODE": pd.Series(distinct, dtype=code.dtype)}).merge(sched, on="CODE", how="left")
    is_uns = keyed.isin(by_date).to_numpy()
    at = np.flatnonzero(is_uns)
    keys = pd.DataFrame({"USUBJID": out["USUBJID"].take(at), "DATE": out["_VDATE"].take(at)})
    b = keys.merge(uns[["USUBJID", "DATE", "VISITNUM", "VISIT"]], on=["USUBJID", "DATE"], how="left")
    pick = codes.astype(np.intp)
    pick[at] = len(a) + np.arange(len(at))
    visitnum = np.concatenate([a["VISITNUM"].to_numpy(dtype=float), b["VISITNUM"].to_numpy(dtype=float)])
    visit = pd.concat([a["VISIT"].fillna(""), b["VISIT"].fillna("")], ignore_index=True).astype("str")
    out["VISITNUM"] = visitnum[pick]
    out["VISIT"] = pd.Series(visit.array.take(pick), index=out.index, dtype="str")
    if "VISITDY" in out.columns:
        planned = {v.visitnum: float(v.day) for v in study.visits if v.day is not None}
        scheduled_visitnum = pd.Series(out["VISITNUM"]).where(~is_uns)
        out["VISITDY"] = scheduled_visitnum.map(planned).astype("float").to_numpy()
    numbered = set(compute_numbered_unscheduled(pd.Series(distinct, dtype="str"), study)["CODE"])
    known = {k for v in study.visits for k in v.keys} | set(by_date) | {""}
    bad = ~(keyed.isin(known) | code.isin(numbered))
    findings = row_findings(
        out,
        bad,
        code="MAP008",
        severity=Severity.ERROR,
        message="visit code {value!r} is not in the study schedule (specs/study.yaml); VISIT/VISITNUM left empty",
        ctx=RuleContext(ctx.dataset, "VISIT", ctx.codelists),
        values=out[VISITCODE].astype("str"),
    )
    undated = is_uns & (out["_VDATE"] == "").to_numpy()
    findings += row_findings(
        out,
        undated,
        code="MAP009",
        severity=Severity.WARNING,
        message="unscheduled visit without a date: VISITNUM cannot be placed",
        ctx=RuleContext(ctx.dataset, "VISITNUM", ctx.codelists),
    )
    return out, findings


def derive_sv(frames: list[pd.DataFrame], study: Study) -> pd.DataFrame:
    """One record per subject and visit seen in the data; SVSTDTC/SVENDTC = earliest/latest complete date;
    VISITDY the planned day of a scheduled visit."""
    parts = [
        f[["USUBJID", "VISITNUM", "VISIT", "_VDATE"]]
        for f in frames
        if "VISITNUM" in f.columns and "_VDATE" in f.columns
    ]
    if not parts:
        return pd.DataFrame(columns=["USUBJID", "VISITNUM", "VISIT", "SVSTDTC", "SVENDTC", "VISITDY"])
    allv = pd.concat(parts, ignore_index=True)
    allv = allv.loc[allv["VISITNUM"].notna()]
    allv = allv.assign(D=compute_date_part(allv["_VDATE"]))
    dated = allv.loc[allv["D"] != ""]
    g = dated.groupby(["USUBJID", "VISITNUM"], as_index=False).agg(SVSTDTC=("D", "min"), SVENDTC=("D", "max"))
    names = allv.drop_duplicates(["USUBJID", "VISITNUM"])[["USUBJID", "VISITNUM", "VISIT"]]
    out = names.merge(g, on=["USUBJID", "VISITNUM"], how="left")
    planned = {v.visitnum: float(v.day) for v in study.visits if v.day is not None}
    scheduled = out["VISIT"].isin({v.visit for v in study.visits})
    out["VISITDY"] = out["VISITNUM"].where(scheduled).map(planned).astype("float")
    for c in ("SVSTDTC", "SVENDTC", "VISIT"):
        out[c] = out[c].fillna("").astype("str")
    return out.sort_values(["USUBJID", "VISITNUM"]).reset_index(drop=True)
