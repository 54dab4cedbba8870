"""The in-flight window with ``max_in_flight="auto"``: it reads LinkedIn's time and 429s off the hook's tally,
grows and halves as the sizer says, never sends more batches at once than its size, and reports the range.

A stand-in hook tallies a made-up time per request (nothing sleeps for it), so what the window does is
decided by the answers, not by the machine's speed; what is asserted are sizes and counts, never times.
"""

from __future__ import annotations

import contextlib
import threading

import pytest

from airflow_provider_linkedin_capi.constants import AUTO_IN_FLIGHT_START
from airflow_provider_linkedin_capi.hooks.linkedin_capi import ExchangeTally
from airflow_provider_linkedin_capi.push.delivery import EventDelivery, InFlightWindow
from airflow_provider_linkedin_capi.push.files import RejectionLog
from airflow_provider_linkedin_capi.push.sizing import MemoryHeadroom, WindowSizer
from tests.push.test_delivery_in_flight import GatedHook, _batch, _submit_in_thread


class TalliedHook(GatedHook):
    """A gated hook that tallies its answers like the real one: ``seconds`` each, after ``paced`` seconds
    of waiting for the pacer, and a 429 (retried, then answered) for the batches in ``throttled``."""

    def __init__(
        self, seconds: float, *, paced: float = 0.0, throttled: tuple[int, ...] = (), **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.seconds = seconds
        self.paced = paced
        self.throttled = throttled
        self._tallies = threading.local()

    @contextlib.contextmanager
    def tally_exchanges(self):
        self._tallies.current = tally = ExchangeTally()
        try:
            yield tally
        finally:
            self._tallies.current = None

    def send_conversion_events(self, events):
        result = super().send_conversion_events(events)
        tally = self._tallies.current
        if int(events[0]["eventId"].split("-")[0][1:]) in self.throttled:
            tally.throttled += 1
        tally.answers += 1
        tally.answer_seconds += self.seconds
        tally.paced_seconds += self.paced
        return result


class FixedMemory(MemoryHeadroom):
    def __init__(self, allows: bool) -> None:
        super().__init__(read_rss=lambda: None)
        self._allows = allows

    def allows(self) -> bool:
        return self._allows


def _push(
    hook: GatedHook, window_size, batches: int, **window_kwargs
) -> tuple[EventDelivery, InFlightWindow]:
    with RejectionLog() as rejections:
        delivery = EventDelivery(hook, rejections, dry_run=False)
        with InFlightWindow(delivery, window_size, **window_kwargs) as window:
            for n in range(batches):
                window.submit(*_batch(n))
            window.finish()
    return delivery, window


def _answer_when_full(hook: GatedHook, window_of: list[InFlightWindow], batches: int) -> threading.Thread:
    """Answer the batches in order, each only once the window is full (or every batch was sent): a push that
    builds batches faster than LinkedIn answers them."""

    def run() -> None:
        for n in range(batches):
            for _ in range(30_000):  # bounded: 30 s
                with hook.lock:
                    called, active = n in hook.calls, hook.active
                window = window_of[0] if window_of else None
                if called and window is not None and (active >= window.limit or len(hook.calls) == batches):
                    break
                threading.Event().wait(0.001)
            hook.release(n)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.timeout(60)
def test_answers_slower_than_the_spacing_grow_a_full_window_while_nothing_waits_for_the_pacer():
    # 1 s per request at 600 requests a minute (0.1 s apart), and the pacer never made a request wait.
    hook = TalliedHook(1.0)
    window_of: list[InFlightWindow] = []
    answering = _answer_when_full(hook, window_of, 40)
    with RejectionLog() as rejections:
        delivery = EventDelivery(hook, rejections, dry_run=False)
        with InFlightWindow(delivery, "auto", memory=FixedMemory(True)) as window:
            window_of.append(window)
            for n in range(40):
                window.submit(*_batch(n))
            window.finish()
    answering.join(30)
    assert (delivery.batches, delivery.events_sent) == (40, 120)
    summary = window.summary()
    assert summary["in_flight_window"] == {
        "auto": True,
        "min": AUTO_IN_FLIGHT_START,
        "max": 16,
        "final": 16,
        "most_at_once": 16,
        "throttled": 0,
    }
    assert hook.most_active == 16
    assert summary["batch_seconds"] == {"median": 1.0, "p95": 1.0}
    assert len(window.batch_seconds) == 40
    assert window.describe() == "max_in_flight=auto: 4 to 16, 16 at the end"


@pytest.mark.timeout(60)
def test_a_push_that_never_fills_its_window_does_not_grow_it():
    """Its CPU is the bottleneck, not LinkedIn: more places would stay empty."""
    hook = TalliedHook(1.0, open_gates=True)
    with RejectionLog() as rejections:
        delivery = EventDelivery(hook, rejections, dry_run=False)
        with InFlightWindow(delivery, "auto", memory=FixedMemory(True)) as window:
            for n in range(20):
                window.submit(*_batch(n))
                window.finish()  # answered before the next batch is built: one at a time at most
    assert delivery.batches == 20
    assert window.summary()["in_flight_window"]["max"] == AUTO_IN_FLIGHT_START
    assert window.most_in_flight == 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("hook", "memory_allows"),
    [
        # Each request waited 0.5 s for a slot: five batches stand in line, more would only wait longer.
        pytest.param(
            lambda: TalliedHook(1.0, paced=0.5, open_gates=True), True, id="requests-wait-for-the-pacer"
        ),
        pytest.param(lambda: TalliedHook(0.02, open_gates=True), True, id="answers-faster-than-the-spacing"),
        pytest.param(lambda: TalliedHook(1.0, open_gates=True), False, id="memory-does-not-allow"),
    ],
)
def test_the_window_stays_at_its_start_when_growing_cannot_help(hook, memory_allows):
    hook = hook()
    _, window = _push(hook, "auto", 30, requests_per_minute=600, memory=FixedMemory(memory_allows))
    assert window.summary()["in_flight_window"]["max"] == AUTO_IN_FLIGHT_START
    assert hook.most_active <= AUTO_IN_FLIGHT_START
    assert window.most_in_flight <= AUTO_IN_FLIGHT_START


