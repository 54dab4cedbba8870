"""Get a LinkedIn refresh token without writing code: ``python -m airflow_provider_linkedin_capi.authorize``.

The connection needs a programmatic refresh token, which only LinkedIn's 3-legged consent gives
(docs/linkedin-contract.md §5.11-5.14): a member with a role on the ad account approves the app in a
browser, LinkedIn redirects the browser to the app's redirect URL with a one-time code, and the app
exchanges the code for tokens. This command plays the app for one consent: it prints (and opens) the
consent URL, listens once on ``http://127.0.0.1:PORT/callback`` for the redirect, exchanges the code, and
prints the Airflow connection as JSON on stdout, ready for ``AIRFLOW_CONN_...``, a secrets backend or
``airflow connections add --conn-json``; everything else goes to stderr. See docs/credentials.md.

The client secret travels only to LinkedIn's token endpoint, or to a sandbox on a loopback address
(``--oauth-base``); any other address is refused before anything is sent. The secret and the tokens are
never written to stderr, only into the JSON on stdout, which is the point of the command.

Exit status: 0 done; 1 the consent or the exchange failed (nothing usable was printed); 2 bad arguments;
3 the connection was printed but ``airflow connections add`` failed.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import webbrowser
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import requests

from airflow_provider_linkedin_capi import urns
from airflow_provider_linkedin_capi.constants import (
    AUTHORIZATION_PATH,
    CAPI_SCOPES,
    LINKEDIN_OAUTH_HOST,
    TOKEN_PATH,
)

#: Where the consent runs unless ``--oauth-base`` points at a sandbox.
LINKEDIN_OAUTH_BASE = f"https://{LINKEDIN_OAUTH_HOST}"
#: The port of the redirect URL ``http://127.0.0.1:PORT/callback``, which must be registered in the app.
#: Not 8765: that is the sandbox's default port.
DEFAULT_PORT = 8766
CALLBACK_PATH = "/callback"
#: Seconds to wait for the member to sign in and approve.
DEFAULT_TIMEOUT = 300.0
#: Requests the listener answers (404 to anything but the callback) before giving up.
MAX_REQUESTS = 20
#: Seconds one connection to the listener may take to send its request.
_REQUEST_TIMEOUT = 10.0
#: Seconds the token exchange may take, and the most bytes its answer may have (tokens are ~500 chars).
_TOKEN_TIMEOUT = 30.0
_MAX_TOKEN_ANSWER_BYTES = 64 * 1024
#: Seconds ``airflow connections add`` may take (its first run in a fresh AIRFLOW_HOME is slow).
_AIRFLOW_TIMEOUT = 180.0
#: Loopback names a sandbox may use: the secret then never leaves the machine.
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: The connection type the provider registers (``LinkedInCapiHook.conn_type``).
_CONN_TYPE = "linkedin_capi"
_MAX_MESSAGE_CHARS = 300
_CANCELLED = {"user_cancelled_login", "user_cancelled_authorize"}

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_AIRFLOW = 0, 1, 2, 3


class ConsentError(RuntimeError):
    """The consent or the code exchange failed; the message is safe to show (no secret, no token).

    Defined here rather than in ``exceptions.py``, whose errors derive from Airflow's: this command
    imports nothing of Airflow, so that it runs in a second and writes no ``airflow.cfg``.
    """


# ----------------------------------------------------------------------------------------------------
# Where the consent may run, and its URL


def check_oauth_base(value: str) -> str:
    """The origin of the consent page and token endpoint, once it is LinkedIn's or a loopback sandbox.

    The client secret is posted to ``<origin>/oauth/v2/accessToken``, so anything else (another host, a
    path, user info) is refused before a request is made.

    :raises ValueError: the URL is neither ``https://www.linkedin.com`` nor an http(s) URL on
        127.0.0.1, localhost or ::1.
    """
    text = value.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        parts, port = None, None
    usable = (
        parts is not None
        and parts.scheme in ("http", "https")
        and not (parts.username or parts.password or parts.query or parts.fragment)
        and parts.path in ("", "/")
    )
    if usable and parts is not None:
        if parts.scheme == "https" and parts.hostname == LINKEDIN_OAUTH_HOST and port in (None, 443):
            return LINKEDIN_OAUTH_BASE
        if parts.hostname in _LOOPBACK_HOSTS:
            return f"{parts.scheme}://{parts.netloc.lower()}"
    raise ValueError(
        f"--oauth-base {_shorten(text)!r} is refused: the client secret is sent only to "
        f"{LINKEDIN_OAUTH_BASE} or to a sandbox on 127.0.0.1, localhost or ::1 (an origin such as "
        "http://127.0.0.1:8765, without a path)"
    )


def is_linkedin(oauth_base: str) -> bool:
    """Whether a checked origin is LinkedIn's (then the connection needs no ``host``)."""
    return oauth_base == LINKEDIN_OAUTH_BASE


