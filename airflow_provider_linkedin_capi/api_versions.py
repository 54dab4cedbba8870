"""
The ``LinkedIn-Version`` calendar: what is known about each monthly version, and how sure it is.

A sunset version answers 426 to every request (docs/linkedin-contract.md §1.10), so every task of a
connection that pins it fails on the same day; third-party integrations broke this way again and again.
LinkedIn publishes sunset dates on its migrations page, but only for the versions it lists there, and
changes a version makes to the event schema reach us mostly through other clients' changelogs. So each fact
here carries a label, as in docs/linkedin-contract.md: ``CONFIRMED`` (LinkedIn's own pages), ``THIRD-PARTY``
(other clients' code or changelogs) or ``ESTIMATED`` (worked out here, where nobody published it).

This module is a leaf: the hooks (the sunset warning, the connection test) and the pure ``conversions/``
layer (which identifiers a version accepts) both read it, so it imports nothing of the package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

CONFIRMED = "CONFIRMED"
THIRD_PARTY = "THIRD-PARTY"
ESTIMATED = "ESTIMATED"
_OVERRIDE = "OVERRIDE"  # set by the user, in the connection

# LinkedIn's migrations page and the deprecation banners of its Learn pages (docs/linkedin-contract.md §1.8).
_MIGRATIONS_PAGE = "https://learn.microsoft.com/en-us/linkedin/marketing/integrations/migrations"
_PUBLISHED_SUNSETS: dict[str, date] = {
    "202508": date(2026, 8, 17),
    "202510": date(2026, 10, 15),
    "202511": date(2026, 11, 16),
    "202601": date(2027, 1, 15),
    "202602": date(2027, 2, 15),
    "202603": date(2027, 3, 16),
}
# Reported by api-evangelist's LinkedIn changelog (T4 in docs/linkedin-contract.md §1.9).
_REPORTED_SUNSETS: dict[str, date] = {
    "202504": date(2026, 4, 15),
    "202505": date(2026, 5, 15),
    "202506": date(2026, 6, 15),
    "202507": date(2026, 7, 15),
}
_REPORTED_SUNSETS_SOURCE = "https://github.com/api-evangelist/linkedin (linkedin-changelog.yml)"

# Warn this many days before a version's sunset: enough for a change to reach production.
SUNSET_WARNING_DAYS = 60


@dataclass(frozen=True)
class Sunset:
    """When LinkedIn stops serving a version, with how the date is known."""

    version: str
    on: date
    label: str
    source: str

    def days_left(self, today: date) -> int:
        return (self.on - today).days

    def describe(self, today: date) -> str:
        """``sunset 2027-01-15 (confirmed), in 40 days``, or ``..., 3 days ago`` for a version gone."""
        days = self.days_left(today)
        when = f"in {days} days" if days > 0 else "today" if days == 0 else f"{-days} days ago"
        return f"sunset {self.on.isoformat()} ({self.label.lower()}), {when}"


def sunset_of(version: str) -> Sunset:
    """
    The sunset of a ``YYYYMM`` version (already validated).

    A version LinkedIn has not listed yet is estimated as the 15th of its month one year on: LinkedIn
    supports each version "for a minimum of one year", and every published date falls within three days of
    that.
    """
    if version in _PUBLISHED_SUNSETS:
        return Sunset(version, _PUBLISHED_SUNSETS[version], CONFIRMED, _MIGRATIONS_PAGE)
    if version in _REPORTED_SUNSETS:
        return Sunset(version, _REPORTED_SUNSETS[version], THIRD_PARTY, _REPORTED_SUNSETS_SOURCE)
    estimate = date(int(version[:4]) + 1, int(version[4:6]), 15)
    return Sunset(version, estimate, ESTIMATED, "one year after release, the 15th (LinkedIn's usual day)")


def sunset_is_near(version: str, today: date) -> bool:
    """Whether ``version`` is sunset within :data:`SUNSET_WARNING_DAYS`, or already is."""
    return sunset_of(version).days_left(today) <= SUNSET_WARNING_DAYS


# ----------------------------------------------------------------------------------------------------
# Which ``userIds`` types a version accepts.
#
# LinkedIn documents the identifier types of the current schema, not when each arrived or left, so these
# spans come from other clients' changelogs (docs/linkedin-contract.md §2.1.8-§2.1.13) and are THIRD-PARTY:
# every one can be overridden with the connection extra ``identifier_versions``,
# ``{"ORACLE_MOAT_ID": [null, "202609"]}``: the first version that accepts the type (null: every version)
# and the first that refuses it (null: none yet). Types not listed are accepted by every version.


@dataclass(frozen=True)
class IdentifierSpan:
    """The versions that accept one ``idType``: from ``first`` (inclusive) until ``until`` (exclusive)."""

    id_type: str
    first: str | None
    until: str | None
    label: str = THIRD_PARTY
    source: str = ""

    def accepts(self, version: str) -> bool:
        return (self.first is None or version >= self.first) and (self.until is None or version < self.until)


_API_EVANGELIST = "https://github.com/api-evangelist/linkedin (linkedin-changelog.yml)"
_SHWARE = "https://github.com/ShwareHQ/shware-sdk (packages/analytics/CHANGELOG.md, 8.7.0)"
IDENTIFIER_SPANS: dict[str, IdentifierSpan] = {
    span.id_type: span
    for span in (
        IdentifierSpan("GOOGLE_AID", "202605", None, source=_API_EVANGELIST),
        IdentifierSpan("SHA256_IP_ADDRESS", "202607", None, source=_API_EVANGELIST),
        IdentifierSpan("ORACLE_MOAT_ID", None, "202609", source=_SHWARE),
    )
}

# Recorded for the docs and for later use; the event builder does not act on them. It already sends
# ``userInfo`` only with both names (required from 202607, THIRD-PARTY: PostHog/posthog#85324), and keeps
# sending plain names, which every version takes, rather than the hashed ones 202609 is reported to accept.
HASHED_NAMES_FROM = "202609"
BOTH_NAMES_REQUIRED_FROM = "202607"


def identifier_spans(overrides: Mapping[str, Any] | None = None) -> dict[str, IdentifierSpan]:
    """The spans, with the connection's ``identifier_versions`` overrides (ValueError if malformed)."""
    spans = dict(IDENTIFIER_SPANS)
    for id_type, bounds in (overrides or {}).items():
        if not isinstance(id_type, str) or not id_type.isupper():
            raise ValueError(
                f"identifier_versions: {id_type!r} is not a LinkedIn idType such as ORACLE_MOAT_ID"
            )
        if not isinstance(bounds, list | tuple) or len(bounds) != 2:
            raise ValueError(
                f"identifier_versions[{id_type!r}] must be [first accepting version or null, first refusing "
                f"version or null], got {bounds!r}"
            )
        first, until = (_version_or_none(id_type, bound) for bound in bounds)
        spans[id_type] = IdentifierSpan(
            id_type, first, until, "OVERRIDE", "connection extra identifier_versions"
        )
    return spans


def refused_id_types(version: str, overrides: Mapping[str, Any] | None = None) -> dict[str, IdentifierSpan]:
    """The ``idType`` values ``version`` does not accept, each with the span that says so."""
    return {
        id_type: span for id_type, span in identifier_spans(overrides).items() if not span.accepts(version)
    }


def _version_or_none(id_type: str, value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if len(text) != 6 or not text.isdigit() or not 1 <= int(text[4:]) <= 12:
        raise ValueError(f"identifier_versions[{id_type!r}]: {value!r} is not a YYYYMM version")
    return text
