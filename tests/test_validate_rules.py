"""The rule catalog, the ISO 8601 helpers, the runner's guarantees and the define.xml rules on a small define."""

from __future__ import annotations

import math
import re
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cdiscgen._findings import Severity
from cdiscgen.export import XptVariable, write_xpt
from cdiscgen.validate import Rule, Scope, _registry, list_rules, validate_datasets, validate_folder
from cdiscgen.validate._dates import check_iso8601, compare_iso8601, compute_days


def test_catalog_is_documented_and_stable():
    rules = list_rules()
    codes = [r.code for r in rules]
    assert len(rules) >= 60
    assert codes == sorted(codes) and len(set(codes)) == len(codes)
    for r in rules:
        assert re.fullmatch(r"CDG\d{4}", r.code)
        assert r.name and r.text and r.bad and r.good and r.reference, r.code
        assert isinstance(r.scope, Scope) and isinstance(r.severity, Severity)
    # the rule text does not swallow the examples
    r = next(r for r in rules if r.code == "CDG0302")
    assert "2024-02-30" in r.bad and "2024-02-30" not in r.text


def test_rule_decorator_refuses_bad_codes_and_missing_examples():
    with pytest.raises(ValueError, match="4 digits"):
        _registry.rule("SD0001", "x", severity=Severity.ERROR, scope=Scope.ANY, reference="r")
    with pytest.raises(ValueError, match="Bad:"):
        _registry.rule("CDG9998", "x", severity=Severity.ERROR, scope=Scope.ANY, reference="r")(
            lambda ctx, rule: ()
        )
    with pytest.raises(ValueError, match="twice"):

        def again(ctx, rule):
            """Text.

            Bad: b
            Good: g
            """

        _registry.rule("CDG0101", "x", severity=Severity.ERROR, scope=Scope.ANY, reference="r")(again)


@pytest.mark.parametrize(
    ("value", "bad_shape", "impossible"),
    [
        ("2024", False, False),
        ("2024-03", False, False),
        ("2024-02-29", False, False),  # leap year
        ("2024-03-05T09:30:15.5", False, False),
        ("2024-03-05T09:30+01:00", False, False),
        ("2024---15", False, False),  # month unknown, SDTMIG 4.4.4
        ("--03-05", False, False),
        ("2024-03-05T-:30", False, False),
        ("", False, False),
        ("   ", False, False),
        ("2024-02-30", False, True),
        ("2023-02-29", False, True),  # not a leap year
        ("1900-02-29", False, True),  # century, not a leap year
        ("2000-02-29", False, False),  # divisible by 400
        ("2024-13", False, True),
        ("2024-04-31", False, True),
        ("2024-03-05T24:00", False, True),
        ("2024-03-05T10:60", False, True),
        ("2024---32", False, True),
        ("2024-3-5", True, False),
        ("05MAR2024", True, False),
        ("2024-03-", True, False),  # trailing placeholder: write 2024-03
        ("2024-03-05T", True, False),
        ("2024/03/05", True, False),
        ("24-03-05", True, False),
    ],
)
def test_iso8601_shape_and_calendar(value, bad_shape, impossible):
    shape, cal = check_iso8601(pd.Series([value], dtype="str"))
    assert (bool(shape[0]), bool(cal[0])) == (bad_shape, impossible)


def test_iso8601_checks_a_column_of_repeats_as_each_value_alone():
    """The column is checked once per distinct value and spread back: each row's masks are those of its
    value checked on its own (the hand-worked table above), missing values included."""
    cases = {
        "2024-03-05": (False, False),
        "2024-02-30": (False, True),
        "05MAR2024": (True, False),
        "": (False, False),
    }
    rows = ["2024-02-30", "2024-03-05", None, "05MAR2024", "2024-03-05", "", "2024-02-30", None, "05MAR2024"]
    shape, cal = check_iso8601(pd.Series(rows, dtype="str", index=range(100, 100 + len(rows))))
    want = [cases.get(v or "", (False, False)) for v in rows]
    assert list(zip(shape.tolist(), cal.tolist(), strict=True)) == want


