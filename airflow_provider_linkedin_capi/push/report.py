"""What a push tells: its summary, progress lines, metrics, the task state store, and why it stopped.

The counts come from the delivery, the rejections and the duplicate filter, so the summary, the progress
lines and the message a user reads in a failed task's log add up to the rows read. :class:`PushRecord` keeps
what asset events and OpenLineage read after the push, without calling LinkedIn.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSkipException

from airflow_provider_linkedin_capi import metrics
from airflow_provider_linkedin_capi.conversions import IDENTIFIER_KINDS
from airflow_provider_linkedin_capi.exceptions import LinkedInCapiError

if TYPE_CHECKING:
    from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
    from airflow_provider_linkedin_capi.push.delivery import EventDelivery, InFlightWindow
    from airflow_provider_linkedin_capi.push.files import RejectionLog

# ----------------------------------------------------------------------------------------------------
# Progress lines for long pushes, so a backfill that runs for an hour shows it is alive and how fast.
#
# The check runs once per fetched chunk, never per row, and logs only counts: no row ever reaches the log.


class ProgressReporter:
    """Logs rows read, sent and rejected plus the rate, at most once every ``interval_seconds``."""

    def __init__(
        self,
        log: logging.Logger,
        interval_seconds: float,
        *,
        verb: str = "sent",
        on_report: Callable[[int, int, int], None] | None = None,
    ) -> None:
        self.log = log
        #: Also told the counts at every progress line (e.g. to keep them in Airflow's task state store).
        self.on_report = on_report
        self.interval_seconds = interval_seconds
        self.verb = verb
        self.started = time.monotonic()
        self._next_report = self.started + interval_seconds

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def maybe_report(self, rows_read: int, events_sent: int, events_rejected: int) -> None:
        now = time.monotonic()
        if now < self._next_report:
            return
        self._next_report = now + self.interval_seconds
        elapsed = now - self.started
        self.log.info(
            "Progress: %d rows read, %d events %s, %d rejected, %.0f rows/s",
            rows_read,
            events_sent,
            self.verb,
            events_rejected,
            rows_read / elapsed if elapsed > 0 else 0.0,
        )
        if self.on_report is not None:
            self.on_report(rows_read, events_sent, events_rejected)

    def report_final(
        self, rows_read: int, events_sent: int, events_rejected: int, rejections: Mapping[str, int]
    ) -> None:
        elapsed = self.elapsed()
        by_code = ", ".join(f"{code}={count}" for code, count in sorted(rejections.items())) or "none"
        self.log.info(
            "Done in %.1f s: %d rows read, %d events %s, %d rejected (%s), %.0f rows/s",
            elapsed,
            rows_read,
            events_sent,
            self.verb,
            events_rejected,
            by_code,
            rows_read / elapsed if elapsed > 0 else 0.0,
        )


# ----------------------------------------------------------------------------------------------------
# A push's progress in Airflow's task state store, so that a retry knows where the last attempt stopped.
#
# Airflow 3.3 gives every task instance a small key-value store (``context["task_state_store"]``) that
# outlives a try: a retry of the same task instance reads what the failed try wrote. At each progress tick
# the push writes its counts there (rows read, events sent and rejected, batches, the time of the last
# batch); a retry logs them before it starts. Only counts and times go in: never a row, an id or a path.
#
# Airflow 3.1 and 3.2 have no such store, and a context built by hand (tests, ``operator.execute({})``) may
# lack it: then every method here does nothing. A store that fails (an API server that refuses the call) is
# given up for the rest of the push with one warning; progress bookkeeping must never fail a push.


#: The key the push's progress is stored under.
PROGRESS_KEY = "linkedin_capi.push_progress"


def _iso(epoch_seconds: float | None) -> str | None:
    if epoch_seconds is None:
        return None
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).isoformat(timespec="seconds")


class PushStateStore:
    """Reads the previous attempt's progress and writes this attempt's, when the store exists."""

    def __init__(self, context: Mapping[str, Any], log: logging.Logger) -> None:
        self.log = log
        self._store = context.get("task_state_store") if hasattr(context, "get") else None
        ti = context.get("ti") if hasattr(context, "get") else None
        self.try_number = getattr(ti, "try_number", None)

    @property
    def available(self) -> bool:
        return self._store is not None

    def previous_attempt(self) -> dict[str, Any] | None:
        """What an earlier try of this task instance recorded, or ``None``."""
        if self._store is None:
            return None
        try:
            value = self._store.get(PROGRESS_KEY)
        except Exception as error:
            self._give_up(error)
            return None
        return value if isinstance(value, dict) else None

    def log_previous_attempt(self, ledger_path: str | None) -> None:
        """On a retry, say in the task log where the previous attempt stopped, and what this one resends."""
        previous = self.previous_attempt()
        if not previous or previous.get("try_number") == self.try_number:
            return
        resent = (
            f"the ledger ({ledger_path}) leaves out every event it delivered"
            if ledger_path
            else f"without a ledger, the {previous.get('events_sent', '?')} events it delivered are sent "
            "again, with the same eventIds (set ledger_path, or [linkedin_capi] ledger_path)"
        )
        self.log.warning(
            "The previous attempt (try %s) stopped after %s rows read, %s events sent in %s batches and "
            "%s rejected; its last batch went out at %s. This attempt starts from the first row again: "
            + resent.replace("%", "%%")
            + ".",
            previous.get("try_number", "?"),
            previous.get("rows_read", "?"),
            previous.get("events_sent", "?"),
            previous.get("batches", "?"),
            previous.get("events_rejected", "?"),
            previous.get("last_batch_at") or "never",
        )

    def record(
        self,
        *,
        rows_read: int,
        events_sent: int,
        events_rejected: int,
        batches: int,
        last_batch_at: float | None,
        finished: bool = False,
    ) -> None:
        """Overwrite the stored progress with this attempt's counts."""
        if self._store is None:
            return
        value = {
            "try_number": self.try_number,
            "rows_read": rows_read,
            "events_sent": events_sent,
            "events_rejected": events_rejected,
            "batches": batches,
            "last_batch_at": _iso(last_batch_at),
            "updated_at": _iso(time.time()),
            "finished": finished,
        }
        try:
            self._store.set(PROGRESS_KEY, value)
        except Exception as error:
            self._give_up(error)

    def _give_up(self, error: Exception) -> None:
        self.log.warning(
            "The task state store failed (%s: %s); the push's progress is not recorded there this attempt",
            type(error).__name__,
            error,
        )
        self._store = None


