"""Which conversion rules may receive events, asked of LinkedIn once per rule.

An event for a rule that does not exist, belongs to another account, is disabled, or is not a
``CONVERSIONS_API`` rule is refused or silently dropped by LinkedIn, and a whole batch can fail over one
such element. So the operator's own rule is checked before a single row is read (a typo in
``conversion_rule_id`` fails fast), and each rule named in a per-row ``conversion`` column is read once, on
first sight; rows naming an unusable rule become ``missing_conversion_rule`` rejections. What "usable"
means is decided by :func:`airflow_provider_linkedin_capi.rules.rule_usability`, the same function the
sensor and the rule operators use.

The lookups are capped at ``max_distinct_rules`` distinct rules per push: a CRM column that happens to be
called ``conversion`` but holds deal ids would otherwise cost one GET per row, more than a day's request
budget at a million rows. Past the cap the task fails before the next lookup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_linkedin_capi import urns
from airflow_provider_linkedin_capi.conversions import Rejection, RejectionCode
from airflow_provider_linkedin_capi.exceptions import LinkedInCapiNotFoundError
from airflow_provider_linkedin_capi.rules import rule_usability
from airflow_provider_linkedin_capi.transfers.rejects import rejection_for_event

if TYPE_CHECKING:
    from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook

DEFAULT_MAX_DISTINCT_RULES = 100


def max_distinct_rules_limit(value: object) -> int:
    """``max_distinct_rules`` as a positive int (it may arrive rendered from a template, as text)."""
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and text.isdigit():
        text = int(text)
    if isinstance(text, bool) or not isinstance(text, int) or text < 1:
        raise ValueError(f"max_distinct_rules must be a whole number >= 1, got {value!r}")
    return text


class ConversionRuleGate:
    """Remembers, per rule URN, whether events may go to it (``admitted``) or why not (``refused``)."""

    def __init__(self, hook: LinkedInCapiHook, max_distinct_rules: int = DEFAULT_MAX_DISTINCT_RULES) -> None:
        self.hook = hook
        self.max_distinct_rules = max_distinct_rules
        self.admitted: set[str] = set()
        self.refused: dict[str, str] = {}

    def require(self, rule: object) -> str:
        """The URN of the operator's rule, or a task failure explaining why no row can go to it."""
        try:
            urn = urns.conversion_rule_urn(rule)
        except ValueError as error:
            raise AirflowFailException(f"conversion_rule_id: {error}") from None
        reason = self._verdict(urn)
        if reason is not None:
            raise AirflowFailException(f"{reason}. Nothing was read or sent.")
        return urn

    def refusal(self, event: dict[str, Any]) -> Rejection | None:
        """``None`` when the event's rule takes events, else the row's ``missing_conversion_rule`` rejection.

        Called only for rules not yet in ``admitted``, so LinkedIn is asked once per distinct rule.
        """
        urn = event["conversion"]
        reason = self._verdict(urn)
        if reason is None:
            return None
        return rejection_for_event(event, RejectionCode.MISSING_CONVERSION_RULE, "conversion", reason)

    def _verdict(self, urn: str) -> str | None:
        if urn in self.admitted:
            return None
        if urn in self.refused:
            return self.refused[urn]
        if len(self.admitted) + len(self.refused) >= self.max_distinct_rules:
            raise AirflowFailException(
                f"The 'conversion' column names more than {self.max_distinct_rules} distinct conversion "
                f"rules (max_distinct_rules={self.max_distinct_rules}); no more rules are looked up. If the "
                "column does not hold LinkedIn rule ids, rename it with column_map; otherwise raise "
                "max_distinct_rules."
            )
        reason = self._ask_linkedin(urn)
        if reason is None:
            self.admitted.add(urn)
        else:
            self.refused[urn] = reason
        return reason

    def _ask_linkedin(self, urn: str) -> str | None:
        try:
            rule_id = urns.conversion_rule_id(urn)
        except ValueError:
            return f"Conversion rule {urn!r} is not a numeric id or {urns.CONVERSION_PREFIX}<id>"
        account = self.hook.ad_account_id
        try:
            rule = self.hook.get_conversion_rule(rule_id)
        except LinkedInCapiNotFoundError:
            return f"Conversion rule {rule_id} does not exist in ad account {account}"
        return rule_usability({**rule, "id": rule.get("id", rule_id)}).problem
