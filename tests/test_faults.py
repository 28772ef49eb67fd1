"""Fault injection (issue 12, first part): hostile YAML, outputs over inputs, concurrent runs, stale
temporary trees, a full disk during simulate, Ctrl-C in any command, and signals during the output swap.
Each case: a named error (exit 2, or 130 for an interrupt), no traceback, nothing half-written left."""

from __future__ import annotations

import csv
import errno
import json
import logging
import os
import shutil
import signal
from datetime import date, timedelta

import pytest
from click.testing import CliRunner

import cdiscgen._atomic as atomic
import cdiscgen._pipeline as pipeline
import cdiscgen.simulate._api as simulate_api
from cdiscgen._atomic import output_lock
from cdiscgen._findings import Findings
from cdiscgen.cli import main


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def stages_copied_from(tree):
    """A stand-in for the pipeline's stages that puts the files of a complete earlier run (all but its
    run.json, which the pipeline writes) into the temporary tree. For the tests of what happens around
    the stages (the output lock, the swap, the clean-up), where running the stages would only be slower."""

    def stages(options, study, work, reporter, after_stage=lambda: None):
        for item in sorted(tree.iterdir()):
            if item.name != "run.json":
                (shutil.copytree if item.is_dir() else shutil.copy2)(item, work / item.name)
        after_stage()  # the files are hashed while the run goes on, as after a stage
        return pipeline.RunResult(out_dir=work)

    return stages


def folder_copied_from(folder):
    """A stand-in for what `cdiscgen sdtm` or `adam` writes into its temporary folder: the files of a
    complete earlier output of that command. For the tests of the swap, where computing them is slower."""

    def write(*args):
        work = args[-2]
        for item in sorted(folder.iterdir()):
            (shutil.copytree if item.is_dir() else shutil.copy2)(item, work / item.name)
        return Findings([])

    return write


def assert_named_error(result, *parts: str, code: int = 2) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    for part in parts:
        assert part in result.output, (part, result.output)


# ------------------------------------------------------------------------------------------------ YAML


def test_alias_bomb_in_study_yaml_is_refused_naming_the_file(study_copy):
    path = study_copy / "specs" / "study.yaml"
    bomb = 'lol0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    bomb += "".join(f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10))
    path.write_text(path.read_text() + bomb)
    result = invoke("check-specs", "--study", str(study_copy))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "study.yaml" in result.output and "aliases expand" in result.output
    assert len(result.output) < 5000  # the expanded value is never echoed


def test_deeply_nested_and_non_utf8_yaml_are_named_errors(study_copy):
    mapping = study_copy / "mappings" / "zz.yaml"
    mapping.write_text("x: " + "[" * 20000 + "]" * 20000 + "\n")
    assert_named_error(invoke("check-specs", "--study", str(study_copy)), "zz.yaml", "nested deeper")
    mapping.write_bytes(b"dataset: CM\n# caf\xe9\n")
    assert_named_error(invoke("check-specs", "--study", str(study_copy)), "zz.yaml:2", "not UTF-8", "0xe9")


# ------------------------------------------------------------------------------------- output folders


def test_run_refuses_an_output_folder_that_holds_its_raw_input(tmp_path, small_run):
    out = tmp_path / "out"
    shutil.copytree(small_run, out)
    raw_files = sorted(p.name for p in (out / "raw").iterdir())
    result = invoke("run", "--raw", str(out / "raw"), "--out", str(out))
    assert_named_error(result, "overlap", "--raw")
    assert sorted(p.name for p in (out / "raw").iterdir()) == raw_files


def test_a_second_run_to_the_same_output_is_refused_while_the_first_holds_it(tmp_path):
    raw = tmp_path / "raw"
    assert invoke("simulate", "--out", str(raw)).exit_code == 0
    out = tmp_path / "sdtm"
    with output_lock(out):
        result = invoke("sdtm", "--raw", str(raw), "--out", str(out), "--report", str(tmp_path / "r"))
    assert_named_error(result, "being written by another cdiscgen run", f"PID {os.getpid()}")
    assert not out.exists()
    assert not list(tmp_path.glob(".sdtm.*"))  # no lock file or temporary tree left


