"""The defect suite on the REAL pipeline output: `run_pipeline` once (40 simulated subjects), the written
SDTM and ADaM folders read back with `read_dataset_folder`, the findings of that clean output recorded as
the baseline, then one defect at a time injected into copies of the real frames, XPT metadata, specs or
define.xml. Each defect must be caught by the rule meant for it and must add no finding on any other
dataset or variable (nor any other rule, beyond the ones a defect logically implies and lists in `also`).

Rows are picked by what they hold (the first KLCFR result after day 1, a subject who died, ...), never
by a hard-coded USUBJID, so the suite follows the simulator and the mappings as they change. Injected
values keep each character column's longest value unchanged where the defect is not about lengths, so
that the XPT metadata read from the files stays true to the data.

Speed: a defect that does not touch a folder's datasets, metadata or define.xml reuses that folder's
baseline define.xml findings, and CDG1301 (which reads nothing but define.xml) is rerun only when a
define.xml was edited; the text form of a column (`ValidationContext.text`) is computed once for the
baseline frames, which no defect edits (a defect edits copies). All three are exact: the rules see the
same values they would compute.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lxml import etree

from cdiscgen._findings import Finding, Severity
from cdiscgen._pipeline import output_layout
from cdiscgen._specs import Study, load_study
from cdiscgen.export import XptVariable
from cdiscgen.validate import (
    DatasetFolder,
    Scope,
    list_rules,
    read_dataset_folder,
    validate_parts,
)
from tests.conftest import remembering_what_rules_derive

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}
DEF = NS["def"]
ALL_CODES = frozenset(r.code for r in list_rules())
DEFINE_CODES = frozenset(r.code for r in list_rules() if r.scope == Scope.DEFINE)
SCHEMA = "CDG1301"


def _key(f: Finding) -> tuple:
    # file/line left out: editing define.xml shifts the lines of unrelated ItemDefs
    return (f.code, f.dataset, f.variable, f.usubjid, f.seq, f.value, f.expected, f.message)


@dataclasses.dataclass
class Real:
    study: Study
    parts: dict[str, DatasetFolder]  # "sdtm", "adam"
    baseline: list[Finding]
    define_findings: dict[str, list[Finding]]  # per part, the define.xml rules without CDG1301
    schema_findings: list[Finding]
    tmp: Path


@pytest.fixture(scope="module")
def real(tmp_path_factory, darpal_run) -> Iterator[Real]:
    tmp = tmp_path_factory.mktemp("pipeline")
    study = load_study()
    layout = output_layout(darpal_run, study.studyid)
    parts = {key: read_dataset_folder(layout[key]) for key in ("sdtm", "adam")}
    assert all(p.define_path is not None for p in parts.values())
    baseline = list(validate_parts(parts.values(), study=study).findings)
    define_findings = {
        key: [
            f
            for f in validate_parts([p], study=study, codes=DEFINE_CODES - {SCHEMA}).findings
            if f.code in DEFINE_CODES
        ]
        for key, p in parts.items()
    }
    schema = list(validate_parts(parts.values(), study=study, codes={SCHEMA}).findings)
    with remembering_what_rules_derive([f for p in parts.values() for f in p.frames.values()]):
        yield Real(study, parts, baseline, define_findings, schema, tmp)


# ------------------------------------------------------------------------------------- the injection kit


class Sub:
    """A copy-on-write view of the real output that a defect edits."""

    def __init__(self, real: Real, tmp: Path) -> None:
        self.real = real
        self.tmp = tmp
        self.study = real.study
        self.parts = {
            k: dataclasses.replace(p, frames=dict(p.frames), meta=dict(p.meta)) for k, p in real.parts.items()
        }
        self.where = {name: k for k, p in real.parts.items() for name in p.frames}
        self._copied: set[str] = set()
        self._trees: dict[str, etree._ElementTree] = {}

    # datasets
    def frame(self, name: str) -> pd.DataFrame:
        part = self.parts[self.where[name]]
        if name not in self._copied:
            part.frames[name] = part.frames[name].copy()
            self._copied.add(name)
        return part.frames[name]

    def put(self, name: str, frame: pd.DataFrame) -> None:
        self.parts[self.where[name]].frames[name] = frame
        self._copied.add(name)

    def set(self, name: str, row: int, **values: object) -> None:
        frame = self.frame(name)
        for col, value in values.items():
            frame.loc[frame.index[row], col] = value

    def row(self, name: str, **conds: object) -> int:
        """The first row meeting every condition (a value, or a function of the column)."""
        frame = self.real.parts[self.where[name]].frames[name]
        mask = np.ones(len(frame), dtype=bool)
        for col, cond in conds.items():
            mask &= np.asarray(cond(frame[col]) if callable(cond) else (frame[col] == cond), dtype=bool)
        hits = np.flatnonzero(mask)
        assert hits.size, f"no {name} row with {conds}"
        return int(hits[0])

    def value(self, name: str, row: int, col: str) -> object:
        return self.real.parts[self.where[name]].frames[name][col].iloc[row]

    # metadata
    def meta(self, name: str):
        return self.parts[self.where[name]].meta[name]

    def meta_var(self, name: str, var: str, **changes: object) -> None:
        m = self.meta(name)
        variables = tuple(dataclasses.replace(v, **changes) if v.name == var else v for v in m.variables)
        self.parts[self.where[name]].meta[name] = dataclasses.replace(m, variables=variables)

    def meta_add(self, name: str, var: XptVariable) -> None:
        m = self.meta(name)
        self.parts[self.where[name]].meta[name] = dataclasses.replace(m, variables=(*m.variables, var))

    # define.xml
    def define(self, key: str) -> etree._Element:
        if key not in self._trees:
            self._trees[key] = etree.parse(str(self.real.parts[key].define_path))
        return self._trees[key].getroot()

    def item_def(self, key: str, oid: str) -> etree._Element:
        [elem] = self.define(key).xpath(f"//odm:ItemDef[@OID='{oid}']", namespaces=NS)
        return elem

    def finish(self) -> None:
        for key, tree in self._trees.items():
            path = self.tmp / key / "define.xml"
            path.parent.mkdir(parents=True, exist_ok=True)
            tree.write(str(path), xml_declaration=True, encoding="UTF-8")
            self.parts[key] = dataclasses.replace(self.parts[key], define_path=path)

    def touched(self, key: str) -> bool:
        mine, base = self.parts[key], self.real.parts[key]
        return (
            mine.define_path != base.define_path
            or mine.frames.keys() != base.frames.keys()
            or any(mine.frames[n] is not base.frames[n] for n in mine.frames)
            or mine.meta.keys() != base.meta.keys()
            or any(mine.meta[n] is not base.meta[n] for n in mine.meta)
            or mine.notes != base.notes
        )


def validate_sub(sub: Sub) -> list[Finding]:
    """What `validate_parts` over both folders would find, reusing what the defect cannot change."""
    edited_define = any(sub.parts[k].define_path != sub.real.parts[k].define_path for k in sub.parts)
    touched = {k for k in sub.parts if sub.touched(k)}
    parts = [
        sub.parts[k] if k in touched else dataclasses.replace(sub.parts[k], define_path=None)
        for k in sub.parts
    ]
    codes = ALL_CODES if edited_define else ALL_CODES - {SCHEMA}
    found = list(validate_parts(parts, study=sub.study, codes=codes).findings)
    # the folders whose define.xml is left out above have one: not the TRC1736 finding CDG0011 would make
    unchecked = {sub.parts[k].name for k in sub.parts if k not in touched}
    found = [f for f in found if not (f.code == "CDG0011" and f.value in unchecked)]
    for k in sub.parts:
        if k not in touched:
            found += sub.real.define_findings[k]
    if not edited_define:
        found += sub.real.schema_findings
    return found


def _len(value: object) -> int:
    return len(str(value).encode("utf-8"))


def _longest(frame: pd.DataFrame, col: str) -> int:
    return max(int(frame[col].astype("str").str.rstrip().str.encode("utf-8").str.len().max()), 1)


# --------------------------------------------------------------------------------------------- defects

Mutation = Callable[[Sub], None]


@dataclasses.dataclass
class Defect:
    id: str
    mutate: Mutation
    code: str
    datasets: set[str | None]
    variables: set[str | None] | None = None  # None: any variable of the allowed datasets
    also: frozenset[str] = frozenset()


def klcfr_after_day_1(s: Sub) -> int:
    return s.row(
        "LB", LBTESTCD="KLCFR", LBDY=lambda c: c > 1, LBLOBXFL=lambda c: c.astype(str).str.strip() == ""
    )


def lb_set(col: str, make: Callable[[Sub, int], object], *, pick: Callable[[Sub], int] = klcfr_after_day_1):
    def mutate(s: Sub) -> None:
        i = pick(s)
        s.set("LB", i, **{col: make(s, i)})

    return mutate


def _swap_same_length(value: str, new: str) -> str:
    assert len(new) <= len(value), (value, new)
    return new


def drop_column(name: str, col: str) -> Mutation:
    def mutate(s: Sub) -> None:
        s.put(name, s.frame(name).drop(columns=[col]))
        m = s.meta(name)
        s.parts[s.where[name]].meta[name] = dataclasses.replace(
            m, variables=tuple(v for v in m.variables if v.name != col)
        )

    return mutate


def duplicate_row(name: str, pick: Callable[[Sub], int], **changes: object) -> Mutation:
    def mutate(s: Sub) -> None:
        frame = s.frame(name)
        extra = frame.iloc[[pick(s)]].copy()
        for col, value in changes.items():
            extra[col] = value(frame) if callable(value) else value
        s.put(name, pd.concat([frame, extra], ignore_index=True))

    return mutate


def drop_rows(name: str, cond: Callable[[pd.DataFrame], pd.Series]) -> Mutation:
    def mutate(s: Sub) -> None:
        frame = s.frame(name)
        s.put(name, frame[~cond(frame).to_numpy(dtype=bool)].reset_index(drop=True))

    return mutate


def set_row(name: str, pick: Callable[[Sub], int], **values: object) -> Mutation:
    def mutate(s: Sub) -> None:
        i = pick(s)
        s.set(name, i, **{k: (v(s, i) if callable(v) else v) for k, v in values.items()})

    return mutate


def first(name: str, **conds: object) -> Callable[[Sub], int]:
    return lambda s: s.row(name, **conds)


def blank(c: pd.Series) -> pd.Series:
    return c.astype("str").str.strip() == ""


def filled(c: pd.Series) -> pd.Series:
    return ~blank(c)


def shift_day(iso: str, days: int) -> str:
    """The same ISO 8601 text with its date moved by `days` (time part kept)."""
    head, sep, rest = str(iso).partition("T")
    moved = (pd.Timestamp(head) + pd.Timedelta(days=days)).date().isoformat()
    return moved + sep + rest


def _lobx_pair(s: Sub) -> int:
    """A KLCFR record without LBLOBXFL of a subject whose KLCFR has LBLOBXFL = Y."""
    lb = s.real.parts["sdtm"].frames["LB"]
    flagged = lb[(lb.LBTESTCD == "KLCFR") & (lb.LBLOBXFL == "Y")].USUBJID.iloc[0]
    return s.row("LB", USUBJID=flagged, LBTESTCD="KLCFR", LBLOBXFL=blank, LBDY=lambda c: c > 1)


def _ex_middle(s: Sub) -> int:
    """An EX record that is neither the first nor the last exposure of its subject, with EXSTDY > 2."""
    ex = s.real.parts["sdtm"].frames["EX"]
    return s.row("EX", EXSTDY=lambda c: (c > 2) & (c < ex.EXSTDY.max()), EXSTDTC=lambda c: c == ex.EXENDTC)


def _ex_end_before_start(s: Sub) -> None:
    i = _ex_middle(s)
    start = s.value("EX", i, "EXSTDTC")
    s.set("EX", i, EXENDTC=shift_day(start, -1), EXENDY=float(s.value("EX", i, "EXSTDY")) - 1)


def _char_lbseq(s: Sub) -> None:
    lb = s.frame("LB")
    lb["LBSEQ"] = lb["LBSEQ"].map(lambda v: f"{v:g}").astype("str")
    s.meta_var("LB", "LBSEQ", type="char", length=_longest(lb, "LBSEQ"))


def _char_adt(s: Sub) -> None:
    tte = s.frame("ADTTE")
    days = tte["ADT"].to_numpy()
    tte["ADT"] = pd.Series(
        [(pd.Timestamp("1960-01-01") + pd.Timedelta(days=float(d))).date().isoformat() for d in days],
        dtype="str",
    )
    s.meta_var("ADTTE", "ADT", type="char", length=10, format=None)


def _add_column(name: str, col: str, value: str, label: str) -> Mutation:
    def mutate(s: Sub) -> None:
        s.frame(name)[col] = pd.Series([value] * len(s.frame(name)), dtype="str")
        s.meta_add(name, XptVariable(col, label, "char", len(value)))

    return mutate


def _extra_dataset(s: Sub) -> None:
    dm = s.real.parts["sdtm"].frames["DM"]
    frame = pd.DataFrame(
        {"STUDYID": dm.STUDYID.iloc[:1], "DOMAIN": ["XY"], "USUBJID": dm.USUBJID.iloc[:1], "XYSEQ": [1.0]}
    ).astype({"STUDYID": "str", "DOMAIN": "str", "USUBJID": "str"})
    part = s.parts["sdtm"]
    part.frames["XY"] = frame
    template = part.meta["DM"]
    part.meta["XY"] = dataclasses.replace(
        template,
        dataset="XY",
        label="Extra Findings",
        variables=(
            XptVariable("STUDYID", "Study Identifier", "char", _longest(frame, "STUDYID")),
            XptVariable("DOMAIN", "Domain Abbreviation", "char", 2),
            XptVariable("USUBJID", "Unique Subject Identifier", "char", _longest(frame, "USUBJID")),
            XptVariable("XYSEQ", "Sequence Number", "num", 8),
        ),
    )
    part.files["XY"] = "xy.xpt"
    s.where["XY"] = "sdtm"


def _spec_length(s: Sub) -> None:
    lb = s.study.datasets["LB"]
    variables = tuple(dataclasses.replace(v, length=20) if v.name == "USUBJID" else v for v in lb.variables)
    s.study = dataclasses.replace(
        s.study, datasets={**s.study.datasets, "LB": dataclasses.replace(lb, variables=variables)}
    )


def _reread(s: Sub, key: str, name: str, edit: Callable[[bytes], bytes]) -> None:
    """Copy a folder's files, edit one .xpt byte-wise and read the folder back as the runner would."""
    source = Path(s.real.parts[key].define_path).parent
    target = s.tmp / f"{key}-files"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.html", "*.xsl", "*.csv"))
    path = target / f"{name.lower()}.xpt"
    path.write_bytes(edit(path.read_bytes()))
    part = read_dataset_folder(target)
    # keep the untouched datasets identical to the baseline objects
    base = s.real.parts[key]
    for n in part.frames:
        if n != name:
            part.frames[n], part.meta[n] = base.frames[n], base.meta[n]
    s.parts[key] = dataclasses.replace(part, define_path=base.define_path)
    for n in list(s.where):
        if s.where[n] == key and n not in part.frames:
            del s.where[n]


