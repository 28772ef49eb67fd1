"""The `cdiscgen` command line: a thin layer that parses arguments, calls the library and renders results.

Exit codes (DESIGN.md): 0 success; 1 the run worked but findings at or above the fail level exist;
2 bad input or usage (the message names the file, line, dataset, variable or record at fault).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from cdiscgen import __version__
from cdiscgen._findings import Finding, Severity
from cdiscgen._specs import SpecError, check_study, init_study, resolve_study_dir

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2

log = logging.getLogger("cdiscgen")


class BadInput(click.ClickException):
    """Bad input or usage: printed as one clear message, exit code 2."""

    exit_code = EXIT_BAD_INPUT


def _configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    root = logging.getLogger()
    root.handlers.clear()
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(show_path=False, markup=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)


def _bad_input_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's input errors into a clear message and exit code 2 (never a traceback)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SpecError as exc:
            _echo_findings(exc.findings)
            raise BadInput(f"the study specs have {len(exc.findings)} error(s); nothing was run") from None
        except (FileNotFoundError, FileExistsError, NotADirectoryError, ValueError, KeyError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            raise BadInput(str(message)) from None

    return wrapper


def _echo_findings(findings: Iterable[Finding]) -> None:
    for finding in findings:
        click.echo(str(finding), err=True)


study_option = click.option(
    "--study",
    "study_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Study folder holding specs/ and mappings/ (default: the bundled DarPAL study).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, "--version", prog_name="cdiscgen")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """cdiscgen: raw clinical-trial CSVs to CDISC SDTM/ADaM, XPT v5, Dataset-JSON 1.1 and Define-XML 2.1."""
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet
    _configure_logging(verbose, quiet)


@main.command("init")
@click.argument("target", type=click.Path(path_type=Path))
@study_option
@_bad_input_errors
def init_command(target: Path, study_dir: Path | None) -> None:
    """Copy the bundled study's specs/ and mappings/ into TARGET as the start of a new study."""
    path = init_study(target, source=study_dir)
    click.echo(
        f"new study folder: {path} (edit specs/ and mappings/, then: cdiscgen check-specs --study {path})"
    )


@main.command("check-specs")
@study_option
@_bad_input_errors
def check_specs_command(study_dir: Path | None) -> None:
    """Validate the study's specs/ and mappings/: every problem with its file, line and key."""
    root = resolve_study_dir(study_dir)
    study, findings = check_study(root)
    if study is not None:
        findings.extend(_stage_spec_checks(study))
    for finding in findings.sorted():
        click.echo(str(finding), err=finding.severity >= Severity.ERROR)
    errors = findings.at_least(Severity.ERROR)
    warnings = len(findings.at_least(Severity.WARNING)) - len(errors)
    if errors:
        raise BadInput(f"{len(errors)} error(s), {warnings} warning(s) in the specs of {root}")
    datasets = len(study.datasets) if study else 0
    click.echo(
        f"specs OK: {root} ({datasets} datasets, {len(study.codelists) if study else 0} codelists, {warnings} warning(s))"
    )


def _stage_spec_checks(study: Any) -> list[Finding]:
    """The checks each stage owns for its own spec files (mapping specs, ADaM parameter definitions)."""
    out: list[Finding] = []
    for module_name, function_name in (("sdtm", "check_mapping_specs"), ("adam", "check_parameter_specs")):
        module = __import__(module_name)
        check = getattr(module, function_name, None)
        if check is not None:
            out.extend(check(study.root) if module_name == "adam" else check(study))
    return out


if __name__ == "__main__":  # pragma: no cover
    main()
