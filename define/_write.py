"""write_define: define.xml, define.html and the stylesheet, written atomically into one folder."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from cdiscgen import Findings, Study
from cdiscgen._atomic import write_bytes_atomic
from define._build import Standard, compute_define_xml
from define._common import STYLESHEET_NAME
from define._html import compute_define_html, stylesheet_path
from define._profile import DatasetProfile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DefineResult:
    """The files written by write_define, and the non-fatal problems found while building."""

    define_xml: Path
    define_html: Path
    stylesheet: Path
    findings: Findings = field(default_factory=Findings)
    rendering: Future | None = field(default=None, repr=False, compare=False)

    def wait(self) -> None:
        """Return once define.html is written (at once unless an executor renders it); raise what
        rendering it raised."""
        if self.rendering is not None:
            self.rendering.result()


def write_define(
    study: Study,
    datasets: Mapping[str, pd.DataFrame | DatasetProfile],
    out_dir: Path,
    *,
    standard: Standard,
    created: datetime,
    lengths: Mapping[str, Mapping[str, int]] | None = None,
    executor: Executor | None = None,
) -> DefineResult:
    """Write define.xml, define.html and define2-1.xsl into out_dir (created if needed).

    ``datasets`` are the frames as written (SUPP-- included), or their profiles (a partitioned run merges
    them over the partitions); ``lengths`` the character lengths the
    XPT writer used (dataset -> variable -> bytes), else the declared length or the longest value.
    ``created`` becomes CreationDateTime: the same inputs give the same bytes. Raises DefineError when
    the frames and the specs do not fit together.

    With ``executor``, define.html is rendered and written by it: the stylesheet runs without Python's
    lock, so a run goes on with its next stage meanwhile. The result's ``wait()`` returns once it is
    written (and raises what rendering raised); without an executor it is written before this returns.
    """
    out_dir = Path(out_dir)
    xml, findings = compute_define_xml(study, datasets, standard=standard, created=created, lengths=lengths)
    html = compute_define_html(xml) if executor is None else None  # a failure here leaves no file behind
    out_dir.mkdir(parents=True, exist_ok=True)
    xml_path = out_dir / "define.xml"
    html_path = out_dir / "define.html"
    xsl_path = out_dir / STYLESHEET_NAME
    for path, data in ((xsl_path, stylesheet_path().read_bytes()), (xml_path, xml)):
        write_bytes_atomic(path, data)
    rendering = None
    if html is not None:
        write_bytes_atomic(html_path, html)
    else:
        rendering = executor.submit(_write_define_html, xml, html_path)  # type: ignore[union-attr]
    log.info("wrote %s define.xml for %d datasets into %s", standard, len(datasets), out_dir)
    return DefineResult(
        define_xml=xml_path,
        define_html=html_path,
        stylesheet=xsl_path,
        findings=findings,
        rendering=rendering,
    )


def _write_define_html(xml: bytes, path: Path) -> None:
    write_bytes_atomic(path, compute_define_html(xml))
