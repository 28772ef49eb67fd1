"""Public entry points of the raw-data simulator."""

from __future__ import annotations

import logging
import numbers
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cdiscgen._atomic import staged_files, write_csv_atomic

from ._config import default_study_dir, read_simulation_config, read_study_settings
from ._forms import build_forms
from ._layout import FORM_COLUMNS
from ._plan import Plan, build_plan

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
    out_dir: Path, *, subjects: int = 40, seed: int = 20240101, sites: int = 5, study_dir: Path | None = None
) -> SimulationResult:
    """Simulate the raw EDC/lab export of the study: one CSV per form of docs/raw-data.md in `out_dir`.

    Same seed and options give byte-identical files. Bad input raises ValueError before anything
    is written.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"output path {out} exists and is not a directory")
    plan = _plan(subjects, seed, sites, study_dir)
    forms = build_forms(plan)
    files: dict[str, Path] = {}
    rows: dict[str, int] = {}
    with staged_files(out) as work:  # all forms or none: never a mix of two runs
        for name in FORM_COLUMNS:
            write_csv_atomic(forms[name], work / f"{name}.csv")
            files[name], rows[name] = out / f"{name}.csv", len(forms[name])
    log.info("simulated %d subjects (seed %d, %d sites) into %s: %d rows", plan.screened.shape[0], plan.seed,
             plan.sites, out, sum(rows.values()))  # fmt: skip
    return SimulationResult(out_dir=out, files=files, rows=rows, subjects=int(subjects), seed=int(seed),
                            sites=int(sites))  # fmt: skip
