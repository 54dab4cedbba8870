"""Tokens: the 3-legged consent (authorisation page and code exchange), the OAuth refresh endpoint, the
Direct API token, and the 401 bodies of the gateway.

The consent page approves at once (or cancels, as ``SandboxConfig.consent`` says) and redirects to the
client's ``redirect_uri`` with a one-time code that lasts 30 minutes (docs/linkedin-contract.md §5.11-5.14).
Refresh tokens are programmatic (3-legged) and are never rotated: LinkedIn returns the same refresh token
with a shrinking ``refresh_token_expires_in``; each consent issues a new one with a full year. 2-legged
(client_credentials) tokens are issued but refused on the Marketing API with a 403, as documented.
"""

from __future__ import annotations

import html
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from airflow_provider_linkedin_capi.sandbox import (
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    STATIC_ACCESS_TOKEN,
)

TWO_LEGGED_TTL = 1800
#: The scopes the sandbox's app holds (the Conversions API product's, docs/linkedin-contract.md §5.7): a
#: consent may ask for any of them and nothing else. The provider's copy is ``constants.CAPI_SCOPES``
#: (the sandbox keeps its own on purpose; tests/sandbox/test_tables_match_provider.py compares them).
KNOWN_SCOPES = ("rw_conversions", "r_ads")
#: The granted scopes as the token endpoint answers them for the built-in refresh token.
SCOPE = "r_ads,rw_conversions"
#: An authorisation code lasts 30 minutes and is used once (§5.12).
AUTHORIZATION_CODE_TTL = 1800
#: Codes kept at once; the oldest go first, so a client that never exchanges cannot grow the sandbox.
MAX_PENDING_CODES = 1000
#: LinkedIn's descriptions of a cancelled consent (THIRD-PARTY wording, §5.13); the keys are the
#: ``consent`` settings other than "approve" (``config.CONSENT_ANSWERS``).
_CANCELLED = {
    "user_cancelled_login": "The user cancelled LinkedIn login",
    "user_cancelled_authorize": "The user cancelled the authorization",
}
#: §5.14: an unknown code, and a used, expired or mismatched one.
CODE_NOT_FOUND = "Unable to retrieve access token: authorization code not found"
CODE_MISMATCH = (
    "Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization code. "
    "Or authorization code expired. Or external member binding exists"
)

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


@dataclass
class RefreshToken:
    issued_at: float
    revoked: bool = False


@dataclass
class AuthorizationCode:
    redirect_uri: str
    scope: str
    issued_at: float
    used: bool = False


class TokenStore:
    """Every access token the sandbox knows, its refresh tokens and the pending authorisation codes."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.tokens: dict[str, AccessToken] = {STATIC_ACCESS_TOKEN: AccessToken("static", None)}
        self.refresh_tokens: dict[str, RefreshToken] = {REFRESH_TOKEN: RefreshToken(time.time())}
        self.codes: dict[str, AuthorizationCode] = {}
        self.issued = 0

    def issue(self, kind: str, ttl: int) -> str:
        token = "AQ" + secrets.token_urlsafe(60)
        self.tokens[token] = AccessToken(kind, time.time() + ttl)
        self.issued += 1
        return token

    def issue_refresh_token(self) -> str:
        token = "AQ" + secrets.token_urlsafe(60)
        self.refresh_tokens[token] = RefreshToken(time.time())
        return token

    def issue_code(self, redirect_uri: str, scope: str) -> str:
        while len(self.codes) >= MAX_PENDING_CODES:
            del self.codes[next(iter(self.codes))]
        code = "AQ" + secrets.token_urlsafe(48)
        self.codes[code] = AuthorizationCode(redirect_uri, scope, time.time())
        return code

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
        """Revoking access also kills the refresh tokens, as on LinkedIn (docs/linkedin-contract.md §5.6)."""
        count = 0
        for entry in self.tokens.values():
            if entry.kind != "static" or include_static:
                entry.revoked = True
                count += 1
        self.revoke_refresh_tokens()
        return count

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token issued so far stops working; a later consent issues a live one."""
        for entry in self.refresh_tokens.values():
            entry.revoked = True

    def refresh_seconds_left(self, token: str, refresh_ttl: int) -> int | None:
        """Seconds the refresh token has left, or ``None`` when it is unknown or revoked."""
        entry = self.refresh_tokens.get(token)
        if entry is None or entry.revoked:
            return None
        return int(entry.issued_at + refresh_ttl - time.time())


def _oauth_error(status: int, error: str, description: str) -> tuple[int, dict]:
    return status, {"error": error, "error_description": description}


def _form(body: bytes) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}


_REQUIRED = {
    "refresh_token": ("refresh_token", "client_id", "client_secret"),
    "client_credentials": ("client_id", "client_secret"),
    "authorization_code": ("code", "redirect_uri", "client_id", "client_secret"),
}


