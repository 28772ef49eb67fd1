"""Mapping specs (`mappings/*.yaml`): the closed vocabulary, its cerberus schemas and the checks run
before any data is read.

A mapping spec targets one dataset and lists its `sources`: each names a raw form, declares the raw
columns it needs (the raw layout the spec is checked against, without data), optional `steps`
(filter, deduplicate, merge, transpose) and one rule per target variable.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdiscgen import Study, schema_problems
from cdiscgen._conditions import check_condition, normalise_value, text_comparisons
from cdiscgen._findings import Finding, Severity
from cdiscgen._yaml import LineDict, YamlSyntaxError, load_yaml
from sdtm._algorithms import ALGORITHMS
from sdtm._dates import DateFormatError, ambiguous_pairs, compile_date_format
from sdtm._steps import STEPS
from sdtm._template import TemplateError, template_columns
from sdtm._units import check_units_table

log = logging.getLogger(__name__)

# raw column names are whatever the EDC exported (IT.AETERM, "Visit Name", ...): any text without control
# characters; only the names are compared, nothing is evaluated
COLUMN_RE = r"^[^\x00-\x1f\x7f]+$"
_COL = {"type": "string", "regex": COLUMN_RE}
_COLS = {"type": "list", "minlength": 1, "schema": _COL}

SOURCE_SCHEMA: dict = {
    "form": {"type": "string", "required": True, "regex": r"^[A-Za-z0-9_.-]+\.csv$"},
    "description": {"type": "string"},
    "columns": {**_COLS, "required": True},
    "record_id": _COL,
    # the subject's raw key: a column, or a rule on the form's columns that gives it (an `assign` with
    # `extract:` takes `375` out of `study-375`; a `template` joins site and subject number)
    "subject": {"type": ["string", "dict"], "regex": COLUMN_RE},
    "visit": _COL,
    "steps": {"type": "list", "schema": {"type": "dict"}},
    # how this form writes a missing value besides a blank (R's NA, SAS's "."): read as blank; replaces
    # study.yaml's raw.missing for the form (an empty list: none); every source reading the form agrees
    "missing": {"type": "list", "schema": {"type": "string", "empty": False}},
    # the values a raw column may hold (e.g. GIVEN: ["Yes", "No"]): any other value is MAP020, so that a
    # filter or condition never drops or misreads an unexpected code silently
    "column_values": {
        "type": "dict",
        "keysrules": _COL,
        "valuesrules": {"type": "list", "minlength": 1, "schema": {"type": "string"}},
    },
    "variables": {
        "type": "dict",
        "keysrules": {"type": "string", "regex": r"^[A-Z][A-Z0-9]{0,7}$"},
    },
    # groups of the file's `shared:` rules this source uses (before its own `variables`)
    "use": {"type": "list", "minlength": 1, "schema": {"type": "string"}},
    # variables taken as they are from raw columns of the same name (an export already in SDTM shape):
    # each is `{assign: NAME}` (through its codelist), the column needs no listing in `columns`
    "pass_through": {
        "type": "list",
        "minlength": 1,
        "schema": {"type": "string", "regex": r"^[A-Z][A-Z0-9]{0,7}$"},
    },
    # columns of the form deliberately left out of the submission, each with the reason (EDC folder and
    # form identifiers, a site name SDTM has no variable for): any other column no source reads is MAP025
    "not_tabulated": {
        "type": "dict",
        "keysrules": _COL,
        "valuesrules": {"type": "string", "empty": False},
    },
    # the records of this source are related (RELREC) to the records of other sources that carry the same
    # value of a link of the same name for the same subject (e.g. a dose change and the AE it cites);
    # `cites: true` on the citing side: a value there that no other dataset's record carries is MAP023
    "link": {
        "type": "dict",
        "schema": {
            "name": {"type": "string", "required": True, "regex": r"^[A-Z][A-Z0-9]{0,7}$"},
            "column": {**_COL, "required": True},
            "cites": {"type": "boolean"},
        },
    },
}

MAPPING_FILE_SCHEMA: dict = {
    "dataset": {"type": "string", "required": True, "regex": r"^[A-Z][A-Z0-9]{0,7}$"},
    "description": {"type": "string"},
    # named groups of variable rules several sources use (`use: [timing]`), e.g. the --DTC/--TPT rules of
    # a wide form's result rows and of its NOT DONE rows
    "shared": {
        "type": "dict",
        "keysrules": {"type": "string", "regex": r"^[A-Za-z][A-Za-z0-9_]*$"},
        "valuesrules": {"type": "dict", "keysrules": {"type": "string", "regex": r"^[A-Z][A-Z0-9]{0,7}$"}},
    },
    "standardise_units": {"type": "boolean"},
    "sources": {
        "type": "list",
        "required": True,
        "minlength": 1,
        "schema": {"type": "dict", "schema": SOURCE_SCHEMA},
    },
}

STEP_SCHEMAS: dict[str, dict] = {
    "deduplicate": {
        "deduplicate": {
            "type": "dict",
            "required": True,
            "schema": {
                "keys": {**_COLS, "required": True},
                "keep": {"type": "string", "allowed": ["first", "last"]},
            },
        }
    },
    "merge": {
        "merge": {
            "type": "dict",
            "required": True,
            "schema": {
                "form": {"type": "string", "required": True, "regex": r"^[A-Za-z0-9_.-]+\.csv$"},
                "by": {**_COLS, "required": True},
                "columns": {**_COLS, "required": True},
                "prefix": {"type": "string", "regex": COLUMN_RE},
                "where": {"type": "dict"},
                "order_by": _COLS,
                "pick": {"type": "string", "allowed": ["first", "last"]},
                "aggregate": {
                    "type": "dict",
                    "keysrules": _COL,
                    "valuesrules": {"type": "string", "allowed": ["min", "max", "count", "first", "last"]},
                },
            },
        }
    },
    "transpose": {
        "transpose": {
            "type": "dict",
            "required": True,
            "schema": {
                "columns": {**_COLS, "required": True},
                "name": {**_COL, "required": True},
                "value": {**_COL, "required": True},
                "drop_empty": {"type": "boolean"},
            },
        }
    },
    "filter": {"filter": {"type": "dict", "required": True}},
}

RULE_SCHEMAS: dict[str, dict] = {
    "assign": {
        "assign": {**_COL, "required": True},
        "codelist": {"type": "string", "nullable": True},
        "values": {
            "type": "dict",
            "keysrules": {"type": ["string", "integer", "float"]},
            "valuesrules": {"type": ["string", "integer", "float"]},
        },
        "case": {"type": "string", "allowed": ["upper"]},
        "extract": {"type": "string", "empty": False},
        # what a value the map (and codelist) does not translate becomes: `keep` (as collected) or a value
        "otherwise": {"type": ["string", "integer", "float"], "dependencies": "values"},
        # the EDC codelist of the raw column: the codelist's synonyms scoped to it apply (CT spreadsheet)
        "edc_codelist": {"type": "string", "empty": False},
    },
    "hardcode": {"hardcode": {"type": ["string", "integer", "float"], "required": True, "nullable": True}},
    "condition": {
        "condition": {"type": "list", "required": True, "minlength": 1, "schema": {"type": "dict"}}
    },
    "iso8601": {
        "iso8601": {
            "type": ["string", "dict"],
            "required": True,
            "regex": COLUMN_RE,
            "schema": {"date": {**_COL, "required": True}, "time": _COL},
        },
        "formats": {"type": "list", "required": True, "minlength": 1, "schema": {"type": "string"}},
        "unknown": {"type": "list", "minlength": 1, "schema": {"type": "string", "empty": False}},
        "pivot_year": {"type": "integer", "min": 1000, "max": 9899},
    },
    "template": {"template": {"type": "string", "required": True, "empty": False}},
    "not_submitted": {"not_submitted": {"type": ["boolean", "string"], "required": True}},
}


@dataclass(frozen=True)
class SourceSpec:
    form: str
    columns: tuple[str, ...]
    record_id: str
    subject: str | Mapping[str, Any]  # a raw column, or an assign/template rule giving the raw subject key
    visit: str | None
    steps: tuple[Mapping[str, Any], ...]
    variables: Mapping[str, Any]
    line: int
    column_values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    link: tuple[str, str, bool] | None = None  # (link name, raw column, cites): see SOURCE_SCHEMA "link"
    not_tabulated: Mapping[str, str] = field(default_factory=dict)  # column -> why it is not submitted
    missing: tuple[str, ...] | None = None  # the form's missing-value tokens; None: the study's

    def required_columns(self) -> dict[str, tuple[str, ...]]:
        """Every raw form this source reads, with the columns it needs (merged forms included)."""
        link = [self.link[1]] if self.link else []
        own = [*self.columns, self.record_id, *self.subject_columns, *link]
        out = {self.form: tuple(dict.fromkeys(own))}
        for step in self.steps:
            if "merge" in step:
                m = step["merge"]
                out[m["form"]] = tuple(dict.fromkeys([*m["by"], *m["columns"], *out.get(m["form"], ())]))
        return out

    @property
    def subject_columns(self) -> tuple[str, ...]:
        """The raw columns the subject key is read from."""
        if isinstance(self.subject, str):
            return (self.subject,)
        if "template" in self.subject:
            return template_columns(str(self.subject["template"]))
        return (str(self.subject["assign"]),)


@dataclass(frozen=True)
class MappingSpec:
    dataset: str
    file: Path
    sources: tuple[SourceSpec, ...]
    standardise_units: bool = False


class _Checker:
    """Collects findings for one mapping file."""

    def __init__(self, study: Study, path: Path) -> None:
        self.study = study
        self.path = path
        self.rel = _relative(study, path)
        self.findings: list[Finding] = []
        self.declared: dict[str, set[str]] = {}  # column_values of the source being checked, normalised
        self.declared_text: dict[str, list[str]] = {}

    def error(self, code: str, line: int | None, key: str, message: str) -> None:
        self.findings.append(Finding(code, Severity.ERROR, message, variable=key, file=self.rel, line=line))

    def validate(self, doc: Any, schema: dict, line: int, key: str) -> bool:
        if not isinstance(doc, dict):
            self.error("SPEC102", line, key, f"{key} must be a mapping, got {doc!r}")
            return False
        problems = schema_problems(doc, schema)
        for problem in problems:
            self.error(
                "SPEC102",
                problem.line or line,
                f"{key}.{problem.key}" if problem.key else key,
                problem.message,
            )
        return not problems

    # -------------------------------------------------------------------------------- conditions / rules

    def check_condition(
        self,
        cond: Any,
        line: int,
        key: str,
        columns: set[str],
        assigned: tuple[str, ...] | None = None,
        *,
        own_form: bool = True,
    ) -> None:
        """A condition on the source's declared raw columns and (in variable rules) on target variables
        whose rule comes earlier in the source (`assigned`)."""

        def column_problem(name: str) -> str | None:
            return None if name in columns else f"raw column {name!r} is not in the source's declared columns"

        def variable_problem(name: str) -> str | None:
            if assigned is not None and name in assigned:
                return None
            return (
                f"variable {name} has no rule earlier in this source; a condition can name only target "
                "variables assigned above it"
            )

        allowed = {"column": column_problem}
        if assigned is not None:
            allowed["variable"] = variable_problem
        for problem in check_condition(cond, line=line, key=key, allowed=allowed):
            code = "SPEC104" if "declared columns" in problem.message else "SPEC103"
            self.error(code, problem.line, problem.key, problem.message)
        if own_form:
            self.check_declared_values(cond, line, key, require=False)

    def check_declared_values(self, cond: Any, line: int, key: str, *, require: bool) -> None:
        """Text constants compared with a raw column must be among its `column_values`; a filter (which
        drops rows) must have them declared."""
        for kind, name, constants, cline in text_comparisons(cond, line):
            if kind != "column":
                continue
            declared = self.declared.get(name)
            if declared is None:
                if require:
                    self.error(
                        "SPEC113",
                        cline,
                        key,
                        f"the filter compares {name} with {constants}: declare the values {name} may hold "
                        f"(column_values: {{{name}: [...]}}) so that any other value is reported, not dropped",
                    )
                continue
            for constant in constants:
                if normalise_value(constant) not in declared:
                    self.error(
                        "SPEC114",
                        cline,
                        key,
                        f"{constant!r} is not one of the declared values of {name} ({', '.join(self.declared_text[name])})",
                    )

    def check_rule(
        self,
        rule: Any,
        line: int,
        key: str,
        columns: set[str],
        codelist: str | None,
        assigned: tuple[str, ...] = (),
    ) -> None:
        if not isinstance(rule, dict):
            self.check_value(rule, line, key, codelist)
            return
        line = getattr(rule, "line", line)
        found = [k for k in rule if k in ALGORITHMS]
        if len(found) != 1:
            unknown = [
                k
                for k in rule
                if k not in ALGORITHMS
                and k
                not in (
                    "codelist",
                    "values",
                    "otherwise",
                    "edc_codelist",
                    "case",
                    "formats",
                    "extract",
                    "unknown",
                    "pivot_year",
                )
            ]
            what = (
                f"unknown algorithm {unknown[0]!r}"
                if unknown and not found
                else f"{len(found)} algorithms {found}"
            )
            self.error("SPEC101", line, key, f"{what}; a rule has exactly one of {', '.join(ALGORITHMS)}")
            return
        algorithm = found[0]
        if not self.validate(rule, RULE_SCHEMAS[algorithm], line, key):
            return
        if algorithm == "assign":
            self.check_column(rule["assign"], rule.line_of("assign"), f"{key}.assign", columns)
            cl = rule["codelist"] if "codelist" in rule else codelist
            if cl is not None and cl not in self.study.codelists:
                self.error(
                    "SPEC106",
                    rule.line_of("codelist"),
                    f"{key}.codelist",
                    f"codelist {cl!r} does not exist in specs/codelists.yaml",
                )
                cl = None
            for collected, value in (rule.get("values") or {}).items():
                self.check_value(value, rule["values"].line_of(collected), f"{key}.values.{collected}", cl)
            if "edc_codelist" in rule:
                scopes = self.study.codelists[cl].edc_codelists if cl is not None else frozenset()
                if rule["edc_codelist"] not in scopes:
                    self.error(
                        "SPEC120",
                        rule.line_of("edc_codelist"),
                        f"{key}.edc_codelist",
                        f"codelist {cl} has no synonyms for EDC codelist {rule['edc_codelist']!r} "
                        f"({', '.join(sorted(scopes)) or 'none'})",
                    )
            if "otherwise" in rule and str(rule["otherwise"]) != "keep":
                self.check_value(rule["otherwise"], rule.line_of("otherwise"), f"{key}.otherwise", cl)
            if "extract" in rule:
                self.check_pattern(rule["extract"], rule.line_of("extract"), f"{key}.extract")
        elif algorithm == "hardcode":
            self.check_value(rule["hardcode"], rule.line_of("hardcode"), f"{key}.hardcode", codelist)
        elif algorithm == "iso8601":
            spec = rule["iso8601"]
            for part in ("date", "time") if isinstance(spec, dict) else ():
                if part in spec:
                    self.check_column(spec[part], spec.line_of(part), f"{key}.iso8601.{part}", columns)
            if isinstance(spec, str):
                self.check_column(spec, rule.line_of("iso8601"), f"{key}.iso8601", columns)
            self.check_formats(rule, key)
        elif algorithm == "template":
            self.check_template(rule["template"], rule.line_of("template"), f"{key}.template", columns)
        elif algorithm == "condition":
            branches = rule["condition"]
            for i, branch in enumerate(branches):
                bline = branches.line_of(i)
                bkey = f"{key}.condition[{i}]"
                if set(branch) == {"else"}:
                    if i != len(branches) - 1:
                        self.error("SPEC103", bline, bkey, "`else` must be the last branch")
                    self.check_rule(
                        branch["else"], branch.line_of("else"), f"{bkey}.else", columns, codelist, assigned
                    )
                elif set(branch) == {"if", "then"}:
                    self.check_condition(branch["if"], branch.line_of("if"), f"{bkey}.if", columns, assigned)
                    self.check_rule(
                        branch["then"], branch.line_of("then"), f"{bkey}.then", columns, codelist, assigned
                    )
                else:
                    self.error(
                        "SPEC103",
                        bline,
                        bkey,
                        f"a branch is {{if, then}} or {{else}}, got keys {sorted(branch)}",
                    )

    def source_variables(self, src: Any, skey: str, shared: LineDict) -> LineDict:
        """The source's rules: one `{assign: NAME}` per `pass_through` name, the rules of the `shared`
        groups it uses, then its own `variables`; a variable given twice is SPEC118."""
        variables = src.get("variables") or LineDict()
        out = LineDict()
        out.line = getattr(variables, "line", src.line)
        out.key_lines = {}
        given: dict[str, str] = {}

        def add(name: str, rule: Any, line: int, key: str, what: str) -> None:
            if name in out:
                self.error("SPEC118", line, key, f"{name} is {what} and also {given[name]}")
                return
            out[name] = rule
            out.key_lines[name] = line
            given[name] = f"{what} (line {line})"

        for i, name in enumerate(src.get("pass_through") or []):
            line = src["pass_through"].line_of(i)
            rule = LineDict(assign=name)
            rule.line, rule.key_lines = line, {"assign": line}
            add(name, rule, line, f"{skey}.pass_through[{i}]", "passed through")
        for i, group in enumerate(src.get("use") or []):
            if group not in shared:
                known = ", ".join(shared) or "none"
                line = src["use"].line_of(i)
                self.error("SPEC119", line, f"{skey}.use[{i}]", f"no shared group {group!r} ({known})")
                continue
            rules = shared[group]
            for name, rule in rules.items():
                add(name, rule, rules.line_of(name), f"shared.{group}.{name}", f"in shared group {group}")
        for name, rule in variables.items():
            add(
                name, rule, variables.line_of(name), f"{skey}.variables.{name}", "given a rule in `variables`"
            )
        if not out:
            message = "the source maps no variable (variables, use, pass_through)"
            self.error("SPEC102", src.line, f"{skey}.variables", message)
        return out

    def check_subject_rule(self, rule: Any, line: int, key: str, columns: set[str]) -> None:
        """A subject key given by a rule: `assign` (with `extract`) or `template`, on declared columns."""
        if set(rule) - {"assign", "extract", "template"} or len({"assign", "template"} & set(rule)) != 1:
            self.error(
                "SPEC101",
                line,
                key,
                f"a subject key is a column, {{assign: COL, extract: REGEX}} or {{template: TEXT}}; got keys "
                f"{sorted(rule)}",
            )
            return
        self.check_rule(rule, line, key, columns, None)

    def check_template(self, text: str, line: int, key: str, columns: set[str]) -> None:
        """A template reads, its format specifications are valid, and its fields name declared columns."""
        try:
            for column in template_columns(text):
                self.check_column(column, line, key, columns)
        except TemplateError as exc:
            self.error("SPEC117", line, key, str(exc))

    def check_pattern(self, pattern: Any, line: int, key: str) -> None:
        """A regular expression (`extract`) compiles, as the engine compiles it (ignoring case)."""
        try:
            re.compile(str(pattern), re.IGNORECASE)
        except re.error as exc:
            self.error("SPEC115", line, key, f"regular expression {pattern!r} does not compile: {exc}")

    def check_formats(self, rule: Any, key: str) -> None:
        """Every declared date format is a valid pattern; no two read a date with day and month swapped;
        a two-digit year has a pivot."""
        compiled = []
        unknown = tuple(str(u) for u in rule.get("unknown") or ())
        for i, fmt in enumerate(rule["formats"]):
            try:
                compiled.append(compile_date_format(str(fmt), unknown))
            except DateFormatError as exc:
                self.error("SPEC107", rule["formats"].line_of(i), f"{key}.formats[{i}]", str(exc))
        for a, b in ambiguous_pairs(compiled):
            self.error(
                "SPEC107",
                rule.line_of("formats"),
                f"{key}.formats",
                f"{a} and {b} cannot both be declared: a date such as 03/04/2024 would be ambiguous",
            )
        if any(f.uses_two_digit_year for f in compiled) and "pivot_year" not in rule:
            self.error(
                "SPEC107",
                rule.line_of("formats"),
                f"{key}.formats",
                "a two-digit year (YY) needs `pivot_year:` (e.g. 1950: 49 -> 2049, 50 -> 1950)",
            )

    def check_column(self, column: str, line: int, key: str, columns: set[str]) -> None:
        if column not in columns:
            self.error("SPEC104", line, key, f"raw column {column!r} is not in the source's declared columns")

    def check_value(self, value: Any, line: int, key: str, codelist: str | None) -> None:
        if value in (None, "") or codelist is None or codelist not in self.study.codelists:
            return
        cl = self.study.codelists[codelist]
        if not cl.is_external and str(value) not in cl.values:
            self.error(
                "SPEC105",
                line,
                key,
                f"value {value!r} is not a term of codelist {codelist} ({', '.join(sorted(cl.values))})",
            )

    # ------------------------------------------------------------------------------------------- file

    def check(self) -> MappingSpec | None:
        try:
            doc = load_yaml(self.path)
        except YamlSyntaxError as exc:
            self.error("SPEC002", exc.line, "", f"YAML syntax error: {exc.problem}")
            return None
        if not self.validate(doc, MAPPING_FILE_SCHEMA, 1, "mapping"):
            return None
        dataset = self.study.datasets.get(doc["dataset"])
        if dataset is None:
            self.error(
                "SPEC109",
                doc.line_of("dataset"),
                "dataset",
                f"dataset {doc['dataset']!r} is not declared in specs/sdtm",
            )
            return None
        var_specs = {v.name: v for v in dataset.variables}
        sources: list[SourceSpec] = []
        for si, src in enumerate(doc["sources"]):
            skey = f"sources[{si}]({src['form']})"
            src_columns = _source_columns(src)
            columns = set(src_columns)
            declared_values = src.get("column_values") or {}
            self.declared = {c: {normalise_value(v) for v in vals} for c, vals in declared_values.items()}
            self.declared_text = {c: list(vals) for c, vals in declared_values.items()}
            for c in declared_values:
                self.check_column(c, declared_values.line_of(c), f"{skey}.column_values.{c}", columns)
            for k in ("record_id", "subject", "visit"):
                if k in src and isinstance(src[k], str):
                    self.check_column(src[k], src.line_of(k), f"{skey}.{k}", columns)
            if isinstance(src.get("subject"), dict):
                self.check_subject_rule(src["subject"], src.line_of("subject"), f"{skey}.subject", columns)
            steps = src.get("steps") or []
            for ti, step in enumerate(steps):
                tline = steps.line_of(ti)
                tkey = f"{skey}.steps[{ti}]"
                kinds = [k for k in step if k in STEPS]
                if len(kinds) != 1 or len(step) != 1:
                    self.error(
                        "SPEC108",
                        tline,
                        tkey,
                        f"unknown step {sorted(step)}; a step is exactly one of {', '.join(STEPS)}",
                    )
                    continue
                kind = kinds[0]
                if not self.validate(step, STEP_SCHEMAS[kind], tline, tkey):
                    continue
                body = step[kind]
                if kind == "filter":
                    self.check_condition(body, tline, f"{tkey}.filter", columns, own_form=False)
                    self.check_declared_values(body, tline, f"{tkey}.filter", require=True)
                elif kind == "deduplicate":
                    for i, c in enumerate(body["keys"]):
                        self.check_column(c, body["keys"].line_of(i), f"{tkey}.keys[{i}]", columns)
                elif kind == "merge":
                    for i, c in enumerate(body["by"]):
                        self.check_column(c, body["by"].line_of(i), f"{tkey}.by[{i}]", columns)
                    other_columns = set(body["by"]) | set(body["columns"])
                    if body.get("where"):
                        self.check_condition(
                            body["where"],
                            body.line_of("where"),
                            f"{tkey}.where",
                            other_columns,
                            own_form=False,
                        )
                    for i, c in enumerate(body.get("order_by") or []):
                        self.check_column(
                            c, body["order_by"].line_of(i), f"{tkey}.order_by[{i}]", other_columns
                        )
                    for c in body.get("aggregate") or {}:
                        if c not in body["columns"] or c in body["by"]:
                            self.error(
                                "SPEC110",
                                body["aggregate"].line_of(c),
                                f"{tkey}.aggregate.{c}",
                                f"aggregated column {c} is not one of the merged `columns`",
                            )
                    prefix = body.get("prefix", "")
                    for i, c in enumerate(body["columns"]):
                        if c in body["by"]:
                            continue
                        if prefix + c in columns:
                            self.error(
                                "SPEC110",
                                body["columns"].line_of(i),
                                f"{tkey}.columns[{i}]",
                                f"merged column {prefix + c} clashes with a column of {src['form']}; set a `prefix`",
                            )
                        columns.add(prefix + c)
                elif kind == "transpose":
                    for i, c in enumerate(body["columns"]):
                        self.check_column(c, body["columns"].line_of(i), f"{tkey}.columns[{i}]", columns)
                    columns -= set(body["columns"])
                    columns |= {body["name"], body["value"]}
            variables = self.source_variables(src, skey, doc.get("shared") or LineDict())
            assigned: list[str] = []
            for name, rule in variables.items():
                line = variables.line_of(name)
                vkey = f"{skey}.variables.{name}"
                if name not in var_specs:
                    self.error(
                        "SPEC111",
                        line,
                        vkey,
                        f"{name} is not a variable of {dataset.name} in {dataset.file.name if dataset.file else 'specs/sdtm'}",
                    )
                    continue
                codelist = _value_level_codelist(dataset, variables, name) or var_specs[name].codelist
                self.check_rule(rule, line, vkey, columns, codelist, tuple(assigned))
                assigned.append(name)
            sources.append(
                SourceSpec(
                    form=src["form"],
                    columns=src_columns,
                    record_id=src.get("record_id", "RECORD_ID"),
                    subject=src.get("subject", "SUBJECT"),
                    visit=src.get("visit"),
                    steps=tuple(steps),
                    variables=variables,
                    line=doc["sources"].line_of(si),
                    column_values={c: tuple(v) for c, v in declared_values.items()},
                    not_tabulated=dict(src.get("not_tabulated") or {}),
                    missing=tuple(str(t) for t in src["missing"]) if "missing" in src else None,
                    link=(
                        (src["link"]["name"], src["link"]["column"], bool(src["link"].get("cites", False)))
                        if src.get("link")
                        else None
                    ),
                )
            )
            if src.get("link") and "RELREC" not in self.study.datasets:
                self.error(
                    "SPEC102",
                    src.line_of("link"),
                    f"{skey}.link",
                    "a link relates records in RELREC: the study needs its spec (specs/sdtm/relrec.yaml)",
                )
            if src.get("link"):
                self.check_column(
                    src["link"]["column"],
                    src["link"].line_of("column"),
                    f"{skey}.link.column",
                    set(src_columns),
                )
            for k, default in (("record_id", "RECORD_ID"), ("subject", "SUBJECT")):
                if k not in src and default not in set(src_columns):
                    self.error(
                        "SPEC104",
                        src.line,
                        f"{skey}.{k}",
                        f"the source declares no {default} column; name the {k} column",
                    )
        if any(f.severity >= Severity.ERROR for f in self.findings):
            return None
        return MappingSpec(
            doc["dataset"], self.path, tuple(sources), bool(doc.get("standardise_units", False))
        )


def _source_columns(src: Any) -> tuple[str, ...]:
    """The raw columns a source reads: `columns`, then the `pass_through` ones it does not list."""
    return tuple(dict.fromkeys([*src["columns"], *(src.get("pass_through") or ())]))


def _relative(study: Study, path: Path) -> str:
    """A spec file's name as findings give it: relative to the study folder when inside it."""
    try:
        return str(path.relative_to(study.root))
    except ValueError:
        return str(path)


