"""``conversionHappenedAt``: any reasonable spelling of a time in, LinkedIn's epoch milliseconds out.

LinkedIn wants epoch **milliseconds** and drops events older than 90 days or in the future
(docs/linkedin-contract.md §2.1.3, §2.1.4 and §7.4: ten-digit seconds read as milliseconds land in 1970). CRM
exports hold seconds, milliseconds, ISO strings and database timestamps, often mixed, so this module accepts
them all and refuses, with a reason, anything LinkedIn would refuse.

Accepted values:

- integers, floats, ``Decimal`` and numeric strings: epoch time. With ``timestamp_unit="auto"`` the unit
  follows the magnitude: below 1e11 seconds, below 1e14 milliseconds, below 1e17 microseconds, else
  nanoseconds. The bands cannot overlap for any time LinkedIn accepts (now is ~1.7e9 s, ~1.7e12 ms,
  ~1.7e15 us, ~1.7e18 ns); 1e11 seconds would be the year 5138 and 1e11 ms is 1973. Fractions are
  rounded to the nearest millisecond; integer micro/nanoseconds are floored to the millisecond.
- ISO-8601 strings, anything :meth:`datetime.fromisoformat` reads: ``2026-11-02T10:15:00Z``,
  ``2026-11-02 10:15:00+01:00``, ``2026-11-02`` (midnight), basic ``20261102T101500Z``. An eight-digit
  string is an ISO basic date (``20261102``), never epoch seconds (that would be 1970).
- ``datetime`` (including pandas ``Timestamp``), ``date`` (midnight), numpy ``datetime64``.

Values without a zone are read in ``default_timezone``; at a DST change, ambiguous or skipped wall times
resolve as :mod:`zoneinfo` does with ``fold=0`` (the earlier offset). Booleans, infinities, values
outside the years 1-9999 and strings that are neither numbers nor ISO-8601 (the text ``"NaN"``
included) are ``invalid_timestamp``. NULL in every spelling, a NaN value included (pandas' and the
drivers' missing number), is ``missing_timestamp``, as for every other field.
"""

from __future__ import annotations

import numbers
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from airflow_provider_linkedin_capi.conversions.rejections import RejectionCode, RowRejected
from airflow_provider_linkedin_capi.conversions.values import is_bool, is_null

FIELD = "conversionHappenedAt"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)
#: The datetime range (years 1-9999) in epoch milliseconds; anything outside is not a real time.
MIN_EPOCH_MS = (datetime(1, 1, 1, tzinfo=UTC) - EPOCH) // ONE_MS
MAX_EPOCH_MS = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - EPOCH) // ONE_MS

#: Upper bounds of the "auto" magnitude bands, and how many milliseconds one unit is.
_AUTO_BANDS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))
_MS_PER_UNIT = {"s": 1000, "ms": 1, "us": 1e-3, "ns": 1e-6}
_UNITS_PER_MS = {"us": 1000, "ns": 1_000_000}
#: Zone names whose offset never changes, so one offset serves a whole day of wall times.
_FIXED_UTC_NAMES = frozenset(
    {
        "UTC",
        "Etc/UTC",
        "Etc/UCT",
        "UCT",
        "Etc/Universal",
        "Universal",
        "Etc/Zulu",
        "Zulu",
        "GMT",
        "Etc/GMT",
        "Etc/GMT0",
        "Etc/GMT+0",
        "Etc/GMT-0",
        "GMT0",
        "Etc/Greenwich",
        "Greenwich",
    }
)
#: Distinct dates remembered by the wall-time fast path (a backfill spans ~90 of them).
_MIDNIGHT_MEMO_LIMIT = 4096
#: "HH:" and "MM:SS" of a wall time -> milliseconds; only valid parts are keys (no 24:00, no leap second).
_HOUR_MS = {f"{hour:02d}:": hour * 3_600_000 for hour in range(24)}
_MINUTE_SECOND_MS = {
    f"{minute:02d}:{second:02d}": (minute * 60 + second) * 1000
    for minute in range(60)
    for second in range(60)
}


def format_epoch_ms(epoch_ms: int) -> str:
    """An epoch-millisecond time as ISO-8601 UTC, for messages (times are not identifiers)."""
    return (EPOCH + epoch_ms * ONE_MS).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(value: Any, *, zone: tzinfo = UTC, unit: str = "auto") -> int:
    """A point in time as epoch ms, read by the same rules as ``conversionHappenedAt`` but with no window.

    For the other places a user gives the provider a time (the sensor's ``events_since``), so what a time
    means is decided once. :class:`ValueError` when the value is not a time.
    """
    reader = TimestampReader(
        unit=unit, zone=zone, now=EPOCH, max_age_days=0, safety_margin_hours=0, future_skew_seconds=0
    )
    try:
        return reader._to_epoch_ms(value)
    except RowRejected:
        raise ValueError(
            f"not a point in time (epoch seconds or milliseconds, or ISO-8601): {value!r}"
        ) from None


