"""The study-agnostic ADaM engines (ADSL steps, OCCDS, BDS) on small frames built here; expected values
worked by hand from the rules in the step docstrings (admiral's conventions)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from adam import AdamInputError, check_parameter_specs, derive_adam
from adam._adsl import ADSL_STEPS, AdslContext, derive_treatment_dates
from adam._bds import (
    BDS_STEPS,
    derive_aggregate,
    derive_base,
    derive_change,
    derive_extreme_records,
    derive_parameter,
    derive_summary_records,
)
from adam._occds import OCCDS_STEPS, derive_treatment_emergent
from adam._paramspec import ADSL_STEP_SCHEMAS, BDS_STEP_SCHEMAS, OCCDS_STEP_SCHEMAS
from adam._steps import (
    compute_sorted,
    derive_compute,
    derive_cut,
    derive_extreme_flag,
    derive_imputed_date,
    derive_map,
    merge_supplemental,
)
from cdiscgen import load_study
from tests.conftest import REPO

PILOT = REPO / "examples" / "cdiscpilot01"
D = pd.Timestamp("1960-01-01")


def days(iso: str) -> float:
    return float((pd.Timestamp(iso) - D).days)


def test_partial_start_dates_impute_to_the_first_day_or_to_first_dose_in_range():
    frame = pd.DataFrame(
        {
            "USUBJID": ["A"] * 5,
            "AESTDTC": ["2014-03", "2014-03", "2014", "2014-03-05", ""],
            "TRTSDT": [days("2014-03-10"), days("2014-05-01"), days("2014-06-02"), days("2014-03-10"), 1.0],
        }
    )
    step = {
        "variable": "ASTDT",
        "flag": "ASTDTF",
        "source": "AESTDTC",
        "impute": "first",
        "not_before": ["TRTSDT"],
    }
    out = derive_imputed_date(frame, step, {"dataset": "AE"})
    # first dose inside March 2014 -> the first dose; outside -> 1 March; year only -> first dose (in 2014)
    assert out["ASTDT"].tolist()[:4] == [
        days("2014-03-10"),
        days("2014-03-01"),
        days("2014-06-02"),
        days("2014-03-05"),
    ]
    assert np.isnan(out["ASTDT"].iloc[4])
    assert out["ASTDTF"].tolist() == ["D", "D", "M", "", ""]


def test_partial_end_dates_impute_to_the_last_day_or_to_an_earlier_death_in_range():
    frame = pd.DataFrame(
        {
            "USUBJID": ["A"] * 3,
            "AEENDTC": ["2014-02", "2014-02", "2013"],
            "DTHDT": [days("2014-02-10"), np.nan, np.nan],
            "EOSDT": [np.nan, days("2014-03-10"), days("2013-07-01")],
        }
    )
    step = {
        "variable": "AENDT",
        "flag": "AENDTF",
        "source": "AEENDTC",
        "impute": "last",
        "not_after": ["DTHDT", "EOSDT"],
    }
    out = derive_imputed_date(frame, step, {"dataset": "AE"})
    # February 2014 has 28 days; the death on the 10th is in range; end of study in March is not
    assert out["AENDT"].tolist() == [days("2014-02-10"), days("2014-02-28"), days("2013-07-01")]
    assert out["AENDTF"].tolist() == ["D", "D", "M"]


def test_treatment_emergence_cases_in_order():
    t0, t1 = days("2014-01-10"), days("2014-06-30")
    frame = pd.DataFrame(
        {
            "ASTDT": [t0 + 5, t0 - 3, np.nan, np.nan, t1 + 30, t1 + 31, t0 + 1],
            "AENDT": [np.nan, t0 + 2, np.nan, t0 - 1, np.nan, np.nan, np.nan],
            "TRTSDT": [t0, t0, t0, t0, t0, t0, np.nan],
            "TRTEDT": [t1] * 7,
        }
    )
    out = derive_treatment_emergent(frame, {"variable": "TRTEMFL", "end_window": 30})
    # during; started before; no start date; no start but ended before first dose; last window day; after
    # the window; untreated subject
    assert out["TRTEMFL"].tolist() == ["Y", "", "Y", "", "Y", "", ""]


def test_an_event_present_before_the_first_dose_is_emergent_when_it_worsens():
    t0, t1 = days("2024-03-01"), days("2024-09-30")
    frame = pd.DataFrame(
        {
            # started 10 days before the first dose, still going on it, grade at onset vs worst grade
            "ASTDT": [t0 - 10] * 5 + [t0 - 10, t0 + 3, t0 - 20],
            "AENDT": [t0 + 20, np.nan, t0 + 20, t0 + 20, t0 + 20, t0 - 1, t0 + 9, t0 + 5],
            "AITOXGRN": [1, 2, 2, np.nan, 1, 1, 3, 3],
            "ATOXGRN": [3, 3, 2, 2, np.nan, 3, 3, 1],
            "TRTSDT": [t0] * 8,
            "TRTEDT": [t1] * 8,
        }
    )
    step = {"variable": "TRTEMFL", "end_window": 30, "initial_intensity": "AITOXGRN", "intensity": "ATOXGRN"}
    out = derive_treatment_emergent(frame.copy(), step)
    # 1->3 worsened; 2->3 ongoing worsened; 2->2 unchanged; initial unknown; current unknown; worsened but
    # ended the day before the first dose; started on treatment (emergent whatever its grades); improved
    assert out["TRTEMFL"].tolist() == ["Y", "Y", "", "Y", "Y", "", "Y", ""]
    # without the two grades declared, only the start date counts
    plain = derive_treatment_emergent(frame.copy(), {"variable": "TRTEMFL", "end_window": 30})
    assert plain["TRTEMFL"].tolist() == ["", "", "", "", "", "", "Y", ""]


def test_supplemental_qualifiers_join_the_record_their_idvar_names():
    ae = pd.DataFrame({"USUBJID": ["S-1", "S-1", "S-2"], "AESEQ": [1.0, 2.0, 1.0], "AETERM": ["A", "B", "C"]})
    supp = pd.DataFrame(
        {
            "USUBJID": ["S-1", "S-1", "S-2", "S-2", "S-1"],
            "IDVAR": ["AESEQ", "AESEQ", "AESEQ", "", "AESEQ"],
            "IDVARVAL": ["2", "1", "1", "", "2"],
            "QNAM": ["RELDARA", "RELDARA", "RELDARA", "AEXYZ", "ACNPOMA"],
            "QVAL": ["RELATED", "NOT RELATED", "RELATED", "Q", "DRUG WITHDRAWN"],
        }
    )
    out = merge_supplemental(ae, {"SUPPAE": supp}, "AE", ["RELDARA", "ACNPOMA", "AEXYZ", "AEITOXGR"], "ADAE")
    assert out["RELDARA"].tolist() == ["NOT RELATED", "RELATED", "RELATED"]
    assert out["ACNPOMA"].tolist() == ["", "DRUG WITHDRAWN", ""]
    assert out["AEXYZ"].tolist() == ["", "", "Q"]  # no IDVAR: every record of the subject
    assert out["AEITOXGR"].tolist() == ["", "", ""]  # no record holds it
    assert out["AETERM"].tolist() == ["A", "B", "C"] and len(out) == 3
    twice = pd.concat([supp, supp.iloc[[0]]], ignore_index=True)
    with pytest.raises(AdamInputError, match="RELDARA twice") as err:
        merge_supplemental(ae, {"SUPPAE": twice}, "AE", ["RELDARA"], "ADAE")
    assert err.value.usubjid == "S-1"
    other = supp.assign(IDVAR=["AEGRPID"] * 5)
    with pytest.raises(AdamInputError, match="AEGRPID"):
        merge_supplemental(ae, {"SUPPAE": other}, "AE", ["RELDARA"], "ADAE")
    with pytest.raises(AdamInputError, match="SUPPAE"):
        merge_supplemental(ae, {}, "AE", ["RELDARA"], "ADAE")


def test_subject_value_and_count_from_a_domain():
    adsl = pd.DataFrame({"USUBJID": ["S-1", "S-2", "S-3"]})
    rs = pd.DataFrame(
        {
            "USUBJID": ["S-1", "S-1", "S-2", "S-2"],
            "RSTESTCD": ["ALSTAGE", "ALSTAGE", "ALSTAGE", "HEMRESP"],
            "RSCAT": ["MAYO 2012", "MAYO 2004", "MAYO 2004", "PALLADINI 2012"],
            "RSSTRESC": ["III", "II", "IIIB", "CR"],
            "RSDTC": ["2024-01-20", "2024-01-05", "2024-02-01", "2024-03-01"],
        }
    )
    mh = pd.DataFrame(
        {
            "USUBJID": ["S-1", "S-1", "S-1", "S-2", "S-2"],
            "MHTERM": ["CARDIAC", "RENAL", "CARDIAC", "RENAL", "HEPATIC"],
            "MHOCCUR": ["Y", "Y", "Y", "N", "Y"],
            "MHDTC": ["2024-01-05", "2024-01-05", "2024-01-06", "2024-01-05", "2031-01-01"],
        }
    )
    ctx = AdslContext({"RS": rs, "MH": mh}, {}, days("2026-06-30"))
    last = {
        "dataset": "RS",
        "where": {"variable": "RSTESTCD", "op": "eq", "value": "ALSTAGE"},
        "order": ["RSDTC"],
    }
    out = ADSL_STEPS["subject_value"](
        adsl.copy(), {**last, "variable": "BSTAGE", "value": "RSSTRESC", "pick": "last"}, ctx
    )
    # S-1: the later of its two stages (2024-01-20, MAYO 2012 III); S-2: its one stage; S-3: none
    assert out["BSTAGE"].tolist() == ["III", "IIIB", ""]
    out = ADSL_STEPS["subject_value"](
        adsl.copy(), {**last, "variable": "X", "value": "RSCAT", "pick": "first"}, ctx
    )
    assert out["X"].tolist() == ["MAYO 2004", "MAYO 2004", ""]
    occurred = {"variable": "MHOCCUR", "op": "eq", "value": "Y"}
    count = ADSL_STEPS["subject_count"](
        adsl.copy(), {"variable": "N", "dataset": "MH", "where": occurred, "distinct": "MHTERM"}, ctx
    )
    # S-1: CARDIAC twice and RENAL -> 2 distinct; S-2: RENAL not occurred, HEPATIC -> 1; S-3: 0
    assert count["N"].tolist() == [2.0, 1.0, 0.0]
    records = ADSL_STEPS["subject_count"](
        adsl.copy(), {"variable": "N", "dataset": "MH", "where": occurred, "date": "MHDTC"}, ctx
    )
    # every record, but S-2's HEPATIC record is dated after the cut-off
    assert records["N"].tolist() == [3.0, 0.0, 0.0]
    # an absent domain leaves the count missing (not known to be 0) and says so
    missing = ADSL_STEPS["subject_count"](adsl.copy(), {"variable": "PRLINES", "dataset": "CM"}, ctx)
    assert missing["PRLINES"].isna().all()
    assert [(f.code, f.variable) for f in ctx.findings] == [("ADM006", "PRLINES")]


def test_treatment_dates_stop_at_the_data_cut_off():
    # issue 28, item 9: a last dose dated 9999-12-31 (an "ongoing" placeholder) kept TRTEDT 9999-12-31
    # past the cut-off. A: a period ending on the placeholder ends on the cut-off; B: only a period after
    # the cut-off (and a DM date after it): not treated as of the cut; C: DM's RFXENDTC placeholder.
    cutoff = days("2015-06-30")
    ex = pd.DataFrame(
        {
            "USUBJID": ["A", "A", "B"],
            "EXSTDTC": ["2014-01-02", "2014-02-02", "2015-07-01"],
            "EXENDTC": ["2014-02-01", "9999-12-31", "2015-08-01"],
        }
    )
    ctx = AdslContext({"EX": ex}, {}, cutoff)
    ctx.dm = pd.DataFrame(
        {
            "USUBJID": ["A", "B", "C"],
            "RFXSTDTC": ["2014-01-02", "2015-07-01", "2015-01-05"],
            "RFXENDTC": ["9999-12-31", "2015-08-01", "9999-12-31"],
        }
    )
    step = {"start": "TRTSDT", "end": "TRTEDT", "fallback": {"start": "RFXSTDTC", "end": "RFXENDTC"}}
    out = derive_treatment_dates(pd.DataFrame({"USUBJID": ["A", "B", "C"]}), step, ctx)
    assert out["TRTSDT"].tolist()[0::2] == [days("2014-01-02"), days("2015-01-05")]
    assert out["TRTEDT"].tolist()[0::2] == [cutoff, cutoff]
    assert out[["TRTSDT", "TRTEDT"]].iloc[1].isna().all()


def test_last_alive_is_the_latest_date_on_or_before_the_cut_off_among_the_sources():
    cutoff = days("2015-06-30")
    lb = pd.DataFrame(
        {
            "USUBJID": ["A", "A", "B", " B ", "Z", "", "C"],
            "LBDTC": ["2015-03-01", "2015-07-01", "2015-02", "2015-04-10", "2015-06-01", "2015-06-02", ""],
        }
    )
    ae = pd.DataFrame(
        {
            "USUBJID": ["A", "C"],
            "AEENDTC": ["2015-06-30", "2015-05-05"],
            "AEOUT": ["FATAL", "RECOVERED"],
        }
    )
    ctx = AdslContext({"LB": lb, "AE": ae}, {}, cutoff)
    ctx.dm = pd.DataFrame({"USUBJID": ["A", "B", "C", "D"], "RFICDTC": ["2015-01-01"] * 3 + [""]})
    adsl = pd.DataFrame(
        {"USUBJID": ["A", "B", "C", "D"], "TRTSDT": [days("2015-01-05"), np.nan, np.nan, np.nan]}
    )
    step = {
        "variable": "LSTALVDT",
        "sources": [
            {"dataset": "ADSL", "variables": ["TRTSDT"]},
            {"dataset": "DM", "variables": ["RFICDTC"]},
            {"dataset": "LB", "variables": ["LBDTC"]},
            {
                "dataset": "AE",
                "variables": ["AEENDTC"],
                "where": {"variable": "AEOUT", "op": "ne", "value": "FATAL"},
            },
        ],
    }
    out = ADSL_STEPS["last_alive"](adsl, step, ctx)
    # A: LB 2015-03-01 (its 2015-07-01 is after the cut-off; its AE end is FATAL, left out by the where);
    # B: LB 2015-04-10 (USUBJID read without its blanks; the partial 2015-02 is no date); C: the AE end;
    # D: only a missing DM date -> missing. Z and the blank subject are not ADSL subjects.
    expected = [days("2015-03-01"), days("2015-04-10"), days("2015-05-05"), np.nan]
    np.testing.assert_array_equal(out["LSTALVDT"].to_numpy(), expected)


def test_extreme_flag_orders_by_the_full_key_descending_and_missing_last():
    frame = pd.DataFrame(
        {
            "USUBJID": ["A", "A", "A", "B", "B"],
            "ASEVN": [1, 3, 3, np.nan, 2],
            "ASTDT": [1.0, 9.0, 4.0, 1.0, 2.0],
            "AESEQ": [1, 2, 3, 1, 2],
            "TRTEMFL": ["Y", "Y", "Y", "Y", "Y"],
        }
    )
    step = {
        "variable": "AOCCIFL",
        "by": ["USUBJID"],
        "order": [{"ASEVN": "desc"}, "ASTDT", "AESEQ"],
        "where": {"variable": "TRTEMFL", "op": "eq", "value": "Y"},
    }
    out = derive_extreme_flag(frame, step)
    assert out["AOCCIFL"].tolist() == ["", "", "Y", "", "Y"]


def test_cut_points_and_value_maps():
    frame = pd.DataFrame({"AGE": [17, 18, 64, 65, np.nan], "RACE": ["WHITE", "ASIAN", "", "white", "BLACK"]})
    cut = {
        "variable": "AGEGR1",
        "numeric": "AGEGR1N",
        "source": "AGE",
        "cuts": [{"below": 18, "value": "<18"}, {"below": 65, "value": "18-64"}, {"value": ">64"}],
    }
    out = derive_cut(frame, cut)
    assert out["AGEGR1"].tolist() == ["<18", "18-64", "18-64", ">64", ""]
    assert out["AGEGR1N"].tolist()[:4] == [1, 2, 2, 3]
    out = derive_map(
        out,
        {
            "variable": "RACEGR1",
            "source": "RACE",
            "values": {"WHITE": "White"},
            "other": "Non-white",
            "missing": "Missing",
        },
    )
    assert out["RACEGR1"].tolist() == ["White", "Non-white", "Missing", "White", "Non-white"]


def test_base_change_summary_and_extreme_records():
    frame = pd.DataFrame(
        {
            "USUBJID": ["A"] * 4,
            "PARAMCD": ["SYSBP"] * 4,
            "BASETYPE": ["LAST"] * 4,
            "AVISIT": ["Baseline", "Week 2", "Week 2", "Week 4"],
            "AVISITN": [0.0, 2.0, 2.0, 4.0],
            "ADT": [1.0, 15.0, 15.0, 29.0],
            "AVAL": [120.0, 130.0, 140.0, 90.0],
            "ABLFL": ["Y", "", "", ""],
            "DTYPE": ["", "", "", ""],
            "ANL01FL": ["", "Y", "Y", "Y"],
        }
    )
    out = derive_base(
        frame, {"variable": "BASE", "source": "AVAL", "by": ["USUBJID", "PARAMCD", "BASETYPE"]}, {}
    )
    out = derive_change(
        out,
        {"variable": "CHG", "percent": "PCHG", "where": {"variable": "AVISITN", "op": "gt", "value": 0}},
        {},
    )
    assert out["BASE"].tolist() == [120.0] * 4
    assert np.isnan(out["CHG"].iloc[0]) and out["CHG"].tolist()[1:] == [10.0, 20.0, -30.0]
    assert out["PCHG"].iloc[3] == pytest.approx(-25.0)
    adsl = pd.DataFrame({"USUBJID": ["A"], "TRT01A": ["X"]})
    out = derive_summary_records(
        out, {"dtype": "AVERAGE", "by": ["USUBJID", "PARAMCD", "AVISIT", "ADT"]}, {"adsl": adsl}
    )
    avg = out[out["DTYPE"] == "AVERAGE"]
    assert avg.set_index("AVISIT")["AVAL"].to_dict() == {"Baseline": 120.0, "Week 2": 135.0, "Week 4": 90.0}
    assert (avg["TRT01A"] == "X").all()
    step = {
        "by": ["USUBJID", "PARAMCD"],
        "order": ["ADT", "AVAL"],
        "where": {
            "all": [{"variable": "AVISITN", "op": "gt", "value": 0}, {"variable": "DTYPE", "op": "empty"}]
        },
        "set": {"AVISIT": "End of Treatment", "AVISITN": 99, "DTYPE": "LOV"},
        "clear": ["ABLFL"],
    }
    out = derive_extreme_records(out.fillna({"DTYPE": ""}), step, {})
    lov = out[out["DTYPE"] == "LOV"]
    assert len(lov) == 1 and lov["AVAL"].iloc[0] == 90.0 and lov["AVISITN"].iloc[0] == 99


def test_a_summary_record_is_the_mean_of_its_own_records_whatever_else_the_frame_holds():
    """The pilot's MAP at one visit: 76.66666666666667, 76.66666666666667, 82.0 averaged. Added in row order
    the sum is (a + a) + b; the mean must not depend on the other subjects around (a subject partition)."""
    a, b = 76.66666666666667, 82.0
    expected = ((a + a) + b) / 3
    adsl = pd.DataFrame({"USUBJID": ["A", "B"], "TRT01A": ["X", "Y"]})

    def average(frame: pd.DataFrame) -> float:
        out = derive_summary_records(
            frame, {"dtype": "AVERAGE", "by": ["USUBJID", "PARAMCD"]}, {"adsl": adsl}
        )
        return out[(out["DTYPE"] == "AVERAGE") & (out["USUBJID"] == "A")]["AVAL"].iloc[0]

    alone = pd.DataFrame({"USUBJID": ["A"] * 3, "PARAMCD": ["MAP"] * 3, "AVAL": [a, a, b], "DTYPE": [""] * 3})
    other = pd.DataFrame({"USUBJID": ["B"], "PARAMCD": ["MAP"], "AVAL": [1.0], "DTYPE": [""]})
    assert average(alone) == expected
    assert average(pd.concat([other, alone], ignore_index=True)) == expected


@pytest.mark.parametrize(
    "schemas, steps",
    [(ADSL_STEP_SCHEMAS, ADSL_STEPS), (BDS_STEP_SCHEMAS, BDS_STEPS), (OCCDS_STEP_SCHEMAS, OCCDS_STEPS)],
    ids=["adsl", "bds", "occds"],
)
def test_every_step_a_spec_may_name_is_one_the_engine_runs(schemas, steps):
    assert set(schemas) == set(steps)


def test_cut_with_where_groups_only_its_records_and_keeps_the_others():
    frame = pd.DataFrame(
        {"PARAMCD": ["TDURD", "TDOSE", "TDURD", "TDOSE"], "AVAL": [20.0, 50.0, 120.0, 300.0]}
    )
    days = {
        "variable": "AVALCAT1",
        "source": "AVAL",
        "where": {"variable": "PARAMCD", "op": "eq", "value": "TDURD"},
        "cuts": [{"below": 30, "value": "< 30 days"}, {"value": ">= 30 days"}],
    }
    dose = {
        "variable": "AVALCAT1",
        "source": "AVAL",
        "where": {"variable": "PARAMCD", "op": "eq", "value": "TDOSE"},
        "cuts": [{"below": 100, "value": "< 100 mg"}, {"value": ">= 100 mg"}],
    }
    out = derive_cut(derive_cut(frame, days), dose)
    assert out["AVALCAT1"].tolist() == ["< 30 days", "< 100 mg", ">= 30 days", ">= 100 mg"]


def test_compute_products_and_ratios_with_a_zero_denominator_missing():
    frame = pd.DataFrame({"EXDOSE": [54.0, 0.0, np.nan], "EXDURD": [14.0, 7.0, 3.0]})
    out = derive_compute(frame, {"variable": "DOSEO", "formula": "product", "inputs": ["EXDOSE", "EXDURD"]})
    assert out["DOSEO"].tolist()[:2] == [756.0, 0.0] and np.isnan(out["DOSEO"].iloc[2])
    out = derive_compute(out, {"variable": "R", "formula": "ratio", "inputs": ["EXDURD", "EXDOSE"]})
    assert out["R"].iloc[0] == pytest.approx(14 / 54) and out["R"].iloc[1:].isna().all()


def test_aggregate_totals_any_flags_and_the_summarised_period():
    # subject A: two dosing records (14 d x 54 mg, then 10 d x 54 mg, end missing on the second);
    # subject B: one record without a dose and no adjustment
    frame = pd.DataFrame(
        {
            "USUBJID": ["A", "A", "A", "A", "B", "B"],
            "PARAMCD": ["DOSE", "DOSE", "ADJ", "ADJ", "DOSE", "ADJ"],
            "AVAL": [756.0, 540.0, np.nan, np.nan, np.nan, np.nan],
            "AVALC": ["", "", "", "Y", "", ""],
            "ASTDT": [10.0, 24.0, 10.0, 24.0, 5.0, 5.0],
            "AENDT": [23.0, np.nan, 23.0, np.nan, 9.0, 9.0],
            "DTYPE": [""] * 6,
        }
    )
    adsl = pd.DataFrame({"USUBJID": ["A", "B"], "TRT01A": ["X", "Y"]})
    step = {
        "by": ["USUBJID"],
        "set": {"PARCAT1": "OVERALL"},
        "start": "ASTDT",
        "end": "AENDT",
        "parameters": [
            {"paramcd": "TDOSE", "source": "DOSE", "function": "sum"},
            {"paramcd": "TADJ", "source": "ADJ", "function": "any"},
        ],
    }
    out = derive_aggregate(frame, step, {"adsl": adsl})
    new = out[out["PARCAT1"] == "OVERALL"].set_index(["USUBJID", "PARAMCD"])
    assert new.loc[("A", "TDOSE"), "AVAL"] == 1296.0
    assert new.loc[("B", "TDOSE"), "AVAL"] == 0.0  # a sum of no dose is 0, as admiral's sum(na.rm)
    assert new.loc[("A", "TADJ"), "AVALC"] == "Y" and new.loc[("B", "TADJ"), "AVALC"] == ""
    # earliest start; latest end, the second record's start standing in for its missing end
    assert (new.loc[("A", "TDOSE"), "ASTDT"], new.loc[("A", "TDOSE"), "AENDT"]) == (10.0, 24.0)
    assert new.loc[("B", "TADJ"), "TRT01A"] == "Y"
    assert len(out) == len(frame) + 4


def test_a_ratio_parameter_per_group_is_missing_for_a_zero_duration():
    frame = pd.DataFrame(
        {
            "USUBJID": ["A", "A", "B", "B"],
            "PARAMCD": ["TDOSE", "TDURD", "TDOSE", "TDURD"],
            "AVAL": [1296.0, 24.0, 0.0, 0.0],
            "DTYPE": [""] * 4,
        }
    )
    step = {"paramcd": "AVDDSE", "formula": "ratio", "inputs": ["TDOSE", "TDURD"], "by": ["USUBJID"]}
    out = derive_parameter(frame, step, {"adsl": pd.DataFrame({"USUBJID": ["A", "B"]})})
    avg = out[out["PARAMCD"] == "AVDDSE"].set_index("USUBJID")["AVAL"]
    assert avg["A"] == 54.0 and np.isnan(avg["B"])


@pytest.fixture
def pilot_copy(tmp_path):
    target = tmp_path / "study"
    shutil.copytree(PILOT, target)
    return target


def test_params_errors_name_file_line_and_step(pilot_copy):
    params = pilot_copy / "specs" / "adam" / "params" / "adsl.yaml"
    text = params.read_text(encoding="utf-8")
    text = text.replace("  - duration: {variable: TRTDURD", "  - durration: {variable: TRTDURD")
    text = text.replace("{variable: TRTSDT, op: not_empty}", "{varible: TRTSDT, op: not_empty}")
    params.write_text(text, encoding="utf-8")
    (pilot_copy / "specs" / "adam" / "params" / "advs.yaml").unlink()
    findings = check_parameter_specs(pilot_copy)
    messages = [f"{f.file}:{f.line}: {f.message}" for f in findings]
    assert any("durration" in m and "adsl.yaml" in m for m in messages), messages
    assert any("varible" in m for m in messages), messages
    assert any("advs.yaml" in m and "missing" in m for m in messages), messages
    assert all(f.line for f in findings if "adsl.yaml" in str(f.file)), messages


def test_a_supplemental_qualifier_the_sdtm_spec_does_not_declare_is_named(pilot_copy):
    params = pilot_copy / "specs" / "adam" / "params" / "adae.yaml"
    params.write_text(
        params.read_text(encoding="utf-8").replace(
            "source: AE\n", "source: AE\nsupplemental: [AETRTEM, AETRTEX]\n"
        ),
        encoding="utf-8",
    )
    messages = [f"{f.file}:{f.line}: {f.message}" for f in check_parameter_specs(pilot_copy)]
    # the pilot's SUPPAE declares AETRTEM; AETRTEX is a typo
    assert len(messages) == 1 and "AETRTEX is not a supplemental qualifier" in messages[0], messages
    assert "adae.yaml:" in messages[0] and not messages[0].endswith(":None")


def test_a_study_declaring_only_adsl_needs_only_dm(pilot_copy):
    for spec in (pilot_copy / "specs" / "adam").glob("*.yaml"):
        if spec.stem != "adsl":
            spec.unlink()
            (pilot_copy / "specs" / "adam" / "params" / spec.name).unlink()
    study = load_study(pilot_copy)
    dm = pd.DataFrame(
        {
            "STUDYID": ["S", "S"],
            "USUBJID": ["S-1", "S-2"],
            "SUBJID": ["1", "2"],
            "SITEID": ["1", "1"],
            "AGE": [70.0, 60.0],
            "AGEU": ["YEARS"] * 2,
            "SEX": ["F", "M"],
            "RACE": ["WHITE", "ASIAN"],
            "ETHNIC": [""] * 2,
            "COUNTRY": ["USA"] * 2,
            "ARMCD": ["Pbo", "Pbo"],
            "ARM": ["Placebo"] * 2,
            "ACTARMCD": ["Pbo", "Pbo"],
            "ACTARM": ["Placebo"] * 2,
            "ARMNRS": ["", ""],
            "RFSTDTC": ["2014-01-02", ""],
            "RFENDTC": ["", ""],
            "RFXSTDTC": ["2014-01-02", ""],
            "RFXENDTC": ["2014-03-01", ""],
            "RFICDTC": ["2013-12-20", "2013-12-21"],
            "RFPENDTC": ["", ""],
            "DTHDTC": ["", ""],
            "DTHFL": ["", ""],
        }
    )
    result = derive_adam({"DM": dm}, study.settings, study_dir=pilot_copy)
    adsl = result.datasets["ADSL"]
    assert set(result.datasets) == {"ADSL"}
    assert adsl["TRTSDT"].tolist()[0] == days("2014-01-02") and adsl["SAFFL"].tolist() == ["Y", "N"]
    assert adsl["TRTDURD"].iloc[0] == days("2014-03-01") - days("2014-01-02") + 1
    assert adsl["AGEGR1"].tolist() == [">64", "18-64"]
    assert adsl["EOSSTT"].tolist() == ["ONGOING", "ONGOING"]
    # EX, DS and AE are absent: each derivation that reads them says so, nothing crashes
    absent = {(f.code, f.variable) for f in result.findings}
    assert ("ADM006", "TRTSDT") in absent and ("ADM006", "EOSSTT") in absent, absent


def test_a_declared_occurrence_dataset_without_its_domain_is_a_named_error(pilot_copy):
    study = load_study(pilot_copy)
    dm = pd.DataFrame({"STUDYID": ["S"], "USUBJID": ["S-1"]})
    for col in (
        "SUBJID",
        "SITEID",
        "AGEU",
        "SEX",
        "RACE",
        "ETHNIC",
        "COUNTRY",
        "ARMCD",
        "ARM",
        "ACTARMCD",
        "ACTARM",
        "ARMNRS",
        "RFSTDTC",
        "RFENDTC",
        "RFXSTDTC",
        "RFXENDTC",
        "RFICDTC",
        "RFPENDTC",
        "DTHDTC",
        "DTHFL",
    ):
        dm[col] = ""
    dm["AGE"] = 70.0
    with pytest.raises(AdamInputError, match=r"^AE: required SDTM dataset is missing \(ADAE"):
        derive_adam(
            {"DM": dm, "VS": pd.DataFrame({"USUBJID": [], "VSTESTCD": []})},
            study.settings,
            study_dir=pilot_copy,
        )


def test_records_carry_the_adsl_variables_the_specs_name_and_no_others():
    # a name counts wherever a spec writes it: a key, a value, a list item, a word of an expression
    from adam._steps import compute_named_variables, compute_steps_reading, compute_subject_view

    doc = {
        "derivations": [
            {"study_day": {"variable": "ASTDY", "date": "ASTDT", "reference": "TRTSDT"}},
            {"flag": {"variable": "F", "where": {"AGE": {"ge": 65}}}},
            {"compute": {"variable": "R", "expression": "AVAL / BASE*HEIGHTBL"}},
            {"keep": ["SEX", ("RACE",)]},
        ]
    }
    named = compute_named_variables(doc, ["EOSDT"], "TRTEDT")
    assert {"TRTSDT", "AGE", "AVAL", "BASE", "HEIGHTBL", "SEX", "RACE", "EOSDT", "TRTEDT", "where"} <= named
    assert "ARM" not in named
    adsl = pd.DataFrame({c: ["x"] for c in ("STUDYID", "USUBJID", "ARM", "AGE", "TRTSDT", "SEX", "BMIBL")})
    assert compute_subject_view(adsl, named).columns.tolist() == ["USUBJID", "AGE", "TRTSDT", "SEX"]
    # ADSL's own steps count only where they read an ADaM dataset's records (a baseline covariate)
    adsl_doc = {
        "steps": [
            {"baseline_covariate": {"variable": "BWT", "dataset": "advs", "where": {"ANL01FL": "Y"}}},
            {"subject_value": {"variable": "DTHDT", "dataset": "DS", "where": {"DSDECOD": "DEATH"}}},
        ]
    }
    reading = compute_steps_reading(adsl_doc, {"ADVS", "ADAE"})
    assert reading == [{"variable": "BWT", "dataset": "advs", "where": {"ANL01FL": "Y"}}]


def test_sort_in_place_orders_records_by_the_key_with_missing_and_empty_last():
    """sort_in_place: by USUBJID then AVAL descending then a text key, missing values last, an empty text
    before other text (pandas' str dtype; see the closing note of 2026-12-07: _empty_last moves only
    object text), ties kept in their order; every column moves with its record, the index becomes
    0..n-1, a frame sharing columns with it (copy-on-write) keeps its own order, and the order is
    compute_sorted's. Worked by hand."""
    from adam._steps import sort_in_place

    frame = pd.DataFrame(
        {
            "USUBJID": pd.Series(["B", "A", "B", "A", "A", "B"], dtype="str"),
            "AVAL": [1.0, np.nan, 3.0, 2.0, 2.0, 3.0],
            "DTYPE": pd.Series(["", "X", "LOCF", "", "AVERAGE", ""], dtype="str"),
            "ROW": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
        }
    ).set_index(pd.Index([10, 11, 12, 13, 14, 15]))
    other = frame[["USUBJID", "ROW"]]
    expected = compute_sorted(frame, ["USUBJID", "AVAL", "DTYPE"], [True, False, True])
    out = sort_in_place(frame, ["USUBJID", "AVAL", "DTYPE"], [True, False, True])
    # A: AVAL 2 (the empty DTYPE, then AVERAGE), then missing; B: AVAL 3 (empty, then LOCF), then 1
    assert out["ROW"].tolist() == [3.0, 4.0, 1.0, 5.0, 2.0, 0.0]
    assert out["DTYPE"].tolist() == ["", "AVERAGE", "X", "", "LOCF", ""]
    pd.testing.assert_frame_equal(out, expected.reset_index(drop=True))
    assert out.index.tolist() == list(range(6)) and str(out["USUBJID"].dtype) == "str"
    assert other["ROW"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0] and other.index[0] == 10


def test_text_of_a_column_is_stripped_as_str_strip_strips_it_and_missing_is_empty():
    from adam._common import text

    values = ["  A ", None, "B", "\u00a0C\u3000", "", "\tD\n"]
    index = [10, 11, 12, 13, 14, 15]
    frame = pd.DataFrame(
        {
            "OBJ": pd.Series(values, dtype=object, index=index),
            "STR": pd.Series(values, dtype="str", index=index),
            "N": [1.5, np.nan] * 3,
        },
        index=index,
    )
    expected = ["A", "", "B", "C", "", "D"]  # Python's str.strip: U+00A0 and U+3000 are whitespace too
    for name in ("OBJ", "STR"):
        got = text(frame, name)
        assert got.tolist() == expected and got.dtype == "str" and list(got.index) == list(frame.index), name
    assert text(frame, "N").tolist() == ["1.5", ""] * 3
    assert text(frame, "ABSENT").tolist() == [""] * 6
    clean = text(frame.assign(OK=["A", "B", "C", "D", "E", "F"]), "OK")  # nothing to strip, none missing
    assert clean.tolist() == list("ABCDEF") and clean.dtype == "str"
