"""OAuth refresh for LinkedIn, as pure functions shared by the sync and the async hook.

The hooks own the HTTP; this module owns what goes into the token request and what comes out of it, so both
hooks refresh, time out and fail the same way. LinkedIn answers a dead refresh token either with the
documented ``invalid_request`` + "invalid, expired or revoked" or with ``invalid_grant``
(docs/linkedin-contract.md §5.4-5.5); both mean a human must re-authorise the app, so neither is ever retried.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiAuthError, LinkedInCapiError
from airflow_provider_linkedin_capi.hooks.connection_config import LinkedInCapiConnectionConfig
from airflow_provider_linkedin_capi.hooks.responses import decode_json
from airflow_provider_linkedin_capi.hooks.secret_text import has_control_character, scrub, without_secrets

# Refresh this long before LinkedIn's expiry, so a token never dies in the middle of a batch.
REFRESH_MARGIN_SECONDS = 300.0
REFRESH_TOKEN_WARNING_DAYS = 30
_DEAD_GRANT_TEXT = "invalid, expired or revoked"
# LinkedIn may refuse a token minted moments ago as revoked (401, serviceErrorCode 65601) until it has
# reached every server (docs/linkedin-contract.md §7.11, THIRD-PARTY). Only a token this young is given time
# to propagate.
FRESH_TOKEN_SECONDS = 120.0
REVOKED_ACCESS_TOKEN = 65601


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and when it stops working (epoch seconds; ``None`` for a static, non-expiring one)."""

    value: str = field(repr=False)
    expires_at: float | None = None
    refresh_token_expires_at: float | None = None
    obtained_at: float | None = None

    def is_usable(self, now: float, margin: float = REFRESH_MARGIN_SECONDS) -> bool:
        """Whether to keep using the token; the margin is at most half its lifetime.

        A token that lives less than twice the margin (a proxy's or a test server's, minted for a minute)
        would otherwise count as expiring the moment it is minted and be replaced before every request.
        """
        if self.expires_at is None:
            return True
        if self.obtained_at is not None:
            margin = min(margin, max(self.expires_at - self.obtained_at, 0.0) / 2)
        return now < self.expires_at - margin


def may_be_unpropagated(token: AccessToken, service_error_code: int | None, now: float) -> bool:
    """Whether a 401 may only mean the token has not propagated yet, so waiting beats minting another.

    A new token would be just as fresh and could be refused the same way; an old or static token refused as
    revoked really is revoked.
    """
    if service_error_code != REVOKED_ACCESS_TOKEN or token.obtained_at is None:
        return False
    return now - token.obtained_at < FRESH_TOKEN_SECONDS


def refresh_form(config: LinkedInCapiConnectionConfig) -> dict[str, str]:
    """The form LinkedIn documents: all four fields, the client secret in the body, not Basic auth.

    See docs/linkedin-contract.md §5.1.
    """
    if not config.refresh_token:
        raise ValueError("the connection has no refresh token to exchange")
    return {
        "grant_type": "refresh_token",
        "refresh_token": config.refresh_token,
        "client_id": config.client_id or "",
        "client_secret": config.client_secret or "",
    }


def token_payload(status: int, content: bytes | None, config: LinkedInCapiConnectionConfig) -> Any:
    """The token endpoint's JSON answer; when it is an error, with the secrets we sent blanked out.

    A server may echo the refresh token or the client secret in ``error_description``, and that text goes
    into exceptions and the "Test connection" answer, which users who may not read the secrets see.
    """
    payload = decode_json(content)
    return payload if status == 200 else scrub(payload, config.secrets)


def failure_text(
    err: BaseException, config: LinkedInCapiConnectionConfig | None, token: AccessToken | None
) -> str:
    """An exception as ``Type: text`` for the "Test connection" answer, with no secret or token in it."""
    secrets = (*(config.secrets if config else ()), token.value if token else None)
    return without_secrets(f"{type(err).__name__}: {err}", secrets)


def parse_token_response(payload: Any, now: float) -> AccessToken:
    """Turn a 200 from the token endpoint into an :class:`AccessToken`; a body without a token is an error."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("access_token"), str):
        raise LinkedInCapiError("LinkedIn's token endpoint answered 200 without an access_token", status=200)
    if has_control_character(payload["access_token"]):
        # Not quoted: it would reach the error text, where the masker misses a token with a line break.
        raise LinkedInCapiError(
            "LinkedIn's token endpoint answered 200 with an access_token holding a control character",
            status=200,
        )
    return AccessToken(
        value=payload["access_token"],
        expires_at=_deadline(payload.get("expires_in"), now),
        refresh_token_expires_at=_deadline(payload.get("refresh_token_expires_in"), now),
        obtained_at=now,
    )


def static_token(value: str) -> AccessToken:
    """A Direct API token: LinkedIn reports it as non-expiring, so it is never refreshed.

    See docs/linkedin-contract.md §5.9.
    """
    return AccessToken(value=value)


def token_error(status: int, payload: Any, conn_id: str | None = None) -> LinkedInCapiError | None:
    """The error to raise for a failed token request, or ``None`` when a retry may help (429, 5xx)."""
    if status == 429 or status >= 500:
        return None
    body = payload if isinstance(payload, Mapping) else {}
    error = str(body.get("error") or "")
    description = str(body.get("error_description") or body.get("message") or "")
    where = f"connection {conn_id!r}" if conn_id else "the LinkedIn connection"
    if is_dead_grant(error, description):
        return LinkedInCapiAuthError(
            f"LinkedIn rejected the refresh token of {where} ({error}: {description}). It has expired or "
            "was revoked: re-authorise the LinkedIn app (3-legged OAuth with rw_conversions and r_ads) and "
            "put the new refresh token into the connection's 'refresh_token' field.",
            status=status,
            code=error or None,
        )
    if error == "invalid_client" or status == 401:
        return LinkedInCapiAuthError(
            f"LinkedIn's token endpoint refused the client credentials of {where} ({error or status}: "
            f"{description}). Check the Client ID (login) and Client Secret (password).",
            status=status,
            code=error or None,
        )
    return LinkedInCapiAuthError(
        f"LinkedIn's token endpoint refused the refresh of {where} (HTTP {status} {error}: {description}). "
        "Check the connection's client id, client secret, refresh token and, if set, oauth_url.",
        status=status,
        code=error or None,
    )


def is_dead_grant(error: str, description: str) -> bool:
    if error == "invalid_grant":
        return True
    return error == "invalid_request" and _DEAD_GRANT_TEXT in description.lower()


def warn_if_refresh_token_expiring(
    token: AccessToken, now: float, log: logging.Logger | Any, conn_id: str | None = None
) -> bool:
    """Log a warning a month before the refresh token dies: refreshing does not extend it.

    See docs/linkedin-contract.md §5.2.
    """
    if token.refresh_token_expires_at is None:
        return False
    days_left = (token.refresh_token_expires_at - now) / 86400
    if days_left >= REFRESH_TOKEN_WARNING_DAYS:
        return False
    log.warning(
        "The LinkedIn refresh token of connection %r expires in %.1f days; re-authorise the app and update "
        "the connection's 'refresh_token' before then, or every task using it will fail.",
        conn_id,
        max(days_left, 0.0),
    )
    return True


def _deadline(seconds: Any, now: float) -> float | None:
    try:
        return now + float(seconds)
    except (TypeError, ValueError):
        return None