def test_compute_days_counts_from_1970():
    # 1970-01-01 -> 2024-01-01: 54 years of 365 days + 13 leap days (1972..2020) = 19723
    days = compute_days(
        pd.Series(["2024-01-01", "2024-01-08T10:00", "2024-01", "2024-02-30", None], dtype="str")
    )
    assert days[:2].tolist() == [19723.0, 19730.0]
    assert np.isnan(days[2:]).all()


def test_compare_iso8601_uses_the_common_precision():
    left = pd.Series(["2024-03-09", "2024-03", "2024-03-10T10:00", "2024-03-10", "x", None], dtype="str")
    right = pd.Series(
        ["2024-03-10", "2024-03-10", "2024-03-10T09:59", "2024-03-10T23:00", "2024-01-01", "2024"],
        dtype="str",
    )
    got = compare_iso8601(left, right)
    assert got[:4].tolist() == [-1.0, 0.0, 1.0, 0.0]
    assert np.isnan(got[4:]).all()


def test_a_crashing_rule_becomes_one_finding_and_the_run_goes_on(monkeypatch):
    def boom(ctx, rule):
        raise ZeroDivisionError("division by zero in a test")

    broken = Rule(_registry._REGISTRY["CDG0401"].info, boom)
    monkeypatch.setitem(_registry._REGISTRY, "CDG0401", broken)
    lb = pd.DataFrame({"USUBJID": ["S1"], "LBSEQ": [1.0], "LBDTC": ["2024-02-30"]})
    result = validate_datasets({"LB": lb})
    failed = [f for f in result.findings if f.code == "CDG0001"]
    assert len(failed) == 1 and "CDG0401" in failed[0].message and "ZeroDivisionError" in failed[0].message
    assert [f.code for f in result.findings if f.code == "CDG0302"] == ["CDG0302"]  # later rules still ran
    assert "CDG0401" in result.timings


def test_repeated_defects_are_capped_with_a_count():
    n = 30
    lb = pd.DataFrame({"USUBJID": [f"S{i}" for i in range(n)], "LBSEQ": 1.0, "LBDTC": ["2024-02-30"] * n})
    lb = lb.astype({"USUBJID": "str", "LBDTC": "str"})
    findings = [f for f in validate_datasets({"LB": lb}, limit=10).findings if f.code == "CDG0302"]
    assert len(findings) == 11
    assert findings[-1].message.startswith("20 more record(s)") and findings[-1].value == "30"


def test_validate_folder_reads_xpt_and_reports_unreadable_files(tmp_path):
    dm = pd.DataFrame({"STUDYID": ["S"], "DOMAIN": ["DM"], "USUBJID": ["S-1"], "RFSTDTC": ["2024-02-30"]})
    variables = [XptVariable(c, c.title(), "char", None) for c in dm.columns]
    write_xpt(
        dm,
        tmp_path / "dm.xpt",
        dataset="DM",
        label="Demographics",
        variables=variables,
        created=datetime(2026, 1, 15, 9, 0),
    )
    (tmp_path / "lb.xpt").write_bytes(b"not a transport file")
    result = validate_folder(tmp_path)
    assert result.datasets == ["DM"]
    codes = {(f.code, f.dataset, f.file) for f in result.findings}
    assert ("CDG0002", "LB", "lb.xpt") in codes
    assert ("CDG0302", "DM", "dm.xpt") in codes  # data findings name the file they come from


