"""Command line: ``python -m airflow_provider_linkedin_capi.sandbox --port 8765``.

Once the socket listens (``--port 0`` picks a free port) it prints first the line
``LinkedIn CAPI sandbox listening on http://HOST:PORT``, which ``testing.SandboxProcess`` parses, then
the built-in credentials and a ready Airflow connection for that address. ``--help`` shows the
credentials too, so that nobody has to read the source to find them.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys

from airflow_provider_linkedin_capi.sandbox import (
    AD_ACCOUNT_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    LISTENING_PREFIX,
    REFRESH_TOKEN,
    STATIC_ACCESS_TOKEN,
    connection_for,
    create_app,
)
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


#: Addresses that mean "every interface": a client connects to the loopback address instead.
_ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def credentials_text(base_url: str) -> str:
    """The built-in credentials and a connection for ``base_url``: fake values, valid only here."""
    conn = json.dumps(connection_for(base_url))
    return (
        "Built-in credentials (fake; valid only against this sandbox):\n"
        f"  client id      {CLIENT_ID}\n"
        f"  client secret  {CLIENT_SECRET}\n"
        f"  refresh token  {REFRESH_TOKEN}\n"
        f"  access token   {STATIC_ACCESS_TOKEN}  (static, like a Direct API token)\n"
        f"  ad account     {AD_ACCOUNT_ID}  (campaigns: register them with POST /_sandbox/campaigns)\n"
        "Airflow connection (e.g. AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT):\n"
        f"  {conn}\n"
        "Consent flow against this sandbox (prints a connection with a new refresh token):\n"
        f"  python -m airflow_provider_linkedin_capi.authorize --oauth-base {base_url} "
        f"--client-id {CLIENT_ID} --ad-account-id {AD_ACCOUNT_ID} --no-browser\n"
        f"  (client secret: {CLIENT_SECRET}; open the printed URL in a browser or with curl -L: the "
        "sandbox approves at once)\n"
    )


def _shown_url(host: str, port: int) -> str:
    host = _ANY_ADDRESS.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_linkedin_capi.sandbox",
        description=__doc__,
        epilog=credentials_text("http://127.0.0.1:8765")
        + "(The URLs above are for the default --port 8765 on 127.0.0.1; the start-up output shows the "
        "actual ones.)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    parser.add_argument(
        "--no-refresh-tokens",
        action="store_true",
        help="answer a consent's code exchange with an access token only, as LinkedIn does for apps not "
        "approved for programmatic refresh tokens",
    )
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
        issue_refresh_tokens=not args.no_refresh_tokens,
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
    # This line first and unchanged: testing.SandboxProcess and users' scripts wait for it.
    sys.stdout.write(f"{LISTENING_PREFIX}http://{shown_host}:{port}\n")
    sys.stdout.write(credentials_text(_shown_url(host, port)))
    sys.stdout.flush()
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
