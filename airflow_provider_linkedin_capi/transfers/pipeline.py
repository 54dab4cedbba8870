"""The hot loop: source rows -> events or rejections -> batches of at most ``batch_size``.

This loop runs once per row of a possibly million-row export, so it is written for speed: locals instead
of attribute lookups, no per-row logging or function layers beyond the builder itself, no copies of rows
or events. Progress is reported once per fetched chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException

if TYPE_CHECKING:
    from airflow_provider_linkedin_capi.conversions import EventBuilder, Rejection
    from airflow_provider_linkedin_capi.transfers.progress import ProgressReporter
    from airflow_provider_linkedin_capi.transfers.rejects import RejectionLog
    from airflow_provider_linkedin_capi.transfers.rule_gate import ConversionRuleGate

BatchSink = Callable[[list[dict[str, Any]], Sequence[int]], None]
Batch = tuple[list[dict[str, Any]], list[int]]


class InvalidRowError(AirflowFailException):
    """An invalid row under ``on_invalid="fail"``; raised before any event was sent, and not worth a retry."""

    def __init__(self, row: int, rejection: Rejection) -> None:
        field = f" in {rejection.field}" if rejection.field else ""
        super().__init__(
            f"Row {row} of the query result is invalid ({rejection.code}{field}: {rejection.message}). "
            "on_invalid='fail' stops at the first invalid row, before anything is sent: nothing was sent."
        )
        self.row = row
        self.rejection = rejection


class RowPipeline:
    """Turns chunks of rows into batches handed to ``sink``; counts rows read as it goes."""

    def __init__(
        self,
        rules: ConversionRuleGate,
        rejections: RejectionLog,
        progress: ProgressReporter,
        *,
        batch_size: int,
        batch_per_rule: bool = False,
        stop_on_invalid: bool = False,
        count_sent: Callable[[], int] = lambda: 0,
    ) -> None:
        self.rules = rules
        self.rejections = rejections
        self.progress = progress
        self.batch_size = batch_size
        self.batch_per_rule = batch_per_rule
        self.stop_on_invalid = stop_on_invalid
        self.count_sent = count_sent
        self.rows_read = 0

    def run(self, builder: EventBuilder, chunks: Iterable[Sequence[Any]], sink: BatchSink) -> None:
        """Build an event from each row of each chunk; hand full batches, then the rest, to ``sink``."""
        build = builder.build
        admitted = self.rules.admitted
        refusal = self.rules.refusal
        reject = self._reject
        size = self.batch_size
        rule_batches = RuleBatches(size) if self.batch_per_rule else None
        events: list[dict[str, Any]] = []
        rows: list[int] = []
        add_event = events.append
        add_row = rows.append
        row_no = self.rows_read
        for chunk in chunks:
            for row in chunk:
                row_no += 1
                event = build(row)
                if event.__class__ is not dict:
                    reject(row_no, event)
                    continue
                if event["conversion"] not in admitted:
                    refused = refusal(event)
                    if refused is not None:
                        reject(row_no, refused)
                        continue
                if rule_batches is not None:
                    full = rule_batches.add(event, row_no)
                    if full is not None:
                        self.rows_read = row_no
                        sink(*full)
                    continue
                add_event(event)
                add_row(row_no)
                if len(events) == size:
                    self.rows_read = row_no
                    sink(events, rows)
                    events, rows = [], []
                    add_event = events.append
                    add_row = rows.append
            self.rows_read = row_no
            self.progress.maybe_report(row_no, self.count_sent(), self.rejections.total)
        if events:
            sink(events, rows)
        if rule_batches is not None:
            for batch in rule_batches.drain():
                sink(*batch)

    def _reject(self, row_no: int, rejection: Rejection) -> None:
        self.rejections.record(row_no, rejection)
        if self.stop_on_invalid:
            self.rows_read = row_no
            raise InvalidRowError(row_no, rejection)


class RuleBatches:
    """One open batch per conversion rule, for ``batch_per_rule=True``: no batch mixes rules.

    Whether LinkedIn takes one batch naming several rules is UNKNOWN
    (docs/linkedin-contract.md §2.1.19), so users can keep them
    apart; the rows of each batch are then not consecutive, and the row numbers travel with the events.
    """

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self._open: dict[str, Batch] = {}

    def add(self, event: dict[str, Any], row_no: int) -> Batch | None:
        """Add one event; the batch of its rule once that batch is full, else ``None``."""
        rule = event["conversion"]
        batch = self._open.get(rule)
        if batch is None:
            batch = self._open[rule] = ([], [])
        batch[0].append(event)
        batch[1].append(row_no)
        if len(batch[0]) < self.batch_size:
            return None
        del self._open[rule]
        return batch

    def drain(self) -> Iterator[Batch]:
        """The partly filled batches, each rule's once; afterwards nothing is open."""
        batches, self._open = self._open, {}
        yield from batches.values()


def batches_per_rule(
    batches: Iterable[tuple[list[dict[str, Any]], Sequence[int]]], batch_size: int
) -> Iterator[Batch]:
    """Regroup batches of mixed rules (a spool read back in row order) into batches of one rule each."""
    rule_batches = RuleBatches(batch_size)
    for events, rows in batches:
        for event, row_no in zip(events, rows, strict=True):
            full = rule_batches.add(event, row_no)
            if full is not None:
                yield full
    yield from rule_batches.drain()