def _truncate(data: bytes) -> bytes:
    return data[:400]


def _cp1252_apostrophe(data: bytes) -> bytes:
    at = data.find(b"Amyloidosis, AL")
    assert at > 0
    return data[: at + 11] + b"\x92" + data[at + 12 :]


# define.xml edits
def _define_schema(s: Sub) -> None:
    [std] = s.define("sdtm").xpath("//def:Standard[@Name='SDTMIG']", namespaces=NS)
    std.set("Name", "STDTMIG")


def _define_drop_group(s: Sub) -> None:
    [group] = s.define("sdtm").xpath("//odm:ItemGroupDef[@Name='TI']", namespaces=NS)
    group.set("Name", "TX")
    group.set("SASDatasetName", "TX")


def _define_drop_itemref(s: Sub) -> None:
    [ref] = s.define("sdtm").xpath(
        "//odm:ItemGroupDef[@Name='LB']/odm:ItemRef[@ItemOID='IT.LB.LBREFID']", namespaces=NS
    )
    ref.getparent().remove(ref)


def _define_length(s: Sub) -> None:
    item = s.item_def("sdtm", "IT.LB.LBTESTCD")
    item.set("Length", str(int(item.get("Length")) + 4))


def _define_label(s: Sub) -> None:
    item = s.item_def("sdtm", "IT.LB.LBTEST")
    item.find("odm:Description/odm:TranslatedText", NS).text = "Lab Test Name"


