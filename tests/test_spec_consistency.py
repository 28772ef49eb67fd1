"""One concept, one wording: the ADaM parameter definitions and the PARAMCD/PARAM codelists that
define.xml publishes must say the same thing."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import REPO


def codelist(doc: dict, cid: str) -> dict:
    return next(c for c in doc["codelists"] if c["id"] == cid)


@pytest.mark.parametrize("dataset", ["ADLB", "ADRS", "ADTTE"])
def test_param_texts_match_the_codelists(dataset):
    doc = yaml.safe_load((REPO / "specs" / "codelists.yaml").read_text())
    params = yaml.safe_load((REPO / "specs" / "adam" / "params" / f"{dataset.lower()}.yaml").read_text())
    declared = {p["paramcd"]: p["param"] for p in params["parameters"]}
    codes = codelist(doc, f"PARAMCD_{dataset}")
    names = codelist(doc, f"PARAM_{dataset}")
    assert {t["value"]: t["decode"] for t in codes["terms"]} == declared
    assert {t["value"] for t in names["terms"]} == set(declared.values())


@pytest.mark.parametrize("dataset", ["ADLB", "ADRS", "ADTTE"])
def test_value_level_entries_name_declared_parameters(dataset):
    spec = yaml.safe_load((REPO / "specs" / "adam" / f"{dataset.lower()}.yaml").read_text())
    params = yaml.safe_load((REPO / "specs" / "adam" / "params" / f"{dataset.lower()}.yaml").read_text())
    declared = {p["paramcd"] for p in params["parameters"]}
    entries = spec["value_level"].get("entries", [])
    assert {e["where"]["PARAMCD"] for e in entries} <= declared
    if dataset == "ADRS":  # every ADRS parameter states its own derivation at value level
        assert {
            e["where"]["PARAMCD"] for e in entries if e["variable"] == "AVALC" and "method" in e
        } == declared
