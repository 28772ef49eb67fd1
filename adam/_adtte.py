"""ADTTE: one generic time-to-event engine run over specs/adam/params/adtte.yaml.

Per parameter and subject of its population: the earliest event wins (ties: the order of `events`);
without an event, the first censoring source in listed order (= priority) whose condition holds and
that yields a date. Candidate dates before STARTDT are ignored. AVAL = ADT - STARTDT + 1 (days). ADTF and
STARTDTF carry the imputation flag of the date taken (DTHDTF for DTHDT, ADRS.ADTF for an ADRS date).

A parameter one of whose sources reads an ADRS parameter that was not derived (its input is absent:
``adrs.attrs["not_derived"]``, set by derive_adrs), or that reads ADRS when there is none, is not derived:
no records and one ADM006 finding (ADTTE.PARAMCD = the parameter; the message names the absent input).
Its other sources alone would give wrong times (an event that cannot be seen is not a censoring).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from cdiscgen._arrowtext import is_among
from cdiscgen._findings import Finding, Severity

from ._codes import INPUT_ABSENT, NO_EVENT_OR_CENSOR_DATE

log = logging.getLogger(__name__)


def _select(records: Mapping[str, pd.DataFrame], sel: Mapping) -> pd.DataFrame:
    """The records of a selection, dated, in its order: from its `dataset` (ADRS by default), with the
    selection's `date` as ADT and `seq` as the SRCSEQ column (_SEQ)."""
    frame = records.get(selection_dataset(sel), pd.DataFrame())
    date, seq = sel.get("date", "ADT"), sel.get("seq", "ASEQ")
    if frame.empty or date not in frame.columns:
        return pd.DataFrame(columns=["USUBJID", "ADT", "ADTF", "_SEQ"])
    mask = pd.Series(True, index=frame.index)
    for var, values in sel["where"].items():
        mask &= frame[var].isin(values)
    for var, values in (sel.get("exclude") or {}).items():
        mask &= ~frame[var].isin(values)
    picked = frame[mask & frame[date].notna()].sort_values(["USUBJID", *sel["order"]])
    return picked.assign(
        ADT=picked[date],
        ADTF=compute_flag_of(picked, date),
        _SEQ=picked[seq] if seq in picked.columns else np.nan,
    )


def selection_dataset(sel: Mapping) -> str:
    return str(sel.get("dataset", "ADRS"))


def compute_datasets_read(param_specs: Iterable[Mapping]) -> set[str]:
    """The ADaM datasets the time-to-event parameter specs' selections read (ADRS by default)."""
    return {selection_dataset(sel) for spec in param_specs for sel in (spec.get("selections") or {}).values()}


def _source_dates(
    src: Mapping,
    adsl: pd.DataFrame,
    records: Mapping[str, pd.DataFrame],
    selections: Mapping,
    start: pd.DataFrame | None,
) -> pd.DataFrame:
    """Candidate (ADT, ADTF, SRCDOM, SRCVAR, SRCSEQ) per USUBJID (index) of one event/censor/start source.

    ``start`` is the parameter's origin (the result of this function for its `start` source, indexed by
    USUBJID); a `start: true` source takes its date and its ADTF/SRCDOM/SRCVAR/SRCSEQ. ADTF is the
    imputation flag of the date taken (compute_flag_of).
    """
    ids = adsl["USUBJID"]
    if src.get("start"):
        out = start.reindex(ids.to_numpy())[["ADT", "ADTF", "SRCDOM", "SRCVAR", "SRCSEQ"]].copy()
    elif "variable" in src:
        var = src["variable"]
        out = pd.DataFrame(
            {
                "ADT": adsl[var].to_numpy(),
                "ADTF": compute_flag_of(adsl, var).to_numpy(),
                "SRCDOM": "ADSL",
                "SRCVAR": var,
                "SRCSEQ": np.nan,
            },
            index=ids,
        )
    else:
        sel = selections[src["selection"]]
        rec = _select(records, sel)
        rec = rec.drop_duplicates("USUBJID", keep="first" if src["pick"] == "first" else "last").set_index(
            "USUBJID"
        )
        dataset, date = selection_dataset(sel), str(sel.get("date", "ADT"))
        out = pd.DataFrame(
            {
                "ADT": rec["ADT"].astype("float64"),
                "ADTF": rec["ADTF"],
                "SRCDOM": dataset,
                "SRCVAR": date,
                "SRCSEQ": rec["_SEQ"].astype("float64"),
            }
        ).reindex(ids)
        out["SRCDOM"] = out["SRCDOM"].fillna(dataset)
        out["SRCVAR"] = out["SRCVAR"].fillna(date)
    out.index = pd.Index(ids.to_numpy(), name="USUBJID")
    before = src.get("before")
    if before:
        limit = pd.Series(adsl[before].to_numpy(), index=out.index)
        out.loc[limit.notna() & ~(out["ADT"] < limit), "ADT"] = np.nan
    cond = pd.Series(True, index=out.index)
    if src.get("if_present"):
        cond &= pd.Series(adsl[src["if_present"]].notna().to_numpy(), index=out.index)
    if src.get("if_none"):
        cond &= ~is_among(out.index, _select(records, selections[src["if_none"]])["USUBJID"])
    out.loc[~cond.to_numpy(), "ADT"] = np.nan
    if start is not None:
        origin = start["ADT"].reindex(out.index)
        out.loc[(out["ADT"] < origin).to_numpy(), "ADT"] = np.nan
    return out


