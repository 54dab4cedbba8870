"""The ``linkedin-capi://`` asset URI: one conversion rule of one ad account.

``linkedin-capi://<ad account id>/conversion/<rule id>``, both numeric. Airflow calls :func:`sanitize_uri`
for every asset with this scheme (registered under ``asset-uris`` in the provider info), so a DAG written
with URNs (``linkedin-capi://urn:li:sponsoredAccount:5/conversion/urn:lla:llaPartnerConversion:7``) and
one written with numbers name the same asset, and a malformed URI fails at DAG parse time instead of
never matching. The OpenLineage converter gives the dataset name the push uses for its output, so a
lineage graph joins an asset-scheduled DAG with the push that fed it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, unquote, urlsplit

from airflow_provider_linkedin_capi import urns
from airflow_provider_linkedin_capi.constants import DEFAULT_HOST

if TYPE_CHECKING:
    from airflow.sdk import Asset

    from airflow_provider_linkedin_capi.push.report import PushRecord

log = logging.getLogger(__name__)

SCHEME = "linkedin-capi"
_RULE_SEGMENT = "conversion"
_SHAPE = f"{SCHEME}://<ad account id>/{_RULE_SEGMENT}/<conversion rule id>"


def asset_uri(account: object, rule: object) -> str:
    """The normalised URI for ``rule`` of ``account`` (numeric ids or URNs)."""
    return f"{SCHEME}://{urns.account_id(account)}/{_RULE_SEGMENT}/{urns.conversion_rule_id(rule)}"


def create_asset(account: object, rule: object, *, extra: dict[str, Any] | None = None) -> Asset:
    """The asset for conversion rule ``rule`` of ad account ``account`` (ids or URNs).

    Its name is its URI, so two DAGs that build it from the same ids reference the same asset.
    """
    from airflow.sdk import Asset

    uri = asset_uri(account, rule)
    return Asset(name=uri, uri=uri, extra=extra or {})


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Normalise account and rule to their numeric ids; refuse anything else, naming the expected shape."""
    account, rule = _parts(uri)
    return uri._replace(netloc=account, path=f"/{_RULE_SEGMENT}/{rule}", query="", fragment="")


def account_and_rule(uri: str) -> tuple[str, str]:
    """The numeric ad account and rule ids of a ``linkedin-capi://`` URI; ``ValueError`` if not one."""
    parts = urlsplit(uri)
    if parts.scheme.lower() != SCHEME:
        raise ValueError(f"not a {SCHEME}:// URI: {uri!r}")
    return _parts(parts)


def _parts(uri: SplitResult) -> tuple[str, str]:
    segments = [unquote(segment) for segment in uri.path.strip("/").split("/")] if uri.path else []
    if len(segments) != 2 or segments[0] != _RULE_SEGMENT or not uri.netloc:
        raise ValueError(f"A {SCHEME} asset URI must look like {_SHAPE}, got {uri.geturl()!r}")
    try:
        return urns.account_id(unquote(uri.netloc)), urns.conversion_rule_id(segments[1])
    except ValueError as error:
        raise ValueError(f"{SCHEME} asset URI {uri.geturl()!r}: {error}") from None


# ------------------------------------------------------------------------------------------ OpenLineage


def openlineage_namespace(base_url: str | None) -> str:
    """``linkedin-capi://<host[:port]>`` of the API base URL (LinkedIn's own when not set)."""
    return f"{SCHEME}://{urlsplit(base_url or DEFAULT_HOST).netloc}"


def openlineage_name(account: object, rule: object) -> str:
    """``<ad account id>/conversion/<rule id>``: the asset URI without its scheme."""
    return asset_uri(account, rule).removeprefix(f"{SCHEME}://")


def convert_asset_to_openlineage(asset: Asset, lineage_context: Any) -> Any:
    """The OpenLineage dataset of a ``linkedin-capi://`` asset.

    The asset does not say which API host it lives on, so the namespace is LinkedIn's own API, unless the
    lineage context is a LinkedIn hook whose connection points elsewhere (the sandbox, a proxy): that is
    what the push names its output after, so the two meet in the lineage graph.
    """
    from airflow.providers.common.compat.openlineage.facet import Dataset

    account, rule = account_and_rule(asset.uri)
    return Dataset(
        namespace=openlineage_namespace(_base_url_of(lineage_context)), name=openlineage_name(account, rule)
    )


def _base_url_of(lineage_context: Any) -> str | None:
    """The API base URL of a LinkedIn hook given as lineage context; ``None`` for anything else."""
    from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook

    if not isinstance(lineage_context, LinkedInCapiHook):
        return None
    try:
        return lineage_context.config.base_url
    except Exception:  # a connection that cannot be read names no host; LinkedIn's is the best guess
        return None


# ------------------------------------------------------------------------------------------ asset events
# A push declares outlets the Airflow way, ``outlets=[create_asset(account, rule)]`` for a rule known when
# the DAG is written, or ``outlets=[AssetAlias("...")]`` when the rules come from the rows (a ``conversion``
# column) or from an upstream task. Airflow records one asset event per outlet when the task succeeds;
# these functions fill their ``extra`` with the run's counts and first/last event time, and resolve each
# alias to one asset per rule that received events. No row value, path or identifier goes into an event.


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
