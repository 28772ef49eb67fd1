"""Report renderers: report.json contract and reproducibility, xlsx sheets, html content, console table."""

from __future__ import annotations

import json
from pathlib import Path

import lxml.html
import openpyxl
import pandas as pd
import pytest
from rich.console import Console

from cdiscgen._findings import Finding, Findings, Severity
from cdiscgen.report import REPORT_FIELDS, render_console, write_reports
from cdiscgen.validate import validate_datasets, validate_folder

CREATED = "2026-01-15T09:00:00"
REFDATA = Path(__file__).resolve().parents[2] / "shared" / "refdata"
if not REFDATA.is_dir():
    REFDATA = Path("/work/shared/refdata")


def _findings() -> Findings:
    # deliberately out of order; values that would break naive renderers
    return Findings(
        [
            Finding(
                "CDG0802",
                Severity.WARNING,
                "LBTESTCD value is not in the extensible codelist",
                dataset="LB",
                variable="LBTESTCD",
                usubjid="S-002",
                seq=4,
                value="<script>alert(1)</script>",
                expected="codelist LBTESTCD",
            ),
            Finding(
                "CDG0302",
                Severity.ERROR,
                "LBDTC is not a possible date/time",
                dataset="LB",
                variable="LBDTC",
                usubjid="S-001",
                seq=3,
                value="2024-02-30",
                file="lb.xpt",
            ),
            Finding(
                "CDG0302",
                Severity.ERROR,
                "LBDTC is not a possible date/time",
                dataset="LB",
                variable="LBDTC",
                usubjid="S-001",
                seq=1,
                value="2024-02-31",
                file="lb.xpt",
            ),
            Finding("CDG1301", Severity.ERROR, "schema error", file="define.xml", line=63),
            Finding(
                "CDG0204",
                Severity.ERROR,
                "value of TSVAL holds a non-ASCII character",
                dataset="TS",
                variable="TSVAL",
                value="=Alzheimer\u2019s",
            ),
            Finding("CDG0111", Severity.NOTICE, "ADSL has no spec", dataset="ADSL"),
        ]
    )


def test_report_json_contract_and_order(tmp_path):
    [path] = write_reports(_findings(), tmp_path, formats=["json"], created=CREATED)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert list(doc) == ["created", "summary", "findings"]
    assert doc["created"] == CREATED
    assert doc["summary"]["total"] == 6
    assert doc["summary"]["by_severity"] == {"error": 4, "warning": 1, "notice": 1}
    assert doc["summary"]["by_code"] == {"CDG0111": 1, "CDG0204": 1, "CDG0302": 2, "CDG0802": 1, "CDG1301": 1}
    assert doc["summary"]["rules"]["CDG0302"] == {
        "name": "Impossible date/time",
        "severity": "error",
        "count": 2,
    }
    rows = doc["findings"]
    assert all(list(r) == list(REPORT_FIELDS) for r in rows)
    # errors first, then by code; within CDG0302 by USUBJID then seq
    assert [(r["code"], r["seq"]) for r in rows] == [
        ("CDG0204", None),
        ("CDG0302", 1),
        ("CDG0302", 3),
        ("CDG1301", None),
        ("CDG0802", 4),
        ("CDG0111", None),
    ]
    assert rows[3]["line"] == 63 and rows[3]["file"] == "define.xml"
    assert "timing" not in doc


def test_report_json_is_byte_identical_across_runs(tmp_path):
    lb = pd.DataFrame(
        {"USUBJID": ["S2", "S1", "S1"], "LBSEQ": [1.0, 1.0, 1.0], "LBDTC": ["2024-02-30", "2024-3-1", ""]}
    )
    lb = lb.astype({"USUBJID": "str", "LBDTC": "str"})
    first = write_reports(validate_datasets({"LB": lb}), tmp_path / "a", formats=["json"], created=CREATED)[0]
    second = write_reports(validate_datasets({"LB": lb}), tmp_path / "b", formats=["json"], created=CREATED)[
        0
    ]
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.skipif(not REFDATA.is_dir(), reason="reference data folder ../shared/refdata is absent")
def test_report_json_on_reference_data_is_reproducible(tmp_path):
    folder = REFDATA / "sdtm-msg-2.0"
    a = write_reports(validate_folder(folder), tmp_path / "a", formats=["json"], created=CREATED)[0]
    b = write_reports(validate_folder(folder), tmp_path / "b", formats=["json"], created=CREATED)[0]
    assert a.read_bytes() == b.read_bytes()
    # with timings asked for, they go in a separate top-level block CI can drop
    c = write_reports(
        validate_folder(folder), tmp_path / "c", formats=["json"], created=CREATED, timing=True
    )[0]
    with_timing = json.loads(c.read_text(encoding="utf-8"))
    assert set(with_timing["timing"]["rules"]) >= {"CDG0101", "CDG1306"}
    del with_timing["timing"]
    assert with_timing == json.loads(a.read_text(encoding="utf-8"))