def test_temporary_trees_of_a_killed_run_are_removed_by_the_next_one(tmp_path, small_run, monkeypatch):
    stale = tmp_path / f".out.partial-{2**22 + 12345}"  # above the kernel's pid_max default: no such process
    (stale / "m5").mkdir(parents=True)
    monkeypatch.setattr(pipeline, "_run_stages", stages_copied_from(small_run))
    assert invoke("run", "--out", str(tmp_path / "out"), "--subjects", "8").exit_code == 0
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_simulate_on_a_full_disk_leaves_the_previous_raw_folder_as_it_was(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    assert invoke("simulate", "--out", str(raw), "--seed", "1").exit_code == 0
    before = {p.name: p.read_bytes() for p in raw.iterdir()}
    real = simulate_api._append_block
    written = []

    def fill_up(form, name, handle, **kwargs):
        if len(written) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(name)
        return real(form, name, handle, **kwargs)

    monkeypatch.setattr(simulate_api, "_append_block", fill_up)
    result = invoke("simulate", "--out", str(raw), "--seed", "2")
    assert_named_error(result, "no space left", str(raw))
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == before  # not a mix of two runs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


# ------------------------------------------------------------------------------------------- signals


@pytest.mark.parametrize("command", ["sdtm", "validate"])
def test_ctrl_c_in_a_command_exits_130_with_a_message(command, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    if command == "sdtm":
        import sdtm

        monkeypatch.setattr(sdtm, "run_sdtm", interrupted)
        (tmp_path / "raw").mkdir()
        args = [
            "sdtm",
            "--raw",
            str(tmp_path / "raw"),
            "--out",
            str(tmp_path / "o"),
            "--report",
            str(tmp_path / "r"),
        ]
    else:
        import cdiscgen._stages as stages

        monkeypatch.setattr(stages, "run_validate_stage", interrupted)
        args = ["validate", str(tmp_path), "--report", str(tmp_path / "r")]
    result = invoke(*args)
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output and "Aborted!" not in result.output


def test_a_signal_during_the_swap_waits_until_out_is_the_complete_new_tree(
    tmp_path, monkeypatch, small_run, small_run_seed2
):
    out = tmp_path / "out"
    shutil.copytree(small_run, out)
    monkeypatch.setattr(pipeline, "_run_stages", stages_copied_from(small_run_seed2))
    real_exchange = atomic.exchange_paths
    calls = []

    def exchange_after_a_signal(a, b):
        calls.append((a, b))
        os.kill(os.getpid(), signal.SIGINT)  # arrives while the trees are being swapped
        return real_exchange(a, b)

    monkeypatch.setattr(atomic, "exchange_paths", exchange_after_a_signal)
    result = invoke("run", "--out", str(out), "--seed", "2", "--subjects", "8")
    assert len(calls) == 1
    assert result.exit_code == 130 and "new output was in place" in result.output
    assert json.loads((out / "run.json").read_text())["inputs"]["seed"] == 2  # the complete new tree
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no .previous or .partial left


KILL_AT = """
import os, shutil, signal, sys
from pathlib import Path
import cdiscgen._atomic as a
import cdiscgen._pipeline as p
import cdiscgen._stages as st
from cdiscgen.cli import main
from tests.test_faults import folder_copied_from, stages_copied_from
step, out, stages_from, command = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
if stages_from:  # the files of a complete seed-2 output in place of the stages that would make them
    p._run_stages = stages_copied_from(Path(stages_from))
    st._write_sdtm_folder = st._write_adam_folder = folder_copied_from(Path(stages_from))
swapped = []
real_exchange, real_rmtree, real_replace = a.exchange_paths, shutil.rmtree, os.replace
def die():
    os.kill(os.getpid(), signal.SIGKILL)
def exchange(a, b):
    if step == "before-swap":
        die()
    if step == "no-exchange":
        return False
    done = real_exchange(a, b)
    swapped.append(b)
    if step == "after-swap":
        die()
    return done
def replace(a, b):
    if step == "no-exchange" and ".previous-" in str(b):
        real_replace(a, b)
        die()  # between the two renames of the fallback
    return real_replace(a, b)
def old_tree(path):  # the old tree, once swapped out of the way (it sits where the new one was built)
    return bool(swapped) and os.path.basename(str(path)).startswith("." + os.path.basename(out) + ".")
def rmtree(path, *args, **kwargs):
    if step == "while-removing-old" and old_tree(path):
        for child in sorted(os.listdir(path))[:2]:
            real_rmtree(os.path.join(path, child), ignore_errors=True)
        die()
    return real_rmtree(path, *args, **kwargs)
a.exchange_paths = exchange
os.replace = replace
a.shutil.rmtree = rmtree
main(["-q", *command, "--out", out])
"""


def kill_during_swap(step: str, out, command: list[str], stages_from="") -> None:
    """Run `cdiscgen COMMAND --out OUT` in a child process that SIGKILLs itself at `step` of the swap."""
    import subprocess
    import sys

    from tests.conftest import REPO

    proc = subprocess.run(
        [sys.executable, "-c", KILL_AT, step, str(out), str(stages_from), *command],
        capture_output=True,
        timeout=300,
        cwd=REPO,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()


STEPS = ["before-swap", "after-swap", "while-removing-old", "no-exchange"]


def complete_run(out) -> int:
    """The seed of the complete tree at `out` (every file run.json lists is there with its checksum)."""
    import hashlib

    run = json.loads((out / "run.json").read_text())
    for rel, digest in run["files"].items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest, rel
    return run["inputs"]["seed"]


@pytest.mark.parametrize("step", STEPS)
def test_a_kill_at_any_step_of_the_swap_leaves_out_a_complete_old_or_new_tree(
    step, tmp_path, monkeypatch, small_run, small_run_seed2
):
    out = tmp_path / "out"
    shutil.copytree(small_run, out)
    assert complete_run(out) == 1
    kill_during_swap(step, out, ["run", "--seed", "2", "--subjects", "8"], stages_from=small_run_seed2)
    if step == "no-exchange":
        # without an atomic exchange a kill between the renames leaves the complete old tree beside out/
        (previous,) = tmp_path.glob(".out.previous-*")
        assert not out.exists() and complete_run(previous) == 1
        with output_lock(out):  # what the next run does first: put the old tree back
            pass
    assert complete_run(out) == (1 if step in ("before-swap", "no-exchange") else 2)
    # the next run removes what the killed one left beside out/
    monkeypatch.setattr(pipeline, "_run_stages", stages_copied_from(small_run))
    assert invoke("run", "--out", str(out), "--seed", "3", "--subjects", "8").exit_code == 0
    assert complete_run(out) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# ------------------------------------------------------------------------------------ bad raw data


@pytest.fixture(scope="module")
def raw_forms(tmp_path_factory):
    folder = tmp_path_factory.mktemp("raw")
    assert invoke("simulate", "--out", str(folder), "--subjects", "8").exit_code == 0
    return folder


def broken_copy(raw_forms, tmp_path, form: str, edit) -> tuple:
    raw = tmp_path / "raw"
    shutil.copytree(raw_forms, raw)
    path = raw / form
    edit(path)
    out = tmp_path / "sdtm"
    result = invoke(
        "sdtm", "--raw", str(raw), "--out", str(out), "--report", str(tmp_path / "rep"), "--format", "json"
    )
    report = tmp_path / "rep" / "report.json"
    findings = json.loads(report.read_text())["findings"] if report.exists() else []
    return result, findings, out


def edit_cell(path, row: int, column: str, value: str) -> None:
    lines = path.read_text().split("\n")
    header = lines[0].split(",")
    cells = lines[row].split(",")
    cells[header.index(column)] = value
    lines[row] = ",".join(cells)
    path.write_text("\n".join(lines))


def test_ragged_rows_are_kept_and_named(raw_forms, tmp_path):
    def edit(path):
        text = path.read_text()
        lines = text.rstrip("\n").split("\n")
        lines[1] += ",EXTRA"
        path.write_text("\n".join(lines)[:-25] + "\n")  # and a truncated last line

    result, findings, out = broken_copy(raw_forms, tmp_path, "dara_admin.csv", edit)
    assert result.exit_code == 1, result.output  # the run goes on, with error findings
    ragged = sorted((f["line"], f["value"]) for f in findings if f["code"] == "MAP015")
    n_lines = len((tmp_path / "raw" / "dara_admin.csv").read_text().rstrip("\n").split("\n"))
    assert [line for line, _ in ragged] == [2, n_lines] and ragged[0][1] == "EXTRA"
    assert "Traceback" not in result.output and (out / "ex.xpt").is_file()


ENROLLMENT_HEADER = (
    b"RECORD_ID,SITE,SUBJECT,COUNTRY,CONSENT_DATE,BIRTH_DATE,SEX,RACE,ETHNICITY,SCREEN_FAILURE,SF_REASON,"
    b"SF_CRITERION\n"
)


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "the file is empty"),
        (b"RECORD_ID,SITE,SUBJECT\xe9\n", "enrollment.csv:1: not UTF-8 (byte 0xe9"),
        (ENROLLMENT_HEADER + b"R1,101,\xe9\n", "enrollment.csv:2: not UTF-8 (byte 0xe9"),
        (ENROLLMENT_HEADER + b'R1,101,"101-001,ITA\n', "not valid CSV"),
    ],
)
def test_unreadable_raw_forms_are_named_errors(raw_forms, tmp_path, content, message):
    result, _, out = broken_copy(raw_forms, tmp_path, "enrollment.csv", lambda p: p.write_bytes(content))
    assert_named_error(result, message)
    assert not out.exists()


