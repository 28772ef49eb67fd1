"""The study metadata model, loaded from a study folder's `specs/` and validated with cerberus.

A study folder holds `specs/` (study.yaml, codelists.yaml, define.yaml, sdtm/*.yaml, adam/*.yaml) and
`mappings/` (raw -> SDTM specs). Every problem found while loading becomes a `Finding` naming file,
line and key; all of them are collected before `SpecError` is raised.
"""

from __future__ import annotations

import codecs
import logging
import pickle
import re
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import cerberus

from cdiscgen._ctrelease import CtReleaseError, ReleaseCodelist, read_ct_release
from cdiscgen._ctsheet import CtRow, CtSheetError, read_ct_sheet
from cdiscgen._findings import Finding, Findings, Severity
from cdiscgen._schemacheck import meets_schema
from cdiscgen._schemas import (
    CODELISTS_FILE_SCHEMA,
    DATASET_SCHEMA,
    DEFINE_FILE_SCHEMA,
    EXPLANATIONS_FILE_SCHEMA,
    STUDY_FILE_SCHEMA,
)
from cdiscgen._yaml import LineDict, LineList, YamlSyntaxError, load_yaml
from cdiscgen._yaml import plain as _plain

log = logging.getLogger(__name__)

NUMERIC_TYPES = frozenset({"integer", "float"})


SPEC_FINDING_NAMES: dict[str, str] = {
    "SPEC001": "Required spec file missing",
    "SPEC002": "YAML syntax error",
    "SPEC003": "Spec file is not a mapping",
    "SPEC004": "Spec off its schema",
    "SPEC010": "Dataset declared twice",
    "SPEC011": "Method declared twice",
    "SPEC012": "Codelist declared twice",
    "SPEC013": "Codelist term declared twice",
    "SPEC014": "Term without NCI code nor sponsor mark",
    "SPEC020": "Variable declared twice",
    "SPEC021": "Codelist does not exist",
    "SPEC022": "Method does not exist",
    "SPEC023": "Derived variable without a method",
    "SPEC024": "Numeric length other than 8",
    "SPEC025": "Key variable does not exist",
    "SPEC026": "Split variable does not exist",
    "SPEC027": "Value-level variable does not exist",
    "SPEC028": "Range on a text variable or inverted",
    "SPEC029": "Label the transport file cannot hold",
    "SPEC030": "Visit number or code used twice",
    "SPEC031": "Visit epoch not declared",
    "SPEC032": "Visit window inverted",
    "SPEC033": "Arm element not declared",
    "SPEC034": "Agency profile not declared",
    "SPEC035": "Unscheduled visits declared wrongly",
    "SPEC036": "Condition or date source names an unknown dataset or variable",
    "SPEC037": "Element without a start rule",
    "SPEC038": "Baseline definition names an unknown dataset, variable or visit",
    "SPEC039": "Record flag names an unknown dataset or variable",
    "SPEC040": "Mapping spec without a target dataset",
    "SPEC041": "Mapping targets an undeclared dataset",
    "SPEC042": "Date that does not exist",
    "SPEC043": "No mapping specs",
    "SPEC044": "Explanation names an unknown rule",
    "SPEC045": "Trial design cannot be derived from study.yaml",
    "SPEC046": "Protocol fact for TS not stated or outside its codelist",
    "SPEC047": "ARMNRS default not a term of its codelist",
    "SPEC048": "CT spreadsheet cannot be read",
    "SPEC049": "CT spreadsheet row that does not fit the codelists",
    "SPEC050": "Codelist without terms",
    "SPEC051": "CT release file cannot be read or is not declared",
    "SPEC052": "Codelist or term that contradicts its CT release",
    "SPEC053": "Codelist attribute that differs from its CT release",
    "SPEC200": "Spec workbook problem (sheet, cell)",
}
"""Short name of every study-spec finding code, for reports."""


class SpecError(ValueError):
    """The study folder's specs are invalid; `findings` holds every problem found."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = list(findings)
        lines = "\n".join(f"  {f}" for f in self.findings[:50])
        more = f"\n  ... and {len(self.findings) - 50} more" if len(self.findings) > 50 else ""
        super().__init__(f"{len(self.findings)} problem(s) in the study specs:\n{lines}{more}")


@dataclass(frozen=True)
class VariableSpec:
    name: str
    label: str
    type: str
    origin: str
    core: str
    length: int | None = None
    format: str | None = None
    codelist: str | None = None
    source: str | None = None
    role: str | None = None
    method: str | None = None
    comment: str | None = None
    significant_digits: int | None = None
    supplemental: bool = False
    qorig: str | None = None
    qeval: str | None = None
    value_range: tuple[float | None, float | None] | None = None  # plausible (min, max) of a number
    line: int = 0
    split_stem: str | None = None  # QNAM stem of the SUPP-- records text over 200 bytes goes on in
    split_break: str = " "  # the character a long text is split after

    @property
    def continuation_stem(self) -> str:
        """QNAM stem of this text's continuation records (SDTMIG 3.4 4.5.3.2): AETERM -> AETERM1, AETERM2;
        an 8-character name loses its last character (CMMODIFY -> CMMODIF1)."""
        return self.split_stem or self.name[:7]

    def continuation(self, part: int) -> VariableSpec:
        """The supplemental qualifier holding part `part` (1, 2, ...) of this variable's text."""
        return replace(
            self,
            name=f"{self.continuation_stem}{part}",
            label=continuation_label(self.label, part),
            core="Perm",  # only a text that long has it
            supplemental=True,
            qorig=self.qorig or self.origin,
            split_stem=None,
        )

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    @property
    def xpt_type(self) -> str:
        """'num' or 'char': the SAS storage type of this variable."""
        return "num" if self.is_numeric else "char"


@dataclass(frozen=True)
class MethodSpec:
    id: str
    name: str
    type: str
    description: str
    document: str | None = None


@dataclass(frozen=True)
class Term:
    value: str
    code: str | None = None
    decode: str | None = None
    sponsor: bool = False
    synonyms: tuple[str, ...] = ()
    convention: str | None = None  # the implementation-guide rule that prescribes this sponsor term
    scoped: tuple[tuple[str, str], ...] = ()  # (EDC codelist, collected value): a synonym within one EDC list


@dataclass(frozen=True)
class Codelist:
    id: str
    name: str
    extensible: bool
    data_type: str
    terms: tuple[Term, ...]
    code: str | None = None
    sponsor: bool = False
    source: str | None = None
    dictionary: Mapping[str, str] | None = None  # an external dictionary: name, version, href
    # a SUPP-- QNAM codelist: (stem, label) of the parent's text variables, whose parts beyond 200 bytes
    # are QNAMs stem1, stem2, ... (SDTMIG 3.4 4.5.3.2) without being listed
    continued: tuple[tuple[str, str], ...] = ()

    def continuation_term(self, value: str) -> Term | None:
        """The term of a continuation QNAM (AETERM2: part 2 of AETERM) this codelist admits, if it is one."""
        for stem, label in self.continued:
            part = value[len(stem) :]
            if value.startswith(stem) and re.fullmatch(r"[1-9][0-9]*", part):
                return Term(value, decode=continuation_label(label, int(part)), sponsor=True)
        return None

    @property
    def is_external(self) -> bool:
        """An external dictionary (MedDRA, WHODrug): its values are not listed, so not checked here."""
        return self.dictionary is not None

    @property
    def values(self) -> frozenset[str]:
        return frozenset(t.value for t in self.terms)

    def term(self, value: str) -> Term | None:
        for t in self.terms:
            if t.value == value:
                return t
        return None

    def synonym_map(self, edc_codelist: str | None = None) -> dict[str, str]:
        """Collected value or synonym (as term_key writes it) -> submission value; with `edc_codelist`,
        the synonyms scoped to that EDC codelist too (they win over an unscoped reading)."""
        out: dict[str, str] = {}
        for t in self.terms:
            out[term_key(t.value)] = t.value
            for s in t.synonyms:
                out[term_key(str(s))] = t.value
        if edc_codelist is not None:
            for t in self.terms:
                for scope, s in t.scoped:
                    if scope == edc_codelist:
                        out[term_key(s)] = t.value
        return out

    @property
    def edc_codelists(self) -> frozenset[str]:
        """The EDC codelists this codelist has scoped synonyms for."""
        return frozenset(scope for t in self.terms for scope, _ in t.scoped)


