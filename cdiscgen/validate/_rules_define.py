"""define.xml rules: schema validity and agreement between define.xml and the datasets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from lxml import etree
from pandas.api.types import is_numeric_dtype

from cdiscgen._arrowtext import is_among
from cdiscgen._findings import Finding, Severity
from cdiscgen._specs import is_one_record_per_subject
from cdiscgen.validate._context import ValidationContext
from cdiscgen.validate._registry import Partition, Rule, Scope, rule

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
    key = ("define", str(ctx.define_path))  # the cache may serve contexts of several folders
    if key in ctx.cache:
        return ctx.cache[key]
    path = Path(ctx.define_path)
    out = _Define(path=path, file=path.name)
    try:
        tree = etree.parse(
            str(path), etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
        )
    except (OSError, etree.XMLSyntaxError) as exc:
        out.problem = f"define.xml cannot be read: {exc}"
        out.problem_line = getattr(exc, "lineno", None)
        ctx.cache[key] = out
        return out
    entities = _entity_problem(tree)
    if entities is not None:
        out.problem, out.problem_line = entities
        ctx.cache[key] = out
        return out
    out.tree = tree
    root = tree.getroot()
    out.is_21 = root.tag == f"{{{ODM}}}ODM" and DEF21 in set(root.nsmap.values())
    if not out.is_21:
        out.problem = "define.xml is not Define-XML 2.1 (no def/v2.1 namespace on an ODM root)"
        out.problem_line = root.sourceline
        ctx.cache[key] = out
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
    ctx.cache[key] = out
    return out


@rule(
    "CDG1301",
    "define.xml is not schema-valid Define-XML 2.1",
    severity=Severity.ERROR,
    scope=Scope.DEFINE,
    reference="Define-XML 2.1 specification section 2 (define2-1-0.xsd; arm1-0-0.xsd with Analysis Results Metadata)",
    partition=Partition.SUBJECT,
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
    from define._validate import define_schema

    entry, schema = define_schema(has_arm)
    if schema.validate(d.tree):
        return
    for err in schema.error_log:
        yield rule.finding(f"schema {entry}: {err.message}", file=d.file, line=err.line)


@rule(
    "CDG1302",
    "Dataset and define.xml disagree on datasets",
    severity=Severity.ERROR,
    scope=Scope.DEFINE,
    reference="Define-XML 2.1 section 5.3.4 (ItemGroupDef per dataset); FDA Technical Conformance Guide section 4.1.4.5",
    partition=Partition.SUBJECT,
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
    partition=Partition.SUBJECT,
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
    partition=Partition.SUBJECT,
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
    partition=Partition.SUBJECT,
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
    partition=Partition.SUBJECT,
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
            listed = d.codelists[item.codelist]
            if ctx.distinct(name, item.name) <= listed:
                continue  # every value listed: no record to look at
            v = ctx.text(name, item.name)
            bad = v.notna().to_numpy(dtype=bool) & ~is_among(v, listed)
            yield from ctx.findings_where(
                rule,
                name,
                bad,
                f"{item.name} value is not in define.xml codelist {item.codelist} "
                f"({d.codelist_names[item.codelist]})",
                variable=item.name,
                expected=f"codelist {item.codelist}",
                file=d.file,
                line=item.line,
            )


@rule(
    "CDG1307",
    "Data type differs from define.xml",
    severity=Severity.ERROR,
    scope=Scope.DEFINE,
    reference="Define-XML 2.1 section 5.3.6 (ItemDef DataType)",
    partition=Partition.SUBJECT,
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


# ------------------------------------------------------------------------- define.xml beyond the ItemDefs

XLINK = "http://www.w3.org/1999/xlink"
_HAS_NO_DATA = f"{{{DEF21}}}HasNoData"
_SUPPORTED_COMPARATORS = frozenset({"EQ", "NE", "IN", "NOTIN"})


def _metadata(d: _Define) -> etree._Element | None:
    return d.tree.getroot().find("odm:Study/odm:MetaDataVersion", NS) if d.tree is not None else None


def _item_defs(mdv: etree._Element) -> dict[str, etree._Element]:
    return {it.get("OID", ""): it for it in mdv.iterfind("odm:ItemDef", NS)}


def _readable(ctx: ValidationContext) -> tuple[_Define, etree._Element] | None:
    """The define.xml and its MetaDataVersion, when there is a readable Define-XML 2.1 (CDG1301 reports
    the rest)."""
    d = _load_define(ctx)
    mdv = _metadata(d) if d is not None and not d.problem else None
    return None if mdv is None else (d, mdv)  # type: ignore[return-value]


def _present_groups(ctx: ValidationContext, mdv: etree._Element) -> Iterator[tuple[str, etree._Element]]:
    """(dataset name, ItemGroupDef) for each ItemGroupDef whose dataset is validated."""
    for ig in mdv.iterfind("odm:ItemGroupDef", NS):
        name = ig.get("Name", "").upper()
        if name in ctx.datasets:
            yield name, ig


def _value_list_owners(
    mdv: etree._Element, items: dict[str, etree._Element]
) -> dict[str, tuple[str, etree._Element]]:
    """ValueListDef OID -> (the dataset whose ItemGroupDef refers to the ItemDef holding that value list,
    that ItemDef)."""
    out = {}
    for ig in mdv.iterfind("odm:ItemGroupDef", NS):
        for ref in ig.iterfind("odm:ItemRef", NS):
            item = items.get(ref.get("ItemOID", ""))
            vlref = item.find("def:ValueListRef", NS) if item is not None else None
            if vlref is not None:
                out[vlref.get("ValueListOID", "")] = (ig.get("Name", "").upper(), item)
    return out


def _all_blank(ctx: ValidationContext, name: str, variable: str) -> bool:
    return bool(ctx.blank(name, variable).all())


def _repeats_a_subject(ctx: ValidationContext, name: str) -> bool:
    return bool(ctx.text(name, "USUBJID").dropna().duplicated().any())


@rule(
    "CDG1308",
    "HasNoData disagrees with the data",
    severity=Severity.ERROR,
    scope=Scope.DEFINE,
    reference="Define-XML 2.1 sections 5.3.4 and 5.3.4.1 (def:HasNoData on ItemGroupDef and ItemRef); "
    "FDA Technical Conformance Guide section 4.1.4.5",
    partition=Partition.SUMMARISED,
)
def check_define_has_no_data(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """def:HasNoData="Yes" marks a variable without a value on any record (ItemRef) or a dataset without
    records (ItemGroupDef), so a reviewer can tell "nothing was collected" from "something was lost". A
    marked variable or dataset that holds data is an error; a variable empty on every record of a dataset
    that has records and is not marked is a warning.

    Bad: ItemRef of CMENDY with def:HasNoData="Yes" while CMENDY holds study days; or AEENRTPT null on every
    record and not marked.
    Good: the mark exactly where the data are empty.
    """
    found = _readable(ctx)
    if found is None:
        return
    d, mdv = found
    items = _item_defs(mdv)
    for name, ig in _present_groups(ctx, mdv):
        frame = ctx.datasets[name]
        records = ctx.across(rule, name, ("records",), partial(len, frame), sum)
        if ig.get(_HAS_NO_DATA) == "Yes" and records:
            message = f"define.xml marks {name} HasNoData but it has {records} record(s)"
            yield rule.finding(message, dataset=name, file=d.file, line=ig.sourceline)
        for ref in ig.iterfind("odm:ItemRef", NS):
            item = items.get(ref.get("ItemOID", ""))
            variable = item.get("Name", "") if item is not None else ""
            if variable not in frame.columns or not records:
                continue
            empty = ctx.across(rule, name, ("empty", variable), partial(_all_blank, ctx, name, variable), all)
            marked = ref.get(_HAS_NO_DATA) == "Yes"
            if marked and not empty:
                yield rule.finding(
                    f"define.xml marks {variable} HasNoData but {name} holds values of it",
                    dataset=name,
                    variable=variable,
                    file=d.file,
                    line=ref.sourceline,
                )
            elif empty and not marked:
                yield rule.finding(
                    f"{variable} is empty on every record of {name} and define.xml does not mark it HasNoData",
                    dataset=name,
                    variable=variable,
                    file=d.file,
                    line=ref.sourceline,
                    severity=Severity.WARNING,
                )


@rule(
    "CDG1309",
    "Origin without what it requires",
    severity=Severity.ERROR,
    scope=Scope.DEFINE,
    reference="Define-XML 2.1 sections 5.3.4.1 (ItemRef MethodOID, required for a Derived origin) and 5.3.6.2 "
    "(def:Origin; a Predecessor origin names its predecessor in Description)",
    partition=Partition.SUBJECT,
)
def check_define_origins(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """A variable (or value-level item) whose origin is Derived refers to the method that derives it
    (ItemRef MethodOID); one whose origin is Predecessor names the variable it is copied from in the
    origin's Description; every ItemDef of a dataset states an origin, unless its value-level metadata does.

    Bad: ADSL.AGE with Origin Type="Predecessor" and no Description; LBSTRESN Derived without MethodOID.
    Good: Origin Type="Predecessor" with Description "DM.AGE"; MethodOID="MT.LBSTRESN".
    """
    found = _readable(ctx)
    if found is None:
        return
    d, mdv = found
    items = _item_defs(mdv)
    # (dataset, ItemGroupDef or ValueListDef, the origin a value-level item without its own takes)
    owners = [(name, ig, None) for name, ig in _present_groups(ctx, mdv)]
    lists = _value_list_owners(mdv, items)
    for vl in mdv.iterfind("def:ValueListDef", NS):
        dataset, parent = lists.get(vl.get("OID", ""), ("", None))
        if dataset in ctx.datasets:
            owners.append((dataset, vl, parent.find("def:Origin", NS)))
    for dataset, owner, inherited in owners:
        for ref in owner.iterfind("odm:ItemRef", NS):
            item = items.get(ref.get("ItemOID", ""))
            if item is None:
                continue
            variable = item.get("Name", "")
            origin = item.find("def:Origin", NS)
            kind = origin.get("Type", "") if origin is not None else ""
            problem = None
            # an ItemDef with value-level metadata may leave its origin to its values, and a value-level item
            # without one takes its variable's (origin and method, checked on the variable)
            if origin is None and inherited is None and item.find("def:ValueListRef", NS) is None:
                problem = f"{variable} ({item.get('OID')}) states no origin"
            elif kind == "Derived" and not ref.get("MethodOID"):
                problem = f"{variable} ({item.get('OID')}) is Derived but its ItemRef names no method"
            elif kind == "Predecessor" and not _text_of(origin):
                problem = (
                    f"{variable} ({item.get('OID')}) is a Predecessor but its origin names no predecessor"
                )
            if problem:
                yield rule.finding(
                    problem, dataset=dataset, variable=variable, file=d.file, line=ref.sourceline
                )


@rule(
    "CDG1310",
    "define.xml points at a file that is not there",
    severity=Severity.ERROR,
    scope=Scope.DEFINE,
    reference="Define-XML 2.1 section 5.3.10 (def:leaf xlink:href, relative to define.xml); FDA Technical "
    "Conformance Guide section 4.1.4.5 (the define's links open the files of the package)",
    partition=Partition.SUBJECT,
)
def check_define_leaves(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Every def:leaf of define.xml (a dataset's transport file, the annotated CRF, the reviewer's guide) names
    a file that exists beside define.xml, spelled as on disk: the reviewer opens them from the define. (A
    dataset the define describes and the folder lacks is CDG1302's.)

    Bad: def:leaf xlink:href="LB.xpt" when the package holds lb.xpt; a link to acrf.pdf that was not copied.
    Good: xlink:href="lb.xpt".
    """
    d = _load_define(ctx)
    if d is None or d.problem or d.tree is None:
        return
    folder = d.path.parent
    present = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    for leaf in d.tree.getroot().iter(f"{{{DEF21}}}leaf"):
        group = leaf.getparent()
        is_dataset = etree.QName(group).localname == "ItemGroupDef"
        dataset = group.get("Name", "").upper() if is_dataset else ""
        if is_dataset and dataset not in ctx.datasets:
            continue  # a dataset described but absent: CDG1302 says so
        href = leaf.get(f"{{{XLINK}}}href", "")
        if href.startswith(("http://", "https://")):
            continue
        if is_dataset and ctx.files.get(dataset):
            here = href == ctx.files[dataset]  # the file the dataset was read from
        else:
            target = folder / href
            here = target.name in present if target.parent == folder else target.is_file()
        if not href or not here:
            yield rule.finding(
                f"def:leaf {leaf.get('ID')} points at {href!r}, which is not in {folder.name or '.'}",
                value=href,
                file=d.file,
                line=leaf.sourceline,
            )


