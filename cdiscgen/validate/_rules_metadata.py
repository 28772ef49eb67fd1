"""Structure and metadata rules: variables present, ordered, named, labelled, typed and sized as specified,
and within the SAS transport v5 limits."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import numpy as np
import pandas as pd
import pyarrow.compute as pc
from pandas.api.types import is_numeric_dtype

from cdiscgen._arrowtext import compute_arrow_text, may_need_trimming
from cdiscgen._findings import Finding, Severity
from cdiscgen.validate._context import VALID_NAME, ValidationContext
from cdiscgen.validate._registry import Partition, Rule, Scope, rule

MAX_NAME = 8
MAX_LABEL = 40
MAX_CHAR_BYTES = 200


@rule(
    "CDG0101",
    "Required variable missing",
    severity=Severity.ERROR,
    scope=Scope.ANY,
    reference="SDTMIG 3.4 section 4.1.5 (Core: Req); ADaMIG 1.3 section 3 (Core: Req)",
    published=("CORE-000355", "CG0014"),
    partition=Partition.SUBJECT,
)
def check_required_present(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """A variable whose core is Req in the dataset spec must be in the dataset.

    Bad: LB without LBTESTCD.
    Good: LB with STUDYID, DOMAIN, USUBJID, LBSEQ, LBTESTCD, LBTEST.
    """
    yield from _core_missing(ctx, rule, "Req")


@rule(
    "CDG0102",
    "Expected variable missing",
    severity=Severity.WARNING,
    scope=Scope.ANY,
    reference="SDTMIG 3.4 section 4.1.5 (Core: Exp)",
    partition=Partition.SUBJECT,
)
def check_expected_present(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """A variable whose core is Exp in the dataset spec should be in the dataset (it may be all null).

    Bad: LB without LBSTRESU.
    Good: LB with LBSTRESU, null where a result has no unit.
    """
    yield from _core_missing(ctx, rule, "Exp")


def _core_missing(ctx: ValidationContext, rule: Rule, core: str) -> Iterator[Finding]:
    for name in ctx.names():
        spec = ctx.spec(name)
        if spec is None:
            continue
        cols = set(ctx.datasets[name].columns)
        for var in spec.submitted_variables:
            if var.core == core and var.name not in cols:
                yield rule.finding(
                    f"{core} variable {var.name} is not in {name}",
                    dataset=name,
                    variable=var.name,
                    expected=var.name,
                )


@rule(
    "CDG0103",
    "Variable order differs from the spec",
    severity=Severity.WARNING,
    scope=Scope.ANY,
    reference="SDTMIG 3.4 section 2.7 (variable order as in the domain model); Define-XML OrderNumber",
    partition=Partition.SUBJECT,
)
def check_variable_order(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Variables appear in the order of the dataset spec (variables absent from the spec are ignored).

    Bad: DM columns STUDYID, USUBJID, DOMAIN.
    Good: DM columns STUDYID, DOMAIN, USUBJID.
    """
    for name in ctx.names():
        spec = ctx.spec(name)
        if spec is None:
            continue
        order = spec.variable_names
        actual = [c for c in ctx.datasets[name].columns if c in order]
        wanted = [c for c in order if c in actual]
        if actual != wanted:
            first = next(a for a, w in zip(actual, wanted, strict=True) if a != w)
            yield rule.finding(
                f"{first} is out of order: the spec puts {wanted[actual.index(first)]} at its place",
                dataset=name,
                variable=first,
                value=" ".join(actual),
                expected=" ".join(wanted),
            )


