"""Run the sandbox from tests, in this project's suite and in users' own CI.

Example (pytest)::

    from airflow_provider_linkedin_capi.sandbox.testing import SandboxProcess

    @pytest.fixture(scope="session")
    def linkedin():
        with SandboxProcess() as sandbox:
            yield sandbox

    def test_push(linkedin, monkeypatch):
        linkedin.admin.reset()
        monkeypatch.setenv("AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT", linkedin.connection_json())
        rule = linkedin.admin.create_rule(name="CRM purchases", type="PURCHASE")
        ...  # run your DAG or operator
        assert linkedin.admin.stats()["events_total"] == 3

The sandbox runs as a separate process (``sys.executable -m airflow_provider_linkedin_capi.sandbox``) on a
free port of 127.0.0.1, so the code under test talks real HTTP to it, exactly as it would to LinkedIn.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence

import requests

from airflow_provider_linkedin_capi.sandbox import (
    CLIENT_ID,
    CLIENT_SECRET,
    LISTENING_PREFIX,
    connection_for,
)

__all__ = ["SandboxAdmin", "SandboxProcess"]


class SandboxAdmin:
    """Client of the ``/_sandbox`` admin API."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    def _call(self, method: str, path: str, *, json_body: object = None, params: dict | None = None) -> dict:
        # The admin API refuses any body that is not JSON, and requests with an Origin header; requests
        # sends Content-Type: application/json for ``json=``, no Origin, and the Host of base_url, which
        # is the sandbox's listening address.
        if json_body is None and method != "GET":
            json_body = {}
        response = self._session.request(
            method, f"{self.base_url}/_sandbox/{path}", json=json_body, params=params, timeout=self.timeout
        )
        if response.status_code >= 400:
            raise RuntimeError(
                f"sandbox admin {method} {path} failed: {response.status_code} {response.text}"
            )
        return response.json()

    def health(self) -> dict:
        return self._call("GET", "health")

    def reset(self) -> None:
        """Forget events, rules, links, faults, poison, counters, tokens; settings back to the CLI's."""
        self._call("POST", "reset")

    def set_faults(self, faults: list[dict], seed: int | None = None) -> list[dict]:
        """Replace the fault plan, e.g. ``[{"kind": "503", "every": 3, "limit": 2}]``."""
        return self._call("PUT", "faults", json_body={"faults": faults, "seed": seed})["faults"]

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def faults(self) -> list[dict]:
        """The current plan with per-fault ``seen``/``injected`` counters."""
        return self._call("GET", "faults")["faults"]

    def stats(self) -> dict:
        return self._call("GET", "stats")

    def events(self, rule_id: object = None, offset: int = 0, limit: int | None = None) -> list[dict]:
        params: dict = {"offset": offset}
        if rule_id is not None:
            params["rule"] = str(rule_id)
        if limit is not None:
            params["limit"] = limit
        return self._call("GET", "events", params=params)["elements"]

    def event_ids(self, rule_id: object = None) -> dict[str, int]:
        params = {} if rule_id is None else {"rule": str(rule_id)}
        return self._call("GET", "event-ids", params=params)["event_ids"]

    def create_rule(self, **fields: object) -> dict:
        """Seed a rule with any fields (defaults: account AD_ACCOUNT_ID, CONVERSIONS_API, enabled).

        A field given as ``None`` is left out of the entity, e.g. ``enabled=None`` for a rule read back
        without ``enabled``.
        """
        fields.setdefault("name", "Sandbox rule")
        fields.setdefault("type", "PURCHASE")
        return self._call("POST", "rules", json_body=fields)

    def update_rule(self, rule_id: object, **fields: object) -> dict:
        """Change a rule's fields as LinkedIn would store them; ``None`` removes the field."""
        return self._call("PATCH", f"rules/{str(rule_id).rsplit(':', 1)[-1]}", json_body=fields)

    def add_campaigns(self, account_id: object, campaign_ids: Iterable[object]) -> list[str]:
        body = {"account": str(account_id), "campaigns": [str(c) for c in campaign_ids]}
        return self._call("POST", "campaigns", json_body=body)["campaigns"]

    def expire_tokens(self, include_static: bool = False) -> None:
        self._call("POST", "tokens/expire", json_body={"include_static": include_static})

    def revoke_tokens(self, include_static: bool = False) -> None:
        """Revoke access tokens (and with them the refresh token, as on LinkedIn)."""
        self._call("POST", "tokens/revoke", json_body={"include_static": include_static})

    def revoke_refresh_token(self) -> None:
        self._call("POST", "tokens/revoke-refresh")

    def poison(self, event_ids: Iterable[str], message_format: str = "indexed") -> None:
        """Make these eventIds fail validation; ``opaque`` hides the failing indices from the 422 message."""
        self._call(
            "PUT", "poison", json_body={"event_ids": list(event_ids), "message_format": message_format}
        )

    def fail_elements(self, event_ids: Iterable[str], status: int = 503, times: int = 1) -> None:
        """Answer these events with a per-element ``status`` inside a 200 batch answer, ``times`` times."""
        self._call(
            "PUT",
            "element-failures",
            json_body={"event_ids": list(event_ids), "status": status, "times": times},
        )

    def configure(self, **settings: object) -> dict:
        """Change settings at run time (``requests_per_minute``, ``active_versions``, ...).

        LinkedIn's time per events request: ``latency_ms`` (base), ``latency_us_per_event`` and
        ``latency_jitter_ms``; e.g. ``configure(latency_ms=500, latency_us_per_event=100)`` takes 1 s per
        batch of 5,000. ``stats()`` then reports ``event_requests_max_concurrent`` and
        ``event_requests_max_per_minute``.
        """
        return self._call("PUT", "config", json_body=settings)

    def config(self) -> dict:
        return self._call("GET", "config")