def test_report_xlsx_sheets_and_rows(tmp_path):
    findings = _findings()
    [path] = write_reports(findings, tmp_path, formats=["xlsx"], created=CREATED)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Summary", "Details"]
    details = list(wb["Details"].iter_rows(values_only=True))
    assert details[0] == (
        "Code",
        "Severity",
        "Dataset",
        "USUBJID",
        "SEQ",
        "Variable",
        "Value",
        "Expected",
        "Message",
        "File",
        "Line",
        "Explanation",
    )
    assert len(details) == 1 + len(findings)
    assert details[1][:7] == ("CDG0204", "error", "TS", None, None, "TSVAL", "=Alzheimer\u2019s")
    cell = wb["Details"]["G2"]
    assert cell.data_type == "s"  # a value starting with "=" stays text, never a formula
    summary = list(wb["Summary"].iter_rows(values_only=True))
    assert summary[0] == ("Code", "Name", "Severity", "Count", "Scope", "Reference", "Rule", "Source")
    rule_rows = {r[0]: r[3] for r in summary[1:6]}
    assert rule_rows == {"CDG0204": 1, "CDG0302": 2, "CDG1301": 1, "CDG0802": 1, "CDG0111": 1}


def test_report_html_lists_every_rule_and_escapes_values(tmp_path):
    [path] = write_reports(_findings(), tmp_path, formats=["html"], created=CREATED)
    doc = lxml.html.fromstring(path.read_bytes())
    ids = set(doc.xpath("//@id"))
    assert {"CDG0111", "CDG0204", "CDG0302", "CDG0802", "CDG1301"} <= ids
    assert not doc.xpath("//script")  # the value was escaped, not injected
    assert "<script>alert(1)</script>" in doc.text_content()
    # rule descriptions come from the catalog
    assert "2024-02-30" in doc.get_element_by_id("rule-CDG0302").text_content()
    # one detail row per finding in each rule's table
    section = doc.get_element_by_id("rule-CDG0302")
    [table] = section.xpath(".//table[@class='findings']")
    assert len(table.xpath(".//tbody/tr")) == 2
    assert [th.text for th in table.xpath(".//th")] == [
        "Dataset",
        "USUBJID",
        "--SEQ",
        "Variable",
        "Value",
        "Message",
        "File",
    ]  # Expected is empty for both CDG0302 findings, so it is left out
    assert [td.text_content() for td in table.xpath(".//tbody/tr[1]/td")] == [
        "LB",
        "S-001",
        "1",
        "LBDTC",
        "2024-02-31",
        "LBDTC is not a possible date/time",
        "lb.xpt",
    ]
    # errors start open, the others collapsed
    assert section.get("open") is not None
    assert doc.get_element_by_id("rule-CDG0802").get("open") is None


def test_report_html_without_findings(tmp_path):
    [path] = write_reports(Findings(), tmp_path, formats=["html"])
    assert "No findings." in lxml.html.fromstring(path.read_bytes()).text_content()


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="pdf"):
        write_reports(_findings(), tmp_path, formats=["json", "pdf"])


def test_console_table(tmp_path):
    console = Console(record=True, width=160, color_system=None)
    render_console(_findings(), console)
    text = console.export_text()
    assert "CDG0302" in text and "Impossible date/time" in text
    assert "Total: 4 error, 1 warning, 1 notice" in text
    line = next(x for x in text.splitlines() if "CDG0302" in x)
    assert "│ error" in line and "│     2 │" in line


def _summary_rows(doc) -> dict[str, list[str]]:
    [table] = doc.xpath("//h2[@id='summary']/following-sibling::table[1]")
    return {
        tr.xpath("./td")[0].text_content(): [td.text_content() for td in tr.xpath("./td")]
        for tr in table.xpath("./tbody/tr")
    }


