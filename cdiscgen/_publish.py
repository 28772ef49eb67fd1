"""Write a study's datasets as filed — XPT v5 (with agency splits), Dataset-JSON 1.1 and NDJSON — from
the one metadata source in `specs/`. Used by the `sdtm`, `adam` and `run` commands alike."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path

import pandas as pd

from cdiscgen import __version__
from cdiscgen._atomic import write_csv_atomic
from cdiscgen._specs import DatasetSpec, Study
from cdiscgen.export import (
    PROFILES,
    AgencyProfile,
    DatasetParts,
    JsonColumn,
    XptVariable,
    compute_xpt_lengths,
    write_dataset_json_and_ndjson,
    write_xpt_split,
)

log = logging.getLogger(__name__)


@dataclass
class PublishResult:
    """What was written: every file, and the character lengths used (define.xml must show the same)."""

    files: list[Path] = field(default_factory=list)
    lengths: dict[str, dict[str, int]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    writing: list[Future[list[Path]]] = field(default_factory=list, repr=False, compare=False)

    def wait(self) -> None:
        """Return once the Dataset-JSON files handed to a writer (`write_datasets`' json_writer) are written,
        their paths added to `files`; raise what writing one raised (the files not yet begun are not
        written then)."""
        try:
            while self.writing:
                self.files.extend(self.writing[0].result())
                del self.writing[0]
        except BaseException:
            for pending in self.writing:
                pending.cancel()
            self.writing.clear()
            raise


def write_trace(trace: Mapping[str, pd.DataFrame], folder: Path) -> list[Path]:
    """Traceability of each SDTM dataset in `folder` (kept out of the submission folders), not an XPT
    variable: <dataset>.trace.csv (record -> raw file, record id and row)."""
    folder.mkdir(parents=True, exist_ok=True)
    return [write_csv_atomic(trace[name], folder / f"{name.lower()}.trace.csv") for name in sorted(trace)]


def agency_profile(study: Study) -> AgencyProfile:
    """The study's XPT profile: encoding and file-size limit from specs/study.yaml `export`."""
    export = study.settings["export"]
    name = export["agency"]
    declared = export["profiles"][name]
    base = PROFILES.get(name)
    return AgencyProfile(
        name=name,
        encoding=study.export_encoding,
        max_file_bytes=int(declared.get("max_file_bytes", base.max_file_bytes if base else 5 * 1024**3)),
    )


def xpt_variables(spec: DatasetSpec) -> list[XptVariable]:
    """XPT attributes of the submitted variables, in spec order (length None = longest value)."""
    return [
        XptVariable(
            name=v.name,
            label=v.label,
            type=v.xpt_type,
            length=v.length if not v.is_numeric else None,
            format=v.format,
        )
        for v in spec.submitted_variables
    ]


def conform_to_spec(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """The frame's columns in spec order; a missing or undeclared column is a clear error, never dropped."""
    expected = spec.variable_names
    missing = [name for name in expected if name not in frame.columns]
    extra = [name for name in frame.columns if name not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"not in the spec {', '.join(map(str, extra))}")
        raise ValueError(f"dataset {spec.name} does not match its spec {spec.file}: {'; '.join(parts)}")
    return frame[expected]


def conform_parts_to_spec(parts: DatasetParts, spec: DatasetSpec) -> list[str]:
    """The spec's variables, which a dataset in parts must already hold in spec order with every length
    measured (the maker of the parts conformed each part); else a clear error."""
    expected = spec.variable_names
    if list(parts.columns) != expected:
        raise ValueError(
            f"dataset {spec.name} in parts has the columns {list(parts.columns)}, not those of its spec "
            f"{spec.file} in its order: {expected}"
        )
    unmeasured = [name for name in expected if name not in parts.lengths]
    if unmeasured:
        raise ValueError(f"dataset {spec.name} in parts: no length measured for {', '.join(unmeasured)}")
    return expected


def write_datasets(
    datasets: Mapping[str, pd.DataFrame | DatasetParts],
    study: Study,
    xpt_dir: Path,
    *,
    created: datetime,
    json_dir: Path | None = None,
    json_writer: Executor | None = None,
) -> PublishResult:
    """Write every dataset (in name order) as XPT into xpt_dir and, when json_dir is given, as Dataset-JSON.
    A dataset in parts (a partitioned run) is streamed part by part: the same files as the whole frame.
    `json_writer`: the Dataset-JSON files are written by it, in the datasets' order, while the caller goes
    on (`PublishResult.wait`); the frames must not change meanwhile."""
    profile = agency_profile(study)
    result = PublishResult()
    xpt_dir.mkdir(parents=True, exist_ok=True)
    for name in sorted(datasets):
        spec = study.dataset(name)
        frame = datasets[name]
        variables = xpt_variables(spec)
        id_column = "USUBJID" if "USUBJID" in spec.variable_names else ""
        if isinstance(frame, DatasetParts):
            conform_parts_to_spec(frame, spec)
            result.lengths[name] = dict(frame.lengths)
            # the XPT header is written before the first part: every character length is fixed beforehand
            variables = [
                replace(v, length=frame.lengths[v.name]) if v.type == "char" else v for v in variables
            ]
        else:
            frame = conform_to_spec(frame, spec)
            result.lengths[name] = compute_xpt_lengths(
                frame, variables, profile=profile, dataset=name, id_column=id_column
            )
        paths = write_xpt_split(
            frame,
            xpt_dir,
            dataset=name,
            label=spec.label,
            variables=variables,
            profile=profile,
            created=created,
            split_by=spec.split_by,
            id_column=id_column,
        )
        result.files.extend(paths)
        result.rows[name] = len(frame)
        if json_dir is not None:
            write = partial(_write_json, frame, spec, study, json_dir, created, result.lengths[name])
            if json_writer is None:
                result.files.extend(write())
            else:  # beside the caller's work: one thread makes the text (the caller has the other core)
                result.writing.append(json_writer.submit(write, threads=1))
        log.info("wrote %s: %d rows", name, len(frame))
    return result


# Define-XML data type -> Dataset-JSON dataType (character ISO 8601 variables keep their text values).
_JSON_TYPES = {
    "text": "string",
    "integer": "integer",
    "float": "double",
    "date": "date",
    "datetime": "datetime",
    "time": "time",
    "partialDate": "string",
    "partialTime": "string",
    "partialDatetime": "string",
    "incompleteDatetime": "string",
    "durationDatetime": "string",
}
_SAS_DATE_FORMATS = {
    "DATE": "date",
    "E8601DA": "date",
    "DATETIME": "datetime",
    "E8601DT": "datetime",
    "TIME": "time",
}


def json_columns(spec: DatasetSpec, lengths: Mapping[str, int]) -> list[JsonColumn]:
    """Dataset-JSON column metadata from the same spec as XPT and define.xml."""
    keys = {name: i for i, name in enumerate(spec.keys, start=1)}
    columns = []
    for v in spec.submitted_variables:
        data_type, target = _JSON_TYPES[v.type], None
        sas_kind = _SAS_DATE_FORMATS.get((v.format or "").rstrip(".0123456789"))
        if v.is_numeric and sas_kind:  # a numeric SAS date/datetime/time: ISO text in JSON, integer in SAS
            data_type, target = sas_kind, "integer"
        columns.append(
            JsonColumn(
                item_oid=f"IT.{spec.name}.{v.name}",
                name=v.name,
                label=v.label,
                data_type=data_type,
                target_data_type=target,
                length=lengths.get(v.name) if not v.is_numeric else None,
                display_format=v.format,
                key_sequence=keys.get(v.name),
            )
        )
    return columns


def _write_json(
    frame: pd.DataFrame | DatasetParts,
    spec: DatasetSpec,
    study: Study,
    json_dir: Path,
    created: datetime,
    lengths: dict[str, int],
    threads: int = 2,
) -> list[Path]:
    json_dir.mkdir(parents=True, exist_ok=True)
    columns = json_columns(spec, lengths)
    common = {
        "dataset": spec.name,
        "label": spec.label,
        "columns": columns,
        "study_oid": study.study_oid,
        "metadata_version_oid": study.metadata_version_oid("ADaM" if spec.is_adam else "SDTM"),
        "metadata_ref": "define.xml",
        "created": created,
        "originator": str(study.settings["study"]["sponsor"]),
        "source_system": ("cdiscgen", __version__),
        "item_group_oid": f"IG.{spec.name}",
    }
    base = json_dir / spec.name.lower()
    return list(
        write_dataset_json_and_ndjson(
            frame, base.with_suffix(".json"), base.with_suffix(".ndjson"), threads=threads, **common
        )
    )
