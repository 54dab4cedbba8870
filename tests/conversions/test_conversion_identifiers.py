"""Member identifiers: normalised as LinkedIn matches them, malformed ones explained, userIds always sent."""

from __future__ import annotations

import hashlib
import ipaddress
import uuid

import numpy as np
import pandas as pd
import pytest
from conversion_helpers import RECENT_MS, build_row, event_of, rejection_of, settings

from airflow_provider_linkedin_capi.conversions import EventBuilder

JOHN_SHA256 = hashlib.sha256(b"john.smith@example.com").hexdigest()


def user_of(**row):
    return event_of(build_row(**row))["user"]


def ids_of(**row):
    return {user_id["idType"]: user_id["idValue"] for user_id in user_of(**row)["userIds"]}


@pytest.mark.parametrize(
    "raw",
    [
        "john.smith@example.com",
        "  John.Smith@Example.COM\t",
        b"JOHN.SMITH@EXAMPLE.COM",
        "\u00a0john.smith@example.com",
    ],
)
def test_email_is_trimmed_lowercased_and_sha256_hashed(raw):
    assert ids_of(email=raw) == {"SHA256_EMAIL": JOHN_SHA256}


def test_non_ascii_addresses_are_hashed_as_utf8():
    assert ids_of(email="Zoë@Exämple.de") == {
        "SHA256_EMAIL": hashlib.sha256("zoë@exämple.de".encode()).hexdigest()
    }


def test_a_64_hex_value_in_the_email_column_passes_through_lowercased():
    assert ids_of(email=JOHN_SHA256.upper()) == {"SHA256_EMAIL": JOHN_SHA256}


@pytest.mark.parametrize(
    "raw",
    [
        "john.smith",
        "@example.com",
        "john@",
        "john@example",
        "john@@example.com",
        "jo@hn@example.com",
        "john smith@example.com",
        "john@exa mple.com",
        "john@.example.com",
        "john@example.com.",
        "john@example..com",
        "john\x00@example.com",
        "john@example.com\u2003x",
        "a" * 63,
        "g" * 64,
        12345,
        True,
        ["john@example.com"],
        b"\xff@example.com",
        "jo\udc80hn@example.com",
    ],
)
def test_things_that_are_not_addresses_are_invalid_email(raw):
    rejection_of(build_row(email=raw), "invalid_email")


@pytest.mark.parametrize("raw", [None, "", "   ", float("nan"), pd.NA])
def test_an_empty_email_is_no_identifier(raw):
    rejection_of(build_row(email=raw), "no_identifier")


def test_sha256_email_is_validated_and_lowercased():
    assert ids_of(sha256_email=f" {JOHN_SHA256.upper()} ") == {"SHA256_EMAIL": JOHN_SHA256}
    for bad in ("abc", JOHN_SHA256[:-1], JOHN_SHA256 + "0", "z" * 64, "john.smith@example.com"):
        rejection_of(build_row(sha256_email=bad), "invalid_hash")


def test_email_wins_over_sha256_email_which_is_then_not_checked():
    assert ids_of(email="John.Smith@example.com", sha256_email="not-a-hash") == {"SHA256_EMAIL": JOHN_SHA256}
    other = hashlib.sha256(b"other@example.com").hexdigest()
    assert ids_of(email=None, sha256_email=other) == {"SHA256_EMAIL": other}
    rejection_of(build_row(email="broken", sha256_email=other), "invalid_email")


def test_opaque_user_ids_are_sent_trimmed_in_contract_order():
    ids = user_of(
        google_aid="38400000-8CF0-11BD-B23E-10B96E40000D",
        ip_address=" 192.0.2.10 ",
        oracle_moat_id=" moat-1 ",
        acxiom_id=12345,
        li_fat_id=" f3c8-li-fat ",
        email="john.smith@example.com",
    )["userIds"]
    assert ids == [
        {"idType": "SHA256_EMAIL", "idValue": JOHN_SHA256},
        {"idType": "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", "idValue": "f3c8-li-fat"},
        {"idType": "ACXIOM_ID", "idValue": "12345"},
        {"idType": "ORACLE_MOAT_ID", "idValue": "moat-1"},
        {"idType": "PLAINTEXT_IP_ADDRESS", "idValue": "192.0.2.10"},
        {"idType": "GOOGLE_AID", "idValue": "38400000-8cf0-11bd-b23e-10b96e40000d"},
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        (ipaddress.IPv4Address("203.0.113.7"), "203.0.113.7"),
        (ipaddress.IPv4Interface("203.0.113.7/24"), "203.0.113.7"),
    ],
)
def test_ipv4_addresses_in_every_driver_shape(raw, expected):
    assert ids_of(ip_address=raw) == {"PLAINTEXT_IP_ADDRESS": expected}


@pytest.mark.parametrize(
    "raw",
    [
        "2001:db8::1",
        ipaddress.IPv6Address("2001:db8::1"),
        "256.1.1.1",
        "1.2.3",
        "010.1.1.1",
        "localhost",
        3232235777,
    ],
)
def test_anything_but_ipv4_is_invalid_ip(raw):
    rejection_of(build_row(ip_address=raw, email="john.smith@example.com"), "invalid_ip")


