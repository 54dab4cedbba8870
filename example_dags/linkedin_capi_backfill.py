"""
### Backfill CRM conversions to the LinkedIn Conversions API, one mapped task per day

Trigger it by hand with a window, e.g.
`airflow dags trigger linkedin_capi_backfill --conf '{"start_date": "2026-09-01", "end_date": "2026-11-20"}'`
or `{"days_back": 60}` (without dates: the last `days_back` whole UTC days; with only `end_date`: the
`days_back` days ending there; with only `start_date`: up to yesterday).

* **resolve_conversion_rule** finds the rule named `params.conversion_rule_name` (or creates it), exactly
  as the nightly DAG does.
* **plan_days** splits the window into UTC days. LinkedIn refuses conversions older than 90 days, so days
  that ended before `now - 90 days + 12 hours` (the margin, because a long backfill takes time and a day
  can expire while it waits for a pool slot) are **skipped and counted in the log**,
  not failed. The remaining days are ordered **oldest first**, so those closest to expiry go first.
* **push_day** is one mapped `SqlToLinkedInCapiOperator` per day (dynamic task mapping). All of them run in
  the pool `linkedin_capi`, whose size caps how many push at once: one token has one rate budget, and each
  task paces itself only within its own process (see docs/scaling.md).
* **report** adds the per-day summaries up and fails if more than `params.max_rejected_fraction` of the
  rows were rejected.

The backfill neither links campaigns nor waits on the rule, so it runs with its default params (the last
`days_back` days). A rule it creates is linked to no campaign: LinkedIn records the conversions but
credits them to no campaign until the rule is linked (the nightly DAG's `campaign_ids`, the
`linkedin_capi_rule_setup` DAG, or Campaign Manager).

Every event carries an `eventId` derived from the rule and `crm_id`, so a day sent twice carries the same
ids, and each day's delivery ledger (under `params.ledger_dir`) makes a re-run send only what LinkedIn has
not taken yet. Connections and the pool are the same as for `linkedin_capi_nightly_crm_sync`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_linkedin_capi.operators.conversion_rules import LinkedInCapiCreateConversionRuleOperator
from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator

DAG_ID = "linkedin_capi_backfill"
LINKEDIN_POOL = "linkedin_capi"
RULE_ID = "{{ ti.xcom_pull(task_ids='resolve_conversion_rule')['rule_id'] }}"
# LinkedIn refuses events older than 90 days (third-party sourced); the margin keeps a day that is about to
# expire from being refused while it waits for a pool slot. The planner and the operator use the same two.
MAX_EVENT_AGE_DAYS = 90
EVENT_AGE_SAFETY_MARGIN_HOURS = 12
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def _exponential_backoff() -> bool | float:
    """Airflow 3.1 wants a bool here; later versions a multiplier, where ``True`` means 1.0 (no backoff)."""
    try:
        from airflow.sdk.bases.operator import BASEOPERATOR_ARGS_EXPECTED_TYPES
    except ImportError:  # pragma: no cover - older task SDK layout
        return True
    return True if BASEOPERATOR_ARGS_EXPECTED_TYPES.get("retry_exponential_backoff") is bool else 2.0


# One UTC day of the same CRM table the nightly DAG reads; see its doc for why ISO-8601 text compares
# correctly on SQLite and PostgreSQL alike.
DAY_SQL = """
SELECT
    crm_id,
    converted_at  AS conversionHappenedAt,
    email,
    li_fat_id,
    first_name    AS firstName,
    last_name     AS lastName,
    company       AS companyName,
    job_title     AS title,
    country       AS countryCode,
    deal_currency AS currencyCode,
    deal_value    AS amount
FROM {table}
WHERE recorded_at >= '{start}'
  AND recorded_at <  '{end}'
