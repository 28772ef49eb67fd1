"""Every rule's status in a run (issues / clean / not applicable / failed), what it examined, and how the
reports show it: "no findings" must be told apart from "not checked" (issue 15).

Datasets are built here by hand; the expected statuses follow from which data each rule reads, as its
rule text says (TS rules need TS, define.xml rules a define.xml, DM/EX rules DM and EX).
"""

from __future__ import annotations

import json
from pathlib import Path

import lxml.html
import openpyxl
import pandas as pd
import pytest

from cdiscgen._specs import load_study
from cdiscgen.report import write_reports
from cdiscgen.validate import get_rule, list_rules, validate_datasets, validate_parts
from cdiscgen.validate._runner import DatasetFolder

ROOT = Path(__file__).resolve().parents[1]


def _dm() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "STUDYID": ["S1", "S1"],
            "DOMAIN": ["DM", "DM"],
            "USUBJID": ["S1-001", "S1-002"],
            "RFSTDTC": ["2024-01-08", "2024-01-09"],
            "RFXSTDTC": ["2024-01-08", "2024-01-09"],
            "DTHFL": ["", "Y"],
            "DTHDTC": ["", ""],  # S1-002 died without a death date: CDG0507 has an issue
        }
    )


def test_a_rule_whose_data_is_absent_is_not_applicable_and_one_that_looked_is_clean():
    # CDG0904 reads TS (absent); CDG0501 reads every dataset's USUBJID against DM
    result = validate_datasets({"DM": _dm()}, codes=["CDG0904", "CDG0501", "CDG0507"])
    runs = result.runs
    assert runs["CDG0904"].status == "not applicable" and runs["CDG0904"].examined == ()
    assert runs["CDG0501"].status == "clean" and runs["CDG0501"].examined == ("DM",)
    assert runs["CDG0507"].status == "issues"
    assert runs["CDG0507"].findings == sum(f.code == "CDG0507" for f in result.findings) == 1


def test_every_rule_run_has_a_status_and_nothing_else_is_listed():
    codes = {"CDG0904", "CDG0501"}
    result = validate_datasets({"DM": _dm()}, codes=codes)
    assert set(result.runs) == codes
    everything = validate_datasets({"DM": _dm()})
    assert set(everything.runs) == {r.code for r in list_rules()}


def test_a_crashing_rule_is_failed_and_cdg0001_counts_it(monkeypatch):
    rule = get_rule("CDG0501")

    def crash(ctx, rule):
        raise ZeroDivisionError("boom")

    # a Rule is frozen: put a crashing one in the registry for this test only
    from cdiscgen.validate import _registry

    monkeypatch.setitem(_registry._REGISTRY, "CDG0501", _registry.Rule(rule.info, crash))
    result = validate_datasets({"DM": _dm()}, codes=["CDG0001", "CDG0501"])
    assert result.runs["CDG0501"].status == "failed" and result.runs["CDG0501"].findings == 0
    assert result.runs["CDG0001"].status == "issues" and result.runs["CDG0001"].findings == 1
    assert [f.value for f in result.findings if f.code == "CDG0001"] == ["CDG0501"]


def test_cdg0001_is_clean_when_every_rule_ran_to_its_end():
    result = validate_datasets({"DM": _dm()}, codes=["CDG0001", "CDG0501"])
    assert result.runs["CDG0001"].status == "clean"


def test_define_rules_are_not_applicable_without_a_define_and_examine_it_when_there_is_one(tmp_path):
    define_codes = [r.code for r in list_rules() if str(r.scope) == "define"]
    without = validate_parts([DatasetFolder(frames={"DM": _dm()}, name="a")])
    assert {without.runs[c].status for c in define_codes} == {"not applicable"}
    broken = tmp_path / "define.xml"
    broken.write_text("<not-odm/>", encoding="utf-8")
    with_define = validate_parts([DatasetFolder(frames={"DM": _dm()}, define_path=broken, name="a")])
    # a define.xml that is not Define-XML 2.1 is read (and reported) by the rule that checks its form
    assert any("define.xml" in with_define.runs[c].examined for c in define_codes)
    assert any(with_define.runs[c].status == "issues" for c in define_codes)


def test_file_rules_examine_the_files_read_and_report_what_reading_found(tmp_path):
    from cdiscgen.validate import validate_folder

    (tmp_path / "xx.xpt").write_bytes(b"not a transport file")
    result = validate_folder(tmp_path)
    assert result.runs["CDG0002"].status == "issues" and result.runs["CDG0002"].findings == 1
    assert result.runs["CDG0004"].status == "not applicable"  # no file could be read at all


def test_standards_come_from_study_yaml():
    study = load_study(ROOT)
    declared = study.settings["study"]["standards"]
    result = validate_datasets({"DM": _dm()}, study=study, codes=["CDG0501"])
    assert result.standards["SDTMIG"] == declared["sdtmig"]
    assert result.standards["SDTM CT"] == declared["sdtm_ct"]
    assert result.standards["Define-XML"] == declared["define_xml"]
    assert validate_datasets({"DM": _dm()}, codes=["CDG0501"]).standards == {}


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    result = validate_datasets({"DM": _dm()}, codes=["CDG0904", "CDG0501", "CDG0507"])
    write_reports(result, out, created="2026-01-15T09:00:00")
    return out, result


