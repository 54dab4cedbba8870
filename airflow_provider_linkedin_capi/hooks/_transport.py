"""One bounded exchange with LinkedIn, its pacing, and the retries both hooks share.

Private to ``hooks/``. Every call goes through :func:`send` (``requests``, in tasks) or
:func:`send_async` (``httpx``, in the triggerer): never redirected, its answer capped in size and, with
:class:`ExchangeDeadline`, bounded in time from the first byte sent to the last byte read. Requests take a
slot of the connection's per-process :class:`TokenBucket` first, carry the standard Rest.li headers, and are
retried by one tenacity policy on the failures another attempt may fix (:class:`TransientFailure`). LinkedIn's
error envelope and ``Retry-After`` are read here too, so both hooks classify a status the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import math
import random
import socket
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import orjson
import requests
from requests.adapters import HTTPAdapter
from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from airflow_provider_linkedin_capi import metrics
from airflow_provider_linkedin_capi.exceptions import (
    LinkedInCapiError,
    LinkedInCapiRedirectError,
    LinkedInCapiResponseTooLargeError,
)

# ----------------------------------------------------------------------------------------------------
# A deadline for a whole ``requests`` exchange: the status line and the headers too, not only the body.
#
# ``requests`` (through urllib3 and http.client) applies its timeout to each socket read. A server that
# sends its status line and headers a byte at a time, each byte inside the timeout, could hold a call for as
# long as it likes: http.client reads up to 100 header lines of 64 KiB each. The body is read in pieces by
# :func:`~airflow_provider_linkedin_capi.hooks._transport.send`, which checks the deadline between them; for
# what comes before the body, an :class:`ExchangeDeadline` arms a timer that shuts the connection's socket
# down when the deadline passes, so the blocked read returns at once and the exchange fails.
#
# The hook's session mounts :class:`DeadlineAdapter`, whose connections hand themselves to the deadline the
# calling thread opened when they connect or send a request (``requests`` runs a whole exchange on the
# caller's thread, so a thread-local finds it). A keep-alive connection is shut down only while it still
# serves the exchange whose deadline passed: once it has gone back to the pool and another exchange took it,
# a late timer leaves it alone.
#
# Proxies from ``HTTPS_PROXY``/``HTTP_PROXY`` are covered; a SOCKS proxy uses urllib3's own pools, whose
# status line and headers stay bounded per read.


_current = threading.local()
#: Guards which exchange each connection serves, against a timer firing while a connection changes hands.
_owners = threading.Lock()


class ExchangeDeadline:
    """While open, the exchange made on this thread is cut off ``seconds`` after it started.

    :attr:`expired` says afterwards whether the deadline cut it off, so the caller can report a timeout
    instead of the connection error the cut-off socket raised.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._connection: HTTPConnection | None = None
        #: The connection's socket when it was handed over: http.client lets go of ``connection.sock`` once
        #: it knows the body ends when the server closes, and keeps reading that socket.
        self._socket: socket.socket | None = None
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._outer: ExchangeDeadline | None = None

    def __enter__(self) -> ExchangeDeadline:
        self._outer = getattr(_current, "deadline", None)
        _current.deadline = self
        self._timer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.disarm()
        _current.deadline = self._outer

    def disarm(self) -> None:
        """Stop watching: call before the connection can go back to the pool. Safe to call twice."""
        self._timer.cancel()
        with _owners:
            self._connection = self._socket = None

    def watch(self, connection: HTTPConnection) -> None:
        """``connection`` now serves this exchange (shut at once if the deadline has already passed)."""
        with _owners:
            connection._linkedin_capi_deadline = self  # type: ignore[attr-defined]
            self._connection, self._socket = connection, connection.sock
            if self.expired:
                _shut(self._socket)

    def cut_off(self) -> None:
        """End the exchange now, as if its deadline had passed (a push that is stopping)."""
        self._timer.cancel()
        self._expire()

    def _expire(self) -> None:
        with _owners:
            self.expired = True
            connection = self._connection
            if connection is not None and getattr(connection, "_linkedin_capi_deadline", None) is self:
                _shut(self._socket)


