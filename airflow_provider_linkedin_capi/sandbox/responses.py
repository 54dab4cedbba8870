"""LinkedIn-shaped responses: JSON bytes from orjson, the Rest.li headers, an ``x-li-uuid`` on everything."""

from __future__ import annotations

import base64
import os

import orjson
from starlette.responses import Response


def li_uuid() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def li_response(
    status: int, body: object = None, *, protocol: str = "2.0.0", headers: dict | None = None
) -> Response:
    """Any answer under /rest: JSON body (or empty), protocol echoed, error marker on 4xx/5xx."""
    content = b"" if body is None else body if isinstance(body, bytes) else orjson.dumps(body)
    out = {"X-RestLi-Protocol-Version": protocol, "x-li-uuid": li_uuid()}
    if status >= 400:
        out["X-RestLi-Error-Response"] = "true"
    if headers:
        out.update(headers)
    return Response(content, status_code=status, headers=out, media_type="application/json")


def li_error(status: int, message: str, *, protocol: str = "2.0.0", **extra: object) -> Response:
    return li_response(status, {"message": message, **extra, "status": status}, protocol=protocol)


def plain_json(status: int, body: object) -> Response:
    """Answers outside /rest (OAuth and the admin API) carry no Rest.li headers."""
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")
