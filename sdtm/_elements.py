"""Subject elements (SE) and EPOCH, for any arm of any number of elements.

Each subject follows the elements of their own arm (design.arms in study.yaml): the actual arm
(ACTARMCD), else the planned arm (ARMCD); a subject without an arm (screen failure, not assigned) follows
the elements all arms begin with (screening). The first element starts at its `start` sources (default
the informed consent date, RFICDTC) and is open towards earlier dates (`design.pre_study_epoch: first`, the
default, as the CDISC pilot's references do), or closed (`pre_study_epoch: none`: a record dated before the
first element's start, such as medical history or a prior therapy, has no EPOCH; SDTMIG treats EPOCH as a
study-period construct); every later element starts at the
first date its `start` sources give after the start of the last element entered (a later day) (sdtm._reference
date sources). An element is entered only when such a date exists and is no later than the end of
participation (RFPENDTC); an element that is not entered is skipped (a subject on the high-dose arm who
stops before the dose increase goes from the first treatment element to follow-up). A subject never
exposed (no RFXSTDTC) stays in the first element. An element ends when the next one starts, the last one
at RFPENDTC.

The day an element starts is shared with the element before. It belongs to the new element when the new
element starts with a dose (its source is the first exposure, RFXSTDTC, or an exposure record): dosing
starts that day. Otherwise (follow-up from the end of treatment, say) the day still belongs to the
element before, and an element that would start on the last day of participation is not entered. When
both dates have a time, the times decide.

EPOCH of a record is the epoch of the element the subject was in at its date; null after RFPENDTC, for
a missing date, and for a partial date whose first and last possible day fall in different epochs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from cdiscgen._specs import DatasetSpec, Study
from sdtm._derive import compute_date_part
from sdtm._reference import compute_source_dates, source_is_dosing

log = logging.getLogger(__name__)

DEFAULT_FIRST_START: list[dict[str, Any]] = [{"date": "RFICDTC"}]
ELEMENT_COLUMNS = ("USUBJID", "ETCD", "ELEMENT", "TAETORD", "EPOCH", "SESTDTC", "SEENDTC", "_DOSING", "_OPEN")


def subject_arm_path(study: Study) -> tuple[dict[str, list[str]], list[str]]:
    """Each arm's element codes in order, and the elements every arm begins with (a subject without an arm)."""
    arms = {str(a["armcd"]): [str(e) for e in a["elements"]] for a in study.settings["design"]["arms"]}
    paths = list(arms.values())
    common: list[str] = []
    for position, etcd in enumerate(paths[0] if paths else []):
        if all(len(p) > position and p[position] == etcd for p in paths):
            common.append(etcd)
        else:
            break
    return arms, common


def compute_subject_elements(
    dm: pd.DataFrame, refs: pd.DataFrame, frames: Mapping[str, pd.DataFrame], study: Study
) -> pd.DataFrame:
    """The elements each subject went through (ELEMENT_COLUMNS; `_DOSING`: the element starts with a dose,
    `_OPEN`: the first element when it is open towards earlier dates, design.pre_study_epoch). A first
    element without a known start has no SESTDTC; it still counts for EPOCH."""
    elements = {str(e["etcd"]): e for e in study.settings["design"]["elements"]}
    arms, common = subject_arm_path(study)
    subjects = dm.drop_duplicates("USUBJID").set_index("USUBJID")
    actual = subjects.get("ACTARMCD", pd.Series("", index=subjects.index)).fillna("").astype("str")
    planned = subjects.get("ARMCD", pd.Series("", index=subjects.index)).fillna("").astype("str")
    arm = actual.where(actual != "", planned)
    known = refs.reindex(subjects.index).copy()
    for column in subjects.columns:
        if column not in known.columns and not str(column).startswith("_"):
            known[column] = subjects[column]
    rfpend = known["RFPENDTC"].fillna("").astype("str")
    parts = []
    groups = {code: arm.index[arm == code] for code in arm.unique()}
    for code, members in groups.items():
        path = arms.get(code, common)
        parts.append(_walk(path, pd.Index(members), known, rfpend.reindex(members), frames, elements, study))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="str") for c in ELEMENT_COLUMNS})
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["USUBJID", "TAETORD"], kind="stable").reset_index(drop=True)


