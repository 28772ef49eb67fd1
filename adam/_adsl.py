"""ADSL: one record per subject of the study's ADSL population, derived by the ordered steps of
specs/adam/params/adsl.yaml (admiral's habits: each step adds variables; a step names its inputs).

Variables whose spec says `origin: Predecessor, source: DM.X` are copied from DM. The steps before the
first `baseline`/`response_baseline` step run on SDTM alone (`derive_adsl_subject`); the rest run once the
BDS datasets exist (`derive_adsl_analysis`), so population flags may use baseline covariates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from cdiscgen import DatasetSpec
from cdiscgen._arrowtext import compute_positions_among
from cdiscgen._exposure import compute_exposure_mask, exposure_dataset
from cdiscgen._findings import Finding, Severity

from ._codes import INPUT_ABSENT
from ._common import number, require_columns, text
from ._dates import compute_date_parts, compute_first_day_imputation, compute_sas_date
from ._errors import AdamInputError
from ._rules import compute_evaluability_class, compute_threshold
from ._steps import (
    compute_where_mask,
    derive_assign,
    derive_compute,
    derive_copy,
    derive_cut,
    derive_duration,
    derive_extreme_flag,
    derive_flag,
    derive_imputed_date,
    derive_map,
    derive_steps,
    derive_study_day,
)

log = logging.getLogger(__name__)

ANALYSIS_STEPS = ("baseline", "response_baseline")
#: The SDTM dataset a disposition step reads by its own rule (not named by its spec).
DISPOSITION_DATASET = "DS"
"""Step kinds that read BDS datasets: they and every later step run after the BDS datasets."""


class AdslContext:
    """What the ADSL steps read: SDTM, study settings, cut-off, the BDS datasets once they exist."""

    def __init__(self, sdtm: Mapping[str, pd.DataFrame], settings: Mapping, cutoff_days: float) -> None:
        self.sdtm = sdtm
        self.settings = settings
        self.cutoff_days = cutoff_days
        self.bds: dict[str, pd.DataFrame] = {}
        self.subjects: pd.DataFrame | None = None  # ADLB's subject-level baseline facts (response rules)
        # the DM records of the ADSL subjects, row for row (kept here, not in adsl.attrs: pandas deep-copies
        # attrs on every operation)
        self.dm = pd.DataFrame()
        self.findings: list[Finding] = []

    def records(self, dataset: str, step: str, variable: str) -> pd.DataFrame | None:
        """An optional input dataset; absent -> None and a finding naming the variable it leaves empty."""
        frame = self.sdtm.get(dataset)
        if frame is None:
            self.findings.append(
                Finding(
                    INPUT_ABSENT,
                    Severity.WARNING,
                    f"no {dataset} dataset: {variable} ({step}) is not derived from it",
                    dataset="ADSL",
                    variable=variable,
                )
            )
        return frame


def _by_subject(frame: pd.DataFrame, days: pd.Series, flags: pd.Series, pick: str) -> pd.DataFrame:
    """The first or last (day, flag) per USUBJID among records with a day."""
    out = pd.DataFrame(
        {"USUBJID": text(frame, "USUBJID").to_numpy(), "D": days.to_numpy(), "F": flags.to_numpy()}
    )
    out = out.dropna(subset=["D"]).sort_values(["USUBJID", "D", "F"])
    return out.drop_duplicates("USUBJID", keep="first" if pick == "first" else "last").set_index("USUBJID")


def _imputed_dates(
    frame: pd.DataFrame, variable: str, dataset: str, impute: str
) -> tuple[pd.Series, pd.Series]:
    if impute == "first_day":
        return compute_first_day_imputation(frame, variable, dataset=dataset)
    days = compute_sas_date(frame, variable, dataset=dataset)
    return days, pd.Series("", index=frame.index, dtype="str")


# ------------------------------------------------------------------------------------------------ steps


def compute_population_records(dm: pd.DataFrame, step: Mapping | None) -> pd.DataFrame:
    """The DM records of the subjects the population condition keeps (each subject once)."""
    require_columns(dm, "DM", ["STUDYID", "USUBJID"])
    ids_all = text(dm, "USUBJID")
    dup = ids_all[ids_all.duplicated()]
    if len(dup):
        raise AdamInputError(
            "subject appears more than once", dataset="DM", variable="USUBJID", usubjid=dup.iloc[0]
        )
    return dm[compute_where_mask(dm, (step or {}).get("where"))].reset_index(drop=True)


def derive_population(kept: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """ADSL's subjects from their DM records, with the spec's DM predecessors copied."""
    adsl = pd.DataFrame({"STUDYID": text(kept, "STUDYID"), "USUBJID": text(kept, "USUBJID")})
    for var in spec.variables:
        source = (var.source or "").strip()
        if var.origin != "Predecessor" or not source.upper().startswith("DM.") or var.name in adsl:
            continue
        column = source[3:]
        if column not in kept.columns:
            raise AdamInputError(f"ADSL.{var.name} is copied from it", dataset="DM", variable=column)
        adsl[var.name] = number(kept, column) if var.is_numeric else text(kept, column)
    # working column: birth date, for ages at other dates (ADLB's eGFR)
    adsl["_BRTHDT"] = compute_sas_date(kept, "BRTHDTC", dataset="DM").to_numpy()
    return adsl


def derive_treatment_dates(adsl: pd.DataFrame, step: Mapping, ctx: AdslContext) -> pd.DataFrame:
    """First/last exposure from the exposure records (the study's exposure rule, placebo included),
    else the DM fallback variables (RFXSTDTC/RFXENDTC)."""
    dm = ctx.dm
    ids = adsl["USUBJID"]
    fallback = step.get("fallback") or {}
    start = (
        pd.Series(compute_sas_date(dm, fallback["start"], dataset="DM").to_numpy(), index=ids)
        if fallback.get("start")
        else pd.Series(np.nan, index=ids)
    )
    end = (
        pd.Series(compute_sas_date(dm, fallback["end"], dataset="DM").to_numpy(), index=ids)
        if fallback.get("end")
        else pd.Series(np.nan, index=ids)
    )
    dataset = step.get("dataset") or exposure_dataset(ctx.settings)
    ex = ctx.records(dataset, "treatment", step["start"])
    if ex is not None and len(ex):
        if step.get("where"):
            given = ex[compute_where_mask(ex, step["where"])]
        else:
            given = ex[compute_exposure_mask(ex, dict(ctx.settings))]
        prefix = dataset[:2]
        st = compute_sas_date(given, step.get("start_date", f"{prefix}STDTC"), dataset=dataset)
        en = compute_sas_date(given, step.get("end_date", f"{prefix}ENDTC"), dataset=dataset)
        if step.get("end_missing", "start") == "start":  # a record without an end date ends on its start
            en = en.fillna(st)
        st, en = _cut_exposure(st, en, ctx.cutoff_days)
        exid = text(given, "USUBJID")
        ex_start = st.groupby(exid).min().reindex(ids)
        ex_end = en.groupby(exid).max().reindex(ids)
        start = ex_start.where(ex_start.notna(), start)
        end = ex_end.where(ex_end.notna(), end)
    start, end = _cut_exposure(start, end, ctx.cutoff_days)
    adsl[step["start"]] = start.to_numpy()
    adsl[step["end"]] = end.to_numpy()
    return adsl


def _cut_exposure(start: pd.Series, end: pd.Series, cutoff_days: float) -> tuple[pd.Series, pd.Series]:
    """Exposure as of the data cut-off: a period starting after it is not in the analysis, one ending after
    it (or on a placeholder such as 9999-12-31) ends on it."""
    after = start > cutoff_days
    start = start.mask(after)
    end = end.mask(after).clip(upper=cutoff_days)
    return start, end


def derive_date(adsl: pd.DataFrame, step: Mapping, ctx: AdslContext) -> pd.DataFrame:
    """A numeric date from a DM date variable (partial dates imputed when the step asks)."""
    dm = ctx.dm
    days, flag = _imputed_dates(dm, step["source"], "DM", step.get("impute", "none"))
    adsl[step["variable"]] = days.to_numpy()
    if step.get("flag"):
        adsl[step["flag"]] = np.where(adsl[step["variable"]].notna(), flag.to_numpy(), "")
    return adsl


def derive_first_date(adsl: pd.DataFrame, step: Mapping, ctx: AdslContext) -> pd.DataFrame:
    """The first (or last) date of a subject's records of a domain that meet a condition, on or before
    the data cut-off; partial dates imputed to the first day when the step asks (flag D/M)."""
    var, flag_var = step["variable"], step.get("flag")
    adsl[var] = np.nan
    if flag_var:
        adsl[flag_var] = ""
    frame = ctx.records(step["dataset"], "first_date", var)
    if frame is None or not len(frame):
        return adsl
    chosen = frame[compute_where_mask(frame, step.get("where"))].reset_index(drop=True)
    days, flags = _imputed_dates(chosen, step["source"], step["dataset"], step.get("impute", "none"))
    keep = (days <= ctx.cutoff_days).to_numpy()
    found = _by_subject(chosen[keep], days[keep], flags[keep], step.get("pick", "first"))
    adsl[var] = found["D"].reindex(adsl["USUBJID"]).to_numpy()
    if flag_var:
        adsl[flag_var] = found["F"].reindex(adsl["USUBJID"]).fillna("").to_numpy()
    return adsl


def derive_last_alive(adsl: pd.DataFrame, step: Mapping, ctx: AdslContext) -> pd.DataFrame:
    """Latest date on or before the cut-off among the listed sources: ADSL date variables, DM variables
    and records of other domains meeting their condition (complete dates; partial ones imputed to the
    first day where the source says `impute: first_day`)."""
    latest = np.full(len(adsl), np.nan)

    def take(subjects: pd.Series, days: np.ndarray) -> None:
        """Raise each ADSL subject's latest date to the dates given on or before the cut-off."""
        rows = compute_positions_among(subjects, adsl["USUBJID"])  # each date's ADSL row, -1 for none
        kept = (rows >= 0) & (days <= ctx.cutoff_days)
        np.fmax.at(latest, rows[kept], days[kept])

    for source in step["sources"]:
        dataset = source["dataset"]
        if dataset == "ADSL":
            for variable in source["variables"]:
                take(adsl["USUBJID"], number(adsl, variable).to_numpy())
            continue
        frame = ctx.dm if dataset == "DM" else ctx.sdtm.get(dataset)
        if frame is None or not len(frame):
            continue
        frame = frame[compute_where_mask(frame, source.get("where"))]
        for variable in source["variables"]:
            if variable not in frame.columns:
                continue
            days, _flag = _imputed_dates(frame, variable, dataset, source.get("impute", "none"))
            take(text(frame, "USUBJID"), days.to_numpy())
    adsl[step["variable"]] = latest
    return adsl


def derive_death(adsl: pd.DataFrame, step: Mapping, ctx: AdslContext) -> pd.DataFrame:
    """DTHDT from the first source that has a date (in the order listed), partial dates imputed to the
    first day of the known month/year (DTHDTF D/M) and, when the step asks, not before the day after the
    last-alive date; deaths after the cut-off left out. DTHFL, and (`set_last_alive`) last-alive = DTHDT."""
    ids = adsl["USUBJID"]
    days = pd.Series(np.nan, index=range(len(adsl)), dtype="float64")
    flags = pd.Series("", index=range(len(adsl)), dtype="str")
    for source in step["sources"]:
        dataset = source["dataset"]
        frame = ctx.dm if dataset == "DM" else ctx.sdtm.get(dataset)
        if frame is None or not len(frame) or source["variable"] not in frame.columns:
            continue
        chosen = frame[compute_where_mask(frame, source.get("where"))].reset_index(drop=True)
        d, f = _imputed_dates(chosen, source["variable"], dataset, step.get("impute", "none"))
        found = _by_subject(chosen, d, f, source.get("pick", "first")).reindex(ids)
        use = days.isna().to_numpy() & found["D"].notna().to_numpy()
        days = pd.Series(np.where(use, found["D"].to_numpy(), days.to_numpy()), dtype="float64")
        flags = pd.Series(np.where(use, found["F"].fillna("").to_numpy(), flags.to_numpy()), dtype="str")
    alive_var = step.get("last_alive")
    if alive_var and step.get("not_before_last_alive"):
        alive = pd.Series(adsl[alive_var].to_numpy(), dtype="float64")
        later = (flags != "") & (alive + 1 > days)
        days = days.where(~later, alive + 1)
    days = days.where(days <= ctx.cutoff_days)  # a death after the data cut is not in this analysis
    adsl[step["date"]] = days.to_numpy()
    if step.get("flag"):
        adsl[step["flag"]] = np.where(adsl[step["date"]].notna(), flags.to_numpy(), "")
    if step.get("death_flag"):
        adsl[step["death_flag"]] = np.where(adsl[step["date"]].notna(), "Y", "")
    if alive_var and step.get("set_last_alive"):
        adsl[alive_var] = np.where(adsl[step["date"]].notna(), adsl[step["date"]], adsl[alive_var])
    return adsl


def derive_disposition(adsl: pd.DataFrame, step: Mapping, ctx: AdslContext) -> pd.DataFrame:
    """A status (EOSSTT, EOTSTT) from the subject's last (or first) DS record meeting the condition:
    its DSDECOD through `values` (COMPLETED -> COMPLETED, ...), any other decode -> `otherwise`, no such
    record -> `none`; the reason (DSDECOD) where the status is `otherwise`."""
    status = step["status"]
    ids = adsl["USUBJID"]
    adsl[status] = step.get("none", "ONGOING")
    if step.get("reason"):
        adsl[step["reason"]] = ""
    ds = ctx.records(DISPOSITION_DATASET, "disposition", status)
    if ds is None or not len(ds):
        return adsl
    chosen = ds[compute_where_mask(ds, step.get("where"))]
    frame = pd.DataFrame(
        {
            "USUBJID": text(chosen, "USUBJID"),
            "DECOD": text(chosen, "DSDECOD").str.upper(),
            "DTC": text(chosen, "DSSTDTC"),
        }
    ).sort_values(["USUBJID", "DTC"])
    last = frame.drop_duplicates("USUBJID", keep="last" if step.get("pick", "last") == "last" else "first")
    last = last.set_index("USUBJID")
    values = {str(k).upper(): v for k, v in (step.get("values") or {}).items()}
    mapped = last["DECOD"].map(lambda d: values.get(d, step.get("otherwise", "DISCONTINUED")))
    target = last.index.intersection(pd.Index(ids))
    pos = pd.Index(ids).get_indexer(target)
    adsl.loc[pos, status] = mapped.loc[target].to_numpy()
    if step.get("reason"):
        otherwise = mapped.loc[target] == step.get("otherwise", "DISCONTINUED")
        adsl.loc[pos, step["reason"]] = last.loc[target, "DECOD"].where(otherwise, "").to_numpy()
    return adsl


def _records_by_cutoff(frame: pd.DataFrame, step: Mapping, ctx: AdslContext) -> pd.DataFrame:
    """The records meeting the step's condition and, when it names a `date` (an --DTC variable), dated on
    or before the data cut-off (a record without a complete date is kept: its date is not known to be
    after it)."""
    chosen = frame[compute_where_mask(frame, step.get("where"))].reset_index(drop=True)
    if step.get("date"):
        days = compute_sas_date(chosen, step["date"], dataset=step["dataset"])
        chosen = chosen[~(days > ctx.cutoff_days).to_numpy()].reset_index(drop=True)
    return chosen


def derive_subject_value(adsl: pd.DataFrame, step: Mapping, ctx: AdslContext) -> pd.DataFrame:
    """A value of each subject's first (or last) record of a domain meeting the condition, by `order`
    (default: the record order): a baseline stage (RSSTRESC) and its system (RSCAT), a cause of death
    (DDSTRESC). "" for a subject without such a record."""
    var = step["variable"]
    adsl[var] = ""
    frame = ctx.records(step["dataset"], "subject_value", var)
    if frame is None or not len(frame):
        return adsl
    chosen = _records_by_cutoff(frame, step, ctx)
    require_columns(chosen, step["dataset"], ["USUBJID", step["value"], *step.get("order", [])])
    order = ["USUBJID", *step.get("order", [])]
    chosen = chosen.assign(_ROW=np.arange(len(chosen))).sort_values([*order, "_ROW"], kind="mergesort")
    picked = chosen.drop_duplicates(
        "USUBJID", keep="first" if step.get("pick", "first") == "first" else "last"
    )
    values = pd.Series(text(picked, step["value"]).to_numpy(), index=text(picked, "USUBJID").to_numpy())
    adsl[var] = values.reindex(adsl["USUBJID"].to_numpy()).fillna("").to_numpy()
    return adsl


def derive_subject_count(adsl: pd.DataFrame, step: Mapping, ctx: AdslContext) -> pd.DataFrame:
    """The number of each subject's records of a domain meeting the condition (of distinct values of
    `distinct` when given): organs involved, prior lines of therapy; 0 without any, missing when the
    domain is absent."""
    var = step["variable"]
    frame = ctx.records(step["dataset"], "subject_count", var)
    adsl[var] = np.nan if frame is None else 0.0  # no domain: not known, not none
    if frame is None or not len(frame):
        return adsl
    chosen = _records_by_cutoff(frame, step, ctx)
    subjects = text(chosen, "USUBJID")
    if step.get("distinct"):
        require_columns(chosen, step["dataset"], [step["distinct"]])
        counts = pd.DataFrame({"U": subjects, "V": text(chosen, step["distinct"])}).drop_duplicates()
        counts = counts[counts["V"] != ""]["U"].value_counts()
    else:
        counts = subjects.value_counts()
    adsl[var] = counts.reindex(adsl["USUBJID"].to_numpy()).fillna(0).astype("float64").to_numpy()
    return adsl


def derive_baseline_covariate(adsl: pd.DataFrame, step: Mapping, ctx: AdslContext) -> pd.DataFrame:
    """A baseline covariate: AVAL (or `value`) of the subject's ABLFL = Y record of a BDS parameter."""
    var = step["variable"]
    bds = ctx.bds.get(step["dataset"])
    if bds is None:
        adsl[var] = np.nan
        ctx.findings.append(
            Finding(
                INPUT_ABSENT,
                Severity.WARNING,
                f"no {step['dataset']}: baseline covariate {var} is not derived",
                dataset="ADSL",
                variable=var,
            )
        )
        return adsl
    rec = bds[(bds["PARAMCD"] == step["paramcd"]) & (bds["ABLFL"] == "Y")]
    value = rec.drop_duplicates("USUBJID", keep="last").set_index("USUBJID")[step.get("value", "AVAL")]
    adsl[var] = value.reindex(adsl["USUBJID"]).to_numpy()
    return adsl


def derive_response_baseline(adsl: pd.DataFrame, step: Mapping, ctx: AdslContext) -> pd.DataFrame:
    """AL amyloidosis baseline (DOMAIN.md): INVLC, CLONE, BDFLC, BNTPBNP, BPROT, BEGFR from ADLB, the
    hematologic evaluability class HEVAL and the organ evaluability flags CARDEVFL, RENEVFL, with the
    thresholds of study.yaml `response`."""
    if ctx.subjects is None:
        raise AdamInputError(
            "response_baseline needs ADLB (its spec and LB records)", dataset="ADSL", variable="HEVAL"
        )
    resp = ctx.settings["response"]
    sub = ctx.subjects.reindex(adsl["USUBJID"])
    for var in ("INVLC", "CLONE"):
        adsl[var] = sub[var].fillna("").astype("str").to_numpy()
    for var in ("BDFLC", "BNTPBNP", "BPROT", "BEGFR"):
        adsl[var] = sub[var].astype("float64").to_numpy()
    adsl["HEVAL"] = compute_evaluability_class(adsl["BDFLC"], adsl["INVLC"], resp["hematologic"]).to_numpy()
    adsl["CARDEVFL"] = np.where(
        compute_threshold(adsl["BNTPBNP"], resp["cardiac"]["evaluable_baseline"]), "Y", "N"
    )
    adsl["RENEVFL"] = np.where(
        compute_threshold(adsl["BPROT"], resp["renal"]["evaluable_baseline"]), "Y", "N"
    )
    return adsl


ADSL_STEPS: dict[str, Callable[[pd.DataFrame, Mapping, AdslContext], pd.DataFrame]] = {
    "treatment": derive_treatment_dates,
    "flag": derive_flag,
    "assign": derive_assign,
    "date": derive_date,
    "first_date": derive_first_date,
    "last_alive": derive_last_alive,
    "death": derive_death,
    "disposition": derive_disposition,
    "cut": derive_cut,
    "map": derive_map,
    "duration": derive_duration,
    "copy": derive_copy,
    "compute": derive_compute,
    "impute_date": derive_imputed_date,
    "study_day": derive_study_day,
    "extreme_flag": derive_extreme_flag,
    "subject_value": derive_subject_value,
    "subject_count": derive_subject_count,
    "baseline": derive_baseline_covariate,
    "response_baseline": derive_response_baseline,
}
"""Every ADSL step kind (the keys of specs/adam/params/adsl.yaml `derivations` items) and its function."""


def _split_steps(steps: list[Mapping]) -> tuple[list[Mapping], list[Mapping]]:
    kinds = [next(iter(s)) for s in steps]
    first = next((i for i, k in enumerate(kinds) if k in ANALYSIS_STEPS), len(steps))
    return steps[:first], steps[first:]


def _run_steps(adsl: pd.DataFrame, steps: list[Mapping], ctx: AdslContext) -> pd.DataFrame:
    return derive_steps(adsl, steps, ADSL_STEPS, ctx)


def derive_adsl_subject(spec: DatasetSpec, params: Mapping, ctx: AdslContext) -> pd.DataFrame:
    """ADSL from SDTM: the population with its predecessors, then the steps before the first BDS step."""
    ctx.dm = compute_population_records(ctx.sdtm["DM"], params.get("population"))
    adsl = derive_population(ctx.dm, spec)
    before, _after = _split_steps(list(params.get("derivations") or []))
    return _run_steps(adsl, before, ctx)


def compute_analysis_steps(params: Mapping) -> list[Mapping]:
    """ADSL's steps from the first one that reads a BDS dataset on (they run after the BDS datasets)."""
    return _split_steps(list(params.get("derivations") or []))[1]


def derive_adsl_analysis(adsl: pd.DataFrame, params: Mapping, ctx: AdslContext) -> pd.DataFrame:
    """The steps from the first BDS step on (baseline covariates, flags that use them)."""
    return _run_steps(adsl, compute_analysis_steps(params), ctx)


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
