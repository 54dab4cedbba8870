"""Tokens: the OAuth refresh endpoint, the Direct API token, and the 401 bodies of the gateway.

Refresh tokens are programmatic (3-legged) and are never rotated: LinkedIn returns the same refresh token
with a shrinking ``refresh_token_expires_in``. 2-legged (client_credentials) tokens are issued but refused
on the Marketing API with a 403, as documented.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from airflow_provider_linkedin_capi.sandbox import (
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    STATIC_ACCESS_TOKEN,
)

TWO_LEGGED_TTL = 1800
SCOPE = "r_ads,rw_conversions"

UNAUTHORIZED_BODIES = {
    "empty": {
        "status": 401,
        "serviceErrorCode": 65604,
        "code": "EMPTY_ACCESS_TOKEN",
        "message": "Empty oauth2_access_token",
    },
    "invalid": {
        "status": 401,
        "serviceErrorCode": 65600,
        "code": "INVALID_ACCESS_TOKEN",
        "message": "Invalid access token",
    },
    "expired": {
        "status": 401,
        "serviceErrorCode": 65602,
        "code": "EXPIRED_ACCESS_TOKEN",
        "message": "The token used in the request has expired",
    },
    "revoked": {
        "status": 401,
        "serviceErrorCode": 65601,
        "code": "REVOKED_ACCESS_TOKEN",
        "message": "The token used in the request has been revoked by the user",
    },
}

INVALID_REFRESH = "The provided authorization grant or refresh token is invalid, expired or revoked"


@dataclass
class AccessToken:
    kind: str  # "3L", "2L" or "static"
    expires_at: float | None
    revoked: bool = False
    expired: bool = False
    created_at: float = field(default_factory=time.time)


class TokenStore:
    """Every access token the sandbox knows, plus the state of the one refresh token."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.tokens: dict[str, AccessToken] = {STATIC_ACCESS_TOKEN: AccessToken("static", None)}
        self.refresh_valid = True
        self.refresh_issued_at = time.time()
        self.issued = 0

    def issue(self, kind: str, ttl: int) -> str:
        token = "AQ" + secrets.token_urlsafe(60)
        self.tokens[token] = AccessToken(kind, time.time() + ttl)
        self.issued += 1
        return token

    def check(self, authorization: str | None) -> tuple[str, str | None, AccessToken | None]:
        """Return ``(problem or "ok", token, entry)`` for an Authorization header."""
        if not authorization:
            return "empty", None, None
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return "empty", None, None
        entry = self.tokens.get(token)
        if entry is None:
            return "invalid", token, None
        if entry.revoked:
            return "revoked", token, entry
        if entry.expired or (entry.expires_at is not None and time.time() >= entry.expires_at):
            return "expired", token, entry
        return "ok", token, entry

    def expire(self, token: str) -> None:
        entry = self.tokens.get(token)
        if entry is not None:
            entry.expired = True

    def expire_all(self, include_static: bool = False) -> int:
        count = 0
        for entry in self.tokens.values():
            if entry.kind != "static" or include_static:
                entry.expired = True
                count += 1
        return count

    def revoke_access(self, include_static: bool = False) -> int:
        """Revoking access also kills the refresh token, as on LinkedIn (docs/linkedin-contract.md §5.6)."""
        count = 0
        for entry in self.tokens.values():
            if entry.kind != "static" or include_static:
                entry.revoked = True
                count += 1
        self.refresh_valid = False
        return count

    def refresh_seconds_left(self, refresh_ttl: int) -> int:
        return int(self.refresh_issued_at + refresh_ttl - time.time())


def _oauth_error(status: int, error: str, description: str) -> tuple[int, dict]:
    return status, {"error": error, "error_description": description}


def token_endpoint(
    store: TokenStore,
    *,
    content_type: str,
    body: bytes,
    access_ttl: int,
    refresh_ttl: int,
    error_style: str,
) -> tuple[int, dict]:
    """Answer one ``POST /oauth/v2/accessToken`` as LinkedIn does (docs/linkedin-contract.md §5)."""
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        return _oauth_error(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
    form = {key: values[-1] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
    grant_type = form.get("grant_type")
    if not grant_type:
        return _oauth_error(400, "invalid_request", 'A required parameter "grant_type" is missing')
    if grant_type == "refresh_token":
        required = ("refresh_token", "client_id", "client_secret")
    elif grant_type == "client_credentials":
        required = ("client_id", "client_secret")
    else:
        return _oauth_error(400, "unsupported_grant_type", f"Unsupported grant_type {grant_type[:40]!r}")
    for name in required:
        if not form.get(name):
            return _oauth_error(400, "invalid_request", f'A required parameter "{name}" is missing')
    if form["client_id"] != CLIENT_ID or form["client_secret"] != CLIENT_SECRET:
        return _oauth_error(401, "invalid_client", "Client authentication failed")
    if grant_type == "client_credentials":
        token = store.issue("2L", TWO_LEGGED_TTL)
        return 200, {"access_token": token, "expires_in": TWO_LEGGED_TTL}
    left = store.refresh_seconds_left(refresh_ttl)
    if form["refresh_token"] != REFRESH_TOKEN or not store.refresh_valid or left <= 0:
        if error_style == "invalid_grant":
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        return _oauth_error(400, "invalid_request", INVALID_REFRESH)
    token = store.issue("3L", access_ttl)
    return 200, {
        "access_token": token,
        "expires_in": access_ttl,
        "refresh_token": REFRESH_TOKEN,
        "refresh_token_expires_in": left,
        "scope": SCOPE,
    }


def introspect_endpoint(store: TokenStore, *, content_type: str, body: bytes) -> tuple[int, dict]:
    """``POST /oauth/v2/introspectToken`` (docs/linkedin-contract.md §5.10): a token-health check
    without spending API quota."""
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        return _oauth_error(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
    form = {key: values[-1] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
    for name in ("client_id", "client_secret", "token"):
        if not form.get(name):
            return _oauth_error(400, "invalid_request", f'A required parameter "{name}" is missing')
    if form["client_id"] != CLIENT_ID or form["client_secret"] != CLIENT_SECRET:
        return _oauth_error(401, "invalid_client", "Client authentication failed")
    problem, _, entry = store.check(f"Bearer {form['token']}")
    if entry is None:
        return 200, {"active": False}
    status = {"ok": "active", "expired": "expired", "revoked": "revoked"}[problem]
    info = {
        "active": status == "active",
        "status": status,
        "created_at": int(entry.created_at),
        "authorized_at": int(entry.created_at),
        "scope": SCOPE,
        "auth_type": {"2L": "2L", "3L": "3L", "static": "3L"}[entry.kind],
        "client_id": CLIENT_ID,
    }
    if entry.expires_at is not None:
        info["expires_at"] = int(entry.expires_at)
    return 200, info
