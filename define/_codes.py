"""Codes and short names of the findings define.xml generation raises, for reports."""

from __future__ import annotations

FINDING_NAMES: dict[str, str] = {
    "DEF001": "Variable without data",
    "DEF002": "Dataset without records",
    "DEF003": "Value not in its codelist (left out of define.xml)",
    "DEF004": "Records outside value-level metadata",
    "DEF005": "Value-level entry matches no data",
    "DEF006": "Predecessor origin without a source variable",
}
