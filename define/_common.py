"""Namespaces, the error type and value helpers shared by the define modules."""

from __future__ import annotations

import datetime as _dt
import importlib.util
import math
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.1"
XLINK_NS = "http://www.w3.org/1999/xlink"
ARM_NS = "http://www.cdisc.org/ns/arm/v1.0"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
NSMAP: dict[str | None, str] = {None: ODM_NS, "def": DEF_NS, "xlink": XLINK_NS}

STYLESHEET_NAME = "define2-1.xsl"


def defineutils_path(*parts: str) -> Path:
    """A file or folder the defineutils package ships (the Define-XML schemas and stylesheet), found without
    importing the package: its __init__ imports xmlschema, ~0.2 s of start-up for a path."""
    spec = importlib.util.find_spec("defineutils")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the defineutils package (Define-XML schemas and stylesheet) is not installed"
        )
    return Path(spec.submodule_search_locations[0]).joinpath(*parts)


# The enumerations of the Define-XML schema that defineutils ships are release 2.1.9 (CT package 59):
# this is the version our output is validated against, so it is the version it claims.
DEFINE_VERSION = "2.1.9"

ISO8601_TYPES = frozenset(
    {
        "date",
        "datetime",
        "time",
        "partialDate",
        "partialTime",
        "partialDatetime",
        "incompleteDatetime",
        "durationDatetime",
    }
)


class DefineError(ValueError):
    """The datasets and the study metadata do not fit together; the message lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("cannot build define.xml:\n" + "\n".join(f"  - {p}" for p in self.problems))


def odm(tag: str) -> str:
    """Clark name of an ODM element."""
    return f"{{{ODM_NS}}}{tag}"


def defn(tag: str) -> str:
    """Clark name of a def: element or attribute."""
    return f"{{{DEF_NS}}}{tag}"


def to_text(value: Any) -> str | None:
    """A data value as the text a reviewer sees (None for missing or blank).

    Integral floats lose their ".0" (CNSR 0.0 -> "0") so numeric values compare with codelist terms;
    other floats use 15 significant digits, which drops binary noise without losing a stored digit.
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return to_text(value.item())
    text = str(value)
    return text if text.strip() else None


#: A number written plainly (ASCII digits, an optional sign and point): its decimals are the characters after
#: the point, as Decimal counts them (trailing zeros too); any other text goes through Decimal.
_PLAIN_NUMBER = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)$"


def decimals(texts: list[str]) -> int | None:
    """The largest number of digits after the decimal point among numeric texts (None if none parse).
    Plain numbers are counted by Arrow, all at once; the others (exponents, blanks around, other digits)
    one by one by Decimal."""
    if not texts:
        return None
    arr = pa.array(texts, type=pa.large_string())
    plain = pc.fill_null(pc.match_substring_regex(arr, _PLAIN_NUMBER), False)
    best: int | None = None
    if pc.any(plain).as_py():
        numbers = arr.filter(plain)
        point = pc.find_substring(numbers, ".")
        places = pc.if_else(pc.less(point, 0), 0, pc.subtract(pc.subtract(pc.utf8_length(numbers), point), 1))
        best = pc.max(places).as_py()
    others = arr.filter(pc.invert(plain)).to_pylist()
    return _decimals_of(others, best)


def _decimals_of(texts: list[str], best: int | None) -> int | None:
    """`best` or the most decimals of the texts that Decimal reads, whichever is larger."""
    for text in texts:
        try:
            exponent = Decimal(text.strip()).as_tuple().exponent
        except (InvalidOperation, AttributeError):
            continue
        if not isinstance(exponent, int):  # NaN / Infinity
            continue
        places = max(0, -exponent)
        best = places if best is None else max(best, places)
    return best
