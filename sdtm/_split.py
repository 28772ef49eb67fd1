"""Raw forms split by subject once, for a partitioned run (docs/partitioned-runs.md).

Without a split every partition reads every raw form whole and keeps its subjects' records after the
source's steps: the time and memory of reading grow with the study once per partition. A form whose every
use is local to a subject is instead read once, its reading findings reported then, and its records
written in one piece per partition (by the USUBJID the source's subject column gives), with their raw row
numbers: a partition reads its piece.

A use is local to a subject when the source takes the subject from a raw column S (not a rule) without an
explicit USUBJID rule, de-duplicates on keys that hold S and merges other forms by keys that hold S; the
merged form is then split by its own column S. A form merged by keys without S is a lookup every partition
needs whole, and a form merged by S into a form that is not split stays whole too (the whole form's other
subjects' records would meet an empty piece). Everything else is read whole, as before.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cdiscgen._findings import Finding
from cdiscgen._specs import Study
from sdtm._engine import FormReader
from sdtm._mapspec import MappingSpec, SourceSpec, read_mapping_specs
from sdtm._partition import SubjectRange

log = logging.getLogger(__name__)


@dataclass
class RawPieces:
    """The raw forms split by subject: per form, one Parquet file per partition, in `ranges` order."""

    folder: Path
    ranges: list[SubjectRange]
    columns: dict[str, str] = field(default_factory=dict)  # form -> the subject column it is split by
    findings: list[Finding] = field(default_factory=list)  # the reading findings of the split forms

    @property
    def forms(self) -> frozenset[str]:
        return frozenset(self.columns)

    def path(self, form: str, number: int) -> Path:
        return self.folder / form / f"{number:05d}.parquet"

    def read(self, form: str, partition: SubjectRange | None) -> pd.DataFrame:
        """The records of `form` whose subjects `partition` holds, as the whole form read them."""
        if partition is None:
            raise ValueError(f"{form} is split by subject: a partition reads its piece of it")
        return pd.read_parquet(self.path(form, self.ranges.index(partition)))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def split_raw_forms(raw_dir: Path, study: Study, ranges: list[SubjectRange], folder: Path) -> RawPieces:
    """Split every form whose uses are local to a subject into one piece per range of `ranges`; the
    findings of reading them are in the result (reported once, from the whole form)."""
    specs = read_mapping_specs(study)
    pieces = RawPieces(Path(folder), list(ranges), compute_split_columns(specs))
    reader = FormReader.of(specs, study)
    for form, column in sorted(pieces.columns.items()):
        (pieces.folder / form).mkdir(parents=True, exist_ok=True)
        writer = _PieceWriter(pieces, form, column, study)
        try:
            pieces.findings.extend(reader.read_in_blocks(Path(raw_dir), form, SPLIT_RECORDS, writer.take))
        finally:
            writer.close()
        log.info("%s: split by %s into %d pieces", form, column, len(ranges))
    return pieces


#: Raw records read at a time while a form is split.
SPLIT_RECORDS = 200_000


class _PieceWriter:
    """Appends each block of a form's records to the pieces of the partitions holding their subjects."""

    def __init__(self, pieces: RawPieces, form: str, column: str, study: Study) -> None:
        self.pieces, self.form, self.column, self.study = pieces, form, column, study
        self.bounds = np.array([r.first for r in pieces.ranges[1:]], dtype=object)
        self.writers: list[pq.ParquetWriter] = []

    def take(self, block: pd.DataFrame) -> None:
        subject = block[self.column].astype("str").str.strip()
        usubjid = self.study.compute_usubjid(subject).to_numpy(dtype=object)
        where = np.searchsorted(self.bounds, usubjid, side="right")
        table = pa.Table.from_pandas(block, preserve_index=False)
        if not self.writers:
            paths = [self.pieces.path(self.form, n) for n in range(len(self.pieces.ranges))]
            self.writers = [pq.ParquetWriter(path, table.schema) for path in paths]
        for number, writer in enumerate(self.writers):
            writer.write_table(table.filter(pa.array(where == number)))

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


def compute_split_columns(specs: list[MappingSpec]) -> dict[str, str]:
    """The forms a partitioned run can split by subject, with the column each is split by."""
    column: dict[str, str | None] = {}
    merged_into: list[tuple[str, str]] = []  # (form, the form merged into it by its subject)

    def claim(form: str, subject: str | None) -> None:
        column[form] = subject if column.get(form, subject) == subject else None

    for spec in specs:
        for src in spec.sources:
            subject = _local_subject(src)
            claim(src.form, subject)
            for step in src.steps:
                if "merge" in step:
                    merge = step["merge"]
                    by_subject = subject is not None and subject in merge["by"]
                    claim(merge["form"], subject if by_subject else None)
                    merged_into.append((src.form, merge["form"]))
    changed = True
    while changed:  # a form merged into a form read whole is read whole too
        changed = False
        for form, other in merged_into:
            if column[form] is None and column[other] is not None:
                column[other], changed = None, True
    return {form: subject for form, subject in column.items() if subject is not None}


def _local_subject(src: SourceSpec) -> str | None:
    """The subject column of a source whose steps keep each subject's records apart; None otherwise."""
    if not isinstance(src.subject, str) or "USUBJID" in src.variables:
        return None
    for step in src.steps:
        if "deduplicate" in step and src.subject not in step["deduplicate"]["keys"]:
            return None
    return src.subject
