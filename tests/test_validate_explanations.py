"""Findings a study explains (specs/explanations.yaml): they keep their place in every report, carry the
reason, and no longer count at their severity; an explanation that matches nothing is reported."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from cdiscgen import load_study
from cdiscgen._findings import Severity
from cdiscgen._specs import Explanation, SpecError, check_study
from cdiscgen.report import write_reports
from cdiscgen.validate import validate_datasets
from tests.conftest import REPO

PILOT = REPO / "examples" / "cdiscpilot01"


def _ae() -> pd.DataFrame:
    # A and B hospitalised but not serious (CDG2701); C serious and hospitalised (fine)
    return pd.DataFrame(
        {
            "STUDYID": ["S"] * 3,
            "DOMAIN": ["AE"] * 3,
            "USUBJID": ["A", "B", "C"],
            "AESEQ": [1.0, 1.0, 1.0],
            "AETERM": ["Oedema"] * 3,
            "AESER": ["N", "N", "Y"],
            "AESHOSP": ["Y", "Y", "Y"],
        }
    )


def _with(*explanations: Explanation):
    return dataclasses.replace(load_study(), explanations=explanations)


def test_a_matching_explanation_gives_its_reason_and_the_finding_counts_apart():
    study = _with(Explanation("CDG2701", "as collected", dataset="AE", usubjid=("A",), line=3))
    result = validate_datasets({"AE": _ae()}, study=study, codes=["CDG2701", "CDG0005"])
    found = {f.usubjid: f.explanation for f in result.findings if f.code == "CDG2701"}
    assert found == {"A": "as collected", "B": None}  # B is not among the subjects the entry names
    assert result.findings.by_severity()["error"] == 1
    assert [f.usubjid for f in result.findings.explained()] == ["A"]
    assert [f.usubjid for f in result.findings.at_least(Severity.ERROR)] == ["B"]
    assert result.runs["CDG0005"].status == "clean"


def test_an_explanation_matching_nothing_is_a_notice_naming_its_line():
    study = _with(
        Explanation("CDG2701", "as collected", dataset="AE"),
        Explanation("CDG2701", "wrong dataset", dataset="MH", line=9),
        Explanation("CDG2721", "not run here", dataset="AE", line=12),
    )
    result = validate_datasets({"AE": _ae()}, study=study, codes=["CDG2701", "CDG0005"])
    stale = [f for f in result.findings if f.code == "CDG0005"]
    # the MH entry matches nothing; the CDG2721 one is about a rule this run did not run: not judged
    assert [(f.severity, f.dataset, f.value, f.file, f.line) for f in stale] == [
        (Severity.NOTICE, "MH", "CDG2701", "specs/explanations.yaml", 9)
    ]
    assert result.findings.by_severity() == {"error": 0, "warning": 0, "notice": 1}


def _pilot_copy(tmp_path: Path, text: str) -> Path:
    study = tmp_path / "study"
    shutil.copytree(PILOT / "specs", study / "specs")
    shutil.copytree(PILOT / "mappings", study / "mappings")
    (study / "specs" / "explanations.yaml").write_text(text, encoding="utf-8")
    return study


def test_an_explanation_of_an_unknown_rule_or_without_a_reason_is_a_spec_error(tmp_path):
    study = _pilot_copy(
        tmp_path,
        "explanations:\n  - code: CDG2701\n    reason: fine\n  - code: CDG9999\n    reason: no such rule\n",
    )
    _, findings = check_study(study)
    assert [(f.code, f.file, f.line) for f in findings if f.code.startswith("SPEC")] == [
        ("SPEC044", "specs/explanations.yaml", 4)
    ]
    with pytest.raises(SpecError, match="reason"):
        load_study(_pilot_copy(tmp_path / "2", "explanations:\n  - code: CDG2701\n"))


def test_reports_show_the_explanation(tmp_path):
    study = _with(Explanation("CDG2701", "as collected <raw>", dataset="AE"))
    result = validate_datasets({"AE": _ae()}, study=study, codes=["CDG2701"])
    write_reports(result, tmp_path, formats=("json", "html"), validation=result)
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["summary"]["by_severity"]["error"] == 0 and report["summary"]["explained"] == 2
    assert {r["explanation"] for r in report["findings"]} == {"as collected <raw>"}
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'id="explained"' in html and "as collected &lt;raw&gt;" in html


def test_the_pilot_explains_every_finding_above_notice_and_each_explanation_is_used(pilot_mapped):
    # the pilot's SDTM as mapped from its raw exports, validated with its study (and its explanations.yaml)
    mapped = pilot_mapped()
    study = load_study(PILOT)
    assert len(study.explanations) == 5
    result = validate_datasets(mapped.datasets, study=study)
    unexplained = result.findings.at_least(Severity.WARNING)
    assert not unexplained, "\n".join(map(str, unexplained[:10]))
    assert result.runs["CDG0005"].status == "clean"
    assert {f.code for f in result.findings.explained()} == {e.code for e in study.explanations}


def test_the_bundled_run_has_nothing_above_notice_unexplained(darpal_run):
    report = json.loads((darpal_run / "validation" / "report.json").read_text(encoding="utf-8"))
    assert report["summary"]["by_severity"]["error"] == 0
    assert report["summary"]["by_severity"]["warning"] == 0
    explained = [f for f in report["findings"] if f["explanation"]]
    # the TS codes study.yaml does not hold (INDIC: SNOMED; PCLAS of each drug: MED-RT)
    assert sorted((f["code"], f["expected"]) for f in explained) == [
        ("CDG0904", "MED-RT"),
        ("CDG0904", "MED-RT"),
        ("CDG0904", "SNOMED"),
    ]
    assert not [f for f in report["findings"] if f["code"] == "CDG0005"]
