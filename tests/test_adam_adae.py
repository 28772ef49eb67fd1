"""DarPAL's ADAE (specs/adam/params/adae.yaml through the OCCDS engine) on a small AE/SUPPAE built here.
Every expected value is worked by hand from the methods of specs/adam/adae.yaml: the 30-day reporting
window after the last dose, worsening of an event present before the first dose (grade at onset in
SUPPAE AEITOXGR), partial end dates bounded by death, and the first-occurrence flags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adam._occds import derive_occds
from adam._paramspec import load_parameter_specs
from cdiscgen import bundled_study_dir

D = pd.Timestamp("1960-01-01")
FIRST, LAST = "2025-03-01", "2025-08-31"


def days(iso: str) -> float:
    return float((pd.Timestamp(iso) - D).days)


@pytest.fixture(scope="module")
def adae_doc():
    engine, doc = load_parameter_specs(bundled_study_dir()).datasets["ADAE"]
    assert engine == "occds"
    return doc


# (AESEQ, term, SOC, start, end, grade, grade at onset)
EVENTS_1 = [
    (1, "Fatigue", "GEN", "2025-02-20", "2025-03-20", "2", "1"),  # before dosing, worsened 1 -> 2
    (2, "Dizziness", "NERV", "2025-02-22", "2025-03-05", "1", "1"),  # before dosing, not worse
    (3, "Constipation", "GI", "2025-02-10", "2025-02-28", "3", "1"),  # worsened, but over the day before
    (4, "Neutropenia", "BLOOD", "2025-03-10", "2025-03-30", "3", ""),  # on treatment
    (5, "Neutropenia", "BLOOD", "2025-05-02", "2025-05-20", "3", ""),  # same PT and grade, later
    (6, "Nausea", "GI", "2025-09-30", "2025-10-02", "1", ""),  # last dose + 30 days: in the window
    (7, "Pyrexia", "GEN", "2025-10-01", "2025-10-03", "2", ""),  # last dose + 31 days: out of it
]
EVENTS_2 = [(1, "Cardiac failure", "CARD", "2025-04-02", "2025-04", "5", "")]  # fatal, partial end


def _frames() -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    rows = [("S-1", *e) for e in EVENTS_1] + [("S-2", *e) for e in EVENTS_2]
    ae = pd.DataFrame(
        rows, columns=["USUBJID", "AESEQ", "AEDECOD", "AEBODSYS", "AESTDTC", "AEENDTC", "AETOXGR", "ONSET"]
    )
    ae["AESEQ"] = ae["AESEQ"].astype(float)
    ae["AEREL"] = "NOT RELATED"
    supp = []
    for subject, seq, onset in ae[["USUBJID", "AESEQ", "ONSET"]].itertuples(index=False):
        for qnam, qval in (("RELDARA", "NOT RELATED"), ("RELPOMA", "RELATED"), ("AEITOXGR", onset)):
            if qval:
                supp.append((subject, "AESEQ", f"{seq:g}", qnam, qval))
        supp.append((subject, "AESEQ", f"{seq:g}", "ACNDARA", "DOSE NOT CHANGED"))
        poma = "DRUG WITHDRAWN" if (subject, seq) == ("S-1", 4.0) else "DOSE NOT CHANGED"
        supp.append((subject, "AESEQ", f"{seq:g}", "ACNPOMA", poma))
    suppae = pd.DataFrame(supp, columns=["USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QVAL"])
    adsl = pd.DataFrame(
        {
            "USUBJID": ["S-1", "S-2"],
            "TRT01A": ["DARA+POMA"] * 2,
            "TRTSDT": [days(FIRST), days("2025-03-15")],
            "TRTEDT": [days(LAST), days("2025-04-05")],
            "DTHDT": [np.nan, days("2025-04-09")],
        }
    )
    return {"AE": ae.drop(columns="ONSET"), "SUPPAE": suppae}, adsl


@pytest.fixture(scope="module")
def adae(adae_doc):
    sdtm, adsl = _frames()
    frame, findings = derive_occds(sdtm, adsl, adae_doc, name="ADAE", cutoff_days=days("2026-06-30"))
    assert findings == []
    return frame.set_index(["USUBJID", "AESEQ"])


def column(adae: pd.DataFrame, name: str, subject: str = "S-1") -> list:
    return adae.loc[subject, name].tolist()


def test_treatment_emergence_window_and_worsening(adae):
    assert column(adae, "TRTEMFL") == ["Y", "", "", "Y", "Y", "Y", ""]
    assert column(adae, "PREFL") == ["Y", "Y", "Y", "", "", "", ""]
    assert column(adae, "AITOXGRN")[:3] == [1.0, 1.0, 1.0] and np.isnan(column(adae, "AITOXGRN")[3])
    assert column(adae, "TRTEMFL", "S-2") == ["Y"]


def test_study_days_and_durations(adae):
    # 2025-02-20 is 9 days before the first dose (no day 0); 2025-03-20 is day 20
    assert column(adae, "ASTDY")[:2] == [-9.0, -7.0] and column(adae, "AENDY")[0] == 20.0
    assert column(adae, "ADURN")[0] == 29.0 and column(adae, "ADURU")[0] == "DAYS"


def test_a_partial_end_of_a_fatal_event_is_imputed_to_the_death_date(adae):
    # 2025-04 -> the last day of April, but not after the death on 2025-04-09
    assert column(adae, "AENDT", "S-2") == [days("2025-04-09")] and column(adae, "AENDTF", "S-2") == ["D"]
    assert column(adae, "ASTDTF", "S-2") == [""]


def test_first_occurrence_flags_among_emergent_events(adae):
    # by start date: seq 1 is the first emergent event (it worsened on treatment)
    assert column(adae, "AOCCFL") == ["Y", "", "", "", "", "", ""]
    # first per SOC: GEN seq 1, BLOOD seq 4, GI seq 6 (seq 3 is not emergent)
    assert column(adae, "AOCCSFL") == ["Y", "", "", "Y", "", "Y", ""]
    assert column(adae, "AOCCPFL") == ["Y", "", "", "Y", "", "Y", ""]
    # worst grade: grade 3 neutropenia seq 4 before seq 5; per SOC the worst of each; per PT likewise
    assert column(adae, "AOCCIFL") == ["", "", "", "Y", "", "", ""]
    assert column(adae, "AOCCSIFL") == ["Y", "", "", "Y", "", "Y", ""]
    assert column(adae, "AOCCPIFL") == ["Y", "", "", "Y", "", "Y", ""]


def test_relationship_and_action_per_drug_come_from_suppae(adae):
    assert set(column(adae, "RELPOMA")) == {"RELATED"} and set(column(adae, "RELDARA")) == {"NOT RELATED"}
    assert set(column(adae, "ACNPOMA", "S-2")) == {"DOSE NOT CHANGED"}
    # pomalidomide withdrawn for S-1's event 4 (AEACN, absent here, cannot say so alone)
    assert column(adae, "WDRWFL") == ["", "", "", "Y", "", "", ""] and column(adae, "WDRWFL", "S-2") == [""]
    assert column(adae, "ATOXGRN", "S-2") == [5.0] and column(adae, "ATOXGR", "S-2") == ["5"]


def test_safety_summary_counts_subjects_worked_by_hand():
    from adam._summary import compute_safety_summary

    adsl = pd.DataFrame({"USUBJID": ["A", "B", "C", "D"], "SAFFL": ["Y", "Y", "Y", "N"]})
    columns = [
        "USUBJID",
        "TRTEMFL",
        "AEBODSYS",
        "AEDECOD",
        "ATOXGRN",
        "AESER",
        "AESDTH",
        "AREL",
        "AEACN",
        "WDRWFL",
    ]
    related, unrelated, changed = "RELATED", "NOT RELATED", "DOSE NOT CHANGED"
    rows = [
        ("A", "Y", "BLOOD", "Neutropenia", 3, "N", "", related, "MULTIPLE", "Y"),  # one drug withdrawn
        ("A", "Y", "BLOOD", "Neutropenia", 2, "N", "", related, changed, ""),
        ("A", "Y", "GEN", "Fatigue", 1, "N", "", unrelated, changed, ""),
        ("B", "Y", "GEN", "Fatigue", 2, "N", "", unrelated, changed, ""),
        ("B", "Y", "CARD", "Cardiac failure", 5, "Y", "Y", unrelated, "DRUG WITHDRAWN", "Y"),
        ("B", "", "BLOOD", "Anaemia", 4, "Y", "", related, changed, ""),  # not emergent
        ("D", "Y", "BLOOD", "Anaemia", 3, "Y", "", related, changed, ""),  # not in the safety population
    ]
    adae = pd.DataFrame(rows, columns=columns)
    s = compute_safety_summary(adsl, adae)
    assert s["N"] == 3
    overview = {k: v["n"] for k, v in s["overview"].items()}
    # A: grade 3 neutropenia (related, a drug withdrawn); B: fatal cardiac failure (serious, withdrawn);
    # C: no event
    assert overview == {"any": 2, "grade3": 2, "serious": 1, "fatal": 1, "related": 1, "withdrawn": 2}
    assert s["overview"]["any"]["rate"] == 2 / 3
    # a study without the flag: AEACN alone (A's MULTIPLE is not a withdrawal it can see)
    plain = compute_safety_summary(adsl, adae.drop(columns="WDRWFL"))
    assert plain["overview"]["withdrawn"]["n"] == 1
    # GEN 2 subjects first; BLOOD and CARD 1 each, by name
    assert [(x["soc"], x["any"]["n"], x["grade3"]["n"]) for x in s["by_soc"]] == [
        ("GEN", 2, 0),
        ("BLOOD", 1, 1),
        ("CARD", 1, 1),
    ]
    assert [(t["term"], t["any"]["n"]) for t in s["by_soc"][1]["terms"]] == [("Neutropenia", 1)]
    assert {g: r["n"] for g, r in s["worst_grade"].items()} == {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1}
