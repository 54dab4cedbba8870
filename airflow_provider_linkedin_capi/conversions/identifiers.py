"""Member identifiers, normalised the way LinkedIn matches them.

LinkedIn accepts any string as an ``idValue`` and silently matches nothing when it is malformed or not
normalised (docs/linkedin-contract.md §2.1.11 and §7.13), so every identifier is checked here and a malformed
one rejects the row with its own code instead of being sent to match nobody. A user who wants such rows sent
without the bad identifier says so in SQL (``NULLIF``/``CASE``), where the choice is visible.

Only the unusual paths live in functions here; the builder inlines the common string cases.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import re
import uuid
from typing import Any

from airflow_provider_linkedin_capi.conversions.rejections import RejectionCode, RowRejected
from airflow_provider_linkedin_capi.conversions.values import NotText, ensure_utf8, to_text
from airflow_provider_linkedin_capi.urns import LEAD_PREFIX

#: Zero-width space, non-joiner and joiner, word joiner, byte-order mark (zero-width no-break space):
#: trimmed at an e-mail's edges, and inside one they make it invalid, since an address holding one is not
#: the one the member typed and its hash would match nobody.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_NOT_IN_EMAIL = r"@\s\x00-\x1f\x7f" + _INVISIBLE
#: The e-mail check, deliberately simple (RFC 5322 is not the point; catching wrong columns is):
#: one "@", a non-empty local part, a domain of at least two non-empty dot-separated labels, and no
#: whitespace, control or invisible characters anywhere.
EMAIL_SHAPE = re.compile(rf"[^{_NOT_IN_EMAIL}]++@[^{_NOT_IN_EMAIL}.]++(?:\.[^{_NOT_IN_EMAIL}.]++)++")
# The same check for ASCII text, spelled as explicit ranges (printable, no space, no "@"; labels also no
# "."), which the regex engine runs several times faster than Unicode classes: it is the common case.
_ASCII_EMAIL_SHAPE = re.compile(
    r"[\x21-\x3f\x41-\x7e]++@[\x21-\x2d\x2f-\x3f\x41-\x7e]++(?:\.[\x21-\x2d\x2f-\x3f\x41-\x7e]++)++"
)
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
#: The id of a lead-form response: letters, digits, "-" and "_" (LinkedIn's are numeric; the wider set
#: keeps ids of test forms). Anything else (an "@", spaces, punctuation) is a wrong column, not a lead.
_LEAD_ID = re.compile(r"[A-Za-z0-9_-]++")
_UUID_HEX = "(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32})"
#: The UUID spellings a google_aid may take: canonical or bare hex, optionally braced or a urn:uuid: URN.
_GOOGLE_AID_SHAPE = re.compile(rf"(?ai:urn:uuid:)?({_UUID_HEX})|\{{({_UUID_HEX})\}}")
_INVALID_EMAIL_MESSAGE = (
    "email is not an e-mail address (expected one @, a non-empty local part, a dotted domain, no spaces)"
)


def text_or_reject(value: Any, code: RejectionCode, field: str) -> str:
    """:func:`to_text`, with "cannot be text" turned into a rejection of the row with ``code``."""
    try:
        return to_text(value)
    except NotText:
        raise RowRejected(
            code, field, f"{field} holds a {type(value).__name__} that cannot be read as text"
        ) from None


def email_sha256(text: str) -> str:
    """SHA-256 (lower hex) of a trimmed e-mail, lower-cased first as LinkedIn's own clients do.

    A value that already is 64 hex characters is taken as a hash and passed through lower-cased, like
    LinkedIn's GTM template does, so a column that mixes raw and hashed addresses still works.
    Zero-width characters and byte-order marks at either end are trimmed like spaces (see
    :func:`_trim_invisible`); that check runs only for non-ASCII text, off the common path.
    """
    lowered = text.lower()
    if lowered.isascii():
        if _ASCII_EMAIL_SHAPE.fullmatch(lowered) is not None:
            return hashlib.sha256(lowered.encode()).hexdigest()
        if len(lowered) == 64 and _SHA256_HEX.fullmatch(lowered):
            return lowered
    else:
        trimmed = _trim_invisible(lowered)
        if trimmed != lowered:
            return email_sha256(trimmed)
        if EMAIL_SHAPE.fullmatch(lowered) is not None:
            try:
                return hashlib.sha256(ensure_utf8(lowered).encode()).hexdigest()
            except NotText:
                pass
    raise RowRejected(RejectionCode.INVALID_EMAIL, "email", _INVALID_EMAIL_MESSAGE)


def _trim_invisible(text: str) -> str:
    """``text`` without the invisible characters, and the spaces next to them, at its ends.

    Copying from web pages, spreadsheets and Windows files leaves a byte-order mark or a zero-width
    (non-)joiner or space at the edge of an address. They are invisible in every tool, yet hashed with the
    address they make a hash that matches nobody, while the address itself is fine.
    """
    trimmed = text
    while (stripped := trimmed.strip(_INVISIBLE).strip()) != trimmed:
        trimmed = stripped
    return trimmed


def checked_sha256(text: str, field: str = "sha256_email") -> str:
    """An already-hashed value: 64 hex characters, sent lower-cased; anything else is ``invalid_hash``."""
    lowered = text.lower()
    if len(lowered) != 64 or not _SHA256_HEX.fullmatch(lowered):
        raise RowRejected(
            RejectionCode.INVALID_HASH, field, f"{field} is not a SHA-256 hex digest (64 hex characters)"
        )
    return lowered


def sha256_ip_address(value: Any) -> str:
    """An already-hashed IP address (``SHA256_IP_ADDRESS``), checked like ``sha256_email``."""
    text = text_or_reject(value, RejectionCode.INVALID_HASH, "sha256_ip_address")
    return checked_sha256(text, "sha256_ip_address") if text else ""


def hashed_ipv4_address(value: Any) -> str:
    """``ip_address`` as ``SHA256_IP_ADDRESS``: the SHA-256 hex of its dotted IPv4 text (``hash_ip_address``).

    LinkedIn does not say how it normalises an address before hashing (UNKNOWN); the dotted-decimal text
    :func:`ipv4_address` sends as ``PLAINTEXT_IP_ADDRESS`` is the natural reading, and is what is hashed.
    """
    text = ipv4_address(value)
    return hashlib.sha256(text.encode("ascii")).hexdigest() if text else ""


def refuse_email_in(text: str, field: str) -> str:
    """``text``, unless it holds an e-mail address: then the row is rejected as ``email_in_identifier``.

    Identifiers other than ``email`` travel to LinkedIn as they are, unhashed. An address in one of them
    (a wrong column in the query, an export that put the e-mail where the CRM id belongs) would be sent
    to LinkedIn, and stored there, in plaintext. The check looks for an address anywhere in the value
    (``crm:jane@example.com`` counts), and costs one ``in`` test for values without an "@".
    """
    if "@" in text and EMAIL_SHAPE.search(text) is not None:
        raise RowRejected(
            RejectionCode.EMAIL_IN_IDENTIFIER,
            field,
            f"{field} holds an e-mail address, which would be sent unhashed; put it in the email column",
        )
    return text


def plain_text_id(field: str) -> Any:
    """Reader for identifiers LinkedIn takes as opaque text (li_fat_id, Acxiom, Oracle Moat): trimmed.

    A value holding an e-mail address is rejected (:func:`refuse_email_in`).
    """

    def read(value: Any) -> str:
        if value.__class__ is str:
            text = value.strip()
            if not text.isascii():
                text = text_or_reject(text, RejectionCode.NO_IDENTIFIER, field)
        else:
            text = text_or_reject(value, RejectionCode.NO_IDENTIFIER, field)
        return refuse_email_in(text, field) if "@" in text else text

    return read


def ipv4_address(value: Any) -> str:
    """A dotted-quad IPv4 address (LinkedIn's ``PLAINTEXT_IP_ADDRESS`` takes IPv4 only,
    docs/linkedin-contract.md §2.1.8).

    IPv4-mapped IPv6 (``::ffff:192.0.2.1``) is unwrapped; any other IPv6 address is ``invalid_ip``.
    """
    if isinstance(value, ipaddress.IPv4Interface):  # PostgreSQL inet with a mask; a subclass of IPv4Address
        return str(value.ip)
    if isinstance(value, ipaddress.IPv4Address):
        return str(value)
    text = text_or_reject(value, RejectionCode.INVALID_IP, "ip_address")
    if not text:
        return ""
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        pass
    try:
        mapped = ipaddress.IPv6Address(text).ipv4_mapped
    except ValueError:
        mapped = None
    if mapped is None:
        raise RowRejected(
            RejectionCode.INVALID_IP,
            "ip_address",
            "ip_address is not an IPv4 address (LinkedIn takes IPv4 only)",
        )
    return str(mapped)


def google_aid(value: Any) -> str:
    """An Android advertising id, as a canonical lower-case UUID; ``""`` for the all-zero id.

    Android reports the all-zero id when the member opted out of ad personalisation; it identifies
    nobody, so it counts as absent rather than as an error. Accepted spellings: the canonical 8-4-4-4-12
    hex groups or 32 bare hex digits, in either case, optionally in braces or after ``urn:uuid:``.
    :class:`uuid.UUID` alone is not the check: it drops every hyphen wherever it is and reads the rest
    with ``int(..., 16)``, which takes ``_``, ``0x``, ``+`` and non-ASCII digits, so a corrupted id
    would be sent rewritten as some other member's.
    """
    if isinstance(value, uuid.UUID):
        parsed = value
    else:
        text = text_or_reject(value, RejectionCode.INVALID_GOOGLE_AID, "google_aid")
        if not text:
            return ""
        shape = _GOOGLE_AID_SHAPE.fullmatch(text)
        if shape is None:
            raise RowRejected(RejectionCode.INVALID_GOOGLE_AID, "google_aid", "google_aid is not a UUID")
        parsed = uuid.UUID(shape.group(1) or shape.group(2))
    return str(parsed) if parsed.int else ""


def lead_urn(value: Any) -> str:
    """``urn:li:leadGenFormResponse:<id>`` from that URN or a bare id; ``""`` when there is none.

    The id is letters, digits, ``-`` and ``_``. A value holding an e-mail address is rejected as
    ``email_in_identifier`` (it would otherwise be sent in plaintext inside the URN), any other id of
    another shape as ``invalid_lead``. A value that is some other URN (``urn:li:...``) is not a
    lead-form response and counts as absent; if nothing else identifies the row, the ``no_identifier``
    message says so.
    """
    text = text_or_reject(value, RejectionCode.NO_IDENTIFIER, "lead")
    if "@" in text:
        refuse_email_in(text, "lead")
    if text.startswith(LEAD_PREFIX):
        text = text[len(LEAD_PREFIX) :].strip()
    elif text[:4].lower() == "urn:":
        return ""
    if not text:
        return ""
    if _LEAD_ID.fullmatch(text) is None:
        raise RowRejected(
            RejectionCode.INVALID_LEAD,
            "lead",
            "lead is not urn:li:leadGenFormResponse:<id> or an id of letters, digits, '-' and '_'",
        )
    return LEAD_PREFIX + text


def first_external_id(value: Any) -> str:
    """The one ``externalIds`` value LinkedIn uses (docs/linkedin-contract.md §2.1.14: only the first
    is read).

    Accepts a scalar, a list or tuple (PostgreSQL arrays arrive as lists), a numpy array (a 0-d one is
    its scalar), or a string holding a JSON array (``'["crm-42"]'``, as JSON columns and pandas exports
    spell lists). The first non-empty element wins; a string that merely looks like a JSON array but
    does not parse (or nests too deep to parse) is used as a scalar.
    """
    if value.__class__ is str:
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                parsed = json.loads(text)
            except (ValueError, RecursionError):  # RecursionError: arrays nested a thousand deep
                parsed = None
            if isinstance(parsed, list):
                return _first_element(parsed)
        if not text.isascii():
            text = text_or_reject(text, RejectionCode.NO_IDENTIFIER, "externalIds")
        return refuse_email_in(text, "externalIds") if "@" in text else text
    if isinstance(value, (list, tuple)):
        return _first_element(value)
    if type(value).__name__ == "ndarray":
        return _first_element(_array_elements(value))
    return refuse_email_in(text_or_reject(value, RejectionCode.NO_IDENTIFIER, "externalIds"), "externalIds")


def _array_elements(array: Any) -> list[Any] | tuple[Any, ...]:
    """A numpy array's elements; a zero-dimensional array is one scalar, which ``tolist()`` returns bare.

    Iterating that bare scalar would read a string character by character (``"crm-42"`` -> ``"c"``) and
    fail on a number, so it is wrapped as the array's only element.
    """
    if array.ndim == 0:
        return (array.item(),)
    return array.tolist()


def _first_element(values: list[Any] | tuple[Any, ...]) -> str:
    for element in values:
        if isinstance(element, (list, tuple, dict)):
            raise RowRejected(
                RejectionCode.NO_IDENTIFIER, "externalIds", "externalIds holds a nested list or object"
            )
        text = text_or_reject(element, RejectionCode.NO_IDENTIFIER, "externalIds")
        if text:
            return refuse_email_in(text, "externalIds")
    return ""


@functools.cache
def _country_codes() -> dict[str, str]:
    import pycountry

    codes: dict[str, str] = {}
    for country in pycountry.countries:
        codes[country.alpha_2] = country.alpha_2
        codes[country.alpha_3] = country.alpha_2
    return codes


def country_code(value: Any) -> str:
    """ISO 3166-1 alpha-2, upper-case; alpha-3 codes (``FRA``) are converted, as they are unambiguous."""
    text = text_or_reject(value, RejectionCode.INVALID_COUNTRY_CODE, "countryCode")
    if not text:
        return ""
    code = _country_codes().get(text.upper())
    if code is None:
        raise RowRejected(
            RejectionCode.INVALID_COUNTRY_CODE, "countryCode", "countryCode is not an ISO 3166-1 country code"
        )
    return code
