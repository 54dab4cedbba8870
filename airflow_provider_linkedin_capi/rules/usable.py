"""The one answer to "may Conversions API events go to this rule?", from the rule entity alone.

LinkedIn takes API events only for an enabled rule whose ``conversionMethod`` is ``CONVERSIONS_API``; an
event for any other rule is refused with a 400 that can fail a whole batch. Callers read the rule their own
way (sync hook, async hook, a rule list) and hand the entity to :func:`rule_usability`.

Two fields may be missing from what LinkedIn returns, and the choice for each is made here, once:

* ``enabled`` absent: the rule is **enabled**. LinkedIn documents ``enabled`` as an optional boolean whose
  default is ``true``; whether a read ever leaves it out is UNKNOWN, and if it does, the default applies.
* ``conversionMethod`` absent: the rule is **not usable, and waiting will not change it**. Whether LinkedIn
  ever returns a rule without its method is UNKNOWN. Every Conversions API rule in LinkedIn's samples
  carries ``CONVERSIONS_API`` (it is set when the rule is created), so a rule without one is not known to
  take API events. Sending to it could at best be refused by LinkedIn, batch by batch; refusing it here
  costs one clear error naming the rule. The sensor does not wait for a method to appear.
* any other ``conversionMethod`` (``INSIGHT_TAG_URL_MATCH_RULES``, ...): not usable, permanently.
* ``enabled: false``: not usable until someone enables it (a sensor may wait for that; a push may not).
* ``enabled`` present but not a boolean: treated as disabled, with the value in the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_linkedin_capi.constants import CONVERSIONS_API

__all__ = ["CONVERSIONS_API", "RuleUsability", "is_conversions_api_rule", "rule_usability"]


@dataclass(frozen=True)
class RuleUsability:
    """The verdict on one rule entity.

    ``takes_api_events``: its method is ``CONVERSIONS_API`` (false for a missing method too).
    ``enabled``: enabled as LinkedIn would read it (a missing ``enabled`` is ``true``).
    ``problem``: why events may not go to it now, ``None`` when they may.
    ``permanent``: the problem is the method, which waiting does not change (a sensor fails at once).
    """

    takes_api_events: bool
    enabled: bool
    problem: str | None

    @property
    def usable(self) -> bool:
        return self.problem is None

    @property
    def permanent(self) -> bool:
        return not self.takes_api_events


def is_conversions_api_rule(rule: Mapping[str, Any]) -> bool:
    """Whether the rule's method is ``CONVERSIONS_API``; a rule with no method is not (see module doc)."""
    return rule.get("conversionMethod") == CONVERSIONS_API


def rule_usability(rule: Mapping[str, Any]) -> RuleUsability:
    """Judge one rule entity as LinkedIn returned it (see the module docstring for missing fields)."""
    rule_id = rule.get("id", "?")
    method = rule.get("conversionMethod")
    takes_api_events = method == CONVERSIONS_API
    enabled_value = rule.get("enabled", True)
    enabled = enabled_value is True
    if not takes_api_events:
        if method is None:
            described = "has no conversionMethod, so it is not known to be a Conversions API rule"
        else:
            described = f"uses conversionMethod {method!r}, not {CONVERSIONS_API}"
        problem = (
            f"Conversion rule {rule_id} {described}: LinkedIn refuses Conversions API events for "
            f"Insight-Tag rules and any other rule whose method is not {CONVERSIONS_API}. Create a "
            "Conversions API rule and use its id."
        )
    elif not enabled:
        shown = "false" if enabled_value is False else repr(enabled_value)
        problem = (
            f"Conversion rule {rule_id} is disabled (enabled={shown}); only enabled rules record conversions"
        )
    else:
        problem = None
    return RuleUsability(takes_api_events=takes_api_events, enabled=enabled, problem=problem)
