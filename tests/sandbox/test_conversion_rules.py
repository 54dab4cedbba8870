"""/rest/conversions: create, get, finder paging, PARTIAL_UPDATE and rule validation
(docs/linkedin-contract.md §3, §8)."""

from __future__ import annotations

import pytest

from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID

from .helpers import ACCOUNT_URN, CAMPAIGN, link_key


def test_create_returns_entity_id_header_and_defaults(sandbox, api):
    response = api.create_rule()
    assert response.status_code == 201
    rule = response.json()
    assert response.headers["x-restli-id"] == str(rule["id"])
    assert response.headers["Location"] == f"/conversions/{rule['id']}"
    assert rule["account"] == ACCOUNT_URN
    assert rule["enabled"] is True
    assert rule["conversionMethod"] == "CONVERSIONS_API"
    assert (rule["postClickAttributionWindowSize"], rule["viewThroughAttributionWindowSize"]) == (30, 7)
    assert rule["attributionType"] == "LAST_TOUCH_BY_CAMPAIGN"
    assert rule["valueType"] == "DYNAMIC"
    assert rule["campaigns"] == rule["associatedCampaigns"] == []
    assert rule["created"] == rule["lastModified"] > 0
    assert api.call("GET", f"/conversions/{rule['id']}").json() == rule


def test_retried_create_makes_a_second_rule(sandbox, api):
    assert api.create_rule().json()["id"] != api.create_rule().json()["id"]


def test_auto_association_links_known_campaigns_once(sandbox, api):
    sandbox.admin.add_campaigns("510000001", [11, 12])
    sandbox.admin.add_campaigns("510000002", [99])
    rule = api.create_rule("?autoAssociationType=ALL_CAMPAIGNS").json()
    assert rule["campaigns"] == [f"{CAMPAIGN}11", f"{CAMPAIGN}12"]
    assert [a["campaign"] for a in rule["associatedCampaigns"]] == rule["campaigns"]
    sandbox.admin.add_campaigns("510000001", [13])
    assert len(api.call("GET", f"/conversions/{rule['id']}").json()["campaigns"]) == 2
    assert api.create_rule().json()["campaigns"] == []


@pytest.mark.parametrize(
    ("fields", "status", "text"),
    [
        ({"type": "NOT_A_TYPE"}, 400, "type must be one of"),
        ({"postClickAttributionWindowSize": 14}, 400, "postClickAttributionWindowSize"),
        ({"type": "KEY_PAGE_VIEW", "viewThroughAttributionWindowSize": 365}, 400, "365"),
        ({"attributionType": "FIRST_TOUCH"}, 400, "attributionType"),
        ({"account": "510000001"}, 400, "urn:li:sponsoredAccount"),
        ({"id": 5}, 400, "Read-only"),
        ({"name": None}, 422, "ERROR :: /name :: field is required"),
    ],
)
def test_invalid_rules_refused(sandbox, api, fields, status, text):
    response = api.create_rule(**fields)
    assert response.status_code == status
    assert text in response.json()["message"]
    assert sandbox.admin.stats()["rules"] == 0


def test_year_window_allowed_for_the_five_types(sandbox, api):
    for rule_type in ("SUBMIT_APPLICATION", "PURCHASE", "ADD_TO_CART", "QUALIFIED_LEAD", "LEAD"):
        response = api.create_rule(type=rule_type, postClickAttributionWindowSize=365)
        assert response.status_code == 201, response.text


def test_get_unknown_or_other_account_is_404(sandbox, api):
    rule_id = api.create_rule().json()["id"]
    assert api.call("GET", "/conversions/1").status_code == 404
    other = "urn%3Ali%3AsponsoredAccount%3A7"
    assert api.call("GET", f"/conversions/{rule_id}?account={other}").status_code == 404
    mine = "urn%3Ali%3AsponsoredAccount%3A510000001"
    assert api.call("GET", f"/conversions/{rule_id}?account={mine}").status_code == 200


