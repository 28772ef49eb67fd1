"""SDTM-wide derivations driven by the dataset metadata: --SEQ, --DY, VISIT/VISITNUM, EPOCH, --LOBXFL,
--NRIND, SUPP--, the DM reference dates, AGE, arms, SE and SV.

Each function takes DataFrames (plus metadata) and returns a new DataFrame; nothing is changed in place.
`refs` is the per-subject reference table (index USUBJID; columns RFSTDTC, RFXSTDTC, RFXENDTC, RFICDTC,
RFPENDTC, TRTEND = end of the treatment element) built by `derive_reference_dates`.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from cdiscgen._findings import Finding, Severity
from cdiscgen._specs import DatasetSpec, Study
from sdtm._algorithms import on_unique
from sdtm._context import VISITCODE, RuleContext, row_findings

log = logging.getLogger(__name__)

_DATE_RE = r"^\d{4}-\d{2}-\d{2}"
REF_COLUMNS = ("RFSTDTC", "RFXSTDTC", "RFXENDTC", "RFICDTC", "RFPENDTC", "TRTEND")
EOT_DSSCAT = "END OF TREATMENT"  # the DS records whose DSSTDTC closes the treatment element


def compute_date_part(values: pd.Series) -> pd.Series:
    """The complete date part (YYYY-MM-DD) of ISO 8601 text, "" for partial or missing dates."""
    (out,) = on_unique(values, lambda s: (s.str[:10].where(s.str.match(_DATE_RE), "").astype("str"),))
    return out


def _to_datetime(values: pd.Series) -> pd.Series:
    (out,) = on_unique(
        values,
        lambda s: (pd.to_datetime(compute_date_part(s), format="%Y-%m-%d", errors="coerce"),),
    )
    return out


def _ref(df: pd.DataFrame, refs: pd.DataFrame, column: str) -> pd.Series:
    (out,) = on_unique(df["USUBJID"], lambda u: (u.map(refs[column]).fillna("").astype("str"),))
    return out


# ------------------------------------------------------------------------------------------------ --SEQ


def derive_seq(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Sort by the dataset keys (stable) and number --SEQ 1, 2, ... within USUBJID."""
    order = compute_seq_order(df, spec)
    out = df.take(order).reset_index(drop=True) if order is not None else df.copy(deep=False)
    seq = f"{spec.domain or spec.name}SEQ"
    if spec.has_variable(seq):
        out[seq] = compute_seq(out["USUBJID"])
    return out


def compute_seq_order(df: pd.DataFrame, spec: DatasetSpec) -> np.ndarray | None:
    """Row positions in the dataset-key order of `derive_seq` (stable, missing keys first); None when no key
    is in `df` (the rows keep their order). Only the key columns are sorted, the frame is not copied."""
    seq = f"{spec.domain or spec.name}SEQ"
    keys = [k for k in spec.keys if k in df.columns and k != seq]
    if not keys:
        return None
    ordered = df[keys].reset_index(drop=True).sort_values(keys, kind="stable", na_position="first")
    return ordered.index.to_numpy()


def compute_seq(usubjid: pd.Series) -> np.ndarray:
    """--SEQ of rows in their final order: 1, 2, ... within each USUBJID."""
    return (usubjid.groupby(usubjid, sort=False).cumcount() + 1).to_numpy(dtype="float")


# ------------------------------------------------------------------------------------------------- --DY


def compute_study_day(dates: pd.Series, reference: pd.Series) -> pd.Series:
    """--DY = date - reference (+1 on or after the reference): no day 0; NaN for partial or missing dates."""
    d = _to_datetime(dates)
    r = _to_datetime(reference)
    diff = (d - r).dt.days.astype("float")
    return diff + (diff >= 0).astype("float")


def derive_dy(df: pd.DataFrame, spec: DatasetSpec, refs: pd.DataFrame) -> pd.DataFrame:
    """Every --DY/--STDY/--ENDY whose --DTC/--STDTC/--ENDTC exists, from DM.RFSTDTC."""
    out = df.copy()
    rfst = _ref(out, refs, "RFSTDTC")
    for v in spec.variable_names:
        if v.endswith("DY") and v not in ("VISITDY",):
            dtc = v[:-2] + "DTC"
            if dtc in out.columns:
                out[v] = compute_study_day(out[dtc], rfst).to_numpy()
    return out