@rule(
    "CDG1311",
    "Record without value-level metadata",
    severity=Severity.WARNING,
    scope=Scope.DEFINE,
    reference="Define-XML 2.1 section 5.3.8 (def:ValueListDef and def:WhereClauseDef); FDA Technical "
    "Conformance Guide section 4.1.4.5 (value-level metadata for each test of a findings domain)",
    partition=Partition.SUBJECT,
)
def check_define_value_lists(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Where a variable has value-level metadata (def:ValueListRef), each record that holds a value of it is
    described by one of its where clauses: a test the define does not describe has no type, unit or
    origin for the reviewer. Where clauses with comparators other than EQ, NE, IN and NOTIN are taken to
    match.

    Bad: LB has LBTESTCD "CYSC" records and VL.LB.LBORRES has where clauses for ALB and CREAT only.
    Good: one where clause per LBTESTCD in the data.
    """
    found = _readable(ctx)
    if found is None:
        return
    d, mdv = found
    items = _item_defs(mdv)
    names = {oid: it.get("Name", "") for oid, it in items.items()}
    wheres = {wc.get("OID", ""): wc for wc in mdv.iterfind("def:WhereClauseDef", NS)}
    lists = {vl.get("OID", ""): vl for vl in mdv.iterfind("def:ValueListDef", NS)}
    for name, ig in _present_groups(ctx, mdv):
        for ref in ig.iterfind("odm:ItemRef", NS):
            item = items.get(ref.get("ItemOID", ""))
            vlref = item.find("def:ValueListRef", NS) if item is not None else None
            vl = lists.get(vlref.get("ValueListOID", "")) if vlref is not None else None
            variable = item.get("Name", "") if item is not None else ""
            if vl is None or variable not in ctx.datasets[name].columns:
                continue
            clauses = [
                [rc for rc in wheres[w.get("WhereClauseOID", "")].iterfind("odm:RangeCheck", NS)]
                for r in vl.iterfind("odm:ItemRef", NS)
                for w in r.iterfind("def:WhereClauseRef", NS)
                if w.get("WhereClauseOID", "") in wheres
            ]
            covered = _covered(ctx, name, clauses, names)
            if covered is None:
                continue
            keys = sorted(
                {names.get(rc.get(f"{{{DEF21}}}ItemOID", ""), "") for c in clauses for rc in c} - {""}
            )
            shown = ctx.text(name, keys[0]) if keys and keys[0] in ctx.datasets[name].columns else None
            bad = ~ctx.blank(name, variable) & ~covered
            yield from ctx.findings_where(
                rule,
                name,
                bad,
                f"{variable} on a record no where clause of {vl.get('OID')} describes",
                variable=variable,
                value=shown,
                expected=f"a where clause of {vl.get('OID')}",
                file=d.file,
                line=vl.sourceline,
            )


def _covered(
    ctx: ValidationContext, name: str, clauses: list[list[etree._Element]], names: dict[str, str]
) -> np.ndarray | None:
    """Records of `name` meeting at least one where clause (every RangeCheck of it); None when a clause
    names a variable the dataset lacks (the value list is not about this data)."""
    frame = ctx.datasets[name]
    out = np.zeros(len(frame), dtype=bool)
    for checks in clauses:
        met = np.ones(len(frame), dtype=bool)
        for rc in checks:
            variable = names.get(rc.get(f"{{{DEF21}}}ItemOID", ""), "")
            if variable not in frame.columns:
                return None
            comparator = rc.get("Comparator", "")
            if comparator not in _SUPPORTED_COMPARATORS:
                continue
            values = [(cv.text or "").strip() for cv in rc.iterfind("odm:CheckValue", NS)]
            codes, distinct = ctx.factorized(name, variable)
            inside = is_among(distinct, values)[codes]
            met &= inside if comparator in ("EQ", "IN") else ~inside
        out |= met
    return out


@rule(
    "CDG1312",
    "Repeating disagrees with the data",
    severity=Severity.ERROR,
    scope=Scope.DEFINE,
    reference="Define-XML 2.1 section 5.3.4 (ItemGroupDef Repeating: No for a dataset with one record per "
    "subject, e.g. DM and ADSL)",
    partition=Partition.SUMMARISED,
)
def check_define_repeating(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """ItemGroupDef Repeating="No" says a subject has one record at most: a dataset where a subject has more
    is an error. Repeating="Yes" on a dataset whose def:Structure is "One record per subject" and whose
    subjects have one record each is a warning (DM and ADSL are not repeating).

    Bad: ADSL with Repeating="Yes"; LB with Repeating="No".
    Good: ADSL Repeating="No", LB Repeating="Yes".
    """
    found = _readable(ctx)
    if found is None:
        return
    d, mdv = found
    for name, ig in _present_groups(ctx, mdv):
        if "USUBJID" not in ctx.datasets[name].columns:
            continue
        repeated = ctx.across(rule, name, ("repeated",), partial(_repeats_a_subject, ctx, name), any)
        one_per_subject = is_one_record_per_subject(ig.get(f"{{{DEF21}}}Structure", ""))
        if ig.get("Repeating") == "No" and repeated:
            yield rule.finding(
                f"define.xml says {name} is not repeating, but a subject has more than one record",
                dataset=name,
                value="No",
                expected="Yes",
                file=d.file,
                line=ig.sourceline,
            )
        elif ig.get("Repeating") == "Yes" and not repeated and one_per_subject:
            yield rule.finding(
                f"define.xml says {name} is repeating, but its structure is one record per subject",
                dataset=name,
                value="Yes",
                expected="No",
                file=d.file,
                line=ig.sourceline,
                severity=Severity.WARNING,
            )
