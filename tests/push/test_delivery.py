"""Delivery counts and settling on their own, without LinkedIn."""

from __future__ import annotations

import pytest

from airflow_provider_linkedin_capi.push.delivery import EventDelivery
from airflow_provider_linkedin_capi.push.files import RejectionLog

from .helpers import deliver_one_at_a_time, event


def test_dry_run_delivery_counts_what_would_be_sent():
    with RejectionLog() as rejections:
        delivery = EventDelivery(None, rejections, dry_run=True)
        deliver_one_at_a_time(delivery, [event(5), event(1)], [1, 2])
        deliver_one_at_a_time(delivery, [event(9)], [3])
    assert delivery.events_sent == 3
    assert delivery.batches == 2
    assert delivery.first_event_ms == 1_700_000_000_001
    assert delivery.last_event_at == "2023-11-14T22:13:20.009Z"


def test_delivery_needs_a_hook_unless_dry_run():
    with pytest.raises(ValueError, match="dry_run"):
        EventDelivery(None, RejectionLog(), dry_run=False)
