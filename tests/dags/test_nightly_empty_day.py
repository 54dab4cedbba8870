"""The nightly sync on a day the CRM recorded nothing: ``on_empty="fail"`` fails the push, without retries."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

import pytest

from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID

pytestmark = [pytest.mark.dag, pytest.mark.timeout(300)]

DAG_ID = "linkedin_capi_nightly_crm_sync"
CAMPAIGNS = ["620000001"]


def test_an_empty_day_fails_the_push_once_and_says_where_it_looked(
    sandbox, crm_factory, load_dag, metadata_db, today, tmp_path
):
    yesterday = today - timedelta(days=1)
    crm_factory({yesterday - timedelta(days=1): 30, today: 20})  # nothing recorded yesterday
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, CAMPAIGNS)
    nightly = load_dag(DAG_ID)
    assert nightly.get_task("push_conversions").on_empty == "fail"

    dag_run = nightly.test(
        logical_date=today, run_conf={"campaign_ids": CAMPAIGNS, "rejects_dir": str(tmp_path / "rejects")}
    )

    assert dag_run.state == "failed"
    states = metadata_db.task_states(DAG_ID, dag_run.run_id)
    assert states[("push_conversions", -1)] == "failed"
    assert states[("check_rejections", -1)] == "upstream_failed"
    with sqlite3.connect(metadata_db.path) as db:
        ((tries,),) = db.execute(
            "SELECT try_number FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = ?",
            (DAG_ID, dag_run.run_id, "push_conversions"),
        ).fetchall()
    assert tries == 1  # the task has retries=3, but an empty result is not worth a retry
    assert sandbox.admin.events() == []
    # The failed push still links to its rule in Campaign Manager.
    rule = metadata_db.xcom(DAG_ID, dag_run.run_id, "create_conversion_rule")
    with sqlite3.connect(metadata_db.path) as db:
        ((stored,),) = db.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = ?",
            (DAG_ID, dag_run.run_id, "push_conversions", "_link_LinkedInCampaignManagerLink"),
        ).fetchall()
    link = json.loads(stored)
    assert link == (
        f"https://www.linkedin.com/campaignmanager/accounts/{AD_ACCOUNT_ID}/conversions/{rule['rule_id']}"
    )
