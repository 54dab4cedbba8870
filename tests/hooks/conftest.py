"""Hooks under test talk real HTTP to the session sandbox, with tiny retry waits so storms stay quick."""

from __future__ import annotations

import time

import pytest

from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID

# Far above anything the tests send, so the shared per-process bucket never slows them; pacing itself is
# tested with its own connection id and budget.
FAST_BUDGET = 1_000_000


@pytest.fixture
def make_hook(sandbox):
    hooks: list[LinkedInCapiHook] = []

    def make(**kwargs) -> LinkedInCapiHook:
        kwargs.setdefault("retry_min_wait", 0.01)
        kwargs.setdefault("retry_max_wait", 0.05)
        kwargs.setdefault("requests_per_minute", FAST_BUDGET)
        kwargs.setdefault("propagation_wait", 0.01)
        hook = LinkedInCapiHook(**kwargs)
        hooks.append(hook)
        return hook

    yield make
    for hook in hooks:
        hook.close()


@pytest.fixture
def hook(make_hook) -> LinkedInCapiHook:
    return make_hook()


@pytest.fixture
def two_legged_token(sandbox) -> str:
    return sandbox.two_legged_token()


@pytest.fixture
def rule(sandbox) -> dict:
    return sandbox.admin.create_rule(name="CRM purchases", type="PURCHASE", account=AD_ACCOUNT_ID)


def _events(rule_id: object, count: int, prefix: str = "evt") -> list[dict]:
    now_ms = int(time.time() * 1000)
    return [
        {
            "conversion": f"urn:lla:llaPartnerConversion:{rule_id}",
            "conversionHappenedAt": now_ms - 60_000 - i,
            "eventId": f"{prefix}-{i}",
            "user": {"userIds": [{"idType": "SHA256_EMAIL", "idValue": f"{i:064x}"}]},
        }
        for i in range(count)
    ]


@pytest.fixture
def make_events():
    """``make_events(rule_id, count, prefix)``: valid events with distinct eventIds and hashed emails."""
    return _events