def test_a_repeated_subject_in_dm_is_a_finding(raw_forms, tmp_path):
    def edit(path):
        lines = path.read_text().rstrip("\n").split("\n")
        lines.append(lines[1].replace(lines[1].split(",")[0], "ENR-9999999", 1))
        path.write_text("\n".join(lines) + "\n")

    result, findings, _ = broken_copy(raw_forms, tmp_path, "enrollment.csv", edit)
    repeated = [f for f in findings if f["code"] == "MAP016"]
    assert [(f["line"], f["value"]) for f in repeated] == [(10, "2")]  # 8 subjects + header; first at line 2


@pytest.mark.slow
def test_a_subject_enrolled_but_never_dosed_passes_the_validator(raw_forms, tmp_path):
    # issue 28, item 9: the engine's DM (ARM kept, ACTARM null, ARMNRS "ASSIGNED, NOT TREATED", as SDTMIG
    # 3.4 DM assumption 4a says) was rejected by its own validator (CDG0508 on ARM/ARMCD, CDG0110 on
    # ADSL.ACTARM)
    raw = tmp_path / "raw"
    shutil.copytree(raw_forms, raw)
    with (raw / "enrollment.csv").open("a", encoding="utf-8") as handle:
        handle.write(
            "ENR-0000099,101,101-099,ITA,2024-09-15,1950-01-01,Male,White,Not Hispanic or Latino,No,,\n"
        )
    from adam import derive_adam
    from cdiscgen import load_study
    from cdiscgen._findings import Severity
    from cdiscgen.validate import validate_datasets
    from sdtm import run_sdtm

    study = load_study()
    sdtm = run_sdtm(raw, study)
    assert sdtm.findings.at_least(Severity.WARNING) == []
    dm = sdtm.datasets["DM"].set_index("SUBJID")
    assert dm.loc["101-099", ["ARMCD", "ACTARMCD", "ARMNRS"]].tolist() == [
        "DARAPOM",
        "",
        "ASSIGNED, NOT TREATED",
    ]
    adam = derive_adam(sdtm.datasets, study.settings, study_dir=study.root)
    found = validate_datasets({**sdtm.datasets, **adam.datasets}, study=study).findings
    # the study's own TS gaps (no SNOMED/MED-RT code held in study.yaml, CDG0904) are not this subject's
    assert [str(f) for f in found.at_least(Severity.WARNING) if f.code != "CDG0904"] == []


