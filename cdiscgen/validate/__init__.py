"""Conformance rules for SDTM, ADaM and define.xml, and the runner that applies them to a whole study.

Every rule has a stable code (``CDG`` + 4 digits), a name, a severity, a scope, a reference and a
docstring with the rule text and a bad/good example; `list_rules()` returns that catalog. Checks return
findings and never raise: a rule that crashes becomes one ``CDG0001`` finding and the run goes on.
"""

from cdiscgen.validate._context import DEFAULT_LIMIT, DatasetMetaLike, ValidationContext, VariableMetaLike
from cdiscgen.validate._partitioned import (
    RecordRanges,
    subject_record_ranges,
    validate_in_partitions,
    validate_within,
)
from cdiscgen.validate._registry import Partition, Rule, RuleInfo, Scope, get_rule, list_rules, rule
from cdiscgen.validate._rules_sdtm import TS_REQUIRED
from cdiscgen.validate._runner import (
    STATUSES,
    DatasetFolder,
    RuleRun,
    ValidationResult,
    find_dataset_folders,
    read_dataset_folder,
    read_folder,
    validate_datasets,
    validate_folder,
    validate_parts,
    validate_submission,
)

__all__ = [
    "DEFAULT_LIMIT",
    "STATUSES",
    "DatasetFolder",
    "TS_REQUIRED",
    "DatasetMetaLike",
    "Partition",
    "RecordRanges",
    "Rule",
    "RuleInfo",
    "RuleRun",
    "Scope",
    "ValidationContext",
    "ValidationResult",
    "VariableMetaLike",
    "get_rule",
    "list_rules",
    "read_dataset_folder",
    "read_folder",
    "rule",
    "validate_datasets",
    "find_dataset_folders",
    "validate_folder",
    "validate_in_partitions",
    "subject_record_ranges",
    "validate_parts",
    "validate_submission",
    "validate_within",
]
