"""A minimal async LinkedIn client for the triggerer.

The triggerer runs every trigger of the deployment on one event loop, so a blocking call here (``requests``,
``time.sleep``, the sync ``get_connection``) would stall them all. This hook does only what the rule-status
trigger needs, reading a rule, with ``httpx.AsyncClient`` and ``asyncio.sleep``, and reuses the pure
connection, OAuth, header and response helpers of the sync hook so both refresh, retry and fail alike.
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
from airflow_provider_linkedin_capi.hooks.connection_config import (
    LinkedInCapiConnectionConfig,
)
from airflow_provider_linkedin_capi.hooks.oauth import (
    AccessToken,
    parse_token_response,
    refresh_form,
    static_token,
    token_error,
    warn_if_refresh_token_expiring,
)
from airflow_provider_linkedin_capi.hooks.request_headers import standard_headers
from airflow_provider_linkedin_capi.hooks.responses import (
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

DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_RETRIES = 5


async def _mask_secret(secret: str) -> None:
    if _amask_secret is not None:
        await _amask_secret(secret)
    else:  # pragma: no cover
        from airflow.sdk.log import mask_secret

        mask_secret(secret)


class LinkedInCapiAsyncHook(BaseHook):
    """
    Read conversion rules from LinkedIn without blocking the event loop.

    :param linkedin_capi_conn_id: Airflow connection id of type ``linkedin_capi``.
    :param timeout: Seconds per HTTP request; defaults to the connection's ``timeout`` extra, else 30.
    :param max_retries: Extra attempts on 429, 5xx and dropped connections; defaults to the connection's
        ``max_retries`` extra, else 5.
    :param retry_min_wait: First backoff in seconds (doubled per attempt, with jitter).
    :param retry_max_wait: Longest single backoff in seconds.
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
        retry_min_wait: float = 1.0,
        retry_max_wait: float = 30.0,
    ) -> None:
        super().__init__()
        self.linkedin_capi_conn_id = linkedin_capi_conn_id
        self._timeout = timeout
        self._max_retries = max_retries
        self.retry_min_wait = retry_min_wait
        self.retry_max_wait = retry_max_wait
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

    @property
    def max_retries(self) -> int:
        if self._max_retries is not None:
            return self._max_retries
        if self._config is not None and self._config.max_retries is not None:
            return self._config.max_retries
        return DEFAULT_MAX_RETRIES

    async def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            config = await self.get_config()
            timeout = self._timeout or config.timeout or DEFAULT_TIMEOUT_SECONDS
            self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
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

    async def _request(self, method: str, url: str, *, what: str) -> httpx.Response:
        """One API call with a bounded retry on 429/5xx/dropped connections and one token refresh on 401."""
        config = await self.get_config()
        client = await self._get_client()
        refreshed_after_401 = False
        attempt = 0
        while True:
            token = await self._access_token()
            headers = standard_headers(token, config.api_version)
            try:
                response = await client.request(method, url, headers=headers)
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
            if status == 401 and not refreshed_after_401 and config.uses_refresh_token:
                refreshed_after_401 = True
                self._token = None
                continue
            if is_retryable(status) and attempt < self.max_retries:
                await self._backoff(attempt, response.headers.get("Retry-After"), f"HTTP {status}")
                attempt += 1
                continue
            raise self._error(status, response, what)

    def _error(self, status: int, response: httpx.Response, what: str) -> LinkedInCapiError:
        body = error_body(status, decode_json(response.content), response.reason_phrase)
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
        if status in (401, 403):
            return LinkedInCapiAuthError(message, status=status, code=body.code)
        return LinkedInCapiError(message, status=status, code=body.code)

    async def _backoff(self, attempt: int, retry_after: str | None, reason: str) -> None:
        wait = retry_after_seconds(retry_after)
        if wait is None:
            ceiling = min(self.retry_max_wait, self.retry_min_wait * (2**attempt))
            wait = random.uniform(ceiling / 2, ceiling)
        self.log.info("LinkedIn call failed (%s); retrying in %.1f s", reason, wait)
        await asyncio.sleep(wait)

    async def _access_token(self) -> str:
        now = time.time()
        if self._token is not None and self._token.is_usable(now):
            return self._token.value
        config = await self.get_config()
        if not config.uses_refresh_token:
            self._token = static_token(str(config.access_token))
            return self._token.value
        self._token = await self._refresh(config)
        return self._token.value

    async def _refresh(self, config: LinkedInCapiConnectionConfig) -> AccessToken:
        client = await self._get_client()
        attempt = 0
        while True:
            try:
                response = await client.post(
                    config.token_url,
                    data=refresh_form(config),
                    headers={"Accept": "application/json"},
                )
            except httpx.TransportError as exc:
                if attempt >= self.max_retries:
                    raise LinkedInCapiError(
                        f"Could not reach LinkedIn's token endpoint: {type(exc).__name__}"
                    ) from exc
                await self._backoff(attempt, None, type(exc).__name__)
                attempt += 1
                continue
            payload = decode_json(response.content)
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
