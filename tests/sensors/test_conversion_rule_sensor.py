"""The rule-status sensor against the sandbox, poked and deferred, over real HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import time
from types import SimpleNamespace

import pytest
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiError
from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID
from airflow_provider_linkedin_capi.sensors.conversion_rule import LinkedInCapiConversionRuleSensor
from airflow_provider_linkedin_capi.triggers.conversion_rule import LinkedInCapiConversionRuleTrigger

CAMPAIGN = "urn:li:sponsoredCampaign:"


def sensor(**kwargs) -> LinkedInCapiConversionRuleSensor:
    # A deferrable sensor refuses intervals under 5 s; the trigger's first read needs no wait anyway.
    kwargs.setdefault("poke_interval", 5 if kwargs.get("deferrable") else 0.1)
    kwargs.setdefault("timeout", 60)
    return LinkedInCapiConversionRuleSensor(task_id="wait_for_rule", **kwargs)


def run_trigger(trigger: LinkedInCapiConversionRuleTrigger) -> dict:
    async def first_event() -> dict:
        events = trigger.run()
        event = await events.__anext__()
        await events.aclose()
        return event.payload

    return asyncio.run(asyncio.wait_for(first_event(), timeout=60))


def send_event(rule_id: object) -> None:
    email_hash = hashlib.sha256(b"member@example.com").hexdigest()
    result = LinkedInCapiHook().send_conversion_events(
        [
            {
                "conversion": f"urn:lla:llaPartnerConversion:{rule_id}",
                "conversionHappenedAt": int(time.time() * 1000) - 60_000,
                "eventId": f"sensor-test-{rule_id}",
                "user": {"userIds": [{"idType": "SHA256_EMAIL", "idValue": email_hash}]},
            }
        ]
    )
    assert result.ok, result


def test_ready_rule_succeeds_in_poke_mode(sandbox):
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD", campaigns=[f"{CAMPAIGN}1", f"{CAMPAIGN}2"])

    fields = sensor(conversion_rule_id=rule["id"], min_campaigns=2, deferrable=False).execute(context={})

    assert fields == {
        "rule_id": str(rule["id"]),
        "name": "Leads",
        "account": f"urn:li:sponsoredAccount:{AD_ACCOUNT_ID}",
        "type": "LEAD",
        "enabled": True,
        "conversion_method": "CONVERSIONS_API",
        "campaign_count": 2,
        "last_callback_at": None,
        "latest_first_party_callback_at": None,
    }


def test_ready_rule_returns_without_deferring(sandbox):
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD", campaigns=[f"{CAMPAIGN}1"])
    fields = sensor(conversion_rule_id=str(rule["id"]), deferrable=True).execute(context={})
    assert fields["campaign_count"] == 1


def test_deferred_until_campaigns_are_linked(sandbox):
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, [7])
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD")
    task = sensor(
        conversion_rule_id=f"urn:lla:llaPartnerConversion:{rule['id']}",
        deferrable=True,
        poke_interval=5,
        timeout=dt.timedelta(minutes=5),
    )

    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context={})

    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == dt.timedelta(minutes=5)
    trigger = deferred.value.trigger
    assert isinstance(trigger, LinkedInCapiConversionRuleTrigger)
    assert trigger.serialize()[1]["conversion_rule_id"] == str(rule["id"])

    LinkedInCapiHook().associate_campaigns(rule["id"], [7])
    event = run_trigger(trigger)

    assert event["status"] == "success"
    fields = task.execute_complete(context={}, event=event)
    assert fields["rule_id"] == str(rule["id"])
    assert fields["campaign_count"] == 1


def test_disabled_rule_is_awaited_not_failed(sandbox):
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD", enabled=False, campaigns=[f"{CAMPAIGN}1"])
    with pytest.raises(TaskDeferred) as deferred:
        sensor(conversion_rule_id=rule["id"], deferrable=True).execute(context={})
    LinkedInCapiHook().update_conversion_rule(rule["id"], enabled=True)
    assert run_trigger(deferred.value.trigger)["rule"]["enabled"] is True


def test_poke_mode_times_out(sandbox):
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD")
    task = sensor(conversion_rule_id=rule["id"], deferrable=False, poke_interval=0.1, timeout=0.5)
    with pytest.raises(AirflowSensorTimeout):
        task.execute(context={})


def test_events_received_poked(sandbox):
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD", campaigns=[f"{CAMPAIGN}1"])
    pushed_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    send_event(rule["id"])

    fields = sensor(
        conversion_rule_id=rule["id"], wait_for="events_received", events_since=pushed_at.isoformat()
    ).execute(context={})

    assert fields["last_callback_at"] >= int(pushed_at.timestamp() * 1000)


def test_events_received_defaults_to_the_dag_run_start(sandbox):
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD", campaigns=[f"{CAMPAIGN}1"])
    run_start = dt.datetime.now(dt.UTC)
    # A callback from before this run (yesterday's sync) must not count.
    sandbox.admin.update_rule(rule["id"], lastCallbackAt=int(run_start.timestamp() * 1000) - 86_400_000)
    context = {"dag_run": SimpleNamespace(start_date=run_start)}
    task = sensor(conversion_rule_id=rule["id"], wait_for="events_received", deferrable=False)

    assert not task.poke(context)
    send_event(rule["id"])
    assert task.execute(context=context)["last_callback_at"] >= int(run_start.timestamp() * 1000)


def test_events_received_deferred_until_the_callback_shows(sandbox):
    # LinkedIn's callback timestamp lags behind accepted events (by an UNKNOWN amount).
    sandbox.admin.configure(callback_lag_seconds=1.0)
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD", campaigns=[f"{CAMPAIGN}1"])
    since_ms = int(time.time() * 1000) - 1000
    send_event(rule["id"])
    task = sensor(
        conversion_rule_id=rule["id"], wait_for="events_received", events_since=since_ms, deferrable=True
    )

    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context={})

    trigger = deferred.value.trigger
    assert trigger.events_since_ms == since_ms
    event = run_trigger(trigger)
    assert event["status"] == "success"
    assert task.execute_complete(context={}, event=event)["last_callback_at"] >= since_ms


@pytest.mark.parametrize("deferrable", [False, True])
def test_insight_tag_rule_fails_fast(sandbox, deferrable):
    rule = sandbox.admin.create_rule(
        name="Page views", type="KEY_PAGE_VIEW", conversionMethod="INSIGHT_TAG_URL_MATCH_RULES"
    )
    with pytest.raises(AirflowFailException, match="Insight-Tag rules"):
        sensor(conversion_rule_id=rule["id"], deferrable=deferrable).execute(context={})


def test_insight_tag_rule_fails_fast_in_the_trigger(sandbox):
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD")
    with pytest.raises(TaskDeferred) as deferred:
        sensor(conversion_rule_id=rule["id"], deferrable=True).execute(context={})
    # Someone points the rule at the Insight Tag while the sensor waits.
    sandbox.admin.update_rule(rule["id"], conversionMethod="INSIGHT_TAG_JAVASCRIPT_EVENT")

    event = run_trigger(deferred.value.trigger)

    assert event["status"] == "failed"
    with pytest.raises(AirflowFailException, match="INSIGHT_TAG_JAVASCRIPT_EVENT"):
        sensor(conversion_rule_id=rule["id"]).execute_complete(context={}, event=event)


@pytest.mark.parametrize("deferrable", [False, True])
def test_missing_rule_fails_fast(sandbox, deferrable):
    with pytest.raises(AirflowFailException, match="Conversion rule 999999 does not exist"):
        sensor(conversion_rule_id=999999, deferrable=deferrable).execute(context={})


def test_missing_rule_in_the_trigger_is_a_failure_event(sandbox):
    trigger = LinkedInCapiConversionRuleTrigger(conversion_rule_id="999999", poll_interval=0.1)
    event = run_trigger(trigger)
    assert event["status"] == "failed"
    assert "999999 does not exist" in event["message"]


def test_unreachable_linkedin_is_a_retryable_error(sandbox, monkeypatch):
    conn = sandbox.connection(max_retries=0)
    conn["host"] = "http://127.0.0.1:9/rest"  # discard port: connection refused
    monkeypatch.setenv("AIRFLOW_CONN_LINKEDIN_CAPI_UNREACHABLE", json.dumps(conn))
    trigger = LinkedInCapiConversionRuleTrigger(
        conversion_rule_id="1", linkedin_capi_conn_id="linkedin_capi_unreachable"
    )
    event = run_trigger(trigger)
    assert event["status"] == "error"
    assert "Could not reach LinkedIn" in event["message"]
    with pytest.raises(AirflowException) as raised:
        sensor(conversion_rule_id=1).execute_complete(context={}, event=event)
    assert not isinstance(raised.value, AirflowFailException)


def test_revoked_refresh_token_is_a_failure_event(sandbox):
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD")
    sandbox.admin.revoke_refresh_token()
    event = run_trigger(LinkedInCapiConversionRuleTrigger(conversion_rule_id=str(rule["id"])))
    assert event["status"] == "failed"
    assert "re-authorise" in event["message"]


def test_bad_arguments_fail_the_task(sandbox):
    with pytest.raises(ValueError, match="wait_for must be one of"):
        sensor(conversion_rule_id=1, wait_for="active")
    with pytest.raises(AirflowFailException, match="events_since"):
        sensor(conversion_rule_id=1, wait_for="events_received", events_since="last night").execute(
            context={}
        )
    with pytest.raises(AirflowFailException, match="conversion rule must be a numeric id"):
        sensor(conversion_rule_id="urn:li:conversion:1").execute(context={})


@pytest.mark.parametrize("deferrable", [False, True])
def test_soft_fail_turns_a_fast_failure_into_a_skip(sandbox, deferrable):
    with pytest.raises(AirflowSkipException):
        sensor(conversion_rule_id=999999, deferrable=deferrable, soft_fail=True).execute(context={})


def two_legged_connection(sandbox, monkeypatch) -> None:
    """Point the default connection at a valid token that LinkedIn answers 403 (no member, no scopes)."""
    token = sandbox.two_legged_token()
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT", sandbox.connection_json(auth="access_token", access_token=token)
    )


@pytest.mark.parametrize("deferrable", [False, True])
def test_forbidden_fails_fast_in_both_modes(sandbox, monkeypatch, deferrable):
    # A 403 (scope, role or product missing) used to be a retryable error when poked and a failure when
    # deferred; both modes now fail at once, naming what is missing.
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD")
    two_legged_connection(sandbox, monkeypatch)
    with pytest.raises(AirflowFailException, match="rw_conversions and r_ads"):
        sensor(conversion_rule_id=rule["id"], deferrable=deferrable).execute(context={})


def test_forbidden_in_the_trigger_is_a_failure_event(sandbox, monkeypatch):
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD")
    two_legged_connection(sandbox, monkeypatch)
    event = run_trigger(LinkedInCapiConversionRuleTrigger(conversion_rule_id=str(rule["id"])))
    assert event["status"] == "failed"
    assert "rw_conversions and r_ads" in event["message"]


def unreachable_connection(sandbox, monkeypatch) -> None:
    conn = sandbox.connection(max_retries=0)
    conn["host"] = "http://127.0.0.1:9/rest"  # discard port: connection refused
    monkeypatch.setenv("AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT", json.dumps(conn))


@pytest.mark.parametrize("deferrable", [False, True])
def test_never_fail_skips_on_any_poke_error_in_both_modes(sandbox, monkeypatch, deferrable):
    # BaseSensorOperator.execute (Airflow 3.3) skips on any poke error with never_fail; the deferrable
    # first poke does the same.
    unreachable_connection(sandbox, monkeypatch)
    task = sensor(conversion_rule_id=1, deferrable=deferrable, never_fail=True)
    with pytest.raises(AirflowSkipException, match="never_fail"):
        task.execute(context={})


def test_silent_fail_keeps_waiting_after_a_failed_first_poke(sandbox, monkeypatch):
    # In poke mode silent_fail logs the error and pokes again; deferred, "again" happens in the triggerer.
    unreachable_connection(sandbox, monkeypatch)
    with pytest.raises(TaskDeferred) as deferred:
        sensor(conversion_rule_id=1, deferrable=True, silent_fail=True).execute(context={})
    assert deferred.value.trigger.conversion_rule_id == "1"


def test_a_poke_error_without_never_or_silent_fail_is_retryable(sandbox, monkeypatch):
    unreachable_connection(sandbox, monkeypatch)
    with pytest.raises(LinkedInCapiError, match="failed after 1 attempt") as raised:
        sensor(conversion_rule_id=1, deferrable=True).execute(context={})
    assert not isinstance(raised.value, AirflowFailException)


def test_silent_fail_does_not_hide_a_fast_failure(sandbox):
    with pytest.raises(AirflowFailException, match="does not exist"):
        sensor(conversion_rule_id=999999, deferrable=True, silent_fail=True).execute(context={})
