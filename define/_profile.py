"""What define.xml needs to know of a dataset's values, read from a frame (or one part of a dataset) and
merged over the parts: the define.xml of a study run in subject partitions is that of the whole study
(docs/partitioned-runs.md).

A profile keeps, per variable, whether it has values, its longest value (UTF-8 bytes), most decimals (of a
float variable: where define.xml gives significant digits) and its distinct values only where a codelist
can apply (they become the codelist's terms); per
value-level variable, the same for every combination of the by-variables, with the records of each
decode (the label of the combination) and the units recorded. Its size follows the distinct values, not
the records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdiscgen import DatasetSpec, Study
from cdiscgen._arrowtext import compute_arrow_text
from cdiscgen._distinct import compute_combinations
from define._common import decimals, to_text

Combo = tuple[str | None, ...]


@dataclass
class ValueSummary:
    """A set of values as define.xml uses it; `terms` is None where no codelist can apply (not kept),
    `decimals` None where none parse as a number or they were not asked for."""

    present: bool = False
    longest: int = 0
    decimals: int | None = None
    terms: set[str] | None = None

    @classmethod
    def of(cls, texts: Iterable[str], *, keep_terms: bool, with_decimals: bool = True) -> ValueSummary:
        distinct = set(texts)
        return cls(
            present=bool(distinct),
            longest=max((len(t.encode("utf-8")) for t in distinct), default=0),
            decimals=decimals(sorted(distinct)) if with_decimals else None,
            terms=distinct if keep_terms else None,
        )

    @classmethod
    def of_column(cls, values: pd.Series, *, keep_terms: bool, with_decimals: bool) -> ValueSummary:
        """`of` the column's distinct texts. A text column whose terms and decimals are not asked for is
        summarised by Arrow (whether a value is present, the longest in bytes), without a Python string per
        distinct value (dates, identifiers and free text have hundreds of thousands)."""
        if keep_terms or with_decimals or not isinstance(values.dtype, pd.StringDtype):
            return cls.of(compute_distinct_texts(values), keep_terms=keep_terms, with_decimals=with_decimals)
        distinct = pc.unique(compute_arrow_text(values)).drop_null()
        filled = distinct.filter(_is_filled(distinct))
        return cls(present=len(filled) > 0, longest=pc.max(pc.binary_length(filled)).as_py() or 0)

    @property
    def length(self) -> int:
        """The longest value in bytes, at least 1 (an all-missing column still needs a width)."""
        return max(self.longest, 1)

    def merge(self, other: ValueSummary) -> ValueSummary:
        places = [d for d in (self.decimals, other.decimals) if d is not None]
        terms = None if self.terms is None or other.terms is None else self.terms | other.terms
        return ValueSummary(
            self.present or other.present, max(self.longest, other.longest), max(places, default=None), terms
        )


@dataclass
class ComboSummary:
    """The records of one combination of the by-variables: the variable's values there, the records of
    each decode of the first by-variable (--TEST of --TESTCD) and the units recorded."""

    values: ValueSummary
    labels: dict[str, int] = field(default_factory=dict)
    units: set[str] = field(default_factory=set)

    def merge(self, other: ComboSummary) -> ComboSummary:
        labels = dict(self.labels)
        for text, count in other.labels.items():
            labels[text] = labels.get(text, 0) + count
        return ComboSummary(self.values.merge(other.values), labels, self.units | other.units)


@dataclass
class ValueLevelProfile:
    """Every combination of the by-variables in the data (in order of first record) and whether the
    variable has values on records without the first by-variable (no value-level metadata for those)."""

    combos: dict[Combo, ComboSummary]
    unassigned: bool = False

    def merge(self, other: ValueLevelProfile) -> ValueLevelProfile:
        combos = dict(self.combos)
        for combo, summary in other.combos.items():
            combos[combo] = combos[combo].merge(summary) if combo in combos else summary
        return ValueLevelProfile(combos, self.unassigned or other.unassigned)


@dataclass
class DatasetProfile:
    """A dataset's values as define.xml needs them; `merge` adds the next part (in record order)."""

    name: str
    columns: tuple[str, ...]
    rows: int
    variables: dict[str, ValueSummary]
    value_levels: dict[str, ValueLevelProfile]

    def merge(self, other: DatasetProfile) -> DatasetProfile:
        if other.columns != self.columns:
            raise ValueError(
                f"{self.name}: a part with the columns {list(other.columns)} does not belong to a dataset "
                f"with {list(self.columns)}"
            )
        return DatasetProfile(
            self.name,
            self.columns,
            self.rows + other.rows,
            {name: summary.merge(other.variables[name]) for name, summary in self.variables.items()},
            {name: level.merge(other.value_levels[name]) for name, level in self.value_levels.items()},
        )


