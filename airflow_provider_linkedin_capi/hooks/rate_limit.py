"""Client-side pacing, so that LinkedIn rarely has to answer 429.

LinkedIn counts per member token (600 requests/minute for CAPI, a third-party figure,
docs/linkedin-contract.md §6.2), and a 429 carries no ``Retry-After`` (§6.3), so waiting before sending is
cheaper than backing off after. One bucket per connection id per process: every hook built for that connection
(several operators in one worker, a hook per batch) draws from the same budget.

The bucket holds at most 10 % of the minute's budget and refills the other 90 % evenly over the minute, so
no 60-second window can see more than ``requests_per_minute`` requests (burst + refill = budget). Callers
that must wait reserve their slot first and sleep outside the lock, which keeps threads in arrival order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

BURST_FRACTION = 0.1


class TokenBucket:
    """A thread-safe token bucket that never lets more than ``requests_per_minute`` through per 60 s."""

    def __init__(
        self,
        requests_per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._configure(requests_per_minute)
        self._tokens = float(self.capacity)
        self._updated = clock()

    def _configure(self, requests_per_minute: int) -> None:
        if requests_per_minute < 1:
            raise ValueError(f"requests_per_minute must be >= 1, got {requests_per_minute}")
        self.requests_per_minute = int(requests_per_minute)
        self.capacity = max(1, int(self.requests_per_minute * BURST_FRACTION))
        # Per second; with a budget of 1 the window guarantee holds for half-open 60 s windows.
        # A hair slower than the budget allows, so that float rounding (a slot due at 1000.16 + 60 landing at
        # 1060.1599999999999) can never let one request too many into a 60-second window.
        self.refill_per_second = max(self.requests_per_minute - self.capacity, 1) / 60.0 * (1 - 1e-9)

    def reconfigure(self, requests_per_minute: int) -> None:
        with self._lock:
            if requests_per_minute != self.requests_per_minute:
                self._refill()
                self._configure(requests_per_minute)
                self._tokens = min(self._tokens, float(self.capacity))

    def acquire(self) -> float:
        """Take one request slot, sleeping until it is due; returns the seconds slept."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def reserve(self) -> float:
        """Take one request slot and return how long to wait for it, without waiting.

        For callers that must not block a thread: the async hook awaits ``asyncio.sleep`` for the result.
        """
        with self._lock:
            self._refill()
            self._tokens -= 1.0
            return -self._tokens / self.refill_per_second if self._tokens < 0 else 0.0

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(now - self._updated, 0.0)
        self._updated = now
        self._tokens = min(float(self.capacity), self._tokens + elapsed * self.refill_per_second)


_registry: dict[str, TokenBucket] = {}
_registry_lock = threading.Lock()


def limiter_for(conn_id: str, requests_per_minute: int) -> TokenBucket:
    """The process-wide bucket of one connection, created on first use; the latest budget wins."""
    with _registry_lock:
        bucket = _registry.get(conn_id)
        if bucket is None:
            bucket = _registry[conn_id] = TokenBucket(requests_per_minute)
            return bucket
    bucket.reconfigure(requests_per_minute)
    return bucket
