"""The stand-alone stage commands chained as a user would: simulate -> sdtm -> adam -> validate."""

from __future__ import annotations

import json

import pyreadstat
import pytest
from click.testing import CliRunner

from cdiscgen.cli import main


@pytest.mark.slow
def test_stage_commands_chain(tmp_path):
    runner = CliRunner()
    raw, sdtm_dir, adam_dir, report = (tmp_path / n for n in ("raw", "sdtm", "adam", "report"))

    assert (
        runner.invoke(main, ["simulate", "--out", str(raw), "--subjects", "12", "--seed", "7"]).exit_code == 0
    )
    result = runner.invoke(
        main, ["sdtm", "--raw", str(raw), "--out", str(sdtm_dir), "--report", str(report / "sdtm")]
    )
    assert result.exit_code == 0, result.output
    assert {"dm.xpt", "lb.xpt", "define.xml", "define.html"} <= {p.name for p in sdtm_dir.iterdir()}
    assert (sdtm_dir / "trace" / "lb.trace.csv").is_file()  # the sponsor's trace, in a folder of its own
    dm, _ = pyreadstat.read_xport(str(sdtm_dir / "dm.xpt"))
    assert len(dm) == 12  # every screened subject, screen failures included

    result = runner.invoke(
        main, ["adam", "--sdtm", str(sdtm_dir), "--out", str(adam_dir), "--report", str(report / "adam")]
    )
    assert result.exit_code == 0, result.output
    assert {"adsl.xpt", "adrs.xpt", "adtte.xpt", "adlb.xpt", "summary.json", "define.xml"} <= {
        p.name for p in adam_dir.iterdir()
    }

    result = runner.invoke(main, ["validate", str(sdtm_dir), "--report", str(report), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads((report / "report.json").read_text())
    assert doc["summary"]["by_severity"]["error"] == 0
    assert "timing" in doc  # per-rule seconds, asked for by the CLI


def test_validate_exit_code_follows_fail_on(tmp_path, small_run):
    runner = CliRunner()
    sdtm_dir = next(small_run.rglob("tabulations/sdtm"))  # only read
    # the simulator re-sends some lab records on purpose: the dropped duplicates are notices (MAP005) in
    # the sdtm run, not in validate; validate on clean SDTM gives notices at most (variables without data)
    ok = runner.invoke(
        main, ["validate", str(sdtm_dir), "--report", str(tmp_path / "r1"), "--format", "json"]
    )
    assert ok.exit_code == 0
    strict = runner.invoke(
        main,
        [
            "validate",
            str(sdtm_dir),
            "--report",
            str(tmp_path / "r2"),
            "--format",
            "json",
            "--fail-on",
            "notice",
        ],
    )
    counts = json.loads((tmp_path / "r2" / "report.json").read_text())["summary"]["by_severity"]
    assert strict.exit_code == (1 if sum(counts.values()) else 0)


def test_list_rules_prints_the_catalog():
    result = CliRunner().invoke(main, ["validate", "--list-rules"])
    assert result.exit_code == 0
    assert "CDG0301" in result.output and "CDG1101" in result.output


def test_unknown_report_format_is_bad_input(tmp_path):
    result = CliRunner().invoke(main, ["validate", str(tmp_path), "--format", "pdf"])
    assert result.exit_code == 2 and "pdf" in result.output


def test_someone_elses_data_is_not_checked_against_our_specs(tmp_path):
    from tests.conftest import refdata_path

    folder = refdata_path("sdtm-msg-2.0")
    result = CliRunner().invoke(
        main, ["validate", str(folder), "--report", str(tmp_path), "--format", "json"]
    )
    assert result.exit_code == 1  # real findings exist there
    codes = json.loads((tmp_path / "report.json").read_text())["summary"]["by_code"]
    # STUDYID CDISCPILOT01 is not DARPAL: no "STUDYID differs" and no DarPAL codelist findings
    assert "CDG0505" not in codes and "CDG0802" not in codes
    # the real ones: RFXENDTC of CDISC008 vs EX, and the define.xml standard name typo (STDTMIG)
    assert codes.get("CDG0504") == 1 and codes.get("CDG1301") == 1
