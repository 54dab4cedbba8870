"""What this provider knows about LinkedIn conversion rules, with no I/O and no Airflow.

Every caller that judges a rule (the push's rule gate, the rule-status sensor and its trigger, the rule
operators, the hook) asks this package, so that they cannot disagree. It imports nothing from
``operators``, ``sensors``, ``transfers`` or ``triggers``.

- :mod:`.usable`: the one verdict "may Conversions API events go to this rule?";
- :mod:`.spec`: the settings a rule may have (types, attribution windows), checked before any call;
- :mod:`.status`: whether a rule is ready, or has received events (the sensor and its trigger).
"""

from __future__ import annotations

from airflow_provider_linkedin_capi.rules.usable import (
    CONVERSIONS_API,
    RuleUsability,
    is_conversions_api_rule,
    rule_usability,
)

__all__ = ["CONVERSIONS_API", "RuleUsability", "is_conversions_api_rule", "rule_usability"]
