"""ADRS: response parameters derived from ADLB (and RS for the investigator view and MRD).

The parameters are the ordered definitions of specs/adam/params/adrs.yaml. Each definition names a
`kind`; every kind is a function with one signature ``(spec, ctx) -> records`` (USUBJID, AVALC, ADT,
AVISIT, AVISITN, SRCDOM, SRCVAR, SRCSEQ), so the engine is a loop over the spec.

A parameter whose input is absent altogether (no RS dataset, no RS record of its test, no ADLB record of
any parameter its kind reads, an ADSL variable that was not derived, or an `of:` parameter that was not
derived itself) is not derived: it has no records and raises one ADM006 finding (dataset ADRS, variable
PARAMCD, value the parameter; the message names the absent input). "Absent" means nothing to derive
from, not "nothing in this subject or this cut": a test that exists for other subjects or outside the
cut-off is an empty input, and the rules of DOMAIN.md apply (e.g. untested = not MRD-negative).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cdiscgen._arrowtext import is_among
from cdiscgen._distinct import compute_mapped
from cdiscgen._findings import Finding, Severity

from ._codes import INPUT_ABSENT, MRD_WITHOUT_SENSITIVITY, VALUE_WITHOUT_CODE
from ._common import number, text
from ._dates import compute_sas_date, compute_study_day
from ._rules import (
    CR,
    NE,
    PD,
    compute_best_response,
    compute_cardiac_status,
    compute_hematologic_step,
    compute_landmark,
    compute_renal_status,
    compute_threshold,
)

log = logging.getLogger(__name__)
RECORD_COLUMNS = ["USUBJID", "AVALC", "ADT", "AVISIT", "AVISITN", "SRCDOM", "SRCVAR", "SRCSEQ"]
HEMATOLOGIC_INPUTS = ("KAPPA", "LAMBDA")
#: The SDTM datasets this engine reads by its own rule (RS results, SUPPRS sensitivities), not named by
#: its specs: derive_adam keeps them while the engine is still to run.
RESPONSE_READS = frozenset({"RS", "SUPPRS"})
"""ADLB parameters without any of which no hematologic assessment exists."""
ORGAN_INPUTS = {"cardiac": ("NTPROBNP", "TROPT"), "renal": ("PROT24", "EGFR")}
"""ADLB parameters that make an organ assessment (derive_organ_visits): none of them -> no organ response."""


@dataclass(frozen=True)
class AbsentInput:
    """Why a parameter was not derived: the input that is absent (dataset, variable, value), in words,
    and for a parameter that reads another one (`of:`), the parameter it reads (``via``)."""

    dataset: str
    variable: str
    value: str
    reason: str
    via: str = ""

    def describe(self, what: str) -> str:
        """The finding message for parameter ``what`` (e.g. "MRDNEG (MRD Negative by 6 Months)")."""
        via = f" (it reads {self.via}, which is not derived)" if self.via else ""
        return f"{self.reason}: {what} is not derived{via}"


@dataclass
class AdrsContext:
    adsl: pd.DataFrame
    adlb: pd.DataFrame
    sdtm: Mapping[str, pd.DataFrame]
    settings: Mapping
    cutoff_days: float
    results: dict[str, pd.DataFrame] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    not_derived: dict[str, AbsentInput] = field(default_factory=dict)
    """PARAMCD -> the absent input, for every parameter that was not derived (also ``adrs.attrs``)."""


def _records(frame: pd.DataFrame, **const: object) -> pd.DataFrame:
    out = frame.copy(deep=False)  # copy-on-write: the columns set below are out's own
    for key, value in const.items():
        out[key] = value
    for col in RECORD_COLUMNS:
        if col not in out.columns:
            out[col] = np.nan if col in ("ADT", "AVISITN", "SRCSEQ") else ""
    out = out[RECORD_COLUMNS].reset_index(drop=True)
    for col in ("ADT", "AVISITN", "SRCSEQ"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    for col in ("USUBJID", "AVALC", "AVISIT", "SRCDOM", "SRCVAR"):
        out[col] = out[col].astype("string").fillna("").astype("str")
    return out


def _prior_min(values: pd.Series, groups: pd.Series, start: pd.Series) -> pd.Series:
    """Lowest of ``start`` and the earlier values within each group (the current value excluded)."""
    filled = values.fillna(np.inf)
    running = filled.groupby(groups).cummin()
    prior = running.groupby(groups).shift(1).fillna(np.inf)
    nadir = np.fmin(prior.to_numpy("float64"), start.fillna(np.inf).to_numpy("float64"))
    return pd.Series(np.where(np.isinf(nadir), np.nan, nadir), index=values.index)


def _in_scope(frame: pd.DataFrame, cutoff_days: float) -> pd.Series:
    """Post-baseline, before new therapy and on/before the cut-off."""
    return (
        (frame["ADT"] > frame["TRTSDT"])
        & (frame["NACTDT"].isna() | (frame["ADT"] < frame["NACTDT"]))
        & (frame["ADT"] <= cutoff_days)
    )


def _add_subject_vars(frame: pd.DataFrame, adsl: pd.DataFrame, variables: tuple[str, ...]) -> pd.DataFrame:
    """Copy ADSL variables onto records by USUBJID, keeping numeric variables float64 even when empty."""
    subj = adsl.set_index("USUBJID")
    for var in variables:
        mapped = compute_mapped(frame["USUBJID"], subj[var])
        if pd.api.types.is_numeric_dtype(subj[var]):
            frame[var] = pd.to_numeric(mapped, errors="coerce").astype("float64")
        else:
            frame[var] = mapped.astype("string").fillna("").astype("str")
    return frame


def _visit_table(adlb: pd.DataFrame, params: list[str], text_params: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per subject and assessment (ANL01FL records) with each parameter as a column."""
    key = ["USUBJID", "_AKEY"]
    read = [c for c in (*key, "PARAMCD", "AVAL", "AVALC", "ADT", "AVISIT", "AVISITN") if c in adlb.columns]
    anl = adlb.loc[(adlb["ANL01FL"] == "Y") & adlb["PARAMCD"].isin(params), read]  # not ADLB's other columns
    wide = anl.pivot_table(index=key, columns="PARAMCD", values="AVAL", aggfunc="last").reindex(
        columns=params
    )
    for p in text_params:
        wide[p] = (
            anl[anl["PARAMCD"] == p].set_index(key)["AVALC"].reindex(wide.index).fillna("").astype("str")
        )
    dates = anl.pivot_table(index=key, columns="PARAMCD", values="ADT", aggfunc="last").reindex(
        columns=params
    )
    wide = wide.join(dates.add_prefix("_DT_"))
    first = anl.sort_values(key + ["ADT"]).drop_duplicates(key).set_index(key)[["AVISIT", "AVISITN", "ADT"]]
    wide = wide.join(first.rename(columns={"ADT": "_DTMIN"})).reset_index()
    numeric = (
        [p for p in params if p not in text_params] + [f"_DT_{p}" for p in params] + ["AVISITN", "_DTMIN"]
    )
    for col in numeric:
        wide[col] = pd.to_numeric(wide[col], errors="coerce").astype("float64")
    for col in ("USUBJID", "_AKEY", "AVISIT"):
        wide[col] = wide[col].astype("string").fillna("").astype("str")
    return wide


