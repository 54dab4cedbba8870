"""Conversion rules and campaign links over real HTTP, with the Rest.li keys LinkedIn expects."""

from __future__ import annotations

import json

import pytest

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiNotFoundError
from airflow_provider_linkedin_capi.hooks.linkedin_capi import RULES_PAGE_SIZE
from airflow_provider_linkedin_capi.rules.spec import ConversionRuleSpec
from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID

ACCOUNT_URN = f"urn:li:sponsoredAccount:{AD_ACCOUNT_ID}"


def test_create_get_update_rule(hook, sandbox):
    created = hook.create_conversion_rule(
        ConversionRuleSpec.build(name="Closed won", conversion_type="QUALIFIED_LEAD", value_type="NO_VALUE")
    )
    assert isinstance(created["id"], int)
    assert created["conversionMethod"] == "CONVERSIONS_API"
    assert created["account"] == ACCOUNT_URN
    assert created["postClickAttributionWindowSize"] == 30
    assert created["viewThroughAttributionWindowSize"] == 7
    assert created["attributionType"] == "LAST_TOUCH_BY_CAMPAIGN"
    hook.update_conversion_rule(created["id"], name="Closed won (CRM)", enabled=False)
    fetched = hook.get_conversion_rule(f"urn:lla:llaPartnerConversion:{created['id']}", account=ACCOUNT_URN)
    assert fetched["name"] == "Closed won (CRM)"
    assert fetched["enabled"] is False
    assert sandbox.admin.stats()["rules"] == 1


def test_create_with_auto_association_links_existing_campaigns(hook, sandbox):
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, [700001, 700002])
    created = hook.create_conversion_rule(
        ConversionRuleSpec.build(
            name="Auto", conversion_type="LEAD", auto_association="ALL_CAMPAIGNS", post_click_window_days=90
        )
    )
    assert set(created["campaigns"]) == {"urn:li:sponsoredCampaign:700001", "urn:li:sponsoredCampaign:700002"}
    assert created["postClickAttributionWindowSize"] == 90


def test_create_after_a_dropped_answer_does_not_make_a_second_rule(hook, sandbox):
    hook.get_access_token()
    sandbox.admin.set_faults(
        [{"kind": "drop", "every": 1, "limit": 1, "when": "after", "path": "/rest/conversions"}]
    )
    created = hook.create_conversion_rule(
        ConversionRuleSpec.build(name="Exactly once", conversion_type="PURCHASE")
    )
    rules = hook.list_conversion_rules()
    assert [rule["id"] for rule in rules] == [created["id"]]
    assert sandbox.admin.stats()["faults_injected"] == {"drop": 1}


def test_create_after_a_drop_before_processing_creates_the_rule(hook, sandbox):
    hook.get_access_token()
    sandbox.admin.set_faults(
        [{"kind": "drop", "every": 1, "limit": 1, "when": "before", "path": "/rest/conversions"}]
    )
    created = hook.create_conversion_rule(
        ConversionRuleSpec.build(name="Retried", conversion_type="PURCHASE")
    )
    assert [rule["id"] for rule in hook.list_conversion_rules()] == [created["id"]]


def test_create_does_not_reuse_an_older_rule_of_the_same_name(hook, sandbox):
    old = sandbox.admin.create_rule(name="Same name", type="PURCHASE")
    old = sandbox.admin.update_rule(old["id"], created=1_600_000_000_000)  # made long before this run
    hook.get_access_token()
    sandbox.admin.set_faults([{"kind": "503", "every": 1, "limit": 1, "path": "/rest/conversions"}])
    created = hook.create_conversion_rule(
        ConversionRuleSpec.build(name="Same name", conversion_type="PURCHASE")
    )
    assert created["id"] != old["id"]
    assert sandbox.admin.stats()["rules"] == 2


def test_list_follows_pages(hook, sandbox):
    ids = [sandbox.admin.create_rule(name=f"rule {i}")["id"] for i in range(RULES_PAGE_SIZE + 5)]
    sandbox.admin.create_rule(name="other account", account="999")
    rules = hook.list_conversion_rules(AD_ACCOUNT_ID)
    assert sorted(rule["id"] for rule in rules) == sorted(ids)
    # The token, then two pages and the empty one that ends the list.
    assert sandbox.admin.stats()["requests_by_status"]["200"] == 1 + 3


def test_list_reads_on_when_linkedin_serves_fewer_rules_than_asked(hook, sandbox):
    # Whether LinkedIn caps a page below the requested count is UNKNOWN; a short page is not the last.
    sandbox.admin.configure(rules_page_cap=7)
    ids = [sandbox.admin.create_rule(name=f"rule {i}")["id"] for i in range(30)]
    rules = hook.list_conversion_rules(AD_ACCOUNT_ID)
    assert sorted(rule["id"] for rule in rules) == sorted(ids)


def test_missing_rule_and_forbidden_changes(hook):
    with pytest.raises(LinkedInCapiNotFoundError) as info:
        hook.get_conversion_rule(424242)
    assert info.value.status == 404
    with pytest.raises(ValueError, match="at least one"):
        hook.update_conversion_rule(1)


def test_associate_250_campaigns_in_query_safe_chunks(hook, sandbox, rule):
    campaign_ids = list(range(600_000_000, 600_000_250))
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, campaign_ids)
    statuses = hook.associate_campaigns(rule["id"], [*campaign_ids, campaign_ids[0]])  # a duplicate
    assert statuses == {f"urn:li:sponsoredCampaign:{c}": 204 for c in campaign_ids}
    batches = sandbox.admin.stats()["requests_by_status"]
    assert batches["200"] == 1 + 7  # the token, then 7 batch PUTs: about 36 keys fit the 4 KB query limit
    assert "414" not in batches
    linked = hook.get_conversion_rule(rule["id"])["campaigns"]
    assert set(linked) == set(statuses)


def test_single_link_get_and_remove(hook, sandbox, rule):
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, [123])
    assert hook.get_campaign_association(rule["id"], 123) is None
    assert hook.associate_campaigns(
        f"urn:lla:llaPartnerConversion:{rule['id']}", ["urn:li:sponsoredCampaign:123"]
    ) == {"urn:li:sponsoredCampaign:123": 204}
    link = hook.get_campaign_association(rule["id"], "urn:li:sponsoredCampaign:123")
    assert link["campaign"] == "urn:li:sponsoredCampaign:123"
    assert link["conversion"] == f"urn:lla:llaPartnerConversion:{rule['id']}"
    assert hook.remove_campaign_association(rule["id"], 123) is True
    assert hook.remove_campaign_association(rule["id"], 123) is False
    assert hook.get_campaign_association(rule["id"], 123) is None


def test_connection_test_reads_the_account(hook, sandbox):
    ok, message = hook.test_connection()
    assert ok, message
    assert ACCOUNT_URN in message
    assert hook.api_version in message


def test_connection_test_without_account_fails_and_says_what_to_add(make_hook, sandbox, monkeypatch):
    # A token alone proves neither scopes nor role nor version: no API check, no success.
    conn = sandbox.connection()
    del conn["extra"]["ad_account_id"]
    monkeypatch.setenv("AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT", json.dumps(conn))
    ok, message = make_hook().test_connection()
    assert not ok
    assert "could not run" in message
    assert "'ad_account_id'" in message
    assert make_hook().ad_account_id is None


def test_connection_test_reports_failures(make_hook, sandbox):
    sandbox.admin.revoke_refresh_token()
    ok, message = make_hook().test_connection()
    assert not ok
    assert "LinkedInCapiAuthError" in message
    assert "re-authorise" in message