DEFINE = """<?xml version="1.0" encoding="UTF-8"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" xmlns:def="http://www.cdisc.org/ns/def/v2.1"
     ODMVersion="1.3.2" FileOID="F" FileType="Snapshot" CreationDateTime="2026-01-15T09:00:00">
 <Study OID="S"><GlobalVariables><StudyName>S</StudyName><StudyDescription>S</StudyDescription>
  <ProtocolName>S</ProtocolName></GlobalVariables>
  <MetaDataVersion OID="MDV" Name="M" def:DefineVersion="2.1.0">
   <ItemGroupDef OID="IG.DM" Name="DM" Repeating="No" IsReferenceData="No" Purpose="Tabulation">
    <Description><TranslatedText xml:lang="en">Demographics</TranslatedText></Description>
    <ItemRef ItemOID="IT.USUBJID" Mandatory="Yes"/>
    <ItemRef ItemOID="IT.SEX" Mandatory="Yes"/>
    <ItemRef ItemOID="IT.AGE" Mandatory="No"/>
    <ItemRef ItemOID="IT.RACE" Mandatory="No"/>
   </ItemGroupDef>
   <ItemGroupDef OID="IG.AE" Name="AE" Repeating="Yes" IsReferenceData="No" Purpose="Tabulation">
    <Description><TranslatedText xml:lang="en">Adverse Events</TranslatedText></Description>
   </ItemGroupDef>
   <ItemDef OID="IT.USUBJID" Name="USUBJID" DataType="text" Length="5">
    <Description><TranslatedText xml:lang="en">Unique Subject Identifier</TranslatedText></Description></ItemDef>
   <ItemDef OID="IT.SEX" Name="SEX" DataType="text" Length="1">
    <Description><TranslatedText xml:lang="en">Sex</TranslatedText></Description>
    <CodeListRef CodeListOID="CL.SEX"/></ItemDef>
   <ItemDef OID="IT.AGE" Name="AGE" DataType="integer" Length="3">
    <Description><TranslatedText xml:lang="en">Age</TranslatedText></Description></ItemDef>
   <ItemDef OID="IT.RACE" Name="RACE" DataType="text" Length="5">
    <Description><TranslatedText xml:lang="en">Race</TranslatedText></Description></ItemDef>
   <CodeList OID="CL.SEX" Name="Sex" DataType="text">
    <CodeListItem CodedValue="F"><Decode><TranslatedText>Female</TranslatedText></Decode></CodeListItem>
    <CodeListItem CodedValue="M"><Decode><TranslatedText>Male</TranslatedText></Decode></CodeListItem>
   </CodeList>
  </MetaDataVersion></Study></ODM>
"""


class _Var:
    def __init__(self, name, label, type_, length):
        self.name, self.label, self.type, self.length = name, label, type_, length


class _Meta:
    def __init__(self, dataset, label, variables):
        self.dataset, self.label, self.variables = dataset, label, variables


def test_define_rules_on_a_small_define(tmp_path):
    path = tmp_path / "define.xml"
    path.write_text(DEFINE, encoding="utf-8")
    dm = pd.DataFrame(
        {"USUBJID": ["S-001", "S-002"], "SEX": ["F", "U"], "AGE": ["54", "61"], "ARM": ["A", "B"]}
    )
    dm = dm.astype("str")
    meta = {
        "DM": _Meta(
            "DM",
            "Demographic",
            [
                _Var("USUBJID", "Unique Subject Identifier", "char", 8),
                _Var("SEX", "Sex", "char", 1),
                _Var("AGE", "Age in Years", "char", 2),
                _Var("ARM", "Arm", "char", 1),
            ],
        )
    }
    codes = [f"CDG13{i:02d}" for i in range(1, 8)]
    found = validate_datasets({"DM": dm}, meta=meta, define_path=path, codes=codes).findings
    got = {(f.code, f.dataset, f.variable, f.value, f.expected) for f in found if f.code != "CDG1301"}
    assert got == {
        ("CDG1302", "AE", None, None, None),  # described, not submitted
        ("CDG1303", "DM", "ARM", None, None),  # in the data, not in define
        ("CDG1303", "DM", "RACE", None, None),  # in define, not in the data
        ("CDG1304", "DM", "USUBJID", "8", "5"),
        ("CDG1304", "DM", "AGE", "2", "3"),  # stored as char, so its length is compared too
        ("CDG1305", "DM", None, "Demographic", "Demographics"),
        ("CDG1305", "DM", "AGE", "Age in Years", "Age"),
        ("CDG1306", "DM", "SEX", "U", "codelist CL.SEX"),
        ("CDG1307", "DM", "AGE", "char", "num"),
    }
    [absent] = [f for f in found if f.code == "CDG1302"]
    assert absent.severity == Severity.WARNING and absent.file == "define.xml" and absent.line == 14
    # this hand-written define leaves out what the schema requires (e.g. def:Standards): CDG1301 says so
    assert any(f.code == "CDG1301" and f.line for f in found)


