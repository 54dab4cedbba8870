"""POST /rest/conversionEvents: single CREATE, BATCH_CREATE and the all-or-nothing validation
(docs/linkedin-contract.md §2, §8)."""

from __future__ import annotations

import re
import time

import orjson
import pytest

from .helpers import event

NOW_MS = int(time.time() * 1000)


def test_single_create_needs_no_protocol_header(sandbox, api, rule_id):
    headers = api.headers(**{"X-Restli-Protocol-Version": None})
    response = api.call("POST", "/conversionEvents", headers=headers, json=event(rule_id))
    assert response.status_code == 201
    assert response.content == b""
    # LinkedIn's GTM template posts to the trailing-slash path
    response = api.call("POST", "/conversionEvents/", headers=headers, json=event(rule_id, "evt-2"))
    assert response.status_code == 201
    assert sandbox.admin.event_ids(rule_id) == {"evt-1": 1, "evt-2": 1}


def test_batch_create_accepts_and_stores(sandbox, api, rule_id):
    elements = [event(rule_id, f"e{i}") for i in range(3)]
    response = api.send_events(elements)
    assert response.status_code == 200
    assert response.json() == {"elements": [{"status": 201}] * 3}
    stored = sandbox.admin.events(rule_id)
    assert stored == elements
    rule = api.call("GET", f"/conversions/{rule_id}").json()
    assert abs(rule["lastCallbackAt"] - time.time() * 1000) < 60_000


def test_every_identifier_kind_accepted(sandbox, api, rule_id):
    elements = [
        event(rule_id, "a", user={"userIds": [], "userInfo": {"firstName": "mike", "lastName": "smith"}}),
        event(rule_id, "b", user={"userIds": [], "externalIds": ["crm-42"]}),
        event(rule_id, "c", user={"userIds": [], "lead": "urn:li:leadGenFormResponse:abc"}),
        event(
            rule_id,
            "d",
            user={
                "userIds": [
                    {"idType": t, "idValue": "x"}
                    for t in ("LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", "ACXIOM_ID", "ORACLE_MOAT_ID")
                ]
                + [
                    {"idType": "PLAINTEXT_IP_ADDRESS", "idValue": "1.2.3.4"},
                    {"idType": "GOOGLE_AID", "idValue": "g"},
                ]
            },
        ),
        event(rule_id, "e", conversionValue={"currencyCode": "EUR", "amount": "0"}),
    ]
    elements[4].pop("eventId")
    assert api.send_events(elements).status_code == 200


def test_batch_is_all_or_nothing_and_lists_every_failing_index(sandbox, api, rule_id):
    elements = [
        event(rule_id, "ok-0"),
        event(rule_id, "bad-1", conversionValue={"currencyCode": "USD"}),
        event(rule_id, "ok-2"),
        event(rule_id, "bad-3", user={"userIds": [], "userInfo": {"title": "cto"}}),
        {"conversion": f"urn:lla:llaPartnerConversion:{rule_id}", "user": {}},
    ]
    response = api.send_events(elements)
    assert response.status_code == 422
    message = response.json()["message"]
    assert response.json()["status"] == 422
    required = "field is required but not found and has no default value"
    assert f"Index: 1, ERROR :: /conversionValue/amount :: {required}\n" in message
    assert (
        f"Index: 3, ERROR :: /user/userInfo/firstName :: {required}\nERROR :: /user/userInfo/lastName"
        in message
    )
    assert (
        f"Index: 4, ERROR :: /conversionHappenedAt :: {required}\nERROR :: /user/userIds :: {required}"
        in message
    )
    assert [int(i) for i in re.findall(r"Index: (\d+),", message)] == [1, 3, 4]
    assert sandbox.admin.stats()["events_total"] == 0
    assert sandbox.admin.stats()["batches_rejected"] == 1


