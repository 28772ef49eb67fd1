"""Rules written as data: cdiscgen/validate/rules/*.yaml, one entry per rule, registered in the same catalog
as the rules written in Python (same codes, statuses, reports).

Most published conformance rules have one shape: *in these datasets, for records where a condition holds,
a variable must satisfy a test* ("--STAT is NOT DONE when --REASND is populated", "ARMCD is a TA.ARMCD").
An entry states that shape; this module evaluates it over whole columns at once.

    - code: CDG2101
      name: Reason not done without NOT DONE status
      severity: error
      published: [CORE-000225, CG0094]
      scope: {classes: [FINDINGS]}            # or {datasets: [DM]}, {all: true}; `exclude: [EX]`
      when: {--REASND: {populated: true}}     # optional condition (every entry must hold)
      then: {--STAT: {eq: NOT DONE}}          # what must hold where the condition does
      text: ...; bad: ...; good: ...; reference: ...

`--` in a variable name stands for the dataset's prefix (LBSTAT in LB); a name ending in `?` may be absent
from the dataset, and then counts as null everywhere (`--DRVFL?: {ne: "Y"}`: not derived). A test on a value (`eq`, `in`,
`matches`, ...) looks at populated values only: in `then` a null passes it (add `populated: true` to
require a value), in `when` a null does not meet it, except a negative test (`ne`, `not_in`,
`not_matches`), which a null meets (`--DRVFL: {ne: "Y"}`: not derived). Tests:

- ``populated: true|false``; ``eq``/``ne``: a text; ``in``/``not_in``: a list; ``matches``/``not_matches``: a
  regular expression the whole value matches (or does not); ``max_length``: characters; ``ge``: a number the value is at
  least; ``complete_date: true|false``: the date part is a full YYYY-MM-DD;
- ``eq_var``: equals another variable of the record; ``not_after``: an ISO 8601 date/time not after
  another variable's (at the precision both have); ``le_var``: a number not above another variable's;
- ``in_dataset: {dataset, variable}``: one of that dataset's values of that variable;
- ``eq_subject: {dataset, variable}``: the subject's value in a one-record-per-subject dataset (DM);
- ``not_after_subject: {dataset, variable}``: an ISO 8601 date/time not after the subject's value there (at
  the precision both have; a subject without one passes): "no record dated after DM.DTHDTC";
- ``eq_name_part: [start, end]``: the characters start..end (from 0) of the dataset's name (SUPPAE -> AE);
- ``not_in_dataset: {dataset, variable}``: not one of them ("a VISITNUM that is not a planned visit");
- ``ne_var``: differs from another variable of the record, ignoring case (``--CAT`` is not ``--DECOD``);
- ``one_to_one: OTHER``: across the dataset, each value goes with one value of OTHER and each value of OTHER
  with one value of it (records where both are populated); where a value has several partners, the records
  of the less frequent pairings are reported (all of them on a tie);
- ``unique_within: [VARIABLES]``: no two records share the value and the values of VARIABLES (a null
  VARIABLE is a value of its own; `?` ones may be absent): "TAETORD unique within ARMCD"; every record of a
  repeated combination is reported;
- ``consistent_within: [VARIABLES]``: the records sharing the values of VARIABLES share this value too; the
  records of the less frequent values of a group are reported (all of them on a tie).

The tests that compare records (one_to_one, unique_within, consistent_within) compare the records meeting the
entry's `when` only: `when: {SVPRESP: {eq: "Y"}}, then: {VISITNUM: {unique_within: [USUBJID]}}` asks for one
record per planned visit, whatever the unplanned ones hold.

`scope: {standard: adam, ...}` takes the ADaM datasets instead of the SDTM ones (ADaM has no `--` prefix
and no classes: name them, or `all: true`); the rule is registered with the ADaM scope.

A finding names the first variable of `then`, or the entry's `variable:` when that says more (AESER for
"a seriousness criterion Y on an AE that is not serious").

A `when` may also hold ``subject_in: {dataset, where}``: the subject has a record of that dataset where
its `where` (a predicate of that dataset) holds. A rule about the dataset's structure says
``has_variables: {when: [--DTC], then: [--DY]}``: a dataset with the `when` variables has the `then` ones.

A dataset lacking a variable the entry names, or a dataset it refers to (TA, DM, ...), is not examined.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import yaml

from cdiscgen._arrowtext import is_among
from cdiscgen._distinct import compute_mapped
from cdiscgen._findings import Finding, Severity
from cdiscgen._yaml import load_plain
from cdiscgen.validate._context import TRIAL_DESIGN, ValidationContext
from cdiscgen.validate._dates import compare_iso8601
from cdiscgen.validate._registry import Partition, Rule, Scope, rule

_REQUIRED_KEYS = frozenset({"code", "name", "severity", "text", "bad", "good", "reference"})
_ENTRY_KEYS = _REQUIRED_KEYS | {"published", "scope", "when", "then", "has_variables", "variable"}
_TESTS = frozenset(
    {
        "populated",
        "eq",
        "ne",
        "in",
        "not_in",
        "matches",
        "not_matches",
        "max_length",
        "ge",
        "complete_date",
        "eq_var",
        "not_after",
        "le_var",
        "in_dataset",
        "eq_subject",
        "not_after_subject",
        "eq_name_part",
        "one_to_one",
        "not_in_dataset",
        "ne_var",
        "unique_within",
        "consistent_within",
    }
)
_AMONG_WHEN = frozenset({"one_to_one", "unique_within", "consistent_within"})
#: The tests that look values up in another dataset (its name in the argument's `dataset`).
_LOOKUPS = frozenset({"in_dataset", "not_in_dataset", "eq_subject", "not_after_subject"})


_NEGATIVE = frozenset({"ne", "not_in", "not_matches"})
_DECLARED: set[str] = set()  # the codes registered from the rules files


class DeclaredRuleError(ValueError):
    """An entry of a rules file that cannot be a rule: the message names the file, the code and the key."""


# ------------------------------------------------------------------------------------------- loading


def load_declared_rules() -> None:
    """Register every entry of the rules files (once; the catalog calls it when first read)."""
    folder = resources.files("cdiscgen.validate") / "rules"
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".yaml"):
            for entry in _entries(item):
                _register(entry, item.name)


def _entries(item: Any) -> list[Mapping[str, Any]]:
    try:
        return load_plain(item.read_text(encoding="utf-8")) or []
    except yaml.YAMLError as exc:
        raise DeclaredRuleError(f"rules file {item.name}: {exc}") from exc


def _register(entry: Mapping[str, Any], source: str) -> None:
    code = str(entry.get("code", "?"))
    where = f"{source} {code}"
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise DeclaredRuleError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    missing = _REQUIRED_KEYS - set(entry)
    if missing:
        raise DeclaredRuleError(f"{where}: missing key(s) {', '.join(sorted(missing))}")
    if ("then" in entry) == ("has_variables" in entry):
        raise DeclaredRuleError(f"{where}: give either `then` or `has_variables`")
    for part in ("when", "then"):
        _check_predicate(entry.get(part) or {}, f"{where} {part}")
    text = str(entry["text"]).strip()
    doc = f"{text}\n\nBad: {entry['bad']}\nGood: {entry['good']}"
    check = _dataset_level(entry) if "has_variables" in entry else _record_level(entry)
    check.__doc__ = doc
    check.__name__ = f"check_{code.lower()}"
    try:
        rule(
            code,
            str(entry["name"]),
            severity=Severity.parse(str(entry["severity"])),
            scope=Scope.ADAM if _is_adam(entry.get("scope") or {}) else Scope.SDTM,
            reference=str(entry["reference"]),
            published=tuple(entry.get("published") or ()),
            partition=compute_partition(entry),
            reads=compute_reads(entry),
        )(check)
    except ValueError as exc:  # a code, severity or published ID the catalog refuses
        raise DeclaredRuleError(f"{where}: {exc}") from exc
    _DECLARED.add(code)


def compute_partition(entry: Mapping[str, Any]) -> Partition:
    """What an entry must see: its subject's records (and the trial design, held whole in every
    partition), unless a test compares records of different subjects (one_to_one; unique_within and
    consistent_within without USUBJID among their variables) or looks up the values of a dataset of
    subjects (in_dataset/not_in_dataset of a dataset other than the trial design): those count or collect
    over the whole study (`ValidationContext.across`), SUMMARISED."""
    tests = [*_tests_of(entry.get("when") or {}), *_tests_of(entry.get("then") or {})]
    for test, argument in tests:
        if test == "one_to_one":
            return Partition.SUMMARISED
        if test in ("unique_within", "consistent_within") and "USUBJID" not in argument:
            return Partition.SUMMARISED
        if test in ("in_dataset", "not_in_dataset") and str(argument["dataset"]) not in TRIAL_DESIGN:
            return Partition.SUMMARISED
    return Partition.SUBJECT


def compute_reads(entry: Mapping[str, Any]) -> tuple[str, ...]:
    """The datasets an entry reads besides the one it reports on: those its tests look values up in."""
    tests = [*_tests_of(entry.get("when") or {}), *_tests_of(entry.get("then") or {})]
    named = {str(argument["dataset"]) for test, argument in tests if test in _LOOKUPS}
    for part in ("when", "then"):
        predicate = entry.get(part) or {}
        if "subject_in" in predicate:
            named.add(str(predicate["subject_in"]["dataset"]))
    return tuple(sorted(named))


def _tests_of(predicate: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for variable, tests in predicate.items():
        if variable == "subject_in":
            yield from _tests_of(tests.get("where") or {})
        else:
            yield from tests.items()


def _check_predicate(predicate: Mapping[str, Any], where: str) -> None:
    for variable, tests in predicate.items():
        if variable == "subject_in":
            _check_predicate(tests.get("where") or {}, f"{where} subject_in")
            continue
        if not isinstance(tests, Mapping) or not tests:
            raise DeclaredRuleError(f"{where}: {variable} needs a mapping of tests")
        unknown = set(tests) - _TESTS
        if unknown:
            raise DeclaredRuleError(f"{where}: {variable}: unknown test(s) {', '.join(sorted(unknown))}")


# ------------------------------------------------------------------------------------------ datasets


def _is_adam(scope: Mapping[str, Any]) -> bool:
    return str(scope.get("standard", "sdtm")).lower() == "adam"


def _datasets(ctx: ValidationContext, scope: Mapping[str, Any]) -> list[str]:
    """The SDTM (or, with `standard: adam`, ADaM) datasets an entry's scope names, in name order."""
    exclude = set(scope.get("exclude") or ())
    names = []
    for name in ctx.adam_names() if _is_adam(scope) else ctx.sdtm_names():
        if name in exclude or (ctx.is_supp(name) and "datasets" not in scope):
            continue
        if "datasets" in scope:
            wanted = name in scope["datasets"] or ("SUPP--" in scope["datasets"] and ctx.is_supp(name))
        elif "classes" in scope:
            wanted = ctx.observation_class(name) in set(scope["classes"])
        else:
            wanted = bool(scope.get("all"))
        if wanted:
            names.append(name)
    return names


