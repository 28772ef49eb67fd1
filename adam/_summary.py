"""The endpoint summary of DOMAIN.md: rates with exact CIs and Kaplan-Meier figures, on EFFFL and SAFFL.

compute_* return plain dicts (JSON-ready, no NaN); write_summary renders summary.json (sorted keys)
and summary.html (tables and inline-SVG Kaplan-Meier plots). Output bytes depend only on the input.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cdiscgen._arrowtext import is_among
from cdiscgen._atomic import write_text_atomic

from ._errors import AdamInputError

log = logging.getLogger(__name__)
POPULATIONS = ("EFFFL", "SAFFL")
KM_PARAMS = ("PFS", "OS", "DOR", "TTHR", "TTCARDR", "TTRENR")
KM_NAMES = {
    "PFS": "Progression-free survival",
    "OS": "Overall survival",
    "DOR": "Duration of hematologic response",
    "TTHR": "Time to hematologic response",
    "TTCARDR": "Time to cardiac response (evaluable)",
    "TTRENR": "Time to renal response (evaluable)",
}
EQ5D_PARAMS = ("EQ5DIDX", "EQ5D0206", "EQ5DLSS")
"""The EQ-5D-5L parameters summarised by visit: index value, VAS, level sum score."""
#: The variables compute_endpoint_summary reads of each dataset (a partitioned run reads no others).
SUMMARY_COLUMNS = {
    "ADSL": ("USUBJID", *POPULATIONS, "CARDEVFL", "RENEVFL"),
    "ADRS": ("USUBJID", "PARAMCD", "AVISITN", "AVALC"),
    "ADTTE": ("USUBJID", "PARAMCD", "AVAL", "CNSR"),
    "ADAE": (
        "USUBJID",
        "TRTEMFL",
        "ATOXGRN",
        "AESER",
        "AESDTH",
        "AREL",
        "WDRWFL",
        "AEACN",
        "AEBODSYS",
        "AEDECOD",
    ),
    "ADQS": ("USUBJID", "PARAMCD", "PARAM", "AVISIT", "AVISITN", "AVAL", "CHG"),
}
PLOT_PARAMS = ("PFS", "OS")


def _num(x: object) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def compute_rate(k: int, n: int) -> dict:
    """Proportion k/n with its exact (Clopper-Pearson) 95% CI; n = 0 -> nulls."""
    if n == 0:
        return {"n": int(k), "N": 0, "rate": None, "ci_low": None, "ci_high": None}
    low, high = _clopper_pearson(int(k), int(n))
    return {"n": int(k), "N": int(n), "rate": k / n, "ci_low": low, "ci_high": high}


def _clopper_pearson(k: int, n: int, confidence_level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) limits of k/n: the p where P(X >= k) and P(X <= k) equal alpha/2, each
    found by Brent's method on the binomial tails. These are the calls, tolerances and tail functions of
    scipy.stats.binomtest(k, n).proportion_ci(method="exact"), so the limits are its limits to the bit
    (summary.json keeps every digit), without importing scipy.stats (half a second of every run's start)."""
    brentq = _brent_root()
    binom_cdf, binom_sf = _binomial_tails()
    alpha = (1 - confidence_level) / 2
    low = 0.0 if k == 0 else brentq(lambda p: binom_sf(k - 1, n, p) - alpha, 0, 1)
    high = 1.0 if k == n else brentq(lambda p: binom_cdf(k, n, p) - alpha, 0, 1)
    return float(low), float(high)


@functools.cache
def _brent_root() -> Callable[[Callable[[float], float], float, float], float]:
    """scipy.optimize.brentq(f, a, b) with its default tolerances (xtol 2e-12, rtol 4 machine epsilons, 100
    iterations; a NaN value of f is an error): scipy's compiled routine itself, loaded alone, as importing
    scipy.optimize loads every solver (0.2-0.35 s of each run); brentq where a scipy release lays it out
    otherwise."""
    routine = _scipy_brent_routine()
    if routine is None:  # a scipy release that lays it out otherwise
        from scipy.optimize import brentq

        return brentq
    rtol = 4 * float(np.finfo(float).eps)

    def root(f: Callable[[float], float], a: float, b: float) -> float:
        def checked(x: float) -> float:
            fx = f(x)
            if np.isnan(fx):
                raise ValueError(f"The function value at x={x} is NaN; solver cannot continue.")
            return fx

        return routine(checked, a, b, 2e-12, rtol, 100, (), False, True)

    return root


