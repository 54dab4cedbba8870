"""Scenario 6: a push is marked failed in the REST API while LinkedIn is slow to answer, then cleared.

Airflow's supervisor answers the state change with SIGTERM (and SIGKILL 5 s later): the push stops every
retry, gives the answers on the wire a moment, records the batches LinkedIn has not answered as in doubt
in the ledger, and the task ends. The cleared task runs again and completes; the sandbox then holds every
valid row, once each, except at most the in-doubt events, which the summary names (``resent_in_doubt``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_linkedin_capi.constants import MAX_IN_FLIGHT
from demo.crm_data import build_crm_db, utc_midnight
from e2e.deployment import wait_for
from e2e.runs import trigger, unpause, wait_for_run, xcom

DAG_ID = "e2e_large_push"
TASK_ID = "push_conversions"
BATCH_SIZE = 5000


@pytest.fixture(scope="module")
def medium_crm(tmp_path_factory):
    today = utc_midnight(datetime.now(UTC))
    path = tmp_path_factory.mktemp("crm-medium") / "crm.db"
    return build_crm_db(path, rows_by_day={today - timedelta(days=n): 10_000 for n in range(1, 9)})


def test_a_push_marked_failed_mid_way_then_cleared_sends_every_row_once_but_the_in_doubt(
    deployment, sandbox, medium_crm, tmp_path
):
    response = deployment.api(
        "POST",
        "connections",
        json={"connection_id": "crm_medium", "conn_type": "sqlite", "host": str(medium_crm.path)},
    )
    assert response.status_code in (200, 201, 409), response.text
    rule = sandbox.admin.create_rule(name="E2E marked failed", type="PURCHASE")
    # LinkedIn takes 4 s per batch: when the task is marked failed, batches are on the wire unanswered.
    sandbox.admin.configure(latency_ms=4000)
    conf = {
        "sql_conn_id": "crm_medium",
        "conversion_rule_id": str(rule["id"]),
        "ledger_path": str(tmp_path / "ledger"),
        "rejects_path": str(tmp_path / "rejects.jsonl"),
    }
    run = trigger(deployment, DAG_ID, None, conf)
    run_id = run["dag_run_id"]
    ti_path = f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{TASK_ID}"
    unpause(deployment, DAG_ID)
    try:
        wait_for(
            "the push to have delivered a few batches",
            lambda: sandbox.admin.stats()["events_total"] >= 2 * BATCH_SIZE,
            timeout=240,
            interval=0.5,
            hint=deployment.all_log_tails,
        )
        response = deployment.api("PATCH", ti_path, json={"new_state": "failed"})
        assert response.ok, response.text
        first = wait_for_run(deployment, DAG_ID, run_id, timeout=120)
        assert first["state"] == "failed"
        sandbox.admin.configure(latency_ms=0)
        response = deployment.api(
            "POST",
            f"dags/{DAG_ID}/clearTaskInstances",
            json={
                "dry_run": False,
                "dag_run_id": run_id,
                "task_ids": [TASK_ID],
                "only_failed": True,
                "reset_dag_runs": True,
            },
        )
        assert response.ok, response.text
        finished = wait_for_run(deployment, DAG_ID, run_id, timeout=300)
    finally:
        unpause(deployment, DAG_ID, paused=True)
        sandbox.admin.configure(latency_ms=0)

    assert finished["state"] == "success"
    summary = xcom(deployment, DAG_ID, run_id, TASK_ID)
    received = sandbox.admin.event_ids(rule["id"])
    assert len(received) == medium_crm.valid_rows()  # every valid row arrived
    twice = sum(count - 1 for count in received.values())
    assert max(received.values()) <= 2
    assert twice <= summary["resent_in_doubt"], (twice, summary)
    # LinkedIn takes 4 s a batch: the batches on the wire at the kill were unanswered, and only those (at
    # most max_in_flight of them; "auto" by default, so at most 16) were in doubt.
    assert 0 < summary["resent_in_doubt"] <= MAX_IN_FLIGHT * BATCH_SIZE, summary
    assert summary["already_delivered"] + summary["events_sent"] == medium_crm.valid_rows()
