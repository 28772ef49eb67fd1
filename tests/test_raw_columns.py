"""Issue 29: every column of every raw form is either used by a mapping spec or listed in docs/raw-data.md
("Not submitted") with its reason, so nothing collected is dropped unseen.

"Used" is read from mappings/*.yaml independently of the engine: a form's column is used when a source
reading that form names it anywhere but in its own `columns:` declaration (a rule, a step, `record_id`,
`subject`, `visit`), or a `merge` step brings it in from that form.
"""

from __future__ import annotations

import re

import yaml

from cdiscgen.simulate._layout import FORM_COLUMNS
from tests.conftest import REPO

DOC = REPO / "docs" / "raw-data.md"
DEFAULT_KEYS = {"record_id": "RECORD_ID", "subject": "SUBJECT"}


def _names(node: object, columns: set[str], out: set[str]) -> None:
    if isinstance(node, dict):
        for value in node.values():
            _names(value, columns, out)
    elif isinstance(node, list):
        for value in node:
            _names(value, columns, out)
    elif isinstance(node, str) and node in columns:
        out.add(node)


def used_columns() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for path in sorted((REPO / "mappings").glob("*.yaml")):
        for source in yaml.safe_load(path.read_text(encoding="utf-8")).get("sources", []):
            form = source["form"].removesuffix(".csv")
            declared = set(source.get("columns", []))
            found = used.setdefault(form, set())
            for key, default in DEFAULT_KEYS.items():
                found.add(source.get(key, default))
            rest = {k: v for k, v in source.items() if k not in ("form", "description", "columns")}
            _names(rest, declared, found)
            for step in source.get("steps", []):
                merge = step.get("merge") if isinstance(step, dict) else None
                if merge:
                    used.setdefault(merge["form"].removesuffix(".csv"), set()).update(
                        merge.get("columns", [])
                    )
                    used[merge["form"].removesuffix(".csv")].update(merge.get("by", []))
    return used


def not_submitted() -> dict[tuple[str, str], str]:
    """(form, column) -> reason, from the table under '## Not submitted' (form `*`: every form)."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Not submitted", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("Form", "") and not set(cells[0]) <= {"-"}:
            form = cells[0].strip("`").removesuffix(".csv")
            for column in re.split(r",\s*", cells[1]):
                rows[(form, column.strip("`"))] = cells[2]
    return rows


def test_every_raw_column_is_mapped_or_listed_as_not_submitted_with_a_reason():
    used, listed = used_columns(), not_submitted()
    unexplained = []
    for form, columns in FORM_COLUMNS.items():
        for column in columns:
            if column in used.get(form, set()):
                continue
            reason = listed.get((form, column)) or listed.get(("*", column))
            if not reason:
                unexplained.append(f"{form}.{column}")
    assert unexplained == []


def test_nothing_listed_as_not_submitted_is_in_fact_mapped():
    used = used_columns()
    stale = [
        f"{form}.{column}"
        for (form, column) in not_submitted()
        if form != "*" and column in used.get(form, set())
    ]
    assert stale == []
    assert all((form == "*" or form in FORM_COLUMNS) for form, _ in not_submitted())


# ------------------------------------------------------------- the engine's own check (MAP024, MAP025)


def _untabulated(raw, study) -> list[tuple[str, str, str | None]]:
    from sdtm._engine import compute_untabulated
    from sdtm._mapspec import read_mapping_specs

    return [(f.code, f.file, f.variable) for f in compute_untabulated(raw, read_mapping_specs(study), study)]


def test_a_form_or_column_no_mapping_reads_is_reported_unless_its_reason_is_given(small_run, tmp_path):
    import dataclasses
    import shutil

    import pandas as pd

    from cdiscgen import load_study

    raw = tmp_path / "raw"
    shutil.copytree(small_run / "raw", raw)
    study = load_study()
    assert _untabulated(raw, study) == []  # the bundled study tabulates every collected form and column
    vitals = pd.read_csv(raw / "vital_signs.csv", dtype=str, keep_default_na=False)
    vitals["DEVICE_ID"] = "BP-7"
    vitals.to_csv(raw / "vital_signs.csv", index=False)
    (raw / "pregnancy_test.csv").write_text(
        "RECORD_ID,SUBJECT,RESULT\n1,101-001,NEGATIVE\n", encoding="utf-8"
    )
    assert _untabulated(raw, study) == [
        ("MAP024", "pregnancy_test.csv", None),
        ("MAP025", "vital_signs.csv", "DEVICE_ID"),
    ]
    settings = {**study.settings, "not_tabulated_forms": {"pregnancy_test.csv": "collected in error"}}
    assert _untabulated(raw, dataclasses.replace(study, settings=settings)) == [
        ("MAP025", "vital_signs.csv", "DEVICE_ID")
    ]


def test_the_pilot_says_why_each_unread_column_is_left_out():
    from pathlib import Path

    from cdiscgen import load_study
    from tests.conftest import REFDATA

    study = load_study(REPO / "examples" / "cdiscpilot01")
    assert _untabulated(Path(REFDATA / "cdiscpilot01-raw" / "raw"), study) == []
