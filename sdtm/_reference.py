"""DM's derived variables: the subject reference dates, AGE and the arm variables, by the rules a study
states in study.yaml (`reference_dates`, `subjects`, `design.arms`), and the "date source" vocabulary that
the reference dates and the subject elements (SE) share.

A date source gives one date per subject:
- `{date: RFXSTDTC}`: a DM variable (collected, or a reference date derived before it);
- `{dataset: DS, where: CONDITION, variable: DSSTDTC, pick: first}`: the earliest (`first`, default) or
  latest (`last`) complete date of the subject's records that meet the condition;
- `plus_days: N` shifts a complete date by N days (the time is dropped).
A list of sources is read in order: the first that gives a date wins.

`refs` is the per-subject reference table (index USUBJID; columns RFICDTC, RFXSTDTC, RFXENDTC, RFSTDTC,
RFENDTC, RFPENDTC) built by `derive_reference_dates`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from cdiscgen._arrowtext import compute_arrow_text
from cdiscgen._conditions import compute_condition_mask
from cdiscgen._exposure import compute_exposure_mask, exposure_dataset
from cdiscgen._findings import Finding, Severity
from cdiscgen._specs import Study
from sdtm._context import RuleContext, row_findings
from sdtm._derive import compute_age, compute_date_part

log = logging.getLogger(__name__)

REF_COLUMNS = ("RFICDTC", "RFXSTDTC", "RFXENDTC", "RFSTDTC", "RFENDTC", "RFPENDTC")
DERIVED_REFERENCES = ("RFSTDTC", "RFENDTC", "RFXSTDTC", "RFXENDTC", "RFPENDTC")
DEFAULT_SOURCES: dict[str, list[dict[str, Any]]] = {
    "RFSTDTC": [{"date": "RFXSTDTC"}],
    "RFENDTC": [{"date": "RFXENDTC"}],
}
ASSIGNED_NOT_TREATED = "ASSIGNED, NOT TREATED"
DERIVED_SUFFIX = "_DERIVED"  # refs also holds each reference date as derived, before a collected one wins


# -------------------------------------------------------------------------------------------- sources


def compute_source_dates(
    sources: Sequence[Mapping[str, Any]],
    subjects: pd.Index,
    known: pd.DataFrame,
    frames: Mapping[str, pd.DataFrame],
    *,
    after: pd.Series | None = None,
) -> pd.Series:
    """One date per subject (index `subjects`, "" when no source gives one) from a list of date sources.

    `known` holds the DM variables and reference dates by USUBJID; `frames` the mapped datasets by name.
    `after` (per subject): records of a dataset source count only when their date is later than that date.
    """
    out = pd.Series("", index=subjects, dtype="str")
    for source in sources:
        got = _one_source(source, subjects, known, frames, after)
        if source.get("plus_days"):
            got = _plus_days(got, int(source["plus_days"]))
        out = out.where(out != "", got)
    return out


def _one_source(
    source: Mapping[str, Any],
    subjects: pd.Index,
    known: pd.DataFrame,
    frames: Mapping[str, pd.DataFrame],
    after: pd.Series | None,
) -> pd.Series:
    if "date" in source:
        name = source["date"]
        if name not in known.columns:
            return pd.Series("", index=subjects, dtype="str")
        return known[name].reindex(subjects).fillna("").astype("str")
    frame = frames.get(source["dataset"])
    variable = source["variable"]
    if frame is None or variable not in frame.columns or not len(frame):
        return pd.Series("", index=subjects, dtype="str")
    keep = np.ones(len(frame), dtype=bool)
    if source.get("where"):

        def operand(kind: str, name: str) -> pd.Series:
            return frame[name] if name in frame.columns else pd.Series("", index=frame.index, dtype="str")

        keep = compute_condition_mask(source["where"], operand, frame.index).mask.to_numpy(
            dtype=bool, copy=True
        )
    values = frame[variable].astype("str")
    date = compute_date_part(values)
    keep &= (date != "").to_numpy()
    usubjid = frame["USUBJID"].astype("str")
    if after is not None:
        floor = compute_date_part(usubjid.map(after).fillna("").astype("str"))
        keep &= ((floor == "") | (date > floor)).to_numpy()
    picked = pd.DataFrame(
        {"USUBJID": usubjid[keep], "V": values[keep], "D": date[keep], "L": values[keep].str.len()}
    )
    last = source.get("pick") == "last"
    picked = picked.sort_values(["USUBJID", "D", "L"], ascending=[True, not last, False], kind="stable")
    chosen = picked.drop_duplicates("USUBJID").set_index("USUBJID")["V"]
    return chosen.reindex(subjects).fillna("").astype("str")


def _plus_days(dates: pd.Series, days: int) -> pd.Series:
    day = pd.to_datetime(compute_date_part(dates), format="%Y-%m-%d", errors="coerce")
    return (day + pd.Timedelta(days=days)).dt.strftime("%Y-%m-%d").fillna("").astype("str")


def source_is_dosing(source: Mapping[str, Any], settings: Mapping[str, Any]) -> bool:
    """A source that is a dose: the first exposure, or a record of the exposure dataset."""
    return source.get("date") == "RFXSTDTC" or source.get("dataset") == exposure_dataset(dict(settings))


# ------------------------------------------------------------------------------------ reference dates


def derive_reference_dates(
    dm: pd.DataFrame, frames: Mapping[str, pd.DataFrame], study: Study
) -> pd.DataFrame:
    """The per-subject reference table (see the module doc) from DM and the mapped datasets.

    RFXSTDTC = the earliest start of an exposure record (cdiscgen._exposure: placebo included, a 0 dose
    of an active drug not), with its time when a record of that date has one; RFXENDTC = the latest end
    (--ENDTC, else --STDTC) of such records. RFSTDTC/RFENDTC from `reference_dates` in study.yaml (default:
    RFXSTDTC/RFXENDTC); RFPENDTC from its sources, by default the latest complete date of the subject
    anywhere (DM, every --DTC/--STDTC/--ENDTC, DTHDTC) not after the cut-off. A reference date collected in
    DM wins over the derived one (derive_dm reports a disagreement).
    """
    settings = study.settings
    rules = settings.get("reference_dates") or {}
    subjects = pd.Index(dm["USUBJID"].astype("str").unique(), name="USUBJID")
    first_rows = dm.drop_duplicates("USUBJID").set_index("USUBJID")
    known = pd.DataFrame(index=subjects)
    for column in first_rows.columns:
        if not str(column).startswith("_"):
            known[column] = first_rows[column].reindex(subjects)
    for column in REF_COLUMNS:
        if column in known:
            known[column] = known[column].fillna("").astype("str")
        else:
            known[column] = ""
    ex_name = exposure_dataset(settings)
    first, last = _exposure_span(frames.get(ex_name), ex_name[:2], settings)

    def settle(column: str, derived: pd.Series) -> None:
        known[f"{column}{DERIVED_SUFFIX}"] = derived
        known[column] = known[column].where(known[column] != "", derived)

    settle("RFXSTDTC", first.reindex(subjects).fillna("").astype("str"))
    settle("RFXENDTC", last.reindex(subjects).fillna("").astype("str"))
    for column in ("RFSTDTC", "RFENDTC"):
        settle(
            column,
            compute_source_dates(rules.get(column) or DEFAULT_SOURCES[column], subjects, known, frames),
        )
    if rules.get("RFPENDTC"):
        settle("RFPENDTC", compute_source_dates(rules["RFPENDTC"], subjects, known, frames))
    else:
        settle("RFPENDTC", _latest_date(dm, frames, subjects, study.cutoff.isoformat()))
    return known[[*REF_COLUMNS, *(f"{c}{DERIVED_SUFFIX}" for c in DERIVED_REFERENCES)]]


def _exposure_span(ex: pd.DataFrame | None, p: str, settings: dict) -> tuple[pd.Series, pd.Series]:
    if ex is None or not len(ex) or f"{p}STDTC" not in ex:
        return pd.Series(dtype="str"), pd.Series(dtype="str")
    dosed = ex.loc[compute_exposure_mask(ex, settings)]
    st = dosed[f"{p}STDTC"].astype("str")
    en = dosed[f"{p}ENDTC"].astype("str") if f"{p}ENDTC" in dosed else st
    en = en.where(en != "", st)
    starts = pd.DataFrame(
        {"USUBJID": dosed["USUBJID"], "V": st, "D": compute_date_part(st), "L": st.str.len()}
    )
    starts = starts.loc[starts["D"] != ""].sort_values(["USUBJID", "D", "L"], ascending=[True, True, False])
    ends = pd.DataFrame({"USUBJID": dosed["USUBJID"], "V": en, "D": compute_date_part(en), "L": en.str.len()})
    ends = ends.loc[ends["D"] != ""].sort_values(["USUBJID", "D", "L"], ascending=[True, False, False])
    return (
        starts.drop_duplicates("USUBJID").set_index("USUBJID")["V"],
        ends.drop_duplicates("USUBJID").set_index("USUBJID")["V"],
    )


def _latest_date(
    dm: pd.DataFrame, frames: Mapping[str, pd.DataFrame], subjects: pd.Index, cutoff: str
) -> pd.Series:
    """The latest complete date of each subject in DM and every dataset, not after the cut-off, with the
    latest time recorded on it (SDTMIG: RFPENDTC is a date/time).

    Every value kept starts with its complete date (YYYY-MM-DD), so the greatest text is that value: a
    later day sorts after, and on one day a time sorts after none (a value without a time wins only when
    none has one). The greatest per column (its distinct texts ranked, each subject's greatest rank), then
    the greatest of those: no table of every date at once, no text compared per record."""
    sources = [(dm, [c for c in ("RFICDTC", "DTHDTC") if c in dm])]
    for name, frame in frames.items():
        if name != "DM" and frame is not None:
            sources.append((frame, [c for c in frame.columns if str(c).endswith("DTC") and c != "RFPENDTC"]))
    latest = np.full(len(subjects), "", dtype=object)
    for frame, dtc_columns in sources:
        if not dtc_columns:
            continue
        codes, uniques = pd.factorize(frame["USUBJID"].astype("str"))
        subject = np.append(subjects.get_indexer(uniques), -1)[codes]  # -1: not a DM subject
        for column in dtc_columns:
            found = _latest_in_column(frame[column], subject, len(subjects), cutoff)
            latest = np.where(found > latest, found, latest)
    return pd.Series(latest, index=subjects, dtype="str")


def _latest_in_column(dtc: pd.Series, subject: np.ndarray, n_subjects: int, cutoff: str) -> np.ndarray:
    """Per subject (records' positions `subject`, -1: none) the greatest text of a date column that is a
    complete date not after `cutoff`, stripped; "" when the subject has none."""
    codes, uniques = pd.factorize(dtc.astype("str"))  # -1: missing
    text = pd.Series(uniques, dtype="str").str.strip()
    day = compute_date_part(text)
    eligible = ((day != "") & (day <= cutoff)).to_numpy(dtype=bool)
    order = pc.sort_indices(compute_arrow_text(text)).to_numpy()  # by code point, as Python compares text
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order))
    rank = np.append(np.where(eligible, ranks, -1), -1)[codes]  # a missing value (-1) takes the last
    best = np.full(n_subjects, -1, dtype=np.int64)
    hit = (rank >= 0) & (subject >= 0)
    np.maximum.at(best, subject[hit], rank[hit])
    by_rank = np.append(text.to_numpy(dtype=object)[order], "")  # -1: no date -> ""
    return by_rank[best]


# ------------------------------------------------------------------------------------------------- DM


def derive_dm(dm: pd.DataFrame, refs: pd.DataFrame, study: Study) -> tuple[pd.DataFrame, list[Finding]]:
    """DM's reference dates from `refs`, AGE, DTHFL and the arm variables; a collected value that the
    derivation disagrees with is kept and reported (MAP013)."""
    out = dm.copy()
    findings = check_collected_references(out, refs, study)
    for column in DERIVED_REFERENCES:
        out[column] = out["USUBJID"].map(refs[column]).fillna("").astype("str")
    out, found = _derive_age(out, study)
    findings += found
    if "DTHFL" in out.columns and "DTHDTC" in out.columns:
        out["DTHFL"] = out["DTHFL"].where(
            out["DTHFL"].astype("str") != "", np.where(out["DTHDTC"] != "", "Y", "")
        )
    out, found = _derive_arms(out, study)
    findings += found
    return out, findings


def check_collected_references(dm: pd.DataFrame, refs_derived: pd.DataFrame, study: Study) -> list[Finding]:
    """MAP013 where DM collected a reference date that differs from the one derived from the data."""
    findings: list[Finding] = []
    for column in DERIVED_REFERENCES:
        if column not in dm.columns:
            continue
        collected = dm[column].fillna("").astype("str")
        derived = dm["USUBJID"].map(refs_derived[f"{column}{DERIVED_SUFFIX}"]).fillna("").astype("str")
        differ = (collected != "") & (derived != "") & (collected != derived)
        findings += row_findings(
            dm,
            differ,
            code="MAP013",
            severity=Severity.WARNING,
            message=f"collected {column} {{value!r}} differs from the one derived from the data, {{expected!r}}; "
            "the collected one is kept",
            ctx=RuleContext("DM", column, study.codelists),
            values=collected,
            expected=derived,
        )
    return findings


def _number_text(value: float) -> str:
    """A whole number without its .0 (AGE 40.0 -> "40")."""
    return "" if pd.isna(value) else (str(int(value)) if float(value).is_integer() else str(value))


def _derive_age(out: pd.DataFrame, study: Study) -> tuple[pd.DataFrame, list[Finding]]:
    """AGE in completed years at `subjects.age_at` (default RFICDTC) when the birth date is collected;
    a collected AGE is kept (and reported when the birth date says otherwise)."""
    if "AGE" not in out.columns or "BRTHDTC" not in out.columns:
        return out, []
    at = str((study.settings.get("subjects") or {}).get("age_at", "RFICDTC"))
    if at not in out.columns:
        return out, []
    derived = compute_age(out["BRTHDTC"], out[at])
    collected = pd.to_numeric(out["AGE"], errors="coerce")
    differ = collected.notna() & derived.notna() & (collected != derived)
    findings = row_findings(
        out,
        differ,
        code="MAP013",
        severity=Severity.WARNING,
        message=f"collected AGE {{value}} differs from the age at {at} derived from BRTHDTC, {{expected}}; the "
        "collected one is kept",
        ctx=RuleContext("DM", "AGE", study.codelists),
        values=collected.map(_number_text),
        expected=derived.map(_number_text),
    )
    out["AGE"] = collected.where(collected.notna(), derived).astype("float")
    return out, findings


def _derive_arms(out: pd.DataFrame, study: Study) -> tuple[pd.DataFrame, list[Finding]]:
    """ARMCD/ARM/ACTARMCD/ACTARM/ARMNRS (SDTMIG 3.4 section 5.2 DM assumptions).

    Planned arm: the collected ARMCD (randomisation), or in a single-arm design the one arm for every
    subject without an ARMNRS. design.armnrs_default, when given, is the ARMNRS of a subject without a
    collected arm who was never exposed (so a single-arm design assigns only the exposed ones). ARM and ACTARM decode their codes from design.arms. Actual arm: the
    collected ACTARMCD, else the planned arm of a subject who was exposed; an assigned subject never
    exposed has a null actual arm and ARMNRS "ASSIGNED, NOT TREATED". A subject with ARMNRS (screen
    failure) has no arm. Unknown codes and contradictions are MAP014 findings; nothing is dropped.
    """
    if "ARMCD" not in out.columns:
        return out, []
    arms = {str(a["armcd"]): str(a["arm"]) for a in study.settings["design"]["arms"]}
    findings: list[Finding] = []
    ctx = RuleContext("DM", "ARMCD", study.codelists)

    def text(column: str) -> pd.Series:
        if column not in out:
            return pd.Series("", index=out.index, dtype="str")
        return out[column].fillna("").astype("str").str.strip()

    nrs = text("ARMNRS")
    armcd = text("ARMCD")
    treated = text("RFXSTDTC") != ""
    default = str(study.settings["design"].get("armnrs_default") or "")
    if default:
        # the study's reason for a subject with no collected arm and no exposure (NOT ASSIGNED)
        nrs = nrs.where((armcd != "") | (nrs != "") | treated, default)
    if len(arms) == 1:
        (only,) = arms
        armcd = armcd.where((armcd != "") | (nrs != ""), only)
    actarmcd = text("ACTARMCD")
    actarmcd = actarmcd.where(actarmcd != "", armcd.where(treated & (nrs == ""), ""))
    for name, codes in (("ARMCD", armcd), ("ACTARMCD", actarmcd)):
        unknown = (codes != "") & ~codes.isin(list(arms))
        findings += row_findings(
            out,
            unknown,
            code="MAP014",
            severity=Severity.ERROR,
            message=f"{name} {{value!r}} is not an arm of design.arms in study.yaml",
            ctx=RuleContext("DM", name, study.codelists),
            values=codes,
            expected=", ".join(arms),
        )
    findings += row_findings(
        out,
        (nrs != "") & (armcd != ""),
        code="MAP014",
        severity=Severity.ERROR,
        message="ARMNRS is {value!r} but ARMCD is given; a subject with a reason for no arm has no arm (SDTMIG 3.4 DM)",
        ctx=ctx,
        values=nrs,
    )
    findings += row_findings(
        out,
        (armcd == "") & (nrs == ""),
        code="MAP014",
        severity=Severity.ERROR,
        message="no planned arm: ARMCD is not collected and ARMNRS gives no reason (a multi-arm design needs ARMCD)",
        ctx=ctx,
    )
    findings += row_findings(
        out,
        (text("ACTARMCD") != "") & ~treated,
        code="MAP014",
        severity=Severity.WARNING,
        message="ACTARMCD {value!r} is collected but the subject has no exposure record",
        ctx=RuleContext("DM", "ACTARMCD", study.codelists),
        values=text("ACTARMCD"),
    )
    for code_var, name_var, codes in (("ARMCD", "ARM", armcd), ("ACTARMCD", "ACTARM", actarmcd)):
        decoded = codes.map(arms).fillna("").astype("str")
        if name_var in out:
            collected = text(name_var)
            findings += row_findings(
                out,
                (collected != "") & (decoded != "") & (collected.str.upper() != decoded.str.upper()),
                code="MAP013",
                severity=Severity.WARNING,
                message=f"collected {name_var} {{value!r}} is not the name of arm {code_var} in design.arms; the collected one is kept",
                ctx=RuleContext("DM", name_var, study.codelists),
                values=collected,
            )
            out[name_var] = collected.where(collected != "", decoded)
        out[code_var] = codes
    if "ARMNRS" in out:
        not_treated = (armcd != "") & (actarmcd == "") & (nrs == "") & ~treated
        out["ARMNRS"] = nrs.where(~not_treated, ASSIGNED_NOT_TREATED)
    return out, findings