def test_a_record_id_two_raw_rows_share_is_a_finding(raw_forms, tmp_path):
    # issue 28, item 9: two rows of dara_admin.csv with one RECORD_ID were mapped with no finding
    def edit(path):
        first = path.read_text().split("\n")[1].split(",")[0]
        edit_cell(path, 3, "RECORD_ID", first)

    result, findings, _ = broken_copy(raw_forms, tmp_path, "dara_admin.csv", edit)
    assert result.exit_code == 1, result.output
    repeated = [(f["code"], f["file"], f["line"], f["value"]) for f in findings if f["code"] == "MAP022"]
    first = (raw_forms / "dara_admin.csv").read_text().split("\n")[1].split(",")[0]
    assert repeated == [("MAP022", "dara_admin.csv", 4, f"'{first}' is already the id of line 2")]


def test_numbers_no_float_holds_and_control_characters_are_findings_not_crashes(raw_forms, tmp_path):
    def edit(path):
        edit_cell(path, 1, "RESULT", "1e400")
        edit_cell(path, 2, "RESULT", "1e-400")
        edit_cell(path, 3, "UNIT", "mg/L\x01")

    result, findings, out = broken_copy(raw_forms, tmp_path, "central_lab.csv", edit)
    assert "Traceback" not in result.output and (out / "lb.xpt").is_file()
    assert {("MAP006", 2, "1e400"), ("MAP006", 3, "1e-400")} <= {
        (f["code"], f["line"], f["value"]) for f in findings
    }
    assert [(f["line"], f["value"]) for f in findings if f["code"] == "MAP017"] == [(4, repr("mg/L\x01"))]


