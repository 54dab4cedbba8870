"""A deadline for a whole ``requests`` exchange: the status line and the headers too, not only the body.

``requests`` (through urllib3 and http.client) applies its timeout to each socket read. A server that
sends its status line and headers a byte at a time, each byte inside the timeout, could hold a call for as
long as it likes: http.client reads up to 100 header lines of 64 KiB each. The body is read in pieces by
:func:`~airflow_provider_linkedin_capi.hooks.transport.send`, which checks the deadline between them; for
what comes before the body, an :class:`ExchangeDeadline` arms a timer that shuts the connection's socket
down when the deadline passes, so the blocked read returns at once and the exchange fails.

The hook's session mounts :class:`DeadlineAdapter`, whose connections hand themselves to the deadline the
calling thread opened when they connect or send a request (``requests`` runs a whole exchange on the
caller's thread, so a thread-local finds it). A keep-alive connection is shut down only while it still
serves the exchange whose deadline passed: once it has gone back to the pool and another exchange took it,
a late timer leaves it alone.

Proxies from ``HTTPS_PROXY``/``HTTP_PROXY`` are covered; a SOCKS proxy uses urllib3's own pools, whose
status line and headers stay bounded per read.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

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

    def _expire(self) -> None:
        with _owners:
            self.expired = True
            connection = self._connection
            if connection is not None and getattr(connection, "_linkedin_capi_deadline", None) is self:
                _shut(self._socket)


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
