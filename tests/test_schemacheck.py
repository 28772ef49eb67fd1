"""`meets_schema` (the spec check without cerberus) against cerberus itself, the independent reader: the same
answer on every spec document of both studies, on mutations of them, and on rules worked by hand."""

from __future__ import annotations

import copy
from typing import Any

import cerberus
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cdiscgen._specs as specs_module
from cdiscgen import schema_problems
from cdiscgen._schemacheck import meets_schema
from cdiscgen._specs import check_stage_specs, check_study
from cdiscgen._yaml import plain

from .conftest import REPO


def _cerberus_accepts(doc: Any, schema: dict) -> bool:
    return cerberus.Validator(schema, allow_unknown=False).validate(doc, normalize=False)


def _checked_documents(study_dir) -> list[tuple[Any, dict]]:
    """Every (document, schema) pair the checks of a study's specs and mappings ask about."""
    seen: list[tuple[Any, dict]] = []
    asked = specs_module.meets_schema

    def record(doc: Any, schema: dict) -> bool:
        seen.append((plain(doc), schema))
        return asked(doc, schema)

    specs_module.meets_schema = record
    try:
        study, findings = check_study(study_dir)
        assert study is not None and not findings.at_least(specs_module.Severity.ERROR)
        check_stage_specs(study)
    finally:
        specs_module.meets_schema = asked
    return seen


_STUDIES = {"darpal": REPO, "cdiscpilot01": REPO / "examples" / "cdiscpilot01"}
_DOCUMENTS = {name: _checked_documents(root) for name, root in _STUDIES.items()}


@pytest.mark.parametrize("study", sorted(_STUDIES))
def test_every_spec_document_of_a_study_meets_its_schema_without_cerberus(study):
    pairs = _DOCUMENTS[study]
    # specs, mappings, ADaM dataset specs and their steps: hundreds of documents
    assert len(pairs) > 150
    assert len({id(schema) for _, schema in pairs}) > 20
    for doc, schema in pairs:
        assert _cerberus_accepts(doc, schema)
        assert meets_schema(doc, schema)


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    """The path of every node of a plain tree (mapping keys and list positions), the root first."""
    out = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*path, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(_paths(value, (*path, i)))
    return out


def _at(node: Any, path: tuple) -> Any:
    for step in path:
        node = node[step]
    return node


_REPLACEMENTS = [
    None,
    "",
    [],
    {},
    0,
    -1,
    250,
    True,
    1.5,
    "x" * 250,
    "lower case",
    "AESEV",
    "Y",
    ["AESEV"],
    {"name": "X"},
]


@st.composite
def _mutations(draw: Any) -> tuple[Any, dict]:
    """A spec document with one change: a key removed or added, or a value replaced by another kind of
    value or by a value found elsewhere in the same document."""
    study = draw(st.sampled_from(sorted(_DOCUMENTS)))
    doc, schema = draw(st.sampled_from(_DOCUMENTS[study]))
    doc = copy.deepcopy(doc)
    paths = _paths(doc)
    path = draw(st.sampled_from(paths))
    kind = draw(st.sampled_from(["replace", "borrow", "remove", "add"]))
    if not path:  # the root: add or remove one of its keys
        kind = draw(st.sampled_from(["remove", "add"]))
        path = (draw(st.sampled_from(sorted(doc))),) if kind == "remove" and doc else path
    parent, step = (_at(doc, path[:-1]), path[-1]) if path else (None, None)
    if kind == "replace" and parent is not None:
        parent[step] = draw(st.sampled_from(_REPLACEMENTS))
    elif kind == "borrow" and parent is not None:
        parent[step] = copy.deepcopy(_at(doc, draw(st.sampled_from(paths))))
    elif kind == "remove" and parent is not None:
        del parent[step]
    else:
        target = _at(doc, path)
        if isinstance(target, dict):
            key = draw(st.sampled_from(["zz_unknown", "where", "values", "dataset", "required", "codelist"]))
            target[key] = draw(st.sampled_from(_REPLACEMENTS))
        elif isinstance(target, list):
            target.append(draw(st.sampled_from(_REPLACEMENTS)))
    return doc, schema


@settings(max_examples=400, deadline=None)
@given(_mutations())
def test_a_changed_spec_document_is_judged_as_cerberus_judges_it(mutated):
    doc, schema = mutated
    assert meets_schema(doc, schema) == _cerberus_accepts(doc, schema)


_CODE = {
    "code": {"type": "string", "required": True, "regex": r"^[A-Z]+$"},
    "label": {"type": "string", "empty": False, "maxlength": 5},
    "note": {"type": "string", "nullable": True, "allowed": ["a", "b"]},
    "tag": {"type": "string", "empty": True, "regex": "[A-Z]+"},
    "count": {"type": "integer", "min": 1, "max": 3},
    "ratio": {"type": "float"},
    "amount": {"type": "number"},
    "flags": {"type": "list", "allowed": ["Y", "N"], "minlength": 1},
    "terms": {
        "type": "list",
        "schema": {"type": "dict", "schema": {"v": {"type": "string", "required": True}}},
    },
    "map": {
        "type": "dict",
        "keysrules": {"type": "string", "regex": "[a-z]+"},
        "valuesrules": {"type": "integer"},
    },
    "sponsor": {"type": "boolean"},
    "convention": {"type": "string", "dependencies": {"sponsor": [True]}},
    "dataset": {"type": "string", "dependencies": ["variable"]},
    "variable": {"type": "string"},
    "aval": {"type": "string", "required": True, "excludes": "avalc"},
    "avalc": {"type": "string", "required": True, "excludes": "aval"},
}


