"""Atomic file output: write to a temp file in the target folder, then os.replace; several files as one
set: write them all into a temporary folder beside the target, then move them in."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

_TEMPORARY = ".tmp"  # the end of the name of a file open_atomic is writing


@contextlib.contextmanager
def open_atomic(path: Path, mode: str = "wb") -> Iterator[BinaryIO]:
    """Yield a file that replaces ``path`` only when the block ends without error.

    The temp file lives in the same folder (so os.replace is atomic on one filesystem) and is removed
    on any error, including KeyboardInterrupt. ``mode`` is "wb" or "w" (text is UTF-8, "\\n" newlines).
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TEMPORARY, dir=path.parent)
    try:
        kwargs = {} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}
        with os.fdopen(fd, mode, **kwargs) as handle:
            os.fchmod(handle.fileno(), 0o644)  # mkstemp creates 0600; outputs are meant to be shared
            yield handle
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def is_being_written(path: Path) -> bool:
    """Whether `path` is the temporary file `open_atomic` writes before it takes its own name."""
    return path.name.startswith(".") and path.name.endswith(_TEMPORARY)


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """Replace ``path`` with ``data`` atomically (never a half-written file)."""
    with open_atomic(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def write_text_atomic(path: Path, text: str) -> Path:
    """Replace ``path`` with UTF-8 ``text`` ("\\n" newlines) atomically."""
    with open_atomic(path, "w") as handle:
        handle.write(text)
    return Path(path)


def write_csv_atomic(frame: object, path: Path) -> Path:
    """A pandas DataFrame as CSV (UTF-8, no index, "\\n" line ends: pandas' bytes), atomically."""
    from cdiscgen._csv import write_csv
    from cdiscgen._overlap import writing_behind

    with open_atomic(path, "wb") as handle, writing_behind(handle) as write:
        write_csv(frame, write)  # type: ignore[arg-type]
    return Path(path)


@contextlib.contextmanager
def staged_files(folder: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``folder``; when the block ends without error, every file written
    into it is moved into ``folder`` (created if needed; other files there are left alone). Everything
    that can fail for lack of space or permission happens before the first file is replaced, so a failure
    leaves ``folder`` as it was; the temporary folder is removed either way."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-", dir=folder.parent))
    try:
        yield work
        folder.mkdir(exist_ok=True)
        for item in sorted(work.iterdir()):
            os.replace(item, folder / item.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_files_together(folder: Path, files: dict[str, str], remove: Iterable[Path] = ()) -> None:
    """UTF-8 text files (paths relative to ``folder``, in sub-folders too) as one set: all written into a
    temporary folder beside ``folder`` first, then the files of ``remove`` deleted and every file moved
    into place, so that a failure while writing leaves ``folder`` as it was."""
    folder = Path(folder)
    folder.absolute().parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-", dir=folder.absolute().parent))
    try:
        for rel, text in files.items():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_text(text, encoding="utf-8")
        for old in remove:
            Path(old).unlink(missing_ok=True)
        for rel in files:
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(work / rel, folder / rel)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def refuse_replacing(out_dir: Path, inputs: dict[str, Path | None], marker: str) -> None:
    """An output folder is replaced as a whole (`run`, `sdtm`, `adam`), so it must not overlap an input
    folder (be it, hold it or lie inside it), and a non-empty one must hold `marker`, the sign of an
    earlier cdiscgen output (run.json, define.xml): a user's unrelated folder is never deleted."""
    out_dir = Path(out_dir).resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"--out {out_dir} is a file, not a folder")
    for option, folder in inputs.items():
        if folder is None:
            continue
        folder = Path(folder).resolve()
        if folder == out_dir or out_dir in folder.parents or folder in out_dir.parents:
            raise ValueError(
                f"--out {out_dir} and {option} {folder} overlap; replacing the output would delete the "
                "input. Choose an --out outside the input folders"
            )
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / marker).is_file():
        raise FileExistsError(
            f"--out {out_dir} is not empty and holds no earlier cdiscgen output ({marker}); it is replaced "
            "as a whole, so refusing to replace it: choose an empty or new folder"
        )


