"""A study's metadata specs from an existing Define-XML 2.1 file (`cdiscgen spec from-define`).

Datasets (ItemGroupDef), variables (ItemRef + ItemDef: label, data type, format, codelist, origin and
source, role, mandatory, method, comment), value-level metadata (ValueListDef + WhereClauseDef), codelists
(with NCI C-codes, sponsor extensions, external dictionaries), methods, comments and documents become
`specs/sdtm/*.yaml`, `specs/adam/*.yaml`, `specs/codelists.yaml` and `specs/define.yaml` in the canonical
layout. Supplemental qualifiers (the QNAM value list of a SUPP-- dataset) become variables of the parent
dataset with `supplemental: true`, as the specs declare them.

What a define cannot carry, or carries in a form the specs do not have, is listed, never dropped silently:
lengths and significant digits (cdiscgen sets them from the data), Expected vs Permissible (a define says
only Mandatory), CRF pages, value-level descriptions (made from the data), conditions other than equality,
terms the data did not use, and everything of study.yaml and mappings/.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

from lxml import etree

from cdiscgen._atomic import write_files_together
from cdiscgen._schemas import CODELIST_SCHEMA, DATA_TYPES, ORIGINS, ROLES
from cdiscgen._specs import is_one_record_per_subject
from cdiscgen._specyaml import codelists_lines, dataset_lines, define_lines, text_of
from cdiscgen._yaml import load_yaml
from cdiscgen._yaml import plain as _plain

__all__ = ["DefineImport", "specs_from_define"]

ODM = "http://www.cdisc.org/ns/odm/v1.3"
DEF = "http://www.cdisc.org/ns/def/v2.1"
XLINK = "http://www.w3.org/1999/xlink"
NS = {"odm": ODM, "def": DEF, "xlink": XLINK}
_ORIGIN_SOURCES = ("Investigator", "Sponsor", "Subject", "Vendor")


@dataclass
class DefineImport:
    """What `specs_from_define` wrote and what it could not carry (one line each, naming the place)."""

    out_dir: Path
    files: list[str] = field(default_factory=list)
    not_carried: list[str] = field(default_factory=list)
    study_yaml_written: bool = False


def _text(el: etree._Element | None, path: str = "odm:Description/odm:TranslatedText") -> str | None:
    if el is None:
        return None
    node = el.find(path, NS)
    if node is None or node.text is None:
        return None
    return " ".join(node.text.split()) or None


def _id(oid: str, prefix: str, pattern: str) -> str:
    """A spec id from a define OID: the OID itself where it fits the spec's pattern, else made to fit."""
    if re.fullmatch(pattern, oid):
        return oid
    body = oid[len(prefix) :] if oid.startswith(prefix) else oid
    candidate = prefix + re.sub(r"[^A-Za-z0-9_.]", "_", body).strip("._")
    return (
        candidate if re.fullmatch(pattern, candidate) else prefix + "X" + re.sub(r"[^A-Za-z0-9_]", "_", body)
    )


