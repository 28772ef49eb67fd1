"""The CDISC pilot's time to first dermatologic event (ADTTE TTDE), derived by the generic time-to-event
engine from the pilot's ADAE (examples/cdiscpilot01/specs/adam/params/adtte.yaml), agrees record by record
with the CDISC pilot's own ADTTE (../shared/refdata/cdiscpilot01/adam/adtte.xpt, read with pyreadstat, an
independent reader). Records are matched on USUBJID and PARAMCD; each compared variable
agrees exactly in at least 99% of them, or every disagreement is explained by an ADTTE entry of
examples/cdiscpilot01/reference-differences-adam.yaml (entries that explain nothing fail).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from adam import derive_adam
from cdiscgen import load_study
from tests.conftest import refdata_path
from tests.test_example_cdiscpilot01_adam import EXAMPLE, THRESHOLD, comparable, differences, equal, explained

pytestmark = pytest.mark.slow

COMPARED = ["STARTDT", "ADT", "AVAL", "CNSR", "EVNTDESC", "SRCDOM", "SRCVAR", "SRCSEQ", "TRTA"]


def reference() -> pd.DataFrame:
    frame, _meta = pyreadstat.read_xport(str(refdata_path("cdiscpilot01", "adam", "adtte.xpt")))
    return frame.apply(comparable)  # dates as SAS day numbers, text stripped


def ours(derived) -> pd.DataFrame:
    return derived.datasets["ADTTE"].apply(comparable)


@pytest.fixture(scope="module")
def derived(pilot_mapped):
    study = load_study(EXAMPLE)
    return derive_adam(pilot_mapped().datasets, study.settings, study_dir=study.root)


@pytest.fixture(scope="module")
def pairs(derived):
    ref = reference()
    mine = ours(derived)
    merged = mine.merge(
        ref, on=["USUBJID", "PARAMCD"], how="outer", suffixes=("_ours", "_ref"), indicator=True
    )
    assert (merged["_merge"] == "both").all(), merged.loc[
        merged["_merge"] != "both", ["USUBJID", "PARAMCD", "_merge"]
    ]
    return merged.reset_index(drop=True)


def test_the_pilot_adtte_has_the_references_records(pairs):
    assert len(pairs) == 254 and set(pairs["PARAMCD"]) == {"TTDE"}
    # 152 events and 102 censored in the reference (the count), read independently
    assert int((pairs["CNSR_ref"] == 0).sum()) == 152 and int((pairs["CNSR_ref"] == 1).sum()) == 102


def test_the_pilot_adtte_agrees_with_the_cdisc_pilot_record_by_record(pairs, capsys):
    entries = [(i, e) for i, e in enumerate(differences()) if e["dataset"] == "ADTTE"]
    used: set[int] = set()
    failures, table = [], []
    for var in COMPARED:
        ok = equal(pairs[f"{var}_ours"], pairs[f"{var}_ref"])
        expl = explained(entries, var, pairs, ~ok, used)
        unexplained = int((~ok & ~expl).sum())
        exact = float(ok.mean())
        table.append((var, exact, int((expl & ~ok).sum()), unexplained))
        if exact < THRESHOLD and unexplained:
            bad = ~ok & ~expl
            failures.append(
                f"ADTTE.{var}: {unexplained} unexplained, e.g. "
                f"{pairs.loc[bad, ['USUBJID', f'{var}_ref', f'{var}_ours']].head(5).values.tolist()}"
            )
    with capsys.disabled():
        print("\n  ADTTE variable  exact %  explained  unexplained")
        for var, exact, expl, unexplained in table:
            print(f"  {var:14} {100 * exact:7.2f}  {expl:9}  {unexplained:11}")
    assert not failures, "\n".join(failures)
    stale = [e for i, e in entries if i not in used]
    assert not stale, f"ADTTE entries of reference-differences-adam.yaml that explain nothing: {stale}"
    assert np.isfinite(pairs["AVAL_ours"]).all()
