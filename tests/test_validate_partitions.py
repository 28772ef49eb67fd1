"""Validation one subject partition at a time (issue 16): the files of a study with defects spread over its
subjects, validated whole and in partitions of consecutive subjects, give the same findings (listed
records, the summaries past the limit, file names), the same rule runs and the same datasets."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cdiscgen._specs import load_study
from cdiscgen.export import XptVariable, read_xpt, write_xpt
from cdiscgen.validate import _partitioned as partitioned
from cdiscgen.validate import (
    list_rules,
    subject_record_ranges,
    validate_in_partitions,
    validate_submission,
    validate_within,
)
from tests.conftest import refdata_path

REPO = Path(__file__).resolve().parents[1]
STUDY = load_study(REPO)


def _folders(run: Path, tmp: Path) -> list[Path]:
    """A copy of the run's SDTM and ADaM folders (datasets and define.xml)."""
    copies = []
    for source in (
        next(run.glob("m5/datasets/*/tabulations/sdtm")),
        next(run.glob("m5/datasets/*/analysis/adam")),
    ):
        target = tmp / source.name
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.html", "*.xsl"))
        copies.append(target / "datasets" if (target / "datasets").is_dir() else target)
    return copies


def _rewrite(path: Path, change, lengths: dict[str, int] | None = None) -> None:
    """Read a transport file, change its frame, write it back with its own variables and stamps (character
    lengths those of the values, or `lengths`)."""
    frame, meta = read_xpt(path)
    frame = change(frame.copy())
    lengths = lengths or {}
    variables = [XptVariable(v.name, v.label, v.type, lengths.get(v.name), v.format) for v in meta.variables]
    path.unlink()
    write_xpt(frame, path, dataset=meta.dataset, label=meta.label, variables=variables, created=meta.created)


def _subjects(path: Path) -> list[str]:
    return sorted(set(read_xpt(path)[0]["USUBJID"]))