def _scipy_brent_routine() -> Callable[..., float] | None:
    """scipy.optimize._zeros._brentq, the C routine brentq calls, from its extension file (None if absent)."""
    import importlib.machinery
    import importlib.util

    import scipy

    folder = Path(scipy.__file__).parent / "optimize"
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = folder / f"_zeros{suffix}"
        if path.is_file():
            try:
                loader = importlib.machinery.ExtensionFileLoader("scipy.optimize._zeros", str(path))
                spec = importlib.util.spec_from_file_location(loader.name, str(path), loader=loader)
                if spec is None:
                    return None
                module = importlib.util.module_from_spec(spec)
                loader.exec_module(module)
                return getattr(module, "_brentq", None)
            except ImportError:
                return None
    return None


def _binomial_tails() -> tuple[Callable[..., float], Callable[..., float]]:
    """P(X <= k) and P(X > k) of Binomial(n, p): the ufuncs scipy.stats.binom evaluates (scipy.special's
    private _binom_cdf/_binom_sf; the public bdtr/bdtrc differ in the last bits), or binom itself where a
    scipy release no longer has them."""
    try:
        from scipy.special._ufuncs import _binom_cdf, _binom_sf
    except ImportError:  # pragma: no cover - depends on the scipy release
        from scipy.stats import binom

        return binom.cdf, binom.sf
    return _binom_cdf, _binom_sf


def _crossing(times: np.ndarray, curve: np.ndarray, p: float = 0.5) -> float | None:
    """Smallest time where the step curve drops below p; where it equals p on a step, the midpoint
    of that step's start and the next drop (SAS/R convention); never -> None."""
    below = np.flatnonzero(curve < p - 1e-12)
    equal = np.flatnonzero(np.abs(curve - p) <= 1e-12)
    if len(equal) and (not len(below) or equal[0] < below[0]):
        nxt = below[0] if len(below) else None
        return float(times[equal[0]]) if nxt is None else (float(times[equal[0]]) + float(times[nxt])) / 2
    return float(times[below[0]]) if len(below) else None


