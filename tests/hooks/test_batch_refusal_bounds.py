"""Delivering against servers that refuse whole requests, name one element at a time, or answer 200s that
cannot be read: bounded request counts, a clear failure, and exact accounting of what was taken."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid

import pytest
from push.helpers import deliver_one_at_a_time

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiError, LinkedInCapiStoppedError
from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
from airflow_provider_linkedin_capi.push.delivery import (
    MAX_UNNAMED_SPLITS,
    EventDelivery,
    deliver_events,
)
from airflow_provider_linkedin_capi.push.files import DeliveryLedger, RejectionLog

from .conftest import FAST_BUDGET
from .hostile_server import Answer, HostileServer

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


@pytest.mark.timeout(60)
def test_a_refusal_quoting_a_new_reference_each_time_is_not_split_down_to_single_events(hostile):
    """A proxy's or WAF's 400 never matches the first refusal's text; it had cost 1,999 POSTs for 1,000."""
    server, hook = hostile
    server.handler = lambda request: Answer(400, {"message": f"Request blocked. Reference {uuid.uuid4()}"})
    with pytest.raises(LinkedInCapiError, match=r"refused a batch as a whole.*HTTP 400") as failure:
        deliver_events(hook, _events(1000))
    assert _posts(server) == sum(2**level for level in range(MAX_UNNAMED_SPLITS + 1))  # 63
    partial = failure.value.delivered_before_failure
    assert (partial.accepted, partial.rejected) == (0, {})  # not sent, and not rejected_by_linkedin
    assert partial.unsent == tuple(range(1000))


@pytest.mark.timeout(60)
def test_refusals_with_the_same_code_are_the_same_refusal_whatever_their_text(hostile):
    server, hook = hostile
    server.handler = lambda request: Answer(
        400, {"message": f"Blocked, reference {uuid.uuid4()}", "serviceErrorCode": 100}
    )
    with pytest.raises(LinkedInCapiError, match=r"refused the request as a whole: HTTP 400"):
        deliver_events(hook, _events(1000))
    assert _posts(server) == 7  # the batch, its halves, its quarters


@pytest.mark.timeout(60)
def test_a_push_refused_at_every_level_fails_and_records_no_rejection(hostile, tmp_path):
    server, hook = hostile
    server.handler = lambda request: Answer(400, {"message": f"Request blocked. Reference {uuid.uuid4()}"})
    delivery = EventDelivery(hook, RejectionLog(str(tmp_path / "rejects.jsonl")), dry_run=False)
    with pytest.raises(LinkedInCapiError, match="refused a batch as a whole"):
        deliver_one_at_a_time(delivery, _events(1000), range(1, 1001))
    assert (delivery.events_sent, delivery.rejections.total) == (0, 0)


# ---------------------------------------------------------------------------------------- quoted values
# Whatever LinkedIn (or a proxy) quotes back of the events sent leaves neither the task's error, nor a retry
# warning in its log, nor the rejects file.


def _people(count: int) -> list[dict]:
    events = _events(count)
    for event in events:
        event["user"]["userIds"].append({"idType": "PLAINTEXT_IP_ADDRESS", "idValue": "192.0.2.7"})
        event["user"]["userInfo"] = {"firstName": "Zoë", "lastName": "Quux", "companyName": "Acme Widgets"}
    return events


QUOTING = "Account of company 'Acme Widgets' (192.0.2.7) for Zo\\u00eb Quux"


def _assert_quotes_nothing(text: str) -> None:
    for value in ("Acme Widgets", "192.0.2.7", "Zoë", "Zo\\u00eb", "Quux"):
        assert value not in text


@pytest.mark.timeout(30)
def test_a_request_level_refusal_does_not_quote_the_events_values(hostile):
    server, hook = hostile
    server.handler = lambda request: Answer(400, {"message": f"{QUOTING} is suspended"})
    with pytest.raises(LinkedInCapiError) as info:
        deliver_events(hook, _people(8))
    assert "refused the request as a whole: HTTP 400" in str(info.value)
    _assert_quotes_nothing(str(info.value))
    assert info.value.delivered_before_failure.unsent == tuple(range(8))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("status", [409, 413, 500, 503])
def test_other_answers_and_their_retry_warnings_do_not_quote_the_events_values(
    hostile, caplog, capsys, status
):
    server, hook = hostile
    server.handler = lambda request: Answer(status, {"message": f"{QUOTING} could not be stored"})
    with caplog.at_level(logging.DEBUG), pytest.raises(LinkedInCapiError) as info:
        deliver_events(hook, _people(3))
    assert f"HTTP {status}" in str(info.value)
    _assert_quotes_nothing(str(info.value))
    captured = capsys.readouterr()  # the task logger writes through structlog, not only to caplog
    logged = captured.out + captured.err + caplog.text
    if status >= 500:
        assert "retrying in" in logged  # the warnings were written, scrubbed
    _assert_quotes_nothing(logged)


@pytest.mark.timeout(30)
def test_a_refused_element_quoting_a_name_is_recorded_without_it(hostile, tmp_path):
    server, hook = hostile
    message = "Index: 0, ERROR :: /user/userInfo/firstName :: value 'Zoë' is not allowed"

    def answer(request):
        count = len(_sent(request))
        return Answer(
            200,
            {"elements": [{"status": 400, "error": {"message": message}}] + [{"status": 201}] * (count - 1)},
        )

    server.handler = answer
    path = tmp_path / "rejects.jsonl"
    with RejectionLog(str(path)) as rejections:
        deliver_one_at_a_time(EventDelivery(hook, rejections, dry_run=False), _people(2), [7, 8])
    [line] = [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]
    assert (line["row"], line["code"]) == (7, "rejected_by_linkedin")
    assert line["field"] == "/user/userInfo/firstName"
    assert "Zoë" not in line["message"]
    assert "<firstName>" in line["message"]


@pytest.mark.timeout(30)
def test_a_stop_ends_the_wait_before_resending_elements_and_keeps_what_was_taken(hostile):
    """Elements a 200 answers with 503 wait out the backoff before they are resent: a kill ends that wait."""
    server, _ = hostile
    server.handler = lambda request: Answer(
        200, {"elements": [{"status": 201}] + [{"status": 503}] * (len(_sent(request)) - 1)}
    )
    slow = LinkedInCapiHook("hostile", requests_per_minute=FAST_BUDGET, retry_min_wait=30, retry_max_wait=30)
    outcome: dict = {}

    def deliver() -> None:
        try:
            deliver_events(slow, _events(5))
        except LinkedInCapiError as error:
            outcome["error"] = error

    worker = threading.Thread(target=deliver)
    started = time.monotonic()
    worker.start()
    try:
        while not server.calls(EVENTS_PATH, "POST"):
            assert time.monotonic() - started < 10, "nothing was sent"
            time.sleep(0.05)
        slow.request_stop()
        worker.join(timeout=5)
        assert not worker.is_alive(), "the 30 s wait before the resend was not ended by the stop"
    finally:
        slow.close()
    error = outcome["error"]
    assert isinstance(error, LinkedInCapiStoppedError)
    partial = error.delivered_before_failure
    assert (partial.accepted, partial.unsent) == (1, (1, 2, 3, 4))  # the taken one is counted
    assert _posts(server) == 1
