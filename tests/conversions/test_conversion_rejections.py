"""Every rejection code the pure layer can give, each with a message that holds no identifier value."""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import datetime

import pytest
from conversion_helpers import NOW_MS, assert_valid_rejection, build_row, rejection_of, settings
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_linkedin_capi.conversions import EventBuilder, RejectionCode
from airflow_provider_linkedin_capi.conversions.rejections import MAX_QUOTED_LENGTH, WITHHELD, quoted

SECRETS = {
    "email": "Ada.Lovelace@Example.com",
    "firstName": "Augusta",
    "lastName": "Lovelace",
    "companyName": "Analytical Engines Ltd",
    "title": "Countess of Lovelace",
}
SECRET_STRINGS = [*SECRETS.values(), "ada.lovelace@example.com"]

# code -> the row fields that trigger it (on top of SECRETS, unless they replace them)
CASES = {
    RejectionCode.MISSING_CONVERSION_RULE: ({"conversion": "Lovelace-rule"}, {}),
    RejectionCode.MISSING_TIMESTAMP: ({"conversionHappenedAt": None}, {}),
    RejectionCode.INVALID_TIMESTAMP: ({"conversionHappenedAt": "Augusta's birthday"}, {}),
    RejectionCode.TOO_OLD: ({"conversionHappenedAt": NOW_MS - 200 * 86_400_000}, {}),
    RejectionCode.IN_FUTURE: ({"conversionHappenedAt": NOW_MS + 86_400_000}, {}),
    RejectionCode.NO_IDENTIFIER: (
        {"email": None, "firstName": None, "lastName": "", "lead": "urn:li:Lovelace:1"},
        {},
    ),
    RejectionCode.INCOMPLETE_USER_INFO: ({"email": None, "lastName": None}, {}),
    RejectionCode.INVALID_EMAIL: ({"email": "Ada Lovelace at Example"}, {}),
    RejectionCode.INVALID_HASH: ({"email": None, "sha256_email": "Lovelace-hash"}, {}),
    RejectionCode.INVALID_IP: ({"ip_address": "Lovelace.example.com"}, {}),
    RejectionCode.INVALID_GOOGLE_AID: ({"google_aid": "Lovelace-device"}, {}),
    RejectionCode.INVALID_LEAD: ({"lead": "Lovelace lead #1"}, {}),
    RejectionCode.EMAIL_IN_IDENTIFIER: ({"externalIds": "ada.lovelace@example.com"}, {}),
    RejectionCode.INVALID_COUNTRY_CODE: ({"countryCode": "Lovelaceland"}, {}),
    RejectionCode.INVALID_CURRENCY: ({"amount": 10, "currencyCode": "Lovelace dollars"}, {}),
    RejectionCode.INVALID_AMOUNT: ({"amount": "Augusta's fortune", "currencyCode": "GBP"}, {}),
    RejectionCode.INVALID_EVENT_ID: ({"eventId": "Lovelace-" * 10}, {}),
    RejectionCode.UNSUPPORTED_IN_API_VERSION: (
        {"email": None, "firstName": None, "lastName": None, "oracle_moat_id": "Lovelace-moat"},
        {"api_version": "202609"},
    ),
}
# countryCode goes in userInfo, which is sent (and checked) with both names only.
NAMES = {"firstName": "Ada", "lastName": "Byron"}
# Codes whose field is a non-personal column, so the offending value is quoted.
_QUOTING_CODES = {
    RejectionCode.MISSING_CONVERSION_RULE,
    RejectionCode.INVALID_TIMESTAMP,
    RejectionCode.TOO_OLD,
    RejectionCode.IN_FUTURE,
    RejectionCode.INVALID_COUNTRY_CODE,
    RejectionCode.INVALID_CURRENCY,
    RejectionCode.INVALID_AMOUNT,
}


def test_every_code_but_linkedins_own_is_covered():
    assert set(CASES) == set(RejectionCode) - {RejectionCode.REJECTED_BY_LINKEDIN}


