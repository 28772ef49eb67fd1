"""Boundary tests of the response rules, worked by hand from DOMAIN.md defaults (specs/study.yaml)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from adam import (
    compute_best_response,
    compute_cardiac_status,
    compute_evaluability_class,
    compute_hematologic_step,
    compute_involved_chain,
    compute_renal_status,
    compute_threshold,
)
from tests.adam_fixtures import settings

S = settings()
HEM = S["response"]["hematologic"]
NAN = float("nan")


def step(**kw) -> str:
    """Score one assessment; defaults: lambda-involved DFLC>=50 subject, no CR before, IFE missing."""
    row = {
        "KAPPA": 10.0,
        "LAMBDA": 100.0,
        "SIFE": "",
        "UIFE": "",
        "MSPIKE": NAN,
        "UMPROT": NAN,
        "INVLC": "LAMBDA",
        "HEVAL": "DFLC>=50",
        "BDFLC": 100.0,
        "CLONE": "Y",
        "CR_BEFORE": False,
        "NADIR_CR": NAN,
        "NADIR_IFLC": 1000.0,
        "NADIR_MSPIKE": NAN,
        "NADIR_UMPROT": NAN,
    }
    row.update(kw)
    k, lam = row["KAPPA"], row["LAMBDA"]
    row.setdefault("RATIO", k / lam)
    if "IFLC" not in kw:
        row["IFLC"] = lam if row["INVLC"] == "LAMBDA" else k
        row["DFLC"] = row["IFLC"] - (k if row["INVLC"] == "LAMBDA" else lam)
    return compute_hematologic_step(
        pd.DataFrame([row]), S["response"]["hematologic"] if "hem" not in kw else kw["hem"]
    ).iloc[0]


def test_threshold_is_exact_at_the_boundary():
    # 0.5 * 100 = 50 exactly: 50 > 50 is False, 50.1 > 50 True.
    assert not compute_threshold(np.array([50.0]), {"op": ">", "value": 0.5}, 100.0)[0]
    assert compute_threshold(np.array([50.1]), {"op": ">", "value": 0.5}, 100.0)[0]
    # 0.30 * 1000 = 300: a decrease of exactly 300 is not > 30%.
    assert not compute_threshold(np.array([300.0]), {"op": ">", "value": 0.30}, 1000.0)[0]
    assert not compute_threshold(np.array([NAN]), {"op": "<", "value": 40})[0]


def test_pr_needs_more_than_50_percent_reduction():
    # baseline dFLC 100: dFLC 50 -> reduction 50/100 = 50% (not > 50%) -> NR; IFE missing so no CR.
    assert step(KAPPA=10.0, LAMBDA=60.0) == "NR"
    # dFLC 49.9 -> reduction 50.1% -> PR (and 49.9 >= 40 so not VGPR).
    assert step(KAPPA=10.0, LAMBDA=59.9) == "PR"


def test_vgpr_needs_dflc_below_40():
    # baseline dFLC 200; dFLC exactly 40 (50 - 10): not < 40 -> reduction 160/200 = 80% -> PR.
    assert step(KAPPA=10.0, LAMBDA=50.0, BDFLC=200.0) == "PR"
    # dFLC 39.9 -> VGPR.
    assert step(KAPPA=10.0, LAMBDA=49.9, BDFLC=200.0) == "VGPR"


def test_settings_flip_the_vgpr_boundary():
    hem = copy.deepcopy(HEM)
    hem["vgpr_dflc"] = {"op": "<=", "value": 40}
    # the same dFLC exactly 40 is VGPR once the operator is "<=".
    assert step(KAPPA=10.0, LAMBDA=50.0, BDFLC=200.0, hem=hem) == "VGPR"


def test_evaluability_class_boundaries():
    dflc = pd.Series([50.0, 49.99, 20.0, 19.99, 80.0])
    chain = pd.Series(["LAMBDA", "LAMBDA", "KAPPA", "KAPPA", ""])
    # 50 >= 50 -> DFLC>=50; 20 >= 20 -> LOW-DFLC; below 20 or no involved chain -> NOT EVALUABLE.
    assert list(compute_evaluability_class(dflc, chain, HEM)) == [
        "DFLC>=50",
        "LOW-DFLC",
        "LOW-DFLC",
        "NOT EVALUABLE",
        "NOT EVALUABLE",
    ]


def test_low_dflc_pr_needs_dflc_below_10():
    # LOW-DFLC subject: dFLC exactly 10 (20 - 10) -> NR; 9.9 -> LOW-DFLC PR.
    assert step(KAPPA=10.0, LAMBDA=20.0, HEVAL="LOW-DFLC", BDFLC=30.0) == "NR"
    assert step(KAPPA=10.0, LAMBDA=19.9, HEVAL="LOW-DFLC", BDFLC=30.0) == "LOW-DFLC PR"


def test_pd_before_cr_needs_both_factor_and_floor():
    # iFLC exactly 100 with nadir 60: 100 >= 1.5 x 60 = 90 but 100 > 100 fails -> not PD (dFLC 90 -> NR).
    assert step(KAPPA=10.0, LAMBDA=100.0, NADIR_IFLC=60.0) == "NR"
    # iFLC 150 at exactly 1.5 x nadir 100 and > 100 -> PD.
    assert step(KAPPA=10.0, LAMBDA=150.0, NADIR_IFLC=100.0) == "PD"
    # iFLC 149.9 < 1.5 x 100 -> not PD.
    assert step(KAPPA=10.0, LAMBDA=149.9, NADIR_IFLC=100.0, BDFLC=400.0) != "PD"


def test_pd_by_mspike_and_urine():
    # M-spike 0.6 >= 1.5 x 0.4 = 0.6 and > 0.5 -> PD; 0.5 is not > 0.5.
    assert step(MSPIKE=0.6, NADIR_MSPIKE=0.4) == "PD"
    assert step(MSPIKE=0.5, NADIR_MSPIKE=0.2) != "PD"
    # urine M-protein 300 >= 1.5 x 200 and > 200 -> PD.
    assert step(UMPROT=300.0, NADIR_UMPROT=200.0) == "PD"


def test_pd_from_cr_rules():
    # after a CR: a positive serum IFE is PD even with a normal ratio.
    assert (
        step(KAPPA=12.0, LAMBDA=14.0, SIFE="POSITIVE", UIFE="NEGATIVE", CR_BEFORE=True, NADIR_CR=14.0) == "PD"
    )
    # ratio 10/40 = 0.25 < 0.26 and iFLC 40 >= 2 x nadir_CR 20 -> PD (the pre-CR rule would need > 100).
    assert (
        step(KAPPA=10.0, LAMBDA=40.0, SIFE="NEGATIVE", UIFE="NEGATIVE", CR_BEFORE=True, NADIR_CR=20.0) == "PD"
    )
    # same values with nadir_CR 20.5: 40 < 41 -> no PD; abnormal ratio -> not CR; dFLC 30 < 40 -> VGPR.
    assert (
        step(KAPPA=10.0, LAMBDA=40.0, SIFE="NEGATIVE", UIFE="NEGATIVE", CR_BEFORE=True, NADIR_CR=20.5)
        == "VGPR"
    )


def test_cr_and_its_missing_ife():
    # IFE -/- and ratio 11/14 = 0.786 inside 0.26-1.65 -> CR.
    assert step(KAPPA=11.0, LAMBDA=14.0, SIFE="NEGATIVE", UIFE="NEGATIVE") == "CR"
    # urine IFE missing: CR unscorable -> dFLC 3 < 40 -> VGPR.
    assert step(KAPPA=11.0, LAMBDA=14.0, SIFE="NEGATIVE", UIFE="") == "VGPR"
    # kappa missing -> NE.
    assert (
        step(KAPPA=NAN, LAMBDA=14.0, SIFE="NEGATIVE", UIFE="NEGATIVE", RATIO=NAN, IFLC=14.0, DFLC=NAN) == "NE"
    )


def test_cr_variants():
    hem = copy.deepcopy(HEM)
    hem["criteria"] = "COMENZO2012"
    # lambda 27 > lambda ULN 26.3 -> no CR under COMENZO2012 (ratio 20/27 = 0.74 normal) -> dFLC 7 -> VGPR.
    assert step(KAPPA=20.0, LAMBDA=27.0, SIFE="NEGATIVE", UIFE="NEGATIVE", hem=hem) == "VGPR"
    assert step(KAPPA=20.0, LAMBDA=26.0, SIFE="NEGATIVE", UIFE="NEGATIVE", hem=hem) == "CR"
    hem["criteria"] = "MAYO2020"
    # MAYO2020: ratio 2/30 abnormal but dFLC 30 - 2 = 28 > 10 and iFLC 30 > 20 -> not CR.
    assert step(KAPPA=2.0, LAMBDA=30.0, SIFE="NEGATIVE", UIFE="NEGATIVE", hem=hem) == "VGPR"
    # iFLC exactly 20 <= 20 -> CR although the ratio 2/20 = 0.1 is abnormal.
    assert step(KAPPA=2.0, LAMBDA=20.0, SIFE="NEGATIVE", UIFE="NEGATIVE", hem=hem) == "CR"


def test_not_evaluable_class_scores_only_cr_and_pd():
    # NOT EVALUABLE with a clone: CR is scorable.
    assert step(KAPPA=11.0, LAMBDA=14.0, SIFE="NEGATIVE", UIFE="NEGATIVE", HEVAL="NOT EVALUABLE") == "CR"
    # without a clone at baseline: no CR -> NE; a dFLC fall would not be PR either.
    assert (
        step(KAPPA=11.0, LAMBDA=14.0, SIFE="NEGATIVE", UIFE="NEGATIVE", HEVAL="NOT EVALUABLE", CLONE="")
        == "NE"
    )
    assert step(KAPPA=10.0, LAMBDA=20.0, HEVAL="NOT EVALUABLE") == "NE"


def test_involved_chain():
    iso = pd.Series(["IGG KAPPA", "FREE LAMBDA", "", "", ""])
    ratio = pd.Series([0.1, 5.0, 0.25, 1.7, 1.0])
    # isotype wins over the ratio; else < 0.26 lambda, > 1.65 kappa; normal ratio -> "".
    assert list(compute_involved_chain(iso, ratio, HEM)) == ["KAPPA", "LAMBDA", "LAMBDA", "KAPPA", ""]


def cardiac(**kw) -> str:
    row = {
        "NTPROBNP": 1000.0,
        "BNTPBNP": 1000.0,
        "NADIR_NTPROBNP": 1000.0,
        "EGFR": 60.0,
        "BEGFR": 60.0,
        "TROPT": NAN,
        "NADIR_TROPT": NAN,
    }
    row.update(kw)
    return compute_cardiac_status(pd.DataFrame([row]), S["response"]["cardiac"]).iloc[0]


def test_cardiac_boundaries():
    # baseline exactly 650 is evaluable; 650 -> 300 is a 350 (53.8%) fall -> RESPONSE.
    assert cardiac(BNTPBNP=650.0, NADIR_NTPROBNP=650.0, NTPROBNP=300.0) == "RESPONSE"
    # baseline 649: not evaluable -> NE.
    assert cardiac(BNTPBNP=649.0, NADIR_NTPROBNP=649.0, NTPROBNP=300.0) == "NE"
    # baseline 2000 -> 1700: decrease exactly 300 (15%) is not > 300 -> NR.
    assert cardiac(BNTPBNP=2000.0, NADIR_NTPROBNP=2000.0, NTPROBNP=1700.0) == "NR"
    # baseline 1000 -> 700: 300 is not > 300 (and 30% is not > 30%) -> NR; 699 -> RESPONSE.
    assert cardiac(NTPROBNP=700.0) == "NR"
    assert cardiac(NTPROBNP=699.0) == "RESPONSE"


def test_cardiac_progression_and_egfr_block():
    # nadir 1000 -> 1400: +400 (40%) -> PD.
    assert cardiac(NTPROBNP=1400.0) == "PD"
    # same rise with eGFR 60 -> 45 (exactly 25% fall) is blocked -> NR; 46 (23.3%) not blocked -> PD.
    assert cardiac(NTPROBNP=1400.0, EGFR=45.0) == "NR"
    assert cardiac(NTPROBNP=1400.0, EGFR=46.0) == "PD"
    # troponin 100 -> 133 (+33% exactly) is PD, never blocked.
    assert cardiac(NTPROBNP=1000.0, EGFR=30.0, TROPT=133.0, NADIR_TROPT=100.0) == "PD"
    assert cardiac(NTPROBNP=1000.0, TROPT=132.9, NADIR_TROPT=100.0) == "NR"


def test_cardiac_progression_needs_a_baseline_nt_probnp():
    # No baseline NT-proBNP: an earlier post-baseline nadir 1000 -> 1400 (+400, 40%) would be PD, and
    # troponin 100 -> 150 (+50%) too; DOMAIN.md scores progression only with a baseline value -> NE.
    assert cardiac(BNTPBNP=NAN, NTPROBNP=1400.0) == "NE"
    assert cardiac(BNTPBNP=NAN, NTPROBNP=1000.0, TROPT=150.0, NADIR_TROPT=100.0) == "NE"
    # the same rises with a baseline below the evaluable 650 (not evaluable for response) are PD.
    assert cardiac(BNTPBNP=600.0, NADIR_NTPROBNP=1000.0, NTPROBNP=1400.0) == "PD"
    assert cardiac(BNTPBNP=600.0, NTPROBNP=600.0, TROPT=150.0, NADIR_TROPT=100.0) == "PD"


def renal(**kw) -> str:
    row = {"PROT24": 3.0, "BPROT": 3.0, "EGFR": 60.0, "BEGFR": 60.0}
    row.update(kw)
    return compute_renal_status(
        pd.DataFrame([row]), S["renal"] if "renal" in S else S["response"]["renal"]
    ).iloc[0]


def test_renal_boundaries():
    # baseline exactly 0.5 g/day is not > 0.5 -> not evaluable -> NE even with a fall.
    assert renal(BPROT=0.5, PROT24=0.1) == "NE"
    # eGFR 60 -> 45: fall exactly 25% -> PD.
    assert renal(EGFR=45.0) == "PD"
    assert renal(EGFR=45.1) == "NR"
    # protein 3.0 -> 2.1: decrease 0.9 = exactly 30% -> RESPONSE (>=); 2.2 -> NR; 0.49 < 0.5 -> RESPONSE.
    assert renal(PROT24=2.1) == "RESPONSE"
    assert renal(PROT24=2.2) == "NR"
    assert renal(BPROT=0.6, PROT24=0.49) == "RESPONSE"


def test_best_response_rank():
    rank = HEM["rank"]
    assert compute_best_response(pd.Series(["NR", "PR", "VGPR", "PD"]), rank) == "VGPR"
    assert compute_best_response(pd.Series(["NE", "PD"]), rank) == "PD"
    assert compute_best_response(pd.Series([], dtype="str"), rank) == "NE"


@pytest.mark.parametrize("value", ["LOW-DFLC PR", "PR"])
def test_low_dflc_pr_ranks_with_pr(value):
    assert compute_best_response(pd.Series(["NR", value]), HEM["rank"]) == value
