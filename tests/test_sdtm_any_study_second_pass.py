"""Any study, second pass (issue 31): what mapping a study from outside this repository needed, one test
per vocabulary feature on small raw exports of those shapes built here (R's NA, SAS's ".", identifiers
that differ between forms, ...). Expected values are worked out by hand from the rule named beside each."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from adam._dates import compute_date_parts
from cdiscgen import load_study
from cdiscgen._findings import Severity
from cdiscgen._specs import Codelist, Term, check_study
from cdiscgen.cli import main
from cdiscgen.validate import validate_datasets
from cdiscgen.validate._dates import check_iso8601
from sdtm import (
    RuleContext,
    check_mapping_specs,
    compute_assign,
    compute_iso8601,
    compute_template,
    compute_visit_table,
    derive_trial_design,
    derive_visit,
    run_sdtm,
)
from sdtm._longtext import compute_text_parts, derive_long_text
from tests.test_sdtm_algorithms import raw as _raw

# Two subjects of the `init --minimal` demographics form, written as an R export would: NA for missing.
DM_NA = """\
SUBJECT,SITE,COUNTRY,CONSENT_DATE,BIRTH_DATE,SEX,RACE,ETHNICITY,SCREEN_FAILED
1001,01,USA,2026-01-05,NA,F,WHITE,.,N
1002,02,CAN,2026-01-07,1981-01-08,M,ASIAN, NA ,N
"""


def minimal_study(tmp_path: Path) -> Path:
    target = tmp_path / "study"
    result = CliRunner().invoke(main, ["init", str(target), "--minimal"])
    assert result.exit_code == 0, result.output
    return target


def edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def raw_folder(tmp_path: Path, **forms: str) -> Path:
    folder = tmp_path / "raw"
    folder.mkdir(exist_ok=True)
    for name, text in forms.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return folder


def dm_source(study_dir: Path, change) -> None:
    edit_yaml(study_dir / "mappings" / "dm.yaml", lambda d: change(d["sources"][0]))


def codes(findings, *wanted: str) -> list[tuple[str, str | None, str | None]]:
    return sorted((f.code, f.variable, f.value) for f in findings if f.code in wanted)


# ----------------------------------------------------------------------------- 1. missing-value tokens


def test_without_a_declaration_na_tokens_are_reported_not_read_silently(tmp_path):
    study_dir = minimal_study(tmp_path)
    result = run_sdtm(raw_folder(tmp_path, demographics=DM_NA), load_study(study_dir))
    # the date column: NA fits no format (MAP003); the text column: "." and "NA" (stripped) are kept as
    # text, each token reported once per column with its count and lines
    assert codes(result.findings, "MAP003") == [("MAP003", "BRTHDTC", "NA")]
    left = sorted((f.variable, f.value, f.line) for f in result.findings if f.code == "MAP026")
    assert left == [("BIRTH_DATE", "NA", 2), ("ETHNICITY", ".", 2), ("ETHNICITY", "NA", 3)]
    assert result.datasets["DM"]["ETHNIC"].tolist() == [".", "NA"]


def test_missing_tokens_declared_on_the_form_read_as_blank(tmp_path):
    study_dir = minimal_study(tmp_path)
    dm_source(study_dir, lambda src: src.update(missing=["NA", "."]))
    result = run_sdtm(raw_folder(tmp_path, demographics=DM_NA), load_study(study_dir))
    dm = result.datasets["DM"]
    assert dm["BRTHDTC"].tolist() == ["", "1981-01-08"]
    assert dm["ETHNIC"].tolist() == ["", ""]
    assert codes(result.findings, "MAP003", "MAP026") == []
    # AGE: 1001 has no birth date any more (nothing to derive from); 1002: 1981-01-08 -> 2026-01-07 = 44
    assert dm["AGE"].isna().tolist() == [True, False] and dm["AGE"].iloc[1] == 44


def test_missing_tokens_declared_study_wide_and_a_form_may_override_them(tmp_path):
    study_dir = minimal_study(tmp_path)
    edit_yaml(study_dir / "specs" / "study.yaml", lambda d: d.update(raw={"missing": ["NA"]}))
    result = run_sdtm(raw_folder(tmp_path, demographics=DM_NA), load_study(study_dir))
    dm = result.datasets["DM"]
    # NA is blank everywhere; "." is not declared: kept and reported
    assert dm["ETHNIC"].tolist() == [".", ""] and dm["BRTHDTC"].tolist() == ["", "1981-01-08"]
    assert codes(result.findings, "MAP026") == [("MAP026", "ETHNICITY", ".")]
    # the form's own declaration replaces the study's: here "." only
    dm_source(study_dir, lambda src: src.update(missing=["."]))
    result = run_sdtm(raw_folder(tmp_path, demographics=DM_NA), load_study(study_dir))
    assert result.datasets["DM"]["ETHNIC"].tolist() == ["", "NA"]


def test_a_token_that_is_a_declared_value_of_its_column_is_not_reported(tmp_path):
    study_dir = minimal_study(tmp_path)
    text = DM_NA.replace(",N\n", ",NA\n")  # SCREEN_FAILED: NA = not applicable, declared as such
    dm_source(study_dir, lambda src: src["column_values"].update(SCREEN_FAILED=["Y", "N", "NA"]))
    result = run_sdtm(raw_folder(tmp_path, demographics=text), load_study(study_dir))
    assert [v for _, v, _ in codes(result.findings, "MAP026") if v == "SCREEN_FAILED"] == []
    assert codes(result.findings, "MAP020") == []


def test_sources_reading_one_form_must_agree_on_its_missing_tokens(tmp_path):
    study_dir = minimal_study(tmp_path)

    def second_source(data):
        first = data["sources"][0]
        first["missing"] = ["NA"]
        other = {k: v for k, v in first.items() if k != "missing"}
        other["missing"] = ["."]
        data["sources"].append(other)

    edit_yaml(study_dir / "mappings" / "dm.yaml", second_source)
    findings = [f for f in check_mapping_specs(load_study(study_dir)) if f.code == "SPEC116"]
    assert len(findings) == 1 and findings[0].file == "mappings/dm.yaml"
    assert "['.']" in findings[0].message and "['NA']" in findings[0].message


@pytest.mark.parametrize("tokens", [[""], "NA"])
def test_a_missing_declaration_of_the_wrong_shape_is_named(tmp_path, tokens):
    study_dir = minimal_study(tmp_path)
    dm_source(study_dir, lambda src: src.update(missing=tokens))
    findings = check_mapping_specs(load_study(study_dir))
    assert [f.file for f in findings] == ["mappings/dm.yaml"] and "missing" in findings[0].variable


# ------------------------------------------------------------------------------------ 5. template rule


def test_template_joins_columns_with_format_specifications():
    df = _raw(FORM=["MD1", "MD1", "MD1"], DCM=["56379253", "7", "9"], REC=["1", "12", "3"])
    rule = {"template": "/F:{FORM}-D:{DCM:0>9}-R:{REC:03d}"}
    values, findings = compute_template(df, rule, RuleContext("CM", "CMSPID", {}, "form.csv"))
    # 0>9 pads the text with zeros to 9 characters; 03d writes the number with 3 digits
    assert values.tolist() == [
        "/F:MD1-D:056379253-R:001",
        "/F:MD1-D:000000007-R:012",
        "/F:MD1-D:000000009-R:003",
    ]
    assert findings == []


def test_template_with_a_blank_part_or_an_unreadable_number_is_empty_and_reported():
    df = _raw(A=["x", "", "", "y"], N=["1.5", "2", "", "ten"])
    values, findings = compute_template(df, {"template": "{{{A}}}#{N:.2f}"}, RuleContext("CM", "CMSPID", {}))
    # row 1: "{x}#1.50" ({{ and }} are braces); row 2: A blank -> empty, MAP027 naming A; row 3: all blank ->
    # empty, no finding; row 4: "ten" is no number -> empty, MAP027 naming the value
    assert values.tolist() == ["{x}#1.50", "", "", ""]
    assert [(f.code, f.line, f.value) for f in findings] == [("MAP027", 5, "ten"), ("MAP027", 3, "A")]


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("{SUBJECT", "expected '}' before end of string"),
        ("{}", "a field names no column"),
        ("{SUBJECT:zz}", "{SUBJECT:zz}"),
        ("{SUBJECT!r}", "'!r' is not a format specification"),
        ("{NOPE}", "raw column 'NOPE' is not in the source's declared columns"),
    ],
)
def test_a_template_that_cannot_be_read_is_named_by_file_and_line(tmp_path, template, words):
    study_dir = minimal_study(tmp_path)
    dm_source(study_dir, lambda src: src["variables"].update(SUBJID={"template": template}))
    findings = check_mapping_specs(load_study(study_dir))
    assert [(f.file, f.code in ("SPEC117", "SPEC104")) for f in findings] == [("mappings/dm.yaml", True)]
    assert words in findings[0].message


# --------------------------------------------------------------- 3. subject keys that differ between forms

# DM carries "study-1001"; the vital-signs form carries the bare number and the site in its own column.
DM_PREFIXED = DM_NA.replace("\n1001,", "\nstudy-1001,").replace("\n1002,", "\nstudy-1002,").replace("NA", "")
DM_PREFIXED = DM_PREFIXED.replace(",.,", ",,")


def test_a_subject_key_extracted_by_a_regular_expression(tmp_path):
    study_dir = minimal_study(tmp_path)
    dm_source(study_dir, lambda src: src.update(subject={"assign": "SUBJECT", "extract": r"^study-(\d+)$"}))
    text = DM_PREFIXED + "s1003,03,USA,2026-01-09,,F,WHITE,,N\n"
    result = run_sdtm(raw_folder(tmp_path, demographics=text), load_study(study_dir))
    dm = result.datasets["DM"]
    # the pattern MYSTUDY-{subject} applied to the extracted number; "s1003" does not match: no key (MAP012)
    assert sorted(dm["USUBJID"]) == ["", "MYSTUDY-1001", "MYSTUDY-1002"]
    assert codes(result.findings, "MAP012") == [("MAP012", "USUBJID", "s1003")]


def test_a_subject_key_from_a_template_of_two_columns(tmp_path):
    study_dir = minimal_study(tmp_path)
    dm_source(study_dir, lambda src: src.update(subject={"template": "{SITE}-{SUBJECT:0>5}"}))
    result = run_sdtm(
        raw_folder(tmp_path, demographics=DM_PREFIXED.replace("study-", "")), load_study(study_dir)
    )
    assert result.datasets["DM"]["USUBJID"].tolist() == ["MYSTUDY-01-01001", "MYSTUDY-02-01002"]


def test_a_subject_rule_of_the_wrong_kind_is_named(tmp_path):
    study_dir = minimal_study(tmp_path)
    dm_source(study_dir, lambda src: src.update(subject={"hardcode": "1"}))
    findings = check_mapping_specs(load_study(study_dir))
    assert [(f.code, f.file) for f in findings] == [("SPEC101", "mappings/dm.yaml")]
    assert "a subject key is a column" in findings[0].message


# ---------------------------------------------------------- 7. visit and codelist matching as documented


def visit_frame(codes: list[str], dates: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "USUBJID": ["S-1"] * len(codes),
            "_VISITCODE": codes,
            "_VDATE": dates,
            "_ROW": range(1, len(codes) + 1),
            "_FILE": "vs.csv",
        }
    )


def test_visit_codes_match_ignoring_inner_spaces_and_a_visit_takes_several_codes(tmp_path):
    study_dir = minimal_study(tmp_path)

    def schedule(d):
        d["visits"][0]["code"] = "Visit 1"
        d["visits"][1]["codes"] = ["V2", "Day One"]
        d["unscheduled"]["patterns"] = [r"UNSCHEDULED (?P<visitnum>\d+(\.\d+)?)"]

    edit_yaml(study_dir / "specs" / "study.yaml", schedule)
    study = load_study(study_dir)
    # VISIT1 = "Visit 1" without spaces; D1, v2 and "DAY  ONE" are the three spellings of DAY 1; "Unscheduled
    # 1.1" matches the pattern (spaces collapsed); "UN S" is the by-date code UNS; "VISIT 3" is unknown
    frame = visit_frame(
        ["VISIT1", "D1", "v2", "DAY  ONE", "Unscheduled  1.1", "UN S", "VISIT 3"],
        ["2026-01-01", "2026-01-15", "2026-01-15", "2026-01-15", "2026-01-20", "2026-01-22", "2026-01-23"],
    )
    table = compute_visit_table([frame], study)
    out, findings = derive_visit(frame, table, study, RuleContext("VS", "VISIT", {}))
    assert out["VISIT"].tolist() == [
        "SCREENING",
        "DAY 1",
        "DAY 1",
        "DAY 1",
        "UNSCHEDULED 1.1",
        "UNSCHEDULED 2.01",
        "",
    ]
    assert [(f.code, f.line, f.value) for f in findings] == [("MAP008", 8, "VISIT 3")]


def test_two_spellings_of_one_code_in_the_schedule_are_a_spec_error(tmp_path):
    study_dir = minimal_study(tmp_path)
    edit_yaml(study_dir / "specs" / "study.yaml", lambda d: d["visits"][1].update(codes=["S C R"]))
    _, findings = check_study(study_dir)
    assert [(f.code, "S C R" in f.message) for f in findings] == [("SPEC030", True)]


def test_codelist_matching_ignores_repeated_inner_spaces():
    df = _raw(ETHNIC=["Not  Hispanic or   Latino", "hispanic or latino"])
    codelist = Codelist(
        id="ETHNIC",
        name="Ethnicity",
        extensible=False,
        data_type="text",
        terms=(Term("HISPANIC OR LATINO", "C17459"), Term("NOT HISPANIC OR LATINO", "C41222")),
    )
    values, findings = compute_assign(
        df, {"assign": "ETHNIC", "codelist": "ETHNIC"}, RuleContext("DM", "ETHNIC", {"ETHNIC": codelist})
    )
    assert values.tolist() == ["NOT HISPANIC OR LATINO", "HISPANIC OR LATINO"] and findings == []


# ------------------------------------------------------------- 12. an input already in SDTM shape

DM_SDTM_SHAPE = """\
SUBJECT,SUBJID,SITEID,COUNTRY,RFICDTC,SEX,RACE,ETHNIC
1001,1001,01,USA,2026-01-05,F,WHITE,NOT HISPANIC OR LATINO
1002,1002,02,CAN,2026-01-07,Male,ASIAN,HISPANIC OR LATINO
"""


def sdtm_shaped_source(src: dict) -> None:
    src["columns"] = ["SUBJECT", "RFICDTC"]
    src["column_values"] = {}
    src["pass_through"] = ["SUBJID", "SITEID", "COUNTRY", "SEX", "RACE", "ETHNIC"]
    src["variables"] = {
        "RFICDTC": {"iso8601": "RFICDTC", "formats": ["YYYY-MM-DD"]},
        "AGEU": {"hardcode": "YEARS"},
        "ACTARMUD": {"not_submitted": "no unplanned arm"},
        "DTHDTC": {"not_submitted": "not collected"},
    }


def test_pass_through_takes_same_named_columns_through_their_codelists(tmp_path):
    study_dir = minimal_study(tmp_path)
    dm_source(study_dir, sdtm_shaped_source)
    assert check_mapping_specs(load_study(study_dir)) == []
    result = run_sdtm(raw_folder(tmp_path, demographics=DM_SDTM_SHAPE), load_study(study_dir))
    dm = result.datasets["DM"]
    assert dm["SITEID"].tolist() == ["01", "02"] and dm["COUNTRY"].tolist() == ["USA", "CAN"]
    # SEX goes through its codelist: "Male" is the synonym of M
    assert dm["SEX"].tolist() == ["F", "M"]
    assert dm["ETHNIC"].tolist() == ["NOT HISPANIC OR LATINO", "HISPANIC OR LATINO"]


def test_a_variable_both_passed_through_and_ruled_is_named(tmp_path):
    study_dir = minimal_study(tmp_path)

    def both(src):
        sdtm_shaped_source(src)
        src["variables"]["SEX"] = {"hardcode": "F"}

    dm_source(study_dir, both)
    findings = check_mapping_specs(load_study(study_dir))
    assert [(f.code, f.file) for f in findings] == [("SPEC118", "mappings/dm.yaml")]
    lines = (study_dir / "mappings" / "dm.yaml").read_text().splitlines()
    # named at the rule in `variables`, with the line where SEX is passed through
    assert lines[findings[0].line - 1].strip().startswith("SEX:")
    assert f"passed through (line {lines.index('  - SEX') + 1})" in findings[0].message


# ----------------------------------------------------------------------- 10. a time on a partial date


def test_a_time_on_a_partial_date_is_kept_in_the_placeholder_form():
    df = _raw(
        D=["20-UNK-2019", "UN-MAR-2019", "UN-UNK-2019", "", "31-FEB-2019", "05-MAR-2019"],
        T=["10:00", "08:15", "23:59", "07:30", "10:00", ""],
    )
    rule = {"iso8601": {"date": "D", "time": "T"}, "formats": ["DD-MON-YYYY"], "unknown": ["UN", "UNK"]}
    values, findings = compute_iso8601(df, rule, RuleContext("AE", "AESTDTC", {}))
    # SDTMIG 4.4.4: a hyphen for each missing component between the known ones; an impossible date keeps
    # no time (MAP004); a date without a time stays a date
    assert values.tolist() == [
        "2019---20T10:00",
        "2019-03--T08:15",
        "2019----T23:59",
        "-----T07:30",
        "",
        "2019-03-05",
    ]
    assert [(f.code, f.line) for f in findings] == [("MAP004", 6)]
    # the validator's reading of SDTMIG 4.4.4 accepts every one of them
    bad_shape, impossible = check_iso8601(values)
    assert not bad_shape.any() and not impossible.any()


def test_adam_reads_the_known_start_of_a_placeholder_date():
    frame = pd.DataFrame(
        {"USUBJID": ["S"] * 4, "ASTDTC": ["2019---20T10:00", "2019-03--T08:15", "--03-05", "2019-03-05T-:20"]}
    )
    days, year, month = compute_date_parts(frame, "ASTDTC", dataset="ADAE")
    # only the last one has a complete date (2019-03-05 = SAS day 21613); the others are partial
    assert days.isna().tolist() == [True, True, True, False] and days.iloc[3] == 21613
    assert year.tolist()[:2] == [2019, 2019] and pd.isna(year.iloc[2])
    assert pd.isna(month.iloc[0]) and month.iloc[1] == 3


# -------------------------------------------------------------- 2. text over 200 characters into SUPP--

LONG_TERM = " ".join(["PAIN AND SWELLING AT THE APPLICATION SITE SPREADING TO THE UPPER ARM"] * 6)


def test_text_parts_end_before_the_last_break_that_fits():
    # 10-byte parts: "AAAA BBBB CCCCCC DD" -> "AAAA BBBB" (9; the space after it is where they join),
    # "CCCCCC DD"; a word longer than a part is cut inside it
    assert compute_text_parts("AAAA BBBB CCCCCC DD", 10, " ", "ascii") == (["AAAA BBBB", "CCCCCC DD"], False)
    assert compute_text_parts("AAAAAAAAAAAAAA BB", 10, " ", "ascii") == (["AAAAAAAAAA", "AAAA BB"], True)
    assert compute_text_parts("A/B/C", 3, "/", "ascii") == (["A/B", "C"], False)
    # bytes, not characters: "é" is 2 bytes in UTF-8, so 5 of them do not fit in 9
    assert compute_text_parts("ééééé", 9, " ", "utf-8") == (["éééé", "é"], True)


def test_a_long_verbatim_term_is_split_into_supp_records_per_sdtmig(tmp_path):
    from tests.test_sdtm_any_study import PILOT, RAW

    assert len(LONG_TERM) == 413
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, text in RAW.items():
        if name == "ae_raw.csv":
            text = text.replace("AE,Adverse Events,Headache", f"AE,Adverse Events,{LONG_TERM}", 1)
        (raw / name).write_text(text, encoding="utf-8")
    study = load_study(PILOT)
    result = run_sdtm(raw, study)
    ae = result.datasets["AE"].set_index("USUBJID")
    supp = result.datasets["SUPPAE"]
    parts = supp[supp["QNAM"].str.startswith("AETERM")].sort_values("QNAM")
    # worked by hand: the 68-character sentence repeats with single spaces; 200 bytes hold 2 sentences and
    # 63 characters of the third, so the first part ends before the last space in them (after "UPPER")
    first = ae.loc["01-701-0001", "AETERM"]
    assert first == LONG_TERM[: LONG_TERM.rfind(" ", 0, 201)] and len(first) == 196
    assert parts["QNAM"].tolist() == ["AETERM1", "AETERM2"]
    assert parts["QLABEL"].tolist() == [
        "Reported Term for the Adverse Event 1",
        "Reported Term for the Adverse Event 2",
    ]
    assert set(parts["IDVAR"]) == {"AESEQ"} and set(parts["QORIG"]) == {"Collected"}
    assert all(len(v) <= 200 for v in parts["QVAL"])
    assert " ".join([first, *parts["QVAL"]]) == LONG_TERM  # nothing lost: the parts join at the spaces
    notices = [f for f in result.findings if f.code == "MAP028"]
    assert [(f.severity, f.variable, f.line, f.value) for f in notices] == [
        (Severity.NOTICE, "AETERM", 2, "3 parts: AETERM, AETERM1, AETERM2")
    ]
    # the QNAM codelist admits the parts without listing them; define.xml decodes them with their labels
    codelist = study.codelists[study.dataset("SUPPAE").variable("QNAM").codelist]
    assert "AETERM1" not in codelist.values
    assert codelist.continuation_term("AETERM2").decode == "Reported Term for the Adverse Event 2"
    assert codelist.continuation_term("AETERM0") is None and codelist.continuation_term("AETRTEM") is None


def test_without_a_supp_spec_a_long_text_is_an_error_naming_the_record(tmp_path):
    study = load_study(minimal_study(tmp_path))
    frame = pd.DataFrame({"USUBJID": ["S-1"], "COUNTRY": ["X" * 201], "_ROW": [4], "_FILE": ["dm.csv"]})
    out, continued, findings = derive_long_text(
        frame, study.dataset("DM"), "ascii", supp=False, ctx=RuleContext("DM", "", {})
    )
    assert out["COUNTRY"].tolist() == ["X" * 201] and continued == []  # kept whole, nothing split
    assert [(f.code, f.severity, f.variable, f.line) for f in findings] == [
        ("MAP029", Severity.ERROR, "COUNTRY", 5)
    ]
    assert "no SUPPDM spec" in findings[0].message


# --------------------------------------------------------------------------- 9. RACE MULTIPLE agrees


def test_race_multiple_of_the_template_is_the_sdtmig_convention_not_a_sponsor_extension(tmp_path):
    study_dir = minimal_study(tmp_path)
    text = MINIMAL_DM_MULTIPLE
    result = run_sdtm(raw_folder(tmp_path, demographics=text), load_study(study_dir))
    assert result.datasets["DM"]["RACE"].tolist() == ["MULTIPLE", "ASIAN"]
    study = load_study(study_dir)
    assert study.codelists["RACE"].term("MULTIPLE").convention  # SDTMIG 3.4 DM prescribes it
    found = validate_datasets(result.datasets, study=study, codes=["CDG0801", "CDG0802", "CDG0803"]).findings
    assert [(f.code, f.value) for f in found] == []
    # a sponsor term of the closed codelist that no guide prescribes still is one
    edit_yaml(study_dir / "specs" / "codelists.yaml", lambda d: _add_race_term(d, "MIXED"))
    study = load_study(study_dir)
    result = run_sdtm(raw_folder(tmp_path, demographics=text.replace("MULTIPLE", "MIXED")), study)
    found = validate_datasets(result.datasets, study=study, codes=["CDG0803"]).findings
    assert [(f.code, f.value) for f in found] == [("CDG0803", "MIXED")]


def _add_race_term(doc: dict, value: str) -> None:
    race = next(c for c in doc["codelists"] if c["id"] == "RACE")
    race["terms"].append({"value": value, "sponsor": True})


MINIMAL_DM_MULTIPLE = """\
SUBJECT,SITE,COUNTRY,CONSENT_DATE,BIRTH_DATE,SEX,RACE,ETHNICITY,SCREEN_FAILED
1001,01,USA,2026-01-05,1970-03-01,F,MULTIPLE,NOT HISPANIC OR LATINO,N
1002,02,CAN,2026-01-07,1981-01-08,M,ASIAN,HISPANIC OR LATINO,N
"""


# ------------------------------------------------ 8. trial-design facts, what run requires, ARMNRS default


def check_specs(study_dir: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check-specs", "--study", str(study_dir)])
    return result.exit_code, result.output


def test_unstated_protocol_facts_are_unknown_in_ts_and_check_specs_says_so(tmp_path):
    study_dir = minimal_study(tmp_path)
    code, output = check_specs(study_dir)
    assert code == 0
    for key, parmcd in (
        ("objective_primary", "OBJPRIM"),
        ("therapeutic_area", "THERAREA"),
        ("planned_length", "LENGTH"),
        ("trial_type", "TTYPE"),
    ):
        assert f"study.{key} is not stated: TS {parmcd} is submitted as unknown (TSVALNF UNK)" in output
    assert "SPEC046" in output and "4 warning(s)" in output
    ts = derive_trial_design(load_study(study_dir))["TS"].set_index("TSPARMCD")
    assert ts.loc[["OBJPRIM", "THERAREA", "LENGTH", "TTYPE"], "TSVALNF"].tolist() == ["UNK"] * 4
    assert (ts.loc[["OBJPRIM", "THERAREA", "LENGTH", "TTYPE"], "TSVAL"] == "").all()


def test_check_specs_reports_what_would_stop_the_trial_design_and_an_unknown_trial_type(tmp_path):
    study_dir = minimal_study(tmp_path)

    def facts(d):
        d["study"].update(
            objective_primary="Response", trial_type=["EFFICACY", "CURATIVE"], therapeutic_area="X",
            planned_length="P1Y",
        )  # fmt: skip

    edit_yaml(study_dir / "specs" / "study.yaml", facts)
    code, output = check_specs(study_dir)
    # CURATIVE is no TTYPE term: submitted without a C-code, so check-specs says it before run
    assert (
        code == 0
        and "TS.TTYPE: 'CURATIVE' (study.yaml study.trial_type[1]) is not a term of codelist TTYPE" in output
    )

    def two_arms(d):
        d["design"]["arms"].append({"armcd": "ARM2", "arm": "Other", "elements": ["SCRN", "TRT"]})

    edit_yaml(study_dir / "specs" / "study.yaml", two_arms)
    code, output = check_specs(study_dir)
    # a two-arm design must state its intervention model: run would stop on it, check-specs says so first
    assert code == 2 and "SPEC045" in output and "design.intervention_model" in output


def test_armnrs_default_keeps_a_single_arm_study_from_assigning_subjects_never_exposed(tmp_path):
    study_dir = minimal_study(tmp_path)
    result = run_sdtm(raw_folder(tmp_path, demographics=MINIMAL_DM_MULTIPLE), load_study(study_dir))
    dm = result.datasets["DM"]
    # the template declares armnrs_default NOT ASSIGNED; the skeleton maps no exposure: nobody was treated,
    # nobody has a collected arm -> no arm, ARMNRS NOT ASSIGNED, and no MAP014 (the reason is given)
    assert dm["ARMCD"].tolist() == ["", ""] and dm["ARMNRS"].tolist() == ["NOT ASSIGNED", "NOT ASSIGNED"]
    assert codes(result.findings, "MAP014") == []
    # without the default the single arm takes every subject without a reason, as before
    edit_yaml(study_dir / "specs" / "study.yaml", lambda d: d["design"].pop("armnrs_default"))
    result = run_sdtm(raw_folder(tmp_path, demographics=MINIMAL_DM_MULTIPLE), load_study(study_dir))
    assert result.datasets["DM"]["ARMCD"].tolist() == ["ARM1", "ARM1"]


def test_an_armnrs_default_outside_its_codelist_is_a_spec_error(tmp_path):
    study_dir = minimal_study(tmp_path)
    edit_yaml(
        study_dir / "specs" / "study.yaml", lambda d: d["design"].update(armnrs_default="NEVER RANDOMISED")
    )
    _, findings = check_study(study_dir)
    assert [(f.code, f.variable) for f in findings] == [("SPEC047", "design.armnrs_default")]


# ------------------------------------------------------------------------------- 14. messages and docs


def test_every_subcommand_takes_quiet_and_verbose_after_its_name(tmp_path):
    study_dir = minimal_study(tmp_path)
    for flag in ("-q", "-v", "--quiet"):
        result = CliRunner().invoke(main, ["check-specs", flag, "--study", str(study_dir)])
        assert result.exit_code == 0, (flag, result.output)
    for command in ("init", "check-specs", "simulate", "sdtm", "adam", "validate", "run"):
        result = CliRunner().invoke(main, [command, "--help"])
        assert "-q, --quiet" in result.output and "-v, --verbose" in result.output, command


def test_a_yaml_syntax_error_in_a_mapping_is_reported_once(tmp_path):
    study_dir = minimal_study(tmp_path)
    path = study_dir / "mappings" / "dm.yaml"
    path.write_text(path.read_text().replace("dataset: DM", "dataset: [DM"), encoding="utf-8")
    code, output = check_specs(study_dir)
    assert code == 2 and output.count("YAML syntax error") == 1


def test_map013_names_the_derived_value_it_compared_with(tmp_path):
    study_dir = minimal_study(tmp_path)
    dm_source(
        study_dir, lambda src: src["columns"].append("AGE") or src["variables"].update(AGE={"assign": "AGE"})
    )
    text = MINIMAL_DM_MULTIPLE.replace("SCREEN_FAILED\n", "SCREEN_FAILED,AGE\n").replace(",N\n", ",N,50\n")
    result = run_sdtm(raw_folder(tmp_path, demographics=text), load_study(study_dir))
    # 1970-03-01 -> 2026-01-05: 55 full years; 1981-01-08 -> 2026-01-07: 44 (worked in test_sdtm_any_study)
    found = sorted((f.value, f.expected) for f in result.findings if f.code == "MAP013")
    assert found == [("50", "44"), ("50", "55")]
    assert all(
        "BRTHDTC, 55;" in f.message or "BRTHDTC, 44;" in f.message
        for f in result.findings
        if f.code == "MAP013"
    )


def test_findings_name_the_usubjid_the_spec_maps_explicitly(tmp_path):
    study_dir = minimal_study(tmp_path)

    def explicit(src):
        src["columns"].append("PATIENT")
        src["variables"]["USUBJID"] = {"assign": "PATIENT"}

    dm_source(study_dir, explicit)
    text = DM_NA.replace("SCREEN_FAILED\n", "SCREEN_FAILED,PATIENT\n").replace(",N\n", ",N,P-{}\n")
    text = text.replace("P-{}", "P-1", 1).replace("P-{}", "P-2", 1)
    result = run_sdtm(raw_folder(tmp_path, demographics=text), load_study(study_dir))
    assert result.datasets["DM"]["USUBJID"].tolist() == ["P-1", "P-2"]
    # the NA birth date of the first subject: named by the USUBJID the dataset holds, not MYSTUDY-1001
    assert [f.usubjid for f in result.findings if f.code == "MAP003"] == ["P-1"]


# ----------------------------------------------------------------------- 13. the study-day reference


def test_study_day_counts_from_the_reference_date_the_study_declares(tmp_path):
    from tests.test_sdtm_any_study import PILOT, RAW

    study_dir = tmp_path / "pilot"
    shutil.copytree(PILOT, study_dir)
    raw = raw_folder(tmp_path, **{name.removesuffix(".csv"): text for name, text in RAW.items()})

    def vsdy(study):
        vs = run_sdtm(raw, study).datasets["VS"]
        temp = vs[(vs["USUBJID"] == "01-701-0001") & (vs["VSTESTCD"] == "TEMP")]
        return dict(zip(temp["VSDTC"], temp["VSDY"], strict=True))

    # SDTMIG's default: RFSTDTC = first exposure 2014-01-02 -> 2014-01-16 is day 15, 2013-12-20 day -13
    assert vsdy(load_study(study_dir)) == {"2013-12-20": -13, "2014-01-02": 1, "2014-01-16": 15}
    # counted from RFENDTC instead (the pilot's: the completion record, 2014-01-30): no day 0, so
    # 2014-01-16 is 14 days before it, day -14; 2014-01-30 itself would be day 1
    edit_yaml(study_dir / "specs" / "study.yaml", lambda d: d["subjects"].update(study_day_from="RFENDTC"))
    study = load_study(study_dir)
    assert vsdy(study) == {"2013-12-20": -41, "2014-01-02": -28, "2014-01-16": -14}
    result = run_sdtm(raw, study)
    found = validate_datasets(result.datasets, study=study, codes=["CDG0304"]).findings
    assert found.items == []  # the validator counts from the same reference
    default = validate_datasets(result.datasets, study=load_study(PILOT), codes=["CDG0304"]).findings
    assert default.items and all("DM.RFSTDTC" in f.message for f in default.items)


# ------------------------------------------------------- 11. rules shared between the sources of a form


def test_a_wide_row_with_no_measurement_becomes_not_done_records_sharing_the_timing_rules(tmp_path):
    from tests.test_sdtm_any_study import PILOT, RAW

    # the pilot layout: a supine blood-pressure row with all three measurements empty (examples/cdiscpilot01
    # maps it with a second source that uses the first's `tests` and `timing` groups)
    empty_row = "CDISCPILOT01,701-0001,week 2,VS,Vital Signs,16-Jan-2014,,,,,after Standing for 1 Minute,,,,STANDING\n"
    raw = raw_folder(
        tmp_path,
        **{n.removesuffix(".csv"): t + (empty_row if n == "vs_raw.csv" else "") for n, t in RAW.items()},
    )
    vs = run_sdtm(raw, load_study(PILOT)).datasets["VS"]
    nd = vs[vs["VSSTAT"] == "NOT DONE"].sort_values("VSTESTCD")
    assert nd["VSTESTCD"].tolist() == ["DIABP", "PULSE", "SYSBP"]
    # the shared timing rules: date, time point and its number, elapsed time, reference; no result, no unit
    assert set(nd["VSDTC"]) == {"2014-01-16"} and set(nd["VSTPT"]) == {"AFTER STANDING FOR 1 MINUTE"}
    assert (
        set(nd["VSTPTNUM"]) == {816}
        and set(nd["VSELTM"]) == {"PT1M"}
        and set(nd["VSTPTREF"]) == {"PATIENT STANDING"}
    )
    assert set(nd["VSORRES"]) == {""} and set(nd["VSORRESU"]) == {""} and set(nd["VSPOS"]) == {"STANDING"}
    assert set(nd["VISIT"]) == {"WEEK 2"}


def shared_spec(study_dir: Path, change) -> None:
    def edit(d):
        d["shared"] = {"timing": {"DMDTC": {"iso8601": "CONSENT_DATE", "formats": ["YYYY-MM-DD"]}}}
        d["sources"][0]["variables"].pop("DMDTC")
        d["sources"][0]["use"] = ["timing"]
        change(d)

    edit_yaml(study_dir / "mappings" / "dm.yaml", edit)


def test_shared_rules_map_like_the_source_s_own(tmp_path):
    study_dir = minimal_study(tmp_path)
    shared_spec(study_dir, lambda d: None)
    assert check_mapping_specs(load_study(study_dir)) == []
    result = run_sdtm(raw_folder(tmp_path, demographics=MINIMAL_DM_MULTIPLE), load_study(study_dir))
    assert result.datasets["DM"]["DMDTC"].tolist() == ["2026-01-05", "2026-01-07"]


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        (lambda d: d["sources"][0].update(use=["timng"]), "SPEC119", "no shared group 'timng' (timing)"),
        (
            lambda d: d["sources"][0]["variables"].update(DMDTC={"hardcode": "2026"}),
            "SPEC118",
            "DMDTC is given a rule in `variables` and also in shared group timing",
        ),
        (
            lambda d: d["shared"]["timing"].update(DMDTC={"iso8601": "NOPE", "formats": ["YYYY"]}),
            "SPEC104",
            "raw column 'NOPE' is not in the source's declared columns",
        ),
    ],
)
def test_a_shared_group_problem_is_named(tmp_path, change, code, words):
    study_dir = minimal_study(tmp_path)
    shared_spec(study_dir, change)
    findings = check_mapping_specs(load_study(study_dir))
    assert [(f.code, f.file) for f in findings] == [(code, "mappings/dm.yaml")]
    assert words in findings[0].message


# -------------------------------------------------------------- 6. the sponsor's CT spreadsheet


CT_SHEET = """\
Codelist Code,Term Code,Term Value,Collected Value,Synonyms,EDC Codelist
C66731,C16576,F,Woman,Lady;Frau,
C66731,C16576,F,2,,SEX_CV5
C66731,C20197,M,1,,SEX_CV5
C66731,C20197,M,2,,SEX_CV1
C66731,C16576,F,1,,SEX_CV1
SITEGRP,,NORTH,N,,
SITEGRP,,SOUTH,S,,
"""
SHEET_COLUMNS = {
    "codelist": "Codelist Code",
    "code": "Term Code",
    "value": "Term Value",
    "collected": "Collected Value",
    "synonyms": "Synonyms",
    "edc_codelist": "EDC Codelist",
}


def study_with_ct_sheet(tmp_path: Path, sheet_text: str = CT_SHEET, name: str = "sponsor-ct.csv") -> Path:
    study_dir = minimal_study(tmp_path)
    if name.endswith(".csv"):
        (study_dir / "specs" / name).write_text(sheet_text, encoding="utf-8")
    else:
        from openpyxl import Workbook

        book = Workbook()
        book.active.title = "Terminology"
        for row in csv_rows(sheet_text):
            book.active.append(row)
        book.save(study_dir / "specs" / name)

    def add(d):
        d["spreadsheets"] = [
            {
                "file": name,
                "columns": SHEET_COLUMNS,
                **({} if name.endswith(".csv") else {"sheet": "Terminology"}),
            }
        ]
        d["codelists"].append(
            {"id": "SITEGRP", "name": "Site Group", "extensible": False, "data_type": "text", "sponsor": True}
        )

    edit_yaml(study_dir / "specs" / "codelists.yaml", add)
    return study_dir


def csv_rows(text: str) -> list[list[str]]:
    import csv
    import io

    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("name", ["sponsor-ct.csv", "sponsor-ct.xlsx"])
def test_codelists_take_terms_and_scoped_synonyms_from_the_sponsor_ct_sheet(tmp_path, name):
    study = load_study(study_with_ct_sheet(tmp_path, name=name))
    sex = study.codelists["SEX"]
    # unscoped synonyms join the declared ones; "1" and "2" hold only within their EDC codelist
    assert (
        sex.synonym_map()["WOMAN"] == "F"
        and sex.synonym_map()["FRAU"] == "F"
        and "1" not in sex.synonym_map()
    )
    assert (sex.synonym_map("SEX_CV5")["1"], sex.synonym_map("SEX_CV5")["2"]) == ("M", "F")
    assert (sex.synonym_map("SEX_CV1")["1"], sex.synonym_map("SEX_CV1")["2"]) == ("F", "M")
    assert sex.edc_codelists == {"SEX_CV1", "SEX_CV5"}
    # a codelist declared without terms gets them from the sheet: sponsor terms (no C-code)
    site = study.codelists["SITEGRP"]
    assert [(t.value, t.code, t.sponsor, t.synonyms) for t in site.terms] == [
        ("NORTH", None, True, ("N",)),
        ("SOUTH", None, True, ("S",)),
    ]


def test_a_rule_reads_a_raw_column_through_its_edc_codelist(tmp_path):
    study_dir = study_with_ct_sheet(tmp_path)
    raw = raw_folder(
        tmp_path,
        demographics=MINIMAL_DM_MULTIPLE.replace(",F,MULTIPLE,", ",2,MULTIPLE,").replace(
            ",M,ASIAN,", ",1,ASIAN,"
        ),
    )
    dm_source(
        study_dir, lambda src: src["variables"].update(SEX={"assign": "SEX", "edc_codelist": "SEX_CV5"})
    )
    assert run_sdtm(raw, load_study(study_dir)).datasets["DM"]["SEX"].tolist() == ["F", "M"]
    dm_source(
        study_dir, lambda src: src["variables"].update(SEX={"assign": "SEX", "edc_codelist": "SEX_CV1"})
    )
    assert run_sdtm(raw, load_study(study_dir)).datasets["DM"]["SEX"].tolist() == ["M", "F"]
    dm_source(
        study_dir, lambda src: src["variables"].update(SEX={"assign": "SEX", "edc_codelist": "SEX_CV9"})
    )
    findings = check_mapping_specs(load_study(study_dir))
    assert [(f.code, f.file) for f in findings] == [("SPEC120", "mappings/dm.yaml")]
    assert "SEX_CV1, SEX_CV5" in findings[0].message


@pytest.mark.parametrize(
    ("sheet", "code", "line", "words"),
    [
        (CT_SHEET + "C99999,,X,X,,\n", "SPEC049", 9, "codelist 'C99999' is not declared in codelists.yaml"),
        (CT_SHEET + "C66731,C20197,M,1,,SEX_CV1\n", "SPEC049", 9, "'1' in EDC codelist SEX_CV1 reads as 'F'"),
        (CT_SHEET + "C66731,C99,F,,,\n", "SPEC049", 9, "C-code C99 here, C16576 declared"),
        (
            CT_SHEET.replace("Term Value", "Submission Value"),
            "SPEC048",
            1,
            "column 'Term Value' (value) is not in the header",
        ),
    ],
)
def test_a_ct_sheet_problem_names_file_and_row(tmp_path, sheet, code, line, words):
    study_dir = study_with_ct_sheet(tmp_path, sheet)
    _, findings = check_study(study_dir)
    errors = [f for f in findings if f.code == code]
    assert [(f.file, f.line) for f in errors] == [("specs/sponsor-ct.csv", line)]
    assert words in errors[0].message


def test_ids_that_differ_between_forms_meet_in_one_usubjid(tmp_path):
    from tests.test_sdtm_any_study import PILOT, RAW

    # DM carries the bare site-subject number, the AE export prefixes it ("study-701-0001")
    study_dir = tmp_path / "pilot"
    shutil.copytree(PILOT, study_dir)
    forms = {n.removesuffix(".csv"): t for n, t in RAW.items()}
    forms["ae_raw"] = forms["ae_raw"].replace("CDISCPILOT01,701-", "CDISCPILOT01,study-701-")
    raw = raw_folder(tmp_path, **forms)
    ae_mapping = study_dir / "mappings" / "ae.yaml"
    before = run_sdtm(raw, load_study(study_dir))
    # as the pilot maps it: "01-study-701-0001" is no DM subject (MAP010)
    assert {f.value for f in before.findings if f.code == "MAP010"} == {
        "01-study-701-0001",
        "01-study-701-0002",
    }
    edit_yaml(
        ae_mapping, lambda d: d["sources"][0].update(subject={"assign": "PATNUM", "extract": "^study-(.+)$"})
    )
    after = run_sdtm(raw, load_study(study_dir))
    assert [f for f in after.findings if f.code in ("MAP010", "MAP012")] == []
    assert sorted(set(after.datasets["AE"]["USUBJID"])) == ["01-701-0001", "01-701-0002"]


def test_long_text_is_measured_in_bytes_of_the_agency_encoding():
    from sdtm._longtext import compute_long_mask

    # 150 x "é": 150 bytes in cp1252/ascii (replaced), 300 in UTF-8; 201 x "a" is long everywhere; a missing
    # value has no length
    values = pd.Series(["\u00e9" * 150, "a" * 201, "a" * 200, "", None], dtype="str")
    for utf8 in ("utf-8", "UTF8"):
        assert compute_long_mask(values, utf8, 200).tolist() == [True, True, False, False, False]
    assert compute_long_mask(values, "cp1252", 200).tolist() == [False, True, False, False, False]
    assert compute_long_mask(values, "ascii", 200).tolist() == [False, True, False, False, False]


def test_a_ct_sheet_that_is_no_workbook_is_named_not_a_traceback(tmp_path):
    study_dir = study_with_ct_sheet(tmp_path, name="sponsor-ct.xlsx")
    (study_dir / "specs" / "sponsor-ct.xlsx").write_bytes(b"not a zip file")
    _, findings = check_study(study_dir)
    errors = [f for f in findings if f.code == "SPEC048"]
    assert [f.file for f in errors] == ["specs/codelists.yaml"] and "not a readable .xlsx workbook" in errors[
        0
    ].message