def derive_hematologic_assessments(ctx: AdrsContext) -> pd.DataFrame:
    """Score every post-baseline assessment by DOMAIN.md steps 1-6 (up to and including the first PD).

    The PD rule depends on state (once CR has been scored only the from-CR rule applies, with nadir_CR
    the lowest iFLC of earlier CR assessments), so scoring iterates over the assessment *index within
    subject* (at most a few dozen steps), each step vectorised across all subjects.
    """
    hem = ctx.settings["response"]["hematologic"]
    params = ["KAPPA", "LAMBDA", "RATIO", "IFLC", "DFLC", "MSPIKE", "UMPROT", "SIFE", "UIFE"]
    wide = _visit_table(ctx.adlb, params, ("SIFE", "UIFE"))
    wide["ADT"] = wide["_DT_KAPPA"].fillna(wide["_DT_LAMBDA"]).fillna(wide["_DTMIN"])
    subj = ctx.adsl.set_index("USUBJID")
    wide = _add_subject_vars(wide, ctx.adsl, ("TRTSDT", "NACTDT", "INVLC", "HEVAL", "BDFLC", "CLONE"))
    wide = wide[_in_scope(wide, ctx.cutoff_days)].sort_values(["USUBJID", "ADT", "AVISITN", "_AKEY"])
    wide = wide.reset_index(drop=True)
    base = ctx.adlb[ctx.adlb["ABLFL"] == "Y"].pivot_table(
        index="USUBJID", columns="PARAMCD", values="AVAL", aggfunc="last"
    )
    base = base.reindex(columns=["IFLC", "MSPIKE", "UMPROT"])
    for p in ("IFLC", "MSPIKE", "UMPROT"):
        wide[f"NADIR_{p}"] = _prior_min(wide[p], wide["USUBJID"], wide["USUBJID"].map(base[p]))
    wide["_IDX"] = wide.groupby("USUBJID").cumcount()
    wide["AVALC"] = ""
    cr_before = pd.Series(False, index=subj.index)
    nadir_cr = pd.Series(np.inf, index=subj.index)
    stopped = pd.Series(False, index=subj.index)
    for k in range(int(wide["_IDX"].max()) + 1 if len(wide) else 0):
        rows = wide.index[(wide["_IDX"] == k).to_numpy() & ~wide["USUBJID"].map(stopped).to_numpy(bool)]
        if not len(rows):
            break
        comp = wide.loc[rows].copy()
        comp["CR_BEFORE"] = comp["USUBJID"].map(cr_before).to_numpy(bool)
        ncr = comp["USUBJID"].map(nadir_cr).astype("float64")
        comp["NADIR_CR"] = ncr.where(~np.isinf(ncr))
        status = compute_hematologic_step(comp, hem)
        wide.loc[rows, "AVALC"] = status
        ids = comp["USUBJID"]
        is_cr = (status == CR).to_numpy()
        cr_before[ids[is_cr]] = True
        nadir_cr[ids[is_cr]] = np.fmin(
            nadir_cr[ids[is_cr]].to_numpy(), comp.loc[is_cr, "IFLC"].fillna(np.inf).to_numpy()
        )
        stopped[ids[(status == PD).to_numpy()]] = True
    scored = wide[wide["AVALC"] != ""].copy()
    scored["ADY"] = compute_study_day(scored["ADT"], scored["TRTSDT"])
    return scored


