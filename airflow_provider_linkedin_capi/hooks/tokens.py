"""Access tokens for a hook: obtained when needed, reused while usable, replaced once LinkedIn refuses one.

:class:`TokenCache` serves the sync hook (a task may call it from several threads, so it locks) and
:class:`AsyncTokenCache` the async one (one trigger owns its hook, so one coroutine at a time). Both read
the token endpoint's answers with :func:`read_token_answer` and the pure rules of
:mod:`~airflow_provider_linkedin_capi.hooks.oauth`, so they refresh, retry and fail alike. A static token
(the connection's ``access_token``) is never refreshed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from airflow_provider_linkedin_capi import metrics
from airflow_provider_linkedin_capi.hooks.connection_config import LinkedInCapiConnectionConfig
from airflow_provider_linkedin_capi.hooks.oauth import (
    AccessToken,
    parse_token_response,
    static_token,
    token_error,
    token_payload,
    warn_if_refresh_token_expiring,
)
from airflow_provider_linkedin_capi.hooks.responses import error_body, retry_after_seconds
from airflow_provider_linkedin_capi.hooks.transport import (
    TRANSPORT_ERRORS,
    BoundedResponse,
    TransientFailure,
    transport_failure,
)

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
    ``mask`` return awaitables).
    """

    async def current(self) -> AccessToken:
        if self._token is None or not self._token.is_usable(time.time()):
            self._token = await self._obtain()
        return self._token

    async def replace(self, rejected: AccessToken) -> AccessToken:
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
