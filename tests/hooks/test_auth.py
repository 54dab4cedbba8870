"""Token exchange helpers: the refresh form, expiry arithmetic and the dead-grant classification."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiAuthError
from airflow_provider_linkedin_capi.hooks._auth import (
    parse_token_response,
    refresh_form,
    static_token,
    token_error,
    warn_if_refresh_token_expiring,
)
from airflow_provider_linkedin_capi.hooks._connection import LinkedInCapiConnectionConfig
from airflow_provider_linkedin_capi.hooks._transport import standard_headers


def _config() -> LinkedInCapiConnectionConfig:
    return LinkedInCapiConnectionConfig.from_fields(
        conn_id="li", host=None, login="cid", password="csecret", extras={"refresh_token": "rtoken"}
    )


def test_refresh_form_carries_the_secret_in_the_body():
    assert refresh_form(_config()) == {
        "grant_type": "refresh_token",
        "refresh_token": "rtoken",
        "client_id": "cid",
        "client_secret": "csecret",
    }


def test_parse_token_response_computes_deadlines():
    token = parse_token_response(
        {
            "access_token": "A" * 500,
            "expires_in": 5184000,
            "refresh_token": "rtoken",
            "refresh_token_expires_in": 86400 * 200,
        },
        now=1000.0,
    )
    assert token.expires_at == 1000.0 + 5184000
    assert token.refresh_token_expires_at == 1000.0 + 86400 * 200
    assert token.is_usable(now=1000.0)
    assert not token.is_usable(now=1000.0 + 5184000 - 299)  # inside the 5-minute margin
    assert "AAAA" not in repr(token)
    assert static_token("x").is_usable(now=1e12)


@pytest.mark.parametrize(
    "payload",
    [
        {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
        {
            "error": "invalid_request",
            "error_description": "The provided authorization grant or refresh token is invalid, "
            "expired or revoked",
        },
    ],
)
def test_dead_refresh_token_tells_the_user_to_reauthorise(payload):
    error = token_error(400, payload, "li")
    assert isinstance(error, LinkedInCapiAuthError)
    assert "re-authorise" in str(error)
    assert "'refresh_token'" in str(error)
    assert "'li'" in str(error)
    assert error.status == 400
    assert error.code == payload["error"]


def test_other_token_errors():
    assert token_error(503, None) is None
    assert token_error(429, {}) is None
    error = token_error(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
    assert isinstance(error, LinkedInCapiAuthError)
    assert "Client Secret" in str(error)
    missing = token_error(
        400, {"error": "invalid_request", "error_description": 'A required parameter "client_id" is missing'}
    )
    assert isinstance(missing, LinkedInCapiAuthError)
    assert "re-authorise" not in str(missing)


def test_refresh_token_expiry_warning(caplog):
    log = logging.getLogger("test.oauth")
    soon = parse_token_response({"access_token": "a", "refresh_token_expires_in": 86400 * 10}, now=0.0)
    later = parse_token_response({"access_token": "a", "refresh_token_expires_in": 86400 * 100}, now=0.0)
    with caplog.at_level(logging.WARNING, logger="test.oauth"):
        assert warn_if_refresh_token_expiring(soon, 0.0, log, "li")
        assert not warn_if_refresh_token_expiring(later, 0.0, log, "li")
    assert len(caplog.records) == 1
    assert "10.0 days" in caplog.records[0].getMessage()


def test_standard_headers():
    assert standard_headers("tok", "202608", restli_method="BATCH_CREATE", json_body=True) == {
        "Authorization": "Bearer tok",
        "LinkedIn-Version": "202608",
        "X-Restli-Protocol-Version": "2.0.0",
        "Accept": "application/json",
        "Content-Type": "application/json",
        "X-RestLi-Method": "BATCH_CREATE",
    }
    assert "Content-Type" not in standard_headers("tok", "202608")
