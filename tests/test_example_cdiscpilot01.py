"""The CDISC pilot's real raw exports, mapped as they are with examples/cdiscpilot01, agree record by record
with the SDTM that pharmaverse made from them (../shared/refdata/cdiscpilot01-raw/sdtm, read with pyreadr).

Records are matched as the refdata README states: the n-th raw row of dm/ds/ec/ae is the n-th record of
DM/DS/EX/AE (our trace files give each record's raw row); VS, a pivot, by subject, visit, date, time point
and test. Every variable both sides have is compared; a disagreement counts as explained only when an
entry of examples/cdiscpilot01/reference-differences.yaml describes it, and each variable must agree in at
least 99.5% of records once the explained ones are set aside.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml

from cdiscgen._findings import Severity
from tests.conftest import REFDATA, REPO, refdata_path

pyreadr = pytest.importorskip("pyreadr")

EXAMPLE = REPO / "examples" / "cdiscpilot01"
BY_ROW = ("DM", "DS", "EX", "AE")
VS_KEYS = ["USUBJID", "VISITNUM", "VSDTC", "VSTPTNUM", "VSTESTCD"]
THRESHOLD = 0.995


@pytest.fixture(scope="module")
def mapped(pilot_mapped):
    return pilot_mapped()


REFDATA_SDTM = REFDATA / "cdiscpilot01-raw" / "sdtm"


def reference(name: str) -> pd.DataFrame:
    path = refdata_path("cdiscpilot01-raw", "sdtm", f"{name.lower()}.rda")
    return next(iter(pyreadr.read_r(str(path)).values()))


def differences() -> list[dict]:
    return yaml.safe_load((EXAMPLE / "reference-differences.yaml").read_text(encoding="utf-8"))["differences"]


def text(values: pd.Series) -> pd.Series:
    return values.fillna("").astype("str").str.strip()


def is_empty(values: pd.Series) -> pd.Series:
    if values.dtype.kind == "f":
        return values.isna()
    return text(values) == ""


def equal(a: pd.Series, b: pd.Series) -> pd.Series:
    if a.dtype.kind in "fi" or b.dtype.kind in "fi":
        x, y = pd.to_numeric(a, errors="coerce"), pd.to_numeric(b, errors="coerce")
        return (x == y) | (x.isna() & y.isna())
    return text(a) == text(b)


def supplemental(parent: pd.DataFrame, supp: pd.DataFrame | None, name: str) -> pd.DataFrame:
    """The parent with one column per QNAM of its SUPP-- dataset (matched by USUBJID and IDVARVAL =
    --SEQ; DM by USUBJID), so that supplemental qualifiers are compared like any variable."""
    if supp is None or supp.empty:
        return parent
    out = parent.copy()
    seq = f"{name}SEQ"
    for qnam, rows in supp.groupby("QNAM"):
        if name == "DM":
            values = rows.set_index("USUBJID")["QVAL"]
            out[qnam] = out["USUBJID"].map(values).fillna("")
        else:
            key = rows["USUBJID"] + "|" + rows["IDVARVAL"].astype(str).str.replace(r"\.0$", "", regex=True)
            values = pd.Series(rows["QVAL"].to_numpy(), index=key.to_numpy())
            ours_key = out["USUBJID"] + "|" + out[seq].astype(float).astype(int).astype(str)
            out[qnam] = ours_key.map(values).fillna("")
    return out


def reference_supp(name: str) -> pd.DataFrame | None:
    path = REFDATA_SDTM / f"supp{name.lower()}.rda"
    return next(iter(pyreadr.read_r(str(path)).values())) if path.exists() else None


def aligned(mapped, name: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(reference, ours) record by record, and the reference records that have no record of ours."""
    ref = supplemental(reference(name), reference_supp(name), name)
    ours = supplemental(mapped.datasets[name], mapped.datasets.get(f"SUPP{name}"), name)
    if name in BY_ROW:
        rows = mapped.trace[name]["RAWROW"].astype(int).to_numpy()
        ours = ours.assign(_ROW=rows).sort_values("_ROW").drop(columns="_ROW").reset_index(drop=True)
        assert len(ours) == len(ref), f"{name}: {len(ours)} records, the reference has {len(ref)}"
        return ref.reset_index(drop=True), ours, ref.iloc[0:0]
    assert not ref.duplicated(VS_KEYS).any() and not ours.duplicated(VS_KEYS).any()
    both = ref.merge(ours, on=VS_KEYS, how="outer", suffixes=("", "__ours"), indicator=True)
    extra = both.loc[both["_merge"] == "right_only"]
    listed = pd.Series(False, index=extra.index)
    for e in differences():
        if e["dataset"] == name and e["kind"] == "extra":
            hit = pd.Series(True, index=extra.index)
            for k, v in e["where"].items():
                hit &= text(extra[k] if k in VS_KEYS else extra[f"{k}__ours"]) == v
            assert hit.any(), f"an `extra` entry of reference-differences.yaml explains nothing: {e}"
            listed |= hit
    unlisted = extra.loc[~listed, VS_KEYS]
    assert unlisted.empty, f"VS: {len(unlisted)} records of ours are not in the reference: {unlisted.head()}"
    missing = both.loc[both["_merge"] == "left_only", ref.columns]
    matched = both.loc[both["_merge"] == "both"].reset_index(drop=True)
    ref_part = matched[list(ref.columns)]
    ours_part = matched[VS_KEYS].copy()
    for c in ours.columns:
        if c not in VS_KEYS:
            ours_part[c] = matched[f"{c}__ours"] if f"{c}__ours" in matched else matched[c]
    return ref_part, ours_part, missing


