"""The `template` rule: text built from raw columns, e.g. --SPID `/F:{FORM}-D:{DCM}-R:{ROW}` or a drug
code padded to 11 digits `{CODE:0>11}`.

A template is literal text with fields `{COLUMN}` or `{COLUMN:SPEC}` (`{{` and `}}` are literal braces).
COLUMN is a raw column name as the EDC wrote it (anything but `{}:!`); SPEC is a Python format
specification: on text (`0>11` pads with zeros to 11 characters, `<20` to 20 with spaces, `.3` keeps 3
characters), or, when it ends in a number type (`d`, `f`, `e`, `g`, `%`, `x`, `o`, `b`), on the value read
as a number (`03d`: 7 -> 007; `.1f`: 5 -> 5.0). Values are stripped first.

A row whose fields are all blank gives a blank. A row where only some are blank gives a blank too, with
MAP027 naming the blank column: a key with a part missing is no key, and nothing is filled in silently.
A value a numeric specification cannot read (`{DOSE:.1f}` of "ten") is MAP027 and gives a blank.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cdiscgen._findings import Finding, Severity
from sdtm._context import RuleContext, row_findings

_NUMBER_TYPES = frozenset("dfFeEgGn%xXob")


class TemplateError(ValueError):
    """A template that cannot be read: unbalanced braces, an empty field, a bad format specification."""


@dataclass(frozen=True)
class Field:
    column: str
    spec: str

    @property
    def numeric(self) -> bool:
        return bool(self.spec) and self.spec[-1] in _NUMBER_TYPES

    def render(self, text: str) -> str | None:
        """The value as the specification writes it; None when a numeric one cannot read it."""
        if not self.spec:
            return text
        if not self.numeric:
            return format(text, self.spec)
        try:
            number = float(text)
        except ValueError:
            return None
        if self.spec[-1] in "dnxXob":
            if not number.is_integer():
                return None
            return format(int(number), self.spec)
        return format(number, self.spec)


def parse_template(text: str) -> tuple[tuple[str, ...], tuple[Field, ...]]:
    """(literals, fields): literal i comes before field i; the last literal ends the text."""
    literals: list[str] = []
    fields: list[Field] = []
    pending = ""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(f"template {text!r}: {exc}") from None
    for literal, name, spec, conversion in parts:
        pending += literal
        if name is None:
            continue
        if conversion is not None:
            raise TemplateError(f"template {text!r}: '!{conversion}' is not a format specification")
        if not name.strip():
            raise TemplateError(f"template {text!r}: a field names no column ({{}})")
        field = Field(name, spec or "")
        if "{" in field.spec:
            raise TemplateError(f"template {text!r}: a format specification cannot hold a field")
        try:
            field.render("1")
        except ValueError as exc:
            raise TemplateError(f"template {text!r}: {{{name}:{spec}}}: {exc}") from None
        literals.append(pending)
        pending = ""
        fields.append(field)
    literals.append(pending)
    return tuple(literals), tuple(fields)


def template_columns(text: str) -> tuple[str, ...]:
    """The raw columns a (valid) template reads."""
    return tuple(dict.fromkeys(f.column for f in parse_template(text)[1]))


def compute_template(raw: pd.DataFrame, rule: Mapping[str, Any], ctx: RuleContext) -> tuple[pd.Series, list]:
    """`template: "TEXT {COL:SPEC} ..."` -> the text, row by row (see the module text)."""
    literals, fields = parse_template(str(rule["template"]))
    findings: list[Finding] = []
    out = pd.Series(literals[0], index=raw.index, dtype="str")
    blank_any = np.zeros(len(raw), dtype=bool)
    blank_all = np.ones(len(raw), dtype=bool)
    first_blank = pd.Series("", index=raw.index, dtype="str")
    unreadable = np.zeros(len(raw), dtype=bool)
    for field, literal in zip(fields, literals[1:], strict=True):
        values = raw[field.column].astype("str").str.strip()
        blank = (values == "").to_numpy()
        first_blank = first_blank.where(~(blank & ~blank_any), field.column)
        blank_any |= blank
        blank_all &= blank
        rendered = _render_distinct(values, field)
        bad = rendered.isna().to_numpy() & ~blank
        findings += row_findings(
            raw,
            bad,
            code="MAP027",
            severity=Severity.WARNING,
            message=f"{_braces(field.column)} {{value!r}} is not a number "
            f"{{{{{_braces(field.column)}:{_braces(field.spec)}}}}} can write; {ctx.variable} left empty",
            ctx=ctx,
            values=values,
        )
        unreadable |= bad
        out = out + rendered.fillna("") + literal
    partial = blank_any & ~blank_all & ~unreadable
    findings += row_findings(
        raw,
        partial,
        code="MAP027",
        severity=Severity.WARNING,
        message=f"{{value}} is blank, so the template {_braces(repr(rule['template']))} of {ctx.variable} "
        "is left empty",
        ctx=ctx,
        values=first_blank,
    )
    return out.where(~(blank_any | unreadable), ""), findings


def _braces(text: str) -> str:
    """Text put into a finding's message pattern, its braces kept (row_findings fills {value})."""
    return text.replace("{", "{{").replace("}", "}}")


def _render_distinct(values: pd.Series, field: Field) -> pd.Series:
    """`field.render` of each distinct value, spread back to the rows (None where it cannot)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    rendered = np.array([field.render(str(u)) if u != "" else "" for u in uniques], dtype=object)
    return pd.Series(rendered[codes], index=values.index, dtype=object)
