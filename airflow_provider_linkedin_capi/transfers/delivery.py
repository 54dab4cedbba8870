"""Send validated batches to LinkedIn (or pretend to, in a dry run) and keep the delivery counts.

A batch waiting for LinkedIn's answer is kept small: its events as the request body
(:class:`~airflow_provider_linkedin_capi.hooks.json_body.EncodedEvents`, about a fifth of their size as
dicts) and the three columns settling reads (:class:`SettleColumns`), so ``max_in_flight`` batches on
their way cost little memory.

Only what LinkedIn accepted counts as sent. Elements LinkedIn refused (the hook has already resolved the
whole-batch 422 by dropping the named elements and resending the rest) become ``rejected_by_linkedin``
rows with LinkedIn's own message, so the rejects file explains them like any local rejection.
"""

from __future__ import annotations

import re
import time
from array import array
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from airflow_provider_linkedin_capi.conversions import Rejection, RejectionCode
from airflow_provider_linkedin_capi.conversions.timestamps import format_epoch_ms
from airflow_provider_linkedin_capi.hooks.json_body import EncodedEvents
from airflow_provider_linkedin_capi.transfers.batch_delivery import deliver_events
from airflow_provider_linkedin_capi.transfers.message_scrub import scrubbed_message, scrubbed_path
from airflow_provider_linkedin_capi.transfers.rejects import RejectionLog, rejection_for_event

if TYPE_CHECKING:
    from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
    from airflow_provider_linkedin_capi.results import DeliveryResult
    from airflow_provider_linkedin_capi.transfers.ledger import DeliveryLedger

# "Index: 3, ERROR :: /conversionValue/amount :: field is required ..." -> "/conversionValue/amount"
_ERROR_PATH = re.compile(r"ERROR\s*::\s*(\S+)\s*::")
_RULE_OF = itemgetter("conversion")


@dataclass(frozen=True, slots=True)
class SettleColumns:
    """What settling a batch reads of each event, taken before the events are encoded for sending.

    ``event_ids`` only with a ledger, which records them; a refused event is read back from the batch.
    """

    happened_at: array[int]
    rules: list[str]
    event_ids: list[str] | None

    @classmethod
    def of(cls, events: Sequence[dict[str, Any]], *, with_event_ids: bool) -> SettleColumns:
        return cls(
            array("q", [event["conversionHappenedAt"] for event in events]),
            list(map(_RULE_OF, events)),
            [event["eventId"] for event in events] if with_event_ids else None,
        )


@dataclass
class PendingBatch:
    """One batch on its way: its events, their columns and query-result rows, and LinkedIn's answer."""

    events: EncodedEvents
    columns: SettleColumns
    rows: Sequence[int]
    result: DeliveryResult | None = None
    error: Exception | None = None


