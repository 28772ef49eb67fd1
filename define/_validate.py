"""Schema validation of a define.xml against the Define-XML 2.1 schema shipped by defineutils."""

from __future__ import annotations

import functools
from pathlib import Path

from lxml import etree

from define._common import ARM_NS, defineutils_path

_DEFINE_ENTRY = ("cdisc-define-2.1", "define2-1-0.xsd")
_ARM_ENTRY = ("cdisc-arm-1.0", "arm1-0-0.xsd")


def schema_dir() -> Path:
    """The folder holding defineutils' copy of the CDISC schemas (official layout, relative imports)."""
    return defineutils_path("validate", "schema")


def define_schema(has_arm: bool) -> tuple[str, etree.XMLSchema]:
    """The entry schema's file name and the schema a define.xml is checked against: define2-1-0.xsd, or
    the ARM 1.0 entry schema (which includes Define-XML 2.1) for a define with Analysis Results Metadata."""
    entry = _ARM_ENTRY if has_arm else _DEFINE_ENTRY
    return entry[-1], _schema(entry)


@functools.lru_cache(maxsize=2)
def _schema(entry: tuple[str, str]) -> etree.XMLSchema:
    path = schema_dir().joinpath(*entry)
    if not path.is_file():
        raise FileNotFoundError(f"defineutils does not ship the schema entry point {path}")
    return etree.XMLSchema(etree.parse(str(path)))


def validate_define_xml(path: Path | str) -> list[str]:
    """Schema errors of a define.xml as `line N: message` (empty when valid).

    The entry schema is define2-1-0.xsd; a document that carries Analysis Results Metadata (elements
    in the arm namespace, as in the official ADaM example) is checked against the ARM 1.0 entry schema,
    which includes Define-XML 2.1. A file that is not well-formed XML yields its parse error.
    """
    try:
        doc = etree.parse(str(path), parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        return [f"line {exc.lineno}: not well-formed XML: {exc.msg}"]
    has_arm = bool(doc.getroot().xpath("boolean(//*[namespace-uri() = $ns])", ns=ARM_NS))
    _, schema = define_schema(has_arm)
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]