def token_endpoint(
    store: TokenStore,
    *,
    content_type: str,
    body: bytes,
    access_ttl: int,
    refresh_ttl: int,
    error_style: str,
    code_ttl: int = AUTHORIZATION_CODE_TTL,
    issue_refresh_tokens: bool = True,
) -> tuple[int, dict]:
    """Answer one ``POST /oauth/v2/accessToken`` as LinkedIn does (docs/linkedin-contract.md §5)."""
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        return _oauth_error(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
    form = _form(body)
    grant_type = form.get("grant_type")
    if not grant_type:
        return _oauth_error(400, "invalid_request", 'A required parameter "grant_type" is missing')
    if grant_type not in _REQUIRED:
        return _oauth_error(400, "unsupported_grant_type", f"Unsupported grant_type {grant_type[:40]!r}")
    for name in _REQUIRED[grant_type]:
        if not form.get(name):
            return _oauth_error(400, "invalid_request", f'A required parameter "{name}" is missing')
    if form["client_id"] != CLIENT_ID or form["client_secret"] != CLIENT_SECRET:
        return _oauth_error(401, "invalid_client", "Client authentication failed")
    if grant_type == "client_credentials":
        token = store.issue("2L", TWO_LEGGED_TTL)
        return 200, {"access_token": token, "expires_in": TWO_LEGGED_TTL}
    if grant_type == "authorization_code":
        return _exchange_code(store, form, access_ttl, refresh_ttl, code_ttl, issue_refresh_tokens)
    left = store.refresh_seconds_left(form["refresh_token"], refresh_ttl)
    if left is None or left <= 0:
        if error_style == "invalid_grant":
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        return _oauth_error(400, "invalid_request", INVALID_REFRESH)
    token = store.issue("3L", access_ttl)
    return 200, {
        "access_token": token,
        "expires_in": access_ttl,
        "refresh_token": form["refresh_token"],
        "refresh_token_expires_in": left,
        "scope": SCOPE,
    }


def _exchange_code(
    store: TokenStore,
    form: dict[str, str],
    access_ttl: int,
    refresh_ttl: int,
    code_ttl: int,
    issue_refresh_tokens: bool,
) -> tuple[int, dict]:
    """``grant_type=authorization_code`` (§5.14): the code once, within its lifetime, for its redirect_uri.

    Which of the two documented errors LinkedIn answers for a code used twice is UNKNOWN; the sandbox
    answers the "does not match ... expired" one, as for an expired code.
    """
    grant = store.codes.get(form["code"])
    if grant is None:
        return _oauth_error(400, "invalid_request", CODE_NOT_FOUND)
    expired = time.time() >= grant.issued_at + code_ttl
    if grant.used or expired or form["redirect_uri"] != grant.redirect_uri:
        return _oauth_error(400, "invalid_redirect_uri", CODE_MISMATCH)
    grant.used = True
    answer: dict = {"access_token": store.issue("3L", access_ttl), "expires_in": access_ttl}
    if issue_refresh_tokens:
        answer["refresh_token"] = store.issue_refresh_token()
        answer["refresh_token_expires_in"] = refresh_ttl
    answer["scope"] = grant.scope
    return 200, answer


@dataclass(frozen=True)
class ConsentAnswer:
    """What the authorisation page does: redirect the browser (``location``), or show an error page."""

    status: int
    location: str | None = None
    page: str | None = None


def _error_page(message: str) -> ConsentAnswer:
    text = html.escape(message, quote=False)
    page = (
        "<!DOCTYPE html><html><head><title>LinkedIn sandbox: authorization error</title></head>"
        f"<body><h1>Bummer, something went wrong.</h1><p>{text}</p></body></html>"
    )
    return ConsentAnswer(400, page=page)


def _redirect(redirect_uri: str, params: dict[str, str]) -> ConsentAnswer:
    """``redirect_uri`` with ``params`` added to whatever query it has (LinkedIn appends, §5.11)."""
    parts = urlsplit(redirect_uri)
    query = "&".join(part for part in (parts.query, urlencode(params)) if part)
    return ConsentAnswer(302, location=urlunsplit(parts._replace(query=query)))


def _absolute_http_url(value: str) -> bool:
    """LinkedIn's rules for a redirect URL (§5.11): absolute, http(s), and no ``#``."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and "#" not in value


def authorization_endpoint(store: TokenStore, *, query: str, consent: str) -> ConsentAnswer:
    """Answer ``GET /oauth/v2/authorization`` (§5.11-5.13) for a member who is signed in already.

    A wrong ``client_id`` or an unusable ``redirect_uri`` gets an error page: LinkedIn never redirects to a
    URL it cannot trust. Every other problem is sent back to the redirect URL as ``error`` and
    ``error_description`` with the ``state``. LinkedIn also requires the redirect URL to be registered
    in the app; the sandbox's app has every absolute http(s) URL registered.
    """
    params = {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}
    if params.get("client_id") != CLIENT_ID:
        return _error_page("Client_id doesn't match: the client_id is not the sandbox app's.")
    redirect_uri = params.get("redirect_uri", "")
    if not _absolute_http_url(redirect_uri):
        return _error_page(
            "Redirect_uri doesn't match: redirect_uri must be an absolute http(s) URL without '#'."
        )
    state = params.get("state", "")
    echo = {"state": state} if state else {}

    def refuse(error: str, description: str) -> ConsentAnswer:
        return _redirect(redirect_uri, {"error": error, "error_description": description, **echo})

    if params.get("response_type") != "code":
        return refuse("invalid_request", 'The parameter "response_type" must be "code"')
    if not state:
        return refuse("invalid_request", 'A required parameter "state" is missing')
    scopes = params.get("scope", "").split()
    if not scopes:
        return refuse("invalid_request", 'A required parameter "scope" is missing')
    unknown = [scope for scope in scopes if scope not in KNOWN_SCOPES]
    if unknown:
        return refuse("invalid_scope", f'Scope "{unknown[0][:60]}" is not authorized for your application')
    if consent in _CANCELLED:
        return refuse(consent, _CANCELLED[consent])
    granted = ",".join(scope for scope in sorted(KNOWN_SCOPES) if scope in scopes)
    return _redirect(redirect_uri, {"code": store.issue_code(redirect_uri, granted), "state": state})


def introspect_endpoint(store: TokenStore, *, content_type: str, body: bytes) -> tuple[int, dict]:
    """``POST /oauth/v2/introspectToken`` (docs/linkedin-contract.md §5.10): a token-health check
    without spending API quota."""
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        return _oauth_error(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
    form = _form(body)
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
