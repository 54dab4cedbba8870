"""One HTTP exchange with LinkedIn, bounded in time and size, shared by the sync and the async hook.

``requests`` and ``httpx`` apply a timeout to each socket read, so a server that drips one byte at a time
could keep a call with ``timeout=1`` busy for as long as it likes. Here the timeout is a deadline for the
whole exchange: the sync path reads the body in pieces as they arrive and gives up at the deadline, and
cuts off a status line and headers still arriving then
(:mod:`~airflow_provider_linkedin_capi.hooks.exchange_deadline`); the async path runs the whole
exchange, headers included, under one ``asyncio`` deadline.

A body over :data:`MAX_RESPONSE_BYTES` is refused rather than held in memory: LinkedIn's largest answers
(a 5,000-element BATCH_CREATE, a page of 100 rules) are well under a megabyte.

Redirects are never followed: a 307/308 from the token endpoint would re-post the client secret and the
refresh token to wherever ``Location`` points, and a redirect from the API would carry the bearer token
there. A 3xx is an error naming the status and the host it pointed to (never the whole URL, whose query
could hold anything).

Around the exchange sit the retries both hooks share: which failures another attempt may fix
(:class:`TransientFailure`), the one backoff formula (:func:`backoff_wait`) and the tenacity policy built
on it (:func:`retry_policy`). What an answer means (a 401, a 426, a 403...) is read in
:mod:`~airflow_provider_linkedin_capi.hooks.answers`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import requests
from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from airflow_provider_linkedin_capi import metrics
from airflow_provider_linkedin_capi.exceptions import LinkedInCapiError
from airflow_provider_linkedin_capi.hooks.exchange_deadline import ExchangeDeadline

#: Largest response body read from LinkedIn (or the sandbox); a larger one is an error.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
_CHUNK = 64 * 1024


class LinkedInCapiRedirectError(LinkedInCapiError):
    """The server answered 3xx; redirects are never followed, so nothing was re-sent anywhere."""


class LinkedInCapiResponseTooLargeError(LinkedInCapiError):
    """The server's answer exceeded :data:`MAX_RESPONSE_BYTES`."""


@dataclass(frozen=True)
class BoundedResponse:
    """The parts of an HTTP answer the hooks read, with the body already in memory."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes
    reason: str


def refuse_redirect(status: int, headers: Mapping[str, str], what: str) -> None:
    """Raise for a 3xx answer (a 304 included: the hooks send no conditional requests)."""
    if not 300 <= status < 400:
        return
    location = headers.get("location") or headers.get("Location") or ""
    host = urlsplit(location).hostname if location else None
    where = f"to host {host!r}" if host else ("to a relative location" if location else "without a Location")
    raise LinkedInCapiRedirectError(
        f"{what} was answered with a redirect (HTTP {status}) {where}; redirects are never followed, so "
        "no credentials or events were sent there. Check the connection's host.",
        status=status,
    )


def _refuse_declared_size(headers: Mapping[str, str], status: int, what: str, max_bytes: int) -> None:
    declared = headers.get("content-length") or headers.get("Content-Length")
    if declared and declared.strip().isdigit() and int(declared) > max_bytes:
        raise _too_large(status, what, max_bytes)


def _too_large(status: int, what: str, max_bytes: int) -> LinkedInCapiResponseTooLargeError:
    return LinkedInCapiResponseTooLargeError(
        f"{what}: the answer (HTTP {status}) is larger than {max_bytes} bytes, far above anything LinkedIn "
        "sends; it was not read",
        status=status,
    )


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float,
    what: str,
    data: Any = None,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> BoundedResponse:
    """One ``requests`` exchange, never redirected, whose whole answer must arrive within ``timeout`` seconds.

    A missed deadline raises :class:`requests.exceptions.ReadTimeout`, so callers retry it like any other
    timeout. The body is checked against the deadline between pieces; the status line and headers by an
    :class:`~airflow_provider_linkedin_capi.hooks.exchange_deadline.ExchangeDeadline`, when the session
    mounts a :class:`~airflow_provider_linkedin_capi.hooks.exchange_deadline.DeadlineAdapter` (the hooks'
    does).
    """
    ends_at = time.monotonic() + timeout
    late = f"the answer did not arrive within the {timeout:g} s timeout"
    with ExchangeDeadline(timeout) as deadline:
        try:
            response = session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=timeout,
                stream=True,
                allow_redirects=False,
            )
        except requests.exceptions.ConnectionError:
            if deadline.expired:  # the socket was shut at the deadline, while the headers dripped in
                raise requests.exceptions.ReadTimeout(late) from None
            raise
        try:
            refuse_redirect(response.status_code, response.headers, what)
            _refuse_declared_size(response.headers, response.status_code, what, max_bytes)
            body = bytearray()
            for piece in _pieces(response):
                body += piece
                if len(body) > max_bytes:
                    raise _too_large(response.status_code, what, max_bytes)
                if time.monotonic() > ends_at:
                    raise requests.exceptions.ReadTimeout(late)
            if deadline.expired and _read_until_close(response.headers):
                # no length to check it against: the body may have ended where the timer cut it
                raise requests.exceptions.ReadTimeout(late)
            return BoundedResponse(response.status_code, response.headers, bytes(body), response.reason or "")
        except requests.exceptions.ChunkedEncodingError:
            if deadline.expired:
                raise requests.exceptions.ReadTimeout(late) from None
            raise
        finally:
            deadline.disarm()  # before the connection can go back to the pool for another exchange
            if response.raw is not None:
                response.close()


def _read_until_close(headers: Mapping[str, str]) -> bool:
    """Whether the body's end is only the connection closing (no Content-Length, not chunked)."""
    chunked = "chunked" in (headers.get("transfer-encoding") or "").lower()
    return not chunked and headers.get("content-length") is None