def continuation_label(label: str, part: int) -> str:
    """QLABEL of part `part` of a text variable labelled `label`: the label and the number, in 40."""
    suffix = f" {part}"
    return label[: 40 - len(suffix)].rstrip() + suffix


def term_key(value: str) -> str:
    """A collected value as codelists and values maps match it: stripped, upper case, runs of inner
    spaces made one ("Not  Hispanic" is "NOT HISPANIC")."""
    return " ".join(value.split()).upper()


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    label: str
    cls: str
    structure: str
    keys: tuple[str, ...]
    standard: str
    variables: tuple[VariableSpec, ...]
    subclass: str | None = None
    domain: str | None = None
    repeating: bool = True
    reference_data: bool = False
    split_by: str | None = None
    seq_order: tuple[str, ...] = ()  # the order --SEQ numbers records in (default: the keys)
    comment: str | None = None
    methods: tuple[MethodSpec, ...] = ()
    value_level: dict[str, Any] | None = None
    file: Path | None = None

    @property
    def is_adam(self) -> bool:
        return self.standard.startswith("ADaM")

    @property
    def variable_names(self) -> list[str]:
        """Names of the variables submitted in the dataset itself (supplemental ones go to SUPP--)."""
        return [v.name for v in self.variables if not v.supplemental]

    @property
    def submitted_variables(self) -> list[VariableSpec]:
        return [v for v in self.variables if not v.supplemental]

    @property
    def supplemental_variables(self) -> list[VariableSpec]:
        return [v for v in self.variables if v.supplemental]

    def continuation_of(self, qnam: str) -> VariableSpec | None:
        """The continuation record spec (see VariableSpec.continuation) a QNAM names, if any."""
        for v in self.variables:
            stem = v.continuation_stem
            part = qnam[len(stem) :]
            if not v.is_numeric and qnam.startswith(stem) and re.fullmatch(r"[1-9][0-9]*", part):
                return v.continuation(int(part))
        return None

    def variable(self, name: str) -> VariableSpec:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(f"{self.name} has no variable {name} in its spec ({self.file})")

    def has_variable(self, name: str) -> bool:
        return any(v.name == name for v in self.variables)


@dataclass(frozen=True)
class Visit:
    visit: str
    code: str
    visitnum: float
    day: int | None  # planned study day (VISITDY); None for a visit without one
    window: tuple[int, int] | None
    epoch: str | None
    dosing: bool
    start_rule: str | None = None
    end_rule: str | None = None

    other_codes: tuple[str, ...] = ()  # further spellings of the code in the forms (`codes:`)

    @property
    def key(self) -> str:
        """The visit code as raw data are matched to it: case- and space-insensitive."""
        return visit_key(self.code)

    @property
    def keys(self) -> tuple[str, ...]:
        """Every spelling of the visit's code (`code` and `codes`), as raw data are matched to them."""
        return tuple(dict.fromkeys(visit_key(c) for c in (self.code, *self.other_codes)))


def visit_key(code: str) -> str:
    """A collected visit code normalised for matching: upper case, without any space ("Visit 1" and
    "VISIT1" are one code)."""
    return "".join(str(code).split()).upper()


@dataclass
class Study:
    """Everything in a study folder's `specs/`, validated."""

    root: Path
    settings: dict[str, Any]
    datasets: dict[str, DatasetSpec]
    codelists: dict[str, Codelist]
    methods: dict[str, MethodSpec]
    comments: dict[str, str] = field(default_factory=dict)
    documents: list[dict[str, str]] = field(default_factory=list)
    explanations: tuple[Explanation, ...] = ()

    @property
    def studyid(self) -> str:
        return str(self.settings["study"]["studyid"])

    @property
    def specs_dir(self) -> Path:
        return self.root / "specs"

    @property
    def mappings_dir(self) -> Path:
        return self.root / "mappings"

    @property
    def cutoff(self) -> date:
        return date.fromisoformat(self.settings["cutoff"]["date"])

    @property
    def visits(self) -> list[Visit]:
        return [
            Visit(
                visit=v["visit"],
                code=v["code"],
                visitnum=float(v["visitnum"]),
                day=int(v["day"]) if v.get("day") is not None else None,
                window=(int(v["window"][0]), int(v["window"][1])) if v.get("window") else None,
                epoch=v.get("epoch"),
                dosing=bool(v.get("dosing", False)),
                start_rule=v.get("start_rule"),
                end_rule=v.get("end_rule"),
                other_codes=tuple(str(c) for c in v.get("codes") or ()),
            )
            for v in self.settings["visits"]
        ]

    @property
    def usubjid_pattern(self) -> str:
        """How USUBJID is built: `{studyid}` and `{subject}` (the raw subject column) in a text."""
        return str((self.settings.get("subjects") or {}).get("usubjid", "{studyid}-{subject}"))

    @property
    def export_encoding(self) -> str:
        """The encoding of the agency profile the transport files are written in (study.yaml export)."""
        export = self.settings["export"]
        return str(export["profiles"][export["agency"]]["encoding"])

    @property
    def study_day_reference(self) -> str:
        """The DM reference date --DY counts from (subjects.study_day_from; SDTMIG's default RFSTDTC)."""
        return str((self.settings.get("subjects") or {}).get("study_day_from", "RFSTDTC"))

    @property
    def missing_tokens(self) -> tuple[str, ...]:
        """Values the raw exports write for a missing value besides a blank (study.yaml raw.missing)."""
        return tuple(str(t) for t in (self.settings.get("raw") or {}).get("missing") or ())

    def compute_usubjid(self, subject: Any) -> Any:
        """USUBJID of stripped raw subject identifiers (a pandas Series of text): the pattern applied;
        empty where the subject is empty."""
        head, _, tail = self.usubjid_pattern.replace("{studyid}", self.studyid).partition("{subject}")
        return (head + subject + tail).where(subject != "", "")

    @property
    def unscheduled_codes(self) -> tuple[str, ...]:
        """Visit codes (normalised, see visit_key) of unscheduled visits placed by date."""
        uns = self.settings["unscheduled"]
        codes = ([uns["code"]] if uns.get("code") else []) + list(uns.get("codes") or [])
        return tuple(dict.fromkeys(visit_key(c) for c in codes))

    @property
    def unscheduled_patterns(self) -> tuple[str, ...]:
        """Regular expressions of unscheduled visit codes that carry their number (group `visitnum`)."""
        return tuple(str(p) for p in self.settings["unscheduled"].get("patterns") or ())

    @property
    def treatments(self) -> list[dict[str, Any]]:
        return list(self.settings["design"].get("treatments") or [])

    @property
    def placebo_treatments(self) -> frozenset[str]:
        """Names (upper case) of the treatments declared `placebo: true` in design.treatments."""
        return frozenset(str(t["name"]).strip().upper() for t in self.treatments if t.get("placebo"))

    @property
    def study_oid(self) -> str:
        """OID of the ODM Study in define.xml; Dataset-JSON's studyOID."""
        return f"STDY.{self.studyid}"

    def metadata_version_oid(self, standard: str) -> str:
        """OID of the define.xml MetaDataVersion for "SDTM" or "ADaM"; Dataset-JSON files reference it."""
        return f"MDV.{self.studyid}.{standard}"

    def sdtm_datasets(self) -> list[DatasetSpec]:
        return [d for d in self.datasets.values() if not d.is_adam]

    def adam_datasets(self) -> list[DatasetSpec]:
        return [d for d in self.datasets.values() if d.is_adam]

    def dataset(self, name: str) -> DatasetSpec:
        try:
            return self.datasets[name]
        except KeyError:
            raise KeyError(f"dataset {name} is not declared in {self.specs_dir}") from None


