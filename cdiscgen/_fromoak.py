"""Mapping specs (`mappings/*.yaml`) from an sdtm.oak specification CSV (`cdiscgen spec from-oak`).

sdtm.oak's study specification has one row per raw variable and target: the raw dataset and variable
(`raw_dataset`, `raw_variable`, `raw_data_format`), the target (`target_sdtm_domain`,
`target_sdtm_variable`, its CT in `target_sdtm_variable_controlled_terms_or_format`), the algorithm
(`mapping_algorithm`, `entity_sub_algorithm`, `target_hardcoded_value`, `target_term_value`) and, for
IF_THEN_ELSE, a condition on a raw variable (`condition_*`). The algorithms map onto cdiscgen's rules:

    ASSIGN_NO_CT -> assign            ASSIGN_CT -> assign with the codelist     HARDCODE_* -> hardcode
    a date (ISO 8601 target)  -> iso8601, a date and a time variable of one target joined
    IF_THEN_ELSE -> condition (Checked / Not_checked / is_numeric / is_character on a raw variable)
    DATASET_LEVEL REMOVE_DUP -> a deduplicate step        NOTSUBMITTED -> the column is not tabulated

Anything else (OTHER, a condition against an SDTM variable, a target derived outside the engine) is
listed with its row, never dropped silently.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cdiscgen._atomic import write_files_together

__all__ = ["OakImport", "mappings_from_oak"]

REQUIRED_COLUMNS = (
    "raw_dataset",
    "raw_variable",
    "target_sdtm_domain",
    "target_sdtm_variable",
    "mapping_algorithm",
    "entity_sub_algorithm",
    "target_hardcoded_value",
    "target_term_value",
    "target_sdtm_variable_controlled_terms_or_format",
    "raw_data_format",
    "condition_ordinal",
    "condition_left_raw_variable",
    "condition_operator",
    "condition_right_text_value",
    "condition_right_sdtm_variable",
    "unduplicate_keys",
)
_NUMBER = r"\s*[-+]?[0-9]+(\.[0-9]*)?\s*"
#: sdtm.oak condition operators on a raw variable, as cdiscgen conditions
_OPERATORS: dict[str, dict[str, str]] = {
    "checked": {"op": "eq", "value": "1"},
    "not_checked": {"op": "eq", "value": "0"},
    "is_numeric": {"op": "matches", "value": _NUMBER},
    "is_character": {"op": "matches", "value": f"(?!{_NUMBER}$).+"},
    "is_null": {"op": "empty"},
    "is_not_null": {"op": "not_empty"},
}
#: what cdiscgen's engine derives itself (from the study, DM and the visit schedule)
_ENGINE_DERIVED = ("STUDYID", "DOMAIN", "USUBJID", "EPOCH", "VISIT", "VISITNUM", "VISITDY")
_ASSIGN = ("ASSIGN_NO_CT", "ASSIGN_CT")
_DATE_TOKENS = (("yyyy", "YYYY"), ("yy", "YY"), ("mmm", "MON"), ("mm", "MM"), ("dd", "DD"))


@dataclass
class OakImport:
    """What `mappings_from_oak` wrote, what the engine derives, and what it could not carry (with rows)."""

    out_dir: Path
    files: list[str] = field(default_factory=list)
    derived: list[str] = field(default_factory=list)
    not_carried: list[str] = field(default_factory=list)


@dataclass
class _Row:
    number: int  # the CSV line of the row (1 = the header)
    values: dict[str, str]

    def __getitem__(self, key: str) -> str:
        return (self.values.get(key) or "").strip()


@dataclass
class _Source:
    form: str
    columns: list[str] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    rows_of: dict[str, int] = field(default_factory=dict)  # target -> the row that set it
    steps: list[dict] = field(default_factory=list)
    not_tabulated: dict[str, str] = field(default_factory=dict)
    dates: dict[str, dict[str, Any]] = field(default_factory=dict)  # target -> {date, time, formats, row}
    conditions: dict[str, list[tuple[str, dict]]] = field(default_factory=dict)  # target -> (ordinal, branch)
    reads: set[str] = field(default_factory=set)  # the raw columns a rule, date, condition or step reads


def read_oak_spec(path: Path) -> list[_Row]:
    """The rows of an sdtm.oak specification CSV; a missing column is an error naming it."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text; save the specification as a UTF-8 CSV") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{path}:1: not an sdtm.oak specification: column(s) {', '.join(missing)} missing")
    reader.fieldnames = header
    return [_Row(n, row) for n, row in enumerate(reader, 2)]