@contextlib.contextmanager
def _kept_in(exchanges: set[ExchangeDeadline] | None, deadline: ExchangeDeadline) -> Iterator[None]:
    if exchanges is None:
        yield
        return
    with _owners:
        exchanges.add(deadline)
    try:
        yield
    finally:
        with _owners:
            exchanges.discard(deadline)


def _shut(sock: socket.socket | None) -> None:
    """Wake a read blocked on ``sock``: shutdown, unlike close, does so from another thread."""
    if sock is None:
        return
    with contextlib.suppress(OSError):  # already closed, or never connected
        sock.shutdown(socket.SHUT_RDWR)


def _watch(connection: HTTPConnection) -> None:
    deadline: ExchangeDeadline | None = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.watch(connection)


class _Watched(HTTPConnection):
    """Hands the connection to this thread's deadline as it connects, or sends on a kept-alive socket."""

    def connect(self) -> None:
        super().connect()
        _watch(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:  # a kept-alive connection; a new one is watched once connected
            _watch(self)
        super().request(*args, **kwargs)


class _WatchedHTTPConnection(_Watched):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPConnectionPool, "https": _WatchedHTTPSConnectionPool}


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections an :class:`ExchangeDeadline` can cut off."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_WATCHED_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)
        return manager


# ----------------------------------------------------------------------------------------------------
# The headers every LinkedIn call carries, in one place for the sync and the async hook.
#
# ``X-Restli-Protocol-Version: 2.0.0`` is sent everywhere: without it LinkedIn parses compound keys and
# ``List(...)`` parameters with Rest.li 1.0 rules (docs/linkedin-contract.md §1.4). ``LinkedIn-Version`` is
# never implied by LinkedIn (§1.3), so a missing one is a 400.


RESTLI_PROTOCOL_VERSION = "2.0.0"


def standard_headers(
    access_token: str,
    api_version: str,
    *,
    restli_method: str | None = None,
    json_body: bool = False,
) -> dict[str, str]:
    headers = {
        "Authorization": f"Bearer {access_token}",
        "LinkedIn-Version": api_version,
        "X-Restli-Protocol-Version": RESTLI_PROTOCOL_VERSION,
        "Accept": "application/json",
    }
    if json_body:
        headers["Content-Type"] = "application/json"
    if restli_method:
        headers["X-RestLi-Method"] = restli_method
    return headers


# ----------------------------------------------------------------------------------------------------
# Client-side pacing, so that LinkedIn rarely has to answer 429.
#
# LinkedIn counts per member token (600 requests/minute for CAPI, a third-party figure,
# docs/linkedin-contract.md §6.2), and a 429 carries no ``Retry-After`` (§6.3), so waiting before sending is
# cheaper than backing off after. One bucket per connection id per process: every hook built for that
# connection (several operators in one worker, a hook per batch) draws from the same budget.
#
# The bucket holds at most 10 % of the minute's budget and refills the other 90 % evenly over the minute, so
# no 60-second window can see more than ``requests_per_minute`` requests (burst + refill = budget). Callers
# that must wait reserve their slot first and sleep outside the lock, which keeps threads in arrival order.


BURST_FRACTION = 0.1