def test_report_json_lists_every_rule_run_with_its_status(reports):
    out, _ = reports
    doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
    rows = {r["code"]: r for r in doc["rules_run"]}
    assert {c: r["status"] for c, r in rows.items()} == {
        "CDG0501": "clean",
        "CDG0507": "issues",
        "CDG0904": "not applicable",
    }
    assert rows["CDG0501"]["examined"] == ["DM"] and rows["CDG0507"]["findings"] == 1
    assert doc["summary"]["rules_run"] == {"issues": 1, "clean": 1, "not applicable": 1}


def test_report_html_and_xlsx_show_the_rules_run(reports):
    out, _ = reports
    page = lxml.html.fromstring((out / "report.html").read_text(encoding="utf-8"))
    table = page.get_element_by_id("rules-run").getnext().getnext()
    cells = [[td.text_content() for td in tr.findall("td")] for tr in table.iter("tr") if tr.findall("td")]
    assert [(c[0], c[3]) for c in cells] == [
        ("CDG0501", "clean"),
        ("CDG0507", "issues"),
        ("CDG0904", "not applicable"),
    ]
    assert "3 rules run: 1 with issues, 1 clean, 1 not applicable" in page.text_content()
    sheet = openpyxl.load_workbook(out / "report.xlsx")["Rules run"]
    rows = [tuple(c.value for c in row) for row in sheet.iter_rows(min_row=2)]
    assert [(r[0], r[3], r[5]) for r in rows] == [
        ("CDG0501", "clean", "DM"),
        ("CDG0507", "issues", "DM"),
        ("CDG0904", "not applicable", None),
    ]


def test_a_report_of_findings_alone_has_no_rules_run(tmp_path):
    from cdiscgen._findings import Findings

    write_reports(Findings([]), tmp_path, formats=["json"])
    doc = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert "rules_run" not in doc and "standards" not in doc


# ------------------------------------------------------------------------------------ published IDs
def test_a_published_id_must_look_like_core_cg_or_fb():
    from cdiscgen._findings import Severity
    from cdiscgen.validate import Scope, rule

    with pytest.raises(ValueError, match="SD0083 is not a CORE, CG, FB, AD or TRC rule ID"):
        rule("CDG9998", "x", severity=Severity.NOTICE, scope=Scope.ANY, reference="x", published=("SD0083",))


def test_rules_name_the_published_rules_they_implement():
    """From the CDISC Open Rules catalogue: CORE-000201 (CG0029) 'USUBJID in DM.USUBJID'; CORE-000239
    (CG0148) 'RFXSTDTC = earliest EX.EXSTDTC'; CORE-000542 (FB3102) '--STRESC is numeric but --STRESN is
    not populated or not equal to --STRESC'."""
    published = {r.code: r.published for r in list_rules()}
    assert {"CORE-000201", "CG0029"} <= set(published["CDG0501"])
    assert {"CORE-000239", "CG0148"} <= set(published["CDG0503"])
    assert "FB3102" in published["CDG0604"]
    # a CORE rule is cited with the conformance or business rule it implements
    for code, ids in published.items():
        if any(i.startswith("CORE-") for i in ids):
            assert any(i.startswith(("CG", "FB")) for i in ids), code


def test_list_rules_and_the_report_show_the_published_ids(reports):
    from click.testing import CliRunner

    from cdiscgen.cli import main

    listing = CliRunner().invoke(main, ["validate", "--list-rules"], terminal_width=400)
    row = next(line for line in listing.output.splitlines() if "CDG0501" in line)
    assert "CORE-000201" in row
    out, _ = reports
    doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
    rows = {r["code"]: r for r in doc["rules_run"]}
    assert rows["CDG0501"]["published"] == ["CORE-000201", "CG0029", "AD0053"]
    assert rows["CDG0904"]["published"] == []


def test_the_technical_rejection_criteria_are_a_section_of_their_own(tmp_path):
    # DM without TS: TRC1734 fails; DM is there and no folder is involved: TRC1736 passes
    result = validate_datasets({"DM": _dm()}, codes=["CDG0010", "CDG0011", "CDG0501"])
    write_reports(
        result, tmp_path, created="2026-01-15T09:00:00", formats=("json", "html"), validation=result
    )
    doc = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert [(r["criterion"], r["code"], r["result"]) for r in doc["technical_rejection"]] == [
        ("TRC1734", "CDG0010", "fail"),
        ("TRC1736", "CDG0011", "pass"),
    ]
    page = lxml.html.fromstring((tmp_path / "report.html").read_text(encoding="utf-8"))
    table = page.get_element_by_id("rejection").getnext().getnext()
    cells = [[td.text_content() for td in tr.findall("td")] for tr in table.iter("tr") if tr.findall("td")]
    assert [(c[0], c[2]) for c in cells] == [("TRC1734", "fail"), ("TRC1736", "pass")]
