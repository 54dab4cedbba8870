"""``python -m airflow_provider_linkedin_capi.authorize``: the consent against a real sandbox process.

The command runs as a subprocess, as a user runs it; the test plays the browser: it reads the consent URL
from the command's stderr and GETs it, and ``requests`` follows the sandbox's 302 to the command's
callback on 127.0.0.1. Nothing here talks to linkedin.com: every consent goes to the sandbox, and the
refusals are checked before anything is sent.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import stat
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from airflow_provider_linkedin_capi import authorize, constants
from airflow_provider_linkedin_capi.authorize import ConsentError
from airflow_provider_linkedin_capi.hooks import _connection
from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET

CONSENT_PATH = "/oauth/v2/authorization?"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cli:
    """The command as a child process; stderr is read as it comes, so the test can act on the URL."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        environment = {**os.environ, "LINKEDIN_CLIENT_SECRET": CLIENT_SECRET, **(env or {})}
        environment.pop("DISPLAY", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "airflow_provider_linkedin_capi.authorize", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
        self.stderr_lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def consent_url(self, timeout: float = 60) -> str:
        while True:
            line = self._lines.get(timeout=timeout)
            assert line is not None, f"the command ended before printing the URL: {self.stderr}"
            if CONSENT_PATH in line:
                return line.strip()

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        try:
            self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(10)
        assert self.process.stdout is not None
        stdout = self.process.stdout.read()
        self.process.stdout.close()
        # the stderr reader ends at EOF, right after the process
        while self._lines.get(timeout=10) is not None:
            pass
        return self.process.returncode, stdout

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)


def _cli(sandbox, *extra: str, port: int = 0, env: dict[str, str] | None = None) -> Cli:
    return Cli(
        "--client-id",
        CLIENT_ID,
        "--oauth-base",
        sandbox.base_url,
        "--port",
        str(port),
        "--no-browser",
        "--timeout",
        "60",
        *extra,
        env=env,
    )


def _query(url: str) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(urlsplit(url).query).items()}


# -- the whole consent -----------------------------------------------------------------------------------


def test_the_consent_prints_a_connection_the_hook_uses(sandbox, monkeypatch):
    port = _free_port()
    cli = _cli(sandbox, "--ad-account-id", f"urn:li:sponsoredAccount:{AD_ACCOUNT_ID}", port=port)
    url = cli.consent_url()
    params = _query(url)
    assert url.startswith(f"{sandbox.base_url}/oauth/v2/authorization?response_type=code&client_id=")
    assert params["redirect_uri"] == f"http://127.0.0.1:{port}/callback"
    assert params["scope"] == "rw_conversions r_ads"
    assert "scope=rw_conversions%20r_ads" in url
    assert len(params["state"]) >= 32

    page = requests.get(url, timeout=30)  # the sandbox approves and redirects to the command's callback
    assert page.status_code == 200
    assert page.url.startswith(f"http://127.0.0.1:{port}/callback?code=")
    status, stdout = cli.finish()
    assert status == 0, cli.stderr

    connection = json.loads(stdout)
    refresh_token = connection["extra"]["refresh_token"]
    assert connection == {
        "conn_type": "linkedin_capi",
        "host": f"{sandbox.base_url}/rest",
        "login": CLIENT_ID,
        "password": CLIENT_SECRET,
        "extra": {"refresh_token": refresh_token, "ad_account_id": AD_ACCOUNT_ID},
    }
    assert "365 days" in cli.stderr
    for secret in (CLIENT_SECRET, refresh_token, _query(page.url)["code"]):
        assert secret not in cli.stderr

    from airflow.models.connection import Connection

    assert Connection.from_json(stdout, conn_id="authorized").conn_type == "linkedin_capi"
    monkeypatch.setenv("AIRFLOW_CONN_AUTHORIZED", stdout.strip())
    sandbox.admin.create_rule(name="CRM purchases", type="PURCHASE")
    hook = LinkedInCapiHook("authorized")
    ok, message = hook.test_connection()
    assert ok, message
    assert len(hook.list_conversion_rules()) == 1
    assert sandbox.admin.stats()["tokens_issued"] == 2  # the consent's token, then the hook's refresh


