"""A push's progress in Airflow's task state store, so that a retry knows where the last attempt stopped.

Airflow 3.3 gives every task instance a small key-value store (``context["task_state_store"]``) that
outlives a try: a retry of the same task instance reads what the failed try wrote. At each progress tick
the push writes its counts there (rows read, events sent and rejected, batches, the time of the last
batch); a retry logs them before it starts. Only counts and times go in: never a row, an id or a path.

Airflow 3.1 and 3.2 have no such store, and a context built by hand (tests, ``operator.execute({})``) may
lack it: then every method here does nothing. A store that fails (an API server that refuses the call) is
given up for the rest of the push with one warning; progress bookkeeping must never fail a push.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

#: The key the push's progress is stored under.
PROGRESS_KEY = "linkedin_capi.push_progress"


def _iso(epoch_seconds: float | None) -> str | None:
    if epoch_seconds is None:
        return None
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).isoformat(timespec="seconds")


class PushStateStore:
    """Reads the previous attempt's progress and writes this attempt's, when the store exists."""

    def __init__(self, context: Mapping[str, Any], log: logging.Logger) -> None:
        self.log = log
        self._store = context.get("task_state_store") if hasattr(context, "get") else None
        ti = context.get("ti") if hasattr(context, "get") else None
        self.try_number = getattr(ti, "try_number", None)

    @property
    def available(self) -> bool:
        return self._store is not None

    def previous_attempt(self) -> dict[str, Any] | None:
        """What an earlier try of this task instance recorded, or ``None``."""
        if self._store is None:
            return None
        try:
            value = self._store.get(PROGRESS_KEY)
        except Exception as error:
            self._give_up(error)
            return None
        return value if isinstance(value, dict) else None

    def log_previous_attempt(self) -> None:
        """On a retry, say in the task log where the previous attempt stopped."""
        previous = self.previous_attempt()
        if not previous or previous.get("try_number") == self.try_number:
            return
        self.log.warning(
            "The previous attempt (try %s) stopped after %s rows read, %s events sent in %s batches and "
            "%s rejected; its last batch went out at %s. This attempt starts from the first row again: "
            "with ledger_path set, events it delivered are left out; without, they are resent with the "
            "same eventIds.",
            previous.get("try_number", "?"),
            previous.get("rows_read", "?"),
            previous.get("events_sent", "?"),
            previous.get("batches", "?"),
            previous.get("events_rejected", "?"),
            previous.get("last_batch_at") or "never",
        )

    def record(
        self,
        *,
        rows_read: int,
        events_sent: int,
        events_rejected: int,
        batches: int,
        last_batch_at: float | None,
        finished: bool = False,
    ) -> None:
        """Overwrite the stored progress with this attempt's counts."""
        if self._store is None:
            return
        value = {
            "try_number": self.try_number,
            "rows_read": rows_read,
            "events_sent": events_sent,
            "events_rejected": events_rejected,
            "batches": batches,
            "last_batch_at": _iso(last_batch_at),
            "updated_at": _iso(time.time()),
            "finished": finished,
        }
        try:
            self._store.set(PROGRESS_KEY, value)
        except Exception as error:
            self._give_up(error)

    def _give_up(self, error: Exception) -> None:
        self.log.warning(
            "The task state store failed (%s: %s); the push's progress is not recorded there this attempt",
            type(error).__name__,
            error,
        )
        self._store = None
