"""Wait until a conversion rule can take, or has taken, Conversions API events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
    conf,
)
from airflow.sdk import BaseSensorOperator, PokeReturnValue, timezone

from airflow_provider_linkedin_capi.constants import DEFAULT_CONN_ID, LINKEDIN_BLUE
from airflow_provider_linkedin_capi.exceptions import LinkedInCapiNotFoundError
from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
from airflow_provider_linkedin_capi.links.campaign_manager import (
    LinkedInCampaignManagerLink,
    remember_rule_page,
)
from airflow_provider_linkedin_capi.rules.status import (
    WAIT_FOR_CHOICES,
    WAIT_FOR_EVENTS,
    WAIT_FOR_READY,
    evaluate_rule,
    to_epoch_ms,
)
from airflow_provider_linkedin_capi.triggers.conversion_rule import (
    MIN_POLL_INTERVAL_SECONDS,
    STATUS_FAILED,
    STATUS_SUCCESS,
    LinkedInCapiConversionRuleTrigger,
)
from airflow_provider_linkedin_capi.urns import conversion_rule_id, optional_account_id

if TYPE_CHECKING:
    from airflow.sdk import Context


class LinkedInCapiConversionRuleSensor(BaseSensorOperator):
    """
    Wait for a conversion rule to be ready for Conversions API events, or to have received some.

    LinkedIn exposes no rule status, so readiness is derived from the rule entity: ``wait_for="ready"``
    waits until the rule exists, is enabled, uses ``CONVERSIONS_API`` and has at least ``min_campaigns``
    linked campaigns. ``wait_for="events_received"`` waits until the rule's ``lastCallbackAt`` or
    ``latestFirstPartyCallbackAt`` is at or after ``events_since``. LinkedIn describes those fields only as
    "timestamp of the last callback": whether Conversions API events move them, and how fast, is UNKNOWN, so
    treat this wait as a hint and give it a generous ``timeout``; conversions can take up to ~72 hours to
    show in LinkedIn's reporting even after it succeeds.

    A missing rule, one that does not use the Conversions API (an Insight-Tag rule), or a 403 (missing scope,
    role or product) fails the task at once (``AirflowFailException``) in both modes: waiting cannot fix
    any of them.

    Both modes return the same small status dict to XCom: ``rule_id``, ``name``, ``account``, ``type``,
    ``enabled``, ``conversion_method``, ``campaign_count``, ``last_callback_at`` and
    ``latest_first_party_callback_at``.

    :param conversion_rule_id: Rule id or ``urn:lla:llaPartnerConversion:N``. (templated)
    :param wait_for: ``ready`` or ``events_received``. (templated)
    :param min_campaigns: Linked campaigns needed for ``ready``. (templated)
    :param events_since: For ``events_received``: the earliest callback time that counts, as an ISO-8601
        string, a datetime or epoch milliseconds (epoch seconds are recognised by magnitude). Defaults to
        the start of the DAG run, so in a nightly sync only a callback caused by this run's push counts,
        also when a backfill runs for an old data interval (the data interval would let yesterday's
        callback pass). (templated)
    :param ad_account_id: The rule's ad account; defaults to the connection's ``ad_account_id``.
        (templated)
    :param linkedin_capi_conn_id: Airflow connection id. (templated)
    :param deferrable: Hand the wait to the triggerer after a first check, freeing the worker slot.
        Defaults to ``[operators] default_deferrable``. A deferred sensor polls every ``poke_interval``
        seconds, which must then be at least 5: every sensor of the deployment polls from the one
        triggerer, on the same token budget as the pushes.
    """

    template_fields: Sequence[str] = (
        "conversion_rule_id",
        "wait_for",
        "min_campaigns",
        "events_since",
        "ad_account_id",
        "linkedin_capi_conn_id",
    )
    ui_color = LINKEDIN_BLUE
    operator_extra_links = (LinkedInCampaignManagerLink(),)

    def __init__(
        self,
        *,
        conversion_rule_id: str | int,
        wait_for: str = WAIT_FOR_READY,
        min_campaigns: int | str = 1,
        events_since: Any = None,
        ad_account_id: str | int | None = None,
        linkedin_capi_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conversion_rule_id = conversion_rule_id
        self.wait_for = wait_for
        self.min_campaigns = min_campaigns
        self.events_since = events_since
        self.ad_account_id = ad_account_id
        self.linkedin_capi_conn_id = linkedin_capi_conn_id
        self.deferrable = deferrable
        self._check_poke_interval(ValueError)
        if isinstance(wait_for, str) and "{{" not in wait_for and wait_for not in WAIT_FOR_CHOICES:
            raise ValueError(f"wait_for must be one of {WAIT_FOR_CHOICES}, got {wait_for!r}")
        self._events_since_ms: int | None = None

    def _check_poke_interval(self, error: type[Exception]) -> None:
        """A deferred sensor's reads all come from the triggerer: a tight interval would spend the budget."""
        if self.deferrable and float(self.poke_interval) < MIN_POLL_INTERVAL_SECONDS:
            raise error(
                f"poke_interval must be at least {MIN_POLL_INTERVAL_SECONDS:g} seconds for a deferrable "
                f"sensor, got {self.poke_interval!r}"
            )

    @cached_property
    def hook(self) -> LinkedInCapiHook:
        return LinkedInCapiHook(linkedin_capi_conn_id=self.linkedin_capi_conn_id)

    def _settings(self) -> tuple[str, str | None, str, int]:
        """Rendered arguments, checked: a bad one fails the task instead of poking forever."""
        try:
            rule_id = conversion_rule_id(self.conversion_rule_id)
            account = optional_account_id(self.ad_account_id)
            wait_for = str(self.wait_for).strip()
            if wait_for not in WAIT_FOR_CHOICES:
                raise ValueError(f"wait_for must be one of {WAIT_FOR_CHOICES}, got {self.wait_for!r}")
            min_campaigns = int(self.min_campaigns)
            if min_campaigns < 0:
                raise ValueError(f"min_campaigns must be >= 0, got {self.min_campaigns!r}")
        except (TypeError, ValueError) as exc:
            raise AirflowFailException(str(exc)) from exc
        return rule_id, account, wait_for, min_campaigns

    def _resolve_events_since(self, context: Context) -> int | None:
        """Epoch ms from which a callback counts; only used by ``events_received``."""
        if self.events_since not in (None, ""):
            try:
                return to_epoch_ms(self.events_since)
            except ValueError as exc:
                raise AirflowFailException(f"events_since: {exc}") from exc
        dag_run = context.get("dag_run")
        started = getattr(dag_run, "start_date", None) if dag_run is not None else None
        return to_epoch_ms(started or timezone.utcnow())

    def execute(self, context: Context) -> Any:
        rule_id, account, wait_for, min_campaigns = self._settings()
        if self.deferrable:  # before anything is read: the floor protects the token's budget
            self._check_poke_interval(AirflowFailException)
        remember_rule_page(self, account or self.hook.ad_account_id, rule_id)
        self._events_since_ms = self._resolve_events_since(context) if wait_for == WAIT_FOR_EVENTS else None
        if not self.deferrable:
            return super().execute(context)
        first = self._first_poke(context)
        if first:
            return first.xcom_value if isinstance(first, PokeReturnValue) else None
        self.defer(
            trigger=LinkedInCapiConversionRuleTrigger(
                conversion_rule_id=rule_id,
                ad_account_id=account,
                wait_for=wait_for,
                min_campaigns=min_campaigns,
                events_since_ms=self._events_since_ms,
                poll_interval=float(self.poke_interval),
                linkedin_capi_conn_id=self.linkedin_capi_conn_id,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def _first_poke(self, context: Context) -> PokeReturnValue | bool:
        """The deferrable mode's first check, failing as ``BaseSensorOperator.execute`` fails a poke.

        Mirrors Airflow 3.3's handling, so one sensor ends the same in both modes: ``soft_fail`` and
        ``never_fail`` skip on a fail-fast error; any other error skips with ``never_fail``, and with
        ``silent_fail`` is logged and counts as "not yet", so the wait goes on in the triggerer.
        """
        try:
            return self.poke(context)
        except (AirflowSensorTimeout, AirflowTaskTimeout, AirflowFailException) as exc:
            if self.soft_fail or getattr(self, "never_fail", False):
                raise AirflowSkipException(f"Skipping: {exc}") from exc
            raise
        except AirflowSkipException:
            raise
        except Exception as exc:
            if getattr(self, "silent_fail", False):
                self.log.exception("Sensor poke failed; silent_fail is set, so the wait goes on")
                return False
            if getattr(self, "never_fail", False):
                raise AirflowSkipException(f"Skipping due to never_fail: {exc}") from exc
            raise

    def poke(self, context: Context) -> PokeReturnValue:
        rule_id, account, wait_for, min_campaigns = self._settings()
        if wait_for == WAIT_FOR_EVENTS and self._events_since_ms is None:
            self._events_since_ms = self._resolve_events_since(context)
        try:
            rule = self.hook.get_conversion_rule(rule_id, account=account)
        except LinkedInCapiNotFoundError as exc:
            raise AirflowFailException(
                f"Conversion rule {rule_id} does not exist in the ad account (or this token cannot see it)"
            ) from exc
        verdict = evaluate_rule(
            rule, wait_for=wait_for, min_campaigns=min_campaigns, events_since_ms=self._events_since_ms
        )
        if verdict.failure:
            raise AirflowFailException(verdict.failure)
        if verdict.done:
            self.log.info("Conversion rule %s is %s", rule_id, wait_for.replace("_", " "))
            return PokeReturnValue(is_done=True, xcom_value=verdict.fields)
        self.log.info("Waiting for conversion rule %s: %s", rule_id, "; ".join(verdict.waiting_for))
        return PokeReturnValue(is_done=False)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger: its event carries the verdict, already judged by ``evaluate_rule``."""
        status = event.get("status")
        rule_id, account, _, _ = self._settings()  # a resumed task is a new operator object
        remember_rule_page(self, account or self.hook.ad_account_id, rule_id)
        if status == STATUS_SUCCESS:
            self.log.info(
                "Conversion rule %s is %s", event.get("rule", {}).get("rule_id"), event.get("wait_for")
            )
            return event["rule"]
        message = event.get("message") or f"trigger ended with status {status!r}"
        if status == STATUS_FAILED:
            raise AirflowFailException(message)
        raise AirflowException(message)
