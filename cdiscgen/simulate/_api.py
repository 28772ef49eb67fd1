"""Public entry points of the raw-data simulator."""

from __future__ import annotations

import contextlib
import logging
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pandas as pd

from cdiscgen._atomic import open_atomic, staged_files
from cdiscgen._csv import write_csv

from ._config import default_study_dir, read_simulation_config, read_study_settings
from ._forms import build_forms, next_accession, record_ids
from ._layout import FORM_COLUMNS
from ._plan import Plan, build_plan, subject_blocks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulationResult:
    """What `simulate_study` wrote: one CSV per form, with its row count."""

    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    subjects: int = 0
    seed: int = 0
    sites: int = 0


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def _plan(subjects: object, seed: object, sites: object, study_dir: Path | None) -> Plan:
    n = _check_int("subjects", subjects, 1)
    k = _check_int("sites", sites, 1)
    sd = _check_int("seed", seed, 0)
    study = read_study_settings(Path(study_dir) if study_dir is not None else default_study_dir())
    return build_plan(study, read_simulation_config(), n, sd, k)


def simulate_courses(
    subjects: int = 40, seed: int = 20240101, sites: int = 5, study_dir: Path | None = None
) -> pd.DataFrame:
    """The latent intended course of every screened subject (the truth behind `simulate_study`).

    One row per subject: SUBJECT, SITE, screen_failure, involved_chain, baseline_dflc,
    evaluability_class, latent_best_response, best_response (as realised by the visit plan),
    resp_c1/resp_c3/resp_c6 (intended landmark responses), pd_day, death_day, new_therapy_day
    (study days, day 1 = first dose), cardiac/renal intent and the days of organ response/progression.
    """
    return _plan(subjects, seed, sites, study_dir).courses.copy()


def simulate_study(
    out_dir: Path,
    *,
    subjects: int = 40,
    seed: int = 20240101,
    sites: int = 5,
    study_dir: Path | None = None,
    block_subjects: int | None = None,
) -> SimulationResult:
    """Simulate the raw EDC/lab export of the study: one CSV per form of docs/raw-data.md in `out_dir`.

    The forms are drawn and written in blocks of `block_subjects` screened subjects (default: the
    simulator's `block_subjects` setting), so memory does not grow with the study; the block size is part
    of the seed (each block after the first draws from streams of its own). Same seed and options give
    byte-identical files. Bad input raises ValueError before anything is written.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"output path {out} exists and is not a directory")
    plan = _plan(subjects, seed, sites, study_dir)
    size = _check_int(
        "block_subjects", plan.cfg["block_subjects"] if block_subjects is None else block_subjects, 1
    )
    files = {name: out / f"{name}.csv" for name in FORM_COLUMNS}
    rows = dict.fromkeys(FORM_COLUMNS, 0)
    with staged_files(out) as work, contextlib.ExitStack() as opened:  # all forms or none
        handles = {
            name: opened.enter_context(open_atomic(work / f"{name}.csv", "wb")) for name in FORM_COLUMNS
        }
        accession = 1  # sample accession numbers run on across blocks, like RECORD_ID
        for block in subject_blocks(plan, size):
            forms = build_forms(block, accession)
            accession = next_accession(forms, accession)
            for name in FORM_COLUMNS:
                _append_block(forms[name], name, handles[name], first=rows[name] + 1, header=block.block == 0)
                rows[name] += len(forms[name])
            del forms
    log.info("simulated %d subjects (seed %d, %d sites) into %s: %d rows", plan.screened.shape[0], plan.seed,
             plan.sites, out, sum(rows.values()))  # fmt: skip
    return SimulationResult(out_dir=out, files=files, rows=rows, subjects=int(subjects), seed=int(seed),
                            sites=int(sites))  # fmt: skip


def _append_block(form: pd.DataFrame, name: str, handle: IO[bytes], *, first: int, header: bool) -> None:
    """A block's records of one form after those of the blocks before it, numbered on from them."""
    if first > 1:
        form["RECORD_ID"] = record_ids(name, first, len(form))
    write_csv(form, handle.write, header=header)