# ----------------------------------------------------------------------------------------------------
# What a push tells the platform besides its XCom summary: Airflow metrics and task-state-store progress.
#
# One object per push. The operator hands it the delivery and the rejection log once they exist; the
# progress reporter calls :meth:`PushTelemetry.tick` at each progress line; :meth:`PushTelemetry.finish`
# runs once, however the push ends, so a push that fails half-way still counts what it delivered.


class PushTelemetry:
    """Counts for the metrics backend and progress for the task state store, for one push."""

    def __init__(self, context: Mapping[str, Any], log: logging.Logger, *, dry_run: bool) -> None:
        self.dry_run = dry_run
        self.state = PushStateStore(context, log)
        self.started = time.monotonic()
        self.delivery: EventDelivery | None = None
        self.rejections: RejectionLog | None = None
        self.rows_read = 0
        self._finished = False

    def begin(self, ledger_path: str | None) -> None:
        """Log where a previous attempt of this task instance stopped, if one did."""
        self.state.log_previous_attempt(ledger_path)

    def watch(self, delivery: EventDelivery, rejections: RejectionLog) -> None:
        self.delivery = delivery
        self.rejections = rejections

    def tick(self, rows_read: int, events_sent: int, events_rejected: int) -> None:
        """A progress tick: store the counts so far (a no-op without a task state store)."""
        self.rows_read = rows_read
        self._record(finished=False)

    def finish(self, outcome: str, rows_read: int | None = None) -> None:
        """Emit the push's metrics and store its final counts; only the first call counts."""
        if self._finished:
            return
        self._finished = True
        if rows_read is not None:
            self.rows_read = rows_read
        delivery, rejections = self.delivery, self.rejections
        # A dry run sends nothing; counting its events would double-count them with the real run.
        if not self.dry_run and delivery is not None:
            metrics.count_sent(delivery.events_sent, delivery.batches)
            metrics.count_identifiers(delivery.identifier_coverage)
        if not self.dry_run and rejections is not None:
            metrics.count_rejected(rejections.counts)
        metrics.time_push(time.monotonic() - self.started, outcome)
        self._record(finished=outcome == "success")

    def _record(self, *, finished: bool) -> None:
        if not self.state.available:
            return
        delivery, rejections = self.delivery, self.rejections
        self.state.record(
            rows_read=self.rows_read,
            events_sent=delivery.events_sent if delivery is not None else 0,
            events_rejected=rejections.total if rejections is not None else 0,
            batches=delivery.batches if delivery is not None else 0,
            last_batch_at=getattr(delivery, "last_batch_at", None),
            finished=finished,
        )