@pytest.mark.parametrize(
    ("overrides", "path", "text"),
    [
        ({"conversion": "urn:li:conversion:1"}, "/conversion", "Invalid Urn format"),
        ({"conversionHappenedAt": "yesterday"}, "/conversionHappenedAt", "cannot be coerced to Long"),
        ({"eventId": "x" * 65}, "/eventId", "64"),
        (
            {"user": {"userIds": [{"idType": "EMAIL", "idValue": "a"}]}},
            "/user/userIds/0/idType",
            "enum symbol",
        ),
        ({"user": {"userIds": [], "externalIds": [42]}}, "/user/externalIds/0", "not a string"),
        ({"user": {"userIds": [], "lead": "urn:li:lead:1"}}, "/user/lead", "Invalid Urn format"),
        ({"user": {"userInfo": {"firstName": "a", "lastName": "b"}}}, "/user/userIds", "field is required"),
        (
            {"conversionValue": {"currencyCode": "USD", "amount": 12.5}},
            "/conversionValue/amount",
            "not a string",
        ),
        (
            {"conversionValue": {"currencyCode": "usd", "amount": "1"}},
            "/conversionValue/currencyCode",
            "ISO-4217",
        ),
        (
            {"conversionValue": {"currencyCode": "XYZ", "amount": "1"}},
            "/conversionValue/currencyCode",
            "ISO-4217",
        ),
        ({"conversionValue": {"currencyCode": "USD", "amount": "1,5"}}, "/conversionValue/amount", "decimal"),
    ],
)
def test_schema_errors(sandbox, api, rule_id, overrides, path, text):
    response = api.send_events([event(rule_id, "fine"), event(rule_id, **overrides)])
    assert response.status_code == 422
    line = response.json()["message"].splitlines()[0]
    assert line.startswith(f"Index: 1, ERROR :: {path} :: ")
    assert text in line


def test_single_create_error_has_no_index(sandbox, api, rule_id):
    response = api.call(
        "POST", "/conversionEvents", json=event(rule_id, conversionValue={"currencyCode": "USD"})
    )
    assert response.status_code == 422
    assert response.json()["message"].startswith("ERROR :: /conversionValue/amount :: ")


def test_id_type_is_version_gated(sandbox, api, rule_id):
    sandbox.admin.configure(
        active_versions=["202606", "202607", "202609"], oracle_moat_id_removed_from="202609"
    )
    ip = event(rule_id, user={"userIds": [{"idType": "SHA256_IP_ADDRESS", "idValue": "f" * 64}]})
    assert api.send_events([ip], **{"LinkedIn-Version": "202606"}).status_code == 422
    assert api.send_events([ip], **{"LinkedIn-Version": "202607"}).status_code == 200
    moat = event(rule_id, user={"userIds": [{"idType": "ORACLE_MOAT_ID", "idValue": "m"}]})
    assert api.send_events([moat], **{"LinkedIn-Version": "202607"}).status_code == 200
    assert api.send_events([moat], **{"LinkedIn-Version": "202609"}).status_code == 422


def test_rule_must_exist_be_enabled_and_conversions_api(sandbox, api, rule_id):
    tag_rule = sandbox.admin.create_rule(
        name="tag", type="LEAD", conversionMethod="INSIGHT_TAG_URL_MATCH_RULES"
    )["id"]
    disabled = sandbox.admin.create_rule(name="off", type="LEAD", enabled=False)["id"]
    elements = [
        event(rule_id, "a"),
        event(tag_rule, "b"),
        event(disabled, "c"),
        event(999, "d"),
        event(rule_id, "e"),
    ]
    response = api.send_events(elements)
    assert response.status_code == 400
    assert response.json() == {
        "message": "Incorrect conversions information provided. "
        "Conversion's method should be CONVERSIONS_API, indices [1, 2, 3] (0-indexed)",
        "status": 400,
    }
    assert sandbox.admin.stats()["events_total"] == 0


