"""Endpoint summary: figures recomputed independently from ADRS/ADTTE and by hand."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as hs
from scipy import stats

from adam import compute_endpoint_summary, compute_km, derive_adam, write_summary
from tests.adam_fixtures import day, settings, worked_examples


def hand_km(times, events):
    """Product-limit estimate by an explicit loop: [(t, S(t))] at each distinct event time."""
    pairs = sorted(zip(times, events, strict=True))
    s, out = 1.0, []
    for t in sorted({t for t, e in pairs if e}):
        at_risk = sum(1 for u, _ in pairs if u >= t)
        deaths = sum(1 for u, e in pairs if u == t and e)
        s *= 1 - deaths / at_risk
        out.append((t, s))
    return out


def test_km_median_matches_a_hand_loop():
    times = [5, 8, 8, 12, 15, 20, 22, 30, 31]
    events = [1, 1, 0, 1, 0, 1, 1, 0, 1]
    curve = hand_km(times, events)
    # S: 5 -> 8/9; 8 -> 8/9*7/8 = 7/9; 12 -> 7/9*5/6 = 0.648; 20 -> *3/4 = 0.486 < 0.5 -> median 20.
    median = next(t for t, s in curve if s < 0.5)
    assert median == 20
    km = compute_km(np.array(times, float), np.array(events, bool))
    assert km["median"] == median
    assert np.allclose(km["curve"]["surv"], [s for _, s in curve], rtol=1e-12)
    assert km["events"] == 6 and km["n"] == 9


def test_km_median_at_exactly_half_is_the_midpoint():
    # S(10) = 1/2 exactly on [10, 20); next drop at 20 -> median (10 + 20) / 2 = 15.
    km = compute_km(np.array([10.0, 20.0]), np.array([True, True]))
    assert km["median"] == 15


def test_km_rate_at_12_months_uses_log_log_ci():
    t = np.array([100.0, 200.0, 300.0, 400.0, 500.0, 600.0])
    e = np.array([True, False, True, False, True, False])
    km = compute_km(t, e, at=365.25)
    # S(365.25) = (5/6) * (3/4) = 0.625 (censored at 200 leaves 4 at risk at 300).
    assert math.isclose(km["surv_at"], 0.625)
    # log-log CI: Greenwood V = sum d/(n(n-d)) = 1/30 + 1/12; se of log(-log S) = sqrt(V)/|log S|.
    v = 1 / 30 + 1 / 12
    se = math.sqrt(v) / abs(math.log(0.625))
    z = stats.norm.ppf(0.975)
    lo, hi = 0.625 ** math.exp(z * se), 0.625 ** math.exp(-z * se)
    assert math.isclose(km["surv_at_ci_low"], lo, rel_tol=1e-9)
    assert math.isclose(km["surv_at_ci_high"], hi, rel_tol=1e-9)


def hand_loglog_bands(times, events):
    """[(t, S, lower, upper)] at each event time: Greenwood variance, log-log 95% band, by a plain loop."""
    z = stats.norm.ppf(0.975)
    pairs = sorted(zip(times, events, strict=True))
    s, v, out = 1.0, 0.0, []
    for t in sorted({t for t, e in pairs if e}):
        at_risk = sum(1 for u, _ in pairs if u >= t)
        deaths = sum(1 for u, e in pairs if u == t and e)
        s *= 1 - deaths / at_risk
        if at_risk > deaths:
            v += deaths / (at_risk * (at_risk - deaths))
        if 0 < s < 1:
            se = math.sqrt(v) / abs(math.log(s))
            out.append((t, s, s ** math.exp(z * se), s ** math.exp(-z * se)))
        else:  # S = 0: the band is undefined (R's survfit gives NA)
            out.append((t, s, math.nan, math.nan))
    return out


def test_median_ci_brookmeyer_crowley_all_events():
    # 10 events at days 1..10: S(k) = (10 - k)/10, Greenwood V(k) = k / (10 (10 - k)).
    # S(5) = 0.5 exactly until the drop at 6 -> median (5 + 6)/2 = 5.5.
    # lower band at day 1: S 0.9, se = sqrt(1/90)/|ln 0.9| = 1.0005, 0.9^exp(1.96 x 1.0005) = 0.473 < 0.5
    #   -> CI lower limit 1. upper band at day 7: 0.3^exp(-1.96 x 0.4012) = 0.578; at day 8:
    #   0.2^exp(-1.96 x 0.3930) = 0.475 < 0.5 -> CI upper limit 8.
    times, events = list(range(1, 11)), [True] * 10
    bands = hand_loglog_bands(times, events)
    assert next(t for t, _s, lo, _hi in bands if lo < 0.5) == 1
    assert next(t for t, _s, _lo, hi in bands if hi < 0.5) == 8
    km = compute_km(np.array(times, float), np.array(events, bool))
    assert (km["median"], km["median_ci_low"], km["median_ci_high"]) == (5.5, 1, 8)


def test_median_ci_when_the_upper_band_never_reaches_half():
    # 3 + 5+ 6 8 10+ 12 15 18+ 22 25+ 30 34+ (+ = censored). S: 3 -> 11/12; 6 -> x 9/10 = 0.825;
    # 8 -> x 8/9 = 0.733; 12 -> x 6/7 = 0.629; 15 -> x 5/6 = 0.524; 22 -> x 3/4 = 0.393 < 0.5: median 22.
    # Lower band: day 3 0.539 (> 0.5); day 6: V = 1/132 + 1/90 = 0.01869, se = 0.1367/0.1924 = 0.7106,
    # 0.825^exp(1.96 x 0.7106) = 0.461 < 0.5 -> CI lower limit 6. The upper band ends at 0.546 (day 30)
    # and never falls below 0.5 -> the upper limit is not reached (None), never the lower band's time.
    times = [3, 5, 6, 8, 10, 12, 15, 18, 22, 25, 30, 34]
    events = [True, False, True, True, False, True, True, False, True, False, True, False]
    bands = hand_loglog_bands(times, events)
    assert next(t for t, s, _lo, _hi in bands if s < 0.5) == 22
    assert next(t for t, _s, lo, _hi in bands if lo < 0.5) == 6
    assert all(hi >= 0.5 for _t, _s, _lo, hi in bands)
    km = compute_km(np.array(times, float), np.array(events, bool))
    assert (km["median"], km["median_ci_low"], km["median_ci_high"]) == (22, 6, None)


def test_median_ci_is_not_estimable_when_the_last_subject_at_risk_makes_it():
    # 20 subjects: an event at day 10 (S = 19/20), 18 censored on days 20-37, the last one dies at day 753
    # alone at risk (S = 0): median 753. Day 10: V = 1/(20 x 19), se = sqrt(V)/|ln 0.95| = 1.0003, lower band
    # 0.95^exp(1.96 x 1.0003) = 0.695 > 0.5; at day 753 S = 0 and the log-log band is undefined, so neither
    # band falls below 0.5 where it exists: both limits NE (None), not 753 copied from the estimate
    times = [10] + list(range(20, 38)) + [753]
    events = [True] + [False] * 18 + [True]
    bands = hand_loglog_bands(times, events)
    assert math.isclose(
        bands[0][2], 0.95 ** math.exp(stats.norm.ppf(0.975) * math.sqrt(1 / 380) / -math.log(0.95))
    )
    assert bands[0][2] > 0.5 and math.isnan(bands[1][2]) and math.isnan(bands[1][3])
    km = compute_km(np.array(times, float), np.array(events, bool))
    assert (km["median"], km["median_ci_low"], km["median_ci_high"]) == (753, None, None)


def test_median_not_reached_has_only_a_lower_limit():
    # 3 events (days 1-3) among 10, the rest censored: S ends at 0.7, the median is not reached.
    # The lower band falls below 0.5 at day 1 (0.473, as above) -> lower limit 1; upper limit None.
    times, events = list(range(1, 11)), [True] * 3 + [False] * 7
    km = compute_km(np.array(times, float), np.array(events, bool))
    assert (km["median"], km["median_ci_low"], km["median_ci_high"]) == (None, 1, None)


def _study():
    s = worked_examples()
    s.subject("S-20", dthdtc="2024-03-01").flc(
        "S-20", "2024-01-01", "SCREENING", 12, 250, isotype="IGG LAMBDA"
    )
    s.flc("S-20", day(29), "CYCLE 2 DAY 1", 10, 30)
    s.subject("S-21").flc("S-21", "2024-01-01", "SCREENING", 15, 16)  # normal ratio, no band -> not evaluable
    return s


def test_summary_recomputed_from_adrs_and_adtte(tmp_path):
    st = settings()
    r = derive_adam(_study().frames(), st)
    adsl, adrs, adtte = (r.datasets[k] for k in ("ADSL", "ADRS", "ADTTE"))
    summary = compute_endpoint_summary(adsl, adrs, adtte, st)
    assert summary["n_treated"] == 5 and summary["n_efficacy_evaluable"] == 4
    eff = summary["populations"]["EFFFL"]
    # CR+VGPR after C6 on EFFFL: count rows by hand and call scipy directly.
    ids = set(adsl.loc[adsl["EFFFL"] == "Y", "USUBJID"])
    k = int(((adrs["PARAMCD"] == "CRVGPRC6") & (adrs["AVALC"] == "Y") & adrs["USUBJID"].isin(ids)).sum())
    assert k == 1  # only EX-1 (CR at EOT); S-20 died before the C6 window
    ci = stats.binomtest(k, len(ids)).proportion_ci(method="exact")
    assert eff["crvgpr_c6"]["n"] == 1 and eff["crvgpr_c6"]["N"] == 4
    assert (eff["crvgpr_c6"]["ci_low"], eff["crvgpr_c6"]["ci_high"]) == (ci.low, ci.high)
    saf = summary["populations"]["SAFFL"]
    assert saf["crvgpr_c6"]["N"] == 5
    # ORR after C1 on EFFFL: EX-1 PR and S-20 VGPR at day 29 -> 2/4.
    assert eff["orr"]["C1"]["n"] == 2
    # OS on EFFFL: one death (S-20) among 4; KM recomputed by the hand loop.
    os_rows = adtte[(adtte["PARAMCD"] == "OS") & adtte["USUBJID"].isin(ids)]
    curve = hand_km(os_rows["AVAL"].tolist(), (os_rows["CNSR"] == 0).tolist())
    assert eff["km"]["OS"]["events"] == 1
    assert np.allclose(eff["km"]["OS"]["curve"]["surv"], [s for _, s in curve])
    assert eff["bor"]["CR"]["n"] == 1 and eff["bor"]["LOW-DFLC PR"]["n"] == 1

    p1 = write_summary(summary, tmp_path / "a")
    p2 = write_summary(compute_endpoint_summary(adsl, adrs, adtte, st), tmp_path / "b")
    for a, b in zip(p1, p2, strict=True):
        assert a.read_bytes() == b.read_bytes()
    data = json.loads(p1[0].read_text())
    assert data["populations"]["EFFFL"]["crvgpr_c6"]["n"] == 1
    html = p1[1].read_text()
    assert html.count("<svg") == 4  # PFS and OS on EFFFL and SAFFL
    assert "At risk" in html
    # durations in months of 365.25 / 12 = 30.4375 days, NE where not estimable
    assert summary["month_days"] == 30.4375
    for p, km in eff["km"].items():
        cells = [
            ("NE" if km[k] is None else f"{km[k] / 30.4375:.1f}")
            for k in ("median", "median_ci_low", "median_ci_high")
        ]
        assert f"({p}): median months (95% CI), events/N</td><td>{cells[0]} ({cells[1]}-{cells[2]})" in html


def test_empty_population_gives_nulls():
    adsl = pd.DataFrame(
        {"USUBJID": ["A"], "SAFFL": ["N"], "EFFFL": ["N"], "CARDEVFL": ["N"], "RENEVFL": ["N"]}
    )
    empty_rs = pd.DataFrame(columns=["USUBJID", "PARAMCD", "AVALC"])
    empty_tte = pd.DataFrame(columns=["USUBJID", "PARAMCD", "AVAL", "CNSR"])
    s = compute_endpoint_summary(adsl, empty_rs, empty_tte, settings())
    assert s["populations"]["EFFFL"]["crvgpr_c6"]["rate"] is None
    assert s["populations"]["EFFFL"]["km"]["PFS"]["median"] is None


def test_concordance_worked_by_hand():
    from adam._summary import compute_concordance

    # (visit, derived, investigator): 3 of 5 paired assessments agree
    pairs = [(1, "CR", "CR"), (2, "VGPR", "CR"), (3, "PR", "PR"), (4, "PR", "PR"), (5, "PR", "NR")]
    rows = [("S-1", "HEMRESP", v, d) for v, d, _ in pairs] + [("S-1", "INVRESP", v, i) for v, _, i in pairs]
    rows += [("S-1", "INVRESP", 6, "CR"), ("S-1", "HEMRESP", 7, "CR"), ("S-2", "HEMRESP", 1, "NR")]
    adrs = pd.DataFrame(rows, columns=["USUBJID", "PARAMCD", "AVISITN", "AVALC"])
    # S-2 is not in the population
    c = compute_concordance(adrs, pd.Index(["S-1"]), "HEMRESP", "INVRESP", ["CR", "VGPR", "PR", "NR", "PD"])
    assert c["categories"] == ["CR", "VGPR", "PR", "NR"]
    assert c["pairs"] == 5 and c["agreement"]["n"] == 3 and c["agreement"]["rate"] == 0.6
    # chance agreement: CR 2/5 x 1/5 + PR 2/5 x 3/5 = 0.32; kappa = (0.6 - 0.32) / (1 - 0.32)
    assert c["kappa"] == pytest.approx(0.28 / 0.68)
    assert c["table"] == {"CR": {"CR": 1, "VGPR": 1}, "PR": {"PR": 2}, "NR": {"PR": 1}}
    assert (c["investigator_only"], c["derived_only"]) == (1, 1)
    ci = stats.binomtest(3, 5).proportion_ci(method="exact")
    assert (c["agreement"]["ci_low"], c["agreement"]["ci_high"]) == (ci.low, ci.high)


def test_questionnaire_by_visit_worked_by_hand():
    from adam._summary import compute_questionnaire_by_visit

    adqs = pd.DataFrame(
        {
            "USUBJID": ["A", "B", "C", "A", "B", "C"],
            "PARAMCD": ["EQ5DIDX"] * 6,
            "PARAM": ["Index"] * 6,
            "AVISIT": ["Baseline"] * 3 + ["End of Treatment"] * 3,
            "AVISITN": [0.0] * 3 + [7.0] * 3,
            "AVAL": [0.8, 0.6, 0.5, 0.9, 0.7, float("nan")],
            "CHG": [float("nan")] * 3 + [0.1, 0.1, float("nan")],
        }
    )
    (p,) = compute_questionnaire_by_visit(adqs, pd.Index(["A", "B", "C"]), ("EQ5DIDX", "EQ5D0206"))
    base, eot = p["visits"]
    assert (base["avisit"], base["n"], base["chg_n"]) == ("Baseline", 3, 0)
    assert base["mean"] == pytest.approx(1.9 / 3) and base["sd"] == pytest.approx(
        np.std([0.8, 0.6, 0.5], ddof=1)
    )
    # without analysis visits (or CHG) no table, no error
    assert (
        compute_questionnaire_by_visit(adqs.drop(columns=["AVISIT", "CHG"]), pd.Index(["A"]), ("EQ5DIDX",))
        == []
    )
    assert (eot["n"], eot["mean"], eot["chg_n"], eot["chg_mean"]) == (
        2,
        pytest.approx(0.8),
        2,
        pytest.approx(0.1),
    )


# The summary computes its exact CIs and Kaplan-Meier band without importing scipy.stats (start-up time);
# summary.json keeps every digit, so its figures must be scipy.stats' own, bit for bit.


def test_exact_rates_are_scipys_binomtest_limits_bit_for_bit():
    from adam._summary import compute_rate

    pairs = [(k, n) for n in range(1, 41) for k in range(n + 1)]
    rng = np.random.default_rng(20261207)
    pairs += [(int(rng.integers(0, n + 1)), int(n)) for n in rng.integers(41, 3000, size=60)]
    for k, n in pairs:
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        rate = compute_rate(k, n)
        assert (rate["ci_low"], rate["ci_high"]) == (float(ci.low), float(ci.high)), (k, n)
        assert rate["ci_low"].hex() == float(ci.low).hex() and rate["ci_high"].hex() == float(ci.high).hex()


@hypothesis_settings(max_examples=300)
@given(
    hs.lists(
        hs.tuples(hs.integers(1, 60).map(float) | hs.floats(0.5, 2000.0), hs.booleans()),
        min_size=1,
        max_size=80,
    )
)
def test_kaplan_meier_curve_and_band_are_scipys_ecdf_bit_for_bit(records):
    from adam._summary import _product_limit

    t = np.array([r[0] for r in records], dtype="float64")
    e = np.array([r[1] for r in records], dtype=bool)
    times, surv, low, high = _product_limit(t, e)
    sf = stats.ecdf(stats.CensoredData.right_censored(t, ~e)).sf
    with warnings.catch_warnings():  # scipy warns where the band is undefined (S = 1 or 0): NaN there
        warnings.simplefilter("ignore", RuntimeWarning)
        band = sf.confidence_interval(0.95, method="log-log")
    np.testing.assert_array_equal(times, sf.quantiles)
    for ours, theirs in (
        (surv, sf.probabilities),
        (low, band.low.probabilities),
        (high, band.high.probabilities),
    ):
        assert ours.tobytes() == np.asarray(theirs, dtype="float64").tobytes()


def test_a_missing_time_to_event_is_refused():
    with pytest.raises(ValueError, match="missing"):
        compute_km(np.array([3.0, np.nan]), np.array([True, False]))


def test_a_time_to_event_without_aval_is_a_named_error():
    from adam import AdamInputError

    adsl = pd.DataFrame(
        {
            "USUBJID": ["A", "B"],
            "SAFFL": ["Y"] * 2,
            "EFFFL": ["Y"] * 2,
            "CARDEVFL": ["N"] * 2,
            "RENEVFL": ["N"] * 2,
        }
    )
    rs = pd.DataFrame(columns=["USUBJID", "PARAMCD", "AVISITN", "AVALC"])
    tte = pd.DataFrame(
        {"USUBJID": ["A", "B"], "PARAMCD": ["PFS"] * 2, "AVAL": [30.0, np.nan], "CNSR": [0.0, 1.0]}
    )
    with pytest.raises(AdamInputError) as info:
        compute_endpoint_summary(adsl, rs, tte, settings())
    assert info.value.dataset == "ADTTE" and info.value.variable == "AVAL" and info.value.usubjid == "B"
    assert "PFS" in str(info.value)


def test_exact_rates_are_the_same_through_scipy_optimize(monkeypatch):
    """The limits come from scipy's Brent routine loaded alone; through scipy.optimize.brentq (where a scipy
    release lays the routine out otherwise) they are the same to the bit."""
    import adam._summary as summary

    pairs = [(k, n) for n in (1, 2, 7, 40, 333) for k in {0, 1, n // 3, n - 1, n}]
    alone = [summary._clopper_pearson(k, n) for k, n in pairs]
    summary._brent_root.cache_clear()
    monkeypatch.setattr(summary, "_scipy_brent_routine", lambda: None)
    try:
        through = [summary._clopper_pearson(k, n) for k, n in pairs]
    finally:
        summary._brent_root.cache_clear()
    assert [tuple(x.hex() for x in pair) for pair in alone] == [
        tuple(x.hex() for x in pair) for pair in through
    ]


def test_a_nan_of_the_function_stops_the_root_finder():
    from adam._summary import _brent_root

    with pytest.raises(ValueError, match="NaN"):
        _brent_root()(lambda p: math.nan, 0.0, 1.0)