# --------------------------------------------------------------------------------------------- locating


def bundled_study_dir() -> Path:
    """The bundled DarPAL study: inside the wheel (`cdiscgen/_bundled`) or, in a clone, the repo root."""
    packaged = resources.files("cdiscgen").joinpath("_bundled")
    packaged_path = Path(str(packaged))
    if (packaged_path / "specs" / "study.yaml").is_file():
        return packaged_path
    repo_root = Path(__file__).resolve().parents[1]
    if (repo_root / "specs" / "study.yaml").is_file():
        return repo_root
    raise FileNotFoundError("the bundled study is missing from this installation (no specs/study.yaml)")


def resolve_study_dir(study_dir: Path | str | None) -> Path:
    """`study_dir` or the bundled study; a folder without specs/study.yaml is a clear error."""
    if study_dir is None:
        return bundled_study_dir()
    path = Path(study_dir)
    if not (path / "specs" / "study.yaml").is_file():
        raise FileNotFoundError(
            f"{path} is not a study folder: {path / 'specs' / 'study.yaml'} does not exist"
        )
    return path


def minimal_study_dir() -> Path:
    """The skeleton of a new study: DM and the trial design domains, no DarPAL domains or rules."""
    return Path(str(resources.files("cdiscgen").joinpath("_templates", "minimal")))


def init_study(target: Path | str, *, source: Path | None = None, minimal: bool = False) -> Path:
    """Copy a study's `specs/` and `mappings/` into `target` as the start of a new study: the bundled
    study (or `source`), or with `minimal` the skeleton of minimal_study_dir()."""
    target = Path(target)
    if minimal and source is not None:
        raise ValueError("--minimal starts from the skeleton; it does not take --study")
    src = minimal_study_dir() if minimal else resolve_study_dir(source)
    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"{target} exists and is not empty; choose a new folder")
    target.mkdir(parents=True, exist_ok=True)
    for part in ("specs", "mappings"):
        if (src / part).is_dir():
            shutil.copytree(src / part, target / part, ignore=shutil.ignore_patterns("__pycache__"))
    log.info("initialised study folder %s from %s", target, src)
    return target


# --------------------------------------------------------------------------------------------- loading


def load_study(study_dir: Path | str | None = None) -> Study:
    """Load and validate a study folder; raise SpecError listing every problem."""
    study, findings = check_study(study_dir)
    errors = findings.at_least(Severity.ERROR)
    if errors or study is None:
        raise SpecError(errors)
    return study


def check_stage_specs(study: Study) -> list[Finding]:
    """The checks each stage owns for its own spec files (mapping specs, trial design, ADaM parameter
    definitions): with check_study, what `cdiscgen check-specs` reports."""
    import importlib

    out: list[Finding] = []
    for module_name, function_name in (
        ("sdtm", "check_mapping_specs"),
        ("sdtm", "check_trial_design"),
        ("adam", "check_parameter_specs"),
    ):
        check = getattr(importlib.import_module(module_name), function_name, None)
        if check is not None:
            out.extend(check(study.root) if module_name == "adam" else check(study))
    return out


def read_dataset_spec_file(path: Path | str) -> DatasetSpec:
    """One dataset spec file (specs/sdtm or specs/adam), schema-validated, without loading the whole
    study (a stage that needs only its own datasets' metadata). Raises SpecError naming file and line."""
    path = Path(path)
    findings = Findings()
    doc = _load_validated(path, DATASET_SCHEMA, findings, path.parent)
    if doc is None:
        raise SpecError(findings.items)
    return _build_dataset(path, doc)


def check_study(study_dir: Path | str | None = None) -> tuple[Study | None, Findings]:
    """Validate every spec file of a study folder; return the study (None if unusable) and all findings."""
    root = resolve_study_dir(study_dir)
    findings = Findings()
    specs = root / "specs"

    settings = _load_validated(specs / "study.yaml", STUDY_FILE_SCHEMA, findings, root)
    codelist_doc = _load_validated(specs / "codelists.yaml", CODELISTS_FILE_SCHEMA, findings, root)
    define_doc = (
        _load_validated(specs / "define.yaml", DEFINE_FILE_SCHEMA, findings, root)
        if (specs / "define.yaml").is_file()
        else {}
    )
    explanations = _load_explanations(specs / "explanations.yaml", findings, root)
    dataset_docs: list[tuple[Path, LineDict]] = []
    broken_docs: list[tuple[Path, LineDict]] = []
    for sub in ("sdtm", "adam"):
        for path in sorted((specs / sub).glob("*.yaml")):
            doc = _load_validated(path, DATASET_SCHEMA, findings, root)
            if doc is not None:
                dataset_docs.append((path, doc))
            else:
                parsed = _parse_quietly(path)
                if parsed is not None:
                    broken_docs.append((path, parsed))

    codelists = (
        _build_codelists(codelist_doc, specs / "codelists.yaml", findings, root) if codelist_doc else {}
    )
    if codelist_doc:
        codelists = _with_release_terms(codelists, codelist_doc, settings, specs, findings, root)
        codelists = _with_spreadsheet_terms(codelists, codelist_doc, specs, findings, root)
    datasets: dict[str, DatasetSpec] = {}
    methods: dict[str, MethodSpec] = {}
    for m in (define_doc or {}).get("methods", []) or []:
        methods[m["id"]] = _method(m)
    for path, doc in dataset_docs:
        spec = _build_dataset(path, doc)
        if spec.name in datasets:
            findings.add(
                _spec_finding(
                    "SPEC010",
                    path,
                    root,
                    doc.line_of("dataset"),
                    "dataset",
                    f"dataset {spec.name} is declared twice (also in {datasets[spec.name].file})",
                )
            )
            continue
        datasets[spec.name] = spec
        for m in spec.methods:
            if m.id in methods:
                findings.add(
                    _spec_finding(
                        "SPEC011",
                        path,
                        root,
                        doc.line_of("methods"),
                        "methods",
                        f"method {m.id} is declared twice",
                    )
                )
            methods[m.id] = m
    # Cross-references are checked on schema-invalid files too, so that every finding is reported at once.
    for path, doc in dataset_docs + broken_docs:
        findings.extend(_check_dataset_references(path, doc, codelists, methods, root))

    if settings is None or codelist_doc is None:
        return None, findings
    codelists = _with_continuations(codelists, datasets)
    study = Study(
        root=root,
        settings=_plain(settings),
        datasets=datasets,
        codelists=codelists,
        methods=methods,
        comments={c["id"]: c["text"] for c in (define_doc or {}).get("comments", []) or []},
        documents=[_plain(d) for d in (define_doc or {}).get("documents", []) or []],
        explanations=explanations,
    )
    findings.extend(_check_study_settings(study, settings, root))
    findings.extend(_check_mapping_targets(study))
    findings.extend(_check_labels(dataset_docs, settings, root))
    return study, findings


