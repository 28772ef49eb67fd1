"""The datasets of a study mapped in subject partitions (docs/partitioned-runs.md): each partition's frames
are spilled to Parquet as soon as they are made, with what the study-level steps need from them (row
counts, the longest value of each character variable, the define.xml profile), and come back as
DatasetParts that the writers stream in partition order. Only one partition is in memory at a time."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from cdiscgen._specs import Study
from cdiscgen.export import DatasetParts, compute_xpt_lengths

if TYPE_CHECKING:
    from define import DatasetProfile


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

    def add(self, datasets: Mapping[str, pd.DataFrame]) -> None:
        """The next partition's datasets, each conformed to its spec (order and set of variables). A
        partition that lacks a dataset an earlier one had, or brings a new one, is an error: every partition
        of a run holds the same datasets (an empty frame where a partition has no records)."""
        from cdiscgen._publish import agency_profile, conform_to_spec, xpt_variables
        from define import profile_dataset

        if self.partitions and set(datasets) != set(self._files):
            missing = sorted(set(self._files) - set(datasets))
            extra = sorted(set(datasets) - set(self._files))
            raise ValueError(
                f"partition {self.partitions + 1} does not hold the datasets of partition 1 "
                f"(missing {missing or 'none'}, new {extra or 'none'})"
            )
        profile = agency_profile(self.study)
        folder = self.folder / f"p{self.partitions + 1:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        for name in sorted(datasets):
            spec = self.study.dataset(name)
            frame = conform_to_spec(datasets[name], spec)
            id_column = "USUBJID" if "USUBJID" in frame.columns else ""
            lengths = compute_xpt_lengths(
                frame, xpt_variables(spec), profile=profile, dataset=name, id_column=id_column
            )
            path = folder / f"{name.lower()}.parquet"
            frame.to_parquet(path, index=False)
            self._files.setdefault(name, []).append(path)
            self._rows[name] = self._rows.get(name, 0) + len(frame)
            longest = self._lengths.setdefault(name, {})
            for variable, length in lengths.items():
                longest[variable] = max(longest.get(variable, 0), length)
            self._columns[name] = tuple(frame.columns)
            values = profile_dataset(frame, spec, self.study)
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

    def profile(self, name: str) -> DatasetProfile:
        return self._profiles[name]
