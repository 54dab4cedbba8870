"""The pacing guarantee: never more than the budget in any 60-second window (fake clock, no real sleeps)."""

from __future__ import annotations

import threading

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from airflow_provider_linkedin_capi.hooks._transport import TokenBucket, limiter_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _max_in_any_window(times: list[float], window: float = 60.0) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


@given(
    budget=st.integers(1, 1200),
    gaps=st.lists(st.floats(0, 5, allow_nan=False), min_size=1, max_size=400),
)
@settings(max_examples=300, deadline=None)
# Float rounding once let a second request in at 1060.1599999999999 (after t=1000.16), and a third at
# 1120.00000006 (after 1060.000000061).
@example(budget=1, gaps=[0.16, 0.0])
@example(budget=1, gaps=[0.0, 0.0, 1.0])
def test_no_window_exceeds_budget(budget, gaps):
    clock = FakeClock()
    bucket = TokenBucket(budget, clock=clock, sleep=clock.sleep)
    times = []
    for gap in gaps:
        clock.now += gap
        bucket.acquire()
        times.append(clock.now)
    assert _max_in_any_window(times) <= budget


def test_burst_then_steady_rate():
    clock = FakeClock()
    bucket = TokenBucket(600, clock=clock, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(60)]
    assert waits == [0.0] * 60  # the burst: 10 % of the budget
    assert bucket.acquire() == pytest.approx(60 / 540)
    start = clock.now
    for _ in range(540):
        bucket.acquire()
    assert clock.now - start == pytest.approx(60.0)  # 540 more at 9 per second


def test_threads_share_one_budget():
    clock = FakeClock()  # frozen: every thread reserves against the same instant
    slept: list[float] = []
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            slept.append(seconds)

    bucket = TokenBucket(60, clock=clock, sleep=sleep)
    threads = [threading.Thread(target=bucket.acquire) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 6 go at once (the burst); the other 24 each reserve the next refill slot (54 per minute)
    assert sorted(slept) == pytest.approx([i * 60 / 54 for i in range(1, 25)])


def test_registry_shares_bucket_per_connection_and_applies_new_budget():
    first = limiter_for("conn_registry_test", 600)
    assert limiter_for("conn_registry_test", 600) is first
    assert limiter_for("conn_registry_test", 120) is first
    assert first.requests_per_minute == 120
    assert limiter_for("other_registry_test", 600) is not first


def test_budget_must_be_positive():
    with pytest.raises(ValueError, match="requests_per_minute"):
        TokenBucket(0)
