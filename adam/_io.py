"""read_sdtm_folder: the SDTM *.xpt files of a folder as DataFrames (character "" = missing)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ._errors import AdamInputError

log = logging.getLogger(__name__)
UNREADABLE = "CDG0002"  # the validator's finding for a file that cannot be read


def read_sdtm_folder(folder: Path) -> dict[str, pd.DataFrame]:
    """Read every *.xpt of ``folder`` (SUPP-- included), keyed by upper-case dataset name.

    Uses the project's one transport reader (cdiscgen.validate.read_folder: a file that is not ASCII is
    read as cp1252 and said so). Character columns are str with "" for missing. Raises AdamInputError
    naming the file when one cannot be read, and when DM is absent (what else a
    declared ADaM dataset needs is checked by derive_adam).
    """
    from cdiscgen.validate import read_folder

    folder = Path(folder)
    frames, _metas, _files, notes = read_folder(folder)
    for note in notes:
        if note.code == UNREADABLE:
            raise AdamInputError(note.message, dataset=note.dataset)
        log.warning("%s", note.message)  # e.g. not ASCII, read as cp1252
    for name, frame in frames.items():
        for col in frame.columns:
            if frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col]):
                frame[col] = frame[col].astype("string").fillna("").astype("str")
        log.debug("read %s: %d rows", name, len(frame))
    if "DM" not in frames:
        raise AdamInputError(f"no dm.xpt in {folder} (ADSL is derived from it)", dataset="DM")
    return frames
