"""Subject partitions of a study (docs/partitioned-runs.md): consecutive ranges of USUBJID in text order,
the first starting and the last ending unbounded, so that every record of every form lands in exactly one
partition (a subject missing from DM and a record without USUBJID too: "" sorts first)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cdiscgen._findings import Finding


@dataclass(frozen=True)
class SubjectRange:
    """USUBJIDs from `first` (included) up to `stop` (excluded); None: no bound on that side."""

    first: str | None = None
    stop: str | None = None

    def mask(self, usubjid: pd.Series) -> np.ndarray:
        """The records of the partition."""
        values = usubjid.astype("str").to_numpy(dtype=object)
        keep = np.ones(len(values), dtype=bool)
        if self.first is not None:
            keep &= values >= self.first
        if self.stop is not None:
            keep &= values < self.stop
        return keep

    def holds(self, usubjid: str) -> bool:
        return (self.first is None or usubjid >= self.first) and (self.stop is None or usubjid < self.stop)

    def owns(self, finding: Finding, split: frozenset[str] = frozenset()) -> bool:
        """A finding about a subject belongs to the partition holding the subject; one about no subject (a
        whole form, a record without USUBJID, a spec) to the first partition, which holds those records:
        every partition computes it alike from the whole forms it reads. A finding about a record of a form
        in `split` (each partition reads only its subjects' records of it) belongs to the partition that
        found it."""
        if finding.usubjid is None:
            return self.first is None or finding.file in split
        return self.holds(finding.usubjid)


def subject_ranges(subjects: Iterable[str], count: int) -> list[SubjectRange]:
    """`count` consecutive ranges holding about equally many of `subjects` (DM's USUBJIDs), covering every
    text: the first starts and the last ends unbounded. Fewer ranges when there are fewer subjects."""
    if count < 1:
        raise ValueError(f"a study is cut into at least 1 partition, not {count}")
    ordered = sorted(set(subjects))
    count = max(1, min(count, len(ordered)))
    size = -(-len(ordered) // count) if ordered else 1
    bounds = [ordered[i] for i in range(size, len(ordered), size)]
    starts = [None, *bounds]
    stops = [*bounds, None]
    return [SubjectRange(a, b) for a, b in zip(starts, stops, strict=True)]