# ----------------------------------------------------------------------------------------------------
# What a push reports: its summary (the XCom value), and, when it stopped part-way, what was delivered,
# what was not, and that a re-run is safe.
#
# The counts come from the delivery, the rejections and the duplicate filter, so the summary and the message
# a user reads in the failed task's log add up to the rows read.


def rerun_note(delivery: EventDelivery) -> str:
    """What a re-run of the task would send again: nothing LinkedIn accepted with a ledger, else all of it.

    Whether LinkedIn deduplicates two events with one eventId is UNKNOWN, so without a ledger a re-run is
    never called safe.
    """
    if delivery.ledger is not None:
        return (
            f"A re-run with the same ledger ({delivery.ledger.path}) sends none of the events LinkedIn "
            "accepted; eventIds are deterministic, so the same rows carry the same eventIds."
        )
    return (
        f"There is no delivery ledger, so a re-run sends the {delivery.events_sent} delivered events again "
        "(with the same eventIds; whether LinkedIn deduplicates them is UNKNOWN): set the operator's "
        "ledger_path, or [linkedin_capi] ledger_path for the deployment, before retrying."
    )


def stopped_after(
    delivery: EventDelivery, rejections: RejectionLog, rows_read: int, duplicate_rows: int
) -> str:
    """What had been delivered when the push stopped for a reason other than LinkedIn."""
    not_delivered = (
        rows_read - delivery.events_sent - delivery.already_delivered - duplicate_rows - rejections.total
    )
    return (
        f"The push stopped after {delivery.events_sent} events were delivered in {delivery.batches} "
        f"batches and {rows_read} rows were read ({rejections.total} rejected, "
        f"{duplicate_rows} repeating an earlier row's eventId, {delivery.already_delivered} "
        f"delivered by an earlier run); {not_delivered} valid rows read were not delivered, and rows not "
        f"yet read were not either.{_in_doubt_note(delivery)} {rerun_note(delivery)}"
    )


def _in_doubt_note(delivery: EventDelivery) -> str:
    """The events this try sent but never heard back about, if any."""
    if not delivery.in_doubt:
        return ""
    where = (
        "recorded as in doubt in the ledger" if delivery.ledger is not None else "not recorded (no ledger)"
    )
    return (
        f" Of those, {delivery.in_doubt} were on their way when the task stopped and LinkedIn had not "
        f"answered: they are in doubt ({where}); a retry sends them again, and they are the only events "
        "LinkedIn may then hold twice (on_in_doubt='skip' leaves them out instead)."
    )


def interrupted_by_linkedin(
    exc: Exception,
    delivery: EventDelivery,
    rejections: RejectionLog,
    rows_read: int,
    duplicate_rows: int,
) -> LinkedInCapiError:
    """The same kind of error, now saying what was and was not delivered before LinkedIn failed."""
    not_delivered = rows_read - delivery.events_sent - delivery.already_delivered - duplicate_rows
    earlier = (
        f"{delivery.already_delivered} were delivered by an earlier run (ledger); "
        if delivery.already_delivered
        else ""
    )
    message = (
        f"LinkedIn failed after {delivery.events_sent} events were delivered in {delivery.batches} "
        f"batches: {exc}. {rows_read} rows were read; {earlier}{not_delivered} of them were not delivered "
        f"({rejections.total} rejected, the rest not sent or not accepted, and not counted as sent). "
        f"{rerun_note(delivery)}"
    )
    if isinstance(exc, LinkedInCapiError):
        return type(exc)(message, status=exc.status, code=exc.code)
    return LinkedInCapiError(message)


