"""The canonical YAML layout of the study metadata files that `cdiscgen spec import` writes.

One layout, so that a workbook exported from a study and imported again gives the same bytes: top-level
keys in schema order, one line per variable, value-level entry, method, comment, document and codelist
term (a flow mapping), lists of names in brackets. Every line written is tagged with the path of the item
it belongs to (`("variables", 3)`, `("label",)`, ...), so that a problem found later on a line of the file
can be traced back to the spreadsheet cell it came from.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from cdiscgen._schemas import CODELIST_SCHEMA, DATASET_SCHEMA, DEFINE_FILE_SCHEMA

Path_ = tuple[Any, ...]
Lines = list[tuple[str, Path_]]

CODELISTS_HEADER = (
    "# Codelists of the study's datasets, with NCI C-codes where CDISC CT defines them. Sponsor-defined\n"
    "# codelists and terms are marked 'sponsor: true' (define.xml: def:ExtendedValue=\"Yes\"); 'synonyms' are\n"
    "# collected values that mapping specs translate to the submission value (matched case- and space-\n"
    "# insensitively). The CT release of the C-codes is study.yaml's standards (sdtm_ct, adam_ct).\n"
)
DEFINE_HEADER = "# Document-level metadata for define.xml: documents, shared comments and methods used by several datasets.\n"
_NAME_LISTS = ("keys", "seq_order")
#: the order of a variable's keys on its line: what a reader looks for first (name, label, type) ahead of
#: where it comes from, then the rest
VARIABLE_KEYS = (
    "name", "label", "type", "length", "significant_digits", "format", "origin", "source", "method", "role",
    "core", "codelist", "comment", "supplemental", "qorig", "qeval", "split", "range",
)  # fmt: skip


def flow(value: dict | list) -> str:
    """A mapping or list as one line of YAML flow style (quoted only where YAML needs it)."""
    return yaml.safe_dump(
        value, default_flow_style=True, sort_keys=False, allow_unicode=True, width=1 << 30
    ).rstrip("\n")


def _scalar(key: str, value: Any, indent: str) -> list[str]:
    """`key: value` in block style, a long text folded over several lines."""
    text = yaml.safe_dump({key: value}, sort_keys=False, allow_unicode=True, width=110)
    return [indent + line for line in text.rstrip("\n").split("\n")]


def _ordered(doc: dict, schema: dict, where: str) -> list[tuple[str, Any]]:
    unknown = [k for k in doc if k not in schema]
    if unknown:
        raise ValueError(
            f"{where}: key(s) {', '.join(map(str, unknown))} have no place in the canonical layout"
        )
    return [(k, doc[k]) for k in schema if k in doc and doc[k] is not None]


def _in_order(item: dict, keys: tuple[str, ...]) -> dict:
    unknown = [k for k in item if k not in keys]
    if unknown:
        raise ValueError(
            f"{item.get('name')}: key(s) {', '.join(unknown)} have no place in the canonical layout"
        )
    return {k: item[k] for k in keys if k in item and item[k] is not None}


def dataset_lines(doc: dict) -> Lines:
    """A dataset spec (specs/sdtm/*.yaml, specs/adam/*.yaml) in the canonical layout."""
    out: Lines = []
    for key, value in _ordered(doc, DATASET_SCHEMA, f"dataset {doc.get('dataset')}"):
        if key in _NAME_LISTS:
            out.append((f"{key}: {flow(value)}", (key,)))
        elif key == "variables":
            out.append((f"{key}:", (key,)))
            out.extend(
                (f"  - {flow(_in_order(item, VARIABLE_KEYS))}", (key, i)) for i, item in enumerate(value)
            )
        elif key == "methods":
            out.append((f"{key}:", (key,)))
            out.extend((f"  - {flow(item)}", (key, i)) for i, item in enumerate(value))
        elif key == "value_level":
            out.append(("value_level:", (key,)))
            for sub in ("by", "variables"):
                if sub in value:
                    out.append((f"  {sub}: {flow(value[sub])}", (key,)))
            if value.get("entries"):
                out.append(("  entries:", (key,)))
                out.extend(
                    (f"    - {flow(entry)}", (key, "entries", i)) for i, entry in enumerate(value["entries"])
                )
        else:
            out.extend((line, (key,)) for line in _scalar(key, value, ""))
    return out


def codelists_lines(codelists: Iterable[dict]) -> Lines:
    """specs/codelists.yaml in the canonical layout: codelist attributes in block style, one line per term."""
    out: Lines = [(line, ()) for line in CODELISTS_HEADER.rstrip("\n").split("\n")]
    out.append(("codelists:", ()))
    for k, codelist in enumerate(codelists):
        first = True
        for key, value in _ordered(codelist, CODELIST_SCHEMA, f"codelist {codelist.get('id')}"):
            if key == "terms":
                out.append(("  terms:", ("codelists", k)))
                out.extend(
                    (f"  - {flow(term)}", ("codelists", k, "terms", i)) for i, term in enumerate(value)
                )
                continue
            lines = [f"  {key}: {flow(value)}"] if key == "dictionary" else _scalar(key, value, "  ")
            if first:
                lines[0] = "- " + lines[0][2:]
                first = False
            out.extend((line, ("codelists", k)) for line in lines)
    return out


def define_lines(doc: dict) -> Lines:
    """specs/define.yaml in the canonical layout: documents, comments and methods, one line each."""
    out: Lines = [(line, ()) for line in DEFINE_HEADER.rstrip("\n").split("\n")]
    for key in DEFINE_FILE_SCHEMA:
        items = doc.get(key) or []
        if not items:
            out.append((f"{key}: []", (key,)))
            continue
        out.append((f"{key}:", (key,)))
        out.extend((f"  - {flow(item)}", (key, i)) for i, item in enumerate(items))
    unknown = [k for k in doc if k not in DEFINE_FILE_SCHEMA]
    if unknown:
        raise ValueError(f"define.yaml: key(s) {', '.join(unknown)} have no place in the canonical layout")
    return out


def text_of(lines: Lines) -> str:
    return "".join(line + "\n" for line, _ in lines)
