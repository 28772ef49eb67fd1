"""derive_adam: SDTM datasets -> the ADaM datasets specs/adam declares (+ findings), conformed to their specs."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionDtype, take

from cdiscgen import DatasetSpec, VariableSpec, bundled_study_dir, read_dataset_spec_file
from cdiscgen._arrowtext import compute_positions_among
from cdiscgen._exposure import exposure_dataset
from cdiscgen._findings import Finding, Severity

from ._adlb import check_lb_input, derive_adlb
from ._adrs import RESPONSE_READS, AdrsContext, derive_adrs
from ._adsl import (
    DISPOSITION_DATASET,
    AdslContext,
    compute_analysis_steps,
    compute_cutoff_days,
    derive_adsl_analysis,
    derive_adsl_subject,
)
from ._adtte import compute_datasets_read, derive_adtte
from ._bds import derive_bds
from ._codes import INPUT_EMPTY
from ._common import text
from ._errors import AdamInputError
from ._occds import TREATMENT_END, TREATMENT_START, derive_occds
from ._paramspec import ParameterSpecs, declares_adam, load_parameter_specs
from ._steps import compute_named_variables, compute_steps_reading, compute_subject_view

log = logging.getLogger(__name__)


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
    out = frame[names]  # copy-on-write: the columns converted below are new, the others shared
    for var in spec.submitted_variables:
        if var.is_numeric:
            out[var.name] = pd.to_numeric(out[var.name], errors="coerce").astype("float64")
        elif not (out[var.name].dtype == "str" and not out[var.name].hasnans):  # else already that
            out[var.name] = out[var.name].astype("string").fillna("").astype("str")
    return out.reset_index(drop=True)


def _check_dm(sdtm: Mapping[str, pd.DataFrame]) -> None:
    if sdtm.get("DM") is None:
        raise AdamInputError("required SDTM dataset is missing (ADSL is derived from it)", dataset="DM")
    if "USUBJID" not in sdtm["DM"].columns:
        raise AdamInputError("required variable is missing", dataset="DM", variable="USUBJID")


def _require(sdtm: Mapping[str, pd.DataFrame], dataset: str, needed_by: str) -> pd.DataFrame:
    frame = sdtm.get(dataset)
    if frame is None:
        raise AdamInputError(
            f"required SDTM dataset is missing ({needed_by} is derived from it)", dataset=dataset
        )
    return frame


class InputsRead(Mapping[str, pd.DataFrame]):
    """The SDTM datasets, remembering the names every derivation looked up (`get`, `[]`, `in`), so that an
    input read with no records is reported whichever engine read it. Given the caller's mapping as
    `owner` (handed over), `release` lets datasets go from both."""

    def __init__(
        self, frames: Mapping[str, pd.DataFrame], owner: MutableMapping[str, pd.DataFrame] | None = None
    ) -> None:
        self._frames = dict(frames)
        self._owner = owner
        self.read: set[str] = set()
        self._released: dict[str, bool] = {}  # name -> it had no records

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name in self._released:  # a derivation bug, never a study's: see compute_sdtm_read_from
            raise RuntimeError(f"SDTM {name} is read after the ADaM derivation let it go")
        self.read.add(name)
        return self._frames[name]

    def release(self, names: Iterable[str]) -> None:
        """Let go of datasets no step still to run reads (only those the caller handed over)."""
        if self._owner is None:
            return
        for name in sorted(set(names) & set(self._frames)):
            self._released[name] = not len(self._frames.pop(name))
            for key in [k for k in self._owner if str(k).upper() == name]:
                del self._owner[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._frames)

    def __len__(self) -> int:
        return len(self._frames)

    def read_without_records(self) -> list[str]:
        """The datasets looked up that exist and have no records, by name."""
        return sorted(
            n for n in self.read if self._released.get(n) or (n in self._frames and not len(self._frames[n]))
        )


#: The SDTM datasets engines read by their own rule, not named by their specs: DM (every engine), those of
#: a disposition step and of the response engine (declared beside their code); the study's exposure
#: dataset is added by compute_sdtm_read_from.
READ_BY_RULE = frozenset({"DM", DISPOSITION_DATASET}) | RESPONSE_READS
#: The engines in the order derive_adam runs them; ADSL's analysis steps run after "bds".
_ENGINE_ORDER = ("al_lab", "bds", "adsl_analysis", "response", "occds", "time_to_event")


def compute_sdtm_read_from(params: ParameterSpecs, settings: Mapping, engine: str) -> set[str]:
    """The SDTM datasets the engines from `engine` on (in derive_adam's order) may read: every text of
    their specs (a spec names the datasets it reads: `source`, `dataset`, ...) and those read by rule."""
    later = _ENGINE_ORDER[_ENGINE_ORDER.index(engine) :]
    docs: list = [doc for kind, doc in params.datasets.values() if kind in later or kind not in _ENGINE_ORDER]
    if "adsl_analysis" in later:
        docs.append(compute_analysis_steps(params.adsl))
    return _texts_in(docs) | READ_BY_RULE | {exposure_dataset(settings)}


def _texts_in(doc: object) -> set[str]:
    """Every text value of a parsed YAML document (and its upper-case form)."""
    if isinstance(doc, str):
        return {doc, doc.upper()}
    if isinstance(doc, Mapping):
        return set().union(*(_texts_in(v) for v in doc.values()))
    if isinstance(doc, (list, tuple)):
        return set().union(*(_texts_in(v) for v in doc))
    return set()


def compute_empty_inputs(
    sdtm: InputsRead, required: set[str], study_records: Mapping[str, int] | None = None
) -> list[Finding]:
    """ADM008 for every SDTM dataset a derivation read that has no records: what is derived from it is
    derived as if it were absent (a treatment date from the DM fallback, an imputation bounded without
    it), which is never silent. An error for a dataset a declared ADaM dataset is made from, a warning
    (as an absent optional input) for the others. With `study_records` (`sdtm` holds a subject partition
    of the study), a dataset is judged by the records the whole study has of it."""
    findings = []
    for name in sdtm.read_without_records():
        if study_records is not None and study_records.get(name, 0):
            continue  # none for these subjects, some for others
        needed = name in required
        findings.append(
            Finding(
                INPUT_EMPTY,
                Severity.ERROR if needed else Severity.WARNING,
                f"SDTM {name} has no records: "
                + (
                    "the ADaM datasets made from it are empty"
                    if needed
                    else "what ADaM reads from it (dates, flags, parameters) is derived as if it were absent"
                ),
                dataset=name,
            )
        )
    return findings


def derive_adsl_predecessors(frame: pd.DataFrame, adsl: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Copy the ADSL variables a dataset's spec names as predecessors (`source: ADSL.X`) by USUBJID."""
    subj = adsl.set_index("USUBJID")
    out = frame.copy(deep=False)  # copy-on-write: the added columns are the new frame's own
    rows = None  # each record's ADSL row (-1: none), looked up once for all the variables
    for var in spec.variables:
        source = _adsl_source(var)
        if source is not None and source in subj.columns:
            if rows is None:  # by Arrow's hash (an Index lookup makes a Python text of every record)
                rows = compute_positions_among(out["USUBJID"], pd.Series(subj.index, dtype="str"))
            out[var.name] = _taken(subj[source], rows, out.index)
    return out


def _adsl_source(var: VariableSpec) -> str | None:
    """The ADSL variable a spec variable is a predecessor of (`origin: Predecessor`, `source: ADSL.X`)."""
    source = (var.source or "").strip()
    if var.origin == "Predecessor" and source.upper().startswith("ADSL."):
        return source[5:]
    return None


def _taken(column: pd.Series, rows: np.ndarray, index: pd.Index) -> pd.Series:
    """The column's values at `rows` (-1: missing), as Series.map by a key would give them (same dtype:
    integers with a missing value become float, object text becomes str)."""
    values = column.array if isinstance(column.dtype, ExtensionDtype) else column.to_numpy()
    return pd.Series(take(values, rows, allow_fill=True), index=index)


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
    study_records: Mapping[str, int] | None = None,
    release_inputs: bool = False,
) -> AdamResult:
    """Derive the ADaM datasets the study's specs/adam declares (ADSL always) from SDTM DataFrames.

    ``settings`` is the study.yaml mapping; ``cutoff`` overrides its cut-off date; ``study_dir`` holds
    specs/adam (the bundled study by default). Each dataset runs the engine its params file names:
    ADSL's steps, then the findings (BDS) datasets, ADSL's analysis steps (baseline covariates and the
    flags using them), response, time-to-event and occurrence datasets. Raises AdamInputError (naming
    dataset, variable, USUBJID) before producing anything when an input a declared dataset needs is
    unusable; an optional input that is absent is a finding. Dates are numeric SAS dates (float64).
    `study_records`, when `sdtm` is a subject partition of a study: the records of each SDTM dataset in
    the whole study (an input without records is reported only when the study has none).
    `release_inputs`: the caller hands `sdtm` (a dict) over, and each SDTM dataset a findings dataset is
    made from leaves it as soon as no engine still to run reads it (`compute_sdtm_read_from`): its memory
    goes while the later datasets are derived.
    """
    owner = sdtm if release_inputs and isinstance(sdtm, MutableMapping) else None
    sdtm = InputsRead({k.upper(): v for k, v in sdtm.items() if v is not None}, owner)
    if not declares_adam(study_dir):
        raise AdamInputError("the study declares no ADaM (no specs/adam/adsl.yaml)", dataset="ADSL")
    _check_dm(sdtm)
    params = load_parameter_specs(study_dir)
    specs = {name: read_adam_spec(study_dir, name) for name in ("ADSL", *params.datasets)}
    cutoff_days = compute_cutoff_days(settings, cutoff)
    _check_cutoff_after_first_consent(sdtm["DM"], cutoff_days)
    required = {"DM"}
    for name, (engine, doc) in params.datasets.items():
        if engine == "al_lab":
            check_lb_input(_require(sdtm, "LB", name), text(sdtm["DM"], "USUBJID"))
            required.add("LB")
        elif engine in ("bds", "occds"):
            _require(sdtm, doc["source"], name)
            required.add(doc["source"])
    ctx = AdslContext(sdtm, settings, cutoff_days)
    adsl = derive_adsl_subject(specs["ADSL"], params.adsl, ctx)
    # the ADSL variables the other datasets' records carry while they are derived: those their specs (and
    # ADSL's steps reading them) name; the predecessors their specs list are copied from ADSL at the end
    named = compute_named_variables(
        *(doc for _, doc in params.datasets.values()),
        *compute_steps_reading(params.adsl, set(params.datasets)),
        *(
            [v.name for v in spec.variables if _adsl_source(v) is None]
            for name, spec in specs.items()
            if name != "ADSL"
        ),
        TREATMENT_START,
        TREATMENT_END,
    )
    findings: list[Finding] = []
    frames: dict[str, pd.DataFrame] = {}
    lab = params.of_engine("al_lab")
    made_from = {"LB"} if lab else set()
    lab_done = made_from - compute_sdtm_read_from(params, settings, "bds")
    for number, (name, doc) in enumerate(lab, start=1):
        # the last lab dataset lets LB go as soon as its records are read (handed over: peak memory)
        let_go = (lambda: sdtm.release(lab_done)) if number == len(lab) else None
        adlb, lb_findings = derive_adlb(sdtm, adsl, settings, doc, let_go=let_go)
        findings.extend(lb_findings)
        ctx.subjects = adlb.attrs.pop("subjects")
        frames[name] = adlb[adlb["ADT"] <= cutoff_days].reset_index(drop=True)
        del adlb  # its records after the cut-off: not held to the end beside the ones kept
    for name, doc in params.of_engine("bds"):
        frames[name], bds_findings = derive_bds(
            sdtm, compute_subject_view(adsl, named), doc, name=name, cutoff_days=cutoff_days
        )
        findings.extend(bds_findings)
    ctx.bds = dict(frames)
    adsl = derive_adsl_analysis(adsl, params.adsl, ctx)
    findings[:0] = ctx.findings
    made_from |= {str(doc["source"]).upper() for _, doc in params.of_engine("bds")}
    sdtm.release(made_from - compute_sdtm_read_from(params, settings, "response"))
    ctx.bds = {}  # the findings datasets are replaced below: not a second copy of each held to the end
    for name in list(frames):
        frames[name] = derive_adsl_predecessors(frames[name], adsl, specs[name])
    # a dataset no later engine reads is conformed as soon as it is complete: its working columns and
    # the ADSL variables its derivation carried are not held to the end (peak memory)
    read_later = compute_datasets_read(doc for _, doc in params.of_engine("time_to_event"))
    conformed: dict[str, pd.DataFrame] = {}

    def conform_finished(names: list[str]) -> None:
        for name in names:
            if name not in read_later:
                conformed[name] = compute_conformed(frames.pop(name), specs[name])

    conform_finished([n for n, _ in params.of_engine("bds")])
    adlb_frames = [frames[n] for n, _ in params.of_engine("al_lab")]
    adrs = pd.DataFrame()
    for name, doc in params.of_engine("response"):
        actx = AdrsContext(
            adsl=adsl,
            adlb=adlb_frames[0] if adlb_frames else pd.DataFrame(),
            sdtm=sdtm,
            settings=settings,
            cutoff_days=cutoff_days,
        )
        frames[name] = adrs = derive_adrs(actx, doc)
        findings.extend(actx.findings)
        del actx  # it holds ADLB and ADSL: not to the end
    del adlb_frames
    conform_finished([n for n, _ in params.of_engine("al_lab")])
    for name, doc in params.of_engine("occds"):
        frames[name], occ_findings = derive_occds(
            sdtm, compute_subject_view(adsl, named), doc, name=name, cutoff_days=cutoff_days
        )
        findings.extend(occ_findings)
        frames[name] = derive_adsl_predecessors(frames[name], adsl, specs[name])
    conform_finished([n for n, _ in params.of_engine("occds")])
    for name, doc in params.of_engine("time_to_event"):
        # after the occurrence datasets: a time to event may be the time to a first adverse event (ADAE)
        frames[name], tte_findings = derive_adtte(adsl, adrs, doc, frames=frames)
        findings.extend(tte_findings)
        frames[name] = derive_adsl_predecessors(frames[name], adsl, specs[name])
    frames["ADSL"] = adsl
    del adsl, adrs  # each dataset is conformed in turn: its derived frame freed as it goes
    result = AdamResult(findings=compute_empty_inputs(sdtm, required, study_records) + findings)
    for name in ("ADSL", *params.datasets):
        done = conformed.pop(name, None)
        result.datasets[name] = done if done is not None else compute_conformed(frames.pop(name), specs[name])
    return result
