"""Progress lines for long pushes, so a backfill that runs for an hour shows it is alive and how fast.

The check runs once per fetched chunk, never per row, and logs only counts: no row ever reaches the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping


class ProgressReporter:
    """Logs rows read, sent and rejected plus the rate, at most once every ``interval_seconds``."""

    def __init__(
        self,
        log: logging.Logger,
        interval_seconds: float,
        *,
        verb: str = "sent",
        on_report: Callable[[int, int, int], None] | None = None,
    ) -> None:
        self.log = log
        #: Also told the counts at every progress line (e.g. to keep them in Airflow's task state store).
        self.on_report = on_report
        self.interval_seconds = interval_seconds
        self.verb = verb
        self.started = time.monotonic()
        self._next_report = self.started + interval_seconds

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def maybe_report(self, rows_read: int, events_sent: int, events_rejected: int) -> None:
        now = time.monotonic()
        if now < self._next_report:
            return
        self._next_report = now + self.interval_seconds
        elapsed = now - self.started
        self.log.info(
            "Progress: %d rows read, %d events %s, %d rejected, %.0f rows/s",
            rows_read,
            events_sent,
            self.verb,
            events_rejected,
            rows_read / elapsed if elapsed > 0 else 0.0,
        )
        if self.on_report is not None:
            self.on_report(rows_read, events_sent, events_rejected)

    def report_final(
        self, rows_read: int, events_sent: int, events_rejected: int, rejections: Mapping[str, int]
    ) -> None:
        elapsed = self.elapsed()
        by_code = ", ".join(f"{code}={count}" for code, count in sorted(rejections.items())) or "none"
        self.log.info(
            "Done in %.1f s: %d rows read, %d events %s, %d rejected (%s), %.0f rows/s",
            elapsed,
            rows_read,
            events_sent,
            self.verb,
            events_rejected,
            by_code,
            rows_read / elapsed if elapsed > 0 else 0.0,
        )
