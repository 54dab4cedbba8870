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
    kwargs = {
        "sql": table.query,
        "sql_conn_id": table.sql_conn_id,
        "conversion_rule_id": rule_id,
        "key_columns": ["crm_id"],
        "batch_size": BATCH,
        "ledger_path": str(ledger_path),
    }
    # Each events request takes 0.3 s, so the SIGTERM lands while a batch is in flight.
    sandbox.admin.set_faults([{"kind": "slow", "every": 1, "delay": 0.3, "path": "/rest/conversionEvents"}])
    process = subprocess.Popen(
        [sys.executable, "-c", PUSH_SCRIPT, json.dumps(kwargs)],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
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
