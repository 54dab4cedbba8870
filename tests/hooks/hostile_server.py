"""A small HTTP server on 127.0.0.1 that misbehaves as each test tells it to, and counts what it got.

The sandbox is a faithful LinkedIn; this one is not meant to be. A test gives it a ``handler(request)``
that returns an :class:`Answer` (or writes to the socket itself, for dripping), and afterwards reads
``requests`` to count what the client sent. It also mints tokens on ``/oauth/v2/accessToken`` with the
lifetime the test asks for.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN_PATH = "/oauth/v2/accessToken"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    #: Send the body one byte at a time, this many seconds apart (with the full Content-Length first).
    drip: float | None = None
    #: Send the status line and headers one byte at a time, this many seconds apart, then the body.
    drip_headers: float | None = None
    #: Send no Content-Length: the body ends when the server closes the connection.
    until_close: bool = False


class HostileServer:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.handler: Callable[[Request], Answer] = lambda request: Answer(404, {"message": "no handler"})
        self.token_lifetime = 5_184_000
        self.tokens_issued = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def calls(self, path: str, method: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path and (method is None or r.method == method)]

    def connection(self, **extra: Any) -> dict[str, Any]:
        """A ``linkedin_capi`` connection to this server (a refresh token unless ``access_token``)."""
        if "access_token" not in extra:
            extra.setdefault("refresh_token", "hostile-refresh-token")
        extra.setdefault("ad_account_id", 507404993)
        extra.setdefault("oauth_url", f"{self.base_url}{TOKEN_PATH}")
        return {
            "conn_type": "linkedin_capi",
            "host": f"{self.base_url}/rest",
            "login": "hostile-client",
            "password": "hostile-secret",
            "extra": extra,
        }

    def connection_json(self, **extra: Any) -> str:
        return json.dumps(self.connection(**extra))

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _mint_token(self) -> Answer:
        with self._lock:
            self.tokens_issued += 1
            number = self.tokens_issued
        return Answer(200, {"access_token": f"hostile-token-{number}", "expires_in": self.token_lifetime})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), body
                )
                with server._lock:
                    server.requests.append(request)
                answer = server._mint_token() if parts.path == TOKEN_PATH else server.handler(request)
                self._write(answer)

            def _write(self, answer: Answer) -> None:
                if isinstance(answer.body, bytes):
                    content = answer.body
                else:
                    content = b"" if answer.body is None else json.dumps(answer.body).encode()
                if answer.drip_headers is not None:
                    self._drip_head(answer, content)
                    return
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                if answer.until_close:
                    self.close_connection = True
                else:
                    self.send_header("Content-Length", str(len(content)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    if answer.drip is None:
                        self.wfile.write(content)
                        return
                    for byte in content:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(answer.drip)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def _drip_head(self, answer: Answer, content: bytes) -> None:
                fields = {"Content-Type": "application/json", "Content-Length": str(len(content))}
                lines = [f"HTTP/1.1 {answer.status} OK"] + [
                    f"{name}: {value}" for name, value in {**fields, **answer.headers}.items()
                ]
                try:
                    for byte in ("\r\n".join(lines) + "\r\n\r\n").encode():
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(answer.drip_headers or 0)
                    self.wfile.write(content)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        return Handler
