"""The rule and campaign-link operators against the sandbox, over real HTTP."""

from __future__ import annotations

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiError
from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
from airflow_provider_linkedin_capi.operators.conversion_rules import (
    LinkedInCapiAssociateCampaignsOperator,
    LinkedInCapiCreateConversionRuleOperator,
)
from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID

CAMPAIGN = "urn:li:sponsoredCampaign:"


def create_op(**kwargs) -> LinkedInCapiCreateConversionRuleOperator:
    kwargs.setdefault("name", "CRM leads")
    kwargs.setdefault("conversion_type", "LEAD")
    return LinkedInCapiCreateConversionRuleOperator(task_id="create_rule", **kwargs)


def link_op(**kwargs) -> LinkedInCapiAssociateCampaignsOperator:
    return LinkedInCapiAssociateCampaignsOperator(task_id="link_campaigns", **kwargs)


def rules_named(name: str) -> list[dict]:
    return [rule for rule in LinkedInCapiHook().list_conversion_rules() if rule["name"] == name]


def test_create_makes_a_capi_rule_with_the_settings(sandbox):
    result = create_op(
        post_click_window_days=365, view_through_window_days=30, value_type="FIXED", enabled=False
    ).execute(context={})

    assert result["created"] is True
    assert result["updated_fields"] == []
    assert result["rule_urn"] == f"urn:lla:llaPartnerConversion:{result['rule_id']}"
    rule = LinkedInCapiHook().get_conversion_rule(result["rule_id"])
    assert rule["name"] == "CRM leads"
    assert rule["account"] == f"urn:li:sponsoredAccount:{AD_ACCOUNT_ID}"
    assert rule["conversionMethod"] == "CONVERSIONS_API"
    assert rule["type"] == "LEAD"
    assert rule["postClickAttributionWindowSize"] == 365
    assert rule["viewThroughAttributionWindowSize"] == 30
    assert rule["valueType"] == "FIXED"
    assert rule["enabled"] is False


def test_rerun_reuses_the_rule_instead_of_creating_a_second(sandbox):
    first = create_op().execute(context={})
    # Different settings on a reuse are reported in the log but not applied.
    second = create_op(post_click_window_days=90).execute(context={})

    assert second == {**first, "created": False}
    assert len(rules_named("CRM leads")) == 1
    assert LinkedInCapiHook().get_conversion_rule(first["rule_id"])["postClickAttributionWindowSize"] == 30


def test_update_changes_only_the_differing_fields(sandbox):
    seeded = sandbox.admin.create_rule(
        name="CRM leads",
        type="LEAD",
        postClickAttributionWindowSize=30,
        viewThroughAttributionWindowSize=7,
        attributionType="LAST_TOUCH_BY_CAMPAIGN",
        enabled=True,
    )
    before = LinkedInCapiHook().get_conversion_rule(seeded["id"])

    result = create_op(
        post_click_window_days=90, attribution_type="LAST_TOUCH_BY_CONVERSION", if_exists="update"
    ).execute(context={})

    assert result["rule_id"] == str(seeded["id"])
    assert result["created"] is False
    assert result["updated_fields"] == ["attributionType", "postClickAttributionWindowSize"]
    after = LinkedInCapiHook().get_conversion_rule(seeded["id"])
    assert after["postClickAttributionWindowSize"] == 90
    assert after["attributionType"] == "LAST_TOUCH_BY_CONVERSION"
    unchanged = {"postClickAttributionWindowSize", "attributionType", "lastModified"}
    assert {k: v for k, v in after.items() if k not in unchanged} == {
        k: v for k, v in before.items() if k not in unchanged
    }

    again = create_op(
        post_click_window_days=90, attribution_type="LAST_TOUCH_BY_CONVERSION", if_exists="update"
    ).execute(context={})
    assert again["updated_fields"] == []


def test_fail_if_exists(sandbox):
    seeded = sandbox.admin.create_rule(name="CRM leads", type="LEAD")
    with pytest.raises(AirflowFailException, match=f"already exists \\(id {seeded['id']}\\)"):
        create_op(if_exists="fail").execute(context={})
    assert len(rules_named("CRM leads")) == 1


@pytest.mark.parametrize("if_exists", ["reuse", "update"])
def test_insight_tag_namesake_is_refused(sandbox, if_exists):
    sandbox.admin.create_rule(name="CRM leads", type="LEAD", conversionMethod="INSIGHT_TAG_URL_MATCH_RULES")
    with pytest.raises(AirflowFailException, match=r"refuses Conversions API events for Insight-Tag rules"):
        create_op(if_exists=if_exists).execute(context={})
    rules = rules_named("CRM leads")
    assert [rule["conversionMethod"] for rule in rules] == ["INSIGHT_TAG_URL_MATCH_RULES"]


def test_capi_rule_preferred_over_insight_tag_namesake(sandbox):
    sandbox.admin.create_rule(name="CRM leads", type="LEAD", conversionMethod="INSIGHT_TAG_JAVASCRIPT_EVENT")
    capi = sandbox.admin.create_rule(name="CRM leads", type="LEAD")
    assert create_op().execute(context={})["rule_id"] == str(capi["id"])


def test_365_day_window_refused_before_any_http_call(sandbox):
    requests_before = sandbox.admin.stats()
    with pytest.raises(ValueError, match="post_click_window_days=365 is only allowed"):
        create_op(conversion_type="SIGN_UP", post_click_window_days=365)
    # Templated values are checked at execute, still before LinkedIn is called.
    op = create_op(conversion_type="{{ params.kind }}", post_click_window_days=365)
    op.conversion_type = "SIGN_UP"  # what rendering would produce
    with pytest.raises(AirflowFailException, match="post_click_window_days=365 is only allowed"):
        op.execute(context={})
    assert sandbox.admin.stats() == requests_before
    assert rules_named("CRM leads") == []


