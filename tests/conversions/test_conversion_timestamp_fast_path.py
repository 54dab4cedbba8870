"""The wall-time fast path (``YYYY-MM-DD HH:MM:SS`` in a fixed-offset zone) agrees exactly with the
general ISO path, and leaves every other shape and every odd value to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_linkedin_capi.conversions.rejections import RejectionCode, RowRejected
from airflow_provider_linkedin_capi.conversions.timestamps import EPOCH, ONE_MS, TimestampReader

ZONES = [
    UTC,
    ZoneInfo("UTC"),
    ZoneInfo("Etc/UTC"),
    timezone(timedelta(hours=5, minutes=30)),
    timezone(-timedelta(hours=8)),
]


def _reader(zone) -> TimestampReader:
    return TimestampReader(
        unit="auto",
        zone=zone,
        now=datetime.now(UTC),
        max_age_days=90,
        safety_margin_hours=12,
        future_skew_seconds=300,
    )


def _expected_ms(text: str, zone) -> int:
    return (datetime.fromisoformat(text).replace(tzinfo=zone) - EPOCH) // ONE_MS


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30)),
    zone=st.sampled_from(ZONES),
    separator=st.sampled_from([" ", "T"]),
)
def test_fast_path_equals_the_general_parse(moment, zone, separator):
    text = moment.replace(microsecond=0).isoformat(sep=separator)
    reader = _reader(zone)
    assert reader.fixed_offset
    assert reader.wall_time_ms(text) == _expected_ms(text, zone)
    assert reader._to_epoch_ms(text) == _expected_ms(text, zone)
    assert reader._to_epoch_ms(text) == _expected_ms(text, zone)  # second time from the memo


def test_zones_with_daylight_saving_take_the_general_path():
    berlin = ZoneInfo("Europe/Berlin")
    reader = _reader(berlin)
    assert not reader.fixed_offset
    for text in ("2026-03-29 01:30:00", "2026-03-29 03:30:00", "2026-10-25 02:30:00", "2026-07-01 12:00:00"):
        assert reader._to_epoch_ms(text) == _expected_ms(text, berlin)


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-30 10:00:00",
        "2026-11-01 24:00:00",
        "2026-11-01 10:60:00",
        "2026-13-01 10:00:00",
        "2026-11-01 1a:00:00",
        "2026/11/01 10:00:00",
        "\uff12\uff10\uff12\uff16-11-01 10:00:00",
        "2026-11-01 10:00:6\uff10",
        "2026-11-01 10:00:60",
    ],
)
def test_malformed_wall_times_are_still_rejected(text):
    reader = _reader(UTC)
    assert reader.wall_time_ms(text) is None
    with pytest.raises(RowRejected) as rejected:
        reader._to_epoch_ms(text)
    assert rejected.value.code == RejectionCode.INVALID_TIMESTAMP


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-01 10:00",
        "2026-11-01 10:00:00.5",
        "2026-11-01",
        "2026-11-01 ",
        "2026-11-01_10:00:00",
        "2026-11-01 10-00:00",
        "2026-11-01 10:00-00",
        "2026-11-01 10:00:00:00",
    ],
)
def test_other_lengths_are_left_to_the_general_path(text):
    assert _reader(UTC).wall_time_ms(text) is None
