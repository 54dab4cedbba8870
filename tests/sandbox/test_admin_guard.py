"""The /_sandbox admin API refuses what a web page can send, over real HTTP against the sandbox process."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import urlsplit

import pytest
import requests

from airflow_provider_linkedin_capi.sandbox.admin_guard import loopback_warning
from airflow_provider_linkedin_capi.sandbox.testing import SandboxProcess


def _port(sandbox) -> int:
    return urlsplit(sandbox.base_url).port


def _admin(sandbox, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{sandbox.base_url}/_sandbox/{path}", timeout=10, **kwargs)


def _rules(sandbox) -> list:
    from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook

    return LinkedInCapiHook().list_conversion_rules()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "LOCALHOST"])
def test_loopback_spellings_of_the_listening_address_are_accepted(sandbox, host):
    response = _admin(sandbox, "GET", "health", headers={"Host": f"{host}:{_port(sandbox)}"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "host",
    [
        "attacker.example:{port}",
        "attacker.example",
        "127.0.0.1:{other}",
        "127.0.0.1",
        "localhost.evil:{port}",
    ],
)
def test_another_host_is_refused_and_changes_nothing(sandbox, host):
    rule = sandbox.admin.create_rule(name="kept", type="LEAD")
    port = _port(sandbox)
    headers = {"Host": host.format(port=port, other=port + 1)}

    reset = _admin(sandbox, "POST", "reset", headers=headers)
    events = _admin(sandbox, "GET", "events", headers=headers)

    assert reset.status_code == 403
    assert "listening address" in reset.json()["error"]
    assert events.status_code == 403
    assert "elements" not in events.json()
    assert [r["id"] for r in _rules(sandbox)] == [rule["id"]]  # the reset did not happen


@pytest.mark.parametrize("origin", ["http://attacker.example", "null", "http://127.0.0.1:8080"])
def test_a_request_with_an_origin_is_refused(sandbox, origin):
    rule = sandbox.admin.create_rule(name="kept", type="LEAD")

    reset = _admin(sandbox, "POST", "reset", headers={"Origin": origin})
    events = _admin(sandbox, "GET", "events", headers={"Origin": origin})

    assert reset.status_code == 403
    assert "Origin" in reset.json()["error"]
    assert events.status_code == 403
    assert [r["id"] for r in _rules(sandbox)] == [rule["id"]]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"requests_per_minute": 1}'),
        ("application/x-www-form-urlencoded", b"requests_per_minute=1"),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--',
        ),
        (None, b'{"requests_per_minute": 1}'),
    ],
)
def test_a_body_that_is_not_json_is_refused(sandbox, content_type, body):
    before = sandbox.admin.config()["requests_per_minute"]
    headers = {} if content_type is None else {"Content-Type": content_type}
    if content_type is None:
        # requests adds no Content-Type for raw bytes; a chunked body has no Content-Length either.
        response = _admin(sandbox, "PUT", "config", data=iter([body]), headers=headers)
    else:
        response = _admin(sandbox, "PUT", "config", data=body, headers=headers)

    assert response.status_code == 415, response.text
    assert "application/json" in response.json()["error"]
    assert sandbox.admin.config()["requests_per_minute"] == before


def test_an_empty_form_post_is_refused(sandbox):
    rule = sandbox.admin.create_rule(name="kept", type="LEAD")
    response = _admin(
        sandbox, "POST", "reset", headers={"Content-Type": "application/x-www-form-urlencoded"}, data=b""
    )
    assert response.status_code == 415
    assert [r["id"] for r in _rules(sandbox)] == [rule["id"]]


def test_json_bodies_and_bodiless_requests_are_served(sandbox):
    response = _admin(
        sandbox,
        "PUT",
        "config",
        data=b'{"requests_per_minute": 900}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    assert sandbox.admin.config()["requests_per_minute"] == 900
    assert _admin(sandbox, "POST", "reset").status_code == 200  # curl -X POST .../reset


def test_the_linkedin_api_is_not_affected(sandbox):
    # The OAuth endpoint takes form bodies, as LinkedIn's does, whatever the admin API refuses.
    from airflow_provider_linkedin_capi.sandbox import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN

    response = requests.post(
        sandbox.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": REFRESH_TOKEN,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
        headers={"Origin": "http://example.test"},
        timeout=10,
    )
    assert response.status_code == 200


@pytest.mark.timeout(60)
def test_allow_host_adds_a_name_for_the_admin_api():
    with SandboxProcess(args=("--allow-host", "linkedin-sandbox")) as sandbox:
        port = _port(sandbox)
        assert sandbox.admin.health()["status"] == "ok"
        named = _admin(sandbox, "GET", "health", headers={"Host": f"linkedin-sandbox:{port}"})
        other = _admin(sandbox, "GET", "health", headers={"Host": f"other-name:{port}"})
        assert named.status_code == 200
        assert other.status_code == 403


def test_only_a_non_loopback_host_is_warned_about():
    assert loopback_warning("127.0.0.1") is None
    assert loopback_warning("::1") is None
    assert loopback_warning("localhost") is None
    for host in ("0.0.0.0", "::", "192.168.1.10", "sandbox.example"):
        assert "not a loopback address" in loopback_warning(host)


@pytest.mark.timeout(60)
def test_the_cli_warns_before_it_listens_on_a_non_loopback_address():
    # 192.0.2.1 (TEST-NET-1) is assigned to no interface: the bind fails, so nothing is ever exposed, and
    # the warning must already be on stderr.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow_provider_linkedin_capi.sandbox",
            "--host",
            "192.0.2.1",
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert result.returncode != 0
    assert "WARNING: the sandbox listens on 192.0.2.1, not a loopback address" in result.stderr
    assert "listening on http" not in result.stdout
