"""URN spelling for the three LinkedIn entities this provider names.

Users pass ids in either form (``123`` or ``urn:li:sponsoredAccount:123``); everything that talks to
LinkedIn goes through these helpers so the spelling exists once. Conversion rules live in the ``lla``
namespace, not ``li``: a wrong prefix is a 400 "Invalid Urn format" from LinkedIn.
"""

from __future__ import annotations

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
