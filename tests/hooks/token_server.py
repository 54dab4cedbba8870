"""A small hostile OAuth server on 127.0.0.1, for what the sandbox must not do: echo secrets, mint bad tokens.

Every request is recorded (path and decoded form), so a test can assert that a server received nothing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote_plus

#: ``answer(form) -> (status, json body)`` for one token request.
Answer = Callable[[dict[str, str]], tuple[int, dict]]


def echo_secrets(status: int = 400) -> Answer:
    """Answer with the posted refresh token and client secret in the error, as written and URL-encoded."""

    def answer(form: dict[str, str]) -> tuple[int, dict]:
        refresh, secret = form.get("refresh_token", ""), form.get("client_secret", "")
        return status, {
            "error": "invalid_request",
            "error_description": f"bad refresh_token {refresh} for client_secret={secret} "
            f"(form: refresh_token={quote_plus(refresh)}&client_secret={quote_plus(secret)})",
            "message": {"refresh_token": refresh},
        }

    return answer


def token_with_line_break(form: dict[str, str]) -> tuple[int, dict]:
    return 200, {"access_token": "AQ-good-part\r\nX-Injected: evil", "expires_in": 3600}


@dataclass
class TokenServer:
    answer: Answer
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def __enter__(self) -> TokenServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace")
                form = {key: values[-1] for key, values in parse_qs(body).items()}
                owner.requests.append((self.path, form))
                status, payload = owner.answer(form)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
