"""ADaM metadata and parameter-definition specs: valid as shipped, findings name file and line when broken,
and a new parameter is YAML only."""

from __future__ import annotations

import shutil

import cerberus
import yaml

from adam import check_parameter_specs, derive_adam, read_dataset_spec
from cdiscgen._schemas import DATASET_SCHEMA
from tests.adam_fixtures import ROOT, settings, worked_examples


def _copy_study(tmp_path):
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    return tmp_path


def test_bundled_parameter_specs_are_valid():
    assert check_parameter_specs() == []


def test_dataset_specs_follow_the_schema():
    for name in ("ADSL", "ADLB", "ADRS", "ADTTE"):
        spec = read_dataset_spec(None, name)
        v = cerberus.Validator(DATASET_SCHEMA)
        assert v.validate(spec), (name, v.errors)
        methods = {m["id"] for m in spec.get("methods", [])}
        for var in spec["variables"]:
            assert len(var["label"]) <= 40
            if "method" in var:
                assert var["method"] in methods, (name, var["name"])


def test_broken_parameter_spec_names_file_and_line(tmp_path):
    study = _copy_study(tmp_path)
    path = study / "specs" / "adam" / "params" / "adrs.yaml"
    text = path.read_text().replace("kind: best, of: HEMRESP", "kind: bestest, of: HEMRESP", 1)
    text = text.replace(
        "kind: landmark, of: HEMRESP, codes: response}",
        "kind: landmark, of: HEMRESP, codes: response, colour: red}",
        1,
    )
    path.write_text(text)
    findings = check_parameter_specs(study)
    assert findings and all(f.file == str(path) for f in findings)
    messages = " ".join(f.message for f in findings)
    assert "unknown" in messages and "allowed" in messages
    bor_line = next(i for i, line in enumerate(text.splitlines(), 1) if "bestest" in line)
    assert any(f.line == bor_line for f in findings)


def test_of_must_name_an_earlier_parameter(tmp_path):
    study = _copy_study(tmp_path)
    path = study / "specs" / "adam" / "params" / "adrs.yaml"
    path.write_text(path.read_text().replace("kind: in_set, of: RSPC1,", "kind: in_set, of: RSPC9,", 1))
    findings = check_parameter_specs(study)
    assert any("RSPC9" in f.message for f in findings)


def test_a_new_parameter_is_yaml_only(tmp_path):
    study = _copy_study(tmp_path)
    path = study / "specs" / "adam" / "params" / "adrs.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["parameters"].append(
        {
            "paramcd": "CRC6",
            "paramn": 20,
            "param": "CR After Cycle 6",
            "kind": "in_set",
            "of": "RSPC6",
            "values": ["CR"],
            "codes": "yn",
        }
    )
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    tte = study / "specs" / "adam" / "params" / "adtte.yaml"
    tdoc = yaml.safe_load(tte.read_text())
    tdoc["parameters"].append(
        {
            "paramcd": "TTPD",
            "paramn": 7,
            "param": "Time to Progression (days)",
            "start": {"variable": "SCRNDT"},
            "events": [{"selection": "hem_pd", "pick": "first", "evntdesc": "PD"}],
            "censors": [{"cnsr": 1, "selection": "adequate", "pick": "last", "cnsdtdsc": "LAST"}],
        }
    )
    tte.write_text(yaml.safe_dump(tdoc, sort_keys=False))
    r = derive_adam(worked_examples().frames(), settings(), study_dir=study)
    adrs = r.datasets["ADRS"]
    got = dict(
        zip(
            adrs.loc[adrs["PARAMCD"] == "CRC6", "USUBJID"],
            adrs.loc[adrs["PARAMCD"] == "CRC6", "AVALC"],
            strict=True,
        )
    )
    assert got == {"EX-1": "Y", "EX-2": "N", "EX-3": "N"}  # only EX-1 is CR at EOT
    t = r.datasets["ADTTE"]
    ttpd = t[(t["PARAMCD"] == "TTPD") & (t["USUBJID"] == "EX-2")].iloc[0]
    assert (ttpd["AVAL"], ttpd["CNSR"]) == (358, 0)  # same PD date as PFS
