"""Shared test helpers: where the repository and the shared reference data are."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFDATA = REPO.parent / "shared" / "refdata"


def refdata_path(*parts: str) -> Path:
    """A path inside ../shared/refdata, or skip the test with the reason when it is absent."""
    path = REFDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data not available here: {path} (present in CI, absent on a user's machine)")
    return path


@pytest.fixture
def study_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled study (specs/ + mappings/) to break on purpose."""
    target = tmp_path / "study"
    shutil.copytree(REPO / "specs", target / "specs")
    if (REPO / "mappings").is_dir():
        shutil.copytree(REPO / "mappings", target / "mappings")
    return target


# CI runs hypothesis derandomized so that a green run is reproducible; locally it explores freely.
try:
    import os

    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("ci", derandomize=True, deadline=None)
    if os.environ.get("CI"):
        _hypothesis_settings.load_profile("ci")
except ImportError:  # pragma: no cover - hypothesis is in the test extra
    pass