def redirect_uri_for(port: int) -> str:
    """The redirect URL to register in the app's Auth tab (LinkedIn compares it exactly)."""
    return f"http://127.0.0.1:{port}{CALLBACK_PATH}"


def authorization_url(oauth_base: str, client_id: str, redirect_uri: str, state: str) -> str:
    """LinkedIn's consent URL (§5.11): ``response_type=code``, the app, the redirect, the state and the
    space-separated scopes, each value percent-encoded (the space as ``%20``)."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": " ".join(CAPI_SCOPES),
        },
        quote_via=quote,
    )
    return f"{oauth_base}{AUTHORIZATION_PATH}?{query}"


# ----------------------------------------------------------------------------------------------------
# The one-shot listener for LinkedIn's redirect


class _CallbackServer(HTTPServer):
    """Serves one request at a time on 127.0.0.1 and keeps the callback's query once it arrives."""

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _CallbackHandler)
        self.callback: dict[str, str] | None = None
        self.requests_seen = 0
        self.request_timeout = _REQUEST_TIMEOUT


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _CallbackServer

    def setup(self) -> None:
        # A browser that connects and sends nothing must not hold the only thread past the deadline.
        self.timeout = self.server.request_timeout
        super().setup()

    def do_GET(self) -> None:
        self.server.requests_seen += 1
        parts = urlsplit(self.path)
        if parts.path != CALLBACK_PATH or self.server.callback is not None:
            self._answer(404, "Not found.")
            return
        self.server.callback = {
            key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()
        }
        if "code" in self.server.callback:
            self._answer(200, "LinkedIn's answer has reached the terminal: you can close this tab.")
        else:
            self._answer(200, "LinkedIn did not authorise the app; the terminal says why.")

    def _answer(self, status: int, text: str) -> None:
        body = f"<!DOCTYPE html><html><body><p>{text}</p></body></html>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a request line holds the one-time code and the state."""


def _listen(port: int) -> _CallbackServer:
    try:
        return _CallbackServer(port)
    except OSError as err:
        raise ConsentError(
            f"cannot listen on 127.0.0.1:{port} ({err.strerror or err}); free the port or choose another "
            f"--port, and register http://127.0.0.1:<port>{CALLBACK_PATH} in the app's Auth tab"
        ) from None


def _wait_for_callback(server: _CallbackServer, timeout: float, max_requests: int) -> dict[str, str]:
    """Serve requests until the callback arrives, the deadline passes or ``max_requests`` were served."""
    deadline = time.monotonic() + timeout
    while server.callback is None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ConsentError(
                f"no answer from LinkedIn within {timeout:g} s; run the command again (--timeout to wait "
                "longer)"
            )
        if server.requests_seen >= max_requests:
            raise ConsentError(
                f"{server.requests_seen} requests reached 127.0.0.1:{server.server_address[1]} and none was "
                f"LinkedIn's redirect to {CALLBACK_PATH}; run the command again"
            )
        server.timeout = left
        server.request_timeout = min(_REQUEST_TIMEOUT, left)
        server.handle_request()
    return server.callback


