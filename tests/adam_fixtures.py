"""Hand-written SDTM frames for the ADaM tests: a tiny builder, one call per CRF fact.

Dates: screening 2024-01-01, first dose 2024-01-08 unless told otherwise; ``day(n)`` is study day n
(day 1 = first dose) as ISO text.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
FIRST_DOSE = date(2024, 1, 8)
SAS_EPOCH = date(1960, 1, 1)


def settings() -> dict:
    return yaml.safe_load((ROOT / "specs" / "study.yaml").read_text(encoding="utf-8"))


def day(n: int, first: date = FIRST_DOSE) -> str:
    """ISO date of study day n (no day 0)."""
    return (first + timedelta(days=n - 1 if n > 0 else n)).isoformat()


def sas(iso: str) -> float:
    """ISO date -> SAS day number (the ADaM date representation)."""
    return float((date.fromisoformat(iso) - SAS_EPOCH).days)


VISITS = {
    "SCREENING": 1,
    "CYCLE 1 DAY 1": 101,
    "CYCLE 2 DAY 1": 201,
    "CYCLE 3 DAY 1": 301,
    "CYCLE 4 DAY 1": 401,
    "CYCLE 5 DAY 1": 501,
    "CYCLE 6 DAY 1": 601,
    "END OF TREATMENT": 700,
    "FOLLOW-UP MONTH 3": 803,
    "FOLLOW-UP MONTH 6": 806,
    "FOLLOW-UP MONTH 9": 809,
    "FOLLOW-UP MONTH 12": 812,
}


class Sdtm:
    """Accumulates SDTM rows; ``frames()`` returns {"DM": df, "EX": df, "LB": df, ...}."""

    def __init__(self) -> None:
        self.dm: list[dict] = []
        self.ex: list[dict] = []
        self.lb: list[dict] = []
        self.rs: list[dict] = []
        self.supprs: list[dict] = []
        self.cm: list[dict] = []
        self.ds: list[dict] = []
        self.ae: list[dict] = []
        self.ec: list[dict] = []
        self.qs: list[dict] = []
        self.suppae: list[dict] = []
        self._seq: dict[tuple[str, str], int] = {}

    def _next(self, domain: str, usubjid: str) -> int:
        key = (domain, usubjid)
        self._seq[key] = self._seq.get(key, 0) + 1
        return self._seq[key]

    def subject(
        self,
        usubjid: str,
        *,
        consent: str = "2024-01-01",
        first_dose: str | None = "2024-01-08",
        last_dose: str = "2024-06-10",
        sex: str = "F",
        age: int = 65,
        dthdtc: str = "",
        screen_failure: bool = False,
    ) -> Sdtm:
        arm = "" if screen_failure else "Daratumumab + Pomalidomide"
        self.dm.append(
            {
                "STUDYID": "DARPAL",
                "DOMAIN": "DM",
                "USUBJID": usubjid,
                "SUBJID": usubjid[-3:],
                "SITEID": "01",
                "RFICDTC": consent,
                "RFSTDTC": first_dose or "",
                "RFXSTDTC": first_dose or "",
                "RFXENDTC": last_dose if first_dose else "",
                "DTHDTC": dthdtc,
                "DTHFL": "Y" if dthdtc else "",
                "AGE": float(age),
                "AGEU": "YEARS",
                "SEX": sex,
                "RACE": "WHITE",
                "ETHNIC": "NOT HISPANIC OR LATINO",
                "COUNTRY": "ITA",
                "ARMCD": "DARAPOM" if arm else "",
                "ARM": arm,
                "ACTARMCD": "DARAPOM" if arm else "",
                "ACTARM": arm,
                "ARMNRS": "SCREEN FAILURE" if screen_failure else "",
            }
        )
        if first_dose and not screen_failure:
            self.ex.append(
                {
                    "STUDYID": "DARPAL",
                    "USUBJID": usubjid,
                    "EXSEQ": float(self._next("EX", usubjid)),
                    "EXTRT": "DARATUMUMAB",
                    "EXDOSE": 1800.0,
                    "EXSTDTC": first_dose,
                    "EXENDTC": first_dose,
                }
            )
            self.ex.append(
                {
                    "STUDYID": "DARPAL",
                    "USUBJID": usubjid,
                    "EXSEQ": float(self._next("EX", usubjid)),
                    "EXTRT": "POMALIDOMIDE",
                    "EXDOSE": 4.0,
                    "EXSTDTC": first_dose,
                    "EXENDTC": last_dose,
                }
            )
            for given in self.ex[-2:]:  # every planned administration is an EC record (here all given)
                self.ec.append(
                    {
                        "STUDYID": "DARPAL",
                        "USUBJID": usubjid,
                        "ECSEQ": float(self._next("EC", usubjid)),
                        "ECTRT": given["EXTRT"],
                        "ECOCCUR": "Y",
                        "ECDOSE": given["EXDOSE"],
                        "ECDOSU": "mg",
                        "ECADJ": "",
                        "ECREASOC": "",
                        "VISIT": "CYCLE 1 DAY 1",
                        "VISITNUM": 101.0,
                        "ECSTDTC": given["EXSTDTC"],
                        "ECENDTC": given["EXENDTC"],
                    }
                )
            self.event(usubjid, first_dose)
            for code in ("EQ5D0201", "EQ5D0202", "EQ5D0203", "EQ5D0204", "EQ5D0205", "EQ5D0206"):
                value = 80.0 if code == "EQ5D0206" else 1.0  # full health at screening, VAS 80
                self.qs.append(
                    {
                        "STUDYID": "DARPAL",
                        "USUBJID": usubjid,
                        "QSSEQ": float(self._next("QS", usubjid)),
                        "QSCAT": "EQ-5D-5L",
                        "QSTESTCD": code,
                        "QSSTRESC": f"{value:g}",
                        "QSSTRESN": value,
                        "VISIT": "SCREENING",
                        "VISITNUM": 1.0,
                        "QSDTC": consent,
                    }
                )
        return self

    def event(self, usubjid: str, start: str, grade: str = "1", onset_grade: str = "") -> Sdtm:
        """An adverse event (fatigue, no action, not related) with its SUPPAE qualifiers."""
        seq = self._next("AE", usubjid)
        self.ae.append(
            {
                "STUDYID": "DARPAL",
                "USUBJID": usubjid,
                "AESEQ": float(seq),
                "AESPID": f"AE-{usubjid}-{seq}",
                "AETERM": "FATIGUE",
                "AEDECOD": "Fatigue",
                "AEBODSYS": "General disorders and administration site conditions",
                "AESOC": "General disorders and administration site conditions",
                "AESER": "N",
                "AESDTH": "",
                "AEACN": "DOSE NOT CHANGED",
                "AEREL": "NOT RELATED",
                "AEOUT": "RECOVERED/RESOLVED",
                "AETOXGR": grade,
                "AESTDTC": start,
                "AEENDTC": start,
            }
        )
        qualifiers = {"ACNDARA": "DOSE NOT CHANGED", "ACNPOMA": "DOSE NOT CHANGED", "RELDARA": "NOT RELATED"}
        qualifiers |= {"RELPOMA": "NOT RELATED", "AEITOXGR": onset_grade}
        for qnam, qval in qualifiers.items():
            if qval:
                self.suppae.append(
                    {"USUBJID": usubjid, "IDVAR": "AESEQ", "IDVARVAL": str(seq), "QNAM": qnam, "QVAL": qval}
                )
        return self

    def lab(
        self,
        usubjid: str,
        testcd: str,
        value: float | str | None,
        dtc: str,
        visit: str,
        *,
        spec: str = "SERUM",
        method: str = "",
        endtc: str = "",
        visitnum: float | None = None,
    ) -> Sdtm:
        num = float(value) if isinstance(value, int | float) else float("nan")
        strc = "" if value is None else (f"{value:g}" if isinstance(value, int | float) else str(value))
        self.lb.append(
            {
                "STUDYID": "DARPAL",
                "DOMAIN": "LB",
                "USUBJID": usubjid,
                "LBSEQ": float(self._next("LB", usubjid)),
                "LBTESTCD": testcd,
                "LBSPEC": spec,
                "LBMETHOD": method,
                "LBSTRESC": strc,
                "LBSTRESN": num,
                "LBDTC": dtc,
                "LBENDTC": endtc,
                "VISIT": visit,
                "VISITNUM": float(visitnum if visitnum is not None else VISITS.get(visit, float("nan"))),
            }
        )
        return self

    def flc(
        self,
        usubjid: str,
        dtc: str,
        visit: str,
        kappa: float | str | None,
        lam: float | str | None,
        *,
        sife: str | None = None,
        uife: str | None = None,
        isotype: str | None = None,
        mspike: float | None = None,
        umprot: float | None = None,
        visitnum: float | None = None,
    ) -> Sdtm:
        kw = {"visitnum": visitnum}
        if kappa is not None:
            self.lab(usubjid, "KLCFR", kappa, dtc, visit, **kw)
        if lam is not None:
            self.lab(usubjid, "LLCFR", lam, dtc, visit, **kw)
        if sife is not None:
            self.lab(usubjid, "MCPROT", sife, dtc, visit, method="IMMUNOFIXATION ELECTROPHORESIS", **kw)
        if uife is not None:
            self.lab(
                usubjid,
                "MCPROT",
                uife,
                dtc,
                visit,
                spec="URINE",
                method="IMMUNOFIXATION ELECTROPHORESIS",
                **kw,
            )
        if isotype is not None:
            self.lab(usubjid, "MPIGISO", isotype, dtc, visit, **kw)
        if mspike is not None:
            self.lab(usubjid, "MCPROT", mspike, dtc, visit, method="ELECTROPHORESIS", **kw)
        if umprot is not None:
            self.lab(usubjid, "MPROTEXR", umprot, dtc, visit, spec="URINE", **kw)
        return self

    def organ(
        self,
        usubjid: str,
        dtc: str,
        visit: str,
        *,
        ntprobnp: float | None = None,
        tropt: float | None = None,
        prot24: float | None = None,
        egfr: float | None = None,
        creat: float | None = None,
        endtc: str = "",
    ) -> Sdtm:
        if ntprobnp is not None:
            self.lab(usubjid, "BNPPRONT", ntprobnp, dtc, visit)
        if tropt is not None:
            self.lab(usubjid, "TROPONT", tropt, dtc, visit)
        if prot24 is not None:
            self.lab(usubjid, "PROTEXR", prot24, dtc, visit, spec="URINE", endtc=endtc)
        if egfr is not None:
            self.lab(usubjid, "GFRBSCRT", egfr, dtc, visit)
        if creat is not None:
            self.lab(usubjid, "CREAT", creat, dtc, visit)
        return self

    def therapy(self, usubjid: str, cmstdtc: str) -> Sdtm:
        self.cm.append(
            {
                "STUDYID": "DARPAL",
                "USUBJID": usubjid,
                "CMSEQ": float(self._next("CM", usubjid)),
                "CMTRT": "BORTEZOMIB",
                "CMCAT": "SUBSEQUENT ANTI-PLASMA CELL THERAPY",
                "CMSTDTC": cmstdtc,
            }
        )
        return self

    def mrd(self, usubjid: str, dtc: str, result: str, sensitivity: str | None) -> Sdtm:
        seq = float(self._next("RS", usubjid))
        self.rs.append(
            {
                "STUDYID": "DARPAL",
                "USUBJID": usubjid,
                "RSSEQ": seq,
                "RSTESTCD": "MRDIND",
                "RSCAT": "PROTOCOL DEFINED RESPONSE CRITERIA",
                "RSSTRESC": result,
                "RSDTC": dtc,
                "VISIT": "END OF TREATMENT",
                "VISITNUM": 700.0,
            }
        )
        if sensitivity is not None:
            self.supprs.append(
                {
                    "STUDYID": "DARPAL",
                    "RDOMAIN": "RS",
                    "USUBJID": usubjid,
                    "IDVAR": "RSSEQ",
                    "IDVARVAL": f"{seq:g}",
                    "QNAM": "MRDSENS",
                    "QVAL": sensitivity,
                }
            )
        return self

    def frames(self) -> dict[str, pd.DataFrame]:
        out = {"DM": pd.DataFrame(self.dm), "EX": pd.DataFrame(self.ex), "LB": pd.DataFrame(self.lb)}
        named = (
            ("RS", self.rs),
            ("SUPPRS", self.supprs),
            ("CM", self.cm),
            ("DS", self.ds),
            ("AE", self.ae),
            ("EC", self.ec),
            ("QS", self.qs),
        )
        for name, rows in (*named, ("SUPPAE", self.suppae)):
            if rows:
                out[name] = pd.DataFrame(rows)
        return out


def worked_examples() -> Sdtm:
    """DOMAIN.md's three worked examples (screening 2024-01-01, first dose 2024-01-08)."""
    s = Sdtm()
    # 1. Lambda-involved, baseline 12/250 (dFLC 238), IFE +/+.
    s.subject("EX-1").flc(
        "EX-1", "2024-01-01", "SCREENING", 12, 250, sife="POSITIVE", uife="POSITIVE", isotype="IGG LAMBDA"
    )
    s.flc("EX-1", day(29), "CYCLE 2 DAY 1", 10, 90)
    s.flc("EX-1", day(85), "CYCLE 4 DAY 1", 9, 30, sife="POSITIVE", uife="POSITIVE")
    s.flc("EX-1", day(169), "END OF TREATMENT", 11, 14, sife="NEGATIVE", uife="NEGATIVE")
    # 2. Kappa-involved, baseline 180/8 (dFLC 172), no band recorded (ratio 22.5 -> kappa).
    s.subject("EX-2").flc("EX-2", "2024-01-01", "SCREENING", 180, 8)
    s.flc("EX-2", day(29), "CYCLE 2 DAY 1", 95, 7)
    s.flc("EX-2", day(85), "CYCLE 4 DAY 1", 70, 8)
    s.flc("EX-2", day(169), "END OF TREATMENT", 60, 9)
    s.flc("EX-2", "2024-12-23", "FOLLOW-UP MONTH 6", 125, 9)
    # 3. Lambda, baseline 8/42 (dFLC 34, LOW-DFLC).
    s.subject("EX-3").flc("EX-3", "2024-01-01", "SCREENING", 8, 42)
    s.flc("EX-3", day(85), "CYCLE 4 DAY 1", 7.5, 16)
    return s


def read_dataset_spec(study_dir, dataset: str) -> dict:
    """specs/adam/<dataset>.yaml read raw with yaml.safe_load: the tests' independent view of the spec."""
    root = Path(study_dir) if study_dir is not None else Path(__file__).resolve().parents[1]
    return yaml.safe_load((root / "specs" / "adam" / f"{dataset.lower()}.yaml").read_text(encoding="utf-8"))
