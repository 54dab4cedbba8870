"""The /_sandbox inspection and control API, the ids-only store, SQLite persistence and the CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from airflow_provider_linkedin_capi.sandbox import (
    AD_ACCOUNT_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    STATIC_ACCESS_TOKEN,
)
from airflow_provider_linkedin_capi.sandbox.testing import SandboxProcess

from .helpers import CONVERSION, Api, event, link_key, refresh


def test_health_and_connection_dicts(sandbox):
    assert sandbox.admin.health()["status"] == "ok"
    conn = sandbox.connection()
    assert conn == {
        "conn_type": "linkedin_capi",
        "host": sandbox.base_url + "/rest",
        "login": CLIENT_ID,
        "password": CLIENT_SECRET,
        "extra": {
            "refresh_token": REFRESH_TOKEN,
            "ad_account_id": AD_ACCOUNT_ID,
        },
    }
    static = sandbox.connection(auth="access_token", api_version="202607")
    assert static["extra"]["access_token"] == STATIC_ACCESS_TOKEN
    assert "refresh_token" not in static["extra"]
    assert static["extra"]["api_version"] == "202607"
    assert sandbox.base_url.startswith("http://127.0.0.1:")
    with pytest.raises(ValueError, match="auth"):
        sandbox.connection(auth="basic")


def test_stats_and_reset(sandbox, api, rule_id):
    assert api.send_events([event(rule_id, "a")]).status_code == 200
    assert api.send_events([event(rule_id, "b", conversion="bad")]).status_code == 422
    sandbox.admin.configure(requests_per_minute=5)
    stats = sandbox.admin.stats()
    assert stats["events_total"] == 1
    assert stats["batches_accepted"] == 1
    assert stats["batches_rejected"] == 1
    assert stats["requests_by_status"] == {"200": 2, "422": 1}
    assert stats["tokens_issued"] == 1
    sandbox.admin.reset()
    stats = sandbox.admin.stats()
    assert (stats["events_total"], stats["rules"], stats["tokens_issued"], stats["requests_by_status"]) == (
        0,
        0,
        0,
        {},
    )
    assert sandbox.admin.config()["requests_per_minute"] == 600
    assert api.send_events([event(rule_id)]).status_code == 401, "issued tokens are forgotten on reset"


def test_seeded_rule_fields_and_patch(sandbox, api):
    rule = sandbox.admin.create_rule(
        id=555, name="tag", type="LEAD", conversionMethod="INSIGHT_TAG_URL_MATCH_RULES", campaigns=[1, 2]
    )
    assert rule["id"] == 555
    assert rule["campaigns"] == ["urn:li:sponsoredCampaign:1", "urn:li:sponsoredCampaign:2"]
    assert api.call("GET", f"/campaignConversions/{link_key(2, 555)}").status_code == 200
    sandbox.admin.update_rule(f"{CONVERSION}555", lastCallbackAt=1234, latestFirstPartyCallbackAt=99)
    fetched = api.call("GET", "/conversions/555").json()
    assert (fetched["lastCallbackAt"], fetched["latestFirstPartyCallbackAt"]) == (1234, 99)
    assert fetched["conversionMethod"] == "INSIGHT_TAG_URL_MATCH_RULES"
    next_rule = api.create_rule().json()
    assert next_rule["id"] > 555


def test_callback_lag_hides_last_callback(sandbox, api, rule_id):
    sandbox.admin.configure(callback_lag_seconds=3600)
    assert api.send_events([event(rule_id)]).status_code == 200
    assert "lastCallbackAt" not in api.call("GET", f"/conversions/{rule_id}").json()


def test_config_rejects_unknown_or_bad_settings(sandbox):
    for bad in (
        {"nope": 1},
        {"active_versions": ["2026-07"]},
        {"refresh_error_style": "x"},
        {"store": "ids"},
    ):
        with pytest.raises(RuntimeError, match="400"):
            sandbox.admin.configure(**bad)


def test_ids_store_and_state_file_survive_restart(tmp_path):
    state_file = str(tmp_path / "sandbox.sqlite")
    args = ("--store", "ids", "--state-file", state_file)
    with SandboxProcess(args=args) as sb:
        api = _api(sb)
        rule_id = api.create_rule().json()["id"]
        sb.admin.add_campaigns(AD_ACCOUNT_ID, [9])
        assert api.call("PUT", f"/campaignConversions/{link_key(9, rule_id)}").status_code == 204
        elements = [event(rule_id, f"e{i}") for i in range(3)] + [event(rule_id, "e0"), event(rule_id, None)]
        assert api.send_events(elements).status_code == 200
        stored = sb.admin.events(rule_id)
        assert [set(e) for e in stored[:1]] == [{"conversion", "conversionHappenedAt", "eventId"}]
        assert "eventId" not in stored[-1]
        assert sb.admin.event_ids(rule_id) == {"e0": 2, "e1": 1, "e2": 1}
        before = sb.admin.stats()
    with SandboxProcess(args=args) as sb:
        after = sb.admin.stats()
        for name in ("events_total", "distinct_event_ids", "duplicate_event_ids", "events_by_rule", "rules"):
            assert after[name] == before[name]
        api = _api(sb)
        rule = api.call("GET", f"/conversions/{rule_id}").json()
        assert rule["campaigns"] == ["urn:li:sponsoredCampaign:9"]
        assert api.create_rule().json()["id"] == rule_id + 1
        sb.admin.reset()
    with SandboxProcess(args=args) as sb:
        assert sb.admin.stats()["events_total"] == 0


def _api(sb) -> Api:
    return Api(sb, refresh(sb).json()["access_token"], sb.admin.config()["active_versions"][-1])


def test_cli_rejects_bad_fault_and_prints_help():
    bad = subprocess.run(
        [sys.executable, "-m", "airflow_provider_linkedin_capi.sandbox", "--fault", "teapot:every=1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "fault kind" in bad.stderr


def test_unknown_rest_path_is_json_404(sandbox, api):
    response = requests.get(sandbox.rest_url + "/adAccounts", headers=api.headers(), timeout=10)
    assert response.status_code == 404
    assert response.json()["status"] == 404


def test_full_store_keeps_bodies_across_restart(tmp_path):
    args = ("--state-file", str(tmp_path / "full.sqlite"))
    with SandboxProcess(args=args) as sb:
        api = _api(sb)
        rule_id = api.create_rule().json()["id"]
        elements = [event(rule_id, "a"), event(rule_id, "b", user={"userIds": [], "externalIds": ["crm-1"]})]
        assert api.send_events(elements).status_code == 200
    with SandboxProcess(args=args) as sb:
        assert sb.admin.events(rule_id) == elements
        assert sb.admin.stats()["events_by_rule"] == {str(rule_id): 2}


def test_requests_are_counted_per_resource_before_any_fault(sandbox):
    import requests

    sandbox.admin.set_faults([{"kind": "503", "every": 1, "path": "/rest/conversions"}])
    for rule_id in (1, 2):
        requests.get(f"{sandbox.rest_url}/conversions/{rule_id}", timeout=10)
    by_path = sandbox.admin.stats()["requests_by_path"]
    assert by_path["/rest/conversions"] == 2
    assert "/rest/conversionEvents" not in by_path
    assert sandbox.admin.stats()["requests_by_status"].get("503") == 2