@pytest.mark.parametrize("code", list(CASES))
def test_each_code_is_given_with_a_message_free_of_identifiers(code):
    fields, overrides = CASES[code]
    row = {**SECRETS, **fields}
    rejection = rejection_of(build_row(overrides, **row), code)
    assert_valid_rejection(rejection)
    for secret in [
        *SECRET_STRINGS,
        *(value for value in fields.values() if isinstance(value, str) and value),
    ]:
        assert secret.lower() not in rejection.message.lower(), (code, rejection.message)
    assert "lovelace" not in rejection.message.lower()
    assert "augusta" not in rejection.message.lower()


def test_codes_are_plain_strings_for_json_and_counters():
    rejection = rejection_of(build_row(email="nope"), "invalid_email")
    assert rejection.code == "invalid_email"
    assert isinstance(rejection.code, str)
    assert f"{rejection.code}" == "invalid_email"


# -- What a rejects line shows to find the CRM row: key column values and the offending value ------------


@pytest.mark.parametrize(
    ("fields", "code", "shown"),
    [
        ({"amount": 10, "currencyCode": "EURO"}, "invalid_currency", "EURO"),
        ({"countryCode": "UK", **NAMES}, "invalid_country_code", "UK"),
        ({"conversionHappenedAt": "2026-13-45T25:00"}, "invalid_timestamp", "2026-13-45T25:00"),
        ({"amount": "12,50", "currencyCode": "EUR"}, "invalid_amount", "12,50"),
        ({"conversion": "Lead form"}, "missing_conversion_rule", "Lead form"),
        ({"conversionHappenedAt": datetime(2001, 2, 3, 4, 5, 6)}, "too_old", "2001-02-03T04:05:06"),
    ],
)
def test_a_value_that_is_not_personal_is_quoted(fields, code, shown):
    rejection = rejection_of(build_row(email="a@example.com", **fields), code)
    assert rejection.value == shown


@pytest.mark.parametrize("code", [code for code in CASES if code not in _QUOTING_CODES])
def test_identifier_and_name_values_are_never_quoted(code):
    fields, overrides = CASES[code]
    rejection = rejection_of(build_row(overrides, **{**SECRETS, **fields}), code)
    assert rejection.value is None


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"amount": 10, "currencyCode": " ada.lovelace@example.com "}, "invalid_currency"),
        ({"countryCode": "192.168.0.1", **NAMES}, "invalid_country_code"),
        ({"countryCode": "2001:db8::1", **NAMES}, "invalid_country_code"),
    ],
)
def test_a_quotable_column_holding_an_email_or_ip_is_withheld(fields, code):
    assert rejection_of(build_row(email="a@example.com", **fields), code).value == WITHHELD


def test_key_column_values_are_shown_and_personal_ones_withheld():
    row = {"crm_id": 42, "deal": b"\xff\x00", "email": "Ada@Example.com", "conversionHappenedAt": "never"}
    builder = EventBuilder(list(row), settings(key_columns=["crm_id", "deal", "email"]))
    rejection = rejection_of(builder.build(list(row.values())), "invalid_timestamp")
    assert rejection.keys == {
        "crm_id": "42",
        "deal": "sha256:" + hashlib.sha256(b"\xff\x00").hexdigest(),
        "email": WITHHELD,  # a key column that is also an identifier column
    }
    assert rejection.value == "never"


def test_without_key_columns_a_line_has_no_keys():
    rejection = rejection_of(
        build_row(email="a@example.com", countryCode="UK", **NAMES), "invalid_country_code"
    )
    assert rejection.keys is None


@given(st.text(max_size=300))
def test_a_quoted_text_is_short_and_never_an_email_or_ip(text):
    shown = quoted(text)
    assert shown is not None
    assert len(shown) <= MAX_QUOTED_LENGTH + 1
    assert "@" not in shown
    stripped = text.strip()
    if "@" in stripped:
        assert shown == WITHHELD
    else:
        try:
            ipaddress.ip_address(stripped)
        except ValueError:
            assert stripped.startswith(shown.removesuffix("…"))
        else:
            assert shown == WITHHELD