@pytest.mark.timeout(60)
def test_a_429_halves_the_window_and_no_new_batch_starts_until_fewer_are_in_flight():
    hook = TalliedHook(0.02, throttled=(0,))
    errors: list[BaseException] = []
    with RejectionLog() as rejections:
        delivery = EventDelivery(hook, rejections, dry_run=False)
        with InFlightWindow(delivery, "auto", memory=FixedMemory(True)) as window:
            for n in range(4):
                window.submit(*_batch(n))
            hook.wait_for_calls(4)
            fifth = _submit_in_thread(window, 4, errors)
            hook.release(0)  # batch 0 met a 429 on its way: the window halves to 2 with 3 still in flight
            for _ in range(30_000):  # bounded: until the waiting submit has settled batch 0 (30 s)
                if window.limit == 2:
                    break
                threading.Event().wait(0.001)
            assert window.limit == 2
            hook.release(1)  # one fewer in flight: still 2, a full window
            fifth.join(0.5)
            assert fifth.is_alive(), "a batch started while the halved window was full"
            assert window.limit == 2
            hook.release(2)  # 1 in flight: the fifth batch goes out
            fifth.join(30)
            assert not fifth.is_alive()
            hook.wait_for_calls(5)
            hook.release(3, 4)
            window.finish()
    assert errors == []
    assert (delivery.batches, delivery.events_sent) == (5, 15)
    in_flight = window.summary()["in_flight_window"]
    assert (in_flight["min"], in_flight["max"], in_flight["final"], in_flight["throttled"]) == (2, 4, 2, 1)
    assert window.sizer.ceiling == 3


@pytest.mark.timeout(60)
@pytest.mark.parametrize("size", [1, 3])
def test_a_fixed_window_reports_its_size_and_the_answers_it_timed(size):
    hook = GatedHook(open_gates=True)  # no tally: each batch is timed as a whole
    delivery, window = _push(hook, size, 12)
    summary = window.summary()
    assert summary["in_flight_window"] == {
        "auto": False,
        "min": size,
        "max": size,
        "final": size,
        "most_at_once": window.most_in_flight,
        "throttled": 0,
    }
    assert set(summary["batch_seconds"]) == {"median", "p95"}
    assert len(window.batch_seconds) == delivery.batches == 12
    assert window.describe() == f"max_in_flight={size}"


def test_a_dry_run_window_reports_no_batch_seconds():
    with RejectionLog() as rejections:
        delivery = EventDelivery(None, rejections, dry_run=True)
        with InFlightWindow(delivery, "auto", memory=FixedMemory(True)) as window:
            window.submit(*_batch(0))
            window.finish()
    assert delivery.batches == 1
    assert window.summary()["batch_seconds"] is None
    assert window.summary()["in_flight_window"]["final"] == AUTO_IN_FLIGHT_START


def test_a_sizer_can_be_given_directly():
    with RejectionLog() as rejections:
        delivery = EventDelivery(None, rejections, dry_run=True)
        window = InFlightWindow(delivery, WindowSizer.sized(60, start=2, cap=5), memory=FixedMemory(True))
        assert (window.limit, window.sizer.spacing) == (2, 1.0)
        with pytest.raises(ValueError, match="in flight"):
            InFlightWindow(delivery, "automatic")
