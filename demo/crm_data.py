"""A small, realistic CRM export in SQLite, for ``make demo`` and the example-DAG tests.

The rows look like what a CRM hands a data engineer: mixed-case emails with stray spaces, ISO strings
next to epoch seconds and epoch milliseconds, a deal value in several currencies, and a share of rows
that LinkedIn must never see (a malformed email, a conversion older than LinkedIn's 90-day wall, a
clock in the future, ``EURO`` as a currency, a lead with only a first name, a row with no identifier at
all). Each row records which of these it is (``demo_kind``), so a test can predict exactly which rows
must arrive and which must be rejected.

Two timestamps on purpose: ``recorded_at`` is when the CRM wrote the row (UTC ISO-8601 text; the DAGs
select on it), ``converted_at`` is when the conversion happened, in whatever form the CRM stored it.
"""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

TABLE = "crm_conversions"

#: Kinds of row that must reach LinkedIn. ``epoch_seconds``/``epoch_millis`` are the unit trap: valid
#: conversions whose time the provider has to read correctly by magnitude.
VALID_KINDS = ("clean", "epoch_seconds", "epoch_millis", "li_fat_id_only")
#: Kinds of row that must be rejected (each has no identifier that could rescue it).
DIRTY_KINDS = (
    "bad_email",
    "too_old",
    "in_future",
    "bad_currency",
    "half_name",
    "no_identifier",
    "bad_country",
)

_FIRST_NAMES = (
    "Amara", "Bjorn", "Chloe", "Dmitri", "Elena", "Farah", "Gustavo", "Hana", "Ines", "Jonas", "Keiko",
    "Liam", "Maya", "Noah", "Olga", "Priya", "Quentin", "Rosa", "Sven", "Tariq", "Uma", "Viktor",
    "Wen", "Ximena", "Yusuf", "Zoe",
)  # fmt: skip
_LAST_NAMES = (
    "Okafor", "Lindqvist", "Martin", "Ivanov", "Rossi", "Haddad", "Silva", "Tanaka", "Moreau", "Becker",
    "Sato", "Murphy", "Cohen", "Schmidt", "Novak", "Sharma", "Dubois", "Garcia", "Nilsson", "Aziz",
    "Patel", "Kowalski", "Li", "Lopez", "Demir", "Walker",
)  # fmt: skip
_COMPANIES = (
    "Northwind Traders", "Contoso Ltd", "Fabrikam", "Tailspin Toys", "Wide World Importers",
    "Adventure Works", "Litware", "Proseware", "Woodgrove Bank", "Blue Yonder Airlines",
)  # fmt: skip
_TITLES = ("Head of Data", "VP Marketing", "Data Engineer", "CFO", "Procurement Lead", "CTO", "Analyst")
_COUNTRIES = ("US", "GB", "DE", "FR", "NL", "SE", "IN", "BR", "JP", "CA")
_CURRENCIES = ("USD", "EUR", "GBP")
_EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
_STAGES = ("qualified_lead", "demo_booked", "closed_won")

_DDL = f"""
CREATE TABLE {TABLE} (
    crm_id        INTEGER PRIMARY KEY,
    recorded_at   TEXT NOT NULL,
    converted_at,
    stage         TEXT,
    email         TEXT,
    li_fat_id     TEXT,
    first_name    TEXT,
    last_name     TEXT,
    company       TEXT,
    job_title     TEXT,
    country       TEXT,
    deal_currency TEXT,
    deal_value    TEXT,
    demo_kind     TEXT NOT NULL
);
CREATE INDEX ix_{TABLE}_recorded_at ON {TABLE} (recorded_at);
"""


@dataclass
class CrmDataSummary:
    """What was written, per UTC day of ``recorded_at`` and per kind, so tests can predict the outcome."""

    path: Path
    rows: int = 0
    kinds_by_day: dict[str, Counter[str]] = field(default_factory=dict)

    def valid_rows(self, day: str | None = None) -> int:
        return sum(self._count(day, kind) for kind in VALID_KINDS)

    def dirty_rows(self, day: str | None = None) -> int:
        return sum(self._count(day, kind) for kind in DIRTY_KINDS)

    def rows_on(self, day: str) -> int:
        return sum(self.kinds_by_day.get(day, Counter()).values())

    def _count(self, day: str | None, kind: str) -> int:
        days = [day] if day is not None else list(self.kinds_by_day)
        return sum(self.kinds_by_day.get(d, Counter())[kind] for d in days)


def iso_utc(moment: datetime) -> str:
    """The one text form ``recorded_at`` uses, so that string comparison in SQLite is time order.

    It is also what ``{{ data_interval_start | ts }}`` renders, and PostgreSQL parses it as a
    ``timestamptz`` literal, which keeps the example DAG's SQL portable.
    """
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def utc_midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def build_crm_db(
    path: str | Path,
    *,
    rows_by_day: Mapping[datetime, int] | None = None,
    dirty_fraction: float = 0.12,
    now: datetime | None = None,
    seed: int = 20261122,
) -> CrmDataSummary:
    """Write a fresh CRM database at ``path`` (replacing any old file) and describe what it holds.

    :param rows_by_day: ``{UTC midnight: number of rows}`` for the days that get rows; default: 2,500 rows
        yesterday.
    :param dirty_fraction: share of each day's rows that must be rejected, spread over ``DIRTY_KINDS``.
    :param now: the clock the "too old" and "in future" rows are measured from (default: now, UTC).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if rows_by_day is None:
        rows_by_day = {utc_midnight(now) - timedelta(days=1): 2500}
    rng = random.Random(seed)
    summary = CrmDataSummary(path=path)
    rows: list[tuple] = []
    crm_id = 100_000
    for day, rows_per_day in sorted(rows_by_day.items()):
        day_key = day.date().isoformat()
        counter: Counter[str] = Counter()
        dirty_count = round(rows_per_day * dirty_fraction)
        kinds = [DIRTY_KINDS[i % len(DIRTY_KINDS)] for i in range(dirty_count)]
        kinds += [_valid_kind(rng) for _ in range(rows_per_day - dirty_count)]
        rng.shuffle(kinds)
        for kind in kinds:
            crm_id += 1
            recorded = day + timedelta(seconds=rng.randrange(0, 86_400))
            rows.append(_row(rng, crm_id, kind, day, recorded, now))
            counter[kind] += 1
        summary.kinds_by_day[day_key] = counter
        summary.rows += len(kinds)
    with sqlite3.connect(path) as db:
        db.executescript(_DDL)
        db.executemany(f"INSERT INTO {TABLE} VALUES ({', '.join('?' * 14)})", rows)
    return summary


def _valid_kind(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.08:
        return "epoch_seconds"
    if roll < 0.16:
        return "epoch_millis"
    if roll < 0.22:
        return "li_fat_id_only"
    return "clean"


def _row(
    rng: random.Random, crm_id: int, kind: str, day: datetime, recorded: datetime, now: datetime
) -> tuple:
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    email = _messy_email(rng, first, last, crm_id)
    li_fat_id = f"{rng.getrandbits(128):032x}" if rng.random() < 0.3 else None
    company, title = rng.choice(_COMPANIES), rng.choice(_TITLES)
    country, currency = rng.choice(_COUNTRIES), rng.choice(_CURRENCIES)
    value = f"{rng.randrange(500, 250_000) / 100:.2f}"
    # The conversion happened a little before the CRM recorded it, but never before the day's start
    # (the DAGs read a day's rows by recorded_at, and the conversion time is what LinkedIn judges).
    converted = max(day, recorded - timedelta(seconds=rng.randrange(0, 600)))
    converted_at: object = converted.isoformat(timespec="milliseconds")

    if kind == "epoch_seconds":
        converted_at = int(converted.timestamp())
    elif kind == "epoch_millis":
        converted_at = int(converted.timestamp() * 1000)
    elif kind == "li_fat_id_only":
        email, first, last, company, title = None, None, None, None, None
        li_fat_id = f"{rng.getrandbits(128):032x}"
    elif kind == "bad_email":
        email = rng.choice(("n/a", f"{first.lower()}@", "unknown at example.com"))
        li_fat_id, first, last = None, None, None
    elif kind == "too_old":
        converted_at = (now - timedelta(days=rng.randrange(100, 400))).isoformat(timespec="seconds")
    elif kind == "in_future":
        converted_at = (now + timedelta(days=rng.randrange(2, 30))).isoformat(timespec="seconds")
    elif kind == "bad_currency":
        currency = rng.choice(("EURO", "US$", "XYZ"))
    elif kind == "half_name":
        email, li_fat_id, last = None, None, None
    elif kind == "no_identifier":
        email, li_fat_id, first, last = None, None, None, None
    elif kind == "bad_country":
        country = rng.choice(("UK", "XX", "Germany"))
    return (
        crm_id,
        iso_utc(recorded),
        converted_at,
        rng.choice(_STAGES),
        email,
        li_fat_id,
        first,
        last,
        company,
        title,
        country,
        currency,
        value,
        kind,
    )


def _messy_email(rng: random.Random, first: str, last: str, crm_id: int) -> str:
    address = f"{first}.{last}{crm_id % 997}@{rng.choice(_EMAIL_DOMAINS)}"
    if rng.random() < 0.3:
        address = address.upper()
    if rng.random() < 0.2:
        address = f"  {address} "
    return address