def _name(variable: str, prefix: str) -> str:
    variable = variable.rstrip("?")
    return prefix + variable[2:] if variable.startswith("--") else variable


def _variables(predicate: Mapping[str, Any]) -> set[str]:
    """The variables a dataset must have for the predicate to apply (not the optional `?` ones)."""
    out = set()
    for variable, tests in predicate.items():
        if variable == "subject_in":
            continue
        if not variable.endswith("?"):
            out.add(variable)
        for key in ("eq_var", "ne_var", "not_after", "le_var", "one_to_one"):
            if key in tests:
                out.add(str(tests[key]))
        for key in ("unique_within", "consistent_within"):
            out.update(str(v) for v in tests.get(key) or () if not str(v).endswith("?"))
    return out


# ------------------------------------------------------------------------------------ record level


def _record_level(entry: Mapping[str, Any]) -> Callable[[ValidationContext, Rule], Iterator[Finding]]:
    when, then = entry.get("when") or {}, entry["then"]
    scope = entry.get("scope") or {"all": True}
    shown = str(entry.get("variable") or next(iter(then)))

    def check(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
        for name in _datasets(ctx, scope):
            prefix = ctx.prefix(name)
            columns = set(ctx.datasets.get_quietly(name).columns)
            if not all(_name(v, prefix) in columns for v in _variables(when) | _variables(then)):
                continue
            condition = _holds(ctx, rule, name, prefix, when, as_condition=True)
            if condition is None:
                continue
            required = _holds(ctx, rule, name, prefix, then, as_condition=False, among=condition)
            if required is None:
                continue
            variable = _name(shown, prefix)
            yield from ctx.findings_where(
                rule, name, condition & ~required, _message(entry, prefix), variable=variable
            )

    return check


def _message(entry: Mapping[str, Any], prefix: str) -> str:
    return re.sub(r"--(?=[A-Z])", prefix, str(entry["name"]))


def _holds(
    ctx: ValidationContext,
    rule: Rule,
    name: str,
    prefix: str,
    predicate: Mapping[str, Any],
    *,
    as_condition: bool,
    among: np.ndarray | None = None,
) -> np.ndarray | None:
    """Where every entry of `predicate` holds on the records of `name`; None when a dataset it refers
    to is absent (the rule does not apply). `among`: the records the tests comparing records compare."""
    result = np.ones(len(ctx.datasets.get_quietly(name)), dtype=bool)
    for variable, tests in predicate.items():
        if variable == "subject_in":
            found = _subject_in(ctx, rule, name, tests)
            if found is None:
                return None
            result &= found
            continue
        column = _name(variable, prefix)
        for test, argument in tests.items():
            mask = _test(
                ctx, rule, name, prefix, column, test, argument, as_condition=as_condition, among=among
            )
            if mask is None:
                return None
            result &= mask
    return result


def _test(
    ctx: ValidationContext,
    rule: Rule,
    name: str,
    prefix: str,
    column: str,
    test: str,
    argument: Any,
    *,
    as_condition: bool,
    among: np.ndarray | None = None,
) -> np.ndarray | None:
    values = _column(ctx, name, column)
    if among is not None and test in _AMONG_WHEN:
        values = values.where(among)
    populated = values.notna().to_numpy()
    if test == "populated":
        return populated if argument else ~populated
    held = _value_test(ctx, rule, name, prefix, column, values, test, argument, among is not None)
    if held is None:
        return None
    # a value test looks at populated values: a null does not meet a condition, nor break a requirement;
    # a null is "not equal" to anything, so it meets a negative test (ne, not_in, not_matches) everywhere
    if test in _NEGATIVE or not as_condition:
        return ~populated | held
    return populated & held


def _column(ctx: ValidationContext, name: str, column: str) -> pd.Series:
    """The column as text; an optional variable the dataset does not have is null on every record."""
    if column in ctx.datasets.get_quietly(name).columns:
        return ctx.text(name, column)
    return pd.Series(pd.NA, index=ctx.datasets.get_quietly(name).index, dtype="string")


def _numbers(ctx: ValidationContext, name: str, column: str, values: pd.Series) -> pd.Series:
    """`values` (the column's text, perhaps masked) as numbers: the column's numbers where a value is."""
    if column not in ctx.datasets.get_quietly(name).columns:
        return pd.to_numeric(values, errors="coerce")
    return ctx.numbers(name, column).where(values.notna().to_numpy())


_VALUE_ONLY = ("eq", "ne", "in", "not_in", "matches", "not_matches", "max_length", "complete_date")


def _text_test(text: pd.Series, test: str, argument: Any) -> np.ndarray:
    """A test of the value alone (_VALUE_ONLY) on each of `text` (no missing value: "" stands for it)."""
    if test == "eq":
        return (text == str(argument)).to_numpy()
    if test == "ne":
        return (text != str(argument)).to_numpy()
    if test == "in":
        return text.isin([str(a) for a in argument]).to_numpy()
    if test == "not_in":
        return (~text.isin([str(a) for a in argument])).to_numpy()
    if test == "matches":
        return text.str.fullmatch(str(argument)).fillna(False).to_numpy(dtype=bool)
    if test == "not_matches":
        return ~text.str.fullmatch(str(argument)).fillna(False).to_numpy(dtype=bool)
    if test == "max_length":
        return (text.str.len() <= int(argument)).to_numpy()
    complete = text.str.match(r"^\d{4}-\d{2}-\d{2}").fillna(False).to_numpy(dtype=bool)  # complete_date
    return complete if argument else ~complete


def _value_test(
    ctx: ValidationContext,
    rule: Rule,
    name: str,
    prefix: str,
    column: str,
    values: pd.Series,
    test: str,
    argument: Any,
    among: bool = False,
) -> np.ndarray | None:
    if test in _VALUE_ONLY and column in ctx.datasets.get_quietly(name).columns:
        # a test of the value alone: of each distinct text once (a missing value, or one masked out, is "")
        codes, distinct = ctx.factorized(name, column)
        per_text = _text_test(distinct, test, argument)
        return np.where(values.notna().to_numpy(), per_text[codes], per_text[-1])
    text = values.fillna("")
    if test in _VALUE_ONLY:
        return _text_test(text, test, argument)
    if test == "ge":
        number = _numbers(ctx, name, column, values)
        return (number.isna() | (number >= float(argument))).to_numpy()
    if test in ("eq_var", "ne_var", "not_after", "le_var"):
        other = ctx.text(name, _name(str(argument), prefix))
        if test == "eq_var":
            return (other.isna() | (text == other.fillna(""))).to_numpy()
        if test == "ne_var":
            return (other.isna() | (text.str.upper() != other.fillna("").str.upper())).to_numpy()
        if test == "le_var":
            a, b = (
                _numbers(ctx, name, column, values),
                _numbers(ctx, name, _name(str(argument), prefix), other),
            )
            return (a.isna() | b.isna() | (a <= b)).to_numpy()
        order = compare_iso8601(values, other)
        return ~(order > 0)  # NaN (not comparable) passes
    # the tests comparing records compare those of the whole study: counted over it (ctx.across)
    what = (test, column, repr(argument), among)
    if test == "one_to_one":
        other = ctx.text(name, _name(str(argument), prefix)).where(values.notna())
        pairs = pd.DataFrame({"g0": other.to_numpy(), "v": values.to_numpy()}).dropna()
        counts = ctx.across(rule, name, what, partial(_row_counts, pairs), summed_counts)
        return ~_not_one_to_one(pairs, counts, len(values))
    if test in ("unique_within", "consistent_within"):
        groups = [_column(ctx, name, _name(str(v), prefix)) for v in argument]
        frame = _group_frame(values, groups)
        counts = ctx.across(rule, name, what, partial(_row_counts, frame.dropna(subset=["v"])), summed_counts)
        if test == "unique_within":
            return ~_repeated(frame, counts)
        return ~_not_consistent(frame, counts)
    if test == "eq_name_part":
        start, end = (int(a) for a in argument)
        return (text == name[start:end]).to_numpy()
    if test in ("in_dataset", "not_in_dataset"):
        allowed = _other_values(ctx, rule, argument)
        if allowed is None:
            return None
        inside = is_among(text, allowed)
        return inside if test == "in_dataset" else ~inside
    if test == "eq_subject":
        lookup = _subject_values(ctx, argument)
        if lookup is None:
            return None
        expected = compute_mapped(ctx.text(name, "USUBJID"), lookup)
        return (expected.notna() & (text == expected.fillna(""))).to_numpy()
    if test == "not_after_subject":
        lookup = _subject_values(ctx, argument)
        if lookup is None:
            return None
        limit = compute_mapped(ctx.text(name, "USUBJID"), lookup).astype("string")
        return ~(compare_iso8601(values, limit) > 0)  # NaN (no limit, not comparable) passes
    raise AssertionError(test)  # the loader refused anything else


def _row_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """How many records hold each distinct row of `frame` (no nulls): its columns and `n`."""
    return frame.value_counts(sort=False).rename("n").reset_index()


def summed_counts(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The counts of several parts of a study (`_row_counts`) as one."""
    both = pd.concat(parts, ignore_index=True)
    keys = [c for c in both.columns if c != "n"]
    return both.groupby(keys, sort=False)["n"].sum().reset_index()


def _holding(frame: pd.DataFrame, rows: pd.DataFrame, size: int) -> np.ndarray:
    """Per record (of `size`; `frame`'s index are record positions): its row is one of `rows`."""
    out = np.zeros(size, dtype=bool)
    if len(frame) and len(rows):
        columns = list(rows.columns)
        inside = pd.MultiIndex.from_frame(frame[columns]).isin(pd.MultiIndex.from_frame(rows))
        out[frame.index.to_numpy()[inside]] = True
    return out


def _not_one_to_one(pairs: pd.DataFrame, counts: pd.DataFrame, size: int) -> np.ndarray:
    """Records that break the one-to-one pairing of g0 and v (`pairs`: records where both are populated;
    `counts`: the pairings of the whole study): where a value goes with several partners, the records
    holding a less frequent pairing (all of them on a tie), so one odd record is what shows."""
    odd = np.zeros(len(counts), dtype=bool)
    for key in ("g0", "v"):
        top = counts.groupby(key)["n"].transform("max")
        partners = counts.groupby(key)["n"].transform("size")
        modal = counts["n"] == top
        ties = modal.groupby(counts[key]).transform("sum")
        odd |= ((partners > 1) & (~modal | (ties > 1))).to_numpy(dtype=bool)
    return _holding(pairs, counts.loc[odd, ["g0", "v"]], size)


def _group_frame(values: pd.Series, groups: list[pd.Series]) -> pd.DataFrame:
    """Columns g0.. (a null group value is a value of its own) and v, one row per record."""
    frame = {f"g{i}": g.astype("string").fillna("\x00").to_numpy() for i, g in enumerate(groups)}
    return pd.DataFrame(frame | {"v": values.to_numpy()})


def _repeated(frame: pd.DataFrame, counts: pd.DataFrame) -> np.ndarray:
    """Records (value populated) whose value and group values another record of the study repeats."""
    populated = frame.dropna(subset=["v"])
    return _holding(populated, counts.loc[counts["n"] > 1, list(frame.columns)], len(frame))


def _not_consistent(frame: pd.DataFrame, counts: pd.DataFrame) -> np.ndarray:
    """Records (value populated) holding a less frequent value of their group in the study (all of them
    on a tie)."""
    keys = [c for c in frame.columns if c != "v"]
    by_group = counts.groupby(keys)["n"]
    modal = counts["n"] == by_group.transform("max")
    ties = modal.groupby([counts[k] for k in keys]).transform("sum")
    odd = ((by_group.transform("size") > 1) & (~modal | (ties > 1))).to_numpy(dtype=bool)
    return _holding(frame.dropna(subset=["v"]), counts.loc[odd, keys + ["v"]], len(frame))


def _other_values(ctx: ValidationContext, rule: Rule, argument: Mapping[str, str]) -> frozenset[str] | None:
    """The values of argument.variable in argument.dataset, over the whole study."""
    dataset, variable = str(argument["dataset"]), str(argument["variable"])
    if dataset not in ctx.datasets or variable not in ctx.datasets.get_quietly(dataset).columns:
        return None
    return ctx.across(
        rule, dataset, ("values", variable), partial(ctx.distinct, dataset, variable), _union_of_sets
    )


def _union_of_sets(parts: list[frozenset[str]]) -> frozenset[str]:
    return frozenset().union(*parts)


def _subject_values(ctx: ValidationContext, argument: Mapping[str, str]) -> pd.Series | None:
    """Each subject's first value of argument.variable in argument.dataset (text, by USUBJID)."""
    dataset, variable = str(argument["dataset"]), str(argument["variable"])
    if dataset not in ctx.datasets or not {"USUBJID", variable} <= set(
        ctx.datasets.get_quietly(dataset).columns
    ):
        return None
    pairs = pd.DataFrame({"s": ctx.text(dataset, "USUBJID"), "v": ctx.text(dataset, variable)}).dropna()
    return pairs.drop_duplicates("s").set_index("s")["v"]


def _subject_in(
    ctx: ValidationContext, rule: Rule, name: str, argument: Mapping[str, Any]
) -> np.ndarray | None:
    """Per record of `name`: its subject has a record of argument.dataset where argument.where holds."""
    dataset = str(argument["dataset"])
    if dataset not in ctx.datasets or "USUBJID" not in ctx.datasets.get_quietly(dataset).columns:
        return None
    where = argument.get("where") or {}
    prefix = ctx.prefix(dataset)
    columns = set(ctx.datasets.get_quietly(dataset).columns)
    if not all(_name(v, prefix) in columns for v in _variables(where)):
        return None
    matched = _holds(ctx, rule, dataset, prefix, where, as_condition=True)
    if matched is None:
        return None
    return is_among(ctx.text(name, "USUBJID"), ctx.text(dataset, "USUBJID")[matched])


# ----------------------------------------------------------------------------------- dataset level


def _dataset_level(entry: Mapping[str, Any]) -> Callable[[ValidationContext, Rule], Iterator[Finding]]:
    spec = entry["has_variables"]
    scope = entry.get("scope") or {"all": True}

    def check(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
        for name in _datasets(ctx, scope):
            prefix = ctx.prefix(name)
            columns = set(ctx.datasets[name].columns)
            if not all(_name(v, prefix) in columns for v in spec.get("when") or ()):
                continue
            for variable in spec["then"]:
                column = _name(variable, prefix)
                if column not in columns:
                    present = ", ".join(_name(v, prefix) for v in spec.get("when") or ())
                    yield rule.finding(f"{name} has {present} but no {column}", dataset=name, variable=column)

    return check


def declared_codes() -> frozenset[str]:
    """The codes of the rules written as data (for docs and tests)."""
    from cdiscgen.validate._registry import list_rules

    list_rules()  # the catalog registers them when first read
    return frozenset(_DECLARED)
