"""`cdiscgen spec from-define`: a study's metadata specs from a Define-XML 2.1 file. The round trip runs
the pipeline again on the specs a define gave and compares the new define.xml with the first element by
element (a reader of its own here); the CDISC MSG defines are read with lxml for the expected values."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from lxml import etree

from cdiscgen.cli import main

from .conftest import REPO, refdata_path

ODM = "{http://www.cdisc.org/ns/odm/v1.3}"
DEF = "{http://www.cdisc.org/ns/def/v2.1}"
COMPARED = (
    "ItemGroupDef",
    "ItemDef",
    "ValueListDef",
    "WhereClauseDef",
    "CodeList",
    "MethodDef",
    "CommentDef",
)


def _canonical(el) -> tuple:
    attrs = tuple(sorted((etree.QName(k).localname, v) for k, v in el.attrib.items()))
    children = tuple(_canonical(c) for c in el if isinstance(c.tag, str))
    return etree.QName(el).localname, attrs, " ".join((el.text or "").split()), children


def _definitions(path: Path) -> dict[tuple[str, str], tuple]:
    out = {}
    for el in etree.parse(str(path)).getroot().iter():
        if isinstance(el.tag, str) and etree.QName(el).localname in COMPARED:
            out[(etree.QName(el).localname, el.get("OID"))] = _canonical(el)
    return out


def _defines(run: Path) -> list[Path]:
    return sorted(run.glob("m5/datasets/*/tabulations/sdtm/define.xml")) + sorted(
        run.glob("m5/datasets/*/analysis/adam/datasets/define.xml")
    )


def _from_define(defines: list[Path], out: Path, *extra: str):
    return CliRunner().invoke(main, ["spec", "from-define", *map(str, defines), "--out", str(out), *extra])


def _round_trip(study: Path, run: Path, raw: Path, tmp_path: Path) -> None:
    copy = tmp_path / "study"
    shutil.copytree(study / "specs", copy / "specs")
    shutil.copytree(study / "mappings", copy / "mappings")
    first = _defines(run)
    assert len(first) == 2
    result = _from_define(first, copy, "--replace")
    assert result.exit_code == 0, result.output
    rerun = CliRunner().invoke(
        main, ["-q", "run", "--raw", str(raw), "--study", str(copy), "--out", str(tmp_path / "out")]
    )
    assert rerun.exit_code == 0, rerun.output
    second = _defines(tmp_path / "out")
    for a, b in zip(first, second, strict=True):
        before, after = _definitions(a), _definitions(b)
        assert {k for k in before if k[0] == "ItemGroupDef"}, a  # the comparison compares something
        assert sorted(after) == sorted(before)
        assert [k for k in before if before[k] != after[k]] == []
        assert a.read_bytes() == b.read_bytes()


def test_the_bundled_studys_define_gives_specs_that_give_the_same_define(small_run, tmp_path):
    _round_trip(REPO, small_run, small_run / "raw", tmp_path)


def test_the_pilots_define_gives_specs_that_give_the_same_define(pilot_run, tmp_path):
    raw = refdata_path("cdiscpilot01-raw", "raw")
    _round_trip(REPO / "examples" / "cdiscpilot01", pilot_run, raw, tmp_path)


def test_the_cdisc_msg_defines_import_and_say_what_they_could_not_carry(tmp_path):
    sdtm = refdata_path("sdtm-msg-2.0", "define.xml")
    adam = refdata_path("adam-msg-1.0", "define.xml")
    result = _from_define([sdtm, adam], tmp_path / "msg")
    assert result.exit_code == 0, result.output
    specs = tmp_path / "msg" / "specs"
    groups = [g for path in (sdtm, adam) for g in etree.parse(str(path)).iter(f"{ODM}ItemGroupDef")]
    written = {yaml.safe_load(p.read_text())["dataset"]: p for p in specs.glob("[sa][dd]*/*.yaml")}
    assert sorted(written) == sorted(g.get("Name") for g in groups)
    tree = etree.parse(str(sdtm))
    items = {el.get("OID"): el for el in tree.iter(f"{ODM}ItemDef")}
    dm = yaml.safe_load(written["DM"].read_text())
    dm_group = next(g for g in groups if g.get("Name") == "DM")
    refs = sorted(dm_group.iter(f"{ODM}ItemRef"), key=lambda r: int(r.get("OrderNumber")))
    own = [v["name"] for v in dm["variables"] if not v.get("supplemental")]
    assert own == [items[r.get("ItemOID")].get("Name") for r in refs]
    keys = sorted(
        (int(r.get("KeySequence")), items[r.get("ItemOID")].get("Name")) for r in refs if r.get("KeySequence")
    )
    assert dm["keys"] == [name for _, name in keys]
    # SUPPDM's QNAMs are supplemental variables of DM
    supp = next(g for g in groups if g.get("Name") == "SUPPDM")
    qval = next(
        items[r.get("ItemOID")]
        for r in supp.iter(f"{ODM}ItemRef")
        if items[r.get("ItemOID")].get("Name") == "QVAL"
    )
    vl = next(
        v
        for v in tree.iter(f"{DEF}ValueListDef")
        if v.get("OID") == qval.find(f"{DEF}ValueListRef").get("ValueListOID")
    )
    clauses = {w.get("OID"): w for w in tree.iter(f"{DEF}WhereClauseDef")}
    qnams = sorted(
        c.text
        for ref in vl.iter(f"{ODM}ItemRef")
        for c in clauses[ref.find(f"{DEF}WhereClauseRef").get("WhereClauseOID")].iter(f"{ODM}CheckValue")
    )
    assert sorted(v["name"] for v in dm["variables"] if v.get("supplemental")) == qnams
    # codelists keep their NCI codes
    codelists = {c["id"]: c for c in yaml.safe_load((specs / "codelists.yaml").read_text())["codelists"]}
    for cl in tree.iter(f"{ODM}CodeList"):
        alias = cl.find(f"{ODM}Alias[@Context='nci:ExtCodeID']")
        if alias is not None and cl.get("OID") == "CL.NY":
            assert codelists["NY"]["code"] == alias.get("Name")
    # what could not be carried is listed: the NE where clauses, the CRF pages, labels over 40
    not_equal = [
        w.get("OID") for w in tree.iter(f"{DEF}WhereClauseDef") if any(r.get("Comparator") == "NE" for r in w)
    ]
    assert not_equal
    for oid in not_equal:
        used = any(r.get("WhereClauseOID") == oid for r in tree.iter(f"{DEF}WhereClauseRef"))
        assert not used or oid in result.output, oid
    assert "CRF pages" in result.output
    long_labels = [
        g.get("Name") for g in groups if len(g.find(f"{ODM}Description/{ODM}TranslatedText").text) > 40
    ]
    assert long_labels and all(name in result.output for name in long_labels)
    # the specs it wrote pass check-specs but for those labels (the template study.yaml and the missing
    # ADaM derivation files are the user's to write)
    check = CliRunner().invoke(main, ["check-specs", "--study", str(tmp_path / "msg")])
    spec_errors = [
        line for line in check.output.splitlines()
        if line.startswith("error:") and ("specs/sdtm/" in line or "specs/adam/" in line or "codelists.yaml" in line or "define.yaml" in line)
        and "/params/" not in line
    ]  # fmt: skip
    assert len(spec_errors) == len(long_labels)
    assert all("longer than 40" in line for line in spec_errors)


def test_from_define_refuses_what_it_cannot_read_and_writes_nothing(tmp_path):
    old = refdata_path("cdiscpilot01", "sdtm", "define.xml")  # Define-XML 1.0
    result = _from_define([old], tmp_path / "a")
    assert result.exit_code == 2
    assert "from-define reads Define-XML 2.1" in result.output
    junk = tmp_path / "junk.xml"
    junk.write_text("<not-closed>")
    result = _from_define([junk], tmp_path / "a")
    assert result.exit_code == 2 and "junk.xml" in result.output
    assert not (tmp_path / "a").exists()
    study = tmp_path / "study"
    shutil.copytree(REPO / "specs", study / "specs")
    before = (study / "specs" / "sdtm" / "dm.yaml").read_bytes()
    result = _from_define([refdata_path("sdtm-msg-2.0", "define.xml")], study)
    assert result.exit_code == 2 and "--replace" in result.output
    assert (study / "specs" / "sdtm" / "dm.yaml").read_bytes() == before


@pytest.mark.parametrize("flag", [[], ["--replace"]])
def test_a_new_folder_gets_the_template_study_yaml_with_the_defines_names(flag, tmp_path):
    sdtm = refdata_path("sdtm-msg-2.0", "define.xml")
    result = _from_define([sdtm], tmp_path / "new", *flag)
    assert result.exit_code == 0, result.output
    study = yaml.safe_load((tmp_path / "new" / "specs" / "study.yaml").read_text())["study"]
    names = etree.parse(str(sdtm)).find(f"{ODM}Study/{ODM}GlobalVariables")
    assert study["studyid"] == names.find(f"{ODM}StudyName").text
    assert study["protocol"] == names.find(f"{ODM}ProtocolName").text
    assert study["title"] == names.find(f"{ODM}StudyDescription").text


def test_an_order_number_that_is_not_a_number_is_named_with_its_line(tmp_path):
    text = refdata_path("sdtm-msg-2.0", "define.xml").read_text(encoding="utf-8")
    first = text.index('OrderNumber="1"', text.index("<ItemGroupDef"))
    bad = tmp_path / "define.xml"
    bad.write_text(
        text[:first] + 'OrderNumber="one"' + text[first + len('OrderNumber="1"') :], encoding="utf-8"
    )
    line = text[:first].count("\n") + 1
    result = _from_define([bad], tmp_path / "out")
    assert result.exit_code == 2
    assert (
        f"define.xml:{line}:" in result.output and "OrderNumber 'one' is not a whole number" in result.output
    )
    assert not (tmp_path / "out").exists()
