"""A faithful local LinkedIn Conversions API, for the demo, the test suite and users' own CI.

Run it with ``python -m airflow_provider_linkedin_capi.sandbox --port 8765``; drive it from tests with
:class:`airflow_provider_linkedin_capi.sandbox.testing.SandboxProcess`. The behaviour follows what
LinkedIn is known to do (``docs/linkedin-contract.md``, §8 for the sandbox). Where LinkedIn's
behaviour is UNKNOWN or only THIRD-PARTY reported (batch limit above 5,000, CAPI↔CAPI dedup, error
wording of time/identifier errors, ``invalid_grant`` vs ``invalid_request``), the sandbox picks the
suggested behaviour and makes it configurable through ``PUT /_sandbox/config``.

Nothing here imports Airflow or the provider's hooks: the sandbox must judge the client independently.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

CLIENT_ID = "sandbox-client-id"
CLIENT_SECRET = "sandbox-client-secret"
REFRESH_TOKEN = "sandbox-refresh-token-0123456789"
STATIC_ACCESS_TOKEN = "sandbox-direct-api-token-0123456789"
AD_ACCOUNT_ID = "510000001"

LISTENING_PREFIX = "LinkedIn CAPI sandbox listening on "

if TYPE_CHECKING:
    from fastapi import FastAPI

    from airflow_provider_linkedin_capi.sandbox.admin_guard import AdminGuard
    from airflow_provider_linkedin_capi.sandbox.config import SandboxConfig

__all__ = [
    "AD_ACCOUNT_ID",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "LISTENING_PREFIX",
    "REFRESH_TOKEN",
    "STATIC_ACCESS_TOKEN",
    "connection_for",
    "create_app",
]


def connection_for(base_url: str, *, auth: str = "refresh_token", **extra_overrides: object) -> dict:
    """An Airflow connection dict for the sandbox at ``base_url`` (``http://127.0.0.1:8765``).

    One definition for the start-up banner, ``--help`` and :class:`testing.SandboxProcess`, so that what a
    user copies is what the tests use. ``auth``: ``refresh_token`` (the 3-legged credentials) or
    ``access_token`` (the static Direct API token). No token endpoint: the hooks derive it from ``host``
    (same origin + ``/oauth/v2/accessToken``).
    """
    if auth == "refresh_token":
        extra: dict = {"refresh_token": REFRESH_TOKEN}
    elif auth == "access_token":
        extra = {"access_token": STATIC_ACCESS_TOKEN}
    else:
        raise ValueError("auth must be 'refresh_token' or 'access_token'")
    extra["ad_account_id"] = AD_ACCOUNT_ID
    extra.update(extra_overrides)
    return {
        "conn_type": "linkedin_capi",
        "host": f"{base_url.rstrip('/')}/rest",
        "login": CLIENT_ID,
        "password": CLIENT_SECRET,
        "extra": extra,
    }


def create_app(
    config: SandboxConfig | None = None,
    *,
    state_file: str | None = None,
    faults=(),
    seed=None,
    admin_guard: AdminGuard | None = None,
) -> FastAPI:
    """Build the sandbox ASGI app (imported lazily so that importing the constants stays cheap).

    ``admin_guard`` checks every ``/_sandbox`` request; build it with the listening address. Without one,
    the admin API accepts only loopback host names (any port) in ``Host``.
    """
    from airflow_provider_linkedin_capi.sandbox.app import build_app

    return build_app(config, state_file=state_file, faults=faults, seed=seed, admin_guard=admin_guard)
