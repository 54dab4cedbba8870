"""The desired settings of a conversion rule, checked before any call to LinkedIn.

A rejected create costs an API call and, worse, LinkedIn's 400 for a bad window or type says little. The
allowed values below come from docs/linkedin-contract.md (§3.1, §3.2): the windows and the five 365-day types
are documented by LinkedIn; the ``type`` list is the union of values seen in third-party clients (LinkedIn's
own list could not be read), so callers can switch the type check off with ``check_type=False`` when LinkedIn
adds a type before this list does.

Templated operator arguments arrive as strings ("30", "False"), so everything is coerced here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_linkedin_capi.constants import (
    DEFAULT_ATTRIBUTION_TYPE,
    DEFAULT_POST_CLICK_WINDOW_DAYS,
    DEFAULT_VIEW_THROUGH_WINDOW_DAYS,
)
from airflow_provider_linkedin_capi.exceptions import ConversionRuleSpecError
from airflow_provider_linkedin_capi.rules.usable import rule_usability

CONVERSION_TYPES = frozenset(
    {
        "ADD_TO_CART",
        "DOWNLOAD",
        "INSTALL",
        "KEY_PAGE_VIEW",
        "LEAD",
        "PURCHASE",
        "SIGN_UP",
        "OTHER",
        "TALENT_LEAD",
        "JOB_APPLY",
        "SAVE",
        "START_CHECKOUT",
        "SCHEDULE",
        "VIEW_CONTENT",
        "VIEW_VIDEO",
        "ADD_BILLING_INFO",
        "BOOK_APPOINTMENT",
        "REQUEST_QUOTE",
        "SEARCH",
        "SUBSCRIBE",
        "AD_CLICK",
        "AD_VIEW",
        "COMPLETE_SIGNUP",
        "SUBMIT_APPLICATION",
        "PHONE_CALL",
        "INVITE",
        "LOGIN",
        "SHARE",
        "DONATE",
        "ADD_TO_LIST",
        "RATE",
        "START_TRIAL",
        "OUTBOUND_CLICK",
        "CONTACT",
        "QUALIFIED_LEAD",
        # Reported valid only from LinkedIn-Version 202608 (THIRD-PARTY, contradicted): not gated.
        "MARKETING_QUALIFIED_LEAD",
        "SALES_QUALIFIED_LEAD",
    }
)
# Only these types may use a 365-day window (CONFIRMED for post-click; THIRD-PARTY x3 for view-through).
TYPES_ALLOWING_365_DAYS = frozenset(
    {"SUBMIT_APPLICATION", "PURCHASE", "ADD_TO_CART", "QUALIFIED_LEAD", "LEAD"}
)
WINDOW_DAYS = frozenset({1, 7, 30, 90})
ATTRIBUTION_TYPES = frozenset({"LAST_TOUCH_BY_CAMPAIGN", "LAST_TOUCH_BY_CONVERSION"})
VALUE_TYPES = frozenset({"DYNAMIC", "FIXED", "NO_VALUE"})
AUTO_ASSOCIATION_TYPES = frozenset({"ALL_CAMPAIGNS", "OBJECTIVE_BASED", "NONE"})
IF_EXISTS_CHOICES = ("reuse", "update", "fail")

# LinkedIn's defaults for fields a rule may come back without. ``enabled`` is read by ``rule_usability``,
# so that a rule the push would take is never "re-enabled" here, nor the other way round.
LINKEDIN_RULE_DEFAULTS: dict[str, Any] = {
    "attributionType": DEFAULT_ATTRIBUTION_TYPE,
    "postClickAttributionWindowSize": DEFAULT_POST_CLICK_WINDOW_DAYS,
    "viewThroughAttributionWindowSize": DEFAULT_VIEW_THROUGH_WINDOW_DAYS,
    "valueType": "DYNAMIC",
}


@dataclass(frozen=True)
class ConversionRuleSpec:
    """Validated, normalised settings for one rule, in the operator's vocabulary."""

    name: str
    conversion_type: str
    attribution_type: str = DEFAULT_ATTRIBUTION_TYPE
    post_click_window_days: int = DEFAULT_POST_CLICK_WINDOW_DAYS
    view_through_window_days: int = DEFAULT_VIEW_THROUGH_WINDOW_DAYS
    value_type: str | None = None
    enabled: bool = True
    auto_association: str | None = None

    @classmethod
    def build(
        cls,
        *,
        name: object,
        conversion_type: object,
        attribution_type: object = DEFAULT_ATTRIBUTION_TYPE,
        post_click_window_days: object = DEFAULT_POST_CLICK_WINDOW_DAYS,
        view_through_window_days: object = DEFAULT_VIEW_THROUGH_WINDOW_DAYS,
        value_type: object = None,
        enabled: object = True,
        auto_association: object = None,
        check_type: bool = True,
    ) -> ConversionRuleSpec:
        """Coerce and check every setting; every problem found is reported in one error."""
        problems: list[str] = []
        rule_name = str(name).strip() if name is not None else ""
        if not rule_name:
            problems.append("name must be a non-empty string")

        rule_type = _upper_or_none(conversion_type)
        if rule_type is None:
            problems.append("conversion_type is required")
        elif check_type and rule_type not in CONVERSION_TYPES:
            problems.append(
                f"conversion_type {rule_type!r} is not a known LinkedIn conversion type "
                f"(known: {', '.join(sorted(CONVERSION_TYPES))}); pass check_type=False to send it anyway"
            )

        attribution = _upper_or_none(attribution_type) or DEFAULT_ATTRIBUTION_TYPE
        if attribution not in ATTRIBUTION_TYPES:
            problems.append(
                f"attribution_type must be one of {sorted(ATTRIBUTION_TYPES)}, got {attribution!r}"
            )

        windows = {}
        for label, raw in (
            ("post_click_window_days", post_click_window_days),
            ("view_through_window_days", view_through_window_days),
        ):
            days = _int_or_none(raw)
            windows[label] = days
            if days is None:
                problems.append(f"{label} must be a whole number of days, got {raw!r}")
            elif days == 365:
                if rule_type is not None and rule_type not in TYPES_ALLOWING_365_DAYS:
                    problems.append(
                        f"{label}=365 is only allowed for conversion types "
                        f"{', '.join(sorted(TYPES_ALLOWING_365_DAYS))}, not {rule_type}; use 1, 7, 30 or 90"
                    )
            elif days not in WINDOW_DAYS:
                problems.append(
                    f"{label} must be one of 1, 7, 30, 90 (or 365 for "
                    f"{', '.join(sorted(TYPES_ALLOWING_365_DAYS))}), got {days}"
                )

        value = _upper_or_none(value_type)
        if value in {"NONE", "NULL"}:  # a templated None renders as the string "None"
            value = None
        if value is not None and value not in VALUE_TYPES:
            problems.append(f"value_type must be one of {sorted(VALUE_TYPES)} or None, got {value!r}")

        auto = _upper_or_none(auto_association)
        if auto is not None and auto not in AUTO_ASSOCIATION_TYPES:
            problems.append(
                f"auto_association must be one of {sorted(AUTO_ASSOCIATION_TYPES)} or None, got {auto!r}"
            )

        is_enabled = _bool_or_none(enabled)
        if is_enabled is None:
            problems.append(f"enabled must be a boolean, got {enabled!r}")

        if problems:
            raise ConversionRuleSpecError("Invalid conversion rule settings: " + "; ".join(problems))
        return cls(
            name=rule_name,
            conversion_type=str(rule_type),
            attribution_type=attribution,
            post_click_window_days=int(windows["post_click_window_days"] or 0),
            view_through_window_days=int(windows["view_through_window_days"] or 0),
            value_type=value,
            enabled=bool(is_enabled),
            auto_association=auto,
        )

    def entity_fields(self) -> dict[str, Any]:
        """The settings as LinkedIn rule-entity fields (the ones an update may change)."""
        fields: dict[str, Any] = {
            "type": self.conversion_type,
            "attributionType": self.attribution_type,
            "postClickAttributionWindowSize": self.post_click_window_days,
            "viewThroughAttributionWindowSize": self.view_through_window_days,
            "enabled": self.enabled,
        }
        if self.value_type is not None:
            fields["valueType"] = self.value_type
        return fields

    def differences(self, rule: dict[str, Any]) -> dict[str, Any]:
        """Entity fields whose value in ``rule`` differs from this spec, mapped to the wanted value.

        The account is never compared (LinkedIn cannot move a rule), nor the name (it is the match key),
        nor ``value_type`` when the caller left it unset.
        """
        current = {key: rule.get(key, default) for key, default in LINKEDIN_RULE_DEFAULTS.items()}
        current["enabled"] = rule_usability(rule).enabled
        return {
            key: wanted
            for key, wanted in self.entity_fields().items()
            if current.get(key, rule.get(key)) != wanted
        }


def check_if_exists(value: object) -> str:
    text = str(value).strip().lower() if value is not None else ""
    if text not in IF_EXISTS_CHOICES:
        raise ConversionRuleSpecError(f"if_exists must be one of {IF_EXISTS_CHOICES}, got {value!r}")
    return text


def _upper_or_none(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip().upper()
    return text or None


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
    return None


def _bool_or_none(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in {"true", "1", "yes", "y", "on"}:
            return True
        if text in {"false", "0", "no", "n", "off"}:
            return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    return None
