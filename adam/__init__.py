"""adam: SDTM -> the ADaM datasets a study's specs/adam declares (ADSL; BDS, OCCDS, response and
time-to-event engines; the AL amyloidosis response criteria as one opt-in engine), and the endpoint
summary. Dates in the ADaM frames are numeric SAS dates (float days since 1960-01-01)."""

from ._adlb import compute_ckd_epi_2021
from ._codes import FINDING_NAMES
from ._derive import AdamResult, derive_adam, read_adam_spec
from ._errors import AdamInputError
from ._io import read_sdtm_folder
from ._paramspec import check_parameter_specs, declares_adam
from ._rules import (
    compute_best_response,
    compute_cardiac_status,
    compute_cr,
    compute_evaluability_class,
    compute_hematologic_step,
    compute_involved_chain,
    compute_landmark,
    compute_renal_status,
    compute_threshold,
)
from ._summary import SUMMARY_COLUMNS, compute_endpoint_summary, compute_km, summary_applies, write_summary

__all__ = [
    "SUMMARY_COLUMNS",
    "FINDING_NAMES",
    "AdamInputError",
    "AdamResult",
    "check_parameter_specs",
    "compute_best_response",
    "compute_cardiac_status",
    "compute_ckd_epi_2021",
    "compute_cr",
    "compute_endpoint_summary",
    "compute_evaluability_class",
    "compute_hematologic_step",
    "compute_involved_chain",
    "compute_km",
    "compute_landmark",
    "compute_renal_status",
    "compute_threshold",
    "declares_adam",
    "derive_adam",
    "read_adam_spec",
    "read_sdtm_folder",
    "summary_applies",
    "write_summary",
]