def _with_continuations(
    codelists: dict[str, Codelist], datasets: dict[str, DatasetSpec]
) -> dict[str, Codelist]:
    """Each SUPP-- dataset's QNAM codelist admits the continuation QNAMs of its parent's text variables."""
    out = dict(codelists)
    for spec in datasets.values():
        parent = next(
            (d for d in datasets.values() if not d.is_adam and f"SUPP{d.domain or d.name}" == spec.name), None
        )
        if parent is None or not spec.has_variable("QNAM"):
            continue
        cid = spec.variable("QNAM").codelist
        if cid is None or cid not in out or out[cid].is_external:
            continue
        stems = tuple(
            dict.fromkeys((v.continuation_stem, v.label) for v in parent.variables if not v.is_numeric)
        )
        out[cid] = replace(out[cid], continued=tuple(dict.fromkeys([*out[cid].continued, *stems])))
    return out


XPT_MAX_LABEL_BYTES = 40


def _check_labels(dataset_docs: list[tuple[Path, LineDict]], settings: LineDict, root: Path) -> list[Finding]:
    """Every dataset and variable label is text the agency profile's encoding holds in at most 40 bytes
    (XPT v5), so that `check-specs` refuses what writing the transport file would refuse."""
    export = settings["export"]
    profile = export["profiles"].get(export["agency"])
    if profile is None:
        return []  # SPEC034
    encoding = str(profile["encoding"])
    try:
        codecs.lookup(encoding)
    except LookupError:
        line = export["profiles"].line_of(export["agency"])
        return [
            _spec_finding(
                "SPEC034",
                root / "specs" / "study.yaml",
                root,
                line,
                "export.profiles",
                f"encoding {encoding!r} of profile {export['agency']!r} is not a known codec",
            )
        ]
    out: list[Finding] = []

    def problem(label: str) -> str | None:
        try:
            size = len(label.encode(encoding))
        except UnicodeEncodeError as exc:
            bad = label[exc.start : exc.end]
            return (
                f"label {label!r} holds {bad!r}, which {encoding} (agency {export['agency']}) cannot encode"
            )
        if size > XPT_MAX_LABEL_BYTES:
            return (
                f"label {label!r} is {size} bytes in {encoding}; XPT v5 holds at most {XPT_MAX_LABEL_BYTES}"
            )
        return None

    def check(label: Any, path: Path, line: int | None, key: str) -> None:
        message = problem(label) if isinstance(label, str) else None
        if message:
            out.append(_spec_finding("SPEC029", path, root, line, key, message))

    for path, doc in dataset_docs:
        check(doc.get("label"), path, doc.line_of("label"), "label")
        for i, v in enumerate(doc.get("variables") or []):
            if isinstance(v, LineDict):
                check(v.get("label"), path, v.line_of("label"), f"variables[{i}].label")
    return out


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _spec_finding(code: str, path: Path, root: Path, line: int | None, key: str, message: str) -> Finding:
    return Finding(
        code=code, severity=Severity.ERROR, message=message, variable=key, file=_rel(path, root), line=line
    )


def is_one_record_per_subject(structure: str) -> bool:
    """A dataset whose structure is exactly "one record per subject" (DM, ADSL): not Repeating in define.xml
    unless its spec says `repeating`."""
    return " ".join(str(structure).lower().split()) == "one record per subject"


@dataclass(frozen=True)
class Explanation:
    """A finding the sponsor explains (specs/explanations.yaml): the findings of rule `code`, narrowed by
    dataset, variable and subjects when given, carry `reason` in every report and no longer count at
    their severity. `line` is where the entry starts in the file."""

    code: str
    reason: str
    dataset: str | None = None
    variable: str | None = None
    usubjid: tuple[str, ...] = ()
    line: int | None = None

    def matches(self, finding: Finding) -> bool:
        return (
            finding.code == self.code
            and (self.dataset is None or finding.dataset == self.dataset)
            and (self.variable is None or finding.variable == self.variable)
            and (not self.usubjid or finding.usubjid in self.usubjid)
        )


def _load_explanations(path: Path, findings: Findings, root: Path) -> tuple[Explanation, ...]:
    """specs/explanations.yaml (optional); an entry naming a rule the catalogue lacks is an error."""
    if not path.is_file():
        return ()
    doc = _load_validated(path, EXPLANATIONS_FILE_SCHEMA, findings, root)
    if doc is None:
        return ()
    from cdiscgen.validate import list_rules  # the catalogue imports the specs module

    known = {r.code for r in list_rules()}
    out = []
    entries = doc["explanations"]
    for i, entry in enumerate(entries):
        line = entries.line_of(i) if isinstance(entries, LineList) else None
        if entry["code"] not in known:
            message = f"explanation {i + 1} names {entry['code']}, which is not a rule of the catalogue"
            findings.add(_spec_finding("SPEC044", path, root, line, "code", message))
            continue
        out.append(
            Explanation(
                code=str(entry["code"]),
                reason=" ".join(str(entry["reason"]).split()),
                dataset=entry.get("dataset"),
                variable=entry.get("variable"),
                usubjid=tuple(str(u) for u in entry.get("usubjid") or ()),
                line=line,
            )
        )
    return tuple(out)


def _load_validated(path: Path, schema: dict, findings: Findings, root: Path) -> LineDict | None:
    """Parse and cerberus-validate one file; every violation becomes a finding. None if unusable."""
    if not path.is_file():
        findings.add(_spec_finding("SPEC001", path, root, None, "", "required spec file is missing"))
        return None
    try:
        doc = load_yaml(path)
    except YamlSyntaxError as exc:
        findings.add(_spec_finding("SPEC002", path, root, exc.line, "", f"YAML syntax error: {exc.problem}"))
        return None
    if not isinstance(doc, dict):
        findings.add(
            _spec_finding("SPEC003", path, root, 1, "", "the file must hold a mapping at the top level")
        )
        return None
    problems = schema_problems(doc, schema)
    for problem in problems:
        findings.add(_spec_finding("SPEC004", path, root, problem.line, problem.key, problem.message))
    return None if problems else doc


@dataclass(frozen=True)
class SchemaProblem:
    """One cerberus violation located in a line-keeping YAML document."""

    line: int | None
    key: str
    message: str


_VALIDATORS: dict[int, tuple[dict, cerberus.Validator]] = {}


def _validator_for(schema: dict) -> cerberus.Validator:
    """One validator per schema object: cerberus checks a schema each time a Validator is built, which
    costs more than validating a spec against it. The schema is kept with its validator, so its id is
    never reused for another one."""
    cached = _VALIDATORS.get(id(schema))
    if cached is None or cached[0] is not schema:
        cached = _VALIDATORS[id(schema)] = (schema, cerberus.Validator(schema, allow_unknown=False))
    return cached[1]


_PROBLEMS: dict[tuple[int, bytes], tuple[SchemaProblem, ...]] = {}
_PROBLEMS_KEPT = 4096


def schema_problems(doc: Any, schema: dict) -> list[SchemaProblem]:
    """Validate `doc` against a closed cerberus schema; every violation with its line, dotted key and a
    plain-words message (unknown key, wrong type, too long, ...). Empty when the document is valid.

    The answer is remembered per schema and document (its pickled form, lines included): cerberus costs
    far more than reading the YAML, and the same spec files are validated by every stage and command. A
    document that meets the schema is told by `meets_schema` without cerberus."""
    if meets_schema(doc, schema):
        return []
    validator = _validator_for(schema)
    try:
        key: tuple[int, bytes] | None = (id(schema), pickle.dumps(doc, protocol=pickle.HIGHEST_PROTOCOL))
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
        key = None
    if key is not None and key in _PROBLEMS:
        return list(_PROBLEMS[key])
    out = []
    # no rule of ours normalizes; cerberus's normalizing pass fails (TypeError) on a mapping given where a
    # list of values is expected, e.g. `keys: {type: ...}`, and would hide the plain finding
    if not validator.validate(doc, normalize=False):
        for error in _leaf_errors(validator._errors):
            line, key_path = _locate(doc, error.document_path)
            out.append(SchemaProblem(line=line, key=key_path, message=_describe(error)))
    if key is not None:
        if len(_PROBLEMS) >= _PROBLEMS_KEPT:
            _PROBLEMS.clear()
        _PROBLEMS[key] = tuple(out)
    return out


