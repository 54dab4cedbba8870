"""The triggerer side of the conversion-rule sensor: the same wait, without holding a worker slot.

The trigger may be stopped and rebuilt from its serialised kwargs at any time, on any triggerer, so it keeps
no state beyond them (all primitives) and re-reads the rule on every poll. It judges the rule with the same
pure :func:`~airflow_provider_linkedin_capi.rules.status.evaluate_rule` as the sensor's ``poke``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.providers.common.compat.sdk import AirflowFailException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_linkedin_capi.constants import DEFAULT_CONN_ID
from airflow_provider_linkedin_capi.exceptions import LinkedInCapiNotFoundError
from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiAsyncHook
from airflow_provider_linkedin_capi.rules.status import WAIT_FOR_READY, evaluate_rule

#: Shortest wait between two reads of a rule in the triggerer (the sensor refuses a shorter poke_interval).
MIN_POLL_INTERVAL_SECONDS = 5.0
STATUS_SUCCESS = "success"
# The rule can never satisfy the wait (missing, not a Conversions API rule, credentials dead): no retry helps.
STATUS_FAILED = "failed"
# Something went wrong that a task retry may fix (LinkedIn down, retries exhausted).
STATUS_ERROR = "error"


class LinkedInCapiConversionRuleTrigger(BaseTrigger):
    """
    Poll a conversion rule until it is ready or has received events, then fire one event.

    The event is ``{"status": "success", "wait_for": ..., "rule": <status fields>}``, or ``{"status":
    "failed" | "error", "message": ..., "rule": <status fields or None>}``.

    Each read uses the connection's HTTP settings (``timeout``, ``max_retries``, ``retry_min_wait``,
    ``retry_max_wait``, ``propagation_wait``, else the same defaults as the sync hook), so the wait
    retries exactly as the sensor's ``poke`` does; the backoff sleeps are ``asyncio.sleep`` and hold no
    worker. The trigger has no arguments of its own for them: tune them on the connection.

    :param conversion_rule_id: Numeric rule id.
    :param ad_account_id: Numeric ad account id, or None for the connection's default.
    :param wait_for: ``ready`` or ``events_received``.
    :param min_campaigns: Linked campaigns needed for ``ready``.
    :param events_since_ms: For ``events_received``: earliest callback time that counts, epoch ms.
    :param poll_interval: Seconds between reads.
    :param linkedin_capi_conn_id: Airflow connection id.
    """

    def __init__(
        self,
        *,
        conversion_rule_id: str,
        ad_account_id: str | None = None,
        wait_for: str = WAIT_FOR_READY,
        min_campaigns: int = 1,
        events_since_ms: int | None = None,
        poll_interval: float = 60.0,
        linkedin_capi_conn_id: str = DEFAULT_CONN_ID,
    ) -> None:
        super().__init__()
        self.conversion_rule_id = str(conversion_rule_id)
        self.ad_account_id = str(ad_account_id) if ad_account_id is not None else None
        self.wait_for = str(wait_for)
        self.min_campaigns = int(min_campaigns)
        self.events_since_ms = int(events_since_ms) if events_since_ms is not None else None
        self.poll_interval = float(poll_interval)
        self.linkedin_capi_conn_id = str(linkedin_capi_conn_id)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conversion_rule_id": self.conversion_rule_id,
                "ad_account_id": self.ad_account_id,
                "wait_for": self.wait_for,
                "min_campaigns": self.min_campaigns,
                "events_since_ms": self.events_since_ms,
                "poll_interval": self.poll_interval,
                "linkedin_capi_conn_id": self.linkedin_capi_conn_id,
            },
        )

    def _hook(self) -> LinkedInCapiAsyncHook:
        return LinkedInCapiAsyncHook(linkedin_capi_conn_id=self.linkedin_capi_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        event = await self._wait()
        yield TriggerEvent(event)

    async def _wait(self) -> dict[str, Any]:
        """Poll until a verdict; every outcome, including an exception, becomes one event payload."""
        try:
            async with self._hook() as hook:
                while (event := await self._poll_once(hook)) is None:
                    await asyncio.sleep(self.poll_interval)
                return event
        except AirflowFailException as exc:  # dead credentials, sunset API version, bad connection
            return self._event(STATUS_FAILED, message=str(exc))
        except Exception as exc:
            return self._event(STATUS_ERROR, message=f"{type(exc).__name__}: {exc}")

    async def _poll_once(self, hook: LinkedInCapiAsyncHook) -> dict[str, Any] | None:
        """The event payload if the wait is over, else None (logged)."""
        try:
            rule = await hook.get_conversion_rule(self.conversion_rule_id, account=self.ad_account_id)
        except LinkedInCapiNotFoundError:
            return self._event(
                STATUS_FAILED,
                message=f"Conversion rule {self.conversion_rule_id} does not exist in the ad account "
                "(or this token cannot see it)",
            )
        verdict = evaluate_rule(
            rule,
            wait_for=self.wait_for,
            min_campaigns=self.min_campaigns,
            events_since_ms=self.events_since_ms,
        )
        if verdict.failure:
            return self._event(STATUS_FAILED, message=verdict.failure, rule=verdict.fields)
        if verdict.done:
            return self._event(STATUS_SUCCESS, rule=verdict.fields)
        self.log.info(
            "Waiting for conversion rule %s: %s", self.conversion_rule_id, "; ".join(verdict.waiting_for)
        )
        return None

    def _event(self, status: str, *, message: str | None = None, rule: dict | None = None) -> dict[str, Any]:
        event: dict[str, Any] = {"status": status, "wait_for": self.wait_for, "rule": rule}
        if message is not None:
            event["message"] = message
        return event
