"""The datasets of a study mapped in subject partitions (docs/partitioned-runs.md): each partition's frames
are spilled to Parquet as soon as they are made, with what the study-level steps need from them (row
counts, the longest value of each character variable, the define.xml profile), and come back as
DatasetParts that the writers stream in partition order. Only one partition is in memory at a time."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from cdiscgen._csv import write_csv
from cdiscgen._specs import Study
from cdiscgen.export import DatasetParts, compute_xpt_lengths

if TYPE_CHECKING:
    from define import DatasetProfile


@dataclass
class SpilledPartition:
    """One partition's datasets as `spill_partition` left them: each one's file, records, longest values
    (bytes of the export encoding), variables and define.xml profile; small, so that a worker process
    can return it."""

    rows: dict[str, int]
    files: dict[str, Path]
    lengths: dict[str, dict[str, int]]
    columns: dict[str, tuple[str, ...]]
    profiles: dict[str, DatasetProfile]


def spill_partition(datasets: Mapping[str, pd.DataFrame], folder: Path, study: Study) -> SpilledPartition:
    """A partition's datasets, each conformed to its spec (order and set of variables), written to
    `folder` as Parquet and measured for the study-level steps."""
    from cdiscgen._publish import agency_profile, conform_to_spec, xpt_variables
    from define import profile_dataset

    profile = agency_profile(study)
    folder.mkdir(parents=True, exist_ok=True)
    made = SpilledPartition({name: len(frame) for name, frame in datasets.items()}, {}, {}, {}, {})
    for name in sorted(datasets):
        spec = study.dataset(name)
        frame = conform_to_spec(datasets[name], spec)
        id_column = "USUBJID" if "USUBJID" in frame.columns else ""
        made.lengths[name] = compute_xpt_lengths(
            frame, xpt_variables(spec), profile=profile, dataset=name, id_column=id_column
        )
        made.files[name] = folder / f"{name.lower()}.parquet"
        frame.to_parquet(made.files[name], index=False)
        made.columns[name] = tuple(frame.columns)
        made.profiles[name] = profile_dataset(frame, spec, study)
    return made


class SpilledDatasets:
    """Partitions added in order (`add`); `parts(name)` gives a dataset back as DatasetParts, its character
    lengths the longest over the partitions, in bytes of the study's export encoding; `profile(name)` what
    define.xml needs of its values, merged over the partitions."""

    def __init__(self, folder: Path, study: Study) -> None:
        self.folder = Path(folder)
        self.study = study
        self.partitions = 0
        self._files: dict[str, list[Path]] = {}
        self._rows: dict[str, int] = {}
        self._lengths: dict[str, dict[str, int]] = {}
        self._columns: dict[str, tuple[str, ...]] = {}
        self._profiles: dict[str, DatasetProfile] = {}
        self._partition_rows: list[dict[str, int]] = []

    def add(self, datasets: Mapping[str, pd.DataFrame]) -> None:
        """The next partition's datasets (see `spill_partition`)."""
        self.record(spill_partition(datasets, self.next_folder(), self.study))

    def next_folder(self) -> Path:
        return self.partition_folder(self.partitions + 1)

    def partition_folder(self, number: int) -> Path:
        """Where partition `number` (from 1) is spilled, by whichever process makes it."""
        return self.folder / f"p{number:05d}"

    def partition_files(self, number: int) -> dict[str, Path]:
        """The files of the datasets partition `number` (from 1) made."""
        folder = self.partition_folder(number)
        paths = {name: folder / f"{name.lower()}.parquet" for name in self.names()}
        return {name: path for name, path in paths.items() if path.exists()}

    def record(self, made: SpilledPartition) -> None:
        """The next partition, spilled into `next_folder()`: its files, rows, lengths and profiles join the
        study's. A dataset a partition does not make has no records there (a SUPP-- dataset made only for
        records that need one): its parts are those of the partitions that made it."""
        self._partition_rows.append(dict(made.rows))
        for name in sorted(made.files):
            self._files.setdefault(name, []).append(made.files[name])
            self._rows[name] = self._rows.get(name, 0) + made.rows[name]
            longest = self._lengths.setdefault(name, {})
            for variable, length in made.lengths[name].items():
                longest[variable] = max(longest.get(variable, 0), length)
            self._columns[name] = made.columns[name]
            values = made.profiles[name]
            self._profiles[name] = self._profiles[name].merge(values) if name in self._profiles else values
        self.partitions += 1

    def names(self) -> list[str]:
        return sorted(self._files)

    def parts(self, name: str) -> DatasetParts:
        return DatasetParts(
            name,
            tuple(partial(pd.read_parquet, path) for path in self._files[name]),
            self._rows[name],
            self._columns[name],
            lengths=dict(self._lengths[name]),
        )

    def record_ranges(self) -> list[dict[str, tuple[int, int]]]:
        """Per partition, the records of each dataset it holds, as rows (start, stop) of the dataset's
        file (written partition after partition); an empty range where it made no records."""
        ranges: list[dict[str, tuple[int, int]]] = []
        start = dict.fromkeys(self.names(), 0)
        for rows in self._partition_rows:
            ranges.append({name: (start[name], start[name] + rows.get(name, 0)) for name in self.names()})
            start = {name: stop for name, (_, stop) in ranges[-1].items()}
        return ranges

    def profile(self, name: str) -> DatasetProfile:
        return self._profiles[name]

    def whole(self, name: str, columns: Iterable[str] | None = None) -> pd.DataFrame:
        """One dataset whole, or those of `columns` it has (for the study-level steps that read a small one,
        DM, ADSL, or a few variables of a larger one)."""
        wanted = None if columns is None else [c for c in columns if c in self._columns[name]]
        frames = [pd.read_parquet(path, columns=wanted) for path in self._files[name]]
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


class TraceFiles:
    """The traceability CSV of each SDTM dataset, appended partition by partition (the header once): the
    file write_trace writes for the whole dataset. A partition's trace is written apart first
    (`write_trace_pieces`, by whichever process mapped it), then appended in partition order."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.started: set[str] = set()

    def append(self, pieces: Mapping[str, Path]) -> None:
        """A partition's trace files (`write_trace_pieces`), each appended without its header after the
        first partition's; the pieces are removed."""
        for name in sorted(pieces):
            path = self.folder / f"{name.lower()}.trace.csv"
            with pieces[name].open("rb") as piece, path.open("ab") as handle:
                if name in self.started:
                    piece.readline()  # the header (variable names: no line break inside)
                shutil.copyfileobj(piece, handle)
            pieces[name].unlink()
            self.started.add(name)

    def move_into(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.folder.glob("*.trace.csv")):
            path.replace(folder / path.name)


def write_trace_pieces(trace: Mapping[str, pd.DataFrame], folder: Path) -> dict[str, Path]:
    """A partition's trace, one CSV (with its header) per dataset in `folder`, for `TraceFiles.append`."""
    folder.mkdir(parents=True, exist_ok=True)
    pieces = {}
    for name in sorted(trace):
        pieces[name] = folder / f"{name.lower()}.trace.csv"
        with pieces[name].open("wb") as handle:
            write_csv(trace[name], handle.write)
    return pieces
