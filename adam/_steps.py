"""Steps any ADaM engine shares: each takes a frame (ADSL, or the records of a BDS/OCCDS dataset), the
step's body from the spec and the engine's context, and returns the frame with the variables it adds.
Conditions are cdiscgen._conditions' grammar on the frame's variables."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cdiscgen._arrowtext import is_among
from cdiscgen._conditions import compute_condition_mask
from cdiscgen._distinct import compute_mapped
from cdiscgen._findings import Finding, Severity

from ._codes import RECORDS_WITHOUT_SUBJECT
from ._common import number, require_columns, text
from ._dates import compute_range_imputation, compute_study_day
from ._errors import AdamInputError


def derive_steps(
    frame: pd.DataFrame,
    steps: Sequence[Mapping] | None,
    table: Mapping[str, Callable[[pd.DataFrame, Mapping, Any], pd.DataFrame]],
    ctx: Any,
    after: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Run a spec's ordered steps (`- kind: {body}`) on `frame`, each by its function in `table` (every
    engine's vocabulary has one signature); `after` runs on the result of each step."""
    for item in steps or []:
        ((kind, body),) = item.items()
        frame = table[kind](frame, body or {}, ctx)
        if after is not None:
            frame = after(frame)
    return frame


def compute_where_mask(frame: pd.DataFrame, cond: Mapping | None) -> np.ndarray:
    """Rows of `frame` where a (checked) spec condition on its variables holds; all rows without one."""
    if not cond:
        return np.ones(len(frame), dtype=bool)

    def operand(kind: str, name: str) -> pd.Series:
        if name not in frame.columns:
            return pd.Series("", index=frame.index, dtype="str")
        return frame[name]

    return compute_condition_mask(cond, operand, frame.index).mask.to_numpy(dtype=bool)


def compute_subject_records(
    sdtm: Mapping[str, pd.DataFrame], adsl: pd.DataFrame, source: str, name: str
) -> tuple[pd.DataFrame, list[Finding]]:
    """The records of SDTM domain `source` of the subjects of ADSL, with every ADSL variable the domain
    does not have; records of other subjects are left out with one finding. A missing domain or USUBJID
    is an AdamInputError for dataset `name`."""
    records = sdtm.get(source)
    if records is None:
        raise AdamInputError(f"required SDTM dataset is missing ({name} is derived from it)", dataset=source)
    if "USUBJID" not in records.columns:
        raise AdamInputError("required variable is missing", dataset=source, variable="USUBJID")
    findings: list[Finding] = []
    ids = text(records, "USUBJID")
    known = is_among(ids, adsl["USUBJID"])
    if (~known).any():
        findings.append(
            Finding(
                RECORDS_WITHOUT_SUBJECT,
                Severity.WARNING,
                f"{int((~known).sum())} {source} record(s) of subjects not in ADSL are not in {name}",
                dataset=name,
                usubjid=str(ids[~known].iloc[0]),
            )
        )
    records = records[known].reset_index(drop=True)
    return merge_subject_variables(records, adsl), findings


