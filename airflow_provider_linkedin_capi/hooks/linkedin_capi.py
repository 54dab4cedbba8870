"""The one place that talks to LinkedIn's Conversions API from a task.

Everything LinkedIn-specific that is not a pure rule lives here: tokens, pacing, retries, and the typed
calls operators use. The rules it follows are DESIGN's delivery rules and the contract's facts:

- a token is refreshed shortly before it expires and once after a 401; a dead refresh token, a 426 or a
  second 401 fail the task at once (task retries cannot fix credentials or a sunset version);
- 429, 5xx, timeouts and dropped connections are retried with jittered exponential backoff; other 4xx are
  properties of the request and are not;
- every request (each retry too) first takes a slot from the connection's per-process token bucket;
- logs and exceptions carry method, path, status, attempt, ``x-li-uuid`` and LinkedIn's own message, never a
  header, a token or a body (bodies hold hashed identifiers and names).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any, TypeVar
from urllib.parse import quote

import orjson
import requests
from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret
from requests.adapters import HTTPAdapter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from airflow_provider_linkedin_capi import metrics, urns
from airflow_provider_linkedin_capi.exceptions import (
    LinkedInCapiAuthError,
    LinkedInCapiConfigError,
    LinkedInCapiError,
    LinkedInCapiNotFoundError,
    LinkedInCapiVersionError,
)
from airflow_provider_linkedin_capi.hooks.api_version_sunset import (
    expected_sunset,
    warn_if_version_near_sunset,
)
from airflow_provider_linkedin_capi.hooks.batch_errors import parse_batch_errors
from airflow_provider_linkedin_capi.hooks.connection_config import (
    DEFAULT_API_VERSION,
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
    warn_if_refresh_token_expiring,
)
from airflow_provider_linkedin_capi.hooks.rate_limit import TokenBucket, limiter_for
from airflow_provider_linkedin_capi.hooks.request_headers import standard_headers
from airflow_provider_linkedin_capi.hooks.responses import (
    FORBIDDEN_HINT,
    decode_json,
    error_body,
    is_retryable,
    retry_after_seconds,
)
from airflow_provider_linkedin_capi.hooks.restli import (
    association_key,
    campaign_of_key,
    encode_urn,
    query_string,
    restli_list,
)

__all__ = ["BatchResult", "DeliveryResult", "LinkedInCapiHook"]

MAX_BATCH_SIZE = 5000
# LinkedIn refuses query strings over 4 KB with a 414 (contract §1.15); stay a little under it.
MAX_QUERY_LENGTH = 4000
RULES_PAGE_SIZE = 100
CONVERSIONS_API = "CONVERSIONS_API"
# A rule found by name after a dropped create counts as ours only if LinkedIn created it this recently.
_CREATE_RECOVERY_WINDOW_MS = 300_000
_TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
_API_VERSION = re.compile(r"^[0-9]{4}(0[1-9]|1[0-2])$")

T = TypeVar("T")


@dataclass(frozen=True)
class BatchResult:
    """LinkedIn's answer to one BATCH_CREATE.

    A 400 or 422 is returned here rather than raised: it is a data problem in some elements, which the
    caller resolves (see :meth:`LinkedInCapiHook.deliver_conversion_events`).

    :param status: HTTP status of the batch.
    :param accepted: elements LinkedIn accepted.
    :param errors: element index -> LinkedIn's text for it (from a 422, a 400 naming ``indices``, or
        per-element statuses of a 200).
    :param message: LinkedIn's message when it rejected the batch without naming any element.
    :param retryable: indices whose per-element status in a 200 is 429 or 5xx: not taken, worth resending.
    """

    status: int
    accepted: int
    errors: dict[int, str] = field(default_factory=dict)
    message: str | None = None
    retryable: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and not self.errors and not self.retryable


@dataclass(frozen=True)
class DeliveryResult:
    """Outcome of delivering a sequence of events, indices referring to the caller's sequence.

    :param unsent: indices neither accepted nor refused, because LinkedIn failed before they were (only on
        the result carried by a :class:`LinkedInCapiError` as ``delivered_before_failure``).
    """

    accepted: int
    rejected: dict[int, str]
    requests: int
    unsent: tuple[int, ...] = ()


class _TransientFailure(Exception):
    """A failure that another attempt may fix; ``ambiguous`` when LinkedIn may have acted on the request."""

    def __init__(
        self,
        description: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        ambiguous: bool = True,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.ambiguous = ambiguous


@dataclass
class _Reply:
    status: int
    headers: Mapping[str, str]
    payload: Any
    after_ambiguous_failure: bool = False

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class LinkedInCapiHook(BaseHook):
    """Talk to LinkedIn's Conversions API with the credentials of a ``linkedin_capi`` connection.

    The connection is read on first use, not in ``__init__``, and the HTTP session (keep-alive) and the
    access token are reused for the life of the hook. Thread-safe for concurrent calls.

    :param linkedin_capi_conn_id: the ``linkedin_capi`` connection.
    :param api_version: ``LinkedIn-Version`` (YYYYMM); default: the connection's ``api_version`` extra, else
        a pinned, currently active month.
    :param timeout: seconds per HTTP request; default: the connection's ``timeout`` extra, else 60.
    :param max_retries: retries after a 429, 5xx, timeout or dropped connection; default: the connection's
        ``max_retries`` extra, else 8.
    :param retry_min_wait: first backoff wait in seconds (doubling, with jitter); default: the connection's
        ``retry_min_wait`` extra, else 1.
    :param retry_max_wait: longest backoff wait in seconds; default: the connection's ``retry_max_wait``
        extra, else 60.
    :param requests_per_minute: client-side request budget; default: the connection's
        ``requests_per_minute`` extra, else 600 (LinkedIn's figure per token, THIRD-PARTY sourced).
    :param token_propagation_wait: seconds to wait, once, when LinkedIn refuses a token minted moments ago
        as revoked (THIRD-PARTY sourced behaviour); default: the connection's ``token_propagation_wait``
        extra, else 2.
    """

    conn_name_attr = "linkedin_capi_conn_id"
    default_conn_name = "linkedin_capi_default"
    conn_type = "linkedin_capi"
    hook_name = "LinkedIn Conversions API"

    def __init__(
        self,
        linkedin_capi_conn_id: str = default_conn_name,
        *,
        api_version: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_min_wait: float | None = None,
        retry_max_wait: float | None = None,
        requests_per_minute: int | None = None,
        token_propagation_wait: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if api_version is not None and not _API_VERSION.match(str(api_version)):
            raise ValueError(f"api_version must be YYYYMM (e.g. {DEFAULT_API_VERSION}), got {api_version!r}")
        if max_retries is not None and max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.linkedin_capi_conn_id = linkedin_capi_conn_id
        self._api_version = str(api_version) if api_version is not None else None
        self._timeout = timeout
        self._max_retries = max_retries
        self._retry_min_wait = retry_min_wait
        self._retry_max_wait = retry_max_wait
        self._requests_per_minute = requests_per_minute
        self._token_propagation_wait = token_propagation_wait
        self._token: AccessToken | None = None
        self._token_lock = threading.Lock()
        self._session: requests.Session | None = None
        self._session_lock = threading.Lock()
        self.token_refreshes = 0

    # ------------------------------------------------------------------ configuration

    @cached_property
    def config(self) -> LinkedInCapiConnectionConfig:
        """The validated connection (read once per hook, which is when a retiring version is warned of)."""
        conn = self.get_connection(self.linkedin_capi_conn_id)
        config = LinkedInCapiConnectionConfig.from_connection(conn)
        for secret in (config.client_secret, config.refresh_token, config.access_token):
            if secret:
                mask_secret(secret)
        warn_if_version_near_sunset(
            self._api_version or config.api_version,
            datetime.now(UTC).date(),
            self.log,
            self.linkedin_capi_conn_id,
        )
        return config

    @property
    def api_version(self) -> str:
        return self._api_version or self.config.api_version

    @property
    def ad_account_id(self) -> str | None:
        return self.config.ad_account_id

    @property
    def timeout(self) -> float:
        return self._timeout or self.config.timeout or DEFAULT_TIMEOUT

    @property
    def retry_min_wait(self) -> float:
        return first_set(self._retry_min_wait, self.config.retry_min_wait, DEFAULT_RETRY_MIN_WAIT)

    @retry_min_wait.setter
    def retry_min_wait(self, seconds: float) -> None:
        self._retry_min_wait = seconds

    @property
    def retry_max_wait(self) -> float:
        return first_set(self._retry_max_wait, self.config.retry_max_wait, DEFAULT_RETRY_MAX_WAIT)

    @retry_max_wait.setter
    def retry_max_wait(self, seconds: float) -> None:
        self._retry_max_wait = seconds

    @property
    def max_retries(self) -> int:
        return first_set(self._max_retries, self.config.max_retries, DEFAULT_MAX_RETRIES)

    @property
    def token_propagation_wait(self) -> float:
        return first_set(
            self._token_propagation_wait, self.config.token_propagation_wait, DEFAULT_TOKEN_PROPAGATION_WAIT
        )

    @property
    def requests_per_minute(self) -> int:
        return self._requests_per_minute or self.config.requests_per_minute

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
                    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=16, max_retries=0)
                    session.mount("https://", adapter)
                    session.mount("http://", adapter)
                    self._session = session
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # ------------------------------------------------------------------ tokens

    def get_access_token(self) -> str:
        """A usable bearer token, refreshed if it expires within five minutes."""
        return self._current_token().value

    def _current_token(self) -> AccessToken:
        token = self._token
        if token is not None and token.is_usable(time.time()):
            return token
        with self._token_lock:
            token = self._token
            if token is None or not token.is_usable(time.time()):
                token = self._token = self._obtain_token()
            return token

    def _replace_rejected_token(self, rejected: AccessToken) -> AccessToken:
        with self._token_lock:
            if self._token is None or self._token is rejected:
                self._token = self._obtain_token()
            return self._token

    def _obtain_token(self) -> AccessToken:
        config = self.config
        if not config.uses_refresh_token:
            return static_token(config.access_token or "")
        form = refresh_form(config)

        def attempt(number: int) -> AccessToken:
            try:
                response = self.get_conn().post(
                    config.token_url, data=form, headers={"Accept": "application/json"}, timeout=self.timeout
                )
            except _TRANSPORT_ERRORS as err:
                raise _TransientFailure(f"{type(err).__name__}: {err}") from None
            self.log.debug("LinkedIn token refresh -> %s (attempt %d)", response.status_code, number)
            payload = decode_json(response.content)
            if response.status_code == 200:
                return parse_token_response(payload, time.time())
            error = token_error(response.status_code, payload, config.conn_id)
            if error is None:
                body = error_body(response.status_code, payload, response.reason)
                raise _TransientFailure(
                    body.describe(),
                    status=response.status_code,
                    code=body.code,
                    retry_after=retry_after_seconds(response.headers.get("Retry-After")),
                )
            raise error

        token = self._with_retries("POST token_url (refresh)", attempt)
        mask_secret(token.value)
        self.token_refreshes += 1
        metrics.count_token_refresh()
        days = (token.expires_at - time.time()) / 86400 if token.expires_at else None
        self.log.info(
            "Obtained a LinkedIn access token for connection %r (valid for %s days)",
            self.linkedin_capi_conn_id,
            "?" if days is None else f"{days:.1f}",
        )
        warn_if_refresh_token_expiring(token, time.time(), self.log, self.linkedin_capi_conn_id)
        return token

    # ------------------------------------------------------------------ transport

    def _with_retries(
        self,
        what: str,
        attempt: Callable[[int], T],
        *,
        max_retries: int | None = None,
        before_retry: Callable[[_TransientFailure], T | None] | None = None,
    ) -> T:
        attempts = (self.max_retries if max_retries is None else max_retries) + 1
        backoff = _backoff(self.retry_min_wait, self.retry_max_wait)

        def wait(state: RetryCallState) -> float:
            failure = state.outcome.exception() if state.outcome else None
            if isinstance(failure, _TransientFailure) and failure.retry_after is not None:
                return failure.retry_after
            return backoff(state)

        def log_retry(state: RetryCallState) -> None:
            failure = state.outcome.exception() if state.outcome else None
            metrics.count_retry(getattr(failure, "status", None))
            self.log.warning(
                "LinkedIn %s: %s (attempt %d of %d); retrying in %.2fs",
                what,
                getattr(failure, "description", failure),
                state.attempt_number,
                attempts,
                state.next_action.sleep if state.next_action else 0.0,
            )

        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait,
            retry=retry_if_exception_type(_TransientFailure),
            before_sleep=log_retry,
            reraise=True,
        )
        last: _TransientFailure | None = None
        try:
            for attempt_state in retrying:
                with attempt_state:
                    if last is not None and before_retry is not None:
                        recovered = before_retry(last)
                        if recovered is not None:
                            return recovered
                    try:
                        return attempt(attempt_state.retry_state.attempt_number)
                    except _TransientFailure as failure:
                        last = failure
                        raise
        except _TransientFailure as failure:
            raise LinkedInCapiError(
                f"LinkedIn {what} failed after {attempts} attempt(s); the last answer was "
                f"{failure.description}",
                status=failure.status,
                code=failure.code,
            ) from None
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: str | None = None,
        body: Any = None,
        restli_method: str | None = None,
        recover: Callable[[], _Reply | None] | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
    ) -> _Reply:
        """One logical call with pacing, auth renewal and retries; returns any non-retryable answer.

        :param recover: for calls that are unsafe to repeat (a create): asked before each retry that follows
            an ambiguous failure; a reply it returns ends the call instead of a second request.
        """
        url = f"{self.config.base_url}{path}" + (f"?{query}" if query else "")
        data = None if body is None else orjson.dumps(body, default=_json_default)
        ambiguous_before = False

        def before_retry(failure: _TransientFailure) -> _Reply | None:
            nonlocal ambiguous_before
            ambiguous_before = ambiguous_before or failure.ambiguous
            if recover is not None and failure.ambiguous:
                return recover()
            return None

        def attempt(number: int) -> _Reply:
            reply = self._send(method, url, path, data, restli_method, number, timeout or self.timeout)
            reply.after_ambiguous_failure = ambiguous_before
            return reply

        return self._with_retries(
            f"{method} {path}", attempt, max_retries=max_retries, before_retry=before_retry
        )

    def _send(
        self,
        method: str,
        url: str,
        path: str,
        data: bytes | None,
        restli_method: str | None,
        number: int,
        timeout: float,
    ) -> _Reply:
        token = self._current_token()
        renewed = waited = False
        while True:
            self.rate_limiter.acquire()
            headers = standard_headers(
                token.value, self.api_version, restli_method=restli_method, json_body=data is not None
            )
            try:
                response = self.get_conn().request(method, url, data=data, headers=headers, timeout=timeout)
            except _TRANSPORT_ERRORS as err:
                connect_failed = isinstance(err, requests.exceptions.ConnectTimeout)
                raise _TransientFailure(
                    f"{type(err).__name__}: {err}", ambiguous=not connect_failed
                ) from None
            status = response.status_code
            self.log.debug(
                "LinkedIn %s %s -> %s (attempt %d, x-li-uuid %s)",
                method,
                path,
                status,
                number,
                response.headers.get("x-li-uuid"),
            )
            payload = decode_json(response.content)
            if status == 401:
                problem = error_body(status, payload, response.reason)
                if not self.config.uses_refresh_token:
                    raise LinkedInCapiAuthError(
                        f"LinkedIn refused the static access token of connection "
                        f"{self.linkedin_capi_conn_id!r} ({problem.describe()}). Put a valid token into the "
                        "connection's 'access_token' extra, or use 'refresh_token' with the app's client id "
                        "and secret instead.",
                        status=status,
                        code=problem.code,
                    )
                if not waited and may_be_unpropagated(token, problem.service_error_code, time.time()):
                    waited = True
                    self.log.info(
                        "A fresh LinkedIn token was refused as revoked; waiting for it to propagate"
                    )
                    time.sleep(self.token_propagation_wait)
                    continue
                if not renewed:
                    renewed = True
                    self.log.info("LinkedIn answered 401 (%s); refreshing the access token", problem.code)
                    token = self._replace_rejected_token(token)
                    continue
                raise LinkedInCapiAuthError(
                    f"LinkedIn refused a freshly refreshed access token of connection "
                    f"{self.linkedin_capi_conn_id!r} ({problem.describe()}). The refresh token in the "
                    "'refresh_token' extra no longer gives a usable token: check that the app still has the "
                    "Conversions API product and the member an ad-account role, or re-authorise the app and "
                    "put the new refresh token into the connection.",
                    status=status,
                    code=problem.code,
                )
            if status == 426:
                problem = error_body(status, payload, response.reason)
                raise LinkedInCapiVersionError(
                    f"LinkedIn no longer serves LinkedIn-Version {self.api_version} "
                    f"({problem.describe()}). Set the 'api_version' extra of connection "
                    f"{self.linkedin_capi_conn_id!r} (or the hook's api_version) to a currently active "
                    "YYYYMM month; LinkedIn serves about the last 12.",
                    status=status,
                    code=problem.code,
                )
            if is_retryable(status):
                problem = error_body(status, payload, response.reason)
                raise _TransientFailure(
                    problem.describe(),
                    status=status,
                    code=problem.code,
                    retry_after=retry_after_seconds(response.headers.get("Retry-After")),
                    ambiguous=status != 429,
                )
            return _Reply(status=status, headers=response.headers, payload=payload)

    def _raise_for_error(self, reply: _Reply, what: str) -> None:
        if reply.ok:
            return
        problem = error_body(reply.status, reply.payload)
        message = f"{what} failed: LinkedIn answered {problem.describe()}"
        if reply.status == 404:
            raise LinkedInCapiNotFoundError(message, status=404, code=problem.code)
        if reply.status == 403:
            # A missing scope, role or product: task retries would only repeat the refusal, so fail now.
            raise LinkedInCapiAuthError(
                f"{message} (connection {self.linkedin_capi_conn_id!r}: {FORBIDDEN_HINT})",
                status=403,
                code=problem.code,
            )
        raise LinkedInCapiError(message, status=reply.status, code=problem.code)

    # ------------------------------------------------------------------ conversion events

    def send_conversion_events(self, events: Sequence[Mapping[str, Any]]) -> BatchResult:
        """Send one BATCH_CREATE of at most 5,000 events.

        LinkedIn rejects the whole batch when one element is bad; the rejection comes back as a
        :class:`BatchResult` (not raised). A dropped connection is retried like a 5xx: events carry
        ``eventId`` so a resent batch can be recognised (CAPI-to-CAPI dedup by LinkedIn is UNKNOWN).
        """
        count = len(events)
        if count > MAX_BATCH_SIZE:
            raise ValueError(f"LinkedIn takes at most {MAX_BATCH_SIZE} events per request, got {count}")
        if count == 0:
            return BatchResult(status=200, accepted=0)
        reply = self._request(
            "POST", "/conversionEvents", body={"elements": events}, restli_method="BATCH_CREATE"
        )
        if reply.ok:
            return _batch_success(reply, count)
        if reply.status in (400, 422):
            problem = error_body(reply.status, reply.payload)
            errors = {i: text for i, text in parse_batch_errors(problem.message).items() if 0 <= i < count}
            return BatchResult(
                status=reply.status,
                accepted=0,
                errors=errors,
                message=None if errors else problem.message.strip(),
            )
        self._raise_for_error(reply, "Sending conversion events")
        raise AssertionError("unreachable")  # pragma: no cover

    def deliver_conversion_events(self, events: Sequence[Mapping[str, Any]]) -> DeliveryResult:
        """Deliver every event LinkedIn will take, and say why it refused the others.

        On a rejected batch, the elements LinkedIn names are dropped (with its message) and the rest is
        resent; when it names none, the batch is split in two and each half retried, down to single
        elements. Elements that a 200 answers with their own 429 or 5xx (whether LinkedIn does that is
        UNKNOWN, contract §2.2.2) are resent after a backoff, at most ``max_retries`` times. Indices in the
        result refer to ``events``. A failure part-way raises with ``delivered_before_failure`` set.
        """
        accepted = 0
        requests_made = 0
        splits = 0
        element_rounds = 0
        rejected: dict[int, str] = {}
        pending: list[list[int]] = [
            list(range(start, min(start + MAX_BATCH_SIZE, len(events))))
            for start in range(0, len(events), MAX_BATCH_SIZE)
        ][::-1]

        def so_far(not_sent: list[int]) -> DeliveryResult:
            unsent = sorted([*not_sent, *(p for later in pending for p in later)])
            return DeliveryResult(accepted, dict(sorted(rejected.items())), requests_made, tuple(unsent))

        while pending:
            positions = pending.pop()
            if not positions:
                continue
            whole = len(positions) == len(events)  # the first attempt of a batch: no copy
            try:
                result = self.send_conversion_events(events if whole else [events[i] for i in positions])
            except LinkedInCapiError as error:
                error.delivered_before_failure = so_far(positions)
                raise
            requests_made += 1
            accepted += result.accepted
            if result.ok:
                continue
            if result.errors:
                for index, text in result.errors.items():
                    rejected[positions[index]] = text
                if not 200 <= result.status < 300:
                    pending.append([p for i, p in enumerate(positions) if i not in result.errors])
            if result.retryable:
                element_rounds += 1
                again = [positions[i] for i in result.retryable]
                if element_rounds > self.max_retries:
                    error = LinkedInCapiError(
                        f"LinkedIn took a batch but answered {len(again)} of its elements with a retryable "
                        f"status (429 or 5xx) {element_rounds} times; they were not delivered"
                    )
                    error.delivered_before_failure = so_far(again)
                    raise error
                wait = min(self.retry_max_wait, self.retry_min_wait * 2 ** (element_rounds - 1))
                self.log.warning(
                    "LinkedIn answered %d element(s) of a batch with a retryable status; resending them in "
                    "%.2fs",
                    len(again),
                    wait,
                )
                time.sleep(wait)
                pending.append(again)
            if result.errors or result.retryable:
                continue
            message = result.message or f"HTTP {result.status} without a message"
            if len(positions) == 1:
                rejected[positions[0]] = message
                continue
            middle = len(positions) // 2
            splits += 1
            self.log.debug(
                "LinkedIn rejected a batch of %d without naming elements (HTTP %s); splitting it",
                len(positions),
                result.status,
            )
            pending.append(positions[middle:])
            pending.append(positions[:middle])
        if splits:
            self.log.info(
                "Batches rejected without naming elements: %d split(s) isolated %d rejected event(s)",
                splits,
                len(rejected),
            )
        return DeliveryResult(
            accepted=accepted, rejected=dict(sorted(rejected.items())), requests=requests_made
        )

    # ------------------------------------------------------------------ conversion rules

    def _account_urn(self, account: object | None) -> str:
        value = self.ad_account_id if account is None else account
        if value is None:
            raise LinkedInCapiConfigError(
                f"No ad account given and connection {self.linkedin_capi_conn_id!r} has no "
                "'ad_account_id' extra"
            )
        return urns.account_urn(value)

    def create_conversion_rule(
        self,
        *,
        name: str,
        conversion_type: str,
        account: object | None = None,
        attribution_type: str = "LAST_TOUCH_BY_CAMPAIGN",
        post_click_window_days: int = 30,
        view_through_window_days: int = 7,
        value_type: str | None = None,
        enabled: bool = True,
        auto_association: str | None = None,
    ) -> dict[str, Any]:
        """Create a Conversions API rule and return LinkedIn's entity (with ``id``).

        LinkedIn has no idempotency key for creates (contract §3.1): a repeated POST makes a second rule. So
        after a dropped connection or a 5xx the rule is first looked up by name (created in the last five
        minutes, same type, CONVERSIONS_API) and only re-created if it is not there.

        :param auto_association: ``autoAssociationType`` query parameter (``ALL_CAMPAIGNS``,
            ``OBJECTIVE_BASED``, ``NONE``; values THIRD-PARTY sourced), applied once, at creation.
        """
        account_urn = self._account_urn(account)
        body: dict[str, Any] = {
            "name": name,
            "account": account_urn,
            "conversionMethod": CONVERSIONS_API,
            "type": conversion_type,
            "attributionType": attribution_type,
            "postClickAttributionWindowSize": post_click_window_days,
            "viewThroughAttributionWindowSize": view_through_window_days,
            "enabled": enabled,
        }
        if value_type is not None:
            body["valueType"] = value_type
        query = f"autoAssociationType={quote(auto_association, safe='')}" if auto_association else None
        started_ms = int(time.time() * 1000)

        def recover() -> _Reply | None:
            rule = self._find_recent_rule(account_urn, name, conversion_type, started_ms)
            if rule is None:
                return None
            self.log.warning(
                "The connection dropped while creating rule %r, but LinkedIn had created it (id %s); "
                "reusing it",
                name,
                rule.get("id"),
            )
            return _Reply(status=201, headers={"x-restli-id": str(rule.get("id"))}, payload=rule)

        reply = self._request("POST", "/conversions", query=query, body=body, recover=recover)
        self._raise_for_error(reply, f"Creating conversion rule {name!r}")
        entity = dict(reply.payload) if isinstance(reply.payload, Mapping) else {}
        rule_id = entity.get("id") or reply.headers.get("x-restli-id")
        if rule_id in (None, ""):
            raise LinkedInCapiError(f"LinkedIn created rule {name!r} but returned no id", status=reply.status)
        rule_id = int(urns.conversion_rule_id(rule_id))
        if "name" not in entity:
            entity = self.get_conversion_rule(rule_id, account_urn)
        entity["id"] = rule_id
        self.log.info("Created conversion rule %s (%r) in %s", rule_id, name, account_urn)
        return entity

    def _find_recent_rule(
        self, account_urn: str, name: str, conversion_type: str, since_ms: int
    ) -> dict[str, Any] | None:
        candidates = [
            rule
            for rule in self.list_conversion_rules(account_urn)
            if rule.get("name") == name
            and rule.get("type") == conversion_type
            and rule.get("conversionMethod", CONVERSIONS_API) == CONVERSIONS_API
            and int(rule.get("created") or since_ms) >= since_ms - _CREATE_RECOVERY_WINDOW_MS
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda rule: (int(rule.get("created") or 0), int(rule.get("id") or 0)))

    def get_conversion_rule(self, rule_id: object, account: object | None = None) -> dict[str, Any]:
        """One rule's entity; a missing rule raises :class:`LinkedInCapiNotFoundError`."""
        rule = urns.conversion_rule_id(rule_id)
        reply = self._request(
            "GET", f"/conversions/{rule}", query=f"account={encode_urn(self._account_urn(account))}"
        )
        self._raise_for_error(reply, f"Reading conversion rule {rule}")
        return dict(reply.payload or {})

    def _rules_page(
        self,
        account_urn: str,
        start: int,
        count: int,
        *,
        max_retries: int | None = None,
        timeout: float | None = None,
    ) -> list[dict[str, Any]]:
        query = query_string(
            [("q", "account"), ("account", encode_urn(account_urn)), ("start", start), ("count", count)]
        )
        reply = self._request("GET", "/conversions", query=query, max_retries=max_retries, timeout=timeout)
        self._raise_for_error(reply, f"Listing conversion rules of {account_urn}")
        payload = reply.payload if isinstance(reply.payload, Mapping) else {}
        return [dict(element) for element in payload.get("elements") or []]

    def list_conversion_rules(self, account: object | None = None) -> list[dict[str, Any]]:
        """Every rule of the account, following ``start``/``count`` pages until an empty one.

        LinkedIn reports ``paging.total`` as -1 on this finder (contract §3.3.1), so it cannot be used, and
        whether it caps ``count`` below what was asked is UNKNOWN: a short page is therefore not taken as the
        last one. Missing a rule here would make the create operator make a duplicate, which costs more than
        the one extra request.
        """
        account_urn = self._account_urn(account)
        rules: list[dict[str, Any]] = []
        start = 0
        while page := self._rules_page(account_urn, start, RULES_PAGE_SIZE):
            rules.extend(page)
            start += len(page)
        return rules

    def update_conversion_rule(self, rule_id: object, account: object | None = None, **changes: Any) -> None:
        """PARTIAL_UPDATE top-level fields of a rule (``{"patch": {"$set": changes}}``).

        ``account`` only selects the rule: LinkedIn does not let a rule change account (THIRD-PARTY, contract
        §7.9), and the keyword cannot reach the patch. ``campaigns`` replaces the whole list; use
        :meth:`associate_campaigns` to add links.
        """
        if not changes:
            raise ValueError("update_conversion_rule needs at least one field to change")
        rule = urns.conversion_rule_id(rule_id)
        reply = self._request(
            "POST",
            f"/conversions/{rule}",
            query=f"account={encode_urn(self._account_urn(account))}",
            body={"patch": {"$set": changes}},
            restli_method="PARTIAL_UPDATE",
        )
        self._raise_for_error(reply, f"Updating conversion rule {rule}")
        self.log.info("Updated conversion rule %s: %s", rule, ", ".join(sorted(changes)))

    # ------------------------------------------------------------------ campaign associations

    def associate_campaigns(self, rule_id: object, campaign_ids: Iterable[object]) -> dict[str, int]:
        """Link campaigns to a rule with batch PUTs; returns campaign URN -> LinkedIn's status per link.

        The keys travel in the query string (``ids=List(...)``), which LinkedIn caps at 4 KB (contract
        §1.15), so the campaigns are sent in as many batch requests as needed to keep every query under
        that limit (about 36 campaigns each; 250 campaigns take 7 requests). A repeated link is harmless
        (PUT re-asserts it), so these requests are retried freely.
        """
        conversion = urns.conversion_rule_urn(rule_id)
        campaigns = list(dict.fromkeys(urns.campaign_urn(c) for c in campaign_ids))
        statuses: dict[str, int] = {}
        for chunk in _chunks_under_query_limit([(association_key(c, conversion), c) for c in campaigns]):
            keys = [key for key, _ in chunk]
            reply = self._request(
                "PUT",
                "/campaignConversions",
                query=f"ids={restli_list(keys)}",
                body={"entities": {key: {"campaign": c, "conversion": conversion} for key, c in chunk}},
                restli_method="BATCH_UPDATE",
            )
            self._raise_for_error(reply, f"Linking {len(chunk)} campaign(s) to {conversion}")
            statuses.update(_batch_statuses(reply, [c for _, c in chunk]))
        failed = sum(1 for status in statuses.values() if not 200 <= status < 300)
        self.log.info("Linked %d campaign(s) to %s (%d refused)", len(statuses) - failed, conversion, failed)
        return statuses

    def get_campaign_association(self, rule_id: object, campaign_id: object) -> dict[str, Any] | None:
        """The link between a campaign and a rule, or ``None`` when they are not linked."""
        reply = self._request("GET", f"/campaignConversions/{association_key(campaign_id, rule_id)}")
        if reply.status == 404:
            return None
        self._raise_for_error(reply, "Reading a campaign link")
        return dict(reply.payload or {})

    def remove_campaign_association(self, rule_id: object, campaign_id: object) -> bool:
        """Unlink a campaign; ``False`` when there was no such link."""
        reply = self._request("DELETE", f"/campaignConversions/{association_key(campaign_id, rule_id)}")
        if reply.status == 404:
            # After a dropped DELETE the link may be gone because of our own first attempt.
            return reply.after_ambiguous_failure
        self._raise_for_error(reply, "Removing a campaign link")
        return True

    # ------------------------------------------------------------------ connection test

    def test_connection(self) -> tuple[bool, str]:
        """Prove the credentials and the version: get a token, then read one rule of the ad account."""
        try:
            self._current_token()
            api_version = self.api_version
            version = f"LinkedIn-Version {api_version} (expected sunset {expected_sunset(api_version)})"
            account = self.ad_account_id
            if account is None:
                return True, (
                    f"Obtained an access token for connection {self.linkedin_capi_conn_id!r}; it has no "
                    f"'ad_account_id', so the API check ({version}) was skipped"
                )
            account_urn = urns.account_urn(account)
            page = self._rules_page(account_urn, 0, 1, max_retries=1, timeout=min(self.timeout, 15.0))
            return True, (
                f"Connected to {self.config.base_url} with {version}: read the "
                f"conversion rules of {account_urn} ({len(page)} on the first page)"
            )
        except Exception as err:
            return False, f"{type(err).__name__}: {err}"


#: One element of a BATCH_CREATE answer for an event LinkedIn took.
_CREATED = {"status": 201}


def _batch_success(reply: _Reply, count: int) -> BatchResult:
    payload = reply.payload if isinstance(reply.payload, Mapping) else {}
    elements = payload.get("elements")
    if isinstance(elements, list) and len(elements) == count:
        if elements.count(_CREATED) == count:  # the usual answer, compared in C
            return BatchResult(status=reply.status, accepted=count)
        # Decoded JSON objects are plain dicts, so skip the ABC check.
        errors: dict[int, str] = {}
        retryable: list[int] = []
        for index, element in enumerate(elements):
            if type(element) is not dict:
                continue
            status = element.get("status", 201)
            if status == 201:
                continue
            status = int(status)
            if is_retryable(status):
                retryable.append(index)
            elif not 200 <= status < 300:
                detail = element.get("error")
                message = detail.get("message") if isinstance(detail, Mapping) else None
                errors[index] = str(message or f"element status {status}")
        return BatchResult(
            status=reply.status,
            accepted=count - len(errors) - len(retryable),
            errors=errors,
            retryable=tuple(retryable),
        )
    return BatchResult(status=reply.status, accepted=count)


def _batch_statuses(reply: _Reply, campaigns: list[str]) -> dict[str, int]:
    payload = reply.payload if isinstance(reply.payload, Mapping) else {}
    statuses = dict.fromkeys(campaigns, reply.status)
    for section in ("results", "errors"):
        entries = payload.get(section)
        if not isinstance(entries, Mapping):
            continue
        for key, entry in entries.items():
            campaign = campaign_of_key(str(key))
            if campaign in statuses and isinstance(entry, Mapping) and "status" in entry:
                statuses[campaign] = int(entry["status"])
    return statuses


def _chunks_under_query_limit(items: list[tuple[str, str]]) -> Iterable[list[tuple[str, str]]]:
    overhead = len("ids=List()")
    chunk: list[tuple[str, str]] = []
    length = overhead
    for item in items:
        added = len(item[0]) + (1 if chunk else 0)
        if chunk and length + added > MAX_QUERY_LENGTH:
            yield chunk
            chunk, length, added = [], overhead, len(item[0])
        chunk.append(item)
        length += added
    if chunk:
        yield chunk


def _backoff(first: float, longest: float) -> wait_exponential_jitter:
    """Doubling waits from ``first`` with up to ``first`` of jitter, capped at ``longest``."""
    try:
        return wait_exponential_jitter(multiplier=first, max=longest, jitter=first)
    except TypeError:  # tenacity < 9.1 names the first wait ``initial``
        return wait_exponential_jitter(initial=first, max=longest, jitter=first)


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    raise TypeError(f"cannot send a {type(value).__name__} to LinkedIn as JSON")
