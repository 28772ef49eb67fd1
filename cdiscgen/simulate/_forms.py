"""CRF forms (as text DataFrames) from a simulation plan: lab values, dosing, questionnaires, dirt."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cdiscgen._distinct import compute_mapped

from ._layout import FORM_COLUMNS, RECORD_PREFIX
from ._plan import BIG, Plan, organ_state
from ._render import dirty_text, format_dates, format_fixed, format_partial, format_times, zero_padded
from ._safety import (
    SafetyEvents,
    adverse_events_form,
    build_adverse_events,
    cited_ae_numbers,
    safety_lab_form,
    vital_signs_form,
)

NOT_DONE = np.array(["Sample not received", "Sample haemolysed", "Insufficient volume"], dtype=object)
YES_NO = np.array(["No", "Yes"], dtype=object)


def _finish(df: pd.DataFrame, form: str, sort: list[str]) -> pd.DataFrame:
    """Sort by SUBJECT then the given hidden keys, number RECORD_ID, keep the documented columns."""
    df = df.sort_values(["SUBJECT", *sort], kind="stable").reset_index(drop=True)
    df["RECORD_ID"] = record_ids(form, 1, len(df))
    cols = FORM_COLUMNS[form]
    out = df.reindex(columns=list(cols)).fillna("")
    return out.astype("str")  # Arrow text, what the CSV writer takes: no Python object per value


def record_ids(form: str, first: int, count: int) -> pd.api.extensions.ExtensionArray:
    """RECORD_ID of `count` records of a form numbered from `first` (e.g. LAB-0000001), as Arrow text
    (assigned to a form's column by position)."""
    return (RECORD_PREFIX[form] + "-" + zero_padded(np.arange(first, first + count), 7)).array


class _Ctx:
    """Shared per-plan arrays for the form builders."""

    def __init__(self, plan: Plan, first_accession: int) -> None:
        self.plan = plan
        self.first_accession = first_accession
        self.d = plan.subj
        self.v = plan.visits
        self.cfg = plan.cfg
        self.study = plan.study
        self.fd = self.d["first_dose"].to_numpy().astype("datetime64[D]")
        self.fmt = self.d["date_fmt"].to_numpy()
        self.site = self.d["SITE"].to_numpy()
        self.subject = self.d["SUBJECT"].to_numpy()

    def dates(self, s: np.ndarray, days: np.ndarray) -> np.ndarray:
        return format_dates(days, self.fmt[s])

    def offset_dates(self, s: np.ndarray, off: np.ndarray) -> np.ndarray:
        """Dates `off` days after each subject's first dose, in the site's format."""
        return self.dates(s, self.fd[s] + np.asarray(off, dtype=np.int64).astype("timedelta64[D]"))

    def ids(self, s: np.ndarray) -> dict[str, np.ndarray]:
        return {"SITE": self.site[s], "SUBJECT": self.subject[s]}


# --------------------------------------------------------------------------------------------------
def enrollment(plan: Plan) -> pd.DataFrame:
    scr = plan.screened
    rng = plan.rng("forms")
    rate = plan.cfg["dirt"]["coded_text"]
    fmt = scr["date_fmt"].to_numpy()
    df = pd.DataFrame(
        {
            "SITE": scr["SITE"], "SUBJECT": scr["SUBJECT"], "COUNTRY": scr["country"],
            "CONSENT_DATE": format_dates(scr["consent"].to_numpy(), fmt),
            "BIRTH_DATE": format_dates(scr["birth"].to_numpy(), fmt),
            "SEX": dirty_text(scr["sex"].to_numpy(), rng, rate),
            "RACE": dirty_text(scr["race"].to_numpy(), rng, rate),
            "ETHNICITY": scr["ethnicity"].to_numpy(),
            "SCREEN_FAILURE": YES_NO[scr["screen_failure"].to_numpy().astype(int)],
            "SF_REASON": scr["sf_reason"].to_numpy(),
            "SF_CRITERION": _failed_criteria(scr["sf_reason"].to_numpy(), plan),
        }
    )  # fmt: skip
    return _finish(df, "enrollment", [])


def _failed_criteria(reasons: np.ndarray, plan: Plan) -> np.ndarray:
    """The eligibility criterion each screen failure failed (empty for a withdrawal of consent), from the
    criteria its reason allows (defaults.yaml), drawn from the plan's own "ie" stream."""
    rng = plan.rng("ie")
    allowed = plan.cfg["population"]["screen_failure_criteria"]
    out = np.full(len(reasons), "", dtype=object)
    for reason, criteria in allowed.items():
        hit = np.flatnonzero(reasons == reason)
        if criteria and hit.size:
            out[hit] = np.array(criteria, dtype=object)[rng.integers(0, len(criteria), hit.size)]
    return out


def baseline_disease(c: _Ctx) -> pd.DataFrame:
    d, rng = c.d, c.plan.rng("forms")
    rng = np.random.default_rng(rng.integers(0, 2**63))
    n = len(d)
    s = np.arange(n)
    rate = c.cfg["dirt"]["coded_text"]
    consent = d["consent"].to_numpy().astype("datetime64[D]")
    diag = consent - np.rint(d["diag_years"].to_numpy() * 365.25).astype("timedelta64[D]")
    partial = rng.random(n) < c.cfg["dirt"]["partial_diagnosis_date"]
    if not partial.any() and n:
        partial[int(rng.integers(0, n))] = True
    kind = np.where(partial, np.where(rng.random(n) < 0.7, 1, 2), 0)
    diag_txt = np.where(kind > 0, format_partial(diag, kind), c.dates(s, diag))
    yn = lambda col: YES_NO[d[col].to_numpy().astype(int)]  # noqa: E731
    df = pd.DataFrame(
        {
            **c.ids(s), "VISIT": "SCR", "ASSESS_DATE": c.dates(s, consent), "DIAGNOSIS_DATE": diag_txt,
            "ISOTYPE": dirty_text(d["isotype"].to_numpy(), rng, rate),
            "INVOLVED_LC": dirty_text(np.where(d["lambda"], "Lambda", "Kappa"), rng, rate),
            "HEART": yn("heart"), "KIDNEY": yn("kidney"), "LIVER": yn("liver"), "NERVE": yn("nerve"),
            "GI": yn("gi"), "SOFT_TISSUE": yn("soft_tissue"), "PRIOR_LINES": d["prior_lines"].astype(str),
            "PRIOR_ASCT": yn("prior_asct"), "MAYO_STAGE": d["mayo"].to_numpy(),
        }
    )  # fmt: skip
    return _finish(df, "baseline_disease", [])


FIRST_LINE_REGIMENS = ("Bortezomib + cyclophosphamide + dexamethasone", "Melphalan + dexamethasone")
LATER_LINE_REGIMENS = (
    "Melphalan + dexamethasone",
    "Bortezomib + melphalan + dexamethasone",
    "Lenalidomide + dexamethasone",
    "Ixazomib + dexamethasone",
    "Bendamustine + dexamethasone",
)
"""Anti-plasma-cell regimens of AL amyloidosis before this study (neither study drug: EXCL01)."""


def prior_therapy(c: _Ctx) -> pd.DataFrame:
    """prior_therapy.csv: one row per prior line (PRIOR_LINES of the baseline form), in order between the
    diagnosis and the consent, dated to the month as a history is. Own random stream: no other form moves."""
    d = c.d
    rng = c.plan.rng("prior")
    lines = d["prior_lines"].to_numpy().astype(np.int64)
    s = np.repeat(np.arange(len(d)), lines)
    line = np.concatenate([np.arange(1, k + 1) for k in lines]) if len(s) else np.zeros(0, dtype=np.int64)
    consent = d["consent"].to_numpy().astype("datetime64[D]")[s]
    diag = consent - np.rint(d["diag_years"].to_numpy()[s] * 365.25).astype("timedelta64[D]")
    span = (consent - diag).astype(np.int64) - 60  # the last line ends at least two months before consent
    slot = span // lines[s]
    start = diag + ((line - 1) * slot + rng.integers(0, 31, s.size)).astype("timedelta64[D]")
    length = np.minimum(rng.integers(90, 241, s.size), np.maximum(slot - 45, 30))
    stop = start + length.astype("timedelta64[D]")
    later = np.array(LATER_LINE_REGIMENS, dtype=object)[rng.integers(0, len(LATER_LINE_REGIMENS), s.size)]
    first = np.where(rng.random(s.size) < 0.8, FIRST_LINE_REGIMENS[0], FIRST_LINE_REGIMENS[1])
    month = np.ones(s.size, dtype=int)
    df = pd.DataFrame(
        {
            **c.ids(s), "LINE": line.astype(str), "REGIMEN": _new_regimens(np.where(line == 1, first, later), line),
            "START_DATE": format_partial(start, month), "STOP_DATE": format_partial(stop, month),
            "_line": line,
        }
    )  # fmt: skip
    return _finish(df, "prior_therapy", ["_line"])


def _new_regimens(regimen: np.ndarray, line: np.ndarray) -> np.ndarray:
    """A line of therapy is a new regimen: where a later line drew its predecessor's regimen (rows are a
    subject's lines in order), it takes the next later-line regimen instead."""
    out = regimen.copy()
    for number in range(2, int(line.max(initial=0)) + 1):
        rows = np.flatnonzero((line == number) & (out == np.roll(out, 1)))
        for row in rows:
            index = LATER_LINE_REGIMENS.index(out[row])
            out[row] = LATER_LINE_REGIMENS[(index + 1) % len(LATER_LINE_REGIMENS)]
    return out


# --------------------------------------------------------------------------------------------------
def dosing(c: _Ctx) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, pd.DataFrame]:
    """dara_admin and poma_cycle (not yet finished: they cite the AE log number of the event behind a dose
    action, known once the AE form is built), the last-dose offset per subject and the dose actions taken for
    an adverse event (s, off, end_off, drug, reason, action: what the AE form must account for)."""
    rng = c.plan.rng("dosing")
    co = c.cfg["course"]
    v = c.v.loc[c.v["dosing"].to_numpy()]
    s, off, code = v["s"].to_numpy(), v["off"].to_numpy(), v["code"].to_numpy()
    cyc = pd.Series(code).str.extract(r"^C(\d+)D(\d+)$").astype(int).to_numpy()
    not_given = (rng.random(len(v)) < co["dara_not_given"]) & (code != "C1D1")
    reasons = np.array(["Adverse event", "Patient decision", "Infection", "Logistic reasons"], dtype=object)
    dara = pd.DataFrame(
        {
            **c.ids(s), "VISIT": code, "CYCLE": cyc[:, 0].astype(str), "CYCLE_DAY": cyc[:, 1].astype(str),
            "ADMIN_DATE": c.dates(s, v["date"].to_numpy()),
            "ADMIN_TIME": format_times(np.where(not_given, -1, 570 + 5 * rng.integers(0, 66, len(v)))),
            "GIVEN": YES_NO[(~not_given).astype(int)],
            "DOSE_MG": np.where(not_given, "", format_fixed(np.full(len(v), c.study.dara_dose), 0)),
            "ROUTE": "Subcutaneous",
            "NOT_GIVEN_REASON": np.where(not_given, reasons[rng.integers(0, reasons.size, len(v))], ""),
            "_off": off, "_s": s,
        }
    )  # fmt: skip
    last = np.full(len(c.d), -BIG, dtype=np.int64)
    np.maximum.at(last, s[~not_given], off[~not_given])
    missed = not_given & np.isin(dara["NOT_GIVEN_REASON"].to_numpy(), ["Adverse event", "Infection"])
    actions = [
        pd.DataFrame({"s": s[missed], "off": off[missed], "end_off": off[missed], "drug": "DARA",
                      "reason": dara["NOT_GIVEN_REASON"].to_numpy()[missed], "action": "Drug interrupted"})
    ]  # fmt: skip
    # pomalidomide: one loop per cycle, vectorised over subjects
    stop_off = c.d["stop_off"].to_numpy()
    limit = np.minimum(np.where(stop_off >= BIG, BIG, stop_off - 1), c.d["cut_off"].to_numpy())
    limit = np.minimum(limit, c.d["death_off"].to_numpy() - 1).astype(np.int64)
    level = np.full(len(c.d), 0, dtype=np.int64)  # index into the dose levels
    doses = np.array([c.study.poma_dose, c.study.poma_dose - 1, c.study.poma_dose - 2])
    why = np.array(["Neutropenia", "Thrombocytopenia", "Fatigue", "Rash", "Infection"], dtype=object)
    segs = []
    for k in range(1, c.study.cycles + 1):
        rows = code == f"C{k}D1"
        ss, start = s[rows], off[rows]
        end = np.minimum(start + 20, limit[ss])
        ok = end >= start
        ss, start, end = ss[ok], start[ok], end[ok]
        m = ss.size
        red = (k > 1) & (rng.random(m) < co["poma_reduction"]) & (level[ss] < 2)
        level[ss] = level[ss] + red
        act1 = np.where(red, "Reduced", "None")
        rs1 = np.where(red, why[rng.integers(0, why.size, m)], "")
        intr = rng.random(m) < co["poma_interruption"]
        a = start + rng.integers(5, 15, m)
        b = a + rng.integers(3, 8, m)
        e1 = np.where(intr, np.minimum(a - 1, end), end)
        segs.append((ss, k, start, e1, doses[level[ss]], act1, rs1))
        i2 = intr & (a <= end)
        segs.append((ss[i2], k, a[i2], np.minimum(b[i2] - 1, end[i2]), np.zeros(int(i2.sum())), "Interrupted",
                     why[rng.integers(0, why.size, int(i2.sum()))]))  # fmt: skip
        i3 = i2 & (b <= end)
        red2 = i3 & (rng.random(m) < 0.3) & (level[ss] < 2)
        level[ss] = level[ss] + red2
        segs.append((ss[i3], k, b[i3], end[i3], doses[level[ss[i3]]], np.where(red2[i3], "Reduced", "Resumed"),
                     np.where(red2[i3], why[rng.integers(0, why.size, int(i3.sum()))], "")))  # fmt: skip
    parts = []
    for ss, k, st, en, dose, act, rsn in segs:
        why_given = np.asarray(rsn, dtype=object) != ""
        if np.ndim(rsn) and why_given.any():
            kind = np.broadcast_to(np.asarray(act, dtype=object), why_given.shape)[why_given]
            actions.append(
                pd.DataFrame({"s": ss[why_given], "off": st[why_given], "end_off": en[why_given], "drug": "POMA",
                              "reason": np.asarray(rsn, dtype=object)[why_given],
                              "action": np.where(kind == "Interrupted", "Drug interrupted", "Dose reduced")})
            )  # fmt: skip
        fd = c.fd[ss]
        parts.append(
            pd.DataFrame(
                {
                    **c.ids(ss), "CYCLE": str(k), "VISIT": f"C{k}D1",
                    "START_DATE": c.dates(ss, fd + st.astype("timedelta64[D]")),
                    "STOP_DATE": c.dates(ss, fd + en.astype("timedelta64[D]")),
                    "DOSE_MG": format_fixed(dose, 0), "ACTION": act, "REASON": rsn, "_off": st, "_s": ss,
                }
            )
        )  # fmt: skip
        given = dose > 0
        np.maximum.at(last, ss[given], en[given])
    poma = pd.concat(parts, ignore_index=True)
    dose_actions = pd.concat(actions, ignore_index=True)
    return dara, poma, last, dose_actions  # finished once the AE log numbers they cite are known


