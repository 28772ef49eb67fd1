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
from cdiscgen._atomic import InterruptedAfterSwap
from cdiscgen._findings import Finding, Severity
from cdiscgen._specs import SpecError, check_stage_specs, check_study, init_study, resolve_study_dir

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2

log = logging.getLogger("cdiscgen")


class BadInput(click.ClickException):
    """Bad input or usage: printed as one clear message, exit code 2."""

    exit_code = EXIT_BAD_INPUT


def _configure_logging(verbose: int, quiet: bool) -> None:
    terminal = sys.stderr.isatty()
    # On a terminal the stage progress display shows what happens, so library INFO lines wait for -v;
    # elsewhere (CI, batch jobs) INFO log lines are the progress.
    default = logging.WARNING if terminal else logging.INFO
    level = (
        logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else default)
    )
    root = logging.getLogger()
    root.handlers.clear()
    if terminal:
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
        except OSError as exc:
            target = kwargs.get("out_dir") or kwargs.get("report_dir") or kwargs.get("target")
            raise BadInput(_os_error_message(exc, target)) from None
        except InterruptedAfterSwap:
            click.echo("interrupted after the new output was in place; it is complete", err=True)
            raise SystemExit(130) from None
        except KeyboardInterrupt:
            click.echo("interrupted; nothing half-written is left in place", err=True)
            raise SystemExit(130) from None

    return wrapper


def _os_error_message(exc: OSError, target: Any = None) -> str:
    """A file-system failure (read-only or full disk, no permission, a folder where a file belongs) as one
    line naming the path and the reason."""
    import errno

    where = exc.filename or (f"writing {target}" if target else "the output")
    reasons = {
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EROFS: "the file system is read-only",
        errno.ENOSPC: "no space left on the device",
        errno.EISDIR: "is a folder, a file was expected",
        errno.EDQUOT: "disk quota exceeded",
    }
    reason = reasons.get(exc.errno or -1, exc.strerror or str(exc))
    return f"{where}: {reason}"


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
    _terminate_like_interrupt()


def _terminate_like_interrupt() -> None:
    """SIGTERM (a scheduler cancelling a job) is handled like Ctrl-C: temporary output is removed, the
    previous output kept, exit 130 with a message."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (the CLI called from a worker thread): keep the default
        pass


@main.command("init")
@click.argument("target", type=click.Path(path_type=Path))
@click.option(
    "--minimal",
    is_flag=True,
    help="Start from a skeleton (DM and the trial design domains) instead of a copy of the bundled study.",
)
@study_option
@_bad_input_errors
def init_command(target: Path, minimal: bool, study_dir: Path | None) -> None:
    """Copy the bundled study's specs/ and mappings/ (or, with --minimal, a skeleton) into TARGET."""
    path = init_study(target, source=study_dir, minimal=minimal)
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
        findings.extend(check_stage_specs(study))
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


def _findings_exit(findings: Any, fail_on: str) -> int:
    """Exit code policy at the edge: 1 when findings at or above the fail level exist."""
    level = Severity.parse(fail_on)
    return EXIT_FINDINGS if findings.at_least(level) else EXIT_OK


def _summarise_findings(findings: Any, what: str) -> None:
    counts = findings.by_severity()
    click.echo(f"{what}: " + ", ".join(f"{n} {s}(s)" for s, n in counts.items()))