def test_implausible_numbers_and_dates_are_findings(raw_forms, tmp_path):
    def edit(path):
        edit_cell(path, 1, "DOSE_MG", "-1800")
        edit_cell(path, 2, "ADMIN_DATE", "9999-01-01")

    result, findings, _ = broken_copy(raw_forms, tmp_path, "dara_admin.csv", edit)
    got = {(f["code"], f["variable"], f["line"]) for f in findings if f["code"] in ("MAP018", "MAP019")}
    assert {("MAP018", "EXDOSE", 2), ("MAP019", "EXSTDTC", 3)} <= got


def test_an_undeclared_filter_value_is_reported_not_dropped_silently(raw_forms, tmp_path):
    result, findings, _ = broken_copy(
        raw_forms, tmp_path, "dara_admin.csv", lambda p: edit_cell(p, 1, "GIVEN", "Y")
    )
    assert [(f["code"], f["line"], f["value"], f["expected"]) for f in findings if f["code"] == "MAP020"] == [
        ("MAP020", 2, "Y", "Yes, No")
    ]


@pytest.mark.parametrize(
    "form,column,expected",
    [("dara_admin.csv", "GIVEN", "Yes, No"), ("enrollment.csv", "SCREEN_FAILURE", "Yes, No")],
)
def test_a_blank_in_a_filtered_column_is_reported_not_dropped_silently(
    raw_forms, tmp_path, form, column, expected
):
    result, findings, _ = broken_copy(raw_forms, tmp_path, form, lambda p: edit_cell(p, 2, column, ""))
    assert result.exit_code == 1, result.output
    blank = [(f["line"], f["value"], f["expected"]) for f in findings if f["code"] == "MAP020"]
    assert blank == [(3, "", expected)]
    (message,) = [f["message"] for f in findings if f["code"] == "MAP020"]
    assert f"{column} is blank" in message


def test_check_specs_catches_what_run_would_fail_on(study_copy):
    study = study_copy / "specs" / "study.yaml"
    study.write_text(study.read_text().replace('date: "2026-06-30"', 'date: "2026-02-30"'))
    assert_named_error(invoke("check-specs", "--study", str(study_copy)), "SPEC042", "2026-02-30")
    ex = study_copy / "mappings" / "ex.yaml"
    ex.write_text(ex.read_text().replace('    column_values: {GIVEN: ["Yes", "No"]}\n', ""))
    study.write_text(study.read_text().replace('date: "2026-02-30"', 'date: "2026-06-30"'))
    assert_named_error(invoke("check-specs", "--study", str(study_copy)), "SPEC113", "GIVEN")


def test_sdtm_without_mapping_specs_is_a_named_error(study_copy, raw_forms, tmp_path):
    shutil.rmtree(study_copy / "mappings")
    check = invoke("check-specs", "--study", str(study_copy))
    assert check.exit_code == 0 and "SPEC043" in check.output
    result = invoke("sdtm", "--study", str(study_copy), "--raw", str(raw_forms), "--out", str(tmp_path / "o"))
    assert_named_error(result, "no mapping specs")


@pytest.mark.slow
def test_a_cutoff_before_the_first_consent_is_a_named_error(tmp_path, small_run):
    result = invoke("run", "--out", str(tmp_path / "out"), "--subjects", "8", "--cutoff", "1900-01-01")
    assert_named_error(result, "before the first informed consent")
    # the day of the first consent itself is a cut-off with data (the ADaM stage alone decides it)
    from cdiscgen.export import read_xpt

    sdtm = next(small_run.rglob("tabulations/sdtm"))
    first = min(d for d in read_xpt(sdtm / "dm.xpt")[0]["RFICDTC"] if d)[:10]
    result = invoke("adam", "--sdtm", str(sdtm), "--out", str(tmp_path / "adam"), "--cutoff", first)
    assert result.exit_code in (0, 1), result.output
    day_before = str(date.fromisoformat(first) - timedelta(days=1))
    result = invoke("adam", "--sdtm", str(sdtm), "--out", str(tmp_path / "adam2"), "--cutoff", day_before)
    assert_named_error(result, "before the first informed consent")


