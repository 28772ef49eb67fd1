"""Every non-sponsor codelist and term in specs/codelists.yaml exists in the CDISC CT release the study
declares (SDTM CT / ADaM CT 2025-03-28), read here independently from ../shared/refdata/ct."""

from __future__ import annotations

import csv

import yaml

from tests.conftest import REPO, refdata_path


def read_ct() -> dict[str, dict[str, str]]:
    """codelist C-code -> {submission value: term C-code}, plus '' -> codelist's own submission value."""
    out: dict[str, dict[str, str]] = {}
    sdtm = refdata_path("ct", "SDTM_Terminology_2025-03-28.txt")
    with sdtm.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            parent = row["Codelist Code"]
            if parent:
                out.setdefault(parent, {})[row["CDISC Submission Value"]] = row["Code"]
            else:
                out.setdefault(row["Code"], {})
    adam = refdata_path("ct", "ADaM_CT_2025-03-28.csv")
    with adam.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            parent = row["Codelist Code"]
            if parent:
                out.setdefault(parent, {})[row["CDISC Submission Value"]] = row["Code"]
            else:
                out.setdefault(row["Code"], {})
    return out


def test_codes_exist_in_the_ct_release():
    ct = read_ct()
    doc = yaml.safe_load((REPO / "specs" / "codelists.yaml").read_text())
    problems = []
    checked = 0
    for codelist in doc["codelists"]:
        if codelist.get("dictionary"):  # an external dictionary (MedDRA): no NCI code, no terms
            assert not codelist.get("code") and not codelist.get("terms"), codelist["id"]
            continue
        if codelist.get("sponsor"):
            assert not codelist.get("code"), f"sponsor codelist {codelist['id']} must not claim an NCI code"
            continue
        code = codelist["code"]
        if code not in ct:
            problems.append(f"codelist {codelist['id']}: {code} is not a codelist in the CT release")
            continue
        for term in codelist["terms"]:
            if term.get("sponsor"):
                assert not term.get("code"), f"sponsor term {term['value']} must not claim an NCI code"
                continue
            checked += 1
            actual = ct[code].get(str(term["value"]))
            if actual is None:
                problems.append(f"{codelist['id']}: {term['value']!r} is not a term of {code}")
            elif actual != term["code"]:
                problems.append(
                    f"{codelist['id']}: {term['value']!r} is {actual} in CT, spec says {term['code']}"
                )
    assert not problems, "\n".join(problems)
    assert checked > 100  # the check really ran over the study's terms


def test_sponsor_terms_are_marked():
    doc = yaml.safe_load((REPO / "specs" / "codelists.yaml").read_text())
    hem = next(c for c in doc["codelists"] if c["id"] == "HEMRESP")
    sponsor_values = {t["value"] for t in hem["terms"] if t.get("sponsor")}
    assert sponsor_values == {"LOW-DFLC PR"}
    rstestcd = next(c for c in doc["codelists"] if c["id"] == "RSTESTCD")
    assert {t["value"] for t in rstestcd["terms"] if t.get("sponsor")} >= {"CARDRESP", "RENLRESP"}
