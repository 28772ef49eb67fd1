"""Whether a document meets a closed cerberus schema, answered without cerberus.

Every spec file is checked against its schema by each stage and command. cerberus answers that, but it
builds a validator per nested mapping, list item and value, and checks the schema itself first: ~0.9 s of a
40-subject run for documents that are nearly always valid. `meets_schema` gives the same yes/no for the
rules our schemas use, read as cerberus 1.3 applies them (`cerberus.Validator(schema, allow_unknown=False)`):
a valid document costs a walk of it, and only a document that fails (or a schema with a rule not read here)
goes to cerberus, which words the problems. The tests hold the two to the same answer on every bundled
spec and on mutations of them.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping, Sequence, Sized
from functools import lru_cache
from typing import Any

_TYPE_TESTS = {
    "boolean": lambda v: isinstance(v, bool),
    "dict": lambda v: isinstance(v, Mapping),
    "float": lambda v: isinstance(v, (float, int)),  # cerberus's float takes integers (and booleans)
    "integer": lambda v: isinstance(v, int),  # and booleans, as bool is an int
    "list": lambda v: isinstance(v, Sequence) and not isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
}
# what an empty value skips when the field allows it to be empty, and what a null skips when nullable
_SKIPPED_WHEN_EMPTY = frozenset({"allowed", "minlength", "maxlength", "regex"})
_SKIPPED_WHEN_NULL = frozenset(
    {
        "allowed",
        "empty",
        "keysrules",
        "min",
        "max",
        "minlength",
        "maxlength",
        "regex",
        "schema",
        "type",
        "valuesrules",
    }
)


class _RuleNotRead(Exception):
    """The schema uses a rule (or a form of one) this reader does not apply: cerberus decides."""


def meets_schema(doc: Any, schema: Mapping) -> bool:
    """True when `cerberus.Validator(schema, allow_unknown=False).validate(doc)` would be; False when it
    would not, or when the schema uses a rule read only by cerberus (then ask cerberus)."""
    try:
        return _mapping_meets(doc, schema)
    except _RuleNotRead:
        return False


def _mapping_meets(doc: Any, schema: Mapping) -> bool:
    if not isinstance(doc, Mapping) or not isinstance(schema, Mapping):
        return False
    for field, value in doc.items():
        rules = schema.get(field)
        if rules is None:  # an unknown key: the schemas are closed
            return False
        if not isinstance(rules, Mapping):
            raise _RuleNotRead(f"rules of {field!r} by name")
        if not _field_meets(doc, value, rules):
            return False
    return _required_present(doc, schema)


def _required_present(doc: Mapping, schema: Mapping) -> bool:
    """Every required key is present, except one a present key `excludes` (then one of the keys that
    exclude each other must be there)."""
    unrequired: set = set()
    for field in doc:
        rules = schema[field]
        if "excludes" in rules and rules.get("required", False):
            unrequired.add(field)
            unrequired.update(name for name in _excluded(rules["excludes"]) if name in schema)
    required = {field for field, rules in schema.items() if rules.get("required", False) is True}
    if (required - unrequired) - set(doc):
        return False
    return not unrequired or not unrequired.isdisjoint(field for field in doc if doc[field] is not None)


def _field_meets(doc: Mapping, value: Any, rules: Mapping) -> bool:
    not_read = rules.keys() - _RULE_TESTS.keys()
    if not_read:
        raise _RuleNotRead(", ".join(sorted(map(str, not_read))))
    skipped: frozenset = frozenset()
    if value is None:
        if not rules.get("nullable", False):
            return False
        skipped = _SKIPPED_WHEN_NULL
    elif "type" in rules and not _is_of_type(value, rules["type"]):
        return False
    elif "empty" in rules and isinstance(value, Sized) and len(value) == 0:
        if not rules["empty"]:
            return False
        skipped = _SKIPPED_WHEN_EMPTY
    return all(
        _RULE_TESTS[rule](doc, value, argument) for rule, argument in rules.items() if rule not in skipped
    )


def _is_of_type(value: Any, data_type: Any) -> bool:
    if not data_type:
        return True
    types = (data_type,) if isinstance(data_type, str) else data_type
    for name in types:
        test = _TYPE_TESTS.get(name)
        if test is None:
            raise _RuleNotRead(f"type {name!r}")
        if test(value):
            return True
    return False


def _allowed(doc: Mapping, value: Any, allowed: Any) -> bool:
    if isinstance(value, Iterable) and not isinstance(value, str):
        return all(item in allowed for item in value)
    return value in allowed


def _length_at_least(doc: Mapping, value: Any, least: int) -> bool:
    return not isinstance(value, Iterable) or len(value) >= least


def _length_at_most(doc: Mapping, value: Any, most: int) -> bool:
    return not isinstance(value, Iterable) or len(value) <= most


def _matches(doc: Mapping, value: Any, pattern: str) -> bool:
    return not isinstance(value, str) or _whole_match(pattern)(value) is not None


@lru_cache(maxsize=256)
def _whole_match(pattern: str) -> Any:
    # cerberus anchors the pattern's end (a `$` added when missing) and matches from the start
    return re.compile(pattern if pattern.endswith("$") else pattern + "$").match


def _at_least(doc: Mapping, value: Any, least: Any) -> bool:
    try:
        return not value < least
    except TypeError:  # a value that does not compare is not checked (as cerberus)
        return True


def _at_most(doc: Mapping, value: Any, most: Any) -> bool:
    try:
        return not value > most
    except TypeError:
        return True


def _items_meet(doc: Mapping, value: Any, schema: Any) -> bool:
    """`schema` of a list: the rules of each item; of a mapping: the closed schema of its keys."""
    if schema is None:
        return True
    if isinstance(value, Sequence) and not isinstance(value, str):
        if not isinstance(schema, Mapping):
            raise _RuleNotRead("an item schema by name")
        return _mapping_meets(dict(enumerate(value)), dict.fromkeys(range(len(value)), schema))
    if isinstance(value, Mapping):
        if not isinstance(schema, Mapping):
            raise _RuleNotRead("a schema by name")
        return _mapping_meets(value, schema)
    return True


def _keys_meet(doc: Mapping, value: Any, rules: Any) -> bool:
    if not isinstance(value, Mapping):
        return True
    if not isinstance(rules, Mapping):
        raise _RuleNotRead("keysrules by name")
    return _mapping_meets({key: key for key in value}, dict.fromkeys(value, rules))


def _values_meet(doc: Mapping, value: Any, rules: Any) -> bool:
    if not isinstance(value, Mapping):
        return True
    if not isinstance(rules, Mapping):
        raise _RuleNotRead("valuesrules by name")
    return _mapping_meets(value, dict.fromkeys(value, rules))


def _dependencies_met(doc: Mapping, value: Any, dependencies: Any) -> bool:
    """A key that depends on others: each present (a list), or each holding one of the given values."""
    if isinstance(dependencies, str) or not isinstance(dependencies, (Iterable, Mapping)):
        dependencies = (dependencies,)
    if isinstance(dependencies, Mapping):
        for name, wanted in dependencies.items():
            _check_plain_name(name)
            if not isinstance(wanted, Sequence) or isinstance(wanted, str):
                wanted = [wanted]
            if doc.get(name) not in wanted:
                return False
        return True
    if not isinstance(dependencies, Sequence):
        raise _RuleNotRead("dependencies of this form")
    for name in dependencies:
        _check_plain_name(name)
    return all(name in doc for name in dependencies)


def _check_plain_name(name: Any) -> None:
    # cerberus reads "a.b" as a path into the document and "^a" from its root: not read here
    if not isinstance(name, str) or "." in name or name.startswith("^"):
        raise _RuleNotRead(f"dependency {name!r}")


def _excluded(excludes: Any) -> list:
    return [excludes] if isinstance(excludes, Hashable) else list(excludes)


def _excludes_met(doc: Mapping, value: Any, excludes: Any) -> bool:
    return not any(name in doc for name in _excluded(excludes))


def _no_test(doc: Mapping, value: Any, argument: Any) -> bool:
    return True


_RULE_TESTS = {
    "type": _no_test,  # applied first, as cerberus does (a value of the wrong type is checked no further)
    "required": _no_test,  # by the mapping that holds the key
    "nullable": _no_test,
    "empty": _no_test,
    "meta": _no_test,
    "allowed": _allowed,
    "minlength": _length_at_least,
    "maxlength": _length_at_most,
    "regex": _matches,
    "min": _at_least,
    "max": _at_most,
    "schema": _items_meet,
    "keysrules": _keys_meet,
    "valuesrules": _values_meet,
    "dependencies": _dependencies_met,
    "excludes": _excludes_met,
}
