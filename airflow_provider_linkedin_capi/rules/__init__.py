"""What this provider knows about LinkedIn conversion rules, with no I/O and no Airflow.

Every caller that judges a rule (the push's rule gate, the rule-status sensor and its trigger, the rule
operators, the hook) asks this package, so that they cannot disagree. It imports nothing from
``operators``, ``sensors``, ``transfers`` or ``triggers``.
"""

from __future__ import annotations

from airflow_provider_linkedin_capi.rules.usable import (
    CONVERSIONS_API,
    RuleUsability,
    is_conversions_api_rule,
    rule_usability,
)

__all__ = ["CONVERSIONS_API", "RuleUsability", "is_conversions_api_rule", "rule_usability"]
