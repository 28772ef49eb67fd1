"""`cdiscgen run` end to end: the output tree, run.json, byte-identical reruns, and a failed or
interrupted run leaving the previous output untouched."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cdiscgen._pipeline import RunOptions, StageError, run_pipeline
from cdiscgen.cli import main

# DESIGN.md: everything is reproducible except run.json's timings (report.xlsx is too, since its zip and
# document stamps carry the run's creation time instead of the wall clock).
NOT_REPRODUCIBLE: set[str] = set()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256(p) for p in sorted(root.rglob("*")) if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".partial" in p.name or ".previous" in p.name)


@pytest.fixture(scope="module")
def first_run(darpal_run) -> Path:
    """The session's default run (read-only)."""
    return darpal_run


def test_output_tree_holds_every_part(first_run):
    sdtm = first_run / "m5/datasets/darpal/tabulations/sdtm"
    adam = first_run / "m5/datasets/darpal/analysis/adam/datasets"
    for name in [
        "dm",
        "ex",
        "lb",
        "rs",
        "qs",
        "ds",
        "cm",
        "ts",
        "ta",
        "te",
        "tv",
        "ti",
        "se",
        "sv",
        "suppdm",
        "supprs",
    ]:
        assert (sdtm / f"{name}.xpt").is_file(), name
        assert (first_run / "json" / f"{name}.json").is_file(), name
        assert (first_run / "json" / f"{name}.ndjson").is_file(), name
    for name in ["adsl", "adlb", "adrs", "adtte"]:
        assert (adam / f"{name}.xpt").is_file(), name
    for folder in (sdtm, adam):
        assert {"define.xml", "define.html", "define2-1.xsl"} <= {p.name for p in folder.iterdir()}
    # the traceability files are the sponsor's, outside m5: the submission folders hold submission files only
    assert (first_run / "trace" / "lb.trace.csv").is_file()
    submitted = {p.suffix for p in (first_run / "m5").rglob("*") if p.is_file()}
    assert submitted == {".xpt", ".xml", ".html", ".xsl"}
    assert {p.name for p in (first_run / "analysis").iterdir()} >= {"summary.json", "summary.html"}
    assert {p.name for p in (first_run / "validation").iterdir()} >= {
        "report.json",
        "report.xlsx",
        "report.html",
    }
    assert (first_run / "raw" / "central_lab.csv").is_file()


def test_raw_drawn_in_blocks_of_subjects_maps_cleanly_and_loses_no_record(tmp_path):
    """The simulator draws a large study in blocks (other draws, same rules): the package built from a
    40-subject study drawn in blocks of 6 has no error or warning, and the only raw records dropped as
    duplicates (MAP005) are the rows the raw files really repeat (sample numbers that restarted in each
    block would make records of different samples look repeated)."""
    import pandas as pd

    from cdiscgen.simulate import simulate_study
    from tests.conftest import _QuietReporter

    raw = simulate_study(tmp_path / "raw", subjects=40, block_subjects=6)
    run_pipeline(RunOptions(out_dir=tmp_path / "out", raw_dir=raw.out_dir), reporter=_QuietReporter())
    summary = json.loads((tmp_path / "out/validation/report.json").read_text())["summary"]
    assert summary["by_severity"]["error"] == summary["by_severity"]["warning"] == 0
    repeated = sum(
        int(pd.read_csv(path, dtype=str, keep_default_na=False).drop(columns="RECORD_ID").duplicated().sum())
        for path in raw.files.values()
    )
    assert repeated > 0 and summary["by_code"]["MAP005"] == repeated