def test_an_app_without_refresh_tokens_gets_the_access_token_and_a_warning(sandbox, monkeypatch):
    sandbox.admin.configure(issue_refresh_tokens=False)
    cli = _cli(sandbox)
    requests.get(cli.consent_url(), timeout=30)
    status, stdout = cli.finish()
    assert status == 0, cli.stderr
    connection = json.loads(stdout)
    access_token = connection["extra"]["access_token"]
    assert "refresh_token" not in connection["extra"]
    assert "no refresh token" in cli.stderr
    assert "5184000 seconds (60 days" in cli.stderr
    assert "renewed by hand" in cli.stderr
    assert access_token not in cli.stderr
    monkeypatch.setenv("AIRFLOW_CONN_AUTHORIZED", stdout.strip())
    assert LinkedInCapiHook("authorized").list_conversion_rules(AD_ACCOUNT_ID) == []


def test_a_wrong_state_exchanges_nothing(sandbox):
    cli = _cli(sandbox)
    consent = requests.get(cli.consent_url(), allow_redirects=False, timeout=30)
    callback = consent.headers["Location"]
    code = _query(callback)["code"]
    forged = callback.replace(f"state={_query(callback)['state']}", "state=forged")
    assert requests.get(forged, timeout=30).status_code == 200
    status, stdout = cli.finish()
    assert status == 1
    assert stdout == ""
    assert "state does not match" in cli.stderr
    assert code not in cli.stderr
    assert sandbox.admin.stats()["tokens_issued"] == 0
    # the code is still unused: nothing was sent to the token endpoint
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": callback.split("?")[0],
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    assert requests.post(sandbox.token_url, data=form, timeout=10).status_code == 200


@pytest.mark.parametrize("consent", ["user_cancelled_authorize", "user_cancelled_login"])
def test_a_member_who_cancels_gets_a_clear_message(sandbox, consent):
    sandbox.admin.configure(consent=consent)
    cli = _cli(sandbox)
    page = requests.get(cli.consent_url(), timeout=30)
    assert "did not authorise" in page.text
    status, stdout = cli.finish()
    assert (status, stdout) == (1, "")
    assert f"the consent was cancelled on LinkedIn ({consent}" in cli.stderr
    assert sandbox.admin.stats()["tokens_issued"] == 0


@pytest.mark.parametrize(
    "base",
    [
        "https://evil.example",
        "http://www.linkedin.com",
        "https://www.linkedin.com.evil.example",
        "https://www.linkedin.com:8443",
        "http://127.0.0.1.nip.io:8765",
        "http://user@127.0.0.1:8765",
        "http://127.0.0.1:8765/prefix",
        "ftp://127.0.0.1:8765",
    ],
)
def test_an_oauth_base_that_is_neither_linkedin_nor_loopback_is_refused_before_anything(base):
    port = _free_port()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow_provider_linkedin_capi.authorize",
            "--client-id",
            "id",
            "--client-secret",
            "a-secret-value",
            "--oauth-base",
            base,
            "--port",
            str(port),
            "--no-browser",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "is refused" in result.stderr
    assert "a-secret-value" not in result.stderr
    assert result.stdout == ""
    assert CONSENT_PATH not in result.stderr  # no URL printed, nothing listened for


