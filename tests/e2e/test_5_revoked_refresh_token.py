"""Scenario 5: the refresh token was revoked; the next nightly run fails at its first LinkedIn task, at once
(no retry), and the task log, read through the REST API, tells the user to re-authorise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID
from e2e.runs import fail_unfinished_runs, task_instances, task_log, trigger, unpause, wait_for_run

DAG_ID = "linkedin_capi_nightly_crm_sync"
FIRST_LINKEDIN_TASK = "create_conversion_rule"


def test_revoked_refresh_token_fails_the_first_linkedin_task_without_retries(
    deployment, nightly_scheduled_run, sandbox, tmp_path
):
    fail_unfinished_runs(deployment, DAG_ID)
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, ["630000001"])
    sandbox.admin.revoke_refresh_token()
    logical_date = datetime.now(UTC).replace(hour=6, minute=0, second=0, microsecond=0) - timedelta(days=1)
    conf = {"campaign_ids": ["630000001"], "rejects_dir": str(tmp_path / "rejects")}
    run = trigger(deployment, DAG_ID, logical_date, conf)
    unpause(deployment, DAG_ID)
    try:
        finished = wait_for_run(deployment, DAG_ID, run["dag_run_id"], timeout=180)
    finally:
        unpause(deployment, DAG_ID, paused=True)

    assert finished["state"] == "failed"
    tis = {ti["task_id"]: ti for ti in task_instances(deployment, DAG_ID, run["dag_run_id"])}
    assert tis["sync_window"]["state"] == "success"
    first = tis[FIRST_LINKEDIN_TASK]
    assert first["state"] == "failed"
    assert first["try_number"] == 1, "a revoked refresh token must not be retried"
    assert tis["associate_campaigns"]["state"] == "upstream_failed"
    log = task_log(deployment, DAG_ID, run["dag_run_id"], FIRST_LINKEDIN_TASK, 1)
    assert "re-authorise" in log, log[-2000:]
    assert sandbox.admin.stats()["events_total"] == 0