def stage_report_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--report and --format of the stage commands (`sdtm`, `adam`): where their findings are written."""
    func = click.option(
        "--format",
        "formats",
        default="console,json,xlsx,html",
        show_default=True,
        help="Comma-separated report formats (console prints the first findings of each code).",
    )(func)
    return click.option(
        "--report",
        "report_dir",
        type=click.Path(path_type=Path),
        default=Path("validation"),
        show_default=True,
        help="Folder for report.json/xlsx/html of the command's findings.",
    )(func)


workers_option = click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="With --partition-subjects: the partitions on an embedded Dask cluster of this many worker "
    "processes (1: one after the other in this process).",
)
scheduler_option = click.option(
    "--scheduler",
    default=None,
    help="With --partition-subjects: the partitions on an existing Dask cluster (tcp://host:port) whose "
    "workers see the folders.",
)


def _check_cluster_options(partition_subjects: int | None, workers: int, scheduler: str | None) -> None:
    if partition_subjects is None and (workers > 1 or scheduler is not None):
        raise BadInput("--workers and --scheduler run the partitions of --partition-subjects; give it too")


fail_on_option = click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "notice"]),
    default="error",
    show_default=True,
    help="Exit with code 1 when findings at or above this severity exist.",
)
cutoff_option = click.option(
    "--cutoff",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Data cut-off YYYY-MM-DD (default: cutoff.date of specs/study.yaml); later dates are ignored.",
)


@main.command("simulate")
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Folder for the raw CSVs."
)
@click.option(
    "--subjects", type=click.IntRange(min=1), default=40, show_default=True, help="Screened subjects."
)
@click.option("--seed", type=click.IntRange(min=0), default=20240101, show_default=True, help="Random seed.")
@click.option(
    "--sites", type=click.IntRange(min=1), default=5, show_default=True, help="Investigational sites."
)
@study_option
@_bad_input_errors
def simulate_command(out_dir: Path, subjects: int, seed: int, sites: int, study_dir: Path | None) -> None:
    """Write the bundled trial's raw data (one CSV per CRF form), deterministic for a seed."""
    from cdiscgen.simulate import simulate_study

    result = simulate_study(
        out_dir, subjects=subjects, seed=seed, sites=sites, study_dir=resolve_study_dir(study_dir)
    )
    rows = getattr(result, "rows", {}) or {}
    click.echo(f"raw data: {out_dir} ({len(rows)} forms, {sum(rows.values()):,} rows)")


@main.command("sdtm")
@click.option(
    "--raw",
    "raw_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Raw CSV folder.",
)
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Folder for the SDTM datasets."
)
@stage_report_options
@study_option
@fail_on_option
@_bad_input_errors
def sdtm_command(
    raw_dir: Path, out_dir: Path, report_dir: Path, formats: str, study_dir: Path | None, fail_on: str
) -> None:
    """Map raw CSVs to SDTM through mappings/ and write XPT v5 + define.xml; mapping problems are findings."""
    from cdiscgen._console import print_top_findings
    from cdiscgen._stages import run_sdtm_stage

    wanted = _report_formats(formats)
    findings = run_sdtm_stage(raw_dir, out_dir, study_dir, report_dir, [f for f in wanted if f != "console"])
    if "console" in wanted:
        print_top_findings(findings)
    _summarise_findings(findings, "mapping findings")
    raise SystemExit(_findings_exit(findings, fail_on))


def _report_formats(formats: str) -> list[str]:
    wanted = [f.strip() for f in formats.split(",") if f.strip()]
    unknown = sorted(set(wanted) - {"console", "json", "xlsx", "html"})
    if unknown:
        raise BadInput(
            f"unknown report format(s): {', '.join(unknown)}; choose from console, json, xlsx, html"
        )
    return wanted


@main.command("adam")
@click.option(
    "--sdtm",
    "sdtm_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder of SDTM *.xpt.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for ADaM datasets + summary.",
)
@stage_report_options
@study_option
@cutoff_option
@fail_on_option
@_bad_input_errors
def adam_command(
    sdtm_dir: Path,
    out_dir: Path,
    report_dir: Path,
    formats: str,
    study_dir: Path | None,
    cutoff: Any,
    fail_on: str,
) -> None:
    """Derive the ADaM datasets the study declares (and its endpoint summary) from any conformant SDTM
    folder; what could not be derived, and why, are findings printed and written as a report."""
    from cdiscgen._console import print_top_findings
    from cdiscgen._stages import run_adam_stage

    wanted = _report_formats(formats)
    findings = run_adam_stage(
        sdtm_dir,
        out_dir,
        study_dir,
        cutoff.date() if cutoff else None,
        report_dir,
        [f for f in wanted if f != "console"],
    )
    if "console" in wanted:
        print_top_findings(findings)
    _summarise_findings(findings, "ADaM findings")
    raise SystemExit(_findings_exit(findings, fail_on))


