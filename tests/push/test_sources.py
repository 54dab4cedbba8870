"""Streaming rows out of a DbApiHook: chunking, column names, and PostgreSQL's named cursors."""

from __future__ import annotations

import json
import sqlite3

import psycopg
import psycopg2
import pytest
from airflow.providers.common.compat.sdk import AirflowException
from airflow.providers.sqlite.hooks.sqlite import SqliteHook
from transfers.conftest import PG_CONNECTION

from airflow_provider_linkedin_capi.push.sources import get_db_hook, open_row_stream


class _ConnectionHook:
    """Just enough of a DbApiHook for ``open_row_stream``: ``get_conn`` hands out one driver connection."""

    def __init__(self, connect) -> None:
        self._connect = connect

    def get_conn(self):
        return self._connect()


@pytest.fixture
def numbers_db(tmp_path, monkeypatch):
    path = tmp_path / "numbers.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE numbers (n INTEGER, label TEXT)")
        conn.executemany("INSERT INTO numbers VALUES (?, ?)", [(i, f"n{i}") for i in range(1, 24)])
    conn.close()
    monkeypatch.setenv("AIRFLOW_CONN_NUMBERS", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return path


def test_sqlite_rows_come_in_chunks_of_fetch_size(numbers_db):
    hook = get_db_hook("numbers")

    with open_row_stream(
        hook, "SELECT n, label AS Label FROM numbers WHERE n > ? ORDER BY n", [0], fetch_size=10
    ) as stream:
        assert stream.columns == ["n", "Label"]
        assert not stream.server_side
        chunks = list(stream.chunks())

    assert [len(chunk) for chunk in chunks] == [10, 10, 3]
    assert [row[0] for chunk in chunks for row in chunk] == list(range(1, 24))


def test_sql_logging_is_off_unless_asked_for(numbers_db):
    assert isinstance(get_db_hook("numbers"), SqliteHook)
    assert get_db_hook("numbers").log_sql is False
    assert get_db_hook("numbers", {"log_sql": True}).log_sql is True


def test_an_empty_result_still_has_columns(numbers_db):
    with open_row_stream(get_db_hook("numbers"), "SELECT n FROM numbers WHERE n < 0") as stream:
        assert stream.columns == ["n"]
        assert list(stream.chunks()) == []


def test_a_statement_without_a_result_set_is_refused(numbers_db):
    with (
        pytest.raises(AirflowException, match="no result set"),
        open_row_stream(get_db_hook("numbers"), "UPDATE numbers SET label = 'x' WHERE n < 0"),
    ):
        pass


def test_fetch_size_must_be_positive(numbers_db):
    with (
        pytest.raises(ValueError, match="fetch_size"),
        open_row_stream(get_db_hook("numbers"), "SELECT 1", fetch_size=0),
    ):
        pass


@pytest.mark.postgres
@pytest.mark.parametrize("driver", ["psycopg2", "psycopg"])
def test_postgres_streams_through_a_named_cursor(postgres_dsn, driver):
    connect = (
        (lambda: psycopg2.connect(postgres_dsn))
        if driver == "psycopg2"
        else (lambda: psycopg.connect(postgres_dsn))
    )
    hook = _ConnectionHook(connect)

    with open_row_stream(
        hook,
        "SELECT n, 'x' || n AS label FROM generate_series(1, 25) AS n WHERE n > %(low)s",
        {"low": 0},
        fetch_size=10,
    ) as stream:
        assert stream.server_side
        assert stream.columns == ["n", "label"]
        connection = stream.cursor.connection
        checker = connection.cursor()
        checker.execute("SELECT name FROM pg_cursors")
        open_cursors = [row[0] for row in checker.fetchall()]
        checker.close()
        chunks = list(stream.chunks())

    assert open_cursors == [stream.cursor.name]
    assert stream.cursor.name.startswith("linkedin_capi_")
    assert [len(chunk) for chunk in chunks] == [10, 10, 5]
    assert all(type(row) is tuple for chunk in chunks for row in chunk)
    assert connection.closed


@pytest.mark.postgres
def test_postgres_rows_are_tuples_even_with_a_dict_cursor_extra(postgres_dsn, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_PG_DICTS",
        json.dumps({**PG_CONNECTION, "extra": {"cursor": "dictcursor"}}),
    )
    with open_row_stream(get_db_hook("pg_dicts"), "SELECT 1 AS a, 2 AS b", fetch_size=5) as stream:
        rows = [row for chunk in stream.chunks() for row in chunk]
    assert rows == [(1, 2)]


MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "", "database": "test"}


@pytest.fixture
def mariadb_connect():
    """PyMySQL connections to the machine's MariaDB; skipped where no server listens (it is optional)."""
    pymysql = pytest.importorskip("pymysql")
    try:
        pymysql.connect(**MARIADB, connect_timeout=2).close()
    except pymysql.err.OperationalError as error:
        pytest.skip(f"no MariaDB/MySQL server at 127.0.0.1:3306 ({error})")
    return lambda: pymysql.connect(**MARIADB)


def test_mysql_streams_through_an_unbuffered_cursor(mariadb_connect):
    # mysqlclient (MySqlHook's default client) and PyMySQL buffer the whole result in their default cursor;
    # the SSCursor reads rows off the socket as they are fetched. Both drivers keep it in <driver>.cursors.
    import pymysql.cursors

    hook = _ConnectionHook(mariadb_connect)
    with open_row_stream(
        hook,
        "WITH RECURSIVE s (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 25) "
        "SELECT n, CONCAT('x', n) AS label FROM s WHERE n > %s",
        [0],
        fetch_size=10,
    ) as stream:
        assert type(stream.cursor) is pymysql.cursors.SSCursor
        assert stream.server_side
        assert stream.columns == ["n", "label"]
        chunks = list(stream.chunks())

    assert [len(chunk) for chunk in chunks] == [10, 10, 5]
    assert [row[0] for chunk in chunks for row in chunk] == list(range(1, 26))
