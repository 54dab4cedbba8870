"""/rest/campaignConversions: Rest.li compound keys, batch PUT, GET, DELETE and the finder
(docs/linkedin-contract.md §4, §8). A link needs a campaign registered in the rule's ad account (§4.12)."""

from __future__ import annotations

import json

import pytest

from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID

from .helpers import CAMPAIGN, CONVERSION, link_key


def test_single_put_get_delete(sandbox, api, rule_id):
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, [123])
    path = f"/campaignConversions/{link_key(123, rule_id)}"
    body = {"campaign": f"{CAMPAIGN}123", "conversion": f"{CONVERSION}{rule_id}"}
    put = api.call("PUT", path, json=body)
    assert put.status_code == 204
    assert put.content == b""
    got = api.call("GET", path)
    assert got.status_code == 200
    link = got.json()
    assert set(link) == {"associatedAt", "campaign", "conversion"}
    assert (link["campaign"], link["conversion"]) == (body["campaign"], body["conversion"])
    # a repeated PUT re-asserts the link and keeps its associatedAt
    assert api.call("PUT", path).status_code == 204
    assert api.call("GET", path).json()["associatedAt"] == link["associatedAt"]
    rule = api.call("GET", f"/conversions/{rule_id}").json()
    assert rule["campaigns"] == [f"{CAMPAIGN}123"]
    assert rule["associatedCampaigns"] == [
        {"campaign": f"{CAMPAIGN}123", "associatedAt": link["associatedAt"]}
    ]
    assert api.call("DELETE", path).status_code == 204
    assert api.call("GET", path).status_code == 404
    assert api.call("DELETE", path).status_code == 404
    assert api.call("GET", f"/conversions/{rule_id}").json()["campaigns"] == []


def test_key_order_is_free(sandbox, api, rule_id):
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, [5])
    key = (
        f"(conversion:urn%3Alla%3AllaPartnerConversion%3A{rule_id},campaign:urn%3Ali%3AsponsoredCampaign%3A5)"
    )
    assert api.call("PUT", f"/campaignConversions/{key}").status_code == 204
    assert api.call("GET", f"/campaignConversions/{link_key(5, rule_id)}").status_code == 200


@pytest.mark.parametrize(
    "key",
    [
        "(campaign:urn%253Ali%253AsponsoredCampaign%253A1,conversion:urn%253Alla%253AllaPartnerConversion%253A{r})",
        "%28campaign%3Aurn%253Ali%253AsponsoredCampaign%253A1%2Cconversion%3Aurn%253Alla%253AllaPartnerConversion%253A{r}%29",
        "(campaign:urn:li:sponsoredCampaign:1,conversion:urn:lla:llaPartnerConversion:{r})",
        "(campaign:urn%3Ali%3AsponsoredCampaign%3A1)",
        "(campaign:urn%3Ali%3Aconversion%3A1,conversion:urn%3Alla%3AllaPartnerConversion%3A{r})",
    ],
    ids=["double-encoded", "fully-encoded-twice", "unencoded-values", "missing-conversion", "wrong-urn"],
)
def test_malformed_keys_refused(sandbox, api, rule_id, key):
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, [1])  # refused for the key, not for the campaign
    response = api.call("PUT", "/campaignConversions/" + key.format(r=rule_id))
    assert response.status_code == 400
    assert sandbox.admin.stats()["events_total"] == 0
    assert api.call("GET", f"/conversions/{rule_id}").json()["campaigns"] == []


def test_protocol_2_required_on_compound_keys(sandbox, api, rule_id):
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, [1])
    headers = api.headers(**{"X-Restli-Protocol-Version": None})
    response = api.call("PUT", f"/campaignConversions/{link_key(1, rule_id)}", headers=headers)
    assert response.status_code == 400
    assert "2.0.0" in response.json()["message"]


def test_unknown_rule_is_404(sandbox, api):
    assert api.call("PUT", f"/campaignConversions/{link_key(1, 777)}").status_code == 404


