"""The push's files on their own: the rejects log, the spool, the ledger."""

from __future__ import annotations

import orjson

from airflow_provider_linkedin_capi.conversions import Rejection, RejectionCode
from airflow_provider_linkedin_capi.push.files import EventSpool, RejectionLog, rejection_for_event

from .helpers import HASH, event


def test_rejection_log_counts_without_a_file():
    with RejectionLog() as log:
        log.record(3, Rejection(RejectionCode.TOO_OLD, "conversionHappenedAt", "too old"))
        log.record(9, Rejection(RejectionCode.TOO_OLD, "conversionHappenedAt", "too old"))
        log.record(12, Rejection(RejectionCode.INVALID_IP, "ip_address", "not IPv4"))
    assert log.counts == {"too_old": 2, "invalid_ip": 1}
    assert log.total == 3


def test_rejection_log_replaces_a_stale_file(tmp_path):
    path = tmp_path / "rejects.jsonl"
    path.write_text('{"row": 1}\n{"row": 2}\n')
    with RejectionLog(str(path)):
        pass
    assert path.read_text() == ""


def test_a_rejection_made_from_an_event_keeps_only_hashed_identifiers():
    rejection = rejection_for_event(event(1), RejectionCode.REJECTED_BY_LINKEDIN, None, "Index: 0 ...")
    assert rejection.event_id == "e1"
    assert rejection.sha256_email == HASH
    assert "Raw" not in repr(rejection)


def test_spool_round_trips_batches_with_their_row_numbers():
    with EventSpool() as spool:
        spool.write([event(1), event(2), event(3)], [1, 2, 3])
        spool.write([event(4), event(5)], range(4, 6))
        batches = list(spool.batches(2))
    assert [[event["eventId"] for event in events] for events, _ in batches] == [
        ["e1", "e2"],
        ["e3", "e4"],
        ["e5"],
    ]
    assert [list(rows) for _, rows in batches] == [[1, 2], [3, 4], [5]]


def test_spool_keeps_the_gaps_rows_left_out_before_it_leave():
    """Repeats of an earlier row's eventId are left out before the spool: their row numbers are gaps."""
    with EventSpool() as spool:
        spool.write([event(1), event(3)], [1, 3])
        spool.write([event(7)], [7])
        batches = list(spool.batches(2))
    assert [[event["eventId"] for event in events] for events, _ in batches] == [["e1", "e3"], ["e7"]]
    assert [rows for _, rows in batches] == [[1, 3], [7]]


def test_rejects_lines_are_json_objects(tmp_path):
    path = tmp_path / "r.jsonl"
    with RejectionLog(str(path)) as log:
        log.record(7, Rejection(RejectionCode.INVALID_EMAIL, "email", "not an e-mail", "evt", None))
    assert orjson.loads(path.read_bytes()) == {
        "row": 7,
        "event_id": "evt",
        "code": "invalid_email",
        "field": "email",
        "message": "not an e-mail",
        "value": None,
        "keys": None,
        "sha256_email": None,
    }


def test_ledger_answers_for_what_earlier_runs_recorded(tmp_path):
    from airflow_provider_linkedin_capi.push.files import DeliveryLedger

    first = DeliveryLedger(str(tmp_path / "ledger"))
    assert first.loaded == 0
    assert first.delivered([event(1)]) == [False]
    first.record([f"e{n}" for n in range(0, 3000, 2)])  # even ids, as two batches
    first.record([f"e{n}" for n in range(3000, 4000, 2)])
    assert first.delivered([event(2)]) == [False]  # a run asks about what the ledger held when it opened

    later = DeliveryLedger(str(tmp_path / "ledger"))
    assert later.loaded == 2000
    answers = later.delivered([event(n) for n in range(4100)])
    assert answers == [n % 2 == 0 and n < 4000 for n in range(4100)]
    assert later.delivered([]) == []
