"""Creation timestamps for outputs: never the wall clock, so reruns are byte-identical.

SOURCE_DATE_EPOCH (the reproducible-builds convention, seconds since 1970 UTC) wins when set; otherwise
the study's `study.creation_datetime` from specs/study.yaml.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def creation_datetime(settings: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> datetime:
    """The timestamp written into XPT headers, define.xml, Dataset-JSON and report.json (naive UTC)."""
    env = os.environ if environ is None else environ
    epoch = env.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch:
        try:
            seconds = int(epoch)
        except ValueError:
            raise ValueError(
                f"SOURCE_DATE_EPOCH must be whole seconds since 1970-01-01, got {epoch!r}"
            ) from None
        return datetime.fromtimestamp(seconds, tz=UTC).replace(tzinfo=None)
    return datetime.fromisoformat(str(settings["study"]["creation_datetime"]))
