"""Stopping a push between batches when Airflow kills its task.

A mixin of :class:`~airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi.SqlToLinkedInCapiOperator`.
Airflow's task runner calls ``on_kill`` from its SIGTERM handler and then lets ``execute`` go on; the
push wraps its batch sinks with :meth:`StopOnKill._unless_killed`, so the batch being sent finishes, is
counted and written to the ledger, and the next one is not started.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException


class PushKilledError(AirflowException):
    """The task was killed (``on_kill``) and the push stopped between batches; retries may run it again."""


class StopOnKill:
    """``on_kill`` sets a flag; sinks wrapped by ``_unless_killed`` refuse the next batch once it is set."""

    #: A plain flag (set from a signal handler, read between batches): an Event's lock cannot be copied.
    _kill_requested = False

    def on_kill(self) -> None:
        """Ask the push to stop after the batches in flight (SIGTERM, a timeout, a task marked failed).

        Airflow's task runner calls this from its SIGTERM handler and then lets ``execute`` go on, so the
        push checks the request before each batch, and the in-flight window (which may be waiting for a
        free place) is told too: the batches being sent finish, are counted and written to the ledger,
        and the task then fails saying what was and was not delivered.
        """
        self._kill_requested = True
        window = getattr(self, "_window", None)
        if window is not None:
            window.request_stop("The task was asked to stop (SIGTERM); no new batch was started")

    def _unless_killed(self, sink: Callable[[list[dict[str, Any]], Sequence[int]], None]) -> Any:
        def guarded(events: list[dict[str, Any]], rows: Sequence[int]) -> None:
            if self._kill_requested:
                raise PushKilledError("The task was killed; the push stopped before its next batch")
            sink(events, rows)

        return guarded
