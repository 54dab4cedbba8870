"""Request bodies: ``json_body`` and a batch held as its body (``EncodedEvents``), property-based."""

from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_linkedin_capi.hooks.linkedin_capi import EncodedEvents, json_body

_TEXT = st.text(max_size=20)
_LEAF = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _TEXT
_JSON = st.recursive(
    _LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)
EVENTS = st.lists(st.dictionaries(_TEXT, _JSON, max_size=6), max_size=30)


@given(EVENTS)
def test_a_batch_is_its_request_body_and_reads_back_as_its_events(events):
    encoded = EncodedEvents(events)
    # byte for byte what the hook writes for the same events as dicts
    assert encoded.body == json_body({"elements": events})
    assert orjson.loads(encoded.body) == {"elements": events}
    assert len(encoded) == len(events)
    assert list(encoded) == events
    assert encoded[:] == events
    if events:
        assert encoded[-1] == events[-1]


def test_reading_an_event_decodes_the_body_once():
    encoded = EncodedEvents([{"eventId": "a"}, {"eventId": "b"}])
    assert encoded[0] is encoded.decoded()[0]
    assert encoded.decoded() is encoded.decoded()


def test_what_orjson_does_not_write_itself_is_written_as_json_would_have_it():
    body = json_body({"amount": Decimal("12.50"), "user": OrderedDict(a=1), "ids": (1, 2)})
    assert orjson.loads(body) == {"amount": "12.50", "user": {"a": 1}, "ids": [1, 2]}


def test_an_event_that_cannot_be_sent_fails_where_the_batch_is_encoded():
    with pytest.raises(TypeError, match="set"):
        EncodedEvents([{"eventId": "a", "bad": {1, 2}}])
