"""Rest.li query tunneling: ``POST`` + ``X-HTTP-Method-Override`` carrying an over-long query in the body.

LinkedIn documents it as the way around the 4 KB query limit (docs/linkedin-contract.md §1.15), which long
``ids=List(...)`` batches hit. GET/DELETE tunnel the query as a form-encoded body; PUT/POST tunnel it as
the first part of a ``multipart/mixed`` body whose second part is the JSON entity. The middleware rewrites
the request back to what it stands for before anything else sees it.
"""

from __future__ import annotations

_ALLOWED = {"GET", "PUT", "DELETE", "POST"}


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _split_multipart(body: bytes, boundary: str) -> tuple[bytes, bytes] | None:
    """Return ``(query, json_body)`` of a two-part multipart/mixed body, or None when malformed."""
    delimiter = b"--" + boundary.encode()
    parts = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        _head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            _head, sep, content = chunk.partition(b"\n\n")
        if not sep:
            return None
        parts.append(content.strip(b"\r\n"))
    if len(parts) != 2:
        return None
    return parts[0], parts[1]


async def _read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


class QueryTunnelingMiddleware:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].startswith("/rest"):
            await self.app(scope, receive, send)
            return
        override = (_header(scope, b"x-http-method-override") or "").strip().upper()
        if not override:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        content_type = _header(scope, b"content-type") or ""
        media = content_type.split(";")[0].strip().lower()
        if override not in _ALLOWED:
            query, payload = None, b""
        elif media == "application/x-www-form-urlencoded":
            query, payload = body.strip(), b""
        elif media == "multipart/mixed" and "boundary=" in content_type:
            boundary = content_type.split("boundary=", 1)[1].split(";")[0].strip().strip('"')
            split = _split_multipart(body, boundary)
            query, payload = split if split else (None, b"")
        else:
            query, payload = None, b""
        if query is None:
            from airflow_provider_linkedin_capi.sandbox.responses import li_error

            message = "Malformed query tunneling request (X-HTTP-Method-Override)"
            await li_error(400, message)(scope, receive, send)
            return
        headers = [
            (k, v)
            for k, v in scope["headers"]
            if k not in (b"x-http-method-override", b"content-type", b"content-length")
        ]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        tunneled = dict(scope, method=override, query_string=query, headers=headers)
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}

        await self.app(tunneled, replay, send)
