"""Codelists filled from an NCI CT release file: a codelist naming its C-code and a release (`release:
sdtm_ct`, a key of study.yaml's `ct_files`) takes terms, C-codes and decodes from the file. Expected terms
are read from the release here with the csv module."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import yaml
from click.testing import CliRunner

from cdiscgen import load_study
from cdiscgen._specs import check_study
from cdiscgen.cli import main

from .conftest import REPO, refdata_path


def _release_terms(path: Path, code: str) -> list[tuple[str, str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [
        (r["CDISC Submission Value"], r["Code"], r["NCI Preferred Term"])
        for r in rows
        if r["Codelist Code"] == code
    ]


def _study(tmp_path: Path, release: Path) -> Path:
    study = tmp_path / "study"
    shutil.copytree(REPO / "specs", study / "specs")
    shutil.copytree(REPO / "mappings", study / "mappings")
    with (study / "specs" / "study.yaml").open("a") as f:
        f.write(f"\nct_files:\n  sdtm_ct: {release}\n")
    return study


def _edit_codelist(study: Path, cid: str, change) -> None:
    path = study / "specs" / "codelists.yaml"
    doc = yaml.safe_load(path.read_text())
    codelist = next(c for c in doc["codelists"] if c["id"] == cid)
    change(codelist)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_a_codelist_naming_its_release_takes_the_releases_terms(tmp_path):
    release = refdata_path("ct", "SDTM_Terminology_2025-03-28.txt")
    study = _study(tmp_path, release)

    def whole(c):  # NY: no terms of its own
        c.pop("terms")
        c["release"] = "sdtm_ct"

    def subset(c):  # SEX: the study's values, without their C-codes; synonyms stay
        c["release"] = "sdtm_ct"
        for t in c["terms"]:
            t.pop("code", None)
            t.pop("decode", None)

    _edit_codelist(study, "NY", whole)
    _edit_codelist(study, "SEX", subset)
    loaded = load_study(study)
    ny = loaded.codelists["NY"]
    assert [(t.value, t.code, t.decode) for t in ny.terms] == _release_terms(release, "C66742")
    sex = loaded.codelists["SEX"]
    expected = {v: (c, d) for v, c, d in _release_terms(release, "C66731")}
    assert [(t.value, t.code, t.decode) for t in sex.terms] == [(v, *expected[v]) for v in ("F", "M", "U")]
    assert sex.term("F").synonyms == ("FEMALE",)
    # the run's define.xml lists the release's terms the data use, with their C-codes
    result = CliRunner().invoke(
        main, ["-q", "run", "--subjects", "6", "--study", str(study), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    define = next((tmp_path / "out").rglob("tabulations/sdtm/define.xml")).read_text()
    assert 'CodedValue="F"' in define and expected["F"][0] in define


def test_terms_that_contradict_the_release_are_errors_at_their_line(tmp_path):
    release = refdata_path("ct", "SDTM_Terminology_2025-03-28.txt")
    study = _study(tmp_path, release)

    def wrong(c):
        c["release"] = "sdtm_ct"
        c["terms"][0]["code"] = "C99999"  # F: not F's C-code
        c["terms"].append({"value": "X"})  # not a term of SEX, not marked sponsor
        c["extensible"] = True  # the release says No

    _edit_codelist(study, "SEX", wrong)
    _edit_codelist(study, "NY", lambda c: c.update(release="other_ct"))
    _, findings = check_study(study)
    by_code = {}
    for f in findings:
        by_code.setdefault(f.code, []).append(f)
    messages = " | ".join(f.message for f in by_code.get("SPEC052", []))
    assert "term 'F' has C-code C99999; the release says C16576" in messages
    assert "term 'X' is not a term of C66731 (SEX)" in messages
    assert all(f.file == "specs/codelists.yaml" and f.line for f in by_code["SPEC052"])
    assert [f.severity.name for f in by_code["SPEC053"]] == ["WARNING"]
    assert "'other_ct' is not one of study.yaml's ct_files (sdtm_ct)" in by_code["SPEC051"][0].message


def test_a_release_file_that_cannot_be_read_is_named(tmp_path):
    missing = tmp_path / "nowhere" / "SDTM_Terminology.txt"
    study = _study(tmp_path, missing)
    _edit_codelist(study, "NY", lambda c: (c.pop("terms"), c.update(release="sdtm_ct")))
    _, findings = check_study(study)
    spec051 = [f for f in findings if f.code == "SPEC051"]
    assert len(spec051) == 1 and str(missing) in spec051[0].message
    assert not [f for f in findings if f.code == "SPEC050"]  # no second finding for the same cause