class TokenBucket:
    """A thread-safe token bucket that never lets more than ``requests_per_minute`` through per 60 s."""

    def __init__(
        self,
        requests_per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._configure(requests_per_minute)
        self._tokens = float(self.capacity)
        self._updated = clock()

    def _configure(self, requests_per_minute: int) -> None:
        if requests_per_minute < 1:
            raise ValueError(f"requests_per_minute must be >= 1, got {requests_per_minute}")
        self.requests_per_minute = int(requests_per_minute)
        self.capacity = max(1, int(self.requests_per_minute * BURST_FRACTION))
        # Per second; with a budget of 1 the window guarantee holds for half-open 60 s windows.
        # A hair slower than the budget allows, so that float rounding (a slot due at 1000.16 + 60 landing at
        # 1060.1599999999999) can never let one request too many into a 60-second window.
        self.refill_per_second = max(self.requests_per_minute - self.capacity, 1) / 60.0 * (1 - 1e-9)

    def reconfigure(self, requests_per_minute: int) -> None:
        with self._lock:
            if requests_per_minute != self.requests_per_minute:
                self._refill()
                self._configure(requests_per_minute)
                self._tokens = min(self._tokens, float(self.capacity))

    def acquire(self) -> float:
        """Take one request slot, sleeping until it is due; returns the seconds slept."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def reserve(self) -> float:
        """Take one request slot and return how long to wait for it, without waiting.

        For callers that must not block a thread: the async hook awaits ``asyncio.sleep`` for the result.
        """
        with self._lock:
            self._refill()
            self._tokens -= 1.0
            return -self._tokens / self.refill_per_second if self._tokens < 0 else 0.0

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(now - self._updated, 0.0)
        self._updated = now
        self._tokens = min(float(self.capacity), self._tokens + elapsed * self.refill_per_second)


_registry: dict[str, TokenBucket] = {}
_registry_lock = threading.Lock()


def limiter_for(conn_id: str, requests_per_minute: int) -> TokenBucket:
    """The process-wide bucket of one connection, created on first use; the latest budget wins."""
    with _registry_lock:
        bucket = _registry.get(conn_id)
        if bucket is None:
            bucket = _registry[conn_id] = TokenBucket(requests_per_minute)
            return bucket
    bucket.reconfigure(requests_per_minute)
    return bucket


# ----------------------------------------------------------------------------------------------------
# Reading LinkedIn's answers: error envelopes, retry decisions, ``Retry-After``.
#
# Shared by the sync and async hooks so both classify a status the same way. Error text is taken only from
# LinkedIn's JSON envelope (``message``/``code``/``serviceErrorCode``, docs/linkedin-contract.md §2.3); a
# non-JSON body (a proxy's HTML page) is never copied into an exception, because exception text reaches the
# Airflow UI.


# 429 and 5xx are worth another try; everything else in 4xx is a property of the request.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# A longer Retry-After is shortened to this, so one header cannot park a task (or a trigger) for hours; the
# retry budget (``max_retries``) still bounds how often that happens.
MAX_RETRY_AFTER_SECONDS = 900.0
# Appended to every 403: LinkedIn's message names only the resource, not which of these is missing
# (docs/linkedin-contract.md §5.7).
FORBIDDEN_HINT = (
    "the token needs the rw_conversions and r_ads scopes, the authorising member an ad-account role other "
    "than VIEWER (e.g. CAMPAIGN_MANAGER or ACCOUNT_MANAGER), and the app the Conversions API product; a task "
    "retry cannot fix this"
)


@dataclass(frozen=True)
class LinkedInErrorBody:
    status: int
    message: str
    code: str | None = None
    service_error_code: int | None = None

    def describe(self) -> str:
        code = f" {self.code}" if self.code else ""
        return f"HTTP {self.status}{code}: {self.message}"


def decode_json(content: bytes | str | None) -> Any:
    """The JSON body, or ``None`` for an empty or non-JSON one."""
    if not content:
        return None
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None


def error_body(status: int, payload: Any, reason: str | None = None) -> LinkedInErrorBody:
    """LinkedIn's legacy envelope ``{message, serviceErrorCode, status[, code]}`` as a value."""
    body = payload if isinstance(payload, Mapping) else {}
    message = body.get("message") or body.get("error_description") or reason or "no message"
    service_code = body.get("serviceErrorCode")
    code = body.get("code") or body.get("error")
    if not code and service_code is not None:
        code = str(service_code)
    return LinkedInErrorBody(
        status=status,
        message=str(message),
        code=str(code) if code else None,
        service_error_code=service_code if isinstance(service_code, int) else None,
    )


def is_retryable(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= 500


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta or HTTP date).

    LinkedIn does not send it today (docs/linkedin-contract.md §6.3).

    ``None`` (use the backoff) when the header is missing or unusable; ``float()`` also accepts ``nan`` and
    ``inf``, which would crash ``time.sleep`` or stall a retry, so they count as unusable. At most
    :data:`MAX_RETRY_AFTER_SECONDS`.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        seconds = _seconds_until(value, time.time() if now is None else now)
    if seconds is None or not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _seconds_until(http_date: str, now: float) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return None
    return None if when is None else when.timestamp() - now


# ----------------------------------------------------------------------------------------------------
# One HTTP exchange with LinkedIn, bounded in time and size, shared by the sync and the async hook.
#
# ``requests`` and ``httpx`` apply a timeout to each socket read, so a server that drips one byte at a time
# could keep a call with ``timeout=1`` busy for as long as it likes. Here the timeout is a deadline for the
# whole exchange: the sync path reads the body in pieces as they arrive and gives up at the deadline, and
# cuts off a status line and headers still arriving then
# (:mod:`~airflow_provider_linkedin_capi.hooks._transport`); the async path runs the whole
# exchange, headers included, under one ``asyncio`` deadline.
#
# A body over :data:`MAX_RESPONSE_BYTES` is refused rather than held in memory: LinkedIn's largest answers
# (a 5,000-element BATCH_CREATE, a page of 100 rules) are well under a megabyte.
#
# Redirects are never followed: a 307/308 from the token endpoint would re-post the client secret and the
# refresh token to wherever ``Location`` points, and a redirect from the API would carry the bearer token
# there. A 3xx is an error naming the status and the host it pointed to (never the whole URL, whose query
# could hold anything).
#
# Around the exchange sit the retries both hooks share: which failures another attempt may fix
# (:class:`TransientFailure`), the one backoff formula (:func:`backoff_wait`) and the tenacity policy built
# on it (:func:`retry_policy`). What an answer means (a 401, a 426, a 403...) is read in
# :mod:`~airflow_provider_linkedin_capi.hooks._answers`.


#: Largest response body read from LinkedIn (or the sandbox); a larger one is an error.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
_CHUNK = 64 * 1024


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
    open_exchanges: set[ExchangeDeadline] | None = None,
) -> BoundedResponse:
    """One ``requests`` exchange, never redirected, whose whole answer must arrive within ``timeout`` seconds.

    :param open_exchanges: the exchange's deadline is kept here while it is open, so that a hook that stops
        can cut it off (:meth:`ExchangeDeadline.cut_off`).

    A missed deadline raises :class:`requests.exceptions.ReadTimeout`, so callers retry it like any other
    timeout. The body is checked against the deadline between pieces; the status line and headers by an
    :class:`~airflow_provider_linkedin_capi.hooks._transport.ExchangeDeadline`, when the session
    mounts a :class:`~airflow_provider_linkedin_capi.hooks._transport.DeadlineAdapter` (the hooks'
    does).
    """
    ends_at = time.monotonic() + timeout
    late = f"the answer did not arrive within the {timeout:g} s timeout"
    with ExchangeDeadline(timeout) as deadline, _kept_in(open_exchanges, deadline):
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
    # Only encodings this module decodes itself, so that the size cap holds on the decoded bytes.
    request = client.build_request(
        method, url, data=data, headers={"Accept-Encoding": ", ".join(_DECODED_ENCODINGS), **(headers or {})}
    )
    response = await client.send(request, stream=True, follow_redirects=False)
    try:
        status = response.status_code
        refuse_redirect(status, response.headers, what)
        _refuse_declared_size(response.headers, status, what, max_bytes)
        decoder = _decoder(response.headers.get("content-encoding"), status, what)
        body = bytearray()
        try:
            await _read_decoded(response, decoder, body, max_bytes, status, what)
        except zlib.error:
            raise LinkedInCapiError(
                f"{what}: the answer (HTTP {status}) is not valid {response.headers.get('content-encoding')}",
                status=status,
            ) from None
        return BoundedResponse(status, response.headers, bytes(body), response.reason_phrase)
    finally:
        await response.aclose()


