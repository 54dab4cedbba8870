"""Ids as users and templates give them: URNs, campaign lists, optional ids.

Users pass ids in either form (``123`` or ``urn:li:sponsoredAccount:123``); everything that talks to
LinkedIn goes through these helpers so the spelling exists once. Conversion rules live in the ``lla``
namespace, not ``li``: a wrong prefix is a 400 "Invalid Urn format" from LinkedIn. Jinja renders lists and
``None`` as text unless a DAG renders native objects; both spellings must mean the same thing.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable

# ----------------------------------------------------------------------------------------------------
# URN spelling for the three LinkedIn entities this provider names.
#
# Users pass ids in either form (``123`` or ``urn:li:sponsoredAccount:123``); everything that talks to
# LinkedIn goes through these helpers so the spelling exists once. Conversion rules live in the ``lla``
# namespace, not ``li``: a wrong prefix is a 400 "Invalid Urn format" from LinkedIn.


ACCOUNT_PREFIX = "urn:li:sponsoredAccount:"
CAMPAIGN_PREFIX = "urn:li:sponsoredCampaign:"
CONVERSION_PREFIX = "urn:lla:llaPartnerConversion:"
LEAD_PREFIX = "urn:li:leadGenFormResponse:"


def _numeric_id(value: object, prefix: str, what: str) -> str:
    text = str(value).strip()
    if text.startswith(prefix):
        text = text[len(prefix) :]
    if not text.isdigit() or not text.isascii():
        raise ValueError(f"{what} must be a numeric id or {prefix}<id>, got {value!r}")
    return str(int(text))


def account_id(value: object) -> str:
    return _numeric_id(value, ACCOUNT_PREFIX, "ad account")


def campaign_id(value: object) -> str:
    return _numeric_id(value, CAMPAIGN_PREFIX, "campaign")


def conversion_rule_id(value: object) -> str:
    return _numeric_id(value, CONVERSION_PREFIX, "conversion rule")


def account_urn(value: object) -> str:
    return ACCOUNT_PREFIX + account_id(value)


def campaign_urn(value: object) -> str:
    return CAMPAIGN_PREFIX + campaign_id(value)


def conversion_rule_urn(value: object) -> str:
    return CONVERSION_PREFIX + conversion_rule_id(value)


# ----------------------------------------------------------------------------------------------------
# Read a campaign list however Airflow's templating hands it over.
#
# With the default string rendering an XCom list arrives as ``"[1, 2]"`` or
# ``"['urn:li:sponsoredCampaign:1']"``; users also write ``"1,2"`` in params; with
# ``render_template_as_native_obj=True`` it is a real list. All of these must mean the same campaigns, and a
# typo must fail loudly instead of linking the wrong thing.


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


# ----------------------------------------------------------------------------------------------------
# Optional ids as Jinja renders them.
#
# A templated ``None`` (``"{{ params.ad_account_id }}"`` with no value) renders to the string ``"None"``
# unless the DAG renders native objects; both must mean "use the connection's default", not an account
# literally named "None".


_EMPTY = {"", "none", "null"}


def is_templated(value: object) -> bool:
    """A Jinja template not yet rendered: checks of its value wait until ``execute``."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def optional_account_id(value: object) -> str | None:
    """Numeric ad-account id, or None to fall back to the connection's ``ad_account_id``."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _EMPTY):
        return None
    return account_id(value)
