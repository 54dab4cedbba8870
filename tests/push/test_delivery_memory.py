"""A batch waiting for LinkedIn holds its request body and three columns, not its events as dicts.

With ``max_in_flight`` batches waiting at once, what one batch holds is what the push's memory grows by per
batch in flight. Measured with tracemalloc (allocations, not time), on events shaped like the builder's.
"""

from __future__ import annotations

import gc
import logging
import tracemalloc

import pytest

from airflow_provider_linkedin_capi.hooks._answers import BatchResult
from airflow_provider_linkedin_capi.hooks.linkedin_capi import EncodedEvents
from airflow_provider_linkedin_capi.push.delivery import EventDelivery
from airflow_provider_linkedin_capi.push.files import DeliveryLedger, RejectionLog

RULE = "urn:lla:llaPartnerConversion:1"
BATCH = 5_000


class BodyOnlyHook:
    """Takes every event, reading only what a request needs of an encoded batch: its body and length."""

    max_retries = 0
    retry_min_wait = retry_max_wait = 0.0
    log = logging.getLogger(__name__)

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def send_conversion_events(self, events):
        assert isinstance(events, EncodedEvents)
        self.bodies.append(events.body)
        return BatchResult(status=200, accepted=len(events))


def _events(count: int) -> list[dict]:
    """Events as the builder makes them: hashed ids, names, company, title; every string its own object."""
    return [
        {
            "conversion": RULE,
            "conversionHappenedAt": 1_700_000_000_000 + i,
            "eventId": f"{i:064x}",
            "user": {
                "userIds": [{"idType": "SHA256_EMAIL", "idValue": f"{i * 7:064x}"}],
                "userInfo": {
                    "firstName": f"First{i}",
                    "lastName": f"Last{i}",
                    "companyName": f"Company {i % 97}",
                    "title": f"Title {i % 13}",
                    "countryCode": "US",
                },
            },
        }
        for i in range(count)
    ]


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


@pytest.fixture
def tracing():
    tracemalloc.start()
    yield
    tracemalloc.stop()


def test_a_batch_in_flight_holds_its_body_not_its_events(tracing, tmp_path):
    delivery = EventDelivery(BodyOnlyHook(), RejectionLog(str(tmp_path / "rejects.jsonl")), dry_run=False)
    before = _traced()
    events = _events(BATCH)
    as_dicts = _traced() - before
    batch = delivery.prepare(events, list(range(1, BATCH + 1)))
    del events
    held = _traced() - before
    assert batch is not None
    body = len(batch.events.body)
    # the body, plus its columns and row numbers: a few bytes per event
    assert held < body + 60 * BATCH, f"a batch in flight holds {held:,} bytes for a body of {body:,}"
    assert held < as_dicts / 2, f"a batch in flight holds {held:,} bytes; its events took {as_dicts:,}"
    delivery.settle(delivery.send(batch))
    assert delivery.events_sent == BATCH


def test_a_clean_batch_is_sent_and_settled_without_being_decoded(monkeypatch, tmp_path):
    def refuse_to_decode(self):
        raise AssertionError("a clean batch was decoded")

    monkeypatch.setattr(EncodedEvents, "decoded", refuse_to_decode)
    hook = BodyOnlyHook()
    ledger = DeliveryLedger(str(tmp_path / "ledger"))
    rejects = RejectionLog(str(tmp_path / "rejects.jsonl"))
    delivery = EventDelivery(hook, rejects, dry_run=False, ledger=ledger)
    events = _events(10)
    batch = delivery.prepare(events, list(range(1, 11)))
    assert batch is not None
    delivery.settle(delivery.send(batch))
    assert (delivery.events_sent, delivery.batches, delivery.sent_per_rule) == (10, 1, {RULE: 10})
    assert (delivery.first_event_ms, delivery.last_event_ms) == (1_700_000_000_000, 1_700_000_000_009)
    assert DeliveryLedger(str(tmp_path / "ledger")).delivered(events) == [True] * 10
    assert hook.bodies == [EncodedEvents(events).body]
