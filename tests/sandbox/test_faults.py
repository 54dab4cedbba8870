"""Fault injection: throttles, server errors, dropped connections, slowness and token expiry."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from airflow_provider_linkedin_capi.sandbox.faults import FaultPlan, FaultSpec
from airflow_provider_linkedin_capi.sandbox.testing import SandboxProcess

from .helpers import Api, event, refresh

DROP_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)


def _send(api, rule_id, event_id):
    return api.send_events([event(rule_id, event_id)])


def test_429_every_nth(sandbox, api, rule_id):
    sandbox.admin.set_faults([{"kind": "429", "every": 2, "path": "/rest/conversionEvents"}])
    responses = [_send(api, rule_id, f"e{i}") for i in range(4)]
    assert [r.status_code for r in responses] == [200, 429, 200, 429]
    assert responses[1].json()["serviceErrorCode"] == 101
    assert "Retry-After" not in responses[1].headers
    stats = sandbox.admin.stats()
    assert stats["faults_injected"] == {"429": 2}
    assert stats["events_total"] == 2
    assert stats["requests_by_status"]["429"] == 2


@pytest.mark.parametrize("kind", ["500", "503"])
def test_server_errors_with_after_and_limit(sandbox, api, rule_id, kind):
    sandbox.admin.set_faults([{"kind": kind, "every": 1, "after": 1, "limit": 2}])
    statuses = [_send(api, rule_id, f"e{i}").status_code for i in range(4)]
    assert statuses == [200, int(kind), int(kind), 200]
    assert sandbox.admin.event_ids(rule_id) == {"e0": 1, "e3": 1}


def test_drop_before_processing(sandbox, api, rule_id):
    sandbox.admin.set_faults([{"kind": "drop", "every": 1, "limit": 1}])
    with pytest.raises(DROP_ERRORS):
        _send(api, rule_id, "lost")
    assert sandbox.admin.stats()["events_total"] == 0
    assert _send(api, rule_id, "retry").status_code == 200


def test_drop_after_processing_keeps_the_events(sandbox, api, rule_id):
    sandbox.admin.set_faults([{"kind": "drop", "every": 1, "limit": 1, "when": "after"}])
    with pytest.raises(DROP_ERRORS):
        _send(api, rule_id, "stored-anyway")
    assert sandbox.admin.event_ids(rule_id) == {"stored-anyway": 1}
    sandbox.admin.set_faults([{"kind": "drop", "every": 1, "when": "after"}])
    with pytest.raises(DROP_ERRORS):
        api.call("POST", "/conversionEvents", json=event(rule_id, "single"))
    assert sandbox.admin.event_ids(rule_id) == {"stored-anyway": 1, "single": 1}


def test_slow_response(sandbox, api, rule_id):
    sandbox.admin.set_faults([{"kind": "slow", "every": 1, "delay": 2.0, "limit": 1}])
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(
            sandbox.rest_url + "/conversionEvents",
            json=event(rule_id, "slow"),
            headers=api.headers(),
            timeout=0.3,
        )
    assert _send(api, rule_id, "fast").status_code == 200


def test_expire_token_fault(sandbox, api, rule_id):
    sandbox.admin.set_faults([{"kind": "expire_token", "every": 2, "limit": 1}])
    assert _send(api, rule_id, "a").status_code == 200
    expired = _send(api, rule_id, "b")
    assert expired.status_code == 401
    assert expired.json()["code"] == "EXPIRED_ACCESS_TOKEN"
    assert _send(api, rule_id, "c").status_code == 401, "the token stays expired"
    api.token = refresh(sandbox).json()["access_token"]
    assert _send(api, rule_id, "d").status_code == 200


def test_faults_hit_token_endpoint_but_never_admin(sandbox):
    sandbox.admin.set_faults([{"kind": "503", "every": 1}])
    assert refresh(sandbox).status_code == 503
    assert sandbox.admin.stats()["faults_injected"] == {"503": 1}
    sandbox.admin.set_faults([{"kind": "503", "every": 1, "path": "/rest"}])
    assert refresh(sandbox).status_code == 200


def test_fraction_is_reproducible_with_a_seed(sandbox, api, rule_id):
    def pattern():
        sandbox.admin.set_faults([{"kind": "500", "fraction": 0.5}], seed=7)
        return [_send(api, rule_id, f"e{i}").status_code for i in range(12)]

    first = pattern()
    assert first == pattern()
    assert {200, 500} == set(first)


def test_a_fault_above_a_concurrency_fires_only_while_more_requests_than_that_are_being_answered():
    """A LinkedIn that throttles a token above 2 events requests at once. A sandbox of its own: a request
    an earlier test gave up on may still be being answered by the shared one, and would count."""
    fault = "429:every=1,above=2,path=/rest/conversionEvents"
    with SandboxProcess(args=("--latency", "3000", "--fault", fault)) as sb:
        token = refresh(sb).json()["access_token"]
        api = Api(sb, token, sb.admin.config()["active_versions"][-1])
        rule_id = sb.admin.create_rule(name="CAPI rule", type="PURCHASE")["id"]
        with ThreadPoolExecutor(2) as pool:
            slow = [pool.submit(_send, api, rule_id, f"slow{i}") for i in range(2)]
            for _ in range(600):  # until both are being answered (bounded; the sandbox sleeps for 3 s)
                if sb.admin.stats()["event_requests_max_concurrent"] == 2:
                    break
                threading.Event().wait(0.005)
            third = _send(api, rule_id, "third")
            assert [future.result().status_code for future in slow] == [200, 200]
        assert third.status_code == 429
        sb.admin.configure(latency_ms=0)
        assert _send(api, rule_id, "alone").status_code == 200
        assert sb.admin.faults()[0]["above"] == 2
        assert sb.admin.stats()["requests_by_status"]["429"] == 1


def test_above_counts_only_requests_under_the_faults_path():
    spec = FaultSpec.from_cli("429:every=1,above=1,path=/rest/conversionEvents")
    plan = FaultPlan([spec], seed=1)
    busy = {"/rest/conversionEvents": 2, "/rest/conversions": 5}

    def busy_under(prefix):
        return sum(n for path, n in busy.items() if path.startswith(prefix or ""))

    assert plan.pick("/rest/conversionEvents", busy_under) is spec
    busy["/rest/conversionEvents"] = 1
    assert plan.pick("/rest/conversionEvents", busy_under) is None
    assert spec.as_dict()["above"] == 1
    with pytest.raises(ValueError, match="above"):
        FaultSpec.from_dict({"kind": "429", "every": 1, "above": -1})


def test_invalid_fault_spec_refused(sandbox):
    with pytest.raises(RuntimeError, match="400"):
        sandbox.admin.set_faults([{"kind": "teapot", "every": 1}])
    with pytest.raises(RuntimeError, match="400"):
        sandbox.admin.set_faults([{"kind": "429", "every": 1, "fraction": 0.5}])


def test_faults_from_the_command_line():
    with SandboxProcess(
        args=("--fault", "429:every=2,path=/rest", "drop:fraction=0,when=after", "--seed", "3")
    ) as sb:
        faults = sb.admin.faults()
        assert [(f["kind"], f["every"], f["fraction"], f["when"]) for f in faults] == [
            ("429", 2, None, "before"),
            ("drop", None, 0.0, "after"),
        ]
        token = refresh(sb).json()["access_token"]
        version = sb.admin.config()["active_versions"][-1]
        headers = {"Authorization": f"Bearer {token}", "LinkedIn-Version": version}
        statuses = [
            requests.get(sb.rest_url + "/conversions/1", headers=headers, timeout=10).status_code
            for _ in range(2)
        ]
        assert statuses == [404, 429]
