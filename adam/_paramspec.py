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

from cdiscgen import bundled_study_dir, load_yaml, read_dataset_spec_file, schema_problems
from cdiscgen._findings import Finding, Severity

from ._bds import FORMULAS
from ._codes import PARAM_SPEC_CROSS_CHECK, PARAM_SPEC_SCHEMA
from ._errors import AdamInputError
from ._steps import ARITHMETIC

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
    "engine": {"type": "string", "required": True, "allowed": ["response"]},
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
    "engine": {"type": "string", "required": True, "allowed": ["al_lab"]},
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
    "engine": {"type": "string", "required": True, "allowed": ["time_to_event"]},
    "selections": {
        "type": "dict",
        "required": True,
        "valuesrules": {
            "type": "dict",
            "schema": {
                # the ADaM dataset the records come from [ADRS]; their date and sequence variables
                # [ADT, ASEQ]: SRCDOM, SRCVAR and SRCSEQ of the record taken
                "dataset": {"type": "string", "regex": r"^AD[A-Z0-9]{1,6}$"},
                "date": _NAME,
                "seq": _NAME,
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


_VAR = {"type": "string", "required": True, "regex": r"^[A-Z][A-Z0-9]{0,7}$"}
_OPT_VAR = {"type": "string", "regex": r"^[A-Z][A-Z0-9]{0,7}$"}
_DOMAIN = {"type": "string", "regex": r"^[A-Z][A-Z0-9]{1,7}$"}
_WHERE = {"type": "dict"}  # a condition of cdiscgen._conditions, checked by check_condition
_SCALAR = {"type": ["string", "number", "integer"]}
_IMPUTE = {"type": "string", "allowed": ["none", "first_day"]}
_PICK = {"type": "string", "allowed": ["first", "last"]}
_ORDER_ITEM = {"type": ["string", "dict"], "valuesrules": {"type": "string", "allowed": ["asc", "desc"]}}
COMMON_STEP_SCHEMAS: dict[str, dict] = {
    "flag": {"variable": _VAR, "where": {**_WHERE, "required": True}, "true": _SCALAR, "false": _SCALAR},
    "assign": {"variable": _VAR, "value": {**_SCALAR, "required": True}, "where": _WHERE},
    "cut": {
        "variable": _VAR,
        "source": _VAR,
        "where": _WHERE,
        "numeric": _OPT_VAR,
        "missing": {"type": "string"},
        "cuts": {
            "type": "list",
            "required": True,
            "minlength": 1,
            "schema": {
                "type": "dict",
                "schema": {
                    "below": {"type": "number"},
                    "value": {"type": "string", "required": True},
                    "n": {"type": "integer"},
                },
            },
        },
    },
    "map": {
        "variable": _VAR,
        "source": _VAR,
        "values": {"type": "dict", "required": True, "minlength": 1, "valuesrules": _SCALAR},
        "other": _SCALAR,
        "missing": _SCALAR,
    },
    "duration": {
        "variable": _VAR,
        "start": _VAR,
        "end": _VAR,
        "add_one": {"type": "boolean"},
        "unit_variable": _OPT_VAR,
        "unit": {"type": "string"},
    },
    "copy": {"variable": _VAR, "source": _VAR},
    "compute": {
        "variable": _VAR,
        "formula": {"type": "string", "required": True, "allowed": sorted(ARITHMETIC)},
        "inputs": {"type": "list", "required": True, "minlength": 2, "maxlength": 2, "schema": _VAR},
    },
    "impute_date": {
        "variable": _VAR,
        "flag": _OPT_VAR,
        "source": _VAR,
        "impute": {"type": "string", "allowed": ["first", "last", "none"]},
        "not_before": {"type": "list", "schema": _VAR},
        "not_after": {"type": "list", "schema": _VAR},
    },
    "study_day": {"variable": _VAR, "date": _VAR, "reference": _VAR},
    "extreme_flag": {
        "variable": _VAR,
        "by": {"type": "list", "required": True, "minlength": 1, "schema": _VAR},
        "order": {"type": "list", "required": True, "minlength": 1, "schema": _ORDER_ITEM},
        "pick": _PICK,
        "where": _WHERE,
    },
}
"""Step kinds every engine shares (adam/_steps.py)."""
ADSL_STEP_SCHEMAS: dict[str, dict] = {
    **COMMON_STEP_SCHEMAS,
    "treatment": {
        "start": _VAR,
        "end": _VAR,
        "dataset": _DOMAIN,
        "where": _WHERE,
        "start_date": _OPT_VAR,
        "end_date": _OPT_VAR,
        "fallback": {"type": "dict", "schema": {"start": _OPT_VAR, "end": _OPT_VAR}},
        "end_missing": {"type": "string", "allowed": ["start", "none"]},
    },
    "date": {"variable": _VAR, "source": _VAR, "impute": _IMPUTE, "flag": _OPT_VAR},
    "first_date": {
        "variable": _VAR,
        "flag": _OPT_VAR,
        "dataset": {**_DOMAIN, "required": True},
        "source": _VAR,
        "where": _WHERE,
        "impute": _IMPUTE,
        "pick": _PICK,
    },
    "last_alive": {
        "variable": _VAR,
        "sources": {
            "type": "list",
            "required": True,
            "minlength": 1,
            "schema": {
                "type": "dict",
                "schema": {
                    "dataset": {**_DOMAIN, "required": True},
                    "variables": {"type": "list", "required": True, "minlength": 1, "schema": _VAR},
                    "where": _WHERE,
                    "impute": _IMPUTE,
                },
            },
        },
    },
    "death": {
        "date": _VAR,
        "flag": _OPT_VAR,
        "death_flag": _OPT_VAR,
        "sources": {
            "type": "list",
            "required": True,
            "minlength": 1,
            "schema": {
                "type": "dict",
                "schema": {
                    "dataset": {**_DOMAIN, "required": True},
                    "variable": _VAR,
                    "where": _WHERE,
                    "pick": _PICK,
                },
            },
        },
        "impute": _IMPUTE,
        "last_alive": _OPT_VAR,
        "not_before_last_alive": {"type": "boolean"},
        "set_last_alive": {"type": "boolean"},
    },
    "disposition": {
        "status": _VAR,
        "where": _WHERE,
        "pick": _PICK,
        "values": {"type": "dict", "valuesrules": {"type": "string"}},
        "otherwise": {"type": "string"},
        "none": {"type": "string"},
        "reason": _OPT_VAR,
    },
    "subject_value": {
        "variable": _VAR,
        "dataset": {**_DOMAIN, "required": True},
        "value": _VAR,
        "where": _WHERE,
        "date": _OPT_VAR,
        "order": {"type": "list", "schema": _VAR},
        "pick": _PICK,
    },
    "subject_count": {
        "variable": _VAR,
        "dataset": {**_DOMAIN, "required": True},
        "where": _WHERE,
        "date": _OPT_VAR,
        "distinct": _OPT_VAR,
    },
    "baseline": {
        "variable": _VAR,
        "dataset": {**_DOMAIN, "required": True},
        "paramcd": _VAR,
        "value": _OPT_VAR,
    },
    "response_baseline": {},
}
"""The body of each ADSL step kind of specs/adam/params/adsl.yaml (adam/_adsl.py runs them)."""
ADSL_SCHEMA: dict = {
    "population": {"type": "dict", "schema": {"where": _WHERE}},
    "derivations": {"type": "list", "required": True, "schema": {"type": "dict"}},
}


OCCDS_STEP_SCHEMAS: dict[str, dict] = {
    **COMMON_STEP_SCHEMAS,
    "treatment_emergent": {
        "variable": _VAR,
        "start": _OPT_VAR,
        "end": _OPT_VAR,
        "treatment_start": _OPT_VAR,
        "treatment_end": _OPT_VAR,
        "end_window": {"type": "integer", "min": 0},
        "initial_intensity": {**_OPT_VAR, "dependencies": "intensity"},
        "intensity": {**_OPT_VAR, "dependencies": "initial_intensity"},
    },
}
"""The steps of an `engine: occds` params file (adam/_occds.py runs them)."""
OCCDS_SCHEMA: dict = {
    "engine": {"type": "string", "required": True, "allowed": ["occds"]},
    "source": {**_DOMAIN, "required": True},
    "order": {"type": "list", "minlength": 1, "schema": _VAR},
    "sequence": _OPT_VAR,
    "supplemental": {"type": "list", "minlength": 1, "schema": _VAR},
    "derivations": {"type": "list", "required": True, "schema": {"type": "dict"}},
}


_BY = {"type": "list", "required": True, "minlength": 1, "schema": _VAR}
BDS_STEP_SCHEMAS: dict[str, dict] = {
    **COMMON_STEP_SCHEMAS,
    "parameter": {
        "paramcd": _VAR,
        "formula": {"type": "string", "required": True, "allowed": [*FORMULAS, *sorted(ARITHMETIC)]},
        "inputs": {"type": "list", "minlength": 2, "maxlength": 2, "schema": _VAR},
        "by": _BY,
        "constant": {"type": "list", "schema": _VAR},
    },
    "aggregate": {
        "by": _BY,
        "where": _WHERE,
        "set": {"type": "dict", "keysrules": _VAR, "valuesrules": _SCALAR},
        "start": _OPT_VAR,
        "end": _OPT_VAR,
        "parameters": {
            "type": "list",
            "required": True,
            "minlength": 1,
            "schema": {
                "type": "dict",
                "schema": {
                    "paramcd": _VAR,
                    "source": _VAR,
                    "function": {
                        "type": "string",
                        "required": True,
                        "allowed": ["sum", "mean", "min", "max", "count", "any"],
                    },
                },
            },
        },
    },
    "summary_records": {"dtype": {"type": "string", "required": True}, "by": _BY, "where": _WHERE},
    "score": {
        "paramcd": _VAR,
        "inputs": {"type": "list", "required": True, "minlength": 2, "schema": _VAR},
        "by": _BY,
        "levels": {"type": "list", "schema": {"type": "number"}},
        "digits": {"type": "integer", "min": 0},
        "value_set": {
            "type": "dict",
            "schema": {
                "reference": {"type": "string", "required": True, "empty": False},
                "start": {"type": "number", "required": True},
                "decrements": {
                    "type": "dict",
                    "required": True,
                    "keysrules": _VAR,
                    "valuesrules": {
                        "type": "dict",
                        "keysrules": {"type": "integer"},
                        "valuesrules": {"type": "number"},
                    },
                },
            },
        },
    },
    "lookup": {
        "by": _VAR,
        "values": {
            "type": "dict",
            "required": True,
            "valuesrules": {"type": "dict", "keysrules": _VAR, "valuesrules": {"type": "number"}},
        },
    },
    "range_indicator": {"variable": _VAR, "value": _OPT_VAR, "low": _OPT_VAR, "high": _OPT_VAR},
    "base": {"variable": _VAR, "source": _VAR, "flag": _OPT_VAR, "by": _BY},
    "change": {"variable": _OPT_VAR, "percent": _OPT_VAR, "where": _WHERE},
    "extreme_records": {
        "by": _BY,
        "order": {"type": "list", "required": True, "minlength": 1, "schema": _ORDER_ITEM},
        "pick": _PICK,
        "where": _WHERE,
        "set": {"type": "dict", "keysrules": _VAR, "valuesrules": _SCALAR},
        "clear": {"type": "list", "schema": _VAR},
    },
}
"""The steps of an `engine: bds` params file (adam/_bds.py runs them)."""
BDS_SCHEMA: dict = {
    "engine": {"type": "string", "required": True, "allowed": ["bds"]},
    "source": {**_DOMAIN, "required": True},
    "parameters": {
        "type": "list",
        "required": True,
        "minlength": 1,
        "schema": {
            "type": "dict",
            "schema": {
                "paramcd": _PARAMCD,
                "paramn": {"type": "integer", "required": True},
                "param": {**_PARAM, "maxlength": 200},
                "testcd": {**_NAME, "excludes": ["aval", "avalc"]},
                "aval": {**_OPT_VAR, "excludes": ["testcd", "avalc"]},
                "avalc": {**_OPT_VAR, "excludes": ["testcd", "aval"]},
                "where": _WHERE,
            },
        },
    },
    "order": {"type": "list", "minlength": 1, "schema": _ORDER_ITEM},
    "sequence": _OPT_VAR,
    "cutoff_date": _OPT_VAR,
    "record_derivations": {"type": "list", "schema": {"type": "dict"}},
    "derivations": {"type": "list", "required": True, "schema": {"type": "dict"}},
}


def _conditions_in(body: Any, path: tuple) -> list[tuple[tuple, Any]]:
    """Every `where` condition of a step body (its sources' too), with its document path."""
    out: list[tuple[tuple, Any]] = []
    if isinstance(body, Mapping):
        for key, value in body.items():
            if key == "where":
                out.append(((*path, key), value))
            else:
                out += _conditions_in(value, (*path, key))
    elif isinstance(body, list):
        for i, item in enumerate(body):
            out += _conditions_in(item, (*path, i))
    return out


def check_condition_findings(doc: Any, body: Any, path: tuple, file: Path) -> list[Finding]:
    """Problems of the `where` conditions of a spec part (ADaM variables: `variable:` operands)."""
    from cdiscgen._conditions import check_condition

    out: list[Finding] = []
    for where_path, cond in _conditions_in(body, path):
        for problem in check_condition(
            cond,
            line=_line(doc, where_path),
            key=".".join(str(p) for p in where_path),
            allowed={"variable": lambda name: None},
        ):
            out.append(
                Finding(
                    PARAM_SPEC_SCHEMA,
                    Severity.ERROR,
                    f"{problem.key}: {problem.message}",
                    file=str(file),
                    line=problem.line,
                )
            )
    return out


def check_adsl_spec(doc: Any, file: Path) -> list[Finding]:
    """specs/adam/params/adsl.yaml: its schema, each step's body against its kind, every condition."""
    findings = _schema_findings(doc, ADSL_SCHEMA, file)
    if findings:
        return findings
    findings += check_condition_findings(doc, doc.get("population") or {}, ("population",), file)
    return findings + check_steps(doc, file, ADSL_STEP_SCHEMAS)


def check_steps(
    doc: Any, file: Path, step_schemas: Mapping[str, dict], key: str = "derivations"
) -> list[Finding]:
    """The `key` step list of a params file (`derivations`): each step one kind of `step_schemas`, its
    body on that kind's schema, its conditions on the condition grammar."""
    findings: list[Finding] = []
    for i, step in enumerate(doc.get(key) or []):
        path = (key, i)
        if not isinstance(step, Mapping) or len(step) != 1 or next(iter(step)) not in step_schemas:
            findings.append(
                Finding(
                    PARAM_SPEC_SCHEMA,
                    Severity.ERROR,
                    f"{key}[{i}]: a step is one of {', '.join(step_schemas)} (got {step!r})",
                    file=str(file),
                    line=_line(doc, path),
                )
            )
            continue
        ((kind, body),) = step.items()
        body = body if body is not None else {}
        for p in schema_problems(body, step_schemas[kind]) if isinstance(body, Mapping) else []:
            findings.append(
                Finding(
                    PARAM_SPEC_SCHEMA,
                    Severity.ERROR,
                    f"{key}[{i}].{kind}.{p.key}: {p.message}",
                    file=str(file),
                    line=p.line or _line(doc, path),
                )
            )
        if not isinstance(body, Mapping):
            findings.append(
                Finding(
                    PARAM_SPEC_SCHEMA,
                    Severity.ERROR,
                    f"{key}[{i}].{kind}: expected a mapping",
                    file=str(file),
                    line=_line(doc, path),
                )
            )
        findings += check_condition_findings(doc, body, (*path, kind), file)
    return findings


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


def declares_adam(study_dir: Path | None) -> bool:
    """A study has an ADaM when its specs/adam holds ADSL's metadata (a new study may have SDTM only)."""
    return (Path(study_dir or bundled_study_dir()) / "specs" / "adam" / "adsl.yaml").is_file()


def declared_adam_datasets(study_dir: Path | None) -> list[str]:
    """The ADaM datasets a study declares: one specs/adam/<name>.yaml each, ADSL first; none without ADSL."""
    if not declares_adam(study_dir):
        return []
    adam_dir = Path(study_dir or bundled_study_dir()) / "specs" / "adam"
    names = sorted(p.stem.upper() for p in adam_dir.glob("*.yaml"))
    return ["ADSL", *[n for n in names if n != "ADSL"]]


def _engine_of(doc: Any) -> str | None:
    return doc.get("engine") if isinstance(doc, Mapping) else None


def check_parameter_specs(study_dir: Path | None = None) -> list[Finding]:
    """Validate specs/adam/params/<dataset>.yaml of every dataset specs/adam declares (schema of its
    engine + cross references): ADSL's steps, and per other dataset the engine it names (`engine:`)."""
    return _read_parameter_specs(study_dir)[0]


def _read_parameter_specs(study_dir: Path | None) -> tuple[list[Finding], dict[str, Any]]:
    """The findings of check_parameter_specs and the documents read, by dataset name."""
    schemas = {
        "al_lab": ADLB_SCHEMA,
        "response": ADRS_SCHEMA,
        "time_to_event": ADTTE_SCHEMA,
        "bds": BDS_SCHEMA,
        "occds": OCCDS_SCHEMA,
    }
    findings: list[Finding] = []
    docs: dict[str, Any] = {}
    for name in declared_adam_datasets(study_dir):
        file = params_path(study_dir, name.lower())
        if not file.is_file():
            findings.append(
                Finding(
                    PARAM_SPEC_SCHEMA,
                    Severity.ERROR,
                    f"specs/adam/{name.lower()}.yaml declares {name}; its derivations file is missing",
                    file=str(file),
                )
            )
            continue
        try:
            doc = _load(file)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            findings.append(Finding(PARAM_SPEC_SCHEMA, Severity.ERROR, f"cannot read: {exc}", file=str(file)))
            continue
        docs[name] = doc
        if name == "ADSL":
            findings.extend(check_adsl_spec(doc, file))
            continue
        engine = _engine_of(doc)
        if engine not in schemas:
            findings.append(
                Finding(
                    PARAM_SPEC_SCHEMA,
                    Severity.ERROR,
                    f"engine: give one of {', '.join(schemas)} (got {engine!r})",
                    file=str(file),
                    line=_line(doc, ("engine",)),
                )
            )
            continue
        schema_found = _schema_findings(doc, schemas[engine], file)
        findings.extend(schema_found)
        if schema_found:
            continue
        if engine == "al_lab":
            findings.extend(_adlb_findings(doc, file))
        elif engine == "bds":
            findings.extend(check_steps(doc, file, BDS_STEP_SCHEMAS, "record_derivations"))
            findings.extend(check_steps(doc, file, BDS_STEP_SCHEMAS))
        elif engine == "occds":
            findings.extend(check_steps(doc, file, OCCDS_STEP_SCHEMAS))
            findings.extend(_supplemental_findings(doc, file, study_dir))
    by_engine = {_engine_of(d): (n, d) for n, d in docs.items() if n != "ADSL"}
    if "response" in by_engine or "time_to_event" in by_engine:
        settings = None
        study_yaml = Path(study_dir or bundled_study_dir()) / "specs" / "study.yaml"
        if study_yaml.exists():
            settings = _load(study_yaml)
        rs_name, rs_doc = by_engine.get("response", ("ADRS", {}))
        tte_name, tte_doc = by_engine.get("time_to_event", ("ADTTE", {}))
        tte_file = params_path(study_dir, tte_name.lower())
        for key, sel in (tte_doc.get("selections") or {}).items():
            dataset = str(sel.get("dataset", "ADRS")) if isinstance(sel, Mapping) else "ADRS"
            if dataset not in docs or dataset == tte_name:
                findings.append(
                    Finding(
                        PARAM_SPEC_CROSS_CHECK,
                        Severity.ERROR,
                        f"selection {key}: dataset {dataset} is not an ADaM dataset the study derives before "
                        f"{tte_name} ({', '.join(n for n in docs if n != tte_name)})",
                        file=str(tte_file),
                        line=_line(tte_doc, ("selections", key)),
                    )
                )
        if not findings:
            findings.extend(
                _cross_findings(
                    rs_doc,
                    tte_doc,
                    settings,
                    params_path(study_dir, rs_name.lower()),
                    params_path(study_dir, tte_name.lower()),
                )
            )
    return findings, docs


def _supplemental_findings(doc: Mapping, file: Path, study_dir: Path | None) -> list[Finding]:
    """Each qualifier an occurrence dataset takes from SUPP<source> is a supplemental variable of the
    source domain's SDTM spec (a misspelt QNAM would otherwise give an empty variable without a word)."""
    names = list(doc.get("supplemental") or [])
    if not names:
        return []
    source = str(doc["source"])
    sdtm_file = Path(study_dir or bundled_study_dir()) / "specs" / "sdtm" / f"{source.lower()}.yaml"
    declared: set[str] = set()
    if sdtm_file.is_file():
        declared = {v.name for v in read_dataset_spec_file(sdtm_file).supplemental_variables}
    return [
        Finding(
            PARAM_SPEC_CROSS_CHECK,
            Severity.ERROR,
            f"supplemental[{i}]: {name} is not a supplemental qualifier of specs/sdtm/{source.lower()}.yaml",
            file=str(file),
            line=_line(doc, ("supplemental", i)),
        )
        for i, name in enumerate(names)
        if name not in declared
    ]


@dataclass(frozen=True)
class ParameterSpecs:
    """The validated derivation specs of specs/adam/params (plain dicts, as in the YAML): ADSL's, and
    per other declared dataset its engine and definitions, in run order."""

    adsl: dict
    datasets: dict[str, tuple[str, dict]]

    def of_engine(self, engine: str) -> list[tuple[str, dict]]:
        return [(name, doc) for name, (eng, doc) in self.datasets.items() if eng == engine]


def load_parameter_specs(study_dir: Path | None = None) -> ParameterSpecs:
    """The validated derivation specs of every declared ADaM dataset; AdamInputError on any finding."""
    findings, docs = _read_parameter_specs(study_dir)
    if findings:
        raise AdamInputError("; ".join(str(f) for f in findings[:5]), dataset="specs/adam/params")
    datasets: dict[str, tuple[str, dict]] = {}
    adsl: dict = {}
    for name, doc in docs.items():
        if name == "ADSL":
            adsl = doc
        else:
            datasets[name] = (doc["engine"], doc)
    return ParameterSpecs(adsl=adsl, datasets=datasets)
