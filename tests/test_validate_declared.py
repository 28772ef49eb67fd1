"""Rules written as data (cdiscgen/validate/rules/*.yaml, read by cdiscgen/validate/_declared.py).

Two parts: the vocabulary on frames built here (each test worked by hand from the entry's meaning), and
one injected defect per rule in the REAL bundled output (the defect machinery of
tests/test_validate_pipeline.py): each defect must be caught by its rule, and every other new finding
must be one the defect implies (listed with it and why).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from cdiscgen.validate import list_rules, validate_datasets
from cdiscgen.validate._declared import DeclaredRuleError, _register, declared_codes
from tests.test_validate_declared_catalogue import HAND_WORKED
from tests.test_validate_pipeline import (
    Sub,
    _key,
    blank,
    drop_column,
    filled,
    first,
    real,  # noqa: F401 - the module fixture of the real output
    set_row,
    shift_day,
    validate_sub,
)

# ----------------------------------------------------------------------------------- the vocabulary


def _lb(**columns: list) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {"STUDYID": ["S"] * n, "DOMAIN": ["LB"] * n, "USUBJID": [f"S-{i}" for i in range(n)]}
    base["LBSEQ"] = [float(i + 1) for i in range(n)]
    base["LBTESTCD"] = ["HGB"] * n
    return pd.DataFrame({**base, **columns})


def _codes(datasets: dict, code: str) -> list[tuple]:
    found = validate_datasets(datasets, codes=[code]).findings
    return [(f.dataset, f.usubjid, f.variable) for f in found if f.code == code]


def test_a_condition_and_a_requirement():
    # CDG2101: LBREASND populated -> LBSTAT "NOT DONE"; rows 0 and 1 break it, row 2 holds, row 3 has no reason
    lb = _lb(
        LBREASND=["Haemolysed", "Haemolysed", "Haemolysed", ""],
        LBSTAT=["", "DONE", "NOT DONE", ""],
        LBORRES=["", "", "", "12"],
    )
    assert _codes({"LB": lb}, "CDG2101") == [("LB", "S-0", "LBSTAT"), ("LB", "S-1", "LBSTAT")]


def test_a_value_test_passes_a_null_in_then_and_fails_it_in_when():
    # CDG2001 (DTHFL eq Y): null passes; CDG2122 (IECAT eq INCLUSION -> IEORRES eq N): a null IECAT is no condition
    dm = pd.DataFrame(
        {"STUDYID": ["S"] * 3, "DOMAIN": ["DM"] * 3, "USUBJID": ["A", "B", "C"], "DTHFL": ["Y", "", "N"]}
    )
    assert _codes({"DM": dm}, "CDG2001") == [("DM", "C", "DTHFL")]
    ie = pd.DataFrame(
        {
            "STUDYID": ["S"] * 3,
            "DOMAIN": ["IE"] * 3,
            "USUBJID": ["A", "B", "C"],
            "IESEQ": [1.0, 1.0, 1.0],
            "IECAT": ["INCLUSION", "", "INCLUSION"],
            "IEORRES": ["Y", "Y", ""],
        }
    )
    assert _codes({"IE": ie}, "CDG2122") == [("IE", "A", "IEORRES")]


def test_subject_in_another_dataset():
    # CDG2004: a subject with an AE whose AESDTH is Y has DTHFL Y
    dm = pd.DataFrame(
        {"STUDYID": ["S"] * 3, "DOMAIN": ["DM"] * 3, "USUBJID": ["A", "B", "C"], "DTHFL": ["", "Y", ""]}
    )
    ae = pd.DataFrame(
        {
            "STUDYID": ["S"] * 3,
            "DOMAIN": ["AE"] * 3,
            "USUBJID": ["A", "B", "C"],
            "AESEQ": [1.0] * 3,
            "AESDTH": ["Y", "Y", "N"],
        }
    )
    assert _codes({"DM": dm, "AE": ae}, "CDG2004") == [("DM", "A", "DTHFL")]
    # without AE the rule does not apply
    result = validate_datasets({"DM": dm}, codes=["CDG2004"])
    assert result.runs["CDG2004"].status == "not applicable"


def test_the_subjects_value_elsewhere_and_dates_at_common_precision():
    # CDG2006: DS DEATH starts on DM.DTHDTC; CDG0303: RFENDTC not before RFSTDTC (2024-05 vs 2024-05-10 equal)
    dm = pd.DataFrame(
        {
            "STUDYID": ["S"] * 3,
            "DOMAIN": ["DM"] * 3,
            "USUBJID": ["A", "B", "C"],
            "DTHDTC": ["2025-04-22", "2024", ""],
            "RFSTDTC": ["2024-05", "2024-05-11", "2024-05-11"],
            "RFENDTC": ["2024-05-10", "2024-05-10", ""],
        }
    )
    ds = pd.DataFrame(
        {
            "STUDYID": ["S"] * 3,
            "DOMAIN": ["DS"] * 3,
            "USUBJID": ["A", "B", "C"],
            "DSSEQ": [1.0] * 3,
            "DSDECOD": ["DEATH"] * 3,
            "DSSTDTC": ["2025-04-21", "2024-09-12", "2024-09-12"],
        }
    )
    assert _codes({"DM": dm, "DS": ds}, "CDG2006") == [
        ("DS", "A", "DSSTDTC"),
        ("DS", "B", "DSSTDTC"),
        ("DS", "C", "DSSTDTC"),
    ]
    # the reference period is checked by CDG0303 (its end is reported)
    assert _codes({"DM": dm}, "CDG0303") == [("DM", "B", "RFENDTC")]


def test_a_date_not_after_the_subjects_date_elsewhere():
    # CDG2018: CMSTDTC not after DM.DTHDTC. A died 2025-04-22: a start on 04-23 is after, 04-22 is not;
    # B died in "2025-04": "2025-05-01" is after the month, "2025-04-30" is not (common precision: month);
    # C did not die: nothing to compare with
    dm = pd.DataFrame(
        {
            "STUDYID": ["S"] * 3,
            "DOMAIN": ["DM"] * 3,
            "USUBJID": ["A", "B", "C"],
            "DTHDTC": ["2025-04-22", "2025-04", ""],
        }
    )
    cm = pd.DataFrame(
        {
            "STUDYID": ["S"] * 6,
            "DOMAIN": ["CM"] * 6,
            "USUBJID": ["A", "A", "B", "B", "C", "C"],
            "CMSEQ": [1.0, 2.0, 1.0, 2.0, 1.0, 2.0],
            "CMTRT": ["X"] * 6,
            "CMSTDTC": ["2025-04-23T10:00", "2025-04-22", "2025-05-01", "2025-04-30", "2030-01-01", ""],
        }
    )
    found = validate_datasets({"DM": dm, "CM": cm}, codes=["CDG2018"]).findings
    assert [(f.usubjid, f.seq) for f in found] == [("A", 1), ("B", 1)]


def test_one_to_one_across_the_dataset():
    # CDG2613 RACE/RACEN: WHITE is 1 and 2 (rows 0, 1); ASIAN 3 and BLACK 3 (rows 2, 3); row 4 fine;
    # row 5 has no RACEN (CDG2611's business, not a one-to-one break)
    adsl = pd.DataFrame(
        {
            "STUDYID": ["S"] * 6,
            "USUBJID": [f"S-{i}" for i in range(6)],
            "RACE": ["WHITE", "WHITE", "ASIAN", "BLACK", "OTHER", "WHITE"],
            "RACEN": [1.0, 2.0, 3.0, 3.0, 5.0, np.nan],
        }
    )
    assert [u for _, u, _ in _codes({"ADSL": adsl}, "CDG2613")] == ["S-0", "S-1", "S-2", "S-3"]
    assert [u for _, u, _ in _codes({"ADSL": adsl}, "CDG2611")] == ["S-5"]  # RACE without RACEN
    assert _codes({"ADSL": adsl}, "CDG2612") == []


def test_adam_rules_look_at_adam_datasets_only():
    # CDG2608 (no analysis day 0) on ADLB; an SDTM dataset with a column named ADY is not ADaM's business,
    # and an SDTM rule (CDG2304, --DY on a complete date) does not look at ADLB
    adlb = pd.DataFrame({"STUDYID": ["S"] * 2, "USUBJID": ["A", "B"], "ASEQ": [1.0, 1.0], "ADY": [0.0, 1.0]})
    lb = _lb(LBDTC=["2024-01-01"], ADY=[0.0])
    assert _codes({"ADLB": adlb, "LB": lb}, "CDG2608") == [("ADLB", "A", "ADY")]
    assert _codes({"ADLB": adlb}, "CDG2304") == []


def test_companions_present_and_populated_together():
    # COUNTRY/COUNTRYL: row 0 fine, row 1 COUNTRYL null, row 2 COUNTRY null; FRA is "France" and "Frankreich"
    adsl = pd.DataFrame(
        {
            "STUDYID": ["S"] * 4,
            "USUBJID": ["A", "B", "C", "D"],
            "COUNTRY": ["FRA", "DEU", "", "FRA"],
            "COUNTRYL": ["France", "", "Italy", "Frankreich"],
        }
    )
    assert [u for _, u, _ in _codes({"ADSL": adsl}, "CDG2623")] == ["B"]  # COUNTRY without COUNTRYL
    assert [u for _, u, _ in _codes({"ADSL": adsl}, "CDG2624")] == ["C"]  # COUNTRYL without COUNTRY
    assert [u for _, u, _ in _codes({"ADSL": adsl}, "CDG2625")] == ["A", "D"]  # not one-to-one
    # a companion alone in its dataset (COUNTRYL without COUNTRY): the dataset is reported once
    alone = adsl.drop(columns=["COUNTRY"])
    assert _codes({"ADSL": alone}, "CDG2626") == [("ADSL", None, "COUNTRY")]


def test_a_value_of_another_dataset():
    dm = pd.DataFrame(
        {"STUDYID": ["S"] * 2, "DOMAIN": ["DM"] * 2, "USUBJID": ["A", "B"], "ARMCD": ["ARM1", "ARMX"]}
    )
    ta = pd.DataFrame(
        {"STUDYID": ["S"], "DOMAIN": ["TA"], "ARMCD": ["ARM1"], "ARM": ["Arm 1"], "EPOCH": ["TREATMENT"]}
    )
    assert _codes({"DM": dm, "TA": ta}, "CDG2010") == [("DM", "B", "ARMCD")]


def test_an_optional_variable_counts_as_null_when_absent():
    # CDG2103: not derived (LBDRVFL absent or not Y) and no status -> a result is required
    lb = _lb(LBSTAT=["", "NOT DONE", ""], LBORRES=["", "", "5"])
    assert _codes({"LB": lb}, "CDG2103") == [("LB", "S-0", "LBORRES")]
    derived = _lb(LBSTAT=["", ""], LBORRES=["", ""], LBDRVFL=["Y", ""])
    assert _codes({"LB": derived}, "CDG2103") == [("LB", "S-1", "LBORRES")]


def test_a_dataset_lacking_a_variable_is_not_examined():
    lb = _lb(LBREASND=["Haemolysed"])  # no LBSTAT: CDG2101 cannot apply, CDG2409 says the variable is missing
    result = validate_datasets({"LB": lb}, codes=["CDG2101", "CDG2409"])
    assert result.runs["CDG2101"].status == "not applicable"
    assert [(f.dataset, f.variable) for f in result.findings] == [("LB", "LBSTAT")]


def test_censored_results_may_carry_a_numeric_range():
    # CDG2111: a range needs a numeric result, but "<0.5" (below the limit of quantitation) is continuous
    lb = _lb(LBSTRESC=["<0.5", "NEGATIVE", "3.1"], LBSTRESN=[np.nan, np.nan, 3.1], LBSTNRLO=[3.3, 0.0, 3.3])
    assert _codes({"LB": lb}, "CDG2111") == [("LB", "S-1", "LBSTRESN")]


def test_name_part_and_max_length():
    supp = pd.DataFrame(
        {
            "STUDYID": ["S"] * 2,
            "RDOMAIN": ["AE", "CM"],
            "USUBJID": ["A", "B"],
            "IDVAR": ["AESEQ"] * 2,
            "IDVARVAL": ["1"] * 2,
            "QNAM": ["RELDARA", "RELDARA"],
            "QLABEL": ["Relationship to Daratumumab", "R" * 41],
            "QVAL": ["RELATED"] * 2,
        }
    )
    assert _codes({"SUPPAE": supp}, "CDG2209") == [("SUPPAE", "B", "RDOMAIN")]
    assert _codes({"SUPPAE": supp}, "CDG2206") == [("SUPPAE", "B", "QLABEL")]


_ENTRY = {
    "code": "CDG2998",
    "name": "x",
    "severity": "error",
    "text": "t",
    "bad": "b",
    "good": "g",
    "reference": "r",
}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({**_ENTRY, "colour": 1, "then": {"X": {"populated": True}}}, "unknown key"),
        ({"code": "CDG2998", "then": {"X": {"populated": True}}}, "missing key.*bad, good, name"),
        ({**_ENTRY, "then": {"X": {"populated": True}}, "has_variables": {"then": ["X"]}}, "either"),
        ({**_ENTRY, "then": {"X": {"bigger": 1}}}, "unknown test"),
        ({**_ENTRY, "then": {"X": "Y"}}, "needs a mapping"),
        ({**_ENTRY, "severity": "fatal", "then": {"X": {"populated": True}}}, "fatal"),
        ({**_ENTRY, "published": ["SD0083"], "then": {"X": {"populated": True}}}, "SD0083"),
    ],
)
def test_an_entry_that_cannot_be_a_rule_is_named(entry, message):
    with pytest.raises(DeclaredRuleError, match=f"x.yaml CDG2998.*{message}"):
        _register(entry, "x.yaml")


def test_every_declared_rule_is_in_the_catalog_with_its_text():
    catalog = {r.code: r for r in list_rules()}
    assert len(declared_codes()) >= 75
    for code in declared_codes():
        info = catalog[code]
        assert info.text and info.bad and info.good and info.reference, code


# ------------------------------------------------------------------------- defects in the real output


@dataclasses.dataclass
class Defect:
    id: str
    mutate: Callable[[Sub], None]
    code: str
    dataset: str
    also: frozenset[str] = frozenset()  # other rules the defect implies


def D(id: str, mutate, code: str, dataset: str, *also: str) -> Defect:  # noqa: N802 - a table row
    return Defect(id, mutate, code, dataset, frozenset(also))


def _alive(s: Sub) -> str:
    dm = s.real.parts["sdtm"].frames["DM"]
    return str(dm.loc[(dm.DTHFL != "Y") & (dm.ARMNRS == ""), "USUBJID"].iloc[0])


def _dead(s: Sub) -> str:
    dm = s.real.parts["sdtm"].frames["DM"]
    return str(dm.loc[dm.DTHFL == "Y", "USUBJID"].iloc[0])


def _of_alive(name: str, **conds) -> Callable[[Sub], int]:
    return lambda s: s.row(name, USUBJID=_alive(s), **conds)


def _dm_row(pick: Callable[[Sub], str]) -> Callable[[Sub], int]:
    return lambda s: s.row("DM", USUBJID=pick(s))


def _dd_for_alive(s: Sub) -> None:
    dd = s.frame("DD")
    extra = dd.iloc[[0]].copy()
    extra["USUBJID"] = _alive(s)
    extra["DDDTC"], extra["DDDY"], extra["EPOCH"] = "", np.nan, ""  # a death detail without a date
    s.put("DD", pd.concat([dd, extra], ignore_index=True))


def _days(s: Sub, name: str, row: int, col: str, days: int) -> str:
    return shift_day(str(s.value(name, row, col)), days)


def _after_death(name: str, column: str, days: int, **conds) -> Callable[[Sub], None]:
    """`column` of the first `name` record of a subject who died moved to `days` after the death date."""

    def mutate(s: Sub) -> None:
        dm = s.real.parts["sdtm"].frames["DM"]
        dead = dm[(dm.DTHFL == "Y") & (dm.DTHDTC.str.len() >= 10)]
        subjects = set(dead.USUBJID) & set(s.real.parts["sdtm"].frames[name].USUBJID)
        subject = sorted(subjects)[0]
        death = str(dead.loc[dead.USUBJID == subject, "DTHDTC"].iloc[0])[:10]
        i = s.row(name, USUBJID=subject, **conds)
        s.set(name, i, **{column: shift_day(death, days)})

    return mutate


NOT_DONE = {"LBSTAT": "NOT DONE"}
RESULT = {"LBORRES": filled, "LBSTNRLO": lambda c: c.notna(), "LBORRESU": filled}

DEFECTS = [
    # --- subjects and death
    D("dthfl-n", set_row("DM", _dm_row(_alive), DTHFL="N"), "CDG2001", "DM", "CDG0602", "CDG0801", "CDG1306"),
    D("dd-of-a-living-subject", _dd_for_alive, "CDG2002", "DM"),
    D(
        "death-disposition-of-a-living-subject",
        set_row("DS", _of_alive("DS", DSDECOD="COMPLETED"), DSDECOD="DEATH", DSTERM="DEATH"),
        "CDG2003",
        "DM",
        "CDG2006",
        "CDG0802",
        "CDG1306",
    ),
    # an AE with AESDTH Y is serious: on a non-serious AE that is CDG2701 too
    D("aesdth-of-a-living-subject", set_row("AE", _of_alive("AE"), AESDTH="Y"), "CDG2004", "DM", "CDG2701"),
    D("fatal-outcome-of-a-living-subject", set_row("AE", _of_alive("AE"), AEOUT="FATAL"), "CDG2005", "DM"),
    D(
        "death-disposition-a-day-early",
        set_row(
            "DS",
            first("DS", DSDECOD="DEATH", DSSTDTC=lambda c: c.str.len() == 10),
            DSSTDTC=lambda s, i: _days(s, "DS", i, "DSSTDTC", -1),
        ),
        "CDG2006",
        "DS",
        "CDG0304",
    ),
    # moving a date moves its study day (CDG0304) and may put it after its end (CDG0303) or outside the
    # subject's elements (EPOCH null: CDG0701, study day not derivable: CDG2305)
    D(
        "therapy-after-death",
        _after_death("CM", "CMSTDTC", 10),
        "CDG2018",
        "CM",
        *("CDG0303", "CDG0701", "CDG2305"),
    ),
    D("exposure-ends-after-death", _after_death("EX", "EXENDTC", 3), "CDG2019", "EX", "CDG0304", "CDG0504"),
    D("ae-starts-after-death", _after_death("AE", "AESTDTC", 2), "CDG2020", "AE", "CDG0303", "CDG0304"),
    D("lab-after-death", _after_death("LB", "LBDTC", 4), "CDG2022", "LB", "CDG0304"),
    D("visit-after-death", _after_death("SV", "SVSTDTC", 4), "CDG2023", "SV", "CDG0303", "CDG0304"),
    D("last-exposure-after-death", _after_death("DM", "RFXENDTC", 5), "CDG2024", "DM", "CDG0504"),
    D("age-without-unit", set_row("DM", _dm_row(_alive), AGEU=""), "CDG2007", "DM", "CDG0110"),
    D("unit-without-age", set_row("DM", _dm_row(_alive), AGE=np.nan), "CDG2008", "DM"),
    D("negative-age", set_row("DM", _dm_row(_alive), AGE=-3.0), "CDG2009", "DM"),
    D(
        "armcd-not-in-ta",
        set_row("DM", _dm_row(_alive), ARMCD="DARA"),
        "CDG2010",
        "DM",
        "CDG1306",
        "CDG0508",
        "CDG2514",
    ),
    D(
        "arm-not-in-ta",
        set_row("DM", _dm_row(_alive), ARM="Daratumumab alone"),
        "CDG2011",
        "DM",
        "CDG1306",
        "CDG2514",
    ),
    D(
        "actarmcd-not-in-ta",
        set_row("DM", _dm_row(_alive), ACTARMCD="DARA"),
        "CDG2012",
        "DM",
        "CDG1306",
        "CDG0508",
        "CDG2515",
    ),
    D(
        "actarm-not-in-ta",
        set_row("DM", _dm_row(_alive), ACTARM="Daratumumab alone"),
        "CDG2013",
        "DM",
        "CDG1306",
        "CDG2515",
    ),
    D(
        "consent-after-first-dose",
        set_row("DM", _dm_row(_alive), RFICDTC=lambda s, i: _days(s, "DM", i, "RFSTDTC", 2)),
        "CDG2016",
        "DM",
        "CDG0701",
    ),
    D(
        "death-before-consent",
        set_row("DM", _dm_row(_dead), DTHDTC=lambda s, i: _days(s, "DM", i, "RFICDTC", -1)[:10]),
        "CDG2017",
        "DM",
        "CDG2006",
        # every record of the subject after consent is now after death
        *("CDG2018", "CDG2019", "CDG2020", "CDG2022", "CDG2023", "CDG2024"),
    ),
    # --- findings
    D(
        "reason-without-not-done",
        set_row("LB", first("LB", **NOT_DONE), LBSTAT=""),
        "CDG2101",
        "LB",
        "CDG2103",
        "CDG0108",
    ),
    D(
        "result-with-not-done",
        set_row("LB", first("LB", **RESULT), LBSTAT="NOT DONE"),
        "CDG2102",
        "LB",
        "CDG2104",
        "CDG2105",
        "CDG2106",
        "CDG2107",
        "CDG2108",
    ),
    D("no-result-no-status", set_row("LB", first("LB", **RESULT), LBORRES=""), "CDG2103", "LB"),
    D(
        "not-done-with-result",
        set_row("LB", first("LB", **NOT_DONE), LBORRES="1"),
        "CDG2104",
        "LB",
        "CDG2102",
        "CDG0605",
    ),
    D(
        "not-done-with-number",
        set_row("LB", first("LB", **NOT_DONE), LBSTRESN=0.0),
        "CDG2105",
        "LB",
        "CDG0604",
    ),
    D(
        "not-done-with-unit",
        set_row("LB", first("LB", **NOT_DONE, LBTESTCD="KLCFR"), LBORRESU="mg/L"),
        "CDG2106",
        "LB",
    ),
    D(
        "not-done-with-standard-unit",
        set_row("LB", first("LB", **NOT_DONE, LBTESTCD="KLCFR"), LBSTRESU="mg/L"),
        "CDG2107",
        "LB",
        "CDG2109",
    ),
    D(
        "not-done-with-range",
        set_row("LB", first("LB", **NOT_DONE), LBSTNRLO=1.0),
        "CDG2108",
        "LB",
        "CDG2111",
    ),
    D(
        "unit-without-result",
        set_row("LB", first("LB", **RESULT), LBSTRESC="", LBSTRESN=np.nan),
        "CDG2109",
        "LB",
        "CDG0605",
        "CDG2111",
        "CDG2112",
    ),
    D(
        "unit-lost-in-standardising",
        set_row("LB", first("LB", **RESULT), LBSTRESU=""),
        "CDG2110",
        "LB",
        "CDG0603",
    ),
    D(
        "range-on-text-result",
        set_row("LB", first("LB", **RESULT), LBSTRESC="POSITIVE", LBSTRESN=np.nan, LBSTNRHI=np.nan),
        "CDG2111",
        "LB",
    ),
    D(
        "upper-range-on-text-result",
        set_row("LB", first("LB", **RESULT), LBSTRESC="POSITIVE", LBSTRESN=np.nan, LBSTNRLO=np.nan),
        "CDG2112",
        "LB",
    ),
    D("range-low-above-high", set_row("LB", first("LB", **RESULT), LBSTNRLO=999.0), "CDG2113", "LB"),
    D("original-range-low-above-high", set_row("LB", first("LB", **RESULT), LBORNRLO="999"), "CDG2114", "LB"),
    D(
        "lobxfl-without-result",
        set_row("LB", first("LB", LBLOBXFL="Y", LBTESTCD="KLCFR"), LBSTRESC="", LBSTRESN=np.nan),
        "CDG2115",
        "LB",
        "CDG0605",
        "CDG2109",
        "CDG2111",
        "CDG2112",
    ),
    D(
        "lobxfl-without-original",
        set_row("VS", first("VS", VSLOBXFL="Y"), VSORRES=""),
        "CDG2116",
        "VS",
        "CDG2103",
    ),
    D(
        "testcd-other",
        set_row("VS", first("VS", VSTESTCD="WEIGHT"), VSTESTCD="OTHER"),
        "CDG2118",
        "VS",
        "CDG0606",
        "CDG0802",
        "CDG0603",
        "CDG1306",
        "CDG1311",  # no value-level metadata for a test of that name
    ),
    D(
        "testcd-multiple",
        set_row("VS", first("VS", VSTESTCD="WEIGHT"), VSTESTCD="MULTIPLE"),
        "CDG2119",
        "VS",
        "CDG0606",
        "CDG0802",
        "CDG0603",
        "CDG1306",
        "CDG1311",  # no value-level metadata for a test of that name
    ),
    D(
        "ie-standard-not-original",
        set_row("IE", first("IE"), IESTRESC="Y"),
        "CDG2121",
        "IE",
        "CDG0801",
        "CDG1306",
    ),
    D(
        "inclusion-met-in-ie",
        set_row("IE", first("IE", IECAT="INCLUSION"), IEORRES="Y", IESTRESC="Y"),
        "CDG2122",
        "IE",
    ),
    D("criterion-not-in-ti", set_row("IE", first("IE"), IETESTCD="INCL99"), "CDG2124", "IE", "CDG0606"),
    # --- relationships
    D(
        "supp-idvarval-without-rdomain",
        set_row("SUPPAE", first("SUPPAE"), RDOMAIN=""),
        "CDG2201",
        "SUPPAE",
        "CDG1001",
        "CDG2209",
        "CDG0110",
        "CDG2202",
    ),
    D(
        "relrec-idvar-without-rdomain",
        set_row("RELREC", first("RELREC"), RDOMAIN="", IDVARVAL=""),
        "CDG2202",
        "RELREC",
        "CDG2203",
        "CDG0110",
    ),
    D(
        "supp-idvar-without-value",
        set_row("SUPPAE", first("SUPPAE"), IDVARVAL=""),
        "CDG2203",
        "SUPPAE",
        "CDG1001",
    ),
    D(
        "supp-value-without-idvar",
        set_row("SUPPDM", first("SUPPDM"), IDVARVAL="1"),
        "CDG2204",
        "SUPPDM",
        "CDG1001",
        "CDG1308",  # define.xml marks SUPPDM's IDVARVAL HasNoData
    ),
    # define.xml marks RELTYPE HasNoData (record-level relationships only): CDG1308
    D(
        "reltype-on-a-record",
        set_row("RELREC", first("RELREC"), RELTYPE="ONE"),
        "CDG2205",
        "RELREC",
        "CDG1308",
    ),
    D(
        "qlabel-too-long",
        set_row("SUPPAE", first("SUPPAE"), QLABEL="Q" * 41),
        "CDG2206",
        "SUPPAE",
        "CDG0108",
        "CDG0203",
        "CDG2513",
    ),
    D("qval-null", set_row("SUPPCM", first("SUPPCM"), QVAL=""), "CDG2208", "SUPPCM", "CDG0110"),
    D(
        "supp-rdomain-of-another-domain",
        set_row("SUPPAE", first("SUPPAE"), RDOMAIN="CM"),
        "CDG2209",
        "SUPPAE",
        "CDG1001",
    ),
    # --- timing
    D(
        "study-day-on-partial-date",
        set_row(
            "LB", first("LB", **RESULT, LBENDTC=blank), LBDTC=lambda s, i: str(s.value("LB", i, "LBDTC"))[:7]
        ),
        "CDG2301",
        "LB",
        "CDG0304",
        "CDG0701",
    ),
    D(
        "start-day-on-partial-date",
        set_row(
            "AE",
            first("AE", AESTDY=lambda c: c.notna()),
            AESTDTC=lambda s, i: str(s.value("AE", i, "AESTDTC"))[:7],
        ),
        "CDG2302",
        "AE",
        "CDG0304",
        "CDG0701",
    ),
    D(
        "end-day-on-partial-date",
        set_row(
            "AE",
            first("AE", AEENDY=lambda c: c.notna()),
            AEENDTC=lambda s, i: str(s.value("AE", i, "AEENDTC"))[:4],
        ),
        "CDG2303",
        "AE",
        "CDG0304",
    ),
    D(
        "collection-day-missing",
        set_row("DS", first("DS", DSDY=lambda c: c.notna()), DSDY=np.nan),
        "CDG2304",
        "DS",
    ),
    D(
        "start-day-missing",
        set_row("AE", first("AE", AESTDY=lambda c: c.notna()), AESTDY=np.nan),
        "CDG2305",
        "AE",
    ),
    D(
        "end-day-missing",
        set_row("LB", first("LB", LBENDY=lambda c: c.notna()), LBENDY=np.nan),
        "CDG2306",
        "LB",
    ),
    D(
        "collection-day-after-end-day",
        set_row(
            "LB",
            first("LB", LBENDY=lambda c: c.notna()),
            LBDY=lambda s, i: float(s.value("LB", i, "LBENDY")) + 5,
        ),
        "CDG2307",
        "LB",
        "CDG0304",
    ),
    D(
        "start-day-after-end-day",
        set_row(
            "AE",
            first("AE", AEENDY=lambda c: c > 1),
            AESTDY=lambda s, i: float(s.value("AE", i, "AEENDY")) + 5,
        ),
        "CDG2308",
        "AE",
        "CDG0304",
    ),
    D(
        "epoch-not-in-ta",
        set_row("LB", first("LB", **RESULT), EPOCH="RUN-IN"),
        "CDG2310",
        "LB",
        "CDG0802",
        "CDG1306",
    ),
    D("visit-not-in-sv", set_row("LB", first("LB", **RESULT), VISITNUM=999.0), "CDG2311", "LB"),
    D(
        "element-ends-before-it-starts",
        set_row(
            "SE",
            first("SE", SEENDTC=lambda c: c.str.len() >= 10),
            SEENDTC=lambda s, i: _days(s, "SE", i, "SESTDTC", -3),
        ),
        "CDG2313",
        "SE",
        "CDG0303",
        "CDG0304",
    ),
    D(
        "element-not-in-te",
        set_row("SE", first("SE", ETCD="FU"), ETCD="FUP"),
        "CDG2314",
        "SE",
        "CDG1306",
        "CDG2507",
    ),
    # --- structure
    D("dsdy-dropped", drop_column("DS", "DSDY"), "CDG2401", "DS", "CDG0102", "CDG1303"),
    D("cmstdy-dropped", drop_column("CM", "CMSTDY"), "CDG2402", "CM", "CDG0102", "CDG1303"),
    D("lbendy-dropped", drop_column("LB", "LBENDY"), "CDG2403", "LB", "CDG0102", "CDG1303"),
    D("vsdtc-dropped", drop_column("VS", "VSDTC"), "CDG2404", "VS", "CDG0102", "CDG1303"),
    D(
        "aestdtc-dropped",
        drop_column("AE", "AESTDTC"),
        "CDG2405",
        "AE",
        "CDG0102",
        "CDG1303",
        "CDG0701",
        "CDG0402",
    ),
    D("lborres-dropped", drop_column("LB", "LBORRES"), "CDG2407", "LB", "CDG0102", "CDG1303"),
    D("vsstresc-dropped", drop_column("VS", "VSSTRESC"), "CDG2408", "VS", "CDG0102", "CDG1303", "CDG2115"),
    D("lbstat-dropped", drop_column("LB", "LBSTAT"), "CDG2409", "LB", "CDG0102", "CDG1303"),
    D("ageu-dropped", drop_column("DM", "AGEU"), "CDG2410", "DM", "CDG0102", "CDG1303"),
    D("vsstresu-dropped", drop_column("VS", "VSSTRESU"), "CDG2411", "VS", "CDG0102", "CDG1303", "CDG0603"),
    D("aeterm-dropped", drop_column("AE", "AETERM"), "CDG2412", "AE", "CDG0101", "CDG1303"),
    # --- trial design
    D(
        "tsparmcd-too-long",
        set_row("TS", first("TS", TSPARMCD="PLANSUB"), TSPARMCD="PLANSUBJ1"),
        "CDG2501",
        "TS",
        "CDG0607",
        "CDG0801",
        "CDG0901",
        "CDG0108",
        "CDG1306",
        "CDG1311",  # no value-level metadata for the renamed parameter
        "CDG0802",
    ),
    D("plansub-not-a-number", set_row("TS", first("TS", TSPARMCD="PLANSUB"), TSVAL="forty"), "CDG2502", "TS"),
    D("agemin-not-a-duration", set_row("TS", first("TS", TSPARMCD="AGEMIN"), TSVAL="18"), "CDG2503", "TS"),
    D(
        "length-not-a-duration",
        set_row("TS", first("TS", TSPARMCD="LENGTH"), TSVAL="80 weeks"),
        "CDG2504",
        "TS",
    ),
    D("ta-element-not-in-te", set_row("TA", first("TA", ETCD="FU"), ETCD="FUP"), "CDG2505", "TA", "CDG1306"),
    # --- ADaM (dropping a variable the spec requires is CDG0101/CDG0102 and CDG1303 for define.xml too)
    *(
        D(f"adsl-without-{v.lower()}", drop_column("ADSL", v), code, "ADSL", "CDG0101", "CDG0102", "CDG1303")
        for v, code in (
            ("SUBJID", "CDG2601"),
            ("SITEID", "CDG2602"),
            ("AGE", "CDG2603"),
            ("AGEU", "CDG2604"),
            ("SEX", "CDG2605"),
            ("RACE", "CDG2606"),
        )
    ),
    D(
        "analysis-day-zero",
        set_row("ADLB", first("ADLB", ADY=1.0), ADY=0.0),
        "CDG2608",
        "ADLB",
        "CDG1117",  # 0 is not the study day of ADT
    ),
    # --- codes and texts one-to-one (each change leaves the value of one record without its partner)
    D("element-named-twice", set_row("SE", first("SE", ETCD="FU"), ELEMENT="Follow up"), "CDG2507", "SE"),
    D("coded-ts-value-twice", set_row("TS", first("TS", TSPARMCD="ADDON"), TSVAL="Y"), "CDG2509", "TS"),
    D(
        "ts-parameter-named-twice",
        set_row("TS", first("TS", TSPARMCD="DOSU"), TSPARM="Unit of Dose"),
        "CDG2510",
        "TS",
        "CDG0802",
        "CDG1306",
    ),
    D(
        "supp-qnam-labelled-twice",
        set_row("SUPPAE", first("SUPPAE", QNAM="RELDARA"), QLABEL="Related to dara"),
        "CDG2513",
        "SUPPAE",
    ),
    D("arm-named-twice", set_row("DM", _dm_row(_alive), ARM="Dara + Pom"), "CDG2514", "DM", "CDG2011"),
    D(
        "actual-arm-named-twice",
        set_row("DM", _dm_row(_alive), ACTARM="Dara + Pom"),
        "CDG2515",
        "DM",
        "CDG2013",
    ),
    D(
        "subjid-of-two-subjects",
        set_row("DM", _dm_row(_alive), SUBJID=lambda s, i: str(s.value("DM", i + 1, "SUBJID"))),
        "CDG2517",
        "DM",
    ),
    D("tv-arm-not-in-ta", set_row("TV", first("TV"), ARMCD="DARA"), "CDG2506", "TV", "CDG1306", "CDG2514"),
    # --- published rules of sdtm_events.yaml and sdtm_trial_design.yaml that DarPAL's variables reach
    D("hospitalised-ae-not-serious", set_row("AE", first("AE", AESHOSP="Y"), AESER="N"), "CDG2701", "AE"),
    D(
        "completed-coded-otherwise",
        set_row("DS", first("DS", DSTERM="COMPLETED"), DSDECOD="WITHDRAWAL BY SUBJECT"),
        "CDG2702",
        "DS",
    ),
    D(
        "history-answer-not-prespecified",
        set_row("MH", first("MH", MHOCCUR="Y"), MHPRESP=""),
        "CDG2711",
        "MH",
    ),
    D(
        "prespecified-history-unanswered",
        set_row("MH", first("MH", MHOCCUR="N"), MHOCCUR=""),
        "CDG2712",
        "MH",
    ),
    D("negative-dose", set_row("EX", first("EX"), EXDOSE=-16.0), "CDG2717", "EX"),
    D(
        "ongoing-without-its-time-point",
        set_row("AE", first("AE", AEENRTPT=filled), AEENTPT=""),
        "CDG2319",
        "AE",
    ),
    D(
        "supp-of-ae-without-idvar",
        set_row("SUPPAE", first("SUPPAE"), IDVAR=""),
        "CDG2210",
        "SUPPAE",
        "CDG2204",
    ),
    # ARMCD/TAETORD and TSPARMCD/TSSEQ are those datasets' keys: a repeat is a duplicate record too (CDG0402)
    D(
        "taetord-repeated-in-arm",
        set_row("TA", first("TA", TAETORD=3.0), TAETORD=2.0),
        "CDG2806",
        "TA",
        "CDG0402",
    ),
    D("taetord-not-whole", set_row("TA", first("TA", TAETORD=3.0), TAETORD=2.5), "CDG2807", "TA"),
    D(
        "tsseq-repeated-in-parameter",
        set_row("TS", first("TS", TSPARMCD="FCNTRY", TSSEQ=2.0), TSSEQ=1.0),
        "CDG2814",
        "TS",
        "CDG0402",
    ),
    D(
        "planned-day-on-unplanned-visit",
        set_row("SV", first("SV", VISITNUM=lambda c: c % 1 != 0), VISITDY=22.0),
        "CDG2816",
        "SV",
    ),
]


def test_every_declared_rule_has_a_defect_or_a_reason():
    # rules not exercised on DarPAL: its datasets lack the variables (--BLFL, SVPRESP) or the records
    # (no EXCLUSION criterion failed); the vocabulary tests above cover their operators
    not_here = {"CDG2117", "CDG2123", "CDG2312", "CDG2406"}
    # DarPAL has no --TPT, MedDRA codes or TX; the pilot's VS and AE hold them (clean there)
    not_here |= {"CDG2508", "CDG2511", "CDG2512", "CDG2516"}
    # the ADaM companion rules (adam_companions.yaml): DarPAL's ADaM has no RACEN, SEXN, COUNTRYL, ...;
    # test_one_to_one_across_the_dataset and test_companions_present_and_populated_together work them by hand
    companions = {c for c in declared_codes() if "CDG2611" <= c <= "CDG2647"}
    assert len(companions) == 37
    # the published rules of tests/test_validate_declared_catalogue.py, each worked by hand there (most need
    # variables DarPAL does not collect)
    hand = HAND_WORKED - {d.code for d in DEFECTS}
    assert declared_codes() - {d.code for d in DEFECTS} == not_here | companions | hand
    assert len({d.id for d in DEFECTS}) == len(DEFECTS)


@pytest.mark.parametrize("defect", DEFECTS, ids=lambda d: d.id)
def test_declared_rule_catches_its_defect_in_the_real_output(real, defect, tmp_path):  # noqa: F811
    sub = Sub(real, tmp_path)
    defect.mutate(sub)
    sub.finish()
    found = validate_sub(sub)
    new = list((Counter(map(_key, found)) - Counter(map(_key, real.baseline))).elements())
    mine = [k for k in new if k[0] == defect.code]
    assert mine, f"{defect.code} did not fire; new findings: {new}"
    assert {k[1] for k in mine} == {defect.dataset}, mine
    unexpected = sorted({k[0] for k in new} - {defect.code} - defect.also)
    assert not unexpected, f"{defect.id}: also {unexpected}: {[k for k in new if k[0] in unexpected]}"
