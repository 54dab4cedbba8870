"""Pure parts of the sandbox: Rest.li parsing, default versions, fault specs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_provider_linkedin_capi.sandbox.config import default_active_versions
from airflow_provider_linkedin_capi.sandbox.faults import FaultSpec
from airflow_provider_linkedin_capi.sandbox.restli import (
    RestliSyntaxError,
    association_key,
    parse_list,
    split_query,
)


def test_association_key_parsing():
    key = "(campaign:urn%3Ali%3AsponsoredCampaign%3A1,conversion:urn%3Alla%3AllaPartnerConversion%3A9)"
    assert association_key(key) == ("urn:li:sponsoredCampaign:1", "urn:lla:llaPartnerConversion:9")
    with pytest.raises(RestliSyntaxError, match="double-encoded"):
        association_key(key.replace("%3A", "%253A"))


def test_list_parsing_keeps_nested_keys_whole():
    items = parse_list("List((a:1,b:2),(a:3,b:4))", "ids")
    assert items == ["(a:1,b:2)", "(a:3,b:4)"]
    assert parse_list("List()", "ids") == []
    for bad in ("List((a:1)", "List%28x%29", "(x)"):
        with pytest.raises(RestliSyntaxError):
            parse_list(bad, "ids")


def test_split_query_keeps_values_encoded():
    assert split_query(b"q=account&account=urn%3Ali%3Ax%3A1&start=0") == {
        "q": "account",
        "account": "urn%3Ali%3Ax%3A1",
        "start": "0",
    }


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 11, 22, tzinfo=UTC), ["202511", *(f"2026{m:02d}" for m in range(1, 12))]),
        (datetime(2027, 1, 5, tzinfo=UTC), [*(f"2026{m:02d}" for m in range(1, 12)), "202701"]),
        (datetime(2026, 12, 1, tzinfo=UTC), [f"2026{m:02d}" for m in range(1, 12)]),
    ],
)
def test_default_active_versions(now, expected):
    assert list(default_active_versions(now)) == expected


def test_fault_spec_from_cli():
    spec = FaultSpec.from_cli("drop:fraction=0.01,when=after")
    assert (spec.kind, spec.fraction, spec.when) == ("drop", 0.01, "after")
    slow = FaultSpec.from_cli("slow:every=3,delay=0.5,path=/rest/conversionEvents,limit=2,after=1")
    assert (slow.every, slow.delay, slow.path, slow.limit, slow.after) == (
        3,
        0.5,
        "/rest/conversionEvents",
        2,
        1,
    )
    with pytest.raises(ValueError, match="every"):
        FaultSpec.from_cli("429")
