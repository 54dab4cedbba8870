"""OAuth token endpoint and the gateway checks, in LinkedIn's order (docs/linkedin-contract.md §5, §8)."""

from __future__ import annotations

import requests

from airflow_provider_linkedin_capi.sandbox import (
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    STATIC_ACCESS_TOKEN,
)

from .helpers import event, refresh


def test_refresh_returns_new_access_token_and_same_refresh_token(sandbox):
    first, second = refresh(sandbox), refresh(sandbox)
    assert first.status_code == second.status_code == 200
    a, b = first.json(), second.json()
    assert a["access_token"] != b["access_token"]
    assert len(a["access_token"]) >= 40
    assert a["expires_in"] == 5_184_000
    assert a["refresh_token"] == b["refresh_token"] == REFRESH_TOKEN
    assert 0 < b["refresh_token_expires_in"] <= a["refresh_token_expires_in"] <= 365 * 86400
    assert sandbox.admin.stats()["tokens_issued"] == 2


def test_refresh_errors(sandbox):
    missing = refresh(sandbox, refresh_token=None)
    assert missing.status_code == 400
    assert missing.json() == {
        "error": "invalid_request",
        "error_description": 'A required parameter "refresh_token" is missing',
    }
    assert refresh(sandbox, grant_type=None).json()["error_description"] == (
        'A required parameter "grant_type" is missing'
    )
    wrong = refresh(sandbox, refresh_token="not-the-token")
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_request"
    assert "invalid, expired or revoked" in wrong.json()["error_description"]
    bad_client = refresh(sandbox, client_secret="nope")
    assert bad_client.status_code == 401
    assert bad_client.json()["error"] == "invalid_client"
    as_json = requests.post(
        sandbox.token_url,
        json={"grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN},
        timeout=10,
    )
    assert as_json.status_code == 400


def test_revoked_refresh_token_and_invalid_grant_style(sandbox):
    sandbox.admin.revoke_refresh_token()
    assert refresh(sandbox).json()["error"] == "invalid_request"
    sandbox.admin.configure(refresh_error_style="invalid_grant")
    response = refresh(sandbox)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    sandbox.admin.reset()
    assert refresh(sandbox).status_code == 200


def _post_event(sandbox, rule_id, headers):
    return requests.post(
        sandbox.rest_url + "/conversionEvents", json=event(rule_id), headers=headers, timeout=10
    )


def test_401_bodies(sandbox, api, rule_id):
    version = {"LinkedIn-Version": api.version}
    empty = _post_event(sandbox, rule_id, version)
    assert empty.status_code == 401
    assert empty.json() == {
        "status": 401,
        "serviceErrorCode": 65604,
        "code": "EMPTY_ACCESS_TOKEN",
        "message": "Empty oauth2_access_token",
    }
    assert empty.headers["X-RestLi-Error-Response"] == "true"
    invalid = _post_event(sandbox, rule_id, {**version, "Authorization": "Bearer nope"})
    assert (invalid.json()["serviceErrorCode"], invalid.json()["code"]) == (65600, "INVALID_ACCESS_TOKEN")
    sandbox.admin.expire_tokens()
    expired = _post_event(sandbox, rule_id, api.headers())
    assert (expired.json()["serviceErrorCode"], expired.json()["code"]) == (65602, "EXPIRED_ACCESS_TOKEN")
    fresh = refresh(sandbox).json()["access_token"]
    assert _post_event(sandbox, rule_id, api.headers(Authorization=f"Bearer {fresh}")).status_code == 201
    sandbox.admin.revoke_tokens()
    revoked = _post_event(sandbox, rule_id, api.headers(Authorization=f"Bearer {fresh}"))
    assert (revoked.json()["serviceErrorCode"], revoked.json()["code"]) == (65601, "REVOKED_ACCESS_TOKEN")
    assert refresh(sandbox).status_code == 400, "revoking access also kills the refresh token"


def test_static_direct_api_token_survives_expiry_of_others(sandbox, api, rule_id):
    sandbox.admin.expire_tokens()
    headers = api.headers(Authorization=f"Bearer {STATIC_ACCESS_TOKEN}")
    assert _post_event(sandbox, rule_id, headers).status_code == 201


def test_short_access_token_ttl_expires(sandbox, rule_id, api):
    sandbox.admin.configure(access_token_ttl=0)
    token = refresh(sandbox).json()
    assert token["expires_in"] == 0
    response = _post_event(sandbox, rule_id, api.headers(Authorization=f"Bearer {token['access_token']}"))
    assert response.json()["code"] == "EXPIRED_ACCESS_TOKEN"


def test_header_check_order(sandbox, api, rule_id):
    # 401 wins over a missing version
    assert _post_event(sandbox, rule_id, {}).status_code == 401
    missing = _post_event(sandbox, rule_id, api.headers(**{"LinkedIn-Version": None}))
    assert missing.status_code == 400
    assert missing.json()["code"] == "VERSION_MISSING"
    assert missing.json()["message"].startswith("A version must be present.")
    sunset = _post_event(sandbox, rule_id, api.headers(**{"LinkedIn-Version": "202409"}))
    assert sunset.status_code == 426
    assert sunset.json() == {
        "status": 426,
        "code": "NONEXISTENT_VERSION",
        "message": "Requested version 20240901 is not active",
    }
    two_legged = requests.post(
        sandbox.token_url,
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        timeout=10,
    ).json()["access_token"]
    denied_headers = api.headers(Authorization=f"Bearer {two_legged}")
    # a sunset version is answered before the permission check
    assert _post_event(sandbox, rule_id, {**denied_headers, "LinkedIn-Version": "202409"}).status_code == 426
    denied = _post_event(sandbox, rule_id, denied_headers)
    assert denied.status_code == 403
    assert denied.json()["code"] == "ACCESS_DENIED"
    assert denied.json()["message"].startswith("Not enough permissions to access: conversionEvents.CREATE.")


def test_default_active_versions_skip_december(sandbox):
    versions = sandbox.admin.config()["active_versions"]
    assert len(versions) in (11, 12)
    assert not any(v.endswith("12") for v in versions)
    assert versions == sorted(versions)


def test_configured_active_versions(sandbox, api, rule_id):
    sandbox.admin.configure(active_versions=["202607"])
    assert _post_event(sandbox, rule_id, api.headers(**{"LinkedIn-Version": "202607"})).status_code == 201
    other = _post_event(sandbox, rule_id, api.headers(**{"LinkedIn-Version": "202608"}))
    assert other.json()["message"] == "Requested version 20260801 is not active"


def test_response_headers(sandbox, api, rule_id):
    ok = _post_event(sandbox, rule_id, api.headers())
    assert ok.headers["Content-Type"] == "application/json"
    assert ok.headers["X-RestLi-Protocol-Version"] == "2.0.0"
    assert ok.headers["x-li-uuid"]
    assert "X-RestLi-Error-Response" not in ok.headers
    assert "Retry-After" not in ok.headers


def test_rate_limit_per_token(sandbox, api, rule_id):
    sandbox.admin.configure(requests_per_minute=3)
    statuses = [_post_event(sandbox, rule_id, api.headers()).status_code for _ in range(4)]
    assert statuses == [201, 201, 201, 429]
    throttled = _post_event(sandbox, rule_id, api.headers())
    assert throttled.json() == {
        "serviceErrorCode": 101,
        "message": "Resource level throttle limit for calls to this resource is reached.",
        "status": 429,
    }
    assert "Retry-After" not in throttled.headers
    # another token has its own budget; the token endpoint and admin API are never throttled
    other = refresh(sandbox).json()["access_token"]
    assert _post_event(sandbox, rule_id, api.headers(Authorization=f"Bearer {other}")).status_code == 201
    assert all(refresh(sandbox).status_code == 200 for _ in range(4))


def test_daily_limit(sandbox, api, rule_id):
    sandbox.admin.configure(requests_per_day=2)
    statuses = [_post_event(sandbox, rule_id, api.headers()).status_code for _ in range(3)]
    assert statuses == [201, 201, 429]


def test_token_introspection(sandbox, api):
    url = sandbox.base_url + "/oauth/v2/introspectToken"
    form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token": api.token}
    info = requests.post(url, data=form, timeout=10).json()
    assert (info["active"], info["status"], info["auth_type"]) == (True, "active", "3L")
    assert info["expires_at"] > info["created_at"]
    sandbox.admin.expire_tokens()
    assert requests.post(url, data=form, timeout=10).json()["status"] == "expired"
    assert requests.post(url, data={**form, "token": "nope"}, timeout=10).json() == {"active": False}
