"""The in-flight window on its own: how many batches it sends at once, what it settles, how it stops.

A gated hook stands in for LinkedIn so that the test decides when each batch "answers": the order of
events is then fixed, and what is asserted are counts (calls, batches, events), not times.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiUnreadableBatchAnswer
from airflow_provider_linkedin_capi.hooks._answers import BatchResult
from airflow_provider_linkedin_capi.hooks.linkedin_capi import EncodedEvents
from airflow_provider_linkedin_capi.push import delivery as delivery_module
from airflow_provider_linkedin_capi.push.delivery import EventDelivery, InFlightWindow
from airflow_provider_linkedin_capi.push.files import RejectionLog


class GatedHook:
    """Answers batch ``n`` (named by its first eventId, ``b<n>-...``) only once ``release(n)`` is called."""

    max_retries = 0
    retry_min_wait = retry_max_wait = 0.0
    log = logging.getLogger(__name__)

    def __init__(self, *, failing: tuple[int, ...] = (), open_gates: bool = False) -> None:
        self.failing = failing
        self.open_gates = open_gates
        self.gates: dict[int, threading.Event] = {}
        self.lock = threading.Lock()
        self.called = threading.Condition(self.lock)
        self.calls: list[int] = []
        self.active = 0
        self.most_active = 0

    def gate(self, batch: int) -> threading.Event:
        with self.lock:
            return self.gates.setdefault(batch, threading.Event())

    def release(self, *batches: int) -> None:
        for batch in batches:
            self.gate(batch).set()

    def wait_for_calls(self, count: int) -> None:
        """Wait until ``count`` batches reached the hook: a submitted batch starts on a worker thread."""
        with self.called:
            assert self.called.wait_for(lambda: len(self.calls) >= count, timeout=30), self.calls

    def send_conversion_events(self, events):
        batch = int(events[0]["eventId"].split("-")[0][1:])
        with self.lock:
            self.calls.append(batch)
            self.called.notify_all()
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            if not self.open_gates:
                assert self.gate(batch).wait(30), f"batch {batch} was never released"
        finally:
            with self.lock:
                self.active -= 1
        if batch in self.failing:
            # LinkedIn took the first event of the batch, and its answer says nothing certain of the rest
            raise LinkedInCapiUnreadableBatchAnswer(f"batch {batch} failed", status=503, taken=(0,))
        return BatchResult(status=200, accepted=len(events))


RULE = "urn:lla:llaPartnerConversion:1"


def _batch(n: int, size: int = 3) -> tuple[list[dict], list[int]]:
    events = [
        {"conversion": RULE, "eventId": f"b{n}-{i}", "conversionHappenedAt": 1_700_000_000_000 + n}
        for i in range(size)
    ]
    return events, [n * 100 + i for i in range(size)]


def _submit_in_thread(window: InFlightWindow, n: int, errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            window.submit(*_batch(n))
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.timeout(60)
@pytest.mark.parametrize("limit", [1, 3, 10])
def test_every_batch_is_sent_once_and_counted_once(limit):
    hook = GatedHook(open_gates=True)
    with RejectionLog() as rejections:
        delivery = EventDelivery(hook, rejections, dry_run=False)
        with InFlightWindow(delivery, limit) as window:
            for n in range(25):
                window.submit(*_batch(n))
            window.finish()
    assert sorted(hook.calls) == list(range(25))
    assert (delivery.batches, delivery.events_sent) == (25, 75)
    assert hook.most_active <= limit
    assert window.most_in_flight <= limit


class LiveBatches:
    """Counts the batches alive in their sending form: ``EncodedEvents`` made and not yet freed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.alive = 0
        lock = threading.Lock()
        counter = self

        class CountedEvents(EncodedEvents):
            __slots__ = ()

            def __init__(self, events) -> None:
                super().__init__(events)
                with lock:
                    counter.alive += 1

            def __del__(self) -> None:
                with lock:
                    counter.alive -= 1

        monkeypatch.setattr(delivery_module, "EncodedEvents", CountedEvents)