# ------------------------------------------------------------------------------------- transport files


def test_a_truncated_xpt_is_an_error_naming_the_offset(tmp_path, small_run):
    sdtm = next(small_run.rglob("tabulations/sdtm"))
    folder = tmp_path / "damaged"
    shutil.copytree(sdtm, folder)
    for cut in (1000, 80):  # not a whole record; a whole record but half an observation
        data = (sdtm / "lb.xpt").read_bytes()
        (folder / "lb.xpt").write_bytes(data[:-cut])
        result = invoke("validate", str(folder), "--report", str(tmp_path / "rep"), "--format", "json")
        assert result.exit_code == 1
        (finding,) = [
            f
            for f in json.loads((tmp_path / "rep" / "report.json").read_text())["findings"]
            if f["code"] == "CDG0002"
        ]
        assert (
            "lb.xpt" in finding["message"]
            and "truncated" in finding["message"]
            and "offset" in finding["message"]
        )


def test_adam_reads_a_cp1252_transport_file_with_a_warning(tmp_path, caplog, small_run):
    from adam._io import read_sdtm_folder
    from tests.conftest import refdata_path

    ts = refdata_path("cdiscpilot01", "sdtm", "ts.xpt")
    folder = tmp_path / "sdtm"
    shutil.copytree(next(small_run.rglob("tabulations/sdtm")), folder)
    shutil.copy(ts, folder / "ts.xpt")
    logging.getLogger().addHandler(caplog.handler)  # a CLI test before may have replaced the root handlers
    frames = read_sdtm_folder(folder)
    assert frames["TS"]["TSVAL"].str.contains("Alzheimer\u2019s").any()  # 0x92 in cp1252
    assert "read as cp1252" in caplog.text


# --------------------------------------------------------------------- read-only targets and SIGTERM


@pytest.mark.parametrize("command", ["simulate", "sdtm", "validate", "init", "run"])
def test_a_read_only_target_is_exit_2_naming_it(command, raw_forms, tmp_path, monkeypatch, small_run):
    from pathlib import Path

    target = tmp_path / "target"
    xpts = next(small_run.rglob("tabulations/sdtm"))  # only read
    real_mkdir = Path.mkdir

    def read_only(self, *args, **kwargs):
        if str(self).startswith(str(tmp_path / "target")) or str(self).startswith(str(tmp_path / ".target")):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    args = {
        "simulate": ["simulate", "--out", str(target)],
        "sdtm": ["sdtm", "--raw", str(raw_forms), "--out", str(target), "--report", str(target / "rep")],
        "validate": ["validate", str(xpts), "--report", str(target)],
        "init": ["init", str(target)],
        "run": ["run", "--out", str(target), "--subjects", "8"],
    }[command]
    result = invoke(*args)
    assert_named_error(result, "read-only", str(tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("command", ["sdtm", "run"])
def test_sigterm_is_exit_130_and_leaves_nothing_half_written(command, tmp_path):
    import subprocess
    import sys
    import time

    raw = tmp_path / "raw"
    assert invoke("simulate", "--out", str(raw), "--subjects", "300").exit_code == 0
    out = tmp_path / "out"
    args = {
        "sdtm": ["sdtm", "--raw", str(raw), "--out", str(out), "--report", str(tmp_path / "rep")],
        "run": ["run", "--raw", str(raw), "--out", str(out)],
    }[command]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cdiscgen.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until a stage is under way (its log line says so)
        line = proc.stdout.readline()
        seen += line
        if not line or "records mapped" in line or "stage sdtm: started" in line:
            break
    assert "records mapped" in seen or "stage sdtm: started" in seen, seen
    proc.send_signal(signal.SIGTERM)
    output = seen + proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, output
    assert "interrupted" in output and "Traceback" not in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"] + (
        ["rep"] if (tmp_path / "rep").exists() else []
    )


def test_a_version_8_transport_file_is_read_and_named(tmp_path):
    import pandas as pd
    import pyreadstat

    frame = pd.DataFrame({"STUDYID": ["S1"], "USUBJID": ["S1-001"], "AGE": [61.0]})
    pyreadstat.write_xport(frame, str(tmp_path / "dm.xpt"), table_name="DM", file_format_version=8)
    result = invoke("validate", str(tmp_path), "--report", str(tmp_path / "rep"), "--format", "json")
    assert result.exit_code == 1
    findings = json.loads((tmp_path / "rep" / "report.json").read_text())["findings"]
    assert [(f["code"], f["value"]) for f in findings if f["code"] in ("CDG0002", "CDG0004")] == [
        ("CDG0004", "8")
    ]


def test_disk_full_while_writing_trace_files_keeps_the_previous_output(tmp_path, monkeypatch, small_run):
    out = tmp_path / "out"
    shutil.copytree(small_run, out)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pipeline, "write_trace", full)
    result = invoke("run", "--out", str(out), "--subjects", "8", "--seed", "2")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "no space left" in result.output.lower() or "No space left" in result.output
    assert complete_run(out) == 1  # the previous output, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def digests(root) -> dict[str, str]:
    import hashlib

    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="session")
