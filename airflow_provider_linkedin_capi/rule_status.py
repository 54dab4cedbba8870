"""Moved to :mod:`airflow_provider_linkedin_capi.rules.status`; this old import path keeps working.

How a rule's status is judged (ready, events received) belongs with the other rule knowledge in
``rules/``. Import from ``airflow_provider_linkedin_capi.rules.status``.
"""

from __future__ import annotations

from airflow_provider_linkedin_capi.rules.status import (
    WAIT_FOR_CHOICES,
    WAIT_FOR_EVENTS,
    WAIT_FOR_READY,
    RuleEvaluation,
    evaluate_rule,
    latest_callback_ms,
    linked_campaign_urns,
    rule_status_fields,
    to_epoch_ms,
)

__all__ = [
    "WAIT_FOR_CHOICES",
    "WAIT_FOR_EVENTS",
    "WAIT_FOR_READY",
    "RuleEvaluation",
    "evaluate_rule",
    "latest_callback_ms",
    "linked_campaign_urns",
    "rule_status_fields",
    "to_epoch_ms",
]
