"""Expected sunset dates of LinkedIn-Version months, and the warning ahead of them."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from airflow_provider_linkedin_capi.hooks._connection import (
    VERSION_SUNSET_WARNING_DAYS,
    expected_sunset,
    warn_if_version_near_sunset,
)


@pytest.mark.parametrize(
    ("version", "published"),
    # LinkedIn's migrations table (docs/linkedin-contract.md §1.8): the expected date is within a
    # few days of each.
    [("202510", date(2026, 10, 15)), ("202511", date(2026, 11, 16)), ("202508", date(2026, 8, 17))],
)
def test_expected_sunset_is_close_to_the_published_dates(version, published):
    assert abs((expected_sunset(version) - published).days) <= 3


def test_warns_only_inside_the_window_and_after_the_sunset(caplog):
    log = logging.getLogger("test.version")
    sunset = expected_sunset("202608")
    with caplog.at_level(logging.WARNING, logger="test.version"):
        assert not warn_if_version_near_sunset("202608", date(2027, 6, 1), log, "li")
        assert warn_if_version_near_sunset("202608", date(2027, 7, 1), log, "li")
        assert warn_if_version_near_sunset("202608", date(2027, 9, 1), log, "li")
    assert (sunset - date(2027, 6, 1)).days > VERSION_SUNSET_WARNING_DAYS
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "2027-08-15 (in 45 days)" in messages[0]
    assert "(17 days ago)" in messages[1]
    assert "'api_version'" in messages[0]
    assert "connection 'li'" in messages[0]