def test_the_function_refuses_the_same_before_it_listens_or_opens_a_browser():
    opened: list[str] = []
    with pytest.raises(ConsentError, match="is refused"):
        authorize.authorize("id", "secret", oauth_base="https://evil.example", open_url=opened.append)
    assert opened == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://www.linkedin.com", "https://www.linkedin.com"),
        ("https://www.linkedin.com/", "https://www.linkedin.com"),
        ("https://WWW.LinkedIn.com:443", "https://www.linkedin.com"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("http://localhost:8765/", "http://localhost:8765"),
        ("http://[::1]:8765", "http://[::1]:8765"),
        ("https://127.0.0.1", "https://127.0.0.1"),
    ],
)
def test_linkedin_and_loopback_bases_are_accepted(given, expected):
    assert authorize.check_oauth_base(given) == expected


def test_the_consent_url_is_linkedins_documented_form():
    url = authorize.authorization_url(
        authorize.LINKEDIN_OAUTH_BASE, "abc", authorize.redirect_uri_for(8766), "xyz"
    )
    assert url == (
        "https://www.linkedin.com/oauth/v2/authorization?response_type=code&client_id=abc"
        "&redirect_uri=http%3A%2F%2F127.0.0.1%3A8766%2Fcallback&state=xyz&scope=rw_conversions%20r_ads"
    )


def test_the_provider_spells_linkedins_oauth_endpoints_once():
    """``hooks/_connection.py`` still has its own copies of the host and path: they must agree."""
    assert _connection.LINKEDIN_OAUTH_HOST == constants.LINKEDIN_OAUTH_HOST
    assert _connection.TOKEN_PATH == constants.TOKEN_PATH
    assert authorize.LINKEDIN_OAUTH_BASE + constants.TOKEN_PATH == _connection.LINKEDIN_TOKEN_URL


# -- the listener, in process: bounded, and deaf to everything but the callback ------------------------


class _Browser:
    """A fake browser: requests ``paths`` on the listener's origin ("CONSENT": the consent URL), in order,
    on its own thread, as a real browser would while the command waits."""

    def __init__(self, *paths: str) -> None:
        self.paths = paths
        self.visits: list[int] = []
        self._thread: threading.Thread | None = None

    def __call__(self, url: str) -> None:
        origin = _query(url)["redirect_uri"].rsplit("/", 1)[0]

        def visit() -> None:
            for path in self.paths:
                target = url if path == "CONSENT" else origin + path
                self.visits.append(requests.get(target, timeout=30).status_code)

        self._thread = threading.Thread(target=visit, daemon=True)
        self._thread.start()

    def done(self) -> list[int]:
        """The statuses the browser got, once it has read every answer."""
        assert self._thread is not None, "the URL was never opened"
        self._thread.join(30)
        assert not self._thread.is_alive()
        return self.visits


def test_other_requests_are_answered_404_and_the_consent_still_completes(sandbox):
    browser = _Browser("/favicon.ico", "/", "CONSENT")
    said: list[str] = []
    connection = authorize.authorize(
        CLIENT_ID,
        CLIENT_SECRET,
        oauth_base=sandbox.base_url,
        port=0,
        timeout=60,
        open_url=browser,
        say=said.append,
    )
    assert browser.done() == [404, 404, 200]
    assert set(connection["extra"]) == {"refresh_token"}
    assert not any(connection["extra"]["refresh_token"] in line or CLIENT_SECRET in line for line in said)


def test_the_listener_gives_up_after_a_few_stray_requests(sandbox):
    browser = _Browser(*["/favicon.ico"] * 3)
    with pytest.raises(ConsentError, match="3 requests reached"):
        authorize.authorize(
            CLIENT_ID,
            CLIENT_SECRET,
            oauth_base=sandbox.base_url,
            port=0,
            timeout=60,
            open_url=browser,
            say=lambda _: None,
            max_requests=3,
        )
    assert browser.done() == [404, 404, 404]


def test_the_listener_stops_at_its_timeout(sandbox):
    with pytest.raises(ConsentError, match=r"no answer from LinkedIn within 0\.3 s"):
        authorize.authorize(
            CLIENT_ID, CLIENT_SECRET, oauth_base=sandbox.base_url, port=0, timeout=0.3, open_url=None
        )


