"""Regressions: values that used to crash the builder or be silently rewritten, one test per defect.

The pure layer must never raise for a value in a row, and must never send an identifier it changed into
some other identifier: each row is a valid event or a rejection with the field's own code.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction

import numpy as np
import orjson
import pytest
from conversion_helpers import RULE_URN, build_row, event_of, rejection_of

from airflow_provider_linkedin_capi.conversions.event_ids import KeyEventIds, key_event_id, key_text

HUGE_INT = 10**5000  # past Python's default limit of 4,300 digits for str(int)
HUGE_REAL = Fraction(10**400)  # float() raises OverflowError instead of giving infinity
EMAIL = "a@b.co"
EMAIL_SHA256 = hashlib.sha256(EMAIL.encode()).hexdigest()
GAID = "38400000-8cf0-11bd-b23e-10b96e40000d"


@pytest.fixture
def int_digit_limit() -> Iterator[object]:
    """Sets ``sys.set_int_max_str_digits`` for one test and restores the previous limit after it."""
    previous = sys.get_int_max_str_digits()
    yield sys.set_int_max_str_digits
    sys.set_int_max_str_digits(previous)


# -- 1. integers too long for str() ---------------------------------------------------------------------

TEXT_FIELDS_AND_CODES = [
    ({"firstName": HUGE_INT, "lastName": "Lee"}, "incomplete_user_info"),
    ({"firstName": "Ada", "lastName": HUGE_INT}, "incomplete_user_info"),
    ({"firstName": "Ada", "lastName": "Lee", "companyName": HUGE_INT}, "incomplete_user_info"),
    ({"firstName": "Ada", "lastName": "Lee", "title": HUGE_INT}, "incomplete_user_info"),
    ({"firstName": "Ada", "lastName": "Lee", "countryCode": HUGE_INT}, "invalid_country_code"),
    ({"email": HUGE_INT}, "invalid_email"),
    ({"sha256_email": HUGE_INT}, "invalid_hash"),
    ({"eventId": HUGE_INT}, "invalid_event_id"),
    ({"conversion": HUGE_INT}, "missing_conversion_rule"),
    ({"li_fat_id": HUGE_INT}, "no_identifier"),
    ({"acxiom_id": HUGE_INT}, "no_identifier"),
    ({"oracle_moat_id": HUGE_INT}, "no_identifier"),
    ({"ip_address": HUGE_INT}, "invalid_ip"),
    ({"google_aid": HUGE_INT}, "invalid_google_aid"),
    ({"externalIds": HUGE_INT}, "no_identifier"),
    ({"externalIds": [HUGE_INT]}, "no_identifier"),
    ({"lead": HUGE_INT}, "no_identifier"),
    ({"amount": 5, "currencyCode": HUGE_INT}, "invalid_currency"),
]


@pytest.mark.parametrize(
    ("fields", "code"), TEXT_FIELDS_AND_CODES, ids=[code for _, code in TEXT_FIELDS_AND_CODES]
)
def test_an_integer_too_long_for_text_rejects_the_row_with_the_fields_code(fields, code):
    row = fields if {"email", "sha256_email"} & set(fields) else {"email": EMAIL, **fields}
    rejection_of(build_row(**row), code)


def test_an_integer_key_too_long_for_decimal_derives_a_stable_id_from_its_hex():
    for huge in (HUGE_INT, -HUGE_INT, 10**4300):
        event = event_of(build_row({"key_columns": ["crm_id"]}, email=EMAIL, crm_id=huge))
        material = orjson.dumps(["v1", RULE_URN, format(huge, "#x")])
        assert event["eventId"] == hashlib.sha256(material).hexdigest()
        assert event["eventId"] == KeyEventIds().derive(RULE_URN, [huge]) == key_event_id(RULE_URN, [huge])
    composite = event_of(build_row({"key_columns": ["crm_id", "line"]}, email=EMAIL, crm_id=HUGE_INT, line=2))
    material = orjson.dumps(["v1", RULE_URN, format(HUGE_INT, "#x"), "2"])
    assert composite["eventId"] == hashlib.sha256(material).hexdigest()


def test_integer_keys_python_prints_keep_their_decimal_ids():
    for key in (0, 42, -7, 2**63, 10**640, 10**4300 - 1, -(10**4300) + 1):
        expected = hashlib.sha256(orjson.dumps(["v1", RULE_URN, str(key)])).hexdigest()
        assert KeyEventIds().derive(RULE_URN, [key]) == key_event_id(RULE_URN, [key]) == expected
        assert key_text(key) == str(key)


@pytest.mark.parametrize("limit", [640, 0, 100_000])
def test_whatever_the_interpreters_digit_limit_key_ids_agree_and_never_raise(int_digit_limit, limit):
    int_digit_limit(limit)
    for key in (10**639, 10**640, 10**4299, 10**4300, HUGE_INT, -HUGE_INT):
        try:
            text = str(key)
        except ValueError:
            text = format(key, "#x")
        expected = hashlib.sha256(orjson.dumps(["v1", RULE_URN, text])).hexdigest()
        assert KeyEventIds().derive(RULE_URN, [key]) == key_event_id(RULE_URN, [key]) == expected


def test_a_rejected_row_with_a_huge_key_still_names_its_event_id():
    rejection = rejection_of(
        build_row({"key_columns": ["crm_id"]}, email=EMAIL, crm_id=HUGE_INT, amount=-1, currencyCode="USD"),
        "invalid_amount",
    )
    assert rejection.event_id == key_event_id(RULE_URN, [HUGE_INT])
    assert rejection.sha256_email == EMAIL_SHA256


# -- 2. JSON arrays nested too deep to parse ---------------------------------------------------------------


def test_external_ids_nested_too_deep_for_json_are_read_as_one_scalar():
    deep = "[" * 1000 + "]" * 1000
    assert event_of(build_row(email=EMAIL, externalIds=deep))["user"]["externalIds"] == [deep]
    rejection_of(build_row(email=EMAIL, externalIds='[["x"]]'), "no_identifier")  # parsed: a nested list


# -- 3. zero-dimensional numpy arrays ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.array(5), ["5"]),
        (np.array("crm-42"), ["crm-42"]),
        (np.array(" crm-42 "), ["crm-42"]),
        (np.array(7.0), ["7"]),
        (np.array(["crm-1", "crm-2"]), ["crm-1"]),
        (np.array(None, dtype=object), None),
        (np.array("", dtype=object), None),
    ],
    ids=repr,
)
def test_a_zero_dimensional_numpy_array_is_its_scalar(array, expected):
    user = event_of(build_row(email=EMAIL, externalIds=array))["user"]
    assert user.get("externalIds") == expected


def test_a_zero_dimensional_array_holding_an_array_is_not_text():
    inner = np.empty((), dtype=object)
    inner[()] = inner  # an array that holds itself
    rejection_of(build_row(email=EMAIL, externalIds=inner), "no_identifier")


# -- 4. reals too large for a float ------------------------------------------------------------------------


@pytest.mark.parametrize("huge", [HUGE_REAL, -HUGE_REAL], ids=["positive", "negative"])
def test_a_real_too_large_for_a_float_is_rejected_not_raised(huge):
    rejection_of(build_row(email=EMAIL, conversionHappenedAt=huge), "invalid_timestamp")
    rejection_of(build_row(email=EMAIL, amount=huge, currencyCode="USD"), "invalid_amount")
    rejection_of(build_row(email=EMAIL, externalIds=huge), "no_identifier")
    rejection_of(build_row(email=EMAIL, firstName=huge, lastName="Lee"), "incomplete_user_info")
    rejection_of(build_row(email=huge), "invalid_email")
    # As a key it is a float that is no exact integer: refused on key_columns, which stops the push.
    rejection_of(build_row({"key_columns": ["crm_id"]}, email=EMAIL, crm_id=huge), "invalid_event_id")


def test_ordinary_fractions_still_read_as_numbers():
    assert event_of(build_row(email=EMAIL, amount=Fraction(5, 2), currencyCode="USD"))["conversionValue"] == {
        "currencyCode": "USD",
        "amount": "2.50",
    }


# -- 5. google_aid spellings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "1234_678-1234-5678-1234-567812345678",  # int() reads "_" as a digit separator
        "0x345678-1234-5678-1234-567812345678",  # ... and a "0x" prefix
        "+2345678-1234-5678-1234-567812345678",  # ... and a sign
        "1234567-81234-5678-1234-567812345678",  # uuid.UUID drops hyphens wherever they are
        "12345678-1234-5678-1234-5678-12345678",
        "1234-5678-1234-5678-1234-5678-1234-5678",
        "\uff112345678-1234-5678-1234-567812345678",  # a fullwidth digit
        "\u0661\u0662345678-1234-5678-1234-567812345678",  # Arabic-Indic digits
        "{12345678-1234-5678-1234-567812345678",
        "12345678-1234-5678-1234-567812345678}",
        "urn:uuid:{12345678-1234-5678-1234-567812345678}",
        "uuid:12345678-1234-5678-1234-567812345678",
        "urn:12345678-1234-5678-1234-567812345678",
        "urn:uu\u0131d:12345678-1234-5678-1234-567812345678",  # dotless i, equal to "I" when ignoring case
        "12345678 1234 5678 1234 567812345678",
        "12345678-1234-5678-1234-56781234567g",
    ],
)
def test_a_malformed_google_aid_is_rejected_not_rewritten(raw):
    rejection_of(build_row(email=EMAIL, google_aid=raw), "invalid_google_aid")


@pytest.mark.parametrize(
    "raw",
    [
        GAID,
        GAID.upper(),
        GAID.replace("-", ""),
        GAID.replace("-", "").upper(),
        "{" + GAID + "}",
        "{" + GAID.replace("-", "") + "}",
        "urn:uuid:" + GAID,
        "URN:UUID:" + GAID.upper(),
        f"  {GAID}  ",
    ],
)
def test_a_google_aid_in_a_legitimate_uuid_spelling_is_sent_canonical(raw):
    user_ids = event_of(build_row(google_aid=raw))["user"]["userIds"]
    assert user_ids == [{"idType": "GOOGLE_AID", "idValue": GAID}]


# -- 6. amounts that round up to the limit ------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount", [Decimal("999999999999999.995"), "999999999999999.995", Decimal("999999999999999.999")]
)
def test_an_amount_that_rounds_up_to_10_to_the_15_is_invalid(amount):
    rejection_of(build_row(email=EMAIL, amount=amount, currencyCode="USD"), "invalid_amount")


@pytest.mark.parametrize("amount", [Decimal("999999999999999.994999"), "999999999999999.99"])
def test_the_largest_amounts_that_stay_below_the_limit_are_sent(amount):
    value = event_of(build_row(email=EMAIL, amount=amount, currencyCode="USD"))["conversionValue"]
    assert value["amount"] == "999999999999999.99"


# -- 7. invisible characters at the edges of an e-mail ------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "\ufeffa@b.co",
        "a@b.co\u200b",
        "\u200ca@b.co\u200d",
        "\u2060A@B.CO",
        " \ufeff a@b.co \u200b ",
        "\u200b\ufeff\u200ba@b.co",
        "\ufeff" + EMAIL_SHA256.upper(),  # an already-hashed address, pasted with a BOM
    ],
    ids=ascii,
)
def test_invisible_characters_at_the_edges_of_an_email_are_trimmed(raw):
    user_ids = event_of(build_row(email=raw))["user"]["userIds"]
    assert user_ids == [{"idType": "SHA256_EMAIL", "idValue": EMAIL_SHA256}]
    rejection = rejection_of(build_row(email=raw, amount=-1, currencyCode="USD"), "invalid_amount")
    assert rejection.sha256_email == EMAIL_SHA256


@pytest.mark.parametrize(
    "raw",
    [
        "\ufeff",
        "\u200b \u200b",
        "\ufeff@b.co",
        "\u200b@b.co\u200b",
        "a@\u200bb.co",
        "a\u200d@b.co",
        "a@b\ufeff.co",
    ],
    ids=ascii,
)
def test_an_email_that_is_only_invisible_characters_or_lacks_a_part_is_still_invalid(raw):
    rejection_of(build_row(email=raw), "invalid_email")


def test_non_ascii_emails_without_invisible_edges_hash_as_before():
    expected = hashlib.sha256("josé@exämple.com".encode()).hexdigest()
    assert event_of(build_row(email=" José@Exämple.com "))["user"]["userIds"][0]["idValue"] == expected


# -- 8. NaN in conversionHappenedAt -------------------------------------------------------------------------


def test_a_nan_time_is_missing_but_the_text_nan_is_invalid():
    for missing in (float("nan"), np.float64("nan"), Decimal("NaN")):
        rejection_of(build_row(email=EMAIL, conversionHappenedAt=missing), "missing_timestamp")
    rejection_of(build_row(email=EMAIL, conversionHappenedAt="NaN"), "invalid_timestamp")