def mappings_from_oak(
    spec: Path | str,
    out_dir: Path | str,
    *,
    subject: str = "PATNUM",
    record_id: str | None = None,
    form_name: str = "{raw_dataset}.csv",
    replace: bool = False,
) -> OakImport:
    """Write OUT_DIR/mappings/<domain>.yaml from an sdtm.oak specification. `subject` is the raw subject
    column (sdtm.oak's patient number), `record_id` the raw record key (default: the subject column),
    `form_name` the raw file of a raw dataset (`{raw_dataset}` in lower case)."""
    spec, out_dir = Path(spec), Path(out_dir)
    rows = read_oak_spec(spec)
    result = OakImport(out_dir)
    domains: dict[str, dict[str, _Source]] = {}
    raw_columns: dict[str, list[str]] = {}
    for row in rows:
        if row["raw_dataset"] and row["raw_variable"]:
            raw_columns.setdefault(row["raw_dataset"], [])
            if row["raw_variable"] not in raw_columns[row["raw_dataset"]]:
                raw_columns[row["raw_dataset"]].append(row["raw_variable"])
    not_submitted: dict[str, dict[str, str]] = {}  # raw dataset -> column -> why
    for row in rows:
        _read_row(row, domains, raw_columns, not_submitted, form_name, result)
    for sources in domains.values():
        for raw_dataset, source in sources.items():
            source.not_tabulated = {
                column: why
                for column, why in not_submitted.get(raw_dataset, {}).items()
                if column not in source.reads
            }
    files: dict[str, str] = {}
    for domain, sources in sorted(domains.items()):
        doc = {
            "dataset": domain,
            "sources": [_source_doc(s, subject, record_id or subject, result) for s in sources.values()],
        }
        header = (
            f"# {domain} from the sdtm.oak specification {spec.name} (cdiscgen spec from-oak): check the rules\n"
            "# against the raw export with `cdiscgen check-specs` and `cdiscgen sdtm`.\n"
        )
        files[f"mappings/{domain.lower()}.yaml"] = header + yaml.dump(
            doc, Dumper=_MappingDumper, sort_keys=False, allow_unicode=True, width=110
        )
    if not files:
        raise ValueError(f"{spec}: no row maps a raw variable to an SDTM domain")
    existing = [out_dir / rel for rel in files if (out_dir / rel).exists()]
    if existing and not replace:
        raise FileExistsError(f"{existing[0]} exists; pass --replace to replace it")
    write_files_together(out_dir, files)
    result.files = sorted(files)
    return result


def _read_row(
    row: _Row,
    domains: dict[str, dict[str, _Source]],
    raw_columns: dict[str, list[str]],
    not_submitted: dict[str, dict[str, str]],
    form_name: str,
    result: OakImport,
) -> None:
    algorithm = row["mapping_algorithm"].upper()
    sub = row["entity_sub_algorithm"].upper()
    domain = row["target_sdtm_domain"].upper()
    target = row["target_sdtm_variable"].upper()
    raw = row["raw_variable"]
    where = f"row {row.number} ({row['raw_dataset'] or '-'}.{raw or '-'} -> {domain or '-'}.{target or '-'})"
    if not algorithm:
        if target and (target in _ENGINE_DERIVED or re.fullmatch(r"[A-Z]{2}(SEQ|DY|STDY|ENDY)", target)):
            result.derived.append(f"{domain}.{target} (row {row.number})")
        elif target:
            result.not_carried.append(f"{where}: no mapping algorithm; cdiscgen does not derive {target}")
        return
    if not row["raw_dataset"]:
        result.not_carried.append(f"{where}: {algorithm} without a raw dataset")
        return
    if algorithm == "NOTSUBMITTED" or (algorithm == "IF_THEN_ELSE" and sub == "NOTSUBMITTED" and not target):
        if algorithm == "NOTSUBMITTED" and raw:
            reason = f"NOT SUBMITTED in the sdtm.oak specification (row {row.number})"
            not_submitted.setdefault(row["raw_dataset"], {}).setdefault(raw, reason)
        return
    if not domain or not target:
        result.not_carried.append(f"{where}: {algorithm} without a target domain and variable")
        return
    source = _source(domains, domain, row, raw_columns, form_name)
    if algorithm == "DATASET_LEVEL":
        if sub == "REMOVE_DUP":
            keys = [k.split(".")[-1].strip() for k in row["unduplicate_keys"].split(",") if k.strip()]
            source.steps.append({"deduplicate": {"keys": keys, "keep": "first"}})
            source.reads.update(keys)
        elif target == "DOMAIN":
            result.derived.append(f"{domain}.DOMAIN (row {row.number})")
        else:
            result.not_carried.append(
                f"{where}: DATASET_LEVEL {sub or '(no sub-algorithm)'} has no cdiscgen equivalent"
            )
        return
    if algorithm == "IF_THEN_ELSE":
        _add_branch(source, row, target, sub, where, result)
        return
    if _is_date(row, algorithm):
        _add_date(source, row, target, where, result)
        return
    rule = _rule(row, algorithm, where, result)
    if rule is not None:
        _set(source, target, rule, row.number, where, result)