class _Reader:
    """One define.xml read into spec documents."""

    def __init__(self, path: Path, notes: list[str]) -> None:
        self.path = path
        self.name = f"{path.parent.name}/{path.name}" if path.parent.name else path.name
        self.notes = notes
        self.grouped: dict[str, list[str]] = {}
        try:
            self.tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
        except (OSError, etree.XMLSyntaxError) as exc:
            raise ValueError(f"{path}: not a readable XML file ({exc})") from None
        root = self.tree.getroot()
        other = [ns for ns in (root.nsmap or {}).values() if re.search(r"cdisc\.org/ns/def/v(?!2\.1)", ns)]
        if etree.QName(root).localname == "ODM" and other:
            raise ValueError(
                f"{path}: Define-XML {other[0].rsplit('/v', 1)[-1]} ({other[0]}); from-define reads Define-XML 2.1"
            )
        self.mdv = root.find("odm:Study/odm:MetaDataVersion", NS)
        if root.tag != f"{{{ODM}}}ODM" or self.mdv is None:
            raise ValueError(f"{path}: not a Define-XML file (no ODM Study/MetaDataVersion)")
        version = self.mdv.get(f"{{{DEF}}}DefineVersion") or ""
        if not version.startswith("2.1"):
            raise ValueError(
                f"{path}: Define-XML {version or 'of an unknown version'}; from-define reads Define-XML 2.1"
            )
        self.study = root.find("odm:Study/odm:GlobalVariables", NS)
        self.items = {el.get("OID"): el for el in self.mdv.iterfind("odm:ItemDef", NS)}
        self.value_lists = {el.get("OID"): el for el in self.mdv.iterfind("def:ValueListDef", NS)}
        self.where_clauses = {el.get("OID"): el for el in self.mdv.iterfind("def:WhereClauseDef", NS)}
        self.comment_defs = {el.get("OID"): el for el in self.mdv.iterfind("def:CommentDef", NS)}
        self.standards = {el.get("OID"): el for el in self.mdv.iterfind("def:Standards/def:Standard", NS)}
        self.analysis = any(g.get("Purpose") == "Analysis" for g in self.mdv.iterfind("odm:ItemGroupDef", NS))
        self.codelist_ids = self._codelist_ids()
        self.comment_uses = Counter(
            el.get(f"{{{DEF}}}CommentOID") for el in self.mdv.iter() if el.get(f"{{{DEF}}}CommentOID")
        )
        self.shared_comments: dict[str, str] = {}  # comment OID -> text, for define.yaml

    def note(self, message: str, place: str | None = None) -> None:
        """A thing not carried; with `place`, one line per kind of thing listing its places."""
        if place is None:
            self.notes.append(f"{self.name}: {message}")
            return
        key = f"{self.name}: {message}"
        if key not in self.grouped:
            self.grouped[key] = []
            self.notes.append(key)
        self.grouped[key].append(place)

    def finish_notes(self) -> None:
        for key, places in self.grouped.items():
            shown = ", ".join(places[:6]) + (f" and {len(places) - 6} more" if len(places) > 6 else "")
            self.notes[self.notes.index(key)] = f"{key} ({len(places)}: {shown})"
        self.grouped.clear()

    # ------------------------------------------------------------------------------ study names

    def study_names(self) -> dict[str, str]:
        return {
            key: text
            for key, tag in (
                ("studyid", "StudyName"),
                ("title", "StudyDescription"),
                ("protocol", "ProtocolName"),
            )
            if (text := _text(self.study, f"odm:{tag}")) is not None
        }

    # ------------------------------------------------------------------------------ datasets

    def datasets(self) -> list[tuple[dict, list[dict]]]:
        """(dataset spec, supplemental variables for its parent) for each ItemGroupDef."""
        out = []
        for group in self.mdv.iterfind("odm:ItemGroupDef", NS):
            out.append(self._dataset(group))
        return out

    def _dataset(self, group: etree._Element) -> tuple[dict, list[dict]]:
        name = group.get("Name") or group.get("SASDatasetName") or ""
        doc: dict[str, Any] = {"dataset": name, "label": _text(group) or name}
        cls = group.find("def:Class", NS)
        doc["class"] = cls.get("Name") if cls is not None else group.get(f"{{{DEF}}}Class")
        sub = cls.find("def:SubClass", NS) if cls is not None else None
        if sub is not None:
            doc["subclass"] = sub.get("Name")
        if len(doc["label"]) > 40:
            self.note(
                "dataset label over 40 characters (the XPT v5 limit): kept, check-specs reports it", name
            )
        doc["structure"] = group.get(f"{{{DEF}}}Structure") or ""
        refs = sorted(group.iterfind("odm:ItemRef", NS), key=lambda r: self._whole(r, "OrderNumber", name))
        keyed = sorted((self._whole(r, "KeySequence", name), r) for r in refs if r.get("KeySequence"))
        doc["keys"] = [self._name(r.get("ItemOID")) for _, r in keyed]
        doc["standard"] = self._standard(group)
        domain = group.get("Domain")
        supp = re.fullmatch(r"SUPP([A-Z]{2})", name)
        if domain and not self.analysis and not supp and re.fullmatch(r"[A-Z]{2}", domain):
            doc["domain"] = domain
        repeating = group.get("Repeating") == "Yes"
        if repeating == is_one_record_per_subject(doc["structure"]):
            doc["repeating"] = repeating
        doc["reference_data"] = group.get("IsReferenceData") == "Yes"
        comment = self._comment(group.get(f"{{{DEF}}}CommentOID"), f"COM.{name}")
        if comment:
            doc["comment"] = comment
        variables, value_level, supplemental = [], None, []
        for ref in refs:
            item = self.items.get(ref.get("ItemOID"))
            if item is None:
                self.note(f"{name}: ItemRef {ref.get('ItemOID')} names no ItemDef; left out")
                continue
            variable = self._variable(name, item, ref)
            variables.append(variable)
            vl_ref = item.find("def:ValueListRef", NS)
            if vl_ref is not None:
                if supp and variable["name"] == "QVAL":
                    supplemental = self._supplemental(name, vl_ref.get("ValueListOID"))
                value_level = self._value_level(
                    name, variable, vl_ref.get("ValueListOID"), value_level, bool(supp)
                )
        if value_level:
            doc["value_level"] = value_level
        doc["variables"] = variables
        return doc, supplemental

    def _whole(self, ref: etree._Element, attribute: str, where: str) -> int:
        """An OrderNumber or KeySequence (0 when absent); other text is an error naming it."""
        text = ref.get(attribute) or "0"
        if not text.strip().isdigit():
            raise ValueError(
                f"{self.path}:{ref.sourceline}: {where}: {attribute} {text!r} is not a whole number"
            )
        return int(text)

    def _name(self, oid: str | None) -> str:
        item = self.items.get(oid or "")
        return item.get("Name") if item is not None else str(oid)

    def _standard(self, group: etree._Element) -> str:
        base = "ADaMIG" if self.analysis else "SDTMIG"
        std = self.standards.get(group.get(f"{{{DEF}}}StandardOID") or "")
        if std is not None and std.get("Name") == base:
            return f"{base} {std.get('Version')}"
        igs = [s for s in self.standards.values() if s.get("Type") == "IG"]
        exact = [s for s in igs if s.get("Name") == base]
        version = (exact or igs or [None])[0]
        number = version.get("Version") if version is not None else "1.0"
        given = f"{std.get('Name')} {std.get('Version')}" if std is not None else "no standard"
        self.note(f"standard {given!r} is not {base}; read as '{base} {number}'", group.get("Name"))
        return f"{base} {number}"

    def _variable(self, dataset: str, item: etree._Element, ref: etree._Element) -> dict:
        name = item.get("Name") or ""
        where = f"{dataset}.{name}"
        v: dict[str, Any] = {"name": name, "label": _text(item) or name, "type": self._type(item, where)}
        if item.get(f"{{{DEF}}}DisplayFormat"):
            fmt = item.get(f"{{{DEF}}}DisplayFormat")
            if re.fullmatch(r"\$?[A-Z]*[0-9]*\.[0-9]*", fmt):
                v["format"] = fmt
            else:
                self.note(f"display format {fmt!r} is not a SAS format; left out", where)
        v.update(self._origin(item, where))
        if ref.get("MethodOID"):
            v["method"] = _id(ref.get("MethodOID"), "MT.", r"MT\.[A-Za-z0-9_.]+")
        role = ref.get("Role")
        if role and not self.analysis:
            if role in ROLES:
                v["role"] = role
            else:
                self.note(f"role {role!r} is not an SDTM role; left out", where)
        v["core"] = "Req" if ref.get("Mandatory") == "Yes" else "Perm"
        codelist = item.find("odm:CodeListRef", NS)
        if codelist is not None:
            v["codelist"] = self.codelist_ids.get(codelist.get("CodeListOID"), codelist.get("CodeListOID"))
        comment = self._comment(item.get(f"{{{DEF}}}CommentOID"), f"COM.{dataset}.{name}")
        if comment:
            v["comment"] = comment
        return v

    def _type(self, item: etree._Element, where: str) -> str:
        data_type = item.get("DataType") or "text"
        if data_type in DATA_TYPES:
            return data_type
        self.note(f"data type {data_type!r} is not a Define-XML 2.1 type; read as text", where)
        return "text"

    def _origin(self, item: etree._Element, where: str) -> dict[str, str]:
        origin = item.find("def:Origin", NS)
        if origin is None:
            self.note("no def:Origin; read as Derived", where)
            return {"origin": "Derived"}
        kind = origin.get("Type") or "Derived"
        if kind not in ORIGINS:
            self.note(f"origin {kind!r} is not a Define-XML 2.1 origin; read as Derived", where)
            kind = "Derived"
        out = {"origin": kind}
        source = origin.get("Source")
        description = _text(origin)
        if kind == "Predecessor":
            if description:
                out["source"] = description
        elif source in _ORIGIN_SOURCES and not (source == "Sponsor" and kind != "Collected"):
            out["source"] = source
        elif description:
            out["source"] = description
        if origin.find("def:DocumentRef", NS) is not None:
            self.note("origin document references (CRF pages) not carried", where)
        return out

    def _comment(self, oid: str | None, default_oid: str) -> str | None:
        """Inline text when the comment is this place's own (OID as cdiscgen would name it, used once);
        else the id of a shared comment of define.yaml."""
        if not oid:
            return None
        el = self.comment_defs.get(oid)
        text = _text(el) if el is not None else None
        if text is None:
            self.note(f"comment {oid} has no CommentDef text; left out")
            return None
        if oid == default_oid and self.comment_uses[oid] == 1:
            return text
        cid = _id(oid, "COM.", r"COM\.[A-Za-z0-9_.]+")
        self.shared_comments[cid] = text
        return cid

    # ------------------------------------------------------------------------------ value level

    def _conditions(self, clause_oid: str, where: str) -> list[dict[str, str]] | None:
        """The equality conditions of a where clause, one dict per alternative (IN expands); None when
        it has a condition cdiscgen cannot state."""
        clause = self.where_clauses.get(clause_oid)
        if clause is None:
            self.note(f"{where}: where clause {clause_oid} is not defined; entry left out")
            return None
        alternatives: list[dict[str, str]] = [{}]
        for check in clause.iterfind("odm:RangeCheck", NS):
            variable = self._name(check.get(f"{{{DEF}}}ItemOID"))
            values = [v.text or "" for v in check.iterfind("odm:CheckValue", NS)]
            comparator = check.get("Comparator")
            if comparator == "NOTIN":
                continue  # cdiscgen writes NOTIN for a by-variable the record leaves empty
            if comparator not in ("EQ", "IN") or not values:
                self.note(
                    f"value-level entries whose where clause uses {comparator} left out (EQ and IN are carried)",
                    f"{where} {clause_oid}",
                )
                return None
            alternatives = [{**a, variable: value} for a in alternatives for value in values]
        return alternatives

    def _value_level(
        self, dataset: str, variable: dict, vl_oid: str | None, level: dict | None, supp: bool
    ) -> dict | None:
        value_list = self.value_lists.get(vl_oid or "")
        where = f"{dataset}.{variable['name']}"
        if value_list is None:
            self.note(f"{where}: value list {vl_oid} is not defined; left out")
            return level
        level = level or {"by": [], "variables": [], "entries": []}
        level["variables"].append(variable["name"])
        orders: list[list[str]] = [list(level["by"])]
        described = 0
        for ref in value_list.iterfind("odm:ItemRef", NS):
            item = self.items.get(ref.get("ItemOID"))
            clause = ref.find("def:WhereClauseRef", NS)
            if item is None or clause is None:
                self.note(
                    f"{where}: value-level ItemRef {ref.get('ItemOID')} without ItemDef or where clause"
                )
                continue
            alternatives = self._conditions(clause.get("WhereClauseOID"), where)
            if alternatives is None:
                continue
            orders.append(list(alternatives[0]))
            if supp:
                continue  # a SUPP-- QNAM list: its variables are the parent's supplemental variables
            entry = self._entry(variable, item, ref, f"{where} [{clause.get('WhereClauseOID')}]")
            described += 1
            if entry:
                level["entries"].extend(
                    {"where": a, "variable": variable["name"], **entry} for a in alternatives
                )
        level["by"] = _merged_order(orders)
        if described:
            self.note(
                "value-level descriptions not carried (cdiscgen makes them from the data)",
                f"{where} {described}",
            )
        return level

    def _entry(self, variable: dict, item: etree._Element, ref: etree._Element, where: str) -> dict:
        """The attributes in which a value-level item differs from its variable."""
        entry: dict[str, Any] = {}
        data_type = self._type(item, where)
        if data_type != variable["type"]:
            entry["type"] = data_type
        codelist = item.find("odm:CodeListRef", NS)
        cid = self.codelist_ids.get(codelist.get("CodeListOID")) if codelist is not None else None
        if cid and cid != variable.get("codelist"):
            entry["codelist"] = cid
        origin = self._origin(item, where)["origin"]
        if origin != variable["origin"]:
            entry["origin"] = origin
        method = ref.get("MethodOID")
        if method:
            mid = _id(method, "MT.", r"MT\.[A-Za-z0-9_.]+")
            if mid != variable.get("method") or origin != variable["origin"]:
                entry["method"] = mid
        comment = self._comment(
            item.get(f"{{{DEF}}}CommentOID"), item.get("OID", "").replace("IT.", "COM.", 1)
        )
        if comment:
            entry["comment"] = comment
        return entry

    def _supplemental(self, dataset: str, vl_oid: str | None) -> list[dict]:
        """The parent's supplemental variables from a SUPP-- dataset's QNAM value list."""
        out = []
        value_list = self.value_lists.get(vl_oid or "")
        for ref in value_list.iterfind("odm:ItemRef", NS) if value_list is not None else []:
            item = self.items.get(ref.get("ItemOID"))
            clause = ref.find("def:WhereClauseRef", NS)
            alternatives = (
                self._conditions(clause.get("WhereClauseOID"), dataset) if clause is not None else None
            )
            if item is None or not alternatives:
                continue
            for alternative in alternatives:
                qnam = alternative.get("QNAM")
                if not qnam:
                    continue
                v = self._variable(dataset, item, ref)
                v["name"] = qnam
                v["supplemental"] = True
                v["qorig"] = v["origin"]
                v.pop("role", None)
                out.append(v)
        return out

    # ------------------------------------------------------------------------------ codelists

    def _codelist_ids(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for el in self.mdv.iterfind("odm:CodeList", NS):
            oid = el.get("OID") or ""
            cid = oid[3:] if oid.startswith("CL.") else oid
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.]*", cid):
                cid = "CL_" + re.sub(r"[^A-Za-z0-9_.]", "_", cid)
                self.note(
                    "codelist OIDs with characters a codelist id cannot have, renamed", f"{oid} -> {cid}"
                )
            out[oid] = cid
        return out

    def codelists(self) -> list[dict]:
        out = []
        ct_sets = {oid: s.get("PublishingSet") for oid, s in self.standards.items() if s.get("Type") == "CT"}
        for el in self.mdv.iterfind("odm:CodeList", NS):
            c: dict[str, Any] = {
                "id": self.codelist_ids[el.get("OID")],
                "name": el.get("Name") or el.get("OID"),
            }
            alias = el.find("odm:Alias[@Context='nci:ExtCodeID']", NS)
            if alias is not None:
                c["code"] = alias.get("Name")
            sponsor = el.get(f"{{{DEF}}}IsNonStandard") == "Yes" or alias is None
            external = el.find("odm:ExternalCodeList", NS)
            items = el.findall("odm:CodeListItem", NS) + el.findall("odm:EnumeratedItem", NS)
            items.sort(key=lambda i: self._whole(i, "OrderNumber", f"codelist {el.get('OID')}"))
            c["extensible"] = any(i.get(f"{{{DEF}}}ExtendedValue") == "Yes" for i in items)
            c["data_type"] = (
                el.get("DataType") if el.get("DataType") in ("text", "integer", "float") else "text"
            )
            if sponsor and external is None:
                c["sponsor"] = True
            if ct_sets.get(el.get(f"{{{DEF}}}StandardOID") or "") == "ADaM":
                c["source"] = "ADaM CT"
            if external is not None:
                c["dictionary"] = {
                    k: external.get(attr)
                    for k, attr in (("name", "Dictionary"), ("version", "Version"), ("href", "href"))
                    if external.get(attr)
                }
            elif items:
                c["terms"] = [self._term(i, sponsor) for i in items]
            else:
                self.note(f"codelist {el.get('OID')}: no terms and no external dictionary; left out")
                continue
            out.append(c)
        if out:
            self.note(
                "codelists list the terms this define lists (those the data used), not the whole CT "
                "codelist; 'extensible' is read from extended terms (a define does not say it)"
            )
        return out

    @staticmethod
    def _term(item: etree._Element, sponsor_codelist: bool) -> dict:
        term: dict[str, Any] = {"value": item.get("CodedValue")}
        alias = item.find("odm:Alias[@Context='nci:ExtCodeID']", NS)
        if alias is not None:
            term["code"] = alias.get("Name")
        decode = _text(item, "odm:Decode/odm:TranslatedText")
        if decode is not None:
            term["decode"] = decode
        if sponsor_codelist or item.get(f"{{{DEF}}}ExtendedValue") == "Yes":
            term["sponsor"] = True
        return term

    # ------------------------------------------------------------------------------ define.yaml

    def methods(self) -> list[dict]:
        out = []
        for el in self.mdv.iterfind("odm:MethodDef", NS):
            oid = el.get("OID") or ""
            m: dict[str, Any] = {
                "id": _id(oid, "MT.", r"MT\.[A-Za-z0-9_.]+"),
                "name": el.get("Name") or oid,
                "type": el.get("Type") if el.get("Type") in ("Computation", "Imputation") else "Computation",
                "description": _text(el) or el.get("Name") or oid,
            }
            document = el.find("def:DocumentRef", NS)
            if document is not None:
                m["document"] = _id(document.get("leafID") or "", "LF.", r"LF\.[A-Za-z0-9_.]+")
            if el.find("odm:FormalExpression", NS) is not None:
                self.note(f"method {oid}: its FormalExpression (code) is not carried")
            out.append(m)
        return out

    def documents(self) -> list[dict]:
        crf = {r.get("leafID") for r in self.mdv.iterfind("def:AnnotatedCRF/def:DocumentRef", NS)}
        out = []
        for leaf in self.mdv.iterfind("def:leaf", NS):
            lid = leaf.get("ID") or ""
            out.append(
                {
                    "id": _id(lid, "LF.", r"LF\.[A-Za-z0-9_.]+"),
                    "title": _text(leaf, "def:title") or lid,
                    "href": leaf.get(f"{{{XLINK}}}href") or "",
                    "kind": "AnnotatedCRF" if lid in crf else "SupplementalDoc",
                    "standard": "ADaM" if self.analysis else "SDTM",
                }
            )
        return out


