"""Fixtures for the push operator: sandbox rules, the dirty CRM table in SQLite and PostgreSQL, and a runner.

The operator runs exactly as a worker runs it (``execute`` with connections from ``AIRFLOW_CONN_*``),
reading a real database and posting over real HTTP to the session sandbox.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
from airflow_provider_linkedin_capi.sandbox.testing import SandboxProcess
from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator

from .crm_rows import COLUMNS, KEY_COLUMNS, CrmRow, build_rows

#: A rule id the sandbox never hands out (it counts up from 14488340).
MISSING_RULE_ID = 999_999_999
# Far above what the tests send, so the client-side pacer never slows them down.
FAST_BUDGET = 1_000_000
PG_CONN_ID = "crm_pg"
# The local PostgreSQL server of the test machine (trust auth), as an Airflow connection.
PG_CONNECTION = {
    "conn_type": "postgres",
    "host": "127.0.0.1",
    "port": 5432,
    "login": "postgres",
    "schema": "test",
}
SQLITE_CONN_ID = "crm"


@pytest.fixture
def linkedin(sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch) -> SandboxProcess:
    """The sandbox, with ``linkedin_capi_default`` pointing at it and no client-side pacing."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT", sandbox.connection_json(requests_per_minute=FAST_BUDGET)
    )
    return sandbox


@pytest.fixture
def rule_ids(linkedin: SandboxProcess) -> dict[str, int]:
    admin = linkedin.admin
    return {
        "main": admin.create_rule(name="CRM purchases", type="PURCHASE")["id"],
        "second": admin.create_rule(name="CRM qualified leads", type="QUALIFIED_LEAD")["id"],
        "insight": admin.create_rule(
            name="Website tag", type="KEY_PAGE_VIEW", conversionMethod="INSIGHT_TAG_URL_MATCH_RULES"
        )["id"],
        "missing": MISSING_RULE_ID,
    }


@pytest.fixture
def crm_rows(rule_ids: dict[str, int]) -> list[CrmRow]:
    return build_rows(rule_ids)


def write_sqlite_table(path: Path, rows: list[CrmRow], table: str = "crm_conversions") -> None:
    """A SQLite table without column types, so every row keeps the Python type it was written with."""
    with sqlite3.connect(path) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} ({', '.join(COLUMNS)})")
        conn.executemany(
            f"INSERT INTO {table} VALUES ({', '.join('?' * len(COLUMNS))})",
            [tuple(_sqlite_value(row, column) for column in COLUMNS) for row in rows],
        )
    conn.close()


def _sqlite_value(row: CrmRow, column: str) -> Any:
    if column == "seq":
        return row.seq
    value = row.values.get(column)
    return json.dumps(value) if isinstance(value, list) else value


@pytest.fixture
def sqlite_crm(tmp_path: Path, crm_rows: list[CrmRow], monkeypatch: pytest.MonkeyPatch) -> Path:
    """``crm_conversions`` in a SQLite file, reachable as connection ``crm``."""
    path = tmp_path / "crm.db"
    write_sqlite_table(path, crm_rows)
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{SQLITE_CONN_ID.upper()}", json.dumps({"conn_type": "sqlite", "host": str(path)})
    )
    return path


def _pg_value(row: CrmRow, column: str) -> Any:
    """A staging table loaded from a CSV export: text everywhere, externalIds as a text[] array."""
    if column == "seq":
        return row.seq
    value = row.values.get(column)
    if column == "externalIds":
        return None if value is None else list(value) if isinstance(value, list) else [value]
    return None if value is None else str(value)


@pytest.fixture
def pg_crm(postgres_dsn: str, crm_rows: list[CrmRow], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The same rows in a uniquely named PostgreSQL table in db ``test``, reachable as ``crm_pg``."""
    import psycopg2

    table = f"crm_conversions_{uuid.uuid4().hex[:12]}"
    types = {"seq": "integer", "externalIds": "text[]"}
    ddl = ", ".join(f"{column.lower()} {types.get(column, 'text')}" for column in COLUMNS)
    conn = psycopg2.connect(postgres_dsn)
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute(f"CREATE TABLE {table} ({ddl})")
            cursor.executemany(
                f"INSERT INTO {table} VALUES ({', '.join(['%s'] * len(COLUMNS))})",
                [tuple(_pg_value(row, column) for column in COLUMNS) for row in crm_rows],
            )
        monkeypatch.setenv(f"AIRFLOW_CONN_{PG_CONN_ID.upper()}", json.dumps(PG_CONNECTION))
        yield table
    finally:
        with conn, conn.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        conn.close()


@pytest.fixture
def run_push(rule_ids: dict[str, int]) -> Callable[..., dict[str, Any]]:
    """``run_push(**operator_kwargs)``: build the operator with the suite defaults and execute it."""

    def run(**kwargs: Any) -> dict[str, Any]:
        return make_operator(rule_ids, **kwargs).execute(context={})

    return run


def make_operator(rule_ids: dict[str, int], **kwargs: Any) -> SqlToLinkedInCapiOperator:
    kwargs.setdefault("task_id", "push_conversions")
    kwargs.setdefault("sql", "SELECT * FROM crm_conversions ORDER BY seq")
    kwargs.setdefault("sql_conn_id", SQLITE_CONN_ID)
    kwargs.setdefault("conversion_rule_id", rule_ids["main"])
    kwargs.setdefault("key_columns", list(KEY_COLUMNS))
    return SqlToLinkedInCapiOperator(**kwargs)


@pytest.fixture
def lookups(monkeypatch) -> list[str]:
    """The rule ids the push reads from LinkedIn, in order, one entry per read."""
    read = LinkedInCapiHook.get_conversion_rule
    asked: list[str] = []

    def counting_read(self, rule_id, account=None):
        asked.append(str(rule_id))
        return read(self, rule_id, account)

    monkeypatch.setattr(LinkedInCapiHook, "get_conversion_rule", counting_read)
    return asked