def _source(
    domains: dict[str, dict[str, _Source]],
    domain: str,
    row: _Row,
    raw_columns: dict[str, list[str]],
    form_name: str,
) -> _Source:
    sources = domains.setdefault(domain, {})
    name = row["raw_dataset"]
    if name not in sources:
        sources[name] = _Source(
            form=form_name.format(raw_dataset=name.lower()), columns=list(raw_columns.get(name, []))
        )
    return sources[name]


def _is_date(row: _Row, algorithm: str) -> bool:
    """An assignment to an ISO 8601 target: a raw date or time that joins the target's iso8601 rule."""
    ct = row["target_sdtm_variable_controlled_terms_or_format"]
    return algorithm in _ASSIGN and bool(row["raw_variable"]) and "ISO 8601" in ct.upper()


def _rule(row: _Row, algorithm: str, where: str, result: OakImport) -> Any:
    """The cdiscgen rule of an algorithm (of the sub-algorithm of a condition branch); None when there is
    no equivalent (listed)."""
    raw = row["raw_variable"]
    ct = row["target_sdtm_variable_controlled_terms_or_format"]
    if algorithm in _ASSIGN:
        if not raw:
            result.not_carried.append(f"{where}: {algorithm} without a raw variable")
            return None
        rule: dict[str, Any] = {"assign": raw}
        codelist = (
            re.fullmatch(r"\(?\s*([A-Za-z][A-Za-z0-9_.]*)\s*\)?", ct) if algorithm == "ASSIGN_CT" else None
        )
        if codelist:
            rule["codelist"] = codelist.group(1)
        return rule
    if algorithm == "HARDCODE_NO_CT":
        return {"hardcode": row["target_hardcoded_value"]}
    if algorithm == "HARDCODE_CT":
        return {"hardcode": row["target_term_value"] or row["target_hardcoded_value"]}
    result.not_carried.append(
        f"{where}: {algorithm} has no cdiscgen equivalent"
        + (f" ({row['annotation_text'][:120]})" if row["annotation_text"] else "")
    )
    return None


def _set(source: _Source, target: str, rule: Any, number: int, where: str, result: OakImport) -> None:
    if target in source.variables:
        result.not_carried.append(
            f"{where}: {target} is already set by row {source.rows_of[target]}; the first kept"
        )
        return
    source.variables[target] = rule
    source.rows_of[target] = number
    if isinstance(rule, dict) and "assign" in rule:
        source.reads.add(rule["assign"])


def _add_date(source: _Source, row: _Row, target: str, where: str, result: OakImport) -> None:
    """A raw date, or a raw time, of an ISO 8601 target: a date and a time variable make one iso8601 rule."""
    fmt = row["raw_data_format"]
    spec = source.dates.setdefault(target, {"row": row.number})
    is_time = bool(fmt) and not re.search(r"[yY]", fmt) and bool(re.search(r"[Hh]", fmt))
    slot = "time" if is_time else "date"
    if slot in spec:
        result.not_carried.append(
            f"{where}: a second raw {slot} for {target} (row {spec['row']} has one); left out"
        )
        return
    spec[slot] = row["raw_variable"]
    source.reads.add(row["raw_variable"])
    if is_time:
        if fmt.replace(" ", "").upper() not in ("HHNN", "HH:NN", "HH:MM", "HHMM"):
            result.not_carried.append(f"{where}: time format {fmt!r} read as HH:MM")
    else:
        spec["formats"] = _date_formats(fmt)
        spec["format_text"] = fmt