# ------------------------------------------------------------------------------------ VISIT / VISITNUM


def compute_visit_table(frames: list[pd.DataFrame], study: Study) -> pd.DataFrame:
    """Every (USUBJID, visit code, date) in the data -> VISITNUM/VISIT, one table for all domains.

    Scheduled codes take VISITNUM/VISIT from study.yaml. An unscheduled visit (code `unscheduled.code`,
    told apart by date) gets the VISITNUM of the subject's latest scheduled visit on or before its date
    plus `visitnum_step` x its occurrence number after that visit; VISIT = "UNSCHEDULED n.nn".
    """
    uns = study.settings["unscheduled"]
    step = float(uns["visitnum_step"])
    sched = pd.DataFrame(
        [(v.code, v.visitnum, v.visit) for v in study.visits], columns=["CODE", "VISITNUM", "VISIT"]
    )
    parts = [f[["USUBJID", VISITCODE, "_VDATE"]] for f in frames if VISITCODE in f.columns and len(f)]
    if not parts:
        return pd.DataFrame(columns=["USUBJID", "CODE", "DATE", "VISITNUM", "VISIT"])
    allv = pd.concat(parts, ignore_index=True).rename(columns={VISITCODE: "CODE", "_VDATE": "DATE"})
    allv["CODE"] = allv["CODE"].astype("str").str.strip().str.upper()
    allv = allv.drop_duplicates()
    scheduled = allv.merge(sched, on="CODE", how="inner")
    is_uns = allv["CODE"] == str(uns["code"]).upper()
    unsv = allv.loc[is_uns & (allv["DATE"] != "")].drop_duplicates(["USUBJID", "DATE"])
    # each scheduled visit's actual date: the earliest date recorded for it
    sched_dates = (
        scheduled.loc[scheduled["DATE"] != ""].groupby(["USUBJID", "VISITNUM"], as_index=False)["DATE"].min()
    )
    out = [scheduled[["USUBJID", "CODE", "DATE", "VISITNUM", "VISIT"]]]
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
        out.append(m[["USUBJID", "CODE", "DATE", "VISITNUM", "VISIT"]])
    table = pd.concat(out, ignore_index=True)
    table["VISIT"] = table["VISIT"].astype("str")
    return table


