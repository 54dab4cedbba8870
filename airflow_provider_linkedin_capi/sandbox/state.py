"""Everything the sandbox remembers: rules, campaign links, known campaigns, events, tokens and counters.

All mutation happens on the event loop thread between awaits, so no locks are needed. Campaign links are
the single source of truth for a rule's ``campaigns`` and ``associatedCampaigns``: both are derived from
them on every read, so they can never drift apart.
"""

from __future__ import annotations

import random
import time
from collections import Counter

from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID
from airflow_provider_linkedin_capi.sandbox.auth import TokenStore
from airflow_provider_linkedin_capi.sandbox.config import SandboxConfig
from airflow_provider_linkedin_capi.sandbox.events import EventStore
from airflow_provider_linkedin_capi.sandbox.faults import FaultPlan
from airflow_provider_linkedin_capi.sandbox.latency import ConcurrencyGauge, RateGauge
from airflow_provider_linkedin_capi.sandbox.persistence import SqlitePersistence
from airflow_provider_linkedin_capi.sandbox.ratelimit import RateLimiter
from airflow_provider_linkedin_capi.sandbox.restli import ACCOUNT_PREFIX, CAMPAIGN_PREFIX

FIRST_RULE_ID = 14_488_340
RULE_DEFAULTS = {
    "conversionMethod": "CONVERSIONS_API",
    "enabled": True,
    "postClickAttributionWindowSize": 30,
    "viewThroughAttributionWindowSize": 7,
    "attributionType": "LAST_TOUCH_BY_CAMPAIGN",
    "valueType": "DYNAMIC",
    "urlRules": [],
}
DERIVED_FIELDS = ("campaigns", "associatedCampaigns")


def now_ms() -> int:
    return int(time.time() * 1000)


def account_urn(value: object) -> str:
    text = str(value)
    return text if text.startswith(ACCOUNT_PREFIX) else f"{ACCOUNT_PREFIX}{int(text)}"


def campaign_urn(value: object) -> str:
    text = str(value)
    return text if text.startswith(CAMPAIGN_PREFIX) else f"{CAMPAIGN_PREFIX}{int(text)}"