@main.command("validate")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False), required=False)
@click.option(
    "--report", "report_dir", type=click.Path(path_type=Path), default=Path("validation"), show_default=True
)
@click.option(
    "--define",
    "define_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="define.xml to check against.",
)
@click.option(
    "--format",
    "formats",
    default="console,json,xlsx,html",
    show_default=True,
    help="Comma-separated report formats.",
)
@click.option("--list-rules", is_flag=True, help="Print the rule catalog and exit.")
@click.option(
    "--partition-subjects",
    type=click.IntRange(min=1),
    default=None,
    help="Validate in partitions of about this many subjects (files in USUBJID order): a large package "
    "without its datasets whole in memory; the same report.",
)
@workers_option
@scheduler_option
@study_option
@fail_on_option
@_bad_input_errors
def validate_command(
    folder: Path | None,
    report_dir: Path,
    define_path: Path | None,
    formats: str,
    list_rules: bool,
    partition_subjects: int | None,
    workers: int,
    scheduler: str | None,
    study_dir: Path | None,
    fail_on: str,
) -> None:
    """Check a folder of SDTM and/or ADaM XPT files (ours or anyone's) and write the findings report."""
    from cdiscgen._console import print_rule_catalog
    from cdiscgen._stages import run_validate_stage

    if list_rules:
        print_rule_catalog()
        return
    if folder is None:
        raise BadInput("give the folder of XPT files to validate (or --list-rules)")
    _check_cluster_options(partition_subjects, workers, scheduler)
    wanted = _report_formats(formats)
    from cdiscgen._tasks import SchedulerUnreachable

    try:
        findings = run_validate_stage(
            folder, report_dir, study_dir, define_path, wanted, partition_subjects, workers, scheduler
        )
    except SchedulerUnreachable as exc:
        raise BadInput(str(exc)) from None
    raise SystemExit(_findings_exit(findings, fail_on))


@main.command("run")
@click.option(
    "--raw",
    "raw_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Raw CSV folder (default: simulate).",
)
@click.option(
    "--subjects",
    type=click.IntRange(min=1),
    default=40,
    show_default=True,
    help="Simulated subjects (without --raw).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=20240101,
    show_default=True,
    help="Simulation seed (without --raw).",
)
@click.option(
    "--sites",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Simulated sites (without --raw).",
)
@click.option(
    "--partition-subjects",
    type=click.IntRange(min=1),
    default=None,
    help="Build SDTM and ADaM in partitions of about this many subjects (a large study: the same files).",
)
@workers_option
@scheduler_option
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("out"), show_default=True)
@study_option
@cutoff_option
@fail_on_option
@click.pass_context
@_bad_input_errors
def run_command(
    ctx: click.Context,
    raw_dir: Path | None,
    subjects: int,
    seed: int,
    sites: int,
    partition_subjects: int | None,
    workers: int,
    scheduler: str | None,
    out_dir: Path,
    study_dir: Path | None,
    cutoff: Any,
    fail_on: str,
) -> None:
    """The main job: simulate (without --raw) -> SDTM -> ADaM -> XPT, Dataset-JSON, define -> validate -> summary."""
    from cdiscgen._console import make_reporter, print_run_summary
    from cdiscgen._pipeline import RunOptions, StageError, run_pipeline
    from cdiscgen._tasks import SchedulerUnreachable

    if raw_dir is not None:
        source = click.get_current_context().get_parameter_source
        given = [
            n for n in ("subjects", "seed", "sites") if source(n) is not click.core.ParameterSource.DEFAULT
        ]
        if given:
            raise BadInput(f"--{', --'.join(given)} only apply to simulated data; drop them or drop --raw")
    _check_cluster_options(partition_subjects, workers, scheduler)
    options = RunOptions(
        out_dir=out_dir,
        study_dir=study_dir,
        raw_dir=raw_dir,
        subjects=subjects,
        seed=seed,
        sites=sites,
        cutoff=cutoff.date() if cutoff else None,
        partition_subjects=partition_subjects,
        workers=workers,
        scheduler=scheduler,
    )
    try:
        with make_reporter(quiet=ctx.obj.get("quiet", False)) as reporter:
            result = run_pipeline(options, reporter)
    except StageError as exc:
        raise BadInput(f"{exc} (the previous output in {out_dir} is unchanged)") from None
    except SchedulerUnreachable as exc:
        raise BadInput(f"{exc} (the previous output in {out_dir} is unchanged)") from None
    except InterruptedAfterSwap:
        click.echo(f"interrupted after the new output was in place in {out_dir}; it is complete", err=True)
        raise SystemExit(130) from None
    except KeyboardInterrupt:
        click.echo(f"interrupted; the previous output in {out_dir} is unchanged", err=True)
        raise SystemExit(130) from None
    if not ctx.obj.get("quiet", False):
        print_run_summary(result)
    raise SystemExit(_findings_exit(result.findings, fail_on))