def push_summary(
    rows_read: int,
    delivery: EventDelivery,
    duplicate_rows: int,
    rejections: RejectionLog,
    rejects_path: str | None,
    *,
    dry_run: bool,
    rule_has_campaigns: bool | None,
    window: InFlightWindow | None = None,
) -> dict[str, Any]:
    """The push's XCom value: counts, the event-time span and the rejects path, never row data.

    ``rule_has_campaigns`` is False when a rule the events went to credits no campaign (see the rule gate).
    ``window`` gives ``in_flight_window`` (the range of batches in flight it allowed, the most at once, the
    429s met) and ``batch_seconds`` (median and p95 of LinkedIn's time per batch; ``None`` if none was sent).
    """
    sizing = window.summary() if window is not None else {"in_flight_window": None, "batch_seconds": None}
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
        "resent_in_doubt": delivery.resent_in_doubt,
        "skipped_in_doubt": delivery.skipped_in_doubt,
        "duplicate_rows": duplicate_rows,
        "rule_has_campaigns": rule_has_campaigns,
        "identifier_coverage": {kind: delivery.identifier_coverage[kind] for kind in IDENTIFIER_KINDS},
        "in_flight_window": sizing["in_flight_window"],
        "batch_seconds": sizing["batch_seconds"],
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


# ----------------------------------------------------------------------------------------------------
# What one push did, kept on the operator for its asset events and its OpenLineage facets.
#
# The OpenLineage listener asks the operator for facets after ``execute`` returned or raised, in the same
# process; it must not call LinkedIn, so everything it needs (the API host and version, the ad account, the
# events sent per rule so far) is recorded here while the push runs.


#: Summary keys that go into an asset event's ``extra``: counts and times, never a path or a row value.
ASSET_EXTRA_KEYS = (
    "rows_read",
    "events_sent",
    "events_rejected",
    "rejections",
    "batches",
    "already_delivered",
    "duplicate_rows",
    "resent_in_doubt",
    "skipped_in_doubt",
    "identifier_coverage",
    "first_event_at",
    "last_event_at",
    "dry_run",
)


@dataclass
class PushRecord:
    base_url: str | None
    api_version: str | None
    account: str | None
    dry_run: bool
    delivery: EventDelivery
    #: The task's summary, once the push finished; ``None`` while it runs or after it failed.
    summary: dict[str, Any] | None = None

    @classmethod
    def start(cls, hook: LinkedInCapiHook, delivery: EventDelivery, *, dry_run: bool) -> PushRecord:
        """The record of a push through ``hook``, whose connection is read as stored (no call to LinkedIn).

        A connection that cannot be read is the push's to report, when it needs it (a dry run whose rows
        name no rule never does); the record then names no API host or account.
        """
        try:
            config = hook.config
        except Exception:
            return cls(None, None, None, dry_run=bool(dry_run), delivery=delivery)
        return cls(config.base_url, config.api_version, config.ad_account_id, bool(dry_run), delivery)

    def sent_per_rule(self) -> dict[str, int]:
        """Events sent (or, in a dry run, that would have been) per conversion rule URN, so far."""
        return dict(self.delivery.sent_per_rule)

    def asset_extra(self, rule_urn: str) -> dict[str, Any]:
        """The run's counts and event-time span, plus the events that went to ``rule_urn``."""
        summary = self.summary or {}
        extra = {key: summary.get(key) for key in ASSET_EXTRA_KEYS}
        extra["rule_events_sent"] = self.delivery.sent_per_rule.get(rule_urn, 0)
        return extra


# What a push does when its source held no row at all (``on_empty``): an empty result is normal for some
# sources (a quiet Sunday) and a sign of breakage for others (an export that did not land, a wrong data
# interval). ``"fail"`` fails without retries, since a retry would read the same nothing.


