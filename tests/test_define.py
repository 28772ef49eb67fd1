"""define.xml: schema validity, agreement with the specs and the data, value-level metadata, errors.

Expected values come from the YAML specs (read here with yaml.safe_load), from the frames built in
test_define_support, or from the official CDISC files in ../shared/refdata — never from define/.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml
from lxml import etree

from cdiscgen import Severity, load_study
from define import ADAM_CT_CODELISTS, DefineError, compute_define_xml, validate_define_xml, write_define
from tests.conftest import REPO, refdata_path
from tests.test_define_support import (
    DEF,
    NS,
    XLINK,
    DefineDoc,
    adam_frames,
    adam_study_dir,
    sdtm_frames,
    synth_frame,
    where_mask,
)

CREATED = datetime(2026, 1, 15, 9, 0, 0)
ISO8601 = {
    "date",
    "datetime",
    "time",
    "partialDate",
    "partialTime",
    "partialDatetime",
    "incompleteDatetime",
    "durationDatetime",
}


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sdtm_study():
    return load_study(REPO)


@pytest.fixture(scope="module")
def sdtm_data(sdtm_study):
    return sdtm_frames(sdtm_study)


@pytest.fixture(scope="module")
def sdtm_define(sdtm_study, sdtm_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("sdtm-define")
    result = write_define(sdtm_study, sdtm_data, out, standard="SDTM", created=CREATED)
    return result, DefineDoc(result.define_xml)


@pytest.fixture(scope="module")
def adam_setup(tmp_path_factory):
    study = load_study(adam_study_dir(tmp_path_factory.mktemp("adam-study")))
    frames = adam_frames(study)
    result = write_define(
        study, frames, tmp_path_factory.mktemp("adam-define"), standard="ADaM", created=CREATED
    )
    return study, frames, result, DefineDoc(result.define_xml)


def _raw_specs(folder: str) -> dict[str, dict]:
    return {d["dataset"]: d for d in (_yaml(p) for p in sorted((REPO / "specs" / folder).glob("*.yaml")))}


# ------------------------------------------------------------------------------------------ validity


def test_sdtm_define_is_valid_against_the_define_xml_2_1_schema(sdtm_define):
    result, _ = sdtm_define
    assert validate_define_xml(result.define_xml) == []


def test_adam_define_is_valid_against_the_define_xml_2_1_schema(adam_setup):
    *_, result, _ = adam_setup
    assert validate_define_xml(result.define_xml) == []


def test_define_from_the_bundled_adam_specs_is_valid(tmp_path):
    study = load_study(REPO)
    specs = study.adam_datasets()
    if not specs:
        pytest.skip("the bundled study has no ADaM dataset specs yet (specs/adam/*.yaml)")
    frames = {s.name: synth_frame(study, s, 4) for s in specs}
    result = write_define(study, frames, tmp_path, standard="ADaM", created=CREATED)
    assert validate_define_xml(result.define_xml) == []
    doc = DefineDoc(result.define_xml)
    assert {ig.get("Name") for ig in doc.xp("//odm:ItemGroupDef")} == {s.name for s in specs}
    for spec in specs:
        if spec.value_level:
            for variable in spec.value_level["variables"]:
                assert doc.xp("//def:ValueListDef[@OID=$o]", o=f"VL.{spec.name}.{variable}"), (
                    spec.name,
                    variable,
                )


def test_the_validator_accepts_the_official_examples_and_rejects_a_known_error():
    assert validate_define_xml(refdata_path("define-xml-2.1", "examples", "sdtm", "defineV21-SDTM.xml")) == []
    # The ADaM example carries Analysis Results Metadata: it is valid against the ARM entry schema.
    assert validate_define_xml(refdata_path("define-xml-2.1", "examples", "adam", "defineV21-ADaM.xml")) == []
    # MANIFEST.md: the SDTM-MSG 2.0 define has exactly one schema error, def:Standard Name="STDTMIG".
    errors = validate_define_xml(refdata_path("sdtm-msg-2.0", "define.xml"))
    assert len(errors) == 1 and "STDTMIG" in errors[0]


def test_the_validator_reports_what_is_wrong_in_our_own_output(sdtm_define, tmp_path):
    result, _ = sdtm_define
    tree = etree.parse(str(result.define_xml))
    ig = tree.find(".//{*}ItemGroupDef")
    del ig.attrib[f"{DEF}Structure"]
    broken = tmp_path / "broken.xml"
    tree.write(str(broken))
    errors = validate_define_xml(broken)
    assert errors and any("Structure" in e for e in errors)
    (tmp_path / "bad.xml").write_text("<ODM><unclosed></ODM>")
    assert validate_define_xml(tmp_path / "bad.xml")[0].startswith("line 1: not well-formed")


# ------------------------------------------------------------------------------- document structure


def test_root_global_variables_and_stylesheet_instruction(sdtm_define):
    result, doc = sdtm_define
    study = _yaml(REPO / "specs" / "study.yaml")["study"]
    root = doc.root
    assert root.get("FileType") == "Snapshot"
    assert root.get("ODMVersion") == "1.3.2"
    assert root.get("CreationDateTime") == "2026-01-15T09:00:00"
    assert root.get(f"{DEF}Context") == "Submission"
    assert root.get("Originator") == study["sponsor"] and root.get("SourceSystem") == "cdiscgen"
    assert doc.one("//odm:StudyName").text == study["studyid"]
    assert doc.one("//odm:StudyDescription").text == study["title"]
    assert doc.one("//odm:ProtocolName").text == study["protocol"]
    assert doc.mdv.get(f"{DEF}DefineVersion").startswith("2.1.")
    pis = [n for n in doc.xp("/processing-instruction('xml-stylesheet')")]
    assert len(pis) == 1 and pis[0].get("href") == "define2-1.xsl" and pis[0].get("type") == "text/xsl"
    assert result.stylesheet.name == "define2-1.xsl" and result.stylesheet.parent == result.define_xml.parent


def test_standards_name_the_ig_and_the_ct_versions_of_study_yaml(sdtm_define, adam_setup):
    versions = _yaml(REPO / "specs" / "study.yaml")["study"]["standards"]
    _, doc = sdtm_define
    stds = {s.get("OID"): dict(s.attrib) for s in doc.xp("//def:Standards/def:Standard")}
    igs = [s for s in stds.values() if s["Type"] == "IG"]
    assert [(s["Name"], s["Version"]) for s in igs] == [("SDTMIG", versions["sdtmig"])]
    cts = [s for s in stds.values() if s["Type"] == "CT"]
    assert [(s["Name"], s["PublishingSet"], s["Version"]) for s in cts] == [
        ("CDISC/NCI", "SDTM", versions["sdtm_ct"])
    ]
    for ig in doc.xp("//odm:ItemGroupDef"):
        assert stds[ig.get(f"{DEF}StandardOID")]["Name"] == "SDTMIG"

    *_, adoc = adam_setup
    astds = {s.get("OID"): dict(s.attrib) for s in adoc.xp("//def:Standards/def:Standard")}
    assert {(s["Name"], s["Version"]) for s in astds.values() if s["Type"] == "IG"} == {
        ("ADaMIG", versions["adamig"])
    }
    ct = {s["PublishingSet"]: s["Version"] for s in astds.values() if s["Type"] == "CT"}
    assert ct == {"ADaM": versions["adam_ct"], "SDTM": versions["sdtm_ct"]}

    # SBJTSTAT (C124296) and DTF (C81223) are ADaM CT; SEX is SDTM CT.
    def publishing_set(cl_oid: str) -> str:
        return astds[adoc.by_oid("odm:CodeList", cl_oid).get(f"{DEF}StandardOID")]["PublishingSet"]

    assert publishing_set("CL.SBJTSTAT") == "ADaM"
    assert publishing_set("CL.DTF") == "ADaM"
    assert publishing_set("CL.SEX") == "SDTM"


def test_metadataversion_children_follow_the_official_example_order(sdtm_define):
    _, doc = sdtm_define
    ref = DefineDoc(refdata_path("define-xml-2.1", "examples", "sdtm", "defineV21-SDTM.xml").read_bytes())

    def tag_order(d: DefineDoc) -> list[str]:
        out: list[str] = []
        for child in d.mdv:
            if isinstance(child.tag, str) and (not out or out[-1] != etree.QName(child).localname):
                out.append(etree.QName(child).localname)
        return out

    ours, theirs = tag_order(doc), tag_order(ref)
    assert len(ours) == len(set(ours)), "each kind of element appears in one block"
    assert [t for t in theirs if t in ours] == ours
    prefixes = {
        "ItemGroupDef": "IG.",
        "ItemDef": "IT.",
        "CodeList": "CL.",
        "MethodDef": "MT.",
        "ValueListDef": "VL.",
        "WhereClauseDef": "WC.",
        "CommentDef": "COM.",
    }
    for tag, prefix in prefixes.items():
        oids = [e.get("OID") for e in doc.mdv if isinstance(e.tag, str) and etree.QName(e).localname == tag]
        assert oids, tag
        assert all(o.startswith(prefix) for o in oids), tag
        assert len(oids) == len(set(oids)), f"duplicate {tag} OIDs"


# ------------------------------------------------------------------------------ datasets and variables


def test_item_groups_and_item_refs_match_the_sdtm_specs(sdtm_define, sdtm_data):
    _, doc = sdtm_define
    raw = _raw_specs("sdtm")
    assert {ig.get("Name") for ig in doc.xp("//odm:ItemGroupDef")} == set(sdtm_data)
    for name, spec in raw.items():
        ig = doc.item_group(name)
        assert ig.get("SASDatasetName") == name
        assert ig.get("Repeating") == ("No" if spec.get("repeating") is False else "Yes")
        assert ig.get("IsReferenceData") == ("Yes" if spec.get("reference_data") else "No")
        assert ig.get("Purpose") == "Tabulation"
        assert ig.get(f"{DEF}Structure") == spec["structure"]
        assert DefineDoc.text(ig) == spec["label"]
        # SUPP-- names its parent's domain; RELREC spans domains and names none
        assert ig.get("Domain") == (spec.get("domain") or (name[4:] if name.startswith("SUPP") else None))
        assert doc.one("def:Class", ig).get("Name") == spec["class"]
        leaf = doc.one("def:leaf", ig)
        assert leaf.get(f"{XLINK}href") == f"{name.lower()}.xpt" and ig.get(
            f"{DEF}ArchiveLocationID"
        ) == leaf.get("ID")
        submitted = [v for v in spec["variables"] if not v.get("supplemental")]
        refs = doc.item_refs(name)
        assert [doc.by_oid("odm:ItemDef", r.get("ItemOID")).get("Name") for r in refs] == [
            v["name"] for v in submitted
        ]
        assert [r.get("OrderNumber") for r in refs] == [str(i) for i in range(1, len(submitted) + 1)]
        for ref, var in zip(refs, submitted, strict=True):
            assert ref.get("Mandatory") == ("Yes" if var["core"] == "Req" else "No"), (name, var["name"])
            key = spec["keys"].index(var["name"]) + 1 if var["name"] in spec["keys"] else None
            assert ref.get("KeySequence") == (str(key) if key else None), (name, var["name"])
            assert ref.get("MethodOID") == var.get("method"), (name, var["name"])
            assert ref.get("Role") == var.get("role"), (name, var["name"])
    assert doc.one("odm:Alias", doc.item_group("SUPPDM")).get("Name") == raw["DM"]["label"]


def test_item_defs_carry_the_spec_labels_types_origins_and_the_data_lengths(sdtm_define, sdtm_data):
    _, doc = sdtm_define
    for name, spec in _raw_specs("sdtm").items():
        frame = sdtm_data[name]
        for var in (v for v in spec["variables"] if not v.get("supplemental")):
            item = doc.item_def_of(name, var["name"])
            where = (name, var["name"])
            assert DefineDoc.text(item) == var["label"], where
            assert item.get("DataType") == var["type"], where
            assert item.get("SASFieldName") == var["name"], where
            origin = doc.one("def:Origin", item)
            assert origin.get("Type") == var["origin"], where
            if var["origin"] == "Collected":
                assert origin.get("Source") == var["source"], where
            elif var["origin"] in ("Derived", "Assigned", "Protocol"):
                assert origin.get("Source") == "Sponsor", where
            if var["type"] in ISO8601:
                assert item.get("Length") is None, where
            elif var["type"] in ("integer", "float"):
                assert item.get("Length") == "8", where
            else:
                values = [str(v) for v in frame[var["name"]] if isinstance(v, str) and v != ""]
                expected = max((len(v.encode()) for v in values), default=1)
                assert item.get("Length") == str(expected), where
            codelist = doc.xp("odm:CodeListRef/@CodeListOID", item)
            assert codelist == ([f"CL.{var['codelist']}"] if var.get("codelist") else []), where


def test_lengths_of_the_xpt_writer_win_over_computed_ones(sdtm_study, sdtm_data):
    lengths = {"DM": {"USUBJID": 20, "SEX": 1, "AGE": 8}, "LB": {"LBTESTCD": 8}}
    xml, _ = compute_define_xml(sdtm_study, sdtm_data, standard="SDTM", created=CREATED, lengths=lengths)
    doc = DefineDoc(xml)
    assert doc.item_def_of("DM", "USUBJID").get("Length") == "20"
    assert doc.item_def_of("DM", "SEX").get("Length") == "1"
    assert doc.item_def_of("LB", "LBTESTCD").get("Length") == "8"
    assert doc.item_def_of("DM", "RACE").get("Length") == str(len("WHITE"))  # not given: computed


def test_float_variables_carry_significant_digits_from_the_data(sdtm_define):
    _, doc = sdtm_define
    # LBSTNRHI holds 19.4 only -> 1 decimal; LBSTRESN holds 0.048 among others -> 3 decimals.
    assert doc.item_def_of("LB", "LBSTNRHI").get("SignificantDigits") == "1"
    assert doc.item_def_of("LB", "LBSTRESN").get("SignificantDigits") == "3"


def test_variable_without_data_is_flagged_and_reported(sdtm_define):
    result, doc = sdtm_define
    ref = next(r for r in doc.item_refs("LB") if r.get("ItemOID").endswith(".LBORNRLO"))
    assert ref.get(f"{DEF}HasNoData") == "Yes"
    found = [
        f for f in result.findings if f.code == "DEF001" and (f.dataset, f.variable) == ("LB", "LBORNRLO")
    ]
    assert len(found) == 1 and found[0].severity == Severity.NOTICE
    with_data = next(r for r in doc.item_refs("LB") if r.get("ItemOID").endswith(".LBORRES"))
    assert with_data.get(f"{DEF}HasNoData") is None


# --------------------------------------------------------------------------------------- value level


def _partition_check(doc: DefineDoc, frame: pd.DataFrame, vl_oid: str, variable: str) -> list:
    """Every where clause selects records of one combination; together they cover every record with data."""
    items = doc.value_list(vl_oid)
    covered = pd.Series(0, index=frame.index)
    for _, _, conditions in items:
        mask = where_mask(frame, conditions)
        assert mask.any(), conditions
        covered += mask.astype(int)
    has_value = frame[variable].notna() & (frame[variable].astype(str) != "")
    assert (covered[has_value] == 1).all(), "each record with a value is described exactly once"
    return items


def test_lb_value_level_keys_on_testcd_spec_and_method(sdtm_define, sdtm_data):
    _, doc = sdtm_define
    lb = sdtm_data["LB"]
    raw = _raw_specs("sdtm")["LB"]["value_level"]
    for variable in raw["variables"]:
        item = doc.item_def_of("LB", variable)
        vl_oid = doc.one("def:ValueListRef", item).get("ValueListOID")
        items = _partition_check(doc, lb, vl_oid, variable)
        with_data = lb[lb[variable].notna() & (lb[variable].astype(str) != "")]
        combos = with_data[["LBTESTCD", "LBSPEC", "LBMETHOD"]].astype(object).drop_duplicates()
        assert len(items) == len(combos), variable

    stresc = doc.value_list("VL.LB.LBSTRESC")
    by_where = {
        tuple(sorted((v, c, tuple(vals)) for v, c, vals in conditions)): item
        for _, item, conditions in stresc
    }

    def find(spec: str, method: str):
        key = tuple(
            sorted(
                [("LBMETHOD", "EQ", (method,)), ("LBSPEC", "EQ", (spec,)), ("LBTESTCD", "EQ", ("MCPROT",))]
            )
        )
        return by_where[key]

    serum_ife = find("SERUM", "IMMUNOFIXATION ELECTROPHORESIS")
    urine_ife = find("URINE", "IMMUNOFIXATION ELECTROPHORESIS")
    mspike = find("SERUM", "ELECTROPHORESIS")
    for entry in raw["entries"]:  # lb.yaml: both IFE meanings take the MPISO codelist
        assert entry["codelist"] == "MPISO"
    assert doc.xp("odm:CodeListRef/@CodeListOID", serum_ife) == ["CL.MPISO"]
    assert doc.xp("odm:CodeListRef/@CodeListOID", urine_ife) == ["CL.MPISO"]
    assert doc.xp("odm:CodeListRef", mspike) == []
    assert "g/dL" in DefineDoc.text(mspike)
    # LBSTRESN: the M-spike has a numeric result, the immunofixations never do.
    stresn = doc.value_list("VL.LB.LBSTRESN")
    mcprot = [conds for _, _, conds in stresn if ("LBTESTCD", "EQ", ["MCPROT"]) in conds]
    assert mcprot == [
        [("LBTESTCD", "EQ", ["MCPROT"]), ("LBSPEC", "EQ", ["SERUM"]), ("LBMETHOD", "EQ", ["ELECTROPHORESIS"])]
    ]


def test_rs_value_level_by_rstestcd_takes_the_codelists_of_the_spec(sdtm_define, sdtm_data):
    _, doc = sdtm_define
    entries = _raw_specs("sdtm")["RS"]["value_level"]["entries"]
    tests = {"HEMARESP", "CARDRESP", "RENLRESP", "MRDIND", "ALSTAGE"}
    # RSCAT: responses take the response categories, the stage (a clinical classification) its own
    for variable in ("RSSTRESC", "RSCAT"):
        declared = {e["where"]["RSTESTCD"]: e["codelist"] for e in entries if e["variable"] == variable}
        items = _partition_check(doc, sdtm_data["RS"], f"VL.RS.{variable}", variable)
        got = {conds[0][2][0]: doc.xp("odm:CodeListRef/@CodeListOID", item) for _, item, conds in items}
        assert set(got) == tests
        assert got == {k: [f"CL.{v}"] for k, v in declared.items()}
    assert declared["ALSTAGE"] == "CCCAT" and declared["MRDIND"] == "RSCAT"
    _partition_check(doc, sdtm_data["RS"], "VL.RS.RSORRES", "RSORRES")


def test_supp_qval_value_level_comes_from_the_parent_supplemental_variables(sdtm_define, sdtm_data):
    _, doc = sdtm_define
    dm = {v["name"]: v for v in _raw_specs("sdtm")["DM"]["variables"] if v.get("supplemental")}
    items = _partition_check(doc, sdtm_data["SUPPDM"], "VL.SUPPDM.QVAL", "QVAL")
    in_codelist_order = ("INVISO", "PRIORLN", "INVLC")  # the order of codelist QNAM_SUPPDM
    assert [conds for _, _, conds in items] == [[("QNAM", "EQ", [q])] for q in in_codelist_order]
    for ref, item, conds in items:
        var = dm[conds[0][2][0]]
        assert item.get("Name") == var["name"]
        assert DefineDoc.text(item) == var["label"]
        assert item.get("DataType") == var["type"]
        origin = doc.one("def:Origin", item)
        assert (origin.get("Type"), origin.get("Source")) == (var["origin"], var["source"])
        assert ref.get("Mandatory") == ("Yes" if var["core"] == "Req" else "No")
    priorln = next(item for _, item, conds in items if conds[0][2] == ["PRIORLN"])
    assert priorln.get("Length") == "2"  # "13"
    rs = {v["name"] for v in _raw_specs("sdtm")["RS"]["variables"] if v.get("supplemental")}
    assert {c[0][2][0] for _, _, c in doc.value_list("VL.SUPPRS.QVAL")} == rs


def test_adam_value_level_by_paramcd(adam_setup):
    study, frames, _, doc = adam_setup
    items = _partition_check(doc, frames["ADRS"], "VL.ADRS.AVALC", "AVALC")
    by_param = {conds[0][2][0]: item for _, item, conds in items}
    assert set(by_param) == set(frames["ADRS"].PARAMCD)
    assert doc.xp("odm:CodeListRef/@CodeListOID", by_param["BOR"]) == ["CL.AVALC_ADRS"]
    assert doc.xp("odm:CodeListRef/@CodeListOID", by_param["CRVGPRC6"]) == ["CL.NY"]
    assert DefineDoc.text(by_param["CRVGPRC6"]) == "CR or VGPR after cycle 6"
    _partition_check(doc, frames["ADTTE"], "VL.ADTTE.AVAL", "AVAL")


# ----------------------------------------------------------------------------------------------- ADaM


def test_adam_item_groups_classes_and_origins(adam_setup):
    _, frames, _, doc = adam_setup
    adtte = doc.item_group("ADTTE")
    assert adtte.get("Purpose") == "Analysis" and adtte.get("Domain") is None
    cls = doc.one("def:Class", adtte)
    assert cls.get("Name") == "BASIC DATA STRUCTURE"
    assert doc.xp("def:SubClass/@Name", cls) == ["TIME-TO-EVENT"]
    adsl = doc.item_group("ADSL")
    assert adsl.get("Repeating") == "No"
    assert doc.one("def:Class", adsl).get("Name") == "SUBJECT LEVEL ANALYSIS DATASET"
    assert doc.xp("def:SubClass", doc.one("def:Class", adsl)) == []
    assert [ig.get("Name") for ig in doc.xp("//odm:ItemGroupDef")][0] == "ADSL"
    assert all(r.get("Role") is None for r in doc.xp("//odm:ItemGroupDef/odm:ItemRef"))
    age = doc.one("def:Origin", doc.item_def_of("ADSL", "AGE"))
    assert age.get("Type") == "Predecessor" and DefineDoc.text(age) == "DM.AGE" and age.get("Source") is None
    trtsdt = doc.item_def_of("ADSL", "TRTSDT")
    assert trtsdt.get(f"{DEF}DisplayFormat") == "DATE9." and trtsdt.get("DataType") == "integer"
    assert doc.item_def_of("ADSL", "BDFLC").get("SignificantDigits") == "2"  # 172.25
    # inline comments become CommentDefs
    comment = doc.by_oid("def:CommentDef", adsl.get(f"{DEF}CommentOID"))
    assert DefineDoc.text(comment) == "Screen failures are not included."
    bdflc = doc.by_oid("def:CommentDef", doc.item_def_of("ADSL", "BDFLC").get(f"{DEF}CommentOID"))
    assert DefineDoc.text(bdflc) == "iFLC minus uFLC at baseline, signed."


# ------------------------------------------------------------------------------ codelists, methods


def test_codelists_list_only_the_terms_used_with_their_c_codes(sdtm_define, sdtm_data):
    _, doc = sdtm_define
    raw = {c["id"]: c for c in _yaml(REPO / "specs" / "codelists.yaml")["codelists"]}
    referenced = set(doc.xp("//odm:CodeListRef/@CodeListOID"))
    defined = {c.get("OID") for c in doc.xp("//odm:CodeList")}
    assert referenced == defined
    for cl in doc.xp("//odm:CodeList"):
        spec = raw[cl.get("OID")[3:]]
        assert cl.get("Name") == spec["name"]
        assert doc.xp("odm:Alias[@Context='nci:ExtCodeID']/@Name", cl) == (
            [spec["code"]] if spec.get("code") else []
        )
        if spec.get("dictionary"):  # checked by test_an_external_dictionary_is_an_external_codelist
            continue
        terms = {str(t["value"]): t for t in spec["terms"]}
        items = doc.xp("odm:CodeListItem|odm:EnumeratedItem", cl)
        kinds = {etree.QName(i).localname for i in items}
        assert len(kinds) == 1
        assert kinds == (
            {"CodeListItem"}
            if any(terms[i.get("CodedValue")].get("decode") for i in items)
            else {"EnumeratedItem"}
        )
        for item in items:
            term = terms[item.get("CodedValue")]
            assert doc.xp("odm:Alias/@Name", item) == ([term["code"]] if term.get("code") else [])
            is_ct = bool(spec.get("code")) and not spec.get("sponsor")
            assert item.get(f"{DEF}ExtendedValue") == ("Yes" if term.get("sponsor") and is_ct else None)
            if term.get("decode"):
                assert doc.one("odm:Decode/odm:TranslatedText", item).text == term["decode"]
        if spec.get("sponsor") or not spec.get("code"):
            assert cl.get(f"{DEF}IsNonStandard") == "Yes" and cl.get(f"{DEF}StandardOID") is None
    coded = lambda oid: doc.xp("//odm:CodeList[@OID=$o]/*/@CodedValue", o=oid)  # noqa: E731
    assert coded("CL.SEX") == ["F", "M"]  # U is in the codelist but not in the data
    assert coded("CL.MPISO") == ["POSITIVE", "NEGATIVE"]
    assert coded("CL.RSTESTCD") == ["HEMARESP", "MRDIND", "CARDRESP", "RENLRESP", "ALSTAGE"]
    assert coded("CL.CCCAT") == ["MAYO 2004 WITH EUROPEAN MODIFICATION"]  # extends C118971, no C-code
    assert coded("CL.ALSTAGE") == ["IIIA"]  # a sponsor codelist: only the stage in the data
    assert set(coded("CL.LBTESTCD")) == set(sdtm_data["LB"].LBTESTCD)
    # sponsor extensions of CDISC codelists
    low = doc.one("//odm:CodeList[@OID='CL.HEMRESP']/odm:CodeListItem[@CodedValue='LOW-DFLC PR']")
    assert low.get(f"{DEF}ExtendedValue") == "Yes"
    card = doc.one("//odm:CodeList[@OID='CL.RSTESTCD']/*[@CodedValue='CARDRESP']")
    assert card.get(f"{DEF}ExtendedValue") == "Yes" and doc.xp("odm:Alias", card) == []


def test_numeric_codelists_match_numeric_data(adam_setup):
    *_, doc = adam_setup
    assert doc.xp("//odm:CodeList[@OID='CL.CNSR']/*/@CodedValue") == ["0", "1"]
    assert doc.one("//odm:CodeList[@OID='CL.CNSR']").get("DataType") == "integer"


def test_methods_are_defined_once_for_every_reference(sdtm_define):
    _, doc = sdtm_define
    shared = {m["id"]: m for m in _yaml(REPO / "specs" / "define.yaml")["methods"]}
    for spec in _raw_specs("sdtm").values():
        shared.update({m["id"]: m for m in spec.get("methods", []) or []})
    referenced = set(doc.xp("//odm:ItemRef/@MethodOID"))
    defined = {m.get("OID"): m for m in doc.xp("//odm:MethodDef")}
    assert referenced == set(defined)
    for oid, method in defined.items():
        assert method.get("Type") == shared[oid]["type"]
        assert method.get("Name") == shared[oid]["name"]
        assert DefineDoc.text(method) == shared[oid]["description"].strip()


def test_documents_and_shared_comments_are_linked(study_copy, sdtm_data, tmp_path):
    define_yaml = study_copy / "specs" / "define.yaml"
    doc_yaml = _yaml(define_yaml)
    doc_yaml["documents"] = [
        {
            "id": "LF.acrf",
            "title": "Annotated CRF",
            "href": "acrf.pdf",
            "kind": "AnnotatedCRF",
            "standard": "SDTM",
        },
        {
            "id": "LF.csdrg",
            "title": "Reviewer's Guide",
            "href": "csdrg.pdf",
            "kind": "SupplementalDoc",
            "standard": "both",
        },
        {
            "id": "LF.adrg",
            "title": "ADaM Reviewer's Guide",
            "href": "adrg.pdf",
            "kind": "SupplementalDoc",
            "standard": "ADaM",
        },
    ]
    for m in doc_yaml["methods"]:
        if m["id"] == "MT.SEQ":
            m["document"] = "LF.csdrg"
    define_yaml.write_text(yaml.safe_dump(doc_yaml, sort_keys=False), encoding="utf-8")
    lb_yaml = study_copy / "specs" / "sdtm" / "lb.yaml"
    lb_yaml.write_text(
        lb_yaml.read_text().replace("split_by: LBCAT\n", "split_by: LBCAT\ncomment: COM.SDTM.TRACE\n")
    )
    study = load_study(study_copy)
    xml, _ = compute_define_xml(study, sdtm_data, standard="SDTM", created=CREATED)
    doc = DefineDoc(xml)
    assert doc.xp("def:AnnotatedCRF/def:DocumentRef/@leafID", doc.mdv) == ["LF.acrf"]
    assert doc.xp("def:SupplementalDoc/def:DocumentRef/@leafID", doc.mdv) == ["LF.csdrg"]
    leaves = {leaf.get("ID"): leaf.get(f"{XLINK}href") for leaf in doc.xp("def:leaf", doc.mdv)}
    assert leaves == {"LF.acrf": "acrf.pdf", "LF.csdrg": "csdrg.pdf"}
    assert doc.xp("//odm:MethodDef[@OID='MT.SEQ']/def:DocumentRef/@leafID") == ["LF.csdrg"]
    assert doc.item_group("LB").get(f"{DEF}CommentOID") == "COM.SDTM.TRACE"
    comment = doc.by_oid("def:CommentDef", "COM.SDTM.TRACE")
    assert DefineDoc.text(comment) == " ".join(_yaml(define_yaml)["comments"][0]["text"].split())
    assert doc.xp("//def:CommentDef[@OID='COM.SDTM.UNSCHED']") == []  # not referenced: not listed
    path = tmp_path / "define.xml"
    path.write_bytes(xml)
    assert validate_define_xml(path) == []


# ------------------------------------------------------------------------------- errors, determinism


def test_a_dataset_without_spec_is_an_error(sdtm_study, sdtm_data):
    frames = dict(sdtm_data, XX=pd.DataFrame({"STUDYID": ["DARPAL"]}))
    with pytest.raises(DefineError, match="dataset XX has no spec"):
        compute_define_xml(sdtm_study, frames, standard="SDTM", created=CREATED)


def test_missing_and_undeclared_columns_are_errors_naming_every_problem(sdtm_study, sdtm_data):
    frames = dict(sdtm_data)
    frames["DM"] = sdtm_data["DM"].drop(columns=["SEX", "RACE"])
    frames["LB"] = sdtm_data["LB"].assign(LBFOO="x")
    with pytest.raises(DefineError) as info:
        compute_define_xml(sdtm_study, frames, standard="SDTM", created=CREATED)
    message = str(info.value)
    assert "DM: spec variable(s) missing from the data: SEX, RACE" in message
    assert "LB: column(s) not declared in its spec: LBFOO" in message


def test_a_dataset_of_the_other_standard_is_an_error(adam_setup, tmp_path):
    study, frames, *_ = adam_setup
    sdtm_dm = synth_frame(study, study.datasets["DM"])
    with pytest.raises(DefineError, match="ADSL is ADaMIG 1.3, it does not belong in the SDTM"):
        compute_define_xml(study, {"DM": sdtm_dm, "ADSL": frames["ADSL"]}, standard="SDTM", created=CREATED)


def test_an_undeclared_qnam_is_an_error(sdtm_study, sdtm_data):
    supp = sdtm_data["SUPPDM"].copy()
    supp.loc[0, "QNAM"] = "NOTDECL"
    with pytest.raises(DefineError, match="QNAM NOTDECL is not a supplemental variable of DM"):
        compute_define_xml(sdtm_study, dict(sdtm_data, SUPPDM=supp), standard="SDTM", created=CREATED)


def test_values_outside_the_codelist_are_reported_not_listed(sdtm_study, sdtm_data):
    dm = sdtm_data["DM"].copy()
    dm.loc[1, "SEX"] = "X"
    xml, findings = compute_define_xml(sdtm_study, dict(sdtm_data, DM=dm), standard="SDTM", created=CREATED)
    assert DefineDoc(xml).xp("//odm:CodeList[@OID='CL.SEX']/*/@CodedValue") == ["F"]
    assert [f.value for f in findings if f.code == "DEF003"] == ["X"]


def test_output_is_deterministic_and_stamped_with_created(sdtm_study, sdtm_data, tmp_path):
    a = write_define(sdtm_study, sdtm_data, tmp_path / "a", standard="SDTM", created=CREATED)
    reordered = {k: sdtm_data[k] for k in reversed(list(sdtm_data))}
    b = write_define(sdtm_study, reordered, tmp_path / "b", standard="SDTM", created=CREATED)
    for x, y in ((a.define_xml, b.define_xml), (a.define_html, b.define_html), (a.stylesheet, b.stylesheet)):
        assert x.read_bytes() == y.read_bytes()
    later = datetime(2027, 2, 3, 4, 5, 6)
    c, _ = compute_define_xml(sdtm_study, sdtm_data, standard="SDTM", created=later)
    assert DefineDoc(c).root.get("CreationDateTime") == "2027-02-03T04:05:06"
    assert not list(tmp_path.glob("a/.*.tmp")), "no temp files left behind"


def test_adam_ct_codelist_codes_are_adam_ct_codelists():
    ct = pd.read_csv(refdata_path("ct", "ADaM_CT_2025-03-28.csv"), dtype=str)
    codelists = set(ct.loc[ct["Codelist Code"].isna(), "Code"])
    assert ADAM_CT_CODELISTS <= codelists


def test_datasets_whose_conventions_a_reviewer_needs_carry_a_comment(sdtm_define):
    """The AE, EX and EC conventions (dictionary, grading, what EX and EC hold) are stated on their
    ItemGroupDefs as CommentDefs (read back from define.xml)."""
    _, doc = sdtm_define
    expected = {"AE": ["MedDRA", "CTCAE v5.0", "SUPPAE"], "EX": ["EXDOSE 0"], "EC": ["ECOCCUR = N"]}
    for dataset, words in expected.items():
        oid = doc.item_group(dataset).get(f"{DEF}CommentOID")
        assert oid, dataset
        text = DefineDoc.text(doc.by_oid("def:CommentDef", oid))
        assert all(w in text for w in words), (dataset, text)


def test_an_external_dictionary_is_an_external_codelist(sdtm_define):
    """AEDECOD and AEBODSYS refer to the MedDRA CodeList, which lists no values (ExternalCodeList)."""
    _, doc = sdtm_define
    for variable in ("AEDECOD", "AEBODSYS"):
        oid = doc.item_def_of("AE", variable).find("odm:CodeListRef", NS).get("CodeListOID")
        codelist = doc.by_oid("odm:CodeList", oid)
        (external,) = codelist.findall("odm:ExternalCodeList", NS)
        assert external.get("Dictionary") == "MEDDRA" and external.get("Version") is None  # not in the export
        assert not codelist.findall("odm:CodeListItem", NS) and not codelist.findall("odm:EnumeratedItem", NS)
