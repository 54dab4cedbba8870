"""The 3-legged consent: ``GET /oauth/v2/authorization`` and ``grant_type=authorization_code``
(docs/linkedin-contract.md §5.11-5.14), and the start-up output and ``--help`` of the sandbox's command."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from airflow_provider_linkedin_capi.sandbox import (
    AD_ACCOUNT_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    LISTENING_PREFIX,
    REFRESH_TOKEN,
)
from airflow_provider_linkedin_capi.sandbox.auth import CODE_MISMATCH, CODE_NOT_FOUND

from .helpers import ACCOUNT_URN, Api, refresh

REDIRECT = "http://127.0.0.1:9/callback"


def _consent(sandbox, **overrides: str | None) -> requests.Response:
    """What a browser gets from the consent page (the redirect is not followed)."""
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "state": "st4te",
        "scope": "rw_conversions r_ads",
        **overrides,
    }
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return requests.get(
        f"{sandbox.base_url}/oauth/v2/authorization?{query}", allow_redirects=False, timeout=10
    )


def _redirected(response: requests.Response) -> tuple[str, dict[str, str]]:
    assert response.status_code == 302, response.text
    parts = urlsplit(response.headers["Location"])
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    return parts._replace(query="").geturl(), query


def _code(sandbox, **overrides: str | None) -> str:
    target, query = _redirected(_consent(sandbox, **overrides))
    assert target == (overrides.get("redirect_uri") or REDIRECT).partition("?")[0]
    assert query["state"] == "st4te"
    return query["code"]


def _exchange(sandbox, grant: str, **overrides: str | None) -> requests.Response:
    form = {
        "grant_type": "authorization_code",
        "code": grant,
        "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        **overrides,
    }
    return requests.post(sandbox.token_url, data={k: v for k, v in form.items() if v is not None}, timeout=10)


def test_a_consent_gives_tokens_that_work_on_the_api_and_refresh(sandbox):
    answer = _exchange(sandbox, _code(sandbox))
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert set(tokens) == {"access_token", "expires_in", "refresh_token", "refresh_token_expires_in", "scope"}
    assert (tokens["expires_in"], tokens["refresh_token_expires_in"]) == (5_184_000, 31_536_000)
    assert tokens["scope"] == "r_ads,rw_conversions"
    assert tokens["refresh_token"] != REFRESH_TOKEN
    version = sandbox.admin.config()["active_versions"][-1]
    rules = Api(sandbox, tokens["access_token"], version).call(
        "GET", f"/conversions?q=account&account={ACCOUNT_URN.replace(':', '%3A')}"
    )
    assert rules.status_code == 200, rules.text
    refreshed = refresh(sandbox, refresh_token=tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refresh_token"] == tokens["refresh_token"]
    assert 0 < refreshed.json()["refresh_token_expires_in"] <= 31_536_000


def test_a_code_works_once_within_its_lifetime_and_for_its_redirect_only(sandbox):
    code = _code(sandbox)
    assert _exchange(sandbox, code).status_code == 200
    again = _exchange(sandbox, code)
    assert (again.status_code, again.json()) == (
        400,
        {"error": "invalid_redirect_uri", "error_description": CODE_MISMATCH},
    )
    other_redirect = _exchange(sandbox, _code(sandbox), redirect_uri="http://127.0.0.1:10/callback")
    assert (other_redirect.status_code, other_redirect.json()["error"]) == (400, "invalid_redirect_uri")
    unknown = _exchange(sandbox, "AQnot-a-code")
    assert (unknown.status_code, unknown.json()) == (
        400,
        {"error": "invalid_request", "error_description": CODE_NOT_FOUND},
    )
    sandbox.admin.configure(authorization_code_ttl=0)
    expired = _exchange(sandbox, _code(sandbox))
    assert (expired.status_code, expired.json()["error"]) == (400, "invalid_redirect_uri")
    assert sandbox.admin.stats()["tokens_issued"] == 1


@pytest.mark.parametrize(
    ("field", "value", "status", "error"),
    [
        ("client_secret", "wrong", 401, "invalid_client"),
        ("client_id", "someone-else", 401, "invalid_client"),
        ("redirect_uri", None, 400, "invalid_request"),
        ("code", None, 400, "invalid_request"),
    ],
)
def test_the_exchange_checks_the_client_and_the_form(sandbox, field, value, status, error):
    answer = _exchange(sandbox, _code(sandbox), **{field: value})
    assert (answer.status_code, answer.json()["error"]) == (status, error)
    if value is None:
        assert answer.json()["error_description"] == f'A required parameter "{field}" is missing'


def test_an_app_without_programmatic_refresh_tokens_gets_an_access_token_only(sandbox):
    sandbox.admin.configure(issue_refresh_tokens=False)
    tokens = _exchange(sandbox, _code(sandbox)).json()
    assert set(tokens) == {"access_token", "expires_in", "scope"}


def test_revoking_kills_the_consents_refresh_token_and_a_new_consent_gives_a_live_one(sandbox):
    old = _exchange(sandbox, _code(sandbox)).json()["refresh_token"]
    sandbox.admin.revoke_tokens()
    assert refresh(sandbox, refresh_token=old).json()["error"] == "invalid_request"
    assert refresh(sandbox).status_code == 400  # the built-in one too
    new = _exchange(sandbox, _code(sandbox)).json()["refresh_token"]
    assert refresh(sandbox, refresh_token=new).status_code == 200


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "someone-else"},
        {"client_id": None},
        {"redirect_uri": None},
        {"redirect_uri": "/callback"},
        {"redirect_uri": "ftp://127.0.0.1/callback"},
        {"redirect_uri": "http://127.0.0.1:9/callback#fragment"},
    ],
    ids=["wrong-client", "no-client", "no-redirect", "relative-redirect", "ftp-redirect", "fragment"],
)
def test_a_wrong_client_or_redirect_gets_an_error_page_not_a_redirect(sandbox, overrides):
    page = _consent(sandbox, **overrides)
    assert page.status_code == 400
    assert "Location" not in page.headers
    assert page.headers["content-type"].startswith("text/html")
    assert "doesn't match" in page.text


@pytest.mark.parametrize(
    ("overrides", "error", "mentions"),
    [
        ({"response_type": "token"}, "invalid_request", "response_type"),
        ({"scope": None}, "invalid_request", '"scope"'),
        ({"scope": "rw_conversions rw_ads"}, "invalid_scope", '"rw_ads"'),
        ({"scope": "r_ads,rw_conversions"}, "invalid_scope", "r_ads,rw_conversions"),
    ],
)
def test_other_problems_are_sent_back_to_the_redirect_with_the_state(sandbox, overrides, error, mentions):
    target, query = _redirected(_consent(sandbox, **overrides))
    assert target == REDIRECT
    assert (query["error"], query["state"]) == (error, "st4te")
    assert mentions in query["error_description"]
    assert "code" not in query


def test_a_missing_state_is_sent_back_without_one(sandbox):
    _, query = _redirected(_consent(sandbox, state=None))
    assert query == {
        "error": "invalid_request",
        "error_description": 'A required parameter "state" is missing',
    }


@pytest.mark.parametrize("consent", ["user_cancelled_login", "user_cancelled_authorize"])
def test_a_member_who_cancels_is_sent_back_with_the_error(sandbox, consent):
    sandbox.admin.configure(consent=consent)
    _, query = _redirected(_consent(sandbox))
    assert (query["error"], query["state"]) == (consent, "st4te")
    assert query["error_description"]
    assert "code" not in query


def test_the_code_is_added_to_a_redirect_that_has_a_query(sandbox):
    redirect = "http://127.0.0.1:9/callback?from=sandbox"
    _, query = _redirected(_consent(sandbox, redirect_uri=redirect))
    assert query["from"] == "sandbox"
    assert _exchange(sandbox, query["code"], redirect_uri=redirect).status_code == 200


@pytest.mark.parametrize(
    "bad", [{"consent": "maybe"}, {"issue_refresh_tokens": "yes"}, {"authorization_code_ttl": -1}]
)
def test_consent_settings_are_validated(sandbox, bad):
    with pytest.raises(RuntimeError, match="400"):
        sandbox.admin.configure(**bad)


# -- the command's output --------------------------------------------------------------------------------


def test_help_shows_the_built_in_credentials_and_a_connection():
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_linkedin_capi.sandbox", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    for value in (CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, AD_ACCOUNT_ID, "--no-refresh-tokens"):
        assert value in result.stdout
    assert '"host": "http://127.0.0.1:8765/rest"' in result.stdout


def _first_lines(process: subprocess.Popen, count: int, timeout: float) -> list[str]:
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return [lines.get(timeout=timeout) for _ in range(count)]


def test_start_up_output_keeps_the_listening_line_first_then_a_connection_for_the_actual_address():
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_linkedin_capi.sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = _first_lines(process, 12, timeout=30)
    finally:
        process.terminate()
        process.wait(10)
    assert lines[0].startswith(LISTENING_PREFIX)
    base_url = lines[0][len(LISTENING_PREFIX) :].strip()
    connection = json.loads(next(line for line in lines if line.strip().startswith("{")))
    assert connection["host"] == f"{base_url}/rest"
    assert (connection["login"], connection["password"]) == (CLIENT_ID, CLIENT_SECRET)
    assert connection["extra"] == {"refresh_token": REFRESH_TOKEN, "ad_account_id": AD_ACCOUNT_ID}
    assert any(f"--oauth-base {base_url}" in line for line in lines)
