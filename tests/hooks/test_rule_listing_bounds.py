"""Listing rules against servers that ignore ``start`` or never end: a bounded number of requests."""

from __future__ import annotations

import pytest

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiError
from airflow_provider_linkedin_capi.hooks._restli import MAX_PAGES
from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook

from .conftest import FAST_BUDGET
from .hostile_server import Answer, HostileServer

LIST_PATH = "/rest/conversions"


@pytest.fixture
def list_rules(monkeypatch):
    with HostileServer() as server:
        monkeypatch.setenv("AIRFLOW_CONN_HOSTILE", server.connection_json(access_token="static"))
        hook = LinkedInCapiHook("hostile", requests_per_minute=FAST_BUDGET, retry_min_wait=0.01)

        def run(handler):
            server.handler = handler
            return hook.list_conversion_rules

        yield server, run
        hook.close()


def _rules(first: int, count: int) -> dict:
    return {"elements": [{"id": first + i, "name": f"rule {first + i}"} for i in range(count)]}


@pytest.mark.timeout(30)
def test_a_server_ignoring_start_gets_two_requests(list_rules):
    server, run = list_rules
    rules = run(lambda request: Answer(200, _rules(1, 100)))()
    assert [rule["id"] for rule in rules] == list(range(1, 101))
    assert len(server.calls(LIST_PATH)) == 2


@pytest.mark.timeout(30)
def test_a_server_ignoring_start_with_short_pages_stops_too(list_rules):
    server, run = list_rules
    rules = run(lambda request: Answer(200, _rules(7, 3)))()
    assert len(rules) == 3
    assert len(server.calls(LIST_PATH)) == 2


@pytest.mark.timeout(60)
def test_a_server_that_never_ends_fails_at_the_page_cap(list_rules):
    server, run = list_rules

    def endless(request):
        start = int(request.query["start"][0])
        return Answer(200, _rules(start + 1, 100))

    with pytest.raises(LinkedInCapiError, match=f"after {MAX_PAGES} pages"):
        run(endless)()
    assert len(server.calls(LIST_PATH)) == MAX_PAGES


@pytest.mark.timeout(30)
def test_pages_are_followed_to_the_empty_one(list_rules):
    server, run = list_rules

    def pages(request):
        start = int(request.query["start"][0])
        return Answer(200, _rules(start + 1, 100) if start < 250 else {"elements": []})

    assert len(run(pages)()) == 300
    assert [c.query["start"] for c in server.calls(LIST_PATH)] == [["0"], ["100"], ["200"], ["300"]]
