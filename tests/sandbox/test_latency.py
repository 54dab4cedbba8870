"""The sandbox's model of LinkedIn's time per events request, and what it records of a client's concurrency.

The latency is asserted through what the sandbox reports (settings, most requests at once), never by
timing anything: four requests that each take the sandbox two seconds, sent together, are all being
worked on at once unless the sandbox serves one request at a time.
"""

from __future__ import annotations

import random
import threading

import pytest

from airflow_provider_linkedin_capi.sandbox.__main__ import parse_args
from airflow_provider_linkedin_capi.sandbox.latency import (
    MAX_LATENCY_SECONDS,
    WINDOW_SECONDS,
    ConcurrencyGauge,
    RateGauge,
    parse_latency,
    request_latency,
)
from airflow_provider_linkedin_capi.sandbox.testing import SandboxProcess

from .helpers import event


def test_latency_spec_from_the_command_line():
    assert parse_latency("250") == {"latency_ms": 250.0}
    assert parse_latency("base_ms=500,per_event_us=100,jitter_ms=50") == {
        "latency_ms": 500.0,
        "latency_us_per_event": 100.0,
        "latency_jitter_ms": 50.0,
    }
    assert parse_args(["--latency", "base_ms=500,per_event_us=100"]).latency == {
        "latency_ms": 500.0,
        "latency_us_per_event": 100.0,
    }
    assert parse_args([]).latency == {}
    for bad in ("fast", "base_ms=-1", "slow_ms=3", "base_ms=inf"):
        with pytest.raises(ValueError, match="latency option"):
            parse_latency(bad)
    with pytest.raises(SystemExit):
        parse_args(["--latency", "base_ms=x"])


def test_latency_is_the_base_plus_the_time_per_event_plus_at_most_the_jitter():
    rng = random.Random(7)
    # 0.5 s + 0.1 ms per event: 1 s for a batch of 5,000
    assert request_latency(500, 100, 0, 5000, rng) == pytest.approx(1.0)
    assert request_latency(0, 0, 0, 5000, rng) == 0.0
    # A mistyped setting cannot park a request for ever.
    assert request_latency(1e12, 0, 0, 5000, rng) == MAX_LATENCY_SECONDS
    jittered = [request_latency(100, 0, 50, 1, rng) for _ in range(200)]
    assert all(0.1 <= seconds <= 0.15 for seconds in jittered)
    assert len(set(jittered)) > 100


def test_gauges_keep_the_most_at_once_and_the_most_per_sliding_minute():
    gauge = ConcurrencyGauge()
    with gauge.track(), gauge.track(), gauge.track():
        pass
    with gauge.track():
        pass
    assert (gauge.current, gauge.most) == (0, 3)

    rate = RateGauge()
    for second in (0, 10, 20, 59.9):
        rate.arrived(second)
    assert rate.most == 4
    rate.arrived(60.0)  # the arrival at 0 s is out of the window now
    rate.arrived(WINDOW_SECONDS + 10)  # and the one at 10 s
    assert rate.most == 4


def test_latency_set_through_the_admin_api_does_not_serialise_requests(sandbox, api, rule_id):
    config = sandbox.admin.configure(latency_ms=2000, latency_us_per_event=10, latency_jitter_ms=5)
    assert (config["latency_ms"], config["latency_us_per_event"], config["latency_jitter_ms"]) == (
        2000,
        10,
        5,
    )
    with pytest.raises(RuntimeError, match="latency_ms"):
        sandbox.admin.configure(latency_ms=-1)

    start = threading.Barrier(4)
    statuses: list[int] = []

    def send(n: int) -> None:
        start.wait()
        statuses.append(api.send_events([event(rule_id, f"evt-{n}")]).status_code)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    stats = sandbox.admin.stats()
    assert statuses == [200] * 4
    # At least the four at once (a request left over from an earlier test may still be in the sandbox's
    # hands); served one after the other, they would never overlap.
    assert stats["event_requests_max_concurrent"] >= 4
    assert stats["events_total"] == 4

    sandbox.admin.reset()
    assert sandbox.admin.config()["latency_ms"] == 0
    assert sandbox.admin.stats()["event_requests_max_concurrent"] == 0


def test_latency_given_on_the_command_line_is_the_start_setting():
    with SandboxProcess(args=("--latency", "base_ms=500,per_event_us=100,jitter_ms=20")) as sandbox:
        config = sandbox.admin.config()
        sandbox.admin.configure(latency_ms=0)
        sandbox.admin.reset()
        after_reset = sandbox.admin.config()
    assert (config["latency_ms"], config["latency_us_per_event"], config["latency_jitter_ms"]) == (
        500,
        100,
        20,
    )
    assert after_reset["latency_ms"] == 500
