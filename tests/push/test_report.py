"""Progress lines on their own: counts only, at their interval."""

from __future__ import annotations

import logging

from airflow_provider_linkedin_capi.push.delivery import EventDelivery, InFlightWindow
from airflow_provider_linkedin_capi.push.report import ProgressReporter


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
