"""The push operator both pushes share: its arguments, templating, ``execute`` and ``on_kill``, lineage.

:class:`BaseLinkedInCapiPushOperator` wires Airflow to the push engine
(:class:`~airflow_provider_linkedin_capi.push.engine.ConversionPush`) and nothing more: it holds the
push's arguments as templated attributes, builds a
:class:`~airflow_provider_linkedin_capi.push.options.PushOptions` from them, runs the engine on the row
source its subclass names, passes ``on_kill`` on as a stop request, records the run's asset events and
answers the OpenLineage listener. The SQL and DataFrame pushes are its two siblings, as Google's
``BaseSQLToGCSOperator`` has one subclass per database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import jinja2
from airflow.providers.common.compat.sdk import AirflowFailException
from airflow.sdk import BaseOperator
from jinja2 import nodes

from airflow_provider_linkedin_capi.assets.linkedin_capi import record_asset_events
from airflow_provider_linkedin_capi.constants import DEFAULT_CONN_ID, LINKEDIN_BLUE, MAX_BATCH_SIZE
from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
from airflow_provider_linkedin_capi.links.campaign_manager import (
    LinkedInCampaignManagerLink,
    remember_rule_page,
)
from airflow_provider_linkedin_capi.push.engine import ConversionPush
from airflow_provider_linkedin_capi.push.options import (
    DEFAULT_COVERAGE_DROP_WARNING,
    DEFAULT_MAX_DISTINCT_RULES,
    PushOptions,
)

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

    from airflow_provider_linkedin_capi.push.sources import RowSource


class BaseLinkedInCapiPushOperator(BaseOperator):
    """
    Send rows to the LinkedIn Conversions API as conversion events; the base of the SQL and DataFrame pushes.

    Each row follows the provider's column contract (``conversion``, ``conversionHappenedAt``, ``email``
    or ``sha256_email``, ``li_fat_id``, names, ``currencyCode``/``amount`` ...; matched case-insensitively,
    renamed with ``column_map``). Valid rows are sent in batches; invalid rows are skipped with a stable
    rejection code, counted in the summary and, with ``rejects_path``, written to a JSON-lines file that
    holds hashed identifiers only. Every event carries a deterministic ``eventId`` (the row's own, or one
    derived from the rule and ``key_columns``), so a re-run of the same rows sends the same ids.

    The task returns a small summary to XCom (``rows_read``, ``events_sent``, ``events_rejected``,
    ``rejections`` by code, ``batches``, ``first_event_at``, ``last_event_at``, ``dry_run``,
    ``rejects_path``, ``already_delivered``, ``duplicate_rows``) and never any row data.

    :param conversion_rule_id: Rule (numeric id or ``urn:lla:llaPartnerConversion:<id>``) for rows without a
        ``conversion`` column value. It is read from LinkedIn before any row is: a missing, disabled or
        non-``CONVERSIONS_API`` rule fails the task at once. Rules named per row are checked once each, and
        rows naming an unusable rule are rejected as ``missing_conversion_rule``. (templated)
    :param column_map: ``{source column: contract column}`` renames, e.g. ``{"work_email": "email"}``.
        (templated)
    :param key_columns: Columns that identify a row, used to derive ``eventId`` when the rows have no
        ``eventId`` column. (templated)
    :param batch_size: Events per request, 1 to 5,000 (LinkedIn's documented maximum).
    :param timestamp_unit: How numbers in ``conversionHappenedAt`` are read: ``"auto"`` (by magnitude),
        or forced ``"s"``, ``"ms"``, ``"us"`` or ``"ns"``. (templated)
    :param default_timezone: Zone for timestamps that carry none (IANA name, default ``UTC``). (templated)
    :param max_event_age_days: Oldest event accepted, in days (LinkedIn refuses events older than 90 days).
        (templated)
    :param event_age_safety_margin_hours: Hours taken off ``max_event_age_days`` so that an event near the
        limit is not refused by LinkedIn while in flight. (templated)
    :param max_future_skew_seconds: How far in the future a timestamp may be (clock skew between the source
        and LinkedIn) before the row is rejected as ``in_future``. (templated)
    :param on_invalid: ``"skip"`` (default) streams and skips invalid rows; ``"fail"`` validates every row
        first (spooling events to a temporary file, so the source is read once and memory stays flat) and
        fails the task on the first invalid row, before anything is sent.
    :param on_duplicate: What to do with a row whose eventId an earlier row of the same run already had
        (a JOIN that returns a conversion once per match): ``"send_once"`` (default) sends the event once
        and counts the repeats as ``duplicate_rows``; ``"fail"`` fails the task at the first repeat (before
        anything is sent when ``on_invalid="fail"``, else after the batches before it). The eventIds seen
        are kept as 8-byte hashes, about 8 MB per million rows.
    :param max_rejected_fraction: After sending, fail the task if ``events_rejected / rows_read`` is
        above this fraction (0 to 1). ``None`` never fails on rejections. (templated)
    :param rejects_path: Local path or ``ObjectStoragePath`` URI (``s3://...``) of the JSON-lines rejects
        file: ``row`` (1-based position in the source), ``event_id``, ``code``, ``field``, ``message``,
        ``sha256_email``. Without it rejections are only counted. (templated)
    :param dry_run: Do everything (read, validation, rule checks, rejects file) except POSTing events;
        ``events_sent`` then counts the events that would have been sent.
    :param progress_interval_seconds: Seconds between progress lines in the task log on long runs.
    :param batch_per_rule: Keep events for different conversion rules in separate batches. Whether LinkedIn
        accepts one batch mixing rules is UNKNOWN (Rest.li treats elements independently, so probably yes);
        turn this on if LinkedIn ever refuses mixed batches.
    :param ledger_path: Folder (local path or ``ObjectStoragePath`` URI) of a delivery ledger: the eventIds
        LinkedIn accepted are recorded there (as 8-byte digests, one part file per batch), and events a
        previous run with the same ledger delivered are left out and counted as ``already_delivered``. Use
        one ledger per data interval (e.g. ``.../{{ data_interval_start | ds }}``; not ``{{ ds }}``, which
        is the interval's start for a scheduled run but its end for a manual one) so that a re-run after
        a failure or a killed worker resends nothing LinkedIn took, because whether LinkedIn deduplicates
        resent eventIds is UNKNOWN. Without it a re-run resends every row, with the same eventIds. (templated)
    :param max_distinct_rules: Most distinct rules a per-row ``conversion`` column may name in one push
        (default 100); each is read from LinkedIn once, and past the cap the task fails before another
        lookup, naming the column. (templated)
    :param on_empty: What an empty source means: ``"succeed"`` (default) succeeds with a warning,
        ``"skip"`` skips the task, ``"fail"`` fails it without retries, naming the source and the run's
        data interval.
    :param max_in_flight: Batches sent at once while the next ones are read and built, to hide
        LinkedIn's time per request; every request still counts against the connection's
        ``requests_per_minute``. ``"auto"`` sizes it to LinkedIn's answers: from 4, growing while LinkedIn
        takes longer per batch than the window can hide within the budget (and memory allows), up to 16,
        halving on a 429. A number from 1 to 16 fixes it; 1 sends one batch at a time. Default: the
        connection's ``max_in_flight`` extra, else ``"auto"``. The summary's ``in_flight_window`` and
        ``batch_seconds`` say what it did and what LinkedIn took. After a kill, a re-run with a ledger
        resends at most the batches that were in flight (at most 16). (templated)
    :param on_in_doubt: What a retry does with events an earlier try left in doubt: batches on their way
        when the task was killed or timed out, which LinkedIn had not answered after about 3 s. ``"resend"``
        (default) sends them again, counted as ``resent_in_doubt`` (LinkedIn may then hold them twice;
        whether it deduplicates eventIds is UNKNOWN); ``"skip"`` leaves them out, counted as
        ``skipped_in_doubt`` (LinkedIn may then never have them). Needs a ledger.
    :param hash_ip_address: Send ``ip_address`` hashed, as ``SHA256_IP_ADDRESS`` (the SHA-256 hex of the
        dotted IPv4 text), instead of ``PLAINTEXT_IP_ADDRESS``, which LinkedIn hashes itself. Only where the
        connection's ``api_version`` takes that type (202607 and later, THIRD-PARTY); under an older
        version the address is sent in plain text and the push warns once. Default ``False``.
    :param coverage_drop_warning: Percentage points an identifier kind's share of the events sent (the
        summary's ``identifier_coverage``: each ``idType``, ``userInfo``, ``externalIds``, ``lead``) may
        fall against the previous successful run of this task (its summary in XCom) before the push says
        so. Default 20.
    :param on_coverage_drop: ``"warn"`` (default) logs a warning naming each kind that fell, at the end;
        ``"fail"`` fails the push before anything is sent, measuring the shares on its first batch (up to
        ``batch_size`` events), so that a CRM export that lost its e-mail column is caught before LinkedIn's
        match rate shows it.
    :param linkedin_capi_conn_id: LinkedIn CAPI connection. (templated)

    The task shows a "Campaign Manager" link to ``conversion_rule_id``'s page, emits Airflow metrics
    (``linkedin_capi.*``, see ``docs/metrics.md``) and, on Airflow 3.3+, keeps its progress in the task
    state store so that a retry logs where the previous attempt stopped.
    """

    template_fields: Sequence[str] = (
        "conversion_rule_id",
        "rejects_path",
        "ledger_path",
        "linkedin_capi_conn_id",
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
    template_fields_renderers: dict[str, str] = {"column_map": "json"}
    ui_color = LINKEDIN_BLUE
    operator_extra_links = (LinkedInCampaignManagerLink(),)

    def __init__(
        self,
        *,
        conversion_rule_id: str | int | None = None,
        column_map: Mapping[str, str] | None = None,
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
        progress_interval_seconds: float = 10.0,
        batch_per_rule: bool = False,
        ledger_path: str | None = None,
        max_distinct_rules: int = DEFAULT_MAX_DISTINCT_RULES,
        on_empty: str = "succeed",
        max_in_flight: int | str | None = None,
        on_in_doubt: str = "resend",
        hash_ip_address: bool = False,
        coverage_drop_warning: float = DEFAULT_COVERAGE_DROP_WARNING,
        on_coverage_drop: str = "warn",
        linkedin_capi_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conversion_rule_id = conversion_rule_id
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
        self.progress_interval_seconds = progress_interval_seconds
        self.batch_per_rule = batch_per_rule
        self.ledger_path = ledger_path
        self.max_distinct_rules = max_distinct_rules
        self.on_empty = on_empty
        self.max_in_flight = max_in_flight
        self.on_in_doubt = on_in_doubt
        self.hash_ip_address = hash_ip_address
        self.coverage_drop_warning = coverage_drop_warning
        self.on_coverage_drop = on_coverage_drop
        self.linkedin_capi_conn_id = linkedin_capi_conn_id
        #: The current (or last) execution's engine, for on_kill, asset events and OpenLineage.
        self._push: ConversionPush | None = None
        # Literal values are checked now, so that a typo fails when the DAG is parsed.
        PushOptions.of(self).validate(templates_allowed=True)

    def _row_source(self) -> RowSource:
        """Where this push's rows come from (each sibling names its own)."""
        raise NotImplementedError

    def _lineage_sql(self) -> tuple[str | None, str | None, dict[str, Any] | None]:
        """The SQL, its connection id and hook parameters, for OpenLineage's input datasets."""
        return None, None, None

    def _row_selecting_templates(self) -> tuple[Any, ...]:
        """The arguments, as written in the DAG (before rendering), that choose which rows are read."""
        return ()

    def execute(self, context: Context) -> dict[str, Any]:
        self._refuse_an_empty_data_interval(context)
        push = self._push = ConversionPush(
            PushOptions.of(self),
            self._row_source(),
            LinkedInCapiHook(self.linkedin_capi_conn_id),
            context=context,
            log=self.log,
        )
        try:
            summary = push.run()
        finally:
            if push.record is not None and self.conversion_rule_id not in (None, ""):
                remember_rule_page(self, push.record.account, self.conversion_rule_id)
        assert push.record is not None  # a push that returned a summary has delivered through its record
        record_asset_events(self.outlets, context.get("outlet_events"), push.record)
        return summary

    def _refuse_an_empty_data_interval(self, context: Context) -> None:
        """
        Fail when the rows are chosen by a data interval of zero length: the push would read nothing, green.

        On Airflow 3 a cron schedule gives each run a zero-length data interval (start = end) unless the DAG
        uses ``CronDataIntervalTimetable`` or ``[scheduler] create_cron_data_intervals`` is on, and a manual
        run of a DAG without a data-interval timetable has one too. A query windowed on
        ``data_interval_start``/``data_interval_end`` then reads no rows every night and the task succeeds:
        the "green with 0 records" failure users meet in other tools. A retry renders the same window, so
        this fails without retrying.
        """
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        if start is None or end is None or start != end:
            return
        templates = self._row_selecting_templates()
        names = _data_interval_names(templates, self.get_template_env(), self.template_ext)
        if not names:
            return
        raise AirflowFailException(
            f"The query is templated with {' and '.join(sorted(names))}, but this run's data interval is "
            f"empty (start = end = {start.isoformat()}), so it would read no rows. On Airflow 3 a cron "
            "schedule gives each run a zero-length data interval unless the DAG's timetable is "
            "CronDataIntervalTimetable (airflow.timetables.interval) or [scheduler] "
            "create_cron_data_intervals = True; a manual run of a DAG without a data-interval timetable has "
            "one too. Use such a timetable (see the README's Quick start), or window the query on "
            "logical_date. Nothing was read or sent."
        )

    def on_kill(self) -> None:
        """Ask the push to stop (SIGTERM, a timeout, a task marked failed).

        Airflow's task runner calls this from its SIGTERM handler and then lets ``execute`` go on: the
        answers already on the wire get a few seconds, the batches they settle are counted and written to
        the ledger, the rest are recorded as in doubt, and the task then fails saying what was and was not
        delivered (README "Re-runs and retries").
        """
        if self._push is not None:
            self._push.request_stop()

    def get_openlineage_facets_on_start(self) -> OperatorLineage | None:
        """Lineage before the push: the query's tables in, the operator's conversion rule out."""
        return self._lineage(started=False)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage | None:
        """Lineage after the push: every rule that received events, with the events sent to each."""
        return self._lineage(started=True)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage | None:
        """Lineage of a failed push: what had been delivered before it stopped."""
        return self._lineage(started=True)

    def _lineage(self, *, started: bool) -> OperatorLineage:
        # Imported here: OpenLineage is an optional extra, and the listener is its only caller.
        from airflow_provider_linkedin_capi.transfers.lineage import push_lineage

        sql, sql_conn_id, hook_params = self._lineage_sql()
        return push_lineage(
            sql=sql,
            sql_conn_id=sql_conn_id,
            hook_params=hook_params,
            conversion_rule_id=self.conversion_rule_id,
            linkedin_capi_conn_id=self.linkedin_capi_conn_id,
            dry_run=bool(self.dry_run),
            record=self._push.record if started and self._push is not None else None,
        )


# The context variables that hold a run's data interval, read directly or as ``dag_run.<name>``.
_DATA_INTERVAL_NAMES = frozenset({"data_interval_start", "data_interval_end"})


def _data_interval_names(templates: Any, env: jinja2.Environment, template_ext: Sequence[str]) -> set[str]:
    """
    Which data-interval variables the Jinja templates in ``templates`` read (strings, template files as
    Airflow resolves them, and strings nested in lists, tuples and dicts), found in the parsed template
    rather than by searching the text, so a comment or a column named ``data_interval_end_at`` does not count.
    """
    found: set[str] = set()
    pending: list[Any] = [templates]
    for _ in range(10_000):  # templates are small; a cap keeps a self-referencing structure finite
        if not pending:
            break
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list | tuple | set | frozenset):
            pending.extend(value)
        elif isinstance(value, str):
            found |= _names_in_template(value, env, template_ext)
    return found


def _names_in_template(text: str, env: jinja2.Environment, template_ext: Sequence[str]) -> set[str]:
    source = text
    if text.endswith(tuple(template_ext)) and env.loader is not None:
        try:
            source = env.loader.get_source(env, text)[0]
        except jinja2.TemplateNotFound:
            source = text
    try:
        tree = env.parse(source)
    except jinja2.TemplateSyntaxError:
        return set()  # rendering reports it, with its line
    names = {node.name for node in tree.find_all(nodes.Name)}
    names |= {node.attr for node in tree.find_all(nodes.Getattr)}
    return names & _DATA_INTERVAL_NAMES