def _kind_subject(spec: Mapping, ctx: AdrsContext) -> pd.DataFrame:
    return _records(ctx.adsl.assign(AVALC=ctx.adsl[spec["variable"]].astype("str")))


def _kind_hematologic(spec: Mapping, ctx: AdrsContext) -> pd.DataFrame:
    return _records(derive_hematologic_assessments(ctx))


def _rs_records(ctx: AdrsContext, testcd: str) -> pd.DataFrame:
    """RS records of one test for ADSL subjects on/before the cut-off (typed columns, also when empty)."""
    rs = ctx.sdtm.get("RS")
    if rs is None:
        rs = pd.DataFrame()
    rs = rs[text(rs, "RSTESTCD").str.upper() == testcd.upper()].reset_index(drop=True)
    out = pd.DataFrame(
        {
            "USUBJID": text(rs, "USUBJID"),
            "AVALC": text(rs, "RSSTRESC").str.upper(),
            "ADT": compute_sas_date(rs, "RSDTC", dataset="RS"),
            "RSSEQ": number(rs, "RSSEQ"),
            "AVISIT": text(rs, "VISIT"),
            "AVISITN": number(rs, "VISITNUM"),
        }
    )
    return out[is_among(out["USUBJID"], ctx.adsl["USUBJID"]) & (out["ADT"] <= ctx.cutoff_days)]


def _kind_investigator(spec: Mapping, ctx: AdrsContext) -> pd.DataFrame:
    rs = _rs_records(ctx, spec["testcd"]).rename(columns={"RSSEQ": "SRCSEQ"})
    return _records(rs, SRCDOM="RS", SRCVAR="RSSTRESC")


