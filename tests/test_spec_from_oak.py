"""`cdiscgen spec from-oak`: mapping specs from a specification in sdtm.oak's CSV layout. The spec and the
raw form are written here (the columns are sdtm.oak's); the mappings it gives are run by `cdiscgen sdtm` on
the new-study template, and DM's values are worked by hand from the raw rows."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pyreadstat
import yaml
from click.testing import CliRunner

from cdiscgen.cli import main

OAK_COLUMNS = (
    "study_number,raw_source_model,raw_dataset,raw_dataset_ordinal,raw_dataset_label,raw_variable,"
    "raw_variable_label,raw_variable_ordinal,raw_variable_type,raw_data_format,raw_codelist,study_specific,"
    "annotation_ordinal,mapping_is_dataset,annotation_text,target_sdtm_domain,target_sdtm_variable,"
    "target_sdtm_variable_role,target_sdtm_variable_codelist_code,target_sdtm_variable_controlled_terms_or_format,"
    "target_sdtm_variable_ordinal,origin,mapping_algorithm,entity_sub_algorithm,target_hardcoded_value,"
    "target_term_value,target_term_code,condition_ordinal,condition_group_ordinal,condition_left_raw_dataset,"
    "condition_left_raw_variable,condition_left_sdtm_domain,condition_left_sdtm_variable,condition_operator,"
    "condition_right_text_value,condition_right_sdtm_domain,condition_right_sdtm_variable,"
    "condition_right_raw_dataset,condition_right_raw_variable,condition_next_logical_operator,merge_type,"
    "merge_left,merge_right,merge_condition,unduplicate_keys,groupby_keys,target_resource_raw_dataset,"
    "target_resource_raw_variable"
).split(",")

# (raw variable, raw format, target, CT or format, algorithm, sub-algorithm, hardcoded, term, condition op)
ROWS = [
    ("PATNUM", "", "SUBJID", "", "ASSIGN_NO_CT", "", "", "", ""),
    ("SITENM", "", "SITEID", "", "ASSIGN_NO_CT", "", "", "", ""),
    ("SEX", "$1", "SEX", "(SEX)", "ASSIGN_CT", "", "", "", ""),
    ("RACE", "$40", "RACE", "(RACE)", "ASSIGN_CT", "", "", "", ""),
    ("ETHNIC", "$40", "ETHNIC", "(ETHNIC)", "ASSIGN_CT", "", "", "", ""),
    ("BRTHDT", "dd- MMM- yyyy", "BRTHDTC", "ISO 8601", "ASSIGN_NO_CT", "", "", "", ""),
    ("ICDT", "dd- MMM- yyyy", "RFICDTC", "ISO 8601", "ASSIGN_NO_CT", "", "", "", ""),
    ("ICDT", "dd- MMM- yyyy", "DMDTC", "ISO 8601", "ASSIGN_NO_CT", "", "", "", ""),
    ("", "", "COUNTRY", "(COUNTRY)", "HARDCODE_CT", "", "", "USA", ""),
    ("", "", "AGEU", "(AGEU)", "HARDCODE_CT", "", "", "YEARS", ""),
    ("SCRNFAIL", "1", "ARMNRS", "(ARMNRS)", "IF_THEN_ELSE", "HARDCODE_CT", "", "SCREEN FAILURE", "Checked"),
    ("SCRNFAIL", "1", "", "", "IF_THEN_ELSE", "NOTSUBMITTED", "", "", "Not_checked"),
    ("PAGEID", "", "", "", "NOTSUBMITTED", "", "", "", ""),
    ("INITIALS", "", "DMINIT", "", "OTHER", "", "", "", ""),
]


def _write_spec(path: Path, rows=ROWS, raw_dataset: str = "DEMOG") -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=OAK_COLUMNS)
        writer.writeheader()
        for order, (raw, fmt, target, ct, algorithm, sub, hard, term, op) in enumerate(rows, 1):
            row = dict.fromkeys(OAK_COLUMNS, "")
            row.update(
                study_number="oak_test", raw_dataset=raw_dataset if (raw or algorithm != "DATASET_LEVEL") else "",
                raw_variable=raw, raw_variable_ordinal=str(order), raw_data_format=fmt,
                target_sdtm_domain="DM" if target else "", target_sdtm_variable=target,
                target_sdtm_variable_controlled_terms_or_format=ct, mapping_algorithm=algorithm,
                entity_sub_algorithm=sub, target_hardcoded_value=hard, target_term_value=term,
                annotation_text=f"rule {order}",
            )  # fmt: skip
            if op:
                row.update(condition_ordinal="1.1", condition_left_raw_dataset=raw_dataset,
                           condition_left_raw_variable=raw, condition_operator=op)  # fmt: skip
            writer.writerow(row)


RAW = [
    # PATNUM, RECORDID, SITENM, SEX, RACE, ETHNIC, BRTHDT, ICDT, SCRNFAIL, PAGEID, INITIALS
    (
        "1001",
        "r1",
        "S01",
        "F",
        "WHITE",
        "NOT HISPANIC OR LATINO",
        "05-MAR-1960",
        "12-JAN-2024",
        "0",
        "p1",
        "AB",
    ),
    ("1002", "r2", "S01", "M", "ASIAN", "NOT REPORTED", "UN UNK 1955", "15 FEB 2024", "1", "p2", "CD"),
    ("1003", "r3", "S02", "F", "WHITE", "HISPANIC OR LATINO", "UN-JUN-1971", "01-MAR-2024", "0", "p3", "EF"),
]


def _study(tmp_path: Path) -> Path:
    study = tmp_path / "study"
    result = CliRunner().invoke(main, ["init", str(study), "--minimal"])
    assert result.exit_code == 0, result.output
    (study / "mappings" / "dm.yaml").unlink()
    return study


def _raw(tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir()
    header = "PATNUM,RECORDID,SITENM,SEX,RACE,ETHNIC,BRTHDT,ICDT,SCRNFAIL,PAGEID,INITIALS"
    lines = [header, *(",".join(r) for r in RAW)]
    (raw / "demog.csv").write_text("\n".join(lines) + "\n")
    return raw


def test_an_oak_spec_becomes_mappings_that_map_the_raw_form(tmp_path):
    spec = tmp_path / "oak_spec.csv"
    _write_spec(spec)
    study = _study(tmp_path)
    result = CliRunner().invoke(
        main, ["spec", "from-oak", str(spec), "--out", str(study), "--record-id", "RECORDID"]
    )
    assert result.exit_code == 0, result.output
    # what has no equivalent is listed with its CSV line: OTHER (line 15), the dates' formats to check
    assert "row 15 (DEMOG.INITIALS -> DM.DMINIT): OTHER has no cdiscgen equivalent (rule 14)" in result.output
    doc = yaml.safe_load((study / "mappings" / "dm.yaml").read_text())
    source = doc["sources"][0]
    assert (
        source["form"] == "demog.csv" and source["subject"] == "PATNUM" and source["record_id"] == "RECORDID"
    )
    assert source["not_tabulated"] == {"PAGEID": "NOT SUBMITTED in the sdtm.oak specification (row 14)"}
    rules = source["variables"]
    assert rules["SEX"] == {"assign": "SEX", "codelist": "SEX"}
    assert rules["COUNTRY"] == {"hardcode": "USA"}
    assert rules["ARMNRS"] == {
        "condition": [{"if": {"column": "SCRNFAIL", "op": "eq", "value": "1"}, "then": "SCREEN FAILURE"}]
    }
    assert rules["BRTHDTC"]["iso8601"] == "BRTHDT"
    assert "DMINIT" not in rules
    # the template's rules for what the spec does not map (the spec does not name them: not submitted)
    source["variables"]["ACTARMUD"] = {"not_submitted": "no unplanned arm"}
    source["variables"]["DTHDTC"] = {"not_submitted": "deaths are not collected on this form"}
    source["not_tabulated"]["INITIALS"] = "not submitted"
    (study / "mappings" / "dm.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    check = CliRunner().invoke(main, ["check-specs", "--study", str(study)])
    assert check.exit_code == 0, check.output
    out = tmp_path / "out"
    run = CliRunner().invoke(
        main,
        [
            "-q",
            "sdtm",
            "--raw",
            str(_raw(tmp_path)),
            "--study",
            str(study),
            "--out",
            str(out),
            "--report",
            str(tmp_path / "rep"),
        ],
    )
    assert run.exit_code in (0, 1), run.output
    dm, _ = pyreadstat.read_xport(str(next(out.rglob("dm.xpt"))))
    dm = dm.set_index("SUBJID")
    assert list(dm.index) == ["1001", "1002", "1003"]
    assert list(dm["SITEID"]) == ["S01", "S01", "S02"]
    assert list(dm["BRTHDTC"]) == ["1960-03-05", "1955", "1971-06"]  # UN/UNK parts unknown: partial dates
    assert list(dm["RFICDTC"]) == ["2024-01-12", "2024-02-15", "2024-03-01"]
    assert list(dm["DMDTC"]) == list(dm["RFICDTC"])
    assert list(dm["COUNTRY"]) == ["USA"] * 3
    # the screen failure from the condition; the others were never exposed: the template's armnrs_default
    assert list(dm["ARMNRS"]) == ["NOT ASSIGNED", "SCREEN FAILURE", "NOT ASSIGNED"]


def test_rows_without_an_equivalent_are_listed_and_a_bad_spec_is_refused(tmp_path):
    spec = tmp_path / "oak_spec.csv"
    rows = [
        *ROWS[:4],  # CSV lines 2-5: PATNUM, SITENM, SEX, RACE
        ("SEX", "", "SEXX", "", "IF_THEN_ELSE", "ASSIGN_NO_CT", "", "", "Different_to"),
        ("RACE", "", "RACE", "", "ASSIGN_NO_CT", "", "", "", ""),  # a second rule for RACE
        ("", "", "", "", "DATASET_LEVEL", "REMOVE_DUP", "", "", ""),
    ]
    _write_spec(spec, rows)
    result = CliRunner().invoke(main, ["spec", "from-oak", str(spec), "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert (
        "row 6 (DEMOG.SEX -> DM.SEXX): condition operator 'Different_to' has no cdiscgen equivalent"
        in result.output
    )
    assert "row 7 (DEMOG.RACE -> DM.RACE): RACE is already set by row 5; the first kept" in result.output
    assert "row 8 (-.- -> -.-): DATASET_LEVEL without a raw dataset" in result.output  # listed, not dropped
    doc = yaml.safe_load((tmp_path / "s" / "mappings" / "dm.yaml").read_text())
    assert doc["sources"][0]["variables"]["RACE"] == {"assign": "RACE", "codelist": "RACE"}
    bad = tmp_path / "bad.csv"
    bad.write_text("raw_dataset,raw_variable\nDEMOG,SEX\n")
    result = CliRunner().invoke(main, ["spec", "from-oak", str(bad), "--out", str(tmp_path / "t")])
    assert result.exit_code == 2
    assert (
        "bad.csv:1: not an sdtm.oak specification" in result.output and "mapping_algorithm" in result.output
    )
    assert not (tmp_path / "t").exists()
    shutil.rmtree(tmp_path / "s")


def test_the_mappings_are_the_same_bytes_whatever_the_hash_seed(tmp_path):
    import os
    import subprocess
    import sys

    spec = tmp_path / "oak_spec.csv"
    _write_spec(spec)
    written = []
    for seed in map(
        str, range(8)
    ):  # a set of two names takes either order: 8 seeds all agree by chance 1/128
        out = tmp_path / f"s{seed}"
        subprocess.run(
            [sys.executable, "-m", "cdiscgen.cli", "spec", "from-oak", str(spec), "--out", str(out), "--subject", "SUBJNO", "--record-id", "RECID"],
            check=True, capture_output=True, env={**os.environ, "PYTHONHASHSEED": seed},
        )  # fmt: skip
        written.append((out / "mappings" / "dm.yaml").read_bytes())
    assert len(set(written)) == 1