class SandboxProcess:
    """The sandbox as a child process; a context manager, or ``start()``/``stop()``.

    :param port: TCP port on 127.0.0.1; ``None`` picks a free one.
    :param args: extra command-line arguments, e.g. ``("--store", "ids", "--fault", "429:every=7")``.
    :param startup_timeout: seconds to wait for the server to answer its health check.
    """

    def __init__(
        self, *, port: int | None = None, args: Sequence[str] = (), startup_timeout: float = 30.0
    ) -> None:
        self.port = port
        self.args = tuple(args)
        self.startup_timeout = startup_timeout
        self.base_url = ""
        self._process: subprocess.Popen | None = None
        self._stderr = None
        self.admin: SandboxAdmin

    @property
    def rest_url(self) -> str:
        return f"{self.base_url}/rest"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/v2/accessToken"

    def start(self) -> SandboxProcess:
        if self._process is not None:
            return self
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        command = [
            sys.executable,
            "-m",
            "airflow_provider_linkedin_capi.sandbox",
            "--port",
            str(self.port or 0),
            *self.args,
        ]
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._stderr, env=os.environ.copy(), text=True
        )
        try:
            self.base_url = self._read_listening_line()
            self.admin = SandboxAdmin(self.base_url)
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        threading.Thread(target=self._drain_stdout, daemon=True).start()
        return self

    def _read_listening_line(self) -> str:
        assert self._process is not None
        assert self._process.stdout is not None
        found: list[str] = []
        stdout = self._process.stdout

        def read() -> None:
            for line in stdout:
                if line.startswith(LISTENING_PREFIX):
                    found.append(line[len(LISTENING_PREFIX) :].strip())
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(self.startup_timeout)
        if not found:
            raise RuntimeError(f"sandbox did not start within {self.startup_timeout}s: {self._stderr_tail()}")
        return found[0].rstrip("/")

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                if requests.get(f"{self.base_url}/_sandbox/health", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or (self._process and self._process.poll() is not None):
                raise RuntimeError(f"sandbox at {self.base_url} never became healthy: {self._stderr_tail()}")
            time.sleep(0.05)

    def _drain_stdout(self) -> None:
        process = self._process
        if process is not None and process.stdout is not None:
            for _ in process.stdout:
                pass

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read()[-4000:].decode("utf-8", "replace")

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if process is not None and process.stdout is not None:
            process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def connection(self, *, auth: str = "refresh_token", **extra_overrides: object) -> dict:
        """An Airflow connection dict for this sandbox (``auth``: ``refresh_token`` or ``access_token``)."""
        return connection_for(self.base_url, auth=auth, **extra_overrides)

    def connection_json(self, **kwargs: object) -> str:
        return json.dumps(self.connection(**kwargs))  # type: ignore[arg-type]

    def two_legged_token(self) -> str:
        """A client-credentials token: valid, but answered 403 on the Marketing API, as LinkedIn does.

        For testing what a task does when the token lacks a member, a scope or a role.
        """
        response = requests.post(
            self.token_url,
            data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()["access_token"]