"""


def _day(value: str) -> date:
    return date.fromisoformat(str(value).strip()[:10])


def window_days(params: dict, today: date) -> list[date]:
    """The UTC days the run covers, first to last inclusive.

    ``start_date``..``end_date``; a missing ``end_date`` means yesterday; a missing ``start_date`` means
    ``days_back`` days ending on ``end_date`` (or yesterday). A window that cannot be right fails the task
    without retries, naming the dates it was given.
    """
    from airflow.providers.common.compat.sdk import AirflowFailException

    last = _day(params["end_date"]) if params.get("end_date") else today - timedelta(days=1)
    if params.get("start_date"):
        first = _day(params["start_date"])
    else:
        first = last - timedelta(days=int(params["days_back"]) - 1)
    if last < first:
        given = "end_date" if params.get("end_date") else "yesterday (no end_date given)"
        raise AirflowFailException(f"The window ends on {given}, {last}, before start_date {first}")
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


with DAG(
    dag_id=DAG_ID,
    description="Push a window of CRM conversions to LinkedIn, one mapped task per day, oldest first",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["example", "linkedin_capi"],
    default_args={
        "retries": 3,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": _exponential_backoff(),
        "max_retry_delay": timedelta(minutes=30),
    },
    params={
        "start_date": Param(None, type=["null", "string"], format="date", description="First UTC day."),
        "end_date": Param(None, type=["null", "string"], format="date", description="Last UTC day."),
        "days_back": Param(30, type="integer", minimum=1, maximum=400, description="Used without dates."),
        "conversion_rule_name": Param("CRM qualified lead (Airflow)", type="string", minLength=1),
        "conversion_type": Param("QUALIFIED_LEAD", type="string"),
        "ad_account_id": Param(None, type=["null", "string"], description="Empty: the connection's."),
        "linkedin_capi_conn_id": Param("linkedin_capi_default", type="string"),
        "sql_conn_id": Param("crm_db", type="string"),
        "source_table": Param("crm_conversions", type="string", pattern=_TABLE_NAME.pattern),
        "rejects_dir": Param("/tmp/linkedin_capi/rejects", type="string"),
        "ledger_dir": Param(
            "/tmp/linkedin_capi/ledger",
            type="string",
            description="Delivery ledgers, one per day (an ObjectStoragePath URI in production). Empty: "
            "none, and a re-run of a day resends what LinkedIn already took.",
        ),
        "max_rejected_fraction": Param(0.2, type="number", minimum=0, maximum=1),
    },
) as dag:
    resolve_rule = LinkedInCapiCreateConversionRuleOperator(
        task_id="resolve_conversion_rule",
        name="{{ params.conversion_rule_name }}",
        conversion_type="{{ params.conversion_type }}",
        ad_account_id="{{ params.ad_account_id or '' }}",
        if_exists="reuse",
        linkedin_capi_conn_id="{{ params.linkedin_capi_conn_id }}",
        pool=LINKEDIN_POOL,
    )

    @task
    def plan_days(params: dict | None = None, dag_run=None, ti=None) -> list[dict[str, str]]:
        """One ``{sql, rejects_path, ledger_path}`` per day still inside LinkedIn's window, oldest first."""
        import logging

        log = logging.getLogger(__name__)
        params = params or {}
        table = str(params["source_table"])
        if not _TABLE_NAME.match(table):
            from airflow.providers.common.compat.sdk import AirflowFailException

            raise AirflowFailException(
                f"source_table must be a plain or schema-qualified name, got {table!r}"
            )
        now = datetime.now(UTC)
        cutoff = now - timedelta(days=MAX_EVENT_AGE_DAYS, hours=-EVENT_AGE_SAFETY_MARGIN_HOURS)
        run_dir = str(dag_run.run_id).replace(":", "-").replace("+", "_")
        base = f"{params['rejects_dir']}/{DAG_ID}/{run_dir}"

        planned, too_old, not_yet = [], [], []
        for day in window_days(params, now.date()):
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            end = start + timedelta(days=1)
            if end <= cutoff:
                too_old.append(day)
            elif start >= now:
                not_yet.append(day)
            else:
                planned.append(
                    {
                        "sql": DAY_SQL.format(table=table, start=start.isoformat(), end=end.isoformat()),
                        "rejects_path": f"{base}/{day.isoformat()}.jsonl",
                        # One ledger per day, kept across runs: a re-run resends nothing LinkedIn took.
                        "ledger_path": f"{params['ledger_dir']}/{DAG_ID}/{day.isoformat()}"
                        if params.get("ledger_dir")
                        else None,
                    }
                )
        if too_old:
            log.warning(
                "Skipping %d day(s) older than LinkedIn's %s-day limit (%s .. %s): LinkedIn refuses them",
                len(too_old),
                MAX_EVENT_AGE_DAYS,
                too_old[0],
                too_old[-1],
            )
        if not_yet:
            log.warning("Skipping %d day(s) that have not started yet (%s ..)", len(not_yet), not_yet[0])
        # Kept beside the plan so the report (and anyone reading XCom) can see what was left out and why.
        ti.xcom_push(key="days_too_old", value=[d.isoformat() for d in too_old])
        log.info("Pushing %d day(s), oldest first", len(planned))
        return planned

    days = plan_days()

    # [START howto_linkedin_capi_mapped_backfill]
    push_day = SqlToLinkedInCapiOperator.partial(
        task_id="push_day",
        sql_conn_id="{{ params.sql_conn_id }}",
        conversion_rule_id=RULE_ID,
        key_columns=["crm_id"],
        max_event_age_days=MAX_EVENT_AGE_DAYS,
        event_age_safety_margin_hours=EVENT_AGE_SAFETY_MARGIN_HOURS,
        linkedin_capi_conn_id="{{ params.linkedin_capi_conn_id }}",
        pool=LINKEDIN_POOL,
    ).expand_kwargs(days)
    # [END howto_linkedin_capi_mapped_backfill]

    @task(trigger_rule="none_failed")
    def report(summaries, params: dict | None = None) -> dict:
        """Totals over all days; fail if the rejected share is above the limit."""
        import logging
        from collections import Counter

        from airflow.providers.common.compat.sdk import AirflowFailException

        summaries = [s for s in (summaries or []) if s]
        totals: Counter[str] = Counter()
        rejections: Counter[str] = Counter()
        for summary in summaries:
            for key in ("rows_read", "events_sent", "events_rejected", "batches"):
                totals[key] += int(summary.get(key) or 0)
            rejections.update(summary.get("rejections") or {})
        rows = totals["rows_read"]
        fraction = totals["events_rejected"] / rows if rows else 0.0
        limit = float((params or {}).get("max_rejected_fraction", 0.2))
        logging.getLogger(__name__).info(
            "Backfill over %d day(s): rows read %d, events sent %d, rejected %d (%.1f%%): %s",
            len(summaries),
            rows,
            totals["events_sent"],
            totals["events_rejected"],
            100 * fraction,
            dict(sorted(rejections.items())),
        )
        if fraction > limit:
            raise AirflowFailException(
                f"{totals['events_rejected']} of {rows} rows ({fraction:.1%}) were rejected, above "
                f"max_rejected_fraction {limit:.1%}: {dict(sorted(rejections.items()))}"
            )
        return {"days": len(summaries), **totals, "rejections": dict(rejections)}

    resolve_rule >> days
    report(push_day.output)


if __name__ == "__main__":
    dag.test()
