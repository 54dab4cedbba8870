"""Read a campaign list however Airflow's templating hands it over.

With the default string rendering an XCom list arrives as ``"[1, 2]"`` or
``"['urn:li:sponsoredCampaign:1']"``; users also write ``"1,2"`` in params; with
``render_template_as_native_obj=True`` it is a real list. All of these must mean the same campaigns, and a
typo must fail loudly instead of linking the wrong thing.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable

from airflow_provider_linkedin_capi.urns import campaign_urn

#: The longest text read as a campaign list: 100,000 characters hold thousands of URNs, far more than
#: one rule is linked to, and bound the parsers' work on a runaway template.
MAX_CAMPAIGN_IDS_TEXT = 100_000


def parse_campaign_ids(value: object) -> list[str]:
    """Campaign URNs for ``value``, in the given order, without duplicates.

    Accepts an iterable of numeric ids or ``urn:li:sponsoredCampaign:N`` URNs, a single id, or a string
    holding a JSON / Python list literal or comma/whitespace-separated ids. Raises ValueError naming the
    first entry that is not a campaign id.
    """
    items = _as_items(value)
    urns: dict[str, None] = {}
    for item in items:
        if isinstance(item, list | tuple | set | dict):
            # Never formatted: a list nested thousands deep would raise RecursionError in repr().
            raise ValueError(
                f"campaign_ids must be a flat list of ids or URNs, got a nested {type(item).__name__}"
            )
        urns[campaign_urn(item)] = None
    return list(urns)


def _as_items(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, bool):
        raise ValueError(f"campaign_ids must be ids or URNs, got {value!r}")
    if isinstance(value, int):
        return [value]
    if isinstance(value, str):
        return _items_from_text(value)
    if isinstance(value, dict):
        raise ValueError("campaign_ids must be a list of ids or URNs, got a mapping")
    if isinstance(value, Iterable):
        return list(value)
    raise ValueError(f"campaign_ids must be a list of ids or URNs, got {type(value).__name__}")


def _items_from_text(text: str) -> list[object]:
    stripped = text.strip()
    if not stripped:
        return []
    if len(stripped) > MAX_CAMPAIGN_IDS_TEXT:
        raise ValueError(
            f"campaign_ids is {len(stripped)} characters long, more than {MAX_CAMPAIGN_IDS_TEXT}"
        )
    if stripped[0] in "[(":
        for loader in (json.loads, ast.literal_eval):
            try:
                loaded = loader(stripped)
            except (ValueError, SyntaxError, RecursionError, MemoryError):
                # RecursionError/MemoryError: brackets nested thousands deep, never a campaign list.
                continue
            if isinstance(loaded, list | tuple):
                return list(loaded)
        raise ValueError(f"campaign_ids looks like a list but could not be read: {text[:200]!r}")
    return [part for part in stripped.replace(",", " ").split() if part]