def stage_outputs(tmp_path_factory, small_run, small_run_seed2) -> dict:
    """What `cdiscgen sdtm` and `cdiscgen adam` write for the seed-1 and seed-2 raw data, (sdtm, adam) per
    seed, read-only: the SDTM and ADaM folders of the session's runs, the endpoint summary beside the ADaM
    datasets (the commands write the same bytes; the kill tests compare what they write with these)."""
    from tests.conftest import shared_build

    def build(base):
        for seed, run in ((1, small_run), (2, small_run_seed2)):
            shutil.copytree(next(run.rglob("tabulations/sdtm")), base / f"sdtm{seed}")
            shutil.copytree(run / "trace", base / f"sdtm{seed}" / "trace")
            shutil.copytree(next(run.rglob("analysis/adam/datasets")), base / f"adam{seed}")
            for summary in sorted((run / "analysis").glob("summary.*")):
                shutil.copy2(summary, base / f"adam{seed}" / summary.name)

    base = shared_build(tmp_path_factory, "stage-outputs-9", build)
    return {seed: (base / f"sdtm{seed}", base / f"adam{seed}") for seed in (1, 2)}


@pytest.mark.slow
def test_the_sdtm_and_adam_commands_write_the_bytes_run_writes(tmp_path, stage_outputs, small_run_seed2):
    # the kill tests below put these folders in place of the stages' work: here the commands make them
    sdtm, adam = stage_outputs[2]
    result = invoke("sdtm", "--raw", str(small_run_seed2 / "raw"), "--out", str(tmp_path / "sdtm"))
    assert result.exit_code == 0, result.output
    assert digests(tmp_path / "sdtm") == digests(sdtm)
    result = invoke("adam", "--sdtm", str(sdtm), "--out", str(tmp_path / "adam"))
    assert result.exit_code == 0, result.output
    assert digests(tmp_path / "adam") == digests(adam)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["sdtm", "adam"])
@pytest.mark.parametrize("step", STEPS)
def test_a_kill_during_the_swap_of_sdtm_or_adam_leaves_the_complete_old_or_new_folder(
    command, step, tmp_path, stage_outputs, small_run_seed2
):
    which = 0 if command == "sdtm" else 1
    old, new = stage_outputs[1][which], stage_outputs[2][which]
    assert digests(old) != digests(new)
    out = tmp_path / "out"
    shutil.copytree(old, out)
    source = (
        ["--raw", str(small_run_seed2 / "raw")] if command == "sdtm" else ["--sdtm", str(stage_outputs[2][0])]
    )
    kill_during_swap(step, out, [command, *source, "--report", str(tmp_path / "report")], stages_from=new)
    if step == "no-exchange":
        (previous,) = tmp_path.glob(".out.previous-*")
        assert not out.exists() and digests(previous) == digests(old)
        with output_lock(out):  # what the next command does first: put the old folder back
            pass
    assert digests(out) == digests(old if step in ("before-swap", "no-exchange") else new)
    with output_lock(out):  # the next command's first step removes what the killed one left beside out/
        assert sorted(p.name for p in tmp_path.iterdir() if p.name not in (".out.lock", "report")) == ["out"]


