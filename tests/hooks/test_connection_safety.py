"""Credentials go only to LinkedIn, a masked form's '***' is refused, and secrets stay out of error text.

The token endpoint is derived from ``host``, so Airflow's guard on ``host`` also guards the secrets. The HTTP
cases run against a hostile token server on 127.0.0.1 (``token_server.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import quote, quote_plus

import pytest
from airflow.sdk import Connection

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiConfigError, LinkedInCapiError
from airflow_provider_linkedin_capi.hooks._connection import LINKEDIN_TOKEN_URL, LinkedInCapiConnectionConfig
from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiAsyncHook, LinkedInCapiHook
from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID

from .test_hook_secrets import _record_texts, hook_logs_in_caplog  # noqa: F401 - a fixture
from .token_server import TokenServer, echo_secrets, token_with_line_break

# Secrets with characters that URL- and JSON-encoding change, so every spelling of them can be looked for.
REFRESH = "rt/secret+value= with&more"
SECRET = 'cs:"secret"?#value'


def _config(extra: dict, **fields) -> LinkedInCapiConnectionConfig:
    fields.setdefault("login", "client-id")
    fields.setdefault("password", "client-secret")
    return LinkedInCapiConnectionConfig.from_connection(
        Connection(conn_id="li", conn_type="linkedin_capi", extra=json.dumps(extra), **fields)
    )


def _spellings(*secrets: str) -> list[str]:
    return [form for s in secrets for form in (s, quote(s, safe=""), quote_plus(s), json.dumps(s)[1:-1])]


# ---------------------------------------------------------------------------------------- token endpoint


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (None, LINKEDIN_TOKEN_URL),
        ("https://api.linkedin.com/rest", LINKEDIN_TOKEN_URL),
        ("http://127.0.0.1:8765/rest", "http://127.0.0.1:8765/oauth/v2/accessToken"),
        ("https://proxy.example.com/linkedin/rest/", "https://proxy.example.com/oauth/v2/accessToken"),
        ("http://[::1]:9000/rest", "http://[::1]:9000/oauth/v2/accessToken"),
        ("localhost:8765/rest", "https://localhost:8765/oauth/v2/accessToken"),
    ],
)
def test_token_endpoint_is_derived_from_host(host, expected):
    assert _config({"refresh_token": "r"}, host=host).oauth_url == expected


@pytest.mark.parametrize(
    ("host", "override"),
    [
        ("http://127.0.0.1:8765/rest", "http://127.0.0.1:8765/custom/oauth/v2/accessToken"),
        ("https://proxy.example.com/rest", "https://proxy.example.com:443/oauth/token"),
        ("http://127.0.0.1:8765/rest", "https://www.linkedin.com/oauth/v2/accessToken"),
        ("https://api.linkedin.com/rest", "https://www.linkedin.com:443/oauth/v2/accessToken"),
    ],
)
def test_an_override_on_the_api_origin_or_linkedin_is_accepted(host, override):
    assert _config({"refresh_token": "r", "oauth_url": override}, host=host).oauth_url == override


@pytest.mark.parametrize(
    ("host", "override"),
    [
        ("http://127.0.0.1:8765/rest", "http://127.0.0.1:8766/oauth/v2/accessToken"),  # another port
        ("http://127.0.0.1:8765/rest", "http://evil.example:8765/oauth/v2/accessToken"),
        ("https://proxy.example.com/rest", "http://proxy.example.com/oauth/v2/accessToken"),  # scheme
        ("https://api.linkedin.com/rest", "https://api.linkedin.com.evil.example/oauth"),
        ("https://api.linkedin.com/rest", "https://www.linkedin.com.evil.example/oauth/v2/accessToken"),
        ("https://api.linkedin.com/rest", "https://www.linkedin.com@evil.example/oauth/v2/accessToken"),
        ("https://api.linkedin.com/rest", "http://www.linkedin.com/oauth/v2/accessToken"),
        ("https://api.linkedin.com/rest", "https://www.linkedin.com:8443/oauth/v2/accessToken"),
        ("https://api.linkedin.com/rest", "ftp://www.linkedin.com/oauth"),
        ("https://api.linkedin.com/rest", "not a url"),
    ],
)
def test_any_other_override_is_refused(host, override):
    with pytest.raises(
        LinkedInCapiConfigError, match=r"extra .oauth_url. points at .*sent only there"
    ) as info:
        _config({"refresh_token": REFRESH, "oauth_url": override}, host=host, password=SECRET)
    assert not any(spelling in str(info.value) for spelling in _spellings(REFRESH, SECRET))


class _no_warning:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        return None


def test_a_foreign_oauth_url_is_refused_before_any_secret_is_sent(sandbox, monkeypatch):
    """What Airflow's Test button allowed: the stored connection with only the token endpoint changed."""
    with TokenServer(echo_secrets(200)) as foreign:
        conn = sandbox.connection(oauth_url=f"{foreign.url}/oauth/v2/accessToken")
        monkeypatch.setenv("AIRFLOW_CONN_LI_FOREIGN", json.dumps(conn))
        ok, message = LinkedInCapiHook("li_foreign").test_connection()
        assert not ok
        assert "extra 'oauth_url' points at 127.0.0.1" in message
        with pytest.raises(LinkedInCapiConfigError, match="oauth_url"):
            asyncio.run(_read_rule_async("li_foreign"))
        assert foreign.requests == []
    assert sandbox.admin.stats()["tokens_issued"] == 0


