"""What a push reports: its summary (the XCom value), and, when it stopped part-way, what was delivered,
what was not, and that a re-run is safe.

The counts come from the delivery, the rejections and the duplicate filter, so the summary and the message
a user reads in the failed task's log add up to the rows read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException

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


def push_summary(
    rows_read: int,
    delivery: EventDelivery,
    duplicates: DuplicateFilter,
    rejections: RejectionLog,
    rejects_path: str | None,
    *,
    dry_run: bool,
) -> dict[str, Any]:
    """The push's XCom value: counts, the event-time span and the rejects path, never row data."""
    return {
        "rows_read": rows_read,
        "events_sent": delivery.events_sent,
        "events_rejected": rejections.total,
        "rejections": dict(sorted(rejections.counts.items())),
        "batches": delivery.batches,
        "first_event_at": delivery.first_event_at,
        "last_event_at": delivery.last_event_at,
        "dry_run": dry_run,
        "rejects_path": rejects_path,
        "already_delivered": delivery.already_delivered,
        "duplicate_rows": duplicates.duplicate_rows,
    }


def check_rejected_fraction(summary: dict[str, Any], limit: float | None) -> None:
    """Fail the task (no retries: the same rows would be rejected again) above ``max_rejected_fraction``."""
    if limit is None or not summary["rows_read"]:
        return
    fraction = summary["events_rejected"] / summary["rows_read"]
    if fraction > limit:
        raise AirflowFailException(
            f"{fraction:.2%} of the rows were rejected, above max_rejected_fraction="
            f"{limit:g}. The valid events were sent. Summary: {summary}"
        )
