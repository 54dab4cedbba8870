"""Asset events of a push: its counts in the ``extra`` of each ``linkedin-capi://`` outlet.

A push declares outlets the Airflow way, ``outlets=[create_asset(account, rule)]`` for a rule known when
the DAG is written, or ``outlets=[AssetAlias("...")]`` when the rules come from the rows (a ``conversion``
column) or from an upstream task. Airflow records one asset event per outlet when the task succeeds; this
module fills their ``extra`` with the run's counts and first/last event time, and resolves each alias to
one asset per rule that received events. No row value, path or identifier goes into an event.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from airflow_provider_linkedin_capi import urns
from airflow_provider_linkedin_capi.assets.linkedin_capi import SCHEME, account_and_rule, create_asset
from airflow_provider_linkedin_capi.transfers.push_record import PushRecord

log = logging.getLogger(__name__)


def record_asset_events(outlets: Iterable[Any], outlet_events: Any, record: PushRecord) -> None:
    """Set the ``extra`` of every LinkedIn asset outlet and add one asset per rule to every alias outlet."""
    from airflow.sdk import Asset, AssetAlias

    if outlet_events is None:
        return
    for outlet in outlets:
        if isinstance(outlet, AssetAlias):
            _resolve_alias(outlet, outlet_events, record)
        elif isinstance(outlet, Asset) and outlet.uri.lower().startswith(f"{SCHEME}://"):
            _fill_asset(outlet, outlet_events, record)


def _fill_asset(asset: Any, outlet_events: Any, record: PushRecord) -> None:
    account, rule = account_and_rule(asset.uri)
    rule_urn = urns.conversion_rule_urn(rule)
    if rule_urn not in record.sent_per_rule():
        log.warning(
            "Outlet %s names conversion rule %s, which received no event in this run; its asset event "
            "carries the run's counts with rule_events_sent=0",
            asset.uri,
            rule,
        )
    elif record.account is not None and account != record.account:
        log.warning(
            "Outlet %s names ad account %s, but the LinkedIn connection's ad account is %s",
            asset.uri,
            account,
            record.account,
        )
    outlet_events[asset].extra = record.asset_extra(rule_urn)


def _resolve_alias(alias: Any, outlet_events: Any, record: PushRecord) -> None:
    if record.dry_run:
        log.info("Asset alias %r: a dry run sends nothing, so it resolves to no asset", alias.name)
        return
    rules = sorted(rule for rule, sent in record.sent_per_rule().items() if sent)
    if not rules:
        log.info("Asset alias %r: no rule received events in this run, so no asset event", alias.name)
        return
    if record.account is None:
        log.warning(
            "Asset alias %r is not resolved: the LinkedIn connection has no 'ad_account_id' extra, and a "
            "%s:// asset names the ad account",
            alias.name,
            SCHEME,
        )
        return
    accessor = outlet_events[alias]
    for rule_urn in rules:
        accessor.add(create_asset(record.account, rule_urn), extra=record.asset_extra(rule_urn))
    log.info("Asset alias %r: asset events for %d conversion rule(s)", alias.name, len(rules))