def merge_supplemental(
    records: pd.DataFrame, sdtm: Mapping[str, pd.DataFrame], source: str, qnams: Sequence[str], name: str
) -> pd.DataFrame:
    """`records` of SDTM domain `source` with the supplemental qualifiers `qnams` of SUPP<source> as
    variables (admiral's combine_supp): each SUPP record joins the record its IDVAR/IDVARVAL name (by
    USUBJID; no IDVAR: every record of the subject); a record without the qualifier gets "". A SUPP record
    naming a variable the domain lacks, or a qualifier given twice to one record, is an AdamInputError.
    That each name is a supplemental qualifier of the domain is checked with the specs
    (check_parameter_specs), so a qualifier no record holds is simply empty."""
    supp_name = f"SUPP{source}"
    supp = sdtm.get(supp_name)
    if supp is None:
        raise AdamInputError(
            f"required SDTM dataset is missing ({name} takes {', '.join(qnams)} from it)", dataset=supp_name
        )
    require_columns(supp, supp_name, ["USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QVAL"])
    qnam = text(supp, "QNAM")
    wanted = supp[qnam.isin(list(qnams)).to_numpy()]
    out = records.copy(deep=False)  # copy-on-write: the columns set below are out's own
    subject = text(records, "USUBJID")
    for q in qnams:
        out[q] = ""
    for idvar, part in wanted.groupby(text(wanted, "IDVAR"), sort=True):
        if idvar and idvar not in records.columns:
            raise AdamInputError(
                f"{supp_name} records refer to {idvar}, which {source} does not have",
                dataset=supp_name,
                variable=idvar,
            )
        key = compute_value_text(records, idvar) if idvar else pd.Series("", index=records.index)
        keys = pd.DataFrame(
            {
                "USUBJID": text(part, "USUBJID"),
                "KEY": text(part, "IDVARVAL") if idvar else "",
                "QNAM": text(part, "QNAM"),
                "QVAL": text(part, "QVAL"),
            }
        )
        twice = keys.duplicated(["USUBJID", "KEY", "QNAM"], keep=False)
        if twice.any():
            first = keys[twice].iloc[0]
            raise AdamInputError(
                f"{supp_name} gives {first['QNAM']} twice to {idvar or 'the subject'} {first['KEY']}".rstrip(),
                dataset=supp_name,
                variable=str(first["QNAM"]),
                usubjid=str(first["USUBJID"]),
            )
        wide = keys.pivot(index=["USUBJID", "KEY"], columns="QNAM", values="QVAL")
        at = pd.MultiIndex.from_arrays([subject, key])
        for q in wide.columns:
            values = wide[q].reindex(at).to_numpy()
            out[q] = np.where(pd.notna(values), values, out[q].to_numpy()).astype(str)
    return out


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def compute_named_variables(*docs: Any) -> frozenset[str]:
    """Every name a spec could use for a variable: each word of its keys and text values, at any depth
    (`where: {TRTSDT: ...}`, `reference: TRTSDT`, `"AVAL > BASE"`). Generous on purpose: a word that is
    not a variable only keeps a column that was not needed."""
    found: set[str] = set()
    todo = list(docs)
    while todo:
        item = todo.pop()
        if isinstance(item, Mapping):
            todo.extend(item.keys())
            todo.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            todo.extend(item)
        elif isinstance(item, str):
            found.update(_NAME.findall(item))
    return frozenset(found)


def compute_steps_reading(doc: Any, datasets: set[str]) -> list[Mapping]:
    """The mappings of a spec (at any depth) that read one of `datasets` (`dataset: ADLB`): ADSL's steps
    that take a value from an ADaM dataset's records."""
    found, todo = [], [doc]
    while todo:
        item = todo.pop()
        if isinstance(item, Mapping):
            if str(item.get("dataset", "")).upper() in datasets:
                found.append(item)
            todo.extend(item.values())
        elif isinstance(item, list | tuple):
            todo.extend(item)
    return found


def compute_subject_view(adsl: pd.DataFrame, named: frozenset[str]) -> pd.DataFrame:
    """The ADSL variables a dataset's records carry: USUBJID and those the study's specs name (its
    derivation steps read them from the records; the spec's ADSL predecessors are copied at the end), not
    every one of dozens of subject variables on each of a million records."""
    return adsl[[c for c in adsl.columns if c == "USUBJID" or c in named]]


def merge_subject_variables(records: pd.DataFrame, adsl: pd.DataFrame) -> pd.DataFrame:
    """`records` with the ADSL variables they do not have, by USUBJID, in their own order."""
    subject = adsl.drop(columns=[c for c in adsl.columns if c in records.columns and c != "USUBJID"])
    return records.merge(subject, on="USUBJID", how="left", sort=False)


def compute_value_text(frame: pd.DataFrame, name: str) -> pd.Series:
    """A variable's values as the text a spec writes them: numbers without a trailing .0 (815, 36.5)."""
    if name in frame.columns and frame[name].dtype.kind in "fiu":
        values = pd.to_numeric(frame[name], errors="coerce")
        return values.map(
            lambda x: "" if pd.isna(x) else (str(int(x)) if float(x).is_integer() else repr(float(x)))
        )
    return text(frame, name)


def _empty_last(values: pd.Series) -> pd.Series:
    """Sort key: empty text sorts with missing values, last (dplyr's arrange puts NA last)."""
    return values.replace("", np.nan) if values.dtype == object else values


def compute_sorted(frame: pd.DataFrame, names: list[str], ascending: list[bool]) -> pd.DataFrame:
    """`frame` in the order of a spec's full sort key; missing values and empty text last."""
    return frame.take(_sort_order(frame, names, ascending, _empty_last))


