"""Conversion events over real HTTP: batches, LinkedIn's all-or-nothing rejections, and fault storms."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiError
from airflow_provider_linkedin_capi.hooks.linkedin_capi import MAX_BATCH_SIZE, BatchResult, EncodedEvents
from airflow_provider_linkedin_capi.push.delivery import deliver_events

REQUIRED = "field is required but not found and has no default value"


def _as_sent(events: list[dict], encoded: bool) -> list[dict] | EncodedEvents:
    """The push sends batches as their written body (``EncodedEvents``); a user may send dicts."""
    return EncodedEvents(events) if encoded else events


@pytest.fixture(params=[False, True], ids=["dicts", "encoded"])
def encoded(request) -> bool:
    return request.param


def test_batch_is_accepted_whole(hook, sandbox, rule, make_events, encoded):
    events = make_events(rule["id"], 250)
    assert hook.send_conversion_events(_as_sent(events, encoded)) == BatchResult(status=200, accepted=250)
    assert sandbox.admin.event_ids(rule["id"]) == {e["eventId"]: 1 for e in events}


def test_empty_and_oversized_batches(hook, sandbox, rule, make_events):
    assert hook.send_conversion_events([]) == BatchResult(status=200, accepted=0)
    with pytest.raises(ValueError, match="5000"):
        hook.send_conversion_events(make_events(rule["id"], MAX_BATCH_SIZE + 1))
    assert sandbox.admin.stats()["requests_by_status"] == {}


def test_422_is_parsed_into_per_index_errors(hook, sandbox, rule, make_events):
    events = make_events(rule["id"], 6)
    del events[1]["user"]["userIds"]
    events[4]["conversionValue"] = {"currencyCode": "USD"}
    events[4]["user"]["userInfo"] = {"firstName": "ada"}
    result = hook.send_conversion_events(events)
    assert result.status == 422
    assert not result.ok
    assert result.accepted == 0
    assert result.message is None
    assert set(result.errors) == {1, 4}
    assert result.errors[1] == f"ERROR :: /user/userIds :: {REQUIRED}"
    assert "/conversionValue/amount" in result.errors[4]
    assert "/user/userInfo/lastName" in result.errors[4]
    assert sandbox.admin.stats()["events_total"] == 0  # all or nothing


def test_deliver_drops_named_elements_and_resends_the_rest(hook, sandbox, rule, make_events, encoded):
    events = make_events(rule["id"], 40)
    poisoned = {3, 17, 39}
    sandbox.admin.poison([events[i]["eventId"] for i in poisoned], message_format="indexed")
    result = deliver_events(hook, _as_sent(events, encoded))
    assert result.accepted == 37
    assert set(result.rejected) == poisoned
    assert result.requests == 2
    assert all(message for message in result.rejected.values())
    accepted_ids = sandbox.admin.event_ids(rule["id"])
    assert accepted_ids == {e["eventId"]: 1 for i, e in enumerate(events) if i not in poisoned}


def test_elements_answered_with_a_retryable_status_are_resent(hook, sandbox, rule, make_events):
    # Whether LinkedIn answers a 200 with per-element 429/5xx is UNKNOWN
    # (docs/linkedin-contract.md §2.2.2); if it does, those
    # elements were not taken, and dropping them as rejected would lose them.
    events = make_events(rule["id"], 30)
    flaky = {2, 29}
    sandbox.admin.fail_elements([events[i]["eventId"] for i in flaky], status=503, times=2)

    first = hook.send_conversion_events(events)
    assert (first.status, first.accepted, first.retryable, first.errors) == (200, 28, (2, 29), {})
    assert not first.ok

    result = deliver_events(hook, events)  # the two answer 503 once more, then 201
    assert (result.accepted, result.rejected, result.requests) == (30, {}, 2)
    assert sandbox.admin.event_ids(rule["id"]) == {
        e["eventId"]: 2 - (i in flaky) for i, e in enumerate(events)
    }


def test_elements_that_keep_failing_end_the_delivery_with_what_was_taken(
    make_hook, sandbox, rule, make_events
):
    hook = make_hook(max_retries=2)
    events = make_events(rule["id"], 10)
    sandbox.admin.fail_elements([events[4]["eventId"]], status=500, times=50)

    with pytest.raises(LinkedInCapiError, match="1 of its elements with a retryable status") as failure:
        deliver_events(hook, events)

    partial = failure.value.delivered_before_failure
    assert (partial.accepted, partial.rejected, partial.unsent, partial.requests) == (9, {}, (4,), 3)
    assert events[4]["eventId"] not in sandbox.admin.event_ids(rule["id"])


def test_deliver_bisects_when_linkedin_names_no_element(hook, sandbox, rule, make_events, encoded):
    events = make_events(rule["id"], 64)
    poisoned = {5, 42}
    sandbox.admin.poison([events[i]["eventId"] for i in poisoned], message_format="opaque")
    first = hook.send_conversion_events(events)
    assert first.errors == {}
    assert first.message
    result = deliver_events(hook, _as_sent(events, encoded))
    assert result.accepted == 62
    assert set(result.rejected) == poisoned
    # LinkedIn's own text for the element alone, for the rejects file
    assert result.rejected[5] == "ERROR :: /eventId :: value rejected by the sandbox (poisoned eventId)"
    assert result.requests <= 2 * len(poisoned) * 7  # bisection, not one request per element
    assert sandbox.admin.event_ids(rule["id"]) == {
        e["eventId"]: 1 for i, e in enumerate(events) if i not in poisoned
    }


def test_deliver_mixes_indexed_validation_and_a_wrong_rule(hook, sandbox, rule, make_events):
    insight_tag = sandbox.admin.create_rule(
        name="tag", type="LEAD", conversionMethod="INSIGHT_TAG_URL_MATCH_RULES"
    )
    events = make_events(rule["id"], 10)
    events[2]["conversion"] = f"urn:lla:llaPartnerConversion:{insight_tag['id']}"
    del events[7]["user"]["userIds"]
    result = deliver_events(hook, events)
    assert set(result.rejected) == {2, 7}
    assert result.accepted == 8
    assert sandbox.admin.stats()["events_total"] == 8


@pytest.mark.parametrize(
    "faults",
    [
        [{"kind": "429", "every": 2}],
        [{"kind": "503", "fraction": 0.3}],
        [{"kind": "500", "every": 3}, {"kind": "429", "every": 4}],
        [{"kind": "drop", "every": 4, "when": "before"}],
    ],
    ids=["429-every-2", "503-30pct", "500-and-429", "drop-before"],
)
def test_storms_are_ridden_out(hook, sandbox, rule, make_events, faults):
    sandbox.admin.set_faults(faults, seed=7)
    events = make_events(rule["id"], 200)
    for start in range(0, 200, 20):
        assert hook.send_conversion_events(events[start : start + 20]).accepted == 20
    stats = sandbox.admin.stats()
    assert sum(stats["faults_injected"].values()) > 0
    assert stats["events_total"] == 200
    assert stats["duplicate_event_ids"] == 0


def test_drop_after_processing_is_retried_and_visible_as_duplicate_event_ids(
    hook, sandbox, rule, make_events
):
    # LinkedIn may have taken a batch whose answer was lost; the resend carries the same eventIds, which is
    # what lets the push operator and LinkedIn recognise it (CAPI-to-CAPI dedup is UNKNOWN,
    # docs/linkedin-contract.md §2.4.2).
    sandbox.admin.set_faults([{"kind": "drop", "every": 1, "limit": 1, "when": "after", "path": "/rest"}])
    events = make_events(rule["id"], 5)
    assert hook.send_conversion_events(events).accepted == 5
    assert sandbox.admin.event_ids(rule["id"]) == {e["eventId"]: 2 for e in events}


def test_exhausted_retries_say_how_many_attempts_and_the_last_answer(make_hook, sandbox, rule, make_events):
    hook = make_hook(max_retries=2)
    hook.get_access_token()
    sandbox.admin.set_faults([{"kind": "503", "every": 1, "path": "/rest"}])
    with pytest.raises(
        LinkedInCapiError, match=r"after 3 attempt\(s\).*HTTP 503.*Service Unavailable"
    ) as info:
        hook.send_conversion_events(make_events(rule["id"], 2))
    assert info.value.status == 503
    assert sandbox.admin.stats()["requests_by_status"]["503"] == 3


def test_max_retries_from_connection_extra(make_hook, sandbox, rule, make_events, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT", sandbox.connection_json(max_retries=1))
    hook = make_hook()
    assert hook.max_retries == 1
    hook.get_access_token()
    sandbox.admin.set_faults([{"kind": "429", "every": 1, "path": "/rest"}])
    with pytest.raises(LinkedInCapiError, match=r"after 2 attempt\(s\).*HTTP 429"):
        hook.list_conversion_rules()


def test_other_client_errors_are_not_retried(hook, sandbox):
    with pytest.raises(LinkedInCapiError) as info:
        hook.get_conversion_rule(999_999)
    assert info.value.status == 404
    assert sandbox.admin.stats()["requests_by_status"]["404"] == 1


def test_hooks_of_one_connection_share_one_rate_limiter(make_hook):
    first, second = make_hook(), make_hook()
    assert first.rate_limiter is second.rate_limiter


def test_pacing_keeps_the_sandbox_from_throttling(make_hook, sandbox, rule, make_events, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_LI_PACED", sandbox.connection_json(requests_per_minute=60))
    sandbox.admin.configure(requests_per_minute=60)
    hook = make_hook(linkedin_capi_conn_id="li_paced", requests_per_minute=None)
    assert hook.requests_per_minute == 60
    for start in range(0, 10, 1):
        hook.send_conversion_events(make_events(rule["id"], 1, prefix=f"paced-{start}"))
    stats = sandbox.admin.stats()
    assert stats["events_total"] == 10
    assert "429" not in stats["requests_by_status"]


@given(
    poisoned=st.sets(st.integers(0, 29), max_size=8),
    message_format=st.sampled_from(["indexed", "opaque"]),
    encoded=st.booleans(),
)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_deliver_accepts_exactly_the_clean_events(
    hook, sandbox_process, make_events, poisoned, message_format, encoded
):
    admin = sandbox_process.admin
    admin.reset()
    rule = admin.create_rule(name="property", type="PURCHASE")
    events = make_events(rule["id"], 30)
    admin.poison([events[i]["eventId"] for i in poisoned], message_format=message_format)
    result = deliver_events(hook, _as_sent(events, encoded))
    assert set(result.rejected) == poisoned
    assert result.accepted == 30 - len(poisoned)
    assert admin.event_ids(rule["id"]) == {e["eventId"]: 1 for i, e in enumerate(events) if i not in poisoned}
