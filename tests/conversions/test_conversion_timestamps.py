"""conversionHappenedAt: every accepted spelling lands on the same epoch ms; everything else is explained."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from conversion_helpers import NOW, NOW_MS, RECENT, RECENT_MS, build_row, event_of, rejection_of

DAY_MS = 86_400_000


def happened_at(value, **settings_overrides):
    result = build_row(settings_overrides, email="a@example.com", conversionHappenedAt=value)
    return event_of(result)["conversionHappenedAt"]


def code_for(value, **settings_overrides):
    result = build_row(settings_overrides, email="a@example.com", conversionHappenedAt=value)
    assert not isinstance(result, dict), f"{value!r} was accepted"
    return result.code


@pytest.mark.parametrize(
    "value",
    [
        RECENT_MS,
        RECENT_MS // 1000 * 1000,
        RECENT_MS / 1000,
        float(RECENT_MS),
        str(RECENT_MS),
        f" {RECENT_MS // 1000} ",
        f"{RECENT_MS / 1000}",
        Decimal(RECENT_MS),
        np.int64(RECENT_MS),
        np.float64(RECENT_MS / 1000),
        RECENT_MS * 1000,  # microseconds
        RECENT_MS * 1_000_000,  # nanoseconds
        RECENT,
        RECENT.isoformat(),
        RECENT.strftime("%Y-%m-%dT%H:%M:%SZ"),
        RECENT.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(),
        RECENT.replace(tzinfo=None),  # naive = default_timezone (UTC)
        RECENT.replace(tzinfo=None).isoformat(sep=" "),
        pd.Timestamp(RECENT),
        pd.Timestamp(RECENT.replace(tzinfo=None)),
        np.datetime64(RECENT.replace(tzinfo=None), "ms"),
    ],
)
def test_every_spelling_of_the_same_instant_gives_the_same_epoch_ms(value):
    assert happened_at(value) == RECENT_MS


def test_seconds_are_scaled_and_sub_millisecond_floats_rounded():
    assert happened_at(RECENT_MS // 1000) == RECENT_MS // 1000 * 1000
    assert happened_at(RECENT_MS / 1000 + 0.0006) == RECENT_MS + 1


def test_date_only_values_are_midnight_in_the_default_timezone():
    day = (NOW - timedelta(days=2)).date()
    midnight_utc = int(datetime.combine(day, datetime.min.time(), UTC).timestamp() * 1000)
    assert happened_at(day) == midnight_utc
    assert happened_at(day.isoformat()) == midnight_utc
    assert happened_at(day.strftime("%Y%m%d")) == midnight_utc  # ISO basic date, never epoch seconds
    paris = ZoneInfo("Europe/Paris")
    midnight_paris = int(datetime.combine(day, datetime.min.time(), paris).timestamp() * 1000)
    assert happened_at(day, default_timezone="Europe/Paris") == midnight_paris
    assert midnight_paris == midnight_utc - 3_600_000  # CET in November


def test_naive_values_use_the_default_timezone_and_aware_values_keep_their_own():
    naive = datetime(2026, 10, 30, 9, 0)
    new_york = ZoneInfo("America/New_York")
    expected = int(naive.replace(tzinfo=new_york).timestamp() * 1000)
    assert happened_at(naive, default_timezone="America/New_York") == expected
    assert happened_at("2026-10-30T09:00:00", default_timezone="America/New_York") == expected
    assert happened_at(pd.Timestamp(naive), default_timezone="America/New_York") == expected
    assert happened_at(np.datetime64(naive), default_timezone="America/New_York") == expected
    aware = datetime(2026, 10, 30, 9, 0, tzinfo=UTC)
    assert happened_at(aware, default_timezone="America/New_York") == int(aware.timestamp() * 1000)
    assert happened_at("2026-10-30T09:00:00Z", default_timezone="America/New_York") == int(
        aware.timestamp() * 1000
    )


def test_ambiguous_wall_time_at_a_dst_change_takes_the_earlier_offset():
    # 2026-10-25 02:30 happens twice in Paris; fold=0 is the first one (CEST, UTC+2).
    ambiguous = datetime(2026, 10, 25, 2, 30)
    expected = int(datetime(2026, 10, 25, 0, 30, tzinfo=UTC).timestamp() * 1000)
    assert happened_at(ambiguous, default_timezone="Europe/Paris") == expected


def test_epoch_numbers_ignore_the_default_timezone():
    assert happened_at(RECENT_MS, default_timezone="Asia/Tokyo") == RECENT_MS


def test_timestamp_unit_forces_the_unit():
    assert happened_at(RECENT_MS // 1000, timestamp_unit="s") == RECENT_MS // 1000 * 1000
    assert happened_at(RECENT_MS * 1000, timestamp_unit="us") == RECENT_MS
    assert code_for(RECENT_MS, timestamp_unit="s") == "invalid_timestamp"  # ms read as s: year ~58000
    assert code_for(RECENT_MS // 1000, timestamp_unit="ms") == "too_old"  # seconds read as ms: 1970


def test_window_edges_follow_max_age_safety_margin_and_skew():
    earliest = NOW_MS - 90 * DAY_MS + 12 * 3_600_000
    assert happened_at(earliest) == earliest
    assert code_for(earliest - 1) == "too_old"
    assert happened_at(NOW_MS + 300_000) == NOW_MS + 300_000
    assert code_for(NOW_MS + 300_001) == "in_future"
    assert happened_at(NOW_MS - 89 * DAY_MS, event_age_safety_margin_hours=0) == NOW_MS - 89 * DAY_MS
    assert code_for(NOW_MS - 20 * DAY_MS, max_event_age_days=7) == "too_old"
    assert code_for(NOW_MS + 60_000, max_future_skew_seconds=0) == "in_future"


def test_too_old_and_in_future_messages_name_the_times_involved():
    old = build_row(email="a@example.com", conversionHappenedAt="2026-01-01T00:00:00Z")
    message = rejection_of(old, "too_old").message
    assert "2026-01-01T00:00:00.000Z" in message
    assert "90 days" in message
    assert "12 h" in message
    future = rejection_of(
        build_row(email="a@example.com", conversionHappenedAt=NOW + timedelta(days=1)), "in_future"
    )
    assert "2026-11-02T12:00:00.000Z" in future.message


@pytest.mark.parametrize(
    "value", [None, "", "   ", float("nan"), np.float64("nan"), pd.NA, pd.NaT, Decimal("NaN")]
)
def test_null_timestamps_are_missing(value):
    assert code_for(value) == "missing_timestamp"


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        np.bool_(True),
        float("inf"),
        float("-inf"),
        Decimal("Infinity"),
        10**30,
        -(10**30),
        10**400,
        "9" * 5000,
        "1e400",
        "nan",
        "yesterday",
        "2026-13-01",
        "2026-02-30T10:00:00Z",
        "12345678",  # eight digits that are no YYYYMMDD date
        b"\xff\xfe",
        [RECENT_MS],
        {"at": RECENT_MS},
        timedelta(days=1),
        datetime.min.time(),
        object(),
    ],
)
def test_unreadable_timestamps_are_invalid_never_an_exception(value):
    assert code_for(value) == "invalid_timestamp"


def test_extreme_but_real_datetimes_are_too_old_or_in_future():
    assert code_for(datetime(1, 1, 1, tzinfo=UTC)) == "too_old"
    assert code_for(datetime(9999, 12, 31, 23, 59)) == "in_future"
    assert code_for(date(1970, 1, 1)) == "too_old"
    assert code_for(-5) == "too_old"


def test_bytes_holding_an_iso_time_are_read_as_text():
    assert happened_at(RECENT.isoformat().encode()) == RECENT_MS
