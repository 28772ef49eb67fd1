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
    check_stage_specs,
    check_study,
    init_study,
    load_study,
    read_dataset_spec_file,
    resolve_study_dir,
    schema_problems,
)
from cdiscgen._yaml import LineDict, LineList, YamlSyntaxError, load_yaml

__version__ = "0.1.0"

# Spec tools (workbook, define.xml, sdtm.oak): imported when first used, so that a command that does not
# use them does not pay for openpyxl or the define reader at start-up.
_LAZY = {
    "export_spec_workbook": "cdiscgen._specbook",
    "import_spec_workbook": "cdiscgen._specbook",
    "specs_from_define": "cdiscgen._fromdefine",
    "mappings_from_oak": "cdiscgen._fromoak",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cdiscgen' has no attribute {name!r}")


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
    "check_stage_specs",
    "check_study",
    "export_spec_workbook",
    "init_study",
    "load_study",
    "load_yaml",
    "mappings_from_oak",
    "read_dataset_spec_file",
    "resolve_study_dir",
    "schema_problems",
    "import_spec_workbook",
    "specs_from_define",
]
