"""Keep web pages away from the ``/_sandbox`` admin API.

The admin API has no authentication: it is the test harness's side door. It can reset the sandbox and
read back every event it stored, names and IP addresses included. A page open in the developer's browser
can reach 127.0.0.1 too, so every admin request is checked here first:

* ``Host`` must be the address the sandbox listens on (``host:port`` as started; for a loopback address,
  also its other loopback spellings ``127.0.0.1``, ``localhost`` and ``[::1]``, which are also what a
  wildcard bind such as ``0.0.0.0`` accepts; more with ``--allow-host``). A DNS-rebinding page sends its
  own host name, and is refused (403).
* No ``Origin`` header: browsers send one with every cross-origin request and every POST; scripts and
  test clients do not (403).
* A body must be JSON, and a ``Content-Type`` other than ``application/json`` is refused even without a
  body (415). A page can send ``text/plain`` or form bodies without a CORS preflight, but never JSON.

What this does not protect: anyone who can open a TCP connection to the port (other local users, or the
network when ``--host`` is not a loopback address) can still use the admin API and the fake LinkedIn API,
and the sandbox's tokens and secrets are public constants.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_linkedin_capi.sandbox.responses import plain_json

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
JSON_CONTENT_TYPE = "application/json"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or host name) only ever means this machine."""
    text = host.strip().strip("[]").lower()
    if text == "localhost":
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def _is_wildcard(host: str) -> bool:
    return host.strip().strip("[]") in ("0.0.0.0", "::", "")


def _host_spelling(host: str) -> str:
    text = host.strip().lower()
    return f"[{text}]" if ":" in text and not text.startswith("[") else text


class AdminGuard:
    """The admin API's checks, for one listening address.

    :param host: the address the server was started on (``--host``), or ``None`` when the app is served
        by someone else (then any loopback spelling with any port is accepted as ``Host``).
    :param port: the port it listens on.
    :param extra_hosts: more ``Host`` values to accept (``--allow-host``), e.g. the name of a container
        that runs the sandbox; one without a port gets the listening port.
    """

    def __init__(
        self, host: str | None = None, port: int | None = None, extra_hosts: Iterable[str] = ()
    ) -> None:
        self.allowed_hosts: frozenset[str] | None = None
        if host is not None and port is not None:
            names = {_host_spelling(host)}
            if is_loopback(host) or _is_wildcard(host):
                names.update(LOOPBACK_NAMES)
            allowed = {f"{name}:{port}" for name in names}
            for extra in extra_hosts:
                text = extra.strip().lower()
                has_port = text.rsplit(":", 1)[-1].isdigit() and not text.endswith("]")
                allowed.add(text if has_port else f"{_host_spelling(text)}:{port}")
            if port == 80:  # a client leaves the default port out of Host
                allowed.update(name.rsplit(":", 1)[0] for name in list(allowed) if name.endswith(":80"))
            self.allowed_hosts = frozenset(allowed)

    def _host_allowed(self, value: str) -> bool:
        host = value.strip().lower()
        if self.allowed_hosts is not None:
            return host in self.allowed_hosts
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in LOOPBACK_NAMES

    def refusal(self, request: Request) -> Response | None:
        """The 403/415 answer for a request the admin API must not serve, else ``None``."""
        host = request.headers.get("host", "")
        if not self._host_allowed(host):
            expected = ", ".join(sorted(self.allowed_hosts)) if self.allowed_hosts else "a loopback address"
            return plain_json(
                403,
                {
                    "error": f"Host {host[:100]!r} is not this sandbox's listening address ({expected}); "
                    "the admin API refuses it (a web page reaching the sandbox through DNS rebinding "
                    "sends its own host name)"
                },
            )
        if "origin" in request.headers:
            return plain_json(
                403,
                {
                    "error": "the admin API refuses requests that carry an Origin header: web browsers send "
                    "one, and no web page may reset the sandbox or read its events. Call it from a script "
                    "or a test client."
                },
            )
        content_type = request.headers.get("content-type")
        media_type = (content_type or "").split(";", 1)[0].strip().lower()
        has_body = request.headers.get("content-length", "0").strip() not in ("", "0") or (
            "transfer-encoding" in request.headers
        )
        if (content_type is not None or has_body) and media_type != JSON_CONTENT_TYPE:
            return plain_json(
                415,
                {
                    "error": f"the admin API takes only JSON bodies (Content-Type: {JSON_CONTENT_TYPE}), "
                    f"got Content-Type {(content_type or 'none')[:100]!r}"
                },
            )
        return None


def loopback_warning(host: str) -> str | None:
    """A warning for stderr when ``--host`` exposes the sandbox beyond this machine, else ``None``."""
    if is_loopback(host):
        return None
    return (
        f"WARNING: the sandbox listens on {host}, not a loopback address. Anyone who can reach it can use "
        "its admin API without a password (reset it, read back the events it stored, names and IP "
        "addresses included), and its tokens are public. Use --host 127.0.0.1 unless you need it."
    )