def explained(
    entry: dict, var: str, ref: pd.DataFrame, ours: pd.DataFrame, missing: pd.DataFrame
) -> pd.Series:
    """Which records' disagreement on `var` the entry describes (see the kinds in the YAML file)."""
    a, b = ref[var], ours[var]
    kind = entry["kind"]
    if kind == "values":
        hit = pd.Series(False, index=ref.index)
        for want_ref, want_ours in entry["pairs"]:
            if "reference_pattern" in entry:
                left = text(a).str.fullmatch(entry["reference_pattern"])
            elif want_ref == "*":
                left = pd.Series(True, index=ref.index)
            elif want_ref is None:
                left = is_empty(a)
            else:
                left = text(a) == str(want_ref)
            if want_ours == "*":
                right = pd.Series(True, index=ref.index)
            elif want_ours is None:
                right = is_empty(b)
            else:
                right = text(b) == str(want_ours)
            hit |= left & right
        return hit
    if kind == "not_produced":
        return pd.Series(False, index=ref.index)  # never compared: no column of ours
    if kind == "subjects":
        return ref["USUBJID"].isin(entry["usubjid"])
    if kind == "not_later":
        return text(b).str[:10] <= text(a).str[:10]
    if kind == "ties":
        keys = ["USUBJID", *entry["tie_on"]]
        return ref[keys].fillna("").duplicated(keep=False)
    if kind == "seq_shift":
        seq = ref[var].astype(float)
        lost = missing.groupby("USUBJID")[var].apply(lambda s: np.sort(s.astype(float).to_numpy()))
        before = [
            int(np.searchsorted(lost[u], q)) if u in lost.index else 0
            for u, q in zip(ref["USUBJID"], seq, strict=True)
        ]
        return (b.astype(float) == seq - np.array(before)) & (np.array(before) > 0)
    raise AssertionError(f"unknown kind {kind!r} in reference-differences.yaml")


def compare(mapped, name: str) -> tuple[list[tuple], set[int]]:
    ref, ours, missing = aligned(mapped, name)
    entries = [
        (i, e)
        for i, e in enumerate(differences())
        if e["dataset"] == name and e["kind"] not in ("not_produced", "extra")  # extra: checked in aligned
    ]
    used: set[int] = set()
    for i, e in entries:
        if e["kind"] == "missing":
            where = pd.Series(True, index=missing.index)
            for k, v in e["where"].items():
                where &= text(missing[k]) == v
            assert where.all(), (
                f"{name}: reference records missing from ours that no entry explains:\n{missing[~where]}"
            )
            if len(missing):
                used.add(i)
    if not any(e["kind"] == "missing" for _, e in entries):
        assert missing.empty, f"{name}: {len(missing)} reference records missing from ours"
    rows = []
    shared = [c for c in ref.columns if c in ours.columns and c not in ("STUDYID", "DOMAIN")]
    for var in shared:
        same = equal(ref[var], ours[var])
        ok = same.copy()
        for i, e in entries:
            if var in e.get("variables", []):
                hit = ~same & explained(e, var, ref, ours, missing)
                if hit.any():
                    used.add(i)
                ok |= hit
        rows.append(
            (
                name,
                var,
                len(ref),
                float(same.mean()),
                int((ok & ~same).sum()),
                int((~ok).sum()),
                ref,
                ours,
                ok,
            )
        )
    return rows, {i for i, _ in entries} - used