def _walk(
    path: list[str],
    members: pd.Index,
    known: pd.DataFrame,
    rfpend: pd.Series,
    frames: Mapping[str, pd.DataFrame],
    elements: Mapping[str, Mapping[str, Any]],
    study: Study,
) -> pd.DataFrame:
    """The elements of one arm's path for its subjects, vectorised over the subjects."""
    rows = []
    exposed = known["RFXSTDTC"].reindex(members).fillna("").astype("str") != ""
    previous = pd.Series("", index=members, dtype="str")
    rf_day = compute_date_part(rfpend)
    open_before = study.settings["design"].get("pre_study_epoch", "first") == "first"
    for order, etcd in enumerate(path, start=1):
        element = elements[etcd]
        sources = element.get("start") or (DEFAULT_FIRST_START if order == 1 else [])
        dosing = any(source_is_dosing(s, study.settings) for s in sources)
        start = (
            compute_source_dates(sources, members, known, frames, after=previous if order > 1 else None)
            if sources
            else pd.Series("", index=members, dtype="str")
        )
        if order == 1:
            entered = pd.Series(True, index=members)
        else:
            day = compute_date_part(start)
            in_time = (rf_day == "") | ((day <= rf_day) if dosing else (day < rf_day))
            entered = exposed & (start != "") & in_time
        rows.append(
            pd.DataFrame(
                {
                    "USUBJID": members[entered.to_numpy()],
                    "ETCD": etcd,
                    "ELEMENT": str(element["element"]),
                    "TAETORD": float(order),
                    "EPOCH": str(element["epoch"]),
                    "SESTDTC": start[entered].to_numpy(),
                    "_DOSING": dosing,
                    "_OPEN": order == 1 and open_before,
                }
            )
        )
        previous = start.where(entered, previous)
    out = pd.concat(rows, ignore_index=True)
    out["SESTDTC"] = out["SESTDTC"].astype("str")
    nxt = out.groupby("USUBJID")["SESTDTC"].shift(-1)
    out["SEENDTC"] = nxt.where(nxt.notna(), out["USUBJID"].map(rfpend)).fillna("").astype("str")
    return out[list(ELEMENT_COLUMNS)]


def derive_se(elements: pd.DataFrame) -> pd.DataFrame:
    """SE records: the subject elements with a known start (SESTDTC is required)."""
    out = elements.loc[
        elements["SESTDTC"] != "", ["USUBJID", "ETCD", "ELEMENT", "TAETORD", "EPOCH", "SESTDTC", "SEENDTC"]
    ]
    out = out.reset_index(drop=True)
    for c in ("USUBJID", "ETCD", "ELEMENT", "EPOCH", "SESTDTC", "SEENDTC"):
        out[c] = out[c].astype("str")
    return out


# ------------------------------------------------------------------------------------------------ EPOCH


def compute_epoch(
    dtc: pd.Series, usubjid: pd.Series, elements: pd.DataFrame, rfpendtc: pd.Series
) -> pd.Series:
    """EPOCH of each date (see the module doc). `elements` from compute_subject_elements; `rfpendtc` the
    end of participation by USUBJID."""
    dtc = dtc.fillna("").astype("str")
    # the epoch depends on the subject and the date only: work on the distinct pairs, then spread back
    s_codes, s_uniques = pd.factorize(usubjid.astype("str"), use_na_sentinel=False)
    d_codes, d_uniques = pd.factorize(dtc, use_na_sentinel=False)
    width = max(len(d_uniques), 1)
    inverse, pairs = pd.factorize(s_codes.astype(np.int64) * width + d_codes)  # a hash: no sort
    subject_of_pair, date_of_pair = pairs // width, pairs % width
    low, high = (span.to_numpy(dtype=str) for span in _date_span(pd.Series(d_uniques, dtype="str")))
    subjects = pd.Index(s_uniques)
    end = pd.Series(s_uniques, dtype="str").map(rfpendtc).fillna("").astype("str").to_numpy(dtype=str)
    names, (epoch_low, epoch_high) = _epochs_of_pairs(
        (low, high), date_of_pair, subject_of_pair, subjects, _element_levels(elements), end
    )
    # a partial date whose first and last possible moments fall in different epochs has none (code 0: "")
    codes = np.where(epoch_low == epoch_high, epoch_low, 0)
    # spread to the records by an Arrow take: a numpy text array per record converts value by value
    spread = pa.array(names, type=pa.large_string()).take(codes[inverse])
    return pd.Series(pd.array(spread, dtype="str"), index=dtc.index, copy=False)


