"""Decide whether a conversion rule is usable, from the rule entity alone.

LinkedIn has no rule "status" enum (Campaign Manager's Active / Unverified labels are not in the API), so
health has to be derived from the entity's fields. The sync sensor and the async trigger must reach the
same verdict on the same entity, so the decision lives here, once, with no I/O: both of them fetch the
rule their own way and hand it to :func:`evaluate_rule`.

``lastCallbackAt`` / ``latestFirstPartyCallbackAt`` are described by LinkedIn only as "timestamp of the
last (first-party) callback"; whether Conversions API events move them, and how fast, is UNKNOWN. The
``events_received`` check therefore treats them as hints, and LinkedIn's reporting may still lag by up to
~72 hours after they move.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_linkedin_capi.conversions.timestamps import epoch_ms
from airflow_provider_linkedin_capi.rules.usable import rule_usability
from airflow_provider_linkedin_capi.urns import CAMPAIGN_PREFIX, campaign_urn

WAIT_FOR_READY = "ready"
WAIT_FOR_EVENTS = "events_received"
WAIT_FOR_CHOICES = (WAIT_FOR_READY, WAIT_FOR_EVENTS)


@dataclass(frozen=True)
class RuleEvaluation:
    """The verdict on one read of a rule.

    ``failure`` is set when waiting longer cannot help (the rule is not a Conversions API rule), ``done``
    when the awaited condition holds; otherwise ``waiting_for`` says what is still missing, for the log.
    ``fields`` is the small status summary that goes to XCom.
    """

    done: bool
    fields: dict[str, Any]
    failure: str | None = None
    waiting_for: list[str] = field(default_factory=list)


def linked_campaign_urns(rule: dict[str, Any]) -> list[str]:
    """Campaign URNs linked to ``rule``, from both ``campaigns`` and the read-only ``associatedCampaigns``.

    LinkedIn keeps two views of the same links (``campaigns`` is a URN list, ``associatedCampaigns``
    holds ``{campaign, associatedAt}`` items); a link seen in either counts. Order is kept, duplicates
    dropped.
    """
    found: dict[str, None] = {}
    for item in rule.get("campaigns") or []:
        urn = _campaign_urn_or_none(item)
        if urn:
            found[urn] = None
    for item in rule.get("associatedCampaigns") or []:
        urn = _campaign_urn_or_none(item.get("campaign") if isinstance(item, dict) else item)
        if urn:
            found[urn] = None
    return list(found)


def _campaign_urn_or_none(value: object) -> str | None:
    if value is None:
        return None
    try:
        return campaign_urn(value)
    except ValueError:
        text = str(value)
        return text if text.startswith(CAMPAIGN_PREFIX) else None


def latest_callback_ms(rule: dict[str, Any]) -> int | None:
    """The later of ``lastCallbackAt`` and ``latestFirstPartyCallbackAt``, in epoch ms, or None."""
    values = [
        int(value)
        for value in (rule.get("lastCallbackAt"), rule.get("latestFirstPartyCallbackAt"))
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]
    return max(values) if values else None


def rule_status_fields(rule: dict[str, Any]) -> dict[str, Any]:
    """A small, JSON-safe summary of the rule for XCom and logs (no URL rules, no campaign list)."""
    rule_id = rule.get("id")
    return {
        "rule_id": str(rule_id) if rule_id is not None else None,
        "name": rule.get("name"),
        "account": rule.get("account"),
        "type": rule.get("type"),
        "enabled": rule_usability(rule).enabled,
        "conversion_method": rule.get("conversionMethod"),
        "campaign_count": len(linked_campaign_urns(rule)),
        "last_callback_at": rule.get("lastCallbackAt"),
        "latest_first_party_callback_at": rule.get("latestFirstPartyCallbackAt"),
    }


def evaluate_rule(
    rule: dict[str, Any],
    *,
    wait_for: str = WAIT_FOR_READY,
    min_campaigns: int = 1,
    events_since_ms: int | None = None,
) -> RuleEvaluation:
    """Judge ``rule`` against the awaited condition.

    ``ready``: usable (as :func:`~airflow_provider_linkedin_capi.rules.rule_usability` judges it, the
    same verdict as the push's rule gate: a missing ``enabled`` counts as enabled, LinkedIn's documented
    default) and at least ``min_campaigns`` linked campaigns.
    ``events_received``: a callback timestamp at or after ``events_since_ms`` (any callback at all when it
    is None). A rule whose method is not ``CONVERSIONS_API`` (or is missing) fails either wait at once:
    LinkedIn refuses API events for it, and the sensor does not wait for a method to change.
    """
    if wait_for not in WAIT_FOR_CHOICES:
        raise ValueError(f"wait_for must be one of {WAIT_FOR_CHOICES}, got {wait_for!r}")
    fields = rule_status_fields(rule)
    usability = rule_usability(rule)
    if usability.permanent:
        return RuleEvaluation(done=False, fields=fields, failure=usability.problem)

    missing: list[str] = []
    if wait_for == WAIT_FOR_READY:
        if not usability.enabled:
            missing.append("rule is disabled")
        if fields["campaign_count"] < min_campaigns:
            missing.append(f"{fields['campaign_count']} of at least {min_campaigns} campaigns linked")
    else:
        latest = latest_callback_ms(rule)
        if latest is None:
            missing.append("no callback recorded yet")
        elif events_since_ms is not None and latest < events_since_ms:
            missing.append(f"last callback at {latest} ms is before {events_since_ms} ms")
    return RuleEvaluation(done=not missing, fields=fields, waiting_for=missing)


def to_epoch_ms(value: object) -> int | None:
    """Read a point in time (epoch s/ms, ISO-8601 text, datetime or date) as epoch ms; ``None`` if empty.

    The same rules as ``conversionHappenedAt`` (one reading of times in the whole provider); templated
    arguments arrive as strings, so digit strings are epoch numbers. A value with no time zone is UTC,
    Airflow's own convention.
    """
    if value is None or value == "":
        return None
    return epoch_ms(value, zone=dt.UTC)
