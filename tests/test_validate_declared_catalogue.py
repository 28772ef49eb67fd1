"""The published conformance rules written as data in sdtm_events.yaml, sdtm_trial_design.yaml and the later
entries of sdtm_timing/findings/relationships.yaml, each worked by hand on a few records: records that break
the rule, records that keep it, and the expected findings read off the rule's text, not the engine.

Most of them need variables the bundled study does not collect (--STRF, --TOX, SVPRESP, EXDOSTXT, ...), so
they are tested here rather than by a defect in the real output (tests/test_validate_declared.py).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from cdiscgen.validate import validate_datasets

# the topic variable that tells a general-observation dataset's class when no study spec says it
TOPIC = {"LB": "TESTCD", "VS": "TESTCD", "PC": "TESTCD", "CM": "TRT", "EX": "TRT", "AE": "TERM", "MH": "TERM"}
TOPIC |= {"DS": "TERM"}


def frame(domain: str, **columns: list) -> pd.DataFrame:
    """A dataset of `domain` with STUDYID, DOMAIN, (when USUBJID is given) --SEQ 1..n and its topic
    variable added (unless given)."""
    n = len(next(iter(columns.values())))
    out = {"STUDYID": ["S"] * n, "DOMAIN": [domain] * n}
    if "USUBJID" in columns:
        out["USUBJID"] = columns.pop("USUBJID")
        if domain not in ("DM", "SV", "SE") and not domain.startswith("SUPP"):
            out[f"{domain}SEQ"] = [float(i + 1) for i in range(n)]
    topic = domain + TOPIC.get(domain, "")
    if domain in TOPIC and topic not in columns:
        out[topic] = ["X"] * n
    return pd.DataFrame({**out, **columns})


def supp(rdomain: str, **columns: list) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {"STUDYID": ["S"] * n, "RDOMAIN": [rdomain] * n}
    return pd.DataFrame({**base, **columns})


TV = frame("TV", VISITNUM=[1.0, 2.0], VISIT=["SCREENING", "WEEK 1"], ARMCD=["A1", "A1"])


@dataclasses.dataclass
class Case:
    code: str
    datasets: dict[str, pd.DataFrame]
    flagged: list[tuple[str, str | None]]  # (dataset, USUBJID) or (dataset, value) where there is no subject
    why: str = ""


def _subjects(n: int) -> list[str]:
    return list("ABCDEFGH"[:n])


CASES = [
    # --- findings
    Case(
        "CDG2125",
        {
            "LB": frame(
                "LB", USUBJID=_subjects(3), LBRESCAT=["ABNORMAL", "ABNORMAL", ""], LBSTRESC=["", "12", ""]
            )
        },
        [("LB", "A")],
        "a category on a record without a standard result",
    ),
    Case(
        "CDG2126",
        {"LB": frame("LB", USUBJID=_subjects(2), LBTOX=["Anemia", "Anemia"], LBTOXGR=["", "2"])},
        [("LB", "A")],
    ),
    Case(
        "CDG2127",
        {
            "LB": frame(
                "LB",
                USUBJID=["A", "A", "B", "B", "C", "C"],
                LBTESTCD=["ALB", "ALB", "ALB", "HGB", "ALB", "ALB"],
                LBSTRESC=["40", "41", "40", "130", "40", ""],
                LBBLFL=["Y", "Y", "Y", "Y", "Y", "Y"],
            )
        },
        [("LB", "A"), ("LB", "A")],
        "A flags two ALB records; B one per test; C's second flag has no result (not a baseline value)",
    ),
    Case(
        "CDG2127",
        {
            "VS": frame(
                "VS",
                USUBJID=["A", "A", "A"],
                VSTESTCD=["SYSBP"] * 3,
                VSPOS=["SUPINE", "STANDING", "STANDING"],
                VSSTRESC=["120", "118", "119"],
                VSBLFL=["Y", "Y", "Y"],
            )
        },
        [("VS", "A"), ("VS", "A")],
        "one baseline per position: the two STANDING ones collide",
    ),
    # --- relationships
    Case(
        "CDG2210",
        {
            "SUPPAE": supp(
                "AE", USUBJID=["A", "B"], IDVAR=["", "AESEQ"], IDVARVAL=["", "1"], QNAM=["X", "X"]
            ),
            "SUPPDM": supp("DM", USUBJID=["A"], IDVAR=[""], IDVARVAL=[""], QNAM=["X"]),
        },
        [("SUPPAE", "A")],
        "SUPPDM may qualify the subject's one record without IDVAR",
    ),
    # --- timing
    Case(
        "CDG2315",
        {"PC": frame("PC", USUBJID=_subjects(2), PCELTM=["PT2H", "PT2H"], PCTPTREF=["", "DOSE"])},
        [("PC", "A")],
    ),
    Case(
        "CDG2316",
        {
            "VS": frame(
                "VS",
                USUBJID=_subjects(4),
                VISITNUM=[3.0, 3.0, 3.0, 4.0],
                VSTPTREF=["DOSE"] * 4,
                VSTPTNUM=[2.0] * 4,
                VSELTM=["PT1H", "PT1H", "PT2H", "PT2H"],
            )
        },
        [("VS", "C")],
        "C differs from the two other records of visit 3, time point 2; visit 4 is its own group",
    ),
    Case(
        "CDG2317",
        {"CM": frame("CM", USUBJID=_subjects(2), CMSTRTPT=["BEFORE"] * 2, CMSTTPT=["", "SCREENING"])},
        [("CM", "A")],
    ),
    Case(
        "CDG2318",
        {"CM": frame("CM", USUBJID=_subjects(2), CMSTTPT=["SCREENING"] * 2, CMSTRTPT=["", "BEFORE"])},
        [("CM", "A")],
    ),
    Case(
        "CDG2319",
        {"AE": frame("AE", USUBJID=_subjects(2), AEENRTPT=["ONGOING"] * 2, AEENTPT=["", "END OF STUDY"])},
        [("AE", "A")],
    ),
    Case(
        "CDG2320",
        {"AE": frame("AE", USUBJID=_subjects(2), AEENTPT=["END OF STUDY"] * 2, AEENRTPT=["", "ONGOING"])},
        [("AE", "A")],
    ),
    Case(
        "CDG2321",
        {"MH": frame("MH", USUBJID=_subjects(2), MHOCCUR=["N", "Y"], MHSTRF=["BEFORE", "BEFORE"])},
        [("MH", "A")],
    ),
    Case(
        "CDG2322",
        {"CM": frame("CM", USUBJID=_subjects(2), CMOCCUR=["N", "Y"], CMENRF=["ONGOING", "ONGOING"])},
        [("CM", "A")],
    ),
    Case(
        "CDG2323",
        {
            "DM": frame("DM", USUBJID=_subjects(2), RFSTDTC=["", "2024-01-08"]),
            "CM": frame("CM", USUBJID=_subjects(2), CMSTRF=["BEFORE", "BEFORE"]),
        },
        [("CM", "A")],
        "A is a screen failure (no RFSTDTC)",
    ),
    Case(
        "CDG2324",
        {
            "DM": frame("DM", USUBJID=_subjects(2), RFENDTC=["", "2024-06-30"]),
            "AE": frame("AE", USUBJID=_subjects(2), AEENRF=["AFTER", "AFTER"]),
        },
        [("AE", "A")],
    ),
    # --- events and interventions
    Case(
        "CDG2701",
        {
            "AE": frame(
                "AE",
                USUBJID=_subjects(4),
                AESER=["N", "Y", "", "N"],
                AESHOSP=["Y", "Y", "N", "N"],
                AESLIFE=["N", "N", "Y", "N"],
            )
        },
        [("AE", "A"), ("AE", "C")],
        "A hospitalised but not serious; C life-threatening with AESER null",
    ),
    Case(
        "CDG2702",
        {
            "DS": frame(
                "DS",
                USUBJID=_subjects(2),
                DSTERM=["COMPLETED"] * 2,
                DSDECOD=["WITHDRAWAL BY SUBJECT", "COMPLETED"],
            )
        },
        [("DS", "A")],
    ),
    Case("CDG2703", {"AE": frame("AE", USUBJID=_subjects(2), AETERM=["OTHER", "Oedema"])}, [("AE", "A")]),
    Case("CDG2704", {"MH": frame("MH", USUBJID=_subjects(2), MHTERM=["MULTIPLE", "Gout"])}, [("MH", "A")]),
    Case("CDG2705", {"CM": frame("CM", USUBJID=_subjects(2), CMTRT=["OTHER", "FUROSEMIDE"])}, [("CM", "A")]),
    Case(
        "CDG2706", {"CM": frame("CM", USUBJID=_subjects(2), CMTRT=["MULTIPLE", "FUROSEMIDE"])}, [("CM", "A")]
    ),
    Case(
        "CDG2707",
        {
            "DS": frame(
                "DS",
                USUBJID=_subjects(2),
                DSCAT=["completed", "DISPOSITION EVENT"],
                DSDECOD=["COMPLETED"] * 2,
            )
        },
        [("DS", "A")],
        "the same text in another case is the same category",
    ),
    Case(
        "CDG2708",
        {
            "DS": frame(
                "DS",
                USUBJID=_subjects(2),
                DSSCAT=["COMPLETED", "STUDY PARTICIPATION"],
                DSDECOD=["COMPLETED"] * 2,
            )
        },
        [("DS", "A")],
    ),
    Case(
        "CDG2709",
        {
            "DS": frame(
                "DS",
                USUBJID=_subjects(2),
                DSCAT=["DISPOSITION EVENT"] * 2,
                DSSCAT=["DISPOSITION EVENT", "STUDY PARTICIPATION"],
            )
        },
        [("DS", "A")],
    ),
    Case(
        "CDG2710",
        {
            "DS": frame(
                "DS",
                USUBJID=_subjects(2),
                DSSCAT=["STUDY PARTICIPATION"] * 2,
                DSCAT=["", "DISPOSITION EVENT"],
            )
        },
        [("DS", "A")],
    ),
    Case(
        "CDG2711",
        {"MH": frame("MH", USUBJID=_subjects(2), MHOCCUR=["Y", "Y"], MHPRESP=["", "Y"])},
        [("MH", "A")],
    ),
    Case(
        "CDG2712",
        {
            "MH": frame(
                "MH",
                USUBJID=_subjects(3),
                MHPRESP=["Y"] * 3,
                MHOCCUR=["", "N", ""],
                MHSTAT=["", "", "NOT DONE"],
            )
        },
        [("MH", "A")],
        "C was not asked, and says so",
    ),
    Case(
        "CDG2712",
        {"MH": frame("MH", USUBJID=_subjects(2), MHPRESP=["Y", "Y"], MHOCCUR=["", "N"])},
        [("MH", "A")],
        "without MHSTAT in the dataset there is no status: an answer is required",
    ),
    Case(
        "CDG2713",
        {
            "CM": frame(
                "CM",
                USUBJID=_subjects(3),
                CMPRESP=["Y"] * 3,
                CMOCCUR=["", "", "Y"],
                CMSTAT=["", "NOT DONE", ""],
            )
        },
        [("CM", "A")],
    ),
    Case(
        "CDG2714",
        {"EX": frame("EX", USUBJID=_subjects(3), EXDOSE=[16.0, 16.0, np.nan], EXDOSTXT=["16", "", "1-2"])},
        [("EX", "A")],
    ),
    Case(
        "CDG2715",
        {"EX": frame("EX", USUBJID=_subjects(2), EXDOSE=[16.0, 16.0], EXDOSU=["", "mg/kg"])},
        [("EX", "A")],
    ),
    Case(
        "CDG2716",
        {"CM": frame("CM", USUBJID=_subjects(3), CMDOSTXT=["200", "200-400", "0.5"])},
        [("CM", "A"), ("CM", "C")],
    ),
    Case("CDG2717", {"EX": frame("EX", USUBJID=_subjects(3), EXDOSE=[-16.0, 16.0, 0.0])}, [("EX", "A")]),
    Case("CDG2718", {"CM": frame("CM", USUBJID=_subjects(2), CMDOSTOT=[-400.0, 400.0])}, [("CM", "A")]),
    Case("CDG2719", {"EX": frame("EX", USUBJID=_subjects(2), EXVAMT=[-100.0, 100.0])}, [("EX", "A")]),
    Case("CDG2720", {"AE": frame("AE", USUBJID=_subjects(2), AEDUR=["-P3D", "P3D"])}, [("AE", "A")]),
    Case(
        "CDG2721",
        {
            "AE": frame(
                "AE", USUBJID=_subjects(2), AEBODSYS=["Cardiac disorders"] * 2, AEBDSYCD=[np.nan, 10007541.0]
            )
        },
        [("AE", "A")],
    ),
    Case(
        "CDG2722",
        {
            "AE": frame(
                "AE", USUBJID=_subjects(2), AEPTCD=[10029883.0, 10029883.0], AEDECOD=["", "Oedema peripheral"]
            )
        },
        [("AE", "A")],
    ),
    # --- trial design, subject elements and visits
    *[
        Case(
            code,
            {
                "SE": frame(
                    "SE",
                    USUBJID=_subjects(2),
                    ETCD=["UNPLAN", "TRT"],
                    ELEMENT=["Treatment"] * 2,
                    TAETORD=[2.0, 2.0],
                )
            },
            [("SE", "A")],
            "an unplanned element with the name and order of a planned one, and no SEUPDES",
        )
        for code in ("CDG2801", "CDG2802", "CDG2803")
    ],
    Case(
        "CDG2804",
        {"SE": frame("SE", USUBJID=_subjects(2), ETCD=["TRT", "UNPLAN"], SEUPDES=["Drug holiday"] * 2)},
        [("SE", "A")],
    ),
    Case(
        "CDG2805",
        {"TE": frame("TE", ETCD=["TREATMENT1", "TRT"], ELEMENT=["Treatment", "Treatment"])},
        [("TE", "TREATMENT1")],
    ),
    Case(
        "CDG2806",
        {
            "TA": frame(
                "TA",
                ARMCD=["A1", "A1", "A1", "A2"],
                TAETORD=[1.0, 2.0, 2.0, 2.0],
                ETCD=["SCRN", "TRT", "FU", "TRT"],
            )
        },
        [("TA", "2"), ("TA", "2")],
        "arm A1 has two elements in place 2; A2's place 2 is its own",
    ),
    Case("CDG2807", {"TA": frame("TA", ARMCD=["A1", "A1"], TAETORD=[1.5, 2.0])}, [("TA", "1.5")]),
    Case("CDG2808", {"DM": frame("DM", USUBJID=_subjects(2), ARMCD=["X" * 21, "X" * 20])}, [("DM", "A")]),
    Case("CDG2809", {"DM": frame("DM", USUBJID=_subjects(2), ACTARMCD=["X" * 21, "X" * 20])}, [("DM", "A")]),
    Case(
        "CDG2810", {"DM": frame("DM", USUBJID=_subjects(2), SETCD=["HIGHDOSE1", "HIGHDOSE"])}, [("DM", "A")]
    ),
    Case(
        "CDG2813", {"TS": frame("TS", TSPARMCD=["X", "Y"], TSPARM=["P" * 41, "P" * 40])}, [("TS", "P" * 41)]
    ),
    Case(
        "CDG2814",
        {"TS": frame("TS", TSSEQ=[1.0, 1.0, 1.0, 2.0], TSPARMCD=["TRT", "TRT", "INDIC", "INDIC"])},
        [("TS", "1"), ("TS", "1")],
    ),
    Case(
        "CDG2815",
        {"TS": frame("TS", TSPARMCD=["X", "Y"], TSVAL=["", "a"], TSVAL1=["more", "more"])},
        [("TS", None)],
    ),
    Case(
        "CDG2816",
        {"TV": TV, "SV": frame("SV", USUBJID=_subjects(2), VISITNUM=[2.01, 2.0], VISITDY=[22.0, 29.0])},
        [("SV", "A")],
    ),
    Case(
        "CDG2817",
        {
            "TV": TV,
            "SV": frame("SV", USUBJID=["A", "A", "A", "A", "B"], VISITNUM=[2.0, 2.0, 2.01, 2.01, 2.0]),
        },
        [("SV", "A"), ("SV", "A")],
        "A's planned visit 2 twice; two unplanned records numbered alike are not this rule's business",
    ),
    Case(
        "CDG2818",
        {"TV": TV, "SV": frame("SV", USUBJID=_subjects(3), SVPRESP=["", "", "Y"], VISITNUM=[2.0, 2.01, 2.0])},
        [("SV", "A")],
    ),
    Case(
        "CDG2819",
        {"SV": frame("SV", USUBJID=_subjects(2), SVPRESP=["", "Y"], VISITDY=[29.0, 29.0])},
        [("SV", "A")],
    ),
    Case(
        "CDG2820",
        {"SV": frame("SV", USUBJID=_subjects(2), SVOCCUR=["N", "N"], SVPRESP=["", "Y"])},
        [("SV", "A")],
    ),
]

HAND_WORKED = frozenset(c.code for c in CASES)


def _where(finding) -> tuple[str, str | None]:
    return (finding.dataset, finding.usubjid if finding.usubjid is not None else finding.value)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.code}-{next(iter(c.datasets.values())).shape[0]}")
def test_published_rule_worked_by_hand(case):
    result = validate_datasets(case.datasets, codes=[case.code])
    found = sorted(_where(f) for f in result.findings if f.code == case.code)
    assert found == sorted(case.flagged), case.why