def test_run_json_records_inputs_versions_stages_and_checksums(first_run):
    doc = json.loads((first_run / "run.json").read_text())
    assert (
        doc["inputs"]["simulated"] is True
        and doc["inputs"]["seed"] == 20240101
        and doc["inputs"]["subjects"] == 40
    )
    assert {"cdiscgen", "pandas", "numpy", "pyreadstat", "lxml", "scipy"} <= set(doc["versions"])
    names = [s["name"] for s in doc["stages"]]
    # the SDTM package is written and described before ADaM is derived (the SDTM datasets are then let go);
    # Dataset-JSON is written beside the stages after each export, and waited for before validation
    assert names == [
        "simulate", "sdtm", "export-sdtm", "define-sdtm", "adam", "export-adam", "define-adam", "summary",
        "dataset-json", "validate", "report",
    ]  # fmt: skip
    assert all(s["seconds"] >= 0 for s in doc["stages"])
    sdtm_stage = next(s for s in doc["stages"] if s["name"] == "sdtm")
    assert sdtm_stage["rows"] > 1000
    # every file but run.json itself is listed with its real SHA-256
    files = {p for p in tree(first_run) if p != "run.json"}
    assert set(doc["files"]) == files
    for rel in ["m5/datasets/darpal/tabulations/sdtm/lb.xpt", "analysis/summary.json"]:
        assert doc["files"][rel] == sha256(first_run / rel)


def test_rerun_is_byte_identical(first_run, tmp_path):
    second = tmp_path / "out"
    run_pipeline(RunOptions(out_dir=second))
    one = json.loads((first_run / "run.json").read_text())["files"]
    two = json.loads((second / "run.json").read_text())["files"]
    assert set(one) == set(two)
    differing = sorted(k for k in one if one[k] != two[k] and k not in NOT_REPRODUCIBLE)
    assert differing == []


def _failed_run_over(first_run: Path, tmp_path: Path) -> StageError:
    """The error of a run into a copy of the first run's output that fails, once the copy is found as it was
    and no temporary folder is left."""
    out = tmp_path / "out"
    shutil.copytree(first_run, out)
    before = tree(out)
    with pytest.raises(StageError) as info:
        run_pipeline(RunOptions(out_dir=out))
    assert tree(out) == before
    assert leftovers(tmp_path) == []
    return info.value


def test_failed_stage_keeps_previous_output(first_run, tmp_path, monkeypatch):
    import adam

    def broken(*args, **kwargs):
        raise ValueError("ADSL.TRTSDT: malformed date for USUBJID DARPAL-101-001")

    monkeypatch.setattr(adam, "derive_adam", broken)
    error = _failed_run_over(first_run, tmp_path)
    assert error.stage == "adam" and "DARPAL-101-001" in str(error)


def test_a_define_html_that_fails_to_render_fails_the_define_stage(first_run, tmp_path, monkeypatch):
    # define.html is rendered beside the later stages: its failure still fails the run, as the define stage
    import define._write

    def broken(xml):
        raise ValueError("the define2-1.xsl transformation failed: no ItemGroupDef")

    monkeypatch.setattr(define._write, "compute_define_html", broken)
    error = _failed_run_over(first_run, tmp_path)
    assert error.stage == "define-sdtm" and "no ItemGroupDef" in str(error)


def test_a_dataset_json_file_that_fails_fails_the_run_and_keeps_the_previous_output(
    first_run, tmp_path, monkeypatch
):
    # Dataset-JSON is written beside the later stages: a dataset whose JSON fails still fails the run
    import cdiscgen._publish

    real = cdiscgen._publish._write_json

    def broken(frame, spec, *args, **kwargs):
        if spec.name == "VS":
            raise ValueError("VS.VSSTRESN row 3: not a finite number")
        return real(frame, spec, *args, **kwargs)

    monkeypatch.setattr(cdiscgen._publish, "_write_json", broken)
    error = _failed_run_over(first_run, tmp_path)
    assert error.stage == "dataset-json" and "VS.VSSTRESN row 3" in str(error)