def _stage_findings() -> Findings:
    return Findings(
        [
            Finding("MAP005", Severity.NOTICE, "duplicate raw row dropped", dataset="LB", usubjid="S-001"),
            Finding("DEF002", Severity.NOTICE, "dataset has no records", dataset="CM"),
            Finding("CDG0302", Severity.ERROR, "LBDTC is not a possible date/time", dataset="LB"),
        ]
    )


def test_codes_that_are_not_rules_show_their_code_unless_named(tmp_path):
    names = {"MAP005": "Duplicate raw record dropped"}
    write_reports(_stage_findings(), tmp_path / "plain", created=CREATED)
    write_reports(_stage_findings(), tmp_path / "named", created=CREATED, names=names)

    plain = json.loads((tmp_path / "plain" / "report.json").read_text(encoding="utf-8"))["summary"]["rules"]
    named = json.loads((tmp_path / "named" / "report.json").read_text(encoding="utf-8"))["summary"]["rules"]
    assert {c: r["name"] for c, r in plain.items()} == {
        "CDG0302": "Impossible date/time",
        "DEF002": "DEF002",
        "MAP005": "MAP005",
    }
    # a name given for a code is used; a rule keeps its catalog name; an unnamed code stays its code
    assert {c: r["name"] for c, r in named.items()} == {
        "CDG0302": "Impossible date/time",
        "DEF002": "DEF002",
        "MAP005": "Duplicate raw record dropped",
    }

    rows = _summary_rows(lxml.html.fromstring((tmp_path / "named" / "report.html").read_bytes()))
    # Code, Name, Source, Severity, Count, Datasets, Reference
    assert rows["MAP005"][:6] == [
        "MAP005",
        "Duplicate raw record dropped",
        "SDTM mapping",
        "notice",
        "1",
        "LB",
    ]
    assert rows["DEF002"][:3] == ["DEF002", "DEF002", "Define-XML build"]
    assert rows["CDG0302"][2] == "Conformance rule" and rows["CDG0302"][6].startswith("SDTMIG 3.4")

    summary = list(
        openpyxl.load_workbook(tmp_path / "named" / "report.xlsx")["Summary"].iter_rows(values_only=True)
    )
    by_code = {r[0]: r for r in summary[1:4]}
    assert by_code["MAP005"][1] == "Duplicate raw record dropped" and by_code["MAP005"][7] == "SDTM mapping"

    console = Console(record=True, width=160, color_system=None)
    render_console(_stage_findings(), console, names=names)
    assert "Duplicate raw record dropped" in console.export_text()


def test_report_html_caps_rows_per_rule_and_counts_the_rest(tmp_path):
    many = Findings(
        [
            Finding("CDG0302", Severity.ERROR, "LBDTC is not a possible date/time", dataset="LB", seq=i)
            for i in range(1, 351)
        ]
    )
    paths = write_reports(many, tmp_path, formats=["html", "json"])
    doc = lxml.html.fromstring(paths[0].read_bytes())
    [table] = doc.get_element_by_id("rule-CDG0302").xpath(".//table[@class='findings']")
    assert len(table.xpath("./tbody/tr")) == 200
    assert "150 more finding(s) of CDG0302" in doc.text_content()
    assert _summary_rows(doc)["CDG0302"][4] == "350"
    # report.json keeps every finding
    assert len(json.loads(paths[1].read_text(encoding="utf-8"))["findings"]) == 350


def test_report_xlsx_carries_the_run_creation_time_not_the_wall_clock(tmp_path):
    # the same findings must give the same bytes (README: reruns byte-identical): openpyxl stamps
    # docProps/core.xml and every zip entry with the time of saving
    import zipfile

    from cdiscgen._findings import Finding, Severity
    from cdiscgen.report import write_reports

    findings = [Finding("CDG0204", Severity.ERROR, "label holds a non-ASCII character", dataset="TS")]
    (path,) = write_reports(findings, tmp_path, formats=("xlsx",), created="2026-01-15T09:00:00")
    with zipfile.ZipFile(path) as book:
        assert {info.date_time for info in book.infolist()} == {(2026, 1, 15, 9, 0, 0)}
        core = book.read("docProps/core.xml").decode("utf-8")
    assert core.count("2026-01-15T09:00:00Z") == 2  # created and modified