class SlowHook(GatedHook):
    """Notes, at each request, how many batches are alive; takes a moment to answer, so the window fills."""

    def __init__(self, live: LiveBatches) -> None:
        super().__init__(open_gates=True)
        self.live = live
        self.alive_at_send: list[int] = []

    def send_conversion_events(self, events):
        self.alive_at_send.append(self.live.alive)
        time.sleep(0.01)  # keeps the window full while the task thread submits; nothing is timed
        return super().send_conversion_events(events)


@pytest.mark.timeout(60)
def test_memory_stays_flat_no_more_batches_are_alive_than_the_window_holds(monkeypatch):
    live = LiveBatches(monkeypatch)
    hook = SlowHook(live)
    with RejectionLog() as rejections:
        delivery = EventDelivery(hook, rejections, dry_run=False)
        with InFlightWindow(delivery, 3) as window:
            for n in range(40):
                window.submit(*_batch(n))
            window.finish()
    assert delivery.batches == 40
    # the window was full, and no batch outlived its settling: no backlog builds up however many go through
    assert max(hook.alive_at_send) == 3, hook.alive_at_send
    assert live.alive == 0


@pytest.mark.timeout(60)
def test_submit_waits_while_the_window_is_full():
    hook = GatedHook()
    errors: list[BaseException] = []
    with RejectionLog() as rejections:
        delivery = EventDelivery(hook, rejections, dry_run=False)
        with InFlightWindow(delivery, 2) as window:
            window.submit(*_batch(0))
            window.submit(*_batch(1))
            third = _submit_in_thread(window, 2, errors)
            third.join(0.5)
            # Two batches in flight, the third waits: it is neither sent nor counted.
            assert third.is_alive()
            hook.wait_for_calls(2)
            assert sorted(hook.calls) == [0, 1]
            assert delivery.batches == 0
            hook.release(1)
            third.join(30)
            assert not third.is_alive()
            # Batch 1 was settled to make room; batch 0 is still in flight.
            assert delivery.batches == 1
            hook.wait_for_calls(3)
            assert sorted(hook.calls) == [0, 1, 2]
            hook.release(0, 2)
            window.finish()
    assert errors == []
    assert (delivery.batches, delivery.events_sent) == (3, 9)
    assert hook.most_active == 2


@pytest.mark.timeout(60)
def test_after_the_first_failure_no_batch_starts_and_those_in_flight_are_counted():
    hook = GatedHook(failing=(1,))
    errors: list[BaseException] = []
    with RejectionLog() as rejections:
        delivery = EventDelivery(hook, rejections, dry_run=False)
        with InFlightWindow(delivery, 3) as window:
            for n in range(3):
                window.submit(*_batch(n))
            hook.release(1)  # fails while 0 and 2 are still in flight
            fourth = _submit_in_thread(window, 3, errors)
            fourth.join(0.5)
            assert fourth.is_alive(), "the failure was raised before the batches in flight finished"
            hook.release(0, 2)
            fourth.join(30)
    assert [str(error) for error in errors] == ["batch 1 failed"]
    # Batch 3 never went out; 0 and 2 finished and count in full, and 1 counts what LinkedIn took.
    assert sorted(hook.calls) == [0, 1, 2]
    assert delivery.events_sent == 3 + 3 + 1
    assert delivery.batches == 3


def _fail_with_two_batches_in_flight(delivery: EventDelivery, hook: GatedHook) -> None:
    releaser = threading.Timer(0.2, hook.release, args=(0, 1))
    try:
        with InFlightWindow(delivery, 4) as window:
            window.submit(*_batch(0))
            window.submit(*_batch(1))
            releaser.start()
            raise RuntimeError("the database went away")
    finally:
        releaser.join()


@pytest.mark.timeout(60)
def test_leaving_on_another_error_still_settles_the_batches_in_flight():
    hook = GatedHook()
    with RejectionLog() as rejections:
        delivery = EventDelivery(hook, rejections, dry_run=False)
        with pytest.raises(RuntimeError, match="the database went away"):
            _fail_with_two_batches_in_flight(delivery, hook)
    assert (delivery.batches, delivery.events_sent) == (2, 6)


def test_a_limit_below_one_is_refused():
    with RejectionLog() as rejections:
        delivery = EventDelivery(None, rejections, dry_run=True)
        for bad in (0, -1, True, 2.0):
            with pytest.raises(ValueError, match="in flight"):
                InFlightWindow(delivery, bad)