@main.command("batch")
@click.argument("plan", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), default=Path("out/batch"), show_default=True
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Worker processes of the embedded Dask cluster.",
)
@click.option("--scheduler", default=None, help="Run on an existing Dask cluster (tcp://host:port) instead.")
@click.option("--force", is_flag=True, help="Run again the runs whose inputs have not changed.")
@click.pass_context
@_bad_input_errors
def batch_command(
    ctx: click.Context, plan: Path, out_dir: Path, workers: int, scheduler: str | None, force: bool
) -> None:
    """Run every study (or data cut) of PLAN, each as `cdiscgen run` does, as tasks of a Dask cluster; write
    batch.json and batch.html into --out. Exit 1 when a run failed (the others are complete)."""
    from cdiscgen._batch import PlanError, read_plan, run_batch
    from cdiscgen._tasks import SchedulerUnreachable

    try:
        runs = read_plan(plan)
    except PlanError as exc:
        raise BadInput(str(exc)) from None
    from cdiscgen._console import make_batch_progress

    try:
        with make_batch_progress(quiet=ctx.obj.get("quiet", False)) as progress:
            result = run_batch(
                runs, out_dir, workers=workers, scheduler=scheduler, progress=progress, force=force
            )
    except SchedulerUnreachable as exc:
        raise BadInput(str(exc)) from None
    except KeyboardInterrupt:
        click.echo(
            f"interrupted; the runs completed before are in place in {out_dir}, the others unchanged",
            err=True,
        )
        raise SystemExit(130) from None
    unchanged = sum(r.status == "unchanged" for r in result.runs)
    click.echo(
        f"batch: {len(result.runs) - len(result.failed) - unchanged} done, {unchanged} unchanged, "
        f"{len(result.failed)} failed in {result.seconds:.1f} s; report {result.out_dir / 'batch.html'}"
    )
    raise SystemExit(EXIT_FINDINGS if result.failed else EXIT_OK)


@main.group("spec")
def spec_group() -> None:
    """Study specs to and from a workbook (Pinnacle 21 specification layout), from Define-XML 2.1, from
    an sdtm.oak specification."""