def _check_files(study: Study) -> tuple[list[MappingSpec], list[Finding]]:
    specs: list[MappingSpec] = []
    findings: list[Finding] = []
    seen: dict[str, Path] = {}
    for path in sorted(study.mappings_dir.glob("*.yaml")) if study.mappings_dir.is_dir() else []:
        checker = _Checker(study, path)
        spec = checker.check()
        findings.extend(checker.findings)
        if spec is None:
            continue
        if spec.dataset in seen:
            findings.append(
                Finding(
                    "SPEC112",
                    Severity.ERROR,
                    f"dataset {spec.dataset} is mapped twice (also {seen[spec.dataset].name})",
                    variable="dataset",
                    file=checker.rel,
                    line=1,
                )
            )
            continue
        seen[spec.dataset] = path
        specs.append(spec)
    findings.extend(check_missing_tokens_agree(specs, study))
    if any(s.standardise_units for s in specs):
        findings.extend(
            check_units_table(study.specs_dir / "units.yaml", study.codelists, "specs/units.yaml")
        )
    return specs, findings


def form_missing_tokens(specs: list[MappingSpec], study: Study) -> dict[str, tuple[str, ...]]:
    """Per raw form, the values read as blank: its sources' `missing:`, else study.yaml's raw.missing
    (check_missing_tokens_agree makes sure the sources reading one form agree)."""
    return {form: tokens for form, (tokens, _, _) in _missing_declarations(specs, study).items()}


