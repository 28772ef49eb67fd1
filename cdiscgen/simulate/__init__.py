"""Deterministic, clinically plausible raw-data simulator of the bundled study (`cdiscgen simulate`).

The raw layout is documented in docs/raw-data.md; rates of the documented dirt and the population
mix live in `defaults.yaml` beside this module.
"""

from ._api import SimulationResult, simulate_courses, simulate_study
from ._config import read_simulation_config
from ._layout import FORM_COLUMNS

__all__ = ["FORM_COLUMNS", "SimulationResult", "read_simulation_config", "simulate_courses", "simulate_study"]
