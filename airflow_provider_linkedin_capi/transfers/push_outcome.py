"""What a push that stopped part-way says: what was delivered, what was not, and that a re-run is safe.

The counts come from the delivery, the rejections and the duplicate filter, so the message a user reads
in the failed task's log adds up to the rows read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiError

if TYPE_CHECKING:
    from airflow_provider_linkedin_capi.transfers.delivery import EventDelivery
    from airflow_provider_linkedin_capi.transfers.duplicates import DuplicateFilter
    from airflow_provider_linkedin_capi.transfers.rejects import RejectionLog

RERUN_IS_SAFE = (
    "Re-running the task is safe: eventIds are deterministic, so the same rows carry the same eventIds."
)


def stopped_after(
    delivery: EventDelivery, rejections: RejectionLog, rows_read: int, duplicates: DuplicateFilter
) -> str:
    """What had been delivered when the push stopped for a reason other than LinkedIn."""
    not_delivered = (
        rows_read
        - delivery.events_sent
        - delivery.already_delivered
        - duplicates.duplicate_rows
        - rejections.total
    )
    return (
        f"The push stopped after {delivery.events_sent} events were delivered in {delivery.batches} "
        f"batches and {rows_read} rows were read ({rejections.total} rejected, "
        f"{duplicates.duplicate_rows} repeating an earlier row's eventId, {delivery.already_delivered} "
        f"delivered by an earlier run); {not_delivered} valid rows read were not delivered, and rows not "
        f"yet read were not either. {RERUN_IS_SAFE}"
    )


def interrupted_by_linkedin(
    exc: Exception,
    delivery: EventDelivery,
    rejections: RejectionLog,
    rows_read: int,
    duplicates: DuplicateFilter,
) -> LinkedInCapiError:
    """The same kind of error, now saying what was and was not delivered before LinkedIn failed."""
    not_delivered = rows_read - delivery.events_sent - delivery.already_delivered - duplicates.duplicate_rows
    earlier = (
        f"{delivery.already_delivered} were delivered by an earlier run (ledger); "
        if delivery.already_delivered
        else ""
    )
    message = (
        f"LinkedIn failed after {delivery.events_sent} events were delivered in {delivery.batches} "
        f"batches: {exc}. {rows_read} rows were read; {earlier}{not_delivered} of them were not delivered "
        f"({rejections.total} rejected, the rest not sent or not accepted, and not counted as sent). "
        f"{RERUN_IS_SAFE}"
    )
    if isinstance(exc, LinkedInCapiError):
        return type(exc)(message, status=exc.status, code=exc.code)
    return LinkedInCapiError(message)
