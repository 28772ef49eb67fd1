"""Loading of the simulator settings (defaults.yaml) and the study metadata it follows (study.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cdiscgen._yaml import load_plain

_DEFAULTS = Path(__file__).with_name("defaults.yaml")


def default_study_dir() -> Path:
    """The bundled study (in a wheel: cdiscgen/_bundled; in a clone: the repository root)."""
    from cdiscgen import bundled_study_dir

    return bundled_study_dir()


@dataclass(frozen=True)
class Visit:
    code: str
    label: str
    visitnum: float
    day: int
    window: tuple[int, int]
    dosing: bool


@dataclass(frozen=True)
class StudySettings:
    """What the simulator needs from specs/study.yaml."""

    studyid: str
    start_date: np.datetime64
    cutoff: np.datetime64
    cycle_days: int
    cycles: int
    visits: tuple[Visit, ...]
    unscheduled_code: str
    hem_visits: tuple[str, ...]
    organ_visits: tuple[str, ...]
    eq5d_visits: tuple[str, ...]
    mrd_visits: tuple[str, ...]
    ratio_low: float
    ratio_high: float
    landmarks: tuple[tuple[int, int, int, int], ...]  # (cycle, target, low, high)
    cardiac_evaluable: float
    renal_evaluable: float
    dara_dose: float
    poma_dose: float
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    def visit(self, code: str) -> Visit:
        for v in self.visits:
            if v.code == code:
                return v
        raise KeyError(code)


def _codes_for(labels: list[str], visits: tuple[Visit, ...]) -> tuple[str, ...]:
    """Map assessment-schedule labels to visit codes; `FOLLOW-UP` means every follow-up visit."""
    by_label = {v.label: v.code for v in visits}
    codes: list[str] = []
    for label in labels:
        if label == "FOLLOW-UP":
            codes.extend(v.code for v in visits if v.label.startswith("FOLLOW-UP"))
        elif label in by_label:
            codes.append(by_label[label])
        else:
            raise ValueError(f"study.yaml assessments: unknown visit {label!r}")
    return tuple(codes)


def read_study_settings(study_dir: Path) -> StudySettings:
    """Read specs/study.yaml of `study_dir`."""
    path = Path(study_dir) / "specs" / "study.yaml"
    if not path.is_file():
        raise ValueError(f"study folder {study_dir} has no specs/study.yaml")
    with path.open(encoding="utf-8") as fh:
        raw = load_plain(fh)
    visits = tuple(
        Visit(
            code=str(v["code"]),
            label=str(v["visit"]),
            visitnum=float(v["visitnum"]),
            day=int(v["day"]),
            window=(int(v["window"][0]), int(v["window"][1])),
            dosing=bool(v.get("dosing", False)),
        )
        for v in raw["visits"]
    )
    assess = raw["assessments"]
    hem = raw["response"]["hematologic"]
    treatments = {t["name"]: t for t in raw["design"]["treatments"]}
    return StudySettings(
        studyid=str(raw["study"]["studyid"]),
        start_date=np.datetime64(str(raw["study"]["start_date"]), "D"),
        cutoff=np.datetime64(str(raw["cutoff"]["date"]), "D"),
        cycle_days=int(raw["design"]["cycle_days"]),
        cycles=int(raw["design"]["cycles"]),
        visits=visits,
        unscheduled_code=str(raw["unscheduled"]["code"]),
        hem_visits=_codes_for(assess["hematologic_labs"], visits),
        organ_visits=_codes_for(assess["organ_labs"], visits),
        eq5d_visits=_codes_for(assess["eq5d"], visits),
        mrd_visits=_codes_for(assess["mrd"], visits),
        ratio_low=float(hem["ratio_normal"]["low"]),
        ratio_high=float(hem["ratio_normal"]["high"]),
        landmarks=tuple(
            (int(lm["cycle"]), int(lm["target"]), int(lm["window"][0]), int(lm["window"][1]))
            for lm in hem["landmarks"]
        ),
        cardiac_evaluable=float(raw["response"]["cardiac"]["evaluable_baseline"]["value"]),
        renal_evaluable=float(raw["response"]["renal"]["evaluable_baseline"]["value"]),
        dara_dose=float(treatments.get("DARATUMUMAB", {}).get("dose", 1800)),
        poma_dose=float(treatments.get("POMALIDOMIDE", {}).get("dose", 4)),
        raw=raw,
    )


def read_simulation_config(path: Path | None = None) -> dict[str, Any]:
    """The simulator's own settings (population mix, course probabilities, dirt rates)."""
    with Path(path or _DEFAULTS).open(encoding="utf-8") as fh:
        return load_plain(fh)