def _product_limit(
    t: np.ndarray, e: np.ndarray, confidence_level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Kaplan-Meier at each distinct time (events and censorings): the times, S(t) = prod (n_i - d_i) / n_i,
    and the pointwise log-log ("exponential Greenwood") band exp(-exp(log(-log S) +- z se)) with
    se^2 = sum d_i / (n_i (n_i - d_i)) / log(S)^2. NaN where the band is undefined (S = 1 or S = 0).

    Each quantity is computed in the order scipy.stats.ecdf computes it, so the figures are its figures to
    the bit (checked by the tests), without importing scipy.stats."""
    from scipy.special import ndtri

    if np.isnan(t).any():
        raise ValueError("Kaplan-Meier: a time to event is missing (NaN)")
    order = np.argsort(t)
    times, died = t[order], e[order].astype(np.int64)
    at_risk = np.arange(times.size, 0, -1)
    distinct = np.diff(times, prepend=-np.inf, append=np.inf) > 0
    first, last = distinct[:-1], distinct[1:]  # first and last record of each distinct time
    n = at_risk[first]
    d = np.diff(np.cumsum(died)[last], prepend=0)
    if e.all():  # nothing censored: S is the empirical 1 - F(t), which scipy.stats.ecdf computes as such
        surv = 1 - np.cumsum(d) / times.size
    else:
        surv = np.cumprod((n - d) / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = 1 / np.log(surv) ** 2 * np.cumsum(d / (n * (n - d)))
        z_se = ndtri(1 / 2 + confidence_level / 2) * np.sqrt(var)
        log_minus_log = np.log(-np.log(surv))
        low = np.exp(-np.exp(log_minus_log + z_se))
        high = np.exp(-np.exp(log_minus_log - z_se))
    return times[first], surv, low, high


def _check_times(records: pd.DataFrame, paramcd: str) -> None:
    """A time-to-event record without AVAL cannot be placed on the curve: an error naming it, not a gap."""
    missing = pd.to_numeric(records["AVAL"], errors="coerce").isna().to_numpy()
    if missing.any():
        raise AdamInputError(
            f"time to event {paramcd} has no AVAL: the Kaplan-Meier estimate needs every subject's time",
            dataset="ADTTE",
            variable="AVAL",
            usubjid=str(records["USUBJID"].to_numpy()[missing][0]),
        )


def compute_km(time: pd.Series | np.ndarray, event: pd.Series | np.ndarray, at: float | None = None) -> dict:
    """Kaplan-Meier estimate with log-log 95% CIs.

    Returns n, events, the step curve (event times and S), censoring times, the median with its
    Brookmeyer-Crowley 95% CI (lower limit: the first time the lower log-log pointwise band falls below
    0.5; upper limit: the first time the upper band does; None where a band never does, the band being
    undefined where S reaches 0), and S(at)
    with its log-log CI when ``at`` is given and inside the follow-up.
    """
    t = np.asarray(time, dtype="float64")
    e = np.asarray(event, dtype=bool)
    out: dict = {"n": int(len(t)), "events": int(e.sum())}
    if len(t) == 0:
        return out | {
            "median": None,
            "median_ci_low": None,
            "median_ci_high": None,
            "curve": {"time": [], "surv": []},
            "censor_times": [],
        }
    q, s, band_low, band_high = _product_limit(t, e)
    # the band is undefined where S is 1 (before the first event: it is 1 there) or 0 (the last subject at
    # risk had the event: not estimable, as in R's survfit and statsmodels; a limit it would set is NE)
    low = np.where(np.isnan(band_low) & (s >= 1.0), 1.0, band_low)
    high = np.where(np.isnan(band_high) & (s >= 1.0), 1.0, band_high)
    ev_times = np.isin(q, t[e])
    out["median"] = _crossing(q, s)
    # Brookmeyer-Crowley: the median's CI holds the times where 0.5 lies inside the pointwise band.
    # The lower band reaches 0.5 first (lower limit), the upper band last (upper limit); a band that
    # never falls below 0.5 leaves its limit unreached (None), e.g. the upper one when the median is.
    out["median_ci_low"] = _crossing(q, low)
    out["median_ci_high"] = _crossing(q, high)
    out["curve"] = {"time": [float(x) for x in q[ev_times]], "surv": [float(x) for x in s[ev_times]]}
    out["censor_times"] = [float(x) for x in np.sort(t[~e])]
    out["observed_times"] = [float(x) for x in np.sort(t)]
    if at is not None:
        inside = bool(t.max() >= at)
        idx = np.searchsorted(q, at, side="right") - 1
        if inside:
            out["surv_at"] = float(s[idx]) if idx >= 0 else 1.0
            out["surv_at_ci_low"] = _num(low[idx]) if idx >= 0 else None
            out["surv_at_ci_high"] = _num(high[idx]) if idx >= 0 else None
        else:
            out["surv_at"] = out["surv_at_ci_low"] = out["surv_at_ci_high"] = None
        out["at"] = float(at)
    return out


def _flag_rate(adrs: pd.DataFrame, ids: pd.Index, paramcd: str) -> dict:
    rec = adrs[(adrs["PARAMCD"] == paramcd) & is_among(adrs["USUBJID"], ids)]
    k = int(rec.loc[rec["AVALC"] == "Y", "USUBJID"].nunique())
    return compute_rate(k, len(ids))


def compute_concordance(
    adrs: pd.DataFrame, ids: pd.Index, derived: str, investigator: str, order: Sequence[str] = ()
) -> dict:
    """Agreement of the investigator's response with the derived one, per assessment (the same subject and
    analysis visit): pairs, the agreement rate with its exact CI, Cohen's kappa, the cross-table
    (investigator -> derived -> n), its categories (those of `order` first, in that order) and the
    assessments of either kind without the other."""
    cols = ["USUBJID", "AVISITN", "AVALC"]
    adrs = adrs.reindex(columns=[*cols, "PARAMCD"])  # an ADRS without visits has no pairs
    mine = adrs[(adrs["PARAMCD"] == derived) & is_among(adrs["USUBJID"], ids)][cols]
    theirs = adrs[(adrs["PARAMCD"] == investigator) & is_among(adrs["USUBJID"], ids)][cols]
    pairs = mine.merge(theirs, on=["USUBJID", "AVISITN"], suffixes=("_D", "_I"))
    n = len(pairs)
    agree = int((pairs["AVALC_D"] == pairs["AVALC_I"]).sum())
    table: dict = {}
    for (inv, der), count in pairs.groupby(["AVALC_I", "AVALC_D"]).size().items():
        table.setdefault(str(inv), {})[str(der)] = int(count)
    kappa = None
    if n:
        observed = agree / n
        p_inv = pairs["AVALC_I"].value_counts() / n
        p_der = pairs["AVALC_D"].value_counts() / n
        expected = float(
            sum(p_inv.get(c, 0.0) * p_der.get(c, 0.0) for c in sorted(set(p_inv.index) | set(p_der.index)))
        )
        kappa = (observed - expected) / (1 - expected) if expected < 1 else None
    seen = set(pairs["AVALC_D"]) | set(pairs["AVALC_I"])
    categories = [c for c in dict.fromkeys(order) if c in seen] + sorted(seen - set(order))
    return {
        "pairs": n,
        "categories": categories,
        "agreement": compute_rate(agree, n),
        "kappa": kappa,
        "table": table,
        "investigator_only": len(theirs) - n,
        "derived_only": len(mine) - n,
    }


def compute_questionnaire_by_visit(adqs: pd.DataFrame, ids: pd.Index, params: tuple[str, ...]) -> list[dict]:
    """Per parameter and analysis visit (AVISITN order): n, mean and SD of AVAL, and of the change from
    baseline (CHG) where there is one. An ADQS without analysis visits gives no table."""
    out = []
    adqs = adqs.reindex(columns=["USUBJID", "PARAMCD", "PARAM", "AVISIT", "AVISITN", "AVAL", "CHG"])
    rows = adqs[
        adqs["PARAMCD"].isin(params)
        & is_among(adqs["USUBJID"], ids)
        & adqs["AVISIT"].notna()
        & adqs["AVISIT"].ne("")
    ]
    for paramcd in params:
        one = rows[rows["PARAMCD"] == paramcd]
        if not len(one):
            continue
        visits = []
        for (avisitn, avisit), v in one.groupby(["AVISITN", "AVISIT"], sort=True):
            aval = pd.to_numeric(v["AVAL"], errors="coerce").dropna()
            chg = pd.to_numeric(v["CHG"], errors="coerce").dropna()
            visits.append(
                {
                    "avisit": str(avisit),
                    "avisitn": float(avisitn),
                    "n": int(len(aval)),
                    "mean": float(aval.mean()) if len(aval) else None,
                    "sd": float(aval.std()) if len(aval) > 1 else None,
                    "chg_n": int(len(chg)),
                    "chg_mean": float(chg.mean()) if len(chg) else None,
                    "chg_sd": float(chg.std()) if len(chg) > 1 else None,
                }
            )
        out.append({"paramcd": paramcd, "param": str(one["PARAM"].iloc[0]), "visits": visits})
    return out


def summary_applies(datasets: Mapping[str, pd.DataFrame], settings: Mapping) -> bool:
    """The endpoint summary is the response study's (DOMAIN.md): it needs ADRS, ADTTE and `response`."""
    return {"ADSL", "ADRS", "ADTTE"} <= set(datasets) and "response" in settings