@spec_group.command("export")
@study_option
@click.option("--xlsx", "xlsx", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The workbook to write.")  # fmt: skip
@_bad_input_errors
def spec_export_command(study_dir: Path | None, xlsx: Path) -> None:
    """Write the study's specs/ and mappings/ as a workbook: Datasets, Variables, ValueLevel, WhereClauses,
    Codelists, Dictionaries, Methods, Comments, Documents, a sheet per mapping, and Files."""
    from cdiscgen._specbook import export_spec_workbook

    path = export_spec_workbook(study_dir, xlsx)
    click.echo(f"spec workbook: {path}")


@spec_group.command("import")
@click.argument("xlsx", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Study folder to write specs/ and mappings/ into.")  # fmt: skip
@click.option("--replace", is_flag=True, help="Replace the folder's existing specs/ and mappings/.")
@_bad_input_errors
def spec_import_command(xlsx: Path, out_dir: Path, replace: bool) -> None:
    """Write specs/ and mappings/ from a spec workbook. Every problem names its cell (Variables!F37);
    with any, nothing is written (exit 2)."""
    from cdiscgen._specbook import import_spec_workbook

    try:
        path = import_spec_workbook(xlsx, out_dir, replace=replace)
    except SpecError as exc:
        _echo_findings(exc.findings)
        raise BadInput(f"{xlsx}: {len(exc.findings)} problem(s); nothing was written") from None
    click.echo(
        f"specs written: {path / 'specs'}, {path / 'mappings'} (check: cdiscgen check-specs --study {path})"
    )


@spec_group.command("from-define")
@click.argument("defines", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Study folder whose specs/ to write (a new folder, or an existing study with --replace).")  # fmt: skip
@click.option(
    "--replace", is_flag=True, help="Replace the study's dataset specs, codelists.yaml and define.yaml."
)
@_bad_input_errors
def spec_from_define_command(defines: tuple[Path, ...], out_dir: Path, replace: bool) -> None:
    """Dataset, variable, value-level, codelist, method, comment and document specs from Define-XML 2.1
    file(s) (an SDTM and an ADaM define of one study); lists what a define cannot carry."""
    from cdiscgen._fromdefine import specs_from_define

    result = specs_from_define(list(defines), out_dir, replace=replace)
    click.echo(f"{len(result.files)} spec file(s) written in {out_dir / 'specs'}")
    if result.not_carried:
        click.echo(f"not carried ({len(result.not_carried)}):")
        for line in result.not_carried:
            click.echo(f"  - {line}")
    click.echo(f"check: cdiscgen check-specs --study {out_dir}")


@spec_group.command("from-oak")
@click.argument("spec", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Study folder whose mappings/ to write.")  # fmt: skip
@click.option("--subject", default="PATNUM", show_default=True, help="The raw subject column.")
@click.option("--record-id", default=None, help="The raw record key column [the subject column].")
@click.option("--form", "form_name", default="{raw_dataset}.csv", show_default=True,
              help="The raw file of a raw dataset ({raw_dataset} in lower case).")  # fmt: skip
@click.option("--replace", is_flag=True, help="Replace mapping files that exist.")
@_bad_input_errors
def spec_from_oak_command(
    spec: Path, out_dir: Path, subject: str, record_id: str | None, form_name: str, replace: bool
) -> None:
    """mappings/ from an sdtm.oak specification CSV: ASSIGN, HARDCODE, IF_THEN_ELSE, dates, REMOVE_DUP and
    NOT SUBMITTED as cdiscgen rules; every row without an equivalent is listed with its line."""
    from cdiscgen._fromoak import mappings_from_oak

    result = mappings_from_oak(
        spec, out_dir, subject=subject, record_id=record_id, form_name=form_name, replace=replace
    )
    click.echo(f"{len(result.files)} mapping file(s) written: {', '.join(result.files)}")
    if result.derived:
        click.echo(f"derived by cdiscgen's engine ({len(result.derived)}): {', '.join(result.derived)}")
    if result.not_carried:
        click.echo(f"to check or write by hand ({len(result.not_carried)}):")
        for line in result.not_carried:
            click.echo(f"  - {line}")
    click.echo(f"check: cdiscgen check-specs --study {out_dir}")


def _set_quiet(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(dict)["quiet"] = True
        _configure_logging(0, True)


def _set_verbose(ctx: click.Context, _param: click.Parameter, value: int) -> None:
    if value:
        _configure_logging(value, bool(ctx.ensure_object(dict).get("quiet")))


def _accept_verbosity_everywhere(group: click.Group) -> None:
    """-q/-v after the subcommand too (`cdiscgen sdtm -q`), as README promises for every subcommand."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            _accept_verbosity_everywhere(command)
            continue
        command.params += [
            click.Option(["-v", "--verbose"], count=True, expose_value=False, callback=_set_verbose,
                         help="More log output (-vv for debug)."),
            click.Option(["-q", "--quiet"], is_flag=True, expose_value=False, callback=_set_quiet,
                         help="Only warnings and errors."),
        ]  # fmt: skip


_accept_verbosity_everywhere(main)

if __name__ == "__main__":  # pragma: no cover
    main()