_KEPT_DATASET_KEYS = ("split_by", "seq_order", "notes")
_KEPT_VARIABLE_KEYS = ("length", "significant_digits", "qeval", "split", "range")


def _with_study_datasets(datasets: dict[str, dict], specs: Path, result: DefineImport) -> None:
    """What a define cannot say, kept from the study's own dataset specs (matched by dataset and
    variable name): split variable, SEQ order, notes; a variable's declared length, significant digits,
    QEVAL, text split and plausible range; Expected or Conditional where the define says Mandatory No;
    ADaM roles."""
    kept = Counter()
    for path in [*specs.glob("sdtm/*.yaml"), *specs.glob("adam/*.yaml")]:
        own = _plain(load_yaml(path) or {})
        doc = datasets.get(own.get("dataset"))
        if doc is None:
            continue
        for key in _KEPT_DATASET_KEYS:
            if key in own:
                doc[key] = own[key]
                kept[key] += 1
        theirs = {v["name"]: v for v in own.get("variables") or []}
        for variable in doc["variables"]:
            mine = theirs.get(variable["name"])
            if mine is None:
                continue
            for key in _KEPT_VARIABLE_KEYS:
                if key in mine:
                    variable[key] = mine[key]
                    kept[key] += 1
            if variable["core"] == "Perm" and mine.get("core") in ("Exp", "Cond"):
                variable["core"] = mine["core"]
                kept["core"] += 1
            if "role" in mine and "role" not in variable:
                variable["role"] = mine["role"]
                kept["role"] += 1
        if own.get("value_level") and doc.get("value_level"):
            by = own["value_level"].get("by")
            if by and set(by) >= set(doc["value_level"]["by"]):
                doc["value_level"]["by"] = by  # by-variables the data never filled are not in a define
    if kept:
        listed = ", ".join(f"{key} {n}" for key, n in sorted(kept.items()))
        result.not_carried.append(f"kept from the study's dataset specs (a define cannot say them): {listed}")