def compute_endpoint_summary(
    adsl: pd.DataFrame,
    adrs: pd.DataFrame,
    adtte: pd.DataFrame,
    settings: Mapping,
    adae: pd.DataFrame | None = None,
    adqs: pd.DataFrame | None = None,
) -> dict:
    """Every figure of DOMAIN.md "Endpoint summary" on EFFFL (primary) and SAFFL (sensitivity); with
    ADAE, the treatment-emergent adverse events of the safety population (compute_safety_summary); with
    ADQS, the EQ-5D-5L by visit of the safety population."""
    year = float(settings.get("response", {}).get("year_days", 365.25))
    rank = list(settings["response"]["hematologic"]["rank"]) + ["DEATH"]
    # The figures read these variables alone: each selection below copies them, not every ADRS/ADTTE column.
    adrs = adrs.reindex(columns=["USUBJID", "PARAMCD", "AVISITN", "AVALC"])
    adtte = adtte.reindex(columns=["USUBJID", "PARAMCD", "AVAL", "CNSR"])
    summary: dict = {
        "month_days": year / 12,  # times are in days (AVAL); the report shows months, as the protocol
        "n_treated": int((adsl["SAFFL"] == "Y").sum()),
        "n_efficacy_evaluable": int((adsl["EFFFL"] == "Y").sum()),
        "populations": {},
    }
    for flag in POPULATIONS:
        pop = adsl[adsl[flag] == "Y"]
        ids = pd.Index(pop["USUBJID"])
        res: dict = {"N": int(len(ids))}
        res["crvgpr_c6"] = _flag_rate(adrs, ids, "CRVGPRC6")
        res["crvgpr_196"] = _flag_rate(adrs, ids, "CRVG196")
        res["concordance"] = compute_concordance(adrs, ids, "HEMRESP", "INVRESP", rank)
        res["orr"] = {f"C{c}": _flag_rate(adrs, ids, f"ORRC{c}") for c in (1, 3, 6)}
        bor = adrs[(adrs["PARAMCD"] == "BOR") & is_among(adrs["USUBJID"], ids)]["AVALC"]
        res["bor"] = {v: compute_rate(int((bor == v).sum()), len(ids)) for v in rank if v != "DEATH"}
        card = pd.Index(pop.loc[pop["CARDEVFL"] == "Y", "USUBJID"])
        ren = pd.Index(pop.loc[pop["RENEVFL"] == "Y", "USUBJID"])
        res["cardiac_response"] = _flag_rate(adrs, card, "CARDRSP")
        res["renal_response"] = _flag_rate(adrs, ren, "RENRSP")
        res["mrd_negative"] = _flag_rate(adrs, ids, "MRDNEG")
        km = {}
        for paramcd in KM_PARAMS:
            rec = adtte[(adtte["PARAMCD"] == paramcd) & is_among(adtte["USUBJID"], ids)].sort_values(
                "USUBJID"
            )
            at = year if paramcd in ("PFS", "OS") else None
            _check_times(rec, paramcd)
            one = compute_km(rec["AVAL"], rec["CNSR"] == 0, at=at)
            if paramcd not in PLOT_PARAMS:
                one.pop("curve", None)
                one.pop("censor_times", None)
                one.pop("observed_times", None)
            km[paramcd] = one
        res["km"] = km
        summary["populations"][flag] = res
    if adae is not None:
        summary["safety"] = compute_safety_summary(adsl, adae)
    if adqs is not None:
        treated = pd.Index(adsl.loc[adsl["SAFFL"] == "Y", "USUBJID"])
        summary["eq5d"] = compute_questionnaire_by_visit(adqs, treated, EQ5D_PARAMS)
    return summary


