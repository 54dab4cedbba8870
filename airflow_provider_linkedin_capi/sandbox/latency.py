"""LinkedIn's own time per events request, modelled, and what the sandbox saw of a client's concurrency.

How long LinkedIn takes to answer a BATCH_CREATE is UNKNOWN. The sandbox can be told to take a base time
plus a time per event, plus random jitter, so that a client's handling of slow answers (several batches
in flight) can be tested and measured. The wait is an ``asyncio.sleep``: other requests are served
meanwhile, as on a real server.

The gauges record, for the tests, the most ``/conversionEvents`` requests the sandbox was working on at
once, and the most it received in any 60 seconds.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

WINDOW_SECONDS = 60.0
#: The longest the sandbox takes for one request, whatever it is configured to: a mistyped setting
#: (``latency_ms=1e12``) must not park every request's coroutine, and its body, for ever.
MAX_LATENCY_SECONDS = 600.0


def parse_latency(text: str) -> dict[str, float]:
    """``500`` or ``base_ms=500,per_event_us=100,jitter_ms=50`` -> the three latency settings."""
    names = {
        "base_ms": "latency_ms",
        "per_event_us": "latency_us_per_event",
        "jitter_ms": "latency_jitter_ms",
    }
    text = text.strip()
    settings: dict[str, float] = {}
    if text and "=" not in text:
        text = f"base_ms={text}"
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or name.strip() not in names:
            raise ValueError(f"latency option {part!r} is not one of {', '.join(f'{n}=N' for n in names)}")
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not 0 <= number < float("inf"):
            raise ValueError(f"latency option {name.strip()} must be a number >= 0, got {value!r}")
        settings[names[name.strip()]] = number
    return settings


def request_latency(
    base_ms: float, us_per_event: float, jitter_ms: float, events: int, rng: random.Random
) -> float:
    """Seconds the sandbox takes for a request of ``events`` events; jitter is uniform in [0, jitter_ms].

    At most :data:`MAX_LATENCY_SECONDS`.
    """
    millis = base_ms + us_per_event * events / 1000.0
    if jitter_ms > 0:
        millis += rng.uniform(0.0, jitter_ms)
    return min(millis / 1000.0, MAX_LATENCY_SECONDS)


class ConcurrencyGauge:
    """How many requests are being worked on now, and the most at any moment since the last reset."""

    def __init__(self) -> None:
        self.current = 0
        self.most = 0

    @contextmanager
    def track(self) -> Iterator[None]:
        self.current += 1
        self.most = max(self.most, self.current)
        try:
            yield
        finally:
            self.current -= 1


class RateGauge:
    """The most arrivals within any ``WINDOW_SECONDS`` (a sliding window over arrival times)."""

    def __init__(self) -> None:
        self._arrivals: deque[float] = deque()
        self.most = 0

    def arrived(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        arrivals = self._arrivals
        while arrivals and now - arrivals[0] >= WINDOW_SECONDS:
            arrivals.popleft()
        arrivals.append(now)
        self.most = max(self.most, len(arrivals))
