from __future__ import annotations

import datetime as dt

import pytest

from airflow_provider_linkedin_capi.rules.status import (
    evaluate_rule,
    linked_campaign_urns,
    rule_status_fields,
    to_epoch_ms,
)

RULE = {
    "id": 77,
    "name": "Leads",
    "account": "urn:li:sponsoredAccount:5",
    "type": "LEAD",
    "enabled": True,
    "conversionMethod": "CONVERSIONS_API",
    "campaigns": ["urn:li:sponsoredCampaign:1"],
    "associatedCampaigns": [
        {"campaign": "urn:li:sponsoredCampaign:1", "associatedAt": 1},
        {"campaign": "urn:li:sponsoredCampaign:2", "associatedAt": 2},
    ],
    "urlRules": [{"type": "EXACT", "matchValue": "https://example.com"}],
}


def test_links_are_the_union_of_both_views():
    assert linked_campaign_urns(RULE) == ["urn:li:sponsoredCampaign:1", "urn:li:sponsoredCampaign:2"]


def test_status_fields_are_small():
    fields = rule_status_fields(RULE)
    assert fields["rule_id"] == "77"
    assert fields["campaign_count"] == 2
    assert "urlRules" not in fields
    assert "campaigns" not in fields


def test_ready_needs_enough_campaigns_and_enabled():
    assert evaluate_rule(RULE, min_campaigns=2).done
    verdict = evaluate_rule({**RULE, "enabled": False}, min_campaigns=3)
    assert not verdict.done
    assert verdict.failure is None
    assert verdict.waiting_for == ["rule is disabled", "2 of at least 3 campaigns linked"]


def test_non_capi_rule_fails_fast_in_both_waits():
    rule = {**RULE, "conversionMethod": "INSIGHT_TAG_URL_MATCH_RULES"}
    for wait_for in ("ready", "events_received"):
        verdict = evaluate_rule(rule, wait_for=wait_for)
        assert "INSIGHT_TAG_URL_MATCH_RULES" in verdict.failure
        assert not verdict.done


def test_events_received_compares_the_later_callback():
    rule = {**RULE, "lastCallbackAt": 1_000, "latestFirstPartyCallbackAt": 5_000}
    assert evaluate_rule(rule, wait_for="events_received", events_since_ms=5_000).done
    assert not evaluate_rule(rule, wait_for="events_received", events_since_ms=5_001).done
    assert not evaluate_rule(RULE, wait_for="events_received").done
    assert evaluate_rule(rule, wait_for="events_received").done


def test_unknown_wait_for():
    with pytest.raises(ValueError, match="wait_for"):
        evaluate_rule(RULE, wait_for="active")


@pytest.mark.parametrize(
    "value",
    [
        1_767_225_600_000,
        1_767_225_600,
        "1767225600000",
        "2026-01-01T00:00:00Z",
        "2026-01-01T01:00:00+01:00",
        dt.datetime(2026, 1, 1),
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        dt.date(2026, 1, 1),
    ],
)
def test_to_epoch_ms(value):
    assert to_epoch_ms(value) == 1_767_225_600_000


def test_to_epoch_ms_rejects_garbage():
    assert to_epoch_ms(None) is None
    with pytest.raises(ValueError, match="ISO-8601"):
        to_epoch_ms("yesterday")
    for value in ("inf", float("nan"), True):
        with pytest.raises(ValueError, match=r"not a point in time|not an ISO-8601"):
            to_epoch_ms(value)
