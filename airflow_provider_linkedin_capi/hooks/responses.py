"""Reading LinkedIn's answers: error envelopes, retry decisions, ``Retry-After``.

Shared by the sync and async hooks so both classify a status the same way. Error text is taken only from
LinkedIn's JSON envelope (``message``/``code``/``serviceErrorCode``, docs/linkedin-contract.md §2.3); a
non-JSON body (a proxy's HTML page) is never copied into an exception, because exception text reaches the
Airflow UI.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

# 429 and 5xx are worth another try; everything else in 4xx is a property of the request.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# A longer Retry-After is shortened to this, so one header cannot park a task (or a trigger) for hours; the
# retry budget (``max_retries``) still bounds how often that happens.
MAX_RETRY_AFTER_SECONDS = 900.0
# Appended to every 403: LinkedIn's message names only the resource, not which of these is missing
# (docs/linkedin-contract.md §5.7).
FORBIDDEN_HINT = (
    "the token needs the rw_conversions and r_ads scopes, the authorising member an ad-account role other "
    "than VIEWER (e.g. CAMPAIGN_MANAGER or ACCOUNT_MANAGER), and the app the Conversions API product; a task "
    "retry cannot fix this"
)


@dataclass(frozen=True)
class LinkedInErrorBody:
    status: int
    message: str
    code: str | None = None
    service_error_code: int | None = None

    def describe(self) -> str:
        code = f" {self.code}" if self.code else ""
        return f"HTTP {self.status}{code}: {self.message}"


def decode_json(content: bytes | str | None) -> Any:
    """The JSON body, or ``None`` for an empty or non-JSON one."""
    if not content:
        return None
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None


def error_body(status: int, payload: Any, reason: str | None = None) -> LinkedInErrorBody:
    """LinkedIn's legacy envelope ``{message, serviceErrorCode, status[, code]}`` as a value."""
    body = payload if isinstance(payload, Mapping) else {}
    message = body.get("message") or body.get("error_description") or reason or "no message"
    service_code = body.get("serviceErrorCode")
    code = body.get("code") or body.get("error")
    if not code and service_code is not None:
        code = str(service_code)
    return LinkedInErrorBody(
        status=status,
        message=str(message),
        code=str(code) if code else None,
        service_error_code=service_code if isinstance(service_code, int) else None,
    )


def is_retryable(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= 500


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta or HTTP date).

    LinkedIn does not send it today (docs/linkedin-contract.md §6.3).

    ``None`` (use the backoff) when the header is missing or unusable; ``float()`` also accepts ``nan`` and
    ``inf``, which would crash ``time.sleep`` or stall a retry, so they count as unusable. At most
    :data:`MAX_RETRY_AFTER_SECONDS`.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        seconds = _seconds_until(value, time.time() if now is None else now)
    if seconds is None or not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _seconds_until(http_date: str, now: float) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return None
    return None if when is None else when.timestamp() - now
