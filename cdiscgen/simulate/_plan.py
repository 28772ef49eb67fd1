"""The latent course of every subject and the visit plan that follows from it (no CRF text yet).

Everything here is vectorised over subjects or visit rows; a loop runs only over visit columns,
classes or cycles. Each concern draws from its own numpy Generator seeded from (seed, stream).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ._config import StudySettings

STREAMS = {"subjects": 1, "disease": 2, "course": 3, "visits": 4, "labs": 5, "organ": 6, "dosing": 7,
           "qs": 8, "dirt": 9, "forms": 10, "ae": 11, "vs": 12, "ie": 13, "safety_lab": 14, "prior": 15,
           "ae-pre-existing": 16}  # fmt: skip

RESPONDERS = ("CR", "VGPR", "PR", "LOW-DFLC PR")
RANK = {"CR": 0, "VGPR": 1, "PR": 2, "LOW-DFLC PR": 2, "NR": 3, "PD": 4, "NE": 5}
BIG = 10**6  # "never" in study days


def rng_for(seed: int, stream: str, block: int = 0) -> np.random.Generator:
    """One Generator per stream, seeded once from (seed, stream id), and the block number for the forms of
    a block after the first (`subject_blocks`)."""
    return np.random.default_rng([int(seed), STREAMS[stream], *([int(block)] if block else [])])


def quota(rng: np.random.Generator, n: int, probs: dict[Any, float]) -> np.ndarray:
    """Exactly round(n * p) of each category (largest remainder), in random order."""
    keys = list(probs)
    p = np.array([float(probs[k]) for k in keys])
    p = p / p.sum()
    raw = n * p
    base = np.floor(raw).astype(np.int64)
    order = np.argsort(-(raw - base), kind="stable")
    base[order[: n - int(base.sum())]] += 1
    arr = np.repeat(np.array(keys, dtype=object), base)
    return arr[rng.permutation(n)]


def choice(rng: np.random.Generator, n: int, probs: dict[Any, float]) -> np.ndarray:
    keys = list(probs)
    p = np.array([float(probs[k]) for k in keys])
    idx = rng.choice(len(keys), size=n, p=p / p.sum())
    return np.array(keys, dtype=object)[idx]


def _loguniform(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def _lognormal(
    rng: np.random.Generator, median: float, sigma: float, lo: float, hi: float, n: int
) -> np.ndarray:
    return np.clip(median * np.exp(rng.normal(0.0, sigma, n)), lo, hi)


@dataclass
class Plan:
    study: StudySettings
    cfg: dict[str, Any]
    seed: int
    sites: int
    screened: pd.DataFrame  # one row per screened subject
    subj: pd.DataFrame  # one row per enrolled (treated) subject, index = s
    visits: pd.DataFrame  # one row per attended visit (incl. UNS), columns s, code, t, off, date, ...
    courses: pd.DataFrame  # the public latent-course table
    block: int = 0  # which block of subjects this plan holds (`subject_blocks`); 0 also for the whole plan

    def rng(self, stream: str) -> np.random.Generator:
        """The Generator of a form-level stream for the subjects of this plan."""
        return rng_for(self.seed, stream, self.block)


# --------------------------------------------------------------------------------------------------
def _screened(study: StudySettings, cfg: dict[str, Any], n: int, seed: int, sites: int) -> pd.DataFrame:
    rng = rng_for(seed, "subjects")
    en, pop = cfg["enrolment"], cfg["population"]
    site_idx = rng.permutation(np.arange(n) % sites)
    first = study.start_date + np.timedelta64(int(en["first_consent_offset_days"]), "D")
    consent = first + rng.integers(0, int(en["enrolment_days"]) + 1, n).astype("timedelta64[D]")
    key = rng.random(n)
    order = np.lexsort((key, consent, site_idx))
    site_idx, consent = site_idx[order], consent[order]
    first_pos = np.searchsorted(site_idx, site_idx, side="left")
    number = np.arange(n) - first_pos + 1
    site = pd.Series(site_idx + 101).astype(str)
    width = max(3, len(str(int(number.max()))) if n else 3)
    subject = site + "-" + pd.Series(number).astype(str).str.zfill(width)
    age = np.clip(np.rint(rng.normal(pop["age_mean"], pop["age_sd"], n)), *pop["age_range"]).astype(int)
    birth = (
        consent
        - np.rint(age * 365.25).astype("timedelta64[D]")
        - rng.integers(1, 365, n).astype("timedelta64[D]")
    )
    sex = quota(rng, n, {"Male": pop["male"], "Female": 1 - pop["male"]})
    race = choice(rng, n, pop["race"])
    eth = choice(rng, n, pop["ethnicity"])
    sf = quota(rng, n, {True: pop["screen_failure"], False: 1 - pop["screen_failure"]}).astype(bool)
    sf_reason = np.where(sf, choice(rng, n, {r: 1.0 for r in pop["screen_failure_reasons"]}), "")
    countries, formats = en["countries"], en["date_formats"]
    return pd.DataFrame(
        {
            "SITE": site,
            "SUBJECT": subject,
            "site_ord": site_idx + 1,
            "country": np.array(countries, dtype=object)[site_idx % len(countries)],
            "date_fmt": np.array(formats, dtype=object)[site_idx % len(formats)],
            "consent": consent,
            "birth": birth,
            "sex": sex,
            "race": race,
            "ethnicity": eth,
            "screen_failure": sf,
            "sf_reason": sf_reason,
        }
    )


def _disease(study: StudySettings, cfg: dict[str, Any], scr: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Baseline disease and the latent course of every enrolled subject."""
    rng = rng_for(seed, "disease")
    pop, co = cfg["population"], cfg["course"]
    s = scr.loc[~scr["screen_failure"]].reset_index(drop=True)
    n = len(s)
    lam = quota(rng, n, {True: pop["lambda"], False: 1 - pop["lambda"]}).astype(bool)
    cls = quota(rng, n, pop["class_mix"])
    clone = np.ones(n, dtype=bool)
    ne = cls == "NOT EVALUABLE"
    if ne.any():
        clone[ne] = quota(
            rng, int(ne.sum()), {True: pop["ne_clone_visible"], False: 1 - pop["ne_clone_visible"]}
        )
    latent = np.empty(n, dtype=object)
    for c, probs in co["best_response"].items():
        sel = np.flatnonzero(cls == c)
        if c == "NOT EVALUABLE":
            vis = sel[clone[sel]]
            latent[sel] = "NE"
            latent[vis] = quota(rng, vis.size, probs)
        else:
            latent[sel] = quota(rng, sel.size, probs)
    dbl = np.where(
        cls == "DFLC>=50",
        np.where(
            latent == "PR",
            _loguniform(rng, *pop["dflc_pr_range"], n),
            _loguniform(rng, *pop["dflc_high_range"], n),
        ),
        np.where(
            cls == "LOW-DFLC", rng.uniform(*pop["dflc_low_range"], n), rng.uniform(*pop["dflc_ne_range"], n)
        ),
    )
    ubl = np.where(lam, _lognormal(rng, 8.0, 0.35, 3.0, 18.0, n), _lognormal(rng, 11.0, 0.3, 5.0, 22.0, n))
    supp = quota(
        rng, n, {True: pop["uninvolved_suppressed"], False: 1 - pop["uninvolved_suppressed"]}
    ).astype(bool)
    ubl = np.where(supp & clone, rng.uniform(0.2, 0.45, n), ubl)
    # "No visible clone" must also mean a normal baseline ratio: cap the small dFLC so that
    # kappa/lambda stays inside the normal range (kappa: 1 + d/u <= high; lambda: u/(u + d) >= low).
    ratio_cap = np.where(lam, ubl * (1.0 / study.ratio_low - 1.0), ubl * (study.ratio_high - 1.0)) * 0.9
    dbl = np.where(ne & ~clone, np.minimum(dbl, ratio_cap), dbl)
    heavy = choice(rng, n, pop["heavy_chain"])
    chain_word = np.where(lam, "lambda", "kappa")
    isotype = np.where(heavy == "Free", "Free " + chain_word, heavy.astype(str) + " " + chain_word)
    urine_pos = clone & (rng.random(n) < pop["urine_ife_positive"])
    mspike_bl = np.where((heavy != "Free") & clone, np.round(rng.uniform(0.1, 0.45, n), 2), 0.0)
    uprot_bl = np.where(urine_pos, rng.uniform(30, 180, n), 0.0)
    base_pat = choice(rng, n, co["baseline_samples"])
    heart = quota(rng, n, {True: pop["heart"], False: 1 - pop["heart"]}).astype(bool)
    very_high = heart & (rng.random(n) < pop["very_high_ntprobnp"])
    ntp = np.where(
        heart,
        np.where(very_high, rng.uniform(8050, 8450, n), _lognormal(rng, 2200, 0.7, 700, 7900, n)),
        _lognormal(rng, 250, 0.6, 60, 600, n),
    )
    tnt = np.where(heart, _lognormal(rng, 45, 0.5, 15, 250, n), _lognormal(rng, 9, 0.4, 3, 19, n))
    kidney = quota(rng, n, {True: pop["kidney"], False: 1 - pop["kidney"]}).astype(bool)
    prot = np.where(kidney, _lognormal(rng, 3.0, 0.7, 0.8, 12.0, n), rng.uniform(0.05, 0.3, n))
    egfr = np.where(kidney, rng.uniform(30, 95, n), rng.uniform(55, 105, n))
    n_high = (ntp >= pop["mayo_ntprobnp"]).astype(int) + (tnt >= pop["mayo_troponin_t_hs"]).astype(int)
    mayo = np.array(["I", "II", "IIIa"], dtype=object)[n_high]
    out = pd.DataFrame(
        {
            "SITE": s["SITE"],
            "SUBJECT": s["SUBJECT"],
            "lambda": lam,
            "cls": cls,
            "clone": clone,
            "latent": latent,
            "dbl": dbl,
            "ubl": ubl,
            "suppressed": supp & clone,
            "isotype": isotype,
            "urine_pos": urine_pos,
            "mspike_bl": mspike_bl,
            "uprot_bl": uprot_bl,
            "base_pat": base_pat,
            "heart": heart,
            "kidney": kidney,
            "liver": rng.random(n) < pop["liver"],
            "nerve": rng.random(n) < pop["nerve"],
            "gi": rng.random(n) < pop["gi"],
            "soft_tissue": rng.random(n) < pop["soft_tissue"],
            "ntp_bl": np.rint(ntp),
            "tnt_bl": np.rint(tnt),
            "prot_bl": np.round(prot, 2),
            "egfr_bl": egfr,
            "mayo": mayo,
            "prior_lines": choice(rng, n, pop["prior_lines"]).astype(int),
            "prior_asct": rng.random(n) < pop["prior_asct"],
            "diag_years": rng.uniform(0.7, 8.0, n),
        }
    )
    first_dose_gap = rng.integers(co_gap(cfg)[0], co_gap(cfg)[1] + 1, n)
    out["consent"] = s["consent"].to_numpy()
    out["first_dose"] = out["consent"].to_numpy() + first_dose_gap.astype("timedelta64[D]")
    out["birth"] = s["birth"].to_numpy()
    out["sex"] = s["sex"].to_numpy()
    out["date_fmt"] = s["date_fmt"].to_numpy()
    out["site_ord"] = s["site_ord"].to_numpy()
    return out