def _pieces(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives: ``read1`` returns what one socket read brought, not a full chunk."""
    raw = response.raw
    # An answer built in memory (a test's transport adapter), or one a response hook already read.
    if raw is None or response._content_consumed:
        yield response.content
        return
    try:
        while piece := raw.read1(_CHUNK, decode_content=True):
            yield piece
    except Exception as err:  # urllib3's own errors, wrapped as requests would wrap them
        if isinstance(err, requests.RequestException):
            raise
        raise requests.exceptions.ChunkedEncodingError(f"{type(err).__name__}: {err}") from None


async def send_async(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    timeout: float,
    what: str,
    data: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> BoundedResponse:
    """One ``httpx`` exchange, never redirected, that must finish (headers and body) within ``timeout``.

    A missed deadline raises :class:`httpx.ReadTimeout`, a transport error callers already retry.

    ``asyncio.timeout``, not ``asyncio.wait_for``: on Python 3.11, ``wait_for`` can swallow the
    cancellation of its caller when the exchange finishes at the same moment (CPython gh-86296, fixed in
    3.12), and a cancelled trigger then went on polling LinkedIn for ever.
    """
    try:
        async with asyncio.timeout(timeout):
            return await _exchange(
                client, method, url, what=what, data=data, headers=headers, max_bytes=max_bytes
            )
    except TimeoutError:
        raise httpx.ReadTimeout(f"the answer did not arrive within the {timeout:g} s timeout") from None


async def _exchange(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    what: str,
    data: Mapping[str, str] | None,
    headers: Mapping[str, str] | None,
    max_bytes: int,
) -> BoundedResponse:
    request = client.build_request(method, url, data=data, headers=headers)
    response = await client.send(request, stream=True, follow_redirects=False)
    try:
        refuse_redirect(response.status_code, response.headers, what)
        _refuse_declared_size(response.headers, response.status_code, what, max_bytes)
        body = bytearray()
        async for piece in response.aiter_bytes():
            body += piece
            if len(body) > max_bytes:
                raise _too_large(response.status_code, what, max_bytes)
        return BoundedResponse(response.status_code, response.headers, bytes(body), response.reason_phrase)
    finally:
        await response.aclose()


# ---------------------------------------------------------------------------------------------------------
# Retries: which failures another attempt may fix, how long to wait, when to stop. One policy for both hooks
# (tenacity's ``Retrying`` in tasks, ``AsyncRetrying`` in the triggerer) and for resending elements.

#: Failures of the exchange itself (no answer, or half of one); another attempt may get through.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    httpx.TransportError,
)
#: Failures where the request surely never reached the server, so repeating it cannot act twice.
_NEVER_SENT = (requests.exceptions.ConnectTimeout, httpx.ConnectTimeout, httpx.ConnectError)

T = TypeVar("T")


class TransientFailure(Exception):
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


def transport_failure(err: Exception) -> TransientFailure:
    """A dropped connection, timeout or broken body, as a failure worth another attempt."""
    return TransientFailure(f"{type(err).__name__}: {err}", ambiguous=not isinstance(err, _NEVER_SENT))


def backoff_wait(retry: int, first: float, longest: float) -> float:
    """Seconds before retry number ``retry`` (1 for the first): the one backoff formula of the provider.

    ``first`` doubled per retry plus up to ``first`` of jitter (so clients that failed together do not
    retry together), never more than ``longest``: tenacity's ``wait_exponential_jitter``.
    """
    return max(0.0, min(longest, first * 2 ** (retry - 1) + random.uniform(0, first)))


def retry_policy(
    what: str, *, attempts: int, first: float, longest: float, log: logging.Logger | Any
) -> dict[str, Any]:
    """Keyword arguments for tenacity's ``Retrying`` or ``AsyncRetrying``: retry :class:`TransientFailure`.

    A ``Retry-After`` the answer carried wins over the backoff.
    """

    def wait(state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, TransientFailure) and failure.retry_after is not None:
            return failure.retry_after
        return backoff_wait(state.attempt_number, first, longest)

    def log_retry(state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        metrics.count_retry(getattr(failure, "status", None))
        log.warning(
            "LinkedIn %s: %s (attempt %d of %d); retrying in %.2fs",
            what,
            getattr(failure, "description", failure),
            state.attempt_number,
            attempts,
            state.next_action.sleep if state.next_action else 0.0,
        )

    return {
        "stop": stop_after_attempt(attempts),
        "wait": wait,
        "retry": retry_if_exception_type(TransientFailure),
        "before_sleep": log_retry,
        "reraise": True,
    }


def retries_exhausted(what: str, attempts: int, failure: TransientFailure) -> LinkedInCapiError:
    """The error once every attempt failed, naming the last failure (never a body or a header)."""
    if failure.status is None:
        return LinkedInCapiError(
            f"Could not reach LinkedIn for {what}: {failure.description} (failed after {attempts} "
            "attempt(s))",
            code=failure.code,
        )
    return LinkedInCapiError(
        f"LinkedIn {what} failed after {attempts} attempt(s); the last answer was {failure.description}",
        status=failure.status,
        code=failure.code,
    )


async def with_retries_async(
    what: str,
    attempt: Callable[[int], Awaitable[T]],
    *,
    attempts: int,
    first: float,
    longest: float,
    log: logging.Logger | Any,
) -> T:
    """Await ``attempt(number)`` until it returns, retrying :class:`TransientFailure` with the backoff."""
    policy = retry_policy(what, attempts=attempts, first=first, longest=longest, log=log)
    try:
        async for state in AsyncRetrying(**policy):
            with state:
                return await attempt(state.retry_state.attempt_number)
    except TransientFailure as failure:
        raise retries_exhausted(what, attempts, failure) from None
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover


def with_retries(
    what: str,
    attempt: Callable[[int], T],
    *,
    attempts: int,
    first: float,
    longest: float,
    log: logging.Logger | Any,
    before_retry: Callable[[TransientFailure], T | None] | None = None,
) -> T:
    """Call ``attempt(number)`` until it returns, retrying :class:`TransientFailure` with the backoff.

    :param before_retry: asked before each retry with the failure that caused it; a value it returns ends
        the call (a create that may have happened is looked up rather than repeated).
    """
    policy = retry_policy(what, attempts=attempts, first=first, longest=longest, log=log)
    last: TransientFailure | None = None
    try:
        for state in Retrying(**policy):
            with state:
                if last is not None and before_retry is not None:
                    recovered = before_retry(last)
                    if recovered is not None:
                        return recovered
                try:
                    return attempt(state.retry_state.attempt_number)
                except TransientFailure as failure:
                    last = failure
                    raise
    except TransientFailure as failure:
        raise retries_exhausted(what, attempts, failure) from None
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover
