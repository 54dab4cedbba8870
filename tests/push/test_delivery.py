"""Delivery counts and settling on their own, without LinkedIn."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_linkedin_capi.conversions import IDENTIFIER_KINDS, ConversionSettings, EventBuilder
from airflow_provider_linkedin_capi.hooks.linkedin_capi import json_body
from airflow_provider_linkedin_capi.push.delivery import EventDelivery, identifier_kinds
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


# -- Identifier kinds, counted in the request body ------------------------------------------------------

_HOSTILE_TEXT = st.sampled_from(
    ['"lead":"x', '"idType":"SHA256_EMAIL"', '"userInfo":{', '\\"externalIds\\":[', "plain", "ß\u2028"]
)


@given(
    st.lists(
        st.fixed_dictionaries(
            {"email": st.booleans(), "names": st.booleans(), "external": st.one_of(st.none(), _HOSTILE_TEXT)},
            optional={"lead": st.just("abc"), "moat": _HOSTILE_TEXT, "ip": st.just("192.0.2.1")},
        ),
        max_size=30,
    )
)
def test_kinds_counted_in_the_body_equal_those_counted_event_by_event(rows):
    columns = ["email", "firstName", "lastName", "externalIds", "lead", "oracle_moat_id", "ip_address"]
    builder = EventBuilder([*columns, "conversionHappenedAt"], ConversionSettings(conversion_rule_id=7))
    now_ms = int(time.time() * 1000) - 3_600_000
    events = []
    for row in rows:
        values = [
            "a@example.com" if row["email"] else None,
            "Ada" if row["names"] else None,
            "Byron" if row["names"] else None,
            row["external"],
            row.get("lead"),
            row.get("moat"),
            row.get("ip"),
            now_ms,
        ]
        built = builder.build(values)
        if isinstance(built, dict):
            events.append(built)
    by_hand: Counter[str] = Counter()
    for built in events:
        by_hand.update(user_id["idType"] for user_id in built["user"]["userIds"])
        by_hand.update(kind for kind in ("userInfo", "externalIds", "lead") if kind in built["user"])
    assert identifier_kinds(json_body({"elements": events})) == by_hand
    assert set(by_hand) <= set(IDENTIFIER_KINDS)
