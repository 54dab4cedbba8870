"""Rest.li spelling and page walks: URN keys, ``List(...)`` parameters, query-length chunks, bounded paging.

Private to ``hooks/``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, unquote

import orjson

from airflow_provider_linkedin_capi import urns
from airflow_provider_linkedin_capi.exceptions import LinkedInCapiError

# ----------------------------------------------------------------------------------------------------
# Rest.li 2.0 keys and lists, built by hand.
#
# ``requests``/``httpx`` ``params=`` percent-encode ``(``, ``,`` and ``)``, which turns a Rest.li list or
# compound key into a single opaque string that LinkedIn rejects (docs/linkedin-contract.md §4.11). So query
# strings that carry Rest.li structure are assembled here: only URN *values* are encoded (``:`` -> ``%3A``),
# the structure stays literal, and nothing is encoded twice (a ``%253A`` key is a 400, §4.3).


# LinkedIn refuses query strings over 4 KB with a 414 (docs/linkedin-contract.md §1.15); stay a little under.
MAX_QUERY_LENGTH = 4000


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


def batch_statuses(reply: Any, campaigns: list[str]) -> dict[str, int]:
    """Campaign URN -> status of its link in a batch PUT answer (the batch's own unless one is given)."""
    payload = reply.payload if isinstance(reply.payload, Mapping) else {}
    statuses = dict.fromkeys(campaigns, reply.status)
    for section in ("results", "errors"):
        entries = payload.get(section)
        if not isinstance(entries, Mapping):
            continue
        for key, entry in entries.items():
            campaign = campaign_of_key(str(key))
            if campaign in statuses and isinstance(entry, Mapping) and "status" in entry:
                statuses[campaign] = int(entry["status"])
    return statuses


def chunks_under_query_limit(items: list[tuple[str, str]]) -> Iterable[list[tuple[str, str]]]:
    """``(key, campaign)`` pairs in runs whose ``ids=List(...)`` query is under :data:`MAX_QUERY_LENGTH`."""
    overhead = len("ids=List()")
    chunk: list[tuple[str, str]] = []
    length = overhead
    for item in items:
        added = len(item[0]) + (1 if chunk else 0)
        if chunk and length + added > MAX_QUERY_LENGTH:
            yield chunk
            chunk, length, added = [], overhead, len(item[0])
        chunk.append(item)
        length += added
    if chunk:
        yield chunk


# ----------------------------------------------------------------------------------------------------
# Walking LinkedIn's ``start``/``count`` pages with a bound, whatever the server does.
#
# LinkedIn reports ``paging.total`` as -1 on the rules finder, and whether it caps ``count`` is UNKNOWN, so
# the walk goes on until an empty page. A server that ignores ``start`` (a proxy, a bug) would then hand out
# the same page forever. So the walk also stops on a page that brings no element it has not seen, and fails
# with a clear error after :data:`MAX_PAGES` pages, far more than any ad account has.


#: Most pages read in one walk: at 100 per page, 10,000 rules, far more than an ad account holds.
MAX_PAGES = 100

log = logging.getLogger(__name__)


def walk_pages(
    fetch: Callable[[int, int], list[dict[str, Any]]],
    *,
    page_size: int,
    what: str,
    max_pages: int = MAX_PAGES,
) -> list[dict[str, Any]]:
    """Every element of ``fetch(start, count)`` pages, until an empty page or one with nothing new."""
    elements: list[dict[str, Any]] = []
    seen: set[object] = set()
    start = 0
    for _ in range(max_pages):
        page = fetch(start, page_size)
        if not page:
            return elements
        new = [element for element in page if _identity(element) not in seen]
        if not new:
            log.warning(
                "%s: the page at start=%d repeated elements already read; the server seems to ignore "
                "'start', so the walk stops with %d element(s)",
                what,
                start,
                len(elements),
            )
            return elements
        seen.update(_identity(element) for element in new)
        elements.extend(new)
        start += len(page)
    raise LinkedInCapiError(
        f"{what}: still not at the end after {max_pages} pages ({len(elements)} elements); the server keeps "
        "returning new pages, so the walk was stopped rather than left to run forever"
    )


def _identity(element: dict[str, Any]) -> object:
    ident = element.get("id")
    if isinstance(ident, str | int) and not isinstance(ident, bool):
        return ident
    return orjson.dumps(element, option=orjson.OPT_SORT_KEYS, default=str)
