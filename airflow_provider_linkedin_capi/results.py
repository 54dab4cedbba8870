"""What LinkedIn made of the events sent to it, as plain values.

Kept apart from the hook and the transfer, and importing nothing of the package, so that the errors
(which carry a partial :class:`DeliveryResult`), the hook (which answers with a :class:`BatchResult`) and
the delivery policy can all name them without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class BatchResult:
    """LinkedIn's answer to one BATCH_CREATE.

    A 400 or 422 is returned here rather than raised: it is a data problem in some elements, which the
    caller resolves (see :func:`~airflow_provider_linkedin_capi.transfers.batch_delivery.deliver_events`).

    :param status: HTTP status of the batch.
    :param accepted: elements LinkedIn accepted.
    :param errors: element index -> LinkedIn's text for it (from a 422, a 400 naming ``indices``, or
        per-element statuses of a 200).
    :param message: LinkedIn's message when it rejected the batch without naming any element.
    :param retryable: indices whose per-element status in a 200 is 429 or 5xx: not taken, worth resending.
    """

    status: int
    accepted: int
    errors: dict[int, str] = field(default_factory=dict)
    message: str | None = None
    retryable: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and not self.errors and not self.retryable


@dataclass(frozen=True)
class DeliveryResult:
    """Outcome of delivering a sequence of events, indices referring to the caller's sequence.

    :param unsent: indices neither accepted nor refused, because LinkedIn failed before they were (only on
        the result carried by a :class:`~airflow_provider_linkedin_capi.exceptions.LinkedInCapiError` as
        ``delivered_before_failure``).
    """

    accepted: int
    rejected: dict[int, str]
    requests: int
    unsent: tuple[int, ...] = ()
