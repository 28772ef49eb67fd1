"""Safety forms from a simulation plan: adverse events consistent with what the dosing and disposition forms
say happened (every dose change, missed dose or end of treatment for an adverse event has its AE; every
death from a cause that is an adverse event has its fatal AE, dated the day of death).

Terms are MedDRA preferred term and system organ class names as a site's coder would enter them; no MedDRA
code is written (the simulator does not invent dictionary codes). Draws come from the plan's own "ae"
stream, so adding or changing this form never moves a value of the other forms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._plan import BIG
from ._render import dirty_text, format_printf

Streams = Callable[[str], np.random.Generator]  # a form-level stream by name (Plan.rng)

SOC = {
    "Neutropenia": "Blood and lymphatic system disorders",
    "Thrombocytopenia": "Blood and lymphatic system disorders",
    "Anaemia": "Blood and lymphatic system disorders",
    "Fatigue": "General disorders and administration site conditions",
    "Oedema peripheral": "General disorders and administration site conditions",
    "Pyrexia": "General disorders and administration site conditions",
    "Injection site reaction": "General disorders and administration site conditions",
    "Rash": "Skin and subcutaneous tissue disorders",
    "Infection": "Infections and infestations",
    "Pneumonia": "Infections and infestations",
    "Upper respiratory tract infection": "Infections and infestations",
    "Bronchitis": "Infections and infestations",
    "Sepsis": "Infections and infestations",
    "Diarrhoea": "Gastrointestinal disorders",
    "Constipation": "Gastrointestinal disorders",
    "Nausea": "Gastrointestinal disorders",
    "Cardiac failure": "Cardiac disorders",
    "Atrial fibrillation": "Cardiac disorders",
    "Acute kidney injury": "Renal and urinary disorders",
    "Renal failure": "Renal and urinary disorders",
    "Dyspnoea": "Respiratory, thoracic and mediastinal disorders",
    "Hypotension": "Vascular disorders",
    "Dizziness": "Nervous system disorders",
}
"""Preferred term -> primary system organ class (MedDRA names)."""

# What a site reports as the adverse event behind a dose action whose reason is given in general words.
DOSE_REASON_TERMS = {
    "Adverse event": ("Neutropenia", "Fatigue", "Diarrhoea", "Anaemia"),
    "Infection": ("Pneumonia", "Upper respiratory tract infection", "Bronchitis"),
}
DISCONTINUATION_TERMS = ("Cardiac failure", "Fatigue", "Neutropenia", "Pneumonia", "Acute kidney injury")
BACKGROUND_TERMS = {
    "Fatigue": 3, "Oedema peripheral": 2, "Diarrhoea": 2, "Constipation": 2, "Nausea": 1, "Dyspnoea": 1,
    "Injection site reaction": 1, "Pyrexia": 1, "Dizziness": 1, "Hypotension": 1, "Anaemia": 1,
    "Upper respiratory tract infection": 1, "Atrial fibrillation": 0.5, "Rash": 0.5,
}  # fmt: skip
DEATH_CAUSE_TERMS = {
    "Infection": ("Sepsis", "Pneumonia"),
    "Cardiac (amyloidosis)": ("Cardiac failure",),
    "Renal failure": ("Renal failure",),
}
"""Causes of death that are adverse events (a fatal AE); progression, other and unknown causes are not."""

NOT_CHANGED, INTERRUPTED, REDUCED, WITHDRAWN, NOT_APPLICABLE = (
    "Dose not changed",
    "Drug interrupted",
    "Dose reduced",
    "Drug withdrawn",
    "Not applicable",
)
REPORTING_DAYS_AFTER_LAST_DOSE = 30
PRE_EXISTING_TERMS = ("Fatigue", "Oedema peripheral", "Dyspnoea", "Constipation", "Dizziness", "Hypotension")
"""AL amyloidosis symptoms a subject reports between the informed consent and the first dose."""
PRE_EXISTING_RATE = 0.3


@dataclass
class SafetyEvents:
    """What the dosing and disposition forms decided, by subject row `s` and study-day offset `off`."""

    dose_actions: pd.DataFrame  # s, off, end_off, drug (DARA | POMA), reason, action
    discontinued: pd.DataFrame  # s, off: end of treatment for an adverse event (the first day without dosing)
    deaths: pd.DataFrame  # s, off, cause, text (the death date as the death form writes it)
    last_dose: np.ndarray  # per subject row: offset of the last dose (-BIG: never dosed)
    consent: np.ndarray  # per subject row: offset of the informed consent (before the first dose: negative)


def _action_events(ev: SafetyEvents, rng: np.random.Generator) -> pd.DataFrame:
    """One AE per dose action taken for an adverse event: it starts on or before the action and lasts at
    least until the drug is resumed."""
    a = ev.dose_actions.reset_index(drop=True)
    n = len(a)
    term = a["reason"].to_numpy().astype(object).copy()
    for reason, terms in DOSE_REASON_TERMS.items():
        hit = term == reason
        term[hit] = np.array(terms, dtype=object)[rng.integers(0, len(terms), int(hit.sum()))]
    start = np.maximum(a["off"].to_numpy() - rng.integers(0, 4, n), 0)
    end = np.maximum(a["end_off"].to_numpy(), a["off"].to_numpy()) + rng.integers(1, 15, n)
    severe = np.isin(term, ["Neutropenia", "Thrombocytopenia", "Pneumonia", "Infection", "Sepsis"])
    grade = np.where(severe, 3, 2 + (rng.random(n) < 0.3))
    pom = a["drug"].to_numpy() == "POMA"
    serious = np.isin(term, ["Pneumonia", "Infection"]) & (rng.random(n) < 0.5)
    return pd.DataFrame(dict(
        s=a["s"].to_numpy(), start=start, end=end, term=term, grade=grade, serious=serious, fatal=False,
        action_dara=np.where(pom, NOT_CHANGED, a["action"].to_numpy()),
        action_poma=np.where(pom, a["action"].to_numpy(), NOT_CHANGED),
        rel_dara=np.where(pom, rng.random(n) < 0.3, True), rel_poma=np.where(pom, True, rng.random(n) < 0.5),
        cause_of=a["drug"].to_numpy(), cause_off=a["off"].to_numpy(),
    ))  # fmt: skip


def _discontinuation_events(ev: SafetyEvents, rng: np.random.Generator) -> pd.DataFrame:
    """One AE per end of treatment for an adverse event: both drugs withdrawn, the AE starting in the days
    before the first day without dosing."""
    x = ev.discontinued.reset_index(drop=True)
    n = len(x)
    term = np.array(DISCONTINUATION_TERMS, dtype=object)[rng.integers(0, len(DISCONTINUATION_TERMS), n)]
    start = np.maximum(x["off"].to_numpy() - rng.integers(1, 8, n), 0)
    return pd.DataFrame(dict(
        s=x["s"].to_numpy(), start=start, end=start + rng.integers(10, 60, n), term=term,
        grade=3 + (rng.random(n) < 0.3), serious=rng.random(n) < 0.6, fatal=False,
        action_dara=WITHDRAWN, action_poma=WITHDRAWN, rel_dara=rng.random(n) < 0.6, rel_poma=rng.random(n) < 0.7,
        cause_of="EOT", cause_off=x["off"].to_numpy(),
    ))  # fmt: skip


def _fatal_events(ev: SafetyEvents, rng: np.random.Generator) -> pd.DataFrame:
    """One fatal AE per death whose cause is an adverse event, ending on the day of death; the drugs are
    withdrawn when the subject was still being dosed, else the action does not apply."""
    x = ev.deaths.loc[ev.deaths["cause"].isin(list(DEATH_CAUSE_TERMS))].reset_index(drop=True)
    n = len(x)
    term = np.empty(n, dtype=object)
    for cause, terms in DEATH_CAUSE_TERMS.items():
        hit = (x["cause"] == cause).to_numpy()
        term[hit] = np.array(terms, dtype=object)[rng.integers(0, len(terms), int(hit.sum()))]
    death = x["off"].to_numpy()
    start = np.maximum(death - rng.integers(1, 10, n), 0)
    on_treatment = ev.last_dose[x["s"].to_numpy()] + REPORTING_DAYS_AFTER_LAST_DOSE >= start
    action = np.where(on_treatment, WITHDRAWN, NOT_APPLICABLE)
    return pd.DataFrame(dict(
        s=x["s"].to_numpy(), start=start, end=death, term=term, grade=5, serious=True, fatal=True,
        action_dara=action, action_poma=action, rel_dara=rng.random(n) < 0.2, rel_poma=rng.random(n) < 0.2,
    ))  # fmt: skip


def _pre_existing_events(ev: SafetyEvents, rng: np.random.Generator) -> pd.DataFrame:
    """Events reported between the informed consent and the first dose (the AE log opens at consent), each
    with its grade at onset: most go on past the first dose, and half of those worsen by one grade on
    treatment (the grade of the form is then the worst one)."""
    dosed = np.flatnonzero(ev.last_dose > -BIG)
    s = dosed[rng.random(dosed.size) < PRE_EXISTING_RATE]
    n = s.size
    span = np.maximum(-ev.consent[s], 1)
    start = -1 - np.floor(rng.random(n) * span).astype(np.int64)
    continues = rng.random(n) < 0.6
    end = np.where(continues, rng.integers(3, 60, n), np.minimum(start + rng.integers(1, 10, n), -1))
    initial = 1 + (rng.random(n) < 0.4).astype(np.int64)
    grade = initial + (continues & (rng.random(n) < 0.5))
    term = np.array(PRE_EXISTING_TERMS, dtype=object)[rng.integers(0, len(PRE_EXISTING_TERMS), n)]
    action = np.where(continues, NOT_CHANGED, NOT_APPLICABLE)
    return pd.DataFrame(dict(
        s=s, start=start, end=end, term=term, grade=grade, initial_grade=initial, serious=False, fatal=False,
        action_dara=action, action_poma=action, rel_dara=False, rel_poma=False,
    ))  # fmt: skip


def _background_events(ev: SafetyEvents, rng: np.random.Generator) -> pd.DataFrame:
    """The common events of the treatment period (mostly grade 1-2, no action), a Poisson number per
    subject, starting between the first dose and 30 days after the last."""
    dosed = np.flatnonzero(ev.last_dose > -BIG)
    count = rng.poisson(3.0, dosed.size)
    s = np.repeat(dosed, count)
    n = s.size
    window = ev.last_dose[s] + REPORTING_DAYS_AFTER_LAST_DOSE + 1
    start = np.floor(rng.random(n) * window).astype(np.int64)
    terms = np.array(list(BACKGROUND_TERMS), dtype=object)
    weights = np.array(list(BACKGROUND_TERMS.values()), dtype=float)
    term = terms[rng.choice(terms.size, size=n, p=weights / weights.sum())]
    grade = np.select([rng.random(n) < 0.6, rng.random(n) < 0.85], [1, 2], 3)
    return pd.DataFrame(dict(
        s=s, start=start, end=start + rng.integers(2, 45, n), term=term, grade=grade,
        serious=(grade == 3) & (rng.random(n) < 0.3), fatal=False, action_dara=NOT_CHANGED,
        action_poma=NOT_CHANGED, rel_dara=rng.random(n) < 0.3, rel_poma=rng.random(n) < 0.35,
    ))  # fmt: skip


def build_adverse_events(
    ev: SafetyEvents, death_off: np.ndarray, cut_off: np.ndarray, streams: Streams
) -> pd.DataFrame:
    """Every adverse event as one row (s, start, end, term, soc, grade, serious, fatal, actions, relations,
    outcome, ongoing), none starting after the data cut-off or after death; an event not over by the cut-off
    (or by a death it did not cause) is ongoing, without an end date."""
    rng = streams("ae")
    ae = pd.concat(
        [
            _action_events(ev, rng),
            _discontinuation_events(ev, rng),
            _fatal_events(ev, rng),
            _background_events(ev, rng),
            _pre_existing_events(ev, streams("ae-pre-existing")),
        ],
        ignore_index=True,
    )
    s = ae["s"].to_numpy()
    fatal = ae["fatal"].to_numpy(dtype=bool)
    keep = (ae["start"].to_numpy() <= cut_off[s]) & (fatal | (ae["start"].to_numpy() < death_off[s]))
    ae = ae.loc[keep].reset_index(drop=True)
    s = ae["s"].to_numpy()
    fatal = ae["fatal"].to_numpy(dtype=bool)
    end = ae["end"].to_numpy()
    ongoing = ~fatal & ((end > cut_off[s]) | (end >= death_off[s]))
    resolved_rng = rng.random(len(ae))
    ae["ongoing"] = ongoing
    ae["end"] = np.where(ongoing, -BIG, end)
    ae["outcome"] = np.select(
        [fatal, ongoing, resolved_rng < 0.05],
        ["Fatal", "Not recovered/Not resolved", "Recovered/Resolved with sequelae"],
        "Recovered/Resolved",
    )
    ae["soc"] = ae["term"].map(SOC)
    # what an event caused (DARA/POMA: that dose action at cause_off; EOT: the end of treatment), as the
    # dosing and end-of-treatment forms cite it by the event's number on the subject's AE log
    ae["cause_of"] = ae["cause_of"].fillna("")
    ae["cause_off"] = ae["cause_off"].fillna(-BIG).astype(np.int64)
    ae["hospitalised"] = ae["serious"].to_numpy(dtype=bool) & ~fatal
    ae["life_threatening"] = ae["serious"].to_numpy(dtype=bool) & (ae["grade"].to_numpy() == 4)
    ae = ae.sort_values(["s", "start", "term"], kind="stable").reset_index(drop=True)
    ae["number"] = ae.groupby("s").cumcount().to_numpy() + 1  # the site's AE log number
    return ae


def _grade_text(grade: np.ndarray) -> np.ndarray:
    """CTCAE grades as the form writes them; "" where none was collected (NaN)."""
    values = np.asarray(grade, dtype=float)
    return np.where(np.isnan(values), "", np.nan_to_num(values).astype(np.int64).astype(str))


def adverse_events_form(
    ae: pd.DataFrame,
    ids: dict[str, np.ndarray],
    dates: Callable[[np.ndarray, np.ndarray], np.ndarray],
    rate: float,
    streams: Streams,
) -> pd.DataFrame:
    """adverse_events.csv as the site enters it (text; verbatim terms with the usual stray case/spaces)."""
    rng = np.random.default_rng(streams("ae").integers(0, 2**63))
    s = ae["s"].to_numpy()
    yes_no = np.array(["No", "Yes"], dtype=object)
    serious = ae["serious"].to_numpy(dtype=bool)

    def criterion(flag: np.ndarray) -> np.ndarray:
        return np.where(serious, yes_no[np.asarray(flag, dtype=bool).astype(int)], "")

    related = np.array(["Not related", "Related"], dtype=object)
    ongoing = ae["ongoing"].to_numpy(dtype=bool)
    return pd.DataFrame(
        {
            **{k: v[s] for k, v in ids.items()},
            "AE_NUMBER": ae["number"].astype(str).to_numpy(),
            "AE_TERM": dirty_text(ae["term"].to_numpy(), rng, rate),
            "AE_PT": ae["term"].to_numpy(), "AE_SOC": ae["soc"].to_numpy(),
            "START_DATE": dates(s, ae["start"].to_numpy()),
            "END_DATE": np.where(ongoing, "", dates(s, np.where(ongoing, 0, ae["end"].to_numpy()))),
            "ONGOING": yes_no[ae["ongoing"].to_numpy(dtype=bool).astype(int)],
            "CTCAE_GRADE": ae["grade"].astype(int).astype(str).to_numpy(),
            "ONSET_GRADE": _grade_text(ae["initial_grade"].to_numpy()),
            "SERIOUS": yes_no[serious.astype(int)],
            "SAE_DEATH": criterion(ae["fatal"].to_numpy()),
            "SAE_HOSP": criterion(ae["hospitalised"].to_numpy()),
            "SAE_LIFE": criterion(ae["life_threatening"].to_numpy()),
            "REL_DARA": related[ae["rel_dara"].to_numpy(dtype=bool).astype(int)],
            "REL_POMA": related[ae["rel_poma"].to_numpy(dtype=bool).astype(int)],
            "ACTION_DARA": ae["action_dara"].to_numpy(), "ACTION_POMA": ae["action_poma"].to_numpy(),
            "OUTCOME": ae["outcome"].to_numpy(),
            "_off": ae["start"].to_numpy(),
        }
    )  # fmt: skip


# -------------------------------------------------------------------------------------------- vital signs
VS_VISIT = r"^(SCR|C\d+D1|EOT)$"
"""Visits with vital signs: screening, day 1 of every cycle, end of treatment."""


def vital_signs_form(
    visits: pd.DataFrame,
    subjects: pd.DataFrame,
    ids: dict[str, np.ndarray],
    dates: Callable[[np.ndarray, np.ndarray], np.ndarray],
    streams: Streams,
) -> pd.DataFrame:
    """vital_signs.csv: one row per attended vital-signs visit (sitting blood pressure and pulse,
    temperature, weight; height at screening). A subject's values scatter around their own level: AL
    amyloidosis runs low blood pressures and a slowly falling weight."""
    rng = streams("vs")
    n = len(subjects)
    male = subjects["sex"].to_numpy() == "Male"
    level = {
        "sys": rng.normal(116, 14, n),
        "pulse": rng.normal(79, 10, n),
        "weight": np.where(male, rng.normal(78, 12, n), rng.normal(64, 11, n)),
        "height": np.where(male, rng.normal(174, 7, n), rng.normal(162, 6, n)),
    }
    v = visits.loc[visits["code"].str.match(VS_VISIT).to_numpy()].reset_index(drop=True)
    s, off = v["s"].to_numpy(), v["off"].to_numpy()
    m = len(v)
    sys = np.clip(np.rint(level["sys"][s] + rng.normal(0, 9, m)), 75, 190)
    dia = np.clip(np.rint(0.55 * sys + rng.normal(5, 6, m)), 40, 115)
    pulse = np.clip(np.rint(level["pulse"][s] + rng.normal(0, 8, m)), 45, 140)
    temp = np.round(rng.normal(36.7, 0.3, m), 1)
    weight = np.round(level["weight"][s] * (1 - 0.0004 * np.maximum(off, 0)) + rng.normal(0, 0.8, m), 1)
    screening = v["code"].to_numpy() == "SCR"
    return pd.DataFrame(
        {
            **{k: x[s] for k, x in ids.items()}, "VISIT": v["code"].to_numpy(),
            "VS_DATE": dates(s, off), "POSITION": "Sitting",
            "SYSBP": sys.astype(int).astype(str), "DIABP": dia.astype(int).astype(str),
            "PULSE": pulse.astype(int).astype(str), "TEMP": format_printf("%.1f", temp),
            "WEIGHT": format_printf("%.1f", weight),
            "HEIGHT": np.where(screening, format_printf("%.0f", np.rint(level["height"][s])), ""),
            "_off": off,
        }
    )  # fmt: skip


# ------------------------------------------------------------------------------------- safety laboratory
SAFETY_LAB_VISIT = r"^(SCR|C\d+D1|C\d+D15|EOT)$"
"""Visits with safety haematology and chemistry: screening, days 1 and 15 of every cycle, end of treatment."""

SAFETY_LAB_TESTS = (  # (LAB_TEST, unit, reference low, high, decimals)
    ("Haemoglobin", "g/dL", 12.0, 16.0, 1),
    ("White blood cells", "10^9/L", 4.0, 10.0, 1),
    ("Neutrophils", "10^9/L", 1.8, 7.5, 2),
    ("Platelets", "10^9/L", 150, 400, 0),
    ("ALT", "U/L", 7, 40, 0),
    ("AST", "U/L", 8, 40, 0),
    ("Bilirubin", "umol/L", 3, 21, 0),
)
CYTOPENIA_GRADES = {  # AE term -> lab test and the value range of each CTCAE v5.0 grade [low, high)
    "Neutropenia": ("Neutrophils", {1: (1.5, 1.8), 2: (1.0, 1.5), 3: (0.5, 1.0), 4: (0.1, 0.5)}),
    "Thrombocytopenia": ("Platelets", {1: (75, 150), 2: (50, 75), 3: (25, 50), 4: (10, 25)}),
    "Anaemia": ("Haemoglobin", {1: (10.0, 12.0), 2: (8.0, 10.0), 3: (6.5, 8.0), 4: (5.5, 6.5)}),
}
"""A cytopenia reported as an AE is what the blood count shows while it lasts, at its grade; without such an
event the count stays above the grade-2 limit (neutrophils >= 1.5, platelets >= 75, haemoglobin >= 10)."""


def _active_grade(ae: pd.DataFrame, term: str, s: np.ndarray, off: np.ndarray) -> np.ndarray:
    """Per lab sample (s, off): the highest grade of an AE `term` of the subject going on that day, else 0."""
    events = ae.loc[ae["term"].to_numpy() == term, ["s", "start", "end", "grade"]]
    samples = pd.DataFrame({"s": s, "off": off, "row": np.arange(s.size)})
    pairs = samples.merge(events, on="s")  # each sample beside each event of its subject
    last = np.where(pairs["end"].to_numpy() < 0, BIG, pairs["end"].to_numpy())  # ongoing: end -BIG
    on = (pairs["off"].to_numpy() >= pairs["start"].to_numpy()) & (pairs["off"].to_numpy() <= last)
    grade = np.zeros(s.size, dtype=np.int64)
    np.maximum.at(grade, pairs["row"].to_numpy()[on], pairs["grade"].to_numpy()[on].astype(np.int64))
    return grade


def safety_lab_form(
    visits: pd.DataFrame,
    subjects: pd.DataFrame,
    ae: pd.DataFrame,
    ids: dict[str, np.ndarray],
    dates: Callable[[np.ndarray, np.ndarray], np.ndarray],
    streams: Streams,
) -> pd.DataFrame:
    """safety_lab.csv: haematology and chemistry at the safety-lab visits, one row per sample and test; the
    blood counts agree with the cytopenias of the AE form (CYTOPENIA_GRADES)."""
    rng = streams("safety_lab")
    n = len(subjects)
    level = {
        "Haemoglobin": rng.normal(12.4, 1.0, n),
        "White blood cells": rng.normal(2.4, 0.5, n),  # the cells other than neutrophils
        "Neutrophils": rng.normal(3.6, 0.8, n),
        "Platelets": rng.normal(235, 45, n),
        "ALT": rng.normal(21, 6, n),
        "AST": rng.normal(23, 6, n),
        "Bilirubin": rng.normal(9, 3, n),
    }
    v = visits.loc[visits["code"].str.match(SAFETY_LAB_VISIT).to_numpy()].reset_index(drop=True)
    s, off = v["s"].to_numpy(), v["off"].to_numpy()
    m = len(v)
    value = {
        "Haemoglobin": np.clip(level["Haemoglobin"][s] + rng.normal(0, 0.5, m), 10.2, 17.0),
        "Neutrophils": np.clip(level["Neutrophils"][s] + rng.normal(0, 0.5, m), 1.55, 9.0),
        "Platelets": np.clip(level["Platelets"][s] + rng.normal(0, 25, m), 80, 520),
        "ALT": np.clip(level["ALT"][s] + rng.normal(0, 5, m), 6, 75),
        "AST": np.clip(level["AST"][s] + rng.normal(0, 5, m), 7, 75),
        "Bilirubin": np.clip(level["Bilirubin"][s] + rng.normal(0, 2, m), 2, 30),
    }
    for term, (test, ranges) in CYTOPENIA_GRADES.items():
        grade = _active_grade(ae, term, s, off)
        draw = rng.random(m)
        for g, (low, high) in ranges.items():
            hit = grade == g
            value[test][hit] = low + draw[hit] * (high - low) * 0.9  # inside the grade after rounding
    # white cells follow the neutrophils (lymphocytes, monocytes and the rest on top)
    others = np.clip(level["White blood cells"][s] + rng.normal(0, 0.3, m), 0.8, None)
    value["White blood cells"] = value["Neutrophils"] + others
    rows = []
    for test, unit, low, high, decimals in SAFETY_LAB_TESTS:
        rows.append(
            pd.DataFrame(
                {
                    **{k: x[s] for k, x in ids.items()}, "VISIT": v["code"].to_numpy(),
                    "COLL_DATE": dates(s, off), "LAB_TEST": test,
                    "RESULT": format_printf(f"%.{decimals}f", np.round(value[test], decimals)),
                    "UNIT": unit, "REF_LOW": f"{low:.{decimals}f}", "REF_HIGH": f"{high:.{decimals}f}",
                    "_off": off, "_test": [t for t, *_ in SAFETY_LAB_TESTS].index(test),
                }
            )
        )  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def cited_ae_numbers(
    ae: pd.DataFrame, cause: str, s: np.ndarray, off: np.ndarray | None = None
) -> np.ndarray:
    """The AE log number a form row cites for the event that caused it: rows (s, off) of a dose action of
    drug `cause` (DARA, POMA), or rows s of the end of treatment (`cause` EOT, off None); "" for a row no
    event caused."""
    events = ae.loc[ae["cause_of"].to_numpy() == cause]
    if off is None:
        numbers = dict(zip(events["s"], events["number"], strict=True))
        keys = list(s)
    else:
        numbers = dict(zip(zip(events["s"], events["cause_off"], strict=True), events["number"], strict=True))
        keys = list(zip(s, off, strict=True))
    return np.array([str(numbers[k]) if k in numbers else "" for k in keys], dtype=object)