def _code_from(callback: dict[str, str], state: str) -> str:
    """The code, once the state proves the redirect answers this consent (§5.12) and LinkedIn approved."""
    if not secrets.compare_digest(callback.get("state", "").encode(), state.encode()):
        raise ConsentError(
            "the redirect's state does not match the one this command sent, so it may not come from this "
            "consent (a stale tab, or a forged request); nothing was exchanged. Run the command again."
        )
    error = callback.get("error")
    if error:
        description = _clean(callback.get("error_description", ""))
        if error in _CANCELLED:
            raise ConsentError(
                f"the consent was cancelled on LinkedIn ({_clean(error)}: {description}); nothing was "
                "exchanged. Run the command again and approve the app."
            )
        raise ConsentError(f"LinkedIn refused the consent: {_clean(error)}: {description}")
    code = callback.get("code")
    if not code:
        raise ConsentError("LinkedIn's redirect carried neither a code nor an error; nothing was exchanged")
    return code


# ----------------------------------------------------------------------------------------------------
# The code exchange


def _exchange(
    oauth_base: str, code: str, redirect_uri: str, client_id: str, client_secret: str
) -> dict[str, Any]:
    """Trade the code for tokens (§5.14): a form POST, bounded in time and size, redirects not followed."""
    token_url = f"{oauth_base}{TOKEN_PATH}"
    hidden = (client_secret, code)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    try:
        response = requests.post(
            token_url,
            data=form,
            headers={"Accept": "application/json"},
            timeout=_TOKEN_TIMEOUT,
            allow_redirects=False,
            stream=True,
        )
        with response:
            raw = response.raw.read(_MAX_TOKEN_ANSWER_BYTES + 1, decode_content=True)
    except (requests.RequestException, OSError) as err:
        reason = _clean(_without(str(err), hidden))
        raise ConsentError(f"the token endpoint {token_url} could not be reached: {reason}") from None
    if len(raw) > _MAX_TOKEN_ANSWER_BYTES:
        raise ConsentError(f"the token endpoint's answer exceeds {_MAX_TOKEN_ANSWER_BYTES} bytes; not read")
    if 300 <= response.status_code < 400:
        raise ConsentError(
            f"the token endpoint answered a redirect (HTTP {response.status_code}), which is not followed: "
            "the client secret goes to the token endpoint only"
        )
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise ConsentError(f"the token endpoint answered HTTP {response.status_code} without a JSON object")
    if response.status_code != 200:
        error = _clean(_without(str(answer.get("error", "")), hidden))
        description = _clean(_without(str(answer.get("error_description", "")), hidden))
        raise ConsentError(
            f"the token endpoint refused the code: HTTP {response.status_code} {error}: {description}"
            f"{_exchange_hint(error)}"
        )
    if not isinstance(answer.get("access_token"), str) or not answer["access_token"]:
        raise ConsentError("the token endpoint's answer has no access_token")
    return answer


def _exchange_hint(error: str) -> str:
    if error == "invalid_client":
        return " (check the client id and secret: the app's Auth tab shows both)"
    if error in ("invalid_redirect_uri", "invalid_request"):
        return " (a code lasts 30 minutes and works once; run the command again)"
    return ""


# ----------------------------------------------------------------------------------------------------
# The connection


def connection_from_tokens(
    tokens: dict[str, Any],
    *,
    client_id: str,
    client_secret: str,
    oauth_base: str = LINKEDIN_OAUTH_BASE,
    ad_account_id: str | None = None,
) -> dict[str, Any]:
    """The Airflow connection for these tokens: the refresh token, else the access token.

    ``host`` is set only for a sandbox (``<oauth-base>/rest``): the hook derives its token endpoint from
    ``host`` (same origin + ``/oauth/v2/accessToken``), so the refresh goes where the consent went.
    """
    refresh_token = tokens.get("refresh_token")
    extra: dict[str, Any] = (
        {"refresh_token": refresh_token}
        if isinstance(refresh_token, str) and refresh_token
        else {"access_token": tokens["access_token"]}
    )
    if ad_account_id is not None:
        extra["ad_account_id"] = urns.account_id(ad_account_id)
    connection: dict[str, Any] = {"conn_type": _CONN_TYPE}
    if not is_linkedin(oauth_base):
        connection["host"] = f"{oauth_base}/rest"
    connection.update(login=client_id, password=client_secret, extra=extra)
    return connection


