"""Keeping secrets out of error text: refuse unprintable secrets, and blank out echoed ones.

Airflow's log masker replaces registered secrets in log lines, but an exception's text also reaches the
"Test connection" answer and task notes unmasked, and the masker misses a secret spelled differently (URL-
or JSON-escaped, or quoted by ``requests`` with a line break inside). So error text built from a server's
answer is scrubbed here, in every spelling, before it is put into an exception.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

import orjson

MASK = "***"


def has_control_character(text: str) -> bool:
    """Whether ``text`` holds a CR, LF, tab, NUL or any other control character (Unicode category Cc)."""
    return any(unicodedata.category(char) == "Cc" for char in text)


def without_secrets(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret, as written or URL- or JSON-escaped, replaced by ``***``."""
    spellings = {
        spelling
        for secret in secrets
        if secret
        for spelling in (secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1])
    }
    # Longest first, so that a secret inside another one's spelling cannot leave a tail behind.
    for spelling in sorted(spellings, key=len, reverse=True):
        text = text.replace(spelling, MASK)
    return text


def scrub(payload: Any, secrets: Iterable[str | None]) -> Any:
    """A decoded JSON answer whose top-level values (the only ones read into messages) hold no secret.

    A nested value is flattened to its scrubbed JSON text, since it could only reach a message as text.
    """
    if not isinstance(payload, Mapping):
        return payload
    secrets = tuple(secret for secret in secrets if secret)
    return {key: _scrubbed(value, secrets) for key, value in payload.items() if isinstance(key, str)}


def _scrubbed(value: Any, secrets: tuple[str, ...]) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return without_secrets(value, secrets)
    try:
        text = orjson.dumps(value, default=str).decode()
    except orjson.JSONEncodeError:  # nested deeper than orjson writes
        return "(a nested value)"
    return without_secrets(text, secrets)