def test_sdtm_and_adam_refuse_an_out_that_would_delete_an_input_or_a_users_files(tmp_path, small_run):
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    sdtm = next(run.rglob("tabulations/sdtm"))
    before = digests(run)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    assert_named_error(
        invoke("adam", "--sdtm", str(sdtm), "--out", str(mine), "--report", str(tmp_path / "r")),
        "refusing to replace it",
    )
    assert (mine / "notes.txt").read_text() == "precious"
    assert_named_error(
        invoke("sdtm", "--raw", str(run / "raw"), "--out", str(run)), "--raw", "delete the input"
    )
    assert_named_error(invoke("adam", "--sdtm", str(sdtm), "--out", str(sdtm)), "--sdtm", "delete the input")
    assert digests(run) == before


@pytest.mark.parametrize("command", ["sdtm", "adam"])
def test_a_report_that_cannot_be_written_is_refused_before_out_changes(
    command, tmp_path, stage_outputs, small_run_seed2
):
    # issue 28, item 9: `sdtm` with an unwritable --report exited 2 after it had replaced --out
    which = 0 if command == "sdtm" else 1
    old = stage_outputs[1][which]
    out = tmp_path / "out"
    shutil.copytree(old, out)
    (tmp_path / "a-file").write_text("not a folder")
    source = (
        ["--raw", str(small_run_seed2 / "raw")] if command == "sdtm" else ["--sdtm", str(stage_outputs[2][0])]
    )
    result = invoke(command, *source, "--out", str(out), "--report", str(tmp_path / "a-file" / "report"))
    assert_named_error(result, "--report", "a-file is a file, not a folder")
    assert digests(out) == digests(old)


def test_adam_prints_and_writes_its_findings(tmp_path, small_run):
    sdtm = tmp_path / "sdtm"
    shutil.copytree(next(small_run.rglob("tabulations/sdtm")), sdtm)
    (sdtm / "rs.xpt").unlink()  # no investigator response: the parameters that need it are not derived
    (sdtm / "supprs.xpt").unlink()
    result = invoke(
        "adam", "--sdtm", str(sdtm), "--out", str(tmp_path / "adam"), "--report", str(tmp_path / "r")
    )
    assert result.exit_code == 0, result.output  # warnings do not fail the default --fail-on error
    report = json.loads((tmp_path / "r" / "report.json").read_text())["findings"]
    absent = [f for f in report if f["code"] == "ADM006"]
    assert absent and all(f["severity"] == "warning" for f in absent)
    assert {f["dataset"] for f in absent} >= {"ADRS"}
    assert "ADM006" in result.output and "no RS" in result.output  # shown, not only counted
    assert (tmp_path / "r" / "report.html").is_file() and (tmp_path / "r" / "report.xlsx").is_file()


def test_a_dose_change_citing_an_event_the_ae_log_lacks_is_a_finding_and_kept(raw_forms, tmp_path):
    # issue 29 (RELREC): a dose change cites its adverse event by AE log number; a number no AE record
    # carries relates nothing, and says so with file and line instead of disappearing
    def cite_a_missing_event(path):
        rows = path.read_text().split("\n")
        header = rows[0].split(",")
        row = next(i for i, line in enumerate(rows[1:], start=1) if line and line.split(",")[-1] != "")
        edit_cell(path, row, "AE_NUMBER", "99")
        cite_a_missing_event.line = row + 1
        cite_a_missing_event.record = rows[row].split(",")[header.index("RECORD_ID")]

    result, findings, out = broken_copy(raw_forms, tmp_path, "poma_cycle.csv", cite_a_missing_event)
    assert result.exit_code == 0, result.output
    missing = [(f["file"], f["line"], f["value"]) for f in findings if f["code"] == "MAP023"]
    # the row maps to EX and to EC: each record is reported
    assert missing == [("poma_cycle.csv", cite_a_missing_event.line, "AE-99")] * len(missing) and missing
    import pyreadstat

    relrec, _ = pyreadstat.read_xport(str(out / "relrec.xpt"))
    assert "AE-99" not in set(relrec["RELID"])
    with (out / "trace" / "ex.trace.csv").open(encoding="utf-8") as handle:
        traced = {row["RAWRECID"] for row in csv.DictReader(handle)}
    assert cite_a_missing_event.record in traced  # the dose change itself is kept in EX
