"""Fault injection as pure ASGI middleware: throttles, server errors, dropped connections, slowness and
token expiry or a token that has not propagated yet, on every Nth or a random fraction of matching requests.

A "drop" has to look like a real network failure to the client, not like an HTTP error: the middleware
starts a response that announces more bytes than it sends, then raises, and uvicorn closes the socket
mid-body (``requests`` raises ``ChunkedEncodingError``/``ConnectionError``). ``when="after"`` lets the
request be processed and stored first — the nastiest case for a client's exactly-once logic.
Faults only touch ``/rest`` and the OAuth endpoints, never ``/_sandbox``. ``expire_token`` expires whatever
token the request presents, the static Direct API token included (it then stays expired until a reset).
A client that gives up during a ``slow`` fault is counted under status 499 and its request is not processed.
``unpropagated_token`` answers 401 REVOKED_ACCESS_TOKEN (65601) without revoking anything, as LinkedIn does
for a token minted moments ago that has not reached every server yet (docs/linkedin-contract.md §7.11,
THIRD-PARTY).
``above=N`` makes a fault fire only on a request that arrives while more than N requests under its
``path`` are being answered, itself included: ``429:every=1,above=6,path=/rest/conversionEvents`` plays
a LinkedIn that throttles a token above 6 events requests at once (whether LinkedIn does is UNKNOWN).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from airflow_provider_linkedin_capi.sandbox.auth import UNAUTHORIZED_BODIES

FAULT_KINDS = ("429", "500", "503", "drop", "slow", "expire_token", "unpropagated_token")
FAULTABLE_PREFIXES = ("/rest", "/oauth/v2")

_BODIES = {
    "429": {
        "serviceErrorCode": 101,
        "message": "Resource level throttle limit for calls to this resource is reached.",
        "status": 429,
    },
    "500": {"message": "Internal Server Error", "status": 500},
    "503": {"message": "Service Unavailable", "status": 503},
}


_FIELDS = frozenset({"kind", "every", "fraction", "after", "limit", "path", "delay", "when", "above"})


class DroppedConnection(Exception):
    """Raised after a partial response so that uvicorn aborts the TCP connection."""


@dataclass
class FaultSpec:
    kind: str
    every: int | None = None
    fraction: float | None = None
    after: int = 0
    limit: int | None = None
    path: str | None = None
    delay: float = 1.0
    when: str = "before"
    #: Fire only while more than this many requests under ``path`` are being answered (this one included).
    above: int | None = None
    seen: int = field(default=0, repr=False)
    injected: int = field(default=0, repr=False)

    @classmethod
    def from_dict(cls, data: dict) -> FaultSpec:
        if not isinstance(data, dict):
            raise ValueError("each fault must be an object")
        unknown = set(data) - _FIELDS
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}")
        kind = str(data.get("kind", ""))
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}, got {kind!r}")
        spec = cls(
            kind=kind,
            every=None if data.get("every") is None else int(data["every"]),
            fraction=None if data.get("fraction") is None else float(data["fraction"]),
            after=int(data.get("after") or 0),
            limit=None if data.get("limit") is None else int(data["limit"]),
            path=data.get("path"),
            delay=float(data.get("delay", 1.0)),
            when=str(data.get("when", "before")),
            above=None if data.get("above") is None else int(data["above"]),
        )
        if (spec.every is None) == (spec.fraction is None):
            raise ValueError("give exactly one of 'every' or 'fraction'")
        if spec.every is not None and spec.every < 1:
            raise ValueError("'every' must be >= 1")
        if spec.fraction is not None and not 0 <= spec.fraction <= 1:
            raise ValueError("'fraction' must be within [0, 1]")
        if spec.when not in ("before", "after"):
            raise ValueError("'when' must be 'before' or 'after'")
        if spec.after < 0 or spec.delay < 0 or (spec.limit is not None and spec.limit < 0):
            raise ValueError("'after', 'delay' and 'limit' must be >= 0")
        if spec.above is not None and spec.above < 0:
            raise ValueError("'above' must be >= 0")
        return spec

    @classmethod
    def from_cli(cls, text: str) -> FaultSpec:
        """Parse ``429:every=7`` or ``drop:fraction=0.01,when=after``."""
        kind, _, options = text.partition(":")
        data: dict = {"kind": kind.strip()}
        for part in filter(None, (p.strip() for p in options.split(","))):
            name, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"fault option {part!r} is not name=value")
            data[name.strip()] = value.strip()
        return cls.from_dict(data)

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "every": self.every,
            "fraction": self.fraction,
            "after": self.after,
            "limit": self.limit,
            "path": self.path,
            "delay": self.delay,
            "when": self.when,
            "above": self.above,
            "seen": self.seen,
            "injected": self.injected,
        }

    def fires(self, path: str, rng: random.Random, busy: int = 0) -> bool:
        """Whether the fault replaces this request; ``busy``: requests under ``path`` being answered now."""
        if self.path and not path.startswith(self.path):
            return False
        if self.above is not None and busy <= self.above:
            return False
        self.seen += 1
        if self.seen <= self.after or (self.limit is not None and self.injected >= self.limit):
            return False
        if self.every is not None:
            hit = (self.seen - self.after) % self.every == 0
        else:
            hit = rng.random() < (self.fraction or 0.0)
        if hit:
            self.injected += 1
        return hit


class FaultPlan:
    def __init__(self, specs: list[FaultSpec], seed: int | None) -> None:
        self.replace(specs, seed)

    def replace(self, specs: list[FaultSpec], seed: int | None) -> None:
        self.specs = specs
        self.rng = random.Random(seed)

    def pick(self, path: str, busy: Callable[[str | None], int] = lambda prefix: 0) -> FaultSpec | None:
        """The fault for this request, if any; ``busy(prefix)`` counts the requests being answered there."""
        chosen = None
        for spec in self.specs:
            if chosen is None:
                if spec.fires(path, self.rng, busy(spec.path) if spec.above is not None else 0):
                    chosen = spec
            elif not spec.path or path.startswith(spec.path):
                spec.seen += 1  # later specs still see the request, they just do not fire on it
        return chosen


def _bearer(scope: dict) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


class FaultInjectionMiddleware:
    """Pure ASGI: decides per request whether a fault replaces, delays or breaks the real answer."""

    def __init__(self, app, state) -> None:
        self.app = app
        self.state = state
        #: Faultable requests being answered now, by path (for ``above``).
        self.busy: Counter[str] = Counter()

    def _busy_under(self, prefix: str | None) -> int:
        return sum(n for path, n in self.busy.items() if not prefix or path.startswith(prefix))

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(FAULTABLE_PREFIXES):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        self.busy[path] += 1
        try:
            await self._answer(scope, receive, send)
        finally:
            self.busy[path] -= 1
            if not self.busy[path]:
                del self.busy[path]

    async def _answer(self, scope, receive, send) -> None:
        spec = self.state.faults.pick(scope["path"], self._busy_under)
        if spec is None:
            await self.app(scope, receive, send)
            return
        self.state.faults_injected[spec.kind] += 1
        kind = spec.kind
        if kind in _BODIES:
            await _send_error(send, int(kind), _BODIES[kind])
        elif kind == "slow":
            await asyncio.sleep(spec.delay)
            await self.app(scope, receive, send)
        elif kind == "unpropagated_token":
            await _send_error(send, 401, UNAUTHORIZED_BODIES["revoked"])
        elif kind == "expire_token":
            token = _bearer(scope)
            if token:
                self.state.tokens.expire(token)
            await self.app(scope, receive, send)
        elif spec.when == "before":
            await _send_broken(send, b"")
        else:
            await self._drop_after(scope, receive, send)

    async def _drop_after(self, scope, receive, send) -> None:
        body = bytearray()

        async def capture(message) -> None:
            if message["type"] == "http.response.body":
                body.extend(message.get("body", b""))

        await self.app(scope, receive, capture)
        await _send_broken(send, bytes(body))


async def _send_error(send, status: int, body: dict) -> None:
    import base64
    import os

    content = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                (b"x-restli-protocol-version", b"2.0.0"),
                (b"x-restli-error-response", b"true"),
                (b"x-li-uuid", base64.b64encode(os.urandom(16))),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})


async def _send_broken(send, body: bytes) -> None:
    """Announce ``len(body) + 64`` bytes, send half of the body, then make uvicorn abort the socket."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body) + 64).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    raise DroppedConnection("sandbox fault: connection dropped")