def test_cli_reports_the_failing_stage(tmp_path, monkeypatch):
    import sdtm

    def broken(*args, **kwargs):
        raise ValueError("central_lab.csv row 12: column RESULT missing")

    monkeypatch.setattr(sdtm, "run_sdtm", broken)
    result = CliRunner().invoke(main, ["run", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "stage 'sdtm' failed" in result.output and "central_lab.csv row 12" in result.output
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []


def test_refuses_to_replace_a_foreign_folder(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.docx").write_text("precious")
    result = CliRunner().invoke(main, ["run", "--out", str(out)])
    assert result.exit_code == 2 and "refusing to replace it" in result.output
    assert (out / "thesis.docx").read_text() == "precious"


def test_raw_and_simulation_options_exclude_each_other(tmp_path):
    result = CliRunner().invoke(
        main, ["run", "--raw", str(tmp_path), "--seed", "3", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "--seed" in result.output


def _sigint_as_at_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_sigint_mid_stage_leaves_previous_output_and_no_temporary_folder(first_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(first_run, out)
    before = tree(out)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cdiscgen.cli", "run", "--out", str(out)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        # a shell that starts the suite in the background (`make test &`) hands its children SIGINT
        # ignored, and Python then installs no Ctrl-C handler: the child gets Ctrl-C as a terminal would
        preexec_fn=_sigint_as_at_a_terminal,
    )
    deadline = time.monotonic() + 60
    seen = ""
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen += line
        if "stage sdtm: started" in line or not line:
            break
    assert "stage sdtm: started" in seen, seen
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    assert proc.returncode == 130
    assert tree(out) == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--subjects", "0"], "0"),
        (["--subjects", "-5"], "-5"),
        (["--subjects", "2.5"], "2.5"),
        (["--sites", "0"], "0"),
    ],
)
def test_simulate_rejects_bad_numbers_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "raw"
    result = CliRunner().invoke(main, ["simulate", "--out", str(out), *args])
    assert result.exit_code == 2 and message in result.output
    assert not out.exists()


def test_simulate_rejects_an_output_path_that_is_a_file(tmp_path):
    target = tmp_path / "raw.csv"
    target.write_text("keep")
    result = CliRunner().invoke(main, ["simulate", "--out", str(target)])
    assert result.exit_code == 2 and str(target) in result.output
    assert target.read_text() == "keep"


def test_checksums_taken_after_a_stage_are_those_of_the_files_at_the_end(tmp_path):
    from cdiscgen._atomic import write_bytes_atomic
    from cdiscgen._pipeline import _Checksums

    (tmp_path / "m5").mkdir()
    kept, replaced, grown, gone = (
        tmp_path / "m5" / n for n in ("kept.xpt", "replaced.xpt", "grown.csv", "gone.csv")
    )
    for path in (kept, replaced, grown, gone):
        path.write_bytes(b"first " + path.name.encode())
    (tmp_path / "run.json").write_text("{}")
    with _Checksums(tmp_path) as checksums:
        checksums.take_written()  # hashed on its thread from here
        for _, hashed in checksums._taken.values():
            hashed.result()  # (the changes below come after the hashing)
        before = replaced.stat()
        write_bytes_atomic(replaced, b"other " + replaced.name.encode())  # same size, another file ...
        os.utime(replaced, ns=(before.st_atime_ns, before.st_mtime_ns))  # ... in the same clock tick
        with grown.open("ab") as handle:
            handle.write(b" and more")
        gone.unlink()
        added = tmp_path / "validation" / "report.json"
        added.parent.mkdir()
        added.write_text("[]")
        files = checksums.by_path()
    assert files == {
        str(p.relative_to(tmp_path)): sha256(p) for p in (kept, replaced, grown, added)
    }  # run.json is not listed; the gone file neither
    assert files["m5/replaced.xpt"] != hashlib.sha256(b"first replaced.xpt").hexdigest()


def test_a_file_being_written_is_not_hashed_until_it_has_its_name(tmp_path):
    from cdiscgen._atomic import is_being_written, open_atomic
    from cdiscgen._pipeline import _Checksums

    final = tmp_path / "json" / "lb.json"
    final.parent.mkdir()
    with _Checksums(tmp_path) as checksums, open_atomic(final) as handle:
        handle.write(b"[1,")
        handle.flush()
        (partial,) = final.parent.iterdir()  # open_atomic's temporary file, under its own name
        assert is_being_written(partial) and not is_being_written(final)
        checksums.take_written()  # a stage ends while the file is being written
        assert checksums._taken == {}
        handle.write(b"2]")
    assert not is_being_written(final) and checksums.by_path() == {"json/lb.json": sha256(final)}
