"""The rule-status trigger: serialisation as the triggerer does it, and runs against the sandbox."""

from __future__ import annotations

import asyncio
import json

import pytest
from airflow.models.trigger import Trigger
from airflow.sdk.module_loading import import_string

from airflow_provider_linkedin_capi.hooks import _transport as transport
from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID
from airflow_provider_linkedin_capi.triggers.conversion_rule import LinkedInCapiConversionRuleTrigger

CLASSPATH = "airflow_provider_linkedin_capi.triggers.conversion_rule.LinkedInCapiConversionRuleTrigger"


def make_trigger(**overrides) -> LinkedInCapiConversionRuleTrigger:
    kwargs = {
        "conversion_rule_id": "123",
        "ad_account_id": "510000001",
        "wait_for": "events_received",
        "min_campaigns": 2,
        "events_since_ms": 1_767_225_600_000,
        "poll_interval": 0.05,
        "linkedin_capi_conn_id": "linkedin_capi_default",
    }
    kwargs.update(overrides)
    return LinkedInCapiConversionRuleTrigger(**kwargs)


def test_serialize_import_construct_round_trip():
    trigger = make_trigger()
    classpath, kwargs = trigger.serialize()

    assert classpath == CLASSPATH
    # Primitives only: what the triggerer stores must survive plain JSON ...
    assert json.loads(json.dumps(kwargs)) == kwargs
    # ... and the encrypt/decrypt the Trigger table applies.
    stored = Trigger._decrypt_kwargs(Trigger.encrypt_kwargs(kwargs))
    rebuilt = import_string(classpath)(**stored)

    assert type(rebuilt) is LinkedInCapiConversionRuleTrigger
    assert rebuilt.serialize() == (classpath, kwargs)


def test_round_trip_keeps_optional_fields_empty():
    classpath, kwargs = make_trigger(ad_account_id=None, events_since_ms=None, wait_for="ready").serialize()
    rebuilt = import_string(classpath)(**Trigger._decrypt_kwargs(Trigger.encrypt_kwargs(kwargs)))
    assert rebuilt.ad_account_id is None
    assert rebuilt.events_since_ms is None


async def _first_event(trigger: LinkedInCapiConversionRuleTrigger) -> dict:
    events = trigger.run()
    try:
        return (await events.__anext__()).payload
    finally:
        await events.aclose()


def test_polls_until_ready_and_yields_one_event(sandbox):
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD", campaigns=["urn:li:sponsoredCampaign:1"])
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, [2])
    trigger = make_trigger(conversion_rule_id=str(rule["id"]), wait_for="ready", min_campaigns=2)

    async def scenario() -> dict:
        waiting = asyncio.create_task(_first_event(trigger))
        # The trigger is polling a rule with one campaign; while it waits, the loop stays free for others.
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await asyncio.to_thread(LinkedInCapiHook().associate_campaigns, rule["id"], [2])
        return await asyncio.wait_for(waiting, timeout=30)

    event = asyncio.run(scenario())
    assert event["status"] == "success"
    assert event["wait_for"] == "ready"
    assert event["rule"]["campaign_count"] == 2


def test_run_yields_exactly_one_event(sandbox):
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD", campaigns=["urn:li:sponsoredCampaign:1"])
    trigger = make_trigger(conversion_rule_id=str(rule["id"]), wait_for="ready", min_campaigns=1)

    async def collect() -> list:
        return [event.payload async for event in trigger.run()]

    events = asyncio.run(collect())
    assert [event["status"] for event in events] == ["success"]


def test_cancellation_is_not_turned_into_an_event(sandbox):
    """The triggerer cancels triggers it moves or times out; that must not fire a bogus error event."""
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD")
    trigger = make_trigger(conversion_rule_id=str(rule["id"]), wait_for="ready")
    with pytest.raises(TimeoutError):
        asyncio.run(asyncio.wait_for(_first_event(trigger), timeout=0.5))


def test_a_fresh_token_that_has_not_propagated_does_not_fail_the_wait(sandbox, monkeypatch):
    # The trigger always starts with a freshly minted token, the one LinkedIn may refuse as revoked until
    # it has propagated
    # (docs/linkedin-contract.md §7.11). Two such 401s used to end the wait with a permanent failure.
    monkeypatch.setenv("AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT", sandbox.connection_json(propagation_wait=0.01))
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD", campaigns=["urn:li:sponsoredCampaign:1"])
    sandbox.admin.set_faults(
        [{"kind": "unpropagated_token", "every": 1, "limit": 2, "path": "/rest/conversions"}]
    )
    trigger = make_trigger(conversion_rule_id=str(rule["id"]), wait_for="ready", min_campaigns=1)

    event = asyncio.run(asyncio.wait_for(_first_event(trigger), timeout=30))
    assert event["status"] == "success", event
    assert sandbox.admin.stats()["faults_injected"] == {"unpropagated_token": 2}


def test_reads_retry_with_the_connections_settings(sandbox, monkeypatch):
    # max_retries and the waits come from the connection (as in poke mode), not from constants of the
    # async hook: with no retries allowed, one 503 ends the wait as a retryable error.
    monkeypatch.setenv("AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT", sandbox.connection_json(max_retries=0))
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD", campaigns=["urn:li:sponsoredCampaign:1"])
    sandbox.admin.set_faults([{"kind": "503", "every": 1, "limit": 1, "path": "/rest/conversions"}])
    event = asyncio.run(
        asyncio.wait_for(_first_event(make_trigger(conversion_rule_id=str(rule["id"]))), timeout=30)
    )
    assert event["status"] == "error"
    assert "503" in event["message"]

    sandbox.admin.set_faults([{"kind": "503", "every": 1, "limit": 2, "path": "/rest/conversions"}])
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT",
        sandbox.connection_json(max_retries=2, retry_min_wait=0.01, retry_max_wait=0.02),
    )
    waits: list[float] = []
    backoff_wait = transport.backoff_wait

    def recorded_backoff_wait(retry: int, first: float, longest: float) -> float:
        waits.append(backoff_wait(retry, first, longest))
        return waits[-1]

    monkeypatch.setattr(transport, "backoff_wait", recorded_backoff_wait)
    trigger = make_trigger(conversion_rule_id=str(rule["id"]), wait_for="ready", min_campaigns=1)
    event = asyncio.run(asyncio.wait_for(_first_event(trigger), timeout=30))
    assert event["status"] == "success"
    # Two 503s, two backoffs, each within the connection's short waits, not the default one-second backoff.
    assert len(waits) == 2
    assert all(0.01 <= wait <= 0.02 for wait in waits), waits
