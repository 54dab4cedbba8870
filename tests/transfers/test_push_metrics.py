"""The push's Airflow metrics, received by a StatsD listener on 127.0.0.1 through Airflow's own client."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiError

from .conftest import FAST_BUDGET
from .crm_rows import SENT, valid
from .outcome import expected_codes
from .statsd_listener import StatsdListener, listening_statsd

pytestmark = pytest.mark.timeout(120)

ALLOWED_TAGS = {"code", "kind", "status", "outcome"}


@pytest.fixture
def statsd(monkeypatch: pytest.MonkeyPatch) -> Iterator[StatsdListener]:
    yield from listening_statsd(monkeypatch)


def _no_high_cardinality_tags(listener, rule_ids) -> None:
    """Tags are a code, an identifier kind, a status or an outcome; never a rule id, connection id or path."""
    forbidden = [str(rule) for rule in rule_ids.values()] + ["linkedin_capi_default", "/", "crm"]
    for packet in listener.packets:
        if not packet.name.startswith("linkedin_capi."):
            continue
        assert set(packet.tags) <= ALLOWED_TAGS, packet
        text = packet.name + ",".join(packet.tags.values())
        assert not any(word in text for word in forbidden), packet


def test_a_push_counts_sent_rejected_batches_retries_and_token_refreshes(
    statsd, linkedin, sqlite_crm, crm_rows, rule_ids, run_push, monkeypatch
):
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT",
        linkedin.connection_json(requests_per_minute=FAST_BUDGET, retry_min_wait=0, retry_max_wait=0),
    )
    # The first event batch is answered 503 once, then accepted.
    linkedin.admin.set_faults([{"kind": "503", "every": 1, "limit": 1, "path": "/rest/conversionEvents"}])

    summary = run_push(batch_size=10)

    statsd.collect()
    sent = len(valid(crm_rows))
    assert summary["events_sent"] == sent
    assert statsd.counter("linkedin_capi.events_sent") == sent
    assert statsd.counter("linkedin_capi.batches") == summary["batches"] > 1
    codes = Counter(expected_codes(crm_rows).values())
    assert codes
    assert SENT not in codes
    for code, count in codes.items():
        assert statsd.counter("linkedin_capi.events_rejected", code=code) == count, code
        assert statsd.counter(f"linkedin_capi.events_rejected.{code}") == count, code
    assert statsd.counter("linkedin_capi.retries", status="503") == 1
    assert statsd.counter("linkedin_capi.retries.503") == 1
    assert statsd.counter("linkedin_capi.token_refreshes") == 1
    coverage = {kind: count for kind, count in summary["identifier_coverage"].items() if count}
    assert coverage["SHA256_EMAIL"] > 0
    for kind, count in coverage.items():
        assert statsd.counter("linkedin_capi.events_by_identifier", kind=kind.lower()) == count, kind
        assert statsd.counter(f"linkedin_capi.events_by_identifier.{kind.lower()}") == count, kind
    (duration,) = statsd.timings("linkedin_capi.push.duration")
    assert duration.tags == {"outcome": "success"}
    assert duration.value >= 0
    _no_high_cardinality_tags(statsd, rule_ids)


def test_a_dry_run_counts_no_events(statsd, linkedin, sqlite_crm, rule_ids, run_push):
    run_push(dry_run=True)

    statsd.collect()
    names = {packet.name for packet in statsd.packets if packet.name.startswith("linkedin_capi.")}
    assert "linkedin_capi.events_sent" not in names
    assert "linkedin_capi.batches" not in names
    assert not any(name.startswith("linkedin_capi.events_rejected") for name in names)
    assert not any(name.startswith("linkedin_capi.events_by_identifier") for name in names)
    (duration,) = statsd.timings("linkedin_capi.push.duration")
    assert duration.tags == {"outcome": "success"}


def test_a_failed_push_still_counts_what_it_delivered(
    statsd, linkedin, sqlite_crm, rule_ids, run_push, monkeypatch
):
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT",
        linkedin.connection_json(requests_per_minute=FAST_BUDGET, max_retries=0),
    )
    linkedin.admin.set_faults([{"kind": "500", "every": 1, "after": 1, "path": "/rest/conversionEvents"}])

    with pytest.raises(LinkedInCapiError):
        run_push(batch_size=10)

    statsd.collect()
    assert statsd.counter("linkedin_capi.events_sent") == 10
    assert statsd.counter("linkedin_capi.batches") == 1
    assert statsd.counter("linkedin_capi.retries", status="500") == 0  # max_retries=0: no retry
    (duration,) = statsd.timings("linkedin_capi.push.duration")
    assert duration.tags == {"outcome": "failed"}
    _no_high_cardinality_tags(statsd, rule_ids)


def test_a_dropped_connection_is_a_retry_with_status_connection(
    statsd, linkedin, sqlite_crm, rule_ids, run_push, monkeypatch
):
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT",
        linkedin.connection_json(requests_per_minute=FAST_BUDGET, retry_min_wait=0, retry_max_wait=0),
    )
    linkedin.admin.set_faults([{"kind": "drop", "every": 1, "limit": 1, "path": "/rest/conversionEvents"}])

    run_push()

    statsd.collect()
    assert statsd.counter("linkedin_capi.retries", status="connection") == 1
    assert statsd.counter("linkedin_capi.retries.connection") == 1
