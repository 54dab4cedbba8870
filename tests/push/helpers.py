"""What the push tests build events and send them with."""

from __future__ import annotations

from airflow_provider_linkedin_capi.push.delivery import EventDelivery, InFlightWindow


def deliver_one_at_a_time(delivery: EventDelivery, events: list, rows) -> None:
    """Send ``events`` as the push does with ``max_in_flight=1``: through the in-flight window."""
    with InFlightWindow(delivery, 1) as window:
        window.submit(events, rows)
        window.finish()


HASH = "a" * 64


def event(n: int, happened_ms: int = 1_700_000_000_000) -> dict:
    return {
        "conversion": "urn:lla:llaPartnerConversion:1",
        "conversionHappenedAt": happened_ms + n,
        "eventId": f"e{n}",
        "user": {"userIds": [{"idType": "SHA256_EMAIL", "idValue": HASH}], "userInfo": {"firstName": "Raw"}},
    }
