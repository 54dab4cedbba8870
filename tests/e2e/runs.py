"""DAG runs through the REST API (/api/v2): trigger, wait with a deadline, read task instances, XCom, logs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime

from e2e.deployment import Deployment

FINISHED = {"success", "failed"}


def unpause(deploy: Deployment, dag_id: str, paused: bool = False) -> None:
    response = deploy.api("PATCH", f"dags/{dag_id}", json={"is_paused": paused})
    assert response.ok, f"pausing={paused} {dag_id}: {response.status_code} {response.text}"


def fail_unfinished_runs(deploy: Deployment, dag_id: str) -> None:
    """Mark queued or running runs failed, so that the next run is not held back by max_active_runs=1."""
    for run in deploy.get(f"dags/{dag_id}/dagRuns", limit=100)["dag_runs"]:
        if run["state"] not in FINISHED:
            response = deploy.api(
                "PATCH", f"dags/{dag_id}/dagRuns/{run['dag_run_id']}", json={"state": "failed"}
            )
            assert response.ok, response.text


def trigger(deploy: Deployment, dag_id: str, logical_date: datetime | None, conf: dict) -> dict:
    body = {"logical_date": logical_date.isoformat() if logical_date else None, "conf": conf}
    response = deploy.api("POST", f"dags/{dag_id}/dagRuns", json=body)
    assert response.ok, f"trigger {dag_id}: {response.status_code} {response.text}"
    return response.json()


def task_instances(deploy: Deployment, dag_id: str, run_id: str) -> list[dict]:
    return deploy.get(f"dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)["task_instances"]


def wait_for_run(
    deploy: Deployment,
    dag_id: str,
    run_id: str,
    timeout: float,
    on_poll: Callable[[list[dict]], None] | None = None,
) -> dict:
    """Poll the run until it finishes; ``on_poll`` sees the task instances at every poll."""
    deadline = time.monotonic() + timeout
    while True:
        deploy.check_alive()
        run = deploy.get(f"dags/{dag_id}/dagRuns/{run_id}")
        tis = task_instances(deploy, dag_id, run_id)
        if on_poll is not None:
            on_poll(tis)
        if run["state"] in FINISHED:
            return run
        if time.monotonic() > deadline:
            states = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in tis}
            raise AssertionError(
                f"run {run_id} of {dag_id} still {run['state']} after {timeout:.0f}s; tasks: {states}\n"
                f"{deploy.all_log_tails()}"
            )
        time.sleep(1)


def xcom(deploy: Deployment, dag_id: str, run_id: str, task_id: str, map_index: int = -1):
    value = deploy.get(
        f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
        map_index=map_index,
        deserialize=True,
        stringify=False,
    )["value"]
    while isinstance(value, str):
        value = json.loads(value)
    return value


def task_log(deploy: Deployment, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
    response = deploy.api(
        "GET",
        f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
        params={"full_content": True},
        headers={"Accept": "application/json"},
    )
    assert response.ok, f"log of {task_id}: {response.status_code} {response.text[:500]}"
    content = response.json()["content"]
    if isinstance(content, list):  # structured log lines in Airflow 3; an exception's text is in a field
        return "\n".join(json.dumps(line) if isinstance(line, dict) else str(line) for line in content)
    return str(content)
