"""A StatsD server on 127.0.0.1 for tests, with Airflow's own metrics settings pointed at it.

Airflow builds its metrics client from ``[metrics]`` once per process (the task runner does it at start);
the fixture sets ``AIRFLOW__METRICS__*`` and rebuilds Airflow's client the same way, so the provider's
``Stats`` calls travel through Airflow's real StatsD logger (and the pinned ``statsd`` library) over UDP.
"""

from __future__ import annotations

import re
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

SENTINEL = "linkedin_capi_test.sentinel"
_LINE = re.compile(r"^(?P<name>[^:]+):(?P<value>[-0-9.]+)\|(?P<kind>[a-z]+)")


@dataclass
class Packet:
    name: str
    tags: dict[str, str]
    value: float
    kind: str


@dataclass
class StatsdListener:
    sock: socket.socket
    prefix: str
    packets: list[Packet] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def collect(self, *, max_packets: int = 10_000) -> list[Packet]:
        """Everything sent so far: a sentinel counter is emitted and packets are read until it arrives."""
        from airflow.providers.common.compat.sdk import Stats

        Stats.incr(SENTINEL)
        self.sock.settimeout(10)
        for _ in range(max_packets):
            data, _ = self.sock.recvfrom(65535)
            for line in data.decode().splitlines():
                packet = _parse(line, self.prefix)
                if packet.name == SENTINEL:
                    return self.packets
                self.packets.append(packet)
        raise AssertionError(f"no sentinel after {max_packets} packets")

    def counters(self) -> Counter[tuple[str, tuple[tuple[str, str], ...]]]:
        """Summed counters by (name, sorted tags)."""
        totals: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        for packet in self.packets:
            if packet.kind == "c":
                totals[(packet.name, tuple(sorted(packet.tags.items())))] += int(packet.value)
        return totals

    def counter(self, name: str, **tags: str) -> int:
        return self.counters()[(name, tuple(sorted(tags.items())))]

    def timings(self, name: str) -> list[Packet]:
        return [packet for packet in self.packets if packet.name == name and packet.kind == "ms"]


def _parse(line: str, prefix: str) -> Packet:
    match = _LINE.match(line)
    assert match, line
    name, *tag_parts = match["name"].split(",")
    assert name.startswith(prefix + "."), line
    tags = dict(part.split("=", 1) for part in tag_parts)
    return Packet(name[len(prefix) + 1 :], tags, float(match["value"]), match["kind"])


def reinitialise_airflow_stats() -> None:
    """Rebuild Airflow's metrics client from the current ``[metrics]`` settings (env vars included)."""
    try:  # Airflow 3.2+: the task SDK's stats module, initialised by the task runner at start
        from airflow.sdk.configuration import conf
        from airflow.sdk.observability import stats
        from airflow.sdk.observability.metrics import stats_utils
    except ImportError:  # Airflow 3.1: core's Stats picks its client on first use
        from airflow.stats import Stats

        if _statsd_on():
            from airflow.metrics.statsd_logger import get_statsd_logger

            type(Stats).factory = get_statsd_logger
        else:
            from airflow.metrics.base_stats_logger import NoStatsLogger

            type(Stats).factory = NoStatsLogger
        Stats.instance = None  # the next use builds the client from the factory
        return
    stats.initialize(
        factory=stats_utils.get_stats_factory(),
        export_legacy_names=conf.getboolean("metrics", "legacy_names_on", fallback=True),
    )


def _statsd_on() -> bool:
    from airflow.configuration import conf

    return conf.getboolean("metrics", "statsd_on")


PREFIX = "airflow_test"


def listening_statsd(monkeypatch: pytest.MonkeyPatch) -> Iterator[StatsdListener]:
    """A UDP StatsD listener on 127.0.0.1, and Airflow's metrics (with InfluxDB-style tags) sent to it.

    A generator for a fixture: ``yield from listening_statsd(monkeypatch)``.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    listener = StatsdListener(sock, PREFIX)
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(listener.port))
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PREFIX", PREFIX)
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED", "True")
    reinitialise_airflow_stats()
    try:
        yield listener
    finally:
        monkeypatch.undo()
        reinitialise_airflow_stats()
        sock.close()