async def _read_decoded(
    response: httpx.Response, decoder: Any, body: bytearray, max_bytes: int, status: int, what: str
) -> None:
    if hasattr(response, "_content"):  # an answer built in memory (a test's transport): already decoded
        body += response.content
        if len(body) > max_bytes:
            raise _too_large(status, what, max_bytes)
        return
    async for piece in response.aiter_raw():
        # Decompressed at most up to the cap, piece by piece: a small gzip answer can hold hundreds of
        # megabytes, and httpx's own decoding would inflate a whole piece before the cap is checked.
        while piece:
            room = max_bytes - len(body) + 1
            body += decoder.decompress(piece, room) if decoder is not None else piece
            if len(body) > max_bytes:
                raise _too_large(status, what, max_bytes)
            piece = decoder.unconsumed_tail if decoder is not None else b""
    if decoder is not None:
        body += decoder.flush(max_bytes - len(body) + 1)
        if len(body) > max_bytes:
            raise _too_large(status, what, max_bytes)


#: Content encodings the async exchange asks for and decodes itself (wbits for zlib).
_DECODED_ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def _decoder(encoding: str | None, status: int, what: str) -> Any:
    """A zlib decompressor for the answer's ``Content-Encoding``; ``None`` for an unencoded answer."""
    name = (encoding or "identity").strip().lower()
    if name == "identity":
        return None
    if name not in _DECODED_ENCODINGS:
        raise LinkedInCapiError(
            f"{what}: the answer (HTTP {status}) is encoded as {name[:40]!r}, which was not asked for",
            status=status,
        )
    return zlib.decompressobj(_DECODED_ENCODINGS[name])


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