def _lifetimes(tokens: dict[str, Any], now: datetime) -> list[str]:
    """What the user must know about the tokens' lifetimes (§5.2, §5.3), without the tokens."""
    if "refresh_token" in tokens and tokens.get("refresh_token"):
        seconds = _seconds(tokens.get("refresh_token_expires_in"))
        if seconds is None:
            return ["Refresh token received; LinkedIn did not say how long it lasts (normally 365 days)."]
        return [
            f"Refresh token received: it lasts {_duration(seconds)} (until about "
            f"{(now + timedelta(seconds=seconds)).date().isoformat()}). Refreshing does not extend it: run "
            "this command again before then."
        ]
    seconds = _seconds(tokens.get("expires_in"))
    until = (
        f"{seconds} seconds ({_duration(seconds)}, until about "
        f"{(now + timedelta(seconds=seconds)).date().isoformat()})"
        if seconds is not None
        else "an unstated time (normally 60 days)"
    )
    return [
        "LinkedIn returned no refresh token: this app is not approved for programmatic refresh tokens.",
        f"The connection holds the access token instead. It expires in {until} and must then be renewed "
        "by hand: run this command again and update the connection.",
    ]


def _seconds(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _duration(seconds: int) -> str:
    days = seconds / 86400
    return f"{days:.0f} days" if days >= 2 else f"{seconds} seconds"


# ----------------------------------------------------------------------------------------------------
# The whole consent


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def open_in_browser(url: str) -> bool:
    """Open ``url`` with :mod:`webbrowser`, keeping stdout for the JSON.

    Browsers started this way inherit stdout and some print to it ("Opening in existing browser
    session."), which would corrupt the JSON a caller captures; so stdout points at stderr meanwhile.
    On Linux without a display nothing is tried: ``webbrowser`` would start a console browser in this
    terminal, where LinkedIn's sign-in does not work.
    """
    if sys.platform.startswith("linux") and not any(
        os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")
    ):
        return False
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:
        return webbrowser.open(url)
    try:
        os.dup2(2, 1)
        return webbrowser.open(url)
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def authorize(
    client_id: str,
    client_secret: str,
    *,
    oauth_base: str = LINKEDIN_OAUTH_BASE,
    port: int = DEFAULT_PORT,
    timeout: float = DEFAULT_TIMEOUT,
    ad_account_id: str | None = None,
    open_url: Callable[[str], object] | None = open_in_browser,
    say: Callable[[str], None] = _say,
    max_requests: int = MAX_REQUESTS,
) -> dict[str, Any]:
    """Run one consent and return the Airflow connection (a dict; ``json.dumps`` it for Airflow).

    :param oauth_base: ``https://www.linkedin.com``, or a loopback sandbox such as
        ``http://127.0.0.1:8765``; anything else is refused before a request is made.
    :param port: the port of the redirect URL ``http://127.0.0.1:PORT/callback``, which must be registered
        in the app; 0 picks a free one (only useful against the sandbox, which accepts any redirect URL).
    :param timeout: seconds to wait for LinkedIn's redirect.
    :param open_url: called with the consent URL once the listener is up (a browser, or a test that
        plays one; it must not block); ``None`` only prints the URL.
    :param say: where progress goes (stderr); never given a secret or a token.
    :param max_requests: requests the listener answers before it gives up on the callback.
    :raises ConsentError: the consent was refused, cancelled, forged or timed out, or the exchange failed.
    """
    try:
        oauth_base = check_oauth_base(oauth_base)
        account = None if ad_account_id is None else urns.account_id(ad_account_id)
    except ValueError as err:
        raise ConsentError(str(err)) from None
    if not client_id.strip() or not client_secret.strip():
        raise ConsentError("the client id and the client secret must not be empty")
    if _has_control_character(client_id) or _has_control_character(client_secret):
        raise ConsentError("the client id or secret contains a line break or another control character")
    server = _listen(port)
    try:
        redirect_uri = redirect_uri_for(server.server_address[1])
        state = secrets.token_urlsafe(32)
        url = authorization_url(oauth_base, client_id.strip(), redirect_uri, state)
        say(
            "Open this URL in a browser, signed in to LinkedIn as a member with a role on the ad account "
            "(not Viewer), and approve the app:\n\n"
            f"  {url}\n\n"
            f"Waiting up to {timeout:g} s for LinkedIn to redirect to {redirect_uri} (register that exact "
            "URL in the app's Auth tab first)."
        )
        if open_url is not None:
            try:
                opened = open_url(url)
            except Exception as err:  # a missing browser must not end the consent: the URL is printed
                say(f"Could not open a browser ({type(err).__name__}); open the URL above by hand.")
            else:
                if opened is False:
                    say("No browser could be opened here; open the URL above by hand.")
        callback = _wait_for_callback(server, timeout, max_requests)
    finally:
        server.server_close()
    code = _code_from(callback, state)
    say("Consent received; exchanging the code for tokens.")
    tokens = _exchange(oauth_base, code, redirect_uri, client_id.strip(), client_secret.strip())
    for line in _lifetimes(tokens, datetime.now(UTC)):
        say(line)
    return connection_from_tokens(
        tokens,
        client_id=client_id.strip(),
        client_secret=client_secret.strip(),
        oauth_base=oauth_base,
        ad_account_id=account,
    )


# ----------------------------------------------------------------------------------------------------
# ``--conn-id``: store the connection with Airflow's CLI


def add_connection_command(conn_id: str, connection: dict[str, Any], airflow: str) -> list[str]:
    """``airflow connections add ID --conn-json JSON`` as an argument list (no shell)."""
    return [airflow, "connections", "add", conn_id, "--conn-json", json.dumps(connection)]


def _add_to_airflow(conn_id: str, connection: dict[str, Any], say: Callable[[str], None]) -> bool:
    """Store the connection in Airflow's metadata database; say what Airflow answered, secrets removed."""
    airflow = shutil.which("airflow")
    if airflow is None:
        say("`airflow` is not on PATH, so the connection was not added; the JSON above holds it.")
        return False
    hidden = _secrets_of(connection)
    try:
        result = subprocess.run(
            add_connection_command(conn_id, connection, airflow),
            capture_output=True,
            text=True,
            timeout=_AIRFLOW_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        say(f"`airflow connections add` could not run ({type(err).__name__}); the JSON above holds it.")
        return False
    output = _without(f"{result.stdout}\n{result.stderr}", hidden)
    tail = "\n".join(line for line in output.strip().splitlines()[-8:] if line.strip())
    if result.returncode == 0:
        say(f"Added connection {conn_id!r} with `airflow connections add`:\n{tail}")
        return True
    say(
        f"`airflow connections add` failed (exit {result.returncode}); the JSON above holds the "
        f"connection. Airflow said:\n{tail}\n(An existing connection is not replaced: delete it with "
        f"`airflow connections delete {conn_id}`, or update it in the UI or the secrets backend.)"
    )
    return False


def _secrets_of(connection: dict[str, Any]) -> tuple[str, ...]:
    extra = connection.get("extra", {})
    values = (connection.get("password"), extra.get("refresh_token"), extra.get("access_token"))
    return tuple(value for value in values if isinstance(value, str) and value)


# ----------------------------------------------------------------------------------------------------
# Command line


def _oauth_base_argument(value: str) -> str:
    try:
        return check_oauth_base(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _port_argument(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("the port must be within 0-65535")
    return port


def _positive_seconds(value: str) -> float:
    seconds = float(value)
    if not 0 < seconds <= 86400:
        raise argparse.ArgumentTypeError("the timeout must be more than 0 and at most 86400 seconds")
    return seconds


def _account_argument(value: str) -> str:
    try:
        return urns.account_id(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_linkedin_capi.authorize",
        description="Run LinkedIn's consent (3-legged OAuth) once and print the Airflow connection as JSON "
        "on stdout. The app needs the Conversions API product and the redirect URL "
        f"http://127.0.0.1:PORT{CALLBACK_PATH} in its Auth tab; see docs/credentials.md.",
        epilog="The client secret comes from --client-secret, else the environment variable "
        "LINKEDIN_CLIENT_SECRET, else a prompt (a secret given as an argument shows in the process list "
        "and the shell's history). Exit status: 0 done, 1 consent or exchange failed, 2 bad arguments, "
        "3 printed but `airflow connections add` failed. Try it first against the sandbox: "
        "python -m airflow_provider_linkedin_capi.sandbox --help shows its credentials.",
    )
    parser.add_argument("--client-id", required=True, help="the app's Client ID (Auth tab)")
    parser.add_argument(
        "--client-secret",
        default=None,
        help="the app's Client Secret; prefer LINKEDIN_CLIENT_SECRET or the prompt",
    )
    parser.add_argument(
        "--port",
        type=_port_argument,
        default=DEFAULT_PORT,
        help=f"port of the redirect URL http://127.0.0.1:PORT{CALLBACK_PATH} (default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT,
        help=f"seconds to wait for the consent (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--ad-account-id",
        type=_account_argument,
        default=None,
        help="ad account id (the number in Campaign Manager's URL .../accounts/<id>/...), stored in the "
        "connection's extra",
    )
    parser.add_argument(
        "--oauth-base",
        type=_oauth_base_argument,
        default=LINKEDIN_OAUTH_BASE,
        help=f"origin of the consent page and token endpoint (default {LINKEDIN_OAUTH_BASE}); only a "
        "loopback sandbox such as http://127.0.0.1:8765 is accepted besides LinkedIn",
    )
    parser.add_argument("--no-browser", action="store_true", help="only print the consent URL")
    parser.add_argument(
        "--conn-id",
        default=None,
        help="also store the connection with `airflow connections add ID --conn-json ...`",
    )
    return parser


def _client_secret(given: str | None, say: Callable[[str], None]) -> str:
    if given:
        say("Note: a client secret given as an argument shows in the process list and the shell history.")
        return given
    from_env = os.environ.get("LINKEDIN_CLIENT_SECRET", "")
    if from_env.strip():
        return from_env
    try:
        return getpass.getpass("The app's Client Secret (not shown): ", stream=sys.stderr)
    except (EOFError, KeyboardInterrupt):
        return ""


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (see the module's docstring)."""
    args = build_parser().parse_args(argv)
    secret = _client_secret(args.client_secret, _say)
    if not secret.strip():
        _say("No client secret: pass --client-secret, set LINKEDIN_CLIENT_SECRET, or type it at the prompt.")
        return EXIT_USAGE
    try:
        connection = authorize(
            args.client_id,
            secret,
            oauth_base=args.oauth_base,
            port=args.port,
            timeout=args.timeout,
            ad_account_id=args.ad_account_id,
            open_url=None if args.no_browser else open_in_browser,
        )
    except ConsentError as err:
        _say(f"Error: {err}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _say("Interrupted; nothing was printed.")
        return 130
    sys.stdout.write(json.dumps(connection) + "\n")
    sys.stdout.flush()
    if args.conn_id and not _add_to_airflow(args.conn_id, connection, _say):
        return EXIT_AIRFLOW
    return EXIT_OK


# ----------------------------------------------------------------------------------------------------
# Text that reaches the terminal


def _without(text: str, hidden: Iterable[str | None]) -> str:
    for value in hidden:
        if value:
            text = text.replace(value, "***")
    return text


def _has_control_character(text: str) -> bool:
    return any(ord(char) < 32 or ord(char) == 127 for char in text)


def _clean(text: str) -> str:
    """Printable, one line, bounded: text from the network is shown, never interpreted by the terminal."""
    return _shorten("".join(char if char.isprintable() else " " for char in text))


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[: _MAX_MESSAGE_CHARS - 3] + "..."


if __name__ == "__main__":
    sys.exit(main())
