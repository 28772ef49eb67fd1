"""Cerberus schemas of the study metadata files in `specs/`.

Closed schemas: an unknown key is an error (never a silent default).
"""

from __future__ import annotations

NAME_RE = r"^[A-Z][A-Z0-9_]{0,7}$"
DATA_TYPES = [
    "text",
    "integer",
    "float",
    "date",
    "datetime",
    "time",
    "partialDate",
    "partialTime",
    "partialDatetime",
    "incompleteDatetime",
    "durationDatetime",
]
ORIGINS = ["Collected", "Derived", "Assigned", "Protocol", "Predecessor", "Not Available"]
CORES = ["Req", "Exp", "Perm", "Cond"]
ROLES = [
    "Identifier",
    "Topic",
    "Timing",
    "Grouping Qualifier",
    "Result Qualifier",
    "Synonym Qualifier",
    "Record Qualifier",
    "Variable Qualifier",
    "Rule",
]
_TEXT = {"type": "string", "empty": False}
_OPT_TEXT = {"type": "string", "nullable": True}

VARIABLE_SCHEMA: dict = {
    "name": {"type": "string", "required": True, "regex": NAME_RE},
    "label": {"type": "string", "required": True, "empty": False, "maxlength": 40},
    "type": {"type": "string", "required": True, "allowed": DATA_TYPES},
    "length": {"type": "integer", "nullable": True, "min": 1, "max": 200},
    "format": {"type": "string", "nullable": True, "regex": r"^\$?[A-Z]*[0-9]*\.[0-9]*$"},
    "codelist": _OPT_TEXT,
    "origin": {"type": "string", "required": True, "allowed": ORIGINS},
    "source": _OPT_TEXT,
    "role": {"type": "string", "nullable": True, "allowed": ROLES},
    "core": {"type": "string", "required": True, "allowed": CORES},
    "method": _OPT_TEXT,
    "comment": _OPT_TEXT,
    "significant_digits": {"type": "integer", "nullable": True, "min": 0},
    "supplemental": {"type": "boolean"},
    "qorig": _OPT_TEXT,
    "qeval": _OPT_TEXT,
    # text over 200 bytes goes on in SUPP-- records QNAM stem1, stem2, ... (SDTMIG 3.4 4.5.3.2), split
    # after the last `break` character that fits; defaults: the name (its first 7 characters when it has
    # 8) and a space
    "split": {
        "type": "dict",
        "schema": {
            "stem": {"type": "string", "regex": r"^[A-Z][A-Z0-9_]{0,6}$"},
            "break": {"type": "string", "minlength": 1, "maxlength": 1},
        },
    },
    # plausible values of a numeric variable; a value outside is a finding (the value is kept)
    "range": {
        "type": "dict",
        "schema": {"min": {"type": "number", "nullable": True}, "max": {"type": "number", "nullable": True}},
    },
}

METHOD_SCHEMA: dict = {
    "id": {"type": "string", "required": True, "regex": r"^MT\.[A-Za-z0-9_.]+$"},
    "name": {"type": "string", "required": True, "empty": False},
    "type": {"type": "string", "required": True, "allowed": ["Computation", "Imputation"]},
    "description": {"type": "string", "required": True, "empty": False},
    "document": _OPT_TEXT,
}

VALUE_LEVEL_SCHEMA: dict = {
    "by": {"type": "list", "required": True, "schema": {"type": "string", "regex": NAME_RE}},
    "variables": {"type": "list", "required": True, "schema": {"type": "string", "regex": NAME_RE}},
    "entries": {
        "type": "list",
        "schema": {
            "type": "dict",
            "schema": {
                "where": {"type": "dict", "required": True, "valuesrules": {"type": "string"}},
                "variable": {"type": "string", "required": True, "regex": NAME_RE},
                "label": {"type": "string", "maxlength": 40},
                "type": {"type": "string", "allowed": DATA_TYPES},
                "codelist": _OPT_TEXT,
                "unit": _OPT_TEXT,
                "origin": {"type": "string", "allowed": ORIGINS},
                "method": _OPT_TEXT,
                "comment": _OPT_TEXT,
            },
        },
    },
}

