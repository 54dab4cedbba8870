"""The push engine: rows from a source to LinkedIn, with no operator around it.

:class:`ConversionPush` runs one push. Both push operators and ``push_dataframe()`` build one and call
:meth:`ConversionPush.run`; ``on_kill`` calls :meth:`ConversionPush.request_stop`. Its steps are wired in
one place, :meth:`ConversionPush._deliver`::

    source rows -> RowPipeline (conversions/: event or rejection; rule gate) -> DuplicateFilter
        -> EventSpool (on_invalid="fail": every row checked before anything is sent) or directly
        -> InFlightWindow -> EventDelivery (ledger, settling) -> LinkedInCapiHook -> LinkedIn

and everything a push tells afterwards (its summary, the rejects file, metrics, the task state store, the
record that asset events and lineage read) comes from the counts those parts keep.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import requests
from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSkipException

from airflow_provider_linkedin_capi.constants import CONFIG_SECTION, DEFAULT_MAX_IN_FLIGHT
from airflow_provider_linkedin_capi.conversions import ConversionSettings, EventBuilder
from airflow_provider_linkedin_capi.exceptions import LinkedInCapiError, PushKilledError
from airflow_provider_linkedin_capi.hooks.linkedin_capi import json_body
from airflow_provider_linkedin_capi.push.delivery import EventDelivery, InFlightWindow, identifier_kinds
from airflow_provider_linkedin_capi.push.files import EventSpool, RejectionLog
from airflow_provider_linkedin_capi.push.pipeline import (
    BatchSink,
    ConversionRuleGate,
    DuplicateFilter,
    RowPipeline,
    batches_per_rule,
)
from airflow_provider_linkedin_capi.push.report import (
    ProgressReporter,
    PushRecord,
    PushTelemetry,
    check_rejected_fraction,
    coverage_drops,
    coverage_line,
    handle_empty_result,
    interrupted_by_linkedin,
    previous_coverage,
    push_summary,
    stopped_after,
)

if TYPE_CHECKING:
    from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
    from airflow_provider_linkedin_capi.push.files import DeliveryLedger
    from airflow_provider_linkedin_capi.push.options import PushOptions
    from airflow_provider_linkedin_capi.push.sources import RowSource

#: What a stop asked for by ``on_kill`` (SIGTERM, a timeout, a task marked failed) says.
STOP_REASON = "The task was asked to stop (SIGTERM); no new batch was started"

# Allocations between young-generation collections during the push (CPython's default is 700).
_PUSH_GEN0_THRESHOLD = 50_000


class ConversionPush:
    """One push of ``source``'s rows through ``hook``, as ``options`` say; run it once.

    :param options: the push's arguments, validated here (a mistake raises ``BadArgumentError``).
    :param source: where the rows come from (:class:`~airflow_provider_linkedin_capi.push.sources.SqlSource`,
        :class:`~airflow_provider_linkedin_capi.push.sources.TableSource`).
    :param hook: the LinkedIn hook the batches go through; the push closes it when it ends.
    :param context: the running task's context (its task state store keeps the progress, its data
        interval names an empty result); ``{}`` outside a task.
    :param log: where progress and warnings go (the task's logger).
    """

    def __init__(
        self,
        options: PushOptions,
        source: RowSource,
        hook: LinkedInCapiHook,
        *,
        context: Mapping[str, Any] | None = None,
        log: logging.Logger | Any = None,
    ) -> None:
        self.options = options.validate()
        self.source = source
        self.hook = hook
        self.context: Mapping[str, Any] = context if context is not None else {}
        self.log = log if log is not None else logging.getLogger(__name__)
        #: What the push did so far, for asset events and OpenLineage; ``None`` until delivery starts.
        self.record: PushRecord | None = None
        self._stop_reason: str | None = None
        self._window: InFlightWindow | None = None
        self._builder: EventBuilder | None = None
        #: (coverage, events sent) of this task's previous successful run, read when the push starts.
        self._previous_coverage: tuple[dict[str, int], int] | None = None
        #: Where the delivery ledger lives: the ``ledger_path`` option, else the deployment's default.
        self.ledger_path = self.options.ledger_path or deployment_ledger_path(self.context)

    def request_stop(self, reason: str = STOP_REASON) -> None:
        """Start no new batch and stop every retry; the answers on the wire get about 3 s, what stays
        unanswered is recorded as in doubt, then :meth:`run` raises ``PushKilledError``.

        Safe to call from a signal handler (Airflow calls ``on_kill`` from its SIGTERM handler): it only sets
        flags.
        """
        self._stop_reason = reason
        self.hook.request_stop()
        window = self._window
        if window is not None:
            window.request_stop(reason)

    def run(self) -> dict[str, Any]:
        """Push every row; returns the summary (counts only, never row data). See the operators' docs."""
        telemetry = PushTelemetry(self.context, self.log, dry_run=bool(self.options.dry_run))
        outcome = "failed"
        try:
            telemetry.begin(self.ledger_path)
            summary = self._run(telemetry)
            outcome = "success"
            if not summary["rows_read"]:
                handle_empty_result(
                    self.options.on_empty, source=self.source.description, context=self.context, log=self.log
                )
        except AirflowSkipException:
            outcome = "skipped"
            raise
        except BaseException:
            outcome = "failed"
            raise
        finally:
            telemetry.finish(outcome)
        return summary

    def _run(self, telemetry: PushTelemetry) -> dict[str, Any]:
        options = self.options
        hook = self.hook
        settings = options.conversion_settings(hook.api_version, hook.config.identifier_versions)
        self._previous_coverage = previous_coverage(self.context)
        ledger: DeliveryLedger | None = None
        try:
            max_in_flight = options.max_in_flight or hook.config.max_in_flight or DEFAULT_MAX_IN_FLIGHT
            rules = ConversionRuleGate(hook, options.max_distinct_rules, self.log)
            if options.conversion_rule_id not in (None, ""):
                rules.require(options.conversion_rule_id)
            self.source.check(self.log)
            progress = ProgressReporter(
                self.log,
                options.progress_interval_seconds,
                verb="would be sent" if options.dry_run else "sent",
                on_report=telemetry.tick,
            )
            ledger = self._open_ledger()
            with RejectionLog(options.rejects_path) as rejections:
                delivery = EventDelivery(
                    hook, rejections, dry_run=options.dry_run, ledger=ledger, on_in_doubt=options.on_in_doubt
                )
                self.record = PushRecord.start(hook, delivery, dry_run=options.dry_run)
                telemetry.watch(delivery, rejections)
                pipeline = RowPipeline(
                    rules,
                    rejections,
                    progress,
                    batch_size=options.batch_size,
                    # The spool keeps rows in query order; per-rule batches are formed when it is read back.
                    batch_per_rule=options.batch_per_rule and options.on_invalid != "fail",
                    stop_on_invalid=options.on_invalid == "fail",
                    count_sent=lambda: delivery.events_sent,
                )
                duplicates = self._deliver(settings, pipeline, delivery, progress, max_in_flight)
        finally:
            if ledger is not None:
                ledger.close()
            hook.close()
        summary = push_summary(
            pipeline.rows_read,
            delivery,
            duplicates.duplicate_rows,
            rejections,
            options.rejects_path and str(options.rejects_path),
            dry_run=bool(options.dry_run),
            rule_has_campaigns=rules.rule_has_campaigns,
            window=self._window,
        )
        self.record.summary = summary
        telemetry.rows_read = pipeline.rows_read
        progress.report_final(
            summary["rows_read"], summary["events_sent"], summary["events_rejected"], summary["rejections"]
        )
        if duplicates.duplicate_rows:
            self.log.warning(
                "Left out %d row(s) that repeated the eventId of an earlier row (sent once each): the query "
                "returns some conversions more than once, or key_columns do not identify a row",
                duplicates.duplicate_rows,
            )
        if delivery.resent_in_doubt:
            self.log.warning(
                "Sent again %d event(s) an earlier try left in doubt (killed before LinkedIn answered); "
                "LinkedIn may now hold them twice (on_in_doubt='resend')",
                delivery.resent_in_doubt,
            )
        if delivery.skipped_in_doubt:
            self.log.warning(
                "Left out %d event(s) an earlier try left in doubt; LinkedIn may never have received them "
                "(on_in_doubt='skip')",
                delivery.skipped_in_doubt,
            )
        if summary["events_sent"]:
            self.log.info(
                "Identifier coverage of the %d event(s) sent: %s",
                summary["events_sent"],
                coverage_line(summary["identifier_coverage"], summary["events_sent"]),
            )
        if self._previous_coverage is not None and not options.dry_run:
            drops = coverage_drops(
                self._previous_coverage,
                summary["identifier_coverage"],
                summary["events_sent"],
                options.coverage_drop_warning,
            )
            if drops:
                self.log.warning(
                    "Identifier coverage fell against the previous run of this task: %s (more than %g "
                    "points). LinkedIn will match fewer of these conversions; check the query's identifier "
                    "columns",
                    "; ".join(drops),
                    options.coverage_drop_warning,
                )
        if self._builder is not None and self._builder.dropped_id_types:
            refused = self._builder.refused_id_types
            for id_type, rows in sorted(self._builder.dropped_id_types.items()):
                self.log.warning(
                    "Sent %d event(s) without their %s, which LinkedIn-Version %s does not take (%s: %s; the "
                    "connection extra identifier_versions overrides it); rows with no other identifier were "
                    "rejected as unsupported_in_api_version",
                    rows,
                    id_type,
                    settings.api_version,
                    refused[id_type].label,
                    refused[id_type].source,
                )
        if delivery.already_delivered:
            self.log.info(
                "Left out %d event(s) that an earlier run delivered (ledger %s)",
                delivery.already_delivered,
                self.ledger_path,
            )
        check_rejected_fraction(summary, options.max_rejected_fraction)
        return summary

    def _deliver(
        self,
        settings: ConversionSettings,
        pipeline: RowPipeline,
        delivery: EventDelivery,
        progress: ProgressReporter,
        max_in_flight: int | str,
    ) -> DuplicateFilter:
        """Read, validate and deliver every row: the engine's steps, wired here and nowhere else.

        Rows go through the pipeline to the duplicate filter, then either straight to the in-flight window,
        or (``on_invalid="fail"``) to a spool that is sent only once every row proved valid. Before each batch
        a stop request is honoured: the batches in flight are settled (counted, written to the ledger) and
        the push stops there. Returns the duplicate filter, whose counts the summary uses.
        """
        options = self.options
        validate_first = options.on_invalid == "fail"
        rejections = pipeline.rejections
        window = self._window = InFlightWindow(
            delivery, max_in_flight, requests_per_minute=self.hook.requests_per_minute
        )
        if self._stop_reason is not None:  # asked to stop before the window existed
            window.request_stop(self._stop_reason)
        duplicates: DuplicateFilter | None = None
        try:
            spool_or_none = EventSpool() if validate_first else nullcontext()
            with window, collector_paused_for_old_objects(), spool_or_none as spool:
                first_sink = spool.write if spool is not None else window.submit
                if options.on_coverage_drop == "fail" and self._previous_coverage is not None:
                    first_sink = self._coverage_checked(first_sink)
                duplicates = DuplicateFilter(first_sink, fail=options.on_duplicate == "fail")
                with self.source.open(options.batch_size) as stream:
                    builder = self._event_builder(stream.columns, settings)
                    delivery.possible_kinds = builder.possible_kinds
                    pipeline.run(builder, stream.chunks(), self._unless_stopped(duplicates))
                if spool is not None:
                    self.log.info("All %d rows are valid; sending them", pipeline.rows_read)
                    batches = spool.batches(options.batch_size)
                    if options.batch_per_rule:
                        batches = batches_per_rule(batches, options.batch_size)
                    deliver = self._unless_stopped(window.submit)
                    for events, rows in batches:
                        deliver(events, rows)
                        progress.maybe_report(pipeline.rows_read, delivery.events_sent, rejections.total)
                window.finish()
            if delivery.batches and not options.dry_run:
                self.log.info(
                    "Sent %d batch(es), at most %d at once (%s)",
                    delivery.batches,
                    window.most_in_flight,
                    window.describe(),
                )
        except (LinkedInCapiError, requests.RequestException) as exc:
            raise interrupted_by_linkedin(
                exc, delivery, rejections, pipeline.rows_read, _duplicate_rows(duplicates)
            ) from exc
        except PushKilledError as exc:
            stopped = stopped_after(delivery, rejections, pipeline.rows_read, _duplicate_rows(duplicates))
            self.log.error("The push was asked to stop (task killed). %s", stopped)
            exc.add_note(stopped)
            raise
        except Exception as exc:
            # Typically the database: with a streaming cursor, a bad cast or a lost connection surfaces
            # only at a later fetch, after earlier batches went out. Say what had been delivered.
            if delivery.batches:
                stopped = stopped_after(delivery, rejections, pipeline.rows_read, _duplicate_rows(duplicates))
                self.log.error("%s (%s; its message follows in the traceback)", stopped, type(exc).__name__)
                exc.add_note(stopped)
            raise
        return duplicates

    def _coverage_checked(self, sink: BatchSink) -> BatchSink:
        """``sink``, failing the push at its first batch if an identifier kind's share fell too far
        (``on_coverage_drop="fail"``): nothing has been sent then, and the first batch is the sample."""
        checked = False

        def check_first(events: list[dict[str, Any]], rows: Sequence[int]) -> None:
            nonlocal checked
            if not checked:
                checked = True
                assert self._previous_coverage is not None
                kinds = identifier_kinds(json_body({"elements": events}))
                drops = coverage_drops(
                    self._previous_coverage, kinds, len(events), self.options.coverage_drop_warning
                )
                if drops:
                    raise AirflowFailException(
                        f"Identifier coverage fell against the previous run, measured on the first "
                        f"{len(events)} event(s): {'; '.join(drops)} (more than "
                        f"{self.options.coverage_drop_warning:g} points; on_coverage_drop='fail'). A column "
                        "the query used to fill may be empty or missing. Nothing was sent."
                    )
            sink(events, rows)

        return check_first

    def _unless_stopped(self, sink: BatchSink) -> BatchSink:
        """``sink``, refusing the next batch once a stop was requested."""

        def guarded(events: list[dict[str, Any]], rows: Sequence[int]) -> None:
            if self._stop_reason is not None:
                raise PushKilledError("The task was killed; the push stopped before its next batch")
            sink(events, rows)

        return guarded

    def _open_ledger(self) -> DeliveryLedger | None:
        if not self.ledger_path:
            return None
        from airflow_provider_linkedin_capi.push.files import DeliveryLedger

        ledger = DeliveryLedger.leased(str(self.ledger_path), self.log)
        self.log.info("The delivery ledger holds %d eventId(s) already delivered", ledger.loaded)
        return ledger

    def _event_builder(self, columns: list[str], settings: ConversionSettings) -> EventBuilder:
        try:
            builder = EventBuilder(columns, settings)
        except ValueError as error:
            raise AirflowFailException(f"The query cannot become conversions: {error}") from None
        if builder.ignored_columns:
            self.log.info(
                "Ignoring %d column(s) outside the conversion column contract: %s",
                len(builder.ignored_columns),
                ", ".join(builder.ignored_columns),
            )
        if settings.hash_ip_address and not builder.hashes_ip_address:
            self.log.warning(
                "hash_ip_address is set, but LinkedIn-Version %s does not take SHA256_IP_ADDRESS (202607 and "
                "later, THIRD-PARTY): ip_address is sent as PLAINTEXT_IP_ADDRESS",
                settings.api_version,
            )
        self._builder = builder
        return builder


def deployment_ledger_path(context: Mapping[str, Any]) -> str | None:
    """``[linkedin_capi] ledger_path``/<dag_id>/<task_id>/<map_index> for the running task; ``None``
    when the deployment sets none, or outside a task (``map_index`` is -1 for a task that is not mapped).

    One folder per task, not per run: eventIds are deterministic, so a later interval's rows have other
    ids, and a re-run or a backfill of an interval finds what was delivered for it.
    """
    from airflow.providers.common.compat.sdk import conf

    base = (conf.get(CONFIG_SECTION, "ledger_path", fallback="") or "").strip()
    ti = context.get("ti") if hasattr(context, "get") else None
    if not base or ti is None:
        return None
    map_index = getattr(ti, "map_index", -1)
    return f"{base.rstrip('/')}/{ti.dag_id}/{ti.task_id}/{-1 if map_index is None else map_index}"


def _duplicate_rows(duplicates: DuplicateFilter | None) -> int:
    return 0 if duplicates is None else duplicates.duplicate_rows


@contextmanager
def collector_paused_for_old_objects() -> Iterator[None]:
    """Keep Python's cyclic garbage collector out of the push's hot loop; undone afterwards.

    Every event is a handful of small dicts and lists, so a push allocates millions of container objects,
    and each full collection walks every object the task process holds, most of them Airflow's own modules
    and settings (docs/benchmarks.md measures what that costs). Events form no reference cycles, so
    reference counting frees them either way: freezing the objects that exist now only stops the collector
    from re-examining them, and the young generation is collected rarely.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(thresholds[0], _PUSH_GEN0_THRESHOLD), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
