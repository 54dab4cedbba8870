"""A worker killed with SIGKILL halfway through a push, then the task run again for the same data.

Nothing can be flushed or rolled back after SIGKILL, so the only thing that makes the re-run safe is the
eventId: derived from the rule and the key columns, it must come out the same in the second process, so
that every row the first process delivered is sent again under the same id (so LinkedIn can recognise
the copy; whether it deduplicates CAPI copies is UNKNOWN, see the README) and every row it did not deliver
arrives now. With a delivery ledger (``ledger_path``) the re-run goes further and leaves out what LinkedIn
had accepted, so at most the batches in flight at the kill (``max_in_flight``) are stored twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator

ROWS = 40_000
BATCH = 500
IN_FLIGHT = 4

PUSH_SCRIPT = textwrap.dedent(
    """
    import json, signal, sys
    from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator

    spec = json.loads(sys.argv[1])
    operator = SqlToLinkedInCapiOperator(task_id="push", **spec)
    # What Airflow's task runner does on SIGTERM: call the operator's on_kill, in the main thread.
    signal.signal(signal.SIGTERM, lambda signum, frame: operator.on_kill())
    summary = operator.execute(context={})
    print(json.dumps(summary))
    """
)


def _operator_kwargs(table, rule_id: str) -> dict:
    return {
        "sql": table.query,
        "sql_conn_id": table.sql_conn_id,
        "conversion_rule_id": rule_id,
        "key_columns": ["crm_id"],
        "batch_size": BATCH,
        "max_in_flight": IN_FLIGHT,
    }


def _wait_until(predicate, timeout: float, what: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            raise AssertionError(f"the push ended (rc={process.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def _push_killed_halfway(sandbox, table, kwargs: dict, signum: int = signal.SIGKILL) -> int:
    """Start the push in a worker-like process, kill it halfway, and return how many events landed."""
    # Slow every events request down so that "halfway" lasts long enough to aim at.
    sandbox.admin.set_faults([{"kind": "slow", "every": 1, "delay": 0.15, "path": "/rest/conversionEvents"}])
    errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed below; a pipe could fill up and block the push
    process = subprocess.Popen(
        [sys.executable, "-c", PUSH_SCRIPT, json.dumps(kwargs)],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=errors,
    )
    try:
        half = table.valid_rows // 2
        _wait_until(lambda: sandbox.admin.stats()["events_total"] >= half, 240, "half was delivered", process)
        os.kill(process.pid, signum)
        process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
        errors.seek(0)
        stderr = errors.read()
        errors.close()
    if signum == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
    else:  # the push stopped itself, after the batches in flight
        assert process.returncode == 1
        assert b"PushKilledError" in stderr, stderr[-2000:]
    # A batch already in the sandbox's hands when the client died may still be stored: let it land.
    time.sleep(1.0)
    sandbox.admin.clear_faults()
    killed_total = sandbox.admin.stats()["events_total"]
    assert half <= killed_total < table.valid_rows, "the push was not interrupted halfway"
    return killed_total


@pytest.mark.timeout(300)
def test_rerun_after_sigkill_delivers_every_row_under_the_same_event_ids(
    fast_sandbox, crm_table, stored_events
):
    sandbox = fast_sandbox
    # eventIds are derived from crm_id, not read from the table: the re-run must derive the same ones.
    table = crm_table(ROWS, with_event_id=False)
    rule_id = str(sandbox.admin.create_rule(name="killed")["id"])

    killed_total = _push_killed_halfway(sandbox, table, _operator_kwargs(table, rule_id))

    before = {eid: copies[0] for eid, copies in stored_events(sandbox, rule_id).items()}
    assert killed_total == len(before), "the killed run stored some event twice"

    summary = SqlToLinkedInCapiOperator(task_id="push", **_operator_kwargs(table, rule_id)).execute(
        context={}
    )

    after = stored_events(sandbox, rule_id)
    # Every valid row is there, each under one eventId.
    assert len(after) == table.valid_rows == sandbox.admin.stats()["distinct_event_ids"]
    assert summary["events_sent"] == table.valid_rows
    assert summary["events_rejected"] == table.rows - table.valid_rows
    # What the killed run delivered came again under the same eventId, as the very same event.
    for eid, first_copy in before.items():
        copies = after[eid]
        assert len(copies) >= 2, f"{eid} was delivered before the kill but not re-sent"
        assert all(copy == first_copy for copy in copies), f"the copies of {eid} differ"
    # The re-run sent each valid row exactly once, so no row got a second, different eventId.
    assert sandbox.admin.stats()["events_total"] == killed_total + table.valid_rows


@pytest.mark.timeout(300)
def test_with_a_ledger_the_rerun_after_sigkill_resends_at_most_the_batches_in_flight(
    fast_sandbox, crm_table, stored_events, tmp_path
):
    sandbox = fast_sandbox
    table = crm_table(ROWS, with_event_id=False)
    rule_id = str(sandbox.admin.create_rule(name="killed, with a ledger")["id"])
    kwargs = {**_operator_kwargs(table, rule_id), "ledger_path": str(tmp_path / "ledger" / "2026-11-30")}

    killed_total = _push_killed_halfway(sandbox, table, kwargs)
    summary = SqlToLinkedInCapiOperator(task_id="push", **kwargs).execute(context={})

    after = stored_events(sandbox, rule_id)
    assert len(after) == table.valid_rows == sandbox.admin.stats()["distinct_event_ids"]
    total = sandbox.admin.stats()["events_total"]
    # The ledger knows every batch the killed run saw accepted; only those LinkedIn took while the
    # worker died (their answers never arrived), at most max_in_flight of them, can be stored twice.
    assert total - table.valid_rows <= IN_FLIGHT * BATCH
    assert summary["already_delivered"] >= killed_total - IN_FLIGHT * BATCH
    assert summary["already_delivered"] + summary["events_sent"] == table.valid_rows


@pytest.mark.timeout(300)
def test_with_a_ledger_the_rerun_after_sigterm_resends_nothing(
    fast_sandbox, crm_table, stored_events, tmp_path
):
    """SIGTERM (Airflow calls ``on_kill``): the batches in flight finish and reach the ledger, then the task
    stops, so the re-run sends exactly the rows that were never delivered."""
    sandbox = fast_sandbox
    table = crm_table(ROWS, with_event_id=False)
    rule_id = str(sandbox.admin.create_rule(name="terminated, with a ledger")["id"])
    kwargs = {**_operator_kwargs(table, rule_id), "ledger_path": str(tmp_path / "ledger" / "2026-12-04")}

    stopped_total = _push_killed_halfway(sandbox, table, kwargs, signal.SIGTERM)
    summary = SqlToLinkedInCapiOperator(task_id="push", **kwargs).execute(context={})

    assert summary["already_delivered"] == stopped_total
    assert summary["already_delivered"] + summary["events_sent"] == table.valid_rows
    assert len(stored_events(sandbox, rule_id)) == table.valid_rows
    assert sandbox.admin.stats()["events_total"] == table.valid_rows