class EventDelivery:
    """Posts batches through the hook; counts events accepted, batches and the event-time span.

    Sending (:meth:`send`) may run on worker threads; preparing and settling (:meth:`prepare`,
    :meth:`settle`) run on the task's own thread, so the counts, the rejects file and the ledger are only
    ever written by one thread.
    """

    def __init__(
        self,
        hook: LinkedInCapiHook | None,
        rejections: RejectionLog,
        *,
        dry_run: bool,
        ledger: DeliveryLedger | None = None,
    ) -> None:
        if hook is None and not dry_run:
            raise ValueError("a LinkedInCapiHook is needed unless dry_run is set")
        self.hook = hook
        self.rejections = rejections
        self.dry_run = dry_run
        self.ledger = ledger
        #: Events left out because the ledger says an earlier run delivered them.
        self.already_delivered = 0
        self.events_sent = 0
        self.batches = 0
        self.first_event_ms: int | None = None
        self.last_event_ms: int | None = None
        #: Events counted as sent, per conversion rule URN (for the asset events and lineage output).
        self.sent_per_rule: Counter[str] = Counter()
        #: Wall-clock time (epoch seconds) at which the last batch was settled.
        self.last_batch_at: float | None = None

    def prepare(self, events: list[dict[str, Any]], rows: Sequence[int]) -> PendingBatch | None:
        """Leave out what the ledger says was delivered; ``None`` when nothing is left to send.

        ``rows[i]`` is the 1-based query-result row that became ``events[i]``.

        A dry run counts the batch here, as if LinkedIn had taken all of it. Runs on the caller's thread,
        which also writes the request body, so the dicts of ``events`` can go as soon as this returns.
        """
        if self.ledger is not None:
            events, rows = self._not_yet_delivered(events, rows)
            if not events:
                return None
        columns = SettleColumns.of(events, with_event_ids=self.ledger is not None)
        if self.dry_run or self.hook is None:
            self._count(columns, events, rows, {}, ())
            return None
        return PendingBatch(EncodedEvents(events), columns, rows)

    def send(self, batch: PendingBatch) -> PendingBatch:
        """POST the batch through the hook and keep LinkedIn's answer or error on it; never raises.

        Safe on a worker thread: it only calls the (thread-safe) hook and touches nothing but ``batch``.
        """
        assert self.hook is not None
        try:
            batch.result = deliver_events(self.hook, batch.events)
        except Exception as error:  # raised again by settle(), on the caller's thread
            batch.error = error
        return batch

    def settle(self, batch: PendingBatch) -> None:
        """Count what LinkedIn took and refused, write the ledger, then raise the batch's error if any.

        When LinkedIn failed part-way through the batch, what it had accepted and refused by then is
        counted (and written to the ledger) before the error goes on, so the task's failure message is
        exact and a re-run skips it. Runs on the caller's thread only.
        """
        if batch.error is None:
            assert batch.result is not None
            self._settle(batch, batch.result.rejected, ())
            return
        partial = getattr(batch.error, "delivered_before_failure", None)
        if partial is not None and (partial.accepted or partial.rejected):
            self._settle(batch, partial.rejected, partial.unsent)
        raise batch.error

    def _not_yet_delivered(
        self, events: list[dict[str, Any]], rows: Sequence[int]
    ) -> tuple[list[dict[str, Any]], Sequence[int]]:
        assert self.ledger is not None
        delivered = self.ledger.delivered(events)
        if not any(delivered):
            return events, rows
        self.already_delivered += sum(delivered)
        keep = [i for i, done in enumerate(delivered) if not done]
        return [events[i] for i in keep], [rows[i] for i in keep]

    def _settle(self, batch: PendingBatch, refused: dict[int, str], unsent: Iterable[int]) -> None:
        """Count what LinkedIn took and refused, and write what it took to the ledger."""
        not_taken = refused.keys() | set(unsent)
        self._count(batch.columns, batch.events, batch.rows, refused, not_taken)
        event_ids = batch.columns.event_ids
        if self.ledger is not None and event_ids is not None:
            self.ledger.record([event_id for i, event_id in enumerate(event_ids) if i not in not_taken])

    def _count(
        self,
        columns: SettleColumns,
        events: Sequence[dict[str, Any]],
        rows: Sequence[int],
        refused: dict[int, str],
        not_taken: Collection[int],
    ) -> None:
        """``not_taken``: the indices LinkedIn refused or never got to; all the others count as sent.

        ``events`` is only read for the refused ones (an encoded batch decodes itself then).
        """
        self.batches += 1
        self.last_batch_at = time.time()
        if refused:
            record = self.rejections.record
            for index, message in sorted(refused.items()):
                record(rows[index], _linkedin_rejection(events[index], message))
        stamps: Sequence[int] = columns.happened_at
        if not_taken:
            taken = [i for i in range(len(stamps)) if i not in not_taken]
            stamps = [stamps[i] for i in taken]
            self.sent_per_rule.update(columns.rules[i] for i in taken)
        else:
            self.sent_per_rule.update(columns.rules)
        if not stamps:
            return
        self.events_sent += len(stamps)
        low, high = min(stamps), max(stamps)
        if self.first_event_ms is None or low < self.first_event_ms:
            self.first_event_ms = low
        if self.last_event_ms is None or high > self.last_event_ms:
            self.last_event_ms = high

    @property
    def first_event_at(self) -> str | None:
        return None if self.first_event_ms is None else format_epoch_ms(self.first_event_ms)

    @property
    def last_event_at(self) -> str | None:
        return None if self.last_event_ms is None else format_epoch_ms(self.last_event_ms)


def _linkedin_rejection(event: dict[str, Any], message: str) -> Rejection:
    """LinkedIn's verdict on one event, with no plaintext value of the row in its message or path."""
    path = _ERROR_PATH.search(message)
    return rejection_for_event(
        event,
        RejectionCode.REJECTED_BY_LINKEDIN,
        scrubbed_path(path.group(1) if path else None, event),
        scrubbed_message(message, event),
    )
