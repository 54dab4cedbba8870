"""Where a push's rows come from: a SQL query on any ``DbApiHook``, or a DataFrame or Arrow table.

Each source hands the engine its column names and its rows in chunks of tuples, never the whole result in
memory and never one dict per row (:class:`SqlSource`, :class:`TableSource`).
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Protocol

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException
from airflow.providers.common.sql.hooks.sql import DbApiHook
from airflow.sdk import BaseHook

from airflow_provider_linkedin_capi.push.options import whole_number

# ----------------------------------------------------------------------------------------------------
# Stream a SQL query's rows from any Airflow ``DbApiHook`` without holding the result in memory.
#
# A nightly CRM export can be millions of rows, so rows arrive in chunks of ``fetch_size``. That alone is not
# enough for every driver: some default cursors download the whole result on ``execute``, and ``fetchmany``
# then only slices what is already in memory. So:
#
# - PostgreSQL (psycopg 2 or 3): a *named* cursor keeps the result on the server and fetches it chunk by
# chunk;
# - MySQL/MariaDB through mysqlclient (``MySQLdb``, MySqlHook's default client) or PyMySQL: an unbuffered
#   ``SSCursor``, which reads rows off the socket as they are fetched;
# - every other driver: its plain cursor and ``fetchmany`` (SQLite and mysql-connector-python fetch lazily
#   by default; for others, check that the driver's default cursor does not buffer the whole result).


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


# ----------------------------------------------------------------------------------------------------
# Rows of an in-memory table (a pandas DataFrame or a pyarrow Table) in chunks, as the SQL push reads rows.
#
# The push's hot loop takes plain row tuples in chunks (see :mod:`.pipeline`), so a table becomes exactly
# that, and nothing more: never one ``dict`` per row, never a copy of the whole table.
#
# - pandas: ``itertuples(index=False, name=None)`` over the frame, cut into chunks. pandas walks its column
#   arrays and boxes one value at a time: ``datetime64`` columns give ``pd.Timestamp`` (tz-aware or not),
#   missing values stay pandas' own (``NaN``, ``NaT``, ``pd.NA``, ``None``), which the conversions layer
#   reads as NULL.
# - pyarrow: one record batch of at most ``chunk_size`` rows at a time; each batch's columns become Python
#   lists (``to_pylist``; nulls are ``None``, timestamps ``datetime``) zipped into tuples.
#
# Libraries are recognised by the object's type, so neither pandas nor pyarrow is imported for the other.


#: What ``push_dataframe`` and ``DataFrameToLinkedInCapiOperator`` accept.
SUPPORTED = "a pandas DataFrame or a pyarrow Table"


@dataclass
class TableRows:
    """A table's column names, and its rows as lists of at most ``chunk_size`` tuples."""

    columns: list[str]
    _chunks: Iterator[list[tuple[Any, ...]]]

    def chunks(self) -> Iterator[list[tuple[Any, ...]]]:
        return self._chunks


def _library(table: object) -> str:
    return type(table).__module__.partition(".")[0]


def describe(table: object) -> str:
    """``pandas DataFrame, 1200 rows`` and the like, for log lines and messages (no values)."""
    rows = getattr(table, "num_rows", None)
    if rows is None:
        shape = getattr(table, "shape", None)
        rows = shape[0] if shape else "?"
    return f"{_library(table)} {type(table).__name__}, {rows} rows"


def table_rows(table: object, chunk_size: int) -> TableRows:
    """Column names and chunked row tuples of ``table``; a ``TypeError`` for anything else."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    library, kind = _library(table), type(table).__name__
    if library == "pandas" and kind == "DataFrame":
        return TableRows([str(name) for name in table.columns], _pandas_chunks(table, chunk_size))  # type: ignore[attr-defined]
    if library == "pyarrow" and kind in {"Table", "RecordBatch"}:
        return TableRows([str(name) for name in table.column_names], _arrow_chunks(table, chunk_size))  # type: ignore[attr-defined]
    raise TypeError(f"Expected {SUPPORTED}, got {library}.{kind}")


def _pandas_chunks(frame: Any, chunk_size: int) -> Iterator[list[tuple[Any, ...]]]:
    rows = frame.itertuples(index=False, name=None)
    while chunk := list(islice(rows, chunk_size)):
        yield chunk


def _arrow_chunks(table: Any, chunk_size: int) -> Iterator[list[tuple[Any, ...]]]:
    batches = table.to_batches(max_chunksize=chunk_size) if hasattr(table, "to_batches") else [table]
    for batch in batches:
        for start in range(0, batch.num_rows, chunk_size):  # a RecordBatch is not split by to_batches
            part = batch.slice(start, chunk_size)
            if part.num_rows:
                yield list(zip(*(column.to_pylist() for column in part.columns), strict=True))


@contextmanager
def open_table_rows(table: object, chunk_size: int) -> Iterator[TableRows]:
    """:func:`table_rows` as a context manager, the shape the push opens its row source in."""
    yield table_rows(table, chunk_size)


# ----------------------------------------------------------------------------------------------------
# The sources the engine reads: what each needs to be checked before anything is sent, opened, and named.


class RowStreamLike(Protocol):
    columns: list[str]

    def chunks(self) -> Iterator[Sequence[Any]]: ...


class RowSource(Protocol):
    """Where a push's rows come from."""

    #: Names the source in messages (a connection id, a table's shape; never a value).
    description: str

    def check(self, log: Any) -> None:
        """Fail before anything is read or sent if the source cannot be used."""

    def open(self, batch_size: int) -> AbstractContextManager[RowStreamLike]:
        """Open the rows: their column names and ``chunks()`` of row tuples."""


@dataclass
class SqlSource:
    """A query on any ``DbApiHook`` connection, run once and streamed (see :func:`open_row_stream`).

    :param fetch_size: rows fetched at a time; ``None`` fetches ``batch_size`` at a time.
    """

    sql: str
    sql_conn_id: str
    parameters: SQL_PARAMETERS = None
    hook_params: Mapping[str, Any] | None = None
    fetch_size: int | None = None
    _hook: DbApiHook | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.fetch_size is not None:
            whole_number("fetch_size", self.fetch_size, 1)

    @property
    def description(self) -> str:
        return f"sql_conn_id {self.sql_conn_id!r}"

    def check(self, log: Any) -> None:
        self._hook = get_db_hook(self.sql_conn_id, self.hook_params)

    def open(self, batch_size: int) -> AbstractContextManager[RowStreamLike]:
        hook = self._hook or get_db_hook(self.sql_conn_id, self.hook_params)
        return open_row_stream(hook, self.sql, self.parameters, fetch_size=self.fetch_size or batch_size)


@dataclass
class TableSource:
    """A pandas DataFrame or a pyarrow Table, read in chunks of row tuples (see :func:`table_rows`).

    :param chunk_size: rows handed to the conversion loop at a time; ``None``: ``batch_size``.
    """

    table: Any
    chunk_size: int | None = None

    def __post_init__(self) -> None:
        if self.chunk_size is not None:
            whole_number("chunk_size", self.chunk_size, 1)

    @property
    def description(self) -> str:
        return f"the dataframe ({describe(self.table)})"

    def check(self, log: Any) -> None:
        try:  # checked before anything is sent; the rows themselves are read later, chunk by chunk
            table_rows(self.table, 1)
        except TypeError as error:
            raise AirflowFailException(f"dataframe: {error}") from None
        log.info("Pushing a %s", describe(self.table))

    def open(self, batch_size: int) -> AbstractContextManager[RowStreamLike]:
        return open_table_rows(self.table, self.chunk_size or batch_size)
