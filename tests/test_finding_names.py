"""Every finding code a stage can raise has a short name for the reports."""

from __future__ import annotations

import re

from cdiscgen._stages import finding_names
from tests.conftest import REPO

CODE = re.compile(r"\"((?:SPEC|MAP|DEF|ADM)\d{3})\"")


def test_every_raised_code_is_named():
    raised = set()
    for package in ("cdiscgen", "sdtm", "adam", "define"):
        for path in (REPO / package).rglob("*.py"):
            raised |= set(CODE.findall(path.read_text()))
    assert len(raised) > 40  # the scan really found the stages' codes
    names = finding_names()
    assert sorted(raised - set(names)) == []


def test_no_stage_code_collides_with_the_conformance_prefix():
    assert not [code for code in finding_names() if code.startswith("CDG")]