SAFETY_OVERVIEW = (
    ("any", "Any TEAE"),
    ("grade3", "TEAE of grade 3 or higher"),
    ("serious", "Serious TEAE"),
    ("fatal", "TEAE leading to death"),
    ("related", "TEAE related to study treatment"),
    ("withdrawn", "TEAE leading to withdrawal of a study drug"),
)
"""The rows of the TEAE overview: key -> label."""


def _count(ids: pd.Index, subjects: pd.Series) -> dict:
    """Subjects among `ids` with at least one record (USUBJID values `subjects`): n, N and the rate."""
    # a lookup in ids' own hash table (built once per Index): isin would convert ids value by value per call
    n = int((ids.get_indexer_for(subjects.unique()) >= 0).sum())
    return {"n": n, "N": int(len(ids)), "rate": n / len(ids) if len(ids) else None}


def _withdrawn(adae: pd.DataFrame) -> pd.Series:
    """Records where a study drug was withdrawn: the study's ADAE flag WDRWFL where it derives one (a study
    of several drugs, whose AEACN is MULTIPLE when the actions differ), else AEACN = DRUG WITHDRAWN."""
    if "WDRWFL" in adae.columns:
        return adae["WDRWFL"].astype(str) == "Y"
    return adae.get("AEACN", pd.Series("", index=adae.index)).astype(str).str.upper() == "DRUG WITHDRAWN"