def test_a_refused_exchange_is_reported_without_the_secret(sandbox):
    with pytest.raises(ConsentError) as info:
        authorize.authorize(
            CLIENT_ID,
            "not-the-secret",
            oauth_base=sandbox.base_url,
            port=0,
            timeout=60,
            open_url=_Browser("CONSENT"),
        )
    message = str(info.value)
    assert "HTTP 401 invalid_client" in message
    assert "check the client id and secret" in message
    assert "not-the-secret" not in message


class _RedirectingTokenEndpoint(BaseHTTPRequestHandler):
    """A consent page that approves, and a token endpoint that answers a redirect elsewhere."""

    posts: list[str] = []

    def do_GET(self) -> None:
        query = _query(self.path)
        self.send_response(302)
        self.send_header("Location", f"{query['redirect_uri']}?code=c0de&state={query['state']}")
        self.end_headers()

    def do_POST(self) -> None:
        self.posts.append(self.path)
        self.send_response(307)
        self.send_header("Location", "http://127.0.0.1:9/steal")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args) -> None:
        pass


def test_a_redirect_from_the_token_endpoint_is_not_followed():
    _RedirectingTokenEndpoint.posts = []
    server = HTTPServer(("127.0.0.1", 0), _RedirectingTokenEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ConsentError, match="answered a redirect \\(HTTP 307\\), which is not followed"):
            authorize.authorize(
                "id",
                "secret",
                oauth_base=f"http://127.0.0.1:{server.server_address[1]}",
                port=0,
                timeout=60,
                open_url=_Browser("CONSENT"),
                say=lambda _: None,
            )
    finally:
        server.shutdown()
        server.server_close()
    assert _RedirectingTokenEndpoint.posts == ["/oauth/v2/accessToken"]


# -- --conn-id ---------------------------------------------------------------------------------------------


def _fake_airflow(directory: Path, exit_code: int, says: str) -> Path:
    """An ``airflow`` executable that records its arguments and prints ``says`` (with the secret in it)."""
    record = directory / "argv.json"
    script = directory / "airflow"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"json.dump(sys.argv[1:], open({str(record)!r}, 'w'))\n"
        f"print({says!r} + ' password=' + json.loads(sys.argv[-1])['password'])\n"
        f"sys.exit({exit_code})\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return record


@pytest.mark.parametrize(
    ("exit_code", "says", "status"),
    [
        (0, "Successfully added `conn_id`=linkedin_capi_default", 0),
        (1, "A connection with `conn_id`=linkedin_capi_default already exists.", 3),
    ],
)
def test_conn_id_runs_airflow_connections_add(sandbox, tmp_path, exit_code, says, status):
    record = _fake_airflow(tmp_path, exit_code, says)
    path = f"{tmp_path}{os.pathsep}{os.environ['PATH']}"
    cli = _cli(sandbox, "--conn-id", "linkedin_capi_default", env={"PATH": path})
    requests.get(cli.consent_url(), timeout=30)
    returned, stdout = cli.finish()
    assert returned == status, cli.stderr
    connection = json.loads(stdout)  # printed first, whatever Airflow says
    argv = json.loads(record.read_text())
    assert argv[:4] == ["connections", "add", "linkedin_capi_default", "--conn-json"]
    assert json.loads(argv[4]) == connection
    assert says in cli.stderr
    assert f"password={CLIENT_SECRET}" not in cli.stderr
    assert "password=***" in cli.stderr
    if status:
        assert "airflow connections delete linkedin_capi_default" in cli.stderr


def test_conn_id_without_airflow_on_path_still_prints_the_connection(sandbox, tmp_path):
    cli = _cli(sandbox, "--conn-id", "linkedin_capi_default", env={"PATH": str(tmp_path)})
    requests.get(cli.consent_url(), timeout=30)
    returned, stdout = cli.finish()
    assert returned == 3
    assert json.loads(stdout)["login"] == CLIENT_ID
    assert "`airflow` is not on PATH" in cli.stderr
