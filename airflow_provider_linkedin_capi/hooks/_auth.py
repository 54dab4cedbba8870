"""OAuth for the hooks: refreshing, caching and announcing access tokens.

Private to ``hooks/``. A 3-legged refresh token is exchanged at the token endpoint for an access token,
which is cached per hook (one refresh at a time), refreshed shortly before it expires and masked in logs;
a static ``access_token`` is used as is and never refreshed. The token endpoint's answers are read here
without ever quoting a secret back.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_linkedin_capi import metrics
from airflow_provider_linkedin_capi.exceptions import LinkedInCapiAuthError, LinkedInCapiError
from airflow_provider_linkedin_capi.hooks._connection import (
    LinkedInCapiConnectionConfig,
    has_control_character,
    scrub,
    without_secrets,
)
from airflow_provider_linkedin_capi.hooks._transport import (
    TRANSPORT_ERRORS,
    BoundedResponse,
    TransientFailure,
    decode_json,
    error_body,
    retry_after_seconds,
    transport_failure,
)

# ----------------------------------------------------------------------------------------------------
# OAuth refresh for LinkedIn, as pure functions shared by the sync and the async hook.
#
# The hooks own the HTTP; this module owns what goes into the token request and what comes out of it, so both
# hooks refresh, time out and fail the same way. LinkedIn answers a dead refresh token either with the
# documented ``invalid_request`` + "invalid, expired or revoked" or with ``invalid_grant``
# (docs/linkedin-contract.md §5.4-5.5); both mean a human must re-authorise the app, so neither is ever
# retried.


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


# ----------------------------------------------------------------------------------------------------
# Access tokens for a hook: obtained when needed, reused while usable, replaced once LinkedIn refuses one.
#
# :class:`TokenCache` serves the sync hook (a task may call it from several threads, so it locks) and
# :class:`AsyncTokenCache` the async one (one trigger owns its hook, so one coroutine at a time). Both read
# the token endpoint's answers with :func:`read_token_answer` and the pure rules of
# :mod:`~airflow_provider_linkedin_capi.hooks._auth`, so they refresh, retry and fail alike. A static token
# (the connection's ``access_token``) is never refreshed.


#: How a token refresh is named in retry logs and errors.
REFRESH_CALL = "POST token endpoint (refresh)"


def read_token_answer(
    response: BoundedResponse, config: LinkedInCapiConnectionConfig, now: float
) -> AccessToken:
    """The token in a 200; a final error for dead credentials; a transient failure for a 429 or 5xx."""
    payload = token_payload(response.status_code, response.content, config)
    if response.status_code == 200:
        return parse_token_response(payload, now)
    error = token_error(response.status_code, payload, config.conn_id)
    if error is not None:
        raise error
    body = error_body(response.status_code, payload, response.reason)
    raise TransientFailure(
        body.describe(),
        status=response.status_code,
        code=body.code,
        retry_after=retry_after_seconds(response.headers.get("Retry-After")),
    )


def announce_token(token: AccessToken, config: LinkedInCapiConnectionConfig, log: Any) -> None:
    """Log the new token's lifetime (never the token), count it, and warn a month before the refresh token
    dies."""
    metrics.count_token_refresh()
    now = time.time()
    days = (token.expires_at - now) / 86400 if token.expires_at else None
    log.info(
        "Obtained a LinkedIn access token for connection %r (valid for %s days)",
        config.conn_id,
        "?" if days is None else f"{days:.1f}",
    )
    warn_if_refresh_token_expiring(token, now, log, config.conn_id)


class _Cache:
    """What both caches hold: how to read the connection, send the refresh form, retry it, mask a token."""

    def __init__(self, config: Any, exchange: Any, retry: Any, mask: Any, log: Any) -> None:
        self._config = config
        self._exchange = exchange
        self._retry = retry
        self._mask = mask
        self._log = log
        self._token: AccessToken | None = None

    @property
    def held(self) -> AccessToken | None:
        """The token held now, if any (for scrubbing it out of a message)."""
        return self._token


class TokenCache(_Cache):
    """The sync hook's token; ``exchange`` sends the refresh form once (paced), ``retry`` repeats it."""

    def __init__(
        self,
        config: Callable[[], LinkedInCapiConnectionConfig],
        exchange: Callable[[], BoundedResponse],
        retry: Callable[[str, Callable[[int], AccessToken]], AccessToken],
        mask: Callable[[str], None],
        log: Any,
    ) -> None:
        super().__init__(config, exchange, retry, mask, log)
        self._lock = threading.Lock()

    def current(self) -> AccessToken:
        """The held token while usable, else a new one (refreshed five minutes before it expires)."""
        token = self._token
        if token is not None and token.is_usable(time.time()):
            return token
        with self._lock:
            token = self._token
            if token is None or not token.is_usable(time.time()):
                token = self._token = self._obtain()
            return token

    def replace(self, rejected: AccessToken) -> AccessToken:
        """A new token instead of ``rejected``, unless another thread has replaced it already."""
        with self._lock:
            if self._token is None or self._token is rejected:
                self._token = self._obtain()
            return self._token

    def _obtain(self) -> AccessToken:
        config = self._config()
        if not config.uses_refresh_token:
            return static_token(config.access_token or "")

        def attempt(number: int) -> AccessToken:
            try:
                response = self._exchange()
            except TRANSPORT_ERRORS as err:
                raise transport_failure(err) from None
            self._log.debug("LinkedIn token refresh -> %s (attempt %d)", response.status_code, number)
            return read_token_answer(response, config, time.time())

        token = self._retry(REFRESH_CALL, attempt)
        self._mask(token.value)
        announce_token(token, config, self._log)
        return token


class AsyncTokenCache(_Cache):
    """The async hook's token: the same rules as :class:`TokenCache`, awaited.

    Built with the async twins of :class:`TokenCache`'s arguments (``config``, ``exchange``, ``retry`` and
    ``mask`` return awaitables). One refresh at a time: callers that find no usable token while a refresh
    is under way wait for it and take its token, instead of each refreshing (and each costing a request of
    the budget and a token at LinkedIn).
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._lock: asyncio.Lock | None = None  # made on first use, inside the event loop that uses it

    def _refreshing(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def current(self) -> AccessToken:
        token = self._token
        if token is not None and token.is_usable(time.time()):
            return token
        async with self._refreshing():
            token = self._token
            if token is None or not token.is_usable(time.time()):
                token = self._token = await self._obtain()
            return token

    async def replace(self, rejected: AccessToken) -> AccessToken:
        async with self._refreshing():
            if self._token is None or self._token is rejected:
                self._token = await self._obtain()
            return self._token

    async def _obtain(self) -> AccessToken:
        config = await self._config()
        if not config.uses_refresh_token:
            return static_token(config.access_token or "")

        async def attempt(number: int) -> AccessToken:
            try:
                response = await self._exchange()
            except TRANSPORT_ERRORS as err:
                raise transport_failure(err) from None
            return read_token_answer(response, config, time.time())

        token = await self._retry(REFRESH_CALL, attempt)
        await self._mask(token.value)
        announce_token(token, config, self._log)
        return token
