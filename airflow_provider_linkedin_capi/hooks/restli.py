"""Rest.li 2.0 keys and lists, built by hand.

``requests``/``httpx`` ``params=`` percent-encode ``(``, ``,`` and ``)``, which turns a Rest.li list or
compound key into a single opaque string that LinkedIn rejects (contract §4.11). So query strings that carry
Rest.li structure are assembled here: only URN *values* are encoded (``:`` -> ``%3A``), the structure stays
literal, and nothing is encoded twice (a ``%253A`` key is a 400, §4.3).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import quote, unquote

from airflow_provider_linkedin_capi import urns


def encode_urn(urn: str) -> str:
    """Percent-encode one value the way LinkedIn's own client does: ``quote(v, safe="")``."""
    return quote(str(urn), safe="")


def association_key(campaign: object, conversion: object) -> str:
    """The ``campaignConversions`` compound key; accepts ids or URNs for both parts.

    Keys are in alphabetical order (campaign < conversion), as LinkedIn's client writes them.
    """
    campaign_urn = urns.campaign_urn(campaign)
    conversion_urn = urns.conversion_rule_urn(conversion)
    return f"(campaign:{encode_urn(campaign_urn)},conversion:{encode_urn(conversion_urn)})"


def restli_list(items: Iterable[str]) -> str:
    """``List(a,b)`` with the items as given: callers pass values already encoded (URNs, keys)."""
    return f"List({','.join(items)})"


def query_string(pairs: Sequence[tuple[str, object]]) -> str:
    """Join ``name=value`` pairs whose values are already in their final, encoded form."""
    return "&".join(f"{name}={value}" for name, value in pairs)


def campaign_of_key(key: str) -> str | None:
    """The campaign URN inside an association key, whether LinkedIn echoes it encoded or not."""
    text = unquote(key)
    start = text.find("campaign:")
    if start < 0:
        return None
    start += len("campaign:")
    end = len(text)
    for stop in (",conversion:", ")"):
        position = text.find(stop, start)
        if position >= 0:
            end = min(end, position)
    return text[start:end] or None