def _define_codelist(s: Sub) -> None:
    item = s.item_def("sdtm", "IT.LB.LBNRIND")
    oid = item.find("odm:CodeListRef", NS).get("CodeListOID")
    [term] = s.define("sdtm").xpath(f"//odm:CodeList[@OID='{oid}']/*[@CodedValue='LOW']", namespaces=NS)
    term.getparent().remove(term)


def _define_type(s: Sub) -> None:
    item = s.item_def("adam", "IT.ADSL.AGE")
    item.set("DataType", "text")
    item.set("Length", "3")


def _itemref(s: Sub, group: str, oid: str) -> etree._Element:
    [ref] = s.define("sdtm").xpath(
        f"//odm:ItemGroupDef[@Name='{group}']/odm:ItemRef[@ItemOID='{oid}']", namespaces=NS
    )
    return ref


def _define_has_no_data_on_data(s: Sub) -> None:
    _itemref(s, "LB", "IT.LB.LBREFID").set(f"{{{DEF}}}HasNoData", "Yes")


def _define_empty_not_marked(s: Sub) -> None:
    del _itemref(s, "SV", "IT.SV.SVUPDES").attrib[f"{{{DEF}}}HasNoData"]


def _define_derived_without_method(s: Sub) -> None:
    del _itemref(s, "LB", "IT.LB.LBSEQ").attrib["MethodOID"]