def _parse_quietly(path: Path) -> LineDict | None:
    try:
        doc = load_yaml(path)
    except YamlSyntaxError:
        return None
    return doc if isinstance(doc, LineDict) else None


def _leaf_errors(
    errors: Iterable[cerberus.errors.ValidationError],
) -> Iterator[cerberus.errors.ValidationError]:
    for error in errors:
        if error.is_group_error or error.is_logic_error:
            yield from _leaf_errors(error.child_errors or [])
        else:
            yield error


def _describe(error: cerberus.errors.ValidationError) -> str:
    rule, constraint, value = error.rule, error.constraint, error.value
    key = error.document_path[-1] if error.document_path else ""
    if error.code == cerberus.errors.UNKNOWN_FIELD.code:
        return f"unknown key {key!r}"
    if error.code == cerberus.errors.REQUIRED_FIELD.code:
        return f"required key {key!r} is missing"
    if rule == "type":
        return f"{key!r} must be of type {constraint}, got {value!r}"
    if rule == "maxlength":
        return f"{key!r} is longer than {constraint} characters ({len(value)}): {value!r}"
    if rule == "minlength":
        return f"{key!r} needs at least {constraint} item(s)"
    if rule == "regex":
        return f"{key!r} value {value!r} does not match the required pattern {constraint}"
    if rule == "allowed":
        return f"{key!r} value {value!r} is not one of {', '.join(map(str, constraint))}"
    if rule in ("min", "max"):
        return f"{key!r} value {value!r} is out of range ({rule} {constraint})"
    if rule == "empty":
        return f"{key!r} must not be empty"
    if rule == "nullable":
        return f"{key!r} must not be null"
    return f"{key!r}: {rule} {constraint!r} failed for {value!r}"


def _locate(doc: Any, path: Sequence[Any]) -> tuple[int | None, str]:
    """Line and dotted key of a cerberus document path in a LineDict/LineList tree."""
    node: Any = doc
    line: int | None = getattr(doc, "line", None)
    keys: list[str] = []
    for part in path:
        if isinstance(node, LineDict):
            line = node.line_of(part)
            keys.append(str(part))
            node = node.get(part)
        elif isinstance(node, LineList) and isinstance(part, int):
            line = node.line_of(part)
            item = node[part] if part < len(node) else None
            label = (
                item.get("name") or item.get("id") or item.get("dataset") if isinstance(item, dict) else None
            )
            keys.append(f"{part}" if not label else f"{part}({label})")
            node = item
        else:
            keys.append(str(part))
    dotted = ""
    for k in keys:
        dotted += f"[{k}]" if k[:1].isdigit() else (f".{k}" if dotted else k)
    return line, dotted


def _method(m: dict) -> MethodSpec:
    return MethodSpec(
        id=m["id"], name=m["name"], type=m["type"], description=m["description"], document=m.get("document")
    )


def _build_dataset(path: Path, doc: LineDict) -> DatasetSpec:
    variables = tuple(
        VariableSpec(
            name=v["name"],
            label=v["label"],
            type=v["type"],
            origin=v["origin"],
            core=v["core"],
            length=v.get("length"),
            format=v.get("format"),
            codelist=v.get("codelist"),
            source=v.get("source"),
            role=v.get("role"),
            method=v.get("method"),
            comment=v.get("comment"),
            significant_digits=v.get("significant_digits"),
            supplemental=bool(v.get("supplemental", False)),
            qorig=v.get("qorig"),
            qeval=v.get("qeval"),
            value_range=(v["range"].get("min"), v["range"].get("max")) if v.get("range") else None,
            line=v.line,
            split_stem=(v.get("split") or {}).get("stem"),
            split_break=(v.get("split") or {}).get("break", " "),
        )
        for v in doc["variables"]
    )
    return DatasetSpec(
        name=doc["dataset"],
        label=doc["label"],
        cls=doc["class"],
        subclass=doc.get("subclass"),
        structure=doc["structure"],
        keys=tuple(doc["keys"]),
        standard=doc["standard"],
        domain=doc.get("domain"),
        repeating=bool(doc.get("repeating", not is_one_record_per_subject(doc["structure"]))),
        reference_data=bool(doc.get("reference_data", False)),
        split_by=doc.get("split_by"),
        seq_order=tuple(doc.get("seq_order") or ()),
        comment=doc.get("comment"),
        methods=tuple(_method(m) for m in doc.get("methods", []) or []),
        value_level=_plain(doc.get("value_level")) if doc.get("value_level") else None,
        variables=variables,
        file=path,
    )


def _build_codelists(doc: LineDict, path: Path, findings: Findings, root: Path) -> dict[str, Codelist]:
    out: dict[str, Codelist] = {}
    for i, c in enumerate(doc["codelists"]):
        if c["id"] in out:
            findings.add(
                _spec_finding(
                    "SPEC012",
                    path,
                    root,
                    doc["codelists"].line_of(i),
                    f"codelists[{i}].id",
                    f"codelist {c['id']} is declared twice",
                )
            )
            continue
        seen: set[str] = set()
        for j, t in enumerate(c.get("terms") or []):
            value = str(t["value"])
            if value in seen:
                findings.add(
                    _spec_finding(
                        "SPEC013",
                        path,
                        root,
                        c["terms"].line_of(j),
                        f"{c['id']}.terms[{j}]",
                        f"term {value!r} appears twice in codelist {c['id']}",
                    )
                )
            seen.add(value)
            if not t.get("sponsor") and not t.get("code") and not c.get("release"):
                findings.add(
                    _spec_finding(
                        "SPEC014",
                        path,
                        root,
                        c["terms"].line_of(j),
                        f"{c['id']}.terms[{j}]",
                        f"term {value!r} has no NCI C-code; mark sponsor terms with `sponsor: true`",
                    )
                )
        out[c["id"]] = Codelist(
            id=c["id"],
            name=c["name"],
            code=c.get("code"),
            extensible=bool(c["extensible"]),
            data_type=c["data_type"],
            sponsor=bool(c.get("sponsor", False)),
            source=c.get("source"),
            dictionary=dict(c["dictionary"]) if c.get("dictionary") else None,
            terms=tuple(
                Term(
                    value=str(t["value"]),
                    code=t.get("code"),
                    decode=t.get("decode"),
                    sponsor=bool(t.get("sponsor", False)),
                    synonyms=tuple(str(s) for s in t.get("synonyms", []) or []),
                    convention=t.get("convention"),
                )
                for t in c.get("terms") or []
            ),
        )
    return out


