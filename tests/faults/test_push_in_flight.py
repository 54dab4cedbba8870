"""Several batches in flight at once: still exactly once, exact counts, and within the token's budget.

The sandbox takes a while per events request (its latency setting), so several of the push's batches are
really on the wire together, while it injects throttles, server errors, dropped connections, an expired
token and refused events. What LinkedIn would see is read back from the sandbox: the events it stored (by
eventId), the most events requests it worked on at once, and the most it received in any minute.
Nothing here measures a duration.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from airflow_provider_linkedin_capi.push.files import DeliveryLedger
from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator

EVENTS_PATH = "/rest/conversionEvents"
TOKEN_PATH = "/oauth/v2/accessToken"


def _push(table, rule_id: str, **kwargs) -> dict:
    return SqlToLinkedInCapiOperator(
        task_id="push_in_flight",
        sql=table.query,
        sql_conn_id=table.sql_conn_id,
        conversion_rule_id=rule_id,
        **kwargs,
    ).execute(context={})


@pytest.mark.timeout(300)
def test_batches_in_flight_through_every_fault_are_delivered_once_and_counted_exactly(
    fast_sandbox, crm_table, stored_events, tmp_path
):
    sandbox = fast_sandbox
    in_flight = 4
    table = crm_table(20_000)
    rule_id = str(sandbox.admin.create_rule(name="in flight")["id"])
    # LinkedIn refuses one event in each of five different batches (a 422 naming it).
    poisoned = sorted(table.valid_event_ids)[250::4_000][:5]
    sandbox.admin.poison(poisoned)
    accepted_ids = table.valid_event_ids - set(poisoned)
    expected_rejections = {**table.rejections, "rejected_by_linkedin": len(poisoned)}
    # 50 ms plus 20 us per event: 60 ms for a batch of 500, long enough for the batches to overlap.
    sandbox.admin.configure(latency_ms=50, latency_us_per_event=20, latency_jitter_ms=20)
    sandbox.admin.set_faults(
        [
            {"kind": "expire_token", "every": 1, "after": 12, "limit": 1, "path": EVENTS_PATH},
            {"kind": "429", "every": 7, "path": EVENTS_PATH},
            {"kind": "500", "every": 11, "path": EVENTS_PATH},
            {"kind": "503", "every": 13, "path": EVENTS_PATH},
            {"kind": "drop", "every": 17, "when": "before", "path": EVENTS_PATH},
            # stored, then the connection breaks: the client cannot know the batch arrived
            {"kind": "drop", "every": 9, "when": "after", "path": EVENTS_PATH},
        ]
    )
    rejects_path = tmp_path / "rejects.jsonl"
    ledger_path = tmp_path / "ledger" / "2026-12-04"

    summary = _push(
        table,
        rule_id,
        batch_size=500,
        max_in_flight=in_flight,
        rejects_path=str(rejects_path),
        ledger_path=str(ledger_path),
    )

    stats = sandbox.admin.stats()
    assert all(fault["injected"] >= 1 for fault in sandbox.admin.faults()), sandbox.admin.faults()
    # Batches really were in flight together, and never more of them than allowed.
    assert 2 <= stats["event_requests_max_concurrent"] <= in_flight, stats
    # The expired token was replaced once, not once per thread that met it.
    assert stats["requests_by_path"][TOKEN_PATH] == 2, stats["requests_by_path"]

    # Every valid row LinkedIn would take is there, under its eventId; copies (after a drop) are identical.
    grouped = stored_events(sandbox, rule_id)
    assert set(grouped) == accepted_ids
    for eid, copies in grouped.items():
        assert all(copy == copies[0] for copy in copies[1:]), f"copies of {eid} differ"

    # Each row is counted once, whichever batch finished first.
    assert summary["rows_read"] == table.rows
    assert summary["events_sent"] == len(accepted_ids)
    assert summary["events_rejected"] == table.rows - len(accepted_ids)
    assert summary["rejections"] == expected_rejections
    assert summary["batches"] == -(-table.valid_rows // 500)

    # The rejects file: one line per rejection, each row once.
    lines = [json.loads(line) for line in rejects_path.read_text().splitlines()]
    assert len(lines) == summary["events_rejected"]
    assert len({line["row"] for line in lines}) == len(lines)
    assert Counter(line["code"] for line in lines) == Counter(expected_rejections)
    assert {line["event_id"] for line in lines if line["code"] == "rejected_by_linkedin"} == set(poisoned)

    # The ledger holds exactly what the sandbox accepted.
    ledger = DeliveryLedger(str(ledger_path))
    assert ledger.loaded == len(accepted_ids)
    assert all(ledger.delivered([{"eventId": eid} for eid in sorted(accepted_ids)]))
    assert not any(ledger.delivered([{"eventId": eid} for eid in poisoned]))


@pytest.mark.timeout(120)
def test_a_batch_split_to_find_a_refused_event_does_not_hold_up_the_others(
    fast_sandbox, crm_table, stored_events
):
    sandbox = fast_sandbox
    table = crm_table(2_000, with_invalid=False)
    rule_id = str(sandbox.admin.create_rule(name="split in flight")["id"])
    ordered = sorted(table.valid_event_ids)
    # LinkedIn refuses the first batch without naming the bad event: the hook halves it down to that one
    # event, about 16 requests, each taking the sandbox 30 ms.
    sandbox.admin.poison([ordered[7]], message_format="opaque")
    sandbox.admin.configure(latency_ms=30)

    summary = _push(table, rule_id, batch_size=200, max_in_flight=3)

    assert summary["events_sent"] == table.rows - 1
    assert summary["rejections"] == {"rejected_by_linkedin": 1}
    stored = [event["eventId"] for event in sandbox.admin.events(rule_id)]
    assert sorted(stored) == [eid for eid in ordered if eid != ordered[7]]
    first_batch = set(ordered[:200])
    last_of_first = max(i for i, eid in enumerate(stored) if eid in first_batch)
    later_batches_before = {
        ordered.index(eid) // 200 for eid in stored[:last_of_first] if eid not in first_batch
    }
    # While the first batch was being split, later batches went on being sent and stored.
    assert len(later_batches_before) >= 2, later_batches_before
    assert sandbox.admin.stats()["event_requests_max_concurrent"] <= 3


@pytest.mark.timeout(300)
def test_batches_in_flight_stay_within_the_budget_per_minute_and_refresh_the_token_once(
    sandbox, crm_table, monkeypatch, stored_events
):
    """The slow one (about 70 s): a budget is only tested by sending more than a minute's worth of it."""
    budget, in_flight, batch = 120, 4, 20
    # The sandbox throttles above the same budget (per token), and takes 1 s per request: the threads
    # spend their time waiting for the pacer, each holding the token it read before it waited.
    sandbox.admin.configure(requests_per_minute=budget, latency_ms=1000)
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT",
        sandbox.connection_json(
            requests_per_minute=budget,
            max_in_flight=in_flight,
            retry_min_wait=0.05,
            retry_max_wait=0.2,
            propagation_wait=0.05,
        ),
    )
    table = crm_table(136 * batch, with_invalid=False)
    rule_id = str(sandbox.admin.create_rule(name="budget")["id"])
    sandbox.admin.set_faults(
        [
            {"kind": "expire_token", "every": 1, "after": 40, "limit": 1, "path": EVENTS_PATH},
            {"kind": "503", "every": 31, "path": EVENTS_PATH},
        ]
    )

    # max_in_flight comes from the connection's extra here.
    summary = _push(table, rule_id, batch_size=batch)

    stats = sandbox.admin.stats()
    requests = stats["requests_by_path"][EVENTS_PATH]
    assert requests > budget, "too few requests to test a budget per minute"
    assert stats["event_requests_max_per_minute"] <= budget, stats
    assert stats["event_requests_max_concurrent"] <= in_flight, stats
    injected = sum(stats["faults_injected"].get(kind, 0) for kind in ("503",))
    # The sandbox never had to throttle.
    assert "429" not in stats["requests_by_status"], stats["requests_by_status"]
    assert stats["requests_by_status"]["503"] == injected
    # Several threads met the expired token; one of them refreshed it, once.
    assert stats["requests_by_status"]["401"] >= 2, stats["requests_by_status"]
    assert stats["requests_by_path"][TOKEN_PATH] == 2, stats["requests_by_path"]
    assert summary["events_sent"] == table.rows == len(stored_events(sandbox, rule_id))
