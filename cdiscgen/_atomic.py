"""Atomic file output: write to a temp file in the target folder, then os.replace."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def open_atomic(path: Path, mode: str = "wb") -> Iterator[BinaryIO]:
    """Yield a file that replaces ``path`` only when the block ends without error.

    The temp file lives in the same folder (so os.replace is atomic on one filesystem) and is removed
    on any error, including KeyboardInterrupt. ``mode`` is "wb" or "w" (text is UTF-8, "\\n" newlines).
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
    """A pandas DataFrame as CSV (UTF-8, no index, "\\n" line ends), atomically."""
    with open_atomic(path, "w") as handle:
        frame.to_csv(handle, index=False, lineterminator="\n")  # type: ignore[attr-defined]
    return Path(path)
