"""Both hooks against a server that drips, floods or redirects: every call is bounded and never redirected."""

from __future__ import annotations

import asyncio
import json
import tracemalloc
import zlib

import pytest

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiError
from airflow_provider_linkedin_capi.hooks._transport import MAX_RESPONSE_BYTES
from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiAsyncHook, LinkedInCapiHook

from .conftest import FAST_BUDGET
from .hostile_server import TOKEN_PATH, Answer, HostileServer

RULE_PATH = "/rest/conversions/123"
RULE = {"id": 123, "name": "Leads", "conversionMethod": "CONVERSIONS_API", "enabled": True}


@pytest.fixture
def server():
    with HostileServer() as hostile:
        yield hostile


def use(monkeypatch, server: HostileServer, conn_id: str = "hostile", **extra) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", server.connection_json(**extra))
    return conn_id


def read_rule_sync(conn_id: str, **kwargs):
    hook = LinkedInCapiHook(
        conn_id, retry_min_wait=0.01, retry_max_wait=0.02, requests_per_minute=FAST_BUDGET, **kwargs
    )
    try:
        return hook.get_conversion_rule(123)
    finally:
        hook.close()


def read_rule_async(conn_id: str, **kwargs):
    async def call():
        async with LinkedInCapiAsyncHook(conn_id, retry_min_wait=0.01, retry_max_wait=0.02, **kwargs) as hook:
            return await hook.get_conversion_rule(123)

    return asyncio.run(call())


READERS = {"sync": read_rule_sync, "async": read_rule_async}


@pytest.mark.timeout(8)
@pytest.mark.parametrize("flavour", sorted(READERS))
def test_timeout_bounds_headers_that_drip_in(server, monkeypatch, flavour):
    # About 100 bytes of status line and headers at one per 0.2 s is 20 s; each read is quick.
    server.handler = lambda request: Answer(200, RULE, drip_headers=0.2)
    conn_id = use(monkeypatch, server, access_token="static")
    with pytest.raises(LinkedInCapiError, match="ReadTimeout"):
        READERS[flavour](conn_id, timeout=1, max_retries=1)
    assert len(server.requests) == 2  # the first attempt and one retry, each cut off at its deadline


@pytest.mark.timeout(8)
def test_a_body_without_a_length_cut_off_at_the_deadline_is_a_timeout_not_a_short_answer(server, monkeypatch):
    # Bytes 0.4 s apart: no single read times out, and the timer cuts the body off at the 1 s deadline.
    server.handler = lambda request: Answer(200, RULE, drip=0.4, until_close=True)
    conn_id = use(monkeypatch, server, access_token="static")
    with pytest.raises(LinkedInCapiError, match="ReadTimeout"):
        read_rule_sync(conn_id, timeout=1, max_retries=0)


@pytest.mark.timeout(8)
@pytest.mark.parametrize("flavour", sorted(READERS))
def test_timeout_bounds_the_whole_call_not_each_read(server, monkeypatch, flavour):
    # 60 bytes at one per 0.25 s is 15 s of answer; each read is quick, so a per-read timeout never fires.
    server.handler = lambda request: Answer(200, b'{"id": 123, "name": "' + b"x" * 40 + b'"}', drip=0.25)
    conn_id = use(monkeypatch, server, access_token="static")
    with pytest.raises(LinkedInCapiError, match="ReadTimeout"):
        READERS[flavour](conn_id, timeout=1, max_retries=1)
    assert len(server.calls(RULE_PATH)) == 2  # the first attempt and one retry, each cut at its deadline


@pytest.mark.timeout(30)
@pytest.mark.parametrize("flavour", sorted(READERS))
def test_a_body_over_the_cap_is_refused(server, monkeypatch, flavour):
    server.handler = lambda request: Answer(200, b'"' + b"x" * (MAX_RESPONSE_BYTES + 10) + b'"')
    conn_id = use(monkeypatch, server, access_token="static")
    with pytest.raises(LinkedInCapiError, match=f"larger than {MAX_RESPONSE_BYTES} bytes"):
        READERS[flavour](conn_id, max_retries=2)
    assert len(server.calls(RULE_PATH)) == 1  # not retried: a second try would be just as large


@pytest.mark.timeout(10)
@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("flavour", sorted(READERS))
def test_an_api_redirect_is_an_error_naming_status_and_host(server, monkeypatch, flavour, status):
    server.handler = lambda request: Answer(status, headers={"Location": "http://127.0.0.9:81/steal"})
    conn_id = use(monkeypatch, server, access_token="static")
    with pytest.raises(LinkedInCapiError, match=f"HTTP {status}.*'127.0.0.9'"):
        READERS[flavour](conn_id)
    assert len(server.calls(RULE_PATH)) == 1


@pytest.mark.timeout(10)
@pytest.mark.parametrize("flavour", sorted(READERS))
def test_a_redirected_token_request_does_not_repost_the_secrets(server, monkeypatch, flavour):
    # The redirect points back at this very server, so a followed redirect would show up as a request.
    steal = f"{server.base_url}/steal"
    server.handler = lambda request: Answer(200, RULE)
    conn_id = use(monkeypatch, server, oauth_url=f"{server.base_url}/rest/token-redirect")
    server.handler = lambda request: (
        Answer(308, headers={"Location": steal})
        if request.path == "/rest/token-redirect"
        else Answer(200, RULE)
    )
    with pytest.raises(LinkedInCapiError, match=r"HTTP 308.*'127\.0\.0\.1'"):
        READERS[flavour](conn_id)
    assert server.calls("/steal") == []
    assert len(server.calls("/rest/token-redirect")) == 1
    assert server.calls(TOKEN_PATH) == []


def _gzip_of_zeros(megabytes: int) -> bytes:
    """A gzip answer that inflates to ``megabytes`` MB (a few hundred KB on the wire), made piece by piece."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"0" * 2**20
    return b"".join(packer.compress(zeros) for _ in range(megabytes)) + packer.flush()


@pytest.mark.timeout(60)
def test_the_async_cap_holds_while_a_compressed_answer_inflates(server, monkeypatch):
    """The cap is checked as the answer decompresses: httpx inflated a whole piece first (118 -> 250 MB)."""
    bomb = _gzip_of_zeros(200)
    assert len(bomb) < MAX_RESPONSE_BYTES // 8
    server.handler = lambda request: Answer(200, bomb, headers={"Content-Encoding": "gzip"})
    conn_id = use(monkeypatch, server, access_token="static")
    tracemalloc.start()
    try:
        with pytest.raises(LinkedInCapiError, match=f"larger than {MAX_RESPONSE_BYTES} bytes"):
            read_rule_async(conn_id, max_retries=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MAX_RESPONSE_BYTES, f"{peak / 2**20:.0f} MB allocated while reading the answer"
    assert server.calls(RULE_PATH)[0].headers.get("Accept-Encoding") == "gzip, deflate"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_the_async_hook_reads_a_compressed_answer(server, monkeypatch, encoding):
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    body = packer.compress(json.dumps(RULE).encode()) + packer.flush()
    server.handler = lambda request: Answer(200, body, headers={"Content-Encoding": encoding})
    conn_id = use(monkeypatch, server, access_token="static")
    assert read_rule_async(conn_id)["name"] == "Leads"


def test_an_answer_in_an_encoding_not_asked_for_is_an_error(server, monkeypatch):
    server.handler = lambda request: Answer(200, b"\x00" * 10, headers={"Content-Encoding": "br"})
    conn_id = use(monkeypatch, server, access_token="static")
    with pytest.raises(LinkedInCapiError, match="encoded as 'br'"):
        read_rule_async(conn_id, max_retries=0)