def test_google_aid_must_be_a_uuid_and_the_opt_out_zero_id_counts_as_absent():
    gaid = uuid.uuid4()
    assert ids_of(google_aid=gaid) == {"GOOGLE_AID": str(gaid)}
    assert ids_of(google_aid=gaid.hex.upper()) == {"GOOGLE_AID": str(gaid)}
    rejection_of(build_row(google_aid="not-a-uuid"), "invalid_google_aid")
    rejection_of(build_row(google_aid=str(uuid.UUID(int=0))), "no_identifier")
    assert ids_of(google_aid=str(uuid.UUID(int=0)), email="john.smith@example.com") == {
        "SHA256_EMAIL": JOHN_SHA256
    }


def test_user_info_needs_both_names_and_carries_company_title_and_country():
    user = user_of(
        firstName=" Ada ",
        lastName="Lovelace",
        companyName=" Analytical Engines ",
        title="Countess",
        countryCode="gb",
    )
    assert user == {
        "userIds": [],
        "userInfo": {
            "firstName": "Ada",
            "lastName": "Lovelace",
            "companyName": "Analytical Engines",
            "title": "Countess",
            "countryCode": "GB",
        },
    }


def test_one_name_alone_is_incomplete_user_info():
    rejection = rejection_of(build_row(firstName="Ada", lastName="  "), "incomplete_user_info")
    assert rejection.field == "lastName"
    assert rejection_of(build_row(lastName="Lovelace"), "incomplete_user_info").field == "firstName"


def test_a_half_name_is_dropped_when_another_identifier_carries_the_row():
    user = user_of(
        firstName="Ada", lastName=None, companyName="AE", countryCode="XX", email="john.smith@example.com"
    )
    assert user == {"userIds": [{"idType": "SHA256_EMAIL", "idValue": JOHN_SHA256}]}


def test_country_code_is_alpha2_and_checked_only_when_user_info_is_sent():
    def country(raw):
        return user_of(firstName="Ada", lastName="Lovelace", countryCode=raw)["userInfo"].get("countryCode")

    assert country("fr") == "FR"
    assert country("FRA") == "FR"
    assert country(None) is None
    for bad in ("UK", "XX", "France", "F", 33, ["FR"]):
        rejection_of(build_row(firstName="Ada", lastName="Lovelace", countryCode=bad), "invalid_country_code")
    assert "userInfo" not in user_of(email="john.smith@example.com", countryCode="XX")


def test_names_that_are_not_text_are_incomplete_user_info():
    rejection_of(
        build_row(firstName=["Ada"], lastName="Lovelace", email="john.smith@example.com"),
        "incomplete_user_info",
    )
    rejection_of(build_row(firstName="Ada", lastName="Lovelace", title=True), "incomplete_user_info")
    rejection_of(build_row(firstName="Ada\ud800", lastName="Lovelace"), "incomplete_user_info")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("crm-42", "crm-42"),
        (42, "42"),
        (42.0, "42"),
        (["crm-42", "crm-43"], "crm-42"),
        (("", None, "crm-43"), "crm-43"),
        ('["crm-42", "crm-43"]', "crm-42"),
        ("[not json]", "[not json]"),
        (np.array(["crm-42", "crm-43"]), "crm-42"),
    ],
)
def test_external_ids_send_exactly_one_value(raw, expected):
    assert user_of(externalIds=raw) == {"userIds": [], "externalIds": [expected]}


def test_external_ids_without_any_value_are_no_identifier():
    for raw in ([], "[]", [None, ""], '[""]'):
        rejection_of(build_row(externalIds=raw), "no_identifier")
    rejection_of(build_row(externalIds=[["nested"]]), "no_identifier")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("6834522156", "urn:li:leadGenFormResponse:6834522156"),
        (6834522156, "urn:li:leadGenFormResponse:6834522156"),
        ("urn:li:leadGenFormResponse:abc-123", "urn:li:leadGenFormResponse:abc-123"),
        (" urn:li:leadGenFormResponse: abc-123 ", "urn:li:leadGenFormResponse:abc-123"),
    ],
)
def test_lead_accepts_a_urn_or_a_bare_id(raw, expected):
    assert user_of(lead=raw) == {"userIds": [], "lead": expected}


def test_a_lead_that_is_another_urn_is_not_a_lead():
    rejection = rejection_of(build_row(lead="urn:li:sponsoredCampaign:1"), "no_identifier")
    assert "lead" in rejection.message
    assert "lead" not in user_of(lead="urn:li:sponsoredCampaign:1", email="john.smith@example.com")


def test_user_ids_is_always_present_even_when_only_other_identifiers_match():
    for row in ({"lead": "1"}, {"externalIds": "x"}, {"firstName": "A", "lastName": "B"}):
        assert user_of(**row)["userIds"] == []


