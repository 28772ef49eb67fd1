"""A dataset held as consecutive parts (the subject partitions of a large study, spilled to disk) that the
writers stream one at a time, in order, so the whole dataset is never in memory (docs/partitioned-runs.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class DatasetParts:
    """`readers` give the parts in order; `rows` and `columns` are the whole dataset's (known before any
    part is read: a Dataset-JSON header holds the record count); `lengths`, when the maker of the parts
    measured them, the file length of each variable (the longest value over all parts, in bytes of the
    export encoding), which an XPT header needs before the first row is written."""

    name: str
    readers: tuple[Callable[[], pd.DataFrame], ...]
    rows: int
    columns: tuple[str, ...]
    lengths: Mapping[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.rows

    def parts(self) -> Iterator[tuple[int, pd.DataFrame]]:
        """(first row of the part in the whole dataset, part); a part that does not match the declared
        columns, or parts that add up to another row count, are an error (a spilled file changed)."""
        first = 0
        for number, read in enumerate(self.readers, start=1):
            part = read()
            if tuple(str(c) for c in part.columns) != self.columns:
                raise ValueError(
                    f"{self.name}: part {number} has columns {list(part.columns)}, not {list(self.columns)}"
                )
            yield first, part
            first += len(part)
        if first != self.rows:
            raise ValueError(f"{self.name}: the parts hold {first} rows, not the {self.rows} declared")


def frame_parts(frame: pd.DataFrame | DatasetParts) -> Iterator[tuple[int, pd.DataFrame]]:
    """A frame as one part starting at row 0, or the parts of a DatasetParts."""
    if isinstance(frame, DatasetParts):
        yield from frame.parts()
    else:
        yield 0, frame
