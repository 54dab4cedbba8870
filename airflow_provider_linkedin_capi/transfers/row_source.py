"""Stream a SQL query's rows from any Airflow ``DbApiHook`` without holding the result in memory.

A nightly CRM export can be millions of rows, so rows arrive in chunks of ``fetch_size``. That alone is not
enough for every driver: some default cursors download the whole result on ``execute``, and ``fetchmany``
then only slices what is already in memory. So:

- PostgreSQL (psycopg 2 or 3): a *named* cursor keeps the result on the server and fetches it chunk by chunk;
- MySQL/MariaDB through mysqlclient (``MySQLdb``, MySqlHook's default client) or PyMySQL: an unbuffered
  ``SSCursor``, which reads rows off the socket as they are fetched;
- every other driver: its plain cursor and ``fetchmany`` (SQLite and mysql-connector-python fetch lazily
  by default; for others, check that the driver's default cursor does not buffer the whole result).
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException
from airflow.providers.common.sql.hooks.sql import DbApiHook
from airflow.sdk import BaseHook

SQL_PARAMETERS = Mapping[str, Any] | Sequence[Any] | None


def get_db_hook(sql_conn_id: str, hook_params: Mapping[str, Any] | None = None) -> DbApiHook:
    """The ``DbApiHook`` behind ``sql_conn_id``, with SQL logging off unless the caller turns it back on.

    ``DbApiHook`` logs every statement with its parameters at INFO, and both can hold e-mail addresses.
    """
    connection = BaseHook.get_connection(sql_conn_id)
    try:
        hook = connection.get_hook(hook_params={"log_sql": False, **(hook_params or {})})
    except TypeError:
        # Every DbApiHook takes log_sql; a hook that does not is built plainly so the check below names it.
        hook = connection.get_hook(hook_params=dict(hook_params or {}))
    if not isinstance(hook, DbApiHook):
        raise AirflowException(
            f"Connection {sql_conn_id!r} gives a {type(hook).__name__}, which is not a SQL (DbApiHook) hook; "
            "sql_conn_id must name a database connection such as postgres, sqlite, mysql or snowflake."
        )
    return hook


def is_postgres_connection(conn: Any) -> bool:
    """True for psycopg 2 and 3 connections: the drivers whose named cursors stream from the server."""
    module = type(conn).__module__
    return module.startswith(("psycopg2.", "psycopg.")) or module in {"psycopg2", "psycopg"}


def _named_cursor(conn: Any, fetch_size: int) -> Any:
    """A server-side cursor that returns plain tuples whatever ``cursor`` extra the connection sets."""
    name = f"linkedin_capi_{uuid.uuid4().hex}"
    # A named cursor lives in a transaction; a connection with the "autocommit" extra has none. The
    # connection is this stream's own and only reads, so turning autocommit off changes nothing else.
    if getattr(conn, "autocommit", False):
        conn.autocommit = False
    if type(conn).__module__.startswith("psycopg2"):
        import psycopg2.extensions

        cursor = conn.cursor(name=name, cursor_factory=psycopg2.extensions.cursor)
    else:
        from psycopg.rows import tuple_row

        cursor = conn.cursor(name=name, row_factory=tuple_row)
    cursor.itersize = fetch_size
    return cursor


def _mysql_unbuffered_cursor(conn: Any) -> Any | None:
    """An ``SSCursor`` for mysqlclient and PyMySQL connections (both keep it in ``<driver>.cursors``)."""
    driver = type(conn).__module__.partition(".")[0]
    if driver not in ("MySQLdb", "pymysql"):
        return None
    cursors = importlib.import_module(f"{driver}.cursors")
    return conn.cursor(cursors.SSCursor)


def _streaming_cursor(conn: Any, fetch_size: int) -> tuple[Any, bool]:
    """The cursor that streams this driver's results, and whether the result stays on the server."""
    if is_postgres_connection(conn):
        return _named_cursor(conn, fetch_size), True
    unbuffered = _mysql_unbuffered_cursor(conn)
    if unbuffered is not None:
        return unbuffered, True
    return conn.cursor(), False


@dataclass
class RowStream:
    """An executed query: its column names, and its rows in chunks of at most ``fetch_size``."""

    columns: list[str]
    cursor: Any
    fetch_size: int
    server_side: bool
    _first_chunk: list[Any]

    def chunks(self) -> Iterator[list[Any]]:
        chunk = self._first_chunk
        self._first_chunk = []
        fetchmany = self.cursor.fetchmany
        size = self.fetch_size
        while chunk:
            yield chunk
            chunk = fetchmany(size)


@contextmanager
def open_row_stream(
    hook: DbApiHook, sql: str, parameters: SQL_PARAMETERS = None, *, fetch_size: int = 5000
) -> Iterator[RowStream]:
    """Run ``sql`` once and hand back its rows as a stream; the cursor and connection close on exit."""
    if fetch_size < 1:
        raise ValueError(f"fetch_size must be at least 1, got {fetch_size}")
    with closing(hook.get_conn()) as conn:
        cursor, server_side = _streaming_cursor(conn, fetch_size)
        with closing(cursor):
            if parameters is None:
                cursor.execute(sql)
            else:
                cursor.execute(sql, parameters)
            # psycopg2's named cursors only describe the result after the first fetch.
            first_chunk = cursor.fetchmany(fetch_size) if cursor.description or server_side else []
            if not cursor.description:
                raise AirflowException(
                    "The sql statement returned no result set; it must be a query (SELECT ...) whose columns "
                    "follow the conversion column contract."
                )
            columns = [str(column[0]) for column in cursor.description]
            yield RowStream(columns, cursor, fetch_size, server_side, first_chunk)
