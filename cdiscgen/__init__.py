"""cdiscgen: raw clinical-trial data to CDISC SDTM/ADaM datasets, XPT v5, Dataset-JSON and Define-XML.

The public API of what the stages share: the study metadata model, the findings model and YAML loading.
"""

from cdiscgen._findings import FINDING_FIELDS, Finding, Findings, Severity
from cdiscgen._specs import (
    Codelist,
    DatasetSpec,
    MethodSpec,
    SchemaProblem,
    SpecError,
    Study,
    Term,
    VariableSpec,
    Visit,
    bundled_study_dir,
    check_study,
    init_study,
    load_study,
    read_dataset_spec_file,
    resolve_study_dir,
    schema_problems,
)
from cdiscgen._yaml import LineDict, LineList, YamlSyntaxError, load_yaml

__version__ = "0.1.0"

__all__ = [
    "FINDING_FIELDS",
    "Codelist",
    "DatasetSpec",
    "Finding",
    "Findings",
    "LineDict",
    "LineList",
    "MethodSpec",
    "Severity",
    "SchemaProblem",
    "SpecError",
    "Study",
    "Term",
    "VariableSpec",
    "Visit",
    "YamlSyntaxError",
    "__version__",
    "bundled_study_dir",
    "check_study",
    "init_study",
    "load_study",
    "load_yaml",
    "read_dataset_spec_file",
    "resolve_study_dir",
    "schema_problems",
]