def _define_leaf_misspelled(s: Sub) -> None:
    [leaf] = s.define("sdtm").xpath("//def:leaf[@ID='LF.LB']", namespaces=NS)
    leaf.set("{http://www.w3.org/1999/xlink}href", "LB.xpt")


def _define_value_list_lacks_a_test(s: Sub) -> None:
    [ref] = s.define("sdtm").xpath(
        "//def:ValueListDef[@OID='VL.LB.LBORRES']/odm:ItemRef[@ItemOID='IT.LB.LBORRES.KLCFR.SERUM']",
        namespaces=NS,
    )
    ref.getparent().remove(ref)


def _define_value_level_derived_without_method(s: Sub) -> None:
    # the value list named against the VL.<dataset>.<variable> habit: its owner is read from the ItemDef that
    # refers to it, not from its OID
    root = s.define("sdtm")
    [vl] = root.xpath("//def:ValueListDef[@OID='VL.LB.LBSTRESC']", namespaces=NS)
    [vlref] = root.xpath("//def:ValueListRef[@ValueListOID='VL.LB.LBSTRESC']", namespaces=NS)
    vl.set("OID", "VL.STDRES")
    vlref.set("ValueListOID", "VL.STDRES")
    [ref] = vl.xpath("odm:ItemRef[@ItemOID='IT.LB.LBSTRESC.KLCFR.SERUM']", namespaces=NS)
    del ref.attrib["MethodOID"]


def _repeating(part: str, group: str, value: str) -> Mutation:
    def mutate(s: Sub) -> None:
        [ig] = s.define(part).xpath(f"//odm:ItemGroupDef[@Name='{group}']", namespaces=NS)
        ig.set("Repeating", value)

    return mutate


def _adlb_second_baseline(s: Sub) -> int:
    adlb = s.real.parts["adam"].frames["ADLB"]
    base = adlb[adlb.ABLFL == "Y"].iloc[0]
    return s.row("ADLB", USUBJID=base.USUBJID, PARAMCD=base.PARAMCD, ABLFL=blank)


def _adlb_change(s: Sub) -> int:
    """A post-baseline numeric ADLB record with a change from a non-zero baseline, after day 1."""
    return s.row(
        "ADLB", ABLFL=blank, CHG=lambda c: c.notna(), BASE=lambda c: c.fillna(0) != 0, ADY=lambda c: c > 1
    )


def _base_moved(s: Sub) -> None:
    """BASE, CHG and PCHG of one record moved together: only BASE's source (the baseline AVAL) disagrees."""
    i = _adlb_change(s)
    aval, base = float(s.value("ADLB", i, "AVAL")), float(s.value("ADLB", i, "BASE")) + 1
    s.set("ADLB", i, BASE=base, CHG=aval - base, PCHG=(aval - base) / base * 100)


def _lb_partial_date(s: Sub) -> None:
    """The LB record an ADLB value was taken from dated to the month only (its LBDY dropped with it)."""
    i = s.row("ADLB", SRCDOM="LB", ADT=lambda c: c.notna(), SRCSEQ=lambda c: c.notna())
    subject, seq = s.value("ADLB", i, "USUBJID"), s.value("ADLB", i, "SRCSEQ")
    j = s.row("LB", USUBJID=subject, LBSEQ=seq)
    s.set("LB", j, LBDTC=str(s.value("LB", j, "LBDTC"))[:7], LBDY=np.nan)


def _adlb_second_analysis_record(s: Sub) -> None:
    adlb = s.frame("ADLB")
    extra = adlb.iloc[[s.row("ADLB", ANL01FL="Y", ABLFL=blank, ADY=lambda c: c > 1)]].copy()
    extra["ASEQ"] = float(adlb["ASEQ"].max()) + 1
    s.put("ADLB", pd.concat([adlb, extra], ignore_index=True))


def _screen_failure(s: Sub) -> str:
    dm = s.real.parts["sdtm"].frames["DM"]
    return str(dm[dm.ARMNRS == "SCREEN FAILURE"].USUBJID.iloc[0])


def _dead(s: Sub) -> int:
    return s.row("DM", DTHFL="Y")


def _drop_dm_subject(s: Sub) -> None:
    dm = s.frame("DM")
    s.put("DM", dm[dm.USUBJID != _subject_with_everything(s)].reset_index(drop=True))


def _subject_with_everything(s: Sub) -> str:
    return str(s.real.parts["adam"].frames["ADTTE"].USUBJID.iloc[0])


D = Defect
KEYSET_SDTM = {
    "AE",
    "CM",
    "DD",
    "DS",
    "RELREC",
    "EC",
    "EX",
    "LB",
    "MH",
    "PR",
    "QS",
    "RS",
    "SE",
    "SS",
    "SV",
    "VS",
} | {
    "SUPPAE",
    "SUPPCM",
    "SUPPDM",
    "SUPPRS",
    "SUPPSS",
}
KEYSET_ADAM = {"ADSL", "ADAE", "ADEX", "ADLB", "ADQS", "ADRS", "ADTTE"}