def _sort_order(
    frame: pd.DataFrame,
    names: list[str],
    ascending: list[bool],
    key: Callable[[pd.Series], pd.Series] | None,
) -> np.ndarray:
    """The positions of `frame`'s records in sort_values' order (stable), found from the key columns
    alone (sorting ADEX's 55 columns whole took three times as long as this and one take)."""
    keys = pd.DataFrame({name: frame[name].reset_index(drop=True) for name in names})
    return keys.sort_values(
        names, ascending=ascending, kind="mergesort", na_position="last", key=key
    ).index.to_numpy()


def sort_in_place(
    frame: pd.DataFrame,
    names: list[str],
    ascending: list[bool],
    key: Callable[[pd.Series], pd.Series] | None = _empty_last,
) -> pd.DataFrame:
    """`frame` (which the caller owns) in the order of `names` as `compute_sorted` orders it (`key=None`:
    as sort_values without a key), its index 0..n-1: the order is found from the key columns alone and
    each column reordered in turn, so a large frame is not held twice (a copy-on-write frame sharing
    columns with it keeps its own)."""
    order = _sort_order(frame, names, ascending, key)
    if not frame.columns.is_unique:
        return frame.take(order).reset_index(drop=True)
    for column in list(frame.columns):
        frame[column] = frame[column].array.take(order)
    frame.index = pd.RangeIndex(len(frame))
    return frame


def derive_flag(frame: pd.DataFrame, step: Mapping, ctx: Any = None) -> pd.DataFrame:
    """A Y/N (or stated) flag from a condition on the frame's variables."""
    hit = compute_where_mask(frame, step["where"])
    frame[step["variable"]] = np.where(hit, step.get("true", "Y"), step.get("false", "N"))
    return frame


def derive_assign(frame: pd.DataFrame, step: Mapping, ctx: Any = None) -> pd.DataFrame:
    """A constant, on every record or where a condition holds."""
    var, value = step["variable"], step["value"]
    if var not in frame.columns:
        frame[var] = np.nan if isinstance(value, int | float) and not isinstance(value, bool) else ""
    frame.loc[compute_where_mask(frame, step.get("where")), var] = value
    return frame


def derive_cut(frame: pd.DataFrame, step: Mapping, ctx: Any = None) -> pd.DataFrame:
    """A grouping from cut points on a numeric variable: the first `below` the value is under wins;
    a cut without `below` takes the rest; a missing value gets `missing` ("" by default). With `where`,
    only the records meeting it are grouped (others keep their value, "" when the variable is new)."""
    value = number(frame, step["source"])
    where = compute_where_mask(frame, step.get("where"))
    var, numeric = step["variable"], step.get("numeric")
    out = pd.Series(step.get("missing", ""), index=frame.index, dtype="object")
    if not where.all():
        out[~where] = text(frame, var)[~where]
    codes = (
        number(frame, numeric).copy() if numeric else pd.Series(np.nan, index=frame.index, dtype="float64")
    )
    codes[where] = np.nan
    open_ = value.notna() & where
    for i, cut in enumerate(step["cuts"], start=1):
        hit = open_ & ((value < cut["below"]) if "below" in cut else True)
        out[hit] = cut["value"]
        codes[hit] = cut.get("n", i)
        open_ &= ~hit
    frame[var] = out.astype("str")
    if numeric:
        frame[numeric] = codes
    return frame


def derive_map(frame: pd.DataFrame, step: Mapping, ctx: Any = None) -> pd.DataFrame:
    """A grouping (or code) from a value map on a variable; unmapped values -> `other` (else kept), a
    missing value -> `missing` ("" by default). Numeric map values give a numeric variable."""
    source = compute_value_text(frame, step["source"])
    values = {str(k).strip().upper(): v for k, v in step["values"].items()}
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values.values())

    def one(v: str) -> Any:
        if v == "":
            return step.get("missing", np.nan if numeric else "")
        return values.get(v.upper(), step.get("other", np.nan if numeric else v))

    mapped = compute_mapped(source, one)
    frame[step["variable"]] = mapped.astype("float64") if numeric else mapped.astype("str")
    return frame


def derive_duration(frame: pd.DataFrame, step: Mapping, ctx: Any = None) -> pd.DataFrame:
    """Days from one date to another (+1 when both ends count and the end is not before the start,
    admiral's add_one); `unit_variable` gets `unit` where the duration is present."""
    days = number(frame, step["end"]) - number(frame, step["start"])
    frame[step["variable"]] = days + ((days >= 0).astype("float64") if step.get("add_one", True) else 0)
    if step.get("unit_variable"):
        frame[step["unit_variable"]] = np.where(frame[step["variable"]].notna(), step.get("unit", "DAYS"), "")
    return frame