async def _read_rule_async(conn_id: str) -> None:
    async with LinkedInCapiAsyncHook(conn_id, max_retries=0) as hook:
        await hook.get_conversion_rule(1)


# ---------------------------------------------------------------------------------------- names


def test_the_extras_raise_no_warning(recwarn):
    config = _config({"refresh_token": "r", "propagation_wait": "0.25", "oauth_url": LINKEDIN_TOKEN_URL})
    assert config.propagation_wait == 0.25
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]


# ---------------------------------------------------------------------------------------- masked values


@pytest.mark.parametrize(
    ("extra", "fields", "named"),
    [
        ({"refresh_token": "r", "oauth_url": "***"}, {}, "extra 'oauth_url'"),
        ({"refresh_token": "r", "propagation_wait": "***"}, {}, "extra 'propagation_wait'"),
        ({"refresh_token": "r", "propagation_wait": " *** "}, {}, "extra 'propagation_wait'"),
        ({"refresh_token": "***"}, {}, "extra 'refresh_token'"),
        ({"access_token": "***"}, {"login": None, "password": None}, "extra 'access_token'"),
        ({"access_token": "a", "api_version": "***"}, {}, "extra 'api_version'"),
        ({"access_token": "a", "some_future_field": "***"}, {}, "extra 'some_future_field'"),
        ({"refresh_token": "r"}, {"password": "***"}, r"Client Secret \(password\)"),
    ],
)
def test_a_masked_value_is_refused_naming_the_field(extra, fields, named):
    with pytest.raises(LinkedInCapiConfigError, match=f"{named}.*saved from a masked form"):
        _config(extra, **fields)


def test_a_connection_saved_from_the_masked_form_fails_its_test_without_sending(sandbox, monkeypatch):
    # A form that masked the two non-secret fields would have stored them as '***'.
    conn = sandbox.connection(oauth_url="***", propagation_wait="***")
    monkeypatch.setenv("AIRFLOW_CONN_LI_MASKED", json.dumps(conn))
    ok, message = LinkedInCapiHook("li_masked").test_connection()
    assert not ok
    assert "'oauth_url'" in message
    assert "'propagation_wait'" in message
    assert "saved from a masked form" in message
    assert sandbox.admin.stats()["tokens_issued"] == 0


# ---------------------------------------------------------------------------------------- control characters


@pytest.mark.parametrize(
    ("extra", "fields", "named"),
    [
        ({"refresh_token": "good\r\nX-Injected: evil"}, {}, "extra 'refresh_token'"),
        ({"access_token": "good\nX-Injected: evil"}, {}, "extra 'access_token'"),
        ({"access_token": "good\x00X-Injected"}, {}, "extra 'access_token'"),
        ({"refresh_token": "r"}, {"password": "good\rX-Injected: evil"}, r"Client Secret \(password\)"),
        ({"refresh_token": "good\tX-Injected"}, {}, "extra 'refresh_token'"),
        ({"access_token": "good\x85X-Injected"}, {}, "extra 'access_token'"),
    ],
)
def test_secrets_with_control_characters_are_refused_unquoted(extra, fields, named):
    with pytest.raises(LinkedInCapiConfigError, match=f"{named} contains a line break") as info:
        _config(extra, **fields)
    assert "good" not in str(info.value)
    assert "X-Injected" not in str(info.value)