def merge_profiles(profiles: Iterable[DatasetProfile]) -> DatasetProfile:
    """The profile of a dataset from the profiles of its parts, in order."""
    merged: DatasetProfile | None = None
    for profile in profiles:
        merged = profile if merged is None else merged.merge(profile)
    if merged is None:
        raise ValueError("no parts to profile")
    return merged


def supp_parent(spec: DatasetSpec) -> str | None:
    """The parent domain of a SUPP-- dataset (SUPPDM -> DM); None for any other dataset."""
    if spec.name.startswith("SUPP") and len(spec.name) > 4 and not spec.is_adam:
        return spec.name[4:]
    return None


def unit_variable(variable: str, columns: Iterable[str]) -> str | None:
    """The variable that records the unit of a result variable: --ORRESU, --STRESU or AVALU."""
    if variable.endswith("ORRES"):
        candidate = variable + "U"
    elif variable.endswith(("STRESC", "STRESN")):
        candidate = variable[:-1] + "U"
    elif variable in ("AVAL", "AVALC"):
        candidate = "AVALU"
    else:
        return None
    return candidate if candidate in set(columns) else None


def decode_variable(by: list[str], columns: Iterable[str]) -> str | None:
    """The decode of the first by-variable that labels a combination: --TESTCD -> --TEST, PARAMCD -> PARAM."""
    first = by[0]
    return first[:-2] if first.endswith("CD") and first[:-2] in set(columns) else None


class _Texts:
    """Each column as codes into its distinct texts (to_text of each distinct value, once; -1 missing)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.cache: dict[str, tuple[np.ndarray, list[str]]] = {}
        self.combos: dict[tuple[str, ...], tuple[np.ndarray, list[Combo]]] = {}

    def __call__(self, column: str) -> tuple[np.ndarray, list[str]]:
        if column not in self.cache:
            values = self.frame[column]
            codes, uniques = pd.factorize(values, use_na_sentinel=True)
            if isinstance(values.dtype, pd.StringDtype):
                remap, distinct = _distinct_texts_of_text(uniques)
            else:
                texts = [to_text(u) for u in uniques]
                # distinct values may give one text (or none): recode to the distinct texts
                seen: dict[str, int] = {}
                remap = np.array(
                    [seen.setdefault(t, len(seen)) if t is not None else -1 for t in texts] + [-1]
                )
                distinct = list(seen)
            self.cache[column] = (remap[codes], distinct)
        return self.cache[column]

    def combinations(self, by: list[str]) -> tuple[np.ndarray, list[Combo]]:
        """_combinations of the by-variables, once for all the value-level variables they slice."""
        key = tuple(by)
        if key not in self.combos:
            self.combos[key] = _combinations([self(b) for b in by])
        return self.combos[key]


def _is_filled(texts: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Whether each text is not blank as str.strip sees it (Arrow's whitespace is str.strip's: every
    character str.isspace holds, no other); a missing text is null."""
    return pc.greater(pc.binary_length(pc.utf8_trim_whitespace(texts)), 0)


def _distinct_texts_of_text(uniques: pd.api.extensions.ExtensionArray) -> tuple[np.ndarray, list[str]]:
    """What `to_text` makes of distinct text values, without a Python call per value: each is its own text
    but a blank one (None; Arrow's whitespace is str.strip's), so the recoding only drops the blanks.
    Returns the code of each value (-1 blank; one more -1 for a missing value's code) and the texts."""
    arrow = compute_arrow_text(pd.Series(uniques, dtype=uniques.dtype))
    filled = _is_filled(arrow).to_numpy(zero_copy_only=False)
    remap = np.full(len(filled) + 1, -1, dtype=np.int64)
    remap[np.flatnonzero(filled)] = np.arange(int(filled.sum()))
    return remap, arrow.filter(pa.array(filled)).to_pylist()


def compute_distinct_texts(values: pd.Series) -> list[str]:
    """The distinct texts of a column's values (to_text of each, missing and blank ones left out), in no
    particular order. Text and float columns are read without a code per record: Arrow's hash of the
    texts, pandas' hash of the numbers (integral ones turned into digits in one pass); other columns by
    to_text of each distinct value."""
    if isinstance(values.dtype, pd.StringDtype):
        distinct = pc.unique(compute_arrow_text(values)).drop_null()
        return distinct.filter(_is_filled(distinct)).to_pylist()
    if values.dtype == np.float64:
        distinct = pd.unique(values.to_numpy())
        distinct = distinct[~np.isnan(distinct)]
        integral = (distinct == np.floor(distinct)) & (np.abs(distinct) < 1e15)
        digits = pa.array(distinct[integral].astype(np.int64)).cast(pa.string()).to_pylist()
        return digits + [format(v, ".15g") for v in distinct[~integral].tolist()]
    texts = (to_text(v) for v in pd.unique(values))
    return [t for t in texts if t is not None]


