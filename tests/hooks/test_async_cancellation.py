"""A cancelled trigger stops: a cancellation that arrives as LinkedIn's answer does is not swallowed.

On Python 3.11, ``asyncio.wait_for`` returns the inner result and drops the caller's cancellation when both
happen at once (CPython gh-86296). A trigger cancelled at that moment went on polling LinkedIn for ever: a
full test run hung on it after about 5,000 polls. The race is made exact here: the exchange itself cancels
its caller and then answers.
"""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_linkedin_capi.hooks import _transport as transport


def test_a_cancellation_that_comes_with_the_answer_reaches_the_caller(monkeypatch):
    async def caller() -> str:
        me = asyncio.current_task()
        assert me is not None

        async def answer_as_the_caller_is_cancelled(*args, **kwargs) -> str:
            me.cancel()
            return "the answer"

        monkeypatch.setattr(transport, "_exchange", answer_as_the_caller_is_cancelled)
        await transport.send_async(None, "GET", "http://sandbox/rest/conversions/1", timeout=5, what="GET")
        await asyncio.sleep(0)  # the cancellation must arrive here at the latest
        return "went on after being cancelled"

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(caller())
