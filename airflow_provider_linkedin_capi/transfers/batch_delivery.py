"""Delivering events in BATCH_CREATE requests, and reading LinkedIn's answers to them, with bounds.

One bad element makes LinkedIn refuse a whole batch. When the refusal names the elements, they are
dropped and the rest is resent; when it names none, the batch is split in halves, breadth first, until the
culprits are isolated. Three things keep that bounded against a LinkedIn (or a proxy) that misbehaves:

- **A refusal that is not about an element** (a bad header, a disabled app, a proxy's 400) answers every
  piece alike. When every piece two splits down (the four quarters; both halves when they cannot be split)
  is refused with the batch's own message, the refusal is taken as request-level: the delivery stops and
  fails with LinkedIn's status and message, instead of splitting down to single events (2N-1 requests).
  The events of those pieces count as not sent, not as refused.
- **Refusals that name elements one at a time** are given at most ``2*ceil(log2(n)) + 4`` rounds per batch
  of ``n``; past that, the delivery fails, keeping what was accepted and refused so far.
- **A 200 that cannot be read** is an error that counts only what is certain (see
  :mod:`~airflow_provider_linkedin_capi.hooks.batch_answers`); the rest counts as not sent.

Elements that a 200 answers with their own 429 or 5xx (whether LinkedIn does that is UNKNOWN) are resent
after the hook's backoff, at most ``max_retries`` times. This policy belongs to the transfer, beside the
code that settles partial results; the hook only sends one batch
(:meth:`~airflow_provider_linkedin_capi.hooks.linkedin_capi.LinkedInCapiHook.send_conversion_events`).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_linkedin_capi.constants import MAX_BATCH_SIZE
from airflow_provider_linkedin_capi.exceptions import LinkedInCapiError
from airflow_provider_linkedin_capi.hooks import transport
from airflow_provider_linkedin_capi.hooks.batch_answers import LinkedInCapiUnreadableBatchAnswer
from airflow_provider_linkedin_capi.results import BatchResult, DeliveryResult
from airflow_provider_linkedin_capi.transfers.message_scrub import WITHHELD, scrubbed_message

#: Splits after which a refusal every piece shares is taken as one about the request, not an element.
REQUEST_LEVEL_DEPTH = 2


class BatchSender(Protocol):
    """What the delivery needs of a hook: one BATCH_CREATE, the retry settings and a log."""

    max_retries: int
    retry_min_wait: float
    retry_max_wait: float
    log: Any

    def send_conversion_events(self, events: Sequence[Mapping[str, Any]]) -> BatchResult: ...


@dataclass
class _Piece:
    positions: list[int]
    batch: int
    #: The split family the piece belongs to, and how many splits below the refused piece that started it.
    family: int | None = None
    depth: int = 0


@dataclass
class _Family:
    """The pieces split from one batch refused without naming an element, counted per depth."""

    status: int
    message: str
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
        self.pending.append(_Piece(rest, piece.batch))

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
        wait = transport.backoff_wait(self.element_rounds, hook.retry_min_wait, hook.retry_max_wait)
        hook.log.warning(
            "LinkedIn answered %d element(s) of a batch with a retryable status; resending them in %.2fs",
            len(again),
            wait,
        )
        time.sleep(wait)
        self.pending.append(_Piece(again, piece.batch))

    def unnamed(self, piece: _Piece, result: BatchResult) -> None:
        """A refusal naming no element: split, unless the split shows it is not about an element."""
        positions = piece.positions
        message = result.message or f"HTTP {result.status} without a message"
        family = self.families[piece.family] if piece.family is not None else None
        if family is not None and (result.status, message) == (family.status, family.message):
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
            self.families.append(_Family(result.status, message))
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
        self.pending.append(_Piece(positions[:middle], piece.batch, family_id, depth))
        self.pending.append(_Piece(positions[middle:], piece.batch, family_id, depth))

    def request_level(self, piece: _Piece, family: _Family) -> None:
        family_id = self.families.index(family)
        for position in family.singles:
            self.rejected.pop(position, None)
        family_pieces = (piece, *(q for q in self.pending if q.family == family_id))
        refused = [*family.singles, *(p for other in family_pieces for p in other.positions)]
        # The message goes to the task's log and error: without any plaintext value of these events.
        message = family.message
        for position in refused:
            message = scrubbed_message(message, self.events[position])
            if message == WITHHELD:
                break
        raise self.fail(
            LinkedInCapiError(
                f"LinkedIn refused the request as a whole: HTTP {family.status}: {message}. Every "
                f"piece of the batch split {piece.depth} time(s) got the same answer, so it is not about "
                "an event; nothing more was sent",
                status=family.status,
            ),
            refused,
        )


def deliver_events(hook: BatchSender, events: Sequence[Mapping[str, Any]]) -> DeliveryResult:
    """Deliver every event LinkedIn will take through ``hook``, and say why it refused the others.

    Requests per batch of 5,000 are bounded (see the module). Indices in the result refer to ``events``. A
    failure part-way raises with ``delivered_before_failure`` set: what was accepted, refused and not sent.
    """
    return _Delivery(hook, events).run()
