"""Text longer than a transport file holds (SDTMIG 3.4 section 4.5.3.2): the first 200 bytes stay in the
variable, each further 200 go on in a SUPP-- record whose QNAM is the variable's stem and a number
(AETERM -> AETERM1, AETERM2; CMMODIFY -> CMMODIF1), split between words.

A part ends before the last break character (a space unless the variable's `split: {break: ...}` says
otherwise) that lets it fit; that character is where the parts join again (a reader puts it back between
them). A word longer than a whole part is cut inside, which the notice says.
"""

from __future__ import annotations

import codecs

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from cdiscgen._arrowtext import compute_arrow_text
from cdiscgen._findings import Finding, Severity
from cdiscgen._specs import DatasetSpec, VariableSpec
from sdtm._context import RuleContext, row_findings

# XPT v5 holds at most 200 bytes in a character value (SAS transport format version 5)
MAX_TEXT_BYTES = 200


def compute_text_parts(text: str, limit: int, breaker: str, encoding: str) -> tuple[list[str], bool]:
    """(parts, cut inside a word): `text` in parts of at most `limit` bytes in `encoding`, each ending
    before the last `breaker` that lets it fit (the breaker itself is dropped)."""
    parts: list[str] = []
    inside_word = False
    rest = text
    while _size(rest, encoding) > limit:
        fits = _fitting_chars(rest, limit, encoding)
        at = rest.rfind(breaker, 0, fits + 1)  # a breaker right after the fitting part still counts
        if at > 0:
            parts.append(rest[:at])
            rest = rest[at + len(breaker) :]
        else:
            parts.append(rest[:fits])
            rest = rest[fits:]
            inside_word = True
    parts.append(rest)
    return parts, inside_word


def _size(text: str, encoding: str) -> int:
    return len(text.encode(encoding, errors="replace"))


def compute_long_mask(values: pd.Series, encoding: str, limit: int) -> np.ndarray:
    """The values longer than `limit` bytes in `encoding`: by their length in characters (a character is at
    least one byte), and for a multi-byte encoding those that could still be (at most 4 bytes a
    character) measured once per distinct value. In UTF-8 the length is the Arrow text's own byte length."""
    if codecs.lookup(encoding).name == "utf-8":
        lengths = pc.binary_length(compute_arrow_text(values)).to_numpy(zero_copy_only=False)
        return np.nan_to_num(lengths.astype(float), nan=0.0) > limit  # a missing value has no length
    chars = values.str.len().fillna(0).to_numpy()
    long = chars > limit
    if _size("\u00e9\u20ac\u4e2d", encoding) > 3:  # a multi-byte encoding (UTF-8)
        maybe = ~long & (chars * 4 > limit)
        if maybe.any():
            codes, distinct = pd.factorize(values[maybe])
            sizes = np.array([_size(str(t), encoding) for t in distinct])
            long[maybe] = sizes[codes] > limit
    return long


def _fitting_chars(text: str, limit: int, encoding: str) -> int:
    """How many leading characters of `text` fit in `limit` bytes (a multi-byte character is never cut)."""
    used = 0
    for i, ch in enumerate(text):
        used += _size(ch, encoding)
        if used > limit:
            return i
    return len(text)


def derive_long_text(
    frame: pd.DataFrame, spec: DatasetSpec, encoding: str, *, supp: bool, ctx: RuleContext
) -> tuple[pd.DataFrame, list[VariableSpec], list[Finding]]:
    """Split every text value over MAX_TEXT_BYTES: the first part stays, part i goes into a new column
    named as its continuation QNAM. Returns the frame, the continuation specs (for derive_supp) and a
    notice per split value (MAP028); without a SUPP-- dataset in the specs nothing is split and each long
    value is an error naming the record (MAP029)."""
    out = frame
    added: list[VariableSpec] = []
    findings: list[Finding] = []
    for var in spec.variables:
        if var.is_numeric or var.name not in frame.columns:
            continue
        values = frame[var.name].astype("str")
        long = compute_long_mask(values, encoding, MAX_TEXT_BYTES)
        if not long.any():
            continue
        vctx = RuleContext(ctx.dataset, var.name, ctx.codelists)
        if not supp:
            findings += row_findings(
                frame,
                long,
                code="MAP029",
                severity=Severity.ERROR,
                message=f"{var.name} is longer than {MAX_TEXT_BYTES} bytes and the study has no SUPP"
                f"{spec.domain or spec.name} spec for the rest (SDTMIG 4.5.3.2); kept whole",
                ctx=vctx,
                values=values.str.slice(0, 60) + "...",
            )
            continue
        if out is frame:
            out = frame.copy(deep=False)
        split = {
            i: compute_text_parts(values.iloc[i], MAX_TEXT_BYTES, var.split_break, encoding)
            for i in np.flatnonzero(long)
        }
        n_parts = max(len(parts) for parts, _ in split.values())
        rows = np.flatnonzero(long)
        first = values.copy()
        first.iloc[rows] = [split[i][0][0] for i in rows]
        out[var.name] = first
        for part in range(1, n_parts):
            cont = var.continuation(part)
            column = np.full(len(frame), "", dtype=object)
            for i in rows:
                if part < len(split[i][0]):
                    column[i] = split[i][0][part]
            out[cont.name] = pd.Series(column, index=frame.index, dtype="str")
            added.append(cont)
        described = pd.Series("", index=frame.index, dtype="str")
        described.iloc[rows] = [
            f"{len(split[i][0])} parts: {var.name}"
            + "".join(f", {var.continuation(p).name}" for p in range(1, len(split[i][0])))
            + (" (a word longer than a part is cut inside)" if split[i][1] else "")
            for i in rows
        ]
        findings += row_findings(
            frame,
            long,
            code="MAP028",
            severity=Severity.NOTICE,
            message=f"{var.name} is longer than {MAX_TEXT_BYTES} bytes: split between words into {{value}} "
            f"(SUPP{spec.domain or spec.name}, SDTMIG 4.5.3.2)",
            ctx=vctx,
            values=described,
        )
    return out, added, findings
