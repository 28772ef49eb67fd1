"""`cdiscgen run`: simulate (when no raw folder) -> SDTM -> ADaM -> XPT + Dataset-JSON + define.xml ->
validate -> endpoint summary, into the eCTD-style output tree of DESIGN.md.

The tree is built in a temporary folder beside the target and swapped in only when every stage has
finished, so a failure or an interrupt leaves the previous complete output untouched.
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
import json
import logging
import os
import platform
import shutil
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from cdiscgen import __version__
from cdiscgen._atomic import is_being_written, output_lock, refuse_replacing, swap_in_tree
from cdiscgen._clock import creation_datetime
from cdiscgen._findings import Findings, Severity
from cdiscgen._publish import PublishResult, write_datasets, write_trace
from cdiscgen._specs import Study, load_study

if TYPE_CHECKING:
    from define import DefineResult

log = logging.getLogger(__name__)

KEY_DEPENDENCIES = (
    "pandas",
    "numpy",
    "pyarrow",
    "pyreadstat",
    "scipy",
    "lxml",
    "cerberus",
    "pyyaml",
    "defineutils",
)


class StageError(RuntimeError):
    """A stage failed; the message names the stage and what the stage reported (dataset, record...)."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        self.stage = stage
        self.cause = cause
        super().__init__(f"stage '{stage}' failed: {cause}")


class Reporter(Protocol):
    def stage_started(self, name: str) -> None: ...

    def stage_finished(self, name: str, seconds: float, rows: int | None) -> None: ...


class LogReporter:
    """Plain log lines: what a non-terminal run (CI, a batch job) shows."""

    def stage_started(self, name: str) -> None:
        log.info("stage %s: started", name)

    def stage_finished(self, name: str, seconds: float, rows: int | None) -> None:
        suffix = f", {rows:,} rows" if rows is not None else ""
        log.info("stage %s: done in %.2f s%s", name, seconds, suffix)


@dataclass(frozen=True)
class RunOptions:
    out_dir: Path
    study_dir: Path | None = None
    raw_dir: Path | None = None
    subjects: int = 40
    seed: int = 20240101
    sites: int = 5
    cutoff: date | None = None
    partition_subjects: int | None = None  # build SDTM and ADaM in partitions of about this many subjects
    workers: int = 1  # the partitions on an embedded Dask cluster of this many processes (1: in this one)
    scheduler: str | None = None  # or on the existing Dask cluster at this address


@dataclass
class StageRecord:
    name: str
    seconds: float
    rows: int | None


@dataclass
class RunResult:
    out_dir: Path
    stages: list[StageRecord] = field(default_factory=list)
    findings: Findings = field(default_factory=Findings)
    files: dict[str, str] = field(default_factory=dict)
    rule_seconds: dict[str, float] = field(default_factory=dict)


def output_layout(out_dir: Path, studyid: str) -> dict[str, Path]:
    """The folders of the output tree (DESIGN.md 'Output folder')."""
    study_root = out_dir / "m5" / "datasets" / studyid.lower()
    return {
        "raw": out_dir / "raw",
        "sdtm": study_root / "tabulations" / "sdtm",
        "adam": study_root / "analysis" / "adam" / "datasets",
        "json": out_dir / "json",
        "analysis": out_dir / "analysis",
        "validation": out_dir / "validation",
        "trace": out_dir / "trace",  # traceability is for the sponsor, not a submission file: outside m5
    }


def run_pipeline(options: RunOptions, reporter: Reporter | None = None) -> RunResult:
    """Run every stage into a temporary tree, then swap it in place of options.out_dir."""
    reporter = reporter or LogReporter()
    study = load_study(options.study_dir)
    out_dir = Path(options.out_dir).resolve()
    if options.raw_dir is not None and not Path(options.raw_dir).is_dir():
        raise FileNotFoundError(f"raw data folder {options.raw_dir} does not exist")
    inputs = {
        "--raw": options.raw_dir,
        "--study specs": study.specs_dir,
        "--study mappings": study.mappings_dir,
    }
    refuse_replacing(out_dir, inputs, marker="run.json")
    with output_lock(out_dir):
        return _run_into(out_dir, options, study, reporter)


