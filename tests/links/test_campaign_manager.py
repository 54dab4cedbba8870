"""The "Campaign Manager" extra link on the rule operators, the sensor and the push."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
from airflow_provider_linkedin_capi.links.campaign_manager import (
    DEFAULT_RULE_URL,
    LinkedInCampaignManagerLink,
    rule_page_url,
)
from airflow_provider_linkedin_capi.operators.conversion_rules import (
    LinkedInCapiAssociateCampaignsOperator,
    LinkedInCapiCreateConversionRuleOperator,
)
from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID
from airflow_provider_linkedin_capi.sensors.conversion_rule import LinkedInCapiConversionRuleSensor
from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator
from airflow_provider_linkedin_capi.triggers.conversion_rule import LinkedInCapiConversionRuleTrigger

DAG_FILE = Path(__file__).resolve().parents[2] / "example_dags" / "linkedin_capi_rule_setup.py"
LINK_KEY = f"_link_{LinkedInCampaignManagerLink.__name__}"
OPERATORS = (
    LinkedInCapiCreateConversionRuleOperator,
    LinkedInCapiAssociateCampaignsOperator,
    LinkedInCapiConversionRuleSensor,
    SqlToLinkedInCapiOperator,
)


def expected_url(rule_id: object) -> str:
    return f"https://www.linkedin.com/campaignmanager/accounts/{AD_ACCOUNT_ID}/conversions/{rule_id}"


def test_the_url_takes_ids_or_urns():
    assert rule_page_url("urn:li:sponsoredAccount:507", "urn:lla:llaPartnerConversion:14488340") == (
        "https://www.linkedin.com/campaignmanager/accounts/507/conversions/14488340"
    )
    assert rule_page_url(507, 14488340) == rule_page_url("507", "14488340")


@pytest.mark.parametrize(("account", "rule"), [(None, 1), ("", 1), (5, None), ("x y", 1), (5, "../admin")])
def test_no_url_without_both_ids(account, rule):
    assert rule_page_url(account, rule) is None


def test_the_pattern_is_a_setting(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW__LINKEDIN_CAPI__CAMPAIGN_MANAGER_RULE_URL",
        "https://cm.example/{account}/rules/{rule}?tab=overview",
    )
    assert rule_page_url(7, 8) == "https://cm.example/7/rules/8?tab=overview"
    monkeypatch.setenv("AIRFLOW__LINKEDIN_CAPI__CAMPAIGN_MANAGER_RULE_URL", "https://cm.example/{campaign}")
    assert rule_page_url(7, 8) is None  # a pattern naming an unknown field gives no link, not an error
    monkeypatch.delenv("AIRFLOW__LINKEDIN_CAPI__CAMPAIGN_MANAGER_RULE_URL")
    assert rule_page_url(7, 8) == DEFAULT_RULE_URL.format(account=7, rule=8)


@pytest.mark.parametrize("operator_class", OPERATORS)
def test_every_linkedin_task_has_the_link(operator_class):
    names = [link.name for link in operator_class.operator_extra_links]
    assert names == ["Campaign Manager"]


def test_a_link_is_empty_until_the_task_knows_its_rule():
    op = LinkedInCapiConversionRuleSensor(task_id="wait", conversion_rule_id="{{ params.rule }}")
    assert LinkedInCampaignManagerLink().get_link(op, ti_key=None) == ""


def test_the_push_links_its_rule(sandbox, tmp_path, monkeypatch):
    import json
    import sqlite3

    rule = sandbox.admin.create_rule(name="Link test", type="PURCHASE")
    db = tmp_path / "empty.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (conversionHappenedAt, email)")
    monkeypatch.setenv("AIRFLOW_CONN_CRM", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    op = SqlToLinkedInCapiOperator(
        task_id="push", sql="SELECT * FROM t", sql_conn_id="crm", conversion_rule_id=rule["id"]
    )

    op.execute(context={})

    assert LinkedInCampaignManagerLink().get_link(op, ti_key=None) == expected_url(rule["id"])


def _link_xcoms(run) -> dict[str, str]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, key=LINK_KEY))
        return {row.task_id: XComModel.deserialize_value(row) for row in rows}


@pytest.mark.dag
@pytest.mark.timeout(300)
def test_the_ui_gets_the_link_of_each_task_including_a_deferred_sensor(airflow_db, sandbox, monkeypatch):
    """Airflow stores each task's link in XCom when the task ends; the UI reads it from there."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag

    original_poll = LinkedInCapiConversionRuleTrigger._poll_once
    polls: list[str] = []

    async def poll_after_a_second_link(self, hook):
        if not polls:  # the sensor deferred; link the second campaign it waits for
            await asyncio.to_thread(LinkedInCapiHook().associate_campaigns, self.conversion_rule_id, [222])
        polls.append(self.conversion_rule_id)
        return await original_poll(self, hook)

    monkeypatch.setattr(LinkedInCapiConversionRuleTrigger, "_poll_once", poll_after_a_second_link)
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, [111, 222])  # they exist in Campaign Manager
    bag = DagBag(dag_folder=str(DAG_FILE))
    dag = bag.get_dag("linkedin_capi_rule_setup")

    run = dag.test(
        run_conf={
            "conversion_rule_name": "Linked rule",
            "conversion_type": "QUALIFIED_LEAD",
            "campaign_ids": [111],
            "min_campaigns": 2,
        }
    )

    assert run.state == "success"
    assert polls, "the sensor did not defer"
    (rule,) = [r for r in LinkedInCapiHook().list_conversion_rules() if r["name"] == "Linked rule"]
    url = expected_url(rule["id"])
    assert _link_xcoms(run) == {"create_rule": url, "link_campaigns": url, "wait_until_ready": url}
