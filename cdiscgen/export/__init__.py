"""Dataset export: SAS transport v5 (XPT) and CDISC Dataset-JSON 1.1 (+ NDJSON)."""

from cdiscgen.export._dataset_json import (
    DatasetJsonError,
    JsonColumn,
    write_dataset_json,
    write_dataset_json_and_ndjson,
    write_dataset_ndjson,
)
from cdiscgen.export._ibm import compute_float_from_ibm, compute_ibm_words
from cdiscgen.export._parts import DatasetParts
from cdiscgen.export._xpt import (
    FDA,
    NMPA,
    PMDA,
    PROFILES,
    AgencyProfile,
    XptError,
    XptMeta,
    XptVariable,
    compute_xpt_lengths,
    compute_xpt_size,
    write_xpt,
    write_xpt_split,
)
from cdiscgen.export._xpt_read import read_xpt

__all__ = [
    "FDA",
    "NMPA",
    "PMDA",
    "PROFILES",
    "AgencyProfile",
    "DatasetJsonError",
    "DatasetParts",
    "JsonColumn",
    "XptError",
    "XptMeta",
    "XptVariable",
    "compute_float_from_ibm",
    "compute_ibm_words",
    "compute_xpt_lengths",
    "compute_xpt_size",
    "read_xpt",
    "write_dataset_json",
    "write_dataset_json_and_ndjson",
    "write_dataset_ndjson",
    "write_xpt",
    "write_xpt_split",
]
