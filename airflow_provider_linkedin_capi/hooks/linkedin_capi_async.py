"""A minimal async LinkedIn client for the triggerer.

The triggerer runs every trigger of the deployment on one event loop, so a blocking call here (``requests``,
``time.sleep``, the sync ``get_connection``) would stall them all. This hook does only what the rule-status
trigger needs, reading a rule, with ``httpx.AsyncClient`` and ``asyncio.sleep``. Everything else is the
sync hook's, shared: the settings (:mod:`~airflow_provider_linkedin_capi.hooks.settings`), the tokens
(:mod:`~airflow_provider_linkedin_capi.hooks.tokens`), the retries and the backoff
(:mod:`~airflow_provider_linkedin_capi.hooks.transport`) and what an answer means
(:mod:`~airflow_provider_linkedin_capi.hooks.answers`); so both refresh, retry and fail alike.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, Unpack

import httpx
from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson
from airflow.sdk import BaseHook

from airflow_provider_linkedin_capi import urns
from airflow_provider_linkedin_capi.constants import DEFAULT_CONN_ID
from airflow_provider_linkedin_capi.exceptions import LinkedInCapiConfigError, LinkedInCapiError
from airflow_provider_linkedin_capi.hooks import answers, transport
from airflow_provider_linkedin_capi.hooks.connection_config import LinkedInCapiConnectionConfig
from airflow_provider_linkedin_capi.hooks.oauth import AccessToken, refresh_form
from airflow_provider_linkedin_capi.hooks.rate_limit import limiter_for
from airflow_provider_linkedin_capi.hooks.request_headers import standard_headers
from airflow_provider_linkedin_capi.hooks.restli import encode_urn, query_string
from airflow_provider_linkedin_capi.hooks.settings import (
    HookArguments,
    HookSettings,
    SettingArguments,
    SettingsProperties,
)
from airflow_provider_linkedin_capi.hooks.tokens import AsyncTokenCache

try:  # Airflow 3.2+: masks without a blocking call to the supervisor.
    from airflow.sdk.log import amask_secret as _amask_secret
except ImportError:  # pragma: no cover - older task SDKs
    _amask_secret = None

T = TypeVar("T")


async def _mask_secret(secret: str) -> None:
    if _amask_secret is not None:
        await _amask_secret(secret)
    else:  # pragma: no cover
        from airflow.sdk.log import mask_secret

        mask_secret(secret)


class LinkedInCapiAsyncHook(SettingsProperties, BaseHook):
    """
    Read conversion rules from LinkedIn without blocking the event loop.

    It takes the sync hook's settings, resolved the same way (the argument, else the connection's extra of
    the same name, else the same default), so a deferred sensor retries exactly like a poked one. They are
    read from the connection, so they are known only after :meth:`get_config` (every call awaits it).

    :param linkedin_capi_conn_id: Airflow connection id of type ``linkedin_capi``.
    :param settings: see :class:`~airflow_provider_linkedin_capi.hooks.settings.SettingArguments`.
    """

    conn_name_attr = "linkedin_capi_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "linkedin_capi"
    hook_name = "LinkedIn Conversions API (async)"

    def __init__(
        self, linkedin_capi_conn_id: str = default_conn_name, **settings: Unpack[SettingArguments]
    ) -> None:
        super().__init__()
        self._arguments = HookArguments(**settings)
        self.linkedin_capi_conn_id = linkedin_capi_conn_id
        self._config: LinkedInCapiConnectionConfig | None = None
        self._settings: HookSettings | None = None
        self._client: httpx.AsyncClient | None = None
        self._tokens = AsyncTokenCache(
            self.get_config, self._post_refresh_form, self._retry, _mask_secret, self.log
        )

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
            self._settings = self._arguments.resolve(self._config)
        return self._config

    @property
    def settings(self) -> HookSettings:
        """The resolved settings; reading the connection for them here would need a blocking call."""
        if self._settings is None:
            raise RuntimeError("await get_config() before reading the hook's settings")
        return self._settings

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
        reply = await self._request("GET", f"/conversions/{rule}", query)
        error = answers.refusal(reply, f"Reading conversion rule {rule}", self._caller())
        if error is not None:
            raise error
        if not isinstance(reply.payload, dict):
            raise LinkedInCapiError(
                f"LinkedIn answered HTTP {reply.status} without a rule entity", status=reply.status
            )
        return reply.payload

    def _caller(self) -> answers.Caller:
        config = self._config
        uses_refresh_token = config.uses_refresh_token if config else False
        return answers.Caller(self.linkedin_capi_conn_id, self.api_version, uses_refresh_token)

    async def _retry(self, what: str, attempt: Callable[[int], Awaitable[T]]) -> T:
        return await transport.with_retries_async(
            what,
            attempt,
            attempts=self.max_retries + 1,
            first=self.retry_min_wait,
            longest=self.retry_max_wait,
            log=self.log,
        )

    async def _request(self, method: str, path: str, query: str) -> answers.Reply:
        """One API call with the sync hook's retries, and the same two chances after a 401."""
        url = f"{(await self.get_config()).base_url}{path}?{query}"
        client = await self._get_client()

        async def attempt(number: int) -> answers.Reply:
            token, tries = await self._tokens.current(), answers.TokenTries()
            while True:
                await self._take_request_slot()
                try:
                    response = await transport.send_async(
                        client,
                        method,
                        url,
                        headers=standard_headers(token.value, self.api_version),
                        timeout=self.timeout,
                        what=path,
                    )
                except transport.TRANSPORT_ERRORS as err:
                    raise transport.transport_failure(err) from None
                step = answers.read_answer(response, self._caller(), token, tries, time.time())
                if isinstance(step, answers.Reply):
                    return step
                token = await self._next_token(step, token)

        return await self._retry(f"{method} {path}", attempt)

    async def _next_token(self, step: answers.TokenStep, token: AccessToken) -> AccessToken:
        """The token to send again after a 401: the same after a wait for it to propagate, else a new one."""
        answers.log_token_step(step, self.log, self.token_propagation_wait)
        if step is answers.TokenStep.WAIT_FOR_PROPAGATION:
            await asyncio.sleep(self.token_propagation_wait)
            return token
        return await self._tokens.replace(token)

    async def _take_request_slot(self) -> None:
        """Wait for a slot of the connection's per-minute budget, shared with every hook of the process.

        Many sensors deferred on one token all poll from the triggerer; without pacing, their reads could
        draw the 429s that starve pushes sharing the token.
        """
        wait = limiter_for(self.linkedin_capi_conn_id, self.requests_per_minute).reserve()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _post_refresh_form(self) -> transport.BoundedResponse:
        """One request to the token endpoint, paced: token requests count against the budget too."""
        config = await self.get_config()
        client = await self._get_client()
        await self._take_request_slot()
        return await transport.send_async(
            client,
            "POST",
            config.token_url,
            data=refresh_form(config),
            headers={"Accept": "application/json"},
            timeout=self.timeout,
            what="The token request",
        )
