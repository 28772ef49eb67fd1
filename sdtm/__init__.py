"""raw -> SDTM: the mapping engine, its closed algorithm vocabulary and the SDTM-wide derivations."""

from sdtm._algorithms import (
    compute_assign,
    compute_condition,
    compute_hardcode,
    compute_iso8601,
    compute_iso8601_date,
    compute_not_submitted,
)
from sdtm._codes import FINDING_NAMES
from sdtm._context import RuleContext
from sdtm._dates import DateFormatError, compile_date_format
from sdtm._derive import (
    baseline_definitions,
    compute_age,
    compute_seq,
    compute_seq_order,
    compute_study_day,
    derive_baseline_flag,
    derive_baseline_flags,
    derive_dy,
    derive_nrind,
    derive_record_flags,
    derive_seq,
    derive_supp,
)
from sdtm._elements import compute_epoch, compute_subject_elements, derive_epoch, derive_se
from sdtm._engine import (
    RawDataError,
    SdtmResult,
    check_raw_forms,
    list_subjects,
    read_raw_form,
    run_sdtm,
    trial_design_datasets,
)
from sdtm._mapspec import MappingSpec, SourceSpec, check_mapping_specs, read_mapping_specs
from sdtm._partition import SubjectRange, subject_ranges
from sdtm._reference import compute_source_dates, derive_dm, derive_reference_dates
from sdtm._split import RawPieces, compute_split_columns, split_raw_forms
from sdtm._steps import derive_deduplicate, derive_filter, derive_merge, derive_transpose
from sdtm._template import TemplateError, compute_template, parse_template
from sdtm._trial_design import TrialDesignError, check_trial_design, derive_trial_design
from sdtm._units import UnitTable, check_units_table, derive_standard_units, read_units
from sdtm._visits import compute_visit_table, derive_sv, derive_visit

__all__ = [
    "FINDING_NAMES",
    "DateFormatError",
    "baseline_definitions",
    "compile_date_format",
    "compute_source_dates",
    "compute_subject_elements",
    "derive_baseline_flag",
    "derive_baseline_flags",
    "MappingSpec",
    "RawDataError",
    "RuleContext",
    "SdtmResult",
    "SubjectRange",
    "RawPieces",
    "compute_split_columns",
    "split_raw_forms",
    "SourceSpec",
    "TrialDesignError",
    "UnitTable",
    "check_mapping_specs",
    "check_raw_forms",
    "check_units_table",
    "compute_age",
    "compute_assign",
    "compute_template",
    "parse_template",
    "TemplateError",
    "compute_condition",
    "compute_epoch",
    "compute_hardcode",
    "compute_iso8601",
    "compute_iso8601_date",
    "compute_not_submitted",
    "compute_seq",
    "compute_seq_order",
    "compute_study_day",
    "compute_visit_table",
    "derive_deduplicate",
    "derive_dm",
    "derive_dy",
    "derive_epoch",
    "derive_filter",
    "derive_merge",
    "derive_nrind",
    "derive_record_flags",
    "derive_reference_dates",
    "derive_se",
    "derive_seq",
    "derive_standard_units",
    "derive_supp",
    "derive_sv",
    "derive_transpose",
    "derive_trial_design",
    "check_trial_design",
    "derive_visit",
    "read_mapping_specs",
    "read_raw_form",
    "read_units",
    "run_sdtm",
    "list_subjects",
    "trial_design_datasets",
    "subject_ranges",
]
