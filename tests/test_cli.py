"""The command line: --version, --help everywhere, init, and exit codes."""

from __future__ import annotations

from click.testing import CliRunner

from cdiscgen import __version__
from cdiscgen.cli import main


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_help_on_every_subcommand():
    runner = CliRunner()
    assert main.commands, "no subcommands registered"
    for name in main.commands:
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Usage:" in result.output and name in result.output


def test_init_copies_the_bundled_study(tmp_path):
    target = tmp_path / "newstudy"
    result = CliRunner().invoke(main, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert (target / "specs" / "study.yaml").is_file()
    assert (target / "specs" / "sdtm" / "dm.yaml").is_file()
    check = CliRunner().invoke(main, ["check-specs", "--study", str(target)])
    assert check.exit_code == 0, check.output


def test_init_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "x.txt").write_text("keep me")
    result = CliRunner().invoke(main, ["init", str(tmp_path)])
    assert result.exit_code == 2
    assert "not empty" in result.output
    assert (tmp_path / "x.txt").read_text() == "keep me"


def test_missing_study_folder_is_bad_input(tmp_path):
    result = CliRunner().invoke(main, ["check-specs", "--study", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "not a study folder" in result.output
