"""define.html: define.xml rendered with the CDISC Define-XML 2.1 stylesheet that defineutils ships."""

from __future__ import annotations

import functools
from pathlib import Path

from lxml import etree

from define._common import STYLESHEET_NAME, defineutils_path


def stylesheet_path() -> Path:
    """The define2-1.xsl stylesheet shipped by the defineutils package."""
    path = defineutils_path("definehtml", STYLESHEET_NAME)
    if not path.is_file():
        raise FileNotFoundError(f"defineutils does not ship {STYLESHEET_NAME} where expected: {path}")
    return path


@functools.lru_cache(maxsize=1)
def _transform() -> etree.XSLT:
    return etree.XSLT(etree.parse(str(stylesheet_path())))


def compute_define_html(define_xml: bytes) -> bytes:
    """The HTML rendition of a define.xml document (the stylesheet's own output method and encoding)."""
    transform = _transform()
    result = transform(etree.fromstring(define_xml, parser=etree.XMLParser(resolve_entities=False)))
    errors = [str(e) for e in transform.error_log if e.level_name in ("ERROR", "FATAL")]
    if errors:
        raise ValueError("the define2-1.xsl transformation failed: " + "; ".join(errors))
    return bytes(result)
