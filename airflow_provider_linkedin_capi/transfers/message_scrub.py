"""LinkedIn's message about a refused event, made safe for the rejects file: no plaintext value of the row.

Names, company, title and the IP address travel to LinkedIn unhashed, and a validation message may quote
the value it refused (whether LinkedIn's do is UNKNOWN), in any spelling: as is, upper-cased, JSON-escaped
inside a list or an object, as ``\\uXXXX`` escapes. The rejects file must never hold such a value, so the
message is kept only after every spelling of every value is gone. The check does not trust the removal:
the scrubbed message is decoded (escapes of several kinds, several times over, Unicode-normalised and
case-folded) and if any value can still be read in it, only the error code and the path are kept.
Only rejected events pass here, so the cost does not matter.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Any
from urllib.parse import unquote

#: userInfo fields that hold plaintext about a person, and idTypes sent unhashed that identify one.
_INFO_FIELDS = ("firstName", "lastName", "companyName", "title")
_PLAINTEXT_ID_TYPES = frozenset({"PLAINTEXT_IP_ADDRESS"})
#: Decoding rounds: a value JSON-encoded inside JSON inside JSON is still found.
_DECODE_ROUNDS = 4
_UNICODE_ESCAPE = re.compile(r"\\+u([0-9a-fA-F]{4})|\\+U([0-9a-fA-F]{8})|\\+x([0-9a-fA-F]{2})")
_BACKSLASH_ESCAPE = re.compile(r"\\+([\"'\\/])")
#: A path as LinkedIn prints it: ``/user/userInfo/firstName``, ``/userIds/0/idValue``.
_SAFE_PATH = re.compile(r"/[A-Za-z0-9_/]*")
WITHHELD = "LinkedIn's message was left out: it quoted a value of this row"


def plaintext_values(event: dict[str, Any]) -> dict[str, str]:
    """The event's plaintext personal values, by a label used in their place: ``{"<firstName>": "Zoë"}``."""
    user = event.get("user")
    if not isinstance(user, dict):
        return {}
    values: dict[str, str] = {}
    info = user.get("userInfo")
    if isinstance(info, dict):
        for key in _INFO_FIELDS:
            value = info.get(key)
            if isinstance(value, str) and value.strip():
                values[f"<{key}>"] = value
    for user_id in user.get("userIds") or ():
        if isinstance(user_id, dict) and user_id.get("idType") in _PLAINTEXT_ID_TYPES:
            value = user_id.get("idValue")
            if isinstance(value, str) and value:
                values[f"<{user_id['idType']}>"] = value
    return values


def _canonical(text: str) -> str:
    """``text`` with escapes decoded (repeatedly), NFKC-normalised and case-folded."""
    for _ in range(_DECODE_ROUNDS):
        decoded = _UNICODE_ESCAPE.sub(_unescape_code_point, text)
        decoded = _BACKSLASH_ESCAPE.sub(r"\1", decoded)
        decoded = html.unescape(unquote(decoded))
        if decoded == text:
            break
        text = decoded
    return unicodedata.normalize("NFKC", text).casefold()


def _unescape_code_point(match: re.Match[str]) -> str:
    digits = match.group(1) or match.group(2) or match.group(3)
    try:
        return chr(int(digits, 16))
    except (ValueError, OverflowError):
        return match.group(0)


def _spellings(value: str) -> set[str]:
    """The spellings of ``value`` a message is likely to hold, longest first when replaced."""
    import json

    ascii_json = json.dumps(value)[1:-1]
    raw_json = json.dumps(value, ensure_ascii=False)[1:-1]
    spellings = {value, ascii_json, raw_json, json.dumps(ascii_json)[1:-1], json.dumps(raw_json)[1:-1]}
    spellings.add("".join(f"\\u{ord(char):04x}" for char in value))
    spellings.add(unicodedata.normalize("NFD", value))
    return {spelling for spelling in spellings if spelling}


def _reveals(text: str, canonical_values: list[str]) -> bool:
    """Whether a value can be read in ``text``, decoded or as written.

    Both forms are looked at: decoding can consume a value made of escape characters (a name ``\\``
    vanishes when ``\\'`` is read as an escaped quote), and such a value is then still there as written.
    """
    canonical = _canonical(text)
    written = unicodedata.normalize("NFKC", text).casefold()
    return any(value in canonical or value in written for value in canonical_values)


def scrubbed_message(message: str, event: dict[str, Any]) -> str:
    """``message`` with every spelling of the event's plaintext values replaced by a label; or, if any
    value can still be read in it, :data:`WITHHELD`."""
    values = plaintext_values(event)
    if not values:
        return message
    canonical_values = [_canonical(value) for value in values.values()]
    if not _reveals(message, canonical_values):
        return message
    for label, value in values.items():
        for spelling in sorted(_spellings(value), key=len, reverse=True):
            message = re.sub(re.escape(spelling), label, message, flags=re.IGNORECASE)
    return WITHHELD if _reveals(message, canonical_values) else message


def scrubbed_path(path: str | None, event: dict[str, Any]) -> str | None:
    """The error's path if it is a plain JSON path holding no value of the row, else ``None``."""
    if path is None or _SAFE_PATH.fullmatch(path) is None:
        return None
    canonical_values = [_canonical(value) for value in plaintext_values(event).values()]
    return None if _reveals(path, canonical_values) else path
