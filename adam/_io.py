"""read_sdtm_folder: the SDTM *.xpt files of a folder as DataFrames (character "" = missing)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pyreadstat

from ._errors import AdamInputError

log = logging.getLogger(__name__)


def read_sdtm_folder(folder: Path) -> dict[str, pd.DataFrame]:
    """Read every *.xpt of ``folder`` (SUPP-- included), keyed by upper-case dataset name.

    Uses pyreadstat.read_xport with datetime conversion disabled (never pandas.read_sas, which misreads
    0.0). Character columns become str with "" for missing. Raises AdamInputError when DM or LB is absent.
    """
    folder = Path(folder)
    out: dict[str, pd.DataFrame] = {}
    for path in sorted(folder.glob("*.xpt")):
        frame, _meta = pyreadstat.read_xport(str(path), disable_datetime_conversion=True)
        for col in frame.columns:
            if frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col]):
                frame[col] = frame[col].astype("string").fillna("").astype("str")
        out[path.stem.upper()] = frame
        log.debug("read %s: %d rows", path.name, len(frame))
    for name in ("DM", "LB"):
        if name not in out:
            raise AdamInputError(f"no {name.lower()}.xpt in {folder}", dataset=name)
    return out
