"""Why a row was not sent: the stable codes users count, alert on and grep their rejects files for.

The codes are part of the public interface (README "Rejection codes"): they appear in the task summary and in
every line of the rejects file, so they never change spelling. Messages are for humans and may improve,
but they never quote a row's raw values: a rejects file must be safe to share with whoever debugs the
sync, so an e-mail, a name or any other identifier can only appear hashed (``sha256_email``), never in
``message``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


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