def test_batch_put(sandbox, api, rule_id):
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, [1, 2, 3])
    keys = [link_key(c, rule_id) for c in (1, 2)] + [link_key(3, 999)]
    entities = {
        key: {"campaign": f"{CAMPAIGN}{c}", "conversion": f"{CONVERSION}{r}"}
        for key, (c, r) in zip(keys, [(1, rule_id), (2, rule_id), (3, 999)], strict=True)
    }
    response = api.call(
        "PUT", f"/campaignConversions?ids=List({','.join(keys)})", json={"entities": entities}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["results"] == {keys[0]: {"status": 204}, keys[1]: {"status": 204}}
    assert body["errors"][keys[2]]["status"] == 404
    rule = api.call("GET", f"/conversions/{rule_id}").json()
    assert rule["campaigns"] == [f"{CAMPAIGN}1", f"{CAMPAIGN}2"]


def test_batch_put_refusals(sandbox, api, rule_id):
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, [1, 2])
    key = link_key(1, rule_id)
    entity = {"campaign": f"{CAMPAIGN}1", "conversion": f"{CONVERSION}{rule_id}"}
    encoded_list = f"/campaignConversions?ids=List%28{key.replace('(', '%28').replace(')', '%29')}%29"
    assert api.call("PUT", encoded_list, json={"entities": {key: entity}}).status_code == 400
    other = link_key(2, rule_id)
    mismatch = api.call("PUT", f"/campaignConversions?ids=List({key})", json={"entities": {other: entity}})
    assert mismatch.status_code == 400
    no_protocol = api.headers(**{"X-Restli-Protocol-Version": None})
    response = api.call(
        "PUT", f"/campaignConversions?ids=List({key})", headers=no_protocol, json={"entities": {key: entity}}
    )
    assert response.status_code == 400
    assert api.call("GET", f"/conversions/{rule_id}").json()["campaigns"] == []


def test_finder_by_campaigns(sandbox, api, rule_id):
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, [1, 2, 3])
    other = sandbox.admin.create_rule(name="other", type="LEAD")["id"]
    for campaign, rule in ((1, rule_id), (2, rule_id), (1, other), (3, other)):
        assert api.call("PUT", f"/campaignConversions/{link_key(campaign, rule)}").status_code == 204
    campaigns = "List(urn%3Ali%3AsponsoredCampaign%3A1,urn%3Ali%3AsponsoredCampaign%3A2)"
    path = f"/campaignConversions?q=campaigns&campaigns={campaigns}"
    found = api.call("GET", path).json()
    pairs = sorted((el["campaign"], el["conversion"]) for el in found["elements"])
    assert pairs == sorted(
        [
            (f"{CAMPAIGN}1", f"{CONVERSION}{rule_id}"),
            (f"{CAMPAIGN}2", f"{CONVERSION}{rule_id}"),
            (f"{CAMPAIGN}1", f"{CONVERSION}{other}"),
        ]
    )
    assert api.call("GET", path.replace("%3A", "%253A")).status_code == 400
    assert (
        api.call("GET", path, headers=api.headers(**{"X-Restli-Protocol-Version": None})).status_code == 400
    )


def test_url_too_long_is_414(sandbox, api, rule_id):
    keys = ",".join(link_key(c, rule_id) for c in range(100_000, 100_200))
    response = api.call("PUT", f"/campaignConversions?ids=List({keys})", json={"entities": {}})
    assert response.status_code == 414
    long_path = api.call("GET", "/conversions/" + "1" * 9000)
    assert long_path.status_code == 414