DEFECTS: list[Defect] = [
    # --- structure and metadata
    D(
        "required-variable-missing",
        drop_column("DS", "DSDECOD"),
        "CDG0101",
        {"DS"},
        {"DSDECOD"},
        frozenset({"CDG1303"}),
    ),
    D(
        "expected-variable-missing",
        drop_column("LB", "LBSTRESU"),
        "CDG0102",
        {"LB"},
        {"LBSTRESU"},
        frozenset({"CDG1303", "CDG2411"}),  # LB keeps LBORRESU and LBSTRESC without a standard unit
    ),
    D(
        "variables-out-of-order",
        lambda s: s.put("LB", s.frame("LB")[_swapped(s.frame("LB"), "LBTESTCD", "LBTEST")]),
        "CDG0103",
        {"LB"},
        {"LBTEST"},
    ),
    D(
        "variable-not-in-spec",
        _add_column("DM", "DISSTAGE", "II", "Disease Stage"),
        "CDG0104",
        {"DM"},
        {"DISSTAGE"},
        frozenset({"CDG1303"}),
    ),
    D(
        "label-differs-from-spec",
        lambda s: s.meta_var("LB", "LBTEST", label="Lab Test"),
        "CDG0105",
        {"LB"},
        {"LBTEST"},
        frozenset({"CDG1305"}),
    ),
    D("seq-stored-as-text", _char_lbseq, "CDG0106", {"LB"}, {"LBSEQ"}, frozenset({"CDG1307", "CDG1304"})),
    D("length-differs-from-spec", _spec_length, "CDG0107", {"LB"}, {"USUBJID"}),
    D(
        "length-longer-than-values",
        lambda s: s.meta_var("LB", "LBTESTCD", length=40),
        "CDG0108",
        {"LB"},
        {"LBTESTCD"},
        frozenset({"CDG1304"}),
    ),
    D(
        "dataset-label-differs",
        lambda s: s.parts["sdtm"].meta.__setitem__("LB", dataclasses.replace(s.meta("LB"), label="Labs")),
        "CDG0109",
        {"LB"},
        {None},
        frozenset({"CDG1305"}),
    ),
    D("required-value-null", lb_set("LBTEST", lambda s, i: ""), "CDG0110", {"LB"}, {"LBTEST"}),
    D("dataset-not-in-spec", _extra_dataset, "CDG0111", {"XY"}, None, frozenset({"CDG1302"})),
    # --- XPT v5
    D(
        "variable-name-over-8",
        _add_column("ADSL", "TRTDURATN", "1", "Treatment Duration"),
        "CDG0201",
        {"ADSL"},
        {"TRTDURATN"},
        frozenset({"CDG0104", "CDG1303"}),
    ),
    D(
        "label-over-40",
        lambda s: s.meta_var("LB", "LBTESTCD", label="Lab Test or Examination Short Name, Coded"),
        "CDG0202",
        {"LB"},
        {"LBTESTCD"},
        frozenset({"CDG0105", "CDG1305"}),
    ),
    D(
        "value-over-200-bytes",
        set_row("TS", first("TS", TSPARMCD="TITLE"), TSVAL="x" * 201),
        "CDG0203",
        {"TS"},
        {"TSVAL"},
    ),
    D(
        "non-ascii-value",
        set_row("TS", first("TS", TSPARMCD="INDIC"), TSVAL="Amyloidosis \u2013 AL"),
        "CDG0204",
        {"TS"},
        {"TSVAL"},
    ),
    D(
        "file-unreadable",
        lambda s: _reread(s, "sdtm", "TI", _truncate),
        "CDG0002",
        {"TI"},
        {None},
        frozenset({"CDG1302"}),
    ),
    D(
        "file-not-ascii",
        lambda s: _reread(s, "sdtm", "TS", _cp1252_apostrophe),
        "CDG0003",
        {"TS"},
        {None, "TSVAL"},
        frozenset({"CDG0204"}),
    ),
    # --- dates
    # a date that is not ISO 8601 is no complete date, so its study day should not be there (CDG2301)
    D(
        "date-not-iso",
        lb_set("LBDTC", lambda s, i: "19JAN2024"),
        "CDG0301",
        {"LB"},
        {"LBDTC", "LBDY"},
        frozenset({"CDG2301"}),
    ),
    D(
        "date-unpadded",
        set_row("QS", first("QS", QSDY=lambda c: c > 1), QSDTC="2024-5-10"),
        "CDG0301",
        {"QS"},
        {"QSDTC", "QSDY"},
        frozenset({"CDG2301"}),
    ),
    D("impossible-date", lb_set("LBDTC", lambda s, i: "2024-02-30T08:30"), "CDG0302", {"LB"}, {"LBDTC"}),
    D(
        "impossible-time",
        lb_set("LBDTC", lambda s, i: str(s.value("LB", i, "LBDTC"))[:10] + "T25:00"),
        "CDG0302",
        {"LB"},
        {"LBDTC"},
    ),
    # the study days follow the dates: EXSTDY after EXENDY too (CDG2308)
    D(
        "end-before-start",
        _ex_end_before_start,
        "CDG0303",
        {"EX"},
        {"EXENDTC", "EXSTDY"},
        frozenset({"CDG2308"}),
    ),
    D(
        "study-day-off-by-one",
        lb_set("LBDY", lambda s, i: float(s.value("LB", i, "LBDY")) + 1),
        "CDG0304",
        {"LB"},
        {"LBDY"},
    ),
    # --- keys and subjects
    D(
        "duplicate-seq",
        lb_set("LBSEQ", lambda s, i: float(s.value("LB", i - 1, "LBSEQ"))),
        "CDG0401",
        {"LB", "ADLB"},
        {"LBSEQ", "SRCSEQ"},
        frozenset({"CDG1121"}),  # the ADLB records taken from the renumbered record lose their source
    ),
    D(
        "duplicate-keys",
        duplicate_row("LB", klcfr_after_day_1, LBSEQ=lambda f: float(f.LBSEQ.max() + 1)),
        "CDG0402",
        {"LB"},
        {None},
    ),
    D(
        "subject-not-in-dm",
        _drop_dm_subject,
        "CDG0501",
        KEYSET_SDTM | KEYSET_ADAM,
        {"USUBJID", "IDVARVAL"},
        frozenset({"CDG1001"}),
    ),
    D(
        "dm-two-records",
        duplicate_row("DM", first("DM", DTHFL=blank)),
        "CDG0502",
        {"DM"},
        {"USUBJID", None},
        frozenset({"CDG0402", "CDG1312"}),  # define.xml says not repeating
    ),
    D(
        "rfxstdtc-not-first-dose",
        set_row(
            "DM",
            first("DM", RFXSTDTC=filled),
            RFXSTDTC=lambda s, i: shift_day(s.value("DM", i, "RFXSTDTC"), 1),
        ),
        "CDG0503",
        {"DM"},
        {"RFXSTDTC"},
    ),
    D(
        "rfxendtc-not-last-dose",
        set_row(
            "DM",
            first("DM", RFXENDTC=filled),
            RFXENDTC=lambda s, i: shift_day(s.value("DM", i, "RFXENDTC"), -1),
        ),
        "CDG0504",
        {"DM"},
        {"RFXENDTC"},
    ),
    D("studyid-differs", lb_set("STUDYID", lambda s, i: "DARPAX"), "CDG0505", {"LB"}, {"STUDYID"}),
    D(
        "domain-differs",
        lb_set("DOMAIN", lambda s, i: "LX"),
        "CDG0506",
        {"LB"},
        {"DOMAIN"},
        frozenset({"CDG0801", "CDG0802", "CDG1306"}),
    ),
    # the subject's DD, DS death and fatal AE records each say the flag should be Y (CDG2002-CDG2005)
    D(
        "death-date-without-flag",
        set_row("DM", _dead, DTHFL=""),
        "CDG0507",
        {"DM"},
        {"DTHFL"},
        frozenset({"CDG2002", "CDG2003", "CDG2004", "CDG2005"}),
    ),
    D(
        "screen-failure-with-arm",
        set_row("DM", first("DM", ARMNRS="SCREEN FAILURE"), ARMCD="DARAPOM"),
        "CDG0508",
        {"DM"},
        {"ARMCD"},
    ),
    # --- findings class
    D("two-lobxfl", set_row("LB", _lobx_pair, LBLOBXFL="Y"), "CDG0601", {"LB"}, {"LBLOBXFL"}),
    D(
        "lobxfl-n",
        lb_set("LBLOBXFL", lambda s, i: "N"),
        "CDG0602",
        {"LB"},
        {"LBLOBXFL"},
        frozenset({"CDG1306"}),
    ),
    D(
        "two-units-for-a-test",
        lb_set("LBSTRESU", lambda s, i: "mg/dL"),
        "CDG0603",
        {"LB"},
        {"LBSTRESU"},
        frozenset({"CDG0802", "CDG1306"}),
    ),
    D(
        "stresn-not-stresc",
        lb_set("LBSTRESN", lambda s, i: float(s.value("LB", i, "LBSTRESN")) * 10),
        "CDG0604",
        {"LB"},
        {"LBSTRESN"},
    ),
    D(
        "stresc-missing",
        set_row("LB", first("LB", LBTESTCD="MCPROT", LBORRES=filled), LBSTRESC=""),
        "CDG0605",
        {"LB"},
        {"LBSTRESC", "LBSTRESN"},
        frozenset({"CDG0604", "CDG2109"}),  # LBSTRESU stays: a unit without a result
    ),
    D(
        "testcd-two-names",
        lb_set("LBTEST", lambda s, i: "Lambda Light Chain, Free"),
        "CDG0606",
        {"LB"},
        {"LBTESTCD", "LBTEST"},
    ),
    D(
        "short-name-invalid",
        set_row("SUPPDM", first("SUPPDM", QNAM="INVISO"), QNAM="1INVISO"),
        "CDG0607",
        {"SUPPDM"},
        {"QNAM", "QVAL"},
        # the QLABEL now has two QNAMs; no value-level metadata describes the QVAL of a QNAM 1INVISO
        frozenset({"CDG0801", "CDG0802", "CDG1306", "CDG2513", "CDG1311"}),
    ),
    D("epoch-missing", lb_set("EPOCH", lambda s, i: ""), "CDG0701", {"LB"}, {"EPOCH"}),
    # --- controlled terminology
    D(
        "non-extensible-ct",
        set_row("DM", first("DM", SEX="F"), SEX="X"),
        "CDG0801",
        {"DM"},
        {"SEX"},
        frozenset({"CDG1306"}),
    ),
    D(
        "extensible-ct",
        set_row("LB", first("LB", LBSPEC="SERUM"), LBSPEC="SALIVA"),
        "CDG0802",
        {"LB"},
        None,  # LBSPEC, and the results value-level metadata describe per test and specimen
        frozenset({"CDG1306", "CDG1311"}),
    ),
    # no CDG0803 defect: see test_validate_defects (DarPAL's closed codelists hold conventions only)
    # --- TS
    D(
        "ts-parameter-missing",
        drop_rows("TS", lambda f: f.TSPARMCD == "SSTDTC"),
        "CDG0901",
        {"TS"},
        {"TSPARMCD", "TSVAL"},
        frozenset({"CDG0010"}),  # FDA technical rejection criterion 1734 too
    ),
    D(
        "ts-value-and-null-flavor-missing",
        set_row("TS", first("TS", TSPARMCD="AGEMAX"), TSVALNF=""),
        "CDG0902",
        {"TS"},
        {"TSVAL", "TSVALNF"},
        frozenset({"CDG0108"}),
    ),
    D(
        "ts-date-not-iso",
        set_row("TS", first("TS", TSPARMCD="SSTDTC"), TSVAL="01JAN2024"),
        "CDG0903",
        {"TS"},
        {"TSVAL"},
        frozenset({"CDG0010"}),
    ),
    # --- SUPP--
    D(
        "supp-parent-missing",
        set_row("SUPPRS", first("SUPPRS", IDVAR="RSSEQ"), IDVARVAL="9999"),
        "CDG1001",
        {"SUPPRS"},
        {"IDVARVAL"},
    ),
    D(
        "supp-duplicate-qnam",
        duplicate_row("SUPPDM", first("SUPPDM", QNAM="INVISO")),
        "CDG1002",
        {"SUPPDM"},
        {"QNAM", None},
        frozenset({"CDG0402"}),
    ),
    # --- ADaM
    D(
        "adsl-two-records",
        duplicate_row("ADSL", first("ADSL", SAFFL="Y")),
        "CDG1101",
        {"ADSL"},
        {"USUBJID", None},
        frozenset({"CDG0402", "CDG1312"}),  # define.xml says not repeating
    ),
    D(
        "adam-subject-not-in-adsl",
        set_row("ADRS", first("ADRS", PARAMCD="BOR"), USUBJID=lambda s, i: _screen_failure(s)),
        "CDG1102",
        {"ADRS"},
        {"USUBJID", None},
    ),
    D(
        "paramcd-two-params",
        set_row("ADRS", first("ADRS", PARAMCD="BOR"), PARAM="Best Response"),
        "CDG1103",
        {"ADRS"},
        {"PARAMCD", "PARAM"},
        frozenset({"CDG0801", "CDG0802", "CDG1306"}),
    ),
    D(
        "aval-avalc-not-one-to-one",
        set_row(
            "ADRS",
            first("ADRS", PARAMCD="BOR", AVAL=lambda c: c.notna()),
            AVAL=lambda s, i: float(s.value("ADRS", i, "AVAL")) + 10,
        ),
        "CDG1104",
        {"ADRS"},
        {"AVALC", "AVAL"},
    ),
    D(
        "cnsr-not-declared",
        set_row("ADTTE", first("ADTTE", CNSR=1.0), CNSR=5.0),
        "CDG1105",
        {"ADTTE"},
        {"CNSR"},
        frozenset({"CDG0802", "CDG1306"}),
    ),
    D(
        "negative-time-to-event",
        set_row("ADTTE", first("ADTTE", PARAMCD="OS"), AVAL=-5.0),
        "CDG1106",
        {"ADTTE"},
        {"AVAL"},
        frozenset({"CDG1118"}),  # AVAL no longer ADT - STARTDT + 1
    ),
    D(
        "adt-before-startdt",
        set_row(
            "ADTTE", first("ADTTE", PARAMCD="OS"), ADT=lambda s, i: float(s.value("ADTTE", i, "STARTDT")) - 3
        ),
        "CDG1107",
        {"ADTTE"},
        {"ADT", "AVAL"},
        frozenset({"CDG1118"}),  # AVAL no longer ADT - STARTDT + 1
    ),
    D(
        "population-flag-null",
        set_row("ADSL", first("ADSL", SAFFL="Y"), SAFFL=""),
        "CDG1108",
        {"ADSL", "ADAE", "ADEX", "ADLB", "ADQS", "ADRS", "ADTTE"},
        {"SAFFL"},
        frozenset({"CDG1126"}),  # the other datasets keep the subject's former SAFFL
    ),
    D(
        "record-flag-n",
        set_row("ADRS", first("ADRS", ANL01FL="Y"), ANL01FL="N"),
        "CDG1109",
        {"ADRS"},
        {"ANL01FL"},
    ),
    D("two-baselines", set_row("ADLB", _adlb_second_baseline, ABLFL="Y"), "CDG1110", {"ADLB"}, {"ABLFL"}),
    D(
        "treatment-end-before-start",
        set_row(
            "ADSL",
            first("ADSL", TRTSDT=lambda c: c.notna()),
            TRTEDT=lambda s, i: float(s.value("ADSL", i, "TRTSDT")) - 7,
        ),
        "CDG1111",
        {"ADSL", "ADAE", "ADEX"},
        {"TRTEDT"},
        frozenset({"CDG1126"}),  # ADAE and ADEX keep the subject's former TRTEDT
    ),
    D(
        "adam-date-as-text",
        _char_adt,
        "CDG1112",
        {"ADTTE"},
        {"ADT"},
        frozenset({"CDG0106", "CDG1307", "CDG1304"}),
    ),
    D(
        "chg-not-aval-minus-base",
        set_row("ADLB", _adlb_change, CHG=lambda s, i: float(s.value("ADLB", i, "CHG")) + 1),
        "CDG1113",
        {"ADLB"},
        {"CHG"},
    ),
    D(
        "pchg-holds-chg",
        set_row("ADLB", _adlb_change, PCHG=lambda s, i: float(s.value("ADLB", i, "CHG")) + 0.5),
        "CDG1114",
        {"ADLB"},
        {"PCHG"},
    ),
    D("base-not-the-baseline-aval", _base_moved, "CDG1115", {"ADLB"}, {"BASE"}),
    D(
        "basec-not-the-baseline-avalc",
        set_row("ADLB", first("ADLB", BASEC="POSITIVE", ABLFL=blank), BASEC="NEGATIVE"),
        "CDG1116",
        {"ADLB"},
        {"BASEC"},
    ),
    D(
        "ady-off-by-one",
        set_row("ADLB", _adlb_change, ADY=lambda s, i: float(s.value("ADLB", i, "ADY")) - 1),
        "CDG1117",
        {"ADLB"},
        {"ADY"},
    ),
    D(
        "time-to-event-without-the-plus-one",
        set_row(
            "ADTTE",
            first("ADTTE", AVAL=lambda c: c > 2),
            AVAL=lambda s, i: float(s.value("ADTTE", i, "AVAL")) - 1,
        ),
        "CDG1118",
        {"ADTTE"},
        {"AVAL"},
    ),
    D(
        "srcdom-not-submitted",
        set_row("ADLB", first("ADLB", SRCDOM="LB"), SRCDOM="LX"),
        "CDG1119",
        {"ADLB"},
        {"SRCDOM"},
        frozenset({"CDG0801", "CDG0802", "CDG1306"}),
    ),
    D(
        "srcvar-not-in-srcdom",
        set_row("ADLB", first("ADLB", SRCVAR="LBSTRESN"), SRCVAR="LBSTRESX"),
        "CDG1120",
        {"ADLB"},
        {"SRCVAR"},
        frozenset({"CDG0801", "CDG0802", "CDG1306"}),
    ),
    D(
        "srcseq-points-at-no-record",
        set_row("ADLB", first("ADLB", SRCDOM="LB"), SRCSEQ=99999.0),
        "CDG1121",
        {"ADLB"},
        {"SRCSEQ"},
    ),
    D(
        "date-flag-without-date",
        set_row("ADSL", first("ADSL", DTHDT=lambda c: c.isna()), DTHDTF="D"),
        "CDG1122",
        {"ADSL"},
        {"DTHDTF"},
    ),
    D(
        "date-flag-not-datefl",
        set_row("ADSL", first("ADSL", DTHDTF="M"), DTHDTF="X"),
        "CDG1123",
        {"ADSL"},
        {"DTHDTF"},
        frozenset({"CDG0801", "CDG0802", "CDG1306"}),
    ),
    D("imputed-date-without-flag", _lb_partial_date, "CDG1124", {"ADLB"}, {"ADT"}),
    D(
        "two-analysis-records-in-a-window",
        _adlb_second_analysis_record,
        "CDG1125",
        {"ADLB"},
        {"ANL01FL", None},
        frozenset({"CDG0402"}),  # the copy repeats the dataset keys
    ),
    D(
        "adsl-value-changed-in-adlb",
        set_row("ADLB", first("ADLB", SAFFL="Y"), SAFFL="N"),
        "CDG1126",
        {"ADLB"},
        {"SAFFL"},
    ),
    # --- define.xml
    D("define-not-schema-valid", _define_schema, "CDG1301", {None}, {None}),
    D("define-dataset-not-described", _define_drop_group, "CDG1302", {"TI", "TX"}, {None}),
    D("define-variable-not-described", _define_drop_itemref, "CDG1303", {"LB"}, {"LBREFID"}),
    D("define-length-differs", _define_length, "CDG1304", {"LB"}, {"LBTESTCD"}),
    D("define-label-differs", _define_label, "CDG1305", {"LB"}, {"LBTEST"}),
    D("define-codelist-lacks-value", _define_codelist, "CDG1306", {"LB"}, {"LBNRIND"}),
    D("define-type-differs", _define_type, "CDG1307", {"ADSL"}, {"AGE"}, frozenset({"CDG1304"})),
    D("define-has-no-data-on-data", _define_has_no_data_on_data, "CDG1308", {"LB"}, {"LBREFID"}),
    D("define-empty-variable-not-marked", _define_empty_not_marked, "CDG1308", {"SV"}, {"SVUPDES"}),
    D("define-derived-without-method", _define_derived_without_method, "CDG1309", {"LB"}, {"LBSEQ"}),
    D("define-leaf-misspelled", _define_leaf_misspelled, "CDG1310", {None}, {None}),
    D("define-value-list-lacks-a-test", _define_value_list_lacks_a_test, "CDG1311", {"LB"}, {"LBORRES"}),
    D(
        "define-value-level-derived-without-method",
        _define_value_level_derived_without_method,
        "CDG1309",
        {"LB"},
        {"LBSTRESC"},
    ),
    D("define-adsl-repeating", _repeating("adam", "ADSL", "Yes"), "CDG1312", {"ADSL"}, {None}),
    D("define-lb-not-repeating", _repeating("sdtm", "LB", "No"), "CDG1312", {"LB"}, {None}),
]


