"""The warning ahead of a LinkedIn-Version's sunset, worded from the calendar (``api_versions``)."""

from __future__ import annotations

import logging
from datetime import date

from airflow_provider_linkedin_capi.hooks._connection import sunset_note, warn_if_version_near_sunset


def test_warns_only_inside_the_window_and_after_the_sunset(caplog):
    log = logging.getLogger("test.version")
    with caplog.at_level(logging.WARNING, logger="test.version"):
        assert not warn_if_version_near_sunset("202601", date(2026, 11, 1), log, "li")
        assert warn_if_version_near_sunset("202601", date(2026, 12, 6), log, "li")
        assert warn_if_version_near_sunset("202508", date(2026, 9, 3), log, "li")
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "LinkedIn-Version 202601 sunset 2027-01-15 (confirmed), in 40 days" in messages[0]
    assert "before LinkedIn answers every request with HTTP 426" in messages[0]
    assert "'api_version'" in messages[0]
    assert "connection 'li'" in messages[0]
    # Worded for a version that is already gone: LinkedIn refuses it now, not later.
    assert "LinkedIn-Version 202508 sunset 2026-08-17 (confirmed), 17 days ago" in messages[1]
    assert "answers every request with HTTP 426 now" in messages[1]
    assert "before LinkedIn" not in messages[1]


def test_the_note_says_how_the_date_is_known():
    assert sunset_note("202603", date(2027, 3, 1)) == "sunset 2027-03-16 (confirmed), in 15 days"
    assert sunset_note("202608", date(2027, 8, 15)) == "sunset 2027-08-15 (estimated), today"
