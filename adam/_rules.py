"""The AL amyloidosis response criteria of DOMAIN.md as small pure, vectorised functions.

Every threshold and its comparison operator come from ``settings["response"]`` (format
``{op: ">=", value: 50}``). Comparisons are made without rounding and without dividing: a relative
rule "(ref - x) / ref > 0.5" is tested as ``(ref - x) * den  >  num * ref`` with ``num/den`` the exact
decimal fraction of the configured value, so boundary values such as a 50% reduction behave exactly
as written. A missing operand (NaN) never satisfies a rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

import numpy as np
import pandas as pd

OPS = ("<", "<=", ">", ">=")

CR, VGPR, PR, LOWPR, NR, PD, NE, DEATH = "CR", "VGPR", "PR", "LOW-DFLC PR", "NR", "PD", "NE", "DEATH"
CLASS_MEASURABLE, CLASS_LOW, CLASS_NE = "DFLC>=50", "LOW-DFLC", "NOT EVALUABLE"
RESPONSE = "RESPONSE"


def _fraction(value: float | int) -> Fraction:
    return Fraction(str(value))


def compute_threshold(lhs: pd.Series | np.ndarray | float, rule: Mapping, ref: object = 1.0) -> np.ndarray:
    """True where ``lhs <op> value * ref``; the value's exact decimal fraction avoids rounding.

    ``rule`` is ``{op, value}``; ``ref`` scales the threshold (1 for absolute thresholds, a baseline or
    a nadir for relative ones). NaN on either side gives False. Both sides are compared after
    multiplying out the fraction; two sides that differ only by binary floating-point representation
    (relative 1e-12, e.g. 0.6 x 2 vs 0.4 x 3) count as equal, so decimal boundaries behave as written.
    """
    op = str(rule["op"])
    frac = _fraction(rule["value"])
    left = np.asarray(lhs, dtype="float64") * frac.denominator
    right = np.asarray(ref, dtype="float64") * frac.numerator
    with np.errstate(invalid="ignore"):
        tol = 1e-12 * np.maximum(np.abs(left), np.abs(right))
        diff = left - right
        equal = np.abs(diff) <= tol
        result = {
            "<": (diff < 0) & ~equal,
            "<=": (diff < 0) | equal,
            ">": (diff > 0) & ~equal,
            ">=": (diff > 0) | equal,
        }[op]
    return np.asarray(result, dtype=bool) & ~np.isnan(left) & ~np.isnan(right)


def compute_ratio_normal(ratio: pd.Series | np.ndarray, hem: Mapping) -> np.ndarray:
    """Kappa/lambda ratio inside the inclusive normal range (NaN -> False)."""
    r = np.asarray(ratio, dtype="float64")
    low, high = float(hem["ratio_normal"]["low"]), float(hem["ratio_normal"]["high"])
    with np.errstate(invalid="ignore"):
        return (r >= low) & (r <= high)


def compute_ratio_abnormal(ratio: pd.Series | np.ndarray, hem: Mapping) -> np.ndarray:
    """Ratio present and outside the normal range."""
    r = np.asarray(ratio, dtype="float64")
    return ~np.isnan(r) & ~compute_ratio_normal(r, hem)


def compute_involved_chain(isotype: pd.Series, ratio: pd.Series, hem: Mapping) -> pd.Series:
    """Involved light chain at baseline: the light-chain word of the isotype, else the ratio side.

    ``isotype`` is the baseline MPIGISO text (serum, else urine; "" = no band). Without a band a ratio
    below the normal range means LAMBDA, above it KAPPA; otherwise "" (not evaluable).
    """
    iso = isotype.astype("string").fillna("").str.upper()
    r = ratio.astype("float64")
    low, high = float(hem["ratio_normal"]["low"]), float(hem["ratio_normal"]["high"])
    out = pd.Series("", index=isotype.index, dtype="str")
    out = out.mask(r > high, "KAPPA").mask(r < low, "LAMBDA")
    kappa_pos = iso.str.find("KAPPA")
    lambda_pos = iso.str.find("LAMBDA")
    has_k, has_l = (kappa_pos >= 0).to_numpy(bool), (lambda_pos >= 0).to_numpy(bool)
    kappa_first = has_k & (~has_l | (kappa_pos < lambda_pos).to_numpy(bool))
    out = out.mask(has_l & ~kappa_first, "LAMBDA").mask(kappa_first, "KAPPA")
    return out


def compute_evaluability_class(dflc_bl: pd.Series, invlc: pd.Series, hem: Mapping) -> pd.Series:
    """Evaluability class, first match: DFLC>=50, LOW-DFLC, NOT EVALUABLE (also without an involved chain)."""
    ev = hem["evaluability"]
    chain = invlc.astype("string").fillna("") != ""
    measurable = compute_threshold(dflc_bl, ev["dflc_measurable"]) & chain.to_numpy(bool)
    low = compute_threshold(dflc_bl, ev["dflc_low"]) & chain.to_numpy(bool) & ~measurable
    out = pd.Series(CLASS_NE, index=dflc_bl.index, dtype="str")
    return out.mask(low, CLASS_LOW).mask(measurable, CLASS_MEASURABLE)


def compute_pd_before_cr(comp: pd.DataFrame, hem: Mapping) -> np.ndarray:
    """PD rule before any CR: iFLC, serum M-spike or urine M-protein rise vs nadir (current excluded).

    ``comp`` columns: IFLC, NADIR_IFLC, MSPIKE, NADIR_MSPIKE, UMPROT, NADIR_UMPROT.
    """
    pd_ = hem["pd"]
    iflc = compute_threshold(comp["IFLC"], pd_["iflc_factor"], comp["NADIR_IFLC"]) & compute_threshold(
        comp["IFLC"], pd_["iflc_min"]
    )
    mspike = compute_threshold(
        comp["MSPIKE"], pd_["mspike_factor"], comp["NADIR_MSPIKE"]
    ) & compute_threshold(comp["MSPIKE"], pd_["mspike_min"])
    uprot = compute_threshold(comp["UMPROT"], pd_["uprot_factor"], comp["NADIR_UMPROT"]) & compute_threshold(
        comp["UMPROT"], pd_["uprot_min"]
    )
    return iflc | mspike | uprot


def compute_pd_from_cr(comp: pd.DataFrame, hem: Mapping) -> np.ndarray:
    """PD rule after a CR: a positive serum or urine IFE, or an abnormal ratio with iFLC >= 2 x nadir_CR.

    ``comp`` columns: SIFE, UIFE (POSITIVE/NEGATIVE/""), RATIO, IFLC, NADIR_CR.
    """
    ife = (comp["SIFE"] == "POSITIVE").to_numpy(bool) | (comp["UIFE"] == "POSITIVE").to_numpy(bool)
    ratio = compute_ratio_abnormal(comp["RATIO"], hem) & compute_threshold(
        comp["IFLC"], hem["pd"]["from_cr_iflc_factor"], comp["NADIR_CR"]
    )
    return ife | ratio


def compute_cr(comp: pd.DataFrame, hem: Mapping) -> np.ndarray:
    """CR by the configured variant; a missing IFE makes CR unscorable (False).

    PALLADINI2012: serum IFE and urine IFE negative and a normal ratio. COMENZO2012: the same plus
    iFLC <= ULN (chain-specific ULN when configured; both chains when the involved chain is unknown).
    MAYO2020: both IFE negative and (iFLC <= 20 or dFLC <= 10) instead of the ratio.
    ``comp`` columns: SIFE, UIFE, RATIO, KAPPA, LAMBDA, IFLC, DFLC, INVLC.
    """
    criteria = str(hem.get("criteria", "PALLADINI2012"))
    ife_neg = (comp["SIFE"] == "NEGATIVE").to_numpy(bool) & (comp["UIFE"] == "NEGATIVE").to_numpy(bool)
    ratio_ok = compute_ratio_normal(comp["RATIO"], hem)
    if criteria == "PALLADINI2012":
        return ife_neg & ratio_ok
    variant = hem["cr_variants"][criteria]
    if criteria == "COMENZO2012":
        chain = comp["INVLC"].astype("string").fillna("").to_numpy(str)
        kappa_rule = variant.get("kappa_uln", variant["iflc_uln"])
        lambda_rule = variant.get("lambda_uln", variant["iflc_uln"])
        kappa_ok = compute_threshold(comp["KAPPA"], kappa_rule)
        lambda_ok = compute_threshold(comp["LAMBDA"], lambda_rule)
        uln_ok = np.where(
            chain == "KAPPA", kappa_ok, np.where(chain == "LAMBDA", lambda_ok, kappa_ok & lambda_ok)
        )
        return ife_neg & ratio_ok & uln_ok
    if criteria == "MAYO2020":
        return ife_neg & (
            compute_threshold(comp["IFLC"], variant["iflc"])
            | compute_threshold(comp["DFLC"], variant["dflc"])
        )
    raise ValueError(f"unknown hematologic criteria {criteria!r}")


def compute_hematologic_step(comp: pd.DataFrame, hem: Mapping) -> pd.Series:
    """Score one post-baseline assessment per row (DOMAIN.md steps 1-6), given the subject's state.

    ``comp`` columns: KAPPA, LAMBDA, RATIO, IFLC, DFLC, SIFE, UIFE, MSPIKE, UMPROT, INVLC, HEVAL, BDFLC,
    CLONE (baseline showed a clone: Y/""), CR_BEFORE (bool: CR scored at an earlier assessment),
    NADIR_CR, NADIR_IFLC, NADIR_MSPIKE, NADIR_UMPROT.
    """
    cr_before = comp["CR_BEFORE"].to_numpy(bool)
    pd_flag = np.where(cr_before, compute_pd_from_cr(comp, hem), compute_pd_before_cr(comp, hem))
    missing_pair = (comp["KAPPA"].isna() | comp["LAMBDA"].isna()).to_numpy(bool)
    cls = comp["HEVAL"].to_numpy(str)
    clone = (comp["CLONE"] == "Y").to_numpy(bool)
    cr = compute_cr(comp, hem) & ((cls != CLASS_NE) | clone)
    vgpr = compute_threshold(comp["DFLC"], hem["vgpr_dflc"])
    reduction = comp["BDFLC"] - comp["DFLC"]
    pr = compute_threshold(reduction, hem["pr_dflc_reduction"], comp["BDFLC"])
    low_pr = compute_threshold(comp["DFLC"], hem["low_dflc_pr_dflc"])
    measurable, low = cls == CLASS_MEASURABLE, cls == CLASS_LOW
    choices = [
        (pd_flag, PD),
        (missing_pair, NE),
        (cr, CR),
        (measurable & vgpr, VGPR),
        (measurable & pr, PR),
        (measurable, NR),
        (low & low_pr, LOWPR),
        (low, NR),
    ]
    out = np.select([c for c, _ in choices], [v for _, v in choices], default=NE)
    return pd.Series(out, index=comp.index, dtype="str")


def compute_cardiac_status(comp: pd.DataFrame, cardiac: Mapping) -> pd.Series:
    """Per-visit cardiac status PD > RESPONSE > NR; NE when not evaluable (unless PD) or NT-proBNP missing.

    PD is scored only for a subject with a baseline NT-proBNP (BNTPBNP present); without one the
    status is NE whatever NT-proBNP or troponin T do.

    ``comp`` columns: NTPROBNP, BNTPBNP (baseline), NADIR_NTPROBNP (lowest earlier incl. baseline), EGFR,
    BEGFR, TROPT, NADIR_TROPT.
    """
    v, bl, nadir = comp["NTPROBNP"], comp["BNTPBNP"], comp["NADIR_NTPROBNP"]
    evaluable = compute_threshold(bl, cardiac["evaluable_baseline"])
    egfr_drop = compute_threshold(comp["BEGFR"] - comp["EGFR"], cardiac["egfr_block_pct"], comp["BEGFR"])
    rise = v - nadir
    ntp_pd = compute_threshold(rise, cardiac["pd_pct"], nadir) & compute_threshold(rise, cardiac["pd_abs"])
    trop_pd = compute_threshold(
        comp["TROPT"] - comp["NADIR_TROPT"], cardiac["troponin_pd_pct"], comp["NADIR_TROPT"]
    )
    # Progression applies to any subject with a baseline NT-proBNP (DOMAIN.md), troponin rule included.
    has_baseline = ~np.isnan(np.asarray(bl, dtype="float64"))
    is_pd = has_baseline & ((ntp_pd & ~egfr_drop) | trop_pd)
    fall = bl - v
    resp = compute_threshold(fall, cardiac["response_pct"], bl) & compute_threshold(
        fall, cardiac["response_abs"]
    )
    have = comp["NTPROBNP"].notna().to_numpy(bool)
    out = np.select([is_pd, evaluable & resp, evaluable & have], [PD, RESPONSE, NR], default=NE)
    return pd.Series(out, index=comp.index, dtype="str")


def compute_renal_status(comp: pd.DataFrame, renal: Mapping) -> pd.Series:
    """Per-visit renal status (evaluable subjects only, else NE): PD on eGFR fall, RESPONSE on protein.

    ``comp`` columns: PROT24, BPROT, EGFR, BEGFR.
    """
    bl = comp["BPROT"]
    evaluable = compute_threshold(bl, renal["evaluable_baseline"])
    is_pd = evaluable & compute_threshold(comp["BEGFR"] - comp["EGFR"], renal["pd_egfr_pct"], comp["BEGFR"])
    resp = compute_threshold(bl - comp["PROT24"], renal["response_pct"], bl) | compute_threshold(
        comp["PROT24"], renal["response_abs_below"]
    )
    have = comp["PROT24"].notna().to_numpy(bool)
    out = np.select([is_pd, evaluable & resp, evaluable & have], [PD, RESPONSE, NR], default=NE)
    return pd.Series(out, index=comp.index, dtype="str")


def compute_best_response(values: pd.Series, rank: list[str]) -> str:
    """Best of a subject's scored responses by the configured rank (PR and LOW-DFLC PR tie); none -> NE."""
    order = {v: i for i, v in enumerate(rank)}
    if PR in order and LOWPR in order:
        order[LOWPR] = order[PR]
    present = [v for v in values if v in order]
    if not present:
        return NE
    return min(present, key=lambda v: (order[v], rank.index(v)))