def _subject_days(ctx: AdrsContext) -> pd.DataFrame:
    """First PD and an included death (before new therapy) per subject, as dates and study days."""
    hem = ctx.results["HEMRESP"] if "HEMRESP" in ctx.results else pd.DataFrame(columns=RECORD_COLUMNS)
    subj = ctx.adsl.set_index("USUBJID")
    pdd = hem[hem["AVALC"] == PD].groupby("USUBJID")["ADT"].min()
    out = pd.DataFrame(index=subj.index)
    out["PDDT"] = pdd.reindex(out.index)
    dth = subj["DTHDT"].where(subj["NACTDT"].isna() | (subj["DTHDT"] < subj["NACTDT"]))
    out["DTHDT"] = dth
    out["PDDY"] = compute_study_day(out["PDDT"], subj["TRTSDT"])
    out["DTHDY"] = compute_study_day(out["DTHDT"], subj["TRTSDT"])
    return out


def _kind_landmark(spec: Mapping, ctx: AdrsContext) -> pd.DataFrame:
    hem = ctx.settings["response"]["hematologic"]
    lm = {x["paramcd"]: x for x in hem.get("landmarks", [])}.get(spec["paramcd"], spec)
    src = ctx.results[spec["of"]]
    src = src.assign(
        ADY=compute_study_day(src["ADT"], src["USUBJID"].map(ctx.adsl.set_index("USUBJID")["TRTSDT"]))
    )
    res = compute_landmark(
        src, _subject_days(ctx), lm["target"], tuple(lm["window"]), hem.get("landmark_tie", "later")
    )
    vis = src.drop_duplicates(["USUBJID", "ADT"]).set_index(["USUBJID", "ADT"])
    key = pd.MultiIndex.from_arrays([res.index, res["ADT"]])
    res["AVISIT"] = vis["AVISIT"].reindex(key).fillna("").to_numpy()
    res["AVISITN"] = vis["AVISITN"].reindex(key).to_numpy()
    return _records(res.rename_axis("USUBJID").reset_index())


def _value_set(spec: Mapping, ctx: AdrsContext) -> list[str]:
    values = spec["values"]
    if isinstance(values, str):
        return list(ctx.settings["response"]["hematologic"][values])
    return list(values)


def _kind_in_set(spec: Mapping, ctx: AdrsContext) -> pd.DataFrame:
    src = ctx.results[spec["of"]]
    flag = np.where(src["AVALC"].isin(_value_set(spec, ctx)), "Y", "N")
    return _records(src.assign(AVALC=flag))


def _kind_best(spec: Mapping, ctx: AdrsContext) -> pd.DataFrame:
    rank = list(ctx.settings["response"]["hematologic"]["rank"])
    src = ctx.results[spec["of"]]
    best = src.groupby("USUBJID")["AVALC"].agg(lambda s: compute_best_response(s, rank))
    out = pd.DataFrame({"USUBJID": ctx.adsl["USUBJID"]})
    out["AVALC"] = out["USUBJID"].map(best).astype("string").fillna(NE).astype("str")
    first = (
        src.sort_values(["USUBJID", "ADT"])
        .drop_duplicates(["USUBJID", "AVALC"])
        .set_index(["USUBJID", "AVALC"])
    )
    key = pd.MultiIndex.from_arrays([out["USUBJID"], out["AVALC"]])
    for col in ("ADT", "AVISIT", "AVISITN"):
        out[col] = first[col].reindex(key).to_numpy()
    out["AVISIT"] = out["AVISIT"].fillna("")
    return _records(out)


def _kind_first(spec: Mapping, ctx: AdrsContext) -> pd.DataFrame:
    src = ctx.results[spec["of"]]
    hits = (
        src[src["AVALC"].isin(_value_set(spec, ctx))]
        .sort_values(["USUBJID", "ADT"])
        .drop_duplicates("USUBJID")
    )
    out = pd.DataFrame({"USUBJID": ctx.adsl["USUBJID"]}).merge(
        hits.drop(columns="AVALC"), on="USUBJID", how="left"
    )
    out["AVALC"] = np.where(is_among(out["USUBJID"], hits["USUBJID"]), "Y", "N")
    return _records(out)


