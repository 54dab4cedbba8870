"""Delivering batches: the in-flight window, one batch's delivery policy, settling, and scrubbed messages.

A batch goes from the pipeline to :class:`InFlightWindow`, which keeps up to ``max_in_flight`` of them on
their way; :class:`EventDelivery` prepares each (leaving out what the ledger says was delivered), sends it
through :func:`deliver_events` (which resolves LinkedIn's refusals: drop the named events, split, resend)
and settles it on the task's own thread (counts, rejections, ledger). Only what LinkedIn accepted counts as
sent; what it refused becomes ``rejected_by_linkedin`` rows with LinkedIn's message, scrubbed of any value
of the row.
"""

from __future__ import annotations

import logging
import math
import re
import time
from array import array
from collections import Counter, deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_linkedin_capi.constants import MAX_BATCH_SIZE
from airflow_provider_linkedin_capi.conversions import Rejection, RejectionCode
from airflow_provider_linkedin_capi.conversions.builder import IDENTIFIER_KINDS, USER_ID_TYPES
from airflow_provider_linkedin_capi.conversions.timestamps import format_epoch_ms
from airflow_provider_linkedin_capi.exceptions import (
    LinkedInCapiError,
    LinkedInCapiStoppedError,
    LinkedInCapiUnreadableBatchAnswer,
    PushKilledError,
)
from airflow_provider_linkedin_capi.hooks.linkedin_capi import (
    BatchResult,
    EncodedEvents,
    ExchangeTally,
    json_body,
)
from airflow_provider_linkedin_capi.push.files import RejectionLog, rejection_for_event
from airflow_provider_linkedin_capi.push.sizing import (
    Answer,
    MemoryHeadroom,
    WindowSizer,
    latency_summary,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

    from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
    from airflow_provider_linkedin_capi.push.files import DeliveryLedger

# ----------------------------------------------------------------------------------------------------
# Delivering events in BATCH_CREATE requests, and reading LinkedIn's answers to them, with bounds.
#
# One bad element makes LinkedIn refuse a whole batch. When the refusal names the elements, they are
# dropped and the rest is resent; when it names none, the batch is split in halves, breadth first, until the
# culprits are isolated. Three things keep that bounded against a LinkedIn (or a proxy) that misbehaves:
#
# - **A refusal that is not about an element** (a bad header, a disabled app, a proxy's 400) answers every
#   piece alike. When every piece two splits down (the four quarters; both halves when they cannot be split)
#   is refused with the batch's own message, the refusal is taken as request-level: the delivery stops and
#   fails with LinkedIn's status and message, instead of splitting down to single events (2N-1 requests).
#   The events of those pieces count as not sent, not as refused.
# - **Refusals that name elements one at a time** are given at most ``2*ceil(log2(n)) + 4`` rounds per batch
#   of ``n``; past that, the delivery fails, keeping what was accepted and refused so far.
# - **A 200 that cannot be read** is an error that counts only what is certain (see
#   :mod:`~airflow_provider_linkedin_capi.hooks._answers`); the rest counts as not sent.
#
# Elements that a 200 answers with their own 429 or 5xx (whether LinkedIn does that is UNKNOWN) are resent
# after the hook's backoff, at most ``max_retries`` times. This policy belongs to the transfer, beside the
# code that settles partial results; the hook only sends one batch
# (:meth:`~airflow_provider_linkedin_capi.hooks.linkedin_capi.LinkedInCapiHook.send_conversion_events`).


#: Splits after which a refusal every piece shares is taken as one about the request, not an element.
REQUEST_LEVEL_DEPTH = 2
#: Levels of splits of a batch of which LinkedIn took nothing, every piece of every level refused without
#: naming an element, before the refusal is taken as one about the request whatever its messages say: a
#: proxy's or WAF's 400 quotes a new request reference each time, and splitting it down to single events
#: cost 2N-1 requests. Events that are bad one by one leave some clean piece at a level this deep (unless
#: 2**5 of them are spread over every piece), and LinkedIn takes it.
MAX_UNNAMED_SPLITS = 5


class BatchSender(Protocol):
    """What the delivery needs of a hook: one BATCH_CREATE, the retry budget and backoff, and a log."""

    max_retries: int
    log: Any

    def send_conversion_events(self, events: Sequence[Mapping[str, Any]]) -> BatchResult: ...

    def backoff_wait(self, retry: int) -> float: ...

    def pause(self, seconds: float) -> None: ...


@dataclass
class _Piece:
    positions: list[int]
    batch: int
    #: The split family the piece belongs to, and how many splits below the refused piece that started it.
    family: int | None = None
    depth: int = 0
    #: How many splits below the batch as it was first sent.
    level: int = 0


@dataclass
class _Family:
    """The pieces split from one batch refused without naming an element, counted per depth."""

    status: int
    message: str
    code: str | None = None
    created: dict[int, int] = field(default_factory=dict)
    refused_alike: dict[int, int] = field(default_factory=dict)
    unsplittable: dict[int, bool] = field(default_factory=dict)
    #: Single events refused alike; taken back from the rejected when the refusal proves request-level.
    singles: list[int] = field(default_factory=list)


class _Delivery:
    def __init__(self, hook: BatchSender, events: Sequence[Mapping[str, Any]]) -> None:
        self.hook = hook
        self.events = events
        self.accepted = 0
        self.requests = 0
        self.splits = 0
        self.element_rounds = 0
        self.rejected: dict[int, str] = {}
        self.families: list[_Family] = []
        self.named_rounds: dict[int, int] = {}
        self.pending: deque[_Piece] = deque(
            _Piece(list(range(start, min(start + MAX_BATCH_SIZE, len(events)))), batch=start)
            for start in range(0, len(events), MAX_BATCH_SIZE)
        )
        #: Batches (by their first position) of which LinkedIn has taken at least one event.
        self.taken_batches: set[int] = set()
        #: (batch, level) -> pieces made at that level, and of those, pieces refused without a named element.
        self.level_pieces: Counter[tuple[int, int]] = Counter((piece.batch, 0) for piece in self.pending)
        self.level_unnamed: Counter[tuple[int, int]] = Counter()

    def so_far(self, not_sent: Sequence[int]) -> DeliveryResult:
        unsent = sorted({*not_sent, *(p for later in self.pending for p in later.positions)})
        unsent = [p for p in unsent if p not in self.rejected]
        rejected = dict(sorted(self.rejected.items()))
        return DeliveryResult(self.accepted, rejected, self.requests, tuple(unsent))

    def fail(self, error: LinkedInCapiError, not_sent: Sequence[int]) -> LinkedInCapiError:
        error.delivered_before_failure = self.so_far(not_sent)
        return error

    def run(self) -> DeliveryResult:
        while self.pending:
            piece = self.pending.popleft()
            if piece.positions:
                self.send(piece)
        if self.splits:
            self.hook.log.info(
                "Batches rejected without naming elements: %d split(s) isolated %d rejected event(s)",
                self.splits,
                len(self.rejected),
            )
        return DeliveryResult(self.accepted, dict(sorted(self.rejected.items())), self.requests)

    def send(self, piece: _Piece) -> None:
        positions = piece.positions
        whole = len(positions) == len(self.events)  # the first attempt of a batch: no copy
        try:
            result = self.hook.send_conversion_events(
                self.events if whole else [self.events[i] for i in positions]
            )
        except LinkedInCapiUnreadableBatchAnswer as error:
            self.requests += 1
            self.accepted += len(error.taken)
            for index, text in error.refused.items():
                self.rejected[positions[index]] = text
            certain = set(error.taken) | error.refused.keys()
            raise self.fail(error, [p for i, p in enumerate(positions) if i not in certain]) from None
        except LinkedInCapiError as error:
            raise self.fail(error, positions) from None
        except Exception as error:
            # Not LinkedIn's answer (an event orjson cannot write, a bug): what earlier pieces of this
            # batch delivered must still be counted and reach the ledger, or a re-run would resend it.
            error.delivered_before_failure = self.so_far(positions)  # type: ignore[attr-defined]
            raise
        self.requests += 1
        self.accepted += result.accepted
        if result.accepted or result.ok:
            self.taken_batches.add(piece.batch)
        if result.ok:
            return
        if result.errors:
            self.named(piece, result)
        if result.retryable:
            self.resend_retryable(piece, result)
        if not (result.errors or result.retryable):
            self.unnamed(piece, result)

    def named(self, piece: _Piece, result: BatchResult) -> None:
        positions = piece.positions
        for index, text in result.errors.items():
            self.rejected[positions[index]] = text
        if 200 <= result.status < 300:
            return
        rest = [p for i, p in enumerate(positions) if i not in result.errors]
        rounds = self.named_rounds[piece.batch] = self.named_rounds.get(piece.batch, 0) + 1
        batch_size = min(MAX_BATCH_SIZE, len(self.events) - piece.batch)
        allowed = 2 * math.ceil(math.log2(max(batch_size, 2))) + 4
        if rounds > allowed and rest:
            raise self.fail(
                LinkedInCapiError(
                    f"LinkedIn refused a batch of {batch_size} event(s) {rounds} times, naming only "
                    f"{len(result.errors)} element(s) each time (last: HTTP {result.status}); delivery "
                    f"stopped after {self.requests} request(s) with {len(rest)} event(s) of the batch not "
                    "sent",
                    status=result.status,
                ),
                rest,
            )
        self.level_pieces[(piece.batch, piece.level)] += 1
        self.pending.append(_Piece(rest, piece.batch, level=piece.level))

    def resend_retryable(self, piece: _Piece, result: BatchResult) -> None:
        hook = self.hook
        self.element_rounds += 1
        again = [piece.positions[i] for i in result.retryable]
        if self.element_rounds > hook.max_retries:
            raise self.fail(
                LinkedInCapiError(
                    f"LinkedIn took a batch but answered {len(again)} of its elements with a retryable "
                    f"status (429 or 5xx) {self.element_rounds} times; they were not delivered"
                ),
                again,
            )
        wait = hook.backoff_wait(self.element_rounds)
        hook.log.warning(
            "LinkedIn answered %d element(s) of a batch with a retryable status; resending them in %.2fs",
            len(again),
            wait,
        )
        try:
            hook.pause(wait)  # a stopping task ends the wait at once
        except LinkedInCapiError as error:
            raise self.fail(error, again) from None
        self.level_pieces[(piece.batch, piece.level)] += 1
        self.pending.append(_Piece(again, piece.batch, level=piece.level))

    def unnamed(self, piece: _Piece, result: BatchResult) -> None:
        """A refusal naming no element: split, unless the split shows it is not about an element."""
        positions = piece.positions
        message = result.message or f"HTTP {result.status} without a message"
        level = (piece.batch, piece.level)
        self.level_unnamed[level] += 1
        if (
            piece.level >= MAX_UNNAMED_SPLITS
            and piece.batch not in self.taken_batches
            and self.level_unnamed[level] == self.level_pieces[level]
        ):
            self.refused_at_every_level(piece, result.status, message)
        family = self.families[piece.family] if piece.family is not None else None
        if family is not None and _same_refusal(family, result.status, result.code, message):
            depth = piece.depth
            family.refused_alike[depth] = family.refused_alike.get(depth, 0) + 1
            if len(positions) == 1:
                family.unsplittable[depth] = True
                family.singles.append(positions[0])
            if family.refused_alike[depth] == family.created[depth] and (
                depth >= REQUEST_LEVEL_DEPTH or family.unsplittable.get(depth)
            ):
                self.request_level(piece, family)
        else:
            family = None
        if len(positions) == 1:
            self.rejected[positions[0]] = message
            return
        if family is None:
            self.families.append(_Family(result.status, message, result.code))
            family_id, depth = len(self.families) - 1, 1
        else:
            family_id, depth = piece.family, piece.depth + 1
        family = self.families[family_id]
        family.created[depth] = family.created.get(depth, 0) + 2
        middle = len(positions) // 2
        self.splits += 1
        self.hook.log.debug(
            "LinkedIn rejected a batch of %d without naming elements (HTTP %s); splitting it",
            len(positions),
            result.status,
        )
        self.level_pieces[(piece.batch, piece.level + 1)] += 2
        self.pending.append(_Piece(positions[:middle], piece.batch, family_id, depth, piece.level + 1))
        self.pending.append(_Piece(positions[middle:], piece.batch, family_id, depth, piece.level + 1))

    def refused_at_every_level(self, piece: _Piece, status: int, message: str) -> None:
        """LinkedIn took nothing of the batch and refused every piece down to this level: stop here."""
        refused = [
            *piece.positions,
            *(p for other in self.pending if other.batch == piece.batch for p in other.positions),
        ]
        raise self.fail(
            LinkedInCapiError(
                f"LinkedIn refused a batch as a whole, and each of its pieces down to {piece.level} "
                f"split(s), without naming an event and without taking any (last: HTTP {status}: {message}); "
                "it is not about an event, so nothing more was sent",
                status=status,
            ),
            refused,
        )

    def request_level(self, piece: _Piece, family: _Family) -> None:
        family_id = self.families.index(family)
        for position in family.singles:
            self.rejected.pop(position, None)
        family_pieces = (piece, *(q for q in self.pending if q.family == family_id))
        refused = [*family.singles, *(p for other in family_pieces for p in other.positions)]
        message = family.message  # the hook has taken every value of these events out of it
        raise self.fail(
            LinkedInCapiError(
                f"LinkedIn refused the request as a whole: HTTP {family.status}: {message}. Every "
                f"piece of the batch split {piece.depth} time(s) got the same answer, so it is not about "
                "an event; nothing more was sent",
                status=family.status,
            ),
            refused,
        )


def _same_refusal(family: _Family, status: int, code: str | None, message: str) -> bool:
    """The same refusal: the same status and LinkedIn's same error code, else (no code) the same text."""
    if status != family.status:
        return False
    if code is not None or family.code is not None:
        return code == family.code
    return message == family.message


def deliver_events(hook: BatchSender, events: Sequence[Mapping[str, Any]]) -> DeliveryResult:
    """Deliver every event LinkedIn will take through ``hook``, and say why it refused the others.

    Requests per batch of 5,000 are bounded (see the module). Indices in the result refer to ``events``. A
    failure part-way raises with ``delivered_before_failure`` set: what was accepted, refused and not sent.
    """
    return _Delivery(hook, events).run()


# ----------------------------------------------------------------------------------------------------
# Send validated batches to LinkedIn (or pretend to, in a dry run) and keep the delivery counts.
#
# A batch waiting for LinkedIn's answer is kept small: its events as the request body
# (:class:`~airflow_provider_linkedin_capi.hooks.linkedin_capi.EncodedEvents`, about a fifth of their size as
# dicts) and the three columns settling reads (:class:`SettleColumns`), so ``max_in_flight`` batches on
# their way cost little memory.
#
# Only what LinkedIn accepted counts as sent. Elements LinkedIn refused (the hook has already resolved the
# whole-batch 422 by dropping the named elements and resending the rest) become ``rejected_by_linkedin``
# rows with LinkedIn's own message, so the rejects file explains them like any local rejection.


# "Index: 3, ERROR :: /conversionValue/amount :: field is required ..." -> "/conversionValue/amount"
_SAFE_ERROR_PATH = re.compile(r"ERROR\s*::\s*(/[A-Za-z0-9_/]*)\s*::")
_RULE_OF = itemgetter("conversion")


@dataclass(frozen=True, slots=True)
class SettleColumns:
    """What settling a batch reads of each event, taken before the events are encoded for sending.

    ``event_ids`` only with a ledger, which records them; a refused event is read back from the batch.
    ``kinds``: events per identifier kind, counted in the request body once it is written.
    """

    happened_at: array[int]
    rules: list[str]
    event_ids: list[str] | None
    kinds: Counter[str] = field(default_factory=Counter)

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

    Events *in doubt* were on their way when an earlier try was killed, and LinkedIn never answered:
    ``resent_in_doubt`` counts those this try sends again (``on_in_doubt="resend"``: the only events LinkedIn
    may now hold twice), ``skipped_in_doubt`` those it leaves out (``"skip"``), and ``in_doubt`` those this
    try itself leaves in doubt as it stops.
    """

    def __init__(
        self,
        hook: LinkedInCapiHook | None,
        rejections: RejectionLog,
        *,
        dry_run: bool,
        ledger: DeliveryLedger | None = None,
        on_in_doubt: str = "resend",
    ) -> None:
        if hook is None and not dry_run:
            raise ValueError("a LinkedInCapiHook is needed unless dry_run is set")
        self.hook = hook
        self.rejections = rejections
        self.dry_run = dry_run
        self.ledger = ledger
        self.on_in_doubt = on_in_doubt
        # In doubt (see the class docstring): resent by this try, skipped by it, and left by it.
        self.resent_in_doubt = self.skipped_in_doubt = self.in_doubt = 0
        #: Events left out because the ledger says an earlier run delivered them.
        self.already_delivered = 0
        self.events_sent = 0
        self.batches = 0
        self.first_event_ms: int | None = None
        self.last_event_ms: int | None = None
        #: Events counted as sent, per conversion rule URN (for the asset events and lineage output).
        self.sent_per_rule: Counter[str] = Counter()
        #: Events counted as sent, per identifier kind (``IDENTIFIER_KINDS``): the push's match readiness.
        self.identifier_coverage: Counter[str] = Counter()
        #: The kinds worth looking for in a batch: those the query's columns can fill (set by the engine once
        #: the builder knows them; each kind costs a scan of the body).
        self.possible_kinds: Collection[str] = IDENTIFIER_KINDS
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
            body = json_body({"elements": events})
            columns = replace(columns, kinds=identifier_kinds(body, self.possible_kinds))
            self._count(columns, events, rows, {}, ())
            return None
        encoded = EncodedEvents(events)
        kinds = identifier_kinds(encoded.body, self.possible_kinds)
        return PendingBatch(encoded, replace(columns, kinds=kinds), rows)

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
        if isinstance(batch.error, LinkedInCapiStoppedError):
            # The task is stopping: what LinkedIn had not answered may or may not have reached it.
            unsent = partial.unsent if partial is not None else range(len(batch.events))
            self._doubt(batch, unsent)
            return
        raise batch.error

    def give_up(self, batch: PendingBatch) -> None:
        """A batch still unanswered when the stopping task could wait no longer: all of it is in doubt."""
        self._doubt(batch, range(len(batch.events)))

    def _doubt(self, batch: PendingBatch, positions: Iterable[int]) -> None:
        positions = list(positions)
        self.in_doubt += len(positions)
        event_ids = batch.columns.event_ids
        if self.ledger is not None and event_ids is not None and positions:
            self.ledger.record_in_doubt([event_ids[i] for i in positions])

    def _not_yet_delivered(
        self, events: list[dict[str, Any]], rows: Sequence[int]
    ) -> tuple[list[dict[str, Any]], Sequence[int]]:
        assert self.ledger is not None
        delivered = self.ledger.delivered(events)
        doubt = self.ledger.in_doubt(events)  # never one the ledger holds as delivered
        self.already_delivered += sum(delivered)
        if any(doubt):
            if self.on_in_doubt == "skip":
                self.skipped_in_doubt += sum(doubt)
                delivered = [done or unsure for done, unsure in zip(delivered, doubt, strict=True)]
            else:
                self.resent_in_doubt += sum(doubt)
        if not any(delivered):
            return events, rows
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
            lost = json_body({"elements": [events[i] for i in sorted(not_taken)]})
            self.identifier_coverage.update(columns.kinds - identifier_kinds(lost, self.possible_kinds))
        else:
            self.sent_per_rule.update(columns.rules)
            self.identifier_coverage.update(columns.kinds)
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


# Events per identifier kind, counted in a batch's request body instead of event by event: the body is
# written anyway, and ``bytes.count`` scans it in C. Each pattern is exact: a ``"`` inside a JSON string is
# always escaped, so ``"idType":"SHA256_EMAIL"`` or ``"lead":"`` can only be the event's own structure,
# never part of a value. orjson writes no spaces, and an event holds each kind at most once.
_KIND_PATTERNS = (
    *((kind, b'"idType":"' + kind.encode() + b'"') for kind in USER_ID_TYPES),
    ("userInfo", b'"userInfo":{'),
    ("externalIds", b'"externalIds":['),
    ("lead", b'"lead":"'),
)


def identifier_kinds(body: bytes, kinds: Collection[str] = IDENTIFIER_KINDS) -> Counter[str]:
    """Events per identifier kind in a request body (``{"elements": [...]}``) or any JSON of events, for
    the ``kinds`` asked about (each is one scan of the body, about 0.1 µs per event)."""
    return Counter(
        {kind: found for kind, pattern in _KIND_PATTERNS if kind in kinds and (found := body.count(pattern))}
    )


def _linkedin_rejection(event: dict[str, Any], message: str) -> Rejection:
    """LinkedIn's verdict on one event; the hook has taken the row's plaintext values out of ``message``,
    and a path is kept only as a plain JSON path (a value it held is a label now, which no path matches)."""
    found = _SAFE_ERROR_PATH.search(message)
    return rejection_for_event(
        event, RejectionCode.REJECTED_BY_LINKEDIN, found.group(1) if found else None, message
    )


# ----------------------------------------------------------------------------------------------------
# Keep up to ``max_in_flight`` batches on their way to LinkedIn while the next ones are read and built.
#
# How long LinkedIn takes to answer a batch is UNKNOWN; a push that waits for each answer before it sends
# the next spends its wall time waiting, not working. The window sends batches from a small thread pool and
# lets the task's own thread go on reading rows and building events. It does not pace: every request, each
# retry too, still takes a slot from the connection's token bucket, which all the threads share, so the
# budget per minute holds however many batches are in flight.
#
# What does not change with the number in flight:
#
# - every batch is settled (counted, its rejections written, its accepted eventIds put in the ledger) once,
#   on the task's own thread, never on a worker; batches that finished together are settled in the order
#   they were submitted, otherwise in the order they finished;
# - at most ``limit`` batches are being sent; :meth:`InFlightWindow.submit` blocks while the window is full,
#   so no more than ``limit + 1`` batches exist at once (those in flight and the one being handed over);
#   with ``max_in_flight="auto"`` the limit moves between 1 and 16 (:mod:`.sizing`, fed on the task's
#   thread with LinkedIn's time per request, the waits for the pacer and the 429s each batch met); a smaller
#   limit lets the batches in flight finish and sends no new one until fewer are in flight;
# - after the first failure no new batch starts: the batches in flight finish and are settled, then that
#   first failure is raised, so the counts in the task's failure message are exact;
# - when the task stops for any other reason (the database, an exception), the batches in flight are
#   still waited for and settled, so their accepted eventIds reach the ledger before the task ends;
# - :meth:`InFlightWindow.request_stop` (the operator's ``on_kill``, which Airflow calls on SIGTERM) makes
#   the next ``submit`` stop the push the same way: nothing new starts, what is in flight is settled.
#
# A window of 1 is the sequential push: one request at a time, on the same code path.


log = logging.getLogger(__name__)


#: How long a stopping push waits for the answers already on the wire (Airflow sends SIGKILL 5 s after
#: SIGTERM), and then for the exchanges it cut off to end.
ANSWER_WAIT_SECONDS = 2.5
_ABORT_WAIT_SECONDS = 0.5
_STOP_POLL_SECONDS = 0.25


class InFlightWindow:
    """Sends the batches handed to :meth:`submit` on up to ``limit`` threads; a context manager.

    Use ``submit`` as the pipeline's batch sink and call :meth:`finish` after the last batch; leaving the
    ``with`` block on an error waits for and settles the batches in flight without raising their errors
    over the one that is already on its way.

    :param limit: a fixed number of batches in flight; ``"auto"`` (sized for ``requests_per_minute``) or a
        :class:`~airflow_provider_linkedin_capi.push.sizing.WindowSizer` for a window that sizes itself.
    :param memory: what tells an ``auto`` window whether it may grow (default: the process's RSS within
        48 MiB of what it was when the first batch was answered; see :mod:`.sizing`).
    """

    def __init__(
        self,
        delivery: EventDelivery,
        limit: int | str | WindowSizer,
        *,
        requests_per_minute: int = 600,
        memory: MemoryHeadroom | None = None,
    ) -> None:
        if limit == "auto":
            limit = WindowSizer.sized(requests_per_minute)
        if isinstance(limit, WindowSizer):
            self.sizer = limit
        elif isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"the number of batches in flight must be an int >= 1 or 'auto', got {limit!r}")
        else:
            self.sizer = WindowSizer.fixed(limit)
        self.delivery = delivery
        self._memory = (memory or MemoryHeadroom()) if self.sizer.auto else None
        self._pool = ThreadPoolExecutor(max_workers=self.sizer.cap, thread_name_prefix="linkedin-capi-send")
        # future -> submission number, so that batches finished together settle in submission order
        self._running: dict[Future[PendingBatch], int] = {}
        self._batches: dict[Future[PendingBatch], PendingBatch] = {}
        #: What each batch in flight met at LinkedIn, written by its sending thread (see :meth:`_send`).
        self._met: dict[Future[PendingBatch], _Met] = {}
        #: LinkedIn's time to answer each batch settled (its requests' round trips, without pacing waits).
        self.batch_seconds: list[float] = []
        self._submitted = 0
        self._failure: Exception | None = None
        self._stop_reason: str | None = None
        self._stopped_fast = False
        #: Most batches in flight at once during this push (for the log and the tests).
        self.most_in_flight = 0

    def submit(self, events: list[dict[str, Any]], rows: Sequence[int]) -> None:
        """Start sending one batch, after waiting for a free place; raises the push's first failure."""
        self._settle_finished(block=False)
        self._note_if_full()
        while self._failure is None and self._stop_reason is None and len(self._running) >= self.limit:
            # A bounded wait, so that a stop request is seen within a moment even while answers are slow.
            self._settle_finished(block=True, timeout=_STOP_POLL_SECONDS)
        if self._stop_reason is not None:
            self._stop_now()
            raise PushKilledError(self._stop_reason)
        if self._failure is not None:
            self._stop()
        batch = self.delivery.prepare(events, rows)
        if batch is None:
            return
        self._submitted += 1
        met = _Met(self.sizer.epoch, len(self._running) + 1)
        future = self._pool.submit(self._send, batch, met)
        self._running[future] = self._submitted
        self._batches[future] = batch
        self._met[future] = met
        in_flight = len(self._running)
        self.most_in_flight = max(self.most_in_flight, in_flight)
        for other in self._met.values():  # at most 16
            other.in_flight = max(other.in_flight, in_flight)
        self._note_if_full()

    def _note_if_full(self) -> None:
        """A full window: the batches on their way saw the push wait for a place (so it could use more)."""
        if len(self._running) >= self.limit:
            for met in self._met.values():  # at most 16
                met.window_full = True

    @property
    def limit(self) -> int:
        """Batches that may be in flight now (it moves with ``auto``)."""
        return self.sizer.limit

    def describe(self) -> str:
        """The window for the push's log line: ``max_in_flight=4`` or ``max_in_flight=auto: 4 to 11, ...``."""
        return self.sizer.describe()

    def summary(self) -> dict[str, Any]:
        """``in_flight_window`` and ``batch_seconds`` of the push's summary."""
        return {
            "in_flight_window": self.sizer.summary(self.most_in_flight),
            "batch_seconds": latency_summary(self.batch_seconds),
        }

    def _send(self, batch: PendingBatch, met: _Met) -> PendingBatch:
        """On a sending thread: send ``batch``, and note LinkedIn's time for it and the 429s it met.

        The hook tallies its own exchanges on this thread (the waits for the budget and between retries
        left out); a stand-in hook without a tally is timed as a whole.
        """
        tally = getattr(self.delivery.hook, "tally_exchanges", None)
        if tally is None:
            started = time.monotonic()
            self.delivery.send(batch)
            met.answers, met.seconds = 1, time.monotonic() - started
            return batch
        with tally() as seen:
            met.live = seen
            self.delivery.send(batch)
        met.answers, met.seconds, met.throttled = seen.answers, seen.answer_seconds, seen.throttled
        met.paced = seen.paced_seconds
        return batch

    def _watch_throttles(self) -> None:
        """Tell the sizer at once of a 429 a batch still in flight met, rather than when the hook's retry of
        it is answered, seconds later: the window halves before it sends more into the throttle."""
        for met in self._met.values():  # at most 16
            live = met.live
            if live is not None and live.throttled > met.reported:
                fresh, met.reported = live.throttled - met.reported, live.throttled
                self.sizer.observe(Answer(None, fresh, met.epoch, met.in_flight))

    def _observe(self, met: _Met) -> None:
        """Feed one answered batch to the sizer (on the task's thread, like settling)."""
        if met.answers:
            self.batch_seconds.append(met.seconds)
        per_request = met.seconds / met.answers if met.answers else None
        paced = met.paced / (met.answers + met.throttled) if met.paced is not None and met.answers else None
        memory_ok = self._memory is None or self._memory.allows()
        throttled = max(0, met.throttled - met.reported)
        self.sizer.observe(
            Answer(per_request, throttled, met.epoch, met.in_flight, paced, met.window_full),
            memory_ok=memory_ok,
        )

    def request_stop(self, reason: str) -> None:
        """Start no new batch and stop every retry: the next :meth:`submit` ends the push (see
        :meth:`_stop_now`). Safe to call from a signal handler: it only sets flags.
        """
        self._stop_reason = reason
        hook = self.delivery.hook
        if hook is not None:
            hook.request_stop()

    def finish(self) -> None:
        """Wait for every batch in flight and settle it; raises the push's first failure, if any."""
        while self._running:
            if self._stop_reason is not None:
                self._stop_now()
                raise PushKilledError(self._stop_reason)
            self._settle_finished(block=True, timeout=_STOP_POLL_SECONDS)
        if self._failure is not None:
            self._stop()

    def _stop(self) -> None:
        """The first failure ends the push: let the batches in flight finish, settle them, raise it."""
        failure = self._failure
        assert failure is not None
        while self._running:
            self._settle_finished(block=True)
        raise failure

    def _stop_now(self) -> None:
        """The task is killed or timed out: within Airflow's 5 s before SIGKILL, settle what LinkedIn answers
        and record the rest as in doubt.

        Retries, backoffs and resends stop at once (the hook's stop); the answers already on the wire get
        :data:`ANSWER_WAIT_SECONDS`; then those exchanges are cut off, and every batch still unanswered is
        recorded in the ledger as in doubt: LinkedIn may hold it or not, and a retry resends it
        (``on_in_doubt``).
        """
        self._stopped_fast = True
        hook = self.delivery.hook
        if hook is not None:
            hook.request_stop()
        self._settle_for(ANSWER_WAIT_SECONDS)
        if self._running and hook is not None:
            hook.abort_exchanges()
            self._settle_for(_ABORT_WAIT_SECONDS)
        for future in sorted(self._running, key=self._running.__getitem__):
            del self._running[future]
            self._met.pop(future, None)
            self.delivery.give_up(self._batches.pop(future))
        if self.delivery.in_doubt:
            log.warning(
                "Stopped with %d event(s) unanswered by LinkedIn: recorded as in doubt",
                self.delivery.in_doubt,
            )
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _settle_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self._running and (left := deadline - time.monotonic()) > 0:
            self._settle_finished(block=True, timeout=left)

    def _settle_finished(self, *, block: bool, timeout: float | None = None) -> None:
        if not self._running:
            return
        done, _ = wait(self._running, timeout=timeout if block else 0, return_when=FIRST_COMPLETED)
        if self.sizer.auto:
            self._watch_throttles()
        for future in sorted(done, key=self._running.__getitem__):
            del self._running[future]
            self._batches.pop(future, None)
            self._observe(self._met.pop(future))
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
            if exc is not None and self._running and _is_a_stop(exc):
                # Killed, or timed out (Airflow raises AirflowTaskTimeout in the task's thread): fast.
                self._stop_now()
            elif exc is not None and self._running:
                # Already failing: what is in flight still gets counted and recorded.
                log.info("Waiting for %d batch(es) in flight before stopping", len(self._running))
                while self._running:
                    self._settle_finished(block=True)
                if self._failure is not None and self._failure is not exc:
                    log.warning("A batch in flight failed while the push was stopping: %s", self._failure)
        finally:
            # After a fast stop, threads still in a call that could not be cut off are not waited for.
            self._pool.shutdown(wait=not self._stopped_fast, cancel_futures=True)


@dataclass
class _Met:
    """What one batch met at LinkedIn (see :class:`~airflow_provider_linkedin_capi.push.sizing.Answer`).

    ``epoch``, ``in_flight`` and ``reported`` are written on the task's thread, the rest by the batch's
    sending thread (``answers``, ``seconds`` and ``throttled`` before its future completes).
    """

    epoch: int
    #: The most batches in flight at once while this one was (itself included).
    in_flight: int
    answers: int = 0
    seconds: float = 0.0
    throttled: int = 0
    #: Seconds its requests waited for the pacer (``None``: a hook that does not tell).
    paced: float | None = None
    #: Whether the window was full at some moment while this batch was on its way.
    window_full: bool = False
    #: The hook's tally while the batch is being sent; its 429s are read from the task's thread.
    live: ExchangeTally | None = None
    #: Of those 429s, how many the sizer was told of while the batch was in flight.
    reported: int = 0


def _is_a_stop(exc: BaseException) -> bool:
    """A kill or a timeout, as opposed to a failure of the push itself (LinkedIn, the database...)."""
    return (
        isinstance(exc, PushKilledError)
        or type(exc).__name__ == "AirflowTaskTimeout"
        or not isinstance(exc, Exception)
    )


@dataclass(frozen=True)
class DeliveryResult:
    """Outcome of delivering a sequence of events, indices referring to the caller's sequence.

    :param unsent: indices neither accepted nor refused, because LinkedIn failed before they were (only on
        the result carried by a :class:`~airflow_provider_linkedin_capi.exceptions.LinkedInCapiError` as
        ``delivered_before_failure``).
    """

    accepted: int
    rejected: dict[int, str]
    requests: int
    unsent: tuple[int, ...] = ()
