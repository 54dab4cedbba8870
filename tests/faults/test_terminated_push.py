"""A push whose task is killed gracefully (SIGTERM -> ``on_kill``) stops after the batch in flight.

Airflow's task runner handles SIGTERM by calling the operator's ``on_kill`` and letting ``execute`` go on
(``airflow.sdk.execution_time.task_runner``: ``_on_term`` calls ``ti.task.on_kill()`` and returns). The
push must then finish the batch it is sending, record it (counts and ledger), say what was and was not
delivered, and fail. Run in a separate process with the same SIGTERM handling, and checked against what
the sandbox stored: the ledger holds exactly the eventIds LinkedIn took.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from airflow_provider_linkedin_capi.push.files import DeliveryLedger

ROWS = 6_000
BATCH = 200

PUSH_SCRIPT = textwrap.dedent(
    """
    import json, signal, sys
    from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator

    operator = SqlToLinkedInCapiOperator(task_id="push", **json.loads(sys.argv[1]))
    # What Airflow's task runner does on SIGTERM: call on_kill, then let execute carry on.
    signal.signal(signal.SIGTERM, lambda signum, frame: operator.on_kill())
    try:
        summary = operator.execute(context={})
    except Exception as error:
        notes = "\\n".join(getattr(error, "__notes__", []))
        print(json.dumps({"error": type(error).__name__, "message": str(error), "notes": notes}))
        sys.exit(1)
    print(json.dumps({"summary": summary}))
    """
)


def push_arguments(table, rule_id: str, ledger_path, **more) -> dict:
    """The operator's arguments for a push of ``table`` to ``rule_id`` with a ledger, keyed by crm_id."""
    return {
        "sql": table.query,
        "sql_conn_id": table.sql_conn_id,
        "conversion_rule_id": rule_id,
        "key_columns": ["crm_id"],
        "batch_size": BATCH,
        "ledger_path": str(ledger_path),
        **more,
    }


