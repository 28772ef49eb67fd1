"""The raw forms and their columns, in file order (docs/raw-data.md documents each of them)."""

from __future__ import annotations

_ID = ("RECORD_ID", "SITE", "SUBJECT")

FORM_COLUMNS: dict[str, tuple[str, ...]] = {
    "enrollment": _ID + ("COUNTRY", "CONSENT_DATE", "BIRTH_DATE", "SEX", "RACE", "ETHNICITY", "SCREEN_FAILURE",
                         "SF_REASON", "SF_CRITERION"),
    "baseline_disease": _ID + ("VISIT", "ASSESS_DATE", "DIAGNOSIS_DATE", "ISOTYPE", "INVOLVED_LC", "HEART", "KIDNEY",
                               "LIVER", "NERVE", "GI", "SOFT_TISSUE", "PRIOR_LINES", "PRIOR_ASCT", "MAYO_STAGE"),
    "dara_admin": _ID + ("VISIT", "CYCLE", "CYCLE_DAY", "ADMIN_DATE", "ADMIN_TIME", "GIVEN", "DOSE_MG", "ROUTE",
                         "NOT_GIVEN_REASON", "AE_NUMBER"),
    "poma_cycle": _ID + ("CYCLE", "VISIT", "START_DATE", "STOP_DATE", "DOSE_MG", "ACTION", "REASON", "AE_NUMBER"),
    "central_lab": ("RECORD_ID", "ACCESSION", "SITE", "SUBJECT", "VISIT", "COLL_DATE", "COLL_TIME", "SPECIMEN",
                    "LAB_TEST", "RESULT", "UNIT", "REF_LOW", "REF_HIGH", "URINE_END_DATE", "URINE_END_TIME",
                    "NOT_DONE_REASON"),
    "immunofixation": ("RECORD_ID", "ACCESSION", "SITE", "SUBJECT", "VISIT", "COLL_DATE", "SPECIMEN", "IFE_RESULT",
                       "BAND_ISOTYPE", "NOT_DONE_REASON"),
    "response_assessment": _ID + ("VISIT", "ASSESS_DATE", "HEM_RESPONSE", "CARDIAC_RESPONSE", "RENAL_RESPONSE"),
    "mrd": _ID + ("VISIT", "SAMPLE_DATE", "METHOD", "MRD_STATUS", "SENSITIVITY"),
    "eq5d5l": _ID + ("VISIT", "QS_DATE", "MOBILITY", "SELF_CARE", "USUAL_ACTIVITIES", "PAIN_DISCOMFORT",
                     "ANXIETY_DEPRESSION", "VAS"),
    "end_of_treatment": _ID + ("EOT_DATE", "LAST_DOSE_DATE", "COMPLETED", "REASON", "AE_NUMBER"),
    "end_of_study": _ID + ("EOS_DATE", "STATUS"),
    "death": _ID + ("DEATH_DATE", "REPORT_DATE", "CAUSE"),
    "subsequent_therapy": _ID + ("THERAPY", "START_DATE", "REASON"),
    "followup_contact": _ID + ("VISIT", "CONTACT_DATE", "CONTACT_TYPE", "VITAL_STATUS"),
    "adverse_events": _ID + ("AE_NUMBER", "AE_TERM", "AE_PT", "AE_SOC", "START_DATE", "END_DATE", "ONGOING", "CTCAE_GRADE",
                             "ONSET_GRADE", "SERIOUS", "SAE_DEATH", "SAE_HOSP", "SAE_LIFE", "REL_DARA", "REL_POMA", "ACTION_DARA",
                             "ACTION_POMA", "OUTCOME"),
    "vital_signs": _ID + ("VISIT", "VS_DATE", "POSITION", "SYSBP", "DIABP", "PULSE", "TEMP", "WEIGHT", "HEIGHT"),
    "safety_lab": _ID + ("VISIT", "COLL_DATE", "LAB_TEST", "RESULT", "UNIT", "REF_LOW", "REF_HIGH"),
    "prior_therapy": _ID + ("LINE", "REGIMEN", "START_DATE", "STOP_DATE"),
}  # fmt: skip

RECORD_PREFIX: dict[str, str] = {
    "enrollment": "ENR", "baseline_disease": "BDX", "dara_admin": "DARA", "poma_cycle": "POMA",
    "central_lab": "LAB", "immunofixation": "IFE", "response_assessment": "RSP", "mrd": "MRD",
    "eq5d5l": "EQ5D", "end_of_treatment": "EOT", "end_of_study": "EOS", "death": "DTH",
    "subsequent_therapy": "STX", "followup_contact": "FUC", "adverse_events": "AE", "vital_signs": "VS",
    "safety_lab": "SLB", "prior_therapy": "PTX",
}  # fmt: skip
