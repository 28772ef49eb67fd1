"""Define-XML 2.1 document from the study metadata and the datasets as written.

The spec (`specs/`) says what every dataset and variable *is* (labels, types, origins, methods,
codelists); the frames say what was *submitted* (lengths, terms used, value-level combinations), read
through their profiles (`define/_profile.py`), which a partitioned run merges over the partitions. The
result follows the structure and OID conventions of the official CDISC Define-XML 2.1 examples:
IG. ItemGroupDef, IT. ItemDef, CL. CodeList, MT. MethodDef, VL. ValueListDef, WC. WhereClauseDef,
COM. CommentDef, LF. def:leaf, STD. def:Standard.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import pandas as pd
from lxml import etree

import cdiscgen
from cdiscgen import Codelist, DatasetSpec, Finding, Findings, Severity, Study, Term, VariableSpec
from define._common import (
    DEFINE_VERSION,
    NSMAP,
    STYLESHEET_NAME,
    XLINK_NS,
    XML_LANG,
    DefineError,
    defn,
    odm,
)
from define._profile import ComboSummary, DatasetProfile, ValueSummary, profiles_of, supp_parent

log = logging.getLogger(__name__)

Standard = Literal["SDTM", "ADaM"]

ORIGIN_SOURCES = frozenset({"Investigator", "Sponsor", "Subject", "Vendor"})
# Generic codelists of ADaM CT (Date/Time Imputation Flag, Derivation Type, Parameter Type, Subject
# Trial Status, Pool for Integration, Analysis Stratum, Input Parameter). Every other CDISC codelist the
# study uses comes from SDTM CT; a codelist can say otherwise with `source: ADaM CT`.
ADAM_CT_CODELISTS = frozenset(
    {"C81223", "C81226", "C81224", "C81225", "C124296", "C165644", "C204411", "C204410"}
)

_SDTM_CLASS_ORDER = (
    "TRIAL DESIGN",
    "SPECIAL PURPOSE",
    "INTERVENTIONS",
    "EVENTS",
    "FINDINGS",
    "FINDINGS ABOUT",
    "RELATIONSHIP",
    "STUDY REFERENCE",
)
_ADAM_CLASS_ORDER = (
    "SUBJECT LEVEL ANALYSIS DATASET",
    "OCCURRENCE DATA STRUCTURE",
    "BASIC DATA STRUCTURE",
    "ADAM OTHER",
)
_SAS_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,7}$")
_OID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class _Where:
    """One condition of a where clause: variable, comparator (EQ or NOTIN) and values."""

    variable: str
    comparator: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class _Meta:
    """What one ItemDef says about a variable or a value-level slice of it."""

    name: str
    sas_name: str
    data_type: str
    description: str
    origin: str
    source: str | None
    length: int | None
    significant_digits: int | None
    display_format: str | None
    codelist: str | None
    method: str | None
    comment: str | None


def compute_define_xml(
    study: Study,
    datasets: Mapping[str, pd.DataFrame | DatasetProfile],
    *,
    standard: Standard,
    created: datetime,
    lengths: Mapping[str, Mapping[str, int]] | None = None,
) -> tuple[bytes, Findings]:
    """The define.xml bytes (UTF-8, with the stylesheet processing instruction) and the findings.

    Raises DefineError when a dataset has no spec, a spec variable is missing from its frame (or the
    frame has a column the spec does not declare), or a dataset belongs to the other standard. A dataset
    may be given as its profile (merged over the parts of a partitioned run): the same define.xml.
    """
    builder = _Builder(study, datasets, standard=standard, created=created, lengths=lengths or {})
    root = builder.build()
    tree = etree.ElementTree(root)
    root.addprevious(
        etree.ProcessingInstruction("xml-stylesheet", f'type="text/xsl" href="{STYLESHEET_NAME}"')
    )
    data = etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return data, builder.findings


class _Builder:
    def __init__(
        self,
        study: Study,
        frames: Mapping[str, pd.DataFrame | DatasetProfile],
        *,
        standard: Standard,
        created: datetime,
        lengths: Mapping[str, Mapping[str, int]],
    ) -> None:
        if standard not in ("SDTM", "ADaM"):
            raise DefineError([f"standard must be 'SDTM' or 'ADaM', not {standard!r}"])
        self.study = study
        self.frames = frames
        self.standard = standard
        self.adam = standard == "ADaM"
        self.created = created
        self.lengths = lengths
        self.findings = Findings()
        self.problems: list[str] = []
        self.item_defs: list[etree._Element] = []
        self.value_lists: list[etree._Element] = []
        self.where_clauses: dict[tuple[str, tuple[_Where, ...]], tuple[str, etree._Element]] = {}
        self.codelist_values: dict[str, set[str]] = {}
        self.methods: set[str] = set()
        self.comments: dict[str, str] = {}
        self.inline_comments: dict[str, str] = {}
        self.ig_standards: dict[str, tuple[str, str]] = {}
        self.oids: dict[str, object] = {}

    # ------------------------------------------------------------------------------------------ top

    def build(self) -> etree._Element:
        specs = self._check_inputs()
        documents = [d for d in self.study.documents if d.get("standard") in (self.standard, "both")]
        self.document_ids = {d["id"] for d in documents}
        profiles = profiles_of({spec.name: self.frames[spec.name] for spec in specs}, self.study)
        groups = [self._item_group(spec, profiles[spec.name]) for spec in specs]
        codelists = self._codelists()
        if self.problems:
            raise DefineError(self.problems)

        root = etree.Element(odm("ODM"), nsmap=NSMAP)
        settings = self.study.settings.get("study", {})
        studyid = self.study.studyid
        root.set("FileType", "Snapshot")
        root.set("FileOID", f"DEFINE.{studyid}.{self.standard}")
        root.set("ODMVersion", "1.3.2")
        root.set("CreationDateTime", self.created.replace(microsecond=0).isoformat())
        root.set("Originator", str(settings.get("sponsor") or studyid))
        root.set("SourceSystem", "cdiscgen")
        root.set("SourceSystemVersion", cdiscgen.__version__)
        root.set(defn("Context"), "Submission")

        study_el = etree.SubElement(root, odm("Study"), OID=self.study.study_oid)
        gv = etree.SubElement(study_el, odm("GlobalVariables"))
        etree.SubElement(gv, odm("StudyName")).text = studyid
        etree.SubElement(gv, odm("StudyDescription")).text = str(settings.get("title") or studyid)
        etree.SubElement(gv, odm("ProtocolName")).text = str(settings.get("protocol") or studyid)

        ig_names = sorted({name for name, _ in self.ig_standards.values()})
        mdv = etree.SubElement(study_el, odm("MetaDataVersion"))
        mdv.set("OID", self.study.metadata_version_oid(self.standard))
        mdv.set("Name", f"{studyid} {self.standard} Define-XML")
        mdv.set(
            "Description",
            f"Data definitions of the {self.standard} datasets of study {studyid} ({', '.join(ig_names)})",
        )
        mdv.set(defn("DefineVersion"), DEFINE_VERSION)

        mdv.append(self._standards(codelists))
        for kind in ("AnnotatedCRF", "SupplementalDoc"):
            refs = [d for d in documents if d["kind"] == kind]
            if refs:
                holder = etree.SubElement(mdv, defn(kind))
                for d in refs:
                    etree.SubElement(holder, defn("DocumentRef"), leafID=d["id"])
        mdv.extend(self.value_lists)
        mdv.extend(el for _, el in self.where_clauses.values())
        mdv.extend(groups)
        mdv.extend(self.item_defs)
        mdv.extend(el for _, el in codelists)
        mdv.extend(self._method_defs())
        mdv.extend(self._comment_defs())
        for d in documents:
            mdv.append(_leaf(d["id"], d["href"], d["title"]))
        return root

    # ------------------------------------------------------------------------------------- checks

    def _check_inputs(self) -> list[DatasetSpec]:
        problems: list[str] = []
        specs: list[DatasetSpec] = []
        if not self.frames:
            problems.append("no datasets were given")
        for name, frame in self.frames.items():
            spec = self.study.datasets.get(name)
            if spec is None:
                problems.append(f"dataset {name} has no spec in {self.study.specs_dir} (sdtm/ or adam/)")
                continue
            if spec.is_adam != self.adam:
                problems.append(
                    f"dataset {name} is {spec.standard}, it does not belong in the {self.standard} define.xml"
                )
            expected = spec.variable_names
            missing = [v for v in expected if v not in frame.columns]
            if missing:
                problems.append(
                    f"dataset {name}: spec variable(s) missing from the data: {', '.join(missing)}"
                )
            extra = [str(c) for c in frame.columns if c not in expected]
            if extra:
                problems.append(f"dataset {name}: column(s) not declared in its spec: {', '.join(extra)}")
            parent = supp_parent(spec)
            if parent is not None and parent not in self.study.datasets:
                problems.append(f"dataset {name}: its parent domain {parent} has no spec")
            specs.append(spec)
        if problems:
            raise DefineError(problems)
        order = _ADAM_CLASS_ORDER if self.adam else _SDTM_CLASS_ORDER
        return sorted(specs, key=lambda s: (order.index(s.cls) if s.cls in order else len(order), s.name))

    # ---------------------------------------------------------------------------------- datasets

    def _item_group(self, spec: DatasetSpec, profile: DatasetProfile) -> etree._Element:
        name = spec.name
        ig = etree.Element(odm("ItemGroupDef"), OID=self._oid(f"IG.{name}", ("IG", name)), Name=name)
        ig.set("Repeating", "Yes" if spec.repeating else "No")
        ig.set("IsReferenceData", "Yes" if spec.reference_data else "No")
        ig.set("SASDatasetName", name)
        parent = supp_parent(spec)
        if not self.adam:
            domain = spec.domain or parent
            if domain:
                ig.set("Domain", domain)
        ig.set("Purpose", "Analysis" if self.adam else "Tabulation")
        ig.set(defn("Structure"), spec.structure)
        ig.set(defn("ArchiveLocationID"), f"LF.{name}")
        ig.set(defn("StandardOID"), self._ig_standard(spec))
        if profile.rows == 0:
            ig.set(defn("HasNoData"), "Yes")
            self.findings.add(Finding("DEF002", Severity.NOTICE, "dataset has no records", dataset=name))
        comment = self._comment(spec.comment, f"COM.{name}")
        if comment:
            ig.set(defn("CommentOID"), comment)
        _description(ig, spec.label)

        keys = {k: i for i, k in enumerate(spec.keys, start=1)}
        for order, var in enumerate(spec.submitted_variables, start=1):
            self._variable(ig, spec, profile, var, order, keys.get(var.name))
        if parent is not None and parent in self.study.datasets:
            etree.SubElement(
                ig, odm("Alias"), Context="DomainDescription", Name=self.study.datasets[parent].label
            )
        cls = etree.SubElement(ig, defn("Class"), Name=spec.cls)
        if spec.subclass:
            etree.SubElement(cls, defn("SubClass"), Name=spec.subclass)
        filename = f"{name.lower()}.xpt"
        ig.append(_leaf(f"LF.{name}", filename, filename))
        return ig

    def _variable(
        self,
        ig: etree._Element,
        spec: DatasetSpec,
        profile: DatasetProfile,
        var: VariableSpec,
        order: int,
        key_sequence: int | None,
    ) -> None:
        ds = spec.name
        present = profile.variables[var.name]
        mandatory = var.core == "Req"
        if not present.present and profile.rows:
            self.findings.add(
                Finding(
                    "DEF001",
                    Severity.WARNING if mandatory else Severity.NOTICE,
                    f"variable has no data ({var.core})",
                    dataset=ds,
                    variable=var.name,
                )
            )
        meta = _Meta(
            name=var.name,
            sas_name=var.name,
            data_type=var.type,
            description=var.label,
            origin=var.origin,
            source=var.source,
            length=self._length(ds, var, present),
            significant_digits=self._significant_digits(var.type, var.significant_digits, present),
            display_format=var.format,
            codelist=var.codelist,
            method=var.method,
            comment=var.comment,
        )
        value_list = None
        vl = spec.value_level
        if vl and var.name in vl.get("variables", []):
            value_list = self._value_list(spec, profile, var)
        oid = self._oid(f"IT.{ds}.{var.name}", ("IT", ds, var.name))
        self._item_def(
            oid,
            meta,
            present,
            where=f"{ds}.{var.name}",
            default_comment=f"COM.{ds}.{var.name}",
            value_list=value_list,
        )

        ref = etree.SubElement(
            ig, odm("ItemRef"), ItemOID=oid, OrderNumber=str(order), Mandatory="Yes" if mandatory else "No"
        )
        if key_sequence is not None:
            ref.set("KeySequence", str(key_sequence))
        if var.method:
            ref.set("MethodOID", self._method(var.method, f"{ds}.{var.name}"))
        if var.role and not self.adam:
            ref.set("Role", var.role)
        if not present.present and profile.rows and not mandatory:
            ref.set(defn("HasNoData"), "Yes")

    def _length(self, ds: str, var: VariableSpec, present: ValueSummary) -> int | None:
        if var.type in _NO_LENGTH:
            return None
        given = self.lengths.get(ds, {}).get(var.name)
        if given is not None:
            return int(given)
        if var.is_numeric:
            return 8
        return var.length or present.length

    @staticmethod
    def _significant_digits(data_type: str, declared: int | None, present: ValueSummary) -> int | None:
        if data_type != "float":
            return None
        if declared is not None:
            return declared
        return present.decimals

    # ------------------------------------------------------------------------------- value level

    def _value_list(self, spec: DatasetSpec, profile: DatasetProfile, var: VariableSpec) -> str | None:
        """A ValueListDef for `var` with one ItemDef per by-combination that has data; None if none has."""
        ds = spec.name
        vl = spec.value_level or {}
        by: list[str] = list(vl["by"])
        level = profile.value_levels[var.name]
        all_combos = list(level.combos)
        combos = [c for c, summary in level.combos.items() if summary.values.present and c[0] is not None]
        if level.unassigned:
            self.findings.add(
                Finding(
                    "DEF004",
                    Severity.WARNING,
                    f"records with {var.name} but no {by[0]} have no value-level metadata",
                    dataset=ds,
                    variable=var.name,
                )
            )
        if not combos:
            return None
        combos.sort(key=lambda c: self._combo_key(spec, by, c))
        entries = [e for e in vl.get("entries", []) or [] if e.get("variable") == var.name]
        used_entries: set[int] = set()
        parent = supp_parent(spec)
        vl_oid = self._oid(f"VL.{ds}.{var.name}", ("VL", ds, var.name))
        vl_el = etree.Element(defn("ValueListDef"), OID=vl_oid)
        for order, combo in enumerate(combos, start=1):
            summary = level.combos[combo]
            present = summary.values
            entry = _match_entry(entries, by, combo)
            if entry is not None:
                used_entries.add(entry[0])
            conditions = _conditions(by, combo, all_combos)
            wc_oid = self._where_clause(ds, conditions)
            label = _combo_label(combo, summary)
            mandatory = False
            if parent is not None:
                meta, mandatory = self._supp_meta(spec, parent, var, combo[0], present)
            else:
                meta = self._vlm_meta(var, summary, entry[1] if entry else None, label)
            it_oid = self._oid(
                _oid_text(f"IT.{ds}.{var.name}." + ".".join(v for v in combo if v is not None)),
                ("IT", ds, var.name, combo),
            )
            self._item_def(
                it_oid,
                meta,
                present,
                where=f"{ds}.{var.name} where {_describe(conditions)}",
                default_comment=it_oid.replace("IT.", "COM.", 1),
            )
            ref = etree.SubElement(
                vl_el,
                odm("ItemRef"),
                ItemOID=it_oid,
                OrderNumber=str(order),
                Mandatory="Yes" if mandatory else "No",
            )
            if meta.method:
                ref.set("MethodOID", self._method(meta.method, f"{ds}.{var.name}"))
            etree.SubElement(ref, defn("WhereClauseRef"), WhereClauseOID=wc_oid)
        for i, e in enumerate(entries):
            if i not in used_entries:
                self.findings.add(
                    Finding(
                        "DEF005",
                        Severity.NOTICE,
                        f"value-level entry {e.get('where')} matches no data",
                        dataset=ds,
                        variable=var.name,
                    )
                )
        self.value_lists.append(vl_el)
        return vl_oid

    def _vlm_meta(
        self, var: VariableSpec, summary: ComboSummary, entry: Mapping[str, Any] | None, label: str
    ) -> _Meta:
        entry = entry or {}
        present = summary.values
        data_type = entry.get("type") or var.type
        unit = entry.get("unit") or (", ".join(sorted(summary.units)) or None)
        description = entry.get("label") or label
        if unit:
            description = f"{description} in {unit}"
        origin = entry.get("origin") or var.origin
        return _Meta(
            name=var.name,
            sas_name=var.name,
            data_type=data_type,
            description=description,
            origin=origin,
            source=var.source if origin == var.origin else None,
            length=None if data_type in _NO_LENGTH else (8 if var.is_numeric else present.length),
            significant_digits=self._significant_digits(data_type, None, present),
            display_format=var.format,
            codelist=entry.get("codelist") or var.codelist,
            method=entry.get("method") or (var.method if origin == var.origin else None),
            comment=entry.get("comment"),
        )

    def _supp_meta(
        self, spec: DatasetSpec, parent: str, var: VariableSpec, qnam: str | None, present: ValueSummary
    ) -> tuple[_Meta, bool]:
        parent_spec = self.study.datasets[parent]
        supp = next((v for v in parent_spec.supplemental_variables if v.name == qnam), None)
        if supp is None and qnam:
            supp = parent_spec.continuation_of(qnam)  # a part of a text over 200 bytes (AETERM1)
        if supp is None:
            self.problems.append(
                f"dataset {spec.name}: QNAM {qnam} is not a supplemental variable of {parent} in its spec"
            )
            supp = var
        data_type = supp.type
        name = supp.name if _SAS_NAME.match(supp.name) else var.name
        meta = _Meta(
            name=name,
            sas_name=name,
            data_type=data_type,
            description=supp.label,
            origin=supp.origin,
            source=supp.source,
            length=None if data_type in _NO_LENGTH else present.length,
            significant_digits=self._significant_digits(data_type, supp.significant_digits, present),
            display_format=supp.format,
            codelist=supp.codelist,
            method=supp.method,
            comment=supp.comment,
        )
        return meta, supp.core == "Req"

    def _combo_key(self, spec: DatasetSpec, by: Sequence[str], combo: tuple[str | None, ...]) -> tuple:
        """Codelist order where the by-variable has a codelist, then text; missing values last."""
        key: list[tuple] = []
        for b, v in zip(by, combo, strict=True):
            if v is None:
                key.append((2, 0, ""))
                continue
            codelist = self.study.codelists.get(spec.variable(b).codelist or "")
            rank = [t.value for t in codelist.terms].index(v) if codelist and v in codelist.values else None
            key.append((0, rank, v) if rank is not None else (1, 0, v))
        return tuple(key)

    def _where_clause(self, ds: str, conditions: tuple[_Where, ...]) -> str:
        cache_key = (ds, conditions)
        if cache_key in self.where_clauses:
            return self.where_clauses[cache_key][0]
        parts = [
            f"{c.variable}.{c.values[0]}" if c.comparator == "EQ" else f"{c.variable}.NOTIN"
            for c in conditions
        ]
        oid = self._oid(_oid_text(f"WC.{ds}." + ".".join(parts)), ("WC", cache_key))
        wc = etree.Element(defn("WhereClauseDef"), OID=oid)
        for c in conditions:
            rc = etree.SubElement(wc, odm("RangeCheck"), Comparator=c.comparator, SoftHard="Soft")
            rc.set(defn("ItemOID"), self._oid(f"IT.{ds}.{c.variable}", ("IT", ds, c.variable)))
            for v in c.values:
                etree.SubElement(rc, odm("CheckValue")).text = v
        self.where_clauses[cache_key] = (oid, wc)
        return oid

    # -------------------------------------------------------------------------------- item defs

    def _item_def(
        self,
        oid: str,
        meta: _Meta,
        present: ValueSummary,
        *,
        where: str,
        default_comment: str,
        value_list: str | None = None,
    ) -> None:
        item = etree.Element(odm("ItemDef"), OID=oid, Name=meta.name, DataType=meta.data_type)
        if meta.length is not None:
            item.set("Length", str(meta.length))
        if meta.significant_digits is not None:
            item.set("SignificantDigits", str(meta.significant_digits))
        item.set("SASFieldName", meta.sas_name)
        if meta.display_format:
            item.set(defn("DisplayFormat"), meta.display_format)
        comment = self._comment(meta.comment, default_comment)
        if comment:
            item.set(defn("CommentOID"), comment)
        _description(item, meta.description)
        if meta.codelist:
            self._use_codelist(meta.codelist, present, where)
            etree.SubElement(item, odm("CodeListRef"), CodeListOID=f"CL.{meta.codelist}")
        item.append(self._origin(meta.origin, meta.source, where))
        if value_list:
            etree.SubElement(item, defn("ValueListRef"), ValueListOID=value_list)
        self.item_defs.append(item)

    def _origin(self, origin: str, source: str | None, where: str) -> etree._Element:
        el = etree.Element(defn("Origin"), Type=origin)
        if origin == "Predecessor":
            if source:
                _description(el, source)
            else:
                self.findings.add(
                    Finding(
                        "DEF006",
                        Severity.WARNING,
                        "Predecessor origin without a source variable",
                        variable=where,
                    )
                )
        elif origin in ("Collected", "Derived", "Assigned", "Protocol"):
            if source in ORIGIN_SOURCES:
                el.set("Source", source)
            elif origin != "Collected":
                el.set("Source", "Sponsor")
            if source and source not in ORIGIN_SOURCES:
                _description(el, source)
        return el

    # -------------------------------------------------------------------------------- codelists

    def _use_codelist(self, codelist_id: str, present: ValueSummary, where: str) -> None:
        if codelist_id not in self.study.codelists:
            self.problems.append(f"{where}: codelist {codelist_id} is not declared in specs/codelists.yaml")
            return
        if present.terms is None:
            raise AssertionError(f"{where}: the profile kept no values for codelist {codelist_id}")
        self.codelist_values.setdefault(codelist_id, set()).update(present.terms)

    def _codelists(self) -> list[tuple[str, etree._Element]]:
        out: list[tuple[str, etree._Element]] = []
        self.ct_used: set[str] = set()
        for cid in sorted(self.codelist_values):
            codelist = self.study.codelists.get(cid)
            if codelist is None:
                continue
            if codelist.is_external:
                out.append((cid, self._external_codelist(codelist)))
                continue
            used = self.codelist_values[cid]
            continued = [t for t in map(codelist.continuation_term, sorted(used - codelist.values)) if t]
            unknown = sorted(used - codelist.values - {t.value for t in continued})
            if unknown:
                self.findings.add(
                    Finding(
                        "DEF003",
                        Severity.WARNING,
                        f"value(s) not in codelist {cid}, left out of define.xml: {', '.join(unknown[:20])}",
                        value=unknown[0],
                    )
                )
            terms = [t for t in codelist.terms if t.value in used] + continued
            if not terms:
                # No term of it occurs in the data (e.g. a variable without data): list what is permitted.
                terms = list(codelist.terms)
            out.append((cid, self._codelist(codelist, terms)))
        return out

    @staticmethod
    def _codelist_element(codelist: Codelist) -> etree._Element:
        return etree.Element(
            odm("CodeList"), OID=f"CL.{codelist.id}", Name=codelist.name, DataType=codelist.data_type
        )

    def _external_codelist(self, codelist: Codelist) -> etree._Element:
        """A CodeList of an external dictionary: its ExternalCodeList (name, version, href), no items."""
        el = self._codelist_element(codelist)
        dictionary = codelist.dictionary or {}
        attrs = {"Dictionary": dictionary["name"]}
        for key, attr in (("version", "Version"), ("href", "href")):
            if dictionary.get(key):
                attrs[attr] = dictionary[key]
        etree.SubElement(el, odm("ExternalCodeList"), attrs)
        return el

    def _codelist(self, codelist: Codelist, terms: list[Term]) -> etree._Element:
        el = self._codelist_element(codelist)
        is_ct = codelist.code is not None and not codelist.sponsor
        if is_ct:
            el.set(defn("StandardOID"), self._ct_standard(codelist))
        else:
            el.set(defn("IsNonStandard"), "Yes")
        with_decode = any(t.decode for t in terms)
        for order, term in enumerate(terms, start=1):
            item = etree.SubElement(
                el,
                odm("CodeListItem" if with_decode else "EnumeratedItem"),
                CodedValue=term.value,
                OrderNumber=str(order),
            )
            if term.sponsor and is_ct:
                item.set(defn("ExtendedValue"), "Yes")
            if with_decode:
                decode = etree.SubElement(item, odm("Decode"))
                etree.SubElement(decode, odm("TranslatedText"), {XML_LANG: "en"}).text = (
                    term.decode or term.value
                )
            if term.code:
                etree.SubElement(item, odm("Alias"), Context="nci:ExtCodeID", Name=term.code)
        if codelist.code:
            etree.SubElement(el, odm("Alias"), Context="nci:ExtCodeID", Name=codelist.code)
        return el

    # -------------------------------------------------------------------------------- standards

    def _ig_standard(self, spec: DatasetSpec) -> str:
        name, _, version = spec.standard.rpartition(" ")
        oid = _oid_text(f"STD.{name.upper()}.{version}")
        self.ig_standards[oid] = (name, version)
        return oid

    def _ct_standard(self, codelist: Codelist) -> str:
        adam = (codelist.source and "adam" in codelist.source.lower()) or codelist.code in ADAM_CT_CODELISTS
        publishing_set = "ADaM" if adam else "SDTM"
        self.ct_used.add(publishing_set)
        return f"STD.CT.{publishing_set.upper()}"

    def _standards(self, codelists: list[tuple[str, etree._Element]]) -> etree._Element:
        el = etree.Element(defn("Standards"))
        for oid, (name, version) in sorted(self.ig_standards.items()):
            etree.SubElement(
                el, defn("Standard"), OID=oid, Name=name, Type="IG", Version=version, Status="Final"
            )
        versions = self.study.settings.get("study", {}).get("standards", {}) or {}
        for publishing_set in ("SDTM", "ADaM"):
            if publishing_set not in getattr(self, "ct_used", set()):
                continue
            key = f"{publishing_set.lower()}_ct"
            version = versions.get(key)
            if not version:
                raise DefineError(
                    [f"study.yaml study.standards.{key} (the {publishing_set} CT version) is missing"]
                )
            std = etree.SubElement(
                el, defn("Standard"), OID=f"STD.CT.{publishing_set.upper()}", Name="CDISC/NCI", Type="CT"
            )
            std.set("PublishingSet", publishing_set)
            std.set("Version", str(version))
            std.set("Status", "Final")
        return el

    # --------------------------------------------------------------------------- methods, comments

    def _method(self, method_id: str, where: str) -> str:
        if method_id not in self.study.methods:
            self.problems.append(f"{where}: method {method_id} is not declared")
        self.methods.add(method_id)
        return method_id

    def _method_defs(self) -> list[etree._Element]:
        out = []
        for mid in sorted(self.methods):
            m = self.study.methods[mid]
            el = etree.Element(odm("MethodDef"), OID=mid, Name=m.name, Type=m.type)
            _description(el, m.description)
            if m.document and m.document in self.document_ids:
                etree.SubElement(el, defn("DocumentRef"), leafID=m.document)
            out.append(el)
        return out

    def _comment(self, comment: str | None, default_oid: str) -> str | None:
        """OID of a CommentDef: a comment id of specs/define.yaml, or inline text under default_oid."""
        if not comment:
            return None
        if comment in self.study.comments:
            self.comments[comment] = self.study.comments[comment]
            return comment
        if comment in self.inline_comments:  # the same text on several variables: one CommentDef
            return self.inline_comments[comment]
        oid = self._oid(_oid_text(default_oid), ("COM", comment))
        self.comments[oid] = comment
        self.inline_comments[comment] = oid
        return oid

    def _comment_defs(self) -> list[etree._Element]:
        out = []
        for oid in sorted(self.comments):
            el = etree.Element(defn("CommentDef"), OID=oid)
            _description(el, self.comments[oid])
            out.append(el)
        return out

    # ------------------------------------------------------------------------------------ helpers

    def _oid(self, base: str, key: object) -> str:
        """A unique OID for `key`, `base` unless a different object already holds it."""
        oid, n = base, 1
        while oid in self.oids and self.oids[oid] != key:
            n += 1
            oid = f"{base}.{n}"
        self.oids[oid] = key
        return oid


_NO_LENGTH = frozenset(
    {
        "date",
        "datetime",
        "time",
        "partialDate",
        "partialTime",
        "partialDatetime",
        "incompleteDatetime",
        "durationDatetime",
    }
)


def _description(parent: etree._Element, text: str) -> None:
    desc = etree.SubElement(parent, odm("Description"))
    etree.SubElement(desc, odm("TranslatedText"), {XML_LANG: "en"}).text = text


def _leaf(leaf_id: str, href: str, title: str) -> etree._Element:
    leaf = etree.Element(defn("leaf"), ID=leaf_id)
    leaf.set(f"{{{XLINK_NS}}}href", href)
    etree.SubElement(leaf, defn("title")).text = title
    return leaf


def _oid_text(text: str) -> str:
    return _OID_UNSAFE.sub("_", text)


def _match_entry(
    entries: Sequence[Mapping[str, Any]], by: Sequence[str], combo: tuple[str | None, ...]
) -> tuple[int, Mapping[str, Any]] | None:
    """The first value-level entry (index, entry) whose `where` holds for this combination."""
    for i, entry in enumerate(entries):
        where = entry.get("where") or {}
        if all(k in by and combo[list(by).index(k)] == str(v) for k, v in where.items()):
            return i, entry
    return None


def _conditions(
    by: Sequence[str], combo: tuple[str | None, ...], all_combos: list[tuple[str | None, ...]]
) -> tuple[_Where, ...]:
    """EQ for each present by-value; for a missing one, NOTIN the values its siblings have (if any).

    Siblings are the combinations in the data that agree on every earlier by-variable, so the clause
    selects exactly the records of this combination (e.g. a test without LBMETHOD next to the same
    test with one) and stays short when the variable is never filled for that test.
    """
    out: list[_Where] = []
    for i, (b, v) in enumerate(zip(by, combo, strict=True)):
        if v is not None:
            out.append(_Where(b, "EQ", (v,)))
            continue
        siblings = sorted({c[i] for c in all_combos if c[:i] == combo[:i] and c[i] is not None})
        if siblings:
            out.append(_Where(b, "NOTIN", tuple(siblings)))
    return tuple(out)


def _describe(conditions: Sequence[_Where]) -> str:
    return " and ".join(
        f"{c.variable} = {c.values[0]}"
        if c.comparator == "EQ"
        else f"{c.variable} not in ({', '.join(c.values)})"
        for c in conditions
    )


def _combo_label(combo: tuple[str | None, ...], summary: ComboSummary) -> str:
    """`<test name> (<other by-values>)`: --TESTCD -> --TEST, PARAMCD -> PARAM, TSPARMCD -> TSPARM (the
    decode most records of the combination have; ties -> the smallest text)."""
    name = combo[0] or ""
    if summary.labels:
        top = max(summary.labels.values())
        name = min(t for t, c in summary.labels.items() if c == top)
    qualifiers = [v for v in combo[1:] if v is not None]
    return f"{name} ({', '.join(qualifiers)})" if qualifiers else name
