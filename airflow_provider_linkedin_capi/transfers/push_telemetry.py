"""What a push tells the platform besides its XCom summary: Airflow metrics and task-state-store progress.

One object per push. The operator hands it the delivery and the rejection log once they exist; the
progress reporter calls :meth:`PushTelemetry.tick` at each progress line; :meth:`PushTelemetry.finish`
runs once, however the push ends, so a push that fails half-way still counts what it delivered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_linkedin_capi import metrics
from airflow_provider_linkedin_capi.transfers.push_state import PushStateStore

if TYPE_CHECKING:
    from airflow_provider_linkedin_capi.transfers.delivery import EventDelivery
    from airflow_provider_linkedin_capi.transfers.rejects import RejectionLog


class PushTelemetry:
    """Counts for the metrics backend and progress for the task state store, for one push."""

    def __init__(self, context: Mapping[str, Any], log: logging.Logger, *, dry_run: bool) -> None:
        self.dry_run = dry_run
        self.state = PushStateStore(context, log)
        self.started = time.monotonic()
        self.delivery: EventDelivery | None = None
        self.rejections: RejectionLog | None = None
        self.rows_read = 0
        self._finished = False

    def begin(self) -> None:
        """Log where a previous attempt of this task instance stopped, if one did."""
        self.state.log_previous_attempt()

    def watch(self, delivery: EventDelivery, rejections: RejectionLog) -> None:
        self.delivery = delivery
        self.rejections = rejections

    def tick(self, rows_read: int, events_sent: int, events_rejected: int) -> None:
        """A progress tick: store the counts so far (a no-op without a task state store)."""
        self.rows_read = rows_read
        self._record(finished=False)

    def finish(self, outcome: str, rows_read: int | None = None) -> None:
        """Emit the push's metrics and store its final counts; only the first call counts."""
        if self._finished:
            return
        self._finished = True
        if rows_read is not None:
            self.rows_read = rows_read
        delivery, rejections = self.delivery, self.rejections
        # A dry run sends nothing; counting its events would double-count them with the real run.
        if not self.dry_run and delivery is not None:
            metrics.count_sent(delivery.events_sent, delivery.batches)
        if not self.dry_run and rejections is not None:
            metrics.count_rejected(rejections.counts)
        metrics.time_push(time.monotonic() - self.started, outcome)
        self._record(finished=outcome == "success")

    def _record(self, *, finished: bool) -> None:
        if not self.state.available:
            return
        delivery, rejections = self.delivery, self.rejections
        self.state.record(
            rows_read=self.rows_read,
            events_sent=delivery.events_sent if delivery is not None else 0,
            events_rejected=rejections.total if rejections is not None else 0,
            batches=delivery.batches if delivery is not None else 0,
            last_batch_at=getattr(delivery, "last_batch_at", None),
            finished=finished,
        )
