"""Two pushes on one ledger at once: a manual run overlapping a scheduled one, a retry beside a zombie try.

Each would find nothing delivered and send everything (2,000 of 2,000 events had been stored twice). The
ledger's lease lets one push at a time through: the second waits, then reads what the first recorded and
sends only the rest. Two real processes, as two workers would be.
"""

from __future__ import annotations

import json
import time

import pytest
from test_terminated_push import push_arguments, start_push

ROWS = 2_000
BATCH = 250


@pytest.mark.timeout(240)
def test_two_pushes_on_one_ledger_send_each_row_once(fast_sandbox, crm_table, stored_events, tmp_path):
    sandbox = fast_sandbox
    table = crm_table(ROWS, with_event_id=False)
    rule_id = str(sandbox.admin.create_rule(name="concurrent")["id"])
    kwargs = push_arguments(table, rule_id, tmp_path / "ledger", batch_size=BATCH)
    # 0.3 s per events request: the first push is still sending when the second starts.
    sandbox.admin.set_faults([{"kind": "slow", "every": 1, "delay": 0.3, "path": "/rest/conversionEvents"}])

    first = start_push(kwargs)
    try:
        deadline = time.monotonic() + 120
        while not sandbox.admin.stats()["events_total"]:
            assert first.poll() is None, "the first push ended before it sent anything"
            assert time.monotonic() < deadline, "the first push never got going"
            time.sleep(0.05)
        second = start_push(kwargs)
        try:
            outputs = [process.communicate(timeout=180)[0] for process in (first, second)]
        finally:
            if second.poll() is None:
                second.kill()
    finally:
        if first.poll() is None:
            first.kill()
    sandbox.admin.clear_faults()

    results = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
    assert all("summary" in result for result in results), results
    first_summary, second_summary = (result["summary"] for result in results)
    assert first_summary["events_sent"] == table.valid_rows
    # The second waited for the lease, then found every event in the ledger.
    assert (second_summary["events_sent"], second_summary["already_delivered"]) == (0, table.valid_rows)
    stored = stored_events(sandbox, rule_id)
    assert len(stored) == table.valid_rows
    assert {len(copies) for copies in stored.values()} == {1}
    assert not (tmp_path / "ledger" / "_lease.json").exists()