# --------------------------------------------------------------------------------------------------
def _prev_min(s: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Lowest earlier value per subject (rows already sorted by subject and time); +inf if none."""
    cm = pd.Series(x).groupby(s).cummin()
    return cm.groupby(s).shift(1).fillna(np.inf).to_numpy()


def _first_value(s: np.ndarray, mask: np.ndarray, x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    idx = np.flatnonzero(mask)
    first = idx[np.unique(s[idx], return_index=True)[1]]
    out[s[first]] = x[first]
    return out


def hem_values(c: _Ctx) -> pd.DataFrame:
    """Kappa, lambda, M-spike and IFE per hematologic visit row, following the effective state."""
    rng = c.plan.rng("labs")
    d = c.d
    n_s = len(d)
    h = c.v.loc[c.v["is_hem"].to_numpy()].reset_index(drop=True)
    s, st = h["s"].to_numpy(), h["state"].to_numpy()
    n = len(h)
    dbl, ubl, lam = d["dbl"].to_numpy()[s], d["ubl"].to_numpy()[s], d["lambda"].to_numpy()[s]
    hi = d["cls"].to_numpy()[s] == "DFLC>=50"
    nr_frac = rng.uniform(0.85, 0.97, n_s)[s]
    pr_frac = rng.uniform(0.22, 0.38, n_s)[s]
    vgpr_d = rng.uniform(10, 28, n_s)[s]
    low_d = rng.uniform(2, 7, n_s)[s]
    noise = rng.uniform(0.93, 1.07, n)
    base = h["baseline"].to_numpy()
    dd = np.select(
        [
            st == "BASE",
            np.isin(st, ["NR", "NE"]),
            st == "PR",
            st == "VGPR",
            st == "LOW-DFLC PR",
            st == "POST",
        ],
        [
            np.where(base, dbl, dbl * rng.uniform(0.92, 1.08, n)),
            np.where(hi, np.maximum(dbl * nr_frac * noise, 45.0), dbl * nr_frac * noise),
            np.maximum(dbl * pr_frac * noise, 46.0),
            vgpr_d * noise,
            low_d * noise,
            dbl * rng.uniform(0.1, 0.3, n),
        ],
        np.nan,
    )
    u = np.where(base, ubl, ubl * rng.uniform(0.9, 1.1, n))
    i = u + dd
    # complete response: uninvolved normal, ratio within the normal range with a margin
    cr = st == "CR"
    u_cr = np.where(lam, rng.uniform(6, 15, n), rng.uniform(8, 20, n))
    r = rng.uniform(0.5, 1.3, n)
    i = np.where(cr, np.where(lam, u_cr / r, u_cr * r), i)
    u = np.where(cr, u_cr, u)
    # progression: iFLC >= 1.8-2.6 x the nadir of baseline and earlier post-baseline assessments, > 115
    eligible = (base | (h["off"].to_numpy() > 0)) & np.isfinite(i) & ~h["missing"].to_numpy()
    nadir = _prev_min(s, np.where(eligible, i, np.inf))
    is_pd = st == "PD"
    i = np.where(is_pd, np.maximum(nadir * rng.uniform(1.8, 2.6, n), 115 * rng.uniform(1.0, 1.3, n)), i)
    pd_i = _first_value(s, is_pd, i, n_s)[s]
    i = np.where(st == "PROG", pd_i * rng.uniform(1.0, 1.4, n), i)
    miss = h["missing"].to_numpy()
    i, u = np.where(miss, np.nan, np.round(i, 1)), np.where(miss, np.nan, np.round(u, 1))
    h["kappa"], h["lambda"] = np.where(lam, u, i), np.where(lam, i, u)
    frac = np.clip((i - u) / dbl, 0, 3)
    clone = d["clone"].to_numpy()[s]
    mspike = np.where(cr | ~clone, 0.0, np.round(d["mspike_bl"].to_numpy()[s] * frac, 2))
    h["mspike"] = np.where(miss, np.nan, mspike)  # a sample not analysed has no M-protein, not 0.00
    h["frac"] = np.where(cr, 0.0, frac)
    h["serum_pos"] = clone & ~cr
    urine_bl = d["urine_pos"].to_numpy()[s]
    resp = np.isin(st, ["PR", "VGPR", "LOW-DFLC PR"])
    h["urine_pos"] = urine_bl & ~cr & (~resp | (rng.random(n) < 0.5))
    h["ratio"] = np.round(h["kappa"].to_numpy() / h["lambda"].to_numpy(), 3)
    return h


def organ_values(c: _Ctx, h: pd.DataFrame) -> pd.DataFrame:
    """NT-proBNP, troponin T, 24-h protein, eGFR/creatinine and urine M-protein per organ visit row."""
    rng = c.plan.rng("organ")
    d = c.d
    n_s = len(d)
    o = c.v.loc[c.v["is_organ"].to_numpy()].reset_index(drop=True)
    s, off, code = o["s"].to_numpy(), o["off"].to_numpy(), o["code"].to_numpy()
    n = len(o)
    t_eff = np.where((code == "EOT") & (off + 1 < o["t"].to_numpy()), off + 1, o["t"].to_numpy())
    scr = code == "SCR"
    card = np.where(scr, "BASE", organ_state(d, s, t_eff, "card"))
    ren = np.where(scr, "BASE", organ_state(d, s, t_eff, "ren"))
    miss = o["missing"].to_numpy()
    o["card"], o["ren"] = card, ren
    ntp_bl, tnt_bl = d["ntp_bl"].to_numpy()[s], d["tnt_bl"].to_numpy()[s]
    m_resp = np.minimum(0.55, 1 - 450 / np.maximum(ntp_bl, 1.0))
    ntp = np.select(
        [card == "BASE", card == "RESPONSE"],
        [ntp_bl, ntp_bl * m_resp * rng.uniform(0.92, 1.0, n)],
        ntp_bl * rng.uniform(0.92, 1.08, n),
    )
    small = tnt_bl < 20
    tnt = np.select(
        [card == "BASE", small, card == "RESPONSE"],
        [tnt_bl, tnt_bl, tnt_bl * rng.uniform(0.85, 0.95, n)],
        tnt_bl * rng.uniform(0.92, 1.08, n),
    )
    is_pd = card == "PD"
    ok = ~miss
    first_pd = is_pd & ok & (off == _first_value(s, is_pd & ok, off.astype(float), n_s)[s])
    ntp_n = _prev_min(s, np.where(ok & ~is_pd, ntp, np.inf))
    tnt_n = _prev_min(s, np.where(ok & ~is_pd, tnt, np.inf))
    ntp = np.where(first_pd, ntp_n * rng.uniform(1.6, 2.2, n) + 400, ntp)
    tnt = np.where(first_pd, tnt_n * rng.uniform(1.6, 2.0, n), tnt)
    later = is_pd & ~first_pd
    ntp = np.where(later, _first_value(s, first_pd, ntp, n_s)[s] * rng.uniform(1.0, 1.5, n), ntp)
    tnt = np.where(later, _first_value(s, first_pd, tnt, n_s)[s] * rng.uniform(1.0, 1.3, n), tnt)
    uloq = float(c.cfg["dirt"]["ntprobnp_uloq"])
    pd_rows = np.flatnonzero(is_pd & ok)
    if pd_rows.size and not (ntp[is_pd & ok] > uloq).any():
        top = pd_rows[np.argmax(ntp[pd_rows])]
        ntp[top] = rng.uniform(uloq * 1.02, uloq * 1.2)
    prot_bl, egfr_bl = d["prot_bl"].to_numpy()[s], d["egfr_bl"].to_numpy()[s]
    prot = np.select(
        [ren == "BASE", ren == "RESPONSE", ren == "PD", ren == "NE"],
        [prot_bl, prot_bl * rng.uniform(0.2, 0.55, n), prot_bl * rng.uniform(1.0, 1.5, n),
         prot_bl * rng.uniform(0.8, 1.25, n)],
        prot_bl * rng.uniform(0.88, 1.1, n),
    )  # fmt: skip
    egfr = np.select(
        [ren == "BASE", ren == "PD"],
        [egfr_bl, egfr_bl * rng.uniform(0.5, 0.68, n)],
        egfr_bl * rng.uniform(0.94, 1.06, n),
    )
    # serum creatinine that gives this eGFR (CKD-EPI 2021 inverted), as the lab reports it
    female = d["sex"].to_numpy()[s] == "Female"
    date = o["date"].to_numpy().astype("datetime64[D]")
    age = _age(d["birth"].to_numpy().astype("datetime64[D]")[s], date)
    k = np.where(female, 0.7, 0.9)
    a = np.where(female, -0.241, -0.302)
    cst = 142 * 0.9938**age * np.where(female, 1.012, 1.0)
    q = egfr / cst
    creat = np.round(np.where(q >= 1, k * q ** (1 / a), k * q ** (-1 / 1.2)), 2)
    creat = np.maximum(creat, 0.2)
    x = creat / k
    egfr_rep = np.rint(cst * np.minimum(x, 1) ** a * np.maximum(x, 1) ** -1.2)
    # urine M-protein follows the clone (from the hematologic row of the same visit, baseline otherwise)
    key = pd.MultiIndex.from_arrays([h["s"], h["code"], h["off"]])
    frac = pd.Series(h["frac"].to_numpy(), index=key)
    frac = frac[~frac.index.duplicated()]
    of = frac.reindex(pd.MultiIndex.from_arrays([s, code, off])).to_numpy()
    of = np.where(scr | np.isnan(of), 1.0, of)
    uprot = np.rint(d["uprot_bl"].to_numpy()[s] * of)
    for name, val in (("ntp", np.rint(ntp)), ("tnt", np.rint(tnt)), ("prot", np.round(prot, 2)),
                      ("creat", creat), ("egfr", egfr_rep), ("uprot", uprot)):  # fmt: skip
        o[name] = np.where(miss, np.nan, val)
    o["egfr_missing"] = ~miss & ~scr & (rng.random(n) < c.cfg["dirt"]["egfr_not_reported"])
    return o


def _age(birth: np.ndarray, date: np.ndarray) -> np.ndarray:
    by = birth.astype("datetime64[Y]").astype(int)
    dy = date.astype("datetime64[Y]").astype(int)
    bmd = (birth - birth.astype("datetime64[Y]")).astype(int)
    dmd = (date - date.astype("datetime64[Y]")).astype(int)
    return dy - by - (dmd < bmd)


# --------------------------------------------------------------------------------------------------
_TESTS: dict[str, tuple[str, str]] = {  # column -> (LAB_TEST, SPECIMEN)
    "kappa": ("Free Kappa LC", "Serum"), "lambda": ("Free Lambda LC", "Serum"), "ratio": ("Kappa/Lambda ratio", "Serum"),
    "mspike": ("M-protein (SPEP)", "Serum"), "ntp": ("NT-proBNP", "Serum"), "tnt": ("Troponin T hs", "Serum"),
    "creat": ("Creatinine", "Serum"), "egfr": ("eGFR (CKD-EPI 2021)", "Serum"),
    "prot": ("Protein, 24h urine", "Urine"), "uprot": ("M-protein 24h urine", "Urine"),
}  # fmt: skip


def _samples(c: _Ctx, h: pd.DataFrame, o: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """One row per (subject, visit, specimen) sample with accession, times and not-done reason."""
    keys = pd.concat([h[["s", "code", "off", "vnum", "missing"]], o[["s", "code", "off", "vnum", "missing"]]])
    keys = keys.drop_duplicates(["s", "code", "off"]).sort_values(["s", "off", "vnum"], kind="stable")
    sm = pd.concat([keys.assign(spec="Serum"), keys.assign(spec="Urine")], ignore_index=True)
    sm = sm.sort_values(["s", "off", "vnum", "spec"], kind="stable").reset_index(drop=True)
    numbers = np.arange(c.first_accession, c.first_accession + len(sm))
    sm["ACCESSION"] = "A" + pd.Series(numbers).astype(str).str.zfill(8)
    sm["time"] = 420 + 5 * rng.integers(0, 31, len(sm))
    sm["reason"] = np.where(sm["missing"], NOT_DONE[rng.integers(0, NOT_DONE.size, len(sm))], "")
    return sm


def central_lab(c: _Ctx, h: pd.DataFrame, o: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = c.plan.rng("dirt")
    dirt = c.cfg["dirt"]
    sm = _samples(c, h, o, rng).set_index(["s", "code", "off", "spec"])
    site_ord = c.d["site_ord"].to_numpy()
    female = c.d["sex"].to_numpy() == "Female"
    parts = []
    for col, (test, spec) in _TESTS.items():  # one loop per test column
        src = h if col in ("kappa", "lambda", "ratio", "mspike") else o
        if col == "egfr":
            src = src.loc[~src["egfr_missing"].to_numpy()]
        s = src["s"].to_numpy()
        x = src[col].to_numpy(dtype=float)
        part = pd.DataFrame({"s": s, "code": src["code"].to_numpy(), "off": src["off"].to_numpy(),
                             "vnum": src["vnum"].to_numpy(), "spec": spec, "LAB_TEST": test, "_t": col})  # fmt: skip
        dec, unit, lo, hi, txt = 1, "", np.nan, np.nan, np.full(len(s), "", dtype=object)
        if col in ("kappa", "lambda"):
            mgdl = site_ord[s] == dirt["flc_mg_dl_site"]
            lloq = float(dirt["flc_lloq"])
            ref = (3.3, 19.4) if col == "kappa" else (5.7, 26.3)
            below = x < lloq
            x = np.where(mgdl, x / 10, x)
            dec = np.where(mgdl, 2, 1)
            unit = np.where(mgdl, "mg/dL", "mg/L")
            lo, hi = np.where(mgdl, ref[0] / 10, ref[0]), np.where(mgdl, ref[1] / 10, ref[1])
            txt = np.where(below, np.where(mgdl, f"<{lloq / 10:g}", f"<{lloq:g}"), "")
        elif col == "ratio":
            dec, lo, hi = 3, np.full(len(s), c.study.ratio_low), np.full(len(s), c.study.ratio_high)
        elif col == "mspike":
            dec, unit = 2, "g/dL"
        elif col == "ntp":
            pmol = site_ord[s] == dirt["ntprobnp_pmol_site"]
            uloq = float(dirt["ntprobnp_uloq"])
            above = x > uloq
            x = np.where(pmol, x / 8.457, x)
            dec, unit = np.where(pmol, 1, 0), np.where(pmol, "pmol/L", "ng/L")
            hi = np.where(pmol, 14.8, 125.0)
            txt = np.where(above, np.where(pmol, f">{uloq / 8.457:.1f}", f">{uloq:g}"), "")
        elif col == "tnt":
            dec, unit, hi = 0, "ng/L", np.full(len(s), 14.0)
        elif col == "creat":
            dec, unit = 2, "mg/dL"
            lo, hi = np.where(female[s], 0.5, 0.7), np.where(female[s], 1.0, 1.2)
        elif col == "egfr":
            dec, unit, lo = 0, "mL/min/1.73m2", np.full(len(s), 90.0)
        elif col == "prot":
            mg = site_ord[s] == dirt["protein_mg_site"]
            x = np.where(mg, x * 1000, x)
            dec, unit, hi = np.where(mg, 0, 2), np.where(mg, "mg/24h", "g/24h"), np.where(mg, 150.0, 0.15)
        elif col == "uprot":
            dec, unit = 0, "mg/24h"
        res = format_fixed(x, dec)
        part["RESULT"] = np.where(txt != "", txt, res)
        part["UNIT"] = unit
        part["REF_LOW"] = format_fixed(np.broadcast_to(lo, len(s)), dec)
        part["REF_HIGH"] = format_fixed(np.broadcast_to(hi, len(s)), dec)
        parts.append(part)
    lab = pd.concat(parts, ignore_index=True)
    info = sm.reindex(pd.MultiIndex.from_arrays([lab["s"], lab["code"], lab["off"], lab["spec"]]))
    lab["ACCESSION"] = info["ACCESSION"].to_numpy()
    s, off = lab["s"].to_numpy(), lab["off"].to_numpy()
    urine24 = lab["_t"].isin(["prot", "uprot"]).to_numpy()
    tm = info["time"].to_numpy().astype(np.int64)
    day = c.fd[s] + off.astype("timedelta64[D]")
    start = np.where(urine24 & (lab["code"].to_numpy() != "SCR"), day - np.timedelta64(1, "D"), day)
    end_min = tm + 1440 + rng.integers(-30, 31, len(lab))
    lab["COLL_DATE"] = c.dates(s, start)
    lab["COLL_TIME"] = format_times(tm)
    lab["URINE_END_DATE"] = np.where(
        urine24, c.dates(s, start + (end_min // 1440).astype("timedelta64[D]")), ""
    )
    lab["URINE_END_TIME"] = np.where(urine24, format_times(end_min % 1440), "")
    lab["NOT_DONE_REASON"] = info["reason"].to_numpy()
    lab["VISIT"] = lab["code"]
    lab["SPECIMEN"] = lab["spec"]
    lab = lab.assign(**c.ids(s))
    lab["_dup"] = 0
    # records re-sent by the lab: same accession, test and result
    has = np.flatnonzero(lab["RESULT"].to_numpy() != "")
    n_dup = max(1, int(rng.binomial(has.size, dirt["duplicate_lab_record"]))) if has.size else 0
    dup = lab.iloc[np.sort(rng.choice(has, size=min(n_dup, has.size), replace=False))].assign(_dup=1)
    lab = pd.concat([lab, dup], ignore_index=True)
    test_order = {t: k for k, t in enumerate(_TESTS)}
    lab["_to"] = compute_mapped(lab["_t"], test_order)
    lab_out = _finish(lab, "central_lab", ["off", "vnum", "spec", "_to", "_dup"])
    # immunofixation, same accessions
    rate = dirt["coded_text"]
    iparts = []
    for spec, col in (("Serum", "serum_pos"), ("Urine", "urine_pos")):
        pos = h[col].to_numpy()
        band = np.where(spec == "Serum", c.d["isotype"].to_numpy()[h["s"]],
                        np.where(c.d["lambda"].to_numpy()[h["s"]], "Free lambda", "Free kappa"))  # fmt: skip
        miss = h["missing"].to_numpy()
        iparts.append(pd.DataFrame({
            "s": h["s"].to_numpy(), "code": h["code"].to_numpy(), "off": h["off"].to_numpy(),
            "vnum": h["vnum"].to_numpy(), "spec": spec,
            "IFE_RESULT": np.where(miss, "", np.where(pos, "Positive", "Negative")),
            "BAND_ISOTYPE": np.where(pos & ~miss, band, ""),
        }))  # fmt: skip
    ife = pd.concat(iparts, ignore_index=True)
    info = sm.reindex(pd.MultiIndex.from_arrays([ife["s"], ife["code"], ife["off"], ife["spec"]]))
    s = ife["s"].to_numpy()
    ife["ACCESSION"] = info["ACCESSION"].to_numpy()
    ife["NOT_DONE_REASON"] = info["reason"].to_numpy()
    ife["COLL_DATE"] = c.dates(s, c.fd[s] + ife["off"].to_numpy().astype("timedelta64[D]"))
    ife["VISIT"], ife["SPECIMEN"] = ife["code"], ife["spec"]
    ife = ife.assign(**c.ids(s))
    ife = _finish(ife, "immunofixation", ["off", "vnum", "spec"])
    ife["IFE_RESULT"] = dirty_text(ife["IFE_RESULT"].to_numpy(), rng, rate)
    ife["BAND_ISOTYPE"] = dirty_text(ife["BAND_ISOTYPE"].to_numpy(), rng, rate)
    return lab_out, ife


# --------------------------------------------------------------------------------------------------
_DISCORDANT = {
    "CR": "VGPR",
    "VGPR": "CR",
    "PR": "VGPR",
    "LOW-DFLC PR": "PR",
    "NR": "PR",
    "PD": "NR",
    "NE": "NR",
}


def response_assessment(c: _Ctx, h: pd.DataFrame, o: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Investigator assessments and the MRD form."""
    rng = c.plan.rng("forms")
    rng = np.random.default_rng(rng.integers(0, 2**63, 2)[1])
    dirt = c.cfg["dirt"]
    d = c.d
    s, off, st = h["s"].to_numpy(), h["off"].to_numpy(), h["state"].to_numpy()
    keep = (off > 0) & (off < d["nt_off"].to_numpy()[s]) & ~np.isin(st, ["PROG", "POST"])
    r = h.loc[keep].reset_index(drop=True)
    s = r["s"].to_numpy()
    hem = np.where(r["missing"].to_numpy(), "NE", r["state"].to_numpy()).astype(object)
    n = len(r)
    disc = rng.random(n) < dirt["investigator_discordance"]
    if n >= 20 and not disc.any():
        disc[int(rng.integers(0, n))] = True
    hem = np.where(disc, pd.Series(hem).map(_DISCORDANT).to_numpy(), hem)
    okey = pd.MultiIndex.from_arrays([o["s"], o["code"], o["off"]])
    ostate = pd.DataFrame({"card": o["card"].to_numpy(), "ren": o["ren"].to_numpy(), "miss": o["missing"].to_numpy()},
                          index=okey)  # fmt: skip
    ostate = ostate[~ostate.index.duplicated()]
    os_ = ostate.reindex(pd.MultiIndex.from_arrays([r["s"], r["code"], r["off"]]))
    has_o = os_["card"].notna().to_numpy()
    omiss = os_["miss"].fillna(False).to_numpy(dtype=bool)
    card_ev = d["card_ev"].to_numpy()[s]
    card = os_["card"].fillna("").to_numpy()
    card = np.where(card == "NR", np.where(card_ev, "NR", "NE"), card)
    ren = os_["ren"].fillna("").to_numpy()
    card = np.where(has_o, np.where(omiss, "NE", card), "")
    ren = np.where(has_o, np.where(omiss, "NE", ren), "")
    rate = dirt["coded_text"]
    df = pd.DataFrame({
        **c.ids(s), "VISIT": r["code"].to_numpy(), "ASSESS_DATE": c.dates(s, r["date"].to_numpy()),
        "HEM_RESPONSE": dirty_text(hem, rng, rate), "CARDIAC_RESPONSE": dirty_text(card, rng, rate),
        "RENAL_RESPONSE": dirty_text(ren, rng, rate), "_off": r["off"].to_numpy(), "_v": r["vnum"].to_numpy(),
    })  # fmt: skip
    rs = _finish(df, "response_assessment", ["_off", "_v"])
    # MRD at EOT in VGPR or better
    co = c.cfg["course"]
    eot = h.loc[(h["code"] == "EOT").to_numpy() & np.isin(h["state"].to_numpy(), ["CR", "VGPR"])
                & ~h["missing"].to_numpy()].reset_index(drop=True)  # fmt: skip
    s = eot["s"].to_numpy()
    u = d["mrd_u"].to_numpy()[s]
    p_neg = np.where(eot["state"].to_numpy() == "CR", co["mrd_negative"]["CR"], co["mrd_negative"]["VGPR"])
    status = np.where(
        u < p_neg, "Negative", np.where(u > 1 - co["mrd_not_evaluable"], "Not evaluable", "Positive")
    )
    sample = eot["off"].to_numpy() + rng.integers(0, 8, len(eot))
    sample = np.minimum(sample, np.minimum(d["cut_off"].to_numpy()[s], d["death_off"].to_numpy()[s] - 1))
    mrd = pd.DataFrame({
        **c.ids(s), "VISIT": "EOT", "SAMPLE_DATE": c.dates(s, c.fd[s] + sample.astype("timedelta64[D]")),
        "METHOD": "Next-generation flow", "MRD_STATUS": dirty_text(status, rng, rate),
        "SENSITIVITY": np.where(status == "Not evaluable", "", d["mrd_sens"].to_numpy()[s]),
    })  # fmt: skip
    return rs, _finish(mrd, "mrd", [])


def eq5d(c: _Ctx) -> pd.DataFrame:
    rng = c.plan.rng("qs")
    d = c.d
    q = c.v.loc[c.v["is_eq5d"].to_numpy()].reset_index(drop=True)
    s, n = q["s"].to_numpy(), len(q)
    h0 = np.select([d["mayo"] == "I", d["mayo"] == "II"], [0.8, 0.68], 0.55)[s] + rng.normal(0, 0.06, n)
    st = q["latent"].to_numpy()
    delta = np.select(
        [np.isin(st, ["CR", "VGPR"]), np.isin(st, ["PR", "LOW-DFLC PR"]), st == "PD"], [0.12, 0.07, -0.12], 0
    )
    card = organ_state(d, s, q["t"].to_numpy(), "card")
    delta = delta + np.where(
        q["code"].to_numpy() == "SCR", 0, np.select([card == "RESPONSE", card == "PD"], [0.05, -0.1], 0)
    )
    health = np.clip(h0 + delta + rng.normal(0, 0.05, n), 0.05, 0.98)
    cols = {}
    weights = {
        "MOBILITY": 1.0,
        "SELF_CARE": 0.6,
        "USUAL_ACTIVITIES": 1.1,
        "PAIN_DISCOMFORT": 0.9,
        "ANXIETY_DEPRESSION": 0.7,
    }
    for name, w in weights.items():  # one loop per item column
        item = np.clip(np.rint(1 + 4 * (1 - health) * w + rng.normal(0, 0.5, n)), 1, 5)
        item = np.where(rng.random(n) < c.cfg["dirt"]["eq5d_item_missing"], np.nan, item)
        cols[name] = format_fixed(item, 0)
    vas = np.clip(np.rint(100 * health + rng.normal(0, 6, n)), 0, 100)
    cols["VAS"] = format_fixed(np.where(rng.random(n) < c.cfg["dirt"]["eq5d_item_missing"], np.nan, vas), 0)
    df = pd.DataFrame({**c.ids(s), "VISIT": q["code"].to_numpy(), "QS_DATE": c.dates(s, q["date"].to_numpy()),
                       **cols, "_off": q["off"].to_numpy()})  # fmt: skip
    return _finish(df, "eq5d5l", ["_off"])


# --------------------------------------------------------------------------------------------------
def disposition(c: _Ctx, last_dose: np.ndarray) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame]:
    """end_of_treatment, end_of_study, death, subsequent_therapy, followup_contact; and what the AE form
    must account for: the ends of treatment for an adverse event (s, off) and the deaths (s, off, cause)."""
    rng = c.plan.rng("forms")
    rng = np.random.default_rng(rng.integers(0, 2**63, 3)[2])
    d, dirt = c.d, c.cfg["dirt"]
    n = len(d)
    fd = c.fd
    cut = d["cut_off"].to_numpy()

    def at(x: np.ndarray, who: np.ndarray | None = None) -> np.ndarray:
        base = fd if who is None else fd[who]
        return base + np.asarray(x, dtype=np.int64).astype("timedelta64[D]")

    stop = d["stop_off"].to_numpy()
    early = np.where(d["early_day"].to_numpy() >= BIG, BIG, d["early_day"].to_numpy() - 1)
    completed = d["completed"].to_numpy()
    eot_off = d["eot_off"].to_numpy()
    ended = np.where(completed, ~np.isnan(eot_off) | (last_dose + 8 <= cut), stop <= cut) & (last_dose >= 0)
    reason = np.select(
        [
            completed,
            d["pd_on_tx"].to_numpy() & (stop == d["pd_off"].to_numpy()),
            early == stop,
            d["withdrawn"].to_numpy(),
        ],
        ["Completed", "Progressive disease", "Death", "Withdrawal by subject"],
        "Adverse event",
    )
    e = np.flatnonzero(ended)
    eot_date = np.where(np.isnan(eot_off[e]), last_dose[e], np.nan_to_num(eot_off[e])).astype(np.int64)
    eot_date = np.where(reason[e] == "Death", stop[e], eot_date)  # treatment ended by death: the day of death
    eot = pd.DataFrame(
        {
            **c.ids(e),
            "EOT_DATE": c.dates(e, at(eot_date, e)),
            "LAST_DOSE_DATE": c.dates(e, at(last_dose[e], e)),
            "COMPLETED": YES_NO[completed[e].astype(int)],
            "REASON": reason[e],
            "AE_NUMBER": "",
        }
    )  # fmt: skip; the number is cited once the AE log is built
    # deaths
    death = d["death_off"].to_numpy()
    died = np.flatnonzero(death <= cut)
    part = rng.random(died.size) < dirt["partial_death_date"]
    forced = int(rng.integers(0, died.size)) if died.size and not part.any() else -1
    kind = np.where(rng.random(died.size) < 0.7, 1, 2)
    ddate = at(death[died], died)
    heart = d["heart"].to_numpy()[died]
    after_pd = d["pd_off"].to_numpy()[died] < death[died]
    cause = np.where(
        early[died] == death[died],
        np.where(heart, "Cardiac (amyloidosis)", "Infection"),
        np.where(after_pd, np.where(rng.random(died.size) < 0.6, "Disease progression", "Cardiac (amyloidosis)"),
                 np.array(["Other", "Infection", "Unknown", "Renal failure", "Cardiac (amyloidosis)"],
                          dtype=object)[rng.integers(0, 5, died.size)]),
    )  # fmt: skip
    # subsequent therapy
    nt = d["nt_off"].to_numpy()
    t_ = np.flatnonzero(nt <= cut)
    tp = rng.random(t_.size) < dirt["partial_therapy_date"]
    if t_.size and not tp.any():
        tp[int(rng.integers(0, t_.size))] = True
    ntd = at(nt[t_], t_)
    stx = pd.DataFrame({
        **c.ids(t_), "THERAPY": d["therapy"].to_numpy()[t_],
        "START_DATE": np.where(tp, format_partial(ntd, np.ones(t_.size, dtype=int)), c.dates(t_, ntd)),
        "REASON": np.where(d["pd_off"].to_numpy()[t_] < nt[t_], "Progression", "Insufficient response"),
    })  # fmt: skip
    # follow-up contacts: every attended follow-up visit, and a telephone contact reporting a death
    v = c.v
    fu = v.loc[v["code"].str.startswith("FU").to_numpy()]
    s = fu["s"].to_numpy()
    fuc = pd.DataFrame({**c.ids(s), "VISIT": fu["code"].to_numpy(), "CONTACT_DATE": c.dates(s, fu["date"].to_numpy()),
                        "CONTACT_TYPE": "Clinic visit", "VITAL_STATUS": "Alive", "_off": fu["off"].to_numpy()})  # fmt: skip
    fu_visits = [x for x in c.study.visits if x.code.startswith("FU")]
    fu_days = np.array([x.day for x in fu_visits])
    entered = ~np.isnan(eot_off[died])
    contact = death[died] + rng.integers(3, 21, died.size)
    ok = entered & (contact <= cut[died]) & ~d["withdrawn"].to_numpy()[died]
    nxt = np.clip(np.searchsorted(fu_days, contact + 1), 0, fu_days.size - 1)
    dd_ = died[ok]
    tel = pd.DataFrame({**c.ids(dd_), "VISIT": np.array([x.code for x in fu_visits], dtype=object)[nxt[ok]],
                        "CONTACT_DATE": c.dates(dd_, at(contact[ok], dd_)), "CONTACT_TYPE": "Telephone",
                        "VITAL_STATUS": "Dead", "_off": contact[ok]})  # fmt: skip
    fuc = pd.concat([fuc, tel], ignore_index=True)
    # one death date on every form (death, end of study, a fatal AE's end), written as the site knows it:
    # partial only where the site learned of the death in follow-up, never for a death on treatment
    may_be_partial = entered
    part &= may_be_partial
    candidates = np.flatnonzero(may_be_partial)
    if candidates.size and not part.any():  # the dirt occurs in every simulation that has such a death
        part[candidates[max(forced, 0) % candidates.size]] = True
    death_text = np.where(part, format_partial(ddate, kind), c.dates(died, ddate))
    reported = np.where(entered, np.minimum(contact, cut[died]), death[died])  # the day the site learned it
    dth = pd.DataFrame({**c.ids(died), "DEATH_DATE": death_text, "REPORT_DATE": c.dates(died, at(reported, died)),
                        "CAUSE": cause})  # fmt: skip
    # end of study: death > withdrawal > lost to follow-up > completed (the last follow-up visit attended)
    last_fu_code = fu_visits[-1].code if fu_visits else ""
    last_fu = v.loc[(v["code"] == last_fu_code).to_numpy()]
    comp_off = np.full(n, np.nan)
    comp_off[last_fu["s"].to_numpy()] = last_fu["off"].to_numpy()
    wd = d["withdrawn"].to_numpy()
    last_att = d["last_visit_off"].to_numpy()
    n_fu = d["n_fu"].to_numpy()
    missed_day = fu_days[np.clip(n_fu, 0, max(fu_days.size - 1, 0))] - 1 if fu_days.size else np.full(n, BIG)
    ltfu = d["ltfu"].to_numpy() & (missed_day + 30 <= cut) & (n_fu < fu_days.size)
    status = np.select([death <= cut, wd & (last_att <= cut), ltfu, ~np.isnan(comp_off)],
                       ["Death", "Withdrawal by subject", "Lost to follow-up", "Completed"], "")  # fmt: skip
    eos_off = np.select(
        [status == "Death", status == "Completed"], [death, np.nan_to_num(comp_off)], last_att
    )
    x = np.flatnonzero(status != "")
    # a death ends the study on the death date as the death form writes it (partial included)
    as_written = pd.Series(death_text, index=died).reindex(x).fillna("").to_numpy()
    eos_text = np.where(status[x] == "Death", as_written, c.dates(x, at(eos_off[x], x)))
    eos = pd.DataFrame({**c.ids(x), "EOS_DATE": eos_text, "STATUS": status[x]})
    ae_stop = e[reason[e] == "Adverse event"]
    discontinued = pd.DataFrame({"s": ae_stop, "off": stop[ae_stop]})
    deaths = pd.DataFrame({"s": died, "off": death[died], "cause": cause, "text": death_text})
    forms = {
        "end_of_treatment": _finish(eot, "end_of_treatment", []),
        "end_of_study": _finish(eos, "end_of_study", []),
        "death": _finish(dth, "death", []),
        "subsequent_therapy": _finish(stx, "subsequent_therapy", []),
        "followup_contact": _finish(fuc, "followup_contact", ["_off"]),
    }
    return forms, discontinued, deaths


