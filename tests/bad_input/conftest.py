"""Fixtures for the bad-input tests: a small valid CRM table, and a count of events requests."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

SQL_CONN_ID = "bad_input_sqlite"
EVENTS_PATH = "/rest/conversionEvents"


@pytest.fixture
def crm_sqlite(tmp_path, monkeypatch) -> str:
    """A table of 50 valid CRM rows behind the ``bad_input_sqlite`` connection; returns the conn id."""
    path = tmp_path / "crm.sqlite"
    happened = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
    conn = sqlite3.connect(path)
    try:
        conn.execute("CREATE TABLE crm (crm_id INTEGER PRIMARY KEY, email TEXT, conversionHappenedAt TEXT)")
        conn.executemany(
            "INSERT INTO crm VALUES (?, ?, ?)", [(i, f"buyer{i}@example.com", happened) for i in range(50)]
        )
        conn.commit()
    finally:
        conn.close()
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{SQL_CONN_ID.upper()}", json.dumps({"conn_type": "sqlite", "host": str(path)})
    )
    return SQL_CONN_ID


@pytest.fixture
def events_requests(sandbox) -> Callable[[], int]:
    """How many requests reached ``/rest/conversionEvents`` (whatever their answer)."""

    def count() -> int:
        return sandbox.admin.stats()["requests_by_path"].get(EVENTS_PATH, 0)

    return count
