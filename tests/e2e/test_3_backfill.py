"""Scenario 3: the backfill DAG over 6 days, through the pool ``linkedin_capi`` at 2 slots, on two workers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from e2e.conftest import CRM_DAYS
from e2e.deployment import WORKER_HOSTNAMES
from e2e.runs import task_instances, trigger, unpause, wait_for_run, xcom

DAG_ID = "linkedin_capi_backfill"
#: Tasks that call LinkedIn, all in the pool.
LINKEDIN_TASKS = {"resolve_conversion_rule", "push_day"}


def _most_overlapping(intervals: list[tuple[datetime, datetime]]) -> int:
    """The largest number of [start, end) intervals that hold at one moment."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in edges:  # an end sorts before a start at the same instant (-1 < 1)
        running += step
        peak = max(peak, running)
    return peak


def test_backfill_over_six_days_uses_the_pool_and_both_workers(deployment, sandbox, crm, tmp_path):
    today = datetime.now(UTC).date()
    first, last = today - timedelta(days=max(CRM_DAYS)), today - timedelta(days=max(CRM_DAYS) - 5)
    days = [(first + timedelta(days=n)).isoformat() for n in range(6)]
    conf = {
        "start_date": first.isoformat(),
        "end_date": last.isoformat(),
        "conversion_rule_name": "E2E backfill rule",
        "rejects_dir": str(tmp_path / "rejects"),
        "ledger_dir": str(tmp_path / "ledger"),
    }
    # LinkedIn taking 4 s per events request keeps each push running while the scheduler queues the next:
    # a worker (concurrency 1, prefetch 1, acks late) holds only the task it runs, so the second push in
    # the pool's 2 slots must go to the other worker. With instant answers each push could end before the
    # next was queued, and one worker could take all six.
    sandbox.admin.configure(latency_ms=4000)
    run = trigger(deployment, DAG_ID, None, conf)
    unpause(deployment, DAG_ID)
    try:
        finished = wait_for_run(deployment, DAG_ID, run["dag_run_id"], timeout=300)
    finally:
        unpause(deployment, DAG_ID, paused=True)
        sandbox.admin.configure(latency_ms=0)
    tis = task_instances(deployment, DAG_ID, run["dag_run_id"])
    states = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in tis}
    assert finished["state"] == "success", states
    assert set(states.values()) == {"success"}, states
    pushes = [ti for ti in tis if ti["task_id"] == "push_day"]
    assert len(pushes) == 6

    # On both workers: the Celery hostname is the task instance's hostname.
    hostnames = {ti["hostname"] for ti in pushes}
    assert hostnames == set(WORKER_HOSTNAMES), hostnames
    # Never more than the pool's 2 slots of LinkedIn tasks at once.
    intervals = [
        (datetime.fromisoformat(ti["start_date"]), datetime.fromisoformat(ti["end_date"]))
        for ti in tis
        if ti["task_id"] in LINKEDIN_TASKS
    ]
    assert _most_overlapping(intervals) <= 2
    assert {ti["pool"] for ti in tis if ti["task_id"] in LINKEDIN_TASKS} == {"linkedin_capi"}

    # Every valid row of the window accepted once.
    rule_id = xcom(deployment, DAG_ID, run["dag_run_id"], "resolve_conversion_rule")["rule_id"]
    received = sandbox.admin.event_ids(rule_id)
    assert len(received) == sum(crm.valid_rows(day) for day in days)
    assert set(received.values()) == {1}
    report = xcom(deployment, DAG_ID, run["dag_run_id"], "report")
    assert report["days"] == 6
    assert report["events_sent"] == len(received)