def profile_dataset(frame: pd.DataFrame, spec: DatasetSpec, study: Study) -> DatasetProfile:
    """The profile of a frame holding the spec's submitted variables (a whole dataset or one part)."""
    texts = _Texts(frame)
    vl = spec.value_level or {}
    coded = set(vl.get("variables", []) or [])  # value-level variables are read record by record below
    variables = {}
    for var in spec.submitted_variables:
        keep, with_decimals = var.codelist is not None, var.type == "float"
        variables[var.name] = (
            ValueSummary.of(texts(var.name)[1], keep_terms=keep, with_decimals=with_decimals)
            if var.name in coded
            else ValueSummary.of_column(frame[var.name], keep_terms=keep, with_decimals=with_decimals)
        )
    value_levels = {}
    for name in vl.get("variables", []) or []:
        if name in variables:
            value_levels[name] = _value_level_profile(frame, spec, study, name, list(vl["by"]), texts)
    return DatasetProfile(
        spec.name, tuple(str(c) for c in frame.columns), len(frame), variables, value_levels
    )


def _keeps_terms(spec: DatasetSpec, study: Study, name: str) -> bool:
    """Whether a codelist can apply to some value-level slice of the variable: its own, a value-level
    entry's, or (SUPP--) a supplemental variable's."""
    var = spec.variable(name)
    entries = (spec.value_level or {}).get("entries", []) or []
    return (
        var.codelist is not None
        or any(e.get("codelist") for e in entries if e.get("variable") == name)
        or supp_parent(spec) is not None
    )


def _value_level_profile(
    frame: pd.DataFrame, spec: DatasetSpec, study: Study, name: str, by: list[str], texts: _Texts
) -> ValueLevelProfile:
    value_codes, value_texts = texts(name)
    combo_ids, combos = texts.combinations(by)
    has_value = value_codes >= 0
    keep = _keeps_terms(spec, study, name)

    def distinct_per_combo(codes: np.ndarray) -> dict[int, dict[int, int]]:
        """combination id -> {code of a distinct text: its records}."""
        rows = codes >= 0
        width = int(codes.max(initial=-1)) + 1
        pairs = pd.Series(combo_ids[rows] * width + codes[rows]).value_counts(sort=False)
        out: dict[int, dict[int, int]] = {}
        for pair, count in zip(pairs.index.tolist(), pairs.tolist(), strict=True):
            combo, code = divmod(pair, width)
            out.setdefault(combo, {})[code] = count
        return out

    values = distinct_per_combo(value_codes)
    labels: dict[int, dict[str, int]] = {}
    decode = decode_variable(by, frame.columns)
    if decode is not None:
        decode_codes, decode_texts = texts(decode)
        labels = {
            combo: {decode_texts[code]: count for code, count in found.items()}
            for combo, found in distinct_per_combo(decode_codes).items()
        }
    units: dict[int, dict[int, int]] = {}
    unit_name = unit_variable(name, frame.columns)
    if unit_name is not None:
        unit_codes, unit_texts = texts(unit_name)
        units = distinct_per_combo(unit_codes)
    summaries = {
        combo: ComboSummary(
            ValueSummary.of((value_texts[c] for c in values.get(i, [])), keep_terms=keep),
            labels.get(i, {}),
            {unit_texts[c] for c in units.get(i, [])} if unit_name is not None else set(),
        )
        for i, combo in enumerate(combos)
    }
    first_missing = texts(by[0])[0] < 0
    return ValueLevelProfile(summaries, bool((has_value & first_missing).any()))


def _combinations(by_codes: list[tuple[np.ndarray, list[str]]]) -> tuple[np.ndarray, list[Combo]]:
    """Each record's combination of by-texts as an id, and the combinations in order of first record."""
    ids, first = compute_combinations([codes for codes, _ in by_codes])
    combos = [
        tuple(None if codes[row] < 0 else distinct[codes[row]] for codes, distinct in by_codes)
        for row in first.tolist()
    ]
    return ids, combos


def profiles_of(
    datasets: Mapping[str, pd.DataFrame | DatasetProfile], study: Study
) -> dict[str, DatasetProfile]:
    """Profiles of the datasets given as frames (those given as profiles are kept)."""
    return {
        name: data if isinstance(data, DatasetProfile) else profile_dataset(data, study.dataset(name), study)
        for name, data in datasets.items()
    }