def _kind_any_by_day(spec: Mapping, ctx: AdrsContext) -> pd.DataFrame:
    by_day = spec["by_day"]
    limit = float(ctx.settings["response"][by_day] if isinstance(by_day, str) else by_day)
    src = ctx.results[spec["of"]]
    ady = compute_study_day(src["ADT"], src["USUBJID"].map(ctx.adsl.set_index("USUBJID")["TRTSDT"]))
    hits = src[src["AVALC"].isin(_value_set(spec, ctx)) & (ady <= limit)]
    hits = hits.sort_values(["USUBJID", "ADT"]).drop_duplicates("USUBJID")
    out = pd.DataFrame({"USUBJID": ctx.adsl["USUBJID"]}).merge(
        hits.drop(columns="AVALC"), on="USUBJID", how="left"
    )
    out["AVALC"] = np.where(is_among(out["USUBJID"], hits["USUBJID"]), "Y", "N")
    return _records(out)


def derive_organ_visits(ctx: AdrsContext, organ: str) -> pd.DataFrame:
    """Per post-baseline visit cardiac or renal status (PD > RESPONSE > NR; NE when not evaluable)."""
    resp = ctx.settings["response"]
    wide = _visit_table(ctx.adlb, ["NTPROBNP", "TROPT", "EGFR", "PROT24"])
    wide = _add_subject_vars(wide, ctx.adsl, ("TRTSDT", "NACTDT", "BNTPBNP", "BPROT", "BEGFR"))
    if organ == "cardiac":
        wide = wide[wide["NTPROBNP"].notna() | wide["TROPT"].notna()].copy()
        wide["ADT"] = wide["_DT_NTPROBNP"].fillna(wide["_DT_TROPT"])
    else:
        wide = wide[wide["PROT24"].notna() | wide["EGFR"].notna()].copy()
        wide["ADT"] = wide["_DT_PROT24"].fillna(wide["_DT_EGFR"])
    wide = (
        wide[_in_scope(wide, ctx.cutoff_days)]
        .sort_values(["USUBJID", "ADT", "AVISITN"])
        .reset_index(drop=True)
    )
    if organ == "cardiac":
        base = ctx.adlb[ctx.adlb["ABLFL"] == "Y"].pivot_table(
            index="USUBJID", columns="PARAMCD", values="AVAL", aggfunc="last"
        )
        base = base.reindex(columns=["NTPROBNP", "TROPT"])
        wide["NADIR_NTPROBNP"] = _prior_min(
            wide["NTPROBNP"], wide["USUBJID"], wide["USUBJID"].map(base["NTPROBNP"])
        )
        wide["NADIR_TROPT"] = _prior_min(wide["TROPT"], wide["USUBJID"], wide["USUBJID"].map(base["TROPT"]))
        wide["AVALC"] = compute_cardiac_status(wide, resp["cardiac"])
    else:
        wide["AVALC"] = compute_renal_status(wide, resp["renal"])
    return wide


def _kind_organ(spec: Mapping, ctx: AdrsContext) -> pd.DataFrame:
    return _records(derive_organ_visits(ctx, spec["organ"]))