def _as_is(text: str) -> str:
    return text


def retry_policy(
    what: str,
    *,
    attempts: int,
    first: float,
    longest: float,
    log: logging.Logger | Any,
    scrub: Callable[[str], str] = _as_is,
) -> dict[str, Any]:
    """Keyword arguments for tenacity's ``Retrying`` or ``AsyncRetrying``: retry :class:`TransientFailure`.

    A ``Retry-After`` the answer carried wins over the backoff. ``scrub`` takes what the server may have
    quoted of the request out of each retry warning.
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
            scrub(str(getattr(failure, "description", failure))),
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


def retries_exhausted(
    what: str, attempts: int, failure: TransientFailure, scrub: Callable[[str], str] = _as_is
) -> LinkedInCapiError:
    """The error once every attempt failed, naming the last failure (never a body or a header)."""
    description = scrub(failure.description)
    if failure.status is None:
        return LinkedInCapiError(
            f"Could not reach LinkedIn for {what}: {description} (failed after {attempts} attempt(s))",
            code=failure.code,
        )
    return LinkedInCapiError(
        f"LinkedIn {what} failed after {attempts} attempt(s); the last answer was {description}",
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
    scrub: Callable[[str], str] = _as_is,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``attempt(number)`` until it returns, retrying :class:`TransientFailure` with the backoff.

    :param before_retry: asked before each retry with the failure that caused it; a value it returns ends
        the call (a create that may have happened is looked up rather than repeated).
    :param scrub: applied to the server's words in retry warnings and in the final error.
    :param sleep: waits between attempts; a stopping hook's raises instead of waiting.
    """
    policy = retry_policy(what, attempts=attempts, first=first, longest=longest, log=log, scrub=scrub)
    policy["sleep"] = sleep
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
        raise retries_exhausted(what, attempts, failure, scrub) from None
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover
