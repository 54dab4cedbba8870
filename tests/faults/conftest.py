"""Fixtures for the fault tests: a SQLite table of CRM rows with a known set of valid rows, and a
LinkedIn hook with short retry waits so that dozens of injected faults cost seconds, not minutes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

SQL_CONN_ID = "faults_sqlite"
QUERY = "SELECT * FROM crm_conversions ORDER BY crm_id"
# Row i has no identifier at all when i % NO_IDENTIFIER_EVERY == 3, and happened 200 days ago when
# i % TOO_OLD_EVERY == 5 (and it has an identifier): both are rejected before anything is sent.
NO_IDENTIFIER_EVERY = 97
TOO_OLD_EVERY = 89


@dataclass
class CrmTable:
    """A generated table and what LinkedIn should end up holding from it."""

    path: Path
    rows: int
    valid_event_ids: set[str] = field(default_factory=set)
    rejections: dict[str, int] = field(default_factory=dict)

    sql_conn_id: str = SQL_CONN_ID
    query: str = QUERY

    @property
    def valid_rows(self) -> int:
        return self.rows - sum(self.rejections.values())


def _write_table(path: Path, rows: int, *, with_event_id: bool, with_invalid: bool) -> CrmTable:
    now = datetime.now(UTC).replace(microsecond=0)
    table = CrmTable(path, rows)
    records = []
    for i in range(rows):
        event_id = f"evt-{i:07d}"
        email = f"  Person.{i}@Example.COM " if i % 2 else f"person.{i}@example.org"
        first, last = ("Zoë", f"Núñez{i}") if i % 3 else (None, None)
        happened = now - timedelta(minutes=30 + (i * 37) % (20 * 24 * 60))
        code = None
        if with_invalid and i % NO_IDENTIFIER_EVERY == 3:
            email, first, last, code = None, None, None, "no_identifier"
        elif with_invalid and i % TOO_OLD_EVERY == 5:
            happened, code = now - timedelta(days=200), "too_old"
        if code:
            table.rejections[code] = table.rejections.get(code, 0) + 1
        else:
            table.valid_event_ids.add(event_id)
        amount = round(10 + (i % 500) * 1.25, 2) if i % 4 else None
        records.append(
            (
                i,
                event_id if with_event_id else None,
                email,
                first,
                last,
                "Acme" if i % 5 else None,
                "GB" if i % 2 else "US",
                "EUR" if amount is not None else None,
                amount,
                happened.strftime("%Y-%m-%d %H:%M:%S"),
            )
        )
    conn = sqlite3.connect(path)
    try:
        conn.execute(
            "CREATE TABLE crm_conversions (crm_id INTEGER PRIMARY KEY, eventId TEXT, email TEXT, "
            "firstName TEXT, lastName TEXT, companyName TEXT, countryCode TEXT, currencyCode TEXT, "
            "amount REAL, conversionHappenedAt TEXT)"
        )
        conn.executemany("INSERT INTO crm_conversions VALUES (?,?,?,?,?,?,?,?,?,?)", records)
        conn.commit()
    finally:
        conn.close()
    if not with_event_id:
        table.valid_event_ids = set()
    return table


@pytest.fixture
def crm_table(tmp_path, monkeypatch) -> Callable[..., CrmTable]:
    """Factory: ``crm_table(rows, with_event_id=True, with_invalid=True)`` writes the table and points the
    ``faults_sqlite`` connection at it."""

    def make(rows: int, *, with_event_id: bool = True, with_invalid: bool = True) -> CrmTable:
        path = tmp_path / f"crm_{rows}.sqlite"
        table = _write_table(path, rows, with_event_id=with_event_id, with_invalid=with_invalid)
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{SQL_CONN_ID.upper()}", json.dumps({"conn_type": "sqlite", "host": str(path)})
        )
        return table

    return make


@pytest.fixture
def fast_sandbox(sandbox, monkeypatch):
    """The sandbox with pacing out of the way (sandbox and connection): only injected faults slow a push.

    Backoff waits of 0.05 to 0.5 s instead of 1 to 60 s, and 0.05 s instead of 2 s for a just-minted token
    refused as revoked, come from the connection, as a user would set them.
    """
    sandbox.admin.configure(requests_per_minute=100_000)
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT",
        sandbox.connection_json(
            requests_per_minute=100_000,
            max_retries=12,
            retry_min_wait=0.05,
            retry_max_wait=0.5,
            propagation_wait=0.05,
        ),
    )
    return sandbox


def events_by_id(sandbox, rule_id: str, page: int = 20_000) -> dict[str, list[dict]]:
    """Every stored copy of every event of ``rule_id``, grouped by eventId."""
    grouped: dict[str, list[dict]] = {}
    offset = 0
    while True:
        chunk = sandbox.admin.events(rule_id, offset=offset, limit=page)
        for event in chunk:
            grouped.setdefault(event["eventId"], []).append(event)
        if len(chunk) < page:
            return grouped
        offset += page


@pytest.fixture
def stored_events() -> Callable[..., dict[str, list[dict]]]:
    """``stored_events(sandbox, rule_id)``: the sandbox's copies of each event, grouped by eventId."""
    return events_by_id