def _with_release_terms(
    codelists: dict[str, Codelist],
    doc: LineDict,
    settings: LineDict | None,
    specs: Path,
    findings: Findings,
    root: Path,
) -> dict[str, Codelist]:
    """The codelists naming a CT `release` with their terms, C-codes and decodes from that release file
    (study.yaml `ct_files`): all of the release codelist's terms when the codelist lists none, else its own
    terms completed. A file that cannot be read or a release not declared is SPEC051; a codelist C-code not
    in the release, a term not in it (unless a sponsor term) or a C-code that contradicts it SPEC052;
    `extensible` differing from the release SPEC053 (a warning)."""
    path = specs / "codelists.yaml"
    files = dict((settings or {}).get("ct_files") or {})
    out = dict(codelists)
    for i, c in enumerate(doc["codelists"]):
        name = c.get("release")
        codelist = out.get(c["id"])
        if not name or codelist is None:
            continue
        line, key = doc["codelists"].line_of(i), f"codelists[{i}]({c['id']}).release"
        if name not in files:
            declared = ", ".join(files) or "none"
            message = f"release {name!r} is not one of study.yaml's ct_files ({declared})"
            findings.add(_spec_finding("SPEC051", path, root, line, key, message))
            continue
        release_path = Path(files[name]) if Path(files[name]).is_absolute() else specs / files[name]
        try:
            release = read_ct_release(release_path)
        except CtReleaseError as exc:
            findings.add(_spec_finding("SPEC051", path, root, line, key, str(exc)))
            continue
        ref = release.codelists.get(str(c["code"]))
        if ref is None:
            message = f"codelist {c['code']} is not in the CT release {release_path.name}"
            findings.add(_spec_finding("SPEC052", path, root, line, key, message))
            continue
        if bool(c["extensible"]) != ref.extensible:
            findings.add(
                Finding(
                    code="SPEC053",
                    severity=Severity.WARNING,
                    message=f"codelist {c['id']} says extensible: {bool(c['extensible'])}; "
                    f"{release_path.name} says {'Yes' if ref.extensible else 'No'}",
                    variable=f"codelists[{i}]({c['id']}).extensible",
                    file=_rel(path, root),
                    line=line,
                )
            )
        out[c["id"]] = replace(
            codelist, terms=_release_terms(codelist, ref, c, release_path, path, findings, root)
        )
    return out


def _release_terms(
    codelist: Codelist,
    ref: ReleaseCodelist,
    doc: LineDict,
    release_path: Path,
    path: Path,
    findings: Findings,
    root: Path,
) -> tuple[Term, ...]:
    if not codelist.terms:
        return tuple(Term(value=t.value, code=t.code, decode=t.decode) for t in ref.terms)
    by_value = {t.value: t for t in ref.terms}
    out = []
    for j, term in enumerate(codelist.terms):
        line, key = doc["terms"].line_of(j), f"{codelist.id}.terms[{j}]"
        found = by_value.get(term.value)
        if found is None:
            if not term.sponsor:
                message = (
                    f"term {term.value!r} is not a term of {ref.code} ({ref.submission_value}) in "
                    f"{release_path.name}; mark a sponsor term `sponsor: true`"
                )
                findings.add(_spec_finding("SPEC052", path, root, line, key, message))
            out.append(term)
            continue
        if term.code and term.code != found.code:
            message = f"term {term.value!r} has C-code {term.code}; the release says {found.code}"
            findings.add(_spec_finding("SPEC052", path, root, line, key, message))
        out.append(replace(term, code=term.code or found.code, decode=term.decode or found.decode))
    return tuple(out)


def _with_spreadsheet_terms(
    codelists: dict[str, Codelist], doc: LineDict, specs: Path, findings: Findings, root: Path
) -> dict[str, Codelist]:
    """The codelists with the terms and synonyms of codelists.yaml's `spreadsheets` (cdiscgen._ctsheet):
    a sheet that cannot be read is SPEC048 (at its entry), a row naming an unknown codelist, a C-code
    that contradicts the declared one or a collected value read as two terms is SPEC049 (file and row);
    a codelist left without terms or dictionary is SPEC050."""
    path = specs / "codelists.yaml"
    sheets = doc.get("spreadsheets") or []
    if not sheets:
        _check_codelists_have_terms(codelists, doc, path, findings, root)
        return codelists
    by_code = {c.code: c.id for c in codelists.values() if c.code}
    terms: dict[str, dict[str, dict[str, Any]]] = {
        cid: {
            t.value: {"term": t, "code": t.code, "synonyms": list(t.synonyms), "scoped": list(t.scoped)}
            for t in c.terms
        }
        for cid, c in codelists.items()
    }
    # (codelist, EDC codelist, collected value) -> the term it reads as, and the file and row saying so
    readings: dict[tuple[str, str, str], tuple[str, str, int]] = {}
    for i, entry in enumerate(sheets):
        sheet_path = specs / entry["file"]
        try:
            rows = read_ct_sheet(sheet_path, dict(entry["columns"]), entry.get("sheet"))
        except (CtSheetError, UnicodeDecodeError, OSError) as exc:
            line = getattr(exc, "line", None)
            where, at = (sheet_path, line) if line else (path, sheets.line_of(i))
            findings.add(_spec_finding("SPEC048", where, root, at, f"spreadsheets[{i}]", str(exc)))
            continue
        for row in rows:

            def bad(message: str, row: CtRow = row, where: Path = sheet_path) -> None:
                findings.add(_spec_finding("SPEC049", where, root, row.line, "", message))

            cid = row.codelist if row.codelist in codelists else by_code.get(row.codelist)
            if cid is None:
                bad(f"codelist {row.codelist!r} is not declared in codelists.yaml (by id or C-code)")
                continue
            if not row.value:
                bad(f"no term value for codelist {cid}")
                continue
            slot = terms[cid].setdefault(
                row.value, {"term": None, "code": None, "synonyms": [], "scoped": []}
            )
            if row.code and slot["code"] and row.code != slot["code"]:
                bad(f"{cid} {row.value!r}: C-code {row.code} here, {slot['code']} declared")
            slot["code"] = slot["code"] or (row.code or None)
            for collected in row.collected:
                key = (cid, row.edc_codelist, term_key(collected))
                earlier = readings.get(key)
                if earlier is not None and earlier[0] != row.value:
                    scope = f" in EDC codelist {row.edc_codelist}" if row.edc_codelist else ""
                    bad(
                        f"{collected!r}{scope} reads as {earlier[0]!r} at {earlier[1]}:{earlier[2]} and as {row.value!r} here"
                    )
                    continue
                readings[key] = (row.value, entry["file"], row.line)
                if row.edc_codelist:
                    slot["scoped"].append((row.edc_codelist, collected))
                elif collected != row.value:
                    slot["synonyms"].append(collected)
    out = {
        cid: replace(
            codelist,
            terms=tuple(
                replace(
                    slot["term"] or Term(value, sponsor=not slot["code"]),
                    code=slot["code"],
                    synonyms=tuple(dict.fromkeys(slot["synonyms"])),
                    scoped=tuple(dict.fromkeys(slot["scoped"])),
                )
                for value, slot in terms[cid].items()
            ),
        )
        for cid, codelist in codelists.items()
    }
    _check_codelists_have_terms(out, doc, path, findings, root)
    return out


def _check_codelists_have_terms(
    codelists: dict[str, Codelist], doc: LineDict, path: Path, findings: Findings, root: Path
) -> None:
    """SPEC050 for a codelist with neither terms (its own or a spreadsheet's) nor an external dictionary."""
    for i, c in enumerate(doc["codelists"]):
        codelist = codelists.get(c["id"])
        if c.get("release"):
            continue  # its terms come from the release; a release that cannot give them is SPEC051/SPEC052
        if codelist is not None and not codelist.terms and not codelist.is_external:
            findings.add(
                _spec_finding(
                    "SPEC050",
                    path,
                    root,
                    doc["codelists"].line_of(i),
                    f"codelists[{i}]",
                    f"codelist {c['id']} has no terms (terms, a spreadsheet row or a dictionary)",
                )
            )


