"""Rest.li strings are compared with the literal examples of docs/linkedin-contract.md (§4.2, §4.5,
§4.8)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_linkedin_capi.hooks._restli import (
    association_key,
    campaign_of_key,
    encode_urn,
    query_string,
    restli_list,
)


def test_encode_urn_encodes_every_reserved_character():
    assert encode_urn("urn:li:sponsoredCampaign:123") == "urn%3Ali%3AsponsoredCampaign%3A123"
    assert encode_urn("a/b c,(d)") == "a%2Fb%20c%2C%28d%29"


def test_association_key_matches_contract_4_5():
    assert (
        association_key("urn:li:sponsoredCampaign:1", "urn:lla:llaPartnerConversion:9")
        == "(campaign:urn%3Ali%3AsponsoredCampaign%3A1,conversion:urn%3Alla%3AllaPartnerConversion%3A9)"
    )


def test_association_key_matches_contract_4_2_and_accepts_plain_ids():
    expected = (
        "(campaign:urn%3Ali%3AsponsoredCampaign%3A123,conversion:urn%3Alla%3AllaPartnerConversion%3A456)"
    )
    assert association_key(123, "456") == expected
    assert association_key("urn:li:sponsoredCampaign:123", 456) == expected


def test_association_key_is_never_double_encoded():
    key = association_key("urn:li:sponsoredCampaign:1", "urn:lla:llaPartnerConversion:9")
    assert "%25" not in key
    with pytest.raises(ValueError, match="campaign"):
        association_key("urn%3Ali%3AsponsoredCampaign%3A1", 9)


def test_batch_ids_list_matches_contract_4_5():
    keys = [association_key(1, 9), association_key(2, 9)]
    assert restli_list(keys) == (
        "List((campaign:urn%3Ali%3AsponsoredCampaign%3A1,conversion:urn%3Alla%3AllaPartnerConversion%3A9),"
        "(campaign:urn%3Ali%3AsponsoredCampaign%3A2,conversion:urn%3Alla%3AllaPartnerConversion%3A9))"
    )


def test_campaign_finder_list_matches_contract_4_8():
    value = restli_list(
        [encode_urn("urn:li:sponsoredCampaign:123"), encode_urn("urn:li:sponsoredCampaign:4")]
    )
    assert query_string([("q", "campaigns"), ("campaigns", value)]) == (
        "q=campaigns&campaigns=List(urn%3Ali%3AsponsoredCampaign%3A123,urn%3Ali%3AsponsoredCampaign%3A4)"
    )


def test_campaign_of_key_reads_encoded_and_decoded_keys():
    key = association_key(77, 9)
    assert campaign_of_key(key) == "urn:li:sponsoredCampaign:77"
    assert campaign_of_key(
        "(conversion:urn:lla:llaPartnerConversion:9,campaign:urn:li:sponsoredCampaign:5)"
    ) == ("urn:li:sponsoredCampaign:5")
    assert campaign_of_key("(conversion:x)") is None


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=0, max_value=10**15))
def test_association_key_round_trips(campaign, conversion):
    key = association_key(campaign, conversion)
    assert key.startswith("(campaign:urn%3Ali%3AsponsoredCampaign%3A")
    assert key.count("(") == 1
    assert key.count(")") == 1
    assert key.count(",") == 1
    assert campaign_of_key(key) == f"urn:li:sponsoredCampaign:{campaign}"