class TimestampReader:
    """Turns one ``conversionHappenedAt`` value into epoch ms inside the accepted window, or rejects it."""

    def __init__(
        self,
        *,
        unit: str,
        zone: tzinfo,
        now: datetime,
        max_age_days: float,
        safety_margin_hours: float,
        future_skew_seconds: float,
    ) -> None:
        self.unit = unit
        self.zone = zone
        now_ms = (now - EPOCH) // ONE_MS
        #: Oldest accepted time: LinkedIn's lookback, shortened by the safety margin.
        self.earliest_ms = now_ms - int((max_age_days * 24 - safety_margin_hours) * 3_600_000)
        #: Latest accepted time: now plus the tolerated clock skew.
        self.latest_ms = now_ms + int(future_skew_seconds * 1000)
        self._max_age_days = max_age_days
        self._safety_margin_hours = safety_margin_hours
        self._future_skew_seconds = future_skew_seconds
        #: True when the zone's UTC offset never changes, so :meth:`wall_time_ms` may be used.
        self.fixed_offset = _has_fixed_offset(zone)
        self._midnight_ms: dict[str, int] = {}

    def read(self, value: Any) -> int:
        """Epoch ms for ``value``; :class:`RowRejected` when missing, unreadable or out of the window."""
        epoch_ms = self._to_epoch_ms(value)
        if epoch_ms < self.earliest_ms:
            raise RowRejected(
                RejectionCode.TOO_OLD,
                FIELD,
                f"{FIELD} {format_epoch_ms(epoch_ms)} is before {format_epoch_ms(self.earliest_ms)}: "
                f"LinkedIn only accepts the last {self._max_age_days:g} days, less a "
                f"{self._safety_margin_hours:g} h safety margin",
            )
        if epoch_ms > self.latest_ms:
            raise RowRejected(
                RejectionCode.IN_FUTURE,
                FIELD,
                f"{FIELD} {format_epoch_ms(epoch_ms)} is after {format_epoch_ms(self.latest_ms)}: "
                f"future times are refused beyond {self._future_skew_seconds:g} s of clock skew",
            )
        return epoch_ms

    # -- conversion to epoch ms, window not yet applied -------------------------------------------------

    def _to_epoch_ms(self, value: Any) -> int:
        if value.__class__ is int:
            return self._from_integer(value)
        if value.__class__ is str:
            return self._from_text(value)
        if is_null(value):
            raise RowRejected(RejectionCode.MISSING_TIMESTAMP, FIELD, f"{FIELD} is empty")
        if is_bool(value):
            raise _invalid("a boolean is not a time")
        if isinstance(value, datetime):
            return self._from_datetime(value)
        if isinstance(value, date):
            return self._from_datetime(datetime.combine(value, time()))
        if isinstance(value, numbers.Integral):
            return self._from_integer(int(value))
        if isinstance(value, Decimal):
            return self._from_decimal(value)
        if isinstance(value, numbers.Real):
            try:
                number = float(value)
            except OverflowError:  # a huge Fraction: float() raises where Decimal and text give infinity
                raise _out_of_range() from None
            return self._from_float(number)
        if isinstance(value, str):
            return self._from_text(str(value))
        if isinstance(value, (bytes, bytearray, memoryview)):
            try:
                return self._from_text(bytes(value).decode("utf-8"))
            except UnicodeDecodeError:
                raise _invalid("bytes that are not UTF-8 text") from None
        if type(value).__name__ == "datetime64":
            return self._from_datetime64(value)
        raise _invalid(f"a {type(value).__name__} is not a time")

    def _unit_for(self, magnitude: float) -> str:
        if self.unit != "auto":
            return self.unit
        for bound, unit in _AUTO_BANDS:
            if magnitude < bound:
                return unit
        return "ns"

    def _from_integer(self, number: int) -> int:
        unit = self._unit_for(abs(number))
        if unit == "ms":
            epoch_ms = number
        elif unit == "s":
            epoch_ms = number * 1000
        else:
            epoch_ms = number // _UNITS_PER_MS[unit]
        return _in_datetime_range(epoch_ms)

    def _from_float(self, number: float) -> int:
        if number != number or number in (float("inf"), float("-inf")):
            raise _invalid("NaN or infinity is not a time")
        unit = self._unit_for(abs(number))
        scaled = number * _MS_PER_UNIT[unit]
        if not MIN_EPOCH_MS <= scaled <= MAX_EPOCH_MS:
            raise _out_of_range()
        return round(scaled)

    def _from_decimal(self, number: Decimal) -> int:
        if not number.is_finite():
            raise _invalid("NaN or infinity is not a time")
        if number.adjusted() > 30:
            raise _out_of_range()
        if number == number.to_integral_value():
            return self._from_integer(int(number))
        return self._from_float(float(number))

    def _from_text(self, text: str) -> int:
        text = text.strip()
        if len(text) == 19 and self.fixed_offset:
            epoch_ms = self.wall_time_ms(text)
            if epoch_ms is not None:
                return epoch_ms
        if not text:
            raise RowRejected(RejectionCode.MISSING_TIMESTAMP, FIELD, f"{FIELD} is empty")
        if text.isdigit() and text.isascii():
            if len(text) == 8 and self.unit == "auto":
                return self._from_iso(text)
            if len(text) > 30:
                raise _out_of_range()
            return self._from_integer(int(text))
        try:
            parsed = datetime.fromisoformat(text)
        except (ValueError, OverflowError):
            pass
        else:
            return self._from_datetime(parsed)
        try:
            number = float(text)
        except ValueError:
            raise _invalid("text that is neither an epoch number nor ISO-8601") from None
        return self._from_float(number)

    def wall_time_ms(self, text: str) -> int | None:
        """``YYYY-MM-DD HH:MM:SS`` (or with ``T``) without an offset, the way SQL exports write times.

        The hot case of a push, so it costs three slices and three dict lookups: in a zone with a fixed
        offset a date's midnight is one number, worked out once per date by the general path (so both
        agree exactly), and the time of day comes from two tables built at import. The lookups are the
        validation too: only well-formed parts are keys, so any other shape or odd value (``24:00``, a
        full-width digit, a missing separator) gives ``None`` and goes to the general path, which also
        explains what is wrong with it. Only valid when :attr:`fixed_offset` is true; no window check.
        """
        midnight = self._midnight_ms.get(text[:11])
        if midnight is None:
            midnight = self._midnight_of(text[:11])
            if midnight is None:
                return None
        hour = _HOUR_MS.get(text[11:14])
        minute_second = _MINUTE_SECOND_MS.get(text[14:])
        if hour is None or minute_second is None:
            return None
        return midnight + hour + minute_second

    def _midnight_of(self, day: str) -> int | None:
        """Midnight of ``YYYY-MM-DD`` + separator in the zone as epoch ms (remembered); None if malformed."""
        if len(day) != 11 or day[10] not in " T" or day[4] != "-" or day[7] != "-":
            return None
        digits = day[:4] + day[5:7] + day[8:10]
        if not (digits.isascii() and digits.isdigit()):
            return None
        try:
            midnight = self._from_datetime(datetime.fromisoformat(day[:10]))
        except (ValueError, RowRejected):
            return None
        if len(self._midnight_ms) < _MIDNIGHT_MEMO_LIMIT:
            self._midnight_ms[day] = midnight
        return midnight

    def _from_iso(self, text: str) -> int:
        try:
            return self._from_datetime(datetime.fromisoformat(text))
        except (ValueError, OverflowError):
            raise _invalid("an eight-digit value that is not a YYYYMMDD date") from None

    def _from_datetime(self, moment: datetime) -> int:
        try:
            if moment.tzinfo is None or moment.utcoffset() is None:
                moment = moment.replace(tzinfo=self.zone)
            return _in_datetime_range(int((moment - EPOCH) // ONE_MS))
        except (OverflowError, ValueError, TypeError, AttributeError):
            raise _out_of_range() from None

    def _from_datetime64(self, value: Any) -> int:
        try:
            as_python = value.astype("datetime64[us]").item()
        except (ValueError, OverflowError, TypeError):
            raise _out_of_range() from None
        if not isinstance(as_python, datetime):
            raise _out_of_range()
        return self._from_datetime(as_python)


def _has_fixed_offset(zone: tzinfo) -> bool:
    """True for zones whose UTC offset is the same all year (UTC, GMT, ``datetime.timezone`` objects)."""
    if getattr(zone, "key", None) in _FIXED_UTC_NAMES:
        return True
    try:
        return zone.utcoffset(None) is not None
    except Exception:  # a tzinfo that needs a datetime has no fixed offset we can rely on
        return False


def _in_datetime_range(epoch_ms: int) -> int:
    if not MIN_EPOCH_MS <= epoch_ms <= MAX_EPOCH_MS:
        raise _out_of_range()
    return epoch_ms


def _invalid(what: str) -> RowRejected:
    return RowRejected(RejectionCode.INVALID_TIMESTAMP, FIELD, f"{FIELD} is {what}")


def _out_of_range() -> RowRejected:
    return RowRejected(
        RejectionCode.INVALID_TIMESTAMP, FIELD, f"{FIELD} is not a time between the years 1 and 9999"
    )