def _kind_mrd(spec: Mapping, ctx: AdrsContext) -> pd.DataFrame:
    """MRD negative: any NEGATIVE at sensitivity <= threshold up to the configured study day, before new therapy."""
    mrd = ctx.settings["response"]["mrd"]
    rs = _rs_records(ctx, spec["testcd"])
    rs["SENS"] = np.nan
    supp = ctx.sdtm.get("SUPPRS")
    if supp is not None and len(supp) and len(rs):
        s = supp[
            text(supp, "QNAM").str.upper().str.contains("SENS") & (text(supp, "IDVAR").str.upper() == "RSSEQ")
        ]
        s = pd.DataFrame(
            {
                "USUBJID": text(s, "USUBJID"),
                "RSSEQ": pd.to_numeric(text(s, "IDVARVAL"), errors="coerce"),
                "SENS": pd.to_numeric(text(s, "QVAL"), errors="coerce"),
            }
        ).drop_duplicates(["USUBJID", "RSSEQ"])
        rs = rs.drop(columns="SENS").merge(s, on=["USUBJID", "RSSEQ"], how="left")
    subj = ctx.adsl.set_index("USUBJID")
    # astype: an empty frame maps to text, which a date comparison refuses
    trt = rs["USUBJID"].map(subj["TRTSDT"]).astype("float")
    nact = rs["USUBJID"].map(subj["NACTDT"]).astype("float")
    ady = compute_study_day(rs["ADT"], trt)
    window = (ady <= float(mrd["by_day"])) & (nact.isna() | (rs["ADT"] < nact))
    neg = (rs["AVALC"] == "NEGATIVE") & window
    for row in rs[neg & rs["SENS"].isna()].itertuples():
        ctx.findings.append(
            Finding(
                MRD_WITHOUT_SENSITIVITY,
                Severity.NOTICE,
                "MRD NEGATIVE without a sensitivity; not counted as MRD-negative",
                dataset="RS",
                variable="RSSTRESC",
                usubjid=row.USUBJID,
                seq=row.RSSEQ,
            )
        )
    ok = neg & compute_threshold(rs["SENS"], mrd["sensitivity"])
    hits = (
        rs[ok].sort_values(["USUBJID", "ADT"]).drop_duplicates("USUBJID").rename(columns={"RSSEQ": "SRCSEQ"})
    )
    out = pd.DataFrame({"USUBJID": ctx.adsl["USUBJID"]}).merge(
        hits.drop(columns="AVALC"), on="USUBJID", how="left"
    )
    out["AVALC"] = np.where(is_among(out["USUBJID"], hits["USUBJID"]), "Y", "N")
    out["SRCDOM"] = np.where(out["AVALC"] == "Y", "RS", "")
    out["SRCVAR"] = np.where(out["AVALC"] == "Y", "RSSTRESC", "")
    return _records(out)


def check_rs_input(spec: Mapping, ctx: AdrsContext) -> AbsentInput | None:
    """The RS test a parameter reads: absent when there is no RS dataset or no record of the test."""
    testcd = str(spec["testcd"]).upper()
    rs = ctx.sdtm.get("RS")
    if rs is None:
        return AbsentInput("RS", "RSTESTCD", testcd, f"no RS dataset (so no record with RSTESTCD {testcd})")
    if "RSTESTCD" not in rs.columns:
        return AbsentInput("RS", "RSTESTCD", testcd, "RS has no variable RSTESTCD")
    if not text(rs, "RSTESTCD").str.upper().eq(testcd).any():
        return AbsentInput("RS", "RSTESTCD", testcd, f"RS has no record with RSTESTCD {testcd}")
    return None


def _check_adlb_params(ctx: AdrsContext, paramcds: tuple[str, ...]) -> AbsentInput | None:
    names = " or ".join(paramcds)
    adlb = ctx.adlb
    if adlb is None or "PARAMCD" not in adlb.columns:
        return AbsentInput("ADLB", "PARAMCD", ", ".join(paramcds), f"no ADLB dataset (so no {names} record)")
    if not adlb["PARAMCD"].isin(paramcds).any():
        return AbsentInput(
            "ADLB",
            "PARAMCD",
            ", ".join(paramcds),
            f"ADLB has no {names} record (LB has no usable result of their sources)",
        )
    return None


def check_hematologic_input(spec: Mapping, ctx: AdrsContext) -> AbsentInput | None:
    """The free light chains of ADLB: absent when ADLB has no KAPPA and no LAMBDA record."""
    return _check_adlb_params(ctx, HEMATOLOGIC_INPUTS)


def check_organ_input(spec: Mapping, ctx: AdrsContext) -> AbsentInput | None:
    """The organ labs of ADLB (ORGAN_INPUTS): absent when ADLB has a record of none of them."""
    return _check_adlb_params(ctx, ORGAN_INPUTS[spec["organ"]])


def check_subject_input(spec: Mapping, ctx: AdrsContext) -> AbsentInput | None:
    """The ADSL variable a `subject` parameter copies: absent when ADSL does not have it."""
    var = spec["variable"]
    if var not in ctx.adsl.columns:
        return AbsentInput("ADSL", var, var, f"ADSL has no variable {var}")
    return None


INPUT_CHECKS: dict[str, Callable[[Mapping, AdrsContext], AbsentInput | None]] = {
    "subject": check_subject_input,
    "hematologic": check_hematologic_input,
    "investigator": check_rs_input,
    "organ": check_organ_input,
    "mrd": check_rs_input,
}
"""Per kind, the check of its own input; kinds with `of:` read an earlier parameter (check_absent_input)."""


