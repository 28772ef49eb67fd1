"""ADaM metadata and parameter-definition specs: valid as shipped, findings name file and line when broken,
and a new parameter is YAML only."""

from __future__ import annotations

import re
import shutil

import cerberus
import yaml

from adam import FINDING_NAMES, check_parameter_specs, derive_adam
from cdiscgen._schemas import DATASET_SCHEMA
from tests.adam_fixtures import ROOT, read_dataset_spec, settings, worked_examples


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
    assert "unknown key 'colour'" in messages and "'bestest' is not one of" in messages
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


def _methods(spec: dict) -> dict[str, dict]:
    return {m["id"]: m for m in spec.get("methods", [])}


def test_every_derived_variable_points_at_a_method_of_its_own_file():
    for name in ("ADSL", "ADLB", "ADRS", "ADTTE"):
        spec = read_dataset_spec(None, name)
        methods = _methods(spec)
        assert all(m["type"] in ("Computation", "Imputation") for m in methods.values()), name
        for var in spec["variables"]:
            if var["origin"] == "Derived":
                assert var.get("method") in methods, (name, var["name"])
        for entry in (spec.get("value_level") or {}).get("entries", []):
            if "method" in entry:
                assert entry["method"] in methods, (name, entry)


def test_check_specs_reports_nothing_for_the_adam_specs():
    from cdiscgen._specs import check_study

    _, findings = check_study(ROOT)
    adam = [str(f) for f in findings if "specs/adam" in str(f.file or "")]
    assert adam == []


def test_value_level_is_by_paramcd_on_the_analysis_values():
    for name, variables in (("ADLB", ["AVAL", "AVALC"]), ("ADRS", ["AVAL", "AVALC"]), ("ADTTE", ["AVAL"])):
        spec = read_dataset_spec(None, name)
        assert spec["value_level"]["by"] == ["PARAMCD"], name
        assert spec["value_level"]["variables"] == variables, name


