"""Scenario 4: a Celery worker is SIGKILLed (with the processes running the task) in the middle of a push of
200,000 rows to a slowed-down LinkedIn. The scheduler notices, the task is retried on the other worker, the
sandbox ends up holding every valid row, and with a ``ledger_path`` nothing beyond the batches in flight is
sent twice, every repeat under the same eventId."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_linkedin_capi.constants import MAX_IN_FLIGHT
from demo.crm_data import build_crm_db, utc_midnight
from e2e.deployment import WORKER_HOSTNAMES, wait_for
from e2e.runs import trigger, unpause, wait_for_run, xcom

DAG_ID = "e2e_large_push"
TASK_ID = "push_conversions"
ROWS_PER_DAY, DAYS = 10_000, 20
BATCH_SIZE = 5000
#: The push keeps up to ``max_in_flight`` batches on the wire (the default here, ``"auto"``: at most 16), so
#: at most that many were in flight when the worker died.
BATCHES_IN_FLIGHT = MAX_IN_FLIGHT


@pytest.fixture(scope="module")
def large_crm(tmp_path_factory):
    today = utc_midnight(datetime.now(UTC))
    path = tmp_path_factory.mktemp("crm-large") / "crm.db"
    return build_crm_db(
        path, rows_by_day={today - timedelta(days=n): ROWS_PER_DAY for n in range(1, DAYS + 1)}
    )


def test_killed_worker_task_is_retried_and_nothing_beyond_the_batch_in_flight_is_resent(
    deployment, sandbox, large_crm, tmp_path
):
    response = deployment.api(
        "POST",
        "connections",
        json={"connection_id": "crm_large", "conn_type": "sqlite", "host": str(large_crm.path)},
    )
    assert response.status_code in (200, 201, 409), response.text
    rule = sandbox.admin.create_rule(name="E2E large push", type="PURCHASE")
    # Every batch takes a second longer at LinkedIn's end: the push is surely mid-way when the kill comes.
    sandbox.admin.set_faults([{"kind": "slow", "every": 1, "delay": 1.0, "path": "/rest/conversionEvents"}])
    conf = {
        "conversion_rule_id": str(rule["id"]),
        "ledger_path": str(tmp_path / "ledger"),
        "rejects_path": str(tmp_path / "rejects.jsonl"),
    }
    run = trigger(deployment, DAG_ID, None, conf)
    run_id = run["dag_run_id"]
    unpause(deployment, DAG_ID)
    victim: int | None = None
    try:
        wait_for(
            "the push to have delivered a few batches",
            lambda: sandbox.admin.stats()["events_total"] >= 3 * BATCH_SIZE,
            timeout=240,
            interval=0.5,
            hint=deployment.all_log_tails,
        )
        ti = deployment.get(f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{TASK_ID}")
        assert ti["state"] == "running", ti
        assert ti["hostname"] in WORKER_HOSTNAMES, ti
        victim = WORKER_HOSTNAMES.index(ti["hostname"])
        sent_before_kill = sandbox.admin.stats()["events_total"]
        deployment.kill_service(f"worker-{victim}")
        assert sent_before_kill < large_crm.valid_rows(), "the push finished before the worker was killed"
        sandbox.admin.clear_faults()
        finished = wait_for_run(deployment, DAG_ID, run_id, timeout=300)
    finally:
        unpause(deployment, DAG_ID, paused=True)
        _restart_worker(deployment, victim)

    assert finished["state"] == "success"
    tries = deployment.get(f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{TASK_ID}/tries")["task_instances"]
    by_try = {t["try_number"]: t for t in tries}
    assert by_try[1]["hostname"] == WORKER_HOSTNAMES[victim]
    assert by_try[1]["state"] != "success"
    assert max(by_try) == 2
    assert by_try[2]["state"] == "success"
    assert by_try[2]["hostname"] == WORKER_HOSTNAMES[1 - victim]

    received = sandbox.admin.event_ids(rule["id"])
    # Every valid row arrived, and no row under a second eventId: repeats carry the same eventId.
    assert len(received) == large_crm.valid_rows()
    resent = sum(count - 1 for count in received.values())
    assert max(received.values()) <= 2
    assert resent <= BATCHES_IN_FLIGHT * BATCH_SIZE, resent
    summary = xcom(deployment, DAG_ID, run_id, TASK_ID)
    assert summary["already_delivered"] >= sent_before_kill - BATCHES_IN_FLIGHT * BATCH_SIZE


def _restart_worker(deployment, index: int | None) -> None:
    """Bring the killed worker back so that later scenarios again have two."""
    if index is None:
        return
    name = f"worker-{index}"
    service = deployment.services[name]
    if service.process is not None and service.process.poll() is None:
        return
    ready_before = deployment.log_tail(name, 100_000).count(" ready.")
    deployment.start_worker(index)
    wait_for(
        f"{name} to be ready again",
        lambda: deployment.log_tail(name, 100_000).count(" ready.") > ready_before,
        timeout=120,
        hint=lambda: deployment.log_tail(name),
    )
