"""eventId and rule: stable across re-runs, sensitive to what identifies a conversion."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal

import orjson
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
from airflow_provider_linkedin_capi.conversions.event_ids import KeyEventIds, key_event_id

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
    assert derive(rule, keys) == key_event_id(rule, keys)
    assert derive(rule, tuple(keys)) == key_event_id(rule, keys)  # the second call uses the rule's prefix