def _check_dataset_references(
    path: Path,
    doc: LineDict,
    codelists: dict[str, Codelist],
    methods: dict[str, MethodSpec],
    root: Path,
) -> list[Finding]:
    """Cross-references within one dataset spec: duplicates, keys, codelists, methods, split_by."""
    out: list[Finding] = []
    variables = doc.get("variables")
    if not isinstance(variables, LineList):
        return out
    dataset = doc.get("dataset", path.stem.upper())
    names: dict[str, int] = {}
    for i, v in enumerate(variables):
        if not isinstance(v, LineDict) or not isinstance(v.get("name"), str):
            continue
        line = variables.line_of(i)
        name = v["name"]
        if name in names:
            out.append(
                _spec_finding(
                    "SPEC020",
                    path,
                    root,
                    line,
                    f"variables[{i}].name",
                    f"variable {name} is declared twice in {dataset} (first at line {names[name]})",
                )
            )
        else:
            names[name] = line
        if v.get("codelist") and v["codelist"] not in codelists:
            out.append(
                _spec_finding(
                    "SPEC021",
                    path,
                    root,
                    v.line_of("codelist"),
                    f"{name}.codelist",
                    f"codelist {v['codelist']!r} does not exist in specs/codelists.yaml",
                )
            )
        if v.get("method") and v["method"] not in methods:
            out.append(
                _spec_finding(
                    "SPEC022",
                    path,
                    root,
                    v.line_of("method"),
                    f"{name}.method",
                    f"method {v['method']!r} is not declared (dataset `methods:` or specs/define.yaml)",
                )
            )
        if v.get("origin") == "Derived" and not v.get("method"):
            out.append(
                Finding(
                    "SPEC023",
                    Severity.WARNING,
                    f"derived variable {name} has no method reference",
                    variable=f"{name}.method",
                    file=_rel(path, root),
                    line=line,
                )
            )
        bounds = v.get("range")
        if isinstance(bounds, dict) and (
            v.get("type") not in NUMERIC_TYPES
            or (
                isinstance(bounds.get("min"), int | float)
                and isinstance(bounds.get("max"), int | float)
                and bounds["min"] > bounds["max"]
            )
        ):
            out.append(
                _spec_finding(
                    "SPEC028",
                    path,
                    root,
                    v.line_of("range"),
                    f"{name}.range",
                    f"range of {name} must be on a numeric variable with min <= max",
                )
            )
        if v.get("type") in NUMERIC_TYPES and isinstance(v.get("length"), int) and v["length"] != 8:
            out.append(
                _spec_finding(
                    "SPEC024",
                    path,
                    root,
                    v.line_of("length"),
                    f"{name}.length",
                    f"numeric variable {name} must have length 8 in XPT, not {v['length']}",
                )
            )
    # the keys and the --SEQ order name variables of the dataset
    for field_name, what in (("keys", "key"), ("seq_order", "seq_order")):
        listed = doc.get(field_name)
        for i, key in enumerate(listed if isinstance(listed, LineList) else []):
            if key not in names:
                out.append(
                    _spec_finding(
                        "SPEC025",
                        path,
                        root,
                        listed.line_of(i),
                        f"{field_name}[{i}]",
                        f"{what} variable {key} is not a variable of {dataset}",
                    )
                )
    if doc.get("split_by") and doc["split_by"] not in names:
        out.append(
            _spec_finding(
                "SPEC026",
                path,
                root,
                doc.line_of("split_by"),
                "split_by",
                f"split_by variable {doc['split_by']} is not a variable of {dataset}",
            )
        )
    value_level = doc.get("value_level")
    if isinstance(value_level, LineDict):
        for key in ("by", "variables"):
            for j, name in enumerate(value_level.get(key, [])):
                if name not in names:
                    out.append(
                        _spec_finding(
                            "SPEC027",
                            path,
                            root,
                            value_level[key].line_of(j),
                            f"value_level.{key}[{j}]",
                            f"{name} is not a variable of {dataset}",
                        )
                    )
        for j, entry in enumerate(value_level.get("entries", []) or []):
            if entry.get("codelist") and entry["codelist"] not in codelists:
                out.append(
                    _spec_finding(
                        "SPEC021",
                        path,
                        root,
                        entry.line_of("codelist"),
                        f"value_level.entries[{j}].codelist",
                        f"codelist {entry['codelist']!r} does not exist in specs/codelists.yaml",
                    )
                )
    return out


def _check_study_settings(study: Study, settings: LineDict, root: Path) -> list[Finding]:
    """Consistency inside study.yaml: visits, arms and elements, agency profile, and the conditions and
    date sources of reference_dates, element starts and baseline definitions against the dataset specs."""
    path = study.specs_dir / "study.yaml"

    def err(code: str, line: int | None, key: str, message: str) -> None:
        out.append(_spec_finding(code, path, root, line, key, message))

    out: list[Finding] = []
    for section, key in (("cutoff", "date"), ("study", "start_date"), ("plausible_dates", "earliest"),
                         ("plausible_dates", "latest")):  # fmt: skip
        block = settings.get(section) or {}
        value = block.get(key) if isinstance(block, dict) else None
        if isinstance(value, str):
            try:
                date.fromisoformat(value)
            except ValueError:
                err("SPEC042", block.line_of(key), f"{section}.{key}", f"{value!r} is not a calendar date")
    default = settings["design"].get("armnrs_default")
    dm = study.datasets.get("DM")
    if default and dm is not None and dm.has_variable("ARMNRS"):
        codelist = study.codelists.get(dm.variable("ARMNRS").codelist or "")
        if codelist is not None and default not in codelist.values:
            err(
                "SPEC047",
                settings["design"].line_of("armnrs_default"),
                "design.armnrs_default",
                f"{default!r} is not a term of codelist {codelist.id} ({', '.join(sorted(codelist.values))})",
            )
    if not study.mappings_dir.is_dir() or not any(study.mappings_dir.glob("*.yaml")):
        out.append(
            Finding(
                "SPEC043",
                Severity.WARNING,
                f"{study.mappings_dir} holds no mapping specs (*.yaml): `sdtm` and `run --raw` have nothing "
                "to map (fine for a study used only with `adam` or `validate`)",
                file=_rel(study.mappings_dir, root),
            )
        )
    visits: LineList = settings["visits"]
    seen_num: dict[float, int] = {}
    seen_code: dict[str, int] = {}
    epochs = set(settings["design"]["epochs"])
    for i, v in enumerate(visits):
        line = visits.line_of(i)
        if v["visitnum"] in seen_num:
            err("SPEC030", line, f"visits[{i}].visitnum", f"VISITNUM {v['visitnum']} is used twice")
        seen_num[v["visitnum"]] = line
        for code in (v["code"], *(v.get("codes") or ())):
            key = visit_key(code)
            if key in seen_code:
                err(
                    "SPEC030",
                    line,
                    f"visits[{i}].code",
                    f"visit code {code} is used twice (codes match ignoring case and spaces, first at line "
                    f"{seen_code[key]})",
                )
            seen_code[key] = line
        if v.get("epoch") is not None and v["epoch"] not in epochs:
            err("SPEC031", line, f"visits[{i}].epoch", f"epoch {v['epoch']} is not in design.epochs")
        if v.get("window") and v["window"][0] > v["window"][1]:
            err("SPEC032", line, f"visits[{i}].window", "window low is above window high")
    _check_unscheduled(settings, seen_code, err)
    design = settings["design"]
    element_codes = {e["etcd"] for e in design["elements"]}
    for i, arm in enumerate(design["arms"]):
        for etcd in arm["elements"]:
            if etcd not in element_codes:
                err(
                    "SPEC033",
                    design["arms"].line_of(i),
                    f"design.arms[{i}].elements",
                    f"element {etcd} is not declared in design.elements",
                )
    for i, e in enumerate(design["elements"]):
        if e["epoch"] not in epochs:
            err(
                "SPEC031",
                design["elements"].line_of(i),
                f"design.elements[{i}].epoch",
                f"epoch {e['epoch']} is not in design.epochs",
            )
    export = settings["export"]
    if export["agency"] not in export["profiles"]:
        err(
            "SPEC034",
            export.line_of("agency"),
            "export.agency",
            f"agency profile {export['agency']!r} is not declared in export.profiles",
        )
    out += _check_data_selectors(study, settings, path, root)
    return out


