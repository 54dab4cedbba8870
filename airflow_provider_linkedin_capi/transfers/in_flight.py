"""Keep up to ``max_in_flight`` batches on their way to LinkedIn while the next ones are read and built.

How long LinkedIn takes to answer a batch is UNKNOWN; a push that waits for each answer before it sends
the next spends its wall time waiting, not working. The window sends batches from a small thread pool and
lets the task's own thread go on reading rows and building events. It does not pace: every request, each
retry too, still takes a slot from the connection's token bucket, which all the threads share, so the
budget per minute holds however many batches are in flight.

What does not change with the number in flight:

- every batch is settled (counted, its rejections written, its accepted eventIds put in the ledger) once,
  on the task's own thread, never on a worker; batches that finished together are settled in the order
  they were submitted, otherwise in the order they finished;
- at most ``limit`` batches are being sent; :meth:`InFlightWindow.submit` blocks while the window is full,
  so no more than ``limit + 1`` batches exist at once (those in flight and the one being handed over);
- after the first failure no new batch starts: the batches in flight finish and are settled, then that
  first failure is raised, so the counts in the task's failure message are exact;
- when the task stops for any other reason (the database, an exception), the batches in flight are
  still waited for and settled, so their accepted eventIds reach the ledger before the task ends;
- :meth:`InFlightWindow.request_stop` (the operator's ``on_kill``, which Airflow calls on SIGTERM) makes
  the next ``submit`` stop the push the same way: nothing new starts, what is in flight is settled.

A window of 1 is the sequential push: one request at a time, on the same code path.
"""

from __future__ import annotations

import logging
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from airflow_provider_linkedin_capi.transfers.stop_on_kill import PushKilledError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

    from airflow_provider_linkedin_capi.transfers.delivery import EventDelivery, PendingBatch

log = logging.getLogger(__name__)


class InFlightWindow:
    """Sends the batches handed to :meth:`submit` on up to ``limit`` threads; a context manager.

    Use ``submit`` as the pipeline's batch sink and call :meth:`finish` after the last batch; leaving the
    ``with`` block on an error waits for and settles the batches in flight without raising their errors
    over the one that is already on its way.
    """

    def __init__(self, delivery: EventDelivery, limit: int) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"the number of batches in flight must be an int >= 1, got {limit!r}")
        self.delivery = delivery
        self.limit = limit
        self._pool = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="linkedin-capi-send")
        # future -> submission number, so that batches finished together settle in submission order
        self._running: dict[Future[PendingBatch], int] = {}
        self._submitted = 0
        self._failure: Exception | None = None
        self._stop_reason: str | None = None
        #: Most batches in flight at once during this push (for the log and the tests).
        self.most_in_flight = 0

    def submit(self, events: list[dict[str, Any]], rows: Sequence[int]) -> None:
        """Start sending one batch, after waiting for a free place; raises the push's first failure."""
        self._settle_finished(block=False)
        while self._failure is None and self._stop_reason is None and len(self._running) >= self.limit:
            self._settle_finished(block=True)
        if self._failure is None and self._stop_reason is not None:
            self._failure = PushKilledError(self._stop_reason)
        if self._failure is not None:
            self._stop()
        batch = self.delivery.prepare(events, rows)
        if batch is None:
            return
        self._submitted += 1
        self._running[self._pool.submit(self.delivery.send, batch)] = self._submitted
        self.most_in_flight = max(self.most_in_flight, len(self._running))

    def request_stop(self, reason: str) -> None:
        """Start no new batch: the next :meth:`submit` settles the batches in flight and raises.

        Safe to call from a signal handler: it only sets a flag.
        """
        self._stop_reason = reason

    def settle_finished(self) -> None:
        """Settle the batches that have finished, without waiting (e.g. before a progress line)."""
        self._settle_finished(block=False)

    def finish(self) -> None:
        """Wait for every batch in flight and settle it; raises the push's first failure, if any."""
        while self._running:
            self._settle_finished(block=True)
        if self._failure is not None:
            self._stop()

    def _stop(self) -> None:
        """The first failure ends the push: let the batches in flight finish, settle them, raise it."""
        failure = self._failure
        assert failure is not None
        while self._running:
            self._settle_finished(block=True)
        raise failure

    def _settle_finished(self, *, block: bool) -> None:
        if not self._running:
            return
        done, _ = wait(self._running, timeout=None if block else 0, return_when=FIRST_COMPLETED)
        for future in sorted(done, key=self._running.__getitem__):
            del self._running[future]
            try:
                self.delivery.settle(future.result())
            except Exception as error:
                if self._failure is None:
                    self._failure = error
                else:
                    log.warning("Another batch in flight failed too: %s", error)

    def __enter__(self) -> InFlightWindow:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc is not None and self._running:
                # Already failing (or being killed): what is in flight still gets counted and recorded.
                log.info("Waiting for %d batch(es) in flight before stopping", len(self._running))
                while self._running:
                    self._settle_finished(block=True)
                if self._failure is not None and self._failure is not exc:
                    log.warning("A batch in flight failed while the push was stopping: %s", self._failure)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