def test_pilot_raw_exports_map_without_errors(mapped):
    errors = [f for f in mapped.findings if f.severity >= Severity.ERROR]
    assert not errors, "\n".join(map(str, errors[:20]))
    assert {"DM", "DS", "EX", "AE", "VS", "SE", "SV", "TS", "TA", "TE", "TV", "TI"} <= set(mapped.datasets)


def test_pilot_sdtm_agrees_with_the_reference_record_by_record(mapped, capsys):
    table, stale, failures = [], set(), []
    for name in ("DM", "DS", "EX", "AE", "VS"):
        rows, unused = compare(mapped, name)
        table += rows
        stale |= unused
        for _, var, n, exact, _explained, unexplained, ref, ours, ok in rows:
            if (n - unexplained) / n < THRESHOLD or (exact < THRESHOLD and unexplained):
                bad = ~ok
                sample = list(
                    zip(
                        ref.loc[bad, "USUBJID"].head(3),
                        ref.loc[bad, var].head(3),
                        ours.loc[bad, var].head(3),
                        strict=False,
                    )
                )
                failures.append(f"{name}.{var}: {unexplained} of {n} unexplained, e.g. {sample}")
    with capsys.disabled():
        print("\n  dataset variable   records  exact %   explained  unexplained")
        for name, var, n, exact, expl, unexplained, *_ in table:
            print(f"  {name:7} {var:10} {n:7}  {100 * exact:7.2f}  {expl:9}  {unexplained:11}")
    assert not failures, "\n".join(failures)
    entries = differences()
    assert not stale, (
        f"entries of reference-differences.yaml that explain nothing: {[entries[i] for i in sorted(stale)]}"
    )
    # the comparison is real: the key variables of the issue are all part of it
    compared = {(r[0], r[1]) for r in table}
    for name, names in {
        "DM": "SUBJID SITEID SEX RACE ETHNIC AGE AGEU ARMCD ARM ACTARMCD ACTARM RFSTDTC RFENDTC RFXSTDTC RFXENDTC DTHDTC DTHFL DMDTC DMDY COUNTRY",
        "EX": "EXTRT EXDOSE EXDOSU EXDOSFRM EXDOSFRQ EXROUTE EXSTDTC EXENDTC EXSTDY EXENDY VISITNUM",
        "AE": "AETERM AEDECOD AEBODSYS AESEV AESER AEREL AEOUT AESTDTC AEENDTC AESTDY AEENDY AESEQ",
        "VS": "VSTESTCD VSORRES VSORRESU VSSTRESC VSSTRESN VSSTRESU VSBLFL VSDY VISITNUM VISITDY VSTPT",
        "DS": "DSTERM DSDECOD DSCAT DSSTDTC DSSTDY DSSEQ",
    }.items():
        for var in names.split():
            assert (name, var) in compared or var in VS_KEYS, (name, var)


def test_every_supplemental_qualifier_of_the_reference_is_produced_or_listed_as_not_derivable(mapped):
    listed = {(e["dataset"], v) for e in differences() if e["kind"] == "not_produced" for v in e["variables"]}
    for name in ("DM", "DS", "AE"):
        ref_supp = reference_supp(name)
        ours = mapped.datasets.get(f"SUPP{name}")
        produced = set(ours["QNAM"]) if ours is not None else set()
        for qnam in sorted(set(ref_supp["QNAM"])):
            assert (qnam in produced) != ((name, qnam) in listed), (
                f"SUPP{name}.{qnam}: produce it or list it (kind not_produced), not both"
            )


def test_every_listed_subject_is_named_in_the_example_readme():
    readme = (EXAMPLE / "README.md").read_text(encoding="utf-8")
    for entry in differences():
        for usubjid in entry.get("usubjid", []):
            assert usubjid in readme, usubjid
        for var in entry.get("variables", []):
            assert re.search(rf"\b{var}\b", readme), var