def test_method_texts_quote_the_configured_defaults():
    """define.xml must state the rules as configured: the study.yaml defaults appear in the methods."""
    resp = settings()["response"]
    hem = resp["hematologic"]
    adrs = _methods(read_dataset_spec(None, "ADRS"))
    adsl = _methods(read_dataset_spec(None, "ADSL"))
    hemresp = adrs["MT.ADRS.HEMRESP"]["description"]
    low, high = hem["ratio_normal"]["low"], hem["ratio_normal"]["high"]
    pd_ = hem["pd"]
    for text in (
        f"{low}-{high}",
        f"IFLC {pd_['iflc_factor']['op']} {pd_['iflc_factor']['value']} x nadir",
        f"IFLC {pd_['iflc_min']['op']} {pd_['iflc_min']['value']} mg/L",
        f"IFLC {pd_['from_cr_iflc_factor']['op']} {pd_['from_cr_iflc_factor']['value']:g} x nadir_CR",
        f"{pd_['mspike_min']['op']} {pd_['mspike_min']['value']} g/dL",
        f"{pd_['uprot_min']['op']} {pd_['uprot_min']['value']} mg/day",
        f"VGPR if DFLC {hem['vgpr_dflc']['op']} {hem['vgpr_dflc']['value']} mg/L",
        f"/ BDFLC {hem['pr_dflc_reduction']['op']} {hem['pr_dflc_reduction']['value']:.2f}",
        f"LOW-DFLC PR if DFLC {hem['low_dflc_pr_dflc']['op']} {hem['low_dflc_pr_dflc']['value']} mg/L",
        f"criteria {hem['criteria']}",
    ):
        assert text in hemresp, text
    landmark = adrs["MT.ADRS.LANDMARK"]["description"]
    for lm in hem["landmarks"]:
        low_day, high_day = lm["window"]
        assert f"{lm['paramcd']} target day {lm['target']}, window [{low_day}, {high_day}]" in landmark, lm
    assert f"landmark_tie: {hem['landmark_tie']}" in landmark
    assert (
        " > ".join(["CR", "VGPR", "PR = LOW-DFLC PR", "NR", "PD", "NE"]) in adrs["MT.ADRS.BOR"]["description"]
    )
    assert hem["rank"] == ["CR", "VGPR", "PR", "LOW-DFLC PR", "NR", "PD", "NE"]
    ev = hem["evaluability"]
    heval = adsl["MT.ADSL.HEVAL"]["description"]
    assert f"BDFLC {ev['dflc_measurable']['op']} {ev['dflc_measurable']['value']} mg/L" in heval
    card = resp["cardiac"]
    cardresp = adrs["MT.ADRS.CARDRESP"]["description"]
    assert (
        f"increase {card['pd_pct']['op']} {card['pd_pct']['value'] * 100:g}% and {card['pd_abs']['op']} {card['pd_abs']['value']} ng/L"
        in cardresp
    )
    assert (
        f"BNTPBNP {card['evaluable_baseline']['op']} {card['evaluable_baseline']['value']} ng/L" in cardresp
    )
    assert f"fell {card['egfr_block_pct']['op']} {card['egfr_block_pct']['value'] * 100:g}%" in cardresp
    assert (
        f"troponin T increase {card['troponin_pd_pct']['op']} {card['troponin_pd_pct']['value'] * 100:g}%"
        in cardresp
    )
    renal = resp["renal"]
    renresp = adrs["MT.ADRS.RENRESP"]["description"]
    assert (
        f"BPROT {renal['evaluable_baseline']['op']} {renal['evaluable_baseline']['value']} g/day" in renresp
    )
    assert f"eGFR decrease {renal['pd_egfr_pct']['op']} {renal['pd_egfr_pct']['value'] * 100:g}%" in renresp
    assert (
        f"decrease {renal['response_pct']['op']} {renal['response_pct']['value'] * 100:g}% from baseline"
        in renresp
    )
    assert (
        f"protein {renal['response_abs_below']['op']} {renal['response_abs_below']['value']} g/day" in renresp
    )
    assert f"ADY <= {resp['organ_response_by_day']}" in adrs["MT.ADRS.ORGRSP"]["description"]
    mrd = adrs["MT.ADRS.MRDNEG"]["description"]
    assert (
        f"sensitivity (SUPPRS QNAM containing SENS, by RSSEQ) {resp['mrd']['sensitivity']['op']} {resp['mrd']['sensitivity']['value']:.0e}".replace(
            "e-05", "e-5"
        )
        in mrd
    )
    assert f"ADY <= {resp['mrd']['by_day']}" in mrd


def test_finding_codes_have_their_own_prefix_and_a_name():
    # ADM + 3 digits: not the conformance rules' CDG + 4 digits, nor SPEC/MAP.
    assert FINDING_NAMES
    assert all(re.fullmatch(r"ADM\d{3}", code) for code in FINDING_NAMES)
    assert all(name.strip() and len(name) <= 80 for name in FINDING_NAMES.values())
    assert len(set(FINDING_NAMES.values())) == len(FINDING_NAMES)
    # Every code the stage can raise is named: the literals live in adam/_codes.py only.
    sources = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "adam").glob("*.py")}
    assert not any("CDG-" in text for text in sources.values())
    literals = {name: set(re.findall(r'"(ADM\d{3})"', text)) for name, text in sources.items()}
    assert {name for name, codes in literals.items() if codes} == {"_codes.py"}
    assert literals["_codes.py"] == set(FINDING_NAMES)


def test_broken_parameter_spec_findings_use_adm_codes(tmp_path):
    study = _copy_study(tmp_path)
    path = study / "specs" / "adam" / "params" / "adrs.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "colour: red\n", encoding="utf-8")
    codes = {f.code for f in check_parameter_specs(study)}
    assert codes == {"ADM100"}
