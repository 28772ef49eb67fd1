"""Overlap on two cores: compute the next pieces of an output while the last ones go to the disk.

Both helpers keep the order of what they are given, so the bytes written are the same as one thread would
write; numpy, arrow and the write call release the GIL, so the threads run at the same time.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@contextlib.contextmanager
def writing_behind(handle: BinaryIO, depth: int = 2) -> Iterator[Callable[[bytes | memoryview], None]]:
    """Yield a ``write(buffer)`` that hands each buffer to one background thread, in order, so that the
    next buffer is computed while the last goes to the disk (the write call releases the GIL). At most
    ``depth`` buffers wait; a buffer must not change once handed over. A failed write is raised in the
    caller at its next write or when the block ends; the thread is done with ``handle`` when it ends."""
    pending: collections.deque[Future[object]] = collections.deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cdiscgen-write") as pool:

        def write(buffer: bytes | memoryview) -> None:
            while len(pending) >= depth:
                pending.popleft().result()
            pending.append(pool.submit(handle.write, buffer))

        yield write  # on an error of the caller, leaving the pool waits for the thread to be done
        while pending:
            pending.popleft().result()


def computed_ahead(fn: Callable[[T], R], items: Iterable[T], workers: int = 2, ahead: int = 3) -> Iterator[R]:
    """``fn(item)`` for each item, in the items' order, computed by ``workers`` threads at most ``ahead``
    items before the one the caller takes (so memory holds a few results, not all). An error of ``fn`` is
    raised in the caller when it reaches that item."""
    pending: collections.deque[Future[R]] = collections.deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cdiscgen-pack") as pool:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