@pytest.mark.parametrize(
    "happened",
    [NOW_MS - 91 * 86_400_000, NOW_MS + 3_600_000, NOW_MS // 1000],
    ids=["too-old", "future", "seconds-not-ms"],
)
def test_time_window(sandbox, api, rule_id, happened):
    response = api.send_events([event(rule_id, "a"), event(rule_id, "b", conversionHappenedAt=happened)])
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "INVALID_CONVERSION_TIME_FIELD_VALUE"
    assert body["message"].startswith("Index: 1, ERROR :: /conversionHappenedAt :: ")


def test_no_identifier_is_400(sandbox, api, rule_id):
    response = api.send_events([event(rule_id, user={"userIds": [], "externalIds": []})])
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_USER_IDENTIFICATION_FIELD_VALUE"


def test_batch_size_limit(sandbox, api, rule_id):
    too_many = [event(rule_id, f"e{i}") for i in range(5001)]
    response = api.send_events(too_many)
    assert response.status_code == 400
    assert "5000" in response.json()["message"]
    sandbox.admin.configure(max_batch_size=2)
    assert api.send_events(too_many[:3]).status_code == 400
    assert api.send_events(too_many[:2]).status_code == 200


def test_poisoned_event_ids_indexed_and_opaque(sandbox, api, rule_id):
    sandbox.admin.poison(["p-1", "p-3"])
    elements = [event(rule_id, f"p-{i}") for i in range(4)]
    response = api.send_events(elements)
    assert response.status_code == 422
    lines = response.json()["message"].splitlines()
    assert [line.split(" :: ")[0] for line in lines] == ["Index: 1, ERROR", "Index: 3, ERROR"]
    assert all(" :: /eventId :: " in line for line in lines)
    sandbox.admin.poison(["p-1"], message_format="opaque")
    opaque = api.send_events(elements)
    assert opaque.status_code == 422
    assert "Index" not in opaque.json()["message"]
    assert api.send_events(elements[2:]).status_code == 200
    assert sandbox.admin.event_ids(rule_id) == {"p-2": 1, "p-3": 1}


def test_duplicates_are_kept_and_counted(sandbox, api, rule_id):
    assert api.send_events([event(rule_id, "same"), event(rule_id, "other")]).status_code == 200
    assert api.send_events([event(rule_id, "same")]).status_code == 200
    stats = sandbox.admin.stats()
    assert stats["events_total"] == 3
    assert stats["distinct_event_ids"] == 2
    assert stats["duplicate_event_ids"] == 1
    assert sandbox.admin.event_ids() == {"same": 2, "other": 1}


def test_mixed_rules_in_one_batch(sandbox, api, rule_id):
    other = sandbox.admin.create_rule(name="second", type="LEAD")["id"]
    assert api.send_events([event(rule_id, "a"), event(other, "b"), event(other, "c")]).status_code == 200
    assert sandbox.admin.stats()["events_by_rule"] == {str(rule_id): 1, str(other): 2}
    assert [e["eventId"] for e in sandbox.admin.events(other)] == ["b", "c"]
    assert [e["eventId"] for e in sandbox.admin.events(offset=1, limit=1)] == ["b"]


def test_invalid_json_and_wrong_method(sandbox, api, rule_id):
    headers = api.headers(**{"Content-Type": "application/json"})
    assert api.call("POST", "/conversionEvents", headers=headers, data=b"{nope").status_code == 400
    batch_headers = api.headers(**{"X-RestLi-Method": "BATCH_CREATE"})
    assert (
        api.call("POST", "/conversionEvents", headers=batch_headers, json=[event(rule_id)]).status_code == 400
    )


def test_five_thousand_event_batch(sandbox, api, rule_id):
    elements = [event(rule_id, f"bulk-{i:05d}") for i in range(5000)]
    body = orjson.dumps({"elements": elements})
    headers = api.headers(**{"X-RestLi-Method": "BATCH_CREATE", "Content-Type": "application/json"})
    started = time.perf_counter()
    response = api.call("POST", "/conversionEvents", headers=headers, data=body)
    elapsed = time.perf_counter() - started
    print(f"\n5,000-event BATCH_CREATE round trip ({len(body) / 1e6:.1f} MB): {elapsed * 1000:.1f} ms")
    assert response.status_code == 200
    assert len(response.json()["elements"]) == 5000
    stats = sandbox.admin.stats()
    assert stats["events_total"] == stats["distinct_event_ids"] == 5000
