"""Operators that make a conversion rule exist and get credit from the right campaigns.

Both are safe to re-run: LinkedIn has no create-time dedup key (a retried POST makes a second rule) and
campaign links are add-only in most tools, so the operators read the current state first and change only
what differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException
from airflow.sdk import BaseOperator

from airflow_provider_linkedin_capi.constants import (
    DEFAULT_ATTRIBUTION_TYPE,
    DEFAULT_CONN_ID,
    DEFAULT_POST_CLICK_WINDOW_DAYS,
    DEFAULT_VIEW_THROUGH_WINDOW_DAYS,
    LINKEDIN_BLUE,
)
from airflow_provider_linkedin_capi.exceptions import LinkedInCapiError
from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
from airflow_provider_linkedin_capi.links.campaign_manager import (
    LinkedInCampaignManagerLink,
    remember_rule_page,
)
from airflow_provider_linkedin_capi.rules import CONVERSIONS_API, is_conversions_api_rule, rule_usability
from airflow_provider_linkedin_capi.rules.spec import ConversionRuleSpec, check_if_exists
from airflow_provider_linkedin_capi.rules.status import linked_campaign_urns
from airflow_provider_linkedin_capi.urns import (
    campaign_id,
    conversion_rule_id,
    conversion_rule_urn,
    is_templated,
    optional_account_id,
    parse_campaign_ids,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

ASSOCIATION_MODES = ("add", "exact")
_SPEC_FIELDS = (
    "name",
    "conversion_type",
    "attribution_type",
    "post_click_window_days",
    "view_through_window_days",
    "value_type",
    "enabled",
    "auto_association",
)


class LinkedInCapiCreateConversionRuleOperator(BaseOperator):
    """
    Create a Conversions API conversion rule, or find the one that already has this name.

    Rules are matched by exact name within the ad account, so a re-run never makes a duplicate (LinkedIn
    has no idempotency key for creates). A rule of the same name that does not use the Conversions API
    (an Insight-Tag rule) is refused rather than reused: LinkedIn rejects API events sent to it.

    Returns ``{"rule_id": "123", "rule_urn": "urn:lla:llaPartnerConversion:123", "created": bool,
    "updated_fields": [...]}``; ``updated_fields`` holds LinkedIn entity field names
    (e.g. ``postClickAttributionWindowSize``) changed by ``if_exists="update"``.

    :param name: Rule name shown in Campaign Manager and used as the match key. (templated)
    :param conversion_type: LinkedIn conversion ``type``, e.g. ``LEAD`` or ``PURCHASE``. (templated)
    :param ad_account_id: Ad account id or ``urn:li:sponsoredAccount:N``; defaults to the connection's
        ``ad_account_id``. (templated)
    :param attribution_type: ``LAST_TOUCH_BY_CAMPAIGN`` (each campaign) or ``LAST_TOUCH_BY_CONVERSION``
        (single campaign). (templated)
    :param post_click_window_days: 1, 7, 30 or 90; 365 only for ``SUBMIT_APPLICATION``, ``PURCHASE``,
        ``ADD_TO_CART``, ``QUALIFIED_LEAD`` and ``LEAD``. (templated)
    :param view_through_window_days: Same values as ``post_click_window_days`` (the 365-day restriction
        for view-through is third-party sourced). (templated)
    :param value_type: ``DYNAMIC``, ``FIXED`` or ``NO_VALUE``; None leaves LinkedIn's default (``DYNAMIC``)
        and is not compared on reuse/update. (templated)
    :param enabled: Whether the rule takes conversions. (templated)
    :param auto_association: ``ALL_CAMPAIGNS``, ``OBJECTIVE_BASED`` or ``NONE``; applied by LinkedIn once,
        at creation only, so it is ignored for an existing rule. (templated)
    :param if_exists: What to do when a rule of this name exists: ``reuse`` it as it is, ``update`` the
        settings that differ (never the account), or ``fail``. (templated)
    :param check_type: Check ``conversion_type`` against the known list (third-party sourced); switch off
        when LinkedIn adds a type this provider does not know yet.
    :param linkedin_capi_conn_id: Airflow connection id. (templated)
    """

    template_fields: Sequence[str] = (
        "name",
        "conversion_type",
        "ad_account_id",
        "attribution_type",
        "post_click_window_days",
        "view_through_window_days",
        "value_type",
        "enabled",
        "auto_association",
        "if_exists",
        "linkedin_capi_conn_id",
    )
    ui_color = LINKEDIN_BLUE
    operator_extra_links = (LinkedInCampaignManagerLink(),)

    def __init__(
        self,
        *,
        name: str,
        conversion_type: str,
        ad_account_id: str | int | None = None,
        attribution_type: str = DEFAULT_ATTRIBUTION_TYPE,
        post_click_window_days: int | str = DEFAULT_POST_CLICK_WINDOW_DAYS,
        view_through_window_days: int | str = DEFAULT_VIEW_THROUGH_WINDOW_DAYS,
        value_type: str | None = None,
        enabled: bool | str = True,
        auto_association: str | None = None,
        if_exists: str = "reuse",
        check_type: bool = True,
        linkedin_capi_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.conversion_type = conversion_type
        self.ad_account_id = ad_account_id
        self.attribution_type = attribution_type
        self.post_click_window_days = post_click_window_days
        self.view_through_window_days = view_through_window_days
        self.value_type = value_type
        self.enabled = enabled
        self.auto_association = auto_association
        self.if_exists = if_exists
        self.check_type = check_type
        self.linkedin_capi_conn_id = linkedin_capi_conn_id
        # Fail at DAG parse time when the settings are literals: a cheap check, no I/O. Templated ones are
        # checked in execute, after rendering and still before any call to LinkedIn.
        if not any(is_templated(getattr(self, field)) for field in _SPEC_FIELDS):
            self._spec()
        if not is_templated(if_exists):
            check_if_exists(if_exists)

    @cached_property
    def hook(self) -> LinkedInCapiHook:
        return LinkedInCapiHook(linkedin_capi_conn_id=self.linkedin_capi_conn_id)

    def _spec(self) -> ConversionRuleSpec:
        return ConversionRuleSpec.build(
            name=self.name,
            conversion_type=self.conversion_type,
            attribution_type=self.attribution_type,
            post_click_window_days=self.post_click_window_days,
            view_through_window_days=self.view_through_window_days,
            value_type=self.value_type,
            enabled=self.enabled,
            auto_association=self.auto_association,
            check_type=self.check_type,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            spec = self._spec()
            if_exists = check_if_exists(self.if_exists)
            account = optional_account_id(self.ad_account_id)
        except ValueError as exc:
            raise AirflowFailException(str(exc)) from exc
        result = self._create_or_reuse(spec, if_exists, account)
        remember_rule_page(self, account or self.hook.ad_account_id, result["rule_id"])
        return result

    def _create_or_reuse(
        self, spec: ConversionRuleSpec, if_exists: str, account: str | None
    ) -> dict[str, Any]:
        existing = self._find_existing(spec.name, account)
        if existing is None:
            rule = self.hook.create_conversion_rule(spec, account=account)
            rule_id = conversion_rule_id(rule["id"])
            self.log.info("Created conversion rule %s (%s)", rule_id, spec.conversion_type)
            return _rule_result(rule_id, created=True, updated_fields=[])

        rule_id = conversion_rule_id(existing["id"])
        if if_exists == "fail":
            raise AirflowFailException(
                f"A conversion rule named {spec.name!r} already exists (id {rule_id}) and if_exists='fail'."
            )
        differences = spec.differences(existing)
        if if_exists == "reuse":
            if differences:
                self.log.warning(
                    "Reusing conversion rule %s as it is; these settings differ from the task's and were "
                    "left unchanged (use if_exists='update' to change them): %s",
                    rule_id,
                    ", ".join(sorted(differences)),
                )
            else:
                self.log.info("Reusing conversion rule %s", rule_id)
            return _rule_result(rule_id, created=False, updated_fields=[])

        if differences:
            self.hook.update_conversion_rule(rule_id, account=account, **differences)
            self.log.info("Updated conversion rule %s: %s", rule_id, ", ".join(sorted(differences)))
        else:
            self.log.info("Conversion rule %s already has the requested settings", rule_id)
        return _rule_result(rule_id, created=False, updated_fields=sorted(differences))

    def _find_existing(self, name: str, account: str | None) -> dict[str, Any] | None:
        """The rule to reuse for ``name``, None if there is none; refuses Insight-Tag namesakes.

        Names are not unique on LinkedIn. Among several Conversions API rules of the same name the oldest
        (lowest id) wins, so every re-run picks the same one.
        """
        namesakes = [
            rule for rule in self.hook.list_conversion_rules(account=account) if rule.get("name") == name
        ]
        if not namesakes:
            return None
        capi = [rule for rule in namesakes if is_conversions_api_rule(rule)]
        if not capi:
            problem = rule_usability(namesakes[0]).problem
            raise AirflowFailException(
                f"{problem} The rule named {name!r} cannot be reused or updated as a {CONVERSIONS_API} "
                "rule. Choose another name for the Conversions API rule."
            )
        capi.sort(key=lambda rule: int(rule["id"]))
        if len(capi) > 1:
            self.log.warning(
                "%d Conversions API rules are named %r; using the oldest, %s",
                len(capi),
                name,
                capi[0]["id"],
            )
        return capi[0]


def _rule_result(rule_id: str, *, created: bool, updated_fields: list[str]) -> dict[str, Any]:
    return {
        "rule_id": rule_id,
        "rule_urn": conversion_rule_urn(rule_id),
        "created": created,
        "updated_fields": updated_fields,
    }


class LinkedInCapiAssociateCampaignsOperator(BaseOperator):
    """
    Link a conversion rule to the campaigns that should get credit for its conversions.

    Only linked campaigns get attribution, and LinkedIn's auto-association runs once, at rule creation, so
    campaigns made later must be linked explicitly. Every listed campaign is (re-)asserted with one batch
    PUT (idempotent on LinkedIn), so a link that only looked present is made real. ``mode="exact"`` also
    removes links to campaigns not listed, making the list the whole truth.

    Returns ``{"rule_id": "456", "added": [...], "removed": [...], "already_linked": [...]}`` where the
    lists hold campaign URNs (``urn:li:sponsoredCampaign:N``), judged against the rule as read before the
    change.

    :param conversion_rule_id: Rule id or ``urn:lla:llaPartnerConversion:N``; an upstream XCom works, e.g.
        ``"{{ ti.xcom_pull(task_ids='create_rule')['rule_id'] }}"``. (templated)
    :param campaign_ids: Campaign ids or ``urn:li:sponsoredCampaign:N`` URNs: a list, or a string such as
        ``"[1, 2]"`` or ``"1,2"`` (what a templated list renders to). (templated)
    :param mode: ``add`` links the listed campaigns; ``exact`` also unlinks every other campaign.
        (templated)
    :param ad_account_id: The rule's ad account; defaults to the connection's ``ad_account_id``.
        (templated)
    :param linkedin_capi_conn_id: Airflow connection id. (templated)
    """

    template_fields: Sequence[str] = (
        "conversion_rule_id",
        "campaign_ids",
        "mode",
        "ad_account_id",
        "linkedin_capi_conn_id",
    )
    template_fields_renderers = {"campaign_ids": "py"}
    ui_color = LINKEDIN_BLUE
    operator_extra_links = (LinkedInCampaignManagerLink(),)

    def __init__(
        self,
        *,
        conversion_rule_id: str | int,
        campaign_ids: Sequence[str | int] | str,
        mode: str = "add",
        ad_account_id: str | int | None = None,
        linkedin_capi_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conversion_rule_id = conversion_rule_id
        self.campaign_ids = campaign_ids
        self.mode = mode
        self.ad_account_id = ad_account_id
        self.linkedin_capi_conn_id = linkedin_capi_conn_id
        if not is_templated(mode) and mode not in ASSOCIATION_MODES:
            raise ValueError(f"mode must be one of {ASSOCIATION_MODES}, got {mode!r}")

    @cached_property
    def hook(self) -> LinkedInCapiHook:
        return LinkedInCapiHook(linkedin_capi_conn_id=self.linkedin_capi_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        mode = str(self.mode).strip().lower()
        if mode not in ASSOCIATION_MODES:
            raise AirflowFailException(f"mode must be one of {ASSOCIATION_MODES}, got {self.mode!r}")
        try:
            rule_id = conversion_rule_id(self.conversion_rule_id)
            wanted = parse_campaign_ids(self.campaign_ids)
            account = optional_account_id(self.ad_account_id)
        except ValueError as exc:
            raise AirflowFailException(str(exc)) from exc
        if not wanted and mode == "exact":
            raise AirflowFailException(
                "campaign_ids is empty and mode='exact': that would unlink every campaign from rule "
                f"{rule_id}. Refusing; pass the campaigns to keep."
            )

        rule = self.hook.get_conversion_rule(rule_id, account=account)
        remember_rule_page(self, account or rule.get("account") or self.hook.ad_account_id, rule_id)
        usability = rule_usability({**rule, "id": rule.get("id", rule_id)})
        if not usability.usable:
            # Linking still helps a disabled rule that is enabled later; it is the user's choice.
            self.log.warning("%s Linking campaigns anyway.", usability.problem)
        linked = set(linked_campaign_urns(rule))
        already_linked = [urn for urn in wanted if urn in linked]
        added = [urn for urn in wanted if urn not in linked]

        if wanted:
            statuses = self.hook.associate_campaigns(rule_id, [campaign_id(urn) for urn in wanted])
            self._raise_on_failed_links(rule_id, statuses)
        else:
            self.log.warning("No campaigns given; nothing to link to rule %s", rule_id)

        removed: list[str] = []
        if mode == "exact":
            wanted_set = set(wanted)
            for urn in sorted(linked - wanted_set):
                self.hook.remove_campaign_association(rule_id, campaign_id(urn))
                removed.append(urn)

        self.log.info(
            "Rule %s: %d campaign(s) newly linked, %d already linked, %d unlinked",
            rule_id,
            len(added),
            len(already_linked),
            len(removed),
        )
        return {"rule_id": rule_id, "added": added, "removed": removed, "already_linked": already_linked}

    @staticmethod
    def _raise_on_failed_links(rule_id: str, statuses: dict[str, int]) -> None:
        failed = {key: status for key, status in statuses.items() if not 200 <= int(status) < 300}
        if failed:
            sample = ", ".join(f"{key}: {status}" for key, status in list(failed.items())[:5])
            raise LinkedInCapiError(
                f"LinkedIn refused {len(failed)} of {len(statuses)} campaign link(s) for rule {rule_id} "
                f"({sample})"
            )
