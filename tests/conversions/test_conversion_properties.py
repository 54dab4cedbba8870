"""Property tests (issue 6, "Bad input"): any row, any types, never an exception, always a clear outcome.

Every result is either an event that satisfies LinkedIn's element contract (checked independently in
``conversion_helpers.assert_valid_event``) or a rejection with a known code, and no rejection message
ever repeats a value from the row.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, timedelta
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from conversion_helpers import (
    NOW,
    NOW_MS,
    assert_valid_event,
    assert_valid_rejection,
    build_row,
    settings,
)
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from airflow_provider_linkedin_capi.conversions import CONTRACT_COLUMNS, EventBuilder, Rejection
from airflow_provider_linkedin_capi.conversions.builder import IDENTIFIER_COLUMNS

BOUNDED = hypothesis_settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

any_text = st.text(st.characters(codec=None, categories=None), max_size=40)  # includes lone surrogates
anything = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.sampled_from(
        [float("inf"), float("-inf"), pd.NA, pd.NaT, np.nan, np.float64("nan"), np.datetime64("NaT")]
    ),
    st.booleans(),
    st.sampled_from([np.bool_(True), np.int64(7), np.float32(1.5), np.uint8(200)]),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    any_text,
    st.text(max_size=5).map(lambda text: f"  {text}  "),
    st.binary(max_size=20),
    st.datetimes(),
    st.datetimes(timezones=st.timezones()),
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.uuids(),
    st.lists(st.one_of(st.none(), any_text, st.integers()), max_size=3),
    st.tuples(any_text),
    st.dictionaries(any_text, st.integers(), max_size=2),
    st.builds(object),
    # Values that once raised: ints too long for str(), reals too large for float(), 0-d numpy arrays,
    # and JSON arrays nested deeper than the parser recurses.
    st.integers(min_value=4301, max_value=6000).map(lambda digits: 10 ** (digits - 1) + 7),
    st.integers(min_value=-(2**64), max_value=2**64).map(lambda n: n * 10**4400),
    st.integers(min_value=309, max_value=2000).map(lambda digits: Fraction(10**digits, 3)),
    st.fractions(max_denominator=1000),
    st.one_of(st.integers(), st.text(max_size=8), st.floats()).map(np.array),
    st.integers(min_value=1000, max_value=3000).map(lambda depth: "[" * depth + "]" * depth),
)

INVISIBLE_EDGES = "\u200b\u200c\u200d\u2060\ufeff"
recent = st.integers(min_value=NOW_MS - 92 * 86_400_000, max_value=NOW_MS + 3_600_000)
plausible = {
    "conversion": st.one_of(
        st.integers(0, 10**9), st.integers(1, 999).map(lambda n: f"urn:lla:llaPartnerConversion:{n}")
    ),
    "conversionHappenedAt": st.one_of(
        recent,
        recent.map(lambda ms: ms // 1000),
        recent.map(lambda ms: ms / 1000),
        recent.map(str),
        st.datetimes(
            min_value=(NOW - timedelta(days=95)).replace(tzinfo=None), max_value=NOW.replace(tzinfo=None)
        ),
        st.datetimes(
            min_value=(NOW - timedelta(days=95)).replace(tzinfo=None),
            max_value=NOW.replace(tzinfo=None),
            timezones=st.timezones(),
        ).map(lambda moment: moment.isoformat()),
    ),
    "eventId": st.one_of(st.text(max_size=70), st.integers()),
    "email": st.one_of(
        st.emails(),
        st.emails().map(lambda email: f" {email.upper()} "),
        st.tuples(
            st.emails(), st.text(INVISIBLE_EDGES + " ", max_size=3), st.text(INVISIBLE_EDGES, max_size=3)
        ).map(lambda parts: f"{parts[1]}{parts[0]}{parts[2]}"),
        st.text(max_size=30),
    ),
    "sha256_email": st.one_of(
        st.text("0123456789abcdefABCDEF", min_size=63, max_size=65), st.text(max_size=5)
    ),
    "linkedin_first_party_ads_tracking_uuid": st.uuids().map(str),
    "acxiom_id": st.text(max_size=12),
    "oracle_moat_id": st.text(max_size=12),
    "ip_address": st.one_of(st.ip_addresses().map(str), st.ip_addresses()),
    "sha256_ip_address": st.one_of(
        st.text("0123456789abcdefABCDEF", min_size=63, max_size=65), st.text(max_size=5)
    ),
    "google_aid": st.one_of(
        st.uuids().map(str),
        st.uuids(),
        st.just("00000000-0000-0000-0000-000000000000"),
        st.tuples(
            st.uuids().map(str), st.integers(0, 35), st.sampled_from(["_", "+", "0x", "-", "\uff11", " "])
        ).map(lambda parts: parts[0][: parts[1]] + parts[2] + parts[0][parts[1] + len(parts[2]) :]),
    ),
    "firstName": st.text(max_size=12),
    "lastName": st.text(max_size=12),
    "companyName": st.text(max_size=12),
    "title": st.text(max_size=12),
    "countryCode": st.sampled_from(["US", "gb", "FRA", "UK", "", "zz", "Deutschland"]),
    "lead": st.one_of(
        st.integers(0, 10**12), st.text(max_size=20), st.just("urn:li:leadGenFormResponse:abc")
    ),
    "externalIds": st.one_of(
        st.text(max_size=10),
        st.lists(st.text(max_size=5), max_size=3),
        st.just('["x", "y"]'),
        st.one_of(st.text(max_size=10), st.integers()).map(np.array),
    ),
    "currencyCode": st.sampled_from(["USD", "eur", " JPY ", "XYZ", "", "usd$"]),
    "amount": st.one_of(
        st.decimals(min_value=-10, max_value=10**16, allow_nan=True),
        st.decimals(min_value=Decimal("999999999999999.98"), max_value=Decimal("1000000000000000"), places=4),
        st.floats(min_value=-1, max_value=1e16),
        st.integers(-5, 10**16),
        st.text("0123456789.-e", max_size=8),
    ),
}


@st.composite
def query_and_rows(draw):
    """A column set the builder accepts (a time column, an identifier column) and rows for it."""
    columns = draw(
        st.lists(st.sampled_from(CONTRACT_COLUMNS), unique=True, min_size=1, max_size=len(CONTRACT_COLUMNS))
    )
    if "conversionHappenedAt" not in columns:
        columns.append("conversionHappenedAt")
    if not set(columns) & set(IDENTIFIER_COLUMNS):
        columns.append(draw(st.sampled_from(IDENTIFIER_COLUMNS)))
    extra = draw(st.sampled_from([[], ["crm_id"], ["crm_id", "notes"]]))
    renamed = [draw(st.sampled_from([name, name.lower(), name.upper()])) for name in columns]
    overrides = {
        "timestamp_unit": draw(st.sampled_from(["auto", "auto", "auto", "ms", "s"])),
        "default_timezone": draw(
            st.sampled_from(["UTC", "Europe/Paris", "America/Los_Angeles", "Asia/Kolkata"])
        ),
        "key_columns": draw(st.sampled_from([None, extra[:1] or None])),
        "conversion_rule_id": draw(st.sampled_from([104012, "urn:lla:llaPartnerConversion:7"])),
        # Versions that refuse GOOGLE_AID and SHA256_IP_ADDRESS, that take every type, and that refuse
        # ORACLE_MOAT_ID (api_versions), or none at all.
        "api_version": draw(st.sampled_from([None, "202601", "202608", "202609"])),
        "hash_ip_address": draw(st.booleans()) and "sha256_ip_address" not in columns,
    }

    def value_for(column, messiness):
        if draw(st.integers(0, 99)) < messiness:
            return draw(anything)
        if column == "conversionHappenedAt":
            return draw(plausible[column])
        return draw(st.one_of(st.none(), plausible[column], plausible[column], plausible[column]))

    # One clean row (plausible values or NULL), one a little dirty, one mostly arbitrary.
    rows = [
        [value_for(column, messiness) for column in columns] + [draw(anything) for _ in extra]
        for messiness in (0, 10, 60)
    ]
    return renamed + extra, overrides, rows


def check(builder, result):
    if isinstance(result, Rejection):
        assert_valid_rejection(result)
        event(f"rejected: {result.code}")
    else:
        assert_valid_event(result, builder)
        event("sent")


@BOUNDED
@given(query_and_rows())
def test_any_row_becomes_a_valid_event_or_a_known_rejection(case):
    columns, overrides, rows = case
    builder = EventBuilder(columns, settings(**overrides))
    for row in rows:
        result = builder.build(row)
        check(builder, result)
        assert builder.build(row) == result  # deterministic, including derived eventIds
    # The builder remembers normalised names, countries, currencies and dates across rows: a builder that
    # has seen the other rows must answer exactly like one that sees this row first.
    for row in rows:
        assert EventBuilder(columns, settings(**overrides)).build(row) == builder.build(row)


@BOUNDED
@given(st.lists(anything, min_size=len(CONTRACT_COLUMNS), max_size=len(CONTRACT_COLUMNS)))
def test_every_contract_column_holding_arbitrary_values_never_raises(values):
    builder = EventBuilder(list(CONTRACT_COLUMNS), settings())
    check(builder, builder.build(values))


MARKER = "QZJX"
# Identifier-like text that cannot occur in any message by chance: it always carries the marker.
marked_text = st.text(max_size=12).map(lambda text: f"{text}{MARKER}{text}")
marked = {
    "email": st.one_of(marked_text, marked_text.map(lambda text: f"{text}@example.com")),
    "sha256_email": marked_text,
    "linkedin_first_party_ads_tracking_uuid": marked_text,
    "acxiom_id": marked_text,
    "oracle_moat_id": marked_text,
    "ip_address": marked_text,
    "google_aid": marked_text,
    "firstName": marked_text,
    "lastName": st.one_of(st.none(), marked_text),
    "companyName": marked_text,
    "title": marked_text,
    "countryCode": marked_text,
    "lead": marked_text.map(lambda text: f"urn:li:{text}"),
    "externalIds": st.lists(marked_text, max_size=2),
    "eventId": st.one_of(st.none(), marked_text.map(lambda text: text * 9)),
    "conversion": st.one_of(st.none(), marked_text),
    "conversionHappenedAt": st.one_of(marked_text, st.just(NOW_MS - 1000)),
    "currencyCode": marked_text,
    "amount": st.one_of(marked_text, st.just(5)),
}


@BOUNDED
@given(st.fixed_dictionaries(marked))
def test_rejection_messages_never_repeat_row_values(row):
    builder = EventBuilder(list(row), settings())
    result = builder.build(list(row.values()))
    if isinstance(result, Rejection):
        assert_valid_rejection(result)
        assert MARKER.lower() not in result.message.lower()
    else:
        assert_valid_event(result, builder)


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"])
@BOUNDED
@given(
    st.datetimes(min_value=NOW.replace(tzinfo=None) - timedelta(days=80), max_value=NOW.replace(tzinfo=None))
)
def test_naive_datetimes_and_their_iso_text_agree_in_any_zone(zone, moment):
    builder = EventBuilder(["email", "conversionHappenedAt"], settings(default_timezone=zone))
    from_datetime = builder.build(["a@example.com", moment])
    from_text = builder.build(["a@example.com", moment.isoformat()])
    assert from_datetime == from_text
    if not isinstance(from_datetime, Rejection):
        from zoneinfo import ZoneInfo

        expected = moment.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
        assert from_datetime["conversionHappenedAt"] == math.floor(expected.timestamp() * 1000)


@BOUNDED
@given(st.decimals(min_value=0, max_value=10**14, places=6))
def test_amount_strings_round_half_up_to_two_decimals(amount):
    builder = EventBuilder(["email", "amount", "currencyCode", "conversionHappenedAt"], settings())
    event = builder.build(["a@example.com", amount, "USD", NOW_MS])
    rendered = event["conversionValue"]["amount"]
    assert Decimal(rendered) == amount.quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    assert rendered == str(Decimal(rendered).quantize(Decimal("0.01")))


@BOUNDED
@given(st.uuids(), st.sampled_from([str, lambda value: value.hex.upper(), lambda value: value]))
def test_google_aid_in_any_uuid_spelling_is_sent_canonical(value, spell):
    builder = EventBuilder(["google_aid", "conversionHappenedAt"], settings())
    result = builder.build([spell(value), NOW_MS])
    if value == uuid.UUID(int=0):
        assert isinstance(result, Rejection)
    else:
        assert result["user"]["userIds"] == [{"idType": "GOOGLE_AID", "idValue": str(value)}]


@BOUNDED
@given(
    st.emails(),
    st.text(INVISIBLE_EDGES + " \t", min_size=1, max_size=4),
    st.text(INVISIBLE_EDGES + " \u00a0", max_size=4),
)
def test_invisible_characters_at_the_edges_of_an_email_never_change_the_outcome(email, before, after):
    builder = EventBuilder(["email", "conversionHappenedAt"], settings())
    assert builder.build([f"{before}{email}{after}", NOW_MS]) == builder.build([email, NOW_MS])


@BOUNDED
@given(
    st.uuids(),
    st.integers(0, 35),
    st.sampled_from(["_", "+", "0x", "-", "g", " ", "\uff11", "\u0661", "{", "}"]),
)
def test_a_google_aid_with_a_character_replaced_is_rejected_never_rewritten(value, position, replacement):
    canonical = str(value)
    spelled = canonical[:position] + replacement + canonical[position + len(replacement) :]
    builder = EventBuilder(["email", "google_aid", "conversionHappenedAt"], settings())
    result = builder.build(["a@example.com", spelled, NOW_MS])
    if spelled == canonical:
        assert not isinstance(result, Rejection)
    else:
        assert isinstance(result, Rejection)
        assert result.code == "invalid_google_aid"


NOT_EMAIL_IDENTIFIERS = (
    "externalIds",
    "linkedin_first_party_ads_tracking_uuid",
    "acxiom_id",
    "oracle_moat_id",
    "google_aid",
    "lead",
)


@BOUNDED
@given(
    st.sampled_from(NOT_EMAIL_IDENTIFIERS),
    st.emails(),
    st.sampled_from(["{}", " {} ", "crm:{}", "urn:li:leadGenFormResponse:{}", '["{}"]']),
)
def test_an_email_address_in_an_identifier_sent_unhashed_is_never_sent(column, email, spelling):
    value = spelling.format(email)
    result = build_row(email="john.smith@example.com", **{column: value})
    assert isinstance(result, Rejection), result
    assert result.field == column
    assert result.code == ("invalid_google_aid" if column == "google_aid" else "email_in_identifier")
    assert email.lower() not in result.message.lower()
