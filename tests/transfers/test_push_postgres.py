"""SqlToLinkedInCapiOperator from PostgreSQL (127.0.0.1:5432, db ``test``) to the sandbox over real HTTP."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg2
import pytest

from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook

from .conftest import PG_CONN_ID, PG_CONNECTION
from .crm_rows import rule_urn, valid
from .outcome import assert_delivered_exactly, assert_rejects_file, assert_summary, expected_codes

pytestmark = pytest.mark.postgres


def test_every_valid_row_arrives_once_from_postgres(linkedin, pg_crm, crm_rows, rule_ids, run_push, tmp_path):
    rejects = tmp_path / "pg-rejects.jsonl"

    summary = run_push(
        sql_conn_id=PG_CONN_ID, sql=f"SELECT * FROM {pg_crm} ORDER BY seq", rejects_path=str(rejects)
    )

    codes = expected_codes(crm_rows)
    assert_delivered_exactly(linkedin, valid(crm_rows), rule_ids)
    assert_rejects_file(rejects, crm_rows, codes)
    assert_summary(summary, crm_rows, codes, dry_run=False)


def test_postgres_rows_stream_through_a_named_server_side_cursor(
    linkedin, pg_crm, crm_rows, rule_ids, run_push, postgres_dsn, monkeypatch
):
    """While batches are being delivered, the source session is FETCHing from a named cursor."""
    seen_statements: list[str] = []
    deliver = LinkedInCapiHook.send_conversion_events
    watcher = psycopg2.connect(postgres_dsn)
    watcher.autocommit = True

    def deliver_and_look(self, events):
        with watcher.cursor() as cursor:
            cursor.execute(
                "SELECT query FROM pg_stat_activity WHERE datname = 'test' AND pid <> pg_backend_pid() "
                "AND state = 'idle in transaction'"
            )
            seen_statements.extend(row[0] for row in cursor.fetchall())
        return deliver(self, events)

    monkeypatch.setattr(LinkedInCapiHook, "send_conversion_events", deliver_and_look)
    try:
        summary = run_push(sql_conn_id=PG_CONN_ID, sql=f"SELECT * FROM {pg_crm} ORDER BY seq", batch_size=5)
    finally:
        watcher.close()

    assert summary["events_sent"] == len(valid(crm_rows))
    fetches = [statement for statement in seen_statements if statement.upper().startswith("FETCH")]
    assert fetches, f"no FETCH from a named cursor seen; the source session ran {seen_statements}"
    assert all('"linkedin_capi_' in statement for statement in fetches)
    assert_delivered_exactly(linkedin, valid(crm_rows), rule_ids)


def test_typed_postgres_columns(linkedin, postgres_dsn, rule_ids, run_push, monkeypatch):
    """Native types as psycopg returns them: timestamptz/timestamp, numeric, inet, uuid and text[]."""
    table = f"crm_typed_{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    naive_paris = now.astimezone(ZoneInfo("Europe/Paris")).replace(tzinfo=None)
    rows = [
        (1, now, None, "Ann@Example.com", Decimal("99.999"), "EUR", None, None, ["crm-9", "crm-10"]),
        (2, None, naive_paris, None, Decimal("5"), "usd", "192.0.2.10", str(uuid.UUID(int=7)), None),
        (3, now - timedelta(days=100), None, "old@example.com", None, None, None, None, None),
    ]
    conn = psycopg2.connect(postgres_dsn)
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute(
                f"CREATE TABLE {table} (id integer, happened_tz timestamptz, happened_local timestamp, "
                "email text, amount numeric(12, 3), currencycode text, ip_address inet, li_fat_id uuid, "
                "externalids text[])"
            )
            cursor.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
        monkeypatch.setenv(f"AIRFLOW_CONN_{PG_CONN_ID.upper()}", json.dumps(PG_CONNECTION))
        summary = run_push(
            sql_conn_id=PG_CONN_ID,
            sql=f"SELECT id, COALESCE(happened_tz::text, happened_local::text) AS ignored_text, "
            f"happened_tz, happened_local, email, amount, currencycode, ip_address, li_fat_id, externalids "
            f"FROM {table} WHERE id = ANY(%(ids)s) ORDER BY id",
            parameters={"ids": [1, 2]},
            column_map={"happened_tz": "conversionHappenedAt"},
            key_columns=["id"],
        )
        tz_events = {e["eventId"]: e for e in linkedin.admin.events()}
        summary_local = run_push(
            sql_conn_id=PG_CONN_ID,
            sql=f"SELECT id, happened_local AS conversionhappenedat, ip_address, li_fat_id, amount, "
            f"currencycode FROM {table} WHERE id = 2",
            key_columns=["id"],
            default_timezone="Europe/Paris",
        )
    finally:
        with conn, conn.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        conn.close()

    assert summary["rows_read"] == 2
    assert summary["rejections"] == {"missing_timestamp": 1}  # row 2 has no timestamptz
    (event,) = tz_events.values()
    assert event["conversionHappenedAt"] == int(now.timestamp()) * 1000
    assert event["conversionValue"] == {"currencyCode": "EUR", "amount": "100.00"}
    assert event["user"]["userIds"] == [
        {"idType": "SHA256_EMAIL", "idValue": hashlib.sha256(b"ann@example.com").hexdigest()}
    ]
    assert event["user"]["externalIds"] == ["crm-9"]
    assert event["conversion"] == rule_urn(rule_ids["main"])

    assert summary_local["events_sent"] == 1
    local = next(e for e in linkedin.admin.events() if e["eventId"] not in tz_events)
    assert local["conversionHappenedAt"] == int(now.timestamp()) * 1000
    assert local["conversionValue"] == {"currencyCode": "USD", "amount": "5.00"}
    assert sorted((u["idType"], u["idValue"]) for u in local["user"]["userIds"]) == [
        ("LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", str(uuid.UUID(int=7))),
        ("PLAINTEXT_IP_ADDRESS", "192.0.2.10"),
    ]


@pytest.fixture
def pg_table(postgres_dsn):
    """``make(ddl, rows)``: a uniquely named table in db ``test``, dropped afterwards."""
    conn = psycopg2.connect(postgres_dsn)
    tables: list[str] = []

    def make(ddl: str, rows: list[tuple]) -> str:
        table = f"crm_{uuid.uuid4().hex[:12]}"
        with conn, conn.cursor() as cursor:
            cursor.execute(f"CREATE TABLE {table} ({ddl})")
            placeholders = ", ".join(["%s"] * len(rows[0]))
            cursor.executemany(f"INSERT INTO {table} VALUES ({placeholders})", rows)
        tables.append(table)
        return table

    try:
        yield make
    finally:
        with conn, conn.cursor() as cursor:
            for table in tables:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
        conn.close()


def _recent_rows(count: int) -> list[tuple]:
    happened = (datetime.now(UTC) - timedelta(hours=3)).strftime("%Y-%m-%d %H:%M:%S")
    return [(seq, f"buyer{seq}@example.com", happened, "12.50") for seq in range(1, count + 1)]


def test_a_connection_in_autocommit_mode_still_streams(linkedin, pg_table, rule_ids, run_push, monkeypatch):
    table = pg_table("seq integer, email text, conversionhappenedat text, amount text", _recent_rows(7))
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{PG_CONN_ID.upper()}", json.dumps({**PG_CONNECTION, "extra": {"autocommit": True}})
    )

    summary = run_push(
        sql_conn_id=PG_CONN_ID,
        sql=f"SELECT seq, email, conversionhappenedat FROM {table}",
        key_columns=["seq"],
    )

    assert summary["events_sent"] == 7
    assert len(linkedin.admin.events()) == 7


def test_a_query_failing_mid_stream_says_what_was_already_delivered(
    linkedin, pg_table, rule_ids, run_push, monkeypatch, capfd
):
    # The cast fails only when row 15 is fetched: two batches of five have gone out by then.
    rows = _recent_rows(20)
    rows[14] = (*rows[14][:3], "N/A")
    table = pg_table("seq integer, email text, conversionhappenedat text, amount text", rows)
    monkeypatch.setenv(f"AIRFLOW_CONN_{PG_CONN_ID.upper()}", json.dumps(PG_CONNECTION))

    with pytest.raises(Exception, match="invalid input syntax for type numeric") as failure:
        run_push(
            sql_conn_id=PG_CONN_ID,
            sql=f"SELECT seq, email, conversionhappenedat, amount::numeric AS amount, 'USD' AS currencycode "
            f"FROM {table}",
            key_columns=["seq"],
            batch_size=5,
        )

    stopped = "The push stopped after 10 events were delivered in 2 batches and 10 rows were read"
    assert any(note.startswith(stopped) for note in failure.value.__notes__)
    assert stopped in capfd.readouterr().out
    assert len(linkedin.admin.events()) == 10


BYTEA_ROWS = 2000


@pytest.fixture
def pg_bytea(postgres_dsn, monkeypatch):
    """2,000 rows keyed by a ``bytea`` that is not UTF-8 text, reachable as ``crm_pg``."""
    table = f"crm_bytea_{uuid.uuid4().hex[:12]}"
    happened = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    rows = [
        (psycopg2.Binary(bytes([0x80, n % 256, n // 256])), f"bytea{n}@example.com", happened)
        for n in range(BYTEA_ROWS)
    ]
    conn = psycopg2.connect(postgres_dsn)
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute(
                f"CREATE TABLE {table} (crm_key bytea, email text, conversionhappenedat timestamptz)"
            )
            cursor.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s)", rows)
        monkeypatch.setenv(f"AIRFLOW_CONN_{PG_CONN_ID.upper()}", json.dumps(PG_CONNECTION))
        yield table
    finally:
        with conn, conn.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        conn.close()


def _use_driver(monkeypatch, psycopg3: bool) -> type:
    """Make the postgres provider use psycopg 3 or psycopg2, as it does with or without psycopg 3."""
    from airflow.providers.postgres.hooks import postgres

    monkeypatch.setattr(postgres, "USE_PSYCOPG3", psycopg3)
    (key,) = postgres.PostgresHook(postgres_conn_id=PG_CONN_ID).get_first("SELECT '\\x80'::bytea")
    return type(key)


def test_bytea_keys_reach_linkedin_once_through_either_driver(
    linkedin, pg_bytea, rule_ids, run_push, monkeypatch, tmp_path
):
    """psycopg2 returns bytea as memoryview, psycopg 3 as bytes; the eventIds come from the bytes alone.

    Keyed by ``repr()``, memoryviews at reused addresses had merged distinct rows into "duplicates", and a
    re-run (new addresses) missed the ledger: 2,000 rows in two runs left 3,483 events at LinkedIn.
    """
    ledger = tmp_path / "ledger"
    push = {
        "sql_conn_id": PG_CONN_ID,
        "sql": f"SELECT crm_key, email, conversionhappenedat FROM {pg_bytea}",
        "key_columns": ["crm_key"],
        "ledger_path": str(ledger),
    }
    assert _use_driver(monkeypatch, psycopg3=False) is memoryview
    first = run_push(**push)
    assert (first["events_sent"], first["duplicate_rows"], first["events_rejected"]) == (BYTEA_ROWS, 0, 0)

    assert _use_driver(monkeypatch, psycopg3=True) is bytes
    second = run_push(**push)
    assert (second["events_sent"], second["already_delivered"]) == (0, BYTEA_ROWS)

    stored = linkedin.admin.event_ids(rule_ids["main"])
    assert len(stored) == BYTEA_ROWS
    assert set(stored.values()) == {1}
    assert linkedin.admin.stats()["events_total"] == BYTEA_ROWS