def derive_visit(
    df: pd.DataFrame, table: pd.DataFrame, study: Study, ctx: RuleContext
) -> tuple[pd.DataFrame, list[Finding]]:
    """VISITNUM/VISIT from the visit table; an unknown visit code is MAP008 (VISIT/VISITNUM empty)."""
    out = df.copy()
    if VISITCODE not in out.columns:
        return out, []
    code = out[VISITCODE].astype("str").str.strip().str.upper()
    uns_code = str(study.settings["unscheduled"]["code"]).upper()
    sched = table.loc[table["CODE"] != uns_code].drop_duplicates(["CODE"])[["CODE", "VISITNUM", "VISIT"]]
    uns = table.loc[table["CODE"] == uns_code].drop_duplicates(["USUBJID", "DATE"])
    # scheduled codes: looked up once per distinct code; unscheduled: by subject and date, for those rows
    # only (both tables hold one row per key, so each row gets exactly one match or none)
    codes, distinct = pd.factorize(code, use_na_sentinel=False)
    a = pd.DataFrame({"CODE": pd.Series(distinct, dtype=code.dtype)}).merge(sched, on="CODE", how="left")
    is_uns = (code == uns_code).to_numpy()
    at = np.flatnonzero(is_uns)
    keys = pd.DataFrame({"USUBJID": out["USUBJID"].take(at), "DATE": out["_VDATE"].take(at)})
    b = keys.merge(uns[["USUBJID", "DATE", "VISITNUM", "VISIT"]], on=["USUBJID", "DATE"], how="left")
    pick = codes.astype(np.intp)
    pick[at] = len(a) + np.arange(len(at))
    visitnum = np.concatenate([a["VISITNUM"].to_numpy(dtype=float), b["VISITNUM"].to_numpy(dtype=float)])
    visit = pd.concat([a["VISIT"].fillna(""), b["VISIT"].fillna("")], ignore_index=True).astype("str")
    out["VISITNUM"] = visitnum[pick]
    out["VISIT"] = pd.Series(visit.array.take(pick), index=out.index, dtype="str")
    known = set(sched["CODE"]) | {uns_code, ""} | {v.code.upper() for v in study.visits}
    bad = ~code.isin(known)
    findings = row_findings(
        out,
        bad,
        code="MAP008",
        severity=Severity.ERROR,
        message="visit code {value!r} is not in the study schedule (specs/study.yaml); VISIT/VISITNUM left empty",
        ctx=RuleContext(ctx.dataset, "VISIT", ctx.codelists),
        values=code,
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


# ------------------------------------------------------------------------------------------------ EPOCH


def compute_epoch(dtc: pd.Series, usubjid: pd.Series, refs: pd.DataFrame, epochs: list[str]) -> pd.Series:
    """EPOCH of each date from the subject's reference dates (`refs`, see the module doc):

    - the first epoch (SCREENING) before the first dose RFXSTDTC (date-times compared when both have a
      time; a date without a time on the first-dose day is on treatment), and for every date of a subject
      never dosed (screen failures, assigned but not treated), whose only element is screening;
    - the second (TREATMENT) from the first dose through TRTEND, the end of the treatment element;
    - the third, the last (FOLLOW-UP), after TRTEND through RFPENDTC;
    - none ("") after RFPENDTC, the end of participation (capped at the data cut-off), and for a missing
      date. Without an RFPENDTC the last epoch is open-ended.

    A partial date (YYYY or YYYY-MM) stands for every day from its first to its last: it gets the epoch
    that its first and its last day share, else "" (epochs follow each other in time, so the days between
    fall in the same epoch). Other incomplete forms (YYYY---DD) get "".
    """
    dtc = dtc.fillna("").astype("str")
    # the epoch depends on the subject and the date only: work on the distinct pairs (a million lab rows
    # hold a few hundred thousand), then spread the result back
    s_codes, s_uniques = pd.factorize(usubjid, use_na_sentinel=False)
    d_codes, d_uniques = pd.factorize(dtc, use_na_sentinel=False)
    width = max(len(d_uniques), 1)
    pairs, inverse = np.unique(s_codes.astype(np.int64) * width + d_codes, return_inverse=True)
    subjects = pd.Series(pd.Index(s_uniques).take(pairs // width), dtype=usubjid.dtype)
    dates = pd.Series(pd.Index(d_uniques).take(pairs % width), dtype="str")
    first = subjects.map(refs["RFXSTDTC"]).fillna("").astype("str")
    trtend = subjects.map(refs["TRTEND"]).fillna("").astype("str")
    rfpend = (
        subjects.map(refs["RFPENDTC"]).fillna("").astype("str")
        if "RFPENDTC" in refs.columns
        else pd.Series("", index=subjects.index, dtype="str")
    )
    low, high = _date_span(dates)
    pos_low = _epoch_position(low, first, trtend, rfpend)
    pos_high = _epoch_position(high, first, trtend, rfpend)
    pos = np.where(pos_low == pos_high, pos_low, -1)
    names = pd.array(list(epochs[:3]) + [""], dtype="str")
    return pd.Series(names.take(pos[np.asarray(inverse).reshape(-1)]), index=dtc.index, dtype="str")


def _date_span(dtc: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(first, last) moment a --DTC value can stand for: a complete date (with its time) is both; YYYY is
    YYYY-01-01 .. YYYY-12-31; YYYY-MM its first .. last day of the month; anything else ""."""
    complete = dtc.str.match(_DATE_RE)
    year = dtc.str.fullmatch(r"\d{4}")
    month = dtc.str.fullmatch(r"\d{4}-\d{2}")
    month_start = pd.to_datetime(dtc.where(month, "") + "-01", format="%Y-%m-%d", errors="coerce")
    month_end = (month_start + pd.offsets.MonthEnd(0)).dt.strftime("%Y-%m-%d").fillna("")
    month_start = month_start.dt.strftime("%Y-%m-%d").fillna("")
    low = np.where(complete, dtc, np.where(year, dtc + "-01-01", np.where(month, month_start, "")))
    high = np.where(complete, dtc, np.where(year, dtc + "-12-31", np.where(month, month_end, "")))
    return pd.Series(low, index=dtc.index, dtype="str"), pd.Series(high, index=dtc.index, dtype="str")


def _epoch_position(dates: pd.Series, first: pd.Series, trtend: pd.Series, rfpend: pd.Series) -> np.ndarray:
    """0 (before the first dose or never dosed), 1 (through TRTEND), 2 (through RFPENDTC), -1 (none)."""
    both_times = (dates.str.len() >= 16) & (first.str.len() >= 16)
    d10 = dates.str[:10]
    before = np.where(both_times, dates.str[:16] < first.str[:16], d10 < first.str[:10])
    before = before | (first == "").to_numpy()
    after = ((trtend != "") & (d10 > trtend.str[:10])).to_numpy()
    beyond = ((rfpend != "") & (d10 > rfpend.str[:10])).to_numpy()
    pos = np.where(before, 0, np.where(after, 2, 1))
    return np.where(beyond | (dates == "").to_numpy(), -1, pos)


def derive_epoch(df: pd.DataFrame, spec: DatasetSpec, refs: pd.DataFrame, study: Study) -> pd.DataFrame:
    """EPOCH from --STDTC (Events, Interventions, SV), else --DTC (Findings; and records whose --STDTC is
    empty), by `compute_epoch`."""
    out = df.copy()
    p = spec.domain or spec.name
    columns = [c for c in (f"{p}STDTC", f"{p}DTC") if c in out.columns]
    if not columns or "EPOCH" not in spec.variable_names:
        return out
    dates = out[columns[0]].fillna("").astype("str")
    for c in columns[1:]:
        dates = dates.where(dates != "", out[c].fillna("").astype("str"))
    out["EPOCH"] = compute_epoch(dates, out["USUBJID"], refs, list(study.settings["design"]["epochs"]))
    return out


# ---------------------------------------------------------------------------------------------- LOBXFL


def derive_lobxfl(df: pd.DataFrame, spec: DatasetSpec, refs: pd.DataFrame) -> pd.DataFrame:
    """Y on the last record with a result on or before the first dose date, per subject, test, specimen and
    method; latest --DTC, ties broken by the highest --SEQ (run after derive_seq)."""
    p = spec.domain or spec.name
    flag = f"{p}LOBXFL"
    out = df.copy()
    if flag not in spec.variable_names:
        return out
    result = out[f"{p}STRESC"] if f"{p}STRESC" in out else out[f"{p}ORRES"]
    date = compute_date_part(out[f"{p}DTC"])
    first = compute_date_part(_ref(out, refs, "RFXSTDTC"))
    eligible = (result.astype("str").str.strip() != "") & (date != "") & (first != "") & (date <= first)
    group = ["USUBJID", f"{p}TESTCD"] + [c for c in (f"{p}SPEC", f"{p}METHOD") if c in out.columns]
    cand = out.loc[eligible, group + [f"{p}DTC", f"{p}SEQ"]].assign(_D=date[eligible])
    cand = cand.sort_values(["_D", f"{p}DTC", f"{p}SEQ"], kind="stable")
    last = cand.drop_duplicates(group, keep="last").index
    out[flag] = ""
    out.loc[last, flag] = "Y"
    return out


# ----------------------------------------------------------------------------------------------- NRIND


def derive_nrind(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """LOW below --STNRLO, HIGH above --STNRHI, NORMAL otherwise; empty without a numeric result or range."""
    p = spec.domain or spec.name
    out = df.copy()
    if f"{p}NRIND" not in spec.variable_names or f"{p}STRESN" not in out:
        return out
    x = pd.to_numeric(out[f"{p}STRESN"], errors="coerce").to_numpy(dtype=float)
    lo = pd.to_numeric(out.get(f"{p}STNRLO"), errors="coerce").to_numpy(dtype=float)
    hi = pd.to_numeric(out.get(f"{p}STNRHI"), errors="coerce").to_numpy(dtype=float)
    has = ~np.isnan(x) & ~(np.isnan(lo) & np.isnan(hi))
    low = ~np.isnan(lo) & (x < lo)
    high = ~np.isnan(hi) & (x > hi)
    out[f"{p}NRIND"] = pd.Series(
        np.where(~has, "", np.where(low, "LOW", np.where(high, "HIGH", "NORMAL"))),
        index=out.index,
        dtype="str",
    )
    return out


# ------------------------------------------------------------------------------------------------ SUPP--


def derive_supp(df: pd.DataFrame, spec: DatasetSpec, studyid: str) -> pd.DataFrame:
    """SUPP-- rows from the variables marked `supplemental: true`: one per non-empty value, pointing at the
    parent by --SEQ (DM: by USUBJID only, IDVAR/IDVARVAL empty)."""
    p = spec.domain or spec.name
    seq = f"{p}SEQ"
    cols = ["STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QVAL", "QORIG", "QEVAL"]
    parts = []
    for v in spec.supplemental_variables:
        if v.name not in df.columns:
            continue
        val = df[v.name]
        text = val.astype("str") if not v.is_numeric else _num_text(val)
        text = text.where(val.notna(), "").str.strip()
        keep = text != ""
        n = int(keep.sum())
        if not n:
            continue
        has_seq = seq in df.columns and p != "DM"
        parts.append(
            pd.DataFrame(
                {
                    "STUDYID": studyid,
                    "RDOMAIN": p,
                    "USUBJID": df.loc[keep, "USUBJID"].to_numpy(),
                    "IDVAR": seq if has_seq else "",
                    "IDVARVAL": _num_text(df.loc[keep, seq]).to_numpy() if has_seq else "",
                    "QNAM": v.name,
                    "QLABEL": v.label,
                    "QVAL": text[keep].to_numpy(),
                    "QORIG": v.qorig or v.origin,
                    "QEVAL": v.qeval or "",
                }
            )
        )
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="str") for c in cols})
    out = pd.concat(parts, ignore_index=True)
    for c in cols:
        out[c] = out[c].astype("str")
    order = out["IDVARVAL"].replace("", "0").astype(float)
    return (
        out.assign(_O=order)
        .sort_values(["USUBJID", "_O", "QNAM"], kind="stable")
        .drop(columns="_O")
        .reset_index(drop=True)
    )


def _num_text(values: pd.Series) -> pd.Series:
    x = pd.to_numeric(values, errors="coerce")
    s = x.astype("str").str.replace(r"\.0$", "", regex=True)
    return s.where(x.notna(), "").astype("str")


# ----------------------------------------------------------------------------------------- DM reference


def derive_reference_dates(
    dm: pd.DataFrame,
    ex: pd.DataFrame | None,
    ds: pd.DataFrame | None,
    others: list[pd.DataFrame],
    study: Study,
) -> pd.DataFrame:
    """The per-subject reference table (see module doc) from DM, EX, DS and every other dataset's dates.

    RFXSTDTC = earliest EXSTDTC of a record with a dose > 0 (with its time when one record of that date
    has one); RFXENDTC = latest EXENDTC (else EXSTDTC) of such records; RFPENDTC = latest complete date of the
    subject anywhere (DM, every --DTC/--STDTC/--ENDTC, DTHDTC) capped at the cut-off; TRTEND = the DS end of
    treatment date, else RFXENDTC + 28 days, not after RFPENDTC.
    """
    subjects = dm["USUBJID"].astype("str")
    refs = pd.DataFrame(index=pd.Index(subjects.unique(), name="USUBJID"))
    refs["RFICDTC"] = dm.set_index("USUBJID")["RFICDTC"].astype("str") if "RFICDTC" in dm else ""
    first = pd.Series(dtype="str")
    last = pd.Series(dtype="str")
    if ex is not None and len(ex):
        dosed = ex.loc[pd.to_numeric(ex.get("EXDOSE"), errors="coerce").fillna(1.0) > 0]
        st = dosed["EXSTDTC"].astype("str")
        en = dosed["EXENDTC"].astype("str").where(dosed["EXENDTC"].astype("str") != "", st)
        tmp = pd.DataFrame(
            {"USUBJID": dosed["USUBJID"], "ST": st, "D": compute_date_part(st), "L": st.str.len()}
        )
        tmp = tmp.loc[tmp["D"] != ""].sort_values(["USUBJID", "D", "L"], ascending=[True, True, False])
        first = tmp.drop_duplicates("USUBJID").set_index("USUBJID")["ST"]
        tmp2 = pd.DataFrame(
            {"USUBJID": dosed["USUBJID"], "EN": en, "D": compute_date_part(en), "L": en.str.len()}
        )
        tmp2 = tmp2.loc[tmp2["D"] != ""].sort_values(["USUBJID", "D", "L"], ascending=[True, False, False])
        last = tmp2.drop_duplicates("USUBJID").set_index("USUBJID")["EN"]
    refs["RFXSTDTC"] = first.reindex(refs.index).fillna("").astype("str")
    refs["RFXENDTC"] = last.reindex(refs.index).fillna("").astype("str")
    refs["RFSTDTC"] = refs["RFXSTDTC"]
    # latest complete date anywhere
    # (the latest per subject of each column, then the latest of those: no table of every date at once)
    cutoff = study.cutoff.isoformat()

    def latest(usubjid: pd.Series, dtc: pd.Series) -> pd.Series:
        d = pd.DataFrame({"USUBJID": usubjid, "D": compute_date_part(dtc)})
        return d.loc[(d["D"] != "") & (d["D"] <= cutoff)].groupby("USUBJID")["D"].max()

    dates = [latest(subjects, dm[c]) for c in ("RFICDTC", "DTHDTC") if c in dm]
    for frame in [f for f in ([ex, ds] + others) if f is not None]:
        for c in frame.columns:
            if c.endswith("DTC") and c != "RFPENDTC":
                dates.append(latest(frame["USUBJID"].astype("str"), frame[c]))
    alld = pd.concat(dates).rename_axis("USUBJID").rename("D").reset_index()
    refs["RFPENDTC"] = alld.groupby("USUBJID")["D"].max().reindex(refs.index).fillna("").astype("str")
    eot = pd.Series(dtype="str")
    if ds is not None and len(ds) and "DSSCAT" in ds:
        e = ds.loc[ds["DSSCAT"] == EOT_DSSCAT]
        eot = pd.Series(compute_date_part(e["DSSTDTC"]).to_numpy(), index=e["USUBJID"].to_numpy())
        eot = eot[eot != ""].groupby(level=0).min()
    plus28 = (_to_datetime(refs["RFXENDTC"]) + pd.Timedelta(days=28)).dt.strftime("%Y-%m-%d").fillna("")
    trtend = eot.reindex(refs.index).fillna("").astype("str")
    fallback = plus28.where((plus28 <= refs["RFPENDTC"]) | (refs["RFPENDTC"] == ""), refs["RFPENDTC"])
    refs["TRTEND"] = trtend.where(trtend != "", fallback).where(refs["RFXSTDTC"] != "", "").astype("str")
    return refs[list(REF_COLUMNS)]


def derive_dm(dm: pd.DataFrame, refs: pd.DataFrame, study: Study) -> pd.DataFrame:
    """DM reference dates from `refs`, AGE at consent, and the arm variables of a single-arm design.

    ARMCD/ARM = the design's arm unless ARMNRS is set (screen failure); ACTARMCD/ACTARM the same when
    the subject was dosed, else empty with ARMNRS `ASSIGNED, NOT TREATED`.
    """
    out = dm.copy()
    for c in ("RFSTDTC", "RFENDTC", "RFXSTDTC", "RFXENDTC", "RFPENDTC"):
        src = "RFXENDTC" if c == "RFENDTC" else c
        out[c] = out["USUBJID"].map(refs[src]).fillna("").astype("str")
    if "AGE" in out.columns:
        out["AGE"] = compute_age(out["BRTHDTC"], out["RFICDTC"])
    if "DTHFL" in out.columns and "DTHDTC" in out.columns:
        out["DTHFL"] = out["DTHFL"].where(
            out["DTHFL"].astype("str") != "", np.where(out["DTHDTC"] != "", "Y", "")
        )
    arms = study.settings["design"]["arms"]
    if len(arms) == 1 and "ARMCD" in out.columns:
        armcd, arm = arms[0]["armcd"], arms[0]["arm"]
        nrs = out["ARMNRS"].astype("str") if "ARMNRS" in out else pd.Series("", index=out.index)
        assigned = (nrs == "") & (out["ARMCD"].astype("str").isin(["", armcd]))
        out["ARMCD"] = np.where(assigned, armcd, out["ARMCD"])
        out["ARM"] = np.where(assigned, arm, out.get("ARM", ""))
        treated = out["RFXSTDTC"] != ""
        out["ACTARMCD"] = np.where(assigned & treated, armcd, "")
        out["ACTARM"] = np.where(assigned & treated, arm, "")
        if "ARMNRS" in out:
            out["ARMNRS"] = np.where(assigned & ~treated, "ASSIGNED, NOT TREATED", nrs)
    return out


def compute_age(birth: pd.Series, at: pd.Series) -> pd.Series:
    """Completed years from `birth` to `at` (both complete dates); NaN otherwise."""
    b = compute_date_part(birth)
    a = compute_date_part(at)
    ok = (b != "") & (a != "")
    by = pd.to_numeric(b.str[:4], errors="coerce")
    ay = pd.to_numeric(a.str[:4], errors="coerce")
    before_birthday = (a.str[5:10] < b.str[5:10]).astype("float")
    return (ay - by - before_birthday).where(ok).astype("float")


# ---------------------------------------------------------------------------------------------- SE / SV


def derive_se(dm: pd.DataFrame, refs: pd.DataFrame, study: Study) -> pd.DataFrame:
    """Subject elements of the (single) arm: screening from consent to first dose (screen failures: to the end
    of participation), treatment from first dose to TRTEND, follow-up from TRTEND to RFPENDTC when later."""
    design = study.settings["design"]
    elements = {e["etcd"]: e for e in design["elements"]}
    order = design["arms"][0]["elements"]
    r = refs.reindex(dm["USUBJID"].astype("str"))
    subj = r.index.to_series().reset_index(drop=True)
    r = r.reset_index(drop=True)
    treated = r["RFXSTDTC"] != ""
    pieces = []
    spans = [
        (order[0], r["RFICDTC"], r["RFXSTDTC"].where(treated, r["RFPENDTC"]), r["RFICDTC"] != ""),
        (order[1], r["RFXSTDTC"], r["TRTEND"], treated),
        (
            order[2],
            r["TRTEND"],
            r["RFPENDTC"],
            treated & (r["RFPENDTC"] > r["TRTEND"].str[:10]) & (r["TRTEND"] != ""),
        ),
    ]
    for i, (etcd, start, end, keep) in enumerate(spans[: len(order)], start=1):
        e = elements[etcd]
        pieces.append(
            pd.DataFrame(
                {
                    "USUBJID": subj[keep].to_numpy(),
                    "ETCD": etcd,
                    "ELEMENT": e["element"],
                    "TAETORD": float(i),
                    "EPOCH": e["epoch"],
                    "SESTDTC": start[keep].to_numpy(),
                    "SEENDTC": end[keep].to_numpy(),
                }
            )
        )
    out = pd.concat(pieces, ignore_index=True)
    for c in ("USUBJID", "ETCD", "ELEMENT", "EPOCH", "SESTDTC", "SEENDTC"):
        out[c] = out[c].astype("str")
    return out


def derive_sv(frames: list[pd.DataFrame], study: Study) -> pd.DataFrame:
    """One record per subject and visit seen in the data; SVSTDTC/SVENDTC = earliest/latest complete date."""
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
    planned = {v.visitnum: float(v.day) for v in study.visits}
    out["VISITDY"] = out["VISITNUM"].map(planned).astype("float")
    for c in ("SVSTDTC", "SVENDTC", "VISIT"):
        out[c] = out[c].fillna("").astype("str")
    return out.sort_values(["USUBJID", "VISITNUM"]).reset_index(drop=True)
