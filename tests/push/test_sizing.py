"""The controller of ``max_in_flight="auto"`` on its own: bounds, halving on a 429, growth only when LinkedIn
is slower than the budget's spacing, and settling below a LinkedIn that throttles above some concurrency.

The controller is pure (no clock, no threads): what is asserted is the window's size after a given
sequence of answers, never a time.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from airflow_provider_linkedin_capi.constants import AUTO_IN_FLIGHT_START, MAX_IN_FLIGHT
from airflow_provider_linkedin_capi.push.sizing import (
    MEMORY_HEADROOM_BYTES,
    Answer,
    MemoryHeadroom,
    WindowSizer,
    latency_summary,
)

BOUNDED = hypothesis_settings(max_examples=300, deadline=None)
SPACING = 0.1  # 600 requests a minute

#: One answer as the window may see it: LinkedIn's time per request (or none), 429s, sent how many
#: reductions ago, with how many batches in flight, the pacer's wait per request, whether the window was
#: full meanwhile, and whether memory allows.
answers = st.tuples(
    st.one_of(st.none(), st.floats(min_value=0.0, max_value=30.0)),
    st.integers(min_value=0, max_value=3),
    st.integers(min_value=0, max_value=2),
    st.integers(min_value=1, max_value=MAX_IN_FLIGHT),
    st.one_of(st.none(), st.floats(min_value=0.0, max_value=5.0)),
    st.booleans(),
    st.booleans(),
)


def _feed(sizer: WindowSizer, seconds, throttled, age, in_flight, paced, full, memory_ok) -> tuple[int, int]:
    """Feed one answer; returns the size before and after."""
    before = sizer.limit
    answer = Answer(seconds, throttled, max(0, sizer.epoch - age), in_flight, paced, full)
    return before, sizer.observe(answer, memory_ok=memory_ok)


def pacer_wait(size: int, latency: float, per_second: float = 9.0) -> float:
    """What each request waits for a pacer that refills ``per_second`` (600 a minute: 9 a second once the
    burst is spent), with ``size`` batches in flight that LinkedIn answers in ``latency`` seconds each."""
    return max(0.0, size / per_second - latency)


def _settle(sizer: WindowSizer, latency: float, per_second: float = 9.0, answers: int = 80) -> int:
    for _ in range(answers):
        sizer.observe(
            Answer(latency, 0, sizer.epoch, sizer.limit, pacer_wait(sizer.limit, latency, per_second))
        )
    return sizer.limit


@BOUNDED
@given(st.lists(answers, max_size=200))
def test_the_window_stays_between_one_and_its_ceiling_whatever_linkedin_answers(sequence):
    sizer = WindowSizer.sized(600)
    for answer in sequence:
        _feed(sizer, *answer)
        assert 1 <= sizer.limit <= sizer.ceiling <= MAX_IN_FLIGHT
        assert sizer.lowest <= sizer.limit <= sizer.highest <= MAX_IN_FLIGHT


@BOUNDED
@given(st.lists(answers, max_size=200))
def test_each_step_halves_on_a_fresh_429_grows_by_one_only_when_slower_than_the_spacing_or_shrinks_by_one(
    sequence,
):
    sizer = WindowSizer.sized(600)
    for seconds, throttled, age, in_flight, paced, full, memory_ok in sequence:
        fresh = age == 0 or sizer.epoch == 0
        before, after = _feed(sizer, seconds, throttled, age, in_flight, paced, full, memory_ok)
        if not fresh:
            assert after == before, "an answer sent before the last halving changed the window"
        elif throttled:
            assert sizer.ceiling <= max(1, min(before, in_flight) - 1)
            assert after == min(sizer.ceiling, max(1, before // 2))
        elif after > before:
            assert after == before + 1
            assert memory_ok
            assert full  # the push had a batch waiting for a place
            # LinkedIn takes longer than the budget's spacing, and the batch did not wait for the pacer.
            assert sizer.latency() > SPACING
            assert (paced or 0.0) < SPACING
        elif after < before:
            # Two or more stood in line at the pacer: all but one or two of them go, down to the start.
            queued = paced / SPACING
            assert queued > 2.5
            assert after == max(AUTO_IN_FLIGHT_START, before - math.floor(queued - 1.5))


@BOUNDED
@given(st.floats(min_value=0.001, max_value=10.0), st.sampled_from([60, 120, 600, 1200, 6000]))
def test_at_a_steady_latency_the_window_keeps_the_budget_busy_without_a_queue_at_the_pacer(
    latency, requests_per_minute
):
    per_second = requests_per_minute * 0.9 / 60  # the pacer's refill once its burst is spent
    sizer = WindowSizer.sized(requests_per_minute)
    size = _settle(sizer, latency, per_second)
    spacing = 60 / requests_per_minute
    assert _settle(sizer, latency, per_second, answers=5) == size, "it has not settled"
    if latency > spacing:
        # Enough in flight to send as fast as the pacer lets through, or the cap.
        assert size == MAX_IN_FLIGHT or size / latency >= per_second
    # Not more than about two threads waiting at the pacer, unless it is the start.
    assert size == AUTO_IN_FLIGHT_START or pacer_wait(size, latency, per_second) <= 2.5 * spacing


@pytest.mark.parametrize(("latency", "expected"), [(0.05, 4), (0.5, 6), (1.0, 10), (1.45, 14), (2.0, 16)])
def test_what_keeps_600_requests_a_minute_busy(latency, expected):
    assert _settle(WindowSizer.sized(600), latency) == expected


def test_growth_is_one_per_answer_so_the_window_doubles_per_round_trip():
    sizer = WindowSizer.sized(600)
    sizes = [sizer.observe(Answer(2.0, 0, 0, 4, 0.0)) for _ in range(13)]
    assert sizes == [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 16]


def test_after_the_pacers_burst_is_spent_the_window_comes_back_to_what_the_budget_sustains():
    sizer = WindowSizer.sized(600)
    for _ in range(12):  # the bucket's burst: nothing waits, so more in flight goes faster
        sizer.observe(Answer(1.0, 0, 0, sizer.limit, 0.0))
    assert sizer.limit == 16
    # Each request of a full window now waits 16 / 9 - 1 = 0.78 s: about 7 threads stand in line.
    assert sizer.observe(Answer(1.0, 0, 0, 16, pacer_wait(16, 1.0))) == 10
    # Batches sent before the cut waited as long: they are not news, and do not cut it again.
    for _ in range(15):
        assert sizer.observe(Answer(1.0, 0, 0, 16, pacer_wait(16, 1.0))) == 10
    assert _settle(sizer, 1.0) == 10
    assert (sizer.lowest, sizer.highest, sizer.epoch) == (AUTO_IN_FLIGHT_START, 16, 1)


def test_a_429_halves_and_the_window_never_again_grows_past_the_batches_then_in_flight():
    sizer = WindowSizer.sized(600)
    for _ in range(12):
        sizer.observe(Answer(2.0, 0, 0, sizer.limit))
    assert sizer.limit == 16
    # A batch sent with 9 in flight at most met a 429: LinkedIn takes at most 8 at once, perhaps.
    assert sizer.observe(Answer(2.0, 1, 0, 9)) == 8
    assert (sizer.ceiling, sizer.epoch, sizer.halvings, sizer.throttled) == (8, 1, 1, 1)
    # The other batches of the full window were sent before the halving: their 429s are old news.
    for _ in range(7):
        assert sizer.observe(Answer(2.0, 1, 0, 16)) == 8
    assert (sizer.halvings, sizer.throttled) == (1, 8)
    # Answers to batches sent since do not grow it past the ceiling, however slow LinkedIn is.
    for _ in range(20):
        sizer.observe(Answer(2.0, 0, 1, 8))
    assert sizer.limit == 8
    assert sizer.summary(most_at_once=16) == {
        "auto": True,
        "min": 4,
        "max": 16,
        "final": 8,
        "most_at_once": 16,
        "throttled": 8,
    }


def test_a_429_heard_while_the_batch_is_in_flight_halves_once_and_its_answer_does_not_again():
    sizer = WindowSizer.sized(600)
    assert sizer.observe(Answer(None, 1, 0, 4)) == 2  # the hook met a 429; the batch is still on its way
    assert sizer.observe(Answer(1.0, 0, 0, 4)) == 2  # its answer, sent before the halving
    assert sizer.throttled == 1


def test_repeated_429s_halve_down_to_one_and_no_further():
    sizer = WindowSizer.sized(600)
    for expected in (2, 1, 1, 1):
        assert sizer.observe(Answer(0.5, 1, sizer.epoch, sizer.limit)) == expected
    assert sizer.ceiling == 1


@BOUNDED
@given(st.integers(min_value=1, max_value=12), st.floats(min_value=0.2, max_value=5.0))
def test_under_a_linkedin_that_throttles_above_a_concurrency_the_window_settles_at_or_below_it(
    concurrency, latency
):
    """A round trip at a time: the window's batches go out together, and those beyond ``concurrency`` meet
    a 429. After one halving per round trip at most, the window stays at or below the concurrency, and
    after that no batch meets a 429 again (no storm)."""
    sizer = WindowSizer.sized(600)
    throttled_rounds = []
    for round_trip in range(40):
        size, epoch = sizer.limit, sizer.epoch
        throttled = 0
        for position in range(1, size + 1):
            meets_429 = position > concurrency
            throttled += meets_429
            # the window hears of a 429 before its next batch goes out: the most in flight with this one
            sizer.observe(Answer(latency, int(meets_429), epoch, position, 0.0))
        if throttled:
            throttled_rounds.append(round_trip)
    assert sizer.limit <= concurrency
    assert sizer.halvings <= 1 + int(math.log2(MAX_IN_FLIGHT))
    # Every 429 came early, while the window was finding the limit; the last dozen round trips had none.
    assert not throttled_rounds or throttled_rounds[-1] < 28


@pytest.mark.parametrize("concurrency", [1, 3, 6, 12])
def test_even_when_the_window_hears_of_429s_late_it_settles_at_or_below_the_concurrency(concurrency):
    """As above, but every batch of a round trip counts all of them as in flight with it: each round trip
    lowers the ceiling by one at least, so it takes more 429s, but it settles all the same."""
    sizer = WindowSizer.sized(600)
    for _ in range(40):
        size, epoch = sizer.limit, sizer.epoch
        for position in range(1, size + 1):
            sizer.observe(Answer(1.0, int(position > concurrency), epoch, size, 0.0))
    assert sizer.limit <= sizer.ceiling <= concurrency
    assert sizer.halvings <= MAX_IN_FLIGHT - concurrency + 1


def test_a_window_that_was_never_full_does_not_grow():
    sizer = WindowSizer.sized(600)
    for _ in range(10):
        assert sizer.observe(Answer(2.0, 0, 0, 3, 0.0, window_full=False)) == AUTO_IN_FLIGHT_START
    assert sizer.observe(Answer(2.0, 0, 0, 4, 0.0, window_full=True)) == AUTO_IN_FLIGHT_START + 1


def test_memory_stops_growth_but_never_shrinks_the_window():
    sizer = WindowSizer.sized(600)
    for _ in range(3):
        sizer.observe(Answer(2.0, 0, 0, 4))
    assert sizer.limit == 7
    for _ in range(10):
        assert sizer.observe(Answer(2.0, 0, 0, 7), memory_ok=False) == 7
    assert sizer.observe(Answer(2.0, 0, 0, 7)) == 8


def test_a_fixed_window_never_changes_and_reports_alike():
    sizer = WindowSizer.fixed(6)
    for answer in (Answer(5.0), Answer(0.01), Answer(1.0, throttled=2), Answer(None)):
        assert sizer.observe(answer) == 6
    assert sizer.summary(most_at_once=6) == {
        "auto": False,
        "min": 6,
        "max": 6,
        "final": 6,
        "most_at_once": 6,
        "throttled": 2,
    }
    assert sizer.describe() == "max_in_flight=6"


def test_the_description_names_auto_and_its_range():
    sizer = WindowSizer.sized(600)
    for _ in range(7):
        sizer.observe(Answer(1.1, 0, 0, 4))
    sizer.observe(Answer(1.1, 1, 0, 10))
    assert sizer.describe() == "max_in_flight=auto: 4 to 11, 5 at the end, halved 1 time(s) on a 429"
    assert WindowSizer.sized(600).describe() == "max_in_flight=auto: 4 to 4, 4 at the end"


@pytest.mark.parametrize("bad", [{"start": 0}, {"start": 17}, {"cap": 0}])
def test_an_impossible_window_is_refused(bad):
    with pytest.raises(ValueError, match="in-flight window"):
        WindowSizer.sized(600, **bad)


def test_latency_summary_is_the_median_and_the_nearest_rank_p95():
    assert latency_summary([]) is None
    assert latency_summary([1.0]) == {"median": 1.0, "p95": 1.0}
    assert latency_summary([float(n) for n in range(1, 101)]) == {"median": 50.5, "p95": 95.0}
    assert latency_summary([0.51234, 0.5, 3.0]) == {"median": 0.512, "p95": 3.0}


def test_memory_headroom_counts_growth_since_the_first_answer():
    readings = iter([None, 100 * 2**20, 150 * 2**20, 165 * 2**20, None])
    memory = MemoryHeadroom(64 * 2**20, read_rss=lambda: next(readings))
    assert memory.allows()  # unreadable: no opinion
    assert memory.allows()  # the first reading is where it starts from
    assert memory.allows()  # 50 MiB more
    assert not memory.allows()  # 65 MiB more
    assert memory.allows()  # unreadable again
    assert memory.baseline == 100 * 2**20


def test_the_default_headroom_is_what_the_window_may_add_from_its_start_to_the_cap():
    assert MEMORY_HEADROOM_BYTES == (MAX_IN_FLIGHT - AUTO_IN_FLIGHT_START) * 4 * 2**20
    assert MemoryHeadroom().allows()  # this process's own RSS, read with psutil