@pytest.mark.parametrize(
    ("doc", "meets"),
    [
        ({"code": "AB", "aval": "X"}, True),
        ({"aval": "X"}, False),  # code is required
        ({"code": "AB", "aval": "X", "other": 1}, False),  # closed: an unknown key
        ({"code": "Ab", "aval": "X"}, False),  # the regex holds for the whole value
        ({"code": "AB\n", "aval": "X"}, True),  # ... as re's `$`: a trailing newline passes
        ({"code": "AB", "avalc": "X"}, True),  # aval and avalc exclude each other: one is enough
        ({"code": "AB"}, False),  # ... but one of them is required
        ({"code": "AB", "aval": "X", "avalc": "Y"}, False),  # ... and not both
        ({"code": "AB", "aval": "X", "label": ""}, False),  # not empty
        ({"code": "AB", "aval": "X", "label": "ABCDEF"}, False),  # longer than 5
        ({"code": "AB", "aval": "X", "note": None}, True),  # nullable: None skips `allowed`
        ({"code": None, "aval": "X"}, False),  # not nullable
        ({"code": "AB", "aval": "X", "note": "c"}, False),
        ({"code": "AB", "aval": "X", "tag": ""}, True),  # empty allowed: the regex is not applied
        ({"code": "AB", "aval": "X", "tag": "AB1"}, False),  # a pattern without `$` is anchored at the end
        ({"code": "AB", "aval": "X", "count": 0}, False),
        ({"code": "AB", "aval": "X", "count": 4}, False),
        ({"code": "AB", "aval": "X", "count": True}, True),  # bool is an int to cerberus
        ({"code": "AB", "aval": "X", "count": 2.0}, False),
        ({"code": "AB", "aval": "X", "ratio": 2}, True),  # cerberus's float takes an integer
        ({"code": "AB", "aval": "X", "amount": True}, False),  # number does not take a bool
        ({"code": "AB", "aval": "X", "flags": ["Y", "N"]}, True),
        ({"code": "AB", "aval": "X", "flags": ["Y", "U"]}, False),  # each item allowed
        ({"code": "AB", "aval": "X", "flags": []}, False),  # at least one
        ({"code": "AB", "aval": "X", "terms": [{"v": "a"}, {"v": "b"}]}, True),
        ({"code": "AB", "aval": "X", "terms": [{"v": "a"}, {}]}, False),  # each item's schema
        ({"code": "AB", "aval": "X", "terms": [{"v": "a", "w": 1}]}, False),  # closed inside too
        ({"code": "AB", "aval": "X", "map": {"ab": 1}}, True),
        ({"code": "AB", "aval": "X", "map": {"AB": 1}}, False),  # keys' rules
        ({"code": "AB", "aval": "X", "map": {"ab": "1"}}, False),  # values' rules
        ({"code": "AB", "aval": "X", "convention": "c", "sponsor": True}, True),
        ({"code": "AB", "aval": "X", "convention": "c", "sponsor": False}, False),  # depends on a value
        ({"code": "AB", "aval": "X", "convention": "c"}, False),
        ({"code": "AB", "aval": "X", "dataset": "DM"}, False),  # depends on variable being there
        ({"code": "AB", "aval": "X", "dataset": "DM", "variable": None}, False),  # variable: not nullable
        ({"code": "AB", "aval": "X", "dataset": "DM", "variable": "AGE"}, True),
        ({"code": "AB", "aval": "X", "sponsor": "yes"}, False),
        ("not a mapping", False),
    ],
)
def test_rules_as_cerberus_applies_them(doc, meets):
    assert meets_schema(doc, _CODE) is meets
    if isinstance(doc, dict):
        assert _cerberus_accepts(doc, _CODE) is meets  # the hand-worked answer is cerberus's


_EITHER = {
    "a": {"type": "string", "nullable": True, "required": True, "excludes": "b"},
    "b": {"type": "string", "required": True, "excludes": "a"},
}


@pytest.mark.parametrize(
    ("doc", "meets"),
    [
        ({"a": "x"}, True),
        ({"b": "x"}, True),
        ({"a": None}, False),  # of two keys that exclude each other, one must hold a value
        ({}, False),
    ],
)
def test_one_of_two_keys_that_exclude_each_other_holds_a_value(doc, meets):
    assert meets_schema(doc, _EITHER) is meets
    assert _cerberus_accepts(doc, _EITHER) is meets


def test_a_schema_with_a_rule_not_read_here_is_left_to_cerberus():
    schema = {"value": {"anyof": [{"type": "string"}, {"type": "integer"}]}}
    assert _cerberus_accepts({"value": 3}, schema)
    assert not meets_schema({"value": 3}, schema)  # not judged here ...
    assert schema_problems({"value": 3}, schema) == []  # ... cerberus finds nothing
    assert {p.key for p in schema_problems({"value": 1.5}, schema)} == {"value"}


def test_a_mapping_where_a_list_is_expected_is_a_finding_not_a_crash():
    # cerberus's normalizing pass reads the mapping's `type` key as a rule and fails with a TypeError
    schema = {"keys": {"type": "list", "schema": {"type": "string"}}}
    problems = schema_problems({"keys": {"name": "TSSEQ", "type": "text"}}, schema)
    assert [(p.key, p.message) for p in problems] == [
        ("keys", "'keys' must be of type list, got {'name': 'TSSEQ', 'type': 'text'}")
    ]
