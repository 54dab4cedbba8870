"""``dag.test()`` of the rule-setup example: create -> link -> a deferred sensor, against the sandbox."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID
from airflow_provider_linkedin_capi.triggers.conversion_rule import LinkedInCapiConversionRuleTrigger

DAG_FILE = Path(__file__).resolve().parents[2] / "example_dags" / "linkedin_capi_rule_setup.py"
CAMPAIGN = "urn:li:sponsoredCampaign:"


def load_dag():
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.get_dag("linkedin_capi_rule_setup")


def xcom_values(run) -> dict:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, key="return_value"))
        return {row.task_id: XComModel.deserialize_value(row) for row in rows}


@pytest.mark.dag
def test_rule_setup_dag_with_the_sensor_deferred(airflow_db, sandbox, monkeypatch):
    # The DAG links campaign 111 and its sensor waits for two campaigns, so the first poke is not enough
    # and the sensor defers. While it is deferred, someone links campaign 222 (done here on the trigger's
    # first poll, before it reads the rule), and the trigger reports the rule ready.
    polls: list[tuple[str, dict]] = []
    original_poll = LinkedInCapiConversionRuleTrigger._poll_once

    async def poll_after_a_second_link(self, hook):
        if not polls:
            await asyncio.to_thread(LinkedInCapiHook().associate_campaigns, self.conversion_rule_id, [222])
        polls.append(self.serialize())
        return await original_poll(self, hook)

    monkeypatch.setattr(LinkedInCapiConversionRuleTrigger, "_poll_once", poll_after_a_second_link)
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, [111, 222])  # they exist in Campaign Manager

    dag = load_dag()
    run = dag.test(
        run_conf={
            "conversion_rule_name": "Nightly CRM leads",
            "conversion_type": "QUALIFIED_LEAD",
            "campaign_ids": [111],
            "min_campaigns": 2,
        }
    )

    assert run.state == "success"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"create_rule": "success", "link_campaigns": "success", "wait_until_ready": "success"}

    rules = [
        rule for rule in LinkedInCapiHook().list_conversion_rules() if rule["name"] == "Nightly CRM leads"
    ]
    assert len(rules) == 1
    rule = rules[0]
    assert rule["type"] == "QUALIFIED_LEAD"
    assert rule["conversionMethod"] == "CONVERSIONS_API"
    assert sorted(rule["campaigns"]) == [f"{CAMPAIGN}111", f"{CAMPAIGN}222"]

    returned = xcom_values(run)
    assert returned["create_rule"] == {
        "rule_id": str(rule["id"]),
        "rule_urn": f"urn:lla:llaPartnerConversion:{rule['id']}",
        "created": True,
        "updated_fields": [],
    }
    assert returned["link_campaigns"]["added"] == [f"{CAMPAIGN}111"]
    assert returned["wait_until_ready"]["campaign_count"] == 2
    assert returned["wait_until_ready"]["rule_id"] == str(rule["id"])

    # The sensor really deferred: dag.test rebuilt the trigger from its serialised form and ran it.
    assert len(polls) == 1
    classpath, kwargs = polls[0]
    assert (
        classpath
        == "airflow_provider_linkedin_capi.triggers.conversion_rule.LinkedInCapiConversionRuleTrigger"
    )
    assert kwargs["conversion_rule_id"] == str(rule["id"])
    assert kwargs["min_campaigns"] == 2
    assert kwargs["wait_for"] == "ready"


@pytest.mark.dag
def test_rule_setup_dag_with_its_default_params_succeeds(airflow_db, sandbox):
    """Triggered as shipped (no campaign_ids), the DAG must not wait an hour for a link nobody makes."""
    dag = load_dag()
    wait = dag.get_task("wait_until_ready")
    # A bound, so that a regression fails in seconds instead of after the sensor's hour.
    wait.deferrable, wait.poke_interval, wait.timeout = False, 0.5, 10

    run = dag.test()

    assert run.state == "success"
    ready = xcom_values(run)["wait_until_ready"]
    assert ready["enabled"] is True
    assert ready["campaign_count"] == 0