def _date_formats(fmt: str) -> list[str]:
    """cdiscgen date formats of an sdtm.oak raw date format ("dd- MMM- yyyy": day, month name, year with
    hyphens or spaces between)."""
    if not fmt:
        return ["YYYY-MM-DD"]
    parts = [p for p in re.split(r"[\s\-/.]+", fmt) if p]
    tokens = []
    for part in parts:
        token = dict(_DATE_TOKENS).get(part.lower())
        if token is None:
            return ["YYYY-MM-DD"]
        tokens.append(token)
    separators = ["-", " "] if re.search(r"[\s-]", fmt) else ["/" if "/" in fmt else ""]
    return list(dict.fromkeys(sep.join(tokens) for sep in separators))


def _add_branch(source: _Source, row: _Row, target: str, sub: str, where: str, result: OakImport) -> None:
    """One IF_THEN_ELSE row: `if` (a condition on a raw variable) `then` (its sub-algorithm)."""
    operator = row["condition_operator"].lower()
    if row["condition_right_sdtm_variable"]:
        result.not_carried.append(
            f"{where}: the condition compares with SDTM variable {row['condition_right_sdtm_variable']}; "
            "cdiscgen conditions compare raw values"
        )
        return
    cond = _OPERATORS.get(operator)
    if cond is None:
        result.not_carried.append(
            f"{where}: condition operator {row['condition_operator']!r} has no cdiscgen equivalent"
        )
        return
    column = row["condition_left_raw_variable"] or row["raw_variable"]
    if sub == "NOTSUBMITTED":
        return  # the branch that leaves the target empty: a condition without a match does that
    if not sub:
        result.not_carried.append(f"{where}: IF_THEN_ELSE without a sub-algorithm (entity_sub_algorithm)")
        return
    if _is_date(row, sub):
        result.not_carried.append(f"{where}: a conditional date has no cdiscgen equivalent")
        return
    then = _rule(row, sub, where, result)
    if then is None:
        return
    source.reads.add(column)
    if "assign" in then:
        source.reads.add(then["assign"])
    if set(then) == {"hardcode"}:
        then = then["hardcode"]
    source.conditions.setdefault(target, []).append(
        (row["condition_ordinal"], {"if": {"column": column, **cond}, "then": then})
    )
    source.rows_of.setdefault(target, row.number)


def _source_doc(source: _Source, subject: str, record_id: str, result: OakImport) -> dict:
    variables = dict(source.variables)
    for target, spec in source.dates.items():
        if "date" not in spec:
            result.not_carried.append(f"row {spec['row']}: {target} has a raw time but no raw date; left out")
            continue
        rule: dict[str, Any] = {
            "iso8601": spec["date"] if "time" not in spec else {"date": spec["date"], "time": spec["time"]}
        }
        rule["formats"] = spec["formats"]
        rule["unknown"] = ["UN", "UNK"]  # sdtm.oak's raw dates write an unknown day or month so
        variables[target] = rule
        result.not_carried.append(
            f"row {spec['row']}: {target} date format {spec.get('format_text') or '(none)'!r} read as "
            f"{', '.join(spec['formats'])}; check it against the raw dates"
        )
    for target, branches in source.conditions.items():
        if target in variables:
            result.not_carried.append(
                f"row {source.rows_of[target]}: {target} has a rule and conditions; the rule kept"
            )
            continue
        variables[target] = {"condition": [b for _, b in sorted(branches, key=lambda b: _ordinal(b[0]))]}
    used = list(dict.fromkeys([subject, record_id]))  # a set would order them by hash: not reproducible
    unread = {c: why for c, why in source.not_tabulated.items() if c not in used}
    columns = [c for c in dict.fromkeys(source.columns) if c not in unread]
    doc: dict[str, Any] = {
        "form": source.form,
        "columns": columns,
        "record_id": record_id,
        "subject": subject,
    }
    if source.steps:
        doc["steps"] = source.steps
    doc["variables"] = {k: variables[k] for k in sorted(variables, key=lambda k: source.rows_of.get(k, 0))}
    if unread:
        doc["not_tabulated"] = unread
    for key in used:
        if key not in doc["columns"]:
            doc["columns"].append(key)
    return doc


class _MappingDumper(yaml.SafeDumper):
    """Block style, with lists of names and small mappings (a condition's `if`) on one line."""


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flat = all(isinstance(v, str | int | float) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


def _represent_dict(dumper: yaml.SafeDumper, data: dict) -> yaml.Node:
    flat = len(data) <= 4 and all(isinstance(v, str | int | float) for v in data.values())
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flat)


_MappingDumper.add_representer(list, _represent_list)
_MappingDumper.add_representer(dict, _represent_dict)


def _ordinal(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(p) for p in text.split("."))
    except ValueError:
        return (float("inf"),)