def test_surrounding_line_breaks_of_a_pasted_secret_are_trimmed():
    config = _config({"refresh_token": "r-token\n"}, password="\tsecret\r\n")
    assert (config.refresh_token, config.client_secret) == ("r-token", "secret")


def test_a_stored_token_with_a_line_break_never_reaches_a_header_or_an_error(sandbox, monkeypatch):
    conn = sandbox.connection(auth="access_token", access_token="sandbox-token\r\nX-Injected: evil")
    monkeypatch.setenv("AIRFLOW_CONN_LI_CRLF", json.dumps(conn))
    ok, message = LinkedInCapiHook("li_crlf").test_connection()
    assert not ok
    assert "extra 'access_token' contains a line break" in message
    assert "sandbox-token" not in message
    assert "X-Injected" not in message
    assert sandbox.admin.stats()["requests_by_status"] == {}


# ---------------------------------------------------------------------------------------- echoed secrets


def _echo_connection(monkeypatch, server: TokenServer, conn_id: str, **extra) -> str:
    conn = {
        "conn_type": "linkedin_capi",
        "host": f"{server.url}/rest",
        "login": "client-id",
        "password": SECRET,
        "extra": {"refresh_token": REFRESH, "ad_account_id": AD_ACCOUNT_ID, **extra},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


@pytest.mark.timeout(60)
@pytest.mark.parametrize("status", [400, 401, 500])
@pytest.mark.usefixtures("hook_logs_in_caplog")
def test_an_echoing_token_server_gets_no_secret_into_an_error_or_a_log(monkeypatch, caplog, capsys, status):
    with TokenServer(echo_secrets(status)) as server:
        conn_id = _echo_connection(monkeypatch, server, f"li_echo_{status}")
        settings = {"max_retries": 1, "retry_min_wait": 0, "retry_max_wait": 0}
        with caplog.at_level(logging.DEBUG):
            ok, message = LinkedInCapiHook(conn_id, **settings).test_connection()
            with pytest.raises(LinkedInCapiError) as raised:
                LinkedInCapiHook(conn_id, **settings).get_access_token()
            with pytest.raises(LinkedInCapiError) as raised_async:
                asyncio.run(_read_rule_async(conn_id))
        # the secrets did reach the (derived) token endpoint on the connection's host, which echoed them
        assert server.requests
        assert all(path == "/oauth/v2/accessToken" for path, _ in server.requests)
        assert server.requests[0][1]["refresh_token"] == REFRESH
    assert len(server.requests) == (2 + 2 + 1 if status == 500 else 3)  # retried once in the sync hook
    assert not ok
    texts = [message, str(raised.value), str(raised_async.value), *_record_texts(caplog.records)]
    texts.append(capsys.readouterr().out)
    for spelling in _spellings(REFRESH, SECRET):
        assert not any(spelling in text for text in texts), spelling
    if status != 500:
        assert "***" in message  # LinkedIn's text is kept, with the secrets blanked out


@pytest.mark.timeout(60)
def test_a_minted_token_with_a_line_break_is_refused_unquoted(monkeypatch):
    with TokenServer(token_with_line_break) as server:
        conn_id = _echo_connection(monkeypatch, server, "li_bad_token")
        ok, message = LinkedInCapiHook(conn_id, max_retries=0).test_connection()
        with pytest.raises(LinkedInCapiError, match="control character") as raised_async:
            asyncio.run(_read_rule_async(conn_id))
        paths = [path for path, _ in server.requests]
    assert not ok
    assert "access_token holding a control character" in message
    for text in (message, str(raised_async.value)):
        assert "X-Injected" not in text
        assert "AQ-good-part" not in text
    assert paths == ["/oauth/v2/accessToken", "/oauth/v2/accessToken"]  # no API call carried the token
