"""Why a row was not sent: the stable codes users count, alert on and grep their rejects files for.

The codes are part of the public interface (README "Rejection codes"): they appear in the task summary and in
every line of the rejects file, so they never change spelling. Messages are for humans and may improve,
but they never quote a row's raw values: a rejects file must be safe to share with whoever debugs the
sync, so an e-mail, a name or any other identifier can only appear hashed (``sha256_email``), never in
``message``. What a user needs to find the CRM row goes beside the message instead: the row's
``key_columns`` values (``keys``) and the offending value (``value``), each only where it is not personal
data (a currency, a country, a timestamp's text; never an identifier or name column, and never text that
looks like an e-mail or IP address, whichever column it came from).
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Any, NamedTuple


class RejectionCode(StrEnum):
    MISSING_CONVERSION_RULE = "missing_conversion_rule"
    MISSING_TIMESTAMP = "missing_timestamp"
    INVALID_TIMESTAMP = "invalid_timestamp"
    TOO_OLD = "too_old"
    IN_FUTURE = "in_future"
    NO_IDENTIFIER = "no_identifier"
    INCOMPLETE_USER_INFO = "incomplete_user_info"
    INVALID_EMAIL = "invalid_email"
    INVALID_HASH = "invalid_hash"
    INVALID_IP = "invalid_ip"
    INVALID_GOOGLE_AID = "invalid_google_aid"
    INVALID_LEAD = "invalid_lead"
    EMAIL_IN_IDENTIFIER = "email_in_identifier"
    INVALID_COUNTRY_CODE = "invalid_country_code"
    INVALID_CURRENCY = "invalid_currency"
    INVALID_AMOUNT = "invalid_amount"
    INVALID_EVENT_ID = "invalid_event_id"
    UNSUPPORTED_IN_API_VERSION = "unsupported_in_api_version"
    REJECTED_BY_LINKEDIN = "rejected_by_linkedin"


class Rejection(NamedTuple):
    """One row that was not sent, and why.

    ``code`` is a :class:`RejectionCode` value; ``field`` the contract column at fault (``None`` when the
    row as a whole is at fault); ``event_id`` the eventId the row has or would have had, when it could
    be worked out without the faulty field; ``sha256_email`` the row's hashed e-mail, when it has a
    valid one, so the user can find the row again without the rejects file holding the raw address.
    """

    code: str
    field: str | None
    message: str
    event_id: str | None = None
    sha256_email: str | None = None
    keys: dict[str, str | None] | None = None
    value: str | None = None


#: Contract columns whose offending value a rejects line may show: none of them holds personal data.
QUOTABLE_FIELDS = frozenset({"conversion", "conversionHappenedAt", "currencyCode", "amount", "countryCode"})
#: Quoted values are cut here: enough to recognise ``2026-13-45T25:00`` or ``EURO``, not a whole document.
MAX_QUOTED_LENGTH = 64
#: Key values are cut later: a key (``sha256:<64 hex>`` for binary ones) must stay whole to be searched for.
MAX_KEY_LENGTH = 128
WITHHELD = "(withheld: looks like an e-mail or IP address)"


def quoted(text: str | None, limit: int = MAX_QUOTED_LENGTH) -> str | None:
    """``text`` as a rejects line may show it: cut to ``limit`` characters, or withheld when it looks like
    an e-mail or IP address (a mis-mapped column can put one anywhere)."""
    if text is None:
        return None
    stripped = text.strip()
    if "@" in stripped or _is_ip_address(stripped):
        return WITHHELD
    return stripped if len(stripped) <= limit else stripped[:limit] + "…"


def quoted_value(value: Any) -> str | None:
    """A raw cell of a quotable column as text for a rejects line (bytes are described, not decoded)."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return f"({type(value).__name__} of {len(bytes(value))} bytes)"
    try:
        isoformat = getattr(value, "isoformat", None)  # a datetime reads as its ISO text would
        text = isoformat() if callable(isoformat) else str(value)
    except Exception:  # a hostile __str__: say what it was, not what it holds
        return f"({type(value).__name__})"
    return quoted(text)


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class RowRejected(Exception):
    """Raised inside the pure layer to abandon a row; :class:`EventBuilder` turns it into a Rejection.

    An exception rather than return values keeps the per-row path free of checks on the happy path,
    where speed is won; rejected rows are the rare case.
    """

    def __init__(self, code: RejectionCode, field: str | None, message: str) -> None:
        super().__init__(code, field, message)
        self.code = code
        self.field = field
        self.message = message