def _swapped(frame: pd.DataFrame, a: str, b: str) -> list[str]:
    cols = list(frame.columns)
    i, j = cols.index(a), cols.index(b)
    cols[i], cols[j] = cols[j], cols[i]
    return cols


# ------------------------------------------------------------------------------------------------ tests


def test_the_catalog_of_defects_is_broad():
    assert len(DEFECTS) >= 40
    assert len({d.id for d in DEFECTS}) == len(DEFECTS)
    assert len({d.code for d in DEFECTS}) >= 55


def test_baseline_is_the_full_run(real):
    # the reuse in validate_sub is exact: baseline define findings split per folder add up to the full run
    assert not [f for f in real.baseline if f.code in {"CDG0001", "CDG0002", "CDG0003"}]
    split = [f for f in real.baseline if f.code not in DEFINE_CODES]
    split += [f for fs in real.define_findings.values() for f in fs] + real.schema_findings
    assert Counter(map(_key, split)) == Counter(map(_key, real.baseline))


def test_baseline_has_no_error(real):
    errors = [str(f) for f in real.baseline if f.severity >= Severity.ERROR]
    assert errors == [], (
        "the clean pipeline output has conformance errors (other engineers are fixing the remaining "
        "baseline findings; the defect tests below compare against this baseline and do not need it empty)"
    )


@pytest.mark.parametrize("defect", DEFECTS, ids=lambda d: d.id)
def test_defect_in_real_output_is_caught_by_its_rule_only(real, defect, tmp_path):
    sub = Sub(real, tmp_path)
    defect.mutate(sub)
    sub.finish()
    found = validate_sub(sub)
    new = list((Counter(map(_key, found)) - Counter(map(_key, real.baseline))).elements())
    assert any(k[0] == defect.code for k in new), f"{defect.code} did not fire; new findings: {new}"
    allowed = {defect.code} | set(defect.also)
    for code, dataset, variable, *_ in new:
        assert code in allowed, f"unexpected rule {code} on {dataset}.{variable}: {new}"
        assert dataset in defect.datasets, f"finding on unrelated dataset {dataset}: {new}"
        if defect.variables is not None:
            assert variable in defect.variables, f"finding on unrelated variable {dataset}.{variable}: {new}"
