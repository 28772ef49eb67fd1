from datetime import datetime

import pytest

from cdiscgen._clock import creation_datetime

SETTINGS = {"study": {"creation_datetime": "2026-01-15T09:00:00"}}


def test_study_config_timestamp_without_source_date_epoch():
    assert creation_datetime(SETTINGS, environ={}) == datetime(2026, 1, 15, 9, 0, 0)


def test_source_date_epoch_wins():
    # 1700000000 s after 1970-01-01T00:00:00Z is 2023-11-14T22:13:20Z
    assert creation_datetime(SETTINGS, environ={"SOURCE_DATE_EPOCH": "1700000000"}) == datetime(
        2023, 11, 14, 22, 13, 20
    )


def test_bad_source_date_epoch_is_a_clear_error():
    with pytest.raises(ValueError, match="SOURCE_DATE_EPOCH"):
        creation_datetime(SETTINGS, environ={"SOURCE_DATE_EPOCH": "yesterday"})