def _run_into(out_dir: Path, options: RunOptions, study: Study, reporter: Reporter) -> RunResult:
    work = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    try:
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        with _interrupt_on_sigterm(), _Checksums(work) as checksums:
            result = _run_stages(options, study, work, reporter, checksums.take_written)
            result.files = checksums.by_path()
            _write_run_json(work, options, study, result)
        swap_in_tree(work, out_dir)
        result.out_dir = out_dir
        return result
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def _run_stages(
    options: RunOptions,
    study: Study,
    work: Path,
    reporter: Reporter,
    after_stage: Callable[[], None] = lambda: None,
) -> RunResult:
    """The stages into `work`; `after_stage` is called as each one ends (what it wrote is final)."""
    result = RunResult(out_dir=work)
    layout = output_layout(work, study.studyid)
    created = creation_datetime(study.settings)
    cutoff = options.cutoff or study.cutoff

    largest = [0]  # the most rows a stage has made so far: what the run holds in memory

    def stage(name: str, func: Callable[[], Any], rows: Callable[[Any], int | None] | None = None) -> Any:
        reporter.stage_started(name)
        start = time.perf_counter()
        try:
            value = func()
        except (KeyboardInterrupt, StageError):
            raise
        except Exception as exc:  # noqa: BLE001 - re-raised with the stage named
            raise StageError(name, exc) from exc
        seconds = time.perf_counter() - start
        count = rows(value) if rows else None
        largest[0] = max(largest[0], count or 0)
        if largest[0] >= _RELEASE_FROM_ROWS:
            _release_memory()
        result.stages.append(StageRecord(name, round(seconds, 3), count))
        reporter.stage_finished(name, seconds, count)
        after_stage()
        return value

    raw_dir = options.raw_dir
    if raw_dir is None:
        from cdiscgen.simulate import simulate_study

        stage(
            "simulate",
            lambda: simulate_study(
                layout["raw"],
                subjects=options.subjects,
                seed=options.seed,
                sites=options.sites,
                study_dir=study.root,
            ),
            lambda r: sum(r.rows.values()),
        )
        raw_dir = layout["raw"]

    from adam import declares_adam

    # a study still being set up may declare SDTM only: no ADaM stages then, and run.json lists none
    with_adam = declares_adam(study.root)
    if not with_adam:
        log.info("%s declares no ADaM (no specs/adam/adsl.yaml): SDTM only", study.root)
    if not options.partition_subjects:
        # define.html is rendered, and Dataset-JSON written, beside the stages that follow (the stylesheet
        # and Arrow's joins run without Python's lock); leaving the block waits for both, so nothing writes
        # into the tree after this
        with _beside("define-html") as renderer, _beside("dataset-json") as json_writer:
            defines = _run_whole(
                Path(raw_dir), study, layout, created, cutoff, with_adam, stage, result, renderer, json_writer
            )
            _validate_and_report(study, layout, created, with_adam, stage, result)
            _wait_for_defines(defines)
        return result
    from cdiscgen._partitioned import run_partitioned
    from cdiscgen._tasks import partition_client

    with partition_client(options.workers, options.scheduler) as client:
        partitions = run_partitioned(
            Path(raw_dir),
            study,
            partition_subjects=options.partition_subjects,
            layout=layout,
            spill_root=work.parent,
            created=created,
            cutoff=cutoff,
            with_adam=with_adam,
            stage=stage,
            findings=result.findings,
            client=client,
        )
        _validate_and_report(study, layout, created, with_adam, stage, result, partitions, client)
    return result