DATASET_SCHEMA: dict = {
    "dataset": {"type": "string", "required": True, "regex": NAME_RE},
    "label": {"type": "string", "required": True, "empty": False, "maxlength": 40},
    "class": {"type": "string", "required": True, "empty": False},
    "subclass": _OPT_TEXT,
    "structure": {"type": "string", "required": True, "empty": False},
    "keys": {
        "type": "list",
        "required": True,
        "minlength": 1,
        "schema": {"type": "string", "regex": NAME_RE},
    },
    "standard": {"type": "string", "required": True, "regex": r"^(SDTMIG|ADaMIG) [0-9.]+$"},
    "domain": {"type": "string", "nullable": True, "regex": r"^[A-Z]{2}$"},
    "repeating": {"type": "boolean"},
    "reference_data": {"type": "boolean"},
    "split_by": {"type": "string", "nullable": True, "regex": NAME_RE},
    "seq_order": {"type": "list", "minlength": 1, "schema": {"type": "string", "regex": NAME_RE}},
    "comment": _OPT_TEXT,
    # the spec writer's notes (a spreadsheet's "Developer Notes"): kept with the spec, never in define.xml
    "notes": _OPT_TEXT,
    "methods": {"type": "list", "schema": {"type": "dict", "schema": METHOD_SCHEMA}},
    "value_level": {"type": "dict", "nullable": True, "schema": VALUE_LEVEL_SCHEMA},
    "variables": {
        "type": "list",
        "required": True,
        "minlength": 1,
        "schema": {"type": "dict", "schema": VARIABLE_SCHEMA},
    },
}

TERM_SCHEMA: dict = {
    "value": {"type": ["string", "integer", "float"], "required": True},
    "code": {"type": "string", "nullable": True, "regex": r"^C[0-9]+$"},
    "decode": _OPT_TEXT,
    "sponsor": {"type": "boolean"},
    # a sponsor term an implementation guide itself prescribes (e.g. AEACN MULTIPLE): the IG text
    "convention": {"type": "string", "empty": False, "dependencies": {"sponsor": [True]}},
    "synonyms": {"type": "list", "schema": {"type": ["string", "integer", "float"]}},
}

CODELIST_SCHEMA: dict = {
    "id": {"type": "string", "required": True, "regex": r"^[A-Za-z][A-Za-z0-9_.]*$"},
    "name": {"type": "string", "required": True, "empty": False},
    "code": {"type": "string", "nullable": True, "regex": r"^C[0-9]+$"},
    "extensible": {"type": "boolean", "required": True},
    "data_type": {"type": "string", "required": True, "allowed": ["text", "integer", "float"]},
    "sponsor": {"type": "boolean"},
    "source": _OPT_TEXT,
    "notes": _OPT_TEXT,
    # the NCI CT release (a key of study.yaml's ct_files) the codelist takes its terms, C-codes and decodes
    # from: all of its terms, or those the codelist lists
    "release": {"type": "string", "empty": False, "dependencies": ["code"], "excludes": "dictionary"},
    # an external dictionary (MedDRA, WHODrug, ISO 3166): define.xml's ExternalCodeList, no terms listed
    "dictionary": {
        "type": "dict",
        "excludes": "terms",  # terms, a dictionary, or terms from a spreadsheet (checked after loading)
        "schema": {
            "name": {"type": "string", "required": True, "empty": False},
            "version": {"type": "string", "empty": False},
            "href": {"type": "string", "empty": False},
        },
    },
    "terms": {
        "type": "list",
        "excludes": "dictionary",
        "minlength": 1,
        "schema": {"type": "dict", "schema": TERM_SCHEMA},
    },
}

CODELISTS_FILE_SCHEMA: dict = {
    "codelists": {"type": "list", "required": True, "schema": {"type": "dict", "schema": CODELIST_SCHEMA}},
    # the sponsor's CT spreadsheets: terms and collected-value synonyms (see cdiscgen/_ctsheet.py)
    "spreadsheets": {
        "type": "list",
        "schema": {
            "type": "dict",
            "schema": {
                "file": {"type": "string", "required": True, "regex": r"^[^/\\].*\.(csv|xlsx|CSV|XLSX)$"},
                "sheet": {"type": "string", "empty": False},
                "columns": {
                    "type": "dict",
                    "required": True,
                    "keysrules": {
                        "type": "string",
                        "allowed": ["codelist", "code", "value", "collected", "synonyms", "edc_codelist"],
                    },
                    "valuesrules": {"type": "string", "empty": False},
                },
            },
        },
    },
}