def test_an_external_entity_in_define_is_one_finding_naming_it_and_is_never_read(tmp_path):
    # issue 28, item 8: the schema check crashed (lxml "Internal error in XML Schema validation") and the
    # report held only "rule CDG1301 failed"
    secret = tmp_path / "secret.txt"
    secret.write_text("do-not-read", encoding="utf-8")
    head, body = DEFINE.split("\n", 1)
    body = body.replace(">Demographics<", ">&ent;<", 1)
    path = tmp_path / "define.xml"
    path.write_text(
        f'{head}\n<!DOCTYPE ODM [<!ENTITY ent SYSTEM "{secret.as_uri()}">]>\n{body}', encoding="utf-8"
    )
    [line] = [i for i, x in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if "&ent;" in x]
    found = list(validate_datasets({}, define_path=path).findings)
    assert [(f.code, f.severity, f.line) for f in found] == [("CDG1301", Severity.ERROR, line)]
    assert f"entity ent (SYSTEM {secret.as_uri()!r})" in found[0].message
    assert "do-not-read" not in found[0].message


def test_unreadable_define_is_one_finding(tmp_path):
    path = tmp_path / "define.xml"
    path.write_text("<ODM><unclosed></ODM>", encoding="utf-8")
    found = list(validate_datasets({}, define_path=path).findings)
    assert [f.code for f in found] == ["CDG1301"] and "cannot be read" in found[0].message


def _ts(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            dict(STUDYID="S", DOMAIN="TS", TSSEQ=1.0, TSPARMCD=p, TSVAL=v, TSVALCD=c, TSVCDREF=r)
            for p, v, c, r in rows
        ]
    )


def test_ts_reference_terminology_names_of_ct_and_of_the_guidance_are_both_accepted():
    # DICTNAM (C66788) names SNOMED and ISO 3166; "SNOMED CT" and "ISO 3166-1 alpha-3" are the guidance's words
    ts = _ts(
        ("INDIC", "Alzheimer's Disease", "26929004", "SNOMED"),
        ("INDIC", "AL amyloidosis", "23132008", "SNOMED CT"),
        ("FCNTRY", "ITA", "ITA", "ISO 3166"),
        ("FCNTRY", "FRA", "FRA", "ISO 3166-1 alpha-3"),
        ("PCLAS", "Thalidomide Analog", "N0000175568", "NDF-RT"),  # not a name of MED-RT's
        ("TRT", "DARATUMUMAB", "", "UNII"),  # no code
    )
    found = validate_datasets({"TS": ts}, codes=["CDG0904"]).findings
    assert sorted((f.value, f.expected) for f in found) == [("", "UNII"), ("N0000175568", "MED-RT")]


def test_ts_curtrt_is_required_for_an_add_on_trial_only():
    def missing(addon: str) -> set:
        ts = _ts(("ADDON", addon, "", ""))
        return {f.expected for f in validate_datasets({"TS": ts}, codes=["CDG0901"]).findings}

    assert "CURTRT" in missing("Y")
    assert "CURTRT" not in missing("N")
    assert "ADAPT" in missing("N")  # the others stay required


def test_transport_files_are_named_after_their_dataset_in_lower_case(tmp_path):
    dm = pd.DataFrame({"STUDYID": ["S"], "DOMAIN": ["DM"], "USUBJID": ["S-1"]})
    variables = [XptVariable(c, c.title(), "char", None) for c in dm.columns]
    when = datetime(2026, 1, 15, 9, 0)
    write_xpt(dm, tmp_path / "DM.xpt", dataset="DM", label="Demographics", variables=variables, created=when)
    write_xpt(
        dm, tmp_path / "demo.xpt", dataset="DM", label="Demographics", variables=variables, created=when
    )
    write_xpt(dm, tmp_path / "ok.xpt", dataset="OK", label="Demographics", variables=variables, created=when)
    found = validate_folder(tmp_path).findings
    got = sorted((f.dataset, f.value, f.expected) for f in found if f.code == "CDG0206")
    # DM.xpt is not lower case; demo.xpt holds the member DM; ok.xpt holds OK
    assert got == [("DEMO", "DM", "DEMO"), ("DM", "DM.xpt", "dm.xpt")]