def _with_study_codelists(from_define: list[dict], path: Path, result: DefineImport) -> list[dict]:
    """The define's codelists joined with the study's own: a define lists only the terms the data used and
    only codelists variables name, while mappings and study.yaml use others. The define's codelist
    attributes and terms come first; the study's terms it does not list follow, and what a define cannot
    say (extensible, synonyms, conventions, notes) is the study's."""
    study = {c["id"]: _plain(c) for c in (load_yaml(path) or {}).get("codelists") or []}
    kept_terms = 0
    out = []
    for codelist in from_define:
        own = study.pop(codelist["id"], None)
        if own is None:
            out.append(codelist)
            continue
        merged = {**codelist}
        for key in ("extensible", "notes", "source"):
            if key in own:
                merged[key] = own[key]
        if "terms" in codelist and "terms" in own:
            theirs = {str(t["value"]): t for t in own["terms"]}
            terms = []
            for term in codelist["terms"]:
                extra = {
                    k: v
                    for k, v in theirs.get(str(term["value"]), {}).items()
                    if k in ("synonyms", "convention")
                }
                terms.append({**term, **extra})
            listed = {str(t["value"]) for t in codelist["terms"]}
            rest = [dict(t) for t in own["terms"] if str(t["value"]) not in listed]
            kept_terms += len(rest)
            merged["terms"] = terms + rest
        out.append({k: merged[k] for k in CODELIST_SCHEMA if k in merged})
    out.extend(study.values())
    result.not_carried.append(
        f"codelists.yaml joined with the study's: {len(study)} codelist(s) the define does not name and "
        f"{kept_terms} term(s) it does not list kept; extensible, synonyms and conventions are the study's"
    )
    return sorted(out, key=lambda c: c["id"])