def _run_whole(
    raw_dir: Path,
    study: Study,
    layout: dict[str, Path],
    created: datetime,
    cutoff: date | None,
    with_adam: bool,
    stage: Callable[..., Any],
    result: RunResult,
    renderer: Executor | None = None,
    json_writer: Executor | None = None,
) -> dict[str, DefineResult]:
    """The stages sdtm, export-sdtm, define-sdtm, adam, export-adam, define-adam and summary, each on the
    whole study: the SDTM package is written and described before ADaM is derived, so that the SDTM
    datasets are let go as soon as ADaM is (peak memory). The define.html files are rendered by `renderer`
    when given (see `_wait_for_defines`); the Dataset-JSON files are written by `json_writer` when given,
    beside the stages that follow each export, and the stage dataset-json waits for the rest of them
    before the stages' datasets are let go."""
    from sdtm import run_sdtm

    # the stage results live in one dict so they can be released before validation (peak memory)
    held: dict[str, Any] = {}
    held["sdtm"] = stage("sdtm", lambda: run_sdtm(raw_dir, study), lambda r: _total_rows(r.datasets))
    result.findings.extend(held["sdtm"].findings)
    # ADaM needs the SDTM datasets only: their trace goes to disk first and is let go (peak memory)
    write_trace(held["sdtm"].trace, layout["trace"])
    held["sdtm"].trace.clear()

    from define import write_define

    published: list[PublishResult] = []

    def export_and_describe(name: str, standard: str) -> DefineResult:
        folder = layout[name]
        datasets = held[name].datasets
        written = stage(
            f"export-{name}",
            lambda: write_datasets(datasets, study, folder, created=created, json_dir=layout["json"],
                                   json_writer=json_writer),
            lambda r: sum(r.rows.values()),
        )  # fmt: skip
        published.append(written)
        return stage(
            f"define-{name}",
            lambda: write_define(study, datasets, folder, standard=standard, created=created,
                                 lengths=written.lengths, executor=renderer),
        )  # fmt: skip

    defines = {"define-sdtm": export_and_describe("sdtm", "SDTM")}

    from adam import derive_adam

    def derive_and_let_go() -> Any:
        derived = derive_adam(
            held["sdtm"].datasets, study.settings, cutoff=cutoff, study_dir=study.root, release_inputs=True
        )
        del held["sdtm"]  # written and described: not held beside the ADaM datasets (the stage trims)
        return derived

    if with_adam:
        held["adam"] = stage("adam", derive_and_let_go, lambda r: _total_rows(r.datasets))
        result.findings.extend(held["adam"].findings)
        defines["define-adam"] = export_and_describe("adam", "ADaM")
    for written in defines.values():  # define findings after ADaM's, the order of the findings before
        result.findings.extend(written.findings)

    from adam import compute_endpoint_summary, summary_applies, write_summary

    if with_adam and summary_applies(held["adam"].datasets, study.settings):
        stage(
            "summary",
            lambda: write_summary(
                compute_endpoint_summary(
                    held["adam"].datasets["ADSL"],
                    held["adam"].datasets["ADRS"],
                    held["adam"].datasets["ADTTE"],
                    study.settings,
                    held["adam"].datasets.get("ADAE"),
                    held["adam"].datasets.get("ADQS"),
                ),
                layout["analysis"],
            ),
        )
    if any(written.writing for written in published):
        stage("dataset-json", lambda: [written.wait() for written in published])
    # Validation reads the files as filed; the in-memory datasets are no longer needed (peak memory).
    held.clear()
    return defines


@contextmanager
def _beside(name: str) -> Iterator[ThreadPoolExecutor]:
    """One thread for work beside the stages; leaving the block waits for it, and on an error (a failed
    stage, Ctrl-C) drops what it has not begun."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _wait_for_defines(defines: dict[str, DefineResult]) -> None:
    """Return once every define.html is written; a rendering that failed fails its define stage."""
    for name, written in defines.items():
        try:
            written.wait()
        except Exception as exc:  # noqa: BLE001 - re-raised with the stage named
            raise StageError(name, exc) from exc


def _validate_and_report(
    study: Study,
    layout: dict[str, Path],
    created: datetime,
    with_adam: bool,
    stage: Callable[..., Any],
    result: RunResult,
    partitions: list[dict[str, tuple[int, int]]] | None = None,
    client: Any = None,
) -> None:
    """Validate the files as written (the subject-level rules partition by partition when the run was
    partitioned: `partitions` gives the records of each file a partition holds; a large package of a whole
    run in partitions cut from its files, `validate_within`) and write the reports."""
    from cdiscgen.report import write_reports
    from cdiscgen.validate import validate_in_partitions, validate_within

    folders = [layout["sdtm"], layout["adam"]] if with_adam else [layout["sdtm"]]
    if partitions is None:
        validation = stage("validate", lambda: validate_within(folders, study=study))
    else:
        validation = stage(
            "validate", lambda: validate_in_partitions(folders, partitions, study=study, client=client)
        )
    result.findings.extend(validation.findings)
    result.rule_seconds = {code: round(seconds, 3) for code, seconds in sorted(validation.timings.items())}
    from cdiscgen._stages import finding_names

    stage(
        "report",
        lambda: write_reports(
            result.findings,
            layout["validation"],
            created=created.isoformat(),
            names=finding_names(),
            validation=validation,
        ),
    )


# A full garbage collection costs ~70 ms whatever the data; below this many rows the memory it would
# give back is small, so a run of a few dozen subjects does not pay it after every stage.
_RELEASE_FROM_ROWS = 50_000


def _release_memory() -> None:
    """Give memory freed by a stage back to the operating system before the next one (peak RSS)."""
    gc.collect()
    try:
        import pyarrow

        pyarrow.default_memory_pool().release_unused()
    except (ImportError, AttributeError):  # pragma: no cover - pyarrow is a dependency
        pass
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        pass


def _total_rows(datasets: Mapping[str, pd.DataFrame]) -> int:
    return int(sum(len(frame) for frame in datasets.values()))


@contextmanager
def _interrupt_on_sigterm() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C: the temporary tree is removed and the previous output kept."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not in the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


FileIdentity = tuple[int, int, int, int]


def _identity(path: Path) -> FileIdentity | None:
    """What changes when a file is replaced (its inode), grown, cut or written (size, modification time)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _sha256_if_unchanged(path: Path, identity: FileIdentity) -> str | None:
    """The file's SHA-256, or None when it changed while being read (or is gone)."""
    try:
        digest = _sha256(path)
    except OSError:
        return None
    return digest if _identity(path) == identity else None


