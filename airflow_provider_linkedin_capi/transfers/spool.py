"""A temporary file of validated events, for ``on_invalid="fail"``.

"Fail before anything is sent" needs every row validated before the first POST, but the query must run
only once and memory must not grow with the row count. So the validation pass writes events here as JSON
lines and the send pass reads them back in batches. Under ``on_invalid="fail"`` any invalid row ends the
task, so the spooled events are rows 1..N of the query result in order, and their row numbers need not be
stored.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

import orjson


class EventSpool:
    """Append batches of events; read them back as ``(events, rows)`` batches of ``batch_size``."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="linkedin-capi-spool-")  # noqa: SIM115 - closed in __exit__
        self.count = 0

    def __enter__(self) -> EventSpool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._file.close()

    def write(self, events: list[dict[str, Any]], rows: Sequence[int]) -> None:
        first = self.count + 1
        if rows[0] != first or rows[-1] != first + len(rows) - 1:
            raise ValueError("the spool holds consecutive rows only; an invalid row must stop the run first")
        dumps = orjson.dumps
        self._file.write(b"\n".join([dumps(event) for event in events]) + b"\n")
        self.count += len(events)

    def batches(self, batch_size: int) -> Iterator[tuple[list[dict[str, Any]], range]]:
        self._file.flush()
        self._file.seek(0)
        loads = orjson.loads
        events: list[dict[str, Any]] = []
        first_row = 1
        for line in self._file:
            events.append(loads(line))
            if len(events) == batch_size:
                yield events, range(first_row, first_row + batch_size)
                first_row += batch_size
                events = []
        if events:
            yield events, range(first_row, first_row + len(events))
