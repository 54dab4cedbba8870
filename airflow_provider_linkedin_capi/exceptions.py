"""Errors raised by this provider.

They carry LinkedIn's status, code and message, never a request body: bodies hold hashed identifiers and
names, and Airflow shows exception text in the UI.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException


class LinkedInCapiError(AirflowException):
    """LinkedIn answered with an error that a retry of the same request will not fix, or retries ran out.

    ``delivered_before_failure`` is set when the error ended
    :func:`~airflow_provider_linkedin_capi.push.delivery.deliver_events`
    part-way: what LinkedIn had accepted and refused by then, so that nothing is counted twice or lost.
    It holds a :class:`~airflow_provider_linkedin_capi.push.delivery.DeliveryResult`; the annotation says
    ``object`` so that this module imports nothing of the package and any layer may raise these errors.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.delivered_before_failure: object | None = None


class LinkedInCapiConfigError(LinkedInCapiError, AirflowFailException, ValueError):
    """The connection is incomplete or malformed: no task retry can fix it, so the task fails at once."""


class LinkedInCapiAuthError(LinkedInCapiError, AirflowFailException):
    """The credentials are unusable (revoked/expired refresh token, bad client): fail without task retries."""


class LinkedInCapiVersionError(LinkedInCapiError, AirflowFailException):
    """LinkedIn no longer serves the requested ``LinkedIn-Version`` (HTTP 426)."""


class LinkedInCapiNotFoundError(LinkedInCapiError):
    """The rule, link or account does not exist for this token (HTTP 404)."""


class LinkedInCapiRedirectError(LinkedInCapiError):
    """The server answered 3xx; redirects are never followed, so nothing was re-sent anywhere."""


class LinkedInCapiResponseTooLargeError(LinkedInCapiError):
    """The server's answer exceeded :data:`MAX_RESPONSE_BYTES`."""


class LinkedInCapiUnreadableBatchAnswer(LinkedInCapiError):
    """A 200 BATCH_CREATE answer that does not say, element by element, what LinkedIn took.

    ``taken`` and ``refused`` hold what it does say for certain (indices into the batch sent).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        taken: tuple[int, ...] = (),
        refused: dict[int, str] | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.taken = taken
        self.refused = refused or {}


class BadArgumentError(AirflowFailException, ValueError):
    """A parameter that can never work: not worth a retry. Also a ValueError, as argument errors were."""


class PushKilledError(AirflowException):
    """The task was killed (``on_kill``) and the push stopped between batches; retries may run it again."""


class DuplicateRowError(AirflowFailException):
    """A repeated eventId under ``on_duplicate="fail"``: the query is wrong, so a retry would not help."""

    def __init__(self, row: int, event_id: str) -> None:
        super().__init__(
            f"Row {row} of the query result repeats eventId {event_id!r} of an earlier row (a JOIN that "
            "returns a conversion more than once, or key_columns that do not identify a row). "
            "on_duplicate='fail' stops here; with on_duplicate='send_once' the event is sent once and the "
            "repeats are counted as duplicate_rows."
        )
        self.row = row


class InvalidRowError(AirflowFailException):
    """An invalid row under ``on_invalid="fail"``; raised before any event was sent, and not worth a retry."""

    def __init__(self, row: int, rejection: Any) -> None:
        # rejection: a conversions.Rejection, not imported so that any layer may import this module
        field = f" in {rejection.field}" if rejection.field else ""
        super().__init__(
            f"Row {row} of the query result is invalid ({rejection.code}{field}: {rejection.message}). "
            "on_invalid='fail' stops at the first invalid row, before anything is sent: nothing was sent."
        )
        self.row = row
        self.rejection = rejection


class ConversionRuleSpecError(ValueError):
    """The requested rule settings can never be accepted; raised before any HTTP call."""


class KeyColumnError(AirflowFailException):
    """A ``key_columns`` value whose content cannot derive a stable eventId; the query must cast it."""

    def __init__(self, row: int, reason: str) -> None:
        super().__init__(
            f"Row {row} of the source: {reason}. The push stopped there; events of earlier rows may have "
            "been sent (the type of a column is usually the same in every row, so normally none were)."
        )
        self.row = row


class LedgerBusyError(AirflowFailException):
    """Another push holds the ledger's lease: sending now would send its rows a second time."""


class LinkedInCapiStoppedError(LinkedInCapiError):
    """The task was killed or timed out while a call waited to be retried: whether LinkedIn acted on the
    request is unknown, so a push records its events as in doubt."""
