"""derive_adam: SDTM datasets -> ADSL, ADLB, ADRS, ADTTE (+ findings), conformed to specs/adam/*.yaml."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from cdiscgen import DatasetSpec, bundled_study_dir, read_dataset_spec_file
from cdiscgen._findings import Finding

from ._adlb import check_lb_input, derive_adlb
from ._adrs import AdrsContext, derive_adrs
from ._adsl import compute_cutoff_days, derive_adsl_baseline, derive_adsl_core
from ._adtte import derive_adtte
from ._common import text
from ._errors import AdamInputError
from ._paramspec import load_parameter_specs

log = logging.getLogger(__name__)
ADAM_DATASETS = ("ADSL", "ADLB", "ADRS", "ADTTE")


@dataclass
class AdamResult:
    """The derived ADaM datasets (spec variables in spec order) and the non-fatal findings."""

    datasets: dict[str, pd.DataFrame] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


def read_adam_spec(study_dir: Path | None, dataset: str) -> DatasetSpec:
    """The validated metadata of specs/adam/<dataset>.yaml of a study folder (the bundled study by default)."""
    return read_dataset_spec_file(
        Path(study_dir or bundled_study_dir()) / "specs" / "adam" / f"{dataset.lower()}.yaml"
    )


def compute_conformed(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Exactly the spec's variables in spec order; a spec variable the derivation lacks is a bug -> error.
    Character variables hold "" for missing, numeric ones float64 (NaN for missing)."""
    names = spec.variable_names
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise AdamInputError(f"derivation produced no {missing}", dataset=spec.name, variable=missing[0])
    out = frame[names].copy()
    for var in spec.submitted_variables:
        if var.is_numeric:
            out[var.name] = pd.to_numeric(out[var.name], errors="coerce").astype("float64")
        else:
            out[var.name] = out[var.name].astype("string").fillna("").astype("str")
    return out.reset_index(drop=True)


def _check_inputs(sdtm: Mapping[str, pd.DataFrame]) -> None:
    for name in ("DM", "LB"):
        if name not in sdtm or sdtm[name] is None:
            raise AdamInputError("required SDTM dataset is missing", dataset=name)
    dm = sdtm["DM"]
    if "USUBJID" not in dm.columns:
        raise AdamInputError("required variable is missing", dataset="DM", variable="USUBJID")
    check_lb_input(sdtm["LB"], text(dm, "USUBJID"))


def _check_cutoff_after_first_consent(dm: pd.DataFrame, cutoff_days: float) -> None:
    """A cut-off before the first informed consent leaves nothing to analyse: say so, not an empty package."""
    if "RFICDTC" not in dm.columns:
        return
    consent = pd.to_datetime(text(dm, "RFICDTC").str[:10], format="%Y-%m-%d", errors="coerce").dropna()
    if consent.empty:
        return
    first = consent.min()
    first_days = (first - pd.Timestamp("1960-01-01")).days
    if cutoff_days < first_days:
        cut = (pd.Timestamp("1960-01-01") + pd.Timedelta(days=cutoff_days)).date()
        raise AdamInputError(
            f"the data cut-off {cut} is before the first informed consent ({first.date()}): no data to analyse",
            dataset="DM",
            variable="RFICDTC",
        )


def derive_adam(
    sdtm: Mapping[str, pd.DataFrame],
    settings: Mapping,
    *,
    cutoff: date | None = None,
    study_dir: Path | None = None,
) -> AdamResult:
    """Derive ADSL, ADLB, ADRS and ADTTE from SDTM DataFrames.

    ``settings`` is the study.yaml mapping (``response``, ``cutoff``...); ``cutoff`` overrides its
    cut-off date; ``study_dir`` holds specs/adam (the bundled study by default). Raises AdamInputError
    (naming dataset, variable, USUBJID) before producing anything when the input is unusable.
    Dates are numeric SAS dates (days since 1960-01-01, float64).
    """
    _check_inputs(sdtm)
    sdtm = {k.upper(): v for k, v in sdtm.items() if v is not None}
    params = load_parameter_specs(study_dir)
    cutoff_days = compute_cutoff_days(settings, cutoff)
    _check_cutoff_after_first_consent(sdtm["DM"], cutoff_days)
    findings: list[Finding] = []
    adsl = derive_adsl_core(sdtm, settings, cutoff_days)
    lb = sdtm["LB"]
    adlb, lb_findings = derive_adlb(lb, adsl, settings, params.adlb)
    findings.extend(lb_findings)
    subjects = adlb.attrs.pop("subjects")
    adlb = adlb[adlb["ADT"] <= cutoff_days].reset_index(drop=True)
    adsl = derive_adsl_baseline(adsl, subjects, settings)
    subj = adsl.set_index("USUBJID")
    for var in ("STUDYID", "SAFFL", "EFFFL"):
        adlb[var] = adlb["USUBJID"].map(subj[var])
    ctx = AdrsContext(adsl=adsl, adlb=adlb, sdtm=sdtm, settings=settings, cutoff_days=cutoff_days)
    adrs = derive_adrs(ctx, params.adrs)
    findings.extend(ctx.findings)
    adtte, tte_findings = derive_adtte(adsl, adrs, params.adtte)
    findings.extend(tte_findings)
    frames = {"ADSL": adsl, "ADLB": adlb, "ADRS": adrs, "ADTTE": adtte}
    result = AdamResult(findings=findings)
    for name in ADAM_DATASETS:
        result.datasets[name] = compute_conformed(frames[name], read_adam_spec(study_dir, name))
    return result