def test_query_tunneling_for_long_batches(sandbox, api, rule_id):
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, range(100_000, 100_060))
    keys = [link_key(c, rule_id) for c in range(100_000, 100_060)]
    query = f"ids=List({','.join(keys)})".encode()
    assert len(query) > 4096
    entities = {key: {"campaign": f"{CAMPAIGN}{100_000 + i}"} for i, key in enumerate(keys)}
    boundary = "xyz"
    body = (
        f"--{boundary}\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n".encode()
        + query
        + f"\r\n--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode()
        + json.dumps({"entities": entities}).encode()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = api.headers(
        **{"X-HTTP-Method-Override": "PUT", "Content-Type": f"multipart/mixed; boundary={boundary}"}
    )
    response = api.call("POST", "/campaignConversions", headers=headers, data=body)
    assert response.status_code == 200, response.text
    assert len(response.json()["results"]) == 60
    assert len(api.call("GET", f"/conversions/{rule_id}").json()["campaigns"]) == 60
    finder = "q=campaigns&campaigns=List(urn%3Ali%3AsponsoredCampaign%3A100001)"
    get_headers = api.headers(
        **{"X-HTTP-Method-Override": "GET", "Content-Type": "application/x-www-form-urlencoded"}
    )
    found = api.call("POST", "/campaignConversions", headers=get_headers, data=finder)
    assert [el["campaign"] for el in found.json()["elements"]] == [f"{CAMPAIGN}100001"]


# -- campaigns that the rule's ad account does not have (§4.12: LinkedIn's answer is UNKNOWN) -------------


def test_a_link_to_an_unregistered_campaign_is_refused_naming_it(sandbox, api, rule_id):
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, [1])
    sandbox.admin.add_campaigns("510000002", [2])  # another account's campaign
    for campaign in (2, 3):
        response = api.call("PUT", f"/campaignConversions/{link_key(campaign, rule_id)}")
        assert response.status_code == 400
        assert f"{CAMPAIGN}{campaign}" in response.json()["message"]
        assert f"urn:li:sponsoredAccount:{AD_ACCOUNT_ID}" in response.json()["message"]
    assert api.call("PUT", f"/campaignConversions/{link_key(1, rule_id)}").status_code == 204
    assert api.call("GET", f"/conversions/{rule_id}").json()["campaigns"] == [f"{CAMPAIGN}1"]


def test_a_batch_link_refuses_only_the_unregistered_campaigns(sandbox, api, rule_id):
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, [1])
    keys = [link_key(c, rule_id) for c in (1, 4)]
    entities = {key: {"campaign": f"{CAMPAIGN}{c}"} for key, c in zip(keys, (1, 4), strict=True)}
    path = f"/campaignConversions?ids=List({','.join(keys)})"
    response = api.call("PUT", path, json={"entities": entities})
    assert response.status_code == 200
    body = response.json()
    assert body["results"] == {keys[0]: {"status": 204}}
    assert body["errors"][keys[1]]["status"] == 400
    assert f"{CAMPAIGN}4" in body["errors"][keys[1]]["message"]
    assert api.call("GET", f"/conversions/{rule_id}").json()["campaigns"] == [f"{CAMPAIGN}1"]


def test_a_rule_created_or_patched_with_unregistered_campaigns_is_refused(sandbox, api, rule_id):
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, [1])
    refused = api.create_rule(campaigns=[f"{CAMPAIGN}1", f"{CAMPAIGN}5"])
    assert refused.status_code == 400
    assert f"{CAMPAIGN}5" in refused.json()["message"]
    assert api.create_rule(campaigns=[f"{CAMPAIGN}1"]).json()["campaigns"] == [f"{CAMPAIGN}1"]
    patch = {"patch": {"$set": {"campaigns": [f"{CAMPAIGN}1", f"{CAMPAIGN}6"]}}}
    response = api.call("POST", f"/conversions/{rule_id}", json=patch)
    assert response.status_code == 400
    assert f"{CAMPAIGN}6" in response.json()["message"]
    assert api.call("GET", f"/conversions/{rule_id}").json()["campaigns"] == []


def test_seeding_a_rule_with_campaigns_registers_them(sandbox, api):
    rule = sandbox.admin.create_rule(name="seeded", type="LEAD", campaigns=[7])
    assert rule["campaigns"] == [f"{CAMPAIGN}7"]
    other = api.create_rule().json()["id"]
    assert api.call("PUT", f"/campaignConversions/{link_key(7, other)}").status_code == 204