def test_seq_is_unique_across_the_datasets_of_a_split_domain():
    def qs(name: str, subjects: list[str], seqs: list[float]) -> pd.DataFrame:
        n = len(subjects)
        return pd.DataFrame(
            {
                "STUDYID": ["S"] * n,
                "DOMAIN": ["QS"] * n,
                "USUBJID": subjects,
                "QSSEQ": seqs,
                "QSTESTCD": ["X"] * n,
            }
        )

    # A's QSSEQ 2 is in both QSPH and QSSL; B's 1 and 2 are apart; within one dataset it is CDG0401's business
    frames = {
        "QSPH": qs("QSPH", ["A", "A", "B"], [1.0, 2.0, 1.0]),
        "QSSL": qs("QSSL", ["A", "B"], [2.0, 2.0]),
    }
    found = validate_datasets(frames, codes=["CDG0403"]).findings
    assert sorted((f.dataset, f.usubjid, f.seq) for f in found) == [("QSPH", "A", 2), ("QSSL", "A", 2)]


def test_technical_rejection_1734_needs_ts_with_a_complete_study_start_date():
    dm = pd.DataFrame({"STUDYID": ["S"], "DOMAIN": ["DM"], "USUBJID": ["S-1"]})

    def fails(ts: pd.DataFrame | None) -> list[str]:
        frames = {"DM": dm} | ({"TS": ts} if ts is not None else {})
        return [f.message for f in validate_datasets(frames, codes=["CDG0010"]).findings]

    assert fails(None) == ["the tabulation data hold no TS dataset (ts.xpt)"]
    assert len(fails(_ts(("SSTDTC", "2024-01", "", "")))) == 1  # partial
    assert len(fails(_ts(("SSTDTC", "2024-02-30", "", "")))) == 1  # impossible
    assert len(fails(_ts(("TITLE", "A trial", "", "")))) == 1  # absent
    assert fails(_ts(("SSTDTC", "2024-01-08", "", ""))) == []
    # analysis data alone: the criterion is about tabulation data
    adsl = pd.DataFrame({"STUDYID": ["S"], "USUBJID": ["S-1"], "TRTSDT": [1.0]})
    assert validate_datasets({"ADSL": adsl}, codes=["CDG0010"]).runs["CDG0010"].status == "not applicable"


def test_technical_rejection_1736_needs_dm_adsl_and_a_define_per_folder(tmp_path):
    adae = pd.DataFrame({"STUDYID": ["S"], "USUBJID": ["S-1"], "ASEQ": [1.0]})
    found = validate_datasets({"ADAE": adae}, codes=["CDG0011"]).findings
    assert [f.expected for f in found] == ["ADSL"]
    dm = pd.DataFrame({"STUDYID": ["S"], "DOMAIN": ["DM"], "USUBJID": ["S-1"]})
    variables = [XptVariable(c, c.title(), "char", None) for c in dm.columns]
    write_xpt(
        dm,
        tmp_path / "dm.xpt",
        dataset="DM",
        label="Demographics",
        variables=variables,
        created=datetime(2026, 1, 15),
    )
    result = validate_folder(tmp_path, codes=["CDG0011"])
    assert [f.expected for f in result.findings] == ["define.xml"]  # dm.xpt is there, define.xml is not
    assert result.runs["CDG0011"].status == "issues"