def compute_landmark(
    assess: pd.DataFrame,
    subjects: pd.DataFrame,
    target: float,
    window: tuple[float, float],
    tie: str = "later",
) -> pd.DataFrame:
    """Landmark response per subject (index = USUBJID) with the date it comes from.

    ``assess``: scored assessments (USUBJID, ADY, ADT, AVALC). ``subjects``: index USUBJID with PDDY/PDDT
    (study day/date of the first PD) and DTHDY/DTHDT (an included death). First PD before the window ->
    PD; else death before the window -> DEATH; else the in-window assessment closest to the target
    (ties -> the later unless ``tie == "earlier"``); none -> NE. Returns columns AVALC, ADT.
    """
    low, high = window
    inwin = assess[(assess["ADY"] >= low) & (assess["ADY"] <= high)].copy()
    inwin["_dist"] = (inwin["ADY"] - target).abs()
    inwin["_tieord"] = -inwin["ADY"] if tie == "later" else inwin["ADY"]
    pick = inwin.sort_values(["USUBJID", "_dist", "_tieord"]).drop_duplicates("USUBJID").set_index("USUBJID")
    out = pd.DataFrame({"AVALC": NE, "ADT": np.nan}, index=subjects.index)
    out["AVALC"] = out["AVALC"].astype("str")
    hit = pick.index.intersection(out.index)
    out.loc[hit, "AVALC"] = pick.loc[hit, "AVALC"]
    out.loc[hit, "ADT"] = pick.loc[hit, "ADT"]
    death = (subjects["DTHDY"] < low).to_numpy(bool)
    pd_before = (subjects["PDDY"] < low).to_numpy(bool)
    out.loc[death, ["AVALC", "ADT"]] = [DEATH, np.nan]
    out.loc[death, "ADT"] = subjects.loc[death, "DTHDT"]
    out.loc[pd_before, "AVALC"] = PD
    out.loc[pd_before, "ADT"] = subjects.loc[pd_before, "PDDT"]
    return out
