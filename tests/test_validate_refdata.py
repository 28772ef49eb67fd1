"""The validator on the CDISC reference packages: it runs through, and finds the problems we checked by hand.

Each asserted finding was verified by reading the files (see the comments); they are real issues of
the published samples, not of our code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cdiscgen.validate import validate_datasets, validate_folder

REFDATA = Path(__file__).resolve().parents[2] / "shared" / "refdata"
if not REFDATA.is_dir():
    REFDATA = Path("/work/shared/refdata")

pytestmark = pytest.mark.skipif(
    not REFDATA.is_dir(), reason="reference data folder ../shared/refdata is absent"
)


def _find(findings, code, **fields):
    return [f for f in findings if f.code == code and all(getattr(f, k) == v for k, v in fields.items())]


@pytest.fixture(scope="module")
def pilot_sdtm():
    return validate_folder(REFDATA / "cdiscpilot01" / "sdtm").findings


@pytest.fixture(scope="module")
def msg_sdtm():
    return validate_folder(
        REFDATA / "sdtm-msg-2.0", define_path=REFDATA / "sdtm-msg-2.0" / "define.xml"
    ).findings


@pytest.fixture(scope="module")
def msg_adam():
    return validate_folder(REFDATA / "adam-msg-1.0").findings


@pytest.mark.parametrize("folder", ["cdiscpilot01/sdtm", "cdiscpilot01/adam", "sdtm-msg-2.0", "adam-msg-1.0"])
def test_runs_without_a_failing_rule(folder):
    result = validate_folder(REFDATA / folder)
    assert not _find(result.findings, "CDG0001"), [str(f) for f in _find(result.findings, "CDG0001")]
    assert not _find(result.findings, "CDG0002")
    assert len(result.findings) > 0
    assert result.datasets  # every xpt was read


def test_pilot_ts_is_cp1252_and_its_apostrophes_are_reported(pilot_sdtm):
    # ts.xpt holds byte 0x92 (cp1252 right single quote) in three TSVAL values
    assert len(_find(pilot_sdtm, "CDG0003", dataset="TS", file="ts.xpt")) == 1
    values = sorted(f.value for f in _find(pilot_sdtm, "CDG0204", dataset="TS", variable="TSVAL"))
    assert len(values) == 3
    assert all("Alzheimer\u2019s" in v for v in values)


def test_pilot_rfxendtc_ignores_an_open_exposure_record(pilot_sdtm):
    # 01-704-1233: EX has 2013-03-21..2013-04-04 and a second record starting 2013-04-05 without an end;
    # DM.RFXENDTC says 2013-04-04, so the last exposure date (2013-04-05) is missed.
    hits = _find(pilot_sdtm, "CDG0504", usubjid="01-704-1233")
    assert [(f.value, f.expected) for f in hits] == [("2013-04-04", "2013-04-05")]


def test_pilot_ex_has_no_epoch_and_define_is_not_21(pilot_sdtm):
    assert _find(pilot_sdtm, "CDG0701", dataset="EX", variable="EPOCH")
    # the folder's define.xml is Define-XML 1.0 (def/v1.0, ODM 1.2)
    [f] = _find(pilot_sdtm, "CDG1301")
    assert "not Define-XML 2.1" in f.message


def test_pilot_adam_lengths_and_labels():
    findings = validate_folder(REFDATA / "cdiscpilot01" / "adam").findings
    # ADTTE.PARAM is stored with length 100; the longest PARAM is 32 characters
    assert [(f.value, f.expected) for f in _find(findings, "CDG0108", dataset="ADTTE", variable="PARAM")] == [
        ("100", "32")
    ]
    assert _find(findings, "CDG0109", dataset="ADSL")  # no dataset label in the pilot files


def test_msg_define_standard_name_typo(msg_sdtm):
    # def:Standard Name="STDTMIG" at line 63 of the MSG 2.0 define.xml (MANIFEST.md notes the same error)
    [f] = _find(msg_sdtm, "CDG1301")
    assert f.line == 63 and "STDTMIG" in f.message and f.file == "define.xml"


def test_msg_rfxendtc_after_last_exposure(msg_sdtm):
    # CDISC008: RFXENDTC 2014-11-01 but the last EX record ends 2014-10-31
    hits = _find(msg_sdtm, "CDG0504", usubjid="CDISC008")
    assert [(f.value, f.expected) for f in hits] == [("2014-11-01", "2014-10-31")]


def test_msg_lbtest_not_in_define_codelist(msg_sdtm):
    # LBTEST "Anisocytes" (LBTESTCD ANISO) while define.xml's CL.LBTEST lists "Anisocytes; Anisocytosis"
    hits = _find(msg_sdtm, "CDG1306", dataset="LB", variable="LBTEST")
    assert {f.value for f in hits} == {"Anisocytes"}
    assert sorted((f.usubjid, f.seq) for f in hits) == [("CDISC008", 54), ("CDISC009", 201), ("CDISC010", 3)]


def test_msg_datasets_described_but_absent_are_warnings(msg_sdtm):
    # the package copy holds 8 of the datasets its define.xml describes (AE, CM, ... were not copied)
    absent = _find(msg_sdtm, "CDG1302")
    assert {f.dataset for f in absent} >= {"AE", "CM", "TA", "VS"}
    assert all(str(f.severity) == "warning" for f in absent)
    assert not [f for f in msg_sdtm if f.code == "CDG1303"]  # the 8 present ones match their ItemRefs


def test_msg_ts_lacks_therarea_and_its_coded_parameters_pass(msg_sdtm):
    # ADDON is N, so CURTRT (required for an add-on trial only) is not missing; THERAREA is
    assert {f.expected for f in _find(msg_sdtm, "CDG0901")} == {"THERAREA"}
    # INDIC 26929004 with TSVCDREF "SNOMED" (the CT Dictionary Name term), PCLAS N0000175771 "MED-RT",
    # TRT with a UNII: all coded
    assert not _find(msg_sdtm, "CDG0904")


def test_msg_adam_define_lengths_and_labels(msg_adam):
    # ADTTE.PARAM is 32 long in adtte.xpt, define.xml says Length="100"; PARAMCD 4 vs 8
    got = {(f.variable, f.value, f.expected) for f in _find(msg_adam, "CDG1304", dataset="ADTTE")}
    assert got == {("PARAM", "32", "100"), ("PARAMCD", "4", "8")}
    # "Time-to-Event Origin Date for Subject" in the xpt, "Time to Event ..." in define.xml
    [f] = _find(msg_adam, "CDG1305", variable="STARTDT")
    assert (
        f.value == "Time-to-Event Origin Date for Subject"
        and f.expected == "Time to Event Origin Date for Subject"
    )
    # the ADaM define carries ARM and is valid against the ARM entry schema
    assert not _find(msg_adam, "CDG1301")


def test_official_define_examples_are_schema_valid():
    for path in (
        REFDATA / "define-xml-2.1" / "examples" / "sdtm" / "defineV21-SDTM.xml",
        REFDATA / "define-xml-2.1" / "examples" / "adam" / "defineV21-ADaM.xml",
    ):
        result = validate_datasets({}, define_path=path, codes=["CDG1301"])
        assert [str(f) for f in result.findings] == []


DOC = Path(__file__).resolve().parents[1] / "docs" / "validation-on-reference-packages.md"


def _documented() -> dict[str, dict[str, tuple[str, int]]]:
    """Per package folder, the rules docs/validation-on-reference-packages.md lists: code -> (severity, count)."""
    out: dict[str, dict[str, tuple[str, int]]] = {}
    folder = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## ") and ":" in line:
            folder = line[3:].split(":")[0].strip()
            out[folder] = {}
        elif folder and line.startswith("| CDG"):
            code, severity, count = (c.strip() for c in line.strip("|").split("|")[:3])
            out[folder][code] = (severity, int(count))
    return out


@pytest.mark.parametrize("folder", ["cdiscpilot01/sdtm", "cdiscpilot01/adam", "sdtm-msg-2.0", "adam-msg-1.0"])
def test_the_findings_on_the_reference_packages_are_the_documented_ones(folder):
    # every rule that fires on a package has its sentence in the doc, with its count, and nothing else fires
    findings = validate_folder(REFDATA / folder).findings
    got: dict[str, tuple[str, int]] = {}
    for f in findings:
        severity, n = got.get(f.code, (str(f.severity), 0))
        got[f.code] = (severity, n + 1)
    assert got == _documented()[folder]
