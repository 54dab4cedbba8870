"""A minimal async LinkedIn client for the triggerer.

The triggerer runs every trigger of the deployment on one event loop, so a blocking call here (``requests``,
``time.sleep``, the sync ``get_connection``) would stall them all. This hook does only what the rule-status
trigger needs, reading a rule, with ``httpx.AsyncClient`` and ``asyncio.sleep``, and reuses the pure
connection, OAuth, header and response helpers of the sync hook so both refresh, retry and fail alike: the
same settings (argument, else connection extra, else the same defaults), the same wait for a fresh token to
propagate, the same fail-fast errors.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx
from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson
from airflow.sdk import BaseHook

from airflow_provider_linkedin_capi import urns
from airflow_provider_linkedin_capi.exceptions import (
    LinkedInCapiAuthError,
    LinkedInCapiConfigError,
    LinkedInCapiError,
    LinkedInCapiNotFoundError,
    LinkedInCapiVersionError,
)
from airflow_provider_linkedin_capi.hooks import transport
from airflow_provider_linkedin_capi.hooks.connection_config import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_RETRY_MAX_WAIT,
    DEFAULT_RETRY_MIN_WAIT,
    DEFAULT_TIMEOUT,
    DEFAULT_TOKEN_PROPAGATION_WAIT,
    LinkedInCapiConnectionConfig,
    first_set,
)
from airflow_provider_linkedin_capi.hooks.oauth import (
    AccessToken,
    may_be_unpropagated,
    parse_token_response,
    refresh_form,
    static_token,
    token_error,
    token_payload,
    warn_if_refresh_token_expiring,
)
from airflow_provider_linkedin_capi.hooks.rate_limit import limiter_for
from airflow_provider_linkedin_capi.hooks.request_headers import standard_headers
from airflow_provider_linkedin_capi.hooks.responses import (
    FORBIDDEN_HINT,
    decode_json,
    error_body,
    is_retryable,
    retry_after_seconds,
)
from airflow_provider_linkedin_capi.hooks.restli import encode_urn, query_string

try:  # Airflow 3.2+: masks without a blocking call to the supervisor.
    from airflow.sdk.log import amask_secret as _amask_secret
except ImportError:  # pragma: no cover - older task SDKs
    _amask_secret = None


async def _mask_secret(secret: str) -> None:
    if _amask_secret is not None:
        await _amask_secret(secret)
    else:  # pragma: no cover
        from airflow.sdk.log import mask_secret

        mask_secret(secret)


class LinkedInCapiAsyncHook(BaseHook):
    """
    Read conversion rules from LinkedIn without blocking the event loop.

    Every setting is resolved like the sync hook's: the argument, else the connection's extra of the same
    name, else the same default; so a deferred sensor retries exactly like a poked one. The settings are
    read from the connection, so they are known only after :meth:`get_config` (every call awaits it).

    :param linkedin_capi_conn_id: Airflow connection id of type ``linkedin_capi``.
    :param timeout: Seconds for a whole HTTP call, headers and body; default: the connection's ``timeout``
        extra, else 60.
    :param max_retries: Extra attempts on 429, 5xx and dropped connections; default: the connection's
        ``max_retries`` extra, else 8.
    :param retry_min_wait: First backoff in seconds (doubled per attempt, with jitter); default: the
        connection's ``retry_min_wait`` extra, else 1.
    :param retry_max_wait: Longest single backoff in seconds; default: the connection's ``retry_max_wait``
        extra, else 60.
    :param token_propagation_wait: Seconds to wait, once, when LinkedIn refuses a token minted moments ago
        as revoked (THIRD-PARTY sourced behaviour); default: the connection's ``propagation_wait``
        extra, else 2.
    """

    conn_name_attr = "linkedin_capi_conn_id"
    default_conn_name = "linkedin_capi_default"
    conn_type = "linkedin_capi"
    hook_name = "LinkedIn Conversions API (async)"

    def __init__(
        self,
        linkedin_capi_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_min_wait: float | None = None,
        retry_max_wait: float | None = None,
        token_propagation_wait: float | None = None,
    ) -> None:
        super().__init__()
        if max_retries is not None and max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.linkedin_capi_conn_id = linkedin_capi_conn_id
        self._timeout = timeout
        self._max_retries = max_retries
        self._retry_min_wait = retry_min_wait
        self._retry_max_wait = retry_max_wait
        self._token_propagation_wait = token_propagation_wait
        self._config: LinkedInCapiConnectionConfig | None = None
        self._token: AccessToken | None = None
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> LinkedInCapiAsyncHook:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def get_config(self) -> LinkedInCapiConnectionConfig:
        """The connection, fetched with the async helpers (the sync ones can deadlock in the triggerer)."""
        if self._config is None:
            conn = await get_async_connection(self.linkedin_capi_conn_id, hook=type(self))
            extra = await get_async_extra_dejson(conn)
            self._config = LinkedInCapiConnectionConfig.from_connection(conn, extra=extra)
        return self._config

    def _loaded_config(self) -> LinkedInCapiConnectionConfig:
        """The connection for the settings' fallbacks; reading it here would need a blocking call."""
        if self._config is None:
            raise RuntimeError("await get_config() before reading the hook's settings")
        return self._config

    @property
    def timeout(self) -> float:
        return self._timeout or self._loaded_config().timeout or DEFAULT_TIMEOUT

    @property
    def max_retries(self) -> int:
        return first_set(self._max_retries, self._loaded_config().max_retries, DEFAULT_MAX_RETRIES)

    @property
    def retry_min_wait(self) -> float:
        return first_set(self._retry_min_wait, self._loaded_config().retry_min_wait, DEFAULT_RETRY_MIN_WAIT)

    @property
    def retry_max_wait(self) -> float:
        return first_set(self._retry_max_wait, self._loaded_config().retry_max_wait, DEFAULT_RETRY_MAX_WAIT)

    @property
    def token_propagation_wait(self) -> float:
        return first_set(
            self._token_propagation_wait,
            self._loaded_config().token_propagation_wait,
            DEFAULT_TOKEN_PROPAGATION_WAIT,
        )

    async def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            await self.get_config()
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self._client

    async def get_conversion_rule(
        self, rule_id: str | int, account: str | int | None = None
    ) -> dict[str, Any]:
        """The rule entity; :class:`LinkedInCapiNotFoundError` when LinkedIn answers 404."""
        config = await self.get_config()
        account_value = account if account not in (None, "") else config.ad_account_id
        if account_value is None:
            # Whether LinkedIn needs ``account`` on GET is UNKNOWN; every client sends it, and so do we.
            raise LinkedInCapiConfigError(
                f"No ad account given and connection {self.linkedin_capi_conn_id!r} has no "
                "'ad_account_id' extra"
            )
        rule = urns.conversion_rule_id(rule_id)
        query = query_string([("account", encode_urn(urns.account_urn(account_value)))])
        response = await self._request(
            "GET", f"{config.base_url}/conversions/{rule}?{query}", what=f"conversion rule {rule}"
        )
        payload = decode_json(response.content)
        if not isinstance(payload, dict):
            raise LinkedInCapiError(
                f"LinkedIn answered HTTP {response.status_code} without a rule entity",
                status=response.status_code,
            )
        return payload

    async def _request(self, method: str, url: str, *, what: str) -> transport.BoundedResponse:
        """One API call with a bounded retry on 429/5xx/dropped connections, and two chances after a 401.

        As in the sync hook, a 401 for a token minted moments ago first gets one wait for the token to
        propagate (contract §7.11), then one refresh; only a 401 after both is final.
        """
        config = await self.get_config()
        client = await self._get_client()
        refreshed_after_401 = waited_for_propagation = False
        attempt = 0
        while True:
            token = await self._current_token()
            await self._take_request_slot(config)
            headers = standard_headers(token.value, config.api_version)
            try:
                response = await transport.send_async(
                    client, method, url, headers=headers, timeout=self.timeout, what=what
                )
            except httpx.TransportError as exc:
                if attempt >= self.max_retries:
                    raise LinkedInCapiError(
                        f"Could not reach LinkedIn for {what} after {attempt + 1} attempt(s): "
                        f"{type(exc).__name__}"
                    ) from exc
                await self._backoff(attempt, None, f"{type(exc).__name__}")
                attempt += 1
                continue

            status = response.status_code
            if status < 400:
                return response
            if status == 401 and not waited_for_propagation and self._unpropagated(token, response):
                waited_for_propagation = True
                await self._await_propagation()
                continue
            if status == 401 and not refreshed_after_401 and config.uses_refresh_token:
                refreshed_after_401 = True
                self.log.info("LinkedIn answered 401; refreshing the access token")
                self._token = None
                continue
            if is_retryable(status) and attempt < self.max_retries:
                await self._backoff(attempt, response.headers.get("Retry-After"), f"HTTP {status}")
                attempt += 1
                continue
            raise self._error(status, response, what)

    async def _take_request_slot(self, config: LinkedInCapiConnectionConfig) -> None:
        """Wait for a slot of the connection's per-minute budget, shared with every hook of the process.

        Many sensors deferred on one token all poll from the triggerer; without pacing, their reads could
        draw the 429s that starve pushes sharing the token.
        """
        bucket = limiter_for(config.conn_id or self.linkedin_capi_conn_id, config.requests_per_minute)
        wait = bucket.reserve()
        if wait > 0:
            await asyncio.sleep(wait)

    @staticmethod
    def _unpropagated(token: AccessToken, response: transport.BoundedResponse) -> bool:
        """A 401 for a token minted moments ago may only mean it has not reached every server yet."""
        problem = error_body(response.status_code, decode_json(response.content))
        return may_be_unpropagated(token, problem.service_error_code, time.time())

    async def _await_propagation(self) -> None:
        """Give the same token time, rather than minting another that would be just as fresh."""
        wait = self.token_propagation_wait
        self.log.info("A fresh LinkedIn token was refused as revoked; waiting %.1f s to retry it", wait)
        await asyncio.sleep(wait)

    def _error(self, status: int, response: transport.BoundedResponse, what: str) -> LinkedInCapiError:
        body = error_body(status, decode_json(response.content), response.reason)
        message = f"LinkedIn refused {what}: {body.describe()}"
        if status == 404:
            return LinkedInCapiNotFoundError(message, status=status, code=body.code)
        if status == 426:
            config = self._config
            version = config.api_version if config else "?"
            return LinkedInCapiVersionError(
                f"{message}. LinkedIn-Version {version} is no longer served: set a newer month in the "
                "connection's 'api_version' extra.",
                status=status,
                code=body.code,
            )
        if status == 403:
            return LinkedInCapiAuthError(
                f"{message} (connection {self.linkedin_capi_conn_id!r}: {FORBIDDEN_HINT})",
                status=status,
                code=body.code,
            )
        if status == 401:
            return LinkedInCapiAuthError(message, status=status, code=body.code)
        return LinkedInCapiError(message, status=status, code=body.code)

    async def _backoff(self, attempt: int, retry_after: str | None, reason: str) -> None:
        wait = retry_after_seconds(retry_after)
        if wait is None:
            ceiling = min(self.retry_max_wait, self.retry_min_wait * (2**attempt))
            wait = random.uniform(ceiling / 2, ceiling)
        self.log.info("LinkedIn call failed (%s); retrying in %.1f s", reason, wait)
        await asyncio.sleep(wait)

    async def _current_token(self) -> AccessToken:
        """The cached token while usable, else a new one (a static token is never refreshed)."""
        if self._token is not None and self._token.is_usable(time.time()):
            return self._token
        config = await self.get_config()
        if not config.uses_refresh_token:
            self._token = static_token(str(config.access_token))
        else:
            self._token = await self._refresh(config)
        return self._token

    async def _refresh(self, config: LinkedInCapiConnectionConfig) -> AccessToken:
        client = await self._get_client()
        attempt = 0
        while True:
            await self._take_request_slot(config)  # token requests count against the budget too
            try:
                response = await transport.send_async(
                    client,
                    "POST",
                    config.token_url,
                    data=refresh_form(config),
                    headers={"Accept": "application/json"},
                    timeout=self.timeout,
                    what="The token request",
                )
            except httpx.TransportError as exc:
                if attempt >= self.max_retries:
                    raise LinkedInCapiError(
                        f"Could not reach LinkedIn's token endpoint: {type(exc).__name__}"
                    ) from exc
                await self._backoff(attempt, None, type(exc).__name__)
                attempt += 1
                continue
            payload = token_payload(response.status_code, response.content, config)
            if response.status_code == 200:
                now = time.time()
                token = parse_token_response(payload, now)
                await _mask_secret(token.value)
                self.log.info("Obtained a LinkedIn access token for connection %r", config.conn_id)
                warn_if_refresh_token_expiring(token, now, self.log, config.conn_id)
                return token
            error = token_error(response.status_code, payload, config.conn_id)
            if error is not None:
                raise error
            if attempt >= self.max_retries:
                raise LinkedInCapiError(
                    f"LinkedIn's token endpoint kept failing (HTTP {response.status_code})",
                    status=response.status_code,
                )
            await self._backoff(attempt, response.headers.get("Retry-After"), f"HTTP {response.status_code}")
            attempt += 1
