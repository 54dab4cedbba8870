"""Every rejection code the pure layer can give, each with a message that holds no identifier value."""

from __future__ import annotations

import pytest
from conversion_helpers import NOW_MS, assert_valid_rejection, build_row, rejection_of

from airflow_provider_linkedin_capi.conversions import RejectionCode

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