def compute_flag_of(frame: pd.DataFrame, date: str) -> pd.Series:
    """The imputation flag of date variable `date` by the ADaM naming rule (*DT -> *DTF: DTHDT's DTHDTF),
    "" where the frame has none."""
    flag = f"{date}F"
    if not date.endswith("DT") or flag not in frame.columns:
        return pd.Series("", index=frame.index, dtype="str")
    return frame[flag].astype("string").fillna("").astype("str")


def compute_adrs_inputs(spec: Mapping, selections: Mapping) -> list[str]:
    """The ADRS PARAMCDs one ADTTE parameter reads (its sources' `selection` and `if_none`), in spec order."""
    out: list[str] = []
    for src in [spec["start"], *spec["events"], *spec["censors"]]:
        for key in ("selection", "if_none"):
            if key in src and selection_dataset(selections[src[key]]) == "ADRS":
                for paramcd in selections[src[key]]["where"].get("PARAMCD", []):
                    if paramcd not in out:
                        out.append(paramcd)
    return out


def check_adrs_input(
    spec: Mapping, selections: Mapping, adrs: pd.DataFrame, not_derived: Mapping[str, Any]
) -> Finding | None:
    """ADM006 (naming ADTTE.PARAMCD and, in words, the absent input) when a parameter reads an ADRS
    parameter that was not derived, or ADRS is absent."""
    needs = compute_adrs_inputs(spec, selections)
    what = f"{spec['paramcd']} ({spec['param']}) is not derived"
    message = None
    if needs and "PARAMCD" not in adrs.columns:
        message = f"no ADRS dataset (so no {' or '.join(needs)} record): {what}"
    for paramcd in needs:
        if message is None and paramcd in not_derived:
            message = f"{not_derived[paramcd].reason}: {what} (it reads ADRS {paramcd}, which is not derived)"
    if message is None:
        return None
    return Finding(
        INPUT_ABSENT, Severity.WARNING, message, dataset="ADTTE", variable="PARAMCD", value=spec["paramcd"]
    )


def _empty_adtte() -> pd.DataFrame:
    """No parameter derived: the record columns, typed, without rows."""
    text_cols = (
        "USUBJID",
        "ADTF",
        "STARTDTF",
        "SRCDOM",
        "SRCVAR",
        "EVNTDESC",
        "CNSDTDSC",
        "PARAMCD",
        "PARAM",
    )
    num_cols = ("ADT", "SRCSEQ", "CNSR", "STARTDT", "AVAL", "PARAMN")
    return pd.DataFrame(
        {
            **{c: pd.Series(dtype="str") for c in text_cols},
            **{c: pd.Series(dtype="float64") for c in num_cols},
        }
    )


