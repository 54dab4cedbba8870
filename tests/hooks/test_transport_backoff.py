"""One backoff formula: the sync hook's retries, the async hook's and the resend of elements all ask it."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_linkedin_capi.hooks import _transport as transport
from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiAsyncHook
from airflow_provider_linkedin_capi.push.delivery import deliver_events


@pytest.fixture
def asked(monkeypatch) -> list[tuple[int, float, float]]:
    """The (retry, first, longest) of every backoff wait asked for, with the real waits returned."""
    calls: list[tuple[int, float, float]] = []
    backoff_wait = transport.backoff_wait

    def recorded(retry: int, first: float, longest: float) -> float:
        calls.append((retry, first, longest))
        return backoff_wait(retry, first, longest)

    monkeypatch.setattr(transport, "backoff_wait", recorded)
    return calls


@pytest.mark.parametrize("retry", [1, 2, 3, 6, 40])
def test_the_wait_doubles_with_jitter_up_to_the_longest(retry):
    first, longest = 0.5, 4.0
    floor = min(longest, first * 2 ** (retry - 1))
    for _ in range(200):
        wait = transport.backoff_wait(retry, first, longest)
        assert floor <= wait <= min(longest, floor + first)


def test_no_wait_when_the_waits_are_zero():
    assert transport.backoff_wait(5, 0.0, 0.0) == 0.0


def test_the_sync_hook_retries_with_it(make_hook, sandbox, rule, asked):
    hook = make_hook(retry_min_wait=0.01, retry_max_wait=0.03)
    hook.get_access_token()
    sandbox.admin.set_faults([{"kind": "503", "every": 1, "limit": 2, "path": "/rest/conversions"}])
    assert hook.get_conversion_rule(rule["id"])["id"] == rule["id"]
    assert asked == [(1, 0.01, 0.03), (2, 0.01, 0.03)]


def test_the_async_hook_retries_with_it(sandbox, rule, asked):
    sandbox.admin.set_faults([{"kind": "503", "every": 1, "limit": 2, "path": "/rest/conversions"}])

    async def read() -> dict:
        async with LinkedInCapiAsyncHook(retry_min_wait=0.02, retry_max_wait=0.04) as hook:
            return await hook.get_conversion_rule(rule["id"])

    assert asyncio.run(read())["id"] == rule["id"]
    assert asked == [(1, 0.02, 0.04), (2, 0.02, 0.04)]


def test_elements_are_resent_after_it(make_hook, sandbox, rule, make_events, asked):
    hook = make_hook(retry_min_wait=0.01, retry_max_wait=0.02)
    events = make_events(rule["id"], 5)
    sandbox.admin.fail_elements([events[1]["eventId"]], status=503, times=2)
    result = deliver_events(hook, events)
    assert (result.accepted, result.rejected) == (5, {})
    assert asked == [(1, 0.01, 0.02), (2, 0.01, 0.02)]
