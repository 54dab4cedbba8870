"""A push loses nothing and sends nothing twice while LinkedIn misbehaves.

Everything runs over real HTTP against the sandbox, whose fault injection answers some requests with
429/500/503, drops connections before or after it has stored the batch, and expires the access token.
"Exactly once" is judged the way LinkedIn would: by ``eventId``. A batch whose connection dropped after the
sandbox stored it is sent again, so the sandbox may hold two copies; they must be the same event, with the
same eventId. That is what the issue asks for. Whether LinkedIn deduplicates two CAPI copies by eventId is
UNKNOWN (docs/linkedin-contract.md §2.4.2; only Insight Tag and CAPI dedup is documented): the README says so.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from datetime import UTC, datetime

import pytest

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiError
from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator

EVENTS_PATH = "/rest/conversionEvents"
TOKEN_PATH = "/oauth/v2/accessToken"


def _iso_ms(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


@pytest.mark.slow
def test_100k_rows_through_throttles_errors_drops_and_an_expired_token(
    fast_sandbox, crm_table, stored_events, tmp_path
):
    sandbox = fast_sandbox
    table = crm_table(100_000)
    rule_id = str(sandbox.admin.create_rule(name="faults")["id"])
    # LinkedIn also refuses five events (a 422 naming them) in five different batches: the rest of each
    # of those batches must still get through, once.
    poisoned = sorted(table.valid_event_ids)[::19_000][:5]
    sandbox.admin.poison(poisoned)
    accepted_ids = table.valid_event_ids - set(poisoned)
    expected_rejections = {**table.rejections, "rejected_by_linkedin": len(poisoned)}
    rejects_path = tmp_path / "rejects.jsonl"
    plan = sandbox.admin.set_faults(
        [
            # The 31st events request finds its token expired: the hook must refresh and resend.
            {"kind": "expire_token", "every": 1, "after": 30, "limit": 1, "path": EVENTS_PATH},
            {"kind": "429", "every": 9, "path": EVENTS_PATH},
            {"kind": "500", "every": 13, "path": EVENTS_PATH},
            {"kind": "503", "every": 17, "path": EVENTS_PATH},
            {"kind": "drop", "every": 19, "when": "before", "path": EVENTS_PATH},
            # Stored, then the connection breaks: the client cannot know the batch arrived.
            {"kind": "drop", "every": 11, "when": "after", "path": EVENTS_PATH},
            # And the refresh that follows the expiry first meets a 503 from the token endpoint.
            {"kind": "503", "every": 1, "after": 1, "limit": 1, "path": TOKEN_PATH},
        ]
    )
    assert len(plan) == 7

    summary = SqlToLinkedInCapiOperator(
        task_id="push_through_faults",
        sql=table.query,
        sql_conn_id=table.sql_conn_id,
        conversion_rule_id=rule_id,
        batch_size=1000,
        rejects_path=str(rejects_path),
    ).execute(context={})

    stats = sandbox.admin.stats()
    faults = {
        (f["kind"], f["when"]): f["injected"] for f in sandbox.admin.faults() if f["path"] == EVENTS_PATH
    }
    # Every kind of fault really happened during the push.
    assert sandbox.admin.faults()[-1]["injected"] == 1, "the token endpoint never failed"
    assert faults[("expire_token", "before")] == 1
    for kind in (("429", "before"), ("500", "before"), ("503", "before"), ("drop", "before")):
        assert faults[kind] >= 3, faults
    assert faults[("drop", "after")] >= 3, faults
    assert stats["tokens_issued"] >= 2, "the expired token was never replaced"

    # Every valid row accepted, by eventId, exactly the valid ones and nothing else.
    grouped = stored_events(sandbox, rule_id)
    assert set(grouped) == accepted_ids
    assert stats["distinct_event_ids"] == len(accepted_ids)
    # Copies exist (drops after storing) and each copy is the very same event.
    duplicated = {eid: copies for eid, copies in grouped.items() if len(copies) > 1}
    assert duplicated, "no batch was resent after a drop-after-store; the test lost its point"
    for eid, copies in duplicated.items():
        assert all(copy == copies[0] for copy in copies[1:]), f"copies of {eid} differ"

    # The summary tells the truth about what LinkedIn holds.
    assert summary["rows_read"] == table.rows
    assert summary["events_sent"] == len(accepted_ids) == len(grouped)
    assert summary["events_rejected"] == table.rows - len(accepted_ids)
    assert summary["rejections"] == expected_rejections
    assert summary["batches"] == math.ceil(table.valid_rows / 1000)
    # The rejects file explains exactly the rows not accepted, once each.
    lines = [json.loads(line) for line in rejects_path.read_text().splitlines()]
    assert Counter(line["code"] for line in lines) == Counter(expected_rejections)
    assert {line["event_id"] for line in lines if line["code"] == "rejected_by_linkedin"} == set(poisoned)
    assert len({line["row"] for line in lines}) == len(lines)
    assert summary["dry_run"] is False
    times = [copies[0]["conversionHappenedAt"] for copies in grouped.values()]
    assert datetime.fromisoformat(summary["first_event_at"]) == _iso_ms(min(times))
    assert datetime.fromisoformat(summary["last_event_at"]) == _iso_ms(max(times))


@pytest.mark.parametrize("max_in_flight", [1, 4])
def test_linkedin_down_longer_than_the_retry_budget_fails_with_true_counts(
    fast_sandbox, crm_table, monkeypatch, max_in_flight
):
    sandbox = fast_sandbox
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT",
        sandbox.connection_json(requests_per_minute=100_000, max_retries=2, propagation_wait=0.05),
    )
    table = crm_table(10_000, with_invalid=False)
    rule_id = str(sandbox.admin.create_rule(name="outage")["id"])
    # Three batches get through, then LinkedIn answers every events request with 503, for good.
    sandbox.admin.set_faults([{"kind": "503", "every": 1, "after": 3, "path": EVENTS_PATH}])

    operator = SqlToLinkedInCapiOperator(
        task_id="push_into_outage",
        sql=table.query,
        sql_conn_id=table.sql_conn_id,
        conversion_rule_id=rule_id,
        batch_size=1000,
        max_in_flight=max_in_flight,
    )
    with pytest.raises(LinkedInCapiError, match="were delivered") as failure:
        operator.execute(context={})

    stats = sandbox.admin.stats()
    delivered = stats["distinct_event_ids"]
    assert delivered == stats["events_total"] == 3000
    # 3 good requests, then the first attempt and 2 retries of the fourth batch (and of each other batch
    # that was in flight when it failed; no batch started after): the retry budget was respected.
    injected = sandbox.admin.faults()[0]["injected"]
    if max_in_flight == 1:
        assert injected == 3
    else:
        assert injected % 3 == 0, injected
        assert 3 <= injected <= 3 * max_in_flight, injected
    message = str(failure.value)
    assert "503" in message, message
    # The message counts what LinkedIn accepted as delivered, and nothing more.
    claimed = re.search(r"(\d+) events were delivered", message)
    assert claimed, message
    assert int(claimed.group(1)) == delivered
    read = re.search(r"(\d+) rows were read; (\d+) of them were not delivered", message)
    assert read, message
    rows_read, not_delivered = int(read.group(1)), int(read.group(2))
    assert delivered < rows_read <= table.rows
    assert not_delivered == rows_read - delivered


def test_validate_first_push_is_exactly_once_through_faults(fast_sandbox, crm_table, stored_events):
    """``on_invalid="fail"`` validates everything, spools, then sends: the spooled path under faults."""
    sandbox = fast_sandbox
    table = crm_table(20_000, with_invalid=False)
    rule_id = str(sandbox.admin.create_rule(name="validate first")["id"])
    sandbox.admin.set_faults(
        [
            {"kind": "drop", "every": 3, "when": "after", "path": EVENTS_PATH},
            {"kind": "500", "every": 5, "path": EVENTS_PATH},
        ]
    )

    summary = SqlToLinkedInCapiOperator(
        task_id="push_validated",
        sql=table.query,
        sql_conn_id=table.sql_conn_id,
        conversion_rule_id=rule_id,
        batch_size=1000,
        on_invalid="fail",
    ).execute(context={})

    assert all(fault["injected"] >= 2 for fault in sandbox.admin.faults())
    grouped = stored_events(sandbox, rule_id)
    assert set(grouped) == table.valid_event_ids
    assert summary["events_sent"] == table.rows == len(grouped)
    assert summary["events_rejected"] == 0
    for eid, copies in grouped.items():
        assert all(copy == copies[0] for copy in copies[1:]), f"copies of {eid} differ"