_EDGE_TEXT = st.lists(
    st.one_of(
        st.none(),
        st.text(
            alphabet=st.sampled_from(["a", "Z", "1", " ", "\t", "\u00a0", "\u3000", "\x1c", "é", "-"]),
            max_size=6,
        ),
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(values=_EDGE_TEXT, start=st.integers(min_value=0, max_value=3))
def test_stripped_text_is_each_value_stripped_by_python_and_blank_is_missing(values, start):
    """The validator's text of a column (trimming skipped where no value has whitespace at an edge, blanks
    made missing by a new validity bitmap) against str.strip value by value, on whole columns and slices."""
    from cdiscgen.validate._dates import compute_stripped

    column = pd.Series(values, dtype="str").iloc[start:]
    got = compute_stripped(column)
    want = [None if v is None or pd.isna(v) or not v.strip() else v.strip() for v in column.tolist()]
    assert [None if pd.isna(v) else v for v in got.tolist()] == want
    assert got.index.equals(column.index)


@settings(max_examples=200, deadline=None)
@given(
    values=_EDGE_TEXT,
    start=st.integers(min_value=0, max_value=3),
    large=st.booleans(),
    chunked=st.booleans(),
)
@example(values=["ab ", "cd"], start=0, large=False, chunked=False)  # only a trailing blank, mid-column
@example(values=["x", "", "ab\u00a0", "cd"], start=1, large=True, chunked=False)
@example(values=["ab", "", None, "c\t"], start=0, large=False, chunked=True)
@example(values=["", " ab", "cd"], start=0, large=True, chunked=False)
def test_trimming_is_skipped_only_where_no_value_has_whitespace_at_an_edge(values, start, large, chunked):
    """may_need_trimming reads two edge bytes per value (an empty value's are its neighbours'): it must say
    "maybe" whenever some value of the array, slice or chunks differs from its str.strip(), and "no" for text
    of letters, digits and hyphens only (else nothing is saved)."""
    from cdiscgen._arrowtext import may_need_trimming

    kind = pa.large_string() if large else pa.string()
    arr = pa.array(values, type=kind).slice(start)
    if chunked:
        half = len(arr) // 2
        arr = pa.chunked_array([arr.slice(0, half), arr.slice(half)], type=kind)
    kept = [v for v in arr.to_pylist() if v is not None]
    if any(v != v.strip() for v in kept):
        assert may_need_trimming(arr)
    clean = ["".join(c for c in v if c.isascii() and (c.isalnum() or c == "-")) for v in kept]
    cleaned = pa.array(clean, type=kind).slice(min(start, len(clean)))
    assert not may_need_trimming(cleaned)


@settings(max_examples=100, deadline=None)
@given(
    numbers=st.lists(
        st.one_of(st.floats(allow_nan=True), st.integers(-(10**16), 10**16).map(float)),
        min_size=1,
        max_size=30,
    ),
    texts=st.lists(st.one_of(st.none(), st.sampled_from(["3", " 4.5 ", "-0", "1e3", "x", "", "inf", "NA"]))),
)
def test_numbers_of_a_column_are_what_pandas_parses_from_its_text(numbers, texts):
    """The declared rules' numeric tests (ge, le_var) read a numeric column's values instead of parsing
    its text back: the same numbers as pd.to_numeric of the text, NaN where the text is missing."""
    from cdiscgen.validate._context import ValidationContext

    texts = (texts + [None] * len(numbers))[: len(numbers)]
    frame = pd.DataFrame({"N": numbers, "T": pd.Series(texts, dtype="str")})
    ctx = ValidationContext(datasets={"XX": frame})
    for column in ("N", "T"):
        want = pd.to_numeric(ctx.text("XX", column), errors="coerce").astype("float64")
        got = ctx.numbers("XX", column).astype("float64")
        assert got.index.equals(frame.index)
        np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.floats(allow_nan=True), st.integers(-(10**16), 10**16).map(float)), max_size=30
    )
)
def test_text_of_numbers_is_each_number_formatted_alone(values):
    """Numbers as the validator reads them: each distinct value is formatted once and the texts gathered;
    a row gets what its number gives alone ("3" for an integral value below 1e15, repr otherwise,
    missing for NaN and infinities)."""
    from cdiscgen.validate._context import compute_text

    def alone(x: float) -> str | None:
        if math.isnan(x) or math.isinf(x):
            return None
        return str(int(x)) if x == round(x) and abs(x) < 1e15 else repr(x)

    got = compute_text(pd.Series(values, dtype="float64"))
    assert [None if pd.isna(v) else v for v in got.tolist()] == [alone(x) for x in values]