def _epochs_of_pairs(
    spans: tuple[np.ndarray, ...],
    date_of_pair: np.ndarray,
    subject_of_pair: np.ndarray,
    subjects: pd.Index,
    levels: list[_Level],
    end: np.ndarray,
) -> tuple[list[str], list[np.ndarray]]:
    """The epoch of each (subject, date) pair for each of `spans` (distinct date texts, indexed by
    `date_of_pair`): the last element of the subject whose start the date has reached; "" without
    elements, without a date or after the subject's `end` (RFPENDTC). Returns the epoch names (the first
    is "") and, per span, each pair's codes into them.

    ISO 8601 sorts as text, so each text is replaced by its rank among all texts compared (day: first 10
    characters; moment: first 16): the per-pair work is integer comparisons, the text work per distinct
    date and per distinct subject."""
    days, moments = _Ranks(10), _Ranks(16)
    for texts in (*spans, end, *(level.start for level in levels)):
        days.add(texts)
        moments.add(texts)
    names = ["", *sorted({str(e) for level in levels for e in level.epoch} - {""})]
    end_day = days.of(end)[subject_of_pair]
    end_known = (end != "")[subject_of_pair]
    per_level = [_level_of_subjects(level, subjects, days, moments, pd.Index(names)) for level in levels]
    out: list[np.ndarray] = []
    for span in spans:
        day, moment = days.of(span)[date_of_pair], moments.of(span)[date_of_pair]
        long_date = (np.char.str_len(span) >= 16)[date_of_pair]
        result = np.zeros(len(date_of_pair), dtype=np.int64)
        has_elements = np.zeros(len(date_of_pair), dtype=bool)
        for index, by_subject in enumerate(per_level):
            if by_subject is None:
                continue
            present = by_subject["present"][subject_of_pair]
            start_day = by_subject["day"][subject_of_pair]
            known = by_subject["known"][subject_of_pair]
            both_times = long_date & by_subject["long"][subject_of_pair]
            same_day = day == start_day
            later_day = (day > start_day) & known
            by_time = moment >= by_subject["moment"][subject_of_pair]
            dosing = by_subject["dosing"][subject_of_pair]
            # the first element's own start day is its own (no element before it shares the day); a first
            # element whose start is unknown cannot tell pre-study dates apart, so it stays open
            first = index == 0
            reached = later_day | (same_day & known & np.where(both_times, by_time, dosing | first))
            reached = present & (reached | by_subject["open"][subject_of_pair] | (first & ~known))
            result = np.where(reached, by_subject["epoch"][subject_of_pair], result)
            has_elements |= present
        beyond = end_known & (day > end_day)
        blank = (span == "")[date_of_pair] | beyond | ~has_elements
        out.append(np.where(blank, 0, result))
    return names, out


def _level_of_subjects(
    level: _Level, subjects: pd.Index, days: _Ranks, moments: _Ranks, epoch_codes: pd.Index
) -> dict[str, np.ndarray] | None:
    """One element order's facts for each of `subjects` (None when no subject has that element); its
    epochs as positions in `epoch_codes`."""
    row = level.subjects.get_indexer(subjects)
    present = row >= 0
    if not present.any():
        return None
    take = np.where(present, row, 0)
    start = np.where(present, level.start[take], "")
    return {
        "present": present,
        "day": days.of(start),
        "moment": moments.of(start),
        "known": start != "",
        "long": np.char.str_len(start) >= 16,
        "epoch": epoch_codes.get_indexer(level.epoch.astype(str))[take],
        "dosing": level.dosing[take] & present,
        "open": level.open[take] & present,
    }