def _missing_declarations(
    specs: list[MappingSpec], study: Study
) -> dict[str, tuple[tuple[str, ...], MappingSpec, SourceSpec]]:
    """Per form, the first declaration (tokens, spec, source) of the sources that read it; see below."""
    out: dict[str, tuple[tuple[str, ...], MappingSpec, SourceSpec]] = {}
    for spec, src, form, tokens in _missing_readers(specs, study):
        out.setdefault(form, (tokens, spec, src))
    return out


def _missing_readers(
    specs: list[MappingSpec], study: Study
) -> Iterator[tuple[MappingSpec, SourceSpec, str, tuple[str, ...]]]:
    """(spec, source, form, tokens) for every form a source reads, its own or merged."""
    for spec in specs:
        for src in spec.sources:
            tokens = src.missing if src.missing is not None else study.missing_tokens
            for form in src.required_columns():
                yield spec, src, form, tokens


def check_missing_tokens_agree(specs: list[MappingSpec], study: Study) -> list[Finding]:
    """SPEC116 for a source whose missing-value tokens differ from another source reading the same form:
    a form is read once, so a value is either missing or not for every dataset made from it."""
    first = _missing_declarations(specs, study)
    out = []
    for spec, src, form, tokens in _missing_readers(specs, study):
        expected, other_spec, other_src = first[form]
        if set(tokens) != set(expected):
            out.append(
                Finding(
                    "SPEC116",
                    Severity.ERROR,
                    f"{form}: this source reads {list(tokens)} as missing, the source at "
                    f"{other_spec.file.name}:{other_src.line} {list(expected)}; every source reading a "
                    "form declares the same `missing:` (or none: study.yaml raw.missing)",
                    variable="missing",
                    file=_relative(study, spec.file),
                    line=src.line,
                )
            )
    return out