def check_absent_input(spec: Mapping, ctx: AdrsContext) -> AbsentInput | None:
    """The absent input that keeps a parameter from being derived, or None when it can be derived."""
    source = spec.get("of")
    if source is not None and source in ctx.not_derived:
        root = ctx.not_derived[source]
        return AbsentInput(root.dataset, root.variable, root.value, root.reason, via=source)
    check = INPUT_CHECKS.get(spec["kind"])
    return check(spec, ctx) if check is not None else None


KINDS: dict[str, Callable[[Mapping, AdrsContext], pd.DataFrame]] = {
    "subject": _kind_subject,
    "hematologic": _kind_hematologic,
    "investigator": _kind_investigator,
    "organ": _kind_organ,
    "landmark": _kind_landmark,
    "in_set": _kind_in_set,
    "best": _kind_best,
    "first": _kind_first,
    "any_by_day": _kind_any_by_day,
    "mrd": _kind_mrd,
}


def derive_adrs(ctx: AdrsContext, param_spec: Mapping) -> pd.DataFrame:
    """Run every ADRS parameter definition in order and stack the records (working columns kept)."""
    parts = []
    codesets = param_spec["codesets"]
    for spec in param_spec["parameters"]:
        absent = check_absent_input(spec, ctx)
        if absent is not None:
            ctx.not_derived[spec["paramcd"]] = absent
            ctx.results[spec["paramcd"]] = _records(pd.DataFrame(columns=RECORD_COLUMNS))
            ctx.findings.append(
                Finding(
                    INPUT_ABSENT,
                    Severity.WARNING,
                    absent.describe(f"{spec['paramcd']} ({spec['param']})"),
                    dataset="ADRS",
                    variable="PARAMCD",
                    value=spec["paramcd"],
                )
            )
            log.info("ADRS %s", ctx.findings[-1].message)
            continue
        recs = KINDS[spec["kind"]](spec, ctx)
        ctx.results[spec["paramcd"]] = recs
        codes = codesets[spec["codes"]]
        recs = recs.assign(PARAMCD=spec["paramcd"], PARAM=spec["param"], PARAMN=float(spec["paramn"]))
        recs["AVAL"] = compute_mapped(recs["AVALC"], codes).astype("float64")
        for row in recs[recs["AVAL"].isna()].itertuples():
            ctx.findings.append(
                Finding(
                    VALUE_WITHOUT_CODE,
                    Severity.WARNING,
                    f"{spec['paramcd']} value {row.AVALC!r} has no code in codeset {spec['codes']}",
                    dataset="ADRS",
                    variable="AVALC",
                    usubjid=row.USUBJID,
                    value=row.AVALC,
                )
            )
        parts.append(recs)
    if not parts:
        parts.append(
            _records(pd.DataFrame(columns=RECORD_COLUMNS)).assign(
                PARAMCD="", PARAM="", PARAMN=np.nan, AVAL=np.nan
            )
        )
    adrs = pd.concat(parts, ignore_index=True)
    subj = ctx.adsl.set_index("USUBJID")
    for var in ("STUDYID", "SAFFL", "EFFFL", "TRTSDT"):
        adrs[var] = compute_mapped(adrs["USUBJID"], subj[var])
    adrs["ADY"] = compute_study_day(adrs["ADT"], adrs["TRTSDT"])
    adrs = adrs.sort_values(
        ["USUBJID", "PARAMN", "ADT", "AVISITN", "SRCSEQ"], na_position="last"
    ).reset_index(drop=True)
    adrs["ANL01FL"] = np.where(~adrs.duplicated(["USUBJID", "PARAMCD", "ADT"], keep="last"), "Y", "")
    adrs["ASEQ"] = (adrs.groupby("USUBJID").cumcount() + 1).astype("float64")
    for col in ("AVALC", "AVISIT", "SRCDOM", "SRCVAR", "PARAM", "PARAMCD", "STUDYID", "SAFFL", "EFFFL"):
        adrs[col] = adrs[col].astype("string").fillna("").astype("str")
    if ctx.not_derived:
        adrs.attrs["not_derived"] = dict(ctx.not_derived)  # read by derive_adtte
    log.info("ADRS: %d records", len(adrs))
    return adrs
