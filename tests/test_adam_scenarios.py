"""Scenario tests: hand-written SDTM frames -> derive_adam, one situation per test (DOMAIN.md)."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from adam import derive_adam
from tests.adam_fixtures import Sdtm, day, read_dataset_spec, sas, settings, worked_examples


def derivation_findings(result):
    """The findings about the data, without ADM006 (these scenarios have no RS, DS, CM or organ labs,
    which the derivations that read them report as absent inputs)."""
    return [f for f in result.findings if f.code != "ADM006"]


def adrs_value(result, usubjid: str, paramcd: str) -> list[str]:
    adrs = result.datasets["ADRS"]
    return list(adrs[(adrs["USUBJID"] == usubjid) & (adrs["PARAMCD"] == paramcd)]["AVALC"])


def tte(result, usubjid: str, paramcd: str) -> pd.Series:
    t = result.datasets["ADTTE"]
    rows = t[(t["USUBJID"] == usubjid) & (t["PARAMCD"] == paramcd)]
    assert len(rows) == 1, f"{usubjid} {paramcd}: {len(rows)} rows"
    return rows.iloc[0]


@pytest.fixture(scope="module")
def examples():
    return derive_adam(worked_examples().frames(), settings())


def test_example_1_lambda_pr_vgpr_cr(examples):
    adsl = examples.datasets["ADSL"].set_index("USUBJID")
    assert adsl.loc["EX-1", "INVLC"] == "LAMBDA"
    assert adsl.loc["EX-1", "BDFLC"] == 238  # 250 - 12
    assert adsl.loc["EX-1", "HEVAL"] == "DFLC>=50"
    # day 29: dFLC 80, (238-80)/238 = 66% -> PR; C4D1 dFLC 21 -> VGPR; EOT ratio 11/14, IFE -/- -> CR.
    assert adrs_value(examples, "EX-1", "HEMRESP") == ["PR", "VGPR", "CR"]
    assert adrs_value(examples, "EX-1", "BOR") == ["CR"]
    assert [adrs_value(examples, "EX-1", p)[0] for p in ("RSPC1", "RSPC3", "RSPC6")] == ["PR", "VGPR", "CR"]
    assert adrs_value(examples, "EX-1", "CRVGPRC6") == ["Y"]
    row = tte(examples, "EX-1", "TTHR")
    # first response 2024-02-05; 2024-02-05 - 2024-01-01 + 1 = 35 + 1 = 36.
    assert (row["AVAL"], row["CNSR"], row["ADT"]) == (36, 0, sas("2024-02-05"))


def test_example_2_kappa_nr_pr_pd(examples):
    adsl = examples.datasets["ADSL"].set_index("USUBJID")
    assert adsl.loc["EX-2", "INVLC"] == "KAPPA"  # no band, ratio 180/8 = 22.5 > 1.65
    assert adsl.loc["EX-2", "BDFLC"] == 172
    # day 29 dFLC 88: reduction 84/172 = 48.8% -> NR; 70/8 -> PR; 60/9 dFLC 51 -> PR;
    # FU 125 >= 1.5 x 60 = 90 and > 100 -> PD.
    assert adrs_value(examples, "EX-2", "HEMRESP") == ["NR", "PR", "PR", "PD"]
    pfs = tte(examples, "EX-2", "PFS")
    # 2024-12-23 - 2024-01-01 = 357 days (leap year) + 1 = 358.
    assert (pfs["AVAL"], pfs["CNSR"], pfs["SRCDOM"]) == (358, 0, "ADRS")
    dor = tte(examples, "EX-2", "DOR")
    # from 2024-04-01: 266 days to 2024-12-23, + 1 = 267, event.
    assert (dor["STARTDT"], dor["AVAL"], dor["CNSR"]) == (sas("2024-04-01"), 267, 0)
    assert adrs_value(examples, "EX-2", "PD") == ["Y"]
    assert adrs_value(examples, "EX-2", "ORRC1") == ["N"]


def test_example_3_low_dflc(examples):
    adsl = examples.datasets["ADSL"].set_index("USUBJID")
    assert adsl.loc["EX-3", "HEVAL"] == "LOW-DFLC"  # dFLC 42 - 8 = 34
    # C4D1 dFLC 16 - 7.5 = 8.5 < 10 -> LOW-DFLC PR; responder for ORR; never VGPR -> CRVGPRC6 N.
    assert adrs_value(examples, "EX-3", "HEMRESP") == ["LOW-DFLC PR"]
    assert adrs_value(examples, "EX-3", "ORRC3") == ["Y"]
    assert adrs_value(examples, "EX-3", "CRVGPRC6") == ["N"]


def test_datasets_have_exactly_the_spec_variables(examples):
    for name, frame in examples.datasets.items():
        spec = read_dataset_spec(None, name)
        assert list(frame.columns) == [v["name"] for v in spec["variables"]], name


def test_aval_is_one_to_one_with_avalc(examples):
    adrs = examples.datasets["ADRS"]
    pairs = adrs[["PARAMCD", "AVALC", "AVAL"]].drop_duplicates()
    assert not pairs.duplicated(["PARAMCD", "AVALC"]).any()
    assert not pairs.duplicated(["PARAMCD", "AVAL"]).any()
    assert set(adrs.loc[adrs["AVALC"] == "CR", "AVAL"]) == {1}
    assert set(adrs.loc[adrs["AVALC"] == "Y", "AVAL"]) == {1}


def test_determinism():
    a = derive_adam(worked_examples().frames(), settings())
    b = derive_adam(worked_examples().frames(), settings())
    for name in a.datasets:
        pd.testing.assert_frame_equal(a.datasets[name], b.datasets[name])


def _base(s: Sdtm, usubjid: str, kappa: float = 12, lam: float = 250, **kw) -> Sdtm:
    s.subject(usubjid, **kw.pop("subject", {}))
    return s.flc(
        usubjid, "2024-01-01", "SCREENING", kappa, lam, sife="POSITIVE", uife="POSITIVE", isotype="IGG LAMBDA"
    )


def test_pd_from_cr_by_immunofixation():
    s = _base(Sdtm(), "S-1")
    s.flc("S-1", day(85), "CYCLE 4 DAY 1", 11, 14, sife="NEGATIVE", uife="NEGATIVE")
    # after CR, serum IFE positive again with a normal ratio 12/15 = 0.8 -> PD.
    s.flc("S-1", day(169), "END OF TREATMENT", 12, 15, sife="POSITIVE", uife="NEGATIVE")
    s.flc("S-1", day(260), "FOLLOW-UP MONTH 3", 12, 15, sife="NEGATIVE", uife="NEGATIVE")
    r = derive_adam(s.frames(), settings())
    # scored up to and including the first PD: the FU3M assessment is not scored.
    assert adrs_value(r, "S-1", "HEMRESP") == ["CR", "PD"]


def test_pd_from_cr_by_ratio_and_doubled_iflc():
    s = _base(Sdtm(), "S-2")
    s.flc("S-2", day(85), "CYCLE 4 DAY 1", 12, 15, sife="NEGATIVE", uife="NEGATIVE")  # CR, nadir_CR 15
    # ratio 10/30 = 0.33 normal: no PD (iFLC 30 = 2 x 15 but ratio normal) -> CR again.
    s.flc("S-2", day(113), "CYCLE 5 DAY 1", 10, 30, sife="NEGATIVE", uife="NEGATIVE")
    # ratio 7/30 = 0.233 < 0.26 and iFLC 30 >= 2 x 15 -> PD (pre-CR rule would need > 100 mg/L).
    s.flc("S-2", day(169), "END OF TREATMENT", 7, 30, sife="NEGATIVE", uife="NEGATIVE")
    r = derive_adam(s.frames(), settings())
    assert adrs_value(r, "S-2", "HEMRESP") == ["CR", "CR", "PD"]


def test_death_without_pd():
    s = _base(Sdtm(), "S-3", subject={"dthdtc": "2024-05-01"})
    s.flc("S-3", day(29), "CYCLE 2 DAY 1", 10, 90)  # PR on 2024-02-05
    r = derive_adam(s.frames(), settings())
    # death 2024-05-01 - 2024-01-01 = 121 days + 1 = 122.
    for paramcd in ("PFS", "OS"):
        row = tte(r, "S-3", paramcd)
        assert (row["AVAL"], row["CNSR"], row["EVNTDESC"]) == (122, 0, "DEATH")
    dor = tte(r, "S-3", "DOR")
    # 2024-05-01 - 2024-02-05 = 86 days + 1 = 87.
    assert (dor["AVAL"], dor["CNSR"]) == (87, 0)
    # death on day 115 (2024-05-01 - 2024-01-08 + 1) is before the cycle-6 window [162, 196].
    assert adrs_value(r, "S-3", "RSPC6") == ["DEATH"]
    assert adrs_value(r, "S-3", "ORRC6") == ["N"]


def test_new_therapy_before_pd():
    s = _base(Sdtm(), "S-4")
    s.flc("S-4", day(29), "CYCLE 2 DAY 1", 10, 90)  # PR 2024-02-05
    s.flc("S-4", day(85), "CYCLE 4 DAY 1", 10, 80)  # PR 2024-04-01
    s.therapy("S-4", "2024-05")  # partial -> 2024-05-01 (flag D)
    s.flc("S-4", day(169), "END OF TREATMENT", 10, 400)  # would be PD, but after new therapy
    r = derive_adam(s.frames(), settings())
    adsl = r.datasets["ADSL"].set_index("USUBJID")
    assert (adsl.loc["S-4", "NACTDT"], adsl.loc["S-4", "NACTDTF"]) == (sas("2024-05-01"), "D")
    assert adrs_value(r, "S-4", "HEMRESP") == ["PR", "PR"]
    assert adrs_value(r, "S-4", "PD") == ["N"]
    pfs = tte(r, "S-4", "PFS")
    # last adequate assessment before new therapy 2024-04-01: 2024-04-01 - 2024-01-01 = 91 + 1 = 92, CNSR 3.
    assert (pfs["AVAL"], pfs["CNSR"]) == (92, 3)


def test_no_adequate_assessment_is_cnsr_2():
    s = _base(Sdtm(), "S-5")
    s.flc("S-5", day(29), "CYCLE 2 DAY 1", None, 90)  # kappa missing -> NE
    r = derive_adam(s.frames(), settings())
    pfs = tte(r, "S-5", "PFS")
    assert (pfs["AVAL"], pfs["CNSR"], pfs["ADT"]) == (1, 2, sas("2024-01-01"))


def test_baseline_from_c1d1_predose_sample():
    s = Sdtm().subject("S-6")
    s.flc("S-6", "2024-01-01", "SCREENING", 12, 300, isotype="IGG LAMBDA")
    s.flc("S-6", "2024-01-08", "CYCLE 1 DAY 1", 12, 200)  # on the first-dose date -> baseline
    s.flc("S-6", day(29), "CYCLE 2 DAY 1", 10, 100)
    r = derive_adam(s.frames(), settings())
    assert r.datasets["ADSL"].set_index("USUBJID").loc["S-6", "BDFLC"] == 188  # 200 - 12, not 288
    adlb = r.datasets["ADLB"]
    base = adlb[(adlb["PARAMCD"] == "DFLC") & (adlb["ABLFL"] == "Y")]
    assert list(base["AVISIT"]) == ["CYCLE 1 DAY 1"]
    # day 29 dFLC 90: reduction 98/188 = 52% > 50% -> PR (with the screening baseline 288 it would be 69%).
    assert adrs_value(r, "S-6", "HEMRESP") == ["PR"]
    chg = adlb[(adlb["PARAMCD"] == "DFLC") & (adlb["AVISIT"] == "CYCLE 2 DAY 1")]["CHG"].iloc[0]
    assert chg == 90 - 188


def test_missing_urine_ife_falls_to_vgpr():
    s = _base(Sdtm(), "S-7")
    s.flc("S-7", day(169), "END OF TREATMENT", 11, 14, sife="NEGATIVE")  # no urine IFE
    r = derive_adam(s.frames(), settings())
    assert adrs_value(r, "S-7", "HEMRESP") == ["VGPR"]  # dFLC 3 < 40


def test_landmark_tie_takes_the_later():
    s = _base(Sdtm(), "S-8")
    s.flc("S-8", day(27), "UNSCHEDULED", 10, 90, visitnum=122.01)  # dFLC 80 -> PR
    s.flc("S-8", day(31), "UNSCHEDULED", 10, 40, visitnum=201.01)  # dFLC 30 -> VGPR
    r = derive_adam(s.frames(), settings())
    # both 2 days from target 29 -> the later (day 31) -> VGPR.
    assert adrs_value(r, "S-8", "RSPC1") == ["VGPR"]
    st = copy.deepcopy(settings())
    st["response"]["hematologic"]["landmark_tie"] = "earlier"
    assert adrs_value(derive_adam(s.frames(), st), "S-8", "RSPC1") == ["PR"]


def test_not_evaluable_baseline_reaching_cr():
    s = Sdtm().subject("S-9")
    # kappa 15, lambda 20: ratio 0.75 normal, band IGG LAMBDA -> INVLC LAMBDA, dFLC 5 < 20 -> NOT EVALUABLE.
    s.flc("S-9", "2024-01-01", "SCREENING", 15, 20, sife="POSITIVE", uife="NEGATIVE", isotype="IGG LAMBDA")
    s.flc("S-9", day(85), "CYCLE 4 DAY 1", 14, 16)  # IFE missing -> NE in this class
    s.flc("S-9", day(169), "END OF TREATMENT", 15, 18, sife="NEGATIVE", uife="NEGATIVE")
    r = derive_adam(s.frames(), settings())
    adsl = r.datasets["ADSL"].set_index("USUBJID")
    assert (adsl.loc["S-9", "HEVAL"], adsl.loc["S-9", "EFFFL"], adsl.loc["S-9", "SAFFL"]) == (
        "NOT EVALUABLE",
        "N",
        "Y",
    )
    assert adrs_value(r, "S-9", "HEMRESP") == ["NE", "CR"]


def test_settings_change_flips_a_boundary():
    s = _base(Sdtm(), "S-10", kappa=10, lam=210)  # dFLC 200
    s.flc("S-10", day(29), "CYCLE 2 DAY 1", 10, 50)  # dFLC exactly 40
    assert adrs_value(derive_adam(s.frames(), settings()), "S-10", "HEMRESP") == ["PR"]
    st = copy.deepcopy(settings())
    st["response"]["hematologic"]["vgpr_dflc"] = {"op": "<=", "value": 40}
    assert adrs_value(derive_adam(s.frames(), st), "S-10", "HEMRESP") == ["VGPR"]


def test_screen_failure_excluded_and_limits_flagged():
    s = _base(Sdtm(), "S-11")
    s.subject("S-12", first_dose=None, screen_failure=True)
    s.lab("S-11", "KLCFR", "<5", day(29), "CYCLE 2 DAY 1")
    s.lab("S-11", "LLCFR", 90, day(29), "CYCLE 2 DAY 1")
    r = derive_adam(s.frames(), settings())
    assert list(r.datasets["ADSL"]["USUBJID"]) == ["S-11"]
    adlb = r.datasets["ADLB"]
    kap = adlb[(adlb["PARAMCD"] == "KAPPA") & (adlb["AVISIT"] == "CYCLE 2 DAY 1")].iloc[0]
    assert (kap["AVAL"], kap["ALIMFL"]) == (5.0, "Y")
    dflc = adlb[(adlb["PARAMCD"] == "DFLC") & (adlb["AVISIT"] == "CYCLE 2 DAY 1")].iloc[0]
    assert dflc["AVAL"] == 85  # 90 - 5: the ratio and dFLC use the analysed 5


def test_duplicate_results_take_the_last_and_raise_a_finding():
    s = _base(Sdtm(), "S-13")
    s.flc("S-13", day(29), "CYCLE 2 DAY 1", 10, 90)
    s.lab("S-13", "LLCFR", 40, day(29) + "T10:00", "CYCLE 2 DAY 1")  # later LBDTC -> analysed
    r = derive_adam(s.frames(), settings())
    # dFLC 40 - 10 = 30 < 40 -> VGPR (with lambda 90 it would be PR).
    assert adrs_value(r, "S-13", "HEMRESP") == ["VGPR"]
    assert [f.code for f in derivation_findings(r)] == ["ADM001"]
    assert derivation_findings(r)[0].usubjid == "S-13"


def test_organ_response_and_egfr_from_creatinine():
    s = _base(Sdtm(), "S-14", subject={"sex": "M", "age": 60})
    s.organ("S-14", "2024-01-01", "SCREENING", ntprobnp=2000, prot24=3.0, creat=88.4)
    s.organ("S-14", day(29), "CYCLE 2 DAY 1", ntprobnp=1000, prot24=1.0, creat=88.4)
    r = derive_adam(s.frames(), settings())
    adsl = r.datasets["ADSL"].set_index("USUBJID")
    assert (adsl.loc["S-14", "CARDEVFL"], adsl.loc["S-14", "RENEVFL"]) == ("Y", "Y")
    # CKD-EPI 2021, male, Scr 1.0 mg/dL, k 0.9: 142 * (1/0.9)^-1.2 * 0.9938^60.
    expected = 142 * (1 / 0.9) ** -1.2 * 0.9938**60
    assert adsl.loc["S-14", "BEGFR"] == pytest.approx(expected, rel=1e-12)
    # NT-proBNP 2000 -> 1000 (-50%, -1000) -> RESPONSE; protein 3.0 -> 1.0 (-67%) -> RESPONSE.
    assert adrs_value(r, "S-14", "CARDRESP") == ["RESPONSE"]
    assert adrs_value(r, "S-14", "RENRESP") == ["RESPONSE"]
    assert adrs_value(r, "S-14", "CARDRSP") == ["Y"]


def test_mrd_negative_needs_sensitivity():
    s = _base(Sdtm(), "S-15").mrd("S-15", day(169), "NEGATIVE", "1E-05")
    s = _base(s, "S-16").mrd("S-16", day(169), "NEGATIVE", "1E-04")
    s = _base(s, "S-17").mrd("S-17", day(169), "NEGATIVE", None)
    r = derive_adam(s.frames(), settings())
    # 1e-5 <= 1e-5 -> negative; 1e-4 is not; missing sensitivity is not (and raises a notice).
    assert [adrs_value(r, u, "MRDNEG")[0] for u in ("S-15", "S-16", "S-17")] == ["Y", "N", "N"]
    assert any(f.code == "ADM002" and f.usubjid == "S-17" for f in r.findings)


def test_cardiac_progression_only_with_a_baseline_nt_probnp():
    # S-18 has no NT-proBNP before first dose: day 29 1000, day 85 1500 (+500, +50% vs the day-29
    # nadir) would meet the rise rule, but DOMAIN.md scores cardiac PD only with a baseline value.
    s = _base(Sdtm(), "S-18")
    s.organ("S-18", day(29), "CYCLE 2 DAY 1", ntprobnp=1000, tropt=20)
    s.organ("S-18", day(85), "CYCLE 4 DAY 1", ntprobnp=1500, tropt=40)
    # S-19: the same values with a baseline 500 (< 650: not evaluable for response) -> PD on day 85.
    s = _base(s, "S-19")
    s.organ("S-19", "2024-01-01", "SCREENING", ntprobnp=500)
    s.organ("S-19", day(29), "CYCLE 2 DAY 1", ntprobnp=1000, tropt=20)
    s.organ("S-19", day(85), "CYCLE 4 DAY 1", ntprobnp=1500, tropt=40)
    r = derive_adam(s.frames(), settings())
    adsl = r.datasets["ADSL"].set_index("USUBJID")
    assert pd.isna(adsl.loc["S-18", "BNTPBNP"]) and adsl.loc["S-18", "CARDEVFL"] == "N"
    assert adrs_value(r, "S-18", "CARDRESP") == ["NE", "NE"]
    assert adrs_value(r, "S-18", "CARDPD") == ["N"]
    # S-19: day 29 1000 vs nadir 500: +500 (100%) -> PD already; day 85 +500 vs nadir 500 -> PD.
    assert adrs_value(r, "S-19", "CARDRESP") == ["PD", "PD"]
    cardpd = r.datasets["ADRS"].query("USUBJID == 'S-19' and PARAMCD == 'CARDPD'").iloc[0]
    assert (cardpd["AVALC"], cardpd["ADT"]) == ("Y", sas(day(29)))


def test_a_test_is_testcd_specimen_and_method():
    # Serum and urine isotype at one visit are two tests (LBSPEC differs): no finding. Two serum KLCFR at
    # C2D1 are two results of one test: one ADM001, the later LBDTC analysed.
    s = Sdtm().subject("S-22")
    s.flc("S-22", "2024-01-01", "SCREENING", 12, 250, sife="POSITIVE", uife="POSITIVE", isotype="IGG LAMBDA")
    s.lab("S-22", "MPIGISO", "FREE LAMBDA", "2024-01-01", "SCREENING", spec="URINE")
    s.lab("S-22", "MPIGISO", "IGG LAMBDA", day(29), "CYCLE 2 DAY 1")
    s.lab("S-22", "MPIGISO", "FREE LAMBDA", day(29), "CYCLE 2 DAY 1", spec="URINE")
    s.flc("S-22", day(29), "CYCLE 2 DAY 1", 10, 90)
    s.lab("S-22", "KLCFR", 30, day(29) + "T11:00", "CYCLE 2 DAY 1")
    r = derive_adam(s.frames(), settings())
    assert [(f.code, f.usubjid, f.seq) for f in derivation_findings(r)] == [
        ("ADM001", "S-22", 11.0)
    ]  # LBSEQ 11
    assert "2 usable KLCFR SERUM results" in derivation_findings(r)[0].message
    assert r.datasets["ADSL"].set_index("USUBJID").loc["S-22", "INVLC"] == "LAMBDA"
    adlb = r.datasets["ADLB"]
    kap = adlb[(adlb["PARAMCD"] == "KAPPA") & (adlb["AVISIT"] == "CYCLE 2 DAY 1")]
    assert list(zip(kap["AVAL"], kap["ANL01FL"], strict=True)) == [(10.0, ""), (30.0, "Y")]
    # dFLC 90 - 30 = 60; reduction 178/238 = 75% > 50% -> PR (with kappa 10: dFLC 80 -> PR as well).
    dflc = adlb[(adlb["PARAMCD"] == "DFLC") & (adlb["AVISIT"] == "CYCLE 2 DAY 1")]
    assert list(dflc["AVAL"]) == [60.0]


def test_two_specimens_for_one_parameter_raise_adm005():
    # NT-proBNP in serum and in plasma at C2D1 both map to NTPROBNP: two tests, one analysis value.
    s = _base(Sdtm(), "S-23")
    s.organ("S-23", "2024-01-01", "SCREENING", ntprobnp=2000)
    s.lab("S-23", "BNPPRONT", 1800, day(29), "CYCLE 2 DAY 1")
    s.lab("S-23", "BNPPRONT", 900, day(29) + "T09:00", "CYCLE 2 DAY 1", spec="PLASMA")
    r = derive_adam(s.frames(), settings())
    assert [(f.code, f.usubjid, f.seq) for f in derivation_findings(r)] == [
        ("ADM005", "S-23", 8.0)
    ]  # LBSEQ 8: the plasma record
    adlb = r.datasets["ADLB"]
    rows = adlb[(adlb["PARAMCD"] == "NTPROBNP") & (adlb["ANL01FL"] == "Y")]
    assert list(rows["AVAL"]) == [2000.0, 900.0]
    # 2000 -> 900: -1100 (55%) -> RESPONSE from the analysed plasma value.
    assert adrs_value(r, "S-23", "CARDRESP") == ["RESPONSE"]