def build_forms(plan: Plan, first_accession: int = 1) -> dict[str, pd.DataFrame]:
    """Every raw form of docs/raw-data.md as a DataFrame of text; the lab's sample accession numbers run
    on from `first_accession` (those of the blocks before, `next_accession`)."""
    c = _Ctx(plan, first_accession)
    h = hem_values(c)
    o = organ_values(c, h)
    dara, poma, last, dose_actions = dosing(c)
    lab, ife = central_lab(c, h, o)
    rs, mrd = response_assessment(c, h, o)
    forms: dict[str, Any] = {
        "enrollment": enrollment(plan),
        "baseline_disease": baseline_disease(c),
        "dara_admin": None,  # placed once the AE form is built (below)
        "poma_cycle": None,
        "central_lab": lab,
        "immunofixation": ife,
        "response_assessment": rs,
        "mrd": mrd,
        "eq5d5l": eq5d(c),
        "prior_therapy": prior_therapy(c),
    }
    ended, discontinued, deaths = disposition(c, last)
    forms.update(ended)
    forms["adverse_events"], events = adverse_events(
        c, SafetyEvents(dose_actions, discontinued, deaths, last, consent_offsets(c.d))
    )
    # a dose action or end of treatment for an adverse event cites the event by its AE log number
    dara["AE_NUMBER"] = cited_ae_numbers(events, "DARA", dara["_s"].to_numpy(), dara["_off"].to_numpy())
    poma["AE_NUMBER"] = cited_ae_numbers(events, "POMA", poma["_s"].to_numpy(), poma["_off"].to_numpy())
    forms["dara_admin"] = _finish(dara, "dara_admin", ["_off"])
    forms["poma_cycle"] = _finish(poma, "poma_cycle", ["_off"])
    eot = forms["end_of_treatment"]
    row_of = {subject: i for i, subject in enumerate(c.subject)}
    stopped = np.array([row_of[x] for x in eot["SUBJECT"]], dtype=np.int64)
    cited = cited_ae_numbers(events, "EOT", stopped)
    eot["AE_NUMBER"] = np.where(eot["REASON"].to_numpy() == "Adverse event", cited, "")
    forms["safety_lab"] = _finish(
        safety_lab_form(c.v, c.d, events, c.ids(np.arange(len(c.d))), c.offset_dates, c.plan.rng),
        "safety_lab",
        ["_off", "_test"],
    )
    forms["vital_signs"] = _finish(
        vital_signs_form(c.v, c.d, c.ids(np.arange(len(c.d))), c.offset_dates, c.plan.rng),
        "vital_signs",
        ["_off"],
    )
    return forms


