"""define: Define-XML 2.1 (define.xml) from the study metadata and the datasets, and its define.html."""

from define._build import ADAM_CT_CODELISTS, compute_define_xml
from define._codes import FINDING_NAMES
from define._common import DEFINE_VERSION, STYLESHEET_NAME, DefineError
from define._html import compute_define_html, stylesheet_path
from define._profile import DatasetProfile, merge_profiles, profile_dataset
from define._validate import schema_dir, validate_define_xml
from define._write import DefineResult, write_define

__all__ = [
    "FINDING_NAMES",
    "ADAM_CT_CODELISTS",
    "DEFINE_VERSION",
    "STYLESHEET_NAME",
    "DatasetProfile",
    "DefineError",
    "DefineResult",
    "compute_define_html",
    "compute_define_xml",
    "merge_profiles",
    "profile_dataset",
    "schema_dir",
    "stylesheet_path",
    "validate_define_xml",
    "write_define",
]