def _inject_defects(sdtm: Path, adam: Path) -> None:
    """Defects a partition could lose, repeat or judge alone: in every partition, in the last only, across
    subjects (a unit differing between subjects, a second test name of a test code, a second AVAL of an
    AVALC, the longest value of a variable stored longer, a SUBJID another subject has, a second ARM of an
    ARMCD, a value of a variable define.xml says has none, a second DM record of a subject), on the first
    row (DOMAIN), and in a study-level dataset."""
    subjects = _subjects(sdtm / "dm.xpt")
    last = subjects[-1]

    def lb(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[frame.index % 7 == 0, "LBTESTCD"] = ""  # required value null: hundreds, past the limit
        unit = frame.index[frame["LBSTRESU"] != ""][-1]
        frame.loc[unit, "LBSTRESU"] = "furlong"  # a unit differing within a test, in the last subject
        frame.loc[unit, "LBTEST"] = "Another name"  # a second LBTEST of that LBTESTCD
        frame.loc[frame.index[-1], "LBORRES"] = "x" * 30  # the longest LBORRES (stored in 60 bytes)
        return frame

    def vs(frame: pd.DataFrame) -> pd.DataFrame:
        first = frame.index[frame["USUBJID"] >= subjects[len(subjects) // 2]][0]
        frame.loc[first, "DOMAIN"] = "VX"  # the first row of a partition would decide another prefix
        return frame

    def ae(frame: pd.DataFrame) -> pd.DataFrame:
        row = frame.iloc[[-1]].copy()
        row["USUBJID"] = last[:-1] + "9"  # a subject not in DM, sorting last
        frame = pd.concat([frame, row, frame.iloc[[0]]], ignore_index=True)  # and a repeated record
        return frame.sort_values(["USUBJID"], kind="stable").reset_index(drop=True)

    def adsl(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[frame.index[-1], "AGE"] = frame["AGE"].iloc[-1] + 1  # ADSL no longer copies DM's age...
        return frame

    def dm(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[frame.index[-1], "SUBJID"] = frame["SUBJID"].iloc[0]  # SUBJID not unique in the study
        frame.loc[frame.index[-1], "ARM"] = "Another arm"  # ARMCD with a second ARM (one_to_one)
        frame.loc[frame.index[-1], "ACTARMUD"] = "Dose reduced"  # define.xml: HasNoData
        return pd.concat([frame, frame.iloc[[-1]]], ignore_index=True)  # a subject twice: not Repeating

    def adrs(frame: pd.DataFrame) -> pd.DataFrame:
        last_record = frame.index[frame["AVALC"] != ""][-1]
        frame.loc[last_record, "AVAL"] = 99.0  # a second AVAL of an AVALC within its PARAMCD
        return frame

    def adlb(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[frame.index % 5 == 1, "CHG"] = 9999.0  # ...and CHG is not AVAL - BASE, past the limit
        return frame

    def ts(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[0, "TSVAL"] = ""  # a study-level dataset, held whole by every partition
        frame.loc[0, "TSVALNF"] = ""
        return frame

    _rewrite(sdtm / "lb.xpt", lb, lengths={"LBORRES": 60})
    _rewrite(sdtm / "ae.xpt", ae)
    _rewrite(sdtm / "vs.xpt", vs)
    _rewrite(sdtm / "ts.xpt", ts)
    _rewrite(sdtm / "dm.xpt", dm)
    _rewrite(adam / "adsl.xpt", adsl)
    _rewrite(adam / "adlb.xpt", adlb)
    _rewrite(adam / "adrs.xpt", adrs)


def _subject_ranges(folders: list[Path], cuts: list[str]) -> list[dict[str, tuple[int, int]]]:
    """Per partition the rows of each file holding subjects below each cut (files sorted by USUBJID):
    computed here from the files, independently of the run that wrote them."""
    partitions: list[dict[str, tuple[int, int]]] = [{} for _ in range(len(cuts) + 1)]
    for folder in folders:
        for path in sorted(folder.glob("*.xpt")):
            frame, meta = read_xpt(path)
            if "USUBJID" not in frame.columns:
                continue
            subjects = frame["USUBJID"].to_numpy(dtype=str)
            assert (subjects[:-1] <= subjects[1:]).all(), f"{path.name} is not sorted by USUBJID"
            bounds = [0, *np.searchsorted(subjects, cuts).tolist(), len(frame)]
            for number, (start, stop) in enumerate(zip(bounds, bounds[1:], strict=False)):
                partitions[number][meta.dataset] = (start, stop)
    return partitions


def _copies(folders: list[Path], tmp: Path) -> list[Path]:
    """Copies of the folders under `tmp`, to change."""
    for folder in folders:
        shutil.copytree(folder, tmp / folder.name)
    return [tmp / folder.name for folder in folders]


def _key(f) -> tuple:
    return tuple("" if v is None else str(v) for v in f.as_dict().values())


def _assert_same(whole, parts) -> None:
    assert sorted(map(_key, parts.findings)) == sorted(map(_key, whole.findings))
    assert parts.runs == whole.runs
    assert parts.datasets == whole.datasets and parts.standards == whole.standards
    assert set(parts.timings) == set(whole.timings)


@pytest.fixture(scope="module")
def defective(darpal_run, tmp_path_factory) -> list[Path]:
    folders = _folders(darpal_run, tmp_path_factory.mktemp("defective"))
    _inject_defects(*folders)
    return folders


@pytest.mark.parametrize(
    ("count", "pass_records"),
    [(1, 200_000), (2, 1), (2, 3_000), (4, 200_000)],
    ids=["1", "2-alone", "2-grouped", "4"],
)
def test_partitions_of_a_study_with_defects_give_the_whole_findings(
    defective, count, pass_records, monkeypatch
):
    """In 1, 2 and 4 subject partitions; the rules comparing subjects in one pass, in a pass per dataset
    of subjects, and with the small ones grouped."""
    monkeypatch.setattr(partitioned, "PASS_RECORDS", pass_records)
    subjects = _subjects(defective[0] / "dm.xpt")
    cuts = [subjects[len(subjects) * k // count] for k in range(1, count)]
    whole = validate_submission(defective, study=STUDY, limit=3)
    codes = {f.code for f in whole.findings}
    # the defects reach rules of both kinds, past the limit, across partitions
    assert {"CDG0110", "CDG0506", "CDG0501", "CDG0402", "CDG1126", "CDG1113"} <= codes
    assert {"CDG0603", "CDG0902", "CDG0606", "CDG0108", "CDG1104", "CDG2514", "CDG2517", "CDG1308"} <= codes
    assert {"CDG1312", "CDG1306", "CDG1311"} <= codes
    assert any(f.message.endswith("are not listed") for f in whole.findings if f.code == "CDG0110")
    parts = validate_in_partitions(defective, _subject_ranges(defective, cuts), study=STUDY, limit=3)
    _assert_same(whole, parts)


@pytest.mark.parametrize("code", ["CDG0603", "CDG0402"], ids=["study-rule", "subject-rule"])
def test_a_rule_crashing_on_some_records_only_is_reported_as_in_the_whole_run(defective, code, monkeypatch):
    """A rule that fails on LB's records fails in one pass or partition only: its CDG0001 finding and its
    failed run are those of the whole run, not dropped with the findings that pass does not own."""
    from cdiscgen.validate import _registry

    original = _registry.get_rule(code)

    def crash(ctx, rule):
        yield from original.check(ctx, rule)
        if "LB" in ctx.datasets and len(ctx.datasets.get_quietly("LB")) > 100:
            raise RuntimeError("cannot read LB")

    monkeypatch.setitem(_registry._REGISTRY, code, _registry.Rule(original.info, crash))
    subjects = _subjects(defective[0] / "dm.xpt")
    whole = validate_submission(defective, study=STUDY, limit=3)
    assert whole.runs[code].status == "failed" and whole.runs["CDG0001"].findings == 1
    parts = validate_in_partitions(
        defective, _subject_ranges(defective, [subjects[20]]), study=STUDY, limit=3
    )
    _assert_same(whole, parts)


def test_the_rules_of_subjects_are_most_of_the_catalogue():
    """What runs per partition: every rule but those comparing subjects, whole datasets or define.xml."""
    by_kind = {str(r.partition) for r in list_rules()}
    assert by_kind == {"subject", "summarised", "study"}
    of = {kind: {r.code for r in list_rules() if str(r.partition) == kind} for kind in by_kind}
    summarised = {"CDG0108", "CDG0603", "CDG0606", "CDG1103", "CDG1104", "CDG2507", "CDG2517", "CDG1308"}
    assert summarised | {"CDG1312"} <= of["summarised"]
    assert of["study"] == partitioned.RUNNER_RULES  # no rule needs a dataset of subjects whole
    assert not {"CDG0110", "CDG0301", "CDG0401", "CDG0501", "CDG0801", "CDG2101"} & (
        of["study"] | of["summarised"]
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p[1].pop("LB"), "partition 2 gives no records of LB"),
        (lambda p: p[1].update(LB=(p[1]["LB"][0] + 1, p[1]["LB"][1])), "partition 2 gives records"),
        (lambda p: p[-1].update(LB=(p[-1]["LB"][0], p[-1]["LB"][1] - 1)), "its file holds"),
        (lambda p: [q.pop("AE") for q in p], r"AE hold\(s\) USUBJID but no partition gives its records"),
    ],
    ids=["missing", "gap", "short", "unranged"],
)
def test_partition_ranges_that_lose_or_repeat_records_are_refused(defective, change, message):
    subjects = _subjects(defective[0] / "dm.xpt")
    partitions = _subject_ranges(defective, [subjects[10], subjects[20]])
    change(partitions)
    with pytest.raises(ValueError, match=message):
        validate_in_partitions(defective, partitions, study=STUDY)


def test_the_index_reads_each_file_in_blocks_and_finds_what_a_whole_read_finds(
    defective, tmp_path, monkeypatch
):
    """read_folder(variables_only=True), the index of a partitioned validation, reads a file a block of
    records at a time (a large file is never whole in memory): its variables, metadata and notes are those
    of reading it whole, for a cp1252 byte in the last block, a version 8 file and a truncated file."""
    import pyreadstat

    from cdiscgen.validate import _runner

    folder = tmp_path / "sdtm"
    shutil.copytree(defective[0], folder)
    data = (folder / "lb.xpt").read_bytes()
    at = data.rfind(b"DARPAL-")
    (folder / "lb.xpt").write_bytes(data[: at + 6] + b"\x92" + data[at + 7 :])  # in the last record
    (folder / "ts.xpt").write_bytes((folder / "ts.xpt").read_bytes()[:400])
    frame = pd.DataFrame({"STUDYID": ["S1"], "USUBJID": ["S1-001"], "AGE": [61.0]})
    pyreadstat.write_xport(frame, str(folder / "xx.xpt"), table_name="XX", file_format_version=8)
    monkeypatch.setattr(_runner, "INDEX_RECORDS", 1000)  # LB's 7,000-odd records in blocks

    frames, metas, files, notes = _runner.read_folder(folder)
    index, index_metas, index_files, index_notes = _runner.read_folder(folder, variables_only=True)
    assert [f.as_dict() for f in index_notes] == [f.as_dict() for f in notes]
    assert {f.code for f in notes} == {"CDG0002", "CDG0003", "CDG0004"}
    assert index_files == files and sorted(index) == sorted(frames)
    assert metas["LB"].records > 5 * _runner.INDEX_RECORDS
    for name, whole in frames.items():
        assert len(index[name]) == 0 and index[name].dtypes.to_dict() == whole.dtypes.to_dict(), name
        assert index_metas[name] == metas[name], name


def test_partitions_cut_from_the_files_hold_the_records_of_their_subjects(defective):
    subjects = _subjects(defective[0] / "dm.xpt")
    assert subject_record_ranges(defective, 10) == _subject_ranges(defective, subjects[10::10])
    assert len(subject_record_ranges(defective, 1)) == len(subjects)


def test_a_file_out_of_usubjid_order_cannot_be_cut(defective, tmp_path):
    folders = _copies(defective, tmp_path)
    _rewrite(folders[0] / "ae.xpt", lambda frame: frame.iloc[::-1].reset_index(drop=True))
    with pytest.raises(ValueError, match=r"ae\.xpt: record 2 .* not in USUBJID order"):
        subject_record_ranges(folders, 10)


def test_a_subject_whose_records_are_apart_is_named_with_the_record_that_comes_back(defective, tmp_path):
    folders = _copies(defective, tmp_path)
    first = read_xpt(folders[0] / "lb.xpt")[0]
    back, before = first["USUBJID"].iloc[0], first["USUBJID"].iloc[-1]
    assert back < before  # sorted: the first subject's first record, moved to the end, comes back
    _rewrite(
        folders[0] / "lb.xpt", lambda frame: pd.concat([frame.iloc[1:], frame.iloc[:1]], ignore_index=True)
    )
    with pytest.raises(ValueError, match=rf"lb\.xpt: record {len(first):,} \({back}\) comes after {before}:"):
        subject_record_ranges(folders, 10)


def test_cdiscgen_validate_in_partitions_writes_the_whole_report(defective, tmp_path):
    """`cdiscgen validate FOLDER --partition-subjects N` on the package (SDTM and ADaM folders with their
    define.xml), in this process and on an embedded Dask cluster of two workers (the summaries gathered
    by the workers, combined, judged by them): the findings and rule runs of the report are those of
    validating it whole."""
    import json

    from click.testing import CliRunner

    from cdiscgen.cli import main

    root = defective[0].parent
    reports = {}
    cluster = ["--partition-subjects", "12", "--workers", "2"]
    for label, extra in (("whole", []), ("parts", ["--partition-subjects", "12"]), ("cluster", cluster)):
        args = ["validate", str(root), "--report", str(tmp_path / label), "--format", "json", *extra]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, result.output  # the defects are errors
        reports[label] = json.loads((tmp_path / label / "report.json").read_text())
    for label in ("parts", "cluster"):
        assert reports[label]["findings"] == reports["whole"]["findings"], label
        assert reports[label]["summary"] == reports["whole"]["summary"], label


def test_another_studys_package_without_its_specs_validates_in_partitions_as_whole():
    """The CDISC pilot's SDTM and ADaM files (another sponsor's package, no study metadata): the STUDYID
    the study uses comes from DM across the partitions (CDG0505), and every finding is the whole run's."""
    folders = [refdata_path("cdiscpilot01", "sdtm"), refdata_path("cdiscpilot01", "adam")]
    whole = validate_submission(folders, study=None, limit=5)
    parts = validate_in_partitions(folders, subject_record_ranges(folders, 60), study=None, limit=5)
    assert len(subject_record_ranges(folders, 60)) > 3 and len(whole.findings.items) > 0
    _assert_same(whole, parts)


def test_without_study_metadata_the_study_s_studyid_is_dms_most_frequent_over_all_partitions(
    defective, tmp_path
):
    """CDG0505 without a study: the STUDYID most of DM's records carry. Seven of the first partition's ten
    subjects carry another one: judged alone, that partition would take theirs for the study's."""
    folders = _copies(defective, tmp_path)

    def dm(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[frame.index[:7], "STUDYID"] = "OTHER"
        return frame

    _rewrite(folders[0] / "dm.xpt", dm)
    whole = validate_submission(folders, study=None, limit=3)
    assert {f.value for f in whole.findings if f.code == "CDG0505" and f.dataset == "DM" and f.usubjid} == {
        "OTHER"
    }
    parts = validate_in_partitions(folders, subject_record_ranges(folders, 10), study=None, limit=3)
    _assert_same(whole, parts)


def test_a_registered_rule_goes_between_processes_by_its_code():
    """What a Dask worker returns about a partition names its rules: each registered rule unpickles as the
    registry's own (192 rules written as data have closures that pickle could not carry); a rule made
    outside the registry is pickled as it is."""
    import pickle
    from dataclasses import replace

    from cdiscgen.validate._registry import get_rule, iter_rules

    rules = list(iter_rules())
    assert all(pickle.loads(pickle.dumps(r)) is r for r in rules)
    own = replace(get_rule("CDG0505"))
    copy = pickle.loads(pickle.dumps(own))
    assert copy is not get_rule("CDG0505") and copy == own


def test_a_package_larger_than_whole_bytes_is_validated_in_partitions_with_the_whole_findings(
    defective, tmp_path, monkeypatch
):
    """validate_within (the whole run's and `cdiscgen validate`'s validation): files holding three times
    `whole_bytes` are validated in three subject partitions, files within it whole, files out of USUBJID
    order or unreadable whole (the unreadable one a CDG0002 finding); each gives validate_submission's
    findings and rule runs."""
    calls: list[int] = []
    original = partitioned.validate_in_partitions

    def counted(folders, partitions, **kwargs):
        calls.append(len(partitions))
        return original(folders, partitions, **kwargs)

    monkeypatch.setattr(partitioned, "validate_in_partitions", counted)
    size = sum(path.stat().st_size for folder in defective for path in folder.glob("*.xpt"))
    whole = validate_submission(defective, study=STUDY, limit=3)
    _assert_same(whole, validate_within(defective, study=STUDY, whole_bytes=size // 3 + 1, limit=3))
    assert calls == [3]
    _assert_same(whole, validate_within(defective, study=STUDY, whole_bytes=size, limit=3))
    assert calls == [3]
    folders = _copies(defective, tmp_path)
    _rewrite(folders[0] / "ae.xpt", lambda frame: frame.iloc[::-1].reset_index(drop=True))
    unsorted = validate_within(folders, study=STUDY, whole_bytes=size // 3 + 1, limit=3)
    assert calls == [3]
    _assert_same(validate_submission(folders, study=STUDY, limit=3), unsorted)
    (folders[0] / "ae.xpt").write_bytes((folders[0] / "ae.xpt").read_bytes()[:900])  # truncated
    unreadable = validate_within(folders, study=STUDY, whole_bytes=size // 3 + 1, limit=3)
    assert calls == [3] and "CDG0002" in {f.code for f in unreadable.findings}
    _assert_same(validate_submission(folders, study=STUDY, limit=3), unreadable)