def _merge_codelist(codelists: dict[str, dict], codelist: dict, reader: _Reader) -> None:
    """A codelist of a second define: the terms it adds join those of the first (an SDTM and an ADaM
    define list the terms their own data used)."""
    earlier = codelists.get(codelist["id"])
    if earlier is None:
        codelists[codelist["id"]] = codelist
        return
    for key in ("name", "code", "data_type", "dictionary"):
        if earlier.get(key) != codelist.get(key):
            reader.note(f"codelist {codelist['id']}: {key} differs from an earlier define's; the first kept")
    known = {t["value"] for t in earlier.get("terms") or []}
    added = [t for t in codelist.get("terms") or [] if t["value"] not in known]
    if added:
        earlier["terms"] = [*earlier.get("terms", []), *added]
    earlier["extensible"] = earlier["extensible"] or codelist["extensible"]


def _merged_order(orders: list[list[str]]) -> list[str]:
    """One order of the by-variables that keeps the order of each where clause (first seen first)."""
    first: dict[str, int] = {}
    graph: dict[str, set[str]] = {}
    for order in orders:
        for i, name in enumerate(order):
            first.setdefault(name, len(first))
            graph.setdefault(name, set()).update(order[:i])
    sorter = TopologicalSorter(graph)
    try:
        sorter.prepare()
    except CycleError:
        return sorted(first, key=first.__getitem__)
    out: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=first.__getitem__)
        out.extend(ready)
        sorter.done(*ready)
    return out


