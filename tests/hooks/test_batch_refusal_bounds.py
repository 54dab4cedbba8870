"""Delivering against servers that refuse whole requests, name one element at a time, or answer 200s that
cannot be read: bounded request counts, a clear failure, and exact accounting of what was taken."""

from __future__ import annotations

import math
import time

import pytest

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiError
from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
from airflow_provider_linkedin_capi.push.delivery import EventDelivery, InFlightWindow, deliver_events
from airflow_provider_linkedin_capi.push.files import DeliveryLedger, RejectionLog

from .conftest import FAST_BUDGET
from .hostile_server import Answer, HostileServer


def deliver_one_at_a_time(delivery: EventDelivery, events: list, rows) -> None:
    """Send ``events`` as the push does with ``max_in_flight=1``: through the in-flight window."""
    with InFlightWindow(delivery, 1) as window:
        window.submit(events, rows)
        window.finish()


EVENTS_PATH = "/rest/conversionEvents"
REFUSAL = {"status": 400, "message": "Request is not permitted for this application"}


def _events(count: int) -> list[dict]:
    now_ms = int(time.time() * 1000)
    return [
        {
            "conversion": "urn:lla:llaPartnerConversion:123",
            "conversionHappenedAt": now_ms - 60_000 - i,
            "eventId": f"evt-{i}",
            "user": {"userIds": [{"idType": "SHA256_EMAIL", "idValue": f"{i:064x}"}]},
        }
        for i in range(count)
    ]


@pytest.fixture
def hostile(monkeypatch):
    with HostileServer() as server:
        monkeypatch.setenv("AIRFLOW_CONN_HOSTILE", server.connection_json(access_token="static"))
        hook = LinkedInCapiHook(
            "hostile", requests_per_minute=FAST_BUDGET, retry_min_wait=0.01, retry_max_wait=0.02
        )
        yield server, hook
        hook.close()


def _posts(server: HostileServer) -> int:
    return len(server.calls(EVENTS_PATH, "POST"))


def _sent(request) -> list[dict]:
    return request.json()["elements"]


@pytest.mark.timeout(60)
def test_a_request_level_refusal_is_not_split_down_to_single_events(hostile):
    server, hook = hostile
    server.handler = lambda request: Answer(400, REFUSAL)
    with pytest.raises(LinkedInCapiError, match=r"HTTP 400.*not permitted for this application") as failure:
        deliver_events(hook, _events(5000))
    assert _posts(server) == 7  # the batch, its halves, its quarters: not 9,999
    partial = failure.value.delivered_before_failure
    assert (partial.accepted, partial.rejected) == (0, {})  # not sent, and not rejected_by_linkedin
    assert partial.unsent == tuple(range(5000))


@pytest.mark.timeout(30)
def test_a_refusal_of_both_single_halves_is_request_level(hostile):
    server, hook = hostile
    server.handler = lambda request: Answer(422, REFUSAL | {"status": 422})
    with pytest.raises(LinkedInCapiError, match="HTTP 422") as failure:
        deliver_events(hook, _events(2))
    assert _posts(server) == 3
    partial = failure.value.delivered_before_failure
    assert (partial.accepted, partial.rejected, partial.unsent) == (0, {}, (0, 1))


@pytest.mark.timeout(60)
def test_what_was_accepted_before_a_request_level_refusal_is_kept(hostile, tmp_path):
    server, hook = hostile
    # The first batch goes through; then the application loses access.
    server.handler = lambda request: (
        Answer(200, {"elements": [{"status": 201}] * 5000}) if _posts(server) == 1 else Answer(400, REFUSAL)
    )
    events = _events(6000)
    ledger = DeliveryLedger(str(tmp_path / "ledger"))
    with RejectionLog() as rejections:
        delivery = EventDelivery(hook, rejections, dry_run=False, ledger=ledger)
        with pytest.raises(LinkedInCapiError, match="HTTP 400"):
            deliver_one_at_a_time(delivery, events, range(1, 6001))
    assert delivery.events_sent == 5000
    assert rejections.total == 0
    assert DeliveryLedger(str(tmp_path / "ledger")).delivered(events) == [True] * 5000 + [False] * 1000
    assert _posts(server) == 1 + 7