def start_push(kwargs: dict) -> subprocess.Popen:
    """The push, in a process of its own that handles SIGTERM as Airflow's task runner does."""
    return subprocess.Popen(
        [sys.executable, "-c", PUSH_SCRIPT, json.dumps(kwargs)],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _digests(event_ids) -> np.ndarray:
    raw = b"".join(hashlib.blake2b(eid.encode(), digest_size=8).digest() for eid in event_ids)
    return np.unique(np.frombuffer(raw, dtype="<u8"))


@pytest.mark.timeout(240)
def test_sigterm_stops_after_the_batch_in_flight_and_the_ledger_matches_linkedin(
    fast_sandbox, crm_table, tmp_path
):
    sandbox = fast_sandbox
    table = crm_table(ROWS, with_event_id=False)
    rule_id = str(sandbox.admin.create_rule(name="terminated")["id"])
    ledger_path = tmp_path / "ledger" / "2026-11-30"
    kwargs = push_arguments(table, rule_id, ledger_path)
    # Each events request takes 0.3 s, so the SIGTERM lands while a batch is in flight.
    sandbox.admin.set_faults([{"kind": "slow", "every": 1, "delay": 0.3, "path": "/rest/conversionEvents"}])
    process = start_push(kwargs)
    try:
        deadline = time.monotonic() + 120
        while sandbox.admin.stats()["events_total"] < 3 * BATCH:
            assert process.poll() is None, "the push ended before it was killed"
            assert time.monotonic() < deadline, "the push never got going"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
    sandbox.admin.clear_faults()

    assert process.returncode == 1, out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["error"] == "PushKilledError", result
    stored = sandbox.admin.event_ids(rule_id)
    total = sandbox.admin.stats()["events_total"]
    assert 3 * BATCH <= total < table.valid_rows, "the push did not stop early"
    assert set(stored.values()) == {1}
    # It says what it delivered, and that is exactly what LinkedIn holds.
    delivered = re.search(r"after (\d+) events were delivered in (\d+) batches", result["notes"])
    assert delivered is not None, result
    assert int(delivered.group(1)) == total
    assert "were not delivered" in result["notes"]
    # The batch in flight at the SIGTERM was finished and recorded: the ledger is LinkedIn's set, exactly.
    ledger = DeliveryLedger(str(ledger_path))
    assert np.array_equal(ledger._known, _digests(stored))

    # A re-run with the same ledger sends only the rest.
    from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator

    summary = SqlToLinkedInCapiOperator(task_id="push", **kwargs).execute(context={})
    assert summary["already_delivered"] == total
    assert summary["events_sent"] == table.valid_rows - total
    assert set(sandbox.admin.event_ids(rule_id).values()) == {1}


@pytest.mark.timeout(240)
def test_sigterm_then_sigkill_5s_later_leaves_only_the_in_doubt_batches_to_resend(
    fast_sandbox, crm_table, stored_events, tmp_path
):
    """As Airflow's supervisor does it: SIGTERM, then SIGKILL 5 s later. LinkedIn takes 7 s per batch.

    The push used to wait for every batch in flight through all of its retries, so the SIGKILL came before
    the ledger heard of batches LinkedIn had accepted, and the retry sent them again (1,000 events stored
    twice). Now it stops within the 5 s: answers on the wire get 3 s, the rest is recorded as in doubt, and
    the retry resends exactly those, counted as resent_in_doubt: the only events LinkedIn may hold twice.
    """
    sandbox = fast_sandbox
    table = crm_table(3_000, with_event_id=False)
    rule_id = str(sandbox.admin.create_rule(name="sigkill after sigterm")["id"])
    ledger_path = tmp_path / "ledger"
    kwargs = push_arguments(table, rule_id, ledger_path, max_in_flight=4)
    sandbox.admin.configure(latency_ms=7000)
    process = start_push(kwargs)
    try:
        deadline = time.monotonic() + 120
        while sandbox.admin.stats()["batches_accepted"] < 4:  # the first window of 4 answered
            assert process.poll() is None, "the push ended before it was killed"
            assert time.monotonic() < deadline, "the push never got going"
            time.sleep(0.1)
        time.sleep(2)  # the next batches are on the wire, 2 s into LinkedIn's 7
        process.send_signal(signal.SIGTERM)
        terminated = time.monotonic()
        try:
            out, _ = process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()  # what the supervisor does 5 s after SIGTERM
            out, _ = process.communicate(timeout=30)
            pytest.fail("the push was still running 5 s after SIGTERM")
        stopped_in = time.monotonic() - terminated
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
    time.sleep(8)  # whatever LinkedIn was working on when the push gave up, it finishes now
    sandbox.admin.configure(latency_ms=0)

    assert stopped_in < 5, stopped_in
    result = json.loads(out.strip().splitlines()[-1])
    assert result["error"] == "PushKilledError", result
    in_doubt = int(re.search(r"Of those, (\d+) were on their way", result["notes"]).group(1))
    assert in_doubt >= BATCH  # at least one batch was unanswered

    from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator

    summary = SqlToLinkedInCapiOperator(task_id="push", **kwargs).execute(context={})
    assert summary["resent_in_doubt"] == in_doubt
    stored = stored_events(sandbox, rule_id)
    assert set(stored) == table_event_ids(sandbox, rule_id)
    assert len(stored) == table.valid_rows  # every valid row arrived
    twice = {event_id for event_id, copies in stored.items() if len(copies) > 1}
    assert len(twice) <= in_doubt  # only in-doubt events can be there twice
    assert max(len(copies) for copies in stored.values()) <= 2


def table_event_ids(sandbox, rule_id: str) -> set[str]:
    return set(sandbox.admin.event_ids(rule_id))


@pytest.mark.timeout(120)
def test_an_execution_timeout_stops_a_push_waiting_out_its_retries_within_seconds(
    fast_sandbox, crm_table, tmp_path, monkeypatch
):
    """Airflow 3 enforces execution_timeout in the task process (SIGALRM raising AirflowTaskTimeout). The
    in-flight window used to wait out every retry of every batch: with LinkedIn answering 503 and 10 s
    between retries, well past the timeout (with the defaults, hours)."""
    from airflow.providers.common.compat.sdk import AirflowTaskTimeout

    from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator

    sandbox = fast_sandbox
    table = crm_table(1_000, with_event_id=False)
    rule_id = str(sandbox.admin.create_rule(name="timeout")["id"])
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT",
        sandbox.connection_json(
            requests_per_minute=100_000, max_retries=8, retry_min_wait=10, retry_max_wait=10
        ),
    )
    sandbox.admin.set_faults([{"kind": "503", "every": 1, "path": "/rest/conversionEvents"}])
    operator = SqlToLinkedInCapiOperator(
        task_id="push",
        sql=table.query,
        sql_conn_id=table.sql_conn_id,
        conversion_rule_id=rule_id,
        key_columns=["crm_id"],
        batch_size=BATCH,
        ledger_path=str(tmp_path / "ledger"),
    )

    def timed_out(signum, frame):
        raise AirflowTaskTimeout("Timeout, PID: test")

    previous = signal.signal(signal.SIGALRM, timed_out)
    signal.setitimer(signal.ITIMER_REAL, 2)
    started = time.monotonic()
    try:
        with pytest.raises(AirflowTaskTimeout):
            operator.execute(context={})
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        sandbox.admin.clear_faults()
    assert time.monotonic() - started < 8  # 2 s to the timeout, then at most ~4 s of stopping
    assert sandbox.admin.stats()["events_total"] == 0