class SandboxState:
    def __init__(self, config: SandboxConfig, *, state_file: str | None = None, faults=(), seed=None) -> None:
        self.start_config = config.copy()
        self.config = config.copy()
        self.tokens = TokenStore()
        self.limiter = RateLimiter()
        self.faults = FaultPlan(list(faults), seed)
        self.events = EventStore(config.store)
        self.latency_rng = random.Random(seed)
        self.persistence = SqlitePersistence(state_file) if state_file else None
        self._clear()
        if self.persistence is not None:
            self._load()

    # -- lifecycle -------------------------------------------------------------------------------------

    def _clear(self) -> None:
        self.rules: dict[int, dict] = {}
        self.links: dict[int, dict[str, int]] = {}
        self.campaigns: dict[str, list[str]] = {}
        self.pending_callbacks: dict[int, tuple[float, int]] = {}
        self.next_rule_id = FIRST_RULE_ID
        self.poison: frozenset[str] = frozenset()
        self.poison_opaque = False
        self.poison_quoting = False
        # eventId -> [element status, answers left]: per-element failures inside a 200 BATCH_CREATE answer.
        self.element_failures: dict[str, list[int]] = {}
        self.events.reset()
        self.counters: Counter[str] = Counter()
        self.requests_by_status: Counter[str] = Counter()
        self.requests_by_path: Counter[str] = Counter()
        self.faults_injected: Counter[str] = Counter()
        self.events_in_flight = ConcurrencyGauge()
        self.event_requests_rate = RateGauge()

    def reset(self) -> None:
        """Back to a fresh start: settings as given on the command line, default tokens, nothing stored."""
        self.config = self.start_config.copy()
        self.tokens.reset()
        self.limiter.reset()
        self.faults.replace([], None)
        self._clear()
        if self.persistence is not None:
            self.persistence.clear()

    def _load(self) -> None:
        assert self.persistence is not None
        for rule in self.persistence.rules():
            self.rules[rule["id"]] = rule
            self.next_rule_id = max(self.next_rule_id, rule["id"] + 1)
        for rule_id, campaign, at in self.persistence.links():
            self.links.setdefault(rule_id, {})[campaign] = at
        for account, campaign in self.persistence.campaigns():
            self.campaigns.setdefault(account, []).append(campaign)
        for rule_id, event_id, happened, body in self.persistence.events():
            self.events.add_loaded(rule_id, event_id, happened, body)

    # -- rules -------------------------------------------------------------------------------------------

    def new_rule(self, fields: dict, *, rule_id: int | None = None) -> dict:
        """Store a rule built from defaults plus ``fields``; ``campaigns`` in fields become links."""
        if rule_id is None:
            rule_id = self.next_rule_id
        self.next_rule_id = max(self.next_rule_id, rule_id + 1)
        stamp = now_ms()
        rule = {**RULE_DEFAULTS, "account": account_urn(AD_ACCOUNT_ID), **fields}
        campaigns = rule.pop("campaigns", None) or []
        rule.pop("associatedCampaigns", None)
        rule.update(id=rule_id, created=stamp, lastModified=stamp)
        self.rules[rule_id] = rule
        self._save_rule(rule)
        self.set_campaigns(rule_id, [campaign_urn(c) for c in campaigns])
        return self.rule_entity(rule_id)

    def update_rule(self, rule_id: int, changes: dict, *, touch: bool = True) -> None:
        rule = self.rules[rule_id]
        changes = dict(changes)
        campaigns = changes.pop("campaigns", None)
        changes.pop("associatedCampaigns", None)
        changes.pop("id", None)
        rule.update(changes)
        if touch:
            rule["lastModified"] = now_ms()
        if "lastCallbackAt" in changes:
            self.pending_callbacks.pop(rule_id, None)
        self._save_rule(rule)
        if campaigns is not None:
            self.set_campaigns(rule_id, [campaign_urn(c) for c in campaigns])

    def delete_fields(self, rule_id: int, names: list[str]) -> None:
        rule = self.rules[rule_id]
        for name in names:
            rule.pop(name, None)
        rule["lastModified"] = now_ms()
        self._save_rule(rule)

    def _save_rule(self, rule: dict) -> None:
        if self.persistence is not None:
            self.persistence.save_rule(rule)

    def rule_entity(self, rule_id: int) -> dict:
        """The rule as LinkedIn returns it, with campaigns derived from the links."""
        pending = self.pending_callbacks.get(rule_id)
        rule = self.rules[rule_id]
        if pending is not None and pending[0] <= time.time():
            rule["lastCallbackAt"] = pending[1]
            del self.pending_callbacks[rule_id]
            self._save_rule(rule)
        links = self.links.get(rule_id, {})
        entity = dict(rule)
        entity["campaigns"] = list(links)
        entity["associatedCampaigns"] = [{"campaign": c, "associatedAt": at} for c, at in links.items()]
        return entity

    def rule_accepts_events(self, rule_id: int) -> bool:
        """Enabled (a rule without ``enabled`` is, LinkedIn's documented default) and CONVERSIONS_API."""
        rule = self.rules.get(rule_id)
        return bool(
            rule and rule.get("enabled", True) is True and rule.get("conversionMethod") == "CONVERSIONS_API"
        )

    # -- links ---------------------------------------------------------------------------------------------

    def link(self, rule_id: int, campaign: str) -> None:
        links = self.links.setdefault(rule_id, {})
        if campaign not in links:  # re-asserting an existing link keeps its associatedAt
            links[campaign] = now_ms()
            self._save_links(rule_id)

    def unlink(self, rule_id: int, campaign: str) -> bool:
        links = self.links.get(rule_id, {})
        if campaign not in links:
            return False
        del links[campaign]
        self._save_links(rule_id)
        return True

    def set_campaigns(self, rule_id: int, campaigns: list[str]) -> None:
        """Replace the whole campaign list (PARTIAL_UPDATE of ``campaigns``), keeping old associatedAt."""
        old = self.links.get(rule_id, {})
        stamp = now_ms()
        self.links[rule_id] = {c: old.get(c, stamp) for c in dict.fromkeys(campaigns)}
        self._save_links(rule_id)

    def _save_links(self, rule_id: int) -> None:
        if self.persistence is not None:
            self.persistence.save_links(rule_id, self.links.get(rule_id, {}))

    def add_campaigns(self, account: str, campaigns: list[str]) -> list[str]:
        known = self.campaigns.setdefault(account, [])
        for campaign in campaigns:
            if campaign not in known:
                known.append(campaign)
        if self.persistence is not None:
            self.persistence.add_campaigns(account, campaigns)
        return list(known)

    # -- events ----------------------------------------------------------------------------------------------

    def store_events(self, elements: list[dict]) -> None:
        rows = self.events.add(elements)
        stamp = now_ms()
        lag = self.config.callback_lag_seconds
        for rule_id in {row[0] for row in rows}:
            if lag > 0:
                self.pending_callbacks[rule_id] = (time.time() + lag, stamp)
            else:
                self.update_rule(rule_id, {"lastCallbackAt": stamp}, touch=False)
        if self.persistence is not None:
            self.persistence.add_events(rows)

    def stats(self) -> dict:
        distinct, duplicates = self.events.duplicate_stats()
        return {
            "events_total": self.events.total,
            "distinct_event_ids": distinct,
            "duplicate_event_ids": duplicates,
            "events_by_rule": self.events.counts_by_rule(),
            "batches_accepted": self.counters["batches_accepted"],
            "batches_rejected": self.counters["batches_rejected"],
            "requests_by_status": dict(sorted(self.requests_by_status.items())),
            "requests_by_path": dict(sorted(self.requests_by_path.items())),
            "faults_injected": dict(sorted(self.faults_injected.items())),
            # most /conversionEvents requests being worked on at once, and received in any 60 seconds
            "event_requests_max_concurrent": self.events_in_flight.most,
            "event_requests_max_per_minute": self.event_requests_rate.most,
            "tokens_issued": self.tokens.issued,
            "rules": len(self.rules),
            "store": self.events.mode,
        }