def data_interval(context: Mapping[str, Any]) -> str:
    """The run's data interval as text, or a note that the run has none."""
    start = context.get("data_interval_start") if hasattr(context, "get") else None
    end = context.get("data_interval_end") if hasattr(context, "get") else None
    if start is None and end is None:
        return "no data interval"
    return f"data interval {_text(start)} to {_text(end)}"


def _text(value: Any) -> str:
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if callable(isoformat) else str(value)


def handle_empty_result(
    on_empty: str, *, source: str, context: Mapping[str, Any], log: logging.Logger
) -> None:
    """Act on a push that read no row; ``source`` names where the rows came from (e.g. a connection)."""
    where = f"{source}, {data_interval(context)}"
    if on_empty == "fail":
        raise AirflowFailException(
            f"The query returned no rows ({where}) and on_empty='fail'. Nothing was sent."
        )
    if on_empty == "skip":
        raise AirflowSkipException(f"The query returned no rows ({where}); on_empty='skip'.")
    log.warning(
        "The query returned no rows (%s); nothing was sent (on_empty='succeed'; 'skip' or 'fail' would "
        "stop the run here)",
        where,
    )


# ----------------------------------------------------------------------------------------------------
# Identifier coverage: how many events carried each kind of identifier, against the previous run.
#
# A CRM export that loses its e-mail column still "succeeds", and LinkedIn's match rate falls with no
# signal until the campaign reports look wrong, days later. The push counts, per kind, the events LinkedIn
# took, and compares each kind's share of the events with the previous successful run of the same task
# (its summary in XCom). A share that fell by more than ``coverage_drop_warning`` percentage points is
# named in a warning, or, with ``on_coverage_drop="fail"``, fails the push before its first batch is sent:
# the shares are then measured on that first batch (up to ``batch_size`` events), which is enough to see a
# column that went empty without reading the whole source twice.


def coverage_shares(coverage: Mapping[str, int], events: int) -> dict[str, float]:
    """Each kind's share of ``events``, in percent."""
    return {kind: 100.0 * count / events for kind, count in coverage.items()} if events else {}


def coverage_line(coverage: Mapping[str, int], events: int) -> str:
    """``SHA256_EMAIL 92%, userInfo 41%`` for the kinds any event carried, largest first."""
    shares = coverage_shares(coverage, events)
    found = sorted(((share, kind) for kind, share in shares.items() if share), reverse=True)
    return ", ".join(f"{kind} {share:.0f}%" for share, kind in found) or "none"


def previous_coverage(context: Mapping[str, Any]) -> tuple[dict[str, int], int] | None:
    """(coverage, events sent) of the previous successful run of this task, from its summary in XCom."""
    ti = context.get("ti") if hasattr(context, "get") else None
    if ti is None:
        return None
    try:
        summary = ti.xcom_pull(
            task_ids=ti.task_id, include_prior_dates=True, map_indexes=getattr(ti, "map_index", -1)
        )
    except Exception:  # no metadata to ask (a test run, an unreachable API server): nothing to compare
        return None
    if isinstance(summary, list):  # some XCom backends answer a list even for one map index
        summary = summary[-1] if summary else None
    if not isinstance(summary, Mapping):
        return None
    coverage, events = summary.get("identifier_coverage"), summary.get("events_sent")
    if not isinstance(coverage, Mapping) or not isinstance(events, int) or events <= 0:
        return None
    return {str(kind): int(count) for kind, count in coverage.items() if isinstance(count, int)}, events


def coverage_drops(
    previous: tuple[Mapping[str, int], int], current: Mapping[str, int], events: int, threshold: float
) -> list[str]:
    """The kinds whose share fell by more than ``threshold`` points, as ``SHA256_EMAIL 95% -> 3%``."""
    if not events:
        return []
    before = coverage_shares(*previous)
    after = coverage_shares(current, events)
    return [
        f"{kind} {share:.0f}% -> {after.get(kind, 0.0):.0f}%"
        for kind, share in sorted(before.items())
        if share - after.get(kind, 0.0) > threshold
    ]
