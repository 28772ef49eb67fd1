"""Fault injection (issue 12, first part): hostile YAML, outputs over inputs, concurrent runs, stale
temporary trees, a full disk during simulate, Ctrl-C in any command, and signals during the output swap.
Each case: a named error (exit 2, or 130 for an interrupt), no traceback, nothing half-written left."""

from __future__ import annotations

import errno
import json
import os
import signal

import pytest
from click.testing import CliRunner

import cdiscgen._pipeline as pipeline
import cdiscgen.simulate._api as simulate_api
from cdiscgen._atomic import output_lock
from cdiscgen.cli import main


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


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


def test_run_refuses_an_output_folder_that_holds_its_raw_input(tmp_path):
    out = tmp_path / "out"
    assert invoke("run", "--out", str(out)).exit_code == 0
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


def test_temporary_trees_of_a_killed_run_are_removed_by_the_next_one(tmp_path):
    stale = tmp_path / f".out.partial-{2**22 + 12345}"  # above the kernel's pid_max default: no such process
    (stale / "m5").mkdir(parents=True)
    assert invoke("run", "--out", str(tmp_path / "out")).exit_code == 0
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_simulate_on_a_full_disk_leaves_the_previous_raw_folder_as_it_was(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    assert invoke("simulate", "--out", str(raw), "--seed", "1").exit_code == 0
    before = {p.name: p.read_bytes() for p in raw.iterdir()}
    real = simulate_api.write_csv_atomic
    written = []

    def fill_up(frame, path):
        if len(written) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(path)
        return real(frame, path)

    monkeypatch.setattr(simulate_api, "write_csv_atomic", fill_up)
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
        args = ["sdtm", "--raw", str(tmp_path), "--out", str(tmp_path / "o"), "--report", str(tmp_path / "r")]
    else:
        import cdiscgen._stages as stages

        monkeypatch.setattr(stages, "run_validate_stage", interrupted)
        args = ["validate", str(tmp_path), "--report", str(tmp_path / "r")]
    result = invoke(*args)
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output and "Aborted!" not in result.output


def test_a_signal_during_the_swap_waits_until_out_is_the_complete_new_tree(tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert invoke("run", "--out", str(out), "--seed", "1").exit_code == 0
    real_replace = os.replace
    calls = []

    def replace_and_signal(src, dst):
        calls.append((src, dst))
        os.kill(os.getpid(), signal.SIGINT)  # arrives between the two renames of the swap
        return real_replace(src, dst)

    real_swap = pipeline._swap_in

    def swap_with_signals(work, out_dir):
        os.replace = replace_and_signal  # only the swap's renames signal
        try:
            real_swap(work, out_dir)
        finally:
            os.replace = real_replace

    monkeypatch.setattr(pipeline, "_swap_in", swap_with_signals)
    result = invoke("run", "--out", str(out), "--seed", "2")
    assert len(calls) == 2  # both renames ran before the interrupt was delivered
    assert result.exit_code == 130 and "new output was in place" in result.output
    run = json.loads((out / "run.json").read_text())
    assert run["inputs"]["seed"] == 2  # the complete new tree
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no .previous or .partial left
