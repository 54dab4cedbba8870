"""A table of realistic, dirty CRM export rows, each with what must become of it.

The expectations are written out independently of the pure layer (hashes from ``hashlib`` over the
hand-normalised address, timestamps from arithmetic on one anchor second), so a test that compares them
with what the sandbox received checks the whole push, not the builder against itself.

Rows refer to conversion rules by role; ``build_rows`` fills in the ids the sandbox gave them:
``main`` (the operator's ``conversion_rule_id``), ``second`` (another CAPI rule named per row),
``insight`` (an Insight Tag rule, which takes no CAPI events) and ``missing`` (an id with no rule).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

SENT = "sent"
DAY = 86_400

#: Source columns in table order; ``seq`` fixes the query order and is not a contract column.
COLUMNS = (
    "seq",
    "crm_id",
    "eventId",
    "conversion",
    "conversionHappenedAt",
    "email",
    "sha256_email",
    "li_fat_id",
    "acxiom_id",
    "ip_address",
    "google_aid",
    "firstName",
    "lastName",
    "companyName",
    "title",
    "countryCode",
    "lead",
    "externalIds",
    "currencyCode",
    "amount",
    "internal_notes",
)
KEY_COLUMNS = ("crm_id",)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def rule_urn(rule_id: object) -> str:
    return f"urn:lla:llaPartnerConversion:{rule_id}"


def key_event_id(rule_id: object, crm_id: str) -> str:
    """The documented eventId recipe for ``key_columns=["crm_id"]``: SHA-256 of ``["v1", rule URN, key]``."""
    material = json.dumps(["v1", rule_urn(rule_id), crm_id], separators=(",", ":"))
    return sha256(material)


@dataclass(frozen=True)
class CrmRow:
    """One source row and its fate: ``expect`` is ``SENT`` or the rejection code."""

    seq: int
    values: dict[str, Any]
    expect: str
    rule: str = "main"
    sha256_email: str | None = None
    happened_ms: int | None = None
    conversion_value: dict[str, str] | None = None
    id_types: tuple[str, ...] = ()
    user_extra: dict[str, Any] = field(default_factory=dict)

    @property
    def crm_id(self) -> str:
        return self.values["crm_id"]

    def event_id(self, rule_ids: dict[str, int]) -> str:
        return self.values.get("eventId") or key_event_id(rule_ids[self.rule], self.crm_id)


def build_rows(rule_ids: dict[str, int], anchor_s: int | None = None, filler: int = 0) -> list[CrmRow]:
    """The table, with times relative to ``anchor_s`` (default: one hour ago, whole seconds).

    ``filler`` appends that many plain valid rows (hashed e-mail, USD value), for multi-batch runs.
    """
    t = anchor_s if anchor_s is not None else int(datetime.now(UTC).timestamp()) - 3600
    iso_z = datetime.fromtimestamp(t - 300, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    iso_offset = datetime.fromtimestamp(t - 400, timezone(timedelta(hours=2))).isoformat()
    naive_utc = datetime.fromtimestamp(t - 500, UTC).strftime("%Y-%m-%d %H:%M:%S")
    second = str(rule_ids["second"])
    ms = 1000
    specs: list[tuple[dict[str, Any], dict[str, Any]]] = [
        # ---- valid rows --------------------------------------------------------------------------
        (
            {
                "email": "jane.doe@example.com",
                "conversionHappenedAt": (t - 100) * ms + 123,
                "currencyCode": "USD",
                "amount": 100,
            },
            {
                "sha256_email": sha256("jane.doe@example.com"),
                "happened_ms": (t - 100) * ms + 123,
                "conversion_value": {"currencyCode": "USD", "amount": "100.00"},
                "id_types": ("SHA256_EMAIL",),
            },
        ),
        (
            {
                "email": "  Alice.Smith@Example.COM  ",
                "conversionHappenedAt": t - 200,
                "firstName": "Alicia",
                "lastName": "Smithereens",
                "companyName": "Acme GmbH",
                "title": "CTO",
                "countryCode": "de",
            },
            {
                "sha256_email": sha256("alice.smith@example.com"),
                "happened_ms": (t - 200) * ms,
                "id_types": ("SHA256_EMAIL",),
                "user_extra": {
                    "userInfo": {
                        "firstName": "Alicia",
                        "lastName": "Smithereens",
                        "companyName": "Acme GmbH",
                        "title": "CTO",
                        "countryCode": "DE",
                    }
                },
            },
        ),
        (
            {"email": sha256("bob.hashed@example.com").upper(), "conversionHappenedAt": iso_z},
            {
                "sha256_email": sha256("bob.hashed@example.com"),
                "happened_ms": (t - 300) * ms,
                "id_types": ("SHA256_EMAIL",),
            },
        ),
        (
            {
                "sha256_email": "  " + sha256("carol.prehashed@example.com").upper() + " ",
                "conversionHappenedAt": iso_offset,
                "currencyCode": "eur",
                "amount": "12.345",
            },
            {
                "sha256_email": sha256("carol.prehashed@example.com"),
                "happened_ms": (t - 400) * ms,
                "conversion_value": {"currencyCode": "EUR", "amount": "12.35"},
                "id_types": ("SHA256_EMAIL",),
            },
        ),
        (
            {
                "email": "dave@example.org",
                "sha256_email": sha256("someone.else@example.org"),
                "conversionHappenedAt": naive_utc,
            },
            {
                "sha256_email": sha256("dave@example.org"),
                "happened_ms": (t - 500) * ms,
                "id_types": ("SHA256_EMAIL",),
            },
        ),
        (
            {
                "email": "erin@example.net",
                "conversionHappenedAt": (t - 600) + 0.25,
                "currencyCode": "GBP",
                "amount": 19.99,
            },
            {
                "sha256_email": sha256("erin@example.net"),
                "happened_ms": (t - 600) * ms + 250,
                "conversion_value": {"currencyCode": "GBP", "amount": "19.99"},
                "id_types": ("SHA256_EMAIL",),
            },
        ),
        (
            {"email": "frank@example.com", "conversionHappenedAt": str((t - 700) * ms)},
            {
                "sha256_email": sha256("frank@example.com"),
                "happened_ms": (t - 700) * ms,
                "id_types": ("SHA256_EMAIL",),
            },
        ),
        (
            {"li_fat_id": "df4c3a5e-1111-4c1b-9f2e-5d9a0b7c8e21", "conversionHappenedAt": (t - 800) * ms},
            {"happened_ms": (t - 800) * ms, "id_types": ("LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID",)},
        ),
        (
            {"lead": "987654321", "conversionHappenedAt": (t - 900) * ms},
            {"happened_ms": (t - 900) * ms, "user_extra": {"lead": "urn:li:leadGenFormResponse:987654321"}},
        ),
        (
            {"lead": "urn:li:leadGenFormResponse:ab-12-cd", "conversionHappenedAt": (t - 1000) * ms},
            {"happened_ms": (t - 1000) * ms, "user_extra": {"lead": "urn:li:leadGenFormResponse:ab-12-cd"}},
        ),
        (
            {"externalIds": "crm-contact-0042", "conversionHappenedAt": (t - 1100) * ms},
            {"happened_ms": (t - 1100) * ms, "user_extra": {"externalIds": ["crm-contact-0042"]}},
        ),
        (
            {"externalIds": ["ext-first", "ext-second"], "conversionHappenedAt": (t - 1200) * ms},
            {"happened_ms": (t - 1200) * ms, "user_extra": {"externalIds": ["ext-first"]}},
        ),
        (
            {
                "firstName": " Bartholomew ",
                "lastName": "Quattlebaum",
                "companyName": "Initech",
                "countryCode": "FRA",
                "conversionHappenedAt": (t - 1300) * ms,
            },
            {
                "happened_ms": (t - 1300) * ms,
                "user_extra": {
                    "userInfo": {
                        "firstName": "Bartholomew",
                        "lastName": "Quattlebaum",
                        "companyName": "Initech",
                        "countryCode": "FR",
                    }
                },
            },
        ),
        (
            {
                "email": "halfname@example.com",
                "firstName": "Ignatius",
                "conversionHappenedAt": (t - 1400) * ms,
            },
            {
                "sha256_email": sha256("halfname@example.com"),
                "happened_ms": (t - 1400) * ms,
                "id_types": ("SHA256_EMAIL",),
            },
        ),
        (
            {"ip_address": "203.0.113.7", "conversionHappenedAt": (t - 1500) * ms},
            {"happened_ms": (t - 1500) * ms, "id_types": ("PLAINTEXT_IP_ADDRESS",)},
        ),
        (
            {
                "ip_address": "::ffff:198.51.100.23",
                "acxiom_id": "AX-778899",
                "conversionHappenedAt": (t - 1600) * ms,
            },
            {"happened_ms": (t - 1600) * ms, "id_types": ("ACXIOM_ID", "PLAINTEXT_IP_ADDRESS")},
        ),
        (
            {"google_aid": "38400000-8CF0-11BD-B23E-10B96E40000D", "conversionHappenedAt": (t - 1700) * ms},
            {"happened_ms": (t - 1700) * ms, "id_types": ("GOOGLE_AID",)},
        ),
        (
            {
                "email": "gina@example.com",
                "google_aid": "00000000-0000-0000-0000-000000000000",
                "conversionHappenedAt": (t - 1800) * ms,
                "currencyCode": "JPY",
                "amount": 0,
            },
            {
                "sha256_email": sha256("gina@example.com"),
                "happened_ms": (t - 1800) * ms,
                "conversion_value": {"currencyCode": "JPY", "amount": "0.00"},
                "id_types": ("SHA256_EMAIL",),
            },
        ),
        (
            {"email": "harry@example.com", "conversionHappenedAt": (t - 1900) * ms, "currencyCode": "USD"},
            {
                "sha256_email": sha256("harry@example.com"),
                "happened_ms": (t - 1900) * ms,
                "id_types": ("SHA256_EMAIL",),
            },
        ),
        (
            {"email": "ivy@example.com", "countryCode": "ZZ", "conversionHappenedAt": (t - 2000) * ms},
            {
                "sha256_email": sha256("ivy@example.com"),
                "happened_ms": (t - 2000) * ms,
                "id_types": ("SHA256_EMAIL",),
            },
        ),
        (
            {"email": "jack@example.com", "conversion": second, "conversionHappenedAt": (t - 2100) * ms},
            {
                "rule": "second",
                "sha256_email": sha256("jack@example.com"),
                "happened_ms": (t - 2100) * ms,
                "id_types": ("SHA256_EMAIL",),
            },
        ),
        (
            {
                "email": "kate@example.com",
                "conversion": rule_urn(second),
                "conversionHappenedAt": (t - 2200) * ms,
            },
            {
                "rule": "second",
                "sha256_email": sha256("kate@example.com"),
                "happened_ms": (t - 2200) * ms,
                "id_types": ("SHA256_EMAIL",),
            },
        ),
        (
            {
                "email": "liam@example.com",
                "eventId": "order-1001",
                "conversionHappenedAt": (t - 2300) * ms,
                "currencyCode": "CHF",
                "amount": "1500",
            },
            {
                "sha256_email": sha256("liam@example.com"),
                "happened_ms": (t - 2300) * ms,
                "conversion_value": {"currencyCode": "CHF", "amount": "1500.00"},
                "id_types": ("SHA256_EMAIL",),
            },
        ),
        (
            {"email": "mia@example.com", "conversionHappenedAt": (t - 80 * DAY) * ms},
            {
                "sha256_email": sha256("mia@example.com"),
                "happened_ms": (t - 80 * DAY) * ms,
                "id_types": ("SHA256_EMAIL",),
            },
        ),
        (
            {
                "email": "noah@example.com",
                "li_fat_id": "c0ffee00-2222-4b1b-8f2e-5d9a0b7c8e21",
                "ip_address": "192.0.2.44",
                "conversionHappenedAt": (t - 2400) * ms,
            },
            {
                "sha256_email": sha256("noah@example.com"),
                "happened_ms": (t - 2400) * ms,
                "id_types": (
                    "SHA256_EMAIL",
                    "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID",
                    "PLAINTEXT_IP_ADDRESS",
                ),
            },
        ),
        # ---- invalid rows ------------------------------------------------------------------------
        (
            {
                "email": "old.timer@example.com",
                "firstName": "Methuselah",
                "lastName": "Oldfield",
                "conversionHappenedAt": (t - 120 * DAY) * ms,
            },
            {"expect": "too_old", "sha256_email": sha256("old.timer@example.com")},
        ),
        (
            {"email": "time.traveller@example.com", "conversionHappenedAt": (t + 2 * DAY) * ms},
            {"expect": "in_future", "sha256_email": sha256("time.traveller@example.com")},
        ),
        (
            {"email": "no.time@example.com", "conversionHappenedAt": None},
            {"expect": "missing_timestamp", "sha256_email": sha256("no.time@example.com")},
        ),
        (
            {"email": "bad.time@example.com", "conversionHappenedAt": "last tuesday"},
            {"expect": "invalid_timestamp", "sha256_email": sha256("bad.time@example.com")},
        ),
        (
            {
                "email": "bad.currency@example.com",
                "conversionHappenedAt": (t - 50) * ms,
                "currencyCode": "XYZ",
                "amount": 10,
            },
            {"expect": "invalid_currency", "sha256_email": sha256("bad.currency@example.com")},
        ),
        (
            {"email": "no.currency@example.com", "conversionHappenedAt": (t - 51) * ms, "amount": 10},
            {"expect": "invalid_currency", "sha256_email": sha256("no.currency@example.com")},
        ),
        (
            {
                "email": "refund@example.com",
                "conversionHappenedAt": (t - 52) * ms,
                "currencyCode": "USD",
                "amount": -25,
            },
            {"expect": "invalid_amount", "sha256_email": sha256("refund@example.com")},
        ),
        (
            {
                "email": "tbd.amount@example.com",
                "conversionHappenedAt": (t - 53) * ms,
                "currencyCode": "USD",
                "amount": "TBD",
            },
            {"expect": "invalid_amount", "sha256_email": sha256("tbd.amount@example.com")},
        ),
        (
            {"firstName": "Philomena", "conversionHappenedAt": (t - 54) * ms},
            {"expect": "incomplete_user_info"},
        ),
        (
            {"lastName": "Vandersloot", "companyName": "Globex", "conversionHappenedAt": (t - 55) * ms},
            {"expect": "incomplete_user_info"},
        ),
        (
            {"conversionHappenedAt": (t - 56) * ms, "currencyCode": "USD", "amount": 5},
            {"expect": "no_identifier"},
        ),
        (
            {"email": "not-an-email", "conversionHappenedAt": (t - 57) * ms},
            {"expect": "invalid_email"},
        ),
        (
            {"email": "   ", "sha256_email": "abc123", "conversionHappenedAt": (t - 58) * ms},
            {"expect": "invalid_hash"},
        ),
        (
            {"ip_address": "999.10.10.10", "conversionHappenedAt": (t - 59) * ms},
            {"expect": "invalid_ip"},
        ),
        (
            {
                "email": "ipv6.user@example.com",
                "ip_address": "2001:db8::1",
                "conversionHappenedAt": (t - 60) * ms,
            },
            {"expect": "invalid_ip", "sha256_email": sha256("ipv6.user@example.com")},
        ),
        (
            {"google_aid": "not-a-uuid", "conversionHappenedAt": (t - 61) * ms},
            {"expect": "invalid_google_aid"},
        ),
        (
            {
                "firstName": "Zebulon",
                "lastName": "Krumholtz",
                "countryCode": "Atlantis",
                "conversionHappenedAt": (t - 62) * ms,
            },
            {"expect": "invalid_country_code"},
        ),
        (
            {
                "email": "ghost.rule@example.com",
                "conversion": "{missing}",
                "conversionHappenedAt": (t - 63) * ms,
            },
            {
                "expect": "missing_conversion_rule",
                "rule": "missing",
                "sha256_email": sha256("ghost.rule@example.com"),
            },
        ),
        (
            {
                "email": "tag.rule@example.com",
                "conversion": "{insight}",
                "conversionHappenedAt": (t - 64) * ms,
            },
            {
                "expect": "missing_conversion_rule",
                "rule": "insight",
                "sha256_email": sha256("tag.rule@example.com"),
            },
        ),
        (
            {
                "email": "garbage.rule@example.com",
                "conversion": "Q4 campaign",
                "conversionHappenedAt": (t - 65) * ms,
            },
            {"expect": "missing_conversion_rule", "sha256_email": sha256("garbage.rule@example.com")},
        ),
        (
            {"email": "long.id@example.com", "eventId": "x" * 70, "conversionHappenedAt": (t - 66) * ms},
            {"expect": "invalid_event_id"},
        ),
    ]
    for n in range(filler):
        address = f"bulk.buyer{n}@example.com"
        specs.append(
            (
                {
                    "email": address,
                    "conversionHappenedAt": (t - 3000 - n) * ms,
                    "currencyCode": "USD",
                    "amount": n + 0.5,
                },
                {
                    "sha256_email": sha256(address),
                    "happened_ms": (t - 3000 - n) * ms,
                    "conversion_value": {"currencyCode": "USD", "amount": f"{n}.50"},
                    "id_types": ("SHA256_EMAIL",),
                },
            )
        )
    rows = []
    for seq, (values, expected) in enumerate(specs, start=1):
        values = {"crm_id": f"crm-{seq:03d}", **values}
        if isinstance(values.get("conversion"), str):
            values["conversion"] = values["conversion"].format(**rule_ids)
        values.setdefault("internal_notes", f"call back on day {seq}")
        expected = dict(expected)
        expected.setdefault("expect", SENT)
        rows.append(CrmRow(seq=seq, values=values, **expected))
    return rows


def valid(rows: list[CrmRow]) -> list[CrmRow]:
    return [row for row in rows if row.expect == SENT]


def invalid(rows: list[CrmRow]) -> list[CrmRow]:
    return [row for row in rows if row.expect != SENT]


def raw_pii(rows: list[CrmRow]) -> set[str]:
    """Every raw e-mail, name and IP address in the table: none may appear in a rejects file."""
    found: set[str] = set()
    for row in rows:
        for column in ("email", "firstName", "lastName", "ip_address"):
            value = row.values.get(column)
            if isinstance(value, str) and value.strip() and (column != "email" or "@" in value):
                found.add(value.strip().lower())
    return found
