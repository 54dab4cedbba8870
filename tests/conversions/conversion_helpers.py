"""Shared helpers for the pure-layer tests: a fixed clock, one-row builds, and the event contract checker.

The checker encodes LinkedIn's event element contract (docs/linkedin-contract.md §2.1) independently of the
code under test, so property tests can assert "every event the builder emits is one LinkedIn would accept".
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pycountry

from airflow_provider_linkedin_capi.conversions import (
    ConversionSettings,
    EventBuilder,
    Rejection,
    RejectionCode,
)

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
RECENT = NOW - timedelta(days=3)
RECENT_MS = int(RECENT.timestamp() * 1000)
RULE_ID = 104012
RULE_URN = "urn:lla:llaPartnerConversion:104012"

ID_TYPES = {
    "SHA256_EMAIL",
    "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID",
    "ACXIOM_ID",
    "ORACLE_MOAT_ID",
    "PLAINTEXT_IP_ADDRESS",
    "SHA256_IP_ADDRESS",
    "GOOGLE_AID",
}
KNOWN_CODES = {code.value for code in RejectionCode}
CURRENCIES = {currency.alpha_3 for currency in pycountry.currencies}
COUNTRIES = {country.alpha_2 for country in pycountry.countries}
_URN = re.compile(r"urn:lla:llaPartnerConversion:\d+")
_AMOUNT = re.compile(r"\d+\.\d{2}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_IPV4 = re.compile(r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def settings(**overrides: Any) -> ConversionSettings:
    values: dict[str, Any] = {"conversion_rule_id": RULE_ID, "now": NOW}
    values.update(overrides)
    return ConversionSettings(**values)


def build_row(settings_overrides: dict[str, Any] | None = None, **row: Any) -> dict[str, Any] | Rejection:
    """Build one row given as keyword arguments (column name -> value); defaults to a fresh time."""
    row.setdefault("conversionHappenedAt", RECENT_MS)
    builder = EventBuilder(list(row), settings(**(settings_overrides or {})))
    return builder.build(list(row.values()))


def event_of(result: dict[str, Any] | Rejection) -> dict[str, Any]:
    assert not isinstance(result, Rejection), f"expected an event, got {result}"
    assert_valid_event(result)
    return result


def rejection_of(result: dict[str, Any] | Rejection, code: str) -> Rejection:
    assert isinstance(result, Rejection), f"expected a {code} rejection, got an event"
    assert result.code == code, result
    return result


def assert_valid_event(event: Any, builder: EventBuilder | None = None) -> None:
    """Fail unless ``event`` is an element ``/conversionEvents`` accepts (docs/linkedin-contract.md §2.1)."""
    assert isinstance(event, dict)
    assert set(event) <= {"conversion", "conversionHappenedAt", "conversionValue", "eventId", "user"}
    assert isinstance(event["conversion"], str)
    assert _URN.fullmatch(event["conversion"])
    happened = event["conversionHappenedAt"]
    assert type(happened) is int
    if builder is not None:
        assert builder.timestamps.earliest_ms <= happened <= builder.timestamps.latest_ms
        earliest = builder.now - timedelta(days=90)
        assert happened >= int(earliest.timestamp() * 1000)
    event_id = event["eventId"]
    assert isinstance(event_id, str)
    assert 0 < len(event_id) <= 64
    assert event_id == event_id.strip()

    user = event["user"]
    assert isinstance(user, dict)
    assert set(user) <= {"userIds", "userInfo", "externalIds", "lead"}
    user_ids = user["userIds"]
    assert isinstance(user_ids, list)
    for user_id in user_ids:
        assert set(user_id) == {"idType", "idValue"}
        assert user_id["idType"] in ID_TYPES
        value = user_id["idValue"]
        assert isinstance(value, str)
        assert value
        assert value == value.strip()
        if user_id["idType"] == "SHA256_EMAIL":
            assert _SHA256.fullmatch(value)
        if user_id["idType"] == "PLAINTEXT_IP_ADDRESS":
            assert _IPV4.fullmatch(value)
        if user_id["idType"] == "SHA256_IP_ADDRESS":
            assert _SHA256.fullmatch(value)
        if builder is not None:
            assert user_id["idType"] not in builder.refused_id_types, "a type the version does not take"
        if user_id["idType"] == "GOOGLE_AID":
            assert _UUID.fullmatch(value)
            assert value != "00000000-0000-0000-0000-000000000000"
    assert len({user_id["idType"] for user_id in user_ids}) == len(user_ids)
    if "userInfo" in user:
        info = user["userInfo"]
        assert set(info) <= {"firstName", "lastName", "companyName", "title", "countryCode"}
        for key, value in info.items():
            assert isinstance(value, str), key
            assert value, key
            assert value == value.strip(), key
        assert info.get("firstName")
        assert info.get("lastName")
        if "countryCode" in info:
            assert info["countryCode"] in COUNTRIES
    if "externalIds" in user:
        external = user["externalIds"]
        assert isinstance(external, list)
        assert len(external) == 1
        assert isinstance(external[0], str)
        assert external[0]
        assert external[0] == external[0].strip()
    if "lead" in user:
        assert isinstance(user["lead"], str)
        assert user["lead"].startswith("urn:li:leadGenFormResponse:")
        assert len(user["lead"]) > len("urn:li:leadGenFormResponse:")
        assert re.fullmatch(r"urn:li:leadGenFormResponse:[A-Za-z0-9_-]+", user["lead"]), user["lead"]
    # No identifier LinkedIn receives unhashed may carry an e-mail address.
    unhashed = [u["idValue"] for u in user["userIds"] if u["idType"] != "SHA256_EMAIL"]
    for value in [*unhashed, *user.get("externalIds", []), user.get("lead", "")]:
        assert not re.search(r"[^@\s]+@[^@\s.]+\.[^@\s.]+", value), value
    assert user_ids or {"userInfo", "externalIds", "lead"} & set(user), "an event needs an identifier"

    if "conversionValue" in event:
        value = event["conversionValue"]
        assert set(value) == {"currencyCode", "amount"}
        assert value["currencyCode"] in CURRENCIES
        assert isinstance(value["amount"], str)
        assert _AMOUNT.fullmatch(value["amount"])
    orjson.dumps(event)  # must serialise as is


def assert_valid_rejection(rejection: Rejection) -> None:
    assert rejection.code in KNOWN_CODES
    assert rejection.code != RejectionCode.REJECTED_BY_LINKEDIN  # only the operator, after LinkedIn answers
    assert isinstance(rejection.message, str)
    assert rejection.message
    assert rejection.field is None or isinstance(rejection.field, str)
    assert rejection.event_id is None or (
        isinstance(rejection.event_id, str) and 0 < len(rejection.event_id) <= 64
    )
    assert rejection.sha256_email is None or _SHA256.fullmatch(rejection.sha256_email)
    orjson.dumps(rejection._asdict())
