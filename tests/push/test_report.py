"""Progress lines on their own: counts only, at their interval."""

from __future__ import annotations

import logging

from airflow_provider_linkedin_capi.push.report import ProgressReporter


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
