"""Codes and short names of the findings the SDTM stage raises (MAP: mapping the data; SPEC1xx: the
mapping specs and the units table), for reports."""

from __future__ import annotations

FINDING_NAMES: dict[str, str] = {
    "MAP001": "Collected value not in the codelist",
    "MAP002": "Unknown unit for the test",
    "MAP003": "Unparseable date or time",
    "MAP004": "Impossible date",
    "MAP005": "Duplicate raw record dropped",
    "MAP006": "Result is not a number",
    "MAP007": "Key repeated in a merged form",
    "MAP008": "Unknown visit code",
    "MAP009": "Unscheduled visit without a date",
    "MAP010": "Subject not in DM",
    "MAP011": "Value compared as a number or date is neither",
    "MAP012": "Value does not match the extract pattern",
    "MAP013": "Collected value disagrees with the derived one",
    "MAP014": "Arm code unknown, contradictory or missing",
    "SPEC101": "Mapping rule without exactly one algorithm",
    "SPEC102": "Mapping spec entry of the wrong shape",
    "SPEC103": "Condition of the wrong shape",
    "SPEC104": "Raw column not declared by the source",
    "SPEC105": "Constant not a term of the codelist",
    "SPEC106": "Codelist named by a rule does not exist",
    "SPEC107": "Date formats ambiguous or unknown",
    "SPEC108": "Unknown dataset-level step",
    "SPEC109": "Mapping targets an unknown dataset",
    "SPEC110": "Step names a column the source does not declare",
    "SPEC111": "Target variable not in the dataset metadata",
    "SPEC112": "Dataset mapped twice",
    "SPEC150": "Units table invalid",
}