class _Checksums:
    """SHA-256 of every output file but run.json, by path under `root`. The files a stage has written are
    hashed on a thread while the next stages run (`take_written`; the pipeline's stages leave the second
    core mostly idle); at the end (`by_path`) a file is read again only when it was not taken, or changed
    since (replaced, grown, cut or rewritten), side by side (hashlib lets go of the GIL on large blocks)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checksums")
        self._taken: dict[Path, tuple[FileIdentity, Future[str | None]]] = {}

    def __enter__(self) -> _Checksums:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def take_written(self) -> None:
        for path in self._files():  # a file still being written is hashed once it has its own name
            if is_being_written(path):
                continue
            identity = _identity(path)
            taken = self._taken.get(path)
            if identity is not None and (taken is None or taken[0] != identity):
                self._taken[path] = (identity, self._pool.submit(_sha256_if_unchanged, path, identity))

    def by_path(self) -> dict[str, str]:
        paths = self._files()
        digests: dict[Path, str] = {}
        for path in paths:
            taken = self._taken.get(path)
            if taken is not None and taken[0] == _identity(path):
                digest = taken[1].result()
                if digest is not None:
                    digests[path] = digest
        rest = [path for path in paths if path not in digests]
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            digests.update(zip(rest, pool.map(_sha256, rest), strict=True))
        return {str(path.relative_to(self.root)): digests[path] for path in paths}

    def _files(self) -> list[Path]:
        return [p for p in sorted(self.root.rglob("*")) if p.is_file() and p.name != "run.json"]


def _versions() -> dict[str, str]:
    out = {"cdiscgen": __version__, "python": platform.python_version()}
    for name in KEY_DEPENDENCIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _write_run_json(work: Path, options: RunOptions, study: Study, result: RunResult) -> None:
    counts = result.findings.by_severity()
    document = {
        "study": study.studyid,
        "study_dir": str(study.root),
        "inputs": {
            "raw": str(options.raw_dir) if options.raw_dir else None,
            "simulated": options.raw_dir is None,
            "subjects": options.subjects if options.raw_dir is None else None,
            "seed": options.seed if options.raw_dir is None else None,
            "sites": options.sites if options.raw_dir is None else None,
            "cutoff": str(options.cutoff or study.cutoff),
            "partition_subjects": options.partition_subjects,
        },
        "versions": _versions(),
        # where the partitions ran (the files do not depend on it)
        "partitions_on": (options.scheduler or f"{options.workers} local worker processes")
        if options.partition_subjects and (options.scheduler or options.workers > 1)
        else None,
        "stages": [{"name": s.name, "seconds": s.seconds, "rows": s.rows} for s in result.stages],
        "validation_rule_seconds": result.rule_seconds,
        "findings": {
            "by_severity": counts,
            "errors": counts.get(str(Severity.ERROR), 0),
            "explained": len(result.findings.explained()),
        },
        "files": result.files,
        "finished": datetime.now().isoformat(timespec="seconds"),
    }
    (work / "run.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
