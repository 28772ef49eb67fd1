"""Codes and short names of the findings the ADaM stage raises.

``ADM`` + 3 digits, a prefix of its own: CDG + 4 digits belongs to the conformance rules, SPEC to the
study spec checks, MAP to the mapping engine. ADM0xx are derivation findings (the data), ADM1xx are
problems of the ADaM parameter specs (specs/adam/params/*.yaml).
"""

from __future__ import annotations

DUPLICATE_RESULT = "ADM001"
MRD_WITHOUT_SENSITIVITY = "ADM002"
VALUE_WITHOUT_CODE = "ADM003"
NO_EVENT_OR_CENSOR_DATE = "ADM004"
PARAMETER_SOURCES_DIFFER = "ADM005"
INPUT_ABSENT = "ADM006"
RECORDS_WITHOUT_SUBJECT = "ADM007"
INPUT_EMPTY = "ADM008"
PARAM_SPEC_SCHEMA = "ADM100"
PARAM_SPEC_CROSS_CHECK = "ADM101"

FINDING_NAMES: dict[str, str] = {
    DUPLICATE_RESULT: "More than one usable lab result in one assessment",
    MRD_WITHOUT_SENSITIVITY: "MRD negative without an achieved sensitivity",
    VALUE_WITHOUT_CODE: "ADRS value without an AVAL code",
    NO_EVENT_OR_CENSOR_DATE: "Time-to-event record without event or censoring date",
    PARAMETER_SOURCES_DIFFER: "Lab results of different specimen or method for one parameter",
    INPUT_ABSENT: "Optional input absent: variable or parameter not derived",
    RECORDS_WITHOUT_SUBJECT: "SDTM records of subjects not in ADSL left out",
    INPUT_EMPTY: "Input dataset read by a derivation has no records",
    PARAM_SPEC_SCHEMA: "ADaM parameter spec unreadable or off its schema",
    PARAM_SPEC_CROSS_CHECK: "ADaM parameter specs inconsistent",
}
"""Short name of every ADaM finding code, for reports (code -> name)."""
