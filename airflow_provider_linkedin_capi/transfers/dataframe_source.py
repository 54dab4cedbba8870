"""Rows of an in-memory table (a pandas DataFrame or a pyarrow Table) in chunks, as the SQL push reads rows.

The push's hot loop takes plain row tuples in chunks (see :mod:`.pipeline`), so a table becomes exactly
that, and nothing more: never one ``dict`` per row, never a copy of the whole table.

- pandas: ``itertuples(index=False, name=None)`` over the frame, cut into chunks. pandas walks its column
  arrays and boxes one value at a time: ``datetime64`` columns give ``pd.Timestamp`` (tz-aware or not),
  missing values stay pandas' own (``NaN``, ``NaT``, ``pd.NA``, ``None``), which the conversions layer
  reads as NULL.
- pyarrow: one record batch of at most ``chunk_size`` rows at a time; each batch's columns become Python
  lists (``to_pylist``; nulls are ``None``, timestamps ``datetime``) zipped into tuples.

Libraries are recognised by the object's type, so neither pandas nor pyarrow is imported for the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from typing import Any

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
