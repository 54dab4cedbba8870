"""Scenario 2: the nightly DAG runs its scheduled interval with its default params, then a manual run with
``campaign_ids``; every task succeeds, the sensor defers to the triggerer, and the sandbox holds exactly
the valid rows of the interval, once per eventId."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID
from e2e.runs import fail_unfinished_runs, task_instances, task_log, trigger, unpause, wait_for_run, xcom

DAG_ID = "linkedin_capi_nightly_crm_sync"
CAMPAIGNS = ["620000001", "620000002"]
DEFAULT_RULE_NAME = "CRM qualified lead (Airflow)"


def _assert_interval_delivered(deploy, received: dict[str, int], crm, run: dict) -> None:
    """Every task succeeded; the sandbox holds each valid row of the run's day once; XCom agrees."""
    run_id = run["dag_run_id"]
    states = {ti["task_id"]: ti["state"] for ti in task_instances(deploy, DAG_ID, run_id)}
    assert set(states.values()) == {"success"}, states
    day = datetime.fromisoformat(run["data_interval_start"]).astimezone(UTC).date().isoformat()
    assert crm.valid_rows(day) > 0
    summary = xcom(deploy, DAG_ID, run_id, "push_conversions")
    assert len(received) == crm.valid_rows(day)
    assert set(received.values()) == {1}, "an eventId arrived more than once"
    assert summary["rows_read"] == crm.rows_on(day)
    assert summary["events_sent"] == crm.valid_rows(day)
    assert summary["events_rejected"] == crm.dirty_rows(day)
    assert Path(summary["rejects_path"]).is_file()


def test_scheduled_run_with_default_params_succeeds(deployment, nightly_scheduled_run, crm):
    run = nightly_scheduled_run["run"]
    assert run["state"] == "success", run.get("wait_error", run)
    _assert_interval_delivered(deployment, nightly_scheduled_run["event_ids"], crm, run)


def test_manual_run_with_campaign_ids_defers_the_sensor_and_delivers_the_interval(
    deployment, nightly_scheduled_run, sandbox, crm, tmp_path
):
    fail_unfinished_runs(deployment, DAG_ID)
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, CAMPAIGNS)
    # A rule that exists but is disabled: the DAG reuses it, the sensor's first check finds it not
    # ready and defers; the test then enables it, and the trigger sees it ready on its next poll.
    rule = sandbox.admin.create_rule(name="E2E nightly rule", type="QUALIFIED_LEAD", enabled=False)
    logical_date = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    conf = {
        "campaign_ids": CAMPAIGNS,
        "conversion_rule_name": "E2E nightly rule",
        "rejects_dir": str(tmp_path / "rejects"),
    }
    run = trigger(deployment, DAG_ID, logical_date, conf)
    unpause(deployment, DAG_ID)
    sensor_states: list[str] = []
    enabled: list[bool] = []

    def watch(tis: list[dict]) -> None:
        sensor = next(ti for ti in tis if ti["task_id"] == "wait_for_rule_ready")
        sensor_states.append(sensor["state"])
        if sensor["state"] == "deferred" and not enabled:
            sandbox.admin.update_rule(rule["id"], enabled=True)
            enabled.append(True)

    try:
        finished = wait_for_run(deployment, DAG_ID, run["dag_run_id"], timeout=240, on_poll=watch)
    finally:
        unpause(deployment, DAG_ID, paused=True)
    assert "deferred" in sensor_states
    assert finished["state"] == "success", sensor_states[-5:]
    rule_id = xcom(deployment, DAG_ID, finished["dag_run_id"], "create_conversion_rule")["rule_id"]
    _assert_interval_delivered(deployment, sandbox.admin.event_ids(rule_id), crm, finished)
    # The push's asset event, as the REST API serves it: one linkedin-capi:// asset for the rule, through
    # the DAG's asset alias, with the run's counts and no row data.
    events = deployment.get("assets/events", source_dag_id=DAG_ID, source_run_id=finished["dag_run_id"])[
        "asset_events"
    ]
    (event,) = [e for e in events if e["uri"].startswith("linkedin-capi://")]
    assert event["uri"] == f"linkedin-capi://{AD_ACCOUNT_ID}/conversion/{rule_id}"
    summary = xcom(deployment, DAG_ID, finished["dag_run_id"], "push_conversions")
    assert event["extra"]["events_sent"] == summary["events_sent"]
    assert event["extra"]["rule_events_sent"] == summary["events_sent"]
    # The triggerer's part of the sensor's log, as the UI shows it: the trigger ran there and fired.
    sensor_log = task_log(deployment, DAG_ID, finished["dag_run_id"], "wait_for_rule_ready", 1)
    assert "Trigger fired event" in sensor_log, sensor_log[-2000:]