def test_value_length_rules_count_bytes_without_trailing_blanks_and_skip_missing_values():
    # CMTRT: "é" is 2 bytes in UTF-8, so the longest value "éé  " has 4 bytes once its blanks go;
    # CMDOSTXT: one value of 201 "x" and one of 200 "x" plus blanks; a missing value counts as nothing
    cm = pd.DataFrame(
        {
            "USUBJID": ["S-001", "S-002", "S-003"],
            "CMSEQ": [1.0, 1.0, 1.0],
            "CMTRT": pd.array(["éé  ", "ab", None], dtype="str"),
            "CMDOSTXT": pd.array(["x" * 201, "x" * 200 + "   ", None], dtype="str"),
        }
    )
    meta = {
        "CM": _Meta(
            "CM",
            "Concomitant Medications",
            [
                _Var("USUBJID", "Unique Subject Identifier", "char", 5),
                _Var("CMSEQ", "Sequence Number", "num", 8),
                _Var("CMTRT", "Reported Name of Drug, Med, or Therapy", "char", 6),
                _Var("CMDOSTXT", "Dose Description", "char", 201),
            ],
        )
    }
    found = validate_datasets({"CM": cm}, meta=meta, codes=["CDG0108", "CDG0203"]).findings
    longest = {(f.variable, f.value, f.expected) for f in found if f.code == "CDG0108"}
    assert longest == {("CMTRT", "6", "4")}  # CMDOSTXT's 201 is its longest value's length
    too_long = [(f.variable, f.usubjid) for f in found if f.code == "CDG0203" and f.usubjid]
    assert too_long == [("CMDOSTXT", "S-001")]


_TEXTS = st.lists(
    st.one_of(st.none(), st.sampled_from(["", "a", "b", "S-1", "S-10", " a", "é"])), max_size=12
)


@given(values=_TEXTS, known=_TEXTS)
def test_positions_among_is_the_first_occurrence_of_each_value(values, known):
    from cdiscgen._arrowtext import compute_positions_among

    first: dict[str, int] = {}
    for i, k in enumerate(known):
        if k is not None:
            first.setdefault(k, i)
    expected = [first.get(v, -1) if v is not None else -1 for v in values]
    got = compute_positions_among(pd.Series(values, dtype="str"), pd.Series(known, dtype="str"))
    assert got.tolist() == expected and got.dtype == np.intp


@given(keys=_TEXTS, table=st.dictionaries(st.sampled_from(["a", "b", "S-1", "S-10", "é"]), st.floats(-5, 5)))
def test_compute_mapped_is_series_map_by_a_table_of_unique_keys(keys, table):
    from cdiscgen._distinct import compute_mapped

    text = pd.Series(keys, dtype="str")
    numbers = pd.Series(table, dtype="float64")
    words = numbers.astype("str")
    got, want = compute_mapped(text, numbers), text.map(numbers)
    assert np.array_equal(got.to_numpy(), want.to_numpy(dtype="float64"), equal_nan=True)
    got_words = compute_mapped(text, words)
    assert str(got_words.dtype) == "str"
    assert got_words.fillna("\0").tolist() == text.map(words).astype("str").fillna("\0").tolist()


_PAIRS = st.lists(
    st.tuples(
        st.one_of(st.none(), st.sampled_from(["S-1", "S-2", "S-10", ""])),
        st.one_of(st.just(float("nan")), st.sampled_from([0.0, -0.0, 1.0, 2.0, 2.5, 10.0])),
    ),
    max_size=12,
)


@given(pairs=_PAIRS, table=_PAIRS)
def test_pair_rows_is_the_first_table_row_of_each_subject_and_number(pairs, table):
    from cdiscgen.validate._context import compute_pair_rows

    first: dict[tuple[str, float], int] = {}
    for i, (s, n) in enumerate(table):
        if s is not None and n == n:
            first.setdefault((s, n), i)
    expected = [first.get((s, n), -1) if s is not None and n == n else -1 for s, n in pairs]

    def columns(rows):
        return pd.Series([s for s, _ in rows], dtype="str"), np.array([n for _, n in rows], dtype="float64")

    got = compute_pair_rows(*columns(pairs), *columns(table))
    assert got.tolist() == expected


