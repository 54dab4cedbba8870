"""Errors raised by this provider.

They carry LinkedIn's status, code and message, never a request body: bodies hold hashed identifiers and
names, and Airflow shows exception text in the UI.
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException


class LinkedInCapiError(AirflowException):
    """LinkedIn answered with an error that a retry of the same request will not fix, or retries ran out.

    ``delivered_before_failure`` is set when the error ended
    :func:`~airflow_provider_linkedin_capi.transfers.batch_delivery.deliver_events`
    part-way: what LinkedIn had accepted and refused by then, so that nothing is counted twice or lost.
    It holds a :class:`~airflow_provider_linkedin_capi.results.DeliveryResult`; the annotation says
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
