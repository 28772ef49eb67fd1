"""Loading and validating the ADLB/ADRS/ADTTE parameter definitions (specs/adam/params/*.yaml).

Closed cerberus schemas: an unknown key or kind is a finding naming file, line and key. Cross-checks
(codes exist, `of:` names an earlier parameter, selections exist, landmark windows are configured,
ADLB parameters the response rules read are declared and derived rules sit on their PARAMCD) follow
the schema check.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cdiscgen import bundled_study_dir, load_yaml, schema_problems
from cdiscgen._findings import Finding, Severity

from ._codes import PARAM_SPEC_CROSS_CHECK, PARAM_SPEC_SCHEMA
from ._errors import AdamInputError

log = logging.getLogger(__name__)

ADRS_KINDS = [
    "subject",
    "hematologic",
    "investigator",
    "organ",
    "landmark",
    "in_set",
    "best",
    "first",
    "any_by_day",
    "mrd",
]
_PARAMCD = {"type": "string", "required": True, "regex": r"^[A-Z][A-Z0-9]{0,7}$"}
_PARAM = {"type": "string", "required": True, "empty": False, "maxlength": 40}
_NAME = {"type": "string", "regex": r"^[A-Z][A-Z0-9_]{0,7}$"}
_VALUES = {"type": "list", "schema": {"type": "string"}}

ADRS_SCHEMA: dict = {
    "codesets": {
        "type": "dict",
        "required": True,
        "valuesrules": {"type": "dict", "valuesrules": {"type": "integer"}},
    },
    "parameters": {
        "type": "list",
        "required": True,
        "minlength": 1,
        "schema": {
            "type": "dict",
            "schema": {
                "paramcd": _PARAMCD,
                "paramn": {"type": "integer", "required": True},
                "param": _PARAM,
                "kind": {"type": "string", "required": True, "allowed": ADRS_KINDS},
                "codes": {"type": "string", "required": True},
                "variable": _NAME,
                "testcd": _NAME,
                "of": _NAME,
                "values": {"type": ["string", "list"], "schema": {"type": "string"}},
                "organ": {"type": "string", "allowed": ["cardiac", "renal"]},
                "by_day": {"type": ["string", "integer"]},
                "target": {"type": "integer"},
                "window": {"type": "list", "minlength": 2, "maxlength": 2, "schema": {"type": "integer"}},
            },
        },
    },
}
_ONE_OR_MANY = {"type": ["string", "list"], "empty": False, "schema": {"type": "string", "empty": False}}
ADLB_DERIVED = {
    "ratio": "RATIO",
    "involved": "IFLC",
    "uninvolved": "UFLC",
    "dflc": "DFLC",
    "ckd_epi_2021": "EGFR",
}
"""Derived ADLB rules and the PARAMCD each is bound to (the response rules read these PARAMCDs)."""
ADLB_RULE_PARAMS = (
    "KAPPA",
    "LAMBDA",
    "RATIO",
    "IFLC",
    "UFLC",
    "DFLC",
    "SIFE",
    "UIFE",
    "MSPIKE",
    "UMPROT",
    "NTPROBNP",
    "TROPT",
    "PROT24",
    "EGFR",
)
"""ADLB PARAMCDs that ADSL and ADRS derive from (DOMAIN.md); params/adlb.yaml must declare each."""

ADLB_SCHEMA: dict = {
    "parameters": {
        "type": "list",
        "required": True,
        "minlength": 1,
        "schema": {
            "type": "dict",
            "schema": {
                "paramcd": _PARAMCD,
                "paramn": {"type": "integer", "required": True},
                "param": _PARAM,
                "unit": {"type": "string", "empty": False},
                "result": {"type": "string", "allowed": ["numeric", "text"]},
                "date": {"type": "string", "allowed": ["start", "end"]},
                "derived": {"type": "string", "allowed": list(ADLB_DERIVED)},
                "source": {
                    "type": "dict",
                    "schema": {
                        "testcd": {**_NAME, "required": True},
                        "spec": _ONE_OR_MANY,
                        "method": _ONE_OR_MANY,
                        "results": {"type": "list", "minlength": 1, "schema": {"type": "string"}},
                    },
                },
            },
        },
    },
}

_ADRS_REQUIRES = {
    "subject": ["variable"],
    "investigator": ["testcd"],
    "organ": ["organ"],
    "landmark": ["of"],
    "in_set": ["of", "values"],
    "best": ["of"],
    "first": ["of", "values"],
    "any_by_day": ["of", "values", "by_day"],
    "mrd": ["testcd"],
}

_SOURCE = {
    "variable": _NAME,
    "selection": {"type": "string"},
    "pick": {"type": "string", "allowed": ["first", "last"]},
    "start": {"type": "boolean"},
    "before": _NAME,
    "if_none": {"type": "string"},
    "if_present": _NAME,
    "evntdesc": {"type": "string", "maxlength": 200},
    "cnsdtdsc": {"type": "string", "maxlength": 200},
}
ADTTE_SCHEMA: dict = {
    "selections": {
        "type": "dict",
        "required": True,
        "valuesrules": {
            "type": "dict",
            "schema": {
                "where": {"type": "dict", "required": True, "valuesrules": _VALUES},
                "exclude": {"type": "dict", "valuesrules": _VALUES},
                "order": {"type": "list", "required": True, "minlength": 1, "schema": _NAME},
            },
        },
    },
    "parameters": {
        "type": "list",
        "required": True,
        "minlength": 1,
        "schema": {
            "type": "dict",
            "schema": {
                "paramcd": _PARAMCD,
                "paramn": {"type": "integer", "required": True},
                "param": _PARAM,
                "population": {"type": "dict", "valuesrules": _VALUES},
                "start": {"type": "dict", "required": True, "schema": _SOURCE},
                "events": {
                    "type": "list",
                    "required": True,
                    "minlength": 1,
                    "schema": {
                        "type": "dict",
                        "schema": {**_SOURCE, "evntdesc": {"type": "string", "required": True}},
                    },
                },
                "censors": {
                    "type": "list",
                    "required": True,
                    "schema": {
                        "type": "dict",
                        "schema": {
                            **_SOURCE,
                            "cnsr": {"type": "integer", "required": True, "min": 1},
                            "cnsdtdsc": {"type": "string", "required": True},
                        },
                    },
                },
            },
        },
    },
}


def _load(path: Path) -> Any:
    return load_yaml(path)


def _line(doc: Any, path: tuple) -> int | None:
    """Best-effort line of a document path (works with cdiscgen._yaml's LineDict/LineList)."""
    line = getattr(doc, "line", None)
    node = doc
    for key in path:
        finder = getattr(node, "line_of", None)
        if finder is not None:
            try:
                line = finder(key)
            except (TypeError, KeyError):
                pass
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
    return line


def _schema_findings(doc: Any, schema: dict, file: Path) -> list[Finding]:
    if not isinstance(doc, Mapping):
        return [
            Finding(PARAM_SPEC_SCHEMA, Severity.ERROR, "expected a mapping at the top level", file=str(file))
        ]
    return [
        Finding(PARAM_SPEC_SCHEMA, Severity.ERROR, f"{p.key}: {p.message}", file=str(file), line=p.line)
        for p in schema_problems(doc, schema)
    ]


def params_path(study_dir: Path | None, name: str) -> Path:
    return Path(study_dir or bundled_study_dir()) / "specs" / "adam" / "params" / f"{name}.yaml"


def _cross_findings(
    adrs: Any, adtte: Any, settings: Mapping | None, f_adrs: Path, f_adtte: Path
) -> list[Finding]:
    out: list[Finding] = []

    def err(file: Path, doc: Any, path: tuple, message: str) -> None:
        out.append(
            Finding(PARAM_SPEC_CROSS_CHECK, Severity.ERROR, message, file=str(file), line=_line(doc, path))
        )

    seen: list[str] = []
    codesets = adrs.get("codesets", {})
    landmarks = {}
    if settings is not None:
        landmarks = {
            lm["paramcd"]: lm
            for lm in settings.get("response", {}).get("hematologic", {}).get("landmarks", [])
        }
    for i, p in enumerate(adrs.get("parameters", [])):
        cd = p.get("paramcd")
        if cd in seen:
            err(f_adrs, adrs, ("parameters", i, "paramcd"), f"duplicate PARAMCD {cd}")
        if p.get("codes") not in codesets:
            err(f_adrs, adrs, ("parameters", i, "codes"), f"{cd}: unknown codeset {p.get('codes')!r}")
        for key in _ADRS_REQUIRES.get(p.get("kind"), []):
            if key not in p:
                err(f_adrs, adrs, ("parameters", i), f"{cd}: kind {p.get('kind')} needs key {key!r}")
        if "of" in p and p["of"] not in seen:
            err(f_adrs, adrs, ("parameters", i, "of"), f"{cd}: 'of: {p['of']}' is not an earlier parameter")
        if p.get("kind") == "landmark" and "target" not in p and settings is not None and cd not in landmarks:
            err(
                f_adrs,
                adrs,
                ("parameters", i),
                f"{cd}: no landmark window in study.yaml response.hematologic.landmarks",
            )
        seen.append(cd)
    sels = adtte.get("selections", {})
    for i, p in enumerate(adtte.get("parameters", [])):
        cd = p.get("paramcd")
        for part in ("start", "events", "censors"):
            items = [p.get(part)] if part == "start" else (p.get(part) or [])
            for j, src in enumerate(items):
                if not isinstance(src, Mapping):
                    continue
                path = ("parameters", i, part) if part == "start" else ("parameters", i, part, j)
                kinds = [k for k in ("variable", "selection", "start") if k in src]
                if len(kinds) != 1:
                    err(f_adtte, adtte, path, f"{cd} {part}: give exactly one of variable, selection, start")
                for key in ("selection", "if_none"):
                    if key in src and src[key] not in sels:
                        err(f_adtte, adtte, path, f"{cd} {part}: unknown selection {src[key]!r}")
                if "selection" in src and "pick" not in src:
                    err(f_adtte, adtte, path, f"{cd} {part}: a selection needs pick: first|last")
    return out


def _source_key(source: Mapping) -> tuple:
    def norm(value: object) -> tuple[str, ...]:
        items = value if isinstance(value, list) else [value] if value else []
        return tuple(sorted(str(v).upper() for v in items))

    return (
        str(source.get("testcd", "")).upper(),
        norm(source.get("spec")),
        norm(source.get("method")),
        norm(source.get("results")),
    )


def _adlb_findings(adlb: Any, file: Path) -> list[Finding]:
    """ADLB cross-checks: unique PARAMCD/PARAMN, a source or a rule each, rules on their PARAMCD,
    no source shadowed by an identical earlier one, every PARAMCD the response rules read declared."""
    out: list[Finding] = []

    def err(path: tuple, message: str) -> None:
        out.append(
            Finding(PARAM_SPEC_CROSS_CHECK, Severity.ERROR, message, file=str(file), line=_line(adlb, path))
        )

    seen_cd: dict[str, int] = {}
    seen_n: dict[int, str] = {}
    seen_src: dict[tuple, str] = {}
    for i, p in enumerate(adlb.get("parameters", [])):
        cd, n = p.get("paramcd"), p.get("paramn")
        if cd in seen_cd:
            err(("parameters", i, "paramcd"), f"duplicate PARAMCD {cd}")
        if n in seen_n:
            err(("parameters", i, "paramn"), f"{cd}: PARAMN {n} is already used by {seen_n[n]}")
        seen_cd.setdefault(cd, i)
        seen_n.setdefault(n, cd)
        if "source" not in p and "derived" not in p:
            err(("parameters", i), f"{cd}: give a `source` (LB records) or a `derived` rule")
        rule = p.get("derived")
        if rule is not None and ADLB_DERIVED.get(rule) != cd:
            err(
                ("parameters", i, "derived"),
                f"{cd}: derived rule {rule!r} produces PARAMCD {ADLB_DERIVED.get(rule)}, not {cd}",
            )
        if rule is not None and rule != "ckd_epi_2021" and "source" in p:
            err(("parameters", i, "source"), f"{cd}: derived rule {rule!r} takes no LB source")
        if isinstance(p.get("source"), Mapping):
            key = _source_key(p["source"])
            if key in seen_src:
                err(
                    ("parameters", i, "source"),
                    f"{cd}: same LB source as {seen_src[key]}; it would never match",
                )
            seen_src.setdefault(key, cd)
    missing = [cd for cd in ADLB_RULE_PARAMS if cd not in seen_cd]
    if missing:
        err(("parameters",), f"the response rules need ADLB parameters {', '.join(missing)}; declare them")
    return out


def check_parameter_specs(study_dir: Path | None = None) -> list[Finding]:
    """Validate specs/adam/params/adlb.yaml, adrs.yaml and adtte.yaml (schema + cross references). A
    study whose specs/adam declares none of ADLB, ADRS, ADTTE needs no parameter files."""
    files = {name: params_path(study_dir, name) for name in ("adlb", "adrs", "adtte")}
    adam_dir = Path(study_dir or bundled_study_dir()) / "specs" / "adam"
    if not any((adam_dir / f"{name}.yaml").is_file() for name in files):
        return []
    schemas = {"adlb": ADLB_SCHEMA, "adrs": ADRS_SCHEMA, "adtte": ADTTE_SCHEMA}
    findings: list[Finding] = []
    docs: dict[str, Any] = {}
    for name, file in files.items():
        try:
            doc = _load(file)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            findings.append(Finding(PARAM_SPEC_SCHEMA, Severity.ERROR, f"cannot read: {exc}", file=str(file)))
            doc = None
        if doc is not None:
            findings.extend(_schema_findings(doc, schemas[name], file))
        docs[name] = doc
    settings = None
    study_yaml = Path(study_dir or bundled_study_dir()) / "specs" / "study.yaml"
    if study_yaml.exists():
        settings = yaml.safe_load(study_yaml.read_text(encoding="utf-8"))
    if not findings and all(isinstance(d, Mapping) for d in docs.values()):
        findings.extend(_adlb_findings(docs["adlb"], files["adlb"]))
        findings.extend(_cross_findings(docs["adrs"], docs["adtte"], settings, files["adrs"], files["adtte"]))
    return findings


@dataclass(frozen=True)
class ParameterSpecs:
    """The validated parameter definitions of specs/adam/params (plain dicts, as in the YAML)."""

    adlb: dict
    adrs: dict
    adtte: dict


def load_parameter_specs(study_dir: Path | None = None) -> ParameterSpecs:
    """The validated ADLB, ADRS and ADTTE parameter definitions; AdamInputError on any spec finding."""
    findings = check_parameter_specs(study_dir)
    if findings:
        raise AdamInputError("; ".join(str(f) for f in findings[:5]), dataset="specs/adam/params")
    return ParameterSpecs(
        **{
            name: yaml.safe_load(params_path(study_dir, name).read_text(encoding="utf-8"))
            for name in ("adlb", "adrs", "adtte")
        }
    )
