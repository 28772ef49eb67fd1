"""Fixtures for the define tests: small, realistic frames for the bundled SDTM specs, a small ADaM study,
and an independent reader of the define.xml produced (plain lxml XPath, no code from define/).

No tests live here; test_define.py and test_define_html.py import it.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from lxml import etree

from cdiscgen import DatasetSpec, Study

REPO = Path(__file__).resolve().parents[1]
NS = {
    "odm": "http://www.cdisc.org/ns/odm/v1.3",
    "def": "http://www.cdisc.org/ns/def/v2.1",
    "xlink": "http://www.w3.org/1999/xlink",
}
DEF = "{http://www.cdisc.org/ns/def/v2.1}"
XLINK = "{http://www.w3.org/1999/xlink}"
SUBJECTS = ["DARPAL-001-001", "DARPAL-001-002", "DARPAL-002-001"]

# ------------------------------------------------------------------------------------------ SDTM frames


def synth_frame(study: Study, spec: DatasetSpec, n: int = 3, **fixed: list) -> pd.DataFrame:
    """n plausible rows for any dataset spec: codelist terms, ISO 8601 dates, numbers, short text.

    `fixed` gives whole columns by name (lists of length n).
    """
    cols: dict[str, list] = {}
    for i_var, var in enumerate(spec.submitted_variables):
        name = var.name
        if name in fixed:
            cols[name] = list(fixed[name])
        elif name == "STUDYID":
            cols[name] = ["DARPAL"] * n
        elif name in ("DOMAIN", "RDOMAIN"):
            cols[name] = [spec.domain or spec.name[4:]] * n
        elif name == "USUBJID":
            cols[name] = [SUBJECTS[i % len(SUBJECTS)] for i in range(n)]
        elif var.codelist and not study.codelists[var.codelist].is_external:
            terms = [t.value for t in study.codelists[var.codelist].terms]
            values = [terms[(i + i_var) % len(terms)] for i in range(n)]
            cols[name] = [float(v) for v in values] if var.is_numeric else values
        elif var.type == "integer":
            cols[name] = [float(i + 1) for i in range(n)]
        elif var.type == "float":
            cols[name] = [1.25 * (i + 1) for i in range(n)]
        elif var.type in ("date", "datetime", "partialDate", "partialDatetime", "incompleteDatetime"):
            cols[name] = [f"2024-01-{i + 8:02d}" for i in range(n)]
        elif var.type == "durationDatetime":
            cols[name] = ["P28D"] * n
        elif var.type == "time":
            cols[name] = ["08:30"] * n
        else:
            cols[name] = [f"{name} {i + 1}" for i in range(n)]
    return pd.DataFrame(cols, columns=spec.variable_names)


def _lb(study: Study) -> pd.DataFrame:
    # (USUBJID, VISITNUM, VISIT, LBTESTCD, LBTEST, LBSPEC, LBMETHOD, ORRES, ORRESU, STRESC, STRESN, STRESU)
    s1, s2 = SUBJECTS[0], SUBJECTS[1]
    rows = [
        (
            s1,
            1,
            "SCREENING",
            "KLCFR",
            "Kappa Light Chain, Free",
            "SERUM",
            None,
            "1.2",
            "mg/dL",
            "12",
            12.0,
            "mg/L",
        ),
        (
            s1,
            1,
            "SCREENING",
            "LLCFR",
            "Lambda Light Chain, Free",
            "SERUM",
            None,
            "25",
            "mg/dL",
            "250",
            250.0,
            "mg/L",
        ),
        (
            s1,
            1,
            "SCREENING",
            "KLCLLCFR",
            "Kappa Lt Chain,Free/Lambda Lt Chain,Free",
            "SERUM",
            None,
            "0.048",
            "RATIO",
            "0.048",
            0.048,
            "RATIO",
        ),
        (
            s1,
            1,
            "SCREENING",
            "MCPROT",
            "Monoclonal Protein",
            "SERUM",
            "IMMUNOFIXATION ELECTROPHORESIS",
            "POSITIVE",
            None,
            "POSITIVE",
            np.nan,
            None,
        ),
        (
            s1,
            1,
            "SCREENING",
            "MCPROT",
            "Monoclonal Protein",
            "URINE",
            "IMMUNOFIXATION ELECTROPHORESIS",
            "POSITIVE",
            None,
            "POSITIVE",
            np.nan,
            None,
        ),
        (
            s1,
            1,
            "SCREENING",
            "MCPROT",
            "Monoclonal Protein",
            "SERUM",
            "ELECTROPHORESIS",
            "0.4",
            "g/dL",
            "0.4",
            0.4,
            "g/dL",
        ),
        (
            s1,
            1,
            "SCREENING",
            "MPIGISO",
            "Monoclonal Prot Immunoglobulin Isotype",
            "SERUM",
            "IMMUNOFIXATION ELECTROPHORESIS",
            "FREE LAMBDA",
            None,
            "FREE LAMBDA",
            np.nan,
            None,
        ),
        (
            s1,
            1,
            "SCREENING",
            "BNPPRONT",
            "N-Terminal ProB-type Natriuretic Peptide",
            "SERUM",
            None,
            "1850",
            "ng/L",
            "1850",
            1850.0,
            "ng/L",
        ),
        (s1, 1, "SCREENING", "TROPONT", "Troponin T", "SERUM", None, "31", "ng/L", "31", 31.0, "ng/L"),
        (
            s1,
            1,
            "SCREENING",
            "PROTEXR",
            "Protein Excretion Rate",
            "URINE",
            None,
            "2300",
            "mg/day",
            "2.3",
            2.3,
            "g/day",
        ),
        (
            s1,
            1,
            "SCREENING",
            "MPROTEXR",
            "Monoclonal Protein Excretion Rate",
            "URINE",
            None,
            "150",
            "mg/day",
            "150",
            150.0,
            "mg/day",
        ),
        (s1, 1, "SCREENING", "CREAT", "Creatinine", "SERUM", None, "1.1", "mg/dL", "97.24", 97.24, "umol/L"),
        (
            s1,
            1,
            "SCREENING",
            "GFRBSCRT",
            "GFR from Creatinine Adjusted for BSA",
            "SERUM",
            None,
            "61",
            "mL/min/1.73 m2",
            "61",
            61.0,
            "mL/min/1.73 m2",
        ),
        (
            s1,
            201,
            "CYCLE 2 DAY 1",
            "KLCFR",
            "Kappa Light Chain, Free",
            "SERUM",
            None,
            "10",
            "mg/L",
            "10",
            10.0,
            "mg/L",
        ),
        (
            s1,
            201,
            "CYCLE 2 DAY 1",
            "LLCFR",
            "Lambda Light Chain, Free",
            "SERUM",
            None,
            "90",
            "mg/L",
            "90",
            90.0,
            "mg/L",
        ),
        (
            s1,
            201,
            "CYCLE 2 DAY 1",
            "MCPROT",
            "Monoclonal Protein",
            "SERUM",
            "IMMUNOFIXATION ELECTROPHORESIS",
            "NEGATIVE",
            None,
            "NEGATIVE",
            np.nan,
            None,
        ),
        (
            s1,
            201,
            "CYCLE 2 DAY 1",
            "MCPROT",
            "Monoclonal Protein",
            "URINE",
            "IMMUNOFIXATION ELECTROPHORESIS",
            "NEGATIVE",
            None,
            "NEGATIVE",
            np.nan,
            None,
        ),
        (
            s2,
            1,
            "SCREENING",
            "KLCFR",
            "Kappa Light Chain, Free",
            "SERUM",
            None,
            "180",
            "mg/L",
            "180",
            180.0,
            "mg/L",
        ),
        (
            s2,
            1,
            "SCREENING",
            "LLCFR",
            "Lambda Light Chain, Free",
            "SERUM",
            None,
            "<5",
            "mg/L",
            "<5",
            np.nan,
            "mg/L",
        ),
        (
            s2,
            201,
            "CYCLE 2 DAY 1",
            "KLCFR",
            "Kappa Light Chain, Free",
            "SERUM",
            None,
            None,
            None,
            None,
            np.nan,
            None,
        ),
    ]
    cols = [
        "USUBJID",
        "VISITNUM",
        "VISIT",
        "LBTESTCD",
        "LBTEST",
        "LBSPEC",
        "LBMETHOD",
        "LBORRES",
        "LBORRESU",
        "LBSTRESC",
        "LBSTRESN",
        "LBSTRESU",
    ]
    core = pd.DataFrame(rows, columns=cols)
    n = len(core)
    out = pd.DataFrame(
        {
            "STUDYID": "DARPAL",
            "DOMAIN": "LB",
            "USUBJID": core.USUBJID,
            "LBSEQ": core.groupby("USUBJID").cumcount().astype(float) + 1,
            "LBREFID": [f"SPEC-{i:04d}" for i in range(n)],
            "LBTESTCD": core.LBTESTCD,
            "LBTEST": core.LBTEST,
            "LBCAT": np.where(
                core.LBTESTCD.isin(["BNPPRONT", "TROPONT", "CREAT", "GFRBSCRT", "PROTEXR"]),
                "ORGAN FUNCTION",
                "HEMATOLOGIC RESPONSE",
            ),
            "LBORRES": core.LBORRES,
            "LBORRESU": core.LBORRESU,
            "LBORNRLO": None,
            "LBORNRHI": None,
            "LBSTRESC": core.LBSTRESC,
            "LBSTRESN": core.LBSTRESN,
            "LBSTRESU": core.LBSTRESU,
            "LBSTNRLO": np.where(core.LBTESTCD == "KLCFR", 3.3, np.nan),
            "LBSTNRHI": np.where(core.LBTESTCD == "KLCFR", 19.4, np.nan),
            "LBNRIND": np.where(core.LBTESTCD == "KLCFR", "NORMAL", None),
            "LBSTAT": [None] * (n - 1) + ["NOT DONE"],
            "LBREASND": [None] * (n - 1) + ["SAMPLE HEMOLYZED"],
            "LBSPEC": core.LBSPEC,
            "LBMETHOD": core.LBMETHOD,
            "LBANMETH": np.where(core.LBTESTCD == "GFRBSCRT", "CKD-EPI CREATININE 2021 FORMULA", None),
            "LBLOBXFL": np.where(core.VISITNUM == 1, "Y", None),
            "VISITNUM": core.VISITNUM.astype(float),
            "VISIT": core.VISIT,
            "EPOCH": np.where(core.VISITNUM == 1, "SCREENING", "TREATMENT"),
            "LBDTC": np.where(core.VISITNUM == 1, "2024-01-02T08:15", "2024-02-05T09:00"),
            "LBENDTC": np.where(core.LBTESTCD.isin(["PROTEXR", "MPROTEXR"]), "2024-01-03T08:00", None),
            "LBDY": np.where(core.VISITNUM == 1, -6.0, 29.0),
            "LBENDY": np.where(core.LBTESTCD.isin(["PROTEXR", "MPROTEXR"]), -5.0, np.nan),
        }
    )
    assert list(out.columns) == study.datasets["LB"].variable_names
    return out


def _rs(study: Study) -> pd.DataFrame:
    s1, s2 = SUBJECTS[0], SUBJECTS[1]
    rows = [
        (
            s1,
            "HEMARESP",
            "Hematologic Response",
            "PALLADINI 2012",
            "Very good partial response",
            "VGPR",
            401.0,
            "CYCLE 4 DAY 1",
            "2024-04-01",
        ),
        (
            s1,
            "CARDRESP",
            "Cardiac Response",
            "PALLADINI 2012",
            "Organ response",
            "RESPONSE",
            401.0,
            "CYCLE 4 DAY 1",
            "2024-04-01",
        ),
        (
            s1,
            "RENLRESP",
            "Renal Response",
            "PALLADINI 2012",
            "NR",
            "NR",
            401.0,
            "CYCLE 4 DAY 1",
            "2024-04-01",
        ),
        (
            s1,
            "MRDIND",
            "Minimal Residual Disease Indicator",
            "PROTOCOL DEFINED RESPONSE CRITERIA",
            "MRD negative",
            "NEGATIVE",
            700.0,
            "END OF TREATMENT",
            "2024-06-25",
        ),
        (
            s2,
            "HEMARESP",
            "Hematologic Response",
            "PALLADINI 2012",
            "LOW-DFLC PR",
            "LOW-DFLC PR",
            401.0,
            "CYCLE 4 DAY 1",
            "2024-04-10",
        ),
        (
            s2,
            "HEMARESP",
            "Hematologic Response",
            "PALLADINI 2012",
            "Progression",
            "PD",
            803.0,
            "FOLLOW-UP MONTH 3",
            "2024-09-30",
        ),
        (
            s2,
            "ALSTAGE",
            "AL Amyloidosis Stage",
            "MAYO 2004 WITH EUROPEAN MODIFICATION",
            "IIIa",
            "IIIA",
            1.0,
            "SCREENING",
            "2024-01-02",
        ),
    ]
    core = pd.DataFrame(
        rows,
        columns=[
            "USUBJID",
            "RSTESTCD",
            "RSTEST",
            "RSCAT",
            "RSORRES",
            "RSSTRESC",
            "VISITNUM",
            "VISIT",
            "RSDTC",
        ],
    )
    out = pd.DataFrame(
        {
            "STUDYID": "DARPAL",
            "DOMAIN": "RS",
            "USUBJID": core.USUBJID,
            "RSSEQ": core.groupby("USUBJID").cumcount().astype(float) + 1,
            "RSTESTCD": core.RSTESTCD,
            "RSTEST": core.RSTEST,
            "RSCAT": core.RSCAT,
            "RSORRES": core.RSORRES,
            "RSSTRESC": core.RSSTRESC,
            "RSSTAT": None,
            "RSREASND": None,
            "RSEVAL": "INVESTIGATOR",
            "VISITNUM": core.VISITNUM,
            "VISIT": core.VISIT,
            "EPOCH": np.select(
                [core.VISITNUM < 100, core.VISITNUM < 800], ["SCREENING", "TREATMENT"], "FOLLOW-UP"
            ),
            "RSDTC": core.RSDTC,
            "RSDY": [85.0, 85.0, 85.0, 170.0, 90.0, 262.0, -5.0],
        }
    )
    assert list(out.columns) == study.datasets["RS"].variable_names
    return out


def _supp(study: Study, name: str, rows: list[tuple]) -> pd.DataFrame:
    core = pd.DataFrame(rows, columns=["USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QVAL"])
    out = pd.DataFrame(
        {
            "STUDYID": "DARPAL",
            "RDOMAIN": name[4:],
            "USUBJID": core.USUBJID,
            "IDVAR": core.IDVAR,
            "IDVARVAL": core.IDVARVAL,
            "QNAM": core.QNAM,
            "QLABEL": core.QLABEL,
            "QVAL": core.QVAL,
            "QORIG": "Collected",
            "QEVAL": None,
        }
    )
    assert list(out.columns) == study.datasets[name].variable_names
    return out


def _qs(study: Study) -> pd.DataFrame:
    tests = [
        ("EQ5D0201", "EQ5D02-Mobility", "2"),
        ("EQ5D0202", "EQ5D02-Self-Care", "1"),
        ("EQ5D0203", "EQ5D02-Usual Activities", "3"),
        ("EQ5D0204", "EQ5D02-Pain/Discomfort", "2"),
        ("EQ5D0205", "EQ5D02-Anxiety/Depression", "1"),
        ("EQ5D0206", "EQ5D02-EQ VAS Score", "75"),
    ]
    n = len(tests)
    return synth_frame(
        study,
        study.datasets["QS"],
        n,
        USUBJID=[SUBJECTS[0]] * n,
        QSSEQ=[float(i + 1) for i in range(n)],
        QSTESTCD=[t[0] for t in tests],
        QSTEST=[t[1] for t in tests],
        QSCAT=["EQ-5D-5L"] * n,
        QSORRES=[t[2] for t in tests],
        QSSTRESC=[t[2] for t in tests],
        QSSTRESN=[float(t[2]) for t in tests],
        QSSTAT=[None] * n,
        QSREASND=[None] * n,
        QSLOBXFL=["Y"] * n,
        VISITNUM=[1.0] * n,
        VISIT=["SCREENING"] * n,
        EPOCH=["SCREENING"] * n,
        QSDTC=["2024-01-02"] * n,
        QSDY=[-6.0] * n,
    )


def _dm(study: Study) -> pd.DataFrame:
    return synth_frame(
        study,
        study.datasets["DM"],
        3,
        USUBJID=SUBJECTS,
        SUBJID=["001-001", "001-002", "002-001"],
        RFSTDTC=["2024-01-08", "2024-01-15", None],
        RFENDTC=["2024-06-20", "2024-06-27", None],
        RFXSTDTC=["2024-01-08", "2024-01-15", None],
        RFXENDTC=["2024-06-20", "2024-06-27", None],
        RFICDTC=["2024-01-01", "2024-01-09", "2024-01-20"],
        RFPENDTC=["2025-01-10", "2024-10-02", "2024-01-30"],
        DTHDTC=[None, "2024-10-02", None],
        DTHFL=[None, "Y", None],
        SITEID=["001", "001", "002"],
        BRTHDTC=["1956-03", "1949-11-02", "1961"],
        AGE=[67.0, 74.0, 62.0],
        AGEU=["YEARS"] * 3,
        SEX=["F", "M", "F"],
        RACE=["WHITE", "ASIAN", "WHITE"],
        ETHNIC=["NOT HISPANIC OR LATINO"] * 3,
        ARMCD=["DARAPOM", "DARAPOM", None],
        ARM=["Daratumumab + Pomalidomide", "Daratumumab + Pomalidomide", None],
        ACTARMCD=["DARAPOM", "DARAPOM", None],
        ACTARM=["Daratumumab + Pomalidomide", "Daratumumab + Pomalidomide", None],
        ARMNRS=[None, None, "SCREEN FAILURE"],
        ACTARMUD=[None, None, None],
        COUNTRY=["FRA", "ITA", "FRA"],
        DMDTC=["2024-01-01", "2024-01-09", "2024-01-20"],
        DMDY=[-7.0, -6.0, np.nan],
    )


def _ts(study: Study) -> pd.DataFrame:
    rows = [
        (
            "TITLE",
            "Trial Title",
            "Daratumumab and Pomalidomide in Previously Treated Patients With AL Amyloidosis",
            None,
            None,
            None,
        ),
        ("TPHASE", "Trial Phase Classification", "PHASE II TRIAL", "C15601", "CDISC CT", "2025-03-28"),
        ("PLANSUB", "Planned Number of Subjects", "40", None, None, None),
        ("DCUTDTC", "Data Cutoff Date", "2026-06-30", None, None, None),
    ]
    n = len(rows)
    return synth_frame(
        study,
        study.datasets["TS"],
        n,
        TSSEQ=[1.0] * n,
        TSGRPID=[None] * n,
        TSPARMCD=[r[0] for r in rows],
        TSPARM=[r[1] for r in rows],
        TSVAL=[r[2] for r in rows],
        TSVALNF=[None] * n,
        TSVALCD=[r[3] for r in rows],
        TSVCDREF=[r[4] for r in rows],
        TSVCDVER=[r[5] for r in rows],
    )


def sdtm_frames(study: Study) -> dict[str, pd.DataFrame]:
    """One frame per bundled SDTM spec; the domains the define has rules for are written by hand."""
    frames = {
        "DM": _dm(study),
        "LB": _lb(study),
        "RS": _rs(study),
        "QS": _qs(study),
        "TS": _ts(study),
        "SUPPDM": _supp(
            study,
            "SUPPDM",
            [
                (SUBJECTS[0], None, None, "INVLC", "Involved Light Chain (Investigator)", "LAMBDA"),
                (SUBJECTS[0], None, None, "INVISO", "Involved Isotype at Baseline", "FREE LAMBDA"),
                (SUBJECTS[0], None, None, "PRIORLN", "Number of Prior Lines of Therapy", "2"),
                (SUBJECTS[1], None, None, "INVLC", "Involved Light Chain (Investigator)", "KAPPA"),
                (SUBJECTS[1], None, None, "PRIORLN", "Number of Prior Lines of Therapy", "13"),
            ],
        ),
        "SUPPRS": _supp(
            study,
            "SUPPRS",
            [
                (SUBJECTS[0], "RSSEQ", "4", "MRDSENS", "MRD Sensitivity Achieved", "1E-05"),
                (SUBJECTS[0], "RSSEQ", "4", "MRDMETH", "MRD Assay", "FLOW CYTOMETRY"),
            ],
        ),
        "SUPPAE": _supp(
            study,
            "SUPPAE",
            [
                (SUBJECTS[0], "AESEQ", "1", "ACNDARA", "Action Taken with Daratumumab", "DRUG INTERRUPTED"),
                (SUBJECTS[0], "AESEQ", "1", "ACNPOMA", "Action Taken with Pomalidomide", "DOSE NOT CHANGED"),
                (SUBJECTS[0], "AESEQ", "1", "RELDARA", "Causality to Daratumumab", "RELATED"),
                (SUBJECTS[0], "AESEQ", "1", "RELPOMA", "Causality to Pomalidomide", "NOT RELATED"),
            ],
        ),
    }
    for spec in study.sdtm_datasets():
        if spec.name not in frames:
            frames[spec.name] = synth_frame(study, spec)
    return frames


# ------------------------------------------------------------------------------------------- ADaM study

ADAM_SPECS = {
    "adsl.yaml": """
        dataset: ADSL
        label: Subject-Level Analysis Dataset
        class: SUBJECT LEVEL ANALYSIS DATASET
        structure: One record per subject
        keys: [STUDYID, USUBJID]
        standard: ADaMIG 1.3
        repeating: false
        comment: Screen failures are not included.
        methods:
          - {id: MT.ADSL.SAFFL, name: SAFFL, type: Computation, description: "Y if the subject received any dose of study treatment, else N."}
          - {id: MT.ADSL.DTHDT, name: DTHDT, type: Imputation, description: "DM.DTHDTC as a date; a partial date is imputed to the first day of the known month or year."}
        variables:
          - {name: STUDYID, label: Study Identifier, type: text, origin: Predecessor, source: DM.STUDYID, core: Req}
          - {name: USUBJID, label: Unique Subject Identifier, type: text, origin: Predecessor, source: DM.USUBJID, core: Req}
          - {name: AGE, label: Age, type: integer, origin: Predecessor, source: DM.AGE, core: Req}
          - {name: SEX, label: Sex, type: text, origin: Predecessor, source: DM.SEX, core: Req, codelist: SEX}
          - {name: SAFFL, label: Safety Population Flag, type: text, origin: Derived, method: MT.ADSL.SAFFL, core: Req, codelist: NY}
          - {name: TRTSDT, label: Date of First Exposure to Treatment, type: integer, format: DATE9., origin: Derived, method: MT.ADSL.SAFFL, core: Cond}
          - {name: HEVAL, label: Hematologic Evaluability Class, type: text, origin: Derived, method: MT.ADSL.SAFFL, core: Perm, codelist: HEVAL}
          - {name: BDFLC, label: Baseline dFLC (mg/L), type: float, origin: Derived, method: MT.ADSL.SAFFL, core: Perm, comment: "iFLC minus uFLC at baseline, signed."}
          - {name: DTHDT, label: Date of Death, type: integer, format: DATE9., origin: Derived, method: MT.ADSL.DTHDT, core: Perm}
          - {name: DTHDTF, label: Date of Death Imputation Flag, type: text, origin: Derived, method: MT.ADSL.DTHDT, core: Perm, codelist: DTF}
          - {name: EOSSTT, label: End of Study Status, type: text, origin: Derived, method: MT.ADSL.SAFFL, core: Perm, codelist: SBJTSTAT}
    """,
    "adrs.yaml": """
        dataset: ADRS
        label: Response Analysis Dataset
        class: BASIC DATA STRUCTURE
        structure: One record per subject per parameter per analysis date
        keys: [STUDYID, USUBJID, PARAMCD, ADT]
        standard: ADaMIG 1.3
        methods:
          - {id: MT.ADRS.AVALC, name: AVALC, type: Computation, description: "Hematologic response per assessment by the Palladini 2012 criteria (see the ADRG)."}
        value_level:
          by: [PARAMCD]
          variables: [AVALC, AVAL]
          entries:
            - {where: {PARAMCD: BOR}, variable: AVALC, type: text, codelist: AVALC_ADRS}
            - {where: {PARAMCD: HEMRESP}, variable: AVALC, type: text, codelist: AVALC_ADRS}
            - {where: {PARAMCD: CRVGPRC6}, variable: AVALC, type: text, codelist: NY, label: CR or VGPR after cycle 6}
        variables:
          - {name: STUDYID, label: Study Identifier, type: text, origin: Predecessor, source: ADSL.STUDYID, core: Req}
          - {name: USUBJID, label: Unique Subject Identifier, type: text, origin: Predecessor, source: ADSL.USUBJID, core: Req}
          - {name: PARAMCD, label: Parameter Code, type: text, origin: Assigned, core: Req, codelist: PARAMCD_ADRS}
          - {name: PARAM, label: Parameter, type: text, origin: Assigned, core: Req, codelist: PARAM_ADRS}
          - {name: AVAL, label: Analysis Value, type: integer, origin: Derived, method: MT.ADRS.AVALC, core: Cond}
          - {name: AVALC, label: Analysis Value (C), type: text, origin: Derived, method: MT.ADRS.AVALC, core: Cond}
          - {name: ADT, label: Analysis Date, type: integer, format: DATE9., origin: Derived, method: MT.ADRS.AVALC, core: Cond}
          - {name: ANL01FL, label: Analysis Flag 01, type: text, origin: Derived, method: MT.ADRS.AVALC, core: Cond, codelist: NY}
    """,
    "adtte.yaml": """
        dataset: ADTTE
        label: Time-to-Event Analysis Dataset
        class: BASIC DATA STRUCTURE
        subclass: TIME-TO-EVENT
        structure: One record per subject per parameter
        keys: [STUDYID, USUBJID, PARAMCD]
        standard: ADaMIG 1.3
        methods:
          - {id: MT.ADTTE.AVAL, name: AVAL, type: Computation, description: "AVAL = ADT - STARTDT + 1 (days)."}
        value_level:
          by: [PARAMCD]
          variables: [AVAL]
        variables:
          - {name: STUDYID, label: Study Identifier, type: text, origin: Predecessor, source: ADSL.STUDYID, core: Req}
          - {name: USUBJID, label: Unique Subject Identifier, type: text, origin: Predecessor, source: ADSL.USUBJID, core: Req}
          - {name: PARAMCD, label: Parameter Code, type: text, origin: Assigned, core: Req, codelist: PARAMCD_ADTTE}
          - {name: PARAM, label: Parameter, type: text, origin: Assigned, core: Req, codelist: PARAM_ADTTE}
          - {name: AVAL, label: Analysis Value, type: float, origin: Derived, method: MT.ADTTE.AVAL, core: Cond}
          - {name: STARTDT, label: Time-to-Event Origin Date for Subject, type: integer, format: DATE9., origin: Derived, method: MT.ADTTE.AVAL, core: Cond}
          - {name: ADT, label: Analysis Date, type: integer, format: DATE9., origin: Derived, method: MT.ADTTE.AVAL, core: Cond}
          - {name: CNSR, label: Censor, type: integer, origin: Derived, method: MT.ADTTE.AVAL, core: Cond, codelist: CNSR}
          - {name: EVNTDESC, label: Event or Censoring Description, type: text, origin: Derived, method: MT.ADTTE.AVAL, core: Perm}
          - {name: SRCDOM, label: Source Data, type: text, origin: Derived, method: MT.ADTTE.AVAL, core: Perm}
    """,
}


def adam_study_dir(tmp_path: Path) -> Path:
    """A copy of the bundled specs whose specs/adam holds exactly the three small ADaM specs above."""
    target = tmp_path / "adam-study"
    shutil.copytree(REPO / "specs", target / "specs")
    for path in (target / "specs" / "adam").glob("*.yaml"):
        path.unlink()
    for name, text in ADAM_SPECS.items():
        (target / "specs" / "adam" / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return target


def adam_frames(study: Study) -> dict[str, pd.DataFrame]:
    s1, s2 = SUBJECTS[0], SUBJECTS[1]
    day = pd.Timestamp("1960-01-01")

    def sas(date: str | None) -> float:
        return float((pd.Timestamp(date) - day).days) if date else np.nan

    adsl = pd.DataFrame(
        {
            "STUDYID": "DARPAL",
            "USUBJID": [s1, s2],
            "AGE": [67.0, 74.0],
            "SEX": ["F", "M"],
            "SAFFL": ["Y", "Y"],
            "TRTSDT": [sas("2024-01-08"), sas("2024-01-15")],
            "HEVAL": ["DFLC>=50", "DFLC>=50"],
            "BDFLC": [238.0, 172.25],
            "DTHDT": [np.nan, sas("2024-10-01")],
            "DTHDTF": [None, "D"],
            "EOSSTT": ["ONGOING", "DISCONTINUED"],
        }
    )
    adrs_rows = [
        (s1, "HEMRESP", "Hematologic Response by Assessment", 3.0, "PR", "2024-02-05", "Y"),
        (s1, "HEMRESP", "Hematologic Response by Assessment", 2.0, "VGPR", "2024-04-01", "Y"),
        (s1, "BOR", "Best Overall Hematologic Response", 1.0, "CR", "2024-06-25", "Y"),
        (s1, "CRVGPRC6", "CR or VGPR After Cycle 6", 1.0, "Y", "2024-06-25", "Y"),
        (s2, "HEMRESP", "Hematologic Response by Assessment", 6.0, "PD", "2024-09-30", "Y"),
        (s2, "BOR", "Best Overall Hematologic Response", 3.0, "PR", "2024-04-10", "Y"),
        (s2, "CRVGPRC6", "CR or VGPR After Cycle 6", 0.0, "N", "2024-06-30", "Y"),
    ]
    core = pd.DataFrame(adrs_rows, columns=["USUBJID", "PARAMCD", "PARAM", "AVAL", "AVALC", "ADT", "ANL01FL"])
    adrs = core.assign(STUDYID="DARPAL", ADT=core.ADT.map(sas))[study.datasets["ADRS"].variable_names]
    adtte = pd.DataFrame(
        {
            "STUDYID": "DARPAL",
            "USUBJID": [s1, s1, s2, s2],
            "PARAMCD": ["PFS", "OS", "PFS", "OS"],
            "PARAM": [
                "Hematologic Progression-Free Survival (days)",
                "Overall Survival (days)",
                "Hematologic Progression-Free Survival (days)",
                "Overall Survival (days)",
            ],
            "AVAL": [541.0, 560.0, 265.0, 267.0],
            "STARTDT": [sas("2024-01-01")] * 2 + [sas("2024-01-09")] * 2,
            "ADT": [sas("2025-06-24"), sas("2025-07-13"), sas("2024-09-30"), sas("2024-10-01")],
            "CNSR": [1.0, 1.0, 0.0, 0.0],
            "EVNTDESC": ["ALIVE WITHOUT PROGRESSION", "ALIVE", "HEMATOLOGIC PROGRESSION", "DEATH"],
            "SRCDOM": ["ADRS", "ADSL", "ADRS", "ADSL"],
        }
    )
    return {"ADSL": adsl, "ADRS": adrs, "ADTTE": adtte}


# ------------------------------------------------------------------------------------- reading back


class DefineDoc:
    """A parsed define.xml with the look-ups the tests need (independent of define/)."""

    def __init__(self, path_or_bytes: Path | bytes) -> None:
        if isinstance(path_or_bytes, bytes):
            self.tree = etree.ElementTree(etree.fromstring(path_or_bytes))
        else:
            self.tree = etree.parse(str(path_or_bytes))
        self.root = self.tree.getroot()
        self.mdv = self.one("//odm:MetaDataVersion")

    def xp(self, path: str, node: etree._Element | None = None, **kw: str) -> list:
        return (node if node is not None else self.root).xpath(path, namespaces=NS, **kw)

    def one(self, path: str, node: etree._Element | None = None, **kw: str) -> etree._Element:
        found = self.xp(path, node, **kw)
        assert len(found) == 1, f"{path}: expected one match, found {len(found)}"
        return found[0]

    def by_oid(self, tag: str, oid: str) -> etree._Element:
        return self.one(f"//{tag}[@OID=$oid]", oid=oid)

    def item_group(self, name: str) -> etree._Element:
        return self.one("//odm:ItemGroupDef[@Name=$n]", n=name)

    def item_refs(self, dataset: str) -> list[etree._Element]:
        return self.xp("odm:ItemRef", self.item_group(dataset))

    def item_def_of(self, dataset: str, variable: str) -> etree._Element:
        """The ItemDef an ItemGroupDef's ItemRef points at for `variable`."""
        for ref in self.item_refs(dataset):
            item = self.by_oid("odm:ItemDef", ref.get("ItemOID"))
            if item.get("Name") == variable:
                return item
        raise AssertionError(f"{dataset}.{variable} has no ItemRef/ItemDef")

    @staticmethod
    def text(node: etree._Element) -> str:
        return "".join(node.xpath("odm:Description/odm:TranslatedText/text()", namespaces=NS))

    def value_list(
        self, oid: str
    ) -> list[tuple[etree._Element, etree._Element, list[tuple[str, str, list[str]]]]]:
        """(ItemRef, ItemDef, [(variable, comparator, values)]) for each item of a ValueListDef."""
        out = []
        for ref in self.xp("odm:ItemRef", self.by_oid("def:ValueListDef", oid)):
            item = self.by_oid("odm:ItemDef", ref.get("ItemOID"))
            wc = self.by_oid("def:WhereClauseDef", self.one("def:WhereClauseRef", ref).get("WhereClauseOID"))
            conditions = []
            for rc in self.xp("odm:RangeCheck", wc):
                variable = self.by_oid("odm:ItemDef", rc.get(f"{DEF}ItemOID")).get("Name")
                conditions.append((variable, rc.get("Comparator"), self.xp("odm:CheckValue/text()", rc)))
            out.append((ref, item, conditions))
        return out


def where_mask(frame: pd.DataFrame, conditions: list[tuple[str, str, list[str]]]) -> pd.Series:
    """The records a where clause selects, evaluated the way a reviewer's tool would (EQ/NE/IN/NOTIN)."""
    mask = pd.Series(True, index=frame.index)
    for variable, comparator, values in conditions:
        column = frame[variable].astype(object).where(frame[variable].notna(), None)
        text = column.map(lambda v: None if v is None else str(v))
        if comparator == "EQ":
            mask &= text == values[0]
        elif comparator == "NE":
            mask &= text != values[0]
        elif comparator == "IN":
            mask &= text.isin(values)
        elif comparator == "NOTIN":
            mask &= ~text.isin(values)
        else:  # pragma: no cover - any other comparator is a test failure
            raise AssertionError(f"unexpected comparator {comparator}")
    return mask
