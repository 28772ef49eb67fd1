"""Mapping algorithms and source steps on hand-written raw frames; expected values worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from cdiscgen._findings import Severity
from cdiscgen._specs import Codelist, Term, VariableSpec
from sdtm import (
    RuleContext,
    compute_assign,
    compute_condition,
    compute_hardcode,
    compute_iso8601,
    compute_iso8601_date,
    compute_not_submitted,
    derive_deduplicate,
    derive_filter,
    derive_merge,
    derive_transpose,
)

SEX = Codelist(
    id="SEX",
    name="Sex",
    extensible=False,
    data_type="text",
    terms=(Term("F", "C16576", synonyms=("FEMALE",)), Term("M", "C20197", synonyms=("MALE",))),
)
RESP = Codelist(
    id="HEMRESP",
    name="Response",
    extensible=True,
    data_type="text",
    terms=(Term("CR", "C1"), Term("VGPR", "C2", synonyms=("VERY GOOD PARTIAL RESPONSE",))),
)
CODELISTS = {"SEX": SEX, "HEMRESP": RESP}
SEX_VAR = VariableSpec(name="SEX", label="Sex", type="text", origin="Collected", core="Req", codelist="SEX")


def raw(**columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame({k: pd.Series(v, dtype="str") for k, v in columns.items()})
    df["_ROW"] = range(1, len(df) + 1)
    df["_FILE"] = "form.csv"
    df["_USUBJID"] = "S-1"
    return df


def ctx(variable: str = "X", var: VariableSpec | None = None) -> RuleContext:
    return RuleContext("DM", variable, CODELISTS, "form.csv", var)


# ---------------------------------------------------------------------------------------------- assign


def test_assign_through_codelist_cleans_case_and_spaces_and_reports_unmapped():
    df = raw(SEX=[" female", "Male ", "", "Other"])
    values, findings = compute_assign(df, {"assign": "SEX"}, ctx("SEX", SEX_VAR))
    # " female" -> synonym FEMALE -> F; "Male " -> M; blank stays blank; "Other" maps nowhere -> "OTHER"
    assert values.tolist() == ["F", "M", "", "OTHER"]
    assert [(f.code, f.severity, f.line, f.value) for f in findings] == [
        ("MAP001", Severity.ERROR, 5, "Other")
    ]
    assert findings[0].file == "form.csv" and findings[0].variable == "SEX"


def test_assign_values_map_and_extensible_codelist_warns():
    df = raw(R=["vgpr", "Very good partial response", "sCR"])
    values, findings = compute_assign(
        df, {"assign": "R", "codelist": "HEMRESP", "values": {"sCR": "CR"}}, ctx()
    )
    assert values.tolist() == ["VGPR", "VGPR", "CR"]
    assert findings == []
    values, findings = compute_assign(df, {"assign": "R", "codelist": "HEMRESP"}, ctx())
    assert values.tolist() == ["VGPR", "VGPR", "SCR"]
    assert [(f.code, f.severity, f.line) for f in findings] == [("MAP001", Severity.WARNING, 4)]


def test_an_open_values_map_keeps_or_replaces_what_it_does_not_translate():
    df = raw(U=["mg/dl", "g/L", "", "Mmol/L"])
    partial = {"assign": "U", "values": {"mg/dl": "mg/dL"}}
    # closed (today's default): the others upper-cased, each with a warning
    values, findings = compute_assign(df, partial, ctx())
    assert values.tolist() == ["mg/dL", "G/L", "", "MMOL/L"]
    assert [(f.code, f.line) for f in findings] == [("MAP001", 3), ("MAP001", 5)]
    # otherwise: keep -> as collected, no finding (no codelist to be outside of)
    values, findings = compute_assign(df, {**partial, "otherwise": "keep"}, ctx())
    assert values.tolist() == ["mg/dL", "g/L", "", "Mmol/L"] and findings == []
    # otherwise: a value -> that value for every other non-blank value
    values, findings = compute_assign(df, {**partial, "otherwise": "OTHER"}, ctx())
    assert values.tolist() == ["mg/dL", "OTHER", "", "OTHER"] and findings == []
    # with a codelist, a kept value outside it is still reported, as kept as collected
    df = raw(R=["sCR", "vgpr", "stringent"])
    values, findings = compute_assign(
        df, {"assign": "R", "codelist": "HEMRESP", "values": {"sCR": "CR"}, "otherwise": "keep"}, ctx()
    )
    assert values.tolist() == ["CR", "VGPR", "stringent"]
    assert [(f.code, f.line, f.value) for f in findings] == [("MAP001", 4, "stringent")]
    assert "kept as collected" in findings[0].message


def test_assign_without_codelist_strips_and_optionally_uppercases():
    df = raw(T=["  IgG lambda ", "Free kappa"])
    assert compute_assign(df, {"assign": "T"}, ctx())[0].tolist() == ["IgG lambda", "Free kappa"]
    assert compute_assign(df, {"assign": "T", "case": "upper"}, ctx())[0].tolist() == [
        "IGG LAMBDA",
        "FREE KAPPA",
    ]


def test_hardcode_and_not_submitted():
    df = raw(A=["1", "2"])
    assert compute_hardcode(df, {"hardcode": "YEARS"}, ctx())[0].tolist() == ["YEARS", "YEARS"]
    assert compute_not_submitted(df, {"not_submitted": "why"}, ctx())[0].tolist() == ["", ""]


# ------------------------------------------------------------------------------------------- condition


def test_condition_first_matching_branch_nested_rules_and_else():
    df = raw(ITEM=["HEM", "CARD", "hem ", "X"], RES=["vgpr", "nr", "cr", "?"], FLAG=["Yes", "", "no", ""])
    rule = {
        "condition": [
            {
                "if": {"column": "ITEM", "op": "eq", "value": "HEM"},
                "then": {"assign": "RES", "codelist": "HEMRESP"},
            },
            {"if": {"column": "ITEM", "op": "in", "value": ["CARD"]}, "then": "ORGAN"},
            {"else": {"hardcode": "OTHER"}},
        ]
    }
    values, findings = compute_condition(df, rule, ctx())
    # row 3 "hem " matches HEM case/space-insensitively -> "cr" -> CR
    assert values.tolist() == ["VGPR", "ORGAN", "CR", "OTHER"]
    assert findings == []


def test_condition_branches_read_every_column_their_nested_rules_name():
    # a branch holding for some rows runs its rule on those rows; each nested rule reads its own columns
    # (a template's fields, an iso8601 date and time, an inner condition's column)
    df = raw(
        KIND=["T", "D", "T", "D", "C"],
        A=["a1", "", "a3", "", ""],
        B=["b1", "", "b3", "", ""],
        DAY=["", "2024-01-05", "", "05/01/2024", ""],
        TIME=["", "08:30", "", "", ""],
        INNER=["", "", "", "", "yes"],
        UNUSED=["u", "u", "u", "u", "u"],
    )
    rule = {
        "condition": [
            {"if": {"column": "KIND", "op": "eq", "value": "T"}, "then": {"template": "{A}-{B}"}},
            {
                "if": {"column": "KIND", "op": "eq", "value": "D"},
                "then": {"iso8601": {"date": "DAY", "time": "TIME"}, "formats": ["YYYY-MM-DD"]},
            },
            {
                "else": {
                    "condition": [
                        {"if": {"column": "INNER", "op": "eq", "value": "yes"}, "then": "INNER HELD"}
                    ]
                }
            },
        ]
    }
    values, findings = compute_condition(df, rule, ctx())
    assert values.tolist() == ["a1-b1", "2024-01-05T08:30", "a3-b3", "", "INNER HELD"]
    # the date in a format not declared: reported on its own raw line (row 4 -> line 5)
    assert [(f.code, f.line, f.value) for f in findings] == [("MAP003", 5, "05/01/2024")]


def test_condition_ops_empty_not_empty_ne_all_any_and_no_match_is_empty():
    df = raw(A=["", "x", "y"], B=["1", "2", "3"])
    rule = {
        "condition": [
            {"if": {"column": "A", "op": "empty"}, "then": "E"},
            {
                "if": {
                    "all": [{"column": "A", "op": "not_empty"}, {"column": "B", "op": "ne", "value": "3"}]
                },
                "then": "N",
            },
        ]
    }
    assert compute_condition(df, rule, ctx())[0].tolist() == ["E", "N", ""]
    rule_any = {
        "condition": [
            {
                "if": {
                    "any": [
                        {"column": "B", "op": "eq", "value": 1},
                        {"column": "A", "op": "not_in", "value": ["x", ""]},
                    ]
                },
                "then": "Y",
            }
        ]
    }
    assert compute_condition(df, rule_any, ctx())[0].tolist() == ["Y", "", "Y"]


# --------------------------------------------------------------------------------------------- iso8601

FORMATS = ["YYYY-MM-DD", "DD/MM/YYYY", "DDMONYYYY", "UN-MON-YYYY", "UNK-UNK-YYYY"]


def test_iso8601_site_formats_partials_and_impossible_dates():
    s = pd.Series(
        [
            "2024-03-12",
            "12/03/2024",
            "12MAR2024",
            "UN-MAR-2024",
            "UNK-UNK-2019",
            "2024-02-30",
            "29FEB2024",
            "31/04/2024",
            "03/13/2024",
            "",
            "soon",
        ]
    )
    iso, unparseable, impossible = compute_iso8601_date(s, FORMATS)
    # 12/03/2024 is DD/MM -> 12 March; 29FEB2024 is a leap day; 31 April and 13th month are impossible
    assert iso.tolist() == [
        "2024-03-12",
        "2024-03-12",
        "2024-03-12",
        "2024-03",
        "2019",
        "",
        "2024-02-29",
        "",
        "",
        "",
        "",
    ]
    assert impossible.tolist() == [False] * 5 + [True, False, True, True, False, False]
    assert unparseable.tolist() == [False] * 10 + [True]


def test_iso8601_reads_ascii_digits_only_and_a_missing_value_is_blank():
    # "12/03/2024" in Arabic-Indic digits was read as year 0000; it is no date of a declared format
    s = pd.Series(["\u0661\u0662/\u0660\u0663/\u0662\u0660\u0662\u0660", None, "1/3/2024", "2000-02-29"])
    iso, unparseable, impossible = compute_iso8601_date(s, ["DD/MM/YYYY", "D/M/YYYY", "YYYY-MM-DD"])
    assert iso.tolist() == ["", "", "2024-03-01", "2000-02-29"]  # 2000 is a leap year (divisible by 400)
    assert unparseable.tolist() == [True, False, False, False]
    assert impossible.tolist() == [False] * 4


def test_iso8601_rule_with_time_and_findings_name_row_and_line():
    df = raw(
        D=["2024-01-08", "08/01/2024", "UN-JAN-2024", "2023-02-29", "12JAN2024"],
        T=["09:30", "25:00", "10:00", "", ""],
    )
    values, findings = compute_iso8601(
        df, {"iso8601": {"date": "D", "time": "T"}, "formats": FORMATS}, ctx("LBDTC")
    )
    # 25:00 is not a time -> date kept; a time on a partial date follows a hyphen for the missing day
    # (SDTMIG 4.4.4); 2023 is not a leap year
    assert values.tolist() == ["2024-01-08T09:30", "2024-01-08", "2024-01--T10:00", "", "2024-01-12"]
    assert sorted((f.code, f.line, f.value) for f in findings) == [
        ("MAP003", 3, "25:00"),
        ("MAP004", 5, "2023-02-29"),
    ]


# ----------------------------------------------------------------------------------------------- steps


def test_filter_keeps_matching_rows():
    df = raw(GIVEN=["Yes", "No", " yes"])
    out, findings = derive_filter(df, {"filter": {"column": "GIVEN", "op": "eq", "value": "Yes"}}, ctx(), {})
    assert out["_ROW"].tolist() == [1, 3] and findings == []


def test_deduplicate_drops_repeats_with_notice_naming_both_rows():
    df = raw(ACC=["A1", "A1", "A1", "A2"], TEST=["K", "L", "K", "K"], RES=["5", "6", "5", "5"])
    out, findings = derive_deduplicate(df, {"deduplicate": {"keys": ["ACC", "TEST", "RES"]}}, ctx(), {})
    # row 3 repeats row 1 (A1, K, 5) -> dropped; file line 4; the kept raw row (1) is the value
    assert out["_ROW"].tolist() == [1, 2, 4]
    assert [(f.code, f.severity, f.line, f.value) for f in findings] == [("MAP005", Severity.NOTICE, 4, "1")]


def test_deduplicate_compares_keys_stripped_and_upper_cased_and_can_keep_the_last():
    df = raw(
        ACC=["a1 ", "A1", "A2", " A1", "A2"], TEST=["k", "K", "K", "K ", ""], RES=["5", "5", "5", "5", ""]
    )
    out, findings = derive_deduplicate(
        df, {"deduplicate": {"keys": ["ACC", "TEST", "RES"], "keep": "last"}}, ctx(), {}
    )
    # rows 1, 2 and 4 are one key (A1, K, 5): the last (4) is kept; row 5's blank TEST and RES are a key of their own
    assert out["_ROW"].tolist() == [3, 4, 5]
    assert [(f.line, f.value) for f in findings] == [(2, "4"), (3, "4")]
    missing = raw(ACC=["A1", "A1", "A1"], TEST=["K", "K", "K"])
    missing["TEST"] = pd.Series(["K", None, None], dtype="str")  # a missing value is not a blank one
    missing.loc[2, "TEST"] = ""
    out, findings = derive_deduplicate(missing, {"deduplicate": {"keys": ["ACC", "TEST"]}}, ctx(), {})
    assert out["_ROW"].tolist() == [1, 2, 3] and findings == []


def test_merge_left_join_and_repeated_key_in_other_form():
    left = raw(SUBJECT=["1", "2", "3"])
    other = raw(SUBJECT=["2", "1", "2"], DEATH=["2025-01-01", "", "2025-02-02"])
    out, findings = derive_merge(
        left,
        {"merge": {"form": "death.csv", "by": ["SUBJECT"], "columns": ["DEATH"]}},
        ctx(),
        {"death.csv": other},
    )
    assert out["DEATH"].tolist() == ["", "2025-01-01", ""]
    assert [(f.code, f.line) for f in findings] == [("MAP007", 4)]
    assert out["_ROW"].tolist() == [1, 2, 3]


def test_transpose_wide_to_long_keeps_raw_row():
    df = raw(ID=["a", "b"], M=["1", "2"], V=["", "70"])
    step = {"transpose": {"columns": ["M", "V"], "name": "ITEM", "value": "VAL"}}
    out, _ = derive_transpose(df, step, ctx(), {})
    assert out[["ID", "ITEM", "VAL", "_ROW"]].values.tolist() == [
        ["a", "M", "1", 1],
        ["a", "V", "", 1],
        ["b", "M", "2", 2],
        ["b", "V", "70", 2],
    ]
    out2, _ = derive_transpose(df, {"transpose": {**step["transpose"], "drop_empty": True}}, ctx(), {})
    assert out2["VAL"].tolist() == ["1", "2", "70"]


@pytest.mark.parametrize("op,value,expected", [("ne", "x", [True, False]), ("in", ["X", "z"], [False, True])])
def test_condition_ops_parametrised(op, value, expected):
    df = raw(A=["y", " X"])
    rule = {"condition": [{"if": {"column": "A", "op": op, "value": value}, "then": "T"}]}
    assert (compute_condition(df, rule, ctx())[0] == "T").tolist() == expected


def test_otherwise_needs_a_values_map():
    from cdiscgen import schema_problems
    from sdtm._mapspec import RULE_SCHEMAS

    problems = schema_problems({"assign": "U", "otherwise": "keep"}, RULE_SCHEMAS["assign"])
    assert [p.key for p in problems] == ["otherwise"], problems
    assert (
        schema_problems({"assign": "U", "values": {"a": "b"}, "otherwise": "keep"}, RULE_SCHEMAS["assign"])
        == []
    )