@pytest.mark.parametrize(
    "raw",
    [
        "jane.doe@example.com",
        "urn:li:leadGenFormResponse:jane.doe@example.com",
        " Jane.Doe@Example.COM ",
    ],
)
def test_a_lead_holding_an_email_address_is_rejected_never_sent(raw):
    rejection = rejection_of(build_row(lead=raw, email="john.smith@example.com"), "email_in_identifier")
    assert rejection.field == "lead"
    assert "jane" not in rejection.message.lower()


@pytest.mark.parametrize("raw", ["abc def", "12.34", "lead#1", "urn:li:leadGenFormResponse:a/b", "Zoë"])
def test_a_lead_id_of_another_shape_is_invalid_lead(raw):
    rejection = rejection_of(build_row(lead=raw, email="john.smith@example.com"), "invalid_lead")
    assert rejection.field == "lead"


@pytest.mark.parametrize(
    ("column", "code"),
    [
        ("externalIds", "email_in_identifier"),
        ("linkedin_first_party_ads_tracking_uuid", "email_in_identifier"),
        ("acxiom_id", "email_in_identifier"),
        ("oracle_moat_id", "email_in_identifier"),
        ("google_aid", "invalid_google_aid"),
    ],
)
@pytest.mark.parametrize(
    "raw", ["jane.doe@example.com", " crm:Jane.Doe@Example.COM ", ["jane.doe@example.com"], b"jane@ex.co"]
)
def test_an_email_address_in_any_other_identifier_is_rejected_never_sent(column, code, raw):
    if isinstance(raw, list) and column != "externalIds":
        raw = raw[0]
    rejection = rejection_of(build_row(**{column: raw, "email": "john.smith@example.com"}), code)
    assert rejection.field == column
    assert "jane" not in rejection.message.lower()


def test_identifiers_with_an_at_sign_but_no_address_are_still_sent():
    user = user_of(externalIds="team@crm", acxiom_id="a@b", lead="6834522156")
    assert user["externalIds"] == ["team@crm"]
    assert user["userIds"] == [{"idType": "ACXIOM_ID", "idValue": "a@b"}]


# -- Identifier types by LinkedIn-Version (api_versions), SHA256_IP_ADDRESS ------------------------------


def test_a_hashed_ip_column_is_checked_and_sent_lower_cased():
    digest = hashlib.sha256(b"192.0.2.1").hexdigest()
    assert ids_of(sha256_ip_address=digest.upper()) == {"SHA256_IP_ADDRESS": digest}
    rejection = rejection_of(build_row(sha256_ip_address="192.0.2.1"), "invalid_hash")
    assert rejection.field == "sha256_ip_address"


def test_hash_ip_address_sends_the_sha256_of_the_dotted_address_where_the_version_takes_it():
    hashed = event_of(
        build_row({"api_version": "202608", "hash_ip_address": True}, ip_address="::ffff:192.0.2.1")
    )
    assert {u["idType"]: u["idValue"] for u in hashed["user"]["userIds"]} == {
        "SHA256_IP_ADDRESS": hashlib.sha256(b"192.0.2.1").hexdigest()
    }
    # 202601 predates SHA256_IP_ADDRESS (THIRD-PARTY): the address goes as LinkedIn's plain-text type.
    plain = event_of(build_row({"api_version": "202601", "hash_ip_address": True}, ip_address="192.0.2.1"))
    assert plain["user"]["userIds"] == [{"idType": "PLAINTEXT_IP_ADDRESS", "idValue": "192.0.2.1"}]


def test_hash_ip_address_with_a_hashed_ip_column_is_a_configuration_error():
    with pytest.raises(ValueError, match="use one of them"):
        EventBuilder(
            ["ip_address", "sha256_ip_address", "conversionHappenedAt"],
            settings(api_version="202608", hash_ip_address=True),
        )


def test_a_type_the_version_refuses_is_left_out_and_counted_or_rejects_a_row_it_alone_identifies():
    builder = EventBuilder(
        ["email", "oracle_moat_id", "google_aid", "conversionHappenedAt"], settings(api_version="202601")
    )
    aid = str(uuid.uuid4())
    with_email = event_of(builder.build(["a@example.com", "moat-1", aid, RECENT_MS]))
    assert [u["idType"] for u in with_email["user"]["userIds"]] == ["SHA256_EMAIL", "ORACLE_MOAT_ID"]
    alone = rejection_of(builder.build([None, None, aid, RECENT_MS]), "unsupported_in_api_version")
    assert alone.field == "google_aid"
    assert aid not in alone.message
    assert "202601" in alone.message
    assert builder.dropped_id_types == {"GOOGLE_AID": 1}  # counted for the event sent, not the rejection


def test_an_override_lets_a_refused_type_through():
    columns = ["oracle_moat_id", "conversionHappenedAt"]
    override = {"ORACLE_MOAT_ID": [None, None]}
    refused = EventBuilder(columns, settings(api_version="202609"))
    allowed = EventBuilder(columns, settings(api_version="202609", identifier_versions=override))
    assert rejection_of(refused.build(["moat-1", RECENT_MS]), "unsupported_in_api_version")
    assert event_of(allowed.build(["moat-1", RECENT_MS]))["user"]["userIds"][0]["idType"] == "ORACLE_MOAT_ID"
