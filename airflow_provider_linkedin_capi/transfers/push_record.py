"""What one push did, kept on the operator for its asset events and its OpenLineage facets.

The OpenLineage listener asks the operator for facets after ``execute`` returned or raised, in the same
process; it must not call LinkedIn, so everything it needs (the API host and version, the ad account, the
events sent per rule so far) is recorded here while the push runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
    from airflow_provider_linkedin_capi.transfers.delivery import EventDelivery

#: Summary keys that go into an asset event's ``extra``: counts and times, never a path or a row value.
ASSET_EXTRA_KEYS = (
    "rows_read",
    "events_sent",
    "events_rejected",
    "rejections",
    "batches",
    "already_delivered",
    "duplicate_rows",
    "first_event_at",
    "last_event_at",
    "dry_run",
)


@dataclass
class PushRecord:
    base_url: str | None
    api_version: str | None
    account: str | None
    dry_run: bool
    delivery: EventDelivery
    #: The task's summary, once the push finished; ``None`` while it runs or after it failed.
    summary: dict[str, Any] | None = None

    @classmethod
    def start(cls, hook: LinkedInCapiHook, delivery: EventDelivery, *, dry_run: bool) -> PushRecord:
        """The record of a push through ``hook``, whose connection is read as stored (no call to LinkedIn).

        A connection that cannot be read is the push's to report, when it needs it (a dry run whose rows
        name no rule never does); the record then names no API host or account.
        """
        try:
            config = hook.config
        except Exception:
            return cls(None, None, None, dry_run=bool(dry_run), delivery=delivery)
        return cls(config.base_url, config.api_version, config.ad_account_id, bool(dry_run), delivery)

    def sent_per_rule(self) -> dict[str, int]:
        """Events sent (or, in a dry run, that would have been) per conversion rule URN, so far."""
        return dict(self.delivery.sent_per_rule)

    def asset_extra(self, rule_urn: str) -> dict[str, Any]:
        """The run's counts and event-time span, plus the events that went to ``rule_urn``."""
        summary = self.summary or {}
        extra = {key: summary.get(key) for key in ASSET_EXTRA_KEYS}
        extra["rule_events_sent"] = self.delivery.sent_per_rule.get(rule_urn, 0)
        return extra
