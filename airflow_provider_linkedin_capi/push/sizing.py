"""How many event batches a push keeps in flight with ``max_in_flight="auto"``: a small, pure controller.

How long LinkedIn takes to answer a batch is UNKNOWN, and so is whether it limits concurrent requests per
token (docs/linkedin-contract.md). A fixed window is either too small, and the push waits for answers it
could have overlapped, or too large: each batch in flight holds its request body (about 2 MB for 5,000
events; about 4 MB of peak RSS, docs/benchmarks.md), and threads beyond what the budget can use only queue
at the hook's pacer, or draw 429s from a LinkedIn that limits concurrency.

The connection's budget spaces requests ``spacing = 60 / requests_per_minute`` seconds apart (0.1 s at 600
a minute). A window of ``n`` batches that LinkedIn answers in ``latency`` seconds each sends ``n / latency``
requests a second, so it keeps the budget busy once ``n >= latency / spacing``: 5 at 0.5 s per batch, 10 at
1 s, 20 at 2 s (past the cap of 16). Past that, more batches do not go faster: they wait at the hook's
pacer, which, not the window, keeps the push within ``requests_per_minute``. While the pacer's bucket
still holds its burst (10% of the budget), though, nothing waits and a larger window does go faster. So the
window does not compute its size from the latency alone: it watches the queue it builds at the pacer. The
hook tells, per batch, LinkedIn's time per request and how long each request waited for the pacer
(:class:`~airflow_provider_linkedin_capi.hooks.linkedin_capi.ExchangeTally`). :class:`WindowSizer` starts at
4 and, after each batch LinkedIn answered, on the task's own thread:

1. **A 429** (which the hook retried): LinkedIn wants fewer requests at once, or another push spends the
   same token's budget. The window halves (never below 1) and, for the rest of the push, never grows past
   one below the most batches that were in flight with that batch (nor stays above it). The window hears
   of a 429 as soon as the hook met it, not when the retried batch is answered.
2. **A queue at the pacer**: the batch's requests each waited more than 2.5 spacings, so two or more threads
   stood in line for a slot, each holding a batch's body. The window drops them but about one or two (down
   to its start, not below), so the budget never idles.
3. **Grow by one** while answers take longer than the spacing (the median of the last
   :data:`RECENT_ANSWERS`, so one slow answer, a connection set up or a token refreshed, moves nothing),
   the batch's requests did not wait for the pacer (less than one spacing each), and the window was full
   at some moment while the batch was on its way: more in flight then means more requests a second. (A
   push that cannot build batches as fast as LinkedIn answers them, its CPU busy, never fills its window;
   more places would stay empty, so it does not grow, as TCP does not for an application-limited sender.)
   Only below that ceiling and :data:`~airflow_provider_linkedin_capi.constants.MAX_IN_FLIGHT`, and only
   while memory allows (:class:`MemoryHeadroom`). One step per answer doubles the window each round trip:
   4, 8, 16.

Each reduction (1 and 2) starts a new *epoch*: batches sent before it say nothing about the smaller window,
so their answers neither reduce it again nor make it grow (one reduction per round trip, as TCP does).
Without that, the 429s of a full window would halve it down to 1 at once, and the waits of the batches
sent before a cut would cut it again. At 600 a minute it settles at about 6 batches for 0.5 s per batch, 10
for 1 s and 16 for 2 s.

A fixed ``max_in_flight`` is the same class with ``auto=False``: it never changes, and reports alike.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_linkedin_capi.constants import AUTO_IN_FLIGHT_START, MAX_IN_FLIGHT

#: The latest answers whose median time per request the window compares with the spacing.
RECENT_ANSWERS = 5
#: Spacings a request may wait for the pacer before the window is cut, and about how many of them the cut
#: keeps. Each batch more in flight adds about 1.1 spacings to the wait (the pacer refills 90% of the budget
#: evenly), so a band from 1 to 2.5 cannot be jumped over in one step: the window settles instead of
#: swinging between growing and cutting.
QUEUE_CUT = 2.5
QUEUE_KEPT = 1.5
#: Peak RSS one batch of 5,000 events in flight costs, as docs/benchmarks.md measured it (its request body,
#: about 2 MB, and what sending it and reading the answer take).
BATCH_RSS_BYTES = 4 * 2**20
#: How much the process's RSS may grow, from when the first batch was answered (the push reading rows, the
#: window at its start), before an ``auto`` window stops growing: the batches it may add from its start to
#: the cap, at :data:`BATCH_RSS_BYTES` each (48 MiB). Whatever else of the push grows (the duplicate
#: filter's 8 bytes per row, the ledger) counts against it too, so a push that is already large adds no
#: batch; the window never shrinks for it.
MEMORY_HEADROOM_BYTES = (MAX_IN_FLIGHT - AUTO_IN_FLIGHT_START) * BATCH_RSS_BYTES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    """What one batch met at LinkedIn, as the window saw it once the batch was answered.

    :param seconds: LinkedIn's time per request of the batch (the round trip of each answer other than a
        429, averaged), without the waits for the budget or between retries; ``None`` when nothing was
        answered (a dropped connection every time, a stop).
    :param throttled: 429 answers the batch met (the hook retried them).
    :param paced: seconds each of its requests waited for the budget's pacer, on average; ``None`` when not
        known (taken as no wait).
    :param window_full: whether the window was full at some moment while the batch was on its way.
    :param epoch: :attr:`WindowSizer.epoch` when the batch was sent (the reductions so far).
    :param in_flight: the most batches in flight at once while it was on its way, itself included: when
        LinkedIn throttles above some concurrency, the one that met a 429 was on its way with more than that.
    """

    seconds: float | None
    throttled: int = 0
    epoch: int = 0
    in_flight: int = 1
    paced: float | None = None
    window_full: bool = True


@dataclass
class WindowSizer:
    """The size of the in-flight window: fixed, or (``auto``) sized to LinkedIn's answers; see the module.

    Not thread-safe: the window calls :meth:`observe` on the task's own thread only.
    """

    auto: bool
    #: Seconds between requests that the connection's budget allows (``60 / requests_per_minute``).
    spacing: float
    limit: int
    start: int
    cap: int
    #: The most the window may grow to: :attr:`cap`, lowered by each 429 for the rest of the push.
    ceiling: int = 0
    #: Counts the reductions: batches record it when sent, so that their answers are read against it.
    epoch: int = 0
    lowest: int = 0
    highest: int = 0
    throttled: int = 0
    halvings: int = 0
    _latency: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_ANSWERS), repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.start <= self.cap or not 1 <= self.limit <= self.cap:
            raise ValueError(f"an in-flight window needs 1 <= start, limit <= cap, got {self!r}")
        if not self.spacing > 0:
            raise ValueError(f"the spacing between requests must be > 0, got {self.spacing!r}")
        self.ceiling = self.ceiling or self.cap
        self.lowest = self.highest = self.limit

    @classmethod
    def sized(
        cls, requests_per_minute: int, *, start: int = AUTO_IN_FLIGHT_START, cap: int = MAX_IN_FLIGHT
    ) -> WindowSizer:
        """An ``auto`` window for a connection allowed ``requests_per_minute``."""
        return cls(auto=True, spacing=60.0 / requests_per_minute, limit=start, start=start, cap=cap)

    @classmethod
    def fixed(cls, size: int) -> WindowSizer:
        """A window that keeps ``size`` batches in flight whatever LinkedIn answers."""
        return cls(auto=False, spacing=1.0, limit=size, start=size, cap=size)

    def latency(self) -> float | None:
        """LinkedIn's recent time per request (median); ``None`` before any answer."""
        return statistics.median(self._latency) if self._latency else None

    def observe(self, answer: Answer, *, memory_ok: bool = True) -> int:
        """Take one batch's answer into account; returns the window's size from now on."""
        self.throttled += answer.throttled
        if answer.seconds is not None:
            self._latency.append(answer.seconds)
        if not self.auto or answer.epoch != self.epoch:
            return self.limit
        if answer.throttled:
            self.ceiling = max(1, min(self.ceiling, answer.in_flight - 1, self.limit - 1))
            self.halvings += 1
            self._reduce(min(self.ceiling, max(1, self.limit // 2)))
            log.info(
                "LinkedIn answered 429: the window of batches in flight halves to %d (at most %d from now)",
                self.limit,
                self.ceiling,
            )
            return self.limit
        latency = self.latency()
        if answer.seconds is None or latency is None:
            return self.limit
        queued = (answer.paced or 0.0) / self.spacing  # about how many stood in line at the pacer
        if queued > QUEUE_CUT and self.limit > self.start:
            self._reduce(max(self.start, self.limit - math.floor(queued - QUEUE_KEPT)))
        elif (
            latency > self.spacing
            and queued < 1
            and answer.window_full  # the push had batches waiting for a place: it could use another
            and memory_ok
            and self.limit < self.ceiling
        ):
            self._resize(self.limit + 1)
        return self.limit

    def _reduce(self, size: int) -> None:
        self.epoch += 1
        self._resize(size)

    def _resize(self, size: int) -> None:
        if size != self.limit:
            log.debug("Batches in flight: %d -> %d", self.limit, size)
        self.limit = size
        self.lowest = min(self.lowest, size)
        self.highest = max(self.highest, size)

    def summary(self, most_at_once: int) -> dict[str, Any]:
        """The window's range for the push's summary (``in_flight_window``)."""
        return {
            "auto": self.auto,
            "min": self.lowest,
            "max": self.highest,
            "final": self.limit,
            "most_at_once": most_at_once,
            "throttled": self.throttled,
        }

    def describe(self) -> str:
        """For the log: ``max_in_flight=4``, or ``max_in_flight=auto: 4 to 11, 9 at the end``."""
        if not self.auto:
            return f"max_in_flight={self.limit}"
        halved = f", halved {self.halvings} time(s) on a 429" if self.halvings else ""
        return f"max_in_flight=auto: {self.lowest} to {self.highest}, {self.limit} at the end{halved}"


def latency_summary(seconds: Sequence[float]) -> dict[str, float] | None:
    """``{"median": ..., "p95": ...}`` of the batches' times (nearest rank), in seconds; ``None`` if none."""
    if not seconds:
        return None
    ordered = sorted(seconds)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    return {"median": round(statistics.median(ordered), 3), "p95": round(p95, 3)}


class MemoryHeadroom:
    """Whether an ``auto`` window may hold another batch: the process's resident memory has grown by at most
    :data:`MEMORY_HEADROOM_BYTES` since it was first asked (when the first batch was answered: by then the
    push reads rows and holds its first batches, which the window does not control).

    Where the RSS cannot be read (no psutil, which Airflow installs), memory never stops the window; the cap
    of 16 still bounds it.
    """

    def __init__(
        self, headroom: int = MEMORY_HEADROOM_BYTES, read_rss: Callable[[], int | None] | None = None
    ) -> None:
        self.headroom = headroom
        self._read = read_rss if read_rss is not None else _process_rss()
        self.baseline: int | None = None

    def allows(self) -> bool:
        rss = self._read()
        if rss is None:
            return True
        if self.baseline is None:
            self.baseline = rss
        return rss - self.baseline <= self.headroom


def _process_rss() -> Callable[[], int | None]:
    """A reader of this process's resident set size in bytes (``None`` when it cannot be read)."""
    try:
        import psutil

        process = psutil.Process()
    except Exception:  # not installed, or no such information on this platform
        return lambda: None

    def read() -> int | None:
        try:
            return int(process.memory_info().rss)
        except Exception:
            return None

    return read