def require_writable_report(report_dir: Path | None, out_dir: Path) -> None:
    """A --report outside --out is written after --out is replaced: check before anything changes that it
    can be written (the folder, or the nearest existing folder above it, takes a new file), so that a
    report that cannot be written never fails a command whose output is already replaced."""
    if report_dir is None:
        return
    report_dir, out_dir = Path(report_dir).resolve(), Path(out_dir).resolve()
    if report_dir == out_dir or out_dir in report_dir.parents:
        return  # written inside the new output, which the command has just made
    existing = report_dir
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(f"--report {report_dir}: {existing} is a file, not a folder")
    fd, probe = tempfile.mkstemp(prefix=".cdiscgen-probe-", dir=existing)
    os.close(fd)
    os.unlink(probe)


class OutputBusy(FileExistsError):
    """Another process is writing the same output folder."""


@contextlib.contextmanager
def output_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (a hidden ``.<name>.lock`` beside it) while it is rebuilt, so
    that two runs to one target never interleave; a second run is refused at once, naming the first."""
    import fcntl

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock_path = folder.parent / f".{folder.name}.lock"
    handle = open(lock_path, "a+")  # noqa: SIM115 - held for the whole block
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise OutputBusy(
                f"{folder} is being written by another cdiscgen run (PID {holder}); wait for it or choose "
                "another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        remove_stale_work(folder)
        yield
    finally:
        with contextlib.suppress(OSError):
            if handle.tell() and str(os.getpid()) in Path(lock_path).read_text():
                os.unlink(lock_path)
        handle.close()


def remove_stale_work(folder: Path) -> list[Path]:
    """Remove the temporary trees (``.<name>.partial-PID``, ``.<name>.previous-PID``) that a killed run
    left beside ``folder``, when their process is gone; a ``previous`` tree is put back first when
    ``folder`` itself is missing (a kill between the two renames of a swap). Returns what was removed."""
    import logging

    folder = Path(folder)
    log = logging.getLogger(__name__)
    removed = []
    for kind in ("previous", "partial"):
        for path in sorted(folder.parent.glob(f".{folder.name}.{kind}-*")):
            pid = path.name.rsplit("-", 1)[-1]
            if not pid.isdigit() or _alive(int(pid)) or int(pid) == os.getpid():
                continue
            if kind == "previous" and not folder.exists():
                os.replace(path, folder)
                log.warning(
                    "restored %s from %s, left by an interrupted run (PID %s)", folder, path.name, pid
                )
                continue
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
            log.warning("removed %s, left by an interrupted run (PID %s)", path, pid)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class InterruptedAfterSwap(KeyboardInterrupt):
    """Ctrl-C or SIGTERM came after the new tree was in place (while the old one was being removed)."""


def swap_in_tree(work: Path, out_dir: Path) -> None:
    """Put `work` at `out_dir`: one atomic exchange where the system has it (the two trees trade places,
    so out_dir is the complete old or the complete new tree at every instant, even under SIGKILL), else
    two renames (`run`, `sdtm` and `adam` alike). SIGINT and SIGTERM that arrive meanwhile wait until the new tree is in place. The old
    tree is removed afterwards, even if interrupted; one that a killed run leaves behind is removed by the
    next run (remove_stale_work)."""
    with _signals_held() as held:
        old: Path | None = None
        if not out_dir.exists():
            os.replace(work, out_dir)
        elif exchange_paths(work, out_dir):
            old = work  # the old tree now sits where the new one was built
        else:
            old = out_dir.parent / f".{out_dir.name}.previous-{os.getpid()}"
            os.replace(out_dir, old)
            os.replace(work, out_dir)
    try:
        if held:
            raise InterruptedAfterSwap(f"signal {held[0]}")
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except KeyboardInterrupt:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        raise InterruptedAfterSwap() from None


@contextlib.contextmanager
def _signals_held() -> Iterator[list[int]]:
    """SIGINT and SIGTERM are recorded, not acted on, inside the block (Python runs signal handlers in
    the main thread, so this holds whichever thread the signal reaches); the list says which came."""
    held: list[int] = []

    def hold(signum: int, frame: object) -> None:
        held.append(signum)

    try:
        previous = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not in the main thread: signals do not reach this code anyway
        yield held
        return
    try:
        yield held
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def exchange_paths(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux renameat2 RENAME_EXCHANGE): at every instant each
    path holds one complete tree, even if the process is killed. False where the system cannot (then the
    caller falls back to two renames)."""
    import ctypes
    import errno

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))
