"""What the sync hook's REST methods stand on: the connection, the settings, the session and one request path.

:class:`LinkedInCapiSession` reads the connection on first use, keeps one keep-alive ``requests`` session
and one access token for the life of the hook, and makes every call the same way: take a slot of the
connection's per-process budget, send (bounded in time and size, never redirected), read the answer with
:mod:`~airflow_provider_linkedin_capi.hooks.answers` (a 401 gets a wait for propagation and a new token,
each once), and retry what another attempt may fix with the shared policy of
:mod:`~airflow_provider_linkedin_capi.hooks.transport`. Thread-safe for concurrent calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, TypeVar, Unpack

import requests
from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_linkedin_capi.constants import DEFAULT_CONN_ID
from airflow_provider_linkedin_capi.hooks import transport
from airflow_provider_linkedin_capi.hooks.answers import (
    Caller,
    Reply,
    TokenStep,
    TokenTries,
    log_token_step,
    read_answer,
    refusal,
)
from airflow_provider_linkedin_capi.hooks.api_version_sunset import warn_if_version_near_sunset
from airflow_provider_linkedin_capi.hooks.connection_config import LinkedInCapiConnectionConfig
from airflow_provider_linkedin_capi.hooks.exchange_deadline import DeadlineAdapter
from airflow_provider_linkedin_capi.hooks.json_body import json_body
from airflow_provider_linkedin_capi.hooks.oauth import refresh_form
from airflow_provider_linkedin_capi.hooks.rate_limit import TokenBucket, limiter_for
from airflow_provider_linkedin_capi.hooks.request_headers import standard_headers
from airflow_provider_linkedin_capi.hooks.settings import (
    HookArguments,
    HookSettings,
    SettingArguments,
    SettingsProperties,
)
from airflow_provider_linkedin_capi.hooks.tokens import TokenCache

T = TypeVar("T")


class LinkedInCapiSession(SettingsProperties, BaseHook):
    """The connection, settings, session and token of a sync hook, and its one way to make a call."""

    def __init__(
        self,
        linkedin_capi_conn_id: str = DEFAULT_CONN_ID,
        *,
        logger_name: str | None = None,
        **settings: Unpack[SettingArguments],
    ) -> None:
        super().__init__(logger_name=logger_name)
        self._arguments = HookArguments(**settings)
        self.linkedin_capi_conn_id = linkedin_capi_conn_id
        self._tokens = TokenCache(
            lambda: self.config, self._post_refresh_form, self._retry, mask_secret, self.log
        )
        self._session: requests.Session | None = None
        self._session_lock = threading.Lock()

    @cached_property
    def config(self) -> LinkedInCapiConnectionConfig:
        """The validated connection (read once per hook, which is when a retiring version is warned of)."""
        conn = self.get_connection(self.linkedin_capi_conn_id)
        config = LinkedInCapiConnectionConfig.from_connection(conn)
        for secret in (config.client_secret, config.refresh_token, config.access_token):
            if secret:
                mask_secret(secret)
        warn_if_version_near_sunset(
            self._arguments.api_version or config.api_version,
            datetime.now(UTC).date(),
            self.log,
            self.linkedin_capi_conn_id,
        )
        return config

    @cached_property
    def settings(self) -> HookSettings:
        """The hook's arguments over the connection's extras over the defaults."""
        return self._arguments.resolve(self.config)

    @property
    def ad_account_id(self) -> str | None:
        return self.config.ad_account_id

    @cached_property
    def rate_limiter(self) -> TokenBucket:
        """The bucket shared by every hook of this connection in this process."""
        return limiter_for(self.linkedin_capi_conn_id, self.requests_per_minute)

    def get_conn(self) -> requests.Session:
        """The keep-alive session; auth and version headers are set per request, not on the session."""
        if self._session is None:
            with self._session_lock:
                if self._session is None:
                    session = requests.Session()
                    # Retries are ours (tenacity); urllib3 must not retry a POST behind our back.
                    adapter = DeadlineAdapter(pool_connections=2, pool_maxsize=16, max_retries=0)
                    session.mount("https://", adapter)
                    session.mount("http://", adapter)
                    self._session = session
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def get_access_token(self) -> str:
        """A usable bearer token, refreshed if it expires within five minutes."""
        return self._tokens.current().value

    def _post_refresh_form(self) -> transport.BoundedResponse:
        """One request to the token endpoint, paced: token requests count against the budget too."""
        config = self.config
        self.rate_limiter.acquire()
        return transport.send(
            self.get_conn(),
            "POST",
            config.token_url,
            data=refresh_form(config),
            timeout=self.timeout,
            headers={"Accept": "application/json"},
            what="The token request",
        )

    def _retry(
        self,
        what: str,
        attempt: Callable[[int], T],
        *,
        max_retries: int | None = None,
        before_retry: Callable[[transport.TransientFailure], T | None] | None = None,
    ) -> T:
        return transport.with_retries(
            what,
            attempt,
            attempts=(self.max_retries if max_retries is None else max_retries) + 1,
            first=self.retry_min_wait,
            longest=self.retry_max_wait,
            log=self.log,
            before_retry=before_retry,
        )

    @property
    def _caller(self) -> Caller:
        return Caller(self.linkedin_capi_conn_id, self.api_version, self.config.uses_refresh_token)

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: str | None = None,
        body: Any = None,
        restli_method: str | None = None,
        recover: Callable[[], Reply | None] | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
    ) -> Reply:
        """One logical call with pacing, auth renewal and retries; returns any non-retryable answer.

        :param body: the JSON body: a value to write, or ``bytes`` already written (an encoded batch).
        :param recover: for calls that are unsafe to repeat (a create): asked before each retry that follows
            an ambiguous failure; a reply it returns ends the call instead of a second request.
        """
        url = f"{self.config.base_url}{path}" + (f"?{query}" if query else "")
        data = body if body is None or isinstance(body, bytes) else json_body(body)
        ambiguous_before = False

        def before_retry(failure: transport.TransientFailure) -> Reply | None:
            nonlocal ambiguous_before
            ambiguous_before = ambiguous_before or failure.ambiguous
            if recover is not None and failure.ambiguous:
                return recover()
            return None

        def attempt(number: int) -> Reply:
            reply = self._send(method, url, path, data, restli_method, number, timeout or self.timeout)
            reply.after_ambiguous_failure = ambiguous_before
            return reply

        return self._retry(f"{method} {path}", attempt, max_retries=max_retries, before_retry=before_retry)

    def _send(
        self,
        method: str,
        url: str,
        path: str,
        data: bytes | None,
        restli_method: str | None,
        number: int,
        timeout: float,
    ) -> Reply:
        """One attempt: a request, and again with the same or a new token when a 401 allows it."""
        token = self._tokens.current()
        tries = TokenTries()
        json_body = data is not None
        while True:
            self.rate_limiter.acquire()
            headers = standard_headers(
                token.value, self.api_version, restli_method=restli_method, json_body=json_body
            )
            try:
                response = transport.send(
                    self.get_conn(), method, url, data=data, headers=headers, timeout=timeout, what=path
                )
            except transport.TRANSPORT_ERRORS as err:
                raise transport.transport_failure(err) from None
            uuid = response.headers.get("x-li-uuid")
            self.log.debug(
                "LinkedIn %s %s -> %s (attempt %d, x-li-uuid %s)",
                method,
                path,
                response.status_code,
                number,
                uuid,
            )
            step = read_answer(response, self._caller, token, tries, time.time())
            if isinstance(step, Reply):
                return step
            log_token_step(step, self.log, self.token_propagation_wait)
            if step is TokenStep.WAIT_FOR_PROPAGATION:
                time.sleep(self.token_propagation_wait)
            else:
                token = self._tokens.replace(token)

    def _raise_for_error(self, reply: Reply, what: str) -> None:
        error = refusal(reply, what, self._caller)
        if error is not None:
            raise error