def derive_adtte(
    adsl: pd.DataFrame,
    adrs: pd.DataFrame,
    param_spec: Mapping,
    *,
    not_derived: Mapping[str, Any] | None = None,
    frames: Mapping[str, pd.DataFrame] | None = None,
) -> tuple[pd.DataFrame, list[Finding]]:
    """Run the ADTTE definitions in order; returns records (spec variables + working columns) and findings.

    ``not_derived`` (PARAMCD -> the absent input, adam._adrs.AbsentInput) names the ADRS parameters that
    were not derived; by default ``adrs.attrs["not_derived"]`` as derive_adrs leaves it. ``frames``: the
    ADaM datasets derived so far, which selections naming another `dataset` (ADAE) read.
    """
    findings: list[Finding] = []
    selections = param_spec["selections"]
    if not_derived is None:
        not_derived = adrs.attrs.get("not_derived", {})
    records = {**(frames or {}), "ADRS": adrs}
    parts = []
    for spec in param_spec["parameters"]:
        absent = check_adrs_input(spec, selections, adrs, not_derived)
        if absent is not None:
            findings.append(absent)
            log.info("ADTTE %s", absent.message)
            continue
        pop = adsl
        for var, values in (spec.get("population") or {}).items():
            pop = pop[pop[var].isin(values)]
        pop = pop.reset_index(drop=True)
        start = _source_dates(spec["start"], pop, records, selections, None)
        pop = pop[start["ADT"].notna().to_numpy()].reset_index(drop=True)
        start = start[start["ADT"].notna()]
        stdt = start["ADT"]
        cands = []
        for order, src in enumerate(spec["events"]):
            c = _source_dates(src, pop, records, selections, start).assign(
                CNSR=0.0, EVNTDESC=src["evntdesc"], CNSDTDSC="", _PRI=0, _ORD=order
            )
            cands.append(c)
        for order, src in enumerate(spec["censors"]):
            c = _source_dates(src, pop, records, selections, start).assign(
                CNSR=float(src["cnsr"]),
                EVNTDESC=src.get("evntdesc", ""),
                CNSDTDSC=src["cnsdtdsc"],
                _PRI=1,
                _ORD=order,
            )
            cands.append(c)
        allc = pd.concat(cands).dropna(subset=["ADT"]).rename_axis("USUBJID").reset_index()
        # events: earliest date, then list order; censoring: list order (priority) only.
        allc["_KEY"] = np.where(allc["_PRI"] == 0, allc["ADT"], np.inf)
        best = allc.sort_values(["USUBJID", "_PRI", "_KEY", "_ORD"]).drop_duplicates("USUBJID")
        missing = pop.loc[~is_among(pop["USUBJID"], best["USUBJID"]), "USUBJID"]
        for usubjid in missing:
            findings.append(
                Finding(
                    NO_EVENT_OR_CENSOR_DATE,
                    Severity.WARNING,
                    f"{spec['paramcd']}: no event and no censoring date",
                    dataset="ADTTE",
                    variable="ADT",
                    usubjid=usubjid,
                )
            )
        best = best.drop(columns=["_KEY", "_PRI", "_ORD"])
        best["STARTDT"] = best["USUBJID"].map(stdt).astype("float")  # float even when no subject is left
        best["STARTDTF"] = best["USUBJID"].map(start["ADTF"])
        best["AVAL"] = best["ADT"].astype("float") - best["STARTDT"] + 1
        best = best.assign(PARAMCD=spec["paramcd"], PARAM=spec["param"], PARAMN=float(spec["paramn"]))
        parts.append(best)
    adtte = pd.concat(parts, ignore_index=True) if parts else _empty_adtte()
    subj = adsl.set_index("USUBJID")
    for var in ("STUDYID", "SAFFL", "EFFFL", "TRTSDT"):
        if var in subj.columns:
            adtte[var] = adtte["USUBJID"].map(subj[var])
    adtte = adtte.sort_values(["USUBJID", "PARAMN"]).reset_index(drop=True)
    adtte["ASEQ"] = (adtte.groupby("USUBJID").cumcount() + 1).astype("float64")
    for col in ("ADTF", "STARTDTF", "SRCDOM", "SRCVAR", "EVNTDESC", "CNSDTDSC", "STUDYID", "SAFFL", "EFFFL"):
        if col in adtte.columns:
            adtte[col] = adtte[col].astype("string").fillna("").astype("str")
    log.info("ADTTE: %d records", len(adtte))
    return adtte, findings
