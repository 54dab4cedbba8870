"""eventId and rule: stable across re-runs, sensitive to what identifies a conversion."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import numpy as np
import orjson
import pandas as pd
import pytest
from conversion_helpers import RECENT_MS, RULE_URN, build_row, event_of, rejection_of, settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from airflow_provider_linkedin_capi.conversions import (
    EventBuilder,
    Rejection,
    RejectionCode,
    event_summary_fields,
)
from airflow_provider_linkedin_capi.conversions.event_ids import (
    KEY_COLUMNS_FIELD,
    KeyEventIds,
    key_event_id,
    key_text,
)
from airflow_provider_linkedin_capi.conversions.rejections import RowRejected

ROW = {
    "email": "ada@example.com",
    "firstName": "Ada",
    "lastName": "Lovelace",
    "amount": 10,
    "currencyCode": "USD",
}


def event_id_of(settings_overrides=None, **row):
    return event_of(build_row(settings_overrides, **row))["eventId"]


def test_the_rows_own_event_id_is_used_trimmed():
    assert event_id_of(eventId="  order-77 ", **ROW) == "order-77"
    assert event_id_of(eventId=77, **ROW) == "77"
    assert event_id_of(eventId=77.0, **ROW) == "77"
    assert event_id_of(eventId="é" * 64, **ROW) == "é" * 64


def test_an_empty_event_id_is_derived_and_a_long_or_unreadable_one_rejected():
    assert event_id_of(eventId="   ", **ROW) == event_id_of(**ROW)
    assert event_id_of(eventId=None, **ROW) == event_id_of(**ROW)
    for bad in ("x" * 65, ["a"], datetime(2026, 1, 1), "bad\udc00"):
        rejection_of(build_row(eventId=bad, **ROW), "invalid_event_id")


def test_content_derived_ids_follow_the_documented_recipe():
    event = event_of(build_row(**ROW))
    material = orjson.dumps(["v1", RULE_URN, RECENT_MS, event["user"], event["conversionValue"]])
    assert event["eventId"] == hashlib.sha256(material).hexdigest()


def test_key_derived_ids_follow_the_documented_recipe():
    event_id = event_id_of({"key_columns": ["crm_id", "line"]}, crm_id="opp-1", line=3, **ROW)
    assert event_id == hashlib.sha256(orjson.dumps(["v1", RULE_URN, "opp-1", "3"])).hexdigest()


def test_a_rerun_of_the_same_data_gets_the_same_ids_from_a_new_builder():
    columns = [*ROW, "conversionHappenedAt"]
    row = [*ROW.values(), RECENT_MS]
    first = EventBuilder(columns, settings()).build(row)
    later = EventBuilder(columns, settings(now=datetime(2026, 11, 2, tzinfo=UTC))).build(list(row))
    assert first == later


@pytest.mark.parametrize(
    "change",
    [
        {"email": "grace@example.com"},
        {"firstName": "Augusta"},
        {"amount": 11},
        {"currencyCode": "EUR"},
        {"conversionHappenedAt": RECENT_MS + 1},
        {"conversion": 999},
    ],
)
def test_content_ids_change_with_anything_linkedin_sees(change):
    assert event_id_of(**{**ROW, **change}) != event_id_of(**ROW)


def test_key_ids_depend_on_rule_and_keys_only():
    key = {"key_columns": ["crm_id"]}
    base = event_id_of(key, crm_id="opp-1", **ROW)
    assert event_id_of(key, crm_id="opp-1", **{**ROW, "amount": 99, "firstName": "Augusta"}) == base
    assert event_id_of(key, crm_id="opp-1", conversionHappenedAt=RECENT_MS - 5, **ROW) == base
    assert event_id_of(key, crm_id="opp-2", **ROW) != base
    assert event_id_of(key, crm_id="opp-1", conversion=999, **ROW) != base
    assert event_id_of(key, crm_id="OPP-1", **ROW) != base  # keys keep their case


def test_key_values_mean_the_same_from_any_driver():
    key = {"key_columns": ["crm_id"]}
    ids = {
        event_id_of(key, crm_id=value, **ROW) for value in (42, "42", " 42 ", 42.0, Decimal("42.000"), b"42")
    }
    assert len(ids) == 1


def test_rows_whose_keys_are_all_null_fall_back_to_content_ids():
    key = {"key_columns": ["crm_id", "line"]}
    assert event_id_of(key, crm_id=None, line="", **ROW) == event_id_of(crm_id=None, line="", **ROW)
    assert event_id_of(key, crm_id=None, line=1, **ROW) != event_id_of(key, crm_id=None, line=2, **ROW)


def test_per_row_conversion_wins_over_the_setting_and_accepts_ids_and_urns():
    for raw in (5, "5", " urn:lla:llaPartnerConversion:5 ", 5.0):
        assert event_of(build_row(conversion=raw, **ROW))["conversion"] == "urn:lla:llaPartnerConversion:5"
    for empty in (None, "", float("nan")):
        assert event_of(build_row(conversion=empty, **ROW))["conversion"] == RULE_URN


def test_missing_or_malformed_rules_are_rejected():
    no_default = {"conversion_rule_id": None}
    rejection_of(build_row(no_default, conversion=None, **ROW), "missing_conversion_rule")
    for bad in ("urn:li:conversion:5", "abc", -5, 5.5, ["5"], True):
        rejection = rejection_of(build_row(conversion=bad, **ROW), "missing_conversion_rule")
        assert rejection.field == "conversion"


def test_rejections_carry_the_event_id_and_hashed_email_when_they_can():
    own = rejection_of(build_row(eventId="order-9", conversionHappenedAt="junk", **ROW), "invalid_timestamp")
    assert own.event_id == "order-9"
    assert own.sha256_email == hashlib.sha256(b"ada@example.com").hexdigest()
    keyed = rejection_of(
        build_row({"key_columns": ["crm_id"]}, crm_id="opp-1", **{**ROW, "amount": -1}), "invalid_amount"
    )
    assert keyed.event_id == event_id_of({"key_columns": ["crm_id"]}, crm_id="opp-1", **ROW)
    bad_email = rejection_of(build_row(**{**ROW, "email": "nope"}), "invalid_email")
    assert bad_email.sha256_email is None
    assert bad_email.event_id is None  # content ids need the whole, valid event


def test_event_summary_fields_extract_what_a_linkedin_rejection_needs():
    event = event_of(build_row(**ROW))
    fields = event_summary_fields(event)
    assert fields == {
        "event_id": event["eventId"],
        "sha256_email": hashlib.sha256(b"ada@example.com").hexdigest(),
    }
    rejection = Rejection(
        RejectionCode.REJECTED_BY_LINKEDIN, None, "Index: 0, ERROR :: /user :: bad", **fields
    )
    assert rejection.event_id == event["eventId"]
    assert event_summary_fields({"user": {"userIds": []}}) == {"event_id": None, "sha256_email": None}


# ---- the hot loop's derivation is the documented recipe, byte for byte -------------------------------------

PINNED_RULE = "urn:lla:llaPartnerConversion:123"
# Computed from the recipe and pinned: if these change, every customer's re-sent rows get new ids.
PINNED_KEY_IDS = [
    ((42,), "adb9113a39e715674c240fa43b6bf37f413fc8b4a4fdc288479ac8cf74e0bc52"),
    (("opp-1", 3), "7f19898d6a21941c6f39cbe6b71d4711ab4007d2fc2445745379b4a58e4cc7df"),
]


@pytest.mark.parametrize(("keys", "expected"), PINNED_KEY_IDS)
def test_key_ids_are_pinned(keys, expected):
    assert key_event_id(PINNED_RULE, keys) == expected
    assert KeyEventIds().derive(PINNED_RULE, keys) == expected


_KEY_VALUES = st.one_of(
    st.none(),
    st.integers(),
    st.booleans(),
    st.floats(),
    st.decimals(allow_nan=True),
    st.text(),
    st.text(alphabet=st.characters(max_codepoint=127)),
    st.datetimes(timezones=st.none() | st.just(UTC)),
    st.binary(max_size=8),
)


@hypothesis_settings(max_examples=400, deadline=None)
@given(
    rule=st.sampled_from(
        [PINNED_RULE, "urn:lla:llaPartnerConversion:9", 'urn:lla:llaPartnerConversion:"x\\']
    ),
    keys=st.lists(_KEY_VALUES, min_size=1, max_size=3),
)
def test_the_fast_derivation_equals_the_recipe(rule, keys):
    derive = KeyEventIds().derive
    expected = _outcome(key_event_id, rule, keys)
    assert _outcome(derive, rule, keys) == expected
    assert _outcome(derive, rule, tuple(keys)) == expected  # the second call uses the rule's prefix


def _outcome(derive, rule, keys):
    """The id, or the refusal's code, field and message: both derivations must agree on either."""
    try:
        return derive(rule, keys)
    except RowRejected as refused:
        return (refused.code, refused.field, refused.message)


