"""Subject partitions (issue 16, docs/partitioned-runs.md): run_sdtm on a range of subjects gives the
whole run's records of those subjects and the findings the partition owns, so the datasets of a study
mapped (and its ADaM derived) in partitions, put one after the other, are the datasets of the whole study
and their findings the whole study's; spilled to Parquet partition by
partition and streamed to XPT, Dataset-JSON and NDJSON, they are the files of the whole study byte for
byte, and their define.xml, from the partitions' merged profiles, is the whole study's. Checked on the bundled study and on the CDISC pilot."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from unittest.mock import patch

import pandas as pd
import pytest

from cdiscgen import load_study
from cdiscgen._partitions import SpilledDatasets
from cdiscgen._publish import write_datasets
from define import write_define
from sdtm import _split as split_module
from sdtm import compute_split_columns, read_mapping_specs, run_sdtm, split_raw_forms, subject_ranges
from tests.conftest import REPO, refdata_path

pytestmark = pytest.mark.slow


def _same_findings(parts: list, whole) -> None:
    """The partitions' findings, together, are the whole run's: the same multiset (order aside)."""

    def rows(findings) -> list[str]:
        return sorted(repr(sorted(f.as_dict().items())) for f in findings)

    assert rows(f for p in parts for f in p) == rows(whole)


def _assert_concatenated_parts_are_the_whole(
    parts: list[Mapping[str, pd.DataFrame]], whole: Mapping[str, pd.DataFrame], names: list[str]
) -> None:
    for name in names:
        got = pd.concat([p[name] for p in parts], ignore_index=True)
        expected = whole[name]
        assert len(got) == len(expected), (
            f"{name}: {len(got)} records in the partitions, {len(expected)} whole"
        )
        pd.testing.assert_frame_equal(got, expected, check_dtype=True, check_exact=True, obj=name)


def _assert_spilled_partitions_write_the_whole_files(
    parts: list[Mapping[str, pd.DataFrame]],
    whole: Mapping[str, pd.DataFrame],
    names: list[str],
    study,
    tmp: Path,
) -> None:
    created = datetime(2026, 12, 6, 12, 0, 0)
    spilled = SpilledDatasets(tmp / "spill", study)
    for partition in parts:
        spilled.add({name: partition[name] for name in names})
    assert spilled.names() == sorted(names)
    expected = write_datasets(
        {n: whole[n] for n in names}, study, tmp / "whole", created=created, json_dir=tmp / "wj"
    )
    got = write_datasets(
        {n: spilled.parts(n) for n in names}, study, tmp / "parts", created=created, json_dir=tmp / "pj"
    )
    assert got.lengths == expected.lengths and got.rows == expected.rows
    assert [p.name for p in got.files] == [p.name for p in expected.files]
    assert len(expected.files) >= 3 * len(names)  # XPT, JSON and NDJSON of each
    for mine, theirs in zip(got.files, expected.files, strict=True):
        assert mine.read_bytes() == theirs.read_bytes(), f"{mine.name} differs from the whole run's file"
    standard = "ADaM" if study.dataset(names[0]).is_adam else "SDTM"
    whole_define = write_define(
        study,
        {n: whole[n] for n in names},
        tmp / "whole",
        standard=standard,
        created=created,
        lengths=expected.lengths,
    )
    define = write_define(
        study,
        {n: spilled.profile(n) for n in names},
        tmp / "parts",
        standard=standard,
        created=created,
        lengths=got.lengths,
    )
    assert define.define_xml.read_bytes() == whole_define.define_xml.read_bytes()
    assert [f.as_dict() for f in define.findings] == [f.as_dict() for f in whole_define.findings]


def _map_in_partitions(raw: Path, study, ranges: list, split: bool, tmp: Path) -> tuple[list, list]:
    """run_sdtm per range: each reading every raw form whole, or (`split`) the forms split by subject once
    (sdtm.split_raw_forms) in pieces; the mapped partitions and every finding list (the split's own first)."""
    with patch.object(split_module, "SPLIT_RECORDS", 97):  # the forms read in many blocks
        pieces = split_raw_forms(raw, study, ranges, tmp / "pieces") if split else None
    mapped = [run_sdtm(raw, study, partition=r, pieces=pieces) for r in ranges]
    if pieces is None:
        return mapped, [m.findings for m in mapped]
    assert pieces.forms == set(compute_split_columns(read_mapping_specs(study))) and pieces.forms
    return mapped, [pieces.findings, *(m.findings for m in mapped)]


def _assert_partitions_give_the_whole(whole, raw, study, count: int, tmp: Path, split: bool) -> None:
    """SDTM: the subject-level datasets; ADaM (derived from each partition's SDTM): every dataset. Each also
    spilled and written."""
    from adam import derive_adam

    def adam(datasets):
        return derive_adam(datasets, study.settings, cutoff=study.cutoff, study_dir=study.root)

    ranges = subject_ranges(whole.datasets["DM"]["USUBJID"], count)
    mapped, findings = _map_in_partitions(raw, study, ranges, split, tmp)
    assert len(mapped) == count
    _same_findings(findings, whole.findings)
    parts = [m.datasets for m in mapped]
    by_subject = [name for name, frame in whole.datasets.items() if "USUBJID" in frame.columns]
    assert {"DM", "AE"} <= set(by_subject)
    _assert_concatenated_parts_are_the_whole(parts, whole.datasets, by_subject)
    _assert_spilled_partitions_write_the_whole_files(parts, whole.datasets, by_subject, study, tmp / "sdtm")
    derived = adam(whole.datasets)
    whole_adam = derived.datasets
    assert "ADSL" in whole_adam
    derived_parts = [adam(p) for p in parts]
    _same_findings([d.findings for d in derived_parts], derived.findings)
    parts_adam = [d.datasets for d in derived_parts]
    _assert_concatenated_parts_are_the_whole(parts_adam, whole_adam, list(whole_adam))
    _assert_spilled_partitions_write_the_whole_files(
        parts_adam, whole_adam, list(whole_adam), study, tmp / "adam"
    )


SPLIT = pytest.mark.parametrize("split", [False, True], ids=["forms-read-whole", "forms-split-by-subject"])


@SPLIT
def test_darpal_in_three_subject_partitions_is_the_whole_study(darpal_run, tmp_path, split):
    study = load_study(None)
    raw = darpal_run / "raw"
    _assert_partitions_give_the_whole(run_sdtm(raw, study), raw, study, 3, tmp_path, split)


@SPLIT
def test_the_pilot_in_three_subject_partitions_is_the_whole_study(pilot_mapped, tmp_path, split):
    study = load_study(REPO / "examples" / "cdiscpilot01")
    _assert_partitions_give_the_whole(
        pilot_mapped(), refdata_path("cdiscpilot01-raw", "raw"), study, 3, tmp_path, split
    )


def _append_line(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8", newline="") as handle:
        handle.write(line + "\n")


@SPLIT
def test_records_of_no_dm_subject_and_repeated_rows_are_in_exactly_one_partition(darpal_run, tmp_path, split):
    """Raw data with defects a partition could lose or repeat: an adverse event of a subject not in DM
    (MAP010, sorting after every DM subject), a vital-signs row without a subject, a repeated row; and,
    for subjects past the first partition, what is found reading a whole form: a record id another subject's
    record has (MAP022), a value outside the declared ones (MAP020), a row with a field too many (MAP015),
    a control character (MAP017), an export's missing-value token (MAP026), and a merged form's key
    repeated (a second death record, MAP007). Split forms are read 97 records at a time."""
    raw = tmp_path / "raw"
    shutil.copytree(darpal_run / "raw", raw)
    ae = pd.read_csv(raw / "adverse_events.csv", dtype=str, keep_default_na=False)
    stray = ae.iloc[[0]].assign(SUBJECT="999-001", RECORD_ID="AE-9999999")
    late = ae.iloc[[-1]].assign(
        RECORD_ID=ae["RECORD_ID"].iloc[0], ONGOING="Unknown", AE_PT="N/A", AE_TERM="Bell\x07 rang"
    )
    pd.concat([ae, stray, ae.iloc[[3]], late], ignore_index=True).to_csv(
        raw / "adverse_events.csv", index=False
    )
    vs = pd.read_csv(raw / "vital_signs.csv", dtype=str, keep_default_na=False)
    blank = vs.iloc[[5]].assign(SUBJECT="", RECORD_ID="VS-9999999")
    pd.concat([vs, blank], ignore_index=True).to_csv(raw / "vital_signs.csv", index=False)
    _append_line(
        raw / "vital_signs.csv",
        ",".join([*vs.iloc[-1].to_dict().values(), "extra"]).replace(vs["RECORD_ID"].iloc[-1], "VS-9999998"),
    )
    death = pd.read_csv(raw / "death.csv", dtype=str, keep_default_na=False)
    again = death.iloc[[-1]].assign(RECORD_ID="DTH-9999999", CAUSE="Other")
    pd.concat([death, again], ignore_index=True).to_csv(raw / "death.csv", index=False)

    study = load_study(None)
    whole = run_sdtm(raw, study)
    codes = {f.code for f in whole.findings}
    assert {"MAP010", "MAP005", "MAP007", "MAP015", "MAP017", "MAP020", "MAP022", "MAP026"} <= codes, codes
    ranges = subject_ranges(whole.datasets["DM"]["USUBJID"], 3)
    late = {
        f"DARPAL-{s}" for s in (ae["SUBJECT"].iloc[-1], vs["SUBJECT"].iloc[-1], death["SUBJECT"].iloc[-1])
    }
    assert not any(ranges[0].holds(u) for u in late)
    mapped, findings = _map_in_partitions(raw, study, ranges, split, tmp_path)
    _same_findings(findings, whole.findings)
    by_subject = [name for name, frame in whole.datasets.items() if "USUBJID" in frame.columns]
    _assert_concatenated_parts_are_the_whole([m.datasets for m in mapped], whole.datasets, by_subject)
    assert "DARPAL-999-001" in set(mapped[-1].datasets["AE"]["USUBJID"])


def test_subject_ranges_cover_every_text_in_consecutive_ranges():
    from sdtm import SubjectRange

    ranges = subject_ranges(["S-05", "S-01", "S-03", "S-02", "S-04", "S-01"], 2)
    # 5 distinct subjects in 2 ranges of 3 and 2; unbounded at both ends
    assert ranges == [SubjectRange(None, "S-04"), SubjectRange("S-04", None)]
    assert [r.holds("") for r in ranges] == [True, False] and [r.holds("Z") for r in ranges] == [False, True]
    assert subject_ranges(["A", "B"], 5) == [SubjectRange(None, "B"), SubjectRange("B", None)]
    assert subject_ranges([], 3) == [SubjectRange(None, None)]
    with pytest.raises(ValueError, match="at least 1 partition"):
        subject_ranges(["A"], 0)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _assert_same_output(partitioned: Path, whole: Path) -> None:
    """Every file of the output tree byte for byte, run.json aside (timings; its checksums must agree)."""
    import json

    mine, theirs = _files(partitioned), _files(whole)
    assert sorted(mine) == sorted(theirs)
    differing = [name for name in theirs if name != "run.json" and mine[name] != theirs[name]]
    assert not differing, f"differ from the unpartitioned run: {differing}"
    run = json.loads(mine["run.json"])
    assert run["files"] == json.loads(theirs["run.json"])["files"]
    assert run["inputs"]["partition_subjects"] is not None


def test_a_run_in_partitions_writes_the_files_of_the_whole_run(darpal_run, tmp_path):
    """40 subjects in partitions of 15: three partitions, each with its own subjects; TS ACTSUB, define.xml,
    the summary and the validation report come out as the whole run's."""
    from cdiscgen._pipeline import RunOptions, run_pipeline
    from tests.conftest import _QuietReporter

    result = run_pipeline(
        RunOptions(out_dir=tmp_path / "out", partition_subjects=15), reporter=_QuietReporter()
    )
    assert [s.name for s in result.stages][:3] == ["simulate", "sdtm", "adam"]
    _assert_same_output(tmp_path / "out", darpal_run)


def test_partitions_on_an_embedded_dask_cluster_write_the_files_of_the_whole_run(
    darpal_run, tmp_path, monkeypatch
):
    """`cdiscgen run --partition-subjects 15 --workers 2`: the three partitions are mapped, derived and
    validated (gathered, then judged) as tasks of a LocalCluster of two worker processes; every file is
    the whole run's."""
    import json

    from click.testing import CliRunner

    import cdiscgen._partitioned as partitioned
    import cdiscgen.validate._partitioned as validated
    from cdiscgen.cli import main

    seen = []
    in_order = partitioned.run_in_order

    def noting_the_cluster(function, calls, client=None):
        seen.append((function.__name__, len(calls), len(client.scheduler_info()["workers"]) if client else 0))
        return in_order(function, calls, client)

    monkeypatch.setattr(partitioned, "run_in_order", noting_the_cluster)
    monkeypatch.setattr(validated, "run_in_order", noting_the_cluster)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["-q", "run", "--partition-subjects", "15", "--workers", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    tasks = ["map_partition", "derive_partition", "gather_partition", "judge_partition"]
    assert seen == [(task, 3, 2) for task in tasks]
    _assert_same_output(out, darpal_run)
    assert json.loads((out / "run.json").read_text())["partitions_on"] == "2 local worker processes"


def test_the_pilot_in_partitions_on_an_existing_dask_cluster_writes_the_files_of_the_whole_run(
    pilot_run, tmp_path
):
    import json

    from dask.distributed import Client

    from cdiscgen._pipeline import RunOptions, run_pipeline
    from tests.conftest import _QuietReporter, dask_cluster_processes

    common = {
        "raw_dir": refdata_path("cdiscpilot01-raw", "raw"),
        "study_dir": REPO / "examples" / "cdiscpilot01",
    }
    with dask_cluster_processes(2) as address:
        options = RunOptions(out_dir=tmp_path / "parts", partition_subjects=100, scheduler=address, **common)
        run_pipeline(options, reporter=_QuietReporter())
        with Client(address) as client:  # what the cluster's scheduler ran
            ran = client.run_on_scheduler(
                lambda dask_scheduler: sorted(
                    {str(t[0]).split("-", 1)[0] for t in dask_scheduler.transition_log}
                )
            )
    assert {"map_partition", "derive_partition", "gather_partition", "judge_partition"} <= set(ran), ran
    _assert_same_output(tmp_path / "parts", pilot_run)
    assert json.loads((tmp_path / "parts" / "run.json").read_text())["partitions_on"] == address


def test_a_run_in_partitions_splits_large_datasets_and_says_an_empty_input_once_as_the_whole_run(
    study_copy, tmp_path
):
    """16 subjects in partitions of 6, with a file limit of 400 kB and no death reported (death.csv holds
    its header only): LB (split by LBCAT), ADLB (by PARAMCD) and ADEX (no split variable: slices of rows)
    are written as split parts, ADaM says once that DD has no records (every partition reads it), and
    every file is the whole run's, byte for byte."""
    import json

    from cdiscgen._pipeline import RunOptions, run_pipeline
    from cdiscgen.simulate import simulate_study
    from tests.conftest import _QuietReporter

    study = study_copy / "specs" / "study.yaml"
    text = study.read_text()
    assert text.count("fda: {encoding: ascii, max_file_bytes: 5368709120}") == 1
    study.write_text(text.replace("max_file_bytes: 5368709120}", "max_file_bytes: 400000}", 1))
    raw = tmp_path / "raw"
    simulate_study(raw, subjects=16, study_dir=study_copy)
    death = raw / "death.csv"
    death.write_text(death.read_text().splitlines(keepends=True)[0])
    common = {"raw_dir": raw, "study_dir": study_copy}
    run_pipeline(RunOptions(out_dir=tmp_path / "whole", **common), reporter=_QuietReporter())
    run_pipeline(
        RunOptions(out_dir=tmp_path / "parts", partition_subjects=6, **common), reporter=_QuietReporter()
    )
    split = sorted(p.name for p in (tmp_path / "whole").rglob("split/*.xpt"))
    assert {"lb1.xpt", "lb2.xpt", "adlb1.xpt", "adlb2.xpt", "adex1.xpt", "adex2.xpt"} <= set(split), split
    report = json.loads((tmp_path / "parts" / "validation" / "report.json").read_text())
    assert [f["dataset"] for f in report["findings"] if f["code"] == "ADM008"] == ["DD"]
    _assert_same_output(tmp_path / "parts", tmp_path / "whole")


def test_an_input_empty_for_a_partition_s_subjects_but_not_for_the_study_is_no_finding(darpal_run):
    """ADM008 (an SDTM input without records) judges the whole study: the subjects without a death
    record have no DD records, which is a finding for a study without DD records, not for a partition
    of one that has them (a partitioned run's report said it once per such partition)."""
    from adam import derive_adam, read_sdtm_folder

    study = load_study()
    sdtm = read_sdtm_folder(next(darpal_run.glob("m5/**/tabulations/sdtm")))
    died = set(sdtm["DD"]["USUBJID"])
    assert died and len(died) < len(sdtm["DM"])
    alive = {
        name: frame[~frame["USUBJID"].isin(died)].reset_index(drop=True)
        if "USUBJID" in frame.columns
        else frame
        for name, frame in sdtm.items()
    }
    records = {name: len(frame) for name, frame in sdtm.items()}

    def empty_inputs(**extra) -> set:
        result = derive_adam(alive, study.settings, study_dir=study.root, **extra)
        return {f.dataset for f in result.findings if f.code == "ADM008"}

    assert "DD" in empty_inputs()
    assert "DD" not in empty_inputs(study_records=records)
    assert "DD" in empty_inputs(study_records={**records, "DD": 0})


def test_workers_without_partitions_is_refused(tmp_path):
    from click.testing import CliRunner

    from cdiscgen.cli import main

    result = CliRunner().invoke(main, ["run", "--workers", "2", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "--partition-subjects" in result.output
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler_is_named_and_nothing_is_written(tmp_path):
    import socket

    import dask.config
    from click.testing import CliRunner

    from cdiscgen.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the socket is closed
    address = f"tcp://127.0.0.1:{port}"
    out = tmp_path / "out"
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):  # the default waits 30 s
        result = CliRunner().invoke(
            main, ["run", "--partition-subjects", "15", "--scheduler", address, "--out", str(out)]
        )
    assert result.exit_code == 2 and f"cannot reach the Dask scheduler {address}" in result.output
    assert not out.exists() or not any(out.iterdir())


def test_the_pilot_in_partitions_writes_the_files_of_the_whole_run(pilot_run, tmp_path):
    from cdiscgen._pipeline import RunOptions, run_pipeline
    from tests.conftest import _QuietReporter

    common = {
        "raw_dir": refdata_path("cdiscpilot01-raw", "raw"),
        "study_dir": REPO / "examples" / "cdiscpilot01",
    }
    run_pipeline(
        RunOptions(out_dir=tmp_path / "parts", partition_subjects=100, **common), reporter=_QuietReporter()
    )
    _assert_same_output(tmp_path / "parts", pilot_run)


def _source(form: str, subject="SUBJECT", steps=(), variables=None):
    from sdtm import SourceSpec

    return SourceSpec(form, ("RECORD_ID",), "RECORD_ID", subject, None, tuple(steps), variables or {}, 1)


def _merge(form: str, by: list[str]) -> dict:
    return {"merge": {"form": form, "by": by, "columns": ["X"]}}


def test_only_forms_whose_every_use_keeps_subjects_apart_are_split():
    """compute_split_columns against the rule of docs/partitioned-runs.md, case by case."""
    from sdtm import MappingSpec

    sources = [
        _source("plain.csv"),
        _source("plain.csv"),  # read twice with the same subject column: still split
        _source("dedup_by_subject.csv", steps=[{"deduplicate": {"keys": ["SUBJECT", "TEST"]}}]),
        _source("dedup_across.csv", steps=[{"deduplicate": {"keys": ["ACCESSION", "TEST"]}}]),
        _source(
            "merging.csv",
            steps=[_merge("merged_by_subject.csv", ["SUBJECT"]), _merge("lookup.csv", ["SITE"])],
        ),
        _source(
            "whole.csv", subject={"template": "{SITE}-{PATIENT}"}, steps=[_merge("follows.csv", ["SUBJECT"])]
        ),
        _source("renamed.csv", variables={"USUBJID": {"assign": "ID"}}),
        _source("two_columns.csv", subject="SUBJECT"),
        _source("two_columns.csv", subject="PATIENT"),
        _source("pid.csv", subject="PID"),
        # one use keeps subjects apart and merges a form by subject, another does not: both read whole
        _source("mixed.csv", steps=[_merge("mixed_child.csv", ["SUBJECT"])]),
        _source("mixed.csv", steps=[{"deduplicate": {"keys": ["ACCESSION"]}}]),
    ]
    specs = [MappingSpec("XX", Path("xx.yaml"), tuple(sources))]
    assert compute_split_columns(specs) == {
        "plain.csv": "SUBJECT",
        "dedup_by_subject.csv": "SUBJECT",
        "merging.csv": "SUBJECT",
        "merged_by_subject.csv": "SUBJECT",
        "pid.csv": "PID",
    }
