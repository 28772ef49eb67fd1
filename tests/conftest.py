"""Shared test helpers: where the repository and the shared reference data are."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFDATA = REPO.parent / "shared" / "refdata"


def refdata_path(*parts: str) -> Path:
    """A path inside ../shared/refdata, or skip the test with the reason when it is absent."""
    path = REFDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data not available here: {path} (present in CI, absent on a user's machine)")
    return path


@pytest.fixture
def study_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled study (specs/ + mappings/) to break on purpose."""
    target = tmp_path / "study"
    shutil.copytree(REPO / "specs", target / "specs")
    if (REPO / "mappings").is_dir():
        shutil.copytree(REPO / "mappings", target / "mappings")
    return target


def shared_build(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """The folder `build(folder)` makes, built once per test session and shared by every pytest-xdist
    worker: the first worker to ask builds it under a file lock, the others wait for it and reuse it.
    It is read-only for the tests: a test that changes it works on a copy (shutil.copytree)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the folder the workers' own base folders share
    folder = base / "baselines" / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = folder.parent / f"{name}.done"
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a worker killed mid-build left
            build(folder)
            done.touch()
    return folder


class _QuietReporter:
    def stage_started(self, name: str) -> None:
        pass

    def stage_finished(self, name: str, seconds: float, rows: int | None) -> None:
        pass


def _built_run(tmp_path_factory: pytest.TempPathFactory, name: str, **options) -> Path:
    """The output tree of `cdiscgen run` with `options` (RunOptions fields), built once per session."""
    from cdiscgen._pipeline import RunOptions, run_pipeline

    def build(folder: Path) -> None:
        run_pipeline(RunOptions(out_dir=folder / "out", **options), reporter=_QuietReporter())

    return shared_build(tmp_path_factory, name, build) / "out"


@pytest.fixture(scope="session")
def darpal_run(tmp_path_factory) -> Path:
    """The bundled study's default run (40 simulated subjects): read-only, copy it to change it."""
    return _built_run(tmp_path_factory, "darpal-40")


@pytest.fixture(scope="session")
def small_run(tmp_path_factory) -> Path:
    """A run of 8 simulated subjects with seed 1, the smallest complete output: read-only."""
    return _built_run(tmp_path_factory, "darpal-8-seed1", subjects=8, seed=1)


@pytest.fixture(scope="session")
def small_run_seed2(tmp_path_factory) -> Path:
    """As small_run with seed 2: a complete output whose data files differ from small_run's."""
    return _built_run(tmp_path_factory, "darpal-8-seed2", subjects=8, seed=2)


@pytest.fixture(scope="session")
def pilot_run(tmp_path_factory) -> Path:
    """`cdiscgen run` of the CDISC pilot's raw exports with examples/cdiscpilot01: read-only."""
    raw = refdata_path("cdiscpilot01-raw", "raw")
    return _built_run(
        tmp_path_factory, "pilot-run", raw_dir=raw, study_dir=REPO / "examples" / "cdiscpilot01"
    )


@pytest.fixture(scope="session")
def pilot_mapped(tmp_path_factory):
    """A function giving the CDISC pilot's SDTM mapped from its raw exports with examples/cdiscpilot01 (an
    sdtm.SdtmResult of its own at each call), mapped once per session for every worker (a pickle in the
    shared baselines)."""
    import pickle

    from cdiscgen import load_study
    from sdtm import run_sdtm

    def build(folder: Path) -> None:
        result = run_sdtm(
            refdata_path("cdiscpilot01-raw", "raw"), load_study(REPO / "examples" / "cdiscpilot01")
        )
        folder.mkdir(parents=True)
        (folder / "sdtm.pickle").write_bytes(pickle.dumps(result))

    folder = shared_build(tmp_path_factory, "pilot-sdtm", build)
    return lambda: pickle.loads((folder / "sdtm.pickle").read_bytes())


_RUN_BASELINES = {"darpal_run", "small_run", "small_run_seed2", "pilot_mapped", "pilot_run"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that reads a whole run's output is `slow` (left out by `make test-fast`, run by `make test`)."""
    for item in items:
        if _RUN_BASELINES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


# ------------------------------------------------------------------------------------ the defect suite
#: The tests that inject one defect into a clean output (hand-built, or the real DarPAL run) and expect the
#: rule meant for it to catch it; their outcomes make the recall printed at the end of the run.
DEFECT_TESTS = frozenset(
    {
        "test_defect_is_caught_by_its_rule_only",  # tests/test_validate_defects.py (hand-built study)
        "test_defect_in_real_output_is_caught_by_its_rule_only",  # tests/test_validate_pipeline.py
        "test_declared_rule_catches_its_defect_in_the_real_output",  # tests/test_validate_declared.py
    }
)
_DEFECT_OUTCOMES: dict[str, str] = {}  # test id -> caught | caught, other findings too | missed


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    test, _, defect = report.nodeid.split("::")[-1].partition("[")
    if test not in DEFECT_TESTS or report.when != "call":
        return
    if report.passed:
        outcome = "caught"
    elif "did not fire" in _failure_message(report):
        outcome = "missed"
    else:
        outcome = "caught, other findings too"
    _DEFECT_OUTCOMES[report.nodeid.split("::")[0] + "::" + defect.rstrip("]")] = outcome


def _failure_message(report: pytest.TestReport) -> str:
    """The assertion's own message (the whole report also quotes the test's source, "did not fire" included)."""
    crash = getattr(report.longrepr, "reprcrash", None)
    return str(getattr(crash, "message", report.longrepr))


def pytest_terminal_summary(terminalreporter) -> None:
    """The defect suite's recall: injected defects caught by their rule, and every miss by name."""
    if not _DEFECT_OUTCOMES:
        return
    total = len(_DEFECT_OUTCOMES)
    missed = sorted(k for k, v in _DEFECT_OUTCOMES.items() if v == "missed")
    noisy = sorted(k for k, v in _DEFECT_OUTCOMES.items() if v == "caught, other findings too")
    kinds = len({k.partition("::")[2] for k in _DEFECT_OUTCOMES})
    terminalreporter.write_sep("-", "defect suite")
    terminalreporter.write_line(
        f"{total} injected defects ({kinds} distinct kinds): {total - len(missed)} caught by their rule, "
        f"recall {100 * (total - len(missed)) / total:.1f}%"
    )
    for key in missed:
        terminalreporter.write_line(f"  missed: {key}")
    for key in noisy:
        terminalreporter.write_line(f"  caught, with findings the defect does not imply: {key}")


# CI runs hypothesis derandomized so that a green run is reproducible; locally it explores freely.
try:
    import os

    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("ci", derandomize=True, deadline=None)
    if os.environ.get("CI"):
        _hypothesis_settings.load_profile("ci")
except ImportError:  # pragma: no cover - hypothesis is in the test extra
    pass


@contextmanager
def remembering_what_rules_derive(frames: Iterable) -> Iterator[None]:
    """Within the block, what validator rules derive from one of `frames` (ValidationContext.of_dataset)
    is computed once and reused by every later validation: for the defect tests, which validate the same
    clean frames again and again with one of them changed. The frames are held here and must not be
    edited; a changed frame is a new object and is computed afresh."""
    from cdiscgen.validate._context import ValidationContext

    held = {id(f): f for f in frames}  # kept alive so that an id is never reused
    memo: dict[tuple, object] = {}
    original = ValidationContext.of_dataset

    def of_dataset(ctx, kind, name, compute, *columns):
        frame = ctx.datasets[name]
        if held.get(id(frame)) is not frame:
            return original(ctx, kind, name, compute, *columns)
        key = (id(frame), kind, columns)
        if key not in memo:
            memo[key] = original(ctx, kind, name, compute, *columns)
        return memo[key]

    patch = pytest.MonkeyPatch()
    patch.setattr(ValidationContext, "of_dataset", of_dataset)
    try:
        yield
    finally:
        patch.undo()


@contextmanager
def dask_cluster_processes(workers: int = 2) -> Iterator[str]:
    """An existing Dask cluster as a user starts one: `dask scheduler` and `dask worker` processes on
    127.0.0.1 (one thread each); yields the scheduler's address once the workers have joined."""
    import socket
    import subprocess
    import sys

    from dask.distributed import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).parent / "dask")
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        procs += [
            subprocess.Popen(
                [dask, "worker", address, "--nthreads", "1", "--no-dashboard"], stderr=subprocess.DEVNULL
            )
            for _ in range(workers)
        ]
        with Client(address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