DEFINE_FILE_SCHEMA: dict = {
    "documents": {
        "type": "list",
        "schema": {
            "type": "dict",
            "schema": {
                "id": {"type": "string", "required": True, "regex": r"^LF\.[A-Za-z0-9_.]+$"},
                "title": {"type": "string", "required": True},
                "href": {"type": "string", "required": True},
                "kind": {"type": "string", "allowed": ["AnnotatedCRF", "SupplementalDoc"], "required": True},
                "standard": {"type": "string", "allowed": ["SDTM", "ADaM", "both"], "required": True},
            },
        },
    },
    "comments": {
        "type": "list",
        "schema": {
            "type": "dict",
            "schema": {
                "id": {"type": "string", "required": True, "regex": r"^COM\.[A-Za-z0-9_.]+$"},
                "text": {"type": "string", "required": True},
                "document": _OPT_TEXT,
            },
        },
    },
    "methods": {"type": "list", "schema": {"type": "dict", "schema": METHOD_SCHEMA}},
}

#: specs/explanations.yaml: findings the sponsor explains (the reviewer's guide "conformance" section)
EXPLANATIONS_FILE_SCHEMA: dict = {
    "explanations": {
        "type": "list",
        "required": True,
        "schema": {
            "type": "dict",
            "schema": {
                "code": {"type": "string", "required": True, "regex": r"^CDG\d{4}$"},
                "dataset": {"type": "string", "regex": r"^[A-Z][A-Z0-9]{1,7}$"},
                "variable": {"type": "string", "regex": r"^[A-Z][A-Z0-9_]{0,7}$"},
                "usubjid": {"type": "list", "schema": {"type": "string", "empty": False}},
                "reason": {"type": "string", "required": True, "empty": False},
            },
        },
    },
}

_OPS = ["<", "<=", ">", ">="]
_THRESHOLD = {
    "type": "dict",
    "required": True,
    "schema": {
        "op": {"type": "string", "allowed": _OPS, "required": True},
        "value": {"type": "number", "required": True},
    },
}


def _thresholds(*names: str) -> dict:
    return {name: dict(_THRESHOLD) for name in names}


_VISIT = {
    "visit": {"type": "string", "required": True, "empty": False, "maxlength": 200},
    "code": {"type": "string", "required": True, "empty": False},
    # other spellings of the code in the forms (one form writes "Visit 1", another "V1")
    "codes": {"type": "list", "schema": {"type": "string", "empty": False}},
    "visitnum": {"type": "number", "required": True},
    # planned study day (VISITDY) and window; a visit without a planned day (e.g. an AE follow-up) has none
    "day": {"type": "integer", "nullable": True},
    "window": {
        "type": "list",
        "minlength": 2,
        "maxlength": 2,
        "schema": {"type": "integer"},
    },
    "epoch": {"type": "string"},
    "dosing": {"type": "boolean"},
    # TV's planned start/end rule in words; without one, TVSTRL is written from the day and window
    "start_rule": {"type": "string", "empty": False, "maxlength": 200},
    "end_rule": {"type": "string", "empty": False, "maxlength": 200},
}

# A date of a subject taken from its records: `{date: DMVAR}` (a DM variable, e.g. RFICDTC, RFXSTDTC) or
# `{dataset: DS, where: CONDITION, variable: DSSTDTC, pick: first|last}`; `plus_days` shifts it.
_DATE_SOURCE = {
    "type": "dict",
    "schema": {
        "date": {"type": "string", "regex": NAME_RE, "excludes": ["dataset", "variable", "where", "pick"]},
        "dataset": {"type": "string", "regex": NAME_RE, "dependencies": ["variable"]},
        "variable": {"type": "string", "regex": NAME_RE, "dependencies": ["dataset"]},
        "where": {"type": "dict", "dependencies": ["dataset"]},
        "pick": {"type": "string", "allowed": ["first", "last"]},
        "plus_days": {"type": "integer"},
    },
}
_DATE_SOURCES = {"type": "list", "minlength": 1, "schema": _DATE_SOURCE}
_RANGE = {"type": "list", "required": True, "minlength": 2, "maxlength": 2, "schema": {"type": "integer"}}