_STUDY_TEMPLATE_KEYS = ("studyid", "protocol", "title")  # the template's lines a define's names replace


def specs_from_define(defines: list[Path], out_dir: Path | str, *, replace: bool = False) -> DefineImport:
    """Write the metadata specs of OUT_DIR from one or more Define-XML 2.1 files (an SDTM and an ADaM
    define of one study). A folder without specs/study.yaml gets the new-study template's, with the
    define's study name, description and protocol. Existing metadata specs are replaced only with
    `replace`; study.yaml, units, explanations, ADaM parameter files and mappings are kept."""
    out_dir = Path(out_dir)
    result = DefineImport(out_dir)
    readers = [_Reader(Path(p), result.not_carried) for p in defines]
    specs = out_dir / "specs"
    existing = [
        p
        for p in [
            specs / "codelists.yaml",
            specs / "define.yaml",
            *specs.glob("sdtm/*.yaml"),
            *specs.glob("adam/*.yaml"),
        ]
        if p.exists()
    ]
    if existing and not replace:
        raise FileExistsError(f"{existing[0]} exists; pass --replace to replace the study's metadata specs")
    files: dict[str, str] = {}
    datasets: dict[str, dict] = {}
    supplemental: dict[str, list[dict]] = {}
    codelists: dict[str, dict] = {}
    define_doc: dict[str, list] = {"documents": [], "comments": [], "methods": []}
    seen: dict[str, set[str]] = {"documents": set(), "comments": set(), "methods": set()}
    for reader in readers:
        for doc, supp in reader.datasets():
            if doc["dataset"] in datasets:
                reader.note(f"dataset {doc['dataset']} is also in an earlier define; the first kept")
                continue
            datasets[doc["dataset"]] = doc
            if supp:
                supplemental[doc["dataset"][4:]] = supp
        for codelist in reader.codelists():
            _merge_codelist(codelists, codelist, reader)
        for key, items in (("methods", reader.methods()), ("documents", reader.documents())):
            for item in items:
                if item["id"] not in seen[key]:
                    seen[key].add(item["id"])
                    define_doc[key].append(item)
                elif key == "documents":  # the same document in the SDTM and the ADaM define
                    earlier = next(d for d in define_doc[key] if d["id"] == item["id"])
                    if earlier["standard"] != item["standard"]:
                        earlier["standard"] = "both"
        for cid, text in reader.shared_comments.items():
            if cid not in seen["comments"]:
                seen["comments"].add(cid)
                define_doc["comments"].append({"id": cid, "text": text})
    for reader in readers:
        reader.finish_notes()
    if any(doc["standard"].startswith("ADaMIG") for doc in datasets.values()):
        result.not_carried.append(
            "specs/adam/params/*.yaml (how each ADaM dataset is derived) cannot come from a define: "
            "check-specs reports each ADaM dataset without one (ADM100)"
        )
    for parent, variables in supplemental.items():
        if parent not in datasets:
            result.not_carried.append(
                f"SUPP{parent}: parent dataset {parent} is not in the define(s); its QNAMs left out"
            )
            continue
        datasets[parent]["variables"].extend(variables)
    if replace:
        _with_study_datasets(datasets, specs, result)
    elif any(v.get("supplemental") for doc in datasets.values() for v in doc["variables"]):
        result.not_carried.append("QEVAL of supplemental qualifiers (qeval) is data, not in a define")
    for name, doc in datasets.items():
        sub = "adam" if doc["standard"].startswith("ADaMIG") else "sdtm"
        files[f"specs/{sub}/{name.lower()}.yaml"] = text_of(dataset_lines(doc))
    ordered = [codelists[c] for c in sorted(codelists)]
    if replace and (specs / "codelists.yaml").is_file():
        ordered = _with_study_codelists(ordered, specs / "codelists.yaml", result)
    files["specs/codelists.yaml"] = text_of(codelists_lines(ordered))
    files["specs/define.yaml"] = text_of(define_lines(define_doc))
    result.not_carried.append(
        "lengths and significant digits are not carried: cdiscgen sets them from the data; a define's "
        "Mandatory No is read as Perm (it does not tell Expected from Permissible)"
    )
    if not (specs / "study.yaml").is_file():
        files["specs/study.yaml"] = _study_yaml(readers)
        result.study_yaml_written = True
        result.not_carried.append(
            "specs/study.yaml is the new-study template with the define's study name, description and "
            "protocol: the design, visits, cut-off and rules are TODO; mappings/ is empty"
        )
    old = [*specs.glob("sdtm/*.yaml"), *specs.glob("adam/*.yaml")] if replace else []
    write_files_together(
        out_dir, files, remove=[p for p in old if p.relative_to(out_dir).as_posix() not in files]
    )
    result.files = sorted(files)
    return result


def _study_yaml(readers: list[_Reader]) -> str:
    from cdiscgen._specs import minimal_study_dir

    text = (minimal_study_dir() / "specs" / "study.yaml").read_text(encoding="utf-8")
    names: dict[str, str] = {}
    for reader in readers:
        for key, value in reader.study_names().items():
            names.setdefault(key, value)
    import yaml

    for key in _STUDY_TEMPLATE_KEYS:
        if key in names:
            line = re.search(rf"^  {key}: .*$", text, re.M)
            assert line is not None, key
            text = (
                text[: line.start()]
                + f"  {key}: {yaml.safe_dump(names[key], width=1 << 30).splitlines()[0]}"
                + text[line.end() :]
            )
    return text
