"""The nightly DAG's interval SQL selects the same rows on SQLite (ISO text) and PostgreSQL (timestamptz)."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import timedelta

import pendulum
import pytest

DAG_ID = "linkedin_capi_nightly_crm_sync"


class _WindowOnly:
    """The ``ti`` of the template context, whose only XCom is what the DAG's own sync_window returns."""

    def __init__(self, window: dict) -> None:
        self.window = window

    def xcom_pull(self, task_ids: str) -> dict:
        assert task_ids == "sync_window"
        return self.window


def _render(dag, start, end) -> str:
    window = dag.get_task("sync_window").python_callable(
        data_interval_start=pendulum.instance(start), data_interval_end=pendulum.instance(end)
    )
    template = dag.get_template_env().from_string(dag.get_task("push_conversions").sql)
    return template.render(params={"source_table": "crm_conversions"}, ti=_WindowOnly(window))


@pytest.mark.postgres
def test_interval_query_selects_the_same_rows_on_sqlite_and_postgres(
    load_dag, crm_factory, today, postgres_dsn
):
    import psycopg2

    yesterday = today - timedelta(days=1)
    crm = crm_factory({yesterday - timedelta(days=1): 40, yesterday: 60, today: 30})
    sql = _render(load_dag(DAG_ID), yesterday, today)
    assert f"'{yesterday.isoformat()}'" in sql

    with sqlite3.connect(crm.path) as db:
        sqlite_ids = sorted(row[0] for row in db.execute(sql))
        rows = db.execute(
            "SELECT crm_id, recorded_at, CAST(converted_at AS TEXT), email FROM crm_conversions"
        )
        rows = rows.fetchall()
    assert len(sqlite_ids) == crm.rows_on(yesterday.date().isoformat())

    schema = f"dagtest_{uuid.uuid4().hex[:8]}"
    with psycopg2.connect(postgres_dsn) as pg, pg.cursor() as cur:
        try:
            cur.execute(f"CREATE SCHEMA {schema}")
            cur.execute(f"SET search_path TO {schema}")
            cur.execute(
                "CREATE TABLE crm_conversions (crm_id bigint PRIMARY KEY, recorded_at timestamptz, "
                "converted_at text, email text, li_fat_id text, first_name text, last_name text, "
                "company text, job_title text, country text, deal_currency text, deal_value text)"
            )
            cur.executemany(
                "INSERT INTO crm_conversions (crm_id, recorded_at, converted_at, email) "
                "VALUES (%s, %s, %s, %s)",
                rows,
            )
            cur.execute(sql)
            postgres_ids = sorted(row[0] for row in cur.fetchall())
        finally:
            pg.rollback()
            cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            pg.commit()

    assert postgres_ids == sqlite_ids
