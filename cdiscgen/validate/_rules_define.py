"""define.xml rules: schema validity and agreement between define.xml and the datasets."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from lxml import etree
from pandas.api.types import is_numeric_dtype

from cdiscgen._findings import Finding, Severity
from cdiscgen.validate._context import ValidationContext
from cdiscgen.validate._registry import Rule, Scope, rule

log = logging.getLogger(__name__)

ODM = "http://www.cdisc.org/ns/odm/v1.3"
DEF21 = "http://www.cdisc.org/ns/def/v2.1"
ARM = "http://www.cdisc.org/ns/arm/v1.0"
NS = {"odm": ODM, "def": DEF21}
NUMERIC_TYPES = frozenset({"integer", "float"})


@dataclass
class _Item:
    name: str
    data_type: str
    length: int | None
    label: str
    codelist: str | None
    line: int | None


@dataclass
class _Group:
    name: str
    label: str
    items: list[_Item]
    line: int | None


@dataclass
class _Define:
    """What the rules need from a define.xml, with source lines for findings."""

    path: Path
    file: str
    groups: dict[str, _Group] = field(default_factory=dict)
    codelists: dict[str, set[str]] = field(default_factory=dict)
    codelist_names: dict[str, str] = field(default_factory=dict)
    tree: etree._ElementTree | None = None
    problem: str | None = None
    problem_line: int | None = None
    is_21: bool = False


def _text_of(elem: etree._Element | None) -> str:
    if elem is None:
        return ""
    tt = elem.find("odm:Description/odm:TranslatedText", NS)
    return (tt.text or "").strip() if tt is not None else ""


def _entity_problem(tree: etree._ElementTree) -> tuple[str, int | None] | None:
    """An entity declared in a DOCTYPE or referenced in the document: never resolved (it may name a local
    file or a URL), so the text it stands for is unknown and the define is not read further."""
    dtd = tree.docinfo.internalDTD
    declared = [
        f"{e.name} ({'SYSTEM ' + repr(e.system_url) if e.system_url else repr(e.content)})"
        for e in (dtd.iterentities() if dtd is not None else ())
    ]
    used = list(tree.getroot().iter(etree.Entity))
    if not declared and not used:
        return None
    what = f"declares entity {', '.join(declared)}" if declared else "refers to an undeclared entity"
    where = f"; &{used[0].name}; at line {used[0].sourceline}" if used else ""
    message = (
        f"define.xml {what}{where}: entities are not resolved (Define-XML 2.1 uses no DTD), so the text they "
        "stand for is unknown; remove the DOCTYPE and the references"
    )
    return message, used[0].sourceline if used else 1


def _load_define(ctx: ValidationContext) -> _Define | None:
    if ctx.define_path is None:
        return None
    ctx.define_read = True
    if "define" in ctx.cache:
        return ctx.cache["define"]
    path = Path(ctx.define_path)
    out = _Define(path=path, file=path.name)
    try:
        tree = etree.parse(
            str(path), etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
        )
    except (OSError, etree.XMLSyntaxError) as exc:
        out.problem = f"define.xml cannot be read: {exc}"
        out.problem_line = getattr(exc, "lineno", None)
        ctx.cache["define"] = out
        return out
    entities = _entity_problem(tree)
    if entities is not None:
        out.problem, out.problem_line = entities
        ctx.cache["define"] = out
        return out
    out.tree = tree
    root = tree.getroot()
    out.is_21 = root.tag == f"{{{ODM}}}ODM" and DEF21 in set(root.nsmap.values())
    if not out.is_21:
        out.problem = "define.xml is not Define-XML 2.1 (no def/v2.1 namespace on an ODM root)"
        out.problem_line = root.sourceline
        ctx.cache["define"] = out
        return out
    mdv = root.find("odm:Study/odm:MetaDataVersion", NS)
    items: dict[str, _Item] = {}
    for it in mdv.iterfind("odm:ItemDef", NS) if mdv is not None else []:
        length = it.get("Length")
        cl = it.find("odm:CodeListRef", NS)
        items[it.get("OID", "")] = _Item(
            name=it.get("Name", ""),
            data_type=it.get("DataType", ""),
            length=int(length) if length and length.isdigit() else None,
            label=_text_of(it),
            codelist=cl.get("CodeListOID") if cl is not None else None,
            line=it.sourceline,
        )
    for ig in mdv.iterfind("odm:ItemGroupDef", NS) if mdv is not None else []:
        refs = [items[r.get("ItemOID")] for r in ig.iterfind("odm:ItemRef", NS) if r.get("ItemOID") in items]
        name = ig.get("Name", "")
        out.groups[name.upper()] = _Group(name=name, label=_text_of(ig), items=refs, line=ig.sourceline)
    for cl in mdv.iterfind("odm:CodeList", NS) if mdv is not None else []:
        if cl.find("odm:ExternalCodeList", NS) is not None:
            continue  # e.g. MedDRA, ISO 3166: the values are not listed in define.xml
        values = {
            e.get("CodedValue", "")
            for e in cl
            if etree.QName(e).localname in {"CodeListItem", "EnumeratedItem"}
        }
        out.codelists[cl.get("OID", "")] = values
        out.codelist_names[cl.get("OID", "")] = cl.get("Name", "")
    ctx.cache["define"] = out
    return out


def _schema_dir() -> Path:
    return Path(str(resources.files("defineutils"))) / "validate" / "schema"


@lru_cache(maxsize=2)
def _schema(entry: str) -> etree.XMLSchema:
    """The Define-XML 2.1 schema shipped by defineutils (the ARM entry point when a define has ARM)."""
    path = _schema_dir() / entry
    return etree.XMLSchema(etree.parse(str(path)))


@rule(
    "CDG1301",
    "define.xml is not schema-valid Define-XML 2.1",
    severity=Severity.ERROR,
    scope=Scope.DEFINE,
    reference="Define-XML 2.1 specification section 2 (define2-1-0.xsd; arm1-0-0.xsd with Analysis Results Metadata)",
)
def check_define_schema(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """define.xml parses and validates against the Define-XML 2.1 schema (the ARM 1.0 entry schema
    when it holds Analysis Results Metadata). One finding per schema error, with its line.

    Bad: def:Standard Name="STDTMIG" (not in the enumeration of standard names).
    Good: def:Standard Name="SDTMIG".
    """
    d = _load_define(ctx)
    if d is None:
        return
    if d.problem:
        yield rule.finding(d.problem, file=d.file, line=d.problem_line)
        return
    root = d.tree.getroot()  # type: ignore[union-attr]
    has_arm = ARM in set(root.nsmap.values()) or root.find(f".//{{{ARM}}}AnalysisResultDisplays") is not None
    entry = "cdisc-arm-1.0/arm1-0-0.xsd" if has_arm else "cdisc-define-2.1/define2-1-0.xsd"
    schema = _schema(entry)
    if schema.validate(d.tree):
        return
    for err in schema.error_log:
        yield rule.finding(f"schema {Path(entry).name}: {err.message}", file=d.file, line=err.line)


@rule(
    "CDG1302",
    "Dataset and define.xml disagree on datasets",
    severity=Severity.ERROR,
    scope=Scope.DEFINE,
    reference="Define-XML 2.1 section 5.3.4 (ItemGroupDef per dataset); FDA Technical Conformance Guide section 4.1.4.5",
)
def check_define_datasets(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Every dataset validated has an ItemGroupDef in define.xml (error); every ItemGroupDef has a
    dataset in the folder (warning: described but not submitted).

    Bad: lb.xpt in the folder and no ItemGroupDef Name="LB".
    Good: one ItemGroupDef per dataset, named as the file.
    """
    d = _load_define(ctx)
    if d is None or d.problem:
        return
    for name in ctx.names():
        if name not in d.groups:
            yield rule.finding(f"{name} is not described in define.xml", dataset=name, file=d.file)
    for key, group in sorted(d.groups.items()):
        if key not in ctx.datasets:
            yield rule.finding(
                f"define.xml describes {group.name} but there is no such dataset",
                dataset=key,
                file=d.file,
                line=group.line,
                severity=Severity.WARNING,
            )


