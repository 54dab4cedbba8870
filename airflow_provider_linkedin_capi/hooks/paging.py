"""Walking LinkedIn's ``start``/``count`` pages with a bound, whatever the server does.

LinkedIn reports ``paging.total`` as -1 on the rules finder, and whether it caps ``count`` is UNKNOWN, so
the walk goes on until an empty page. A server that ignores ``start`` (a proxy, a bug) would then hand out
the same page forever. So the walk also stops on a page that brings no element it has not seen, and fails
with a clear error after :data:`MAX_PAGES` pages, far more than any ad account has.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiError

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
