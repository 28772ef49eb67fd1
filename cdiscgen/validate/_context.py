"""What every rule sees: all datasets of the study at once, their XPT metadata, the specs and define.xml."""

from __future__ import annotations

import re
from collections.abc import Callable, ItemsView, Iterator, Mapping, Sequence, ValuesView
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api.types import is_numeric_dtype

from cdiscgen._arrowtext import compute_positions_among
from cdiscgen._distinct import on_distinct
from cdiscgen._findings import Finding
from cdiscgen._specs import Codelist, DatasetSpec, Study
from cdiscgen.validate._dates import compute_stripped
from cdiscgen.validate._registry import Partition, Rule

#: Findings listed per rule, dataset and variable before the rest is summarised in one finding.
DEFAULT_LIMIT = 1000

#: Where findings of records are counted together for the limit: (dataset, variable).
ListingKey = tuple[str, str | None]


@dataclass(frozen=True)
class Listed:
    """A finding about one record, with its place: the record's row in the whole dataset (a subject
    partition adds its first row) and the number of the `findings_where` call that made it, so that the
    records listed before the limit are the same whichever partition found them."""

    finding: Finding
    key: ListingKey
    place: tuple[int, int]


#: The trial design datasets: about the study, not its subjects (no USUBJID).
TRIAL_DESIGN = frozenset({"TA", "TE", "TV", "TI", "TS", "TD", "TM"})
_SPECIAL = frozenset({"DM", "CO", "SE", "SV", "SM"})


class VariableMetaLike(Protocol):
    name: str
    label: str
    type: str
    length: int | None


class DatasetMetaLike(Protocol):
    """What the rules use of `cdiscgen.export.XptMeta` (or any object shaped like it)."""

    dataset: str
    label: str
    variables: Sequence[VariableMetaLike]


class ReadDatasets(dict):
    """Datasets (or their transport metadata) by name, noting which ones are read (``[]``, ``get``,
    ``items``, ``values``): what a rule examined is what tells "clean" from "not applicable" in the report.
    `read` may be shared, so that frames and metadata note into one set."""

    def __init__(self, frames: Mapping[str, Any], read: set[str] | None = None) -> None:
        super().__init__(frames)
        self.read: set[str] = set() if read is None else read
        self.quiet = 0  # > 0 while ctx's own naming helpers look (a prefix is not an examination)

    def note(self, name: str) -> None:
        if not self.quiet:
            self.read.add(name)

    def __getitem__(self, name: str) -> pd.DataFrame:
        frame = super().__getitem__(name)
        self.note(name)
        return frame

    def get_quietly(self, name: str) -> Any:
        """The dataset without noting it read: to see whether it has the variables a rule needs."""
        return super().__getitem__(name)

    def get(self, name: str, default: Any = None) -> Any:
        if name in self:
            self.note(name)
        return super().get(name, default)

    def items(self) -> ItemsView[str, pd.DataFrame]:
        for name in self:
            self.note(name)
        return super().items()

    def values(self) -> ValuesView[pd.DataFrame]:
        for name in self:
            self.note(name)
        return super().values()


class Across:
    """Summaries of the whole study gathered from its subject partitions (`ValidationContext.across`): while
    `gathering`, each partition's own summary is kept under its key; then every partition is given the
    summaries combined over all of them."""

    def __init__(self) -> None:
        self.gathering = True
        self.partition = 0
        self._parts: dict[tuple, dict[int, Any]] = {}
        self._combined: dict[tuple, Any] = {}

    def give(self, key: tuple, compute: Callable[[], Any], combine: Callable[[list[Any]], Any]) -> Any:
        if self.gathering:
            value = compute()
            self._parts.setdefault(key, {})[self.partition] = value
            return value
        if key not in self._combined:
            if key not in self._parts:
                raise LookupError(f"no partition gathered the summary {key!r}")
            parts = self._parts[key]
            self._combined[key] = combine([parts[number] for number in sorted(parts)])
        return self._combined[key]

    def gathered(self, number: int) -> dict[tuple, Any]:
        """Partition `number`'s own summaries, by key (what a partition validated elsewhere returns)."""
        return {key: parts[number] for key, parts in self._parts.items() if number in parts}

    def take(self, number: int, summaries: Mapping[tuple, Any]) -> None:
        """Partition `number`'s summaries, gathered elsewhere (`gathered`)."""
        for key, value in summaries.items():
            self._parts.setdefault(key, {})[number] = value


