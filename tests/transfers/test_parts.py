"""The operator's small parts on their own: rejects log, spool, delivery counts and progress lines."""

from __future__ import annotations

import logging

import orjson
import pytest

from airflow_provider_linkedin_capi.conversions import Rejection, RejectionCode
from airflow_provider_linkedin_capi.transfers.delivery import EventDelivery
from airflow_provider_linkedin_capi.transfers.in_flight import InFlightWindow
from airflow_provider_linkedin_capi.transfers.progress import ProgressReporter
from airflow_provider_linkedin_capi.transfers.rejects import RejectionLog, rejection_for_event
from airflow_provider_linkedin_capi.transfers.spool import EventSpool


def deliver_one_at_a_time(delivery: EventDelivery, events: list, rows) -> None:
    """Send ``events`` as the push does with ``max_in_flight=1``: through the in-flight window."""
    with InFlightWindow(delivery, 1) as window:
        window.submit(events, rows)
        window.finish()


HASH = "a" * 64


def _event(n: int, happened_ms: int = 1_700_000_000_000) -> dict:
    return {
        "conversion": "urn:lla:llaPartnerConversion:1",
        "conversionHappenedAt": happened_ms + n,
        "eventId": f"e{n}",
        "user": {"userIds": [{"idType": "SHA256_EMAIL", "idValue": HASH}], "userInfo": {"firstName": "Raw"}},
    }


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
    rejection = rejection_for_event(_event(1), RejectionCode.REJECTED_BY_LINKEDIN, None, "Index: 0 ...")
    assert rejection.event_id == "e1"
    assert rejection.sha256_email == HASH
    assert "Raw" not in repr(rejection)


def test_spool_round_trips_batches_with_their_row_numbers():
    with EventSpool() as spool:
        spool.write([_event(1), _event(2), _event(3)], [1, 2, 3])
        spool.write([_event(4), _event(5)], range(4, 6))
        batches = list(spool.batches(2))
    assert [[event["eventId"] for event in events] for events, _ in batches] == [
        ["e1", "e2"],
        ["e3", "e4"],
        ["e5"],
    ]
    assert [list(rows) for _, rows in batches] == [[1, 2], [3, 4], [5]]


def test_spool_refuses_gaps_in_row_numbers():
    with EventSpool() as spool, pytest.raises(ValueError, match="consecutive"):
        spool.write([_event(1), _event(3)], [1, 3])


def test_dry_run_delivery_counts_what_would_be_sent():
    with RejectionLog() as rejections:
        delivery = EventDelivery(None, rejections, dry_run=True)
        deliver_one_at_a_time(delivery, [_event(5), _event(1)], [1, 2])
        deliver_one_at_a_time(delivery, [_event(9)], [3])
    assert delivery.events_sent == 3
    assert delivery.batches == 2
    assert delivery.first_event_ms == 1_700_000_000_001
    assert delivery.last_event_at == "2023-11-14T22:13:20.009Z"


def test_linkedin_messages_that_quote_a_name_are_recorded_without_it(tmp_path):
    class RefusingHook:
        """Answers like LinkedIn would if its validation message quoted the refused value."""

        def send_conversion_events(self, events):
            from airflow_provider_linkedin_capi.results import BatchResult

            message = "Index: 0, ERROR :: /user/userInfo/firstName :: value 'Raw' is not allowed"
            return BatchResult(status=200, accepted=len(events) - 1, errors={0: message})

    path = tmp_path / "rejects.jsonl"
    with RejectionLog(str(path)) as rejections:
        deliver_one_at_a_time(
            EventDelivery(RefusingHook(), rejections, dry_run=False), [_event(1), _event(2)], [7, 8]
        )
    [line] = [orjson.loads(text) for text in path.read_bytes().splitlines()]
    assert (line["row"], line["code"]) == (7, "rejected_by_linkedin")
    assert line["field"] == "/user/userInfo/firstName"
    assert "Raw" not in line["message"]
    assert "<firstName>" in line["message"]


def test_delivery_needs_a_hook_unless_dry_run():
    with pytest.raises(ValueError, match="dry_run"):
        EventDelivery(None, RejectionLog(), dry_run=False)


def test_progress_lines_hold_counts_only(caplog):
    logger = logging.getLogger("linkedin_capi_progress_test")
    progress = ProgressReporter(logger, interval_seconds=1e-9)
    with caplog.at_level(logging.INFO, logger=logger.name):
        progress.maybe_report(1000, 900, 100)
        progress.report_final(2000, 1800, 200, {"too_old": 150, "invalid_email": 50})
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0].startswith("Progress: 1000 rows read, 900 events sent, 100 rejected")
    assert "2000 rows read, 1800 events sent, 200 rejected (invalid_email=50, too_old=150)" in messages[1]


def test_progress_is_quiet_between_intervals(caplog):
    logger = logging.getLogger("linkedin_capi_progress_quiet")
    progress = ProgressReporter(logger, interval_seconds=3600)
    with caplog.at_level(logging.INFO, logger=logger.name):
        for rows in range(0, 10_000, 1000):
            progress.maybe_report(rows, rows, 0)
    assert caplog.records == []


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
        "sha256_email": None,
    }


def test_ledger_answers_for_what_earlier_runs_recorded(tmp_path):
    from airflow_provider_linkedin_capi.transfers.ledger import DeliveryLedger

    first = DeliveryLedger(str(tmp_path / "ledger"))
    assert first.loaded == 0
    assert first.delivered([_event(1)]) == [False]
    first.record([f"e{n}" for n in range(0, 3000, 2)])  # even ids, as two batches
    first.record([f"e{n}" for n in range(3000, 4000, 2)])
    assert first.delivered([_event(2)]) == [False]  # a run asks about what the ledger held when it opened

    later = DeliveryLedger(str(tmp_path / "ledger"))
    assert later.loaded == 2000
    answers = later.delivered([_event(n) for n in range(4100)])
    assert answers == [n % 2 == 0 and n < 4000 for n in range(4100)]
    assert later.delivered([]) == []
