"""Run the nightly CRM sync with ``dag.test()`` against the sandbox and check what LinkedIn received."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID

pytestmark = [pytest.mark.dag, pytest.mark.timeout(300)]

DAG_ID = "linkedin_capi_nightly_crm_sync"
AFTER_SYNC = "linkedin_capi_after_sync"
CAMPAIGNS = ["620000001", "620000002"]


def _run(dag, logical_date, conf):
    dag_run = dag.test(logical_date=logical_date, run_conf=conf)
    return dag_run


@pytest.fixture
def nightly(load_dag):
    return load_dag(DAG_ID)


def test_nightly_sync_sends_every_valid_row_of_the_interval_once(
    sandbox, crm_factory, nightly, load_dag, metadata_db, rest_api, today, tmp_path
):
    yesterday = today - timedelta(days=1)
    crm = crm_factory({yesterday - timedelta(days=1): 150, yesterday: 600, today: 50})
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, CAMPAIGNS)
    conf = {
        "campaign_ids": CAMPAIGNS,
        "rejects_dir": str(tmp_path / "rejects"),
        "ledger_dir": str(tmp_path / "ledger"),
        "conversion_rule_name": "nightly test rule",
    }

    dag_run = _run(nightly, today, conf)

    assert dag_run.state == "success"
    states = metadata_db.task_states(DAG_ID, dag_run.run_id)
    assert set(states.values()) == {"success"}, states
    day = yesterday.date().isoformat()

    # LinkedIn got exactly the valid rows recorded inside the data interval, once each, for the one rule.
    rule = metadata_db.xcom(DAG_ID, dag_run.run_id, "create_conversion_rule")
    events = sandbox.admin.events()
    assert len(events) == crm.valid_rows(day)
    assert {event["conversion"] for event in events} == {rule["rule_urn"]}
    assert len({event["eventId"] for event in events}) == len(events)

    summary = metadata_db.xcom(DAG_ID, dag_run.run_id, "push_conversions")
    assert summary["rows_read"] == crm.rows_on(day)
    assert summary["events_sent"] == crm.valid_rows(day)
    assert summary["events_rejected"] == crm.dirty_rows(day)
    assert sum(summary["rejections"].values()) == crm.dirty_rows(day)
    assert {"too_old", "in_future", "invalid_currency"} <= set(summary["rejections"])

    # The campaigns were linked before anything was pushed.
    linked = metadata_db.xcom(DAG_ID, dag_run.run_id, "associate_campaigns")
    assert sorted(linked["added"]) == sorted(f"urn:li:sponsoredCampaign:{c}" for c in CAMPAIGNS)

    # Rejects sit beside the run (per DAG and run id) and hold no raw e-mail address.
    rejects = Path(summary["rejects_path"])
    assert rejects.is_relative_to(tmp_path / "rejects" / DAG_ID)
    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert len(lines) == crm.dirty_rows(day)
    text = rejects.read_text().lower()
    with sqlite3.connect(crm.path) as db:
        emails = [row[0] for row in db.execute("SELECT email FROM crm_conversions WHERE email LIKE '%@%.%'")]
    assert emails
    assert not any(email.strip().lower() in text for email in emails)

    check = metadata_db.xcom(DAG_ID, dag_run.run_id, "check_rejections")
    assert check["rows_read"] == crm.rows_on(day)

    # The push resolved its asset alias to the rule's asset, with the run's counts and no row data.
    rule_id = rule["rule_urn"].rsplit(":", 1)[-1]
    assets = metadata_db.asset_events(DAG_ID, dag_run.run_id)
    assert set(assets) == {f"linkedin-capi://{AD_ACCOUNT_ID}/conversion/{rule_id}"}
    (extra,) = assets.values()
    assert extra["events_sent"] == extra["rule_events_sent"] == crm.valid_rows(day)
    assert extra["rows_read"] == crm.rows_on(day)
    assert extra["rejections"] == summary["rejections"]
    assert (extra["first_event_at"], extra["last_event_at"]) == (
        summary["first_event_at"],
        summary["last_event_at"],
    )
    assert not any(email.strip().lower() in json.dumps(extra).lower() for email in emails)

    # ... and Airflow's REST API serves that event, extra included.
    answer = rest_api.get(
        "/api/v2/assets/events", params={"source_dag_id": DAG_ID, "source_run_id": dag_run.run_id}
    )
    assert answer.status_code == 200, answer.text
    (served,) = answer.json()["asset_events"]
    assert served["uri"] == f"linkedin-capi://{AD_ACCOUNT_ID}/conversion/{rule_id}"
    assert served["extra"] == extra

    # The downstream DAG, scheduled on that alias, reads the event's counts.
    (line,) = load_dag(AFTER_SYNC).test().get_task_instance("report_delivery").xcom_pull()
    assert line["asset"] == f"linkedin-capi://{AD_ACCOUNT_ID}/conversion/{rule_id}"
    assert line["rule_events_sent"] == crm.valid_rows(day)


def test_check_task_fails_the_run_when_too_many_rows_are_rejected(
    sandbox, crm_factory, nightly, metadata_db, today, tmp_path
):
    yesterday = today - timedelta(days=1)
    crm = crm_factory({yesterday: 200}, dirty_fraction=0.4)
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, CAMPAIGNS)
    conf = {
        "campaign_ids": CAMPAIGNS,
        "rejects_dir": str(tmp_path / "rejects"),
        "ledger_dir": str(tmp_path / "ledger"),
        "max_rejected_fraction": 0.1,
    }

    dag_run = _run(nightly, today, conf)

    assert dag_run.state == "failed"
    states = metadata_db.task_states(DAG_ID, dag_run.run_id)
    assert states[("push_conversions", -1)] == "success"
    assert states[("check_rejections", -1)] == "failed"
    # The valid rows still went: the check judges the run, it does not hold data back.
    assert len(sandbox.admin.events()) == crm.valid_rows(yesterday.date().isoformat())


def test_a_run_without_a_data_interval_syncs_the_day_before_and_resends_nothing_delivered(
    sandbox, crm_factory, nightly, metadata_db, today, tmp_path
):
    """A run started by the CRM's asset event has no data interval (as one triggered without a date).

    It syncs the UTC day before it was queued, the day the midnight run covers, and the day's ledger keeps
    the two runs from sending a row twice: the second sends only what the first did not deliver.
    """
    yesterday = today - timedelta(days=1)
    crm = crm_factory({yesterday - timedelta(days=1): 20, yesterday: 60, today: 10})
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, CAMPAIGNS)
    conf = {
        "campaign_ids": CAMPAIGNS,
        "rejects_dir": str(tmp_path / "rejects"),
        "ledger_dir": str(tmp_path / "ledger"),
    }
    day = yesterday.date().isoformat()

    scheduled = _run(nightly, today, conf)
    assert scheduled.state == "success"
    assert len(sandbox.admin.events()) == crm.valid_rows(day)

    # The asset-started run of the same day: `dag.test()` without a logical date, queued today.
    unscheduled = nightly.test(run_after=today + timedelta(hours=3), logical_date=None, run_conf=conf)

    assert unscheduled.state == "success"
    window = metadata_db.xcom(DAG_ID, unscheduled.run_id, "sync_window")
    assert window["day"] == day
    summary = metadata_db.xcom(DAG_ID, unscheduled.run_id, "push_conversions")
    assert summary["rows_read"] == crm.rows_on(day)
    assert summary["already_delivered"] == crm.valid_rows(day)
    assert summary["events_sent"] == 0
    assert len(sandbox.admin.events()) == crm.valid_rows(day)  # nothing went twice


def test_a_scheduled_run_with_the_default_params_succeeds(sandbox, crm_factory, nightly, metadata_db, today):
    """Unpaused as shipped (no campaign_ids), the DAG must not create an unlinked rule and wait on it.

    With no campaign_ids the rule is not linked, and the sensor waits only until the rule is enabled; the
    default rejects_dir and ledger_dir are used, and this run's folders are removed afterwards.
    """
    yesterday = today - timedelta(days=1)
    crm = crm_factory({yesterday: 120})
    day = yesterday.date().isoformat()
    # Bound the wait so that a rule that never gets ready fails this test in seconds, not after the DAG's
    # hour (dag.test() runs the deferred trigger inline). With the fix the first check already succeeds.
    wait = nightly.get_task("wait_for_rule_ready")
    wait.deferrable, wait.poke_interval, wait.timeout = False, 0.5, 10
    # The default ledger folder outlives the test: an earlier run of it would make this one send nothing.
    ledger = Path(nightly.params["ledger_dir"]) / DAG_ID / day
    shutil.rmtree(ledger, ignore_errors=True)

    dag_run = _run(nightly, today, None)

    summary = metadata_db.xcom(DAG_ID, dag_run.run_id, "push_conversions")
    try:
        assert dag_run.state == "success"
        states = metadata_db.task_states(DAG_ID, dag_run.run_id)
        assert set(states.values()) == {"success"}, states
        assert summary["events_sent"] == crm.valid_rows(day)
        assert len(sandbox.admin.events()) == crm.valid_rows(day)
        # The rule is linked to no campaign: nothing was associated, and the sensor did not wait for it.
        assert metadata_db.xcom(DAG_ID, dag_run.run_id, "associate_campaigns")["added"] == []
        ready = metadata_db.xcom(DAG_ID, dag_run.run_id, "wait_for_rule_ready")
        assert ready["enabled"] is True
        assert ready["campaign_count"] == 0
    finally:
        if summary and summary.get("rejects_path"):
            rejects = Path(summary["rejects_path"])
            assert rejects.parent.name == dag_run.run_id.replace(":", "-").replace("+", "_")
            shutil.rmtree(rejects.parent, ignore_errors=True)
        shutil.rmtree(ledger, ignore_errors=True)
