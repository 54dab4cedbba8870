"""``Retry-After`` parsing, and what the hook does with a header it cannot use."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest
import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from airflow_provider_linkedin_capi.hooks._transport import MAX_RETRY_AFTER_SECONDS, retry_after_seconds


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("soon", None),
        ("5", 5.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("100000", MAX_RETRY_AFTER_SECONDS),
        (formatdate(1_000_030.0, usegmt=True), 30.0),
    ],
)
def test_retry_after_is_a_delay_or_a_date_capped_at_fifteen_minutes(header, seconds):
    assert retry_after_seconds(header, now=1_000_000.0) == seconds


@pytest.mark.parametrize("header", ["nan", "NaN", "inf", "-inf", "Infinity", "+infinity"])
def test_a_non_finite_retry_after_is_ignored(header):
    # float() accepts these; time.sleep(nan) raises and inf would have been capped into 15 minutes.
    assert retry_after_seconds(header) is None


class _FirstAnswerIs503(HTTPAdapter):
    """Answer the first API request with a 503 carrying ``retry_after``, then pass through."""

    def __init__(self, retry_after: str) -> None:
        super().__init__(max_retries=0)
        self.retry_after = retry_after
        self.faked = 0

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        if self.faked or "/rest/" not in (request.url or ""):
            return super().send(request, **kwargs)
        self.faked += 1
        response = requests.Response()
        response.status_code = 503
        response.reason = "Service Unavailable"
        response.headers = CaseInsensitiveDict(
            {"Retry-After": self.retry_after, "Content-Type": "application/json"}
        )
        response._content = b'{"status": 503, "message": "Service Unavailable"}'
        response.request = request
        response.url = request.url or ""
        return response


@pytest.mark.parametrize("header", ["nan", "inf"])
def test_the_hook_falls_back_to_its_backoff_on_a_non_finite_retry_after(hook, rule, header):
    adapter = _FirstAnswerIs503(header)
    hook.get_conn().mount("http://", adapter)
    started = time.monotonic()
    assert hook.get_conversion_rule(rule["id"])["id"] == rule["id"]
    assert adapter.faked == 1
    assert time.monotonic() - started < 5  # the hook's backoff (0.01-0.05 s here), not 15 minutes