def consent_offsets(d: pd.DataFrame) -> np.ndarray:
    """Per subject row: days from the first dose to the informed consent (negative)."""
    consent = d["consent"].to_numpy().astype("datetime64[D]")
    return (consent - d["first_dose"].to_numpy().astype("datetime64[D]")).astype(np.int64)


def adverse_events(c: _Ctx, events: SafetyEvents) -> tuple[pd.DataFrame, pd.DataFrame]:
    """adverse_events.csv, and the events behind it (what the safety lab's blood counts must agree with)."""
    d = c.d
    ae = build_adverse_events(events, d["death_off"].to_numpy(), d["cut_off"].to_numpy(), c.plan.rng)

    form = adverse_events_form(
        ae, c.ids(np.arange(len(d))), c.offset_dates, c.cfg["dirt"]["coded_text"], c.plan.rng
    )
    fatal = ae["fatal"].to_numpy(dtype=bool)  # ends on the death date as the death form writes it
    form.loc[fatal, "END_DATE"] = ae.loc[fatal, "s"].map(events.deaths.set_index("s")["text"]).to_numpy()
    return _finish(form, "adverse_events", ["_off"]), ae


def next_accession(forms: dict[str, pd.DataFrame], first_accession: int) -> int:
    """The first accession number after those the forms of a block use (`build_forms`)."""
    used = pd.concat([forms["central_lab"]["ACCESSION"], forms["immunofixation"]["ACCESSION"]])
    used = used[used != ""]
    return max(first_accession, int(used.str[1:].astype(int).max()) + 1 if len(used) else first_accession)
