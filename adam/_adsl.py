"""ADSL: one record per enrolled subject (screen failures excluded)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ._common import number, require_columns, text
from ._dates import compute_date_parts, compute_first_day_imputation, compute_sas_date
from ._errors import AdamInputError
from ._rules import compute_evaluability_class, compute_threshold

log = logging.getLogger(__name__)

NEW_THERAPY_CAT = "SUBSEQUENT ANTI-PLASMA CELL THERAPY"


def _min_by_subject(ids: pd.Series, days: pd.Series) -> pd.Series:
    return days.groupby(ids).min()


def _max_by_subject(ids: pd.Series, days: pd.Series) -> pd.Series:
    return days.groupby(ids).max()


def _treatment_dates(sdtm: Mapping[str, pd.DataFrame], dm: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """TRTSDT/TRTEDT per USUBJID from EX (doses > 0 or dose missing), else DM.RFXSTDTC/RFXENDTC."""
    ids = text(dm, "USUBJID")
    start = pd.Series(compute_sas_date(dm, "RFXSTDTC", dataset="DM").to_numpy(), index=ids)
    end = pd.Series(compute_sas_date(dm, "RFXENDTC", dataset="DM").to_numpy(), index=ids)
    ex = sdtm.get("EX")
    if ex is not None and len(ex):
        dose = number(ex, "EXDOSE")
        given = ex[(dose > 0) | dose.isna()]
        exid = text(given, "USUBJID")
        st = compute_sas_date(given, "EXSTDTC", dataset="EX")
        en = compute_sas_date(given, "EXENDTC", dataset="EX").fillna(st)
        ex_start = _min_by_subject(exid, st).reindex(ids)
        ex_end = _max_by_subject(exid, en).reindex(ids)
        start = ex_start.where(ex_start.notna(), start)
        end = ex_end.where(ex_end.notna(), end)
    return start, end


def _alive_dates(sdtm: Mapping[str, pd.DataFrame], dm: pd.DataFrame, cutoff_days: float) -> pd.Series:
    """Latest complete date on or before the cut-off among RFICDTC, EX, LB, RS, QS and non-death DS."""
    parts: list[pd.Series] = []

    def add(frame: pd.DataFrame | None, variable: str, dataset: str) -> None:
        if frame is None or variable not in frame.columns or not len(frame):
            return
        days = compute_sas_date(frame, variable, dataset=dataset)
        parts.append(pd.Series(days.to_numpy(), index=text(frame, "USUBJID").to_numpy()))

    add(dm, "RFICDTC", "DM")
    for dataset, variables in (
        ("EX", ("EXSTDTC", "EXENDTC")),
        ("LB", ("LBDTC",)),
        ("RS", ("RSDTC",)),
        ("QS", ("QSDTC",)),
    ):
        for variable in variables:
            add(sdtm.get(dataset), variable, dataset)
    ds = sdtm.get("DS")
    if ds is not None and len(ds):
        add(ds[text(ds, "DSDECOD").str.upper() != "DEATH"], "DSSTDTC", "DS")
    allp = pd.concat(parts) if parts else pd.Series(dtype="float64")
    allp = allp[allp <= cutoff_days]
    return allp.groupby(level=0).max()


def _disposition(ds: pd.DataFrame | None, ids: pd.Series) -> pd.DataFrame:
    """EOTSTT, EOSSTT, DCSREAS from DS disposition events (COMPLETED / DISCONTINUED / ONGOING)."""
    out = pd.DataFrame(index=pd.Index(ids, name="USUBJID"))
    out["EOTSTT"], out["EOSSTT"], out["DCSREAS"] = "ONGOING", "ONGOING", ""
    if ds is None or not len(ds):
        return out
    cat = text(ds, "DSCAT").str.upper()
    scat = text(ds, "DSSCAT").str.upper()
    epoch = text(ds, "EPOCH").str.upper()
    decod = text(ds, "DSDECOD").str.upper()
    event = (cat == "DISPOSITION EVENT") | ((cat == "") & (decod != "INFORMED CONSENT OBTAINED"))
    is_eot = event & (scat.str.contains("TREATMENT") | ((scat == "") & (epoch == "TREATMENT")))
    is_eos = event & ~is_eot & (scat.str.contains("STUDY") | (scat == ""))
    frame = pd.DataFrame({"USUBJID": text(ds, "USUBJID"), "DECOD": decod, "DTC": text(ds, "DSSTDTC")})
    for mask, var in ((is_eot, "EOTSTT"), (is_eos, "EOSSTT")):
        last = (
            frame[mask]
            .sort_values(["USUBJID", "DTC"])
            .drop_duplicates("USUBJID", keep="last")
            .set_index("USUBJID")
        )
        status = np.where(last["DECOD"] == "COMPLETED", "COMPLETED", "DISCONTINUED")
        out.loc[last.index.intersection(out.index), var] = pd.Series(status, index=last.index)
        if var == "EOSSTT":
            reason = last["DECOD"].where(last["DECOD"] != "COMPLETED", "")
            out.loc[last.index.intersection(out.index), "DCSREAS"] = reason
    return out


def derive_adsl_core(sdtm: Mapping[str, pd.DataFrame], settings: Mapping, cutoff_days: float) -> pd.DataFrame:
    """Subject-level variables from DM, EX, DS, CM and the dates of every domain (no lab baselines yet)."""
    dm = sdtm["DM"]
    require_columns(dm, "DM", ["STUDYID", "USUBJID"])
    ids_all = text(dm, "USUBJID")
    dup = ids_all[ids_all.duplicated()]
    if len(dup):
        raise AdamInputError(
            "subject appears more than once", dataset="DM", variable="USUBJID", usubjid=dup.iloc[0]
        )
    screen_fail = text(dm, "ARMNRS").str.upper().eq("SCREEN FAILURE") | text(dm, "ARMCD").str.upper().eq(
        "SCRNFAIL"
    )
    dm = dm[~screen_fail].reset_index(drop=True)
    ids = text(dm, "USUBJID")
    adsl = pd.DataFrame({"STUDYID": text(dm, "STUDYID"), "USUBJID": ids})
    for var in (
        "SUBJID",
        "SITEID",
        "AGEU",
        "SEX",
        "RACE",
        "ETHNIC",
        "COUNTRY",
        "ARMCD",
        "ARM",
        "ACTARMCD",
        "ACTARM",
    ):
        adsl[var] = text(dm, var)
    adsl["AGE"] = number(dm, "AGE")
    adsl["TRT01P"], adsl["TRT01A"] = adsl["ARM"], adsl["ACTARM"]
    adsl["ENRLFL"] = "Y"
    trtsdt, trtedt = _treatment_dates(sdtm, dm)
    adsl["TRTSDT"] = trtsdt.to_numpy()
    adsl["TRTEDT"] = trtedt.to_numpy()
    adsl["SAFFL"] = np.where(adsl["TRTSDT"].notna(), "Y", "N")
    adsl["SCRNDT"] = compute_sas_date(dm, "RFICDTC", dataset="DM").to_numpy()
    adsl["_BRTHDT"] = compute_sas_date(dm, "BRTHDTC", dataset="DM").to_numpy()

    alive = _alive_dates(sdtm, dm, cutoff_days).reindex(ids).to_numpy()
    # Death: DM.DTHDTC, else a DS DEATH record; partial -> first day of the known month/year, or
    # last-known-alive + 1 if that is later (DTHDTF flags the imputation).
    dth_days, dth_flag = compute_first_day_imputation(dm, "DTHDTC", dataset="DM")
    ds = sdtm.get("DS")
    if ds is not None and len(ds) and "DSSTDTC" in ds.columns:
        death_ds = ds[text(ds, "DSDECOD").str.upper() == "DEATH"].reset_index(drop=True)
        d_days, d_flag = compute_first_day_imputation(death_ds, "DSSTDTC", dataset="DS")
        d = pd.DataFrame({"USUBJID": text(death_ds, "USUBJID"), "D": d_days, "F": d_flag}).dropna(
            subset=["D"]
        )
        d = d.sort_values(["USUBJID", "D"]).drop_duplicates("USUBJID").set_index("USUBJID").reindex(ids)
        use_ds = dth_days.isna().to_numpy() & d["D"].notna().to_numpy()
        dth_days = pd.Series(np.where(use_ds, d["D"].to_numpy(), dth_days.to_numpy()))
        dth_flag = pd.Series(np.where(use_ds, d["F"].fillna("").to_numpy(), dth_flag.to_numpy()))
    dth_days, dth_flag = (
        pd.Series(dth_days.to_numpy(), dtype="float64"),
        pd.Series(dth_flag.to_numpy(), dtype="str"),
    )
    later = (dth_flag != "") & (pd.Series(alive) + 1 > dth_days)
    dth_days = dth_days.where(~later, pd.Series(alive) + 1)
    dth_days = dth_days.where(dth_days <= cutoff_days)  # a death after the data cut is not in this analysis
    adsl["DTHDT"] = dth_days.to_numpy()
    adsl["DTHDTF"] = np.where(adsl["DTHDT"].notna(), dth_flag.to_numpy(), "")
    adsl["DTHFL"] = np.where(adsl["DTHDT"].notna(), "Y", "")
    adsl["LSTALVDT"] = np.where(adsl["DTHDT"].notna(), adsl["DTHDT"], alive)

    adsl["NACTDT"], adsl["NACTDTF"] = np.nan, ""
    cm = sdtm.get("CM")
    if cm is not None and len(cm):
        ther = cm[text(cm, "CMCAT").str.upper() == NEW_THERAPY_CAT].reset_index(drop=True)
        n_days, n_flag = compute_first_day_imputation(ther, "CMSTDTC", dataset="CM")
        n = pd.DataFrame({"USUBJID": text(ther, "USUBJID"), "D": n_days, "F": n_flag}).dropna(subset=["D"])
        n = (
            n[n["D"] <= cutoff_days]
            .sort_values(["USUBJID", "D", "F"])
            .drop_duplicates("USUBJID")
            .set_index("USUBJID")
        )
        adsl["NACTDT"] = n["D"].reindex(ids).to_numpy()
        adsl["NACTDTF"] = n["F"].reindex(ids).fillna("").to_numpy()
    disp = _disposition(ds, ids)
    for var in ("EOTSTT", "EOSSTT", "DCSREAS"):
        adsl[var] = disp[var].to_numpy()
    adsl.loc[adsl["SAFFL"] == "N", "EOTSTT"] = ""
    return adsl


def derive_adsl_baseline(adsl: pd.DataFrame, subjects: pd.DataFrame, settings: Mapping) -> pd.DataFrame:
    """Add INVLC, HEVAL, BDFLC, BNTPBNP, BPROT, BEGFR, CARDEVFL, RENEVFL and EFFFL from ADLB baselines."""
    resp = settings["response"]
    out = adsl.copy()
    sub = subjects.reindex(out["USUBJID"])
    for var in ("INVLC", "CLONE"):
        out[var] = sub[var].fillna("").astype("str").to_numpy()
    for var in ("BDFLC", "BNTPBNP", "BPROT", "BEGFR"):
        out[var] = sub[var].astype("float64").to_numpy()
    out["HEVAL"] = compute_evaluability_class(out["BDFLC"], out["INVLC"], resp["hematologic"]).to_numpy()
    out["CARDEVFL"] = np.where(
        compute_threshold(out["BNTPBNP"], resp["cardiac"]["evaluable_baseline"]), "Y", "N"
    )
    out["RENEVFL"] = np.where(compute_threshold(out["BPROT"], resp["renal"]["evaluable_baseline"]), "Y", "N")
    out["EFFFL"] = np.where((out["SAFFL"] == "Y") & (out["HEVAL"] != "NOT EVALUABLE"), "Y", "N")
    return out


def compute_cutoff_days(settings: Mapping, cutoff: object = None) -> float:
    """The data cut-off as SAS days: the explicit argument, else settings["cutoff"]["date"], else +inf."""
    value = cutoff if cutoff is not None else (settings.get("cutoff") or {}).get("date")
    if value is None:
        return float("inf")
    frame = pd.DataFrame({"D": [str(value)[:10]]})
    days = compute_date_parts(frame, "D", dataset="study.yaml")[0].iloc[0]
    if np.isnan(days):
        raise AdamInputError(
            f"cut-off date {value!r} is not a complete date", dataset="study.yaml", variable="cutoff"
        )
    return float(days)