@rule(
    "CDG1303",
    "Dataset and define.xml disagree on variables",
    severity=Severity.ERROR,
    scope=Scope.DEFINE,
    reference="Define-XML 2.1 section 5.3.4.1 (ItemRef per variable); Pinnacle 21 DD0001-like",
)
def check_define_variables(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Every variable of a dataset has an ItemRef in its ItemGroupDef, and every ItemRef names a
    variable of the dataset.

    Bad: LB has LBREFID and define.xml's LB has no ItemRef for it.
    Good: the same variables in both.
    """
    d = _load_define(ctx)
    if d is None or d.problem:
        return
    for name in ctx.names():
        group = d.groups.get(name)
        if group is None:
            continue
        declared = {i.name for i in group.items}
        cols = [str(c) for c in ctx.datasets[name].columns]
        for col in cols:
            if col not in declared:
                yield rule.finding(
                    f"{col} is not in define.xml's {group.name}",
                    dataset=name,
                    variable=col,
                    file=d.file,
                    line=group.line,
                )
        for item in group.items:
            if item.name not in cols:
                yield rule.finding(
                    f"define.xml lists {item.name} but {name} has no such variable",
                    dataset=name,
                    variable=item.name,
                    file=d.file,
                    line=item.line,
                )


@rule(
    "CDG1304",
    "Length differs from define.xml",
    severity=Severity.ERROR,
    scope=Scope.DEFINE,
    reference="Define-XML 2.1 section 5.3.6 (ItemDef Length = the SAS length); FDA Technical Conformance Guide 4.1.4.5",
)
def check_define_lengths(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """A character variable's Length in define.xml equals its length in the transport file.

    Bad: USUBJID Length="20" in define.xml and length 8 in dm.xpt.
    Good: both 8.
    """
    d = _load_define(ctx)
    if d is None or d.problem:
        return
    for name in ctx.names():
        group, meta = d.groups.get(name), ctx.meta_variables(name)
        if group is None or not meta:
            continue
        for item in group.items:
            m = meta.get(item.name)
            if m is None or m.type != "char" or item.length is None or m.length is None:
                continue
            if m.length != item.length:
                yield rule.finding(
                    f"{item.name} has length {m.length}; define.xml says {item.length}",
                    dataset=name,
                    variable=item.name,
                    value=m.length,
                    expected=item.length,
                    file=d.file,
                    line=item.line,
                )


@rule(
    "CDG1305",
    "Label differs from define.xml",
    severity=Severity.WARNING,
    scope=Scope.DEFINE,
    reference="Define-XML 2.1 sections 5.3.4 and 5.3.6 (Description = dataset/variable label)",
)
def check_define_labels(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Dataset and variable labels in the transport file equal the Descriptions in define.xml.

    Bad: LBTESTCD labelled "Lab Test Code" in lb.xpt, "Lab Test or Examination Short Name" in define.xml.
    Good: the same text in both.
    """
    d = _load_define(ctx)
    if d is None or d.problem:
        return
    for name in ctx.names():
        group, meta = d.groups.get(name), ctx.meta.get(name)
        if group is None or meta is None:
            continue
        if group.label and (meta.label or "") != group.label:
            yield rule.finding(
                f"dataset label {meta.label!r} differs from define.xml",
                dataset=name,
                value=meta.label,
                expected=group.label,
                file=d.file,
                line=group.line,
            )
        labels = {v.name: v.label for v in meta.variables}
        for item in group.items:
            if item.name in labels and item.label and labels[item.name] != item.label:
                yield rule.finding(
                    f"label of {item.name} differs from define.xml",
                    dataset=name,
                    variable=item.name,
                    value=labels[item.name],
                    expected=item.label,
                    file=d.file,
                    line=item.line,
                )


@rule(
    "CDG1306",
    "Value not listed in the define.xml codelist",
    severity=Severity.ERROR,
    scope=Scope.DEFINE,
    reference="Define-XML 2.1 section 5.3.7 (CodeList; extended terms marked def:ExtendedValue); Pinnacle 21 CT2002/DD0024-like",
)
def check_define_codelists(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """A value of a variable whose ItemDef refers to a CodeList is one of that CodeList's coded values.

    Bad: LBNRIND "HIGH" when define.xml's codelist for LBNRIND lists only LOW and NORMAL.
    Good: every LBNRIND value listed (sponsor terms as def:ExtendedValue="Yes").
    """
    d = _load_define(ctx)
    if d is None or d.problem:
        return
    for name in ctx.names():
        group = d.groups.get(name)
        if group is None:
            continue
        for item in group.items:
            if (
                not item.codelist
                or item.name not in ctx.datasets[name].columns
                or item.codelist not in d.codelists
            ):
                continue
            v = ctx.text(name, item.name)
            bad = (v.notna() & ~v.isin(d.codelists[item.codelist])).to_numpy(dtype=bool)
            yield from (
                _with_file(f, d.file, item.line)
                for f in ctx.findings_where(
                    rule,
                    name,
                    bad,
                    f"{item.name} value is not in define.xml codelist "
                    f"{item.codelist} ({d.codelist_names[item.codelist]})",
                    variable=item.name,
                    expected=f"codelist {item.codelist}",
                )
            )


@rule(
    "CDG1307",
    "Data type differs from define.xml",
    severity=Severity.ERROR,
    scope=Scope.DEFINE,
    reference="Define-XML 2.1 section 5.3.6 (ItemDef DataType)",
)
def check_define_types(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """A variable declared integer or float in define.xml is numeric in the dataset; every other
    DataType (text, date, datetime, ...) is character.

    Bad: AGE DataType="integer" in define.xml, stored as character.
    Good: AGE numeric.
    """
    d = _load_define(ctx)
    if d is None or d.problem:
        return
    for name in ctx.names():
        group = d.groups.get(name)
        if group is None:
            continue
        frame, meta = ctx.datasets[name], ctx.meta_variables(name)
        for item in group.items:
            if item.name not in frame.columns:
                continue
            stored = (
                meta[item.name].type
                if item.name in meta
                else ("num" if is_numeric_dtype(frame[item.name]) else "char")
            )
            wanted = "num" if item.data_type in NUMERIC_TYPES else "char"
            if stored != wanted:
                yield rule.finding(
                    f"{item.name} is {stored}; define.xml DataType {item.data_type}",
                    dataset=name,
                    variable=item.name,
                    value=stored,
                    expected=wanted,
                    file=d.file,
                    line=item.line,
                )


def _with_file(f: Finding, file: str, line: int | None) -> Finding:
    from dataclasses import replace

    return replace(f, file=file, line=line)
