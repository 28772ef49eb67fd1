"""CDG0701 flags a complete date without EPOCH, not a partial date that may span epochs."""

from __future__ import annotations

import pandas as pd

from cdiscgen.validate import validate_datasets


def test_partial_dates_may_leave_epoch_null():
    ds = pd.DataFrame(
        {
            "STUDYID": ["S1"] * 3,
            "DOMAIN": ["DS"] * 3,
            "USUBJID": ["S1-001"] * 3,
            "DSSEQ": [1.0, 2.0, 3.0],
            "DSTERM": ["DEATH", "COMPLETED", "INFORMED CONSENT OBTAINED"],
            "DSDECOD": ["DEATH", "COMPLETED", "INFORMED CONSENT OBTAINED"],
            "EPOCH": ["", "", "SCREENING"],
            "DSSTDTC": ["2024", "2024-09-12", "2024-01-02"],
        }
    )
    found = [f for f in validate_datasets({"DS": ds}, codes=["CDG0701"]).findings if f.code == "CDG0701"]
    # only the complete date 2024-09-12 without EPOCH; "2024" may span epochs; the third has EPOCH
    assert [(f.seq, f.value) for f in found] == [(2, "2024-09-12")]
