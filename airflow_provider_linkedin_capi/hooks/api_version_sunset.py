"""When LinkedIn will stop serving a ``LinkedIn-Version`` month, and a warning before it does.

A sunset version answers 426 to every request (docs/linkedin-contract.md §1.10), so every task of a connection
that pins it fails on the same day with no warning from LinkedIn; third-party integrations broke this way
again and again. LinkedIn supports each monthly version "for a minimum of one year", and
its published sunset dates fall mid-month a year after release (202510 -> 2026-10-15, 202511 -> 2026-11-16;
§1.8, CONFIRMED doc), so the date can be worked out from the version alone and the hook can warn ahead of it.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

# Warn this many days before the expected sunset: enough for a change to reach production.
VERSION_SUNSET_WARNING_DAYS = 60


def expected_sunset(version: str) -> date:
    """The 15th of the version's month, one year on (a ``YYYYMM`` string, already validated)."""
    return date(int(version[:4]) + 1, int(version[4:6]), 15)


def warn_if_version_near_sunset(
    version: str, today: date, log: logging.Logger | Any, conn_id: str | None = None
) -> bool:
    """Log a warning when ``version`` is expected to be sunset within the warning window (or already is)."""
    sunset = expected_sunset(version)
    days_left = (sunset - today).days
    if days_left > VERSION_SUNSET_WARNING_DAYS:
        return False
    log.warning(
        "LinkedIn-Version %s is expected to be sunset around %s (%s); set the 'api_version' extra of "
        "connection %r to a newer YYYYMM month, or upgrade the provider, before LinkedIn answers every "
        "request with HTTP 426.",
        version,
        sunset.isoformat(),
        f"in {days_left} days" if days_left >= 0 else f"{-days_left} days ago",
        conn_id,
    )
    return True