@rule(
    "CDG0104",
    "Variable not in the spec",
    severity=Severity.WARNING,
    scope=Scope.ANY,
    reference="SDTMIG 3.4 section 2.5 (non-standard variables go to SUPP--); Define-XML ItemRef",
    partition=Partition.SUBJECT,
)
def check_variable_declared(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Every variable in a dataset is declared in its spec (supplemental qualifiers belong in SUPP--).

    Bad: DM with a column INVISO (a supplemental qualifier).
    Good: INVISO as QNAM in SUPPDM.
    """
    for name in ctx.names():
        spec = ctx.spec(name)
        if spec is None:
            continue
        declared = set(spec.variable_names)
        for col in ctx.datasets[name].columns:
            if col not in declared:
                where = " (declared as supplemental)" if spec.has_variable(col) else ""
                yield rule.finding(
                    f"{col} is not a variable of {name} in its spec{where}", dataset=name, variable=col
                )


@rule(
    "CDG0105",
    "Variable label differs from the spec",
    severity=Severity.WARNING,
    scope=Scope.ANY,
    reference="SDTMIG 3.4 domain models (variable labels); Define-XML 2.1 ItemDef Description",
    partition=Partition.SUBJECT,
)
def check_variable_labels(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """The label stored in the transport file equals the label in the spec.

    Bad: LBTESTCD labelled "Lab Test Code".
    Good: LBTESTCD labelled "Lab Test or Examination Short Name".
    """
    for name in ctx.names():
        spec = ctx.spec(name)
        meta = ctx.meta_variables(name) if spec is not None else None  # without a spec: nothing to compare
        if spec is None or not meta:
            continue
        for var in spec.submitted_variables:
            m = meta.get(var.name)
            if m is not None and (m.label or "") != var.label:
                yield rule.finding(
                    f"label of {var.name} is {m.label!r}, the spec says {var.label!r}",
                    dataset=name,
                    variable=var.name,
                    value=m.label,
                    expected=var.label,
                )


@rule(
    "CDG0106",
    "Variable type differs from the spec",
    severity=Severity.ERROR,
    scope=Scope.ANY,
    reference="SDTMIG 3.4 section 2.4 (Char/Num); Define-XML 2.1 ItemDef DataType",
    partition=Partition.SUBJECT,
)
def check_variable_types(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """A variable specified as integer or float is numeric; every other type is character.

    Bad: LBSEQ stored as character "1".
    Good: LBSEQ stored as numeric 1.
    """
    for name in ctx.names():
        spec = ctx.spec(name)
        if spec is None:
            continue
        frame, meta = ctx.datasets[name], ctx.meta_variables(name)
        for var in spec.submitted_variables:
            if var.name not in frame.columns:
                continue
            m = meta.get(var.name)
            stored = m.type if m is not None else ("num" if is_numeric_dtype(frame[var.name]) else "char")
            if stored != var.xpt_type:
                yield rule.finding(
                    f"{var.name} is {stored}, the spec type {var.type} needs {var.xpt_type}",
                    dataset=name,
                    variable=var.name,
                    value=stored,
                    expected=var.xpt_type,
                )


@rule(
    "CDG0107",
    "Variable length differs from the spec",
    severity=Severity.WARNING,
    scope=Scope.ANY,
    reference="Define-XML 2.1 ItemDef Length; FDA Study Data Technical Conformance Guide section 4.1.5",
    partition=Partition.SUBJECT,
)
def check_declared_lengths(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Where the spec declares a length, the transport file uses exactly that length.

    Bad: USUBJID declared 20, stored 40.
    Good: USUBJID declared 20, stored 20.
    """
    for name in ctx.names():
        spec = ctx.spec(name)
        meta = ctx.meta_variables(name) if spec is not None else None  # without a spec: nothing to compare
        if spec is None or not meta:
            continue
        for var in spec.submitted_variables:
            m = meta.get(var.name)
            if m is not None and var.length is not None and m.length is not None and m.length != var.length:
                yield rule.finding(
                    f"{var.name} has length {m.length}, the spec says {var.length}",
                    dataset=name,
                    variable=var.name,
                    value=m.length,
                    expected=var.length,
                )


def _longest_bytes(ctx: ValidationContext, name: str, column: str) -> int:
    return _value_lengths(ctx, name, column)[0]


@rule(
    "CDG0108",
    "Character length longer than the longest value",
    severity=Severity.WARNING,
    scope=Scope.ANY,
    reference="FDA Study Data Technical Conformance Guide section 4.1.5 (variable length); Pinnacle 21 SD1082",
    partition=Partition.SUMMARISED,
)
def check_minimal_lengths(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """A character variable's stored length equals the byte length of its longest value (at least 1).

    Bad: RACE stored with length 78 when the longest value has 32 characters.
    Good: RACE stored with length 32.
    """
    for name in ctx.names():
        meta = ctx.meta_variables(name)
        frame = ctx.datasets[name]
        for col, m in meta.items():
            if m.type != "char" or m.length is None or col not in frame.columns:
                continue
            longest = ctx.across(rule, name, ("longest", col), partial(_longest_bytes, ctx, name, col), max)
            longest = max(longest, 1)
            if m.length > longest:
                yield rule.finding(
                    f"{col} is stored with length {m.length}; its longest value has {longest} byte(s)",
                    dataset=name,
                    variable=col,
                    value=m.length,
                    expected=longest,
                )


@rule(
    "CDG0109",
    "Dataset label missing or differs from the spec",
    severity=Severity.WARNING,
    scope=Scope.ANY,
    reference="SDTMIG 3.4 domain models (dataset labels); Define-XML 2.1 ItemGroupDef Description",
    partition=Partition.SUBJECT,
)
def check_dataset_labels(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """The transport file carries a dataset label, equal to the label in the spec.

    Bad: lb.xpt with an empty dataset label.
    Good: lb.xpt labelled "Laboratory Test Results".
    """
    for name in ctx.names():
        meta = ctx.meta.get(name)
        if meta is None:
            continue
        spec = ctx.spec(name)
        if not (meta.label or "").strip():
            yield rule.finding(
                f"{name} has no dataset label",
                dataset=name,
                expected=spec.label if spec is not None else None,
            )
        elif spec is not None and meta.label != spec.label:
            yield rule.finding(
                f"dataset label is {meta.label!r}, the spec says {spec.label!r}",
                dataset=name,
                value=meta.label,
                expected=spec.label,
            )


_FALLBACK_REQ = ("STUDYID", "DOMAIN", "USUBJID", "{p}SEQ", "{p}TESTCD", "{p}TEST", "{p}TRT", "{p}TERM")
_FALLBACK_REQ_SUPP = ("STUDYID", "RDOMAIN", "USUBJID", "QNAM", "QLABEL", "QVAL", "QORIG")
_FALLBACK_REQ_ADAM = ("STUDYID", "USUBJID", "PARAMCD", "PARAM")


@rule(
    "CDG0110",
    "Required variable has a null value",
    severity=Severity.ERROR,
    scope=Scope.ANY,
    reference="SDTMIG 3.4 section 4.1.5 (Req: null values are not allowed); ADaMIG 1.3 section 3",
    published=("CORE-000356", "CG0014"),
    partition=Partition.SUBJECT,
)
def check_required_populated(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """An SDTM Req variable is populated in every record (SDTMIG: Req values are never null). Without a spec
    the SDTMIG identifiers, topic variables and --SEQ are taken as Req. In ADaM, Req says a variable is
    present (CDG0101), not that each value is: ADSL.ACTARM of a subject assigned but never treated is null.
    There the identifiers and the parameter (STUDYID, USUBJID, PARAMCD, PARAM) are never null.

    Bad: an LB record with a blank LBTESTCD; an ADLB record with a blank PARAMCD.
    Good: every LB record has LBTESTCD.
    """
    for name in ctx.names():
        frame = ctx.datasets[name]
        spec = ctx.spec(name)
        if ctx.is_adam(name):
            required = list(_FALLBACK_REQ_ADAM)
        elif spec is not None:
            required = [v.name for v in spec.submitted_variables if v.core == "Req"]
        elif ctx.is_supp(name):
            required = list(_FALLBACK_REQ_SUPP)
        else:
            p = ctx.prefix(name)
            required = [r.format(p=p) for r in _FALLBACK_REQ]
        for col in required:
            if col in frame.columns:
                yield from ctx.findings_where(
                    rule, name, ctx.blank(name, col), f"Req variable {col} is null", variable=col
                )


@rule(
    "CDG0111",
    "Dataset not in the spec",
    severity=Severity.NOTICE,
    scope=Scope.ANY,
    reference="Define-XML 2.1 ItemGroupDef; the study's specs/ folder",
    partition=Partition.SUBJECT,
)
def check_dataset_declared(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """With a study given, every dataset validated is declared in its specs (else only the
    spec-free rules look at it).

    Bad: an xx.xpt in the folder and no specs/sdtm/xx.yaml.
    Good: every dataset has a spec.
    """
    if ctx.study is None:
        return
    for name in ctx.names():
        ctx.datasets.note(name)  # the dataset's name is what this rule examines
        if ctx.spec(name) is None:
            yield rule.finding(f"{name} has no spec in {ctx.study.specs_dir}", dataset=name)


# ------------------------------------------------------------------------------------------- XPT v5


@rule(
    "CDG0206",
    "Transport file not named after its dataset",
    severity=Severity.ERROR,
    scope=Scope.ANY,
    reference="FDA Study Data Technical Conformance Guide sections 3.3.1 and 4.1.1.2 (one dataset per transport "
    "file, the file named as the dataset in lower case, extension .xpt)",
    partition=Partition.SUBJECT,
)
def check_file_names(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """A transport file holds one dataset and is named after it: the dataset name in lower case with the
    extension .xpt (lb.xpt holds LB). A reviewer's tools, and define.xml's links, find datasets by file name.

    Bad: LB.XPT; lab.xpt holding the member LB.
    Good: lb.xpt holding LB.
    """
    for name, file in sorted(ctx.files.items()):
        if name not in ctx.datasets:
            continue
        wanted = f"{name.lower()}.xpt"
        if file != wanted:
            yield rule.finding(
                f"{file} is not named as its dataset in lower case", dataset=name, value=file, expected=wanted
            )
        meta = ctx.meta.get(name)
        member = str(getattr(meta, "dataset", "") or "").upper()
        if member and member != name:
            yield rule.finding(
                f"{file} holds the dataset {member}; its file name says {name}",
                dataset=name,
                value=member,
                expected=name,
            )


@rule(
    "CDG0201",
    "Name not valid for XPT v5",
    severity=Severity.ERROR,
    scope=Scope.ANY,
    reference="FDA Study Data Technical Conformance Guide section 3.3.1; SAS TS-140 (names <= 8, A-Z 0-9 _)",
    partition=Partition.SUBJECT,
)
def check_xpt_names(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Dataset and variable names have at most 8 characters, start with a letter and use only
    upper-case letters, digits and underscores.

    Bad: a variable named LBSTRESULT (10 characters) or lb_x.
    Good: LBSTRESC.
    """
    for name in ctx.names():
        if len(name) > MAX_NAME or not VALID_NAME.match(name):
            yield rule.finding(f"dataset name {name!r} is not a valid XPT v5 name", dataset=name, value=name)
        for col in ctx.datasets[name].columns:
            col = str(col)
            if len(col) > MAX_NAME or not VALID_NAME.match(col):
                yield rule.finding(
                    f"variable name {col!r} is not a valid XPT v5 name", dataset=name, variable=col, value=col
                )


@rule(
    "CDG0202",
    "Label longer than 40 characters",
    severity=Severity.ERROR,
    scope=Scope.ANY,
    reference="FDA Study Data Technical Conformance Guide section 3.3.1; SAS TS-140 (labels <= 40)",
    published=("CORE-000019", "CG0311"),
    partition=Partition.SUBJECT,
)
def check_xpt_labels(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Dataset and variable labels have at most 40 characters (the XPT metadata, else the spec).

    Bad: "Lambda Light Chain, Free, Serum, mg per L" (41 characters).
    Good: "Lambda Light Chain, Free".
    """
    for name in ctx.names():
        meta, spec = ctx.meta.get(name), ctx.spec(name)
        if meta is not None:
            labels = [(None, meta.label)] + [(v.name, v.label) for v in meta.variables]
        elif spec is not None:
            labels = [(None, spec.label)] + [(v.name, v.label) for v in spec.submitted_variables]
        else:
            continue
        for var, label in labels:
            if label and len(label) > MAX_LABEL:
                what = f"label of {var}" if var else "dataset label"
                yield rule.finding(
                    f"{what} has {len(label)} characters (at most {MAX_LABEL})",
                    dataset=name,
                    variable=var,
                    value=label,
                )


def _value_lengths(ctx: ValidationContext, name: str, col: str) -> tuple[int, np.ndarray]:
    """What the length rules ask of a character column's values without trailing blanks: the byte length
    of the longest (0 when every value is missing) and the rows longer than MAX_CHAR_BYTES. Kept per column
    for the run instead of every value's length (that was a float per cell of every text column)."""

    def compute(frame: pd.DataFrame) -> tuple[int, np.ndarray]:
        text = compute_arrow_text(frame[col])
        stripped = pc.utf8_rtrim(text, characters=" ") if may_need_trimming(text) else text
        lengths = pc.binary_length(stripped)
        longest = pc.max(lengths).as_py() or 0
        too_long = pc.fill_null(pc.greater(lengths, MAX_CHAR_BYTES), False)
        return int(longest), np.flatnonzero(too_long.to_numpy(zero_copy_only=False))

    return ctx.of_dataset("value lengths", name, compute, col)


def _char_columns(ctx: ValidationContext, name: str) -> list[str]:
    return ctx.of_dataset(
        "char columns", name, lambda frame: [c for c in frame.columns if not is_numeric_dtype(frame[c])]
    )


def _non_ascii(ctx: ValidationContext, name: str, col: str) -> np.ndarray | None:
    """True where a value holds a non-ASCII character; None when every value is ASCII (or missing)."""

    def compute(frame: pd.DataFrame) -> np.ndarray | None:
        ascii_ = pc.fill_null(pc.string_is_ascii(compute_arrow_text(frame[col])), True)  # missing is not bad
        return None if pc.all(ascii_).as_py() else ~ascii_.to_numpy(zero_copy_only=False)

    return ctx.of_dataset("non-ascii", name, compute, col)


@rule(
    "CDG0203",
    "Character value longer than 200 bytes",
    severity=Severity.ERROR,
    scope=Scope.ANY,
    reference="FDA Study Data Technical Conformance Guide section 3.3.2; SAS TS-140 (char <= 200 bytes)",
    partition=Partition.SUBJECT,
)
def check_xpt_value_lengths(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """A character value fits in 200 bytes; longer text is split (e.g. --TESTx, COVAL1) or goes to SUPP--.

    Bad: a 250-character TSVAL in one record.
    Good: TSVAL with the first 200 characters and TSVAL1 with the rest.
    """
    for name in ctx.names():
        for col in _char_columns(ctx, name):
            too_long = np.zeros(len(ctx.datasets[name]), dtype=bool)
            too_long[_value_lengths(ctx, name, col)[1]] = True
            yield from ctx.findings_where(
                rule,
                name,
                too_long,
                f"value of {col} is longer than {MAX_CHAR_BYTES} bytes",
                variable=col,
            )
        for col, m in ctx.meta_variables(name).items():
            if m.type == "char" and m.length is not None and m.length > MAX_CHAR_BYTES:
                yield rule.finding(
                    f"{col} is declared with length {m.length}",
                    dataset=name,
                    variable=col,
                    value=m.length,
                    expected=f"<= {MAX_CHAR_BYTES}",
                )


@rule(
    "CDG0204",
    "Non-ASCII character",
    severity=Severity.ERROR,
    scope=Scope.ANY,
    reference="FDA Study Data Technical Conformance Guide section 3.3.2 (ASCII text only); Pinnacle 21 SD1302-like",
    partition=Partition.SUBJECT,
)
def check_ascii(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """Values and labels hold ASCII characters only (a curly apostrophe from a word processor is not).

    Bad: TSVAL "Alzheimer\u2019s Disease".
    Good: TSVAL "Alzheimer's Disease".
    """
    for name in ctx.names():
        for col in _char_columns(ctx, name):
            bad = _non_ascii(ctx, name, col)
            if bad is None:
                continue
            yield from ctx.findings_where(
                rule, name, bad, f"value of {col} holds a non-ASCII character", variable=col
            )
        meta = ctx.meta.get(name)
        if meta is not None:
            for var, label in [(None, meta.label)] + [(v.name, v.label) for v in meta.variables]:
                if label and not label.isascii():
                    yield rule.finding(
                        "label holds a non-ASCII character", dataset=name, variable=var, value=label
                    )


@rule(
    "CDG0205",
    "Date or datetime SAS cannot hold",
    severity=Severity.ERROR,
    scope=Scope.ANY,
    reference="SAS 9.4 Language Reference: date values run from A.D. 1582 to A.D. 19,900 and beyond to "
    "19999-12-31; XPT v5 (TS-140) stores them as numbers, readers turn them into dates",
    partition=Partition.SUBJECT,
)
def check_sas_date_range(ctx: ValidationContext, rule: Rule) -> Iterator[Finding]:
    """A numeric variable with a date format (DATE9., E8601DA. ...) holds a day SAS can show, one with a
    datetime format a second: from 1582-10-15 to 19999-12-31. Other readers fail on the file, or show a
    wrong date, otherwise. The format is the transport file's, else the spec's.

    Bad: ADSL.TRTEDT 10227000 (the year 29960) with format DATE9.
    Good: TRTEDT 23376 (2024-01-01).
    """
    from cdiscgen.export._xpt import compute_outside_sas_range, sas_value_range

    for name in ctx.names():
        frame = ctx.datasets[name]
        formats = _formats(ctx, name)
        for col in frame.columns:
            fmt = formats.get(col)
            span = sas_value_range(fmt)
            if span is None or not is_numeric_dtype(frame[col]):
                continue
            values = frame[col].to_numpy(dtype=np.float64, na_value=np.nan)
            outside = compute_outside_sas_range(values, fmt)
            if not outside.any():
                continue
            shown = np.full(len(values), None, dtype=object)  # only the rows reported are formatted
            shown[outside] = np.char.mod("%g", values[outside]).tolist()
            yield from ctx.findings_where(
                rule,
                name,
                outside,
                f"{col} with format {fmt} is not a SAS {span[0]} (1582-10-15 to 19999-12-31)",
                variable=col,
                value=shown,
            )


def _formats(ctx: ValidationContext, name: str) -> dict[str, str]:
    """SAS format per variable: the transport file's where it names one, else the spec's."""
    out: dict[str, str] = {}
    spec = ctx.spec(name)
    if spec is not None:
        out.update({v.name: v.format for v in spec.variables if v.format})
    meta = ctx.meta.get(name)
    if meta is not None:
        out.update({v.name: v.format for v in meta.variables if getattr(v, "format", None)})
    return out
