"""Deferred polling and token minting stay within the connection's budget, against a local server."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import threading

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiAsyncHook, LinkedInCapiHook
from airflow_provider_linkedin_capi.sensors.conversion_rule import LinkedInCapiConversionRuleSensor

from .hostile_server import TOKEN_PATH, Answer, HostileServer

RULE = {"id": 123, "name": "Leads", "conversionMethod": "CONVERSIONS_API", "enabled": True}
RULE_PATH = "/rest/conversions/123"


@pytest.fixture
def server():
    with HostileServer() as hostile:
        hostile.handler = lambda request: Answer(200, RULE)
        yield hostile


@pytest.mark.parametrize("interval", [0, 0.5, 4.9, dt.timedelta(seconds=1)])
def test_a_deferrable_sensor_refuses_a_tight_poke_interval(interval):
    with pytest.raises(ValueError, match="poke_interval must be at least 5"):
        LinkedInCapiConversionRuleSensor(
            task_id="wait", conversion_rule_id=1, deferrable=True, poke_interval=interval
        )


def test_the_floor_is_checked_again_when_the_sensor_runs():
    task = LinkedInCapiConversionRuleSensor(
        task_id="wait", conversion_rule_id=1, deferrable=True, poke_interval=5
    )
    task.poke_interval = 1.0  # e.g. changed by a cluster policy after construction
    with pytest.raises(AirflowFailException, match="poke_interval"):
        task.execute(context={})


def test_a_poking_sensor_keeps_short_intervals():
    task = LinkedInCapiConversionRuleSensor(task_id="wait", conversion_rule_id=1, poke_interval=0.5)
    assert task.poke_interval == 0.5


@pytest.mark.timeout(30)
def test_the_async_hook_paces_reads_within_the_connection_budget(server, monkeypatch):
    # 60 a minute: a burst of 6, then 0.9 a second.
    monkeypatch.setenv(
        "AIRFLOW_CONN_PACED_ASYNC", server.connection_json(access_token="static", requests_per_minute=60)
    )

    async def read_for(seconds: float) -> int:
        reads = 0

        async def loop(hook: LinkedInCapiAsyncHook) -> None:
            nonlocal reads
            while True:
                await hook.get_conversion_rule(123)
                reads += 1

        async with LinkedInCapiAsyncHook("paced_async") as hook:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(loop(hook), seconds)
        return reads

    reads = asyncio.run(read_for(2.0))
    # Unpaced, a local server answers hundreds in 2 s; paced, the burst and about two refills.
    assert 6 <= len(server.calls(RULE_PATH)) <= 10
    assert reads <= 10


@pytest.mark.timeout(60)
def test_a_short_lived_token_is_not_minted_before_every_request(server, monkeypatch):
    server.token_lifetime = 60
    monkeypatch.setenv("AIRFLOW_CONN_SHORT_TOKEN", server.connection_json(requests_per_minute=1_000_000))
    hook = LinkedInCapiHook("short_token", retry_min_wait=0.01)
    try:
        for _ in range(50):
            hook.get_conversion_rule(123)
    finally:
        hook.close()
    assert len(server.calls(RULE_PATH)) == 50
    assert server.tokens_issued == 1


@pytest.mark.timeout(60)
def test_a_short_lived_token_is_reused_by_the_async_hook(server, monkeypatch):
    server.token_lifetime = 60
    monkeypatch.setenv(
        "AIRFLOW_CONN_SHORT_TOKEN_ASYNC", server.connection_json(requests_per_minute=1_000_000)
    )

    async def read_many() -> None:
        async with LinkedInCapiAsyncHook("short_token_async") as hook:
            for _ in range(50):
                await hook.get_conversion_rule(123)

    asyncio.run(read_many())
    assert server.tokens_issued == 1


@pytest.mark.timeout(30)
def test_token_requests_are_paced_too(server, monkeypatch):
    # Tokens that live one second are replaced every half second; the budget still bounds the mints.
    server.token_lifetime = 1
    monkeypatch.setenv("AIRFLOW_CONN_PACED_TOKENS", server.connection_json(requests_per_minute=60))

    stop = threading.Event()

    def churn() -> None:
        hook = LinkedInCapiHook("paced_tokens", retry_min_wait=0.01)
        try:
            while not stop.is_set():
                hook.get_access_token()
        finally:
            hook.close()

    worker = threading.Thread(target=churn, daemon=True)
    worker.start()
    stop.wait(3.0)
    stop.set()
    # Burst of 6 plus 0.9/s refill: at most about 9 token requests in 3 s, never hundreds.
    assert 1 <= len(server.calls(TOKEN_PATH)) <= 10
    worker.join(5.0)