def compute_safety_summary(adsl: pd.DataFrame, adae: pd.DataFrame) -> dict:
    """Treatment-emergent adverse events (TRTEMFL = Y) of the safety population (SAFFL = Y), counted in
    subjects: the overview (any, grade >= 3 by ATOXGRN, serious AESER = Y, fatal: grade 5 or AESDTH = Y,
    related AREL = RELATED, a study drug withdrawn: _withdrawn), by system organ class and preferred term (any grade
    and grade >= 3; ordered by descending subject count, then name) and each subject's worst grade."""
    ids = pd.Index(adsl.loc[adsl["SAFFL"] == "Y", "USUBJID"])
    te = adae[(adae["TRTEMFL"] == "Y") & is_among(adae["USUBJID"], ids)]
    grade = pd.to_numeric(
        te.get("ATOXGRN", pd.Series(np.nan, index=te.index)), errors="coerce"
    )  # none: no grade
    upper = {c: te[c].astype(str).str.upper() for c in ("AESER", "AESDTH", "AREL") if c in te.columns}
    no = pd.Series(False, index=te.index)
    masks = {
        "any": pd.Series(True, index=te.index),
        "grade3": grade >= 3,
        "serious": upper.get("AESER", no) == "Y",
        "fatal": (grade == 5) | (upper.get("AESDTH", no) == "Y"),
        "related": upper.get("AREL", no) == "RELATED",
        "withdrawn": _withdrawn(te),
    }
    overview = {key: _count(ids, te.loc[masks[key], "USUBJID"]) for key, _ in SAFETY_OVERVIEW}
    by_soc = []
    for soc, rows in te.groupby("AEBODSYS", sort=True):
        terms = [
            {
                "term": str(pt),
                "any": _count(ids, r["USUBJID"]),
                "grade3": _count(ids, r.loc[grade[r.index] >= 3, "USUBJID"]),
            }
            for pt, r in rows.groupby("AEDECOD", sort=True)
        ]
        terms.sort(key=lambda t: (-t["any"]["n"], t["term"]))
        by_soc.append(
            {
                "soc": str(soc),
                "any": _count(ids, rows["USUBJID"]),
                "grade3": _count(ids, rows.loc[grade[rows.index] >= 3, "USUBJID"]),
                "terms": terms,
            }
        )
    by_soc.sort(key=lambda s: (-s["any"]["n"], s["soc"]))
    worst = grade.groupby(te["USUBJID"]).max()
    worst_grade = {str(g): _count(ids, pd.Series(worst.index[worst == g])) for g in range(1, 6)}
    return {"N": int(len(ids)), "overview": overview, "by_soc": by_soc, "worst_grade": worst_grade}


# ---------------------------------------------------------------------------------------------- output


