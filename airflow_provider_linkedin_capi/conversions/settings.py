"""What the user decides once per push, checked once, so that a typo fails the task before any row is read."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airflow_provider_linkedin_capi.api_versions import IdentifierSpan, identifier_spans, refused_id_types

#: ``timestamp_unit`` values. "auto" tells numbers apart by magnitude (see :mod:`.timestamps`); the rest
#: force a unit. LinkedIn wants milliseconds; "us" and "ns" exist for warehouses that store those.
TIMESTAMP_UNITS = ("auto", "ms", "s", "us", "ns")
#: The largest ``max_event_age_days`` taken. LinkedIn's own lookback is 90 days (third-party sourced, so
#: the setting exists); a year leaves room for a changed limit while keeping the window's arithmetic
#: (``timedelta``) far from overflowing on a typo such as ``1e306``.
MAX_EVENT_AGE_DAYS_LIMIT = 365


@dataclass(frozen=True)
class ConversionSettings:
    """How source rows become LinkedIn events.

    :param conversion_rule_id: rule for rows without a ``conversion`` value (numeric id or
        ``urn:lla:llaPartnerConversion:N``); a non-empty per-row ``conversion`` column wins.
    :param column_map: source column -> contract name, both matched case-insensitively; use it when the
        query's column names differ from the contract (``{"work_email": "email"}``).
    :param key_columns: source columns that identify a row (e.g. the CRM's opportunity id); when set,
        derived eventIds come from the rule and these values only, so edits to other fields between
        runs do not change the id.
    :param timestamp_unit: "auto" (by magnitude), or force "s", "ms", "us" or "ns" for numeric times.
    :param default_timezone: IANA zone in which naive datetimes and ISO strings without offset are read.
    :param max_event_age_days: LinkedIn's lookback; older events are ``too_old``.
    :param event_age_safety_margin_hours: shrinks the lookback so that an event accepted here cannot
        expire while its batch waits, retries or the push runs for hours (THIRD-PARTY: LinkedIn's exact
        cut-off is not documented, so the margin is configurable).
    :param max_future_skew_seconds: tolerated clock skew for times slightly in the future.
    :param now: the reference time (timezone-aware); ``None`` means the moment the builder is created.
        The window is fixed for a whole push so a long run treats all rows alike.
    :param api_version: the ``LinkedIn-Version`` the events go out with; identifier types that version
        does not accept (``api_versions``) are left out of events, and a row with no other identifier is
        ``unsupported_in_api_version``. ``None``: no version, every type is sent.
    :param identifier_versions: overrides of those THIRD-PARTY spans, as the connection extra of that name.
    :param hash_ip_address: send ``ip_address`` as ``SHA256_IP_ADDRESS`` (hashed here) instead of
        ``PLAINTEXT_IP_ADDRESS``, when ``api_version`` accepts that type.
    """

    conversion_rule_id: str | int | None = None
    column_map: Mapping[str, str] | None = None
    key_columns: Sequence[str] | None = None
    timestamp_unit: str = "auto"
    default_timezone: str = "UTC"
    max_event_age_days: float = 90.0
    event_age_safety_margin_hours: float = 12.0
    max_future_skew_seconds: float = 300.0
    now: datetime | None = None
    api_version: str | None = None
    identifier_versions: Mapping[str, Any] | None = None
    hash_ip_address: bool = False

    def __post_init__(self) -> None:
        if self.timestamp_unit not in TIMESTAMP_UNITS:
            raise ValueError(
                f"timestamp_unit must be one of {', '.join(TIMESTAMP_UNITS)}, got {self.timestamp_unit!r}"
            )
        self.zone()
        for name in ("max_event_age_days", "event_age_safety_margin_hours", "max_future_skew_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
            if value < 0:
                raise ValueError(f"{name} must not be negative, got {value!r}")
        if self.max_event_age_days > MAX_EVENT_AGE_DAYS_LIMIT:
            raise ValueError(
                f"max_event_age_days must be at most {MAX_EVENT_AGE_DAYS_LIMIT}, "
                f"got {self.max_event_age_days!r}"
            )
        if self.max_future_skew_seconds > MAX_EVENT_AGE_DAYS_LIMIT * 86_400:
            raise ValueError(
                f"max_future_skew_seconds must be at most {MAX_EVENT_AGE_DAYS_LIMIT * 86_400} (a year), "
                f"got {self.max_future_skew_seconds!r}"
            )
        if self.event_age_safety_margin_hours / 24 >= self.max_event_age_days:
            raise ValueError(
                "event_age_safety_margin_hours leaves no accepted window: it must be shorter than "
                f"max_event_age_days ({self.event_age_safety_margin_hours} h >= "
                f"{self.max_event_age_days} days)"
            )
        if self.now is not None and (not isinstance(self.now, datetime) or self.now.utcoffset() is None):
            raise ValueError("now must be a timezone-aware datetime (or None for the current time)")
        if isinstance(self.key_columns, str):
            raise ValueError(
                "key_columns must be a list of column names, not a single string: "
                f"write [{self.key_columns!r}]"
            )
        if self.column_map is not None and not isinstance(self.column_map, Mapping):
            raise ValueError("column_map must be a mapping of source column -> contract column")
        if self.api_version is not None and not (len(self.api_version) == 6 and self.api_version.isdigit()):
            raise ValueError(f"api_version must be a YYYYMM month, got {self.api_version!r}")
        if not isinstance(self.hash_ip_address, bool):
            raise ValueError(f"hash_ip_address must be True or False, got {self.hash_ip_address!r}")
        identifier_spans(self.identifier_versions)  # ValueError when malformed

    def refused_id_types(self) -> dict[str, IdentifierSpan]:
        """The ``userIds`` types ``api_version`` does not accept (none without a version)."""
        if self.api_version is None:
            return {}
        return refused_id_types(self.api_version, self.identifier_versions)

    def zone(self) -> ZoneInfo:
        """The ``default_timezone`` as a ZoneInfo; a ValueError naming the setting when it does not exist."""
        try:
            return ZoneInfo(self.default_timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(
                f"default_timezone must be an IANA time zone name such as 'UTC' or 'Europe/Paris', "
                f"got {self.default_timezone!r}"
            ) from None