class _Ranks:
    """Each text's rank among every text added, cut to `width` characters: comparing ranks is comparing
    the cut texts (numpy orders text by code point, as its comparisons do)."""

    def __init__(self, width: int) -> None:
        self.width = width
        self._parts: list[np.ndarray] = []
        self._sorted: np.ndarray | None = None

    def add(self, texts: np.ndarray) -> None:
        self._parts.append(np.asarray(texts, dtype=str).astype(f"U{self.width}"))
        self._sorted = None

    def of(self, texts: np.ndarray) -> np.ndarray:
        if self._sorted is None:
            self._sorted = np.unique(np.concatenate(self._parts)) if self._parts else np.array([], dtype=str)
        cut = np.asarray(texts, dtype=str).astype(f"U{self.width}")
        return np.searchsorted(self._sorted, cut)


@dataclass(frozen=True)
class _Level:
    """One element order (TAETORD) of every subject, as arrays by the subject's row in `subjects`."""

    subjects: pd.Index
    start: np.ndarray
    epoch: np.ndarray
    dosing: np.ndarray
    open: np.ndarray


def _element_levels(elements: pd.DataFrame) -> list[_Level]:
    """The subject elements by element order, computed once per elements frame (every dataset's EPOCH
    reads the same elements; the frame is kept with its levels, so its id is never reused meanwhile)."""
    cached = _LEVELS.get(id(elements))
    if cached is not None and cached[0] is elements:
        return cached[1]
    levels = []
    for order in sorted(elements["TAETORD"].unique()) if len(elements) else []:
        level = elements.loc[elements["TAETORD"] == order].drop_duplicates("USUBJID").set_index("USUBJID")
        levels.append(
            _Level(
                subjects=level.index,
                start=level["SESTDTC"].fillna("").astype("str").to_numpy(dtype=str),
                epoch=level["EPOCH"].fillna("").astype("str").to_numpy(dtype=object),
                dosing=level["_DOSING"].fillna(False).astype(bool).to_numpy(),
                open=level["_OPEN"].fillna(False).astype(bool).to_numpy(),
            )
        )
    _LEVELS.clear()  # one run's elements at a time
    _LEVELS[id(elements)] = (elements, levels)
    return levels


_LEVELS: dict[int, tuple[pd.DataFrame, list[_Level]]] = {}


def _date_span(dtc: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(first, last) moment a --DTC value can stand for: a complete date (with its time) is both; YYYY is
    YYYY-01-01 .. YYYY-12-31; YYYY-MM its first .. last day of the month; anything else ""."""
    complete = dtc.str.match(r"^\d{4}-\d{2}-\d{2}")
    year = dtc.str.fullmatch(r"\d{4}")
    month = dtc.str.fullmatch(r"\d{4}-\d{2}")
    month_start = pd.to_datetime(dtc.where(month, "") + "-01", format="%Y-%m-%d", errors="coerce")
    month_end = (month_start + pd.offsets.MonthEnd(0)).dt.strftime("%Y-%m-%d").fillna("")
    month_start = month_start.dt.strftime("%Y-%m-%d").fillna("")
    low = np.where(complete, dtc, np.where(year, dtc + "-01-01", np.where(month, month_start, "")))
    high = np.where(complete, dtc, np.where(year, dtc + "-12-31", np.where(month, month_end, "")))
    return pd.Series(low, index=dtc.index, dtype="str"), pd.Series(high, index=dtc.index, dtype="str")


def derive_epoch(
    df: pd.DataFrame, spec: DatasetSpec, elements: pd.DataFrame, refs: pd.DataFrame
) -> pd.DataFrame:
    """EPOCH from --STDTC (Events, Interventions, SV), else --DTC (Findings; and records whose --STDTC is
    empty), by `compute_epoch`."""
    out = df.copy(deep=False)  # copy-on-write: the columns set below are out's own
    p = spec.domain or spec.name
    columns = [c for c in (f"{p}STDTC", f"{p}DTC") if c in out.columns]
    if not columns or "EPOCH" not in spec.variable_names:
        return out
    dates = out[columns[0]].fillna("").astype("str")
    for c in columns[1:]:
        dates = dates.where(dates != "", out[c].fillna("").astype("str"))
    out["EPOCH"] = compute_epoch(dates, out["USUBJID"], elements, refs["RFPENDTC"])
    return out
