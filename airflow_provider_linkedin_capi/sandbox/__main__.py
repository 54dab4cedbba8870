"""Command line: ``python -m airflow_provider_linkedin_capi.sandbox --port 8765``.

Prints exactly one line, ``LinkedIn CAPI sandbox listening on http://HOST:PORT``, once the socket
listens (``--port 0`` picks a free port); ``testing.SandboxProcess`` parses it.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys

from airflow_provider_linkedin_capi.sandbox import LISTENING_PREFIX, create_app
from airflow_provider_linkedin_capi.sandbox.admin_guard import AdminGuard, loopback_warning
from airflow_provider_linkedin_capi.sandbox.config import (
    STORE_MODES,
    SandboxConfig,
    default_active_versions,
    version_tuple,
)
from airflow_provider_linkedin_capi.sandbox.faults import FAULT_KINDS, DroppedConnection, FaultSpec
from airflow_provider_linkedin_capi.sandbox.latency import parse_latency


class _HideDroppedConnections(logging.Filter):
    """Injected connection drops are intended; keep their tracebacks out of the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


def _fault(text: str) -> FaultSpec:
    try:
        return FaultSpec.from_cli(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _latency(text: str) -> dict[str, float]:
    try:
        return parse_latency(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _versions(text: str) -> tuple[str, ...]:
    try:
        return version_tuple(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_linkedin_capi.sandbox", description=__doc__
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="bind address (default 127.0.0.1 only; any other address is warned about: the admin API "
        "has no password)",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="another Host header the /_sandbox admin API accepts (e.g. a container name); the port "
        "defaults to the listening port",
    )
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--state-file", default=None, help="SQLite file keeping rules, links and events")
    parser.add_argument("--requests-per-minute", type=int, default=600)
    parser.add_argument("--requests-per-day", type=int, default=500_000)
    parser.add_argument(
        "--active-versions",
        type=_versions,
        default=None,
        help="comma-separated YYYYMM (default: last 12 months)",
    )
    parser.add_argument("--access-token-ttl", type=int, default=5_184_000)
    parser.add_argument("--max-batch-size", type=int, default=5000)
    parser.add_argument(
        "--store", choices=STORE_MODES, default="full", help="'ids' keeps only ids, for benchmarks"
    )
    parser.add_argument(
        "--fault",
        type=_fault,
        action="extend",
        nargs="+",
        default=[],
        metavar="SPEC",
        help="KIND:opt=value,... with KIND in " + ", ".join(FAULT_KINDS) + " and options every, "
        "fraction, after, limit, path, delay, when; e.g. 429:every=7 drop:fraction=0.01,when=after",
    )
    parser.add_argument(
        "--latency",
        type=_latency,
        default={},
        metavar="SPEC",
        help="time per /conversionEvents request, as LinkedIn's own (UNKNOWN live): base_ms=N,"
        "per_event_us=N,jitter_ms=N (or just N, the base in ms); e.g. base_ms=500,per_event_us=100 "
        "takes 1 s per 5,000-event batch",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for fractional faults and jitter")
    parser.add_argument("--log-level", default="warning")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    args = parse_args(argv)
    config = SandboxConfig(
        requests_per_minute=args.requests_per_minute,
        requests_per_day=args.requests_per_day,
        active_versions=args.active_versions or default_active_versions(),
        access_token_ttl=args.access_token_ttl,
        max_batch_size=args.max_batch_size,
        store=args.store,
        **args.latency,
    )
    warning = loopback_warning(args.host)
    if warning:
        sys.stderr.write(warning + "\n")
        sys.stderr.flush()
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)
    host, port = sock.getsockname()[:2]
    guard = AdminGuard(args.host, port, extra_hosts=args.allow_host)
    app = create_app(config, state_file=args.state_file, faults=args.fault, seed=args.seed, admin_guard=guard)
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level=args.log_level.lower(), access_log=False, lifespan="off", timeout_keep_alive=30
        )
    )
    logging.getLogger("uvicorn.error").addFilter(_HideDroppedConnections())
    shown_host = f"[{host}]" if ":" in host else host
    sys.stdout.write(f"{LISTENING_PREFIX}http://{shown_host}:{port}\n")
    sys.stdout.flush()
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