def co_gap(cfg: dict[str, Any]) -> tuple[int, int]:
    lo, hi = cfg["enrolment"]["consent_to_first_dose_days"]
    return int(lo), int(hi)


def _events(study: StudySettings, cfg: dict[str, Any], d: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Latent timing (nominal study days): response onsets, progression, deaths, stops, organ intent."""
    rng = rng_for(seed, "course")
    co = cfg["course"]
    n = len(d)
    lat, cls = d["latent"].to_numpy(), d["cls"].to_numpy()
    day = {v.code: v.day for v in study.visits}
    cd = study.cycle_days
    c = lambda k: 1 + (k - 1) * cd  # noqa: E731 - nominal day 1 of cycle k
    pr_day = np.where(rng.random(n) < co["pr_by_c2d1"], c(2), c(3))
    vgpr_day = np.where(rng.random(n) < co["vgpr_by_c3d1"], c(3), c(4))
    eot_day = day.get("EOT", c(study.cycles + 1))
    cr_choices = np.array([c(5), c(6), eot_day])
    cr_day = np.where(cls == "DFLC>=50", cr_choices[rng.integers(0, 3, n)],
                      np.array([c(4), c(5), c(6), eot_day])[rng.integers(0, 4, n)])  # fmt: skip
    pd_primary = np.where(lat == "PD", np.array([c(3), c(4)])[rng.integers(0, 2, n)], BIG)
    fu_days = np.array([v.day for v in study.visits if v.code.startswith("FU")] or [BIG])
    relapse = np.isin(lat, RESPONDERS) & (rng.random(n) < co["relapse_after_response"])
    relapse_day = np.where(relapse, fu_days[rng.integers(0, min(4, fu_days.size), n)], BIG)
    # deaths, stops (actual study days)
    high = d["ntp_bl"].to_numpy() > co["high_ntprobnp_threshold"]
    early = rng.random(n) < np.where(high, co["early_death_high_ntprobnp"], co["early_death"])
    early_day = np.where(early, rng.integers(*co["early_death_days"], n), BIG)
    u = rng.random(n)
    wd = u < co["withdrawal_on_treatment"]
    ae = (~wd) & (u < co["withdrawal_on_treatment"] + co["ae_discontinuation"])
    wd_day = np.where(wd, rng.integers(30, 150, n), BIG)
    ae_day = np.where(ae, rng.integers(20, 150, n), BIG)
    late = rng.random(n) < co["late_death"]
    late_day = np.where(late, rng.integers(200, int(fu_days.max()) + 30, n), BIG)
    pd_death = rng.random(n) < co["death_after_pd"]
    pd_death_gap = rng.integers(60, 400, n)
    ltfu = rng.random(n) < co["lost_to_followup"]
    ltfu_idx = np.where(ltfu, rng.integers(0, max(1, fu_days.size), n), BIG)
    nt_after_pd = rng.random(n) < co["new_therapy_after_pd"]
    nt_after_nr = rng.random(n) < co["new_therapy_after_nr"]
    nt_gap = rng.integers(*co["new_therapy_delay_days"], n)
    therapy = choice(rng, n, {t: 1.0 for t in co["therapies"]})
    # organ intent
    good = np.isin(lat, ("CR", "VGPR"))
    partial = np.isin(lat, ("PR", "LOW-DFLC PR"))
    card_ev = d["ntp_bl"].to_numpy() >= study.cardiac_evaluable
    cr_p = np.where(good, co["cardiac_response"]["good"], np.where(partial, co["cardiac_response"]["partial"],
                                                                    co["cardiac_response"]["other"]))  # fmt: skip
    poor = np.isin(lat, ("NR", "PD", "NE"))
    cpd = co["cardiac_pd"]
    cpd_p = np.where(~card_ev, cpd["not_evaluable"],
                     np.where(early, cpd["early_death"], np.where(poor, cpd["poor"], cpd["other"])))  # fmt: skip
    u2 = rng.random(n)
    card_intent = np.where(u2 < cpd_p, "PD", np.where(card_ev & (u2 < cpd_p + cr_p), "RESPONSE", "NR"))
    organ_days = np.array(
        [day[k] for k in study.organ_visits if k != "SCR" and not k.startswith("FU")] or [BIG]
    )
    card_onset = np.where(
        card_intent == "PD",
        np.where(early, organ_days[0], organ_days[rng.integers(0, organ_days.size, n)]),
        np.where(card_intent == "RESPONSE", organ_days[np.clip(rng.integers(1, organ_days.size + 1, n), 0,
                                                               organ_days.size - 1)], BIG),
    )  # fmt: skip
    ren_ev = d["prot_bl"].to_numpy() > study.renal_evaluable
    rr = co["renal_response"]
    rr_p = np.where(good, rr["good"], np.where(partial, rr["partial"], rr["other"]))
    rp_p = np.where(poor | early, co["renal_pd"]["poor"], co["renal_pd"]["other"])
    u3 = rng.random(n)
    ren_intent = np.where(
        ~ren_ev, "NE", np.where(u3 < rp_p, "PD", np.where(u3 < rp_p + rr_p, "RESPONSE", "NR"))
    )
    ren_onset = np.where(
        np.isin(ren_intent, ("PD", "RESPONSE")),
        organ_days[np.clip(rng.integers(1, organ_days.size + 1, n), 0, organ_days.size - 1)],
        BIG,
    )
    mrd_u = rng.random(n)
    mrd_sens = np.array(["1E-05", "1E-06", "1E-05", "1E-04"], dtype=object)[rng.integers(0, 4, n)]
    return pd.DataFrame(
        {
            "pr_day": pr_day, "vgpr_day": vgpr_day, "cr_day": cr_day, "pd_primary": pd_primary,
            "relapse_day": relapse_day, "early_day": early_day, "wd_day": wd_day, "ae_day": ae_day,
            "late_day": late_day, "pd_death": pd_death, "pd_death_gap": pd_death_gap, "ltfu_idx": ltfu_idx,
            "nt_after_pd": nt_after_pd, "nt_after_nr": nt_after_nr, "nt_gap": nt_gap, "therapy": therapy,
            "card_intent": card_intent, "card_onset": card_onset, "card_ev": card_ev,
            "ren_intent": ren_intent, "ren_onset": ren_onset, "ren_ev": ren_ev,
            "mrd_u": mrd_u, "mrd_sens": mrd_sens,
        }
    )  # fmt: skip


def hem_state(d: pd.DataFrame, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Latent hematologic state of subject rows `s` at nominal study day `t` (before truncation)."""
    lat = d["latent"].to_numpy()[s]
    cls = d["cls"].to_numpy()[s]
    dbl = d["dbl"].to_numpy()[s]
    pr_day, vgpr_day = d["pr_day"].to_numpy()[s], d["vgpr_day"].to_numpy()[s]
    cr_day = d["cr_day"].to_numpy()[s]
    state = np.where(cls == "NOT EVALUABLE", "NE", "NR").astype(object)
    resp = np.isin(lat, RESPONDERS)
    hi = cls == "DFLC>=50"
    pr_label = np.where(hi & (dbl < 105), "VGPR", np.where(hi, "PR", "LOW-DFLC PR"))
    state = np.where(resp & (cls != "NOT EVALUABLE") & (t >= pr_day), pr_label, state)
    state = np.where(np.isin(lat, ("VGPR", "CR")) & hi & (t >= vgpr_day), "VGPR", state)
    state = np.where((lat == "CR") & (t >= cr_day), "CR", state)
    state = np.where(t >= d["pd_primary"].to_numpy()[s], "PD", state)
    state = np.where(t >= d["relapse_day"].to_numpy()[s], "PD", state)
    return state


def _off(day: np.ndarray) -> np.ndarray:
    """Study day -> offset from the first dose, keeping BIG (never) as BIG."""
    day = np.asarray(day)
    return np.where(day >= BIG, BIG, day - 1)


def _first_by_subject(
    s: np.ndarray, mask: np.ndarray, value: np.ndarray, n: int, fill: float = BIG
) -> np.ndarray:
    out = np.full(n, fill, dtype=float)
    if mask.any():
        np.minimum.at(out, s[mask], value[mask].astype(float))
    return out


def _visit_plan(study: StudySettings, cfg: dict[str, Any], d: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Attended visits (scheduled + UNS) with their latent and effective states; updates `d` in place
    with the realised event days (study-day offsets from the first dose, 0 = first dose)."""
    rng = rng_for(seed, "visits")
    dirt = cfg["dirt"]
    n = len(d)
    fd = d["first_dose"].to_numpy().astype("datetime64[D]")
    cut_off = (study.cutoff - fd).astype(np.int64)  # last allowed offset
    sched = [v for v in study.visits]
    rows = []
    for v in sched:  # loop per visit column
        s = np.arange(n)
        if v.code == "SCR":
            off = (d["consent"].to_numpy().astype("datetime64[D]") - fd).astype(np.int64)
        elif v.code == "C1D1":
            off = np.zeros(n, dtype=np.int64)
        elif v.code == "EOT":
            off = v.day - 1 + rng.integers(-3, 11, n)
        else:
            lo, hi = v.window
            j = max(min(2, hi), 0) if v.code.startswith("C") else min(7, hi)
            off = v.day - 1 + rng.integers(-j, j + 1, n)
        rows.append(pd.DataFrame({"s": s, "code": v.code, "vnum": v.visitnum, "t": v.day, "off": off}))
    vis = pd.concat(rows, ignore_index=True)
    code = vis["code"].to_numpy()
    s = vis["s"].to_numpy()
    t = vis["t"].to_numpy()
    is_tx = np.isin(code, [v.code for v in sched if v.dosing])
    is_fu = pd.Series(code).str.startswith("FU").to_numpy()
    # primary progression stops treatment at the PD visit (nominal day pd_primary)
    early = _off(d["early_day"].to_numpy())
    wd, ae = _off(d["wd_day"].to_numpy()), _off(d["ae_day"].to_numpy())
    pdp_mask = is_tx & (t == d["pd_primary"].to_numpy()[s])
    pd_tx_off = _first_by_subject(s, pdp_mask, vis["off"].to_numpy(), n)
    other_stop = np.minimum(np.minimum(early, wd), ae).astype(float)
    pd_tx_off = np.where(pd_tx_off < other_stop, pd_tx_off, BIG)
    # last day a treatment visit may take place, and the first day without dosing
    last_visit_off = np.minimum(np.where(other_stop >= BIG, BIG, other_stop - 1), pd_tx_off)
    stop_off = np.minimum(other_stop, pd_tx_off)  # BIG = completed
    completed = stop_off >= BIG
    eot_off = np.where(completed, np.nan, stop_off + rng.integers(5, 15, n))
    eot_sched = vis.loc[code == "EOT", "off"].to_numpy()
    eot_off = np.where(completed, eot_sched, eot_off)
    has_eot = (eot_off < early) & ~((early < BIG) & (early <= stop_off))  # no EOT visit after a death stop
    # follow-up attendance and deaths
    late = _off(d["late_day"].to_numpy())
    death0 = np.minimum(early, late).astype(float)
    fu_codes = [v.code for v in sched if v.code.startswith("FU")]
    ltfu_idx = d["ltfu_idx"].to_numpy()
    fu_pos = pd.Series(code).map({c: i for i, c in enumerate(fu_codes)}).to_numpy()
    keep = np.ones(len(vis), dtype=bool)
    keep &= ~(is_tx & (vis["off"].to_numpy() > last_visit_off[s]))
    keep &= ~((code == "EOT") & ~has_eot[s])
    vis.loc[code == "EOT", "off"] = np.where(np.isnan(eot_off), 0, eot_off).astype(np.int64)
    off = vis["off"].to_numpy()
    withdrawn = d["wd_day"].to_numpy() < BIG
    keep &= ~(is_fu & (withdrawn[s] | ~has_eot[s] | (off <= eot_off[s] + 20)))
    keep &= ~(is_fu & (np.nan_to_num(fu_pos, nan=-1) >= ltfu_idx[s]))
    keep &= off < death0[s]
    keep &= off <= cut_off[s]
    vis = vis.loc[keep].reset_index(drop=True)
    # realised hematologic progression (first attended visit in a PD state)
    s, t, off, code = vis["s"].to_numpy(), vis["t"].to_numpy(), vis["off"].to_numpy(), vis["code"].to_numpy()
    hem_codes = set(study.hem_visits)
    pat = d["base_pat"].to_numpy()[s]
    is_hem = np.isin(code, list(hem_codes))
    is_hem &= ~((code == "SCR") & (pat == "C1D1")) & ~((code == "C1D1") & (pat == "SCR"))
    t_eff = np.where(code == "EOT", np.maximum(t, off + 1), t)  # early EOT: state at its actual day
    t_eff = np.where((code == "EOT") & (off + 1 < t), off + 1, t_eff)
    latent = np.where(np.isin(code, ["SCR", "C1D1"]), "BASE", hem_state(d, s, t_eff))
    pd_off = _first_by_subject(s, is_hem & (latent == "PD"), off, n)
    # deaths after progression; new therapy
    pd_death = d["pd_death"].to_numpy() & (pd_off < BIG)
    death = np.minimum(death0, np.where(pd_death, pd_off + d["pd_death_gap"].to_numpy(), BIG))
    eot_state = np.full(n, "", dtype=object)
    eot_rows = is_hem & (code == "EOT")
    eot_state[s[eot_rows]] = latent[eot_rows]
    nt = np.where(d["nt_after_pd"].to_numpy() & (pd_off < BIG), pd_off + d["nt_gap"].to_numpy(), BIG)
    nr_nt = d["nt_after_nr"].to_numpy() & (eot_state == "NR") & (pd_off >= BIG)
    nt = np.where(nr_nt, np.where(np.isnan(eot_off), BIG, eot_off) + 20 + d["nt_gap"].to_numpy(), nt)
    nt = np.where(nt < np.minimum(death, cut_off + 1), nt, BIG)
    vis = vis.loc[off < death[s]].reset_index(drop=True)
    # unscheduled visits: a repeat of the hematologic labs 5-12 days after an anchor visit
    s, off, code = vis["s"].to_numpy(), vis["off"].to_numpy(), vis["code"].to_numpy()
    anchor_ok = np.isin(code, ["C3D1", "C5D1", "C6D1"] + fu_codes)
    want = rng.random(n) < dirt["unscheduled_visit"]
    cand = np.flatnonzero(anchor_ok & want[s])
    if cand.size == 0 and anchor_ok.any():
        cand = np.flatnonzero(anchor_ok)[:1]
    cand = cand[np.argsort(rng.random(cand.size), kind="stable")]
    _, first = np.unique(s[cand], return_index=True)
    anchors = vis.iloc[np.sort(cand[first])]
    gap = rng.integers(5, 13, len(anchors))
    uns = pd.DataFrame(
        {"s": anchors["s"].to_numpy(), "code": study.unscheduled_code, "vnum": anchors["vnum"].to_numpy() + 0.01,
         "t": anchors["t"].to_numpy(), "off": anchors["off"].to_numpy() + gap}
    )  # fmt: skip
    us = uns["s"].to_numpy()
    ok = (uns["off"].to_numpy() < death[us]) & (uns["off"].to_numpy() <= cut_off[us])
    ok &= (uns["off"].to_numpy() <= last_visit_off[us]) | (uns["t"].to_numpy() >= study.visit("EOT").day + 1)
    vis = pd.concat([vis, uns.loc[ok]], ignore_index=True)
    vis = vis.sort_values(["s", "off", "vnum"], kind="stable").reset_index(drop=True)
    s, t, off, code = vis["s"].to_numpy(), vis["t"].to_numpy(), vis["off"].to_numpy(), vis["code"].to_numpy()
    pat = d["base_pat"].to_numpy()[s]
    uns_mask = code == study.unscheduled_code
    is_hem = np.isin(code, list(hem_codes)) | uns_mask
    is_hem &= ~((code == "SCR") & (pat == "C1D1")) & ~((code == "C1D1") & (pat == "SCR"))
    is_organ = np.isin(code, list(study.organ_visits))
    t_eff = np.where((code == "EOT") & (off + 1 < t), off + 1, t)
    latent = np.where(np.isin(code, ["SCR", "C1D1"]), "BASE", hem_state(d, s, t_eff)).astype(object)
    # effective state: first PD -> PD, later -> PROG; on/after new therapy -> POST
    is_pd = is_hem & (latent == "PD")
    first_pd = is_pd & (off == pd_off[s])
    state = latent.copy()
    state[is_pd & ~first_pd] = "PROG"
    post = off >= nt[s]
    state[post & is_hem] = "POST"
    # missing samples: whole post-baseline lab visits, never the first PD visit
    can_miss = (is_hem | is_organ) & ~np.isin(code, ["SCR", "C1D1"]) & ~first_pd
    missing = can_miss & (rng.random(len(vis)) < dirt["missing_sample"])
    if not missing.any() and can_miss.any():
        missing[np.flatnonzero(can_miss)[int(rng.integers(0, int(can_miss.sum())))]] = True
    vis["is_hem"], vis["is_organ"], vis["missing"] = is_hem, is_organ, missing
    vis["latent"], vis["state"] = latent, state
    vis["baseline"] = is_hem & (
        ((code == "C1D1") & np.isin(pat, ["C1D1", "BOTH"])) | ((code == "SCR") & (pat == "SCR"))
    )
    vis["date"] = fd[s] + off.astype("timedelta64[D]")
    vis["dosing"] = np.isin(code, [v.code for v in sched if v.dosing]) & (off < stop_off[s])
    vis["is_eq5d"] = np.isin(code, list(study.eq5d_visits))
    # realised subject-level days (offsets from the first dose)
    d["stop_off"], d["completed"], d["eot_off"] = stop_off, completed, np.where(has_eot, eot_off, np.nan)
    d["pd_off"], d["death_off"], d["nt_off"] = pd_off, death, nt
    d["cut_off"] = cut_off
    d["withdrawn"] = withdrawn
    d["pd_on_tx"] = pd_tx_off < BIG
    d["ae_stop"] = (ae <= stop_off) & (ae < BIG)
    last_att = vis.groupby("s")["off"].max().reindex(range(n)).to_numpy()
    d["last_visit_off"] = last_att
    fu_all = np.isin(code, fu_codes)
    n_fu = pd.Series(fu_all).groupby(s).sum().reindex(range(n), fill_value=0).to_numpy()
    d["ltfu"] = (ltfu_idx < BIG) & has_eot & ~withdrawn & (n_fu == ltfu_idx)
    d["n_fu"] = n_fu
    return vis


def _course_table(study: StudySettings, d: pd.DataFrame, vis: pd.DataFrame) -> pd.DataFrame:
    """The intended course per subject, derived from the plan (not from the CRF text)."""
    n = len(d)
    s = vis["s"].to_numpy()
    off = vis["off"].to_numpy()
    scored = (
        vis["is_hem"].to_numpy()
        & (off > 0)
        & (off < d["nt_off"].to_numpy()[s])
        & ~np.isin(vis["state"].to_numpy(), ["PROG", "POST"])
    )
    eff = np.where(vis["missing"].to_numpy(), "NE", vis["state"].to_numpy())
    eff = np.where(eff == "BASE", "NE", eff)
    rank = pd.Series(eff).map(RANK).to_numpy()
    best_rank = np.full(n, 99.0)
    np.minimum.at(best_rank, s[scored], rank[scored].astype(float))
    low = d["cls"].to_numpy() == "LOW-DFLC"
    best = np.select(
        [best_rank == 0, best_rank == 1, best_rank == 2, best_rank == 3, best_rank == 4],
        ["CR", "VGPR", np.where(low, "LOW-DFLC PR", "PR"), "NR", "PD"],
        "NE",
    ).astype(object)
    sday = off + 1
    out: dict[str, Any] = {}
    pd_day = d["pd_off"].to_numpy() + 1
    death_day = d["death_off"].to_numpy() + 1
    for cyc, target, lo, hi in study.landmarks:
        inwin = scored & (sday >= lo) & (sday <= hi)
        dist = np.abs(sday - target) * 2 - (sday > target)  # ties -> the later one... (later has smaller key)
        key = np.where(inwin, dist, 10**9)
        lm = np.full(n, "NE", dtype=object)
        order = np.lexsort((-sday, key, s))
        first = order[np.unique(s[order], return_index=True)[1]]
        chosen = first[key[first] < 10**9]
        lm[s[chosen]] = eff[chosen]
        lm = np.where(death_day < lo, "DEATH", lm)
        lm = np.where(pd_day < lo, "PD", lm)
        out[f"resp_c{cyc}"] = lm
    fd = d["first_dose"].to_numpy().astype("datetime64[D]")

    def as_day(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.where((x >= BIG) | np.isnan(x) | (x > d["cut_off"].to_numpy()), np.nan, x + 1)

    def as_date(x: np.ndarray) -> np.ndarray:
        dd = as_day(x)
        return np.where(
            np.isnan(dd), np.datetime64("NaT"), fd + np.nan_to_num(dd - 1).astype("timedelta64[D]")
        )

    organ = vis["is_organ"].to_numpy() & ~vis["missing"].to_numpy() & (off > 0)
    card_state = organ_state(d, s, vis["t"].to_numpy(), "card")
    ren_state = organ_state(d, s, vis["t"].to_numpy(), "ren")
    card_resp = _first_by_subject(s, organ & (card_state == "RESPONSE") & (sday <= 196), off, n)
    card_pd = _first_by_subject(s, organ & (card_state == "PD"), off, n)
    ren_resp = _first_by_subject(s, organ & (ren_state == "RESPONSE") & (sday <= 196), off, n)
    ren_pd = _first_by_subject(s, organ & (ren_state == "PD"), off, n)
    return pd.DataFrame(
        {
            "SUBJECT": d["SUBJECT"], "SITE": d["SITE"],
            "involved_chain": np.where(d["lambda"], "LAMBDA", "KAPPA"),
            "baseline_dflc": np.round(d["dbl"].to_numpy(), 1),
            "clone_visible": d["clone"].to_numpy(),
            "evaluability_class": d["cls"].to_numpy(),
            "latent_best_response": d["latent"].to_numpy(),
            "best_response": best,
            "resp_c1": out.get("resp_c1"), "resp_c3": out.get("resp_c3"), "resp_c6": out.get("resp_c6"),
            "first_dose_date": fd,
            "pd_day": as_day(d["pd_off"].to_numpy()), "pd_date": as_date(d["pd_off"].to_numpy()),
            "death_day": as_day(d["death_off"].to_numpy()), "death_date": as_date(d["death_off"].to_numpy()),
            "new_therapy_day": as_day(d["nt_off"].to_numpy()), "new_therapy_date": as_date(d["nt_off"].to_numpy()),
            "treatment_completed": d["completed"].to_numpy(),
            "cardiac_intent": d["card_intent"].to_numpy(), "cardiac_evaluable": d["card_ev"].to_numpy(),
            "cardiac_response_day": as_day(card_resp), "cardiac_pd_day": as_day(card_pd),
            "renal_intent": d["ren_intent"].to_numpy(), "renal_evaluable": d["ren_ev"].to_numpy(),
            "renal_response_day": as_day(ren_resp), "renal_pd_day": as_day(ren_pd),
            "baseline_ntprobnp": d["ntp_bl"].to_numpy(), "baseline_protein_24h": d["prot_bl"].to_numpy(),
        }
    )  # fmt: skip


def organ_state(d: pd.DataFrame, s: np.ndarray, t: np.ndarray, organ: str) -> np.ndarray:
    """Cardiac ("card") or renal ("ren") latent state at nominal day t: NR / RESPONSE / PD (NE: not
    evaluable for response and not progressing)."""
    intent = d[f"{organ}_intent"].to_numpy()[s]
    onset = d[f"{organ}_onset"].to_numpy()[s]
    st = np.where(t >= onset, intent, np.where(intent == "NE", "NE", "NR"))
    return np.where(st == "NE", "NE", st).astype(object)


def build_plan(study: StudySettings, cfg: dict[str, Any], subjects: int, seed: int, sites: int) -> Plan:
    scr = _screened(study, cfg, subjects, seed, sites)
    d = _disease(study, cfg, scr, seed)
    d = pd.concat([d, _events(study, cfg, d, seed)], axis=1)
    vis = _visit_plan(study, cfg, d, seed)
    courses = _course_table(study, d, vis)
    sf = scr.loc[scr["screen_failure"], ["SUBJECT", "SITE"]]
    courses = pd.concat(
        [courses.assign(screen_failure=False), sf.assign(screen_failure=True)], ignore_index=True
    )
    courses = courses.sort_values("SUBJECT", kind="stable").reset_index(drop=True)
    return Plan(
        study=study, cfg=cfg, seed=seed, sites=sites, screened=scr, subj=d, visits=vis, courses=courses
    )


def subject_blocks(plan: Plan, size: int) -> Iterator[Plan]:
    """The plan in blocks of about `size` screened subjects, in SUBJECT order (the order of every form),
    so that the forms can be drawn and written one block at a time. A block closes once it holds `size`
    subjects and at least one enrolled subject (the form builders draw for enrolled subjects); screen
    failures left over at the end join the last block. A plan of at most `size` subjects is one block, the
    plan itself."""
    subjects = sorted(plan.screened["SUBJECT"])
    if len(subjects) <= size:
        yield plan
        return
    enrolled = set(plan.subj["SUBJECT"])
    blocks: list[list[str]] = [[]]
    for subject in subjects:
        if len(blocks[-1]) >= size and enrolled.intersection(blocks[-1]):
            blocks.append([])
        blocks[-1].append(subject)
    if len(blocks) > 1 and not enrolled.intersection(blocks[-1]):
        blocks[-2].extend(blocks.pop())
    for number, block in enumerate(blocks):
        yield _restricted(plan, set(block), number)


def _restricted(plan: Plan, subjects: set[str], number: int) -> Plan:
    """The plan of the given subjects only, as block `number`: enrolled subjects renumbered 0.. in their
    order, their visits pointing at the new numbers."""
    keep = plan.subj["SUBJECT"].isin(subjects).to_numpy()
    renumbered = np.full(keep.size, -1, dtype=np.int64)
    renumbered[keep] = np.arange(int(keep.sum()))
    visit_kept = keep[plan.visits["s"].to_numpy()]
    visits = plan.visits.loc[visit_kept].reset_index(drop=True)
    visits["s"] = renumbered[visits["s"].to_numpy()].astype(plan.visits["s"].dtype)
    return replace(
        plan,
        screened=plan.screened.loc[plan.screened["SUBJECT"].isin(subjects)].reset_index(drop=True),
        subj=plan.subj.loc[keep].reset_index(drop=True),
        visits=visits,
        courses=plan.courses.loc[plan.courses["SUBJECT"].isin(subjects)].reset_index(drop=True),
        block=number,
    )
