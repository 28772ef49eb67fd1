"""SDTM-wide derivations driven by the dataset metadata: --SEQ, --DY, baseline flags (--LOBXFL, --BLFL),
study-defined record flags (e.g. AETRTEM), --NRIND, SUPP-- and AGE. (Reference dates and arms: sdtm._reference; SE and EPOCH: sdtm._elements;
visits and SV: sdtm._visits.)

Each function takes DataFrames (plus metadata) and returns a new DataFrame; nothing is changed in place.
`refs` is the per-subject reference table (index USUBJID) built by `sdtm._reference.derive_reference_dates`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from cdiscgen._arrowtext import compute_stripped_in
from cdiscgen._conditions import compute_condition_mask
from cdiscgen._distinct import compute_mapped, on_distinct
from cdiscgen._findings import Finding, Severity
from cdiscgen._specs import DatasetSpec, Study, VariableSpec, visit_key
from sdtm._context import RuleContext, row_findings

log = logging.getLogger(__name__)

_DATE_RE = r"^\d{4}-\d{2}-\d{2}"


def compute_date_part(values: pd.Series) -> pd.Series:
    """The complete date part (YYYY-MM-DD) of ISO 8601 text, "" for partial or missing dates."""
    (out,) = on_distinct(values, lambda s: (s.str[:10].where(s.str.match(_DATE_RE), "").astype("str"),))
    return out


def _subject_date_part(df: pd.DataFrame, refs: pd.DataFrame, column: str) -> pd.Series:
    """Each record's subject's `column` of `refs` as `compute_date_part` gives it ("" for a subject without
    one): read once per subject, looked up by Arrow's hash."""
    per_subject = compute_date_part(refs[column].fillna("").astype("str"))
    return compute_mapped(df["USUBJID"], per_subject).fillna("")


# ------------------------------------------------------------------------------------------------ --SEQ