# ---- key values are read by their content, for every type a driver returns ----------------------------


class _Opaque:
    """An object whose repr() holds its address, as psycopg2's memoryview's did: never a key."""


@hypothesis_settings(max_examples=200, deadline=None)
@given(data=st.binary(min_size=1, max_size=64))
def test_bytes_key_by_content_whatever_the_driver_returns(data):
    """psycopg2 returns bytea as memoryview, psycopg 3 as bytes: both, and bytearray, give one key."""
    texts = {
        key_text(data),
        key_text(bytearray(data)),
        key_text(memoryview(data)),
        key_text(memoryview(data)),
    }
    assert len(texts) == 1
    text = texts.pop()
    assert "memory at" not in (text or "")
    try:
        assert text == (data.decode("utf-8").strip() or None)
    except UnicodeDecodeError:
        assert text == "sha256:" + hashlib.sha256(data).hexdigest()


def test_distinct_bytes_keys_never_merge_and_the_same_bytes_always_agree():
    values = [bytes([0x80, n % 256, n // 256]) for n in range(2000)]
    first = [key_event_id(RULE_URN, [memoryview(bytearray(value))]) for value in values]
    again = [key_event_id(RULE_URN, [bytes(value)]) for value in values]
    assert len(set(first)) == len(values)
    assert first == again


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (42.0, "42"),
        (np.float64(7.0), "7"),
        (np.float32(3.0), "3"),
        (float(2**53 - 1), str(2**53 - 1)),
        (-12.0, "-12"),
        (float("nan"), None),
        (Decimal("42.000"), "42"),
        (uuid.UUID(int=5), str(uuid.UUID(int=5))),
        (datetime(2026, 1, 2, 3, 4, tzinfo=timezone(timedelta(hours=2))), "2026-01-02T01:04:00+00:00"),
        (date(2026, 1, 2), "2026-01-02"),
        (time(3, 4, tzinfo=UTC), "03:04:00+00:00"),
        (timedelta(days=1, seconds=5), "1d5s0us"),
        (np.datetime64("2026-01-02T03:04"), "2026-01-02T03:04"),
        (pd.Timestamp("2026-01-02 03:04", tz="Europe/Paris"), "2026-01-02T02:04:00+00:00"),
        (np.int64(9_007_199_254_740_993), "9007199254740993"),
        (True, "true"),
    ],
)
def test_each_driver_type_keys_by_its_content(value, text):
    assert key_text(value) == text


@pytest.mark.parametrize(
    "value",
    [1.5, float(2**53), float(2**63), float("inf"), np.float64(1e300), [1, 2], {"a": 1}, _Opaque()],
)
def test_a_value_that_cannot_key_by_content_is_refused_on_key_columns(value):
    with pytest.raises(RowRejected) as refused:
        key_text(value)
    assert refused.value.code == RejectionCode.INVALID_EVENT_ID
    assert refused.value.field == KEY_COLUMNS_FIELD
    assert "at 0x" not in refused.value.message


def test_a_row_with_an_unkeyable_key_is_rejected_on_key_columns():
    rejected = rejection_of(
        build_row({"key_columns": ["crm_id"]}, crm_id=2.0**60 + 1, **ROW), "invalid_event_id"
    )
    assert rejected.field == KEY_COLUMNS_FIELD
    assert "cast the column" in rejected.message
