"""The trial design datasets TS, TA, TE, TV and TI, derived from a study's `specs/study.yaml`.

Nothing here reads raw data: every row comes from study metadata (study identifiers, design, visit
schedule, inclusion/exclusion criteria) and the study's codelists (NCI C-codes for TSPARMCD/TSPARM and
for the CDISC CT coded values of TS). The two TS parameters that describe what happened rather than what
was planned come from the mapped DM when it is given: ACTSUB (subjects enrolled, i.e. DM subjects who
are not screen failures) and FCNTRY (one record per distinct DM.COUNTRY of the sites).

Output conventions (all five datasets): exactly the spec's variables in spec order; character variables
are `str` with "" for missing; numeric variables (TSSEQ, TAETORD, VISITNUM, VISITDY) are float64 with NaN
for missing, as the XPT writer stores every number as a double.

TS follows the SDTMIG 3.4 TS assumptions and the FDA Study Data Technical Conformance Guide:
- CDISC CT values carry TSVALCD (C-code from specs/codelists.yaml), TSVCDREF "CDISC CT" and TSVCDVER the
  SDTM CT version of `study.standards.sdtm_ct`;
- ISO 8601 dates and durations (SSTDTC, DCUTDTC, AGEMIN) carry TSVCDREF "ISO 8601" and no TSVALCD;
- REGID carries its own identifier as TSVALCD and TSVCDREF "ClinicalTrials.gov" (an NCT number);
- INDIC carries the SNOMED CT concept id of `study.indication_code` (TSVCDREF "SNOMED CT") and TRT the UNII
  of its treatment's `unii` (TSVCDREF "UNII"); without one TSVALCD/TSVCDREF stay empty (no code is ever
  invented) and the validator reports the gap (CDG0904);
- ADAPT (design.adaptive, default N), STOPRULE (study.stopping_rule, else null flavor UNK: the protocol's rule
  is not in study.yaml) and SENDTC (study.end_date, else null flavor NAV while the study is running) are
  always present (FDA TCG; CORE CG0287);
- AGEMAX without a maximum age has TSVAL "" and TSVALNF "PINF";
- CURTRT (background treatment) of a study that is not add-on (ADDON N) has TSVAL "" and TSVALNF "NA";
- LENGTH (study.planned_length) is an ISO 8601 duration; OBJPRIM, OUTMSPRI, THERAREA are free text;
- PCLAS (per treatment: FDA Established Pharmacologic Class) carries TSVCDREF "MED-RT" and a TSVALCD only
  when study.yaml gives a MED-RT code (`pharmacologic_class_code`);
- FCNTRY carries the ISO 3166-1 alpha-3 code as TSVAL and TSVALCD with TSVCDREF "ISO 3166-1 alpha-3"
  (CORE CG0456);
- DOSFRQ repeats for a treatment whose frequency changes during the study (a list in study.yaml, e.g. every
  week in cycles 1-2, then every 2 weeks);
- TSSEQ numbers the repeats of one TSPARMCD (1, 2, ...); the per-treatment rows (TRT, ROUTE, DOSE, DOSU,
  DOSFRQ, INTTYPE, PCLAS) share TSSEQ and TSGRPID (the treatment name) so that each reads with its drug.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cdiscgen._findings import Finding, Severity
from cdiscgen._specs import Codelist, DatasetSpec, Study, term_key

log = logging.getLogger(__name__)

__all__ = ["TrialDesignError", "check_trial_design", "derive_trial_design"]

MAX_TEXT = 200
CDISC_CT = "CDISC CT"
ISO_8601 = "ISO 8601"
CLINICALTRIALS_GOV = "ClinicalTrials.gov"
MED_RT = "MED-RT"
ISO_3166 = "ISO 3166-1 alpha-3"
UNII = "UNII"
SNOMED_CT = "SNOMED CT"
SCREEN_FAILURE = "SCREEN FAILURE"  # DM.ARMNRS of a subject who was not enrolled (CT ARMNULRS)

# Design characteristics that study.yaml does not (yet) declare. The defaults describe a single-arm,
# open-label, uncontrolled treatment trial in patients; a `design.<key>` entry in study.yaml overrides
# each of them. A study with more than one arm must state its intervention model explicitly.
DESIGN_DEFAULTS: dict[str, str] = {
    "blinding": "OPEN LABEL",
    "control": "NONE",
    "intent": "TREATMENT",
    "add_on": "N",
    "healthy_subjects": "N",
    "adaptive": "N",
}


class TrialDesignError(ValueError):
    """study.yaml (or its codelists) cannot produce a conformant trial design dataset.

    The message names the dataset, the parameter or variable, and the study.yaml key at fault.
    """


@dataclass(frozen=True)
class _TsRow:
    parmcd: str
    value: str = ""
    null_flavor: str = ""
    code: str = ""
    ref: str = ""
    version: str = ""
    group: str = ""
    source: str = ""  # the study.yaml key the value comes from, for error messages


# --------------------------------------------------------------------------------------------- public


def derive_trial_design(
    study: Study, dm: pd.DataFrame | None = None, notes: list[str] | None = None
) -> dict[str, pd.DataFrame]:
    """TS, TA, TE, TV and TI of `study`, each with exactly its spec's variables in spec order.

    `dm` is the mapped DM (USUBJID, ARMNRS, COUNTRY): with it TS also holds ACTSUB and FCNTRY; without
    it those two parameters are left out (they describe the data, not the protocol). `notes` receives
    what the study should still state: an FDA-required protocol fact study.yaml does not give (its TS row
    carries TSVALNF UNK) and a value outside its extensible codelist (submitted without a C-code).

    Raises TrialDesignError when a value would exceed 200 characters, a CDISC CT value is not a term
    of its non-extensible codelist, a TS parameter has no TSPARMCD/TSPARM term, or keys repeat.
    """
    frames = _derive_frames(study, dm, notes if notes is not None else [])
    log.info(
        "trial design for %s: %s",
        study.studyid,
        ", ".join(f"{name} {len(frame)} rows" for name, frame in frames.items()),
    )
    return frames


def _derive_frames(study: Study, dm: pd.DataFrame | None, notes: list[str]) -> dict[str, pd.DataFrame]:
    return {
        "TS": _finish(study, "TS", _ts_records(study, dm, notes), sort=True),
        "TA": _finish(study, "TA", _ta_records(study)),
        "TE": _finish(study, "TE", _te_records(study)),
        "TV": _finish(study, "TV", _tv_records(study)),
        "TI": _finish(study, "TI", _ti_records(study)),
    }


# --------------------------------------------------------------------------------------------- TS


# protocol facts FDA requires in TS (Technical Conformance Guide 4.1.1.3) that only the protocol knows:
# TSPARMCD -> study.yaml key under `study:`; unstated, the row carries TSVALNF UNK and a note says so
REQUIRED_PROTOCOL_FACTS = {
    "OBJPRIM": "objective_primary",
    "THERAREA": "therapeutic_area",
    "LENGTH": "planned_length",
    "TTYPE": "trial_type",
}


def check_trial_design(study: Study) -> list[Finding]:
    """What `run` requires of study.yaml for the trial design datasets, checked without data: the error
    that would stop it (SPEC045) and each note (SPEC046, warning)."""
    where = "specs/study.yaml"
    unusable = [name for name in ("TS", "TA", "TE", "TV", "TI") if name not in study.datasets]
    if unusable:  # a spec file that does not load has its own findings; this says what it stops
        return [
            Finding(
                "SPEC045",
                Severity.ERROR,
                f"the trial design datasets need their specs: none usable for {', '.join(unusable)} "
                "in specs/sdtm",
                file="specs/sdtm",
            )
        ]
    notes: list[str] = []
    try:
        _derive_frames(study, None, notes)
    except TrialDesignError as exc:
        return [Finding("SPEC045", Severity.ERROR, str(exc), file=where, variable="study")]
    return [Finding("SPEC046", Severity.WARNING, note, file=where, variable="study") for note in notes]


def _ts_records(study: Study, dm: pd.DataFrame | None, notes: list[str]) -> list[dict[str, Any]]:
    settings = study.settings
    info = settings["study"]
    design = settings["design"]
    standards = info.get("standards", {})
    ct_version = str(standards.get("sdtm_ct", ""))
    arms = design["arms"]

    def ct(parmcd: str, codelist_id: str, value: Any, source: str, group: str = "") -> _TsRow:
        return _ct_row(study, parmcd, codelist_id, str(value), source, ct_version, group, notes)

    rows: list[_TsRow] = [
        _TsRow("TITLE", str(info["title"]), source="study.title"),
        _TsRow("SPONSOR", str(info["sponsor"]), source="study.sponsor"),
        ct("TPHASE", "TPHASE", info["phase"], "study.phase"),
        _TsRow(
            "INDIC",
            str(info["indication"]),
            code=str(info.get("indication_code") or ""),
            ref=SNOMED_CT if info.get("indication_code") else "",
            source="study.indication",
        ),
        ct("STYPE", "STYPE", info["study_type"], "study.study_type"),
        _TsRow("PLANSUB", str(info["planned_subjects"]), source="study.planned_subjects"),
        _TsRow("NARMS", str(len(arms)), source="design.arms"),
        _TsRow("DCUTDTC", str(settings["cutoff"]["date"]), ref=ISO_8601, source="cutoff.date"),
        _TsRow("DCUTDESC", str(settings["cutoff"]["description"]), source="cutoff.description"),
        ct("TBLIND", "TBLIND", _design(design, "blinding"), "design.blinding"),
        ct("TCNTRL", "TCNTRL", _design(design, "control"), "design.control"),
        ct("TINDTP", "TINDTP", _design(design, "intent"), "design.intent"),
        ct("INTMODEL", "INTMODEL", _intervention_model(design), "design.intervention_model"),
        ct("RANDOM", "NY", _randomized(design), "design.randomized"),
        ct("ADDON", "NY", _flag(design, "add_on"), "design.add_on"),
        ct("HLTSUBJI", "NY", _flag(design, "healthy_subjects"), "design.healthy_subjects"),
        ct("ADAPT", "NY", _flag(design, "adaptive"), "design.adaptive"),
        _current_treatment(design),
        _stated_or_null("STOPRULE", info.get("stopping_rule"), "UNK", "study.stopping_rule"),
        _stated_or_null("SENDTC", info.get("end_date"), "NAV", "study.end_date", ref=ISO_8601),
    ]
    for i, ttype in enumerate(info.get("trial_type") or []):
        rows.append(ct("TTYPE", "TTYPE", ttype, f"study.trial_type[{i}]"))
    for parmcd, key in (
        ("OBJPRIM", "objective_primary"),
        ("OUTMSPRI", "outcome_primary"),
        ("THERAREA", "therapeutic_area"),
    ):
        if info.get(key):
            rows.append(_TsRow(parmcd, str(info[key]), source=f"study.{key}"))
    if info.get("planned_length"):
        rows.append(
            _TsRow("LENGTH", str(info["planned_length"]), ref=ISO_8601, source="study.planned_length")
        )
    for parmcd, key in REQUIRED_PROTOCOL_FACTS.items():
        if not info.get(key):
            rows.append(_TsRow(parmcd, "", null_flavor="UNK", source=f"study.{key}"))
            notes.append(
                f"study.{key} is not stated: TS {parmcd} is submitted as unknown (TSVALNF UNK); FDA "
                "expects the protocol's value (Technical Conformance Guide 4.1.1.3)"
            )
    if info.get("start_date"):
        rows.append(_TsRow("SSTDTC", str(info["start_date"]), ref=ISO_8601, source="study.start_date"))
    elif dm is not None and "RFICDTC" in dm.columns:
        # FDA: the study start date is the earliest informed consent of any subject
        consent = dm["RFICDTC"].fillna("").astype("str").str[:10]
        consent = consent[consent.str.fullmatch(r"\d{4}-\d{2}-\d{2}")]
        if len(consent):
            rows.append(_TsRow("SSTDTC", str(consent.min()), ref=ISO_8601, source="DM.RFICDTC (earliest)"))
    if info.get("age_min"):
        rows.append(_TsRow("AGEMIN", str(info["age_min"]), ref=ISO_8601, source="study.age_min"))
        pediatric = "Y" if _years(str(info["age_min"])) < 18 else "N"
        rows.append(ct("PDSTIND", "NY", pediatric, "study.age_min"))
    if info.get("age_max"):
        rows.append(_TsRow("AGEMAX", str(info["age_max"]), ref=ISO_8601, source="study.age_max"))
    else:
        rows.append(_TsRow("AGEMAX", "", null_flavor="PINF", source="study.age_max"))
    if info.get("sex_population"):
        rows.append(ct("SEXPOP", "SEXPOP", info["sex_population"], "study.sex_population"))
    if info.get("registry_id"):
        regid = str(info["registry_id"])
        rows.append(_TsRow("REGID", regid, code=regid, ref=CLINICALTRIALS_GOV, source="study.registry_id"))
    else:
        rows.append(
            _TsRow("REGID", "", null_flavor="NA", source="study.registry_id (the trial is not registered)")
        )
    if standards.get("sdtmig"):
        rows.append(_TsRow("SDTIGVER", str(standards["sdtmig"]), source="study.standards.sdtmig"))
    if standards.get("sdtm"):
        rows.append(_TsRow("SDTMVER", str(standards["sdtm"]), source="study.standards.sdtm"))
    for i, trt in enumerate(design["treatments"]):
        where = f"design.treatments[{i}]"
        name = str(trt["name"])
        if trt.get("placebo"):
            # a placebo is the comparator, not an investigational treatment (TS COMPTRT)
            rows.append(_TsRow("COMPTRT", name, group=name, source=f"{where}.name"))
            continue
        doses = trt["dose"] if isinstance(trt["dose"], list) else [trt["dose"]]
        frequencies = trt["frequency"] if isinstance(trt["frequency"], list) else [trt["frequency"]]
        unii = str(trt.get("unii") or "")
        rows += [
            _TsRow("TRT", name, code=unii, ref=UNII if unii else "", group=name, source=f"{where}.name"),
            ct("ROUTE", "ROUTE", trt["route"], f"{where}.route", name),
            *(_TsRow("DOSE", _number_text(d), group=name, source=f"{where}.dose") for d in doses),
            ct("DOSU", "UNIT", trt["unit"], f"{where}.unit", name),
            *(ct("DOSFRQ", "FREQ", f, f"{where}.frequency", name) for f in frequencies),
        ]
        if trt.get("intervention_type"):
            rows.append(
                ct("INTTYPE", "INTTYPE", trt["intervention_type"], f"{where}.intervention_type", name)
            )
        if not trt.get("pharmacologic_class"):
            # FDA expects PCLAS for every investigational treatment; without a known class it is stated
            # as unknown, never invented
            rows.append(
                _TsRow("PCLAS", "", null_flavor="UNK", group=name, source=f"{where}.pharmacologic_class")
            )
        else:
            rows.append(
                _TsRow(
                    "PCLAS",
                    str(trt["pharmacologic_class"]),
                    code=str(trt.get("pharmacologic_class_code") or ""),
                    ref=MED_RT,
                    group=name,
                    source=f"{where}.pharmacologic_class",
                )
            )
    if dm is not None:
        rows += _ts_from_dm(dm)
    return _number_ts(study, rows)


def _stated_or_null(parmcd: str, value: Any, null_flavor: str, source: str, ref: str = "") -> _TsRow:
    """A protocol fact study.yaml may not hold: its value, else the parameter with the null flavor saying why."""
    if value in (None, ""):
        return _TsRow(parmcd, "", null_flavor=null_flavor, source=source)
    return _TsRow(parmcd, str(value), ref=ref, source=source)


def _current_treatment(design: dict[str, Any]) -> _TsRow:
    """CURTRT: the background treatment of an add-on study; "NA" null flavor when the study is not add-on."""
    add_on = _flag(design, "add_on").strip().upper()
    if design.get("current_treatment"):
        if add_on != "Y":
            raise TrialDesignError(
                "TS.CURTRT: design.current_treatment is given but the study is not add-on "
                "(design.add_on is not Y); a background treatment belongs to an add-on study"
            )
        return _TsRow("CURTRT", str(design["current_treatment"]), source="design.current_treatment")
    if add_on == "Y":
        raise TrialDesignError(
            "TS.CURTRT: the study is add-on (design.add_on); state its background treatment in "
            "design.current_treatment in study.yaml"
        )
    return _TsRow("CURTRT", "", null_flavor="NA", source="design.add_on")


def _ts_from_dm(dm: pd.DataFrame) -> list[_TsRow]:
    """ACTSUB (DM subjects who are not screen failures) and FCNTRY (one row per distinct DM.COUNTRY)."""
    for column in ("USUBJID", "ARMNRS", "COUNTRY"):
        if column not in dm.columns:
            raise TrialDesignError(f"TS.ACTSUB/FCNTRY: the DM given has no {column} column")
    subjects = dm["USUBJID"].fillna("").astype("str").str.strip()
    armnrs = dm["ARMNRS"].fillna("").astype("str").str.strip().str.upper()
    enrolled = subjects[(subjects != "") & (armnrs != SCREEN_FAILURE)].nunique()
    rows = [_TsRow("ACTSUB", str(enrolled), source="DM (subjects whose ARMNRS is not SCREEN FAILURE)")]
    countries = dm["COUNTRY"].fillna("").astype("str").str.strip().str.upper()
    for country in sorted(set(countries) - {""}):
        rows.append(_TsRow("FCNTRY", country, code=country, ref=ISO_3166, source="DM.COUNTRY"))
    return rows


def _ct_row(
    study: Study,
    parmcd: str,
    codelist_id: str,
    value: str,
    source: str,
    ct_version: str,
    group: str,
    notes: list[str],
) -> _TsRow:
    """A TS row whose value is a CDISC CT term: the submission value, its C-code, "CDISC CT", version."""
    codelist = _codelist(study, codelist_id, f"TS.{parmcd}")
    submission = codelist.synonym_map().get(term_key(value))
    if submission is None:
        if not codelist.extensible:
            raise TrialDesignError(
                f"TS.{parmcd}: {value!r} (study.yaml {source}) is not a term of the non-extensible "
                f"codelist {codelist.id} ({', '.join(sorted(codelist.values))})"
            )
        notes.append(
            f"TS.{parmcd}: {value!r} (study.yaml {source}) is not a term of codelist {codelist.id}; it is "
            "submitted as an extended value without a C-code (declare it a sponsor term in codelists.yaml, "
            f"or use one of {', '.join(sorted(codelist.values))})"
        )
        return _TsRow(parmcd, value, group=group, source=source)
    term = codelist.term(submission)
    code = (term.code or "") if term is not None and not term.sponsor else ""
    return _TsRow(
        parmcd,
        submission,
        code=code,
        ref=CDISC_CT if code else "",
        version=ct_version if code else "",
        group=group,
        source=source,
    )


def _number_ts(study: Study, rows: Iterable[_TsRow]) -> list[dict[str, Any]]:
    """TSSEQ per TSPARMCD in order of appearance; TSPARM from the TSPARM term sharing the C-code."""
    parmcds = _codelist(study, "TSPARMCD", "TS.TSPARMCD")
    parms = _codelist(study, "TSPARM", "TS.TSPARM")
    parm_by_code = {t.code: t.value for t in parms.terms if t.code}
    seq: dict[str, int] = {}
    out: list[dict[str, Any]] = []
    for row in rows:
        term = parmcds.term(row.parmcd)
        if term is None or not term.code or term.code not in parm_by_code:
            raise TrialDesignError(
                f"TS.TSPARMCD: parameter {row.parmcd} has no term (with a C-code) in codelist TSPARMCD "
                f"and a matching TSPARM term in specs/codelists.yaml"
            )
        _check_text("TS", "TSVAL", row.value, f"TSPARMCD={row.parmcd} (study.yaml {row.source})")
        seq[row.parmcd] = seq.get(row.parmcd, 0) + 1
        out.append(
            {
                "TSSEQ": float(seq[row.parmcd]),
                "TSGRPID": row.group,
                "TSPARMCD": row.parmcd,
                "TSPARM": parm_by_code[term.code],
                "TSVAL": row.value,
                "TSVALNF": row.null_flavor,
                "TSVALCD": row.code,
                "TSVCDREF": row.ref,
                "TSVCDVER": row.version,
            }
        )
    return out


def _design(design: dict[str, Any], key: str) -> str:
    return str(design.get(key, DESIGN_DEFAULTS[key]))


def _flag(design: dict[str, Any], key: str) -> str:
    """A Y/N design setting: study.yaml may state it as a boolean (the schema's type) or as Y/N text."""
    value = design.get(key, DESIGN_DEFAULTS[key])
    return ("Y" if value else "N") if isinstance(value, bool) else str(value)


def _intervention_model(design: dict[str, Any]) -> str:
    if design.get("intervention_model"):
        return str(design["intervention_model"])
    if len(design["arms"]) == 1:
        return "SINGLE GROUP"
    raise TrialDesignError(
        f"TS.INTMODEL: the design has {len(design['arms'])} arms; state design.intervention_model in "
        "study.yaml (a single-group model is only assumed for one arm)"
    )


def _randomized(design: dict[str, Any]) -> str:
    if design.get("randomized") is not None:
        value = design["randomized"]
        return ("Y" if value else "N") if isinstance(value, bool) else str(value)
    if len(design["arms"]) == 1:
        return "N"
    raise TrialDesignError(
        f"TS.RANDOM: the design has {len(design['arms'])} arms; state design.randomized in study.yaml"
    )


def _years(duration: str) -> float:
    """Years of an ISO 8601 age duration such as P18Y, P6M, P30D (the schema allows P<n>Y only)."""
    match = re.fullmatch(r"P(\d+)([YMWD])", duration)
    if match is None:
        raise TrialDesignError(f"TS.AGEMIN: {duration!r} is not an ISO 8601 duration such as P18Y")
    n, unit = int(match.group(1)), match.group(2)
    return n / {"Y": 1, "M": 12, "W": 52.1775, "D": 365.25}[unit]


def _number_text(value: Any) -> str:
    """1800 -> "1800", 4.5 -> "4.5" (no float artefacts such as "4.0")."""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


# --------------------------------------------------------------------------------------------- TA TE TV TI


def _elements(study: Study) -> dict[str, dict[str, Any]]:
    return {e["etcd"]: e for e in study.settings["design"]["elements"]}


def _ta_records(study: Study) -> list[dict[str, Any]]:
    elements = _elements(study)
    out: list[dict[str, Any]] = []
    for arm in study.settings["design"]["arms"]:
        for order, etcd in enumerate(arm["elements"], start=1):
            if etcd not in elements:
                raise TrialDesignError(
                    f"TA.ETCD: arm {arm['armcd']} lists element {etcd}, not in design.elements"
                )
            element = elements[etcd]
            out.append(
                {
                    "ARMCD": arm["armcd"],
                    "ARM": arm["arm"],
                    "TAETORD": float(order),
                    "ETCD": etcd,
                    "ELEMENT": element["element"],
                    "TABRANCH": "",
                    "TATRANS": "",
                    "EPOCH": element["epoch"],
                }
            )
    return out


def _te_records(study: Study) -> list[dict[str, Any]]:
    return [
        {
            "ETCD": e["etcd"],
            "ELEMENT": e["element"],
            "TESTRL": e["start_rule"],
            "TEENRL": e.get("end_rule") or "",
            "TEDUR": e.get("duration") or "",
        }
        for e in study.settings["design"]["elements"]
    ]


def _tv_records(study: Study) -> list[dict[str, Any]]:
    design = study.settings["design"]
    first_element = _elements(study)[design["arms"][0]["elements"][0]] if design["arms"] else None
    screening_epoch = first_element["epoch"] if first_element else None
    consent = first_element["start_rule"] if first_element else "Informed consent"
    out: list[dict[str, Any]] = []
    for arm in design["arms"]:
        for visit in study.visits:
            out.append(
                {
                    "VISITNUM": float(visit.visitnum),
                    "VISIT": visit.visit,
                    "VISITDY": float(visit.day) if visit.day is not None else float("nan"),
                    "ARMCD": arm["armcd"],
                    "ARM": arm["arm"],
                    "TVSTRL": visit.start_rule
                    or _visit_start_rule(visit.day, visit.window, visit.epoch == screening_epoch, consent),
                    "TVENRL": visit.end_rule or "",
                }
            )
    return out


def _visit_start_rule(day: int | None, window: tuple[int, int] | None, screening: bool, consent: str) -> str:
    """The planned start of a visit in words.

    Screening is anchored on the start of the first element (informed consent): "Informed consent,
    up to 28 days before the first dose". Any other visit is anchored on the first dose:
    "Day 29 (window -2 to +2 days) relative to the first dose"; a zero window reads "(no window)".
    """
    if day is None:
        return "Not planned on a study day (as needed)"
    if screening and day < 1:
        return f"{consent}, up to {-day} days before the first dose"
    if window is None:
        return f"Day {day} relative to the first dose"
    low, high = window
    span = "no window" if low == high == 0 else f"window {_signed(low)} to {_signed(high)} days"
    return f"Day {day} ({span}) relative to the first dose"


def _signed(n: int) -> str:
    return f"+{n}" if n > 0 else str(n)


def _ti_records(study: Study) -> list[dict[str, Any]]:
    return [
        {"IETESTCD": c["ietestcd"], "IETEST": c["ietest"], "IECAT": c["iecat"], "TIVERS": "1"}
        for c in study.settings["design"].get("inclusion", []) or []
    ]


# --------------------------------------------------------------------------------------------- shared


def _codelist(study: Study, codelist_id: str, where: str) -> Codelist:
    try:
        return study.codelists[codelist_id]
    except KeyError:
        raise TrialDesignError(
            f"{where}: codelist {codelist_id} is missing from specs/codelists.yaml"
        ) from None


def _check_text(dataset: str, variable: str, value: str, where: str) -> None:
    if len(value) > MAX_TEXT:
        raise TrialDesignError(
            f"{dataset}.{variable} {where}: value is {len(value)} characters, more than the {MAX_TEXT} "
            f"allowed (TSVAL1..n splitting is not supported; shorten it): {value[:60]!r}..."
        )


def _finish(study: Study, name: str, records: list[dict[str, Any]], *, sort: bool = False) -> pd.DataFrame:
    """Records -> a frame with exactly the spec's variables in order; checked lengths and unique keys."""
    spec: DatasetSpec = study.dataset(name)
    columns: dict[str, pd.Series] = {}
    for var in spec.submitted_variables:
        if var.name == "STUDYID":
            raw: list[Any] = [study.studyid] * len(records)
        elif var.name == "DOMAIN":
            raw = [spec.domain or name] * len(records)
        else:
            raw = [r.get(var.name) for r in records]
        if var.is_numeric:
            columns[var.name] = pd.Series(raw, dtype="float64")
        else:
            values = ["" if v is None else str(v) for v in raw]
            for i, v in enumerate(values):
                if len(v) > MAX_TEXT:
                    _check_text(name, var.name, v, f"record {i + 1}")
            columns[var.name] = pd.Series(values, dtype="str")
    frame = pd.DataFrame(columns, columns=spec.variable_names)
    keys = [k for k in spec.keys if k in frame.columns]
    duplicated = frame.duplicated(subset=keys, keep=False)
    if duplicated.any():
        first = frame.loc[duplicated, keys].iloc[0].to_dict()
        raise TrialDesignError(f"{name}: key {', '.join(keys)} repeats in study.yaml: {first}")
    if sort:
        frame = frame.sort_values(keys, kind="stable").reset_index(drop=True)
    return frame