def union_rows(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Distinct rows of several frames, in the order they first appear (partitions in file order)."""
    return pd.concat(frames, ignore_index=True).drop_duplicates().reset_index(drop=True)


@dataclass
class ValidationContext:
    """The whole study as the rules see it. Dataset names are upper case."""

    datasets: ReadDatasets
    study: Study | None = None
    meta: dict[str, DatasetMetaLike] = field(default_factory=dict)
    define_path: Path | None = None
    files: dict[str, str] = field(default_factory=dict)
    limit: int = DEFAULT_LIMIT
    #: Per-run scratch space for rules that share expensive work (e.g. the parsed define.xml).
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _derived: dict[tuple[str, str, tuple[str, ...]], Any] = field(default_factory=dict, repr=False)
    #: whether a rule read define.xml since `start_reading`
    define_read: bool = field(default=False, repr=False)
    #: the row of the whole dataset where each dataset's first record here is (a subject partition's)
    first_rows: dict[str, int] = field(default_factory=dict)
    #: the datasets held for some subjects only (a subject partition); the others are whole
    ranged: frozenset[str] = frozenset()
    #: each dataset's prefix as the whole dataset gives it (a partition's first DOMAIN may differ)
    prefixes: dict[str, str] = field(default_factory=dict)
    #: summaries of the whole study, when a subject partition is validated (`across`)
    summaries: Across | None = None
    _listed: dict[int, Listed] = field(default_factory=dict, repr=False)
    _hits: dict[ListingKey, int] = field(default_factory=dict, repr=False)
    _calls: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.datasets, ReadDatasets):
            self.datasets = ReadDatasets(self.datasets)
        self.meta = ReadDatasets(self.meta, self.datasets.read)

    # ------------------------------------------------------------------------------ what a rule examined

    def start_reading(self) -> None:
        """Forget what was read and listed: the runner calls it before each rule."""
        self.datasets.read.clear()
        self.define_read = False
        self._listed.clear()
        self._hits.clear()
        self._calls = 0

    def take_listed(self, found: list[Finding]) -> tuple[list[Listed], list[Finding], dict[ListingKey, int]]:
        """A rule's findings split into those `findings_where` listed (with their places) and the others,
        and the records found per (dataset, variable): what the runner limits, per rule, after the rule."""
        listed: list[Listed] = []
        others: list[Finding] = []
        for f in found:
            entry = self._listed.get(id(f))
            if entry is not None and entry.finding is f:
                listed.append(entry)
            else:
                others.append(f)
        hits = dict(self._hits)
        self._listed.clear()
        self._hits.clear()
        return listed, others, hits

    def examined(self) -> list[str]:
        """The datasets (and "define.xml") read since `start_reading`, sorted."""
        return sorted(self.datasets.read) + (["define.xml"] if self.define_read else [])

    def note_files(self) -> tuple[()]:
        """Note every dataset read from a transport file as examined (the file rules check the reading)."""
        for name in self.files:
            self.datasets.note(name)
        return ()

    @contextmanager
    def _naming(self) -> Iterator[None]:
        """Reads made to name or classify a dataset (its prefix, its class) do not count as examining it."""
        self.datasets.quiet += 1
        try:
            yield
        finally:
            self.datasets.quiet -= 1

    # ------------------------------------------------------------------------------- datasets & specs

    def names(self) -> list[str]:
        return sorted(self.datasets)

    def spec(self, name: str) -> DatasetSpec | None:
        if self.study is None:
            return None
        return self.study.datasets.get(name)

    def codelist(self, codelist_id: str | None) -> Codelist | None:
        if self.study is None or not codelist_id:
            return None
        return self.study.codelists.get(codelist_id)

    def is_adam(self, name: str) -> bool:
        spec = self.spec(name)
        if spec is not None:
            return spec.is_adam
        return name.startswith("AD")

    def sdtm_names(self) -> list[str]:
        return [n for n in self.names() if not self.is_adam(n)]

    def adam_names(self) -> list[str]:
        return [n for n in self.names() if self.is_adam(n)]

    def is_supp(self, name: str) -> bool:
        return name.startswith("SUPP") and not self.is_adam(name)

    def prefix(self, name: str) -> str:
        """The SDTM variable prefix: the DOMAIN value (QSPH -> QS) or the first two letters of the name."""

        if name in self.prefixes:
            return self.prefixes[name]

        def compute(frame: pd.DataFrame) -> str:
            if "DOMAIN" in frame.columns:
                values = self.text(name, "DOMAIN").dropna()
                if len(values):
                    return str(values.iloc[0])[:2]
            return name[:2]

        with self._naming():
            return self.of_dataset("prefix", name, compute)

    def observation_class(self, name: str) -> str | None:
        """EVENTS / INTERVENTIONS / FINDINGS for a general-observation SDTM dataset, else None."""
        if self.is_adam(name) or self.is_supp(name) or name in TRIAL_DESIGN or name in _SPECIAL:
            return None
        spec = self.spec(name)
        if spec is not None:
            cls = spec.cls.upper()
            return cls if cls in {"EVENTS", "INTERVENTIONS", "FINDINGS"} else None
        with self._naming():
            cols = set(self.datasets[name].columns)
        p = self.prefix(name)
        if f"{p}TESTCD" in cols:
            return "FINDINGS"
        if f"{p}TRT" in cols:
            return "INTERVENTIONS"
        if f"{p}TERM" in cols or f"{p}DECOD" in cols:
            return "EVENTS"
        return None

    def meta_variables(self, name: str) -> dict[str, VariableMetaLike]:
        meta = self.meta.get(name)
        return {v.name: v for v in meta.variables} if meta is not None else {}

    # ------------------------------------------------------------------------------------- column access

    def of_dataset(self, kind: str, name: str, compute: Callable[[pd.DataFrame], Any], *columns: str) -> Any:
        """`compute(dataset)`, once per run: the one place rules keep what they derive from a dataset's
        own columns (their text, byte lengths, ISO 8601 parts). `compute` may read only the dataset, and
        `kind` with `columns` names the result, so that it stays right for another run over the same frame."""
        key = (kind, name, columns)
        if key not in self._derived:
            self._derived[key] = compute(self.datasets[name])
        else:
            self.datasets.note(name)  # a cached result read again is the dataset examined again
        return self._derived[key]

    def text(self, name: str, column: str) -> pd.Series:
        """A column as stripped text with blanks as NA (numbers formatted without a trailing .0)."""
        return self.of_dataset("text", name, lambda frame: compute_text(frame[column]), column)

    def numbers(self, name: str, column: str) -> pd.Series:
        """A column as float64 numbers: what pd.to_numeric(errors="coerce") makes of its text (`text`),
        without formatting a numeric column's values and parsing them back (NaN where missing or infinite,
        as their text is missing)."""

        def compute(frame: pd.DataFrame) -> pd.Series:
            series = frame[column]
            if is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
                x = series.astype("float64").to_numpy(copy=True)
                x[np.isinf(x)] = np.nan
                return pd.Series(x, index=series.index, name=series.name)
            (parsed,) = on_distinct(
                self.text(name, column), _parsed_numbers
            )  # results repeat: parse each once
            return pd.Series(parsed, index=series.index, name=series.name)

        return self.of_dataset("numbers", name, compute, column)

    def across(
        self,
        rule: Rule,
        name: str,
        what: tuple,
        compute: Callable[[], Any],
        combine: Callable[[list[Any]], Any],
    ) -> Any:
        """A summary of dataset `name` over the whole study (Partition.SUMMARISED): `compute()` over the
        records here when they are the whole study; in a subject partition, the partitions' summaries
        gathered first, then `combine`d (`what` names the summary among the rule's). Reading it is
        examining the dataset."""
        self.datasets.note(name)
        if self.summaries is None or name not in self.ranged or rule.info.partition != Partition.SUMMARISED:
            return compute()  # the whole dataset is here, or the rule's summaries are its subjects' own
        return self.summaries.give((rule.code, name, *what), compute, combine)

    def distinct_rows(self, rule: Rule, name: str, columns: Sequence[str]) -> pd.DataFrame:
        """The distinct combinations of the columns' texts over the whole study (Partition.SUMMARISED), in
        the order they first appear."""
        columns = list(columns)

        def compute() -> pd.DataFrame:
            table = pd.DataFrame({c: self.text(name, c) for c in columns})
            return table.drop_duplicates().reset_index(drop=True)

        return self.across(rule, name, ("distinct", *columns), compute, union_rows)

    def factorized(self, name: str, column: str) -> tuple[np.ndarray, pd.Series]:
        """A column's text (`text`, a missing value as "") as codes into its distinct texts: a test of each
        distinct text reaches every record by `distinct_result[codes]`."""

        def compute(_: pd.DataFrame) -> tuple[np.ndarray, pd.Series]:
            codes, uniques = pd.factorize(self.text(name, column))  # -1: missing (text has no blank value)
            codes = codes.astype(np.int32)  # kept for the run: 4 bytes a record
            codes[codes < 0] = len(uniques)
            return codes, pd.concat(
                [pd.Series(uniques, dtype="str"), pd.Series([""], dtype="str")], ignore_index=True
            )

        return self.of_dataset("codes", name, compute, column)

    def duplicated(self, name: str, columns: Sequence[str]) -> np.ndarray:
        """True on every record whose texts of `columns` (a missing value equals a missing value) another
        record of the dataset shares: the columns' codes (`factorized`) combined into one number a record."""
        key = np.zeros(len(self.datasets[name]), dtype=np.int64)
        for column in columns:
            codes, distinct = self.factorized(name, column)
            size = max(len(distinct), 1)
            if key.size and int(key.max()) >= np.iinfo(np.int64).max // size:
                key = np.unique(key, return_inverse=True)[1].reshape(-1).astype(np.int64)  # renumbered
            key = key * size + codes
        return _shared(key)

    def distinct(self, name: str, column: str) -> frozenset[str]:
        """The distinct non-missing texts of a column."""
        return self.of_dataset(
            "distinct", name, lambda _: frozenset(self.text(name, column).dropna().unique().tolist()), column
        )

    def blank(self, name: str, column: str) -> np.ndarray:
        """True where the column's value is missing (NA, NaN or blank text)."""
        if is_numeric_dtype(self.datasets[name][column]):
            return self.datasets[name][column].isna().to_numpy()
        return self.text(name, column).isna().to_numpy()

    @property
    def dm_subjects(self) -> pd.Series | None:
        if "DM" not in self.datasets or "USUBJID" not in self.datasets["DM"].columns:
            return None
        return self.text("DM", "USUBJID")

    # ---------------------------------------------------------------------------------------- findings

    def findings_where(
        self,
        rule: Rule,
        name: str,
        mask: np.ndarray | pd.Series,
        message: str | pd.Series,
        *,
        variable: str | None = None,
        value: str | pd.Series | np.ndarray | None = None,
        expected: str | pd.Series | np.ndarray | None = None,
        file: str | None = None,
        line: int | None = None,
    ) -> Iterator[Finding]:
        """One finding per row of `name` where `mask` holds, with USUBJID and --SEQ of the row.

        `value` defaults to the row's value of `variable`; `file` and `line` name another place than the
        dataset's file (define.xml for a rule of define.xml). A rule lists `limit` records per dataset and
        variable (the first rows of the dataset); the runner summarises the rest in one finding of the
        rule, so a defect repeated in millions of rows stays readable.
        """
        mask = np.asarray(mask, dtype=bool)
        hits = np.flatnonzero(mask)
        if hits.size == 0:
            return
        key: ListingKey = (name, variable)
        self._hits[key] = self._hits.get(key, 0) + int(hits.size)
        self._calls += 1
        call, first_row = self._calls, self.first_rows.get(name, 0)
        frame = self.datasets[name]
        # more than `limit` rows of one call can never be among the first `limit` of the rule
        shown = hits[: self.limit]
        usubjid = self._column_at(name, "USUBJID", shown)
        seq_col = self.seq_column(name)
        seq = frame[seq_col].to_numpy()[shown] if seq_col else [None] * len(shown)
        if value is None and variable is not None and variable in frame.columns:
            value = self.text(name, variable)
        values = _at(value, shown)
        expecteds = _at(expected, shown)
        messages = _at(message, shown)
        for i in range(len(shown)):
            s = seq[i]
            finding = rule.finding(
                messages[i],
                dataset=name,
                variable=variable,
                usubjid=usubjid[i],
                seq=None if s is None else _number(s),
                value=values[i],
                expected=expecteds[i],
                file=file,
                line=line,
            )
            self._listed[id(finding)] = Listed(finding, key, (first_row + int(shown[i]), call))
            yield finding

    def _column_at(self, name: str, column: str, rows: np.ndarray) -> list[Any]:
        if column not in self.datasets[name].columns:
            return [None] * len(rows)
        return _at(self.text(name, column), rows)

    def seq_column(self, name: str) -> str | None:
        cols = self.datasets[name].columns
        if self.is_adam(name):
            return "ASEQ" if "ASEQ" in cols else None
        if self.is_supp(name):
            return None
        candidate = f"{self.prefix(name)}SEQ"
        return candidate if candidate in cols else None


def _shared(key: np.ndarray) -> np.ndarray:
    """True where another position holds the same number (by one sort, not a hash of every record)."""
    order = np.argsort(key, kind="stable")
    same = key[order][1:] == key[order][:-1]
    shared = np.zeros(len(key), dtype=bool)
    shared[1:] |= same
    shared[:-1] |= same
    out = np.empty(len(key), dtype=bool)
    out[order] = shared
    return out


def _number(value: Any) -> float | int | None:
    """--SEQ as a number for the finding (None when the stored value is not a number)."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    if f != f:
        return None
    return int(f) if f.is_integer() else f


def _at(values: str | pd.Series | np.ndarray | None, rows: np.ndarray) -> list[Any]:
    if values is None or isinstance(values, str):
        return [values] * len(rows)
    picked = values.iloc[rows] if isinstance(values, pd.Series) else np.asarray(values)[rows]
    out = picked.tolist() if hasattr(picked, "tolist") else list(picked)
    return [None if (v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))) else v for v in out]


def compute_text(series: pd.Series) -> pd.Series:
    """Stripped text, blank -> NA; integral numbers as "3", others as Python's shortest repr."""
    if is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        x = series.astype("float64").to_numpy()
        codes, distinct = pd.factorize(x)  # NaN -> -1; -0.0 and 0.0 are one value, "0"
        texts = pa.array([*_number_texts(distinct), None], type=pa.large_string())
        taken = texts.take(np.where(codes < 0, len(distinct), codes))  # no Python object per row
        return pd.Series(pd.array(taken, dtype="str"), index=series.index, copy=False)
    return compute_stripped(series)


def _parsed_numbers(texts: pd.Series) -> tuple[np.ndarray]:
    return (pd.to_numeric(texts, errors="coerce").to_numpy(dtype="float64", na_value=np.nan),)


def compute_pair_rows(
    subjects: pd.Series, numbers: np.ndarray, table_subjects: pd.Series, table_numbers: np.ndarray
) -> np.ndarray:
    """Per (subject, number) pair (a record's USUBJID and SRCSEQ), the first row of the table holding the
    same pair (USUBJID and --SEQ); -1 where none does. A missing subject or number matches nothing.
    Subjects are matched by Arrow hash first, so the pairs pandas matches are numbers, not Python strings."""
    table_codes = compute_positions_among(
        table_subjects, table_subjects
    )  # a subject's first row stands for it
    table_numbers = np.asarray(table_numbers, dtype="float64")
    usable = (table_codes >= 0) & ~np.isnan(table_numbers)
    table = pd.MultiIndex.from_arrays([table_codes[usable], table_numbers[usable]])
    first = ~table.duplicated()
    table_rows, table = np.flatnonzero(usable)[first], table[first]
    codes = compute_positions_among(subjects, table_subjects)
    numbers = np.asarray(numbers, dtype="float64")
    asked = np.flatnonzero((codes >= 0) & ~np.isnan(numbers))
    found = table.get_indexer(pd.MultiIndex.from_arrays([codes[asked], numbers[asked]]))
    out = np.full(len(codes), -1, dtype=np.intp)
    out[asked[found >= 0]] = table_rows[found[found >= 0]]
    return out


def _number_texts(distinct: np.ndarray) -> list[str | None]:
    """Distinct numbers as text: integral ones as "3", the others as Python's shortest repr
    ("118.45600000000002" stays visible as such); infinities as missing."""
    finite = np.isfinite(distinct)
    integral = finite & (np.round(distinct) == distinct) & (np.abs(distinct) < 1e15)
    return [
        (str(int(v)) if whole else repr(v)) if ok else None
        for v, whole, ok in zip(distinct.tolist(), integral.tolist(), finite.tolist(), strict=True)
    ]


VALID_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def as_frames(datasets: Mapping[str, pd.DataFrame]) -> ReadDatasets:
    return ReadDatasets({str(k).upper(): v for k, v in datasets.items()})