def test_link_one_campaign_from_an_xcom_style_string(sandbox):
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, [101])
    rule = sandbox.admin.create_rule(name="CRM leads", type="LEAD")
    result = link_op(
        conversion_rule_id=f"urn:lla:llaPartnerConversion:{rule['id']}", campaign_ids="[101]"
    ).execute(context={})
    assert result == {
        "rule_id": str(rule["id"]),
        "added": [f"{CAMPAIGN}101"],
        "removed": [],
        "already_linked": [],
    }
    hook = LinkedInCapiHook()
    assert hook.get_campaign_association(rule["id"], 101)["campaign"] == f"{CAMPAIGN}101"
    assert hook.get_conversion_rule(rule["id"])["campaigns"] == [f"{CAMPAIGN}101"]


def test_link_250_campaigns(sandbox):
    rule = sandbox.admin.create_rule(name="CRM leads", type="LEAD", campaigns=[f"{CAMPAIGN}1000"])
    campaigns = [str(1000 + n) for n in range(250)]
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, campaigns)

    result = link_op(conversion_rule_id=rule["id"], campaign_ids=",".join(campaigns)).execute(context={})

    assert result["already_linked"] == [f"{CAMPAIGN}1000"]
    assert result["added"] == [f"{CAMPAIGN}{c}" for c in campaigns[1:]]
    linked = LinkedInCapiHook().get_conversion_rule(rule["id"])["campaigns"]
    assert sorted(linked) == sorted(f"{CAMPAIGN}{c}" for c in campaigns)


def test_exact_removes_stale_links_and_add_keeps_them(sandbox):
    rule = sandbox.admin.create_rule(
        name="CRM leads", type="LEAD", campaigns=[f"{CAMPAIGN}1", f"{CAMPAIGN}2", f"{CAMPAIGN}3"]
    )
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, [4])
    added = link_op(conversion_rule_id=rule["id"], campaign_ids=[2, 4]).execute(context={})
    assert added["removed"] == []
    assert sorted(LinkedInCapiHook().get_conversion_rule(rule["id"])["campaigns"]) == [
        f"{CAMPAIGN}{n}" for n in (1, 2, 3, 4)
    ]

    exact = link_op(conversion_rule_id=rule["id"], campaign_ids=[f"{CAMPAIGN}2", "4"], mode="exact").execute(
        context={}
    )

    assert exact == {
        "rule_id": str(rule["id"]),
        "added": [],
        "removed": [f"{CAMPAIGN}1", f"{CAMPAIGN}3"],
        "already_linked": [f"{CAMPAIGN}2", f"{CAMPAIGN}4"],
    }
    hook = LinkedInCapiHook()
    assert sorted(hook.get_conversion_rule(rule["id"])["campaigns"]) == [f"{CAMPAIGN}2", f"{CAMPAIGN}4"]
    assert hook.get_campaign_association(rule["id"], 1) is None


def test_exact_with_no_campaigns_is_refused(sandbox):
    rule = sandbox.admin.create_rule(name="CRM leads", type="LEAD", campaigns=[f"{CAMPAIGN}1"])
    with pytest.raises(AirflowFailException, match="would unlink every campaign"):
        link_op(conversion_rule_id=rule["id"], campaign_ids="[]", mode="exact").execute(context={})
    assert LinkedInCapiHook().get_conversion_rule(rule["id"])["campaigns"] == [f"{CAMPAIGN}1"]


def test_a_campaign_the_ad_account_does_not_have_fails_the_task_naming_it(sandbox):
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, [101])
    rule = sandbox.admin.create_rule(name="CRM leads", type="LEAD")
    with pytest.raises(LinkedInCapiError, match=f"refused 1 of 2 campaign link.*{CAMPAIGN}102: 400"):
        link_op(conversion_rule_id=rule["id"], campaign_ids=[101, 102]).execute(context={})
    assert LinkedInCapiHook().get_conversion_rule(rule["id"])["campaigns"] == [f"{CAMPAIGN}101"]


def test_bad_campaign_id_fails_before_linking(sandbox):
    rule = sandbox.admin.create_rule(name="CRM leads", type="LEAD")
    with pytest.raises(AirflowFailException, match="campaign must be a numeric id"):
        link_op(conversion_rule_id=rule["id"], campaign_ids="1,urn:li:sponsoredAccount:2").execute(context={})
    assert LinkedInCapiHook().get_conversion_rule(rule["id"])["campaigns"] == []


def test_invalid_literal_arguments_fail_at_parse_time():
    with pytest.raises(ValueError, match="if_exists must be one of"):
        create_op(if_exists="replace")
    with pytest.raises(ValueError, match="mode must be one of"):
        link_op(conversion_rule_id=1, campaign_ids=[1], mode="replace")
    # Templated values are left for execute.
    create_op(if_exists="{{ params.if_exists }}")
    create_op(post_click_window_days=365, conversion_type="{{ params.kind }}")


def test_literal_settings_checked_even_when_other_fields_are_templated():
    with pytest.raises(ValueError, match="view_through_window_days must be one of"):
        create_op(view_through_window_days=14, linkedin_capi_conn_id="{{ var.value.conn }}")
    with pytest.raises(ValueError, match="if_exists must be one of"):
        create_op(name="{{ params.name }}", if_exists="overwrite")