_DATE = st.one_of(
    st.none(),
    st.sampled_from(
        ["2024", "2024-03", "2024-03-10", " 2024-03-10", "2024-03-10T09", "2024-03-10T09:59", "2024-02-30"]
        + ["2023-12-31T23:59:59", "2024-03-09", "x", "", "2024---10", "2024-03-10T10:00"]
    ),
)


def _compare_by_hand(x: str | None, y: str | None) -> float:
    from cdiscgen._iso8601 import STRICT

    x, y = (v.strip() if v is not None else None for v in (x, y))
    if not x or not y or not re.fullmatch(STRICT, x) or not re.fullmatch(STRICT, y):
        return math.nan
    for k in (4, 7, 10, 13, 16, 19):  # year ... second: compared while both reach the level and agree
        if len(x) < k or len(y) < k:
            break
        if x[:k] != y[:k]:
            return -1.0 if x[:k] < y[:k] else 1.0
    return 0.0


def _days_by_hand(v: str | None) -> float:
    from datetime import date

    v = (v or "").strip()
    if not re.match(r"\d{4}-\d{2}-\d{2}(T|$)", v):
        return math.nan
    try:
        return float((date(int(v[:4]), int(v[5:7]), int(v[8:10])) - date(1970, 1, 1)).days)
    except ValueError:
        return math.nan


@given(pairs=st.lists(st.tuples(_DATE, _DATE), max_size=14))
def test_dates_compared_and_counted_per_distinct_value_as_by_hand(pairs):
    left = pd.Series([x for x, _ in pairs], dtype="str", index=range(7, 7 + len(pairs)))
    right = pd.Series([y for _, y in pairs], dtype="str", index=range(7, 7 + len(pairs)))
    got = compare_iso8601(left, right)
    want = np.array([_compare_by_hand(x, y) for x, y in pairs], dtype="float64")
    assert np.array_equal(got, want, equal_nan=True)
    days = compute_days(left)
    assert np.array_equal(
        days, np.array([_days_by_hand(x) for x, _ in pairs], dtype="float64"), equal_nan=True
    )


def _context_of(frame: pd.DataFrame):
    from cdiscgen.validate._context import ValidationContext

    return ValidationContext(datasets={"XX": frame})


@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["S-1", "S-2", None]), st.sampled_from([1.0, 2.0, -0.0, 0.0, math.nan])),
        max_size=12,
    )
)
def test_duplicated_records_are_those_pandas_finds_on_the_texts(rows):
    frame = pd.DataFrame(
        {"USUBJID": pd.Series([s for s, _ in rows], dtype="str"), "XXSEQ": [n for _, n in rows]}
    )
    # the rules' texts: numbers as "0", "1", "2" (0.0 and -0.0 alike), a missing number missing
    texts = pd.DataFrame(
        {"USUBJID": frame.USUBJID, "XXSEQ": frame.XXSEQ.map(lambda v: None if v != v else str(int(v)))}
    )
    expected = texts.duplicated(keep=False).tolist()
    assert _context_of(frame).duplicated("XX", ["USUBJID", "XXSEQ"]).tolist() == expected


def test_duplicated_records_over_keys_too_many_to_number_at_once():
    # seven columns of up to 1,000 distinct values: their combinations outnumber a 64-bit integer, so the
    # combined key is renumbered on the way; two records are copies of earlier ones
    rng = np.random.default_rng(20261207)
    frame = pd.DataFrame({f"K{i}": rng.integers(0, 1000, 1500).astype(str) for i in range(7)}).astype("str")
    frame.iloc[1400] = frame.iloc[3]
    frame.iloc[1450] = frame.iloc[700]
    expected = frame.duplicated(keep=False).to_numpy()
    assert expected.sum() == 4
    assert (_context_of(frame).duplicated("XX", list(frame.columns)) == expected).all()
