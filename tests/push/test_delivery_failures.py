"""How a batch's delivery ends when it cannot finish: nothing LinkedIn took is lost from the counts, and
LinkedIn's own message never carries a plaintext value of the refused events into the task's error."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from airflow_provider_linkedin_capi.hooks._answers import BatchResult
from airflow_provider_linkedin_capi.push.delivery import deliver_events


class ScriptedSender:
    """A hook whose answers come from ``answer(events)``; counts the requests."""

    max_retries = 2
    log = logging.getLogger(__name__)

    def __init__(self, answer: Callable[[Sequence[Mapping[str, Any]]], BatchResult]) -> None:
        self.answer = answer
        self.requests = 0

    def send_conversion_events(self, events: Sequence[Mapping[str, Any]]) -> BatchResult:
        self.requests += 1
        return self.answer(events)

    def backoff_wait(self, retry: int) -> float:
        return 0.0

    def pause(self, seconds: float) -> None:
        pass


def _event(n: int, company: str = "Initech") -> dict[str, Any]:
    return {
        "conversion": "urn:lla:llaPartnerConversion:1",
        "conversionHappenedAt": 1_700_000_000_000 + n,
        "eventId": f"e{n}",
        "user": {
            "userIds": [{"idType": "PLAINTEXT_IP_ADDRESS", "idValue": "192.0.2.7"}],
            "userInfo": {"firstName": "Zoë", "lastName": "Quux", "companyName": company},
        },
    }


def test_an_error_that_is_not_linkedins_keeps_what_the_batch_had_delivered():
    events = [_event(n) for n in range(4)]

    def answer(batch):
        if len(batch) == 4:  # the first request: LinkedIn names event 0, the other three go again
            return BatchResult(status=422, accepted=0, errors={0: "Index: 0, ERROR :: /x :: bad"})
        raise TypeError("cannot write an event")

    with pytest.raises(TypeError) as info:
        deliver_events(ScriptedSender(answer), events)

    partial = info.value.delivered_before_failure
    assert partial.rejected == {0: "Index: 0, ERROR :: /x :: bad"}
    assert partial.unsent == (1, 2, 3)