def test_finder_pages_with_total_minus_one(sandbox, api):
    ids = [api.create_rule(name=f"r{i}").json()["id"] for i in range(5)]
    api.create_rule(account="urn:li:sponsoredAccount:42")
    account = "urn%3Ali%3AsponsoredAccount%3A510000001"
    seen = []
    start = 0
    while True:
        page = api.call("GET", f"/conversions?q=account&account={account}&start={start}&count=2").json()
        assert page["paging"] == {"start": start, "count": 2, "links": [], "total": -1}
        seen += [el["id"] for el in page["elements"]]
        if len(page["elements"]) < 2:
            break
        start += 2
    assert seen == ids
    projected = api.call("GET", f"/conversions?q=account&account={account}&fields=id,name").json()
    assert projected["elements"][0] == {"id": ids[0], "name": "r0"}
    assert api.call("GET", "/conversions?q=owner").status_code == 400


def test_partial_update(sandbox, api):
    rule = api.create_rule().json()
    account = "urn%3Ali%3AsponsoredAccount%3A510000001"
    path = f"/conversions/{rule['id']}?account={account}"
    headers = api.headers(**{"X-RestLi-Method": "PARTIAL_UPDATE"})
    response = api.call(
        "POST", path, headers=headers, json={"patch": {"$set": {"name": "renamed", "enabled": False}}}
    )
    assert response.status_code == 204
    assert response.content == b""
    updated = api.call("GET", path).json()
    assert (updated["name"], updated["enabled"]) == ("renamed", False)
    assert updated["lastModified"] >= rule["lastModified"]
    # the method header is optional: POST on an entity id is PARTIAL_UPDATE
    assert api.call("POST", path, json={"patch": {"$set": {"enabled": True}}}).status_code == 204


def test_partial_update_refusals(sandbox, api):
    rule_id = api.create_rule().json()["id"]
    path = f"/conversions/{rule_id}"
    account = api.call("POST", path, json={"patch": {"$set": {"account": "urn:li:sponsoredAccount:9"}}})
    assert account.status_code == 400
    assert "account" in account.json()["message"]
    assert api.call("POST", path, json={"patch": {"$set": {"type": "BOGUS"}}}).status_code == 400
    year_on_purchase = api.call(
        "POST", path, json={"patch": {"$set": {"viewThroughAttributionWindowSize": 365}}}
    )
    assert year_on_purchase.status_code == 204
    to_page_view = api.call("POST", path, json={"patch": {"$set": {"type": "KEY_PAGE_VIEW"}}})
    assert to_page_view.status_code == 400, "365-day window not allowed for KEY_PAGE_VIEW"
    assert api.call("POST", path, json={"name": "no patch wrapper"}).status_code == 400
    assert api.call("POST", "/conversions/1", json={"patch": {"$set": {"name": "x"}}}).status_code == 404
    assert api.call("GET", path).json()["account"] == ACCOUNT_URN


def test_campaigns_patch_replaces_list_and_syncs_links(sandbox, api):
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, [1, 2, 3])
    rule_id = api.create_rule().json()["id"]
    key = link_key(1, rule_id)
    assert api.call("PUT", f"/campaignConversions/{key}").status_code == 204
    patch = {"patch": {"$set": {"campaigns": [f"{CAMPAIGN}2", f"{CAMPAIGN}3"]}}}
    assert api.call("POST", f"/conversions/{rule_id}", json=patch).status_code == 204
    rule = api.call("GET", f"/conversions/{rule_id}").json()
    assert rule["campaigns"] == [f"{CAMPAIGN}2", f"{CAMPAIGN}3"]
    assert [a["campaign"] for a in rule["associatedCampaigns"]] == rule["campaigns"]
    assert api.call("GET", f"/campaignConversions/{key}").status_code == 404
    assert api.call("GET", f"/campaignConversions/{link_key(3, rule_id)}").status_code == 200


def test_batch_create_rules(sandbox, api):
    headers = api.headers(**{"X-RestLi-Method": "BATCH_CREATE"})
    good = {"name": "a", "account": ACCOUNT_URN, "type": "LEAD"}
    body = {"elements": [good, {**good, "type": "WRONG"}]}
    response = api.call("POST", "/conversions", headers=headers, json=body)
    assert response.status_code == 200
    statuses = [el["status"] for el in response.json()["elements"]]
    assert statuses == [201, 400]
    assert sandbox.admin.stats()["rules"] == 1


def test_qualified_lead_types_can_be_version_gated(sandbox, api):
    sandbox.admin.configure(qualified_lead_types_from="209901")
    assert api.create_rule(type="MARKETING_QUALIFIED_LEAD").status_code == 400
    sandbox.admin.configure(qualified_lead_types_from=None)
    assert api.create_rule(type="SALES_QUALIFIED_LEAD").status_code == 201
