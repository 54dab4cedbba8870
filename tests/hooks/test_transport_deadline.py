"""The whole-exchange deadline: which connection it cuts off, and which it must leave alone.

The drip itself is tested end to end in ``test_transport_bounds.py``; here fake connections record what
the deadline did to their socket, so the hand-over of a kept-alive connection can be tested exactly.
"""

from __future__ import annotations

import socket

import requests

from airflow_provider_linkedin_capi.hooks._transport import (
    DeadlineAdapter,
    ExchangeDeadline,
    _WatchedHTTPConnectionPool,
    _WatchedHTTPSConnectionPool,
)


class RecordingSocket:
    def __init__(self) -> None:
        self.shut: list[int] = []

    def shutdown(self, how: int) -> None:
        self.shut.append(how)


class FakeConnection:
    def __init__(self) -> None:
        self.sock = RecordingSocket()


def _expire(deadline: ExchangeDeadline) -> None:
    """Let the deadline's timer (0 s) fire, and wait for it."""
    deadline._timer.join(10)
    assert deadline.expired


def test_the_connection_of_an_exchange_past_its_deadline_is_shut_down():
    connection = FakeConnection()
    with ExchangeDeadline(0.0) as deadline:
        deadline.watch(connection)
        _expire(deadline)
    assert connection.sock.shut == [socket.SHUT_RDWR]


def test_a_connection_taken_after_the_deadline_passed_is_shut_down_at_once():
    connection = FakeConnection()
    with ExchangeDeadline(0.0) as deadline:
        _expire(deadline)
        deadline.watch(connection)
    assert connection.sock.shut == [socket.SHUT_RDWR]


def test_a_late_timer_leaves_a_connection_that_serves_another_exchange_alone():
    connection = FakeConnection()
    first = ExchangeDeadline(3600)
    first.watch(connection)
    # the connection went back to the pool and another exchange took it
    second = ExchangeDeadline(3600)
    second.watch(connection)
    first._expire()
    assert connection.sock.shut == []
    second._expire()
    assert connection.sock.shut == [socket.SHUT_RDWR]


def test_a_disarmed_deadline_shuts_nothing():
    connection = FakeConnection()
    with ExchangeDeadline(3600) as deadline:
        deadline.watch(connection)
        deadline.disarm()
        deadline._expire()
    assert connection.sock.shut == []


def test_the_adapter_makes_watched_connections_direct_and_through_an_http_proxy():
    adapter = DeadlineAdapter()
    try:
        assert adapter.poolmanager.pool_classes_by_scheme == {
            "http": _WatchedHTTPConnectionPool,
            "https": _WatchedHTTPSConnectionPool,
        }
        proxied = adapter.proxy_manager_for("http://proxy.example:3128")
        assert proxied.pool_classes_by_scheme["https"] is _WatchedHTTPSConnectionPool
    finally:
        adapter.close()
    assert isinstance(adapter, requests.adapters.HTTPAdapter)
