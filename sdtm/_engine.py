"""The mapping engine: raw CSV forms + mapping specs + study metadata -> SDTM datasets, trace, findings.

Order of work: check every mapping spec (no data read) -> check every raw form exists with its declared
columns (nothing mapped) -> read the forms -> per dataset, per source: steps, then one rule per variable
-> unit standardisation -> DM reference dates -> visits (one table for all domains) -> EPOCH, --DY,
--SEQ, --LOBXFL, --NRIND -> SUPP--, SE, SV, trial design -> exactly the spec's variables in spec order.
"""

from __future__ import annotations

import importlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cdiscgen._findings import Finding, Findings, Severity
from cdiscgen._specs import DatasetSpec, Study
from sdtm._algorithms import compute_rule
from sdtm._context import FILE, RECID, ROW, USUBJID, VISITCODE, RuleContext, row_findings
from sdtm._derive import (
    compute_date_part,
    compute_visit_table,
    derive_dm,
    derive_dy,
    derive_epoch,
    derive_lobxfl,
    derive_nrind,
    derive_reference_dates,
    derive_se,
    derive_seq,
    derive_supp,
    derive_sv,
    derive_visit,
)
from sdtm._mapspec import MappingSpec, SourceSpec, read_mapping_specs
from sdtm._steps import STEP_FUNCTIONS
from sdtm._units import derive_standard_units, read_units

log = logging.getLogger(__name__)

TRACE_COLUMNS = ("RAWFILE", "RAWRECID", "RAWROW")


class RawDataError(ValueError):
    """A raw form is missing or lacks a declared column; nothing is mapped or written."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "raw data does not match the mapping specs:\n" + "\n".join(f"  {p}" for p in problems)
        )


@dataclass
class SdtmResult:
    """SDTM datasets (spec variables in spec order), their raw traceability and the mapping findings."""

    datasets: dict[str, pd.DataFrame] = field(default_factory=dict)
    trace: dict[str, pd.DataFrame] = field(default_factory=dict)
    findings: Findings = field(default_factory=Findings)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step ("map DM", "derive", ...)


# ------------------------------------------------------------------------------------------------ I/O


def check_raw_forms(raw_dir: Path, specs: list[MappingSpec]) -> list[str]:
    """Every form the specs read exists and has its declared columns (only the header is read)."""
    problems: list[str] = []
    for form, columns in sorted(_required_columns(specs).items()):
        path = Path(raw_dir) / form
        if not path.is_file():
            problems.append(f"{path}: raw form is missing")
            continue
        header = pd.read_csv(path, nrows=0, dtype="str", keep_default_na=False).columns
        for column in columns:
            if column not in header:
                problems.append(f"{path}: required column {column} is missing (line 1, the header)")
    return problems


def _required_columns(specs: list[MappingSpec]) -> dict[str, tuple[str, ...]]:
    needed: dict[str, tuple[str, ...]] = {}
    for spec in specs:
        for src in spec.sources:
            for form, cols in src.required_columns().items():
                needed[form] = tuple(dict.fromkeys([*needed.get(form, ()), *cols]))
    return needed


def read_raw_form(path: Path) -> pd.DataFrame:
    """A raw CSV as text: blanks stay "", nothing is guessed; `_ROW` = 1-based data row, `_FILE` its name."""
    df = pd.read_csv(path, dtype="str", keep_default_na=False, na_filter=False)
    df[ROW] = np.arange(1, len(df) + 1)
    df[FILE] = Path(path).name
    return df


# --------------------------------------------------------------------------------------------- mapping


def _map_source(
    src: SourceSpec, forms: dict[str, pd.DataFrame], spec: DatasetSpec, study: Study
) -> tuple[pd.DataFrame, list[Finding]]:
    raw = forms[src.form].copy()
    raw[RECID] = raw[src.record_id].astype("str").str.strip()
    subject = raw[src.subject].astype("str").str.strip()
    raw[USUBJID] = (study.studyid + "-" + subject).where(subject != "", "")
    if src.visit:
        raw[VISITCODE] = raw[src.visit].astype("str")
    findings: list[Finding] = []
    ctx = RuleContext(spec.name, "", study.codelists, src.form)
    for step in src.steps:
        (kind,) = step
        raw, found = STEP_FUNCTIONS[kind](raw, step, ctx, forms)
        findings.extend(found)
    raw = raw.reset_index(drop=True)
    out = pd.DataFrame(index=raw.index)
    for name, rule in src.variables.items():
        var = spec.variable(name)
        vctx = RuleContext(spec.name, name, study.codelists, src.form, var)
        values, found = compute_rule(raw, rule, vctx)
        findings.extend(found)
        if var.is_numeric:
            text = values.astype("str").str.strip()
            number = pd.to_numeric(text, errors="coerce")
            bad = (text != "") & number.isna()
            findings.extend(
                row_findings(
                    raw,
                    bad,
                    code="MAP006",
                    severity=Severity.WARNING,
                    message=f"{{value!r}} is not a number; {name} left empty",
                    ctx=vctx,
                    values=text,
                )
            )
            out[name] = number.astype("float")
        else:
            out[name] = values.astype("str")
    for c in (ROW, FILE, RECID, USUBJID, VISITCODE):
        if c in raw.columns:
            out[c] = raw[c].to_numpy()
    return out, findings


def _finish_frame(df: pd.DataFrame, spec: DatasetSpec, study: Study) -> pd.DataFrame:
    """Identifiers, every spec variable present (char "" / numeric NaN), the record date for visits."""
    out = df.copy()
    p = spec.domain or spec.name
    if "STUDYID" in spec.variable_names:
        out["STUDYID"] = study.studyid
    if "DOMAIN" in spec.variable_names:
        out["DOMAIN"] = p
    if "USUBJID" not in out.columns or (out["USUBJID"].astype("str") == "").all():
        out["USUBJID"] = out[USUBJID] if USUBJID in out else ""
    for v in spec.variables:
        if v.name not in out.columns:
            out[v.name] = np.nan if v.is_numeric else ""
    date_var = next((c for c in (f"{p}DTC", f"{p}STDTC") if c in out.columns), None)
    out["_VDATE"] = compute_date_part(out[date_var]) if date_var else ""
    return out


def _final(df: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    data = {}
    for v in spec.submitted_variables:
        col = (
            df[v.name] if v.name in df.columns else pd.Series(np.nan if v.is_numeric else "", index=df.index)
        )
        if v.is_numeric:
            data[v.name] = pd.to_numeric(col, errors="coerce").astype("float")
        else:
            data[v.name] = col.where(col.notna(), "").astype("str")
    out = pd.DataFrame(data, index=df.index).reset_index(drop=True)
    p = spec.domain or spec.name
    trace_cols = {"USUBJID": df["USUBJID"].to_numpy()} if "USUBJID" in df else {}
    if f"{p}SEQ" in df.columns:
        trace_cols[f"{p}SEQ"] = df[f"{p}SEQ"].to_numpy()
    for name, src in zip(TRACE_COLUMNS, (FILE, RECID, ROW), strict=True):
        trace_cols[name] = df[src].to_numpy() if src in df.columns else ""
    trace = pd.DataFrame(trace_cols)
    if "RAWROW" in trace:
        trace["RAWROW"] = pd.to_numeric(trace["RAWROW"], errors="coerce").astype("Int64")
    return out, trace


def run_sdtm(raw_dir: Path, study: Study) -> SdtmResult:
    """Map the raw forms in `raw_dir` to SDTM with the study's `mappings/` and `specs/`.

    Raises SpecError (mapping specs invalid; no data read) or RawDataError (a form or a declared column is
    missing; nothing mapped). Data problems are findings in the result.
    """
    specs = read_mapping_specs(study)
    problems = check_raw_forms(Path(raw_dir), specs)
    if problems:
        raise RawDataError(problems)
    started = time.perf_counter()
    forms = {form: read_raw_form(Path(raw_dir) / form) for form in sorted(_required_columns(specs))}
    result = SdtmResult()
    units = read_units(study.specs_dir / "units.yaml") if any(s.standardise_units for s in specs) else None
    frames: dict[str, pd.DataFrame] = {}
    result.timings["read raw"] = time.perf_counter() - started
    for mspec in specs:
        t0 = time.perf_counter()
        dspec = study.dataset(mspec.dataset)
        parts = []
        for src in mspec.sources:
            part, found = _map_source(src, forms, dspec, study)
            result.findings.extend(found)
            parts.append(part)
        frame = _finish_frame(pd.concat(parts, ignore_index=True), dspec, study)
        if mspec.standardise_units and units is not None:
            frame, found = derive_standard_units(
                frame, dspec.domain or dspec.name, units, RuleContext(dspec.name, "", study.codelists)
            )
            result.findings.extend(found)
        frames[mspec.dataset] = frame
        result.timings[f"map {mspec.dataset}"] = time.perf_counter() - t0
        log.info("%s: %d records mapped from %d source(s)", mspec.dataset, len(frame), len(mspec.sources))

    t0 = time.perf_counter()
    dm = frames.get("DM")
    refs = None
    if dm is not None:
        others = [f for k, f in frames.items() if k not in ("DM", "EX", "DS")]
        refs = derive_reference_dates(dm, frames.get("EX"), frames.get("DS"), others, study)
        frames["DM"] = derive_dm(dm, refs, study)
        known = set(dm["USUBJID"])
        for name, f in frames.items():
            if name != "DM":
                result.findings.extend(
                    row_findings(
                        f,
                        ~f["USUBJID"].isin(known),
                        code="MAP010",
                        severity=Severity.ERROR,
                        message="subject {value!r} is not in DM (enrollment)",
                        ctx=RuleContext(name, "USUBJID", study.codelists),
                        values=f["USUBJID"],
                    )
                )
    table = compute_visit_table(list(frames.values()), study)
    for name in list(frames):
        dspec = study.dataset(name)
        f, found = derive_visit(frames[name], table, study, RuleContext(name, "VISIT", study.codelists))
        result.findings.extend(found)
        if refs is not None:
            f = derive_epoch(f, dspec, refs, study)
            f = derive_dy(f, dspec, refs)
        f = derive_seq(f, dspec)
        if refs is not None:
            f = derive_lobxfl(f, dspec, refs)
        frames[name] = derive_nrind(f, dspec)

    for name in list(frames):
        dspec = study.dataset(name)
        supp_name = f"SUPP{dspec.domain or name}"
        if dspec.supplemental_variables and supp_name in study.datasets:
            supp = derive_supp(frames[name], dspec, study.studyid)
            result.datasets[supp_name] = _final(supp, study.dataset(supp_name))[0]
    if refs is not None and dm is not None:
        if "SE" in study.datasets:
            se = derive_se(frames["DM"], refs, study)
            se = derive_seq(
                derive_dy(_finish_frame(se, study.dataset("SE"), study), study.dataset("SE"), refs),
                study.dataset("SE"),
            )
            frames["SE"] = se
        if "SV" in study.datasets:
            sv_spec = study.dataset("SV")
            sv = _finish_frame(
                derive_sv([frames[k] for k in frames if k not in ("SE",)], study), sv_spec, study
            )
            sv = derive_dy(derive_epoch(sv, sv_spec, refs, study), sv_spec, refs)
            frames["SV"] = derive_seq(sv, sv_spec)
    for name, f in frames.items():
        result.datasets[name], result.trace[name] = _final(f, study.dataset(name))
    result.timings["derive"] = time.perf_counter() - t0
    result.datasets.update(_trial_design(study, result.datasets.get("DM")))
    result.datasets = dict(sorted(result.datasets.items()))
    result.trace = dict(sorted(result.trace.items()))
    return result


def _trial_design(study: Study, dm: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """TS/TA/TE/TV/TI from sdtm._trial_design when that module exists; `dm` (the mapped DM) gives TS its
    ACTSUB and FCNTRY."""
    try:
        module = importlib.import_module("sdtm._trial_design")
    except ImportError:
        log.info("sdtm._trial_design is not available; trial design domains not built")
        return {}
    return dict(module.derive_trial_design(study, dm))
