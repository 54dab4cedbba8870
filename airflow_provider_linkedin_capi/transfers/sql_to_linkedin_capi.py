"""``SqlToLinkedInCapiOperator``: one task runs a SQL query and delivers its rows to LinkedIn as conversions.

The operator only wires Airflow to the layers below it: the query streams from any ``DbApiHook``
(:mod:`.row_source`), rows become events or rejections in the pure layer
(:mod:`airflow_provider_linkedin_capi.conversions`) inside a lean loop (:mod:`.pipeline`), batches go to
LinkedIn through :class:`~airflow_provider_linkedin_capi.hooks.linkedin_capi.LinkedInCapiHook`
(:mod:`.delivery`), rejected rows are explained in a rejects file (:mod:`.rejects`) and only a small
summary of counts reaches XCom.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

import requests
from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSkipException
from airflow.sdk import BaseOperator

from airflow_provider_linkedin_capi.constants import LINKEDIN_BLUE, MAX_BATCH_SIZE
from airflow_provider_linkedin_capi.conversions import ConversionSettings, EventBuilder
from airflow_provider_linkedin_capi.exceptions import LinkedInCapiError
from airflow_provider_linkedin_capi.hooks.connection_config import DEFAULT_MAX_IN_FLIGHT, in_flight_limit
from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
from airflow_provider_linkedin_capi.links.campaign_manager import (
    LinkedInCampaignManagerLink,
    remember_rule_page,
)
from airflow_provider_linkedin_capi.transfers.delivery import EventDelivery
from airflow_provider_linkedin_capi.transfers.duplicates import ON_DUPLICATE_CHOICES, DuplicateFilter
from airflow_provider_linkedin_capi.transfers.empty_result import check_on_empty, handle_empty_result
from airflow_provider_linkedin_capi.transfers.gc_pause import collector_paused_for_old_objects
from airflow_provider_linkedin_capi.transfers.in_flight import InFlightWindow
from airflow_provider_linkedin_capi.transfers.pipeline import RowPipeline, batches_per_rule
from airflow_provider_linkedin_capi.transfers.progress import ProgressReporter
from airflow_provider_linkedin_capi.transfers.push_arguments import (
    SETTING_FIELDS,
    BadArgumentError,
    column_map_argument,
    fetch_size_argument,
    key_columns_argument,
    numeric_settings,
    rejected_fraction_limit,
)
from airflow_provider_linkedin_capi.transfers.push_outcome import (
    check_rejected_fraction,
    interrupted_by_linkedin,
    push_summary,
    stopped_after,
)
from airflow_provider_linkedin_capi.transfers.push_outputs import PushOutputs
from airflow_provider_linkedin_capi.transfers.push_record import PushRecord
from airflow_provider_linkedin_capi.transfers.push_telemetry import PushTelemetry
from airflow_provider_linkedin_capi.transfers.rejects import RejectionLog
from airflow_provider_linkedin_capi.transfers.row_source import get_db_hook, open_row_stream
from airflow_provider_linkedin_capi.transfers.rule_gate import (
    DEFAULT_MAX_DISTINCT_RULES,
    ConversionRuleGate,
    max_distinct_rules_limit,
)
from airflow_provider_linkedin_capi.transfers.spool import EventSpool
from airflow_provider_linkedin_capi.transfers.stop_on_kill import PushKilledError, StopOnKill
from airflow_provider_linkedin_capi.utils.templated_values import is_templated

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_linkedin_capi.transfers.ledger import DeliveryLedger


ON_INVALID_CHOICES = ("skip", "fail")


class SqlToLinkedInCapiOperator(PushOutputs, StopOnKill, BaseOperator):
    """
    Run a SQL query and send every valid row to the LinkedIn Conversions API as a conversion event.

    Each row follows the provider's column contract (``conversion``, ``conversionHappenedAt``, ``email``
    or ``sha256_email``, ``li_fat_id``, names, ``currencyCode``/``amount`` ...; matched case-insensitively,
    renamed with ``column_map``). Valid rows are sent in batches; invalid rows are skipped with a stable
    rejection code, counted in the summary and, with ``rejects_path``, written to a JSON-lines file that
    holds hashed identifiers only. Every event carries a deterministic ``eventId`` (the row's own, or one
    derived from the rule and ``key_columns``), so a re-run of the same rows sends the same ids.

    The task returns a small summary to XCom (``rows_read``, ``events_sent``, ``events_rejected``,
    ``rejections`` by code, ``batches``, ``first_event_at``, ``last_event_at``, ``dry_run``,
    ``rejects_path``, ``already_delivered``, ``duplicate_rows``) and never any row data. SQL and
    parameters are not logged.

    :param sql: The query (or a path to a ``.sql`` file) whose result rows become conversions. (templated)
    :param sql_conn_id: Connection of any SQL database with a ``DbApiHook`` (postgres, sqlite, mysql,
        snowflake ...). PostgreSQL results stream through a server-side (named) cursor. (templated)
    :param conversion_rule_id: Rule (numeric id or ``urn:lla:llaPartnerConversion:<id>``) for rows without a
        ``conversion`` column value. It is read from LinkedIn before any row is: a missing, disabled or
        non-``CONVERSIONS_API`` rule fails the task at once. Rules named per row are checked once each, and
        rows naming an unusable rule are rejected as ``missing_conversion_rule``. (templated)
    :param parameters: Query parameters, in the DB-API paramstyle of the driver. (templated)
    :param hook_params: Extra keyword arguments for the SQL hook. ``log_sql`` is ``False`` unless set here
        because statements and parameters can contain e-mail addresses. (templated)
    :param column_map: ``{source column: contract column}`` renames, e.g. ``{"work_email": "email"}``.
        (templated)
    :param key_columns: Columns that identify a row, used to derive ``eventId`` when the query has no
        ``eventId`` column. (templated)
    :param batch_size: Events per request, 1 to 5,000 (LinkedIn's documented maximum).
    :param timestamp_unit: How numbers in ``conversionHappenedAt`` are read: ``"auto"`` (by magnitude),
        or forced ``"s"``, ``"ms"``, ``"us"`` or ``"ns"``.
    :param default_timezone: Zone for timestamps that carry none (IANA name, default ``UTC``).
    :param max_event_age_days: Oldest event accepted, in days (LinkedIn refuses events older than 90 days).
        (templated)
    :param event_age_safety_margin_hours: Hours taken off ``max_event_age_days`` so that an event near the
        limit is not refused by LinkedIn while in flight. (templated)
    :param max_future_skew_seconds: How far in the future a timestamp may be (clock skew between the source
        and LinkedIn) before the row is rejected as ``in_future``. (templated)
    :param on_invalid: ``"skip"`` (default) streams and skips invalid rows; ``"fail"`` validates every row
        first (spooling events to a temporary file, so the query runs once and memory stays flat) and fails
        the task on the first invalid row, before anything is sent.
    :param on_duplicate: What to do with a row whose eventId an earlier row of the same run already had
        (a JOIN that returns a conversion once per match): ``"send_once"`` (default) sends the event once
        and counts the repeats as ``duplicate_rows``; ``"fail"`` fails the task at the first repeat (before
        anything is sent when ``on_invalid="fail"``, else after the batches before it). The eventIds seen
        are kept as 8-byte hashes, about 8 MB per million rows.
    :param max_rejected_fraction: After sending, fail the task if ``events_rejected / rows_read`` is
        above this fraction (0 to 1). ``None`` never fails on rejections. (templated, so a DAG param can
        set it)
    :param rejects_path: Local path or ``ObjectStoragePath`` URI (``s3://...``) of the JSON-lines rejects
        file: ``row`` (1-based position in the query result), ``event_id``, ``code``, ``field``, ``message``,
        ``sha256_email``. Without it rejections are only counted. (templated)
    :param dry_run: Do everything (query, validation, rule checks, rejects file) except POSTing events;
        ``events_sent`` then counts the events that would have been sent.
    :param fetch_size: Rows fetched from the database at a time; defaults to ``batch_size``.
    :param progress_interval_seconds: Seconds between progress lines in the task log on long runs.
    :param batch_per_rule: Keep events for different conversion rules in separate batches. Whether LinkedIn
        accepts one batch mixing rules is UNKNOWN (Rest.li treats elements independently, so probably yes);
        turn this on if LinkedIn ever refuses mixed batches.
    :param ledger_path: Folder (local path or ``ObjectStoragePath`` URI) of a delivery ledger: the eventIds
        LinkedIn accepted are recorded there (as 8-byte digests, one part file per batch), and events a
        previous run with the same ledger delivered are left out and counted as ``already_delivered``. Use
        one ledger per data interval (e.g. ``.../{{ ds }}``) so that a re-run after a failure or a killed
        worker resends nothing LinkedIn took, because whether LinkedIn deduplicates resent eventIds is
        UNKNOWN. Without it a re-run resends every row, with the same eventIds. (templated)
    :param max_distinct_rules: Most distinct rules a per-row ``conversion`` column may name in one push
        (default 100); each is read from LinkedIn once, and past the cap the task fails before another
        lookup, naming the column. (templated)
    :param on_empty: What an empty query result means: ``"succeed"`` (default) succeeds with a warning,
        ``"skip"`` skips the task, ``"fail"`` fails it without retries, naming the SQL connection and the
        run's data interval.
    :param max_in_flight: Batches sent at once (1 to 16) while the next ones are read and built, to hide
        LinkedIn's time per request; every request still counts against the connection's
        ``requests_per_minute``. Default: the connection's ``max_in_flight`` extra, else 4. 1 sends one
        batch at a time. After a kill, a re-run with a ledger resends at most this many batches.
        (templated)
    :param linkedin_capi_conn_id: LinkedIn CAPI connection. (templated)

    The task shows a "Campaign Manager" link to ``conversion_rule_id``'s page, emits Airflow metrics
    (``linkedin_capi.*``, see ``docs/metrics.md``) and, on Airflow 3.3+, keeps its progress in the task
    state store so that a retry logs where the previous attempt stopped.
    """

    template_fields: Sequence[str] = (
        "sql",
        "parameters",
        "conversion_rule_id",
        "rejects_path",
        "ledger_path",
        "sql_conn_id",
        "linkedin_capi_conn_id",
        "hook_params",
        "column_map",
        "key_columns",
        "timestamp_unit",
        "default_timezone",
        "max_event_age_days",
        "event_age_safety_margin_hours",
        "max_future_skew_seconds",
        "max_rejected_fraction",
        "max_distinct_rules",
        "max_in_flight",
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {
        "sql": "sql",
        "parameters": "json",
        "hook_params": "json",
        "column_map": "json",
    }
    ui_color = LINKEDIN_BLUE
    operator_extra_links = (LinkedInCampaignManagerLink(),)

    def __init__(
        self,
        *,
        sql: str,
        sql_conn_id: str,
        conversion_rule_id: str | int | None = None,
        parameters: Mapping[str, Any] | Sequence[Any] | None = None,
        hook_params: dict[str, Any] | None = None,
        column_map: dict[str, str] | None = None,
        key_columns: Sequence[str] | None = None,
        batch_size: int = MAX_BATCH_SIZE,
        timestamp_unit: str = "auto",
        default_timezone: str = "UTC",
        max_event_age_days: float = 90.0,
        event_age_safety_margin_hours: float = 12.0,
        max_future_skew_seconds: float = 300.0,
        on_invalid: str = "skip",
        on_duplicate: str = "send_once",
        max_rejected_fraction: float | None = None,
        rejects_path: str | None = None,
        dry_run: bool = False,
        fetch_size: int | None = None,
        progress_interval_seconds: float = 10.0,
        batch_per_rule: bool = False,
        ledger_path: str | None = None,
        max_distinct_rules: int = DEFAULT_MAX_DISTINCT_RULES,
        on_empty: str = "succeed",
        max_in_flight: int | str | None = None,
        linkedin_capi_conn_id: str = LinkedInCapiHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sql = sql
        self.sql_conn_id = sql_conn_id
        self.conversion_rule_id = conversion_rule_id
        self.parameters = parameters
        self.hook_params = hook_params
        self.column_map = column_map
        self.key_columns = key_columns
        self.batch_size = batch_size
        self.timestamp_unit = timestamp_unit
        self.default_timezone = default_timezone
        self.max_event_age_days = max_event_age_days
        self.event_age_safety_margin_hours = event_age_safety_margin_hours
        self.max_future_skew_seconds = max_future_skew_seconds
        self.on_invalid = on_invalid
        self.on_duplicate = on_duplicate
        self.max_rejected_fraction = max_rejected_fraction
        self.rejects_path = rejects_path
        self.dry_run = dry_run
        self.fetch_size = fetch_size
        self.progress_interval_seconds = progress_interval_seconds
        self.batch_per_rule = batch_per_rule
        self.ledger_path = ledger_path
        self.max_distinct_rules = max_distinct_rules
        self.on_empty = on_empty
        self.max_in_flight = max_in_flight
        self.linkedin_capi_conn_id = linkedin_capi_conn_id
        self._kill_requested = False
        self._window: InFlightWindow | None = None
        #: What the current (or last) execution did, for asset events and OpenLineage; None before it starts.
        self._push_record: PushRecord | None = None
        self._check_arguments()

    def _check_arguments(self) -> None:
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int):
            raise TypeError(f"batch_size must be an int, got {self.batch_size!r}")
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}, got {self.batch_size}")
        check_on_empty(self.on_empty)
        if self.on_invalid not in ON_INVALID_CHOICES:
            raise ValueError(f"on_invalid must be one of {ON_INVALID_CHOICES}, got {self.on_invalid!r}")
        if self.on_duplicate not in ON_DUPLICATE_CHOICES:
            raise BadArgumentError(
                f"on_duplicate must be one of {ON_DUPLICATE_CHOICES}, got {self.on_duplicate!r}"
            )
        if not is_templated(self.max_rejected_fraction):
            rejected_fraction_limit(self.max_rejected_fraction)
        if not is_templated(self.max_distinct_rules):
            max_distinct_rules_limit(self.max_distinct_rules)
        if not is_templated(self.max_in_flight):
            in_flight_limit(self.max_in_flight)
        fetch_size_argument(self.fetch_size)
        if self.progress_interval_seconds <= 0:
            raise ValueError(
                f"progress_interval_seconds must be positive, got {self.progress_interval_seconds}"
            )
        # Settings given as literals (not Jinja) are checked now, so a typo fails at DAG parse time.
        literal_settings = {
            name: getattr(self, name) for name in SETTING_FIELDS if not is_templated(getattr(self, name))
        }
        try:
            if not is_templated(self.key_columns):
                key_columns_argument(self.key_columns)
            if not is_templated(self.column_map):
                column_map_argument(self.column_map)
            ConversionSettings(**numeric_settings(literal_settings))
        except (TypeError, ValueError) as error:
            raise BadArgumentError(str(error)) from None

    def execute(self, context: Context) -> dict[str, Any]:
        return self._run(context)

    def _run(self, context: Context) -> dict[str, Any]:
        """The push with its metrics, progress store and ``on_empty``; ``push_dataframe`` calls it too."""
        telemetry = PushTelemetry(context, self.log, dry_run=bool(self.dry_run))
        outcome = "failed"
        try:
            telemetry.begin()
            summary = self._execute(context, telemetry)
            outcome = "success"
            if not summary["rows_read"]:
                handle_empty_result(
                    self.on_empty, source=self._source_description(), context=context, log=self.log
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

    def _execute(self, context: Context, telemetry: PushTelemetry) -> dict[str, Any]:
        settings = self._conversion_settings()
        try:  # rendered now: a typo in them fails the task before anything is read
            rejected_limit = rejected_fraction_limit(self.max_rejected_fraction)
            rule_limit = max_distinct_rules_limit(self.max_distinct_rules)
            max_in_flight = in_flight_limit(self.max_in_flight)
        except ValueError as error:
            raise AirflowFailException(f"{error}. Nothing was read or sent.") from None
        capi_hook = LinkedInCapiHook(self.linkedin_capi_conn_id)
        try:
            if max_in_flight is None:
                max_in_flight = capi_hook.config.max_in_flight or DEFAULT_MAX_IN_FLIGHT
            rules = ConversionRuleGate(capi_hook, rule_limit)
            if self.conversion_rule_id not in (None, ""):
                rules.require(self.conversion_rule_id)
                remember_rule_page(self, capi_hook.ad_account_id, self.conversion_rule_id)
            source = self._row_source()
            rejects_path = str(self.rejects_path) if self.rejects_path else None
            progress = ProgressReporter(
                self.log,
                self.progress_interval_seconds,
                verb="would be sent" if self.dry_run else "sent",
                on_report=telemetry.tick,
            )
            ledger = self._open_ledger()
            with RejectionLog(rejects_path) as rejections:
                delivery = EventDelivery(capi_hook, rejections, dry_run=self.dry_run, ledger=ledger)
                duplicates = DuplicateFilter(fail=self.on_duplicate == "fail")
                self._push_record = PushRecord.start(capi_hook, delivery, dry_run=self.dry_run)
                telemetry.watch(delivery, rejections)
                pipeline = self._push(
                    source, settings, rules, rejections, delivery, duplicates, progress, max_in_flight
                )
        finally:
            capi_hook.close()
        summary = push_summary(
            pipeline.rows_read, delivery, duplicates, rejections, rejects_path, dry_run=bool(self.dry_run)
        )
        telemetry.rows_read = pipeline.rows_read
        self._record_asset_events(context, summary)
        progress.report_final(
            summary["rows_read"], summary["events_sent"], summary["events_rejected"], summary["rejections"]
        )
        if duplicates.duplicate_rows:
            self.log.warning(
                "Left out %d row(s) that repeated the eventId of an earlier row (sent once each): the query "
                "returns some conversions more than once, or key_columns do not identify a row",
                duplicates.duplicate_rows,
            )
        if delivery.already_delivered:
            self.log.info(
                "Left out %d event(s) that an earlier run delivered (ledger %s)",
                delivery.already_delivered,
                self.ledger_path,
            )
        check_rejected_fraction(summary, rejected_limit)
        return summary

    def _push(
        self,
        source: Any,
        settings: ConversionSettings,
        rules: ConversionRuleGate,
        rejections: RejectionLog,
        delivery: EventDelivery,
        duplicates: DuplicateFilter,
        progress: ProgressReporter,
        max_in_flight: int,
    ) -> RowPipeline:
        """Validate every row and deliver the events, up to ``max_in_flight`` batches at once; returns the
        pipeline, whose counts the summary uses.

        Before each batch is spooled or sent, a kill request (:meth:`on_kill`) is honoured: the batches in
        flight are counted and written to the ledger, and the push stops there.
        """
        validate_first = self.on_invalid == "fail"
        pipeline = RowPipeline(
            rules,
            rejections,
            progress,
            batch_size=self.batch_size,
            # The spool keeps rows in query order; per-rule batches are formed when it is read back.
            batch_per_rule=self.batch_per_rule and not validate_first,
            stop_on_invalid=validate_first,
            count_sent=lambda: delivery.events_sent,
        )
        try:
            spool_or_none = EventSpool() if validate_first else nullcontext()
            window = self._window = InFlightWindow(delivery, max_in_flight)
            with window, collector_paused_for_old_objects(), spool_or_none as spool:
                with self._open_rows(source) as stream:
                    builder = self._event_builder(stream.columns, settings)
                    duplicates.sink = spool.write if spool is not None else window.submit
                    pipeline.run(builder, stream.chunks(), self._unless_killed(duplicates))
                if spool is not None:
                    self.log.info("All %d rows are valid; sending them", pipeline.rows_read)
                    batches = spool.batches(self.batch_size)
                    if self.batch_per_rule:
                        batches = batches_per_rule(batches, self.batch_size)
                    deliver = self._unless_killed(window.submit)
                    for events, rows in batches:
                        deliver(events, rows)
                        progress.maybe_report(pipeline.rows_read, delivery.events_sent, rejections.total)
                window.finish()
            if delivery.batches and not self.dry_run:
                self.log.info(
                    "Sent %d batch(es), at most %d at once (max_in_flight=%d)",
                    delivery.batches,
                    window.most_in_flight,
                    max_in_flight,
                )
        except (LinkedInCapiError, requests.RequestException) as exc:
            raise interrupted_by_linkedin(exc, delivery, rejections, pipeline.rows_read, duplicates) from exc
        except PushKilledError as exc:
            stopped = stopped_after(delivery, rejections, pipeline.rows_read, duplicates)
            self.log.error("The push was asked to stop (task killed). %s", stopped)
            exc.add_note(stopped)
            raise
        except Exception as exc:
            # Typically the database: with a streaming cursor, a bad cast or a lost connection surfaces
            # only at a later fetch, after earlier batches went out. Say what had been delivered.
            if delivery.batches:
                stopped = stopped_after(delivery, rejections, pipeline.rows_read, duplicates)
                self.log.error("%s (%s; its message follows in the traceback)", stopped, type(exc).__name__)
                exc.add_note(stopped)
            raise
        return pipeline

    # Where rows come from: the three methods a push of another source (a DataFrame) overrides.

    def _row_source(self) -> Any:
        return get_db_hook(self.sql_conn_id, self.hook_params)

    def _open_rows(self, source: Any) -> AbstractContextManager[Any]:
        """A context manager giving an object with ``columns`` and ``chunks()`` (lists of row tuples)."""
        return open_row_stream(
            source, self.sql, self.parameters, fetch_size=self.fetch_size or self.batch_size
        )

    def _source_description(self) -> str:
        return f"sql_conn_id {self.sql_conn_id!r}"

    def _open_ledger(self) -> DeliveryLedger | None:
        if not self.ledger_path:
            return None
        # Imported here: the ledger needs numpy, which a push without a ledger should not load (memory).
        from airflow_provider_linkedin_capi.transfers.ledger import DeliveryLedger

        ledger = DeliveryLedger(str(self.ledger_path))
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
        return builder

    def _conversion_settings(self) -> ConversionSettings:
        """The settings with the templated fields rendered; a mistake in them fails without retries."""
        try:
            fetch_size_argument(self.fetch_size)
            return ConversionSettings(
                conversion_rule_id=self.conversion_rule_id
                if self.conversion_rule_id not in (None, "")
                else None,
                column_map=column_map_argument(self.column_map),
                key_columns=key_columns_argument(self.key_columns),
                **numeric_settings({name: getattr(self, name) for name in SETTING_FIELDS}),
            )
        except (TypeError, ValueError, OverflowError) as error:
            raise BadArgumentError(f"{error}. Nothing was read or sent.") from None