def derive_seq(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Sort by the dataset's `seq_order`, else its keys (stable), and number --SEQ 1, 2, ... within USUBJID."""
    order = compute_seq_order(df, spec)
    out = df.take(order).reset_index(drop=True) if order is not None else df.copy(deep=False)
    seq = f"{spec.domain or spec.name}SEQ"
    if spec.has_variable(seq):
        out[seq] = compute_seq(out["USUBJID"])
    return out


def compute_seq_order(df: pd.DataFrame, spec: DatasetSpec) -> np.ndarray | None:
    """Row positions in the order of `derive_seq`: the dataset's `seq_order` (e.g. DS by USUBJID and DSSTDTC,
    chronological, ties in the mapping's source order), else its keys; stable, missing values first. None when
    no such column is in `df` (the rows keep their order). Only those columns are sorted, not the frame."""
    seq = f"{spec.domain or spec.name}SEQ"
    keys = [k for k in (spec.seq_order or spec.keys) if k in df.columns and k != seq]
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
    return pd.Series(_study_day(_days(dates), _days(reference)), index=dates.index)


def _study_day(days: np.ndarray, reference_days: np.ndarray) -> np.ndarray:
    diff = days - reference_days
    return diff + (diff >= 0)


def _days(values: pd.Series) -> np.ndarray:
    """The complete date part of ISO 8601 text as days since 1970-01-01 (NaN for a partial or missing
    date), each distinct text read once."""
    (days,) = on_distinct(values, _days_of_distinct)
    return days  # type: ignore[return-value]


def _days_of_distinct(texts: pd.Series) -> tuple[np.ndarray]:
    when = pd.to_datetime(compute_date_part(texts), format="%Y-%m-%d", errors="coerce").to_numpy()
    days = when.astype("datetime64[D]")
    return (np.where(np.isnat(days), np.nan, days.astype(np.int64).astype(np.float64)),)


def _subject_days(df: pd.DataFrame, refs: pd.DataFrame, column: str) -> np.ndarray:
    """Each record's subject's reference date (`column` of `refs`) as `_days`: read once per subject."""
    per_subject = pd.Series(_days(refs[column].fillna("").astype("str")), index=refs.index)
    return compute_mapped(df["USUBJID"], per_subject).to_numpy(dtype=np.float64)


def derive_dy(
    df: pd.DataFrame, spec: DatasetSpec, refs: pd.DataFrame, reference: str = "RFSTDTC"
) -> pd.DataFrame:
    """Every --DY/--STDY/--ENDY whose --DTC/--STDTC/--ENDTC exists, counted from the subject's `reference`
    date (DM.RFSTDTC unless study.yaml's subjects.study_day_from names another reference date)."""
    out = df.copy(deep=False)  # copy-on-write: the columns set below are out's own
    reference_days = _subject_days(out, refs, reference)
    for v in spec.variable_names:
        if v.endswith("DY") and v not in ("VISITDY",):
            dtc = v[:-2] + "DTC"
            if dtc in out.columns:
                out[v] = _study_day(_days(out[dtc]), reference_days)
    return out


# --------------------------------------------------------------------------------------- baseline flags


def baseline_definitions(spec: DatasetSpec, study: Study) -> list[dict]:
    """The baseline flags of a dataset: those study.yaml's `baseline:` declares for it, and --LOBXFL by its
    default rule when the dataset has it and study.yaml does not declare it."""
    p = spec.domain or spec.name
    declared = [dict(b) for b in study.settings.get("baseline") or [] if b["dataset"] == spec.name]
    flags = {b["flag"] for b in declared}
    if f"{p}LOBXFL" in spec.variable_names and f"{p}LOBXFL" not in flags:
        declared.append({"dataset": spec.name, "flag": f"{p}LOBXFL"})
    return [b for b in declared if b["flag"] in spec.variable_names]


def derive_baseline_flags(
    df: pd.DataFrame, spec: DatasetSpec, refs: pd.DataFrame, study: Study
) -> pd.DataFrame:
    """Every baseline flag of the dataset (baseline_definitions), each by derive_baseline_flag."""
    out = df
    for definition in baseline_definitions(spec, study):
        out = derive_baseline_flag(out, spec, refs, definition)
    return out


def derive_record_flags(
    df: pd.DataFrame, spec: DatasetSpec, dm: pd.DataFrame | None, study: Study
) -> tuple[pd.DataFrame, list[Finding]]:
    """The `flags:` of study.yaml for this dataset: `flag` is Y where `where` holds on the record (its
    variables, and `dm:` variables of its subject as derived), else `otherwise` (default empty)."""
    definitions = [f for f in study.settings.get("flags") or [] if f["dataset"] == spec.name]
    if not definitions:
        return df, []
    out = df.copy(deep=False)  # copy-on-write: the columns set below are out's own
    by_subject = dm.drop_duplicates("USUBJID").set_index("USUBJID") if dm is not None else None
    findings: list[Finding] = []
    for definition in definitions:

        def operand(kind: str, name: str) -> pd.Series:
            if kind == "dm":
                if by_subject is None or name not in by_subject.columns:
                    return pd.Series("", index=out.index, dtype="str")
                return compute_mapped(out["USUBJID"], by_subject[name]).fillna("").astype("str")
            return out[name] if name in out.columns else pd.Series("", index=out.index, dtype="str")

        result = compute_condition_mask(definition["where"], operand, out.index)
        out[definition["flag"]] = np.where(
            result.mask.to_numpy(dtype=bool), "Y", definition.get("otherwise", "")
        )
        for kind, name, bad in result.non_numeric:
            findings += row_findings(
                out,
                bad.to_numpy(dtype=bool),
                code="MAP011",
                severity=Severity.WARNING,
                message=f"{definition['flag']}: {kind} {name} value {{value!r}} is neither a number nor a date "
                "in an ordered comparison; the flag condition does not hold",
                ctx=RuleContext(spec.name, definition["flag"], study.codelists),
                values=operand(kind, name).astype("str"),
            )
    return out, findings


def derive_baseline_flag(
    df: pd.DataFrame, spec: DatasetSpec, refs: pd.DataFrame, definition: dict
) -> pd.DataFrame:
    """Y on one record per subject and group (`group_by`, default --TESTCD plus --SPEC and --METHOD where
    present) among the records with a result: without a `visit`, the last one on or before the date of
    first dose (DM.RFXSTDTC); with a `visit`, the last one at that visit. Latest --DTC, ties broken by the
    highest --SEQ (run after --SEQ is set)."""
    p = spec.domain or spec.name
    flag = definition["flag"]
    out = df.copy(deep=False)  # copy-on-write: the columns set below are out's own
    if f"{p}TESTCD" not in out or f"{p}DTC" not in out:
        return out
    result = out[f"{p}STRESC"] if f"{p}STRESC" in out else out[f"{p}ORRES"]
    has_result = ~compute_stripped_in(result.fillna("").astype("str"), ("",))
    if f"{p}STAT" in out:
        has_result &= compute_stripped_in(out[f"{p}STAT"].fillna("").astype("str"), ("",))
    date = compute_date_part(out[f"{p}DTC"])
    if definition.get("visit"):
        at_visit = compute_mapped(out["VISIT"].astype("str"), visit_key) == visit_key(definition["visit"])
        eligible = has_result & at_visit
    else:
        first = _subject_date_part(out, refs, "RFXSTDTC")
        eligible = has_result & (date != "") & (first != "") & (date <= first)
    default_group = [f"{p}TESTCD"] + [c for c in (f"{p}SPEC", f"{p}METHOD") if c in out.columns]
    group = ["USUBJID", *(definition.get("group_by") or default_group)]
    seq = [f"{p}SEQ"] if f"{p}SEQ" in out else []
    cand = out.loc[eligible, list(dict.fromkeys(group + [f"{p}DTC"] + seq))].assign(_D=date[eligible])
    cand = cand.sort_values(["_D", f"{p}DTC", *seq], kind="stable")
    last = cand.drop_duplicates(group, keep="last").index
    out[flag] = ""
    out.loc[last, flag] = "Y"
    return out


# ----------------------------------------------------------------------------------------------- NRIND


def derive_nrind(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """LOW below --STNRLO, HIGH above --STNRHI, NORMAL otherwise; empty without a numeric result or range."""
    p = spec.domain or spec.name
    out = df.copy(deep=False)  # copy-on-write: the columns set below are out's own
    if f"{p}NRIND" not in spec.variable_names or f"{p}STRESN" not in out:
        return out
    x = pd.to_numeric(out[f"{p}STRESN"], errors="coerce").to_numpy(dtype=float)
    lo = pd.to_numeric(out.get(f"{p}STNRLO"), errors="coerce").to_numpy(dtype=float)
    hi = pd.to_numeric(out.get(f"{p}STNRHI"), errors="coerce").to_numpy(dtype=float)
    has = ~np.isnan(x) & ~(np.isnan(lo) & np.isnan(hi))
    low = ~np.isnan(lo) & (x < lo)
    high = ~np.isnan(hi) & (x > hi)
    # each record's position among the four texts, taken as Arrow text (not a text made per record)
    chosen = np.select([~has, low, high], [0, 1, 2], default=3)
    out[f"{p}NRIND"] = pd.Series(pd.array(_NRIND_TEXTS, dtype="str").take(chosen), index=out.index)
    return out


_NRIND_TEXTS = ["", "LOW", "HIGH", "NORMAL"]


# ------------------------------------------------------------------------------------------------ SUPP--


def derive_supp(
    df: pd.DataFrame, spec: DatasetSpec, studyid: str, continued: Sequence[VariableSpec] = ()
) -> pd.DataFrame:
    """SUPP-- rows from the variables marked `supplemental: true` and the `continued` parts of long texts
    (sdtm._longtext): one per non-empty value, pointing at the parent by --SEQ (DM: by USUBJID only,
    IDVAR/IDVARVAL empty)."""
    p = spec.domain or spec.name
    seq = f"{p}SEQ"
    cols = ["STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QVAL", "QORIG", "QEVAL"]
    parts = []
    for v in [*spec.supplemental_variables, *continued]:
        if v.name not in df.columns:
            continue
        val = df[v.name]
        text = val.astype("str") if not v.is_numeric else compute_number_text(val)
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
                    "IDVARVAL": compute_number_text(df.loc[keep, seq]).to_numpy() if has_seq else "",
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


def compute_number_text(values: pd.Series) -> pd.Series:
    """Numbers as SUPP--/RELREC IDVARVAL text: 12.0 -> "12", missing -> ""."""
    x = pd.to_numeric(values, errors="coerce")
    s = x.astype("str").str.replace(r"\.0$", "", regex=True)
    return s.where(x.notna(), "").astype("str")


def compute_age(birth: pd.Series, at: pd.Series) -> pd.Series:
    """Completed years from `birth` to `at` (both complete dates); NaN otherwise."""
    b = compute_date_part(birth)
    a = compute_date_part(at)
    ok = (b != "") & (a != "")
    by = pd.to_numeric(b.str[:4], errors="coerce")
    ay = pd.to_numeric(a.str[:4], errors="coerce")
    before_birthday = (a.str[5:10] < b.str[5:10]).astype("float")
    return (ay - by - before_birthday).where(ok).astype("float")