def derive_copy(frame: pd.DataFrame, step: Mapping, ctx: Any = None) -> pd.DataFrame:
    """A variable copied from another one of the same record (ASEV from AESEV, AREL from AEREL)."""
    frame[step["variable"]] = frame[step["source"]] if step["source"] in frame.columns else ""
    return frame


def derive_study_day(frame: pd.DataFrame, step: Mapping, ctx: Any = None) -> pd.DataFrame:
    """--DY of an analysis date against a reference date (TRTSDT): no day 0."""
    frame[step["variable"]] = compute_study_day(
        number(frame, step["date"]), number(frame, step["reference"])
    ).to_numpy()
    return frame


def compute_order_keys(order: list) -> tuple[list[str], list[bool]]:
    names, ascending = [], []
    for item in order:
        if isinstance(item, Mapping):
            ((name, direction),) = item.items()
            names.append(name)
            ascending.append(str(direction).lower() != "desc")
        else:
            names.append(item)
            ascending.append(True)
    return names, ascending


def derive_extreme_flag(frame: pd.DataFrame, step: Mapping, ctx: Any = None) -> pd.DataFrame:
    """Y on the first (or last) record of each `by` group in the full sort key `order`, among the
    records meeting `where` (admiral's derive_var_extreme_flag); "" elsewhere. Missing sort values
    sort last (ascending and descending alike)."""
    var = step["variable"]
    frame[var] = ""
    eligible = frame[compute_where_mask(frame, step.get("where"))]
    if not len(eligible):
        return frame
    names, ascending = compute_order_keys(list(step["order"]))
    by = list(step["by"])
    ordered = compute_sorted(eligible, by + names, [True] * len(by) + ascending)
    keep = "first" if step.get("pick", "first") == "first" else "last"
    chosen = ordered.drop_duplicates(by, keep=keep).index
    frame.loc[chosen, var] = "Y"
    return frame


def derive_imputed_date(frame: pd.DataFrame, step: Mapping, ctx: Any = None) -> pd.DataFrame:
    """An analysis date from an --DTC variable, a partial date imputed to the first or last day of its
    range (flag D/M) and kept within the `not_before` / `not_after` dates that fall in that range
    (admiral's min_dates/max_dates: an AE start in the month of first dose is imputed to the first dose,
    an end in the month of death to the death date); `impute: none` keeps complete dates only."""
    dataset = ctx["dataset"] if isinstance(ctx, Mapping) else "ADSL"
    side = step.get("impute", "first")
    days, flag, lo, hi = compute_range_imputation(frame, step["source"], dataset=dataset, side=side)
    imputed = flag != ""
    for name in step.get("not_before") or []:
        bound = number(frame, name)
        inside = imputed & bound.between(lo, hi) & (bound > days)
        days = days.where(~inside, bound)
    for name in step.get("not_after") or []:
        bound = number(frame, name)
        inside = imputed & bound.between(lo, hi) & (bound < days)
        days = days.where(~inside, bound)
    if side == "none":
        days = days.where(~imputed)
    frame[step["variable"]] = days.to_numpy()
    if step.get("flag"):
        frame[step["flag"]] = np.where(frame[step["variable"]].notna() & imputed, flag, "")
    return frame


def _ratio(a: pd.Series, b: pd.Series) -> pd.Series:
    """a / b, missing where b is 0 or missing."""
    return (a / b.where(b != 0)).astype("float64")


ARITHMETIC: dict[str, Any] = {
    "product": lambda a, b: a * b,
    "sum": lambda a, b: a + b,
    "difference": lambda a, b: a - b,
    "ratio": _ratio,
    "percent": lambda a, b: _ratio(a, b) * 100,
}
"""The closed formulas of two inputs (a, b) a `compute` step or a derived parameter may name."""


def derive_compute(frame: pd.DataFrame, step: Mapping, ctx: Any = None) -> pd.DataFrame:
    """A numeric variable from a closed formula of two numeric variables of the same record (DOSEO =
    EXDOSE x EXDURD); missing when an input is missing."""
    a, b = (number(frame, name) for name in step["inputs"])
    frame[step["variable"]] = ARITHMETIC[step["formula"]](a, b).to_numpy()
    return frame