def check_mapping_specs(study: Study) -> list[Finding]:
    """Validate every `mappings/*.yaml` of the study against the closed vocabulary, the dataset metadata,
    the declared raw columns and the codelists. Returns findings (file + line + key); reads no data."""
    return _check_files(study)[1]


def read_mapping_specs(study: Study) -> list[MappingSpec]:
    """The study's mapping specs, parsed; raises SpecError when check_mapping_specs finds errors."""
    from cdiscgen._specs import SpecError

    specs, findings = _check_files(study)
    errors = [f for f in findings if f.severity >= Severity.ERROR]
    if errors:
        raise SpecError(errors)
    return specs


def _value_level_codelist(dataset: Any, variables: Any, name: str) -> str | None:
    """The codelist a value-level entry gives `name` in a source that hardcodes every `by` variable.

    RS holds responses and clinical classifications: RSCAT of an RSTESTCD = ALSTAGE record is a term of
    the clinical-classification category codelist, not of the response category one, and a source that
    writes only such records is checked against the former.
    """
    level = dataset.value_level or {}
    if name not in (level.get("variables") or ()):
        return None
    fixed = {}
    for by in level.get("by") or ():
        rule = variables.get(by)
        value = rule.get("hardcode") if isinstance(rule, dict) else rule
        if value in (None, ""):
            return None
        fixed[by] = str(value)
    for entry in level.get("entries") or ():
        where = {k: str(v) for k, v in (entry.get("where") or {}).items()}
        if entry.get("variable") == name and where == fixed:
            return entry.get("codelist")
    return None