def _clean(obj: object) -> object:
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return _num(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _fmt(x: object, digits: int = 1) -> str:
    return "NE" if x is None else f"{x:.{digits}f}"


def _pct_ci(r: Mapping) -> str:
    if r.get("rate") is None:
        return f"{r['n']}/{r['N']}"
    return (
        f"{r['n']}/{r['N']} ({100 * r['rate']:.1f}%; 95% CI {100 * r['ci_low']:.1f}-{100 * r['ci_high']:.1f})"
    )


def _svg_km(name: str, km: Mapping, month: float) -> str:
    """A Kaplan-Meier step plot with censor ticks, axes in months (`month` days each) and a number-at-risk
    row, as inline SVG."""
    w, h, left, top, pw, ph = 640, 330, 60, 20, 540, 220
    times = km.get("curve", {}).get("time", [])
    surv = km.get("curve", {}).get("surv", [])
    cens = km.get("censor_times", [])
    tmax = max([*times, *cens, 1.0])
    step_months = 3 if tmax > 12 * month else 1
    step = step_months * month
    xmax = step * math.ceil(tmax / step)

    def x(t: float) -> float:
        return left + pw * t / xmax

    def y(s: float) -> float:
        return top + ph * (1 - s)

    path = [f"M{x(0):.2f},{y(1):.2f}"]
    for t, s in zip(times, surv, strict=True):
        path.append(f"H{x(t):.2f}V{y(s):.2f}")
    path.append(f"H{x(tmax):.2f}")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="Kaplan-Meier {html.escape(name)}">'
    ]
    parts.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    for s in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{left - 4}" y1="{y(s):.2f}" x2="{left}" y2="{y(s):.2f}" stroke="#333"/>')
        parts.append(
            f'<text x="{left - 8}" y="{y(s) + 4:.2f}" font-size="11" text-anchor="end">{s:.2f}</text>'
        )
    ticks = [k * step for k in range(round(xmax / step) + 1)]
    n_total = int(km.get("n", 0))
    for tk in ticks:
        parts.append(
            f'<line x1="{x(tk):.2f}" y1="{top + ph}" x2="{x(tk):.2f}" y2="{top + ph + 4}" stroke="#333"/>'
        )
        parts.append(
            f'<text x="{x(tk):.2f}" y="{top + ph + 16}" font-size="11" text-anchor="middle">{round(tk / month)}</text>'
        )
        at_risk = n_total if tk == 0 else _at_risk(km, tk)
        parts.append(
            f'<text x="{x(tk):.2f}" y="{top + ph + 58}" font-size="11" text-anchor="middle">{at_risk}</text>'
        )
    parts.append(
        f'<text x="{left + pw / 2:.2f}" y="{top + ph + 32}" font-size="12" text-anchor="middle">Months from the analysis start date</text>'
    )
    parts.append(f'<text x="{left - 14}" y="{top + ph + 58}" font-size="11" text-anchor="end">At risk</text>')
    parts.append(f'<path d="{"".join(path)}" fill="none" stroke="#1f4e9c" stroke-width="2"/>')
    for t in cens:
        idx = np.searchsorted(np.array(times, dtype="float64"), t, side="right") - 1
        s = surv[idx] if idx >= 0 else 1.0
        parts.append(
            f'<line x1="{x(t):.2f}" y1="{y(s) - 5:.2f}" x2="{x(t):.2f}" y2="{y(s) + 5:.2f}" stroke="#1f4e9c"/>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _at_risk(km: Mapping, t: float) -> int:
    return int(np.sum(np.asarray(km.get("observed_times", []), dtype="float64") >= t))


def _months(days: float | None, month: float) -> float | None:
    return None if days is None else days / month


def _n_pct(r: Mapping) -> str:
    return f"{r['n']} ({100 * r['rate']:.1f}%)" if r.get("rate") is not None else f"{r['n']}"


def _concordance_html(c: Mapping) -> list[str]:
    """Investigator vs derived hematologic response per assessment: agreement, kappa, cross-table."""
    kappa = "NE" if c.get("kappa") is None else f"{c['kappa']:.3f}"
    rows = [
        "<h3>Concordance of the investigator's response with the derived one (per assessment)</h3>",
        f"<p>{c['pairs']} assessments with both; agreement {_pct_ci(c['agreement'])}; Cohen's kappa {kappa}. "
        f"Investigator only: {c['investigator_only']}; derived only: {c['derived_only']}.</p>",
    ]
    categories = c["categories"]
    if categories:
        head = "".join(f"<th>{html.escape(d)}</th>" for d in categories)
        rows.append(f"<table><tr><th>Investigator (rows) / derived (columns)</th>{head}</tr>")
        for inv in categories:
            cells = "".join(f"<td>{c['table'].get(inv, {}).get(d, 0)}</td>" for d in categories)
            rows.append(f"<tr><th>{html.escape(inv)}</th>{cells}</tr>")
        rows.append("</table>")
    return rows


def _questionnaire_html(params: list, n_treated: int) -> list[str]:
    """The EQ-5D-5L by analysis visit: n, mean (SD) and the change from baseline."""
    rows = [f"<h2>EQ-5D-5L by visit: treated population (SAFFL = Y), N = {n_treated}</h2>"]
    for p in params:
        rows.append(f"<h3>{html.escape(p['param'])}</h3>")
        rows.append(
            "<table><tr><th>Visit</th><th>n</th><th>Mean (SD)</th><th>n (change)</th><th>Mean change (SD)</th></tr>"
        )
        for v in p["visits"]:
            rows.append(
                f"<tr><td>{html.escape(v['avisit'])}</td><td>{v['n']}</td><td>{_fmt(v['mean'], 3)} ({_fmt(v['sd'], 3)})</td>"
                f"<td>{v['chg_n']}</td><td>{_fmt(v['chg_mean'], 3)} ({_fmt(v['chg_sd'], 3)})</td></tr>"
            )
        rows.append("</table>")
    return rows


def _safety_html(safety: Mapping) -> list[str]:
    """The TEAE tables: overview, by SOC and preferred term, worst grade per subject."""
    rows = [
        f"<h2>Treatment-emergent adverse events: safety population (SAFFL = Y), N = {safety['N']}</h2>",
        "<p>Subjects with at least one event, n (%). Grades are CTCAE grades (ATOXGRN).</p>",
        "<table><tr><th>Subjects with</th><th>n (%)</th></tr>",
    ]
    for key, label in SAFETY_OVERVIEW:
        rows.append(f"<tr><td>{label}</td><td>{_n_pct(safety['overview'][key])}</td></tr>")
    rows.append("</table>")
    rows.append("<h3>TEAEs by system organ class and preferred term</h3>")
    rows.append(
        "<table><tr><th>System organ class / Preferred term</th><th>Any grade</th><th>Grade 3 or higher</th></tr>"
    )
    for soc in safety["by_soc"]:
        rows.append(
            f"<tr><th>{html.escape(soc['soc'])}</th><th>{_n_pct(soc['any'])}</th><th>{_n_pct(soc['grade3'])}</th></tr>"
        )
        for t in soc["terms"]:
            rows.append(
                f"<tr><td>&nbsp;&nbsp;{html.escape(t['term'])}</td><td>{_n_pct(t['any'])}</td><td>{_n_pct(t['grade3'])}</td></tr>"
            )
    rows.append("</table>")
    rows.append("<h3>Worst grade per subject</h3><table><tr><th>Worst CTCAE grade</th><th>n (%)</th></tr>")
    for g, r in safety["worst_grade"].items():
        rows.append(f"<tr><td>Grade {g}</td><td>{_n_pct(r)}</td></tr>")
    rows.append("</table>")
    return rows


def _html(summary: Mapping) -> str:
    rows = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Endpoint summary</title>',
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style>",
        "</head><body><h1>Endpoint summary</h1>",
        f"<p>N treated (SAFFL): {summary['n_treated']}; efficacy-evaluable (EFFFL): {summary['n_efficacy_evaluable']}</p>",
        f"<p>Times are in months of {summary['month_days']:g} days (a year of {12 * summary['month_days']:g} days / 12); "
        "NE: not estimable.</p>",
    ]
    month = float(summary["month_days"])
    for flag, res in summary["populations"].items():
        label = "efficacy-evaluable (primary)" if flag == "EFFFL" else "treated (sensitivity)"
        rows.append(
            f"<h2>{flag} = Y: {label}, N = {res['N']}</h2><table><tr><th>Endpoint</th><th>Result</th></tr>"
        )
        rows.append(f"<tr><td>CR+VGPR after cycle 6 (primary)</td><td>{_pct_ci(res['crvgpr_c6'])}</td></tr>")
        rows.append(
            f"<tr><td>CR+VGPR at any assessment by day 196 (sensitivity)</td><td>{_pct_ci(res['crvgpr_196'])}</td></tr>"
        )
        for c, r in res["orr"].items():
            rows.append(
                f"<tr><td>Overall hematologic response after cycle {c[1:]}</td><td>{_pct_ci(r)}</td></tr>"
            )
        for v, r in res["bor"].items():
            rows.append(f"<tr><td>Best response {html.escape(v)}</td><td>{_pct_ci(r)}</td></tr>")
        rows.append(
            f"<tr><td>Cardiac response by 6 months (evaluable)</td><td>{_pct_ci(res['cardiac_response'])}</td></tr>"
        )
        rows.append(
            f"<tr><td>Renal response by 6 months (evaluable)</td><td>{_pct_ci(res['renal_response'])}</td></tr>"
        )
        rows.append(f"<tr><td>MRD negative</td><td>{_pct_ci(res['mrd_negative'])}</td></tr>")
        for p, km in res["km"].items():
            low, mid, high = (
                _months(km.get(k), month) for k in ("median_ci_low", "median", "median_ci_high")
            )
            rows.append(
                f"<tr><td>{KM_NAMES.get(p, p)} ({p}): median months (95% CI), events/N</td><td>{_fmt(mid)} "
                f"({_fmt(low)}-{_fmt(high)}), {km['events']}/{km['n']}</td></tr>"
            )
            if "surv_at" in km:
                rows.append(
                    f"<tr><td>{p}: 12-month rate (95% CI)</td><td>{_fmt(km['surv_at'], 3)} "
                    f"({_fmt(km['surv_at_ci_low'], 3)}-{_fmt(km['surv_at_ci_high'], 3)})</td></tr>"
                )
        rows.append("</table>")
        rows.extend(_concordance_html(res["concordance"]))
        for p in PLOT_PARAMS:
            km = res["km"][p]
            rows.append(f"<h3>Kaplan-Meier: {p} ({flag})</h3>")
            rows.append(_svg_km(p, km, month))
    if "eq5d" in summary:
        rows.extend(_questionnaire_html(summary["eq5d"], summary["n_treated"]))
    if "safety" in summary:
        rows.extend(_safety_html(summary["safety"]))
    rows.append("</body></html>")
    return "\n".join(rows) + "\n"


def write_summary(summary: Mapping, out_dir: Path) -> list[Path]:
    """Write summary.json (sorted keys) and summary.html (tables + inline SVG KM plots) into out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clean = _clean(dict(summary))
    paths = []
    for name, content in (
        ("summary.json", json.dumps(clean, sort_keys=True, indent=2, allow_nan=False) + "\n"),
        ("summary.html", _html(clean)),
    ):
        paths.append(write_text_atomic(out_dir / name, content))
    return paths