@pytest.mark.timeout(60)
@pytest.mark.parametrize("size", [1000, 5000])
def test_one_named_element_per_answer_keeps_requests_per_batch_logarithmic(hostile, size):
    server, hook = hostile
    # Every answer names only its first element, however many are left.
    server.handler = lambda request: Answer(
        422, {"status": 422, "message": "Index: 0, ERROR :: /user/userIds :: value is not valid"}
    )
    with pytest.raises(LinkedInCapiError, match="naming only 1 element") as failure:
        deliver_events(hook, _events(size))
    bound = 2 * math.ceil(math.log2(size)) + 5
    assert _posts(server) <= bound
    partial = failure.value.delivered_before_failure
    assert partial.accepted == 0
    assert len(partial.rejected) == _posts(server)
    assert sorted([*partial.rejected, *partial.unsent]) == list(range(size))


def test_a_few_named_elements_one_per_answer_are_all_resolved(hostile):
    server, hook = hostile
    bad = {"evt-3", "evt-17", "evt-40"}

    def first_bad_only(request):
        sent = _sent(request)
        for index, event in enumerate(sent):
            if event["eventId"] in bad:
                return Answer(422, {"status": 422, "message": f"Index: {index}, ERROR :: /eventId :: bad"})
        return Answer(200, {"elements": [{"status": 201}] * len(sent)})

    server.handler = first_bad_only
    result = deliver_events(hook, _events(100))
    assert (result.accepted, sorted(result.rejected), result.requests) == (97, [3, 17, 40], 4)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "elements", [[{"status": 201}] * 9, [{"status": 201}] * 11, None], ids=["9", "11", "none"]
)
def test_a_200_with_another_number_of_elements_counts_nothing_as_sent(hostile, tmp_path, elements):
    server, hook = hostile
    server.handler = lambda request: Answer(200, {} if elements is None else {"elements": elements})
    events = _events(10)
    ledger = DeliveryLedger(str(tmp_path / "ledger"))
    with RejectionLog() as rejections:
        delivery = EventDelivery(hook, rejections, dry_run=False, ledger=ledger)
        with pytest.raises(LinkedInCapiError, match="batch of 10 event") as failure:
            deliver_one_at_a_time(delivery, events, range(1, 11))
    partial = failure.value.delivered_before_failure
    assert (partial.accepted, partial.rejected, partial.unsent) == (0, {}, tuple(range(10)))
    assert delivery.events_sent == 0
    assert not any(DeliveryLedger(str(tmp_path / "ledger")).delivered(events))
    assert _posts(server) == 1


@pytest.mark.timeout(30)
def test_a_200_with_a_status_that_is_not_an_integer_counts_only_what_is_certain(hostile, tmp_path):
    server, hook = hostile
    answer = [{"status": 201}, {"status": "CREATED"}, {"status": 201}, {}, {"status": 201.0}]
    answer += [{"status": 400, "error": {"message": "ERROR :: /eventId :: bad"}}]
    server.handler = lambda request: Answer(200, {"elements": answer})
    events = _events(6)
    ledger = DeliveryLedger(str(tmp_path / "ledger"))
    with RejectionLog() as rejections:
        delivery = EventDelivery(hook, rejections, dry_run=False, ledger=ledger)
        with pytest.raises(LinkedInCapiError, match=r"3 element.*no integer status.*index 1") as failure:
            deliver_one_at_a_time(delivery, events, range(1, 7))
    partial = failure.value.delivered_before_failure
    assert (partial.accepted, partial.unsent) == (2, (1, 3, 4))
    assert list(partial.rejected) == [5]
    assert delivery.events_sent == 2
    assert rejections.counts["rejected_by_linkedin"] == 1
    ledger_now = DeliveryLedger(str(tmp_path / "ledger")).delivered(events)
    assert ledger_now == [True, False, True, False, False, False]
