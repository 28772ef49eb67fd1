"""What every mapping algorithm receives besides the raw frame and its rule, and the finding helper."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cdiscgen._findings import Finding, Severity
from cdiscgen._specs import Codelist, VariableSpec

# Internal bookkeeping columns carried beside the raw columns through every step.
ROW = "_ROW"  # 1-based data row of the raw file (header = line 1, so the file line is ROW + 1)
FILE = "_FILE"  # raw file name
RECID = "_RECID"  # raw record id (the EDC row key)
USUBJID = (
    "_USUBJID"  # from the study's USUBJID pattern (e.g. STUDYID-SUBJECT), computed when the form is read
)
VISITCODE = "_VISITCODE"  # raw EDC visit code, turned into VISIT/VISITNUM by derive_visit
INTERNAL = (ROW, FILE, RECID, USUBJID, VISITCODE)


@dataclass(frozen=True)
class RuleContext:
    """Where a rule applies: target dataset and variable, its metadata, the codelists, the raw file."""

    dataset: str
    variable: str
    codelists: dict[str, Codelist]
    file: str = ""
    var_spec: VariableSpec | None = None
    extra: dict[str, object] = field(default_factory=dict)
    targets: pd.DataFrame | None = None  # target variables computed so far in the source (conditions on them)


def row_findings(
    raw: pd.DataFrame,
    mask: pd.Series | np.ndarray,
    *,
    code: str,
    severity: Severity,
    message: str,
    ctx: RuleContext,
    values: pd.Series | None = None,
    expected: str | pd.Series | None = None,
) -> list[Finding]:
    """One finding per flagged raw row (only the flagged rows are visited), naming file, line and value.
    `expected` is one text for every row or a Series (row by row, e.g. the derived value a collected one
    was compared with); `message` may use {value} and {expected}."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return []
    sub = raw.loc[mask]
    rows = sub[ROW].to_numpy() if ROW in sub else np.zeros(len(sub), dtype=int)
    subjects = sub[USUBJID].to_numpy() if USUBJID in sub else [None] * len(sub)
    files = sub[FILE].to_numpy() if FILE in sub else [ctx.file] * len(sub)
    vals = values.loc[mask].to_numpy() if values is not None else [None] * len(sub)
    wanted = expected.loc[mask].to_numpy() if isinstance(expected, pd.Series) else [expected] * len(sub)
    return [
        Finding(
            code=code,
            severity=severity,
            message=message.format(value=v, expected=e),
            dataset=ctx.dataset,
            variable=ctx.variable,
            usubjid=s or None,
            value=None if v is None else str(v),
            expected=None if e is None else str(e),
            file=str(f) if f else None,
            line=int(r) + 1 if r else None,
        )
        for r, s, f, v, e in zip(rows, subjects, files, vals, wanted, strict=True)
    ]
