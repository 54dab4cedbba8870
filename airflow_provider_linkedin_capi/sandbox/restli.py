"""Rest.li 2.0 parsing of compound keys and ``List(...)`` parameters, straight from the raw URL.

The parsing works on the undecoded request target on purpose: a client that double-encodes (``%253A``) or
lets its HTTP library encode the structural ``(``, ``,`` and ``)`` produces URLs that real Rest.li
misreads, and the sandbox has to notice that rather than quietly decode it away.
"""

from __future__ import annotations

from urllib.parse import unquote

CAMPAIGN_PREFIX = "urn:li:sponsoredCampaign:"
CONVERSION_PREFIX = "urn:lla:llaPartnerConversion:"
ACCOUNT_PREFIX = "urn:li:sponsoredAccount:"


class RestliSyntaxError(ValueError):
    """The URL is not valid Rest.li 2.0 syntax; answered with a 400."""


def split_query(raw_query: bytes | str) -> dict[str, str]:
    """Map parameter name to its still-encoded value (the last one wins)."""
    text = raw_query.decode("latin-1") if isinstance(raw_query, bytes) else raw_query
    params: dict[str, str] = {}
    for part in text.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        params[unquote(name)] = value
    return params


def reject_double_encoding(raw: str, what: str) -> None:
    if "%25" in raw.upper():
        raise RestliSyntaxError(
            f"Invalid {what}: value is double-encoded ('%25' found); encode URN values exactly once"
        )


def decode_value(raw: str, what: str) -> str:
    """Decode one encoded value; reserved characters must have been encoded by the client."""
    reject_double_encoding(raw, what)
    for reserved in ("(", ")", ",", ":"):
        if reserved in raw:
            raise RestliSyntaxError(
                f"Invalid {what}: reserved character {reserved!r} must be percent-encoded inside values"
            )
    return unquote(raw)


def parse_list(raw: str, what: str) -> list[str]:
    """Split ``List(a,b,(x:1,y:2))`` into its raw (still encoded) items."""
    reject_double_encoding(raw, what)
    if not (raw.startswith("List(") and raw.endswith(")")):
        raise RestliSyntaxError(
            f"Invalid {what}: expected Rest.li 2.0 'List(...)' with literal parentheses and commas"
        )
    inner = raw[5:-1]
    items: list[str] = []
    depth = 0
    start = 0
    for index, char in enumerate(inner):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise RestliSyntaxError(f"Invalid {what}: unbalanced parentheses")
        elif char == "," and depth == 0:
            items.append(inner[start:index])
            start = index + 1
    if depth != 0:
        raise RestliSyntaxError(f"Invalid {what}: unbalanced parentheses")
    if inner:
        items.append(inner[start:])
    if any(not item for item in items):
        raise RestliSyntaxError(f"Invalid {what}: empty list item")
    return items


def parse_compound_key(raw: str) -> dict[str, str]:
    """Parse ``(campaign:urn%3Ali%3A...,conversion:urn%3Alla%3A...)`` into decoded field values."""
    reject_double_encoding(raw, "key")
    if not (raw.startswith("(") and raw.endswith(")")):
        raise RestliSyntaxError(
            "Invalid key: expected a Rest.li 2.0 compound key '(campaign:<urn>,conversion:<urn>)' "
            "with literal parentheses, colons and comma"
        )
    fields: dict[str, str] = {}
    for part in raw[1:-1].split(","):
        name, sep, value = part.partition(":")
        if not sep or not name or not value:
            raise RestliSyntaxError("Invalid key: each part must be 'name:value'")
        if name in fields:
            raise RestliSyntaxError(f"Invalid key: {name!r} given twice")
        fields[name] = decode_value(value, "key")
    return fields


def association_key(raw: str) -> tuple[str, str]:
    """Return ``(campaign_urn, conversion_urn)`` of a campaignConversions key, validating both URNs."""
    fields = parse_compound_key(raw)
    if set(fields) != {"campaign", "conversion"}:
        raise RestliSyntaxError(
            "Invalid key: campaignConversions keys have exactly 'campaign' and 'conversion'"
        )
    campaign, conversion = fields["campaign"], fields["conversion"]
    if not is_urn(campaign, CAMPAIGN_PREFIX):
        raise RestliSyntaxError("Invalid Urn format: campaign must be urn:li:sponsoredCampaign:<id>")
    if not is_urn(conversion, CONVERSION_PREFIX):
        raise RestliSyntaxError("Invalid Urn format: conversion must be urn:lla:llaPartnerConversion:<id>")
    return campaign, conversion


def is_urn(value: object, prefix: str) -> bool:
    if not isinstance(value, str) or not value.startswith(prefix):
        return False
    tail = value[len(prefix) :]
    return tail.isdigit() and tail.isascii()


def urn_id(value: str, prefix: str) -> int:
    return int(value[len(prefix) :])


def encode_key(campaign: str, conversion: str) -> str:
    """The canonical reduced-encoding key, as LinkedIn prints it in batch responses."""
    return f"(campaign:{campaign.replace(':', '%3A')},conversion:{conversion.replace(':', '%3A')})"