STUDY_FILE_SCHEMA: dict = {
    "study": {
        "type": "dict",
        "required": True,
        "schema": {
            "studyid": {"type": "string", "required": True, "regex": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$"},
            "protocol": _TEXT,
            "registry_id": _TEXT,
            "title": {"type": "string", "required": True, "empty": False},
            "short_title": _TEXT,
            "description": _TEXT,
            "sponsor": {"type": "string", "required": True, "empty": False},
            "phase": {"type": "string", "required": True},
            "indication": {"type": "string", "required": True},
            "study_type": {"type": "string", "required": True},
            "planned_subjects": {"type": "integer", "required": True, "min": 1},
            "age_min": {"type": "string", "regex": r"^P[0-9]+Y$"},
            "sex_population": {"type": "string", "allowed": ["BOTH", "F", "M"]},
            "start_date": {"type": "string", "regex": r"^\d{4}-\d{2}-\d{2}$"},
            "creation_datetime": {
                "type": "string",
                "required": True,
                "regex": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$",
            },
            "standards": {"type": "dict", "required": True, "valuesrules": {"type": "string"}},
            "age_max": {"type": "string", "regex": r"^P[0-9]+Y$"},
            "indication_code": _TEXT,
            "stopping_rule": _TEXT,
            "end_date": {"type": "string", "regex": r"^\d{4}-\d{2}-\d{2}$"},
            "objective_primary": _TEXT,
            "outcome_primary": _TEXT,
            "trial_type": {"type": "list", "minlength": 1, "schema": _TEXT},
            "therapeutic_area": _TEXT,
            "planned_length": {"type": "string", "regex": r"^P(?=\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?$"},
        },
    },
    # how the raw exports write a missing value besides a blank: R's NA, SAS's "." (a form's sources may
    # declare their own `missing:`); such a value reads as blank, in every column of every form
    "raw": {
        "type": "dict",
        "schema": {"missing": {"type": "list", "schema": {"type": "string", "empty": False}}},
    },
    # NCI CT release files (SDTM .txt, ADaM .csv; relative to specs/) a codelist can name as its `release`
    "ct_files": {
        "type": "dict",
        "keysrules": {"type": "string", "regex": r"^[A-Za-z][A-Za-z0-9_]*$"},
        "valuesrules": {"type": "string", "empty": False},
    },
    # raw forms (file name -> reason) deliberately read by no mapping; any other unread form is MAP024
    "not_tabulated_forms": {
        "type": "dict",
        "keysrules": {"type": "string", "regex": r"^[A-Za-z0-9_.-]+\.csv$"},
        "valuesrules": {"type": "string", "empty": False},
    },
    "cutoff": {
        "type": "dict",
        "required": True,
        "schema": {
            "date": {"type": "string", "required": True, "regex": r"^\d{4}-\d{2}-\d{2}$"},
            "description": {"type": "string", "required": True},
        },
    },
    "design": {
        "type": "dict",
        "required": True,
        "schema": {
            "cycle_days": {"type": "integer", "min": 1},
            "blinding": _TEXT,
            "control": _TEXT,
            "intent": _TEXT,
            "intervention_model": _TEXT,
            "randomized": {"type": "boolean"},
            # ARMNRS of a subject whose arm is not collected and who was never exposed (e.g. NOT ASSIGNED);
            # without it a single-arm design puts every subject without an ARMNRS in its arm
            "armnrs_default": _TEXT,
            "add_on": {"type": "boolean"},
            "adaptive": {"type": "boolean"},
            "healthy_subjects": {"type": "boolean"},
            "current_treatment": _TEXT,
            "cycles": {"type": "integer", "min": 1},
            "arms": {
                "type": "list",
                "required": True,
                "minlength": 1,
                "schema": {
                    "type": "dict",
                    "schema": {
                        # CT does not require upper case for ARMCD (the CDISC pilot has Pbo, Xan_Lo, Xan_Hi)
                        "armcd": {"type": "string", "required": True, "regex": r"^[A-Za-z0-9_]{1,20}$"},
                        "arm": {"type": "string", "required": True, "maxlength": 200},
                        "elements": {"type": "list", "required": True, "schema": {"type": "string"}},
                    },
                },
            },
            "elements": {
                "type": "list",
                "required": True,
                "schema": {
                    "type": "dict",
                    "schema": {
                        "etcd": {"type": "string", "required": True, "regex": r"^[A-Za-z0-9_]{1,8}$"},
                        "element": {"type": "string", "required": True},
                        "epoch": {"type": "string", "required": True},
                        "start_rule": {"type": "string", "required": True},
                        "end_rule": {"type": "string", "required": True},
                        "duration": {"type": "string", "regex": r"^P[0-9]+[DWMY]$"},
                        # when a subject enters the element (SE): the first source that gives a date
                        "start": _DATE_SOURCES,
                    },
                },
            },
            "epochs": {"type": "list", "required": True, "schema": {"type": "string"}},
            # EPOCH of a record dated before the first element starts: that element's (first) or none
            "pre_study_epoch": {"type": "string", "allowed": ["first", "none"]},
            "treatments": {
                "type": "list",
                "required": True,
                "schema": {
                    "type": "dict",
                    "schema": {
                        "name": {"type": "string", "required": True},
                        "dose": {
                            "type": ["number", "list"],
                            "required": True,
                            "schema": {"type": "number"},
                        },
                        # a placebo is exposure at dose 0; a 0 dose of an active treatment is not
                        "placebo": {"type": "boolean"},
                        "unit": {"type": "string", "required": True},
                        "route": {"type": "string", "required": True},
                        "form": {"type": "string", "required": True},
                        # a list when it changes during the study (one TS DOSFRQ each)
                        "frequency": {
                            "type": ["string", "list"],
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        "schedule": {"type": "string", "required": True},
                        # FDA Unique Ingredient Identifier: 10 upper-case letters and digits
                        "unii": {"type": "string", "regex": r"^[A-Z0-9]{10}$"},
                        "intervention_type": _TEXT,
                        "pharmacologic_class": _TEXT,
                        "pharmacologic_class_code": {"type": "string", "regex": r"^N[0-9]{10}$"},
                    },
                },
            },
            "inclusion": {
                "type": "list",
                "schema": {
                    "type": "dict",
                    "schema": {
                        "ietestcd": {"type": "string", "required": True, "regex": NAME_RE},
                        "ietest": {"type": "string", "required": True, "maxlength": 200},
                        "iecat": {"type": "string", "required": True, "allowed": ["INCLUSION", "EXCLUSION"]},
                    },
                },
            },
        },
    },
    "visits": {
        "type": "list",
        "required": True,
        "minlength": 1,
        "schema": {"type": "dict", "schema": _VISIT},
    },
    "unscheduled": {
        "type": "dict",
        "required": True,
        "schema": {
            "visit_label": {"type": "string", "required": True},
            # codes of unscheduled visits placed by date after the subject's latest scheduled visit
            "code": {"type": "string"},
            "codes": {"type": "list", "schema": {"type": "string", "empty": False}},
            "visitnum_step": {"type": "number", "min": 0.0001, "max": 0.5},
            # codes that carry their own number, e.g. '^UNSCHEDULED (?P<visitnum>\d+(\.\d+)?)$'
            "patterns": {"type": "list", "schema": {"type": "string", "empty": False}},
        },
    },
    "subjects": {
        "type": "dict",
        "schema": {
            # {studyid} and {subject} (the source's subject column); default "{studyid}-{subject}"
            "usubjid": {"type": "string", "regex": r"^.*\{subject\}.*$"},
            # the reference date of a derived AGE (completed years from BRTHDTC)
            "age_at": {"type": "string", "regex": NAME_RE},
            # the reference date --DY counts from where the protocol says so [RFSTDTC, SDTMIG's default]
            "study_day_from": {
                "type": "string",
                "allowed": ["RFSTDTC", "RFENDTC", "RFXSTDTC", "RFXENDTC", "RFPENDTC"],
            },
        },
    },
    "reference_dates": {
        "type": "dict",
        "schema": {
            "exposure": {
                "type": "dict",
                "schema": {
                    "dataset": {"type": "string", "regex": NAME_RE},
                    "where": {"type": "dict"},
                },
            },
            "RFSTDTC": _DATE_SOURCES,
            "RFENDTC": _DATE_SOURCES,
            "RFPENDTC": _DATE_SOURCES,
        },
    },
    "baseline": {
        "type": "list",
        "schema": {
            "type": "dict",
            "schema": {
                "dataset": {"type": "string", "required": True, "regex": NAME_RE},
                "flag": {"type": "string", "required": True, "regex": NAME_RE},
                "group_by": {"type": "list", "minlength": 1, "schema": {"type": "string", "regex": NAME_RE}},
                "visit": {"type": "string"},
            },
        },
    },
    # dates outside this window are implausible (a year 1000 or 9999 typed for 2024): MAP019
    "plausible_dates": {
        "type": "dict",
        "schema": {
            "earliest": {"type": "string", "regex": r"^\d{4}-\d{2}-\d{2}$"},
            "latest": {"type": "string", "regex": r"^\d{4}-\d{2}-\d{2}$"},
        },
    },
    "flags": {
        "type": "list",
        "schema": {
            "type": "dict",
            "schema": {
                "dataset": {"type": "string", "required": True, "regex": NAME_RE},
                "flag": {"type": "string", "required": True, "regex": NAME_RE},
                "where": {"type": "dict", "required": True},
                "otherwise": {"type": "string"},
            },
        },
    },
    "assessments": {"type": "dict", "valuesrules": {"type": "list", "schema": {"type": "string"}}},
    "analysis_sets": {
        "type": "list",
        "required": True,
        "schema": {
            "type": "dict",
            "schema": {
                "flag": {"type": "string", "required": True, "regex": NAME_RE},
                "label": {"type": "string", "required": True, "maxlength": 40},
                "definition": {"type": "string", "required": True},
            },
        },
    },
    "response": {
        "type": "dict",
        "schema": {
            "hematologic": {
                "type": "dict",
                "required": True,
                "schema": {
                    "criteria": {
                        "type": "string",
                        "required": True,
                        "allowed": ["PALLADINI2012", "COMENZO2012", "MAYO2020"],
                    },
                    "ratio_normal": {
                        "type": "dict",
                        "required": True,
                        "schema": {
                            "low": {"type": "number", "required": True},
                            "high": {"type": "number", "required": True},
                        },
                    },
                    "evaluability": {
                        "type": "dict",
                        "required": True,
                        "schema": _thresholds("dflc_measurable", "dflc_low"),
                    },
                    **_thresholds("vgpr_dflc", "pr_dflc_reduction", "low_dflc_pr_dflc"),
                    "pd": {
                        "type": "dict",
                        "required": True,
                        "schema": _thresholds(
                            "iflc_factor",
                            "iflc_min",
                            "from_cr_iflc_factor",
                            "mspike_factor",
                            "mspike_min",
                            "uprot_factor",
                            "uprot_min",
                        ),
                    },
                    "cr_variants": {
                        "type": "dict",
                        "required": True,
                        "valuesrules": {"type": "dict", "valuesrules": _THRESHOLD | {"required": False}},
                    },
                    "landmarks": {
                        "type": "list",
                        "required": True,
                        "schema": {
                            "type": "dict",
                            "schema": {
                                "paramcd": {"type": "string", "required": True, "regex": NAME_RE},
                                "cycle": {"type": "integer", "required": True, "min": 1},
                                "target": {"type": "integer", "required": True},
                                "window": _RANGE,
                            },
                        },
                    },
                    "landmark_tie": {"type": "string", "required": True, "allowed": ["later", "earlier"]},
                    "rank": {"type": "list", "required": True, "schema": {"type": "string"}},
                    "responders": {"type": "list", "required": True, "schema": {"type": "string"}},
                },
            },
            "cardiac": {
                "type": "dict",
                "required": True,
                "schema": _thresholds(
                    "evaluable_baseline",
                    "response_pct",
                    "response_abs",
                    "pd_pct",
                    "pd_abs",
                    "egfr_block_pct",
                    "troponin_pd_pct",
                ),
            },
            "renal": {
                "type": "dict",
                "required": True,
                "schema": _thresholds(
                    "evaluable_baseline", "pd_egfr_pct", "response_pct", "response_abs_below"
                ),
            },
            "organ_response_by_day": {"type": "integer", "required": True},
            "mrd": {
                "type": "dict",
                "required": True,
                "schema": {"sensitivity": _THRESHOLD, "by_day": {"type": "integer", "required": True}},
            },
            "egfr_formula": {"type": "string", "required": True, "allowed": ["CKD-EPI 2021"]},
            "year_days": {"type": "number", "required": True, "min": 365, "max": 366},
        },
    },
    "export": {
        "type": "dict",
        "required": True,
        "schema": {
            "agency": {"type": "string", "required": True},
            "profiles": {
                "type": "dict",
                "required": True,
                "valuesrules": {
                    "type": "dict",
                    "schema": {
                        "encoding": {"type": "string", "required": True},
                        "max_file_bytes": {"type": "integer", "required": True, "min": 1},
                    },
                },
            },
        },
    },
}