def _check_unscheduled(settings: LineDict, scheduled: dict[str, int], err: Any) -> None:
    uns = settings["unscheduled"]
    if not uns.get("code") and not uns.get("codes") and not uns.get("patterns"):
        err(
            "SPEC035",
            uns.line,
            "unscheduled",
            "declare how unscheduled visits are collected: `code`/`codes` (placed by date) or `patterns`",
        )
    for code in ([uns["code"]] if uns.get("code") else []) + list(uns.get("codes") or []):
        if visit_key(code) in scheduled:
            err("SPEC035", uns.line, "unscheduled.codes", f"{code!r} is also a scheduled visit code")
    for i, pattern in enumerate(uns.get("patterns") or []):
        where = uns["patterns"].line_of(i)
        try:
            compiled = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            err(
                "SPEC035",
                where,
                f"unscheduled.patterns[{i}]",
                f"regular expression {pattern!r} does not compile: {exc}",
            )
            continue
        if "visitnum" not in compiled.groupindex:
            err(
                "SPEC035",
                where,
                f"unscheduled.patterns[{i}]",
                f"pattern {pattern!r} needs a group (?P<visitnum>...) holding the visit number",
            )


def _check_data_selectors(study: Study, settings: LineDict, path: Path, root: Path) -> list[Finding]:
    """The conditions and date sources of study.yaml name declared datasets and their variables."""
    from cdiscgen._conditions import check_condition

    out: list[Finding] = []

    def err(code: str, line: int | None, key: str, message: str) -> None:
        out.append(_spec_finding(code, path, root, line, key, message))

    def variable_checker(dataset: str) -> Any:
        spec = study.datasets.get(dataset)

        def problem(name: str) -> str | None:
            if spec is None or spec.has_variable(name):
                return None
            return f"{name} is not a variable of {dataset}"

        return problem

    def check_where(where: Any, dataset: str, line: int | None, key: str) -> None:
        for p in check_condition(where, line=line, key=key, allowed={"variable": variable_checker(dataset)}):
            err("SPEC036", p.line, p.key, p.message)

    dm = study.datasets.get("DM")

    def check_sources(sources: Any, key: str) -> None:
        for i, source in enumerate(sources or []):
            line = sources.line_of(i) if isinstance(sources, LineList) else None
            skey = f"{key}[{i}]"
            if "date" in source:
                if dm is not None and not dm.has_variable(source["date"]):
                    err("SPEC036", line, f"{skey}.date", f"{source['date']} is not a variable of DM")
                continue
            if "dataset" not in source:
                err(
                    "SPEC036",
                    line,
                    skey,
                    "a date source is {date: DMVAR} or {dataset, variable, where, pick}",
                )
                continue
            dataset = source["dataset"]
            spec = study.datasets.get(dataset)
            if spec is None:
                err("SPEC036", line, f"{skey}.dataset", f"dataset {dataset} is not declared in specs/sdtm")
                continue
            if not spec.has_variable(source["variable"]):
                err(
                    "SPEC036",
                    line,
                    f"{skey}.variable",
                    f"{source['variable']} is not a variable of {dataset}",
                )
            if source.get("where"):
                check_where(source["where"], dataset, line, f"{skey}.where")

    refs = settings.get("reference_dates") or {}
    exposure = refs.get("exposure") or {}
    ex_name = exposure.get("dataset", "EX")
    if exposure and ex_name not in study.datasets:
        err(
            "SPEC036",
            exposure.line_of("dataset"),
            "reference_dates.exposure.dataset",
            f"dataset {ex_name} is not declared",
        )
    if exposure.get("where"):
        check_where(exposure["where"], ex_name, exposure.line_of("where"), "reference_dates.exposure.where")
    for column in ("RFSTDTC", "RFENDTC", "RFPENDTC"):
        check_sources(refs.get(column), f"reference_dates.{column}")
    elements = settings["design"]["elements"]
    first_elements = {arm["elements"][0] for arm in settings["design"]["arms"] if arm["elements"]}
    for i, e in enumerate(elements):
        check_sources(e.get("start"), f"design.elements[{i}]({e['etcd']}).start")
        if "SE" in study.datasets and not e.get("start") and e["etcd"] not in first_elements:
            err(
                "SPEC037",
                elements.line_of(i),
                f"design.elements[{i}]({e['etcd']}).start",
                f"element {e['etcd']} has no `start:` sources; SE needs to know when a subject enters it",
            )
    for i, b in enumerate(settings.get("baseline") or []):
        line = settings["baseline"].line_of(i)
        spec = study.datasets.get(b["dataset"])
        if spec is None:
            err(
                "SPEC038",
                line,
                f"baseline[{i}].dataset",
                f"dataset {b['dataset']} is not declared in specs/sdtm",
            )
            continue
        for name in [b["flag"], *(b.get("group_by") or [])]:
            if not spec.has_variable(name):
                err("SPEC038", line, f"baseline[{i}]", f"{name} is not a variable of {b['dataset']}")
        if b.get("visit") and visit_key(b["visit"]) not in {
            visit_key(v["visit"]) for v in settings["visits"]
        }:
            err(
                "SPEC038",
                line,
                f"baseline[{i}].visit",
                f"visit {b['visit']!r} is not a VISIT of the schedule",
            )
    for i, flag in enumerate(settings.get("flags") or []):
        line = settings["flags"].line_of(i)
        spec = study.datasets.get(flag["dataset"])
        if spec is None:
            err(
                "SPEC039",
                line,
                f"flags[{i}].dataset",
                f"dataset {flag['dataset']} is not declared in specs/sdtm",
            )
            continue
        if not spec.has_variable(flag["flag"]):
            err("SPEC039", line, f"flags[{i}].flag", f"{flag['flag']} is not a variable of {flag['dataset']}")
        allowed = {"variable": variable_checker(flag["dataset"])}
        if dm is not None:
            allowed["dm"] = variable_checker("DM")
        for p in check_condition(flag["where"], line=line, key=f"flags[{i}].where", allowed=allowed):
            err("SPEC039", p.line, p.key, p.message)
    return out


def _check_mapping_targets(study: Study) -> list[Finding]:
    """Every mapping spec must target a dataset declared in specs/ (the engine validates the rest)."""
    out: list[Finding] = []
    if not study.mappings_dir.is_dir():
        return out
    for path in sorted(study.mappings_dir.glob("*.yaml")):
        try:
            doc = load_yaml(path)
        except YamlSyntaxError:
            continue  # the mapping-spec check (sdtm) reports it, once
        if not isinstance(doc, dict) or "dataset" not in doc:
            out.append(
                _spec_finding(
                    "SPEC040",
                    path,
                    study.root,
                    1,
                    "dataset",
                    "a mapping spec must name its target `dataset:`",
                )
            )
            continue
        if doc["dataset"] not in study.datasets:
            out.append(
                _spec_finding(
                    "SPEC041",
                    path,
                    study.root,
                    doc.line_of("dataset"),
                    "dataset",
                    f"mapping targets dataset {doc['dataset']!r}, which is not declared in specs/sdtm",
                )
            )
    return out
