"""Airflow metrics (StatsD, Datadog or OpenTelemetry, whichever the deployment turned on) for LinkedIn pushes.

Everything goes through Airflow's own ``Stats``, so the deployment's ``[metrics]`` settings (``statsd_on``,
``statsd_prefix``, allow and block lists ...) apply, and with metrics off every call is a no-op.

Names and tags are documented in ``docs/metrics.md``. Tags stay low-cardinality on purpose: a rejection
code (a fixed set), an HTTP status (or ``connection`` for a dropped connection), an outcome. Never a rule
id, connection id, DAG id or path, which would give a metrics backend one series per value. Plain StatsD
(without InfluxDB-style tags) drops tags, so the tagged counters are also sent under a name that ends
in the tag's value, the way Airflow's own metrics keep their "legacy" names.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

log = logging.getLogger(__name__)

PREFIX = "linkedin_capi"
EVENTS_SENT = f"{PREFIX}.events_sent"
EVENTS_REJECTED = f"{PREFIX}.events_rejected"
BATCHES = f"{PREFIX}.batches"
RETRIES = f"{PREFIX}.retries"
TOKEN_REFRESHES = f"{PREFIX}.token_refreshes"
PUSH_DURATION = f"{PREFIX}.push.duration"
EVENTS_BY_IDENTIFIER = f"{PREFIX}.events_by_identifier"

#: The outcomes a push's duration is tagged with.
OUTCOMES = ("success", "failed", "skipped")

_UNSAFE = re.compile(r"[^a-z0-9_]")


@cache
def _stats() -> Any:
    """Airflow's ``Stats`` (task SDK on 3.2+, core on 3.1), imported on first use, not at import time."""
    from airflow.providers.common.compat.sdk import Stats

    return Stats


def _tag_value(value: object) -> str:
    """A tag value safe in a metric name too: lower-case letters, digits and underscores only."""
    return _UNSAFE.sub("_", str(value).lower())[:40] or "unknown"


def _emit(kind: str, name: str, value: float, tags: Mapping[str, str] | None = None) -> None:
    """Emit one metric; a broken metrics backend must never fail a push, so errors are logged only."""
    try:
        stats = _stats()
        if kind == "incr":
            stats.incr(name, count=int(value), tags=dict(tags) if tags else None)
        else:
            stats.timing(name, value, tags=dict(tags) if tags else None)
    except Exception as error:  # pragma: no cover - depends on the deployment's metrics backend
        log.debug("Could not emit metric %s: %s", name, error)


def count_sent(events: int, batches: int) -> None:
    """Events LinkedIn accepted, and the batches (requests that went out) they took."""
    if events:
        _emit("incr", EVENTS_SENT, events)
    if batches:
        _emit("incr", BATCHES, batches)


def count_rejected(by_code: Mapping[str, int]) -> None:
    """Rows rejected, per rejection code (``too_old``, ``rejected_by_linkedin`` ...)."""
    _count_tagged(EVENTS_REJECTED, "code", by_code)


def count_identifiers(by_kind: Mapping[str, int]) -> None:
    """Events sent per identifier kind (``idType``, ``userInfo``, ``externalIds``, ``lead``): a fixed set."""
    _count_tagged(EVENTS_BY_IDENTIFIER, "kind", by_kind)


def _count_tagged(name: str, tag_name: str, counts: Mapping[str, int]) -> None:
    """One counter per tag value, tagged, and again under ``<name>.<value>`` for StatsD without tags."""
    for value, count in sorted(counts.items()):
        if not count:
            continue
        tag = _tag_value(value)
        _emit("incr", name, count, {tag_name: tag})
        _emit("incr", f"{name}.{tag}", count)


def count_retry(status: int | None) -> None:
    """One retry of a call to LinkedIn; ``status`` is the HTTP status, ``None`` for a transport failure."""
    tag = "connection" if status is None else _tag_value(status)
    _emit("incr", RETRIES, 1, {"status": tag})
    _emit("incr", f"{RETRIES}.{tag}", 1)


def count_token_refresh() -> None:
    """An access token obtained from the refresh token (at start, near expiry, or after a 401)."""
    _emit("incr", TOKEN_REFRESHES, 1)


def time_push(seconds: float, outcome: str) -> None:
    """How long a push took, in milliseconds, tagged with how it ended (one of :data:`OUTCOMES`)."""
    _emit("timing", PUSH_DURATION, seconds * 1000.0, {"outcome": outcome})
