"""Count every rejected row and, when asked, explain each one in a JSON-lines rejects file.

The file is what a data engineer opens the morning after a sync to see which CRM rows did not reach
LinkedIn and why, so it names the row (its 1-based position in the query result), the eventId, the stable
rejection code, the field and the message. It never holds a raw e-mail, name or IP address: identifiers
appear only as the SHA-256 e-mail hash the rejection already carries. Lines are written as rows are
rejected, so a run with a million bad rows does not hold them in memory.

``rejects_path`` is a local path (parent folders are created) or any ``ObjectStoragePath`` URI
(``s3://``, ``gs://``, ``file://`` ...), so the file can land next to the data it explains.
"""

from __future__ import annotations

from collections import Counter
from types import TracebackType
from typing import IO, Any

import orjson

from airflow_provider_linkedin_capi.conversions import Rejection, event_summary_fields
from airflow_provider_linkedin_capi.transfers.storage import make_folder, storage_path


def _open_for_writing(path: str) -> IO[bytes]:
    target = storage_path(path)
    make_folder(target.parent)
    return target.open("wb")


class RejectionLog:
    """Where every rejected row goes: a count per code, plus a line in the rejects file if there is one."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.counts: Counter[str] = Counter()
        self._file: IO[bytes] | None = None

    def __enter__(self) -> RejectionLog:
        if self.path:
            self._file = _open_for_writing(self.path)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def record(self, row: int, rejection: Rejection) -> None:
        """Count the rejection of the ``row``-th row of the query result (1-based) and write it down."""
        code = str(rejection.code)
        self.counts[code] += 1
        if self._file is not None:
            self._file.write(orjson.dumps(_as_line(row, code, rejection)) + b"\n")


def _as_line(row: int, code: str, rejection: Rejection) -> dict[str, Any]:
    return {
        "row": row,
        "event_id": rejection.event_id,
        "code": code,
        "field": rejection.field,
        "message": rejection.message,
        "sha256_email": rejection.sha256_email,
    }


def rejection_for_event(event: dict[str, Any], code: str, field: str | None, message: str) -> Rejection:
    """A rejection for a row that had already become an event (refused rule, LinkedIn's own verdict)."""
    return Rejection(code, field, message, **event_summary_fields(event))
