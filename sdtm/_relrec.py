"""RELREC from the links the mapping sources declare (`link: {name, column}` in mappings/*.yaml).

A source with a link carries, per record, the raw value of the link column (e.g. the AE log number a dose
change cites, or the AE form's own number). Records of different datasets with the same subject, link name
and value are related: one RELREC record each (RDOMAIN, IDVAR --SEQ, IDVARVAL its value), sharing RELID
(link name and value, e.g. AE-6), RELTYPE null (record-level relationships, SDTMIG 3.4 section 8.2).
A citing record (`cites: true`, e.g. the dose change) whose value no record of another dataset carries
relates nothing and is a MAP023 finding naming the raw row, never dropped silently; a cited record (an AE no
form cites) simply has no relationship.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdiscgen._findings import Finding, Severity
from cdiscgen._specs import DatasetSpec, Study
from sdtm._context import FILE, RECID, ROW, USUBJID, RuleContext, row_findings
from sdtm._derive import compute_number_text

LINK = "_LINK"  # "<link name>-<raw value>" of a record whose source declares a link; "" otherwise
CITES = "_CITES"  # True on records of a source whose link cites a record of another dataset
_COLUMNS = ("USUBJID", "RDOMAIN", "IDVAR", "IDVARVAL", LINK, CITES, FILE, RECID, ROW)


def compute_link_values(raw: pd.DataFrame, name: str, column: str) -> pd.Series:
    """Per raw row: `name`-value of its link column, "" where the column is blank."""
    value = raw[column].astype("str").str.strip()
    return (name + "-" + value).where(value != "", "")


def compute_linked_records(frame: pd.DataFrame, spec: DatasetSpec, seq: str) -> pd.DataFrame | None:
    """The records of one dataset (with --SEQ set) that carry a link: what RELREC needs of them."""
    if LINK not in frame.columns or seq not in frame.columns:
        return None
    link = frame[LINK].fillna("").astype("str")  # "" also for the rows of sources without a link
    linked = frame[link != ""]
    if linked.empty:
        return None
    return pd.DataFrame(
        {
            "USUBJID": linked["USUBJID"].astype("str").to_numpy(),
            "RDOMAIN": spec.domain or spec.name,
            "IDVAR": seq,
            "IDVARVAL": compute_number_text(linked[seq]).to_numpy(),
            LINK: linked[LINK].astype("str").to_numpy(),
            CITES: linked[CITES].fillna(False).astype(bool).to_numpy() if CITES in linked.columns else False,
            **{c: linked[c].to_numpy() if c in linked.columns else "" for c in (FILE, RECID, ROW)},
        }
    )


def derive_relrec(linked: list[pd.DataFrame], study: Study) -> tuple[pd.DataFrame, list[Finding]]:
    """RELREC records of every link value that records of two or more datasets share (see module doc)."""
    records = pd.concat(linked, ignore_index=True) if linked else pd.DataFrame(columns=list(_COLUMNS))
    cites = records[CITES].fillna(False).astype(bool) if len(records) else pd.Series(dtype=bool)
    by = [records["USUBJID"], records[LINK]]
    domains = records["RDOMAIN"].groupby(by).transform("nunique")
    sides = pd.DataFrame({"citing": cites, "cited": ~cites}).groupby(by).transform("any")
    citing, cited = sides["citing"], sides["cited"]
    # a group with a citing record relates when it holds the cited record; a link declared alike on every
    # side (no `cites`) relates records of two or more datasets
    related = np.where(citing, cited, domains >= 2) & (domains >= 2)
    missing = (cites & ~cited).to_numpy()
    ctx = RuleContext("RELREC", "RELID", study.codelists)
    findings = row_findings(
        records.rename(columns={"USUBJID": USUBJID}),
        missing,
        code="MAP023",
        severity=Severity.WARNING,
        message="link {value} cites a record no other dataset of the subject holds: nothing related",
        ctx=ctx,
        values=records[LINK],
    )
    related = records.loc[np.asarray(related, dtype=bool)]
    out = pd.DataFrame(
        {
            "STUDYID": study.studyid,
            "RDOMAIN": related["RDOMAIN"].to_numpy(),
            "USUBJID": related["USUBJID"].to_numpy(),
            "IDVAR": related["IDVAR"].to_numpy(),
            "IDVARVAL": related["IDVARVAL"].to_numpy(),
            "RELTYPE": "",
            "RELID": related[LINK].to_numpy(),
        }
    )
    out = out.astype({c: "str" for c in ("RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "RELID")})
    number = pd.to_numeric(out["IDVARVAL"], errors="coerce").to_numpy()
    order = np.lexsort(
        (number, out["RDOMAIN"].to_numpy(), out["RELID"].to_numpy(), out["USUBJID"].to_numpy())
    )
    return out.iloc[order].reset_index(drop=True), findings
