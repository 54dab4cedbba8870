"""
### Nightly CRM sync to the LinkedIn Conversions API

Every night, send the conversions your CRM recorded during the previous day to LinkedIn, and explain every
row that could not be sent.

#### When it runs
At midnight UTC for the day that just ended, **or** as soon as the upstream CRM load updates the asset
`crm_conversions_export` (`AssetOrTimeSchedule`): a CRM that finishes its export early need not wait, and
the schedule still runs if it never says so. Both kinds of run sync one UTC day, and the delivery ledger
(one per day under `params.ledger_dir`) makes the second run of a day send only the rows the first did not
deliver (rows recorded late), never a row twice. Its push updates the asset alias
`linkedin_capi_crm_conversions` (one `linkedin-capi://<ad account>/conversion/<rule>` asset per rule, with
the run's counts in the event's `extra`), which `linkedin_capi_after_sync` is scheduled on.

0. **sync_window** — the UTC day to sync: the run's data interval (scheduled runs, and manual runs given a
   logical date), else the day before the run was queued (runs started by the CRM asset, or triggered
   without a logical date).
1. **create_conversion_rule** — create the Conversions API rule named by `params.conversion_rule_name`, or
   reuse it if it already exists (never a duplicate).
2. **associate_campaigns** — link the rule to `params.campaign_ids`. LinkedIn credits a conversion only
   to campaigns linked to its rule.
3. **wait_for_rule_ready** — deferrable: wait until the rule is enabled, uses `CONVERSIONS_API` and, when
   `params.campaign_ids` is given, has at least one linked campaign.

**Without `campaign_ids` (the default)** the rule is created unlinked, nothing is associated, and the
sensor waits only until the rule is enabled; the conversions are sent and recorded, but credited to no
campaign until you link the rule (pass `campaign_ids`, run `linkedin_capi_rule_setup`, or link it in
Campaign Manager). The DAG does not use LinkedIn's `autoAssociationType=ALL_CAMPAIGNS` instead: it links
every campaign of the ad account, once, when the rule is created (never campaigns made later, nor when
the rule already exists), which is a reporting choice to make on purpose, not by default.
4. **push_conversions** — run the SQL below on `params.sql_conn_id` for that day and stream the rows to
   LinkedIn in batches of up to 5,000; invalid rows go to a JSON-lines rejects file under
   `params.rejects_dir/<dag_id>/<run_id>/`; what LinkedIn accepted is recorded in the day's ledger. It
   uses `on_empty="fail"`: a CRM that records conversions every day returns no rows for a day only when
   something broke (the export did not land, the table or the interval is wrong), so an empty day fails at
   once, without retries, naming the SQL connection and the data interval. A CRM with quiet days should
   use `"succeed"` (a warning) or `"skip"`.
5. **check_rejections** — fail loudly when more than `params.max_rejected_fraction` of the rows were
   rejected.

#### Connections
* `linkedin_capi_default` (type `linkedin_capi`): OAuth client id and secret plus a refresh token, or a
  static Direct API access token; `ad_account_id` in the extras. Example as an environment variable:
  `AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT='{"conn_type": "linkedin_capi", "login": "<client id>",
  "password": "<client secret>", "extra": {"refresh_token": "...", "ad_account_id": "123456"}}'`
* `crm_db` (or whatever `params.sql_conn_id` names): any SQL connection whose hook is a `DbApiHook`
  (PostgreSQL, SQLite, Snowflake, BigQuery, MySQL...).

#### Pool
LinkedIn tasks run in the pool `linkedin_capi`; create it once, sized to what one token may do at a time:
`airflow pools set linkedin_capi 2 "LinkedIn Conversions API (one token)"`. The scheduler does **not**
schedule tasks whose pool does not exist (the DAG shows a "non-existent pool" warning); `dag.test()` and
`airflow dags test` ignore pools.

#### The SQL and the day
The source table has a `recorded_at` column holding UTC ISO-8601 text (`2026-11-21T13:45:12+00:00`) or a
`timestamp with time zone`. The query compares it with the window's bounds, which render in the same
ISO-8601 form as `{{ data_interval_start | ts }}`: PostgreSQL reads the literal as a timestamp, and SQLite
compares the text, which sorts in time order as long as every value is UTC in that one form. Adapt the
`SELECT` aliases to your columns (or pass `column_map`); the provider reads the column names
case-insensitively.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Asset, AssetAlias, Param, task

try:
    from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable
except ImportError:  # pragma: no cover - Airflow 3.1: the task SDK does not export the timetables yet
    from airflow.timetables.assets import AssetOrTimeSchedule
    from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_linkedin_capi.operators.conversion_rules import (
    LinkedInCapiAssociateCampaignsOperator,
    LinkedInCapiCreateConversionRuleOperator,
)
from airflow_provider_linkedin_capi.sensors.conversion_rule import LinkedInCapiConversionRuleSensor
from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator

DAG_ID = "linkedin_capi_nightly_crm_sync"
LINKEDIN_POOL = "linkedin_capi"
RULE_ID = "{{ ti.xcom_pull(task_ids='create_conversion_rule')['rule_id'] }}"
#: Updated by the CRM load (replace it with the asset your own CRM DAG produces).
CRM_EXPORT = Asset("crm_conversions_export")
#: Resolved by the push to one linkedin-capi:// asset per conversion rule it sent to; the rule is created by
#: name at run time, so a DAG cannot name its asset up front. linkedin_capi_after_sync is scheduled on it.
LINKEDIN_CONVERSIONS = AssetAlias("linkedin_capi_crm_conversions")
WINDOW = "ti.xcom_pull(task_ids='sync_window')"

# [START howto_linkedin_capi_nightly_sql]
CONVERSIONS_SQL = """
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
FROM {{ params.source_table }}
WHERE recorded_at >= '{{ ti.xcom_pull(task_ids='sync_window')['start'] }}'
  AND recorded_at <  '{{ ti.xcom_pull(task_ids='sync_window')['end'] }}'
"""
# [END howto_linkedin_capi_nightly_sql]

REJECTS_PATH = (
    "{{ params.rejects_dir }}/{{ dag.dag_id }}/{{ run_id | replace(':', '-') | replace('+', '_') }}"
    "/rejects.jsonl"
)
# One ledger per synced day, so a second run of the same day leaves out what the first delivered.
LEDGER_PATH = (
    "{{ (params.ledger_dir ~ '/' ~ dag.dag_id ~ '/' ~ " + WINDOW + "['day']) if params.ledger_dir else '' }}"
)


def _exponential_backoff() -> bool | float:
    """Airflow 3.1 wants a bool here; later versions a multiplier, where ``True`` means 1.0 (no backoff)."""
    try:
        from airflow.sdk.bases.operator import BASEOPERATOR_ARGS_EXPECTED_TYPES
    except ImportError:  # pragma: no cover - older task SDK layout
        return True
    return True if BASEOPERATOR_ARGS_EXPECTED_TYPES.get("retry_exponential_backoff") is bool else 2.0


with DAG(
    dag_id=DAG_ID,
    description="Send yesterday's CRM conversions to the LinkedIn Conversions API",
    doc_md=__doc__,
    # Midnight UTC or the CRM's asset event, whichever comes first. A data-interval timetable, not the bare
    # "@daily" string: since Airflow 3 a cron string gives a zero-length interval (CronTriggerTimetable).
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable("@daily", timezone="UTC"), assets=[CRM_EXPORT]
    ),
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
        "conversion_rule_name": Param("CRM qualified lead (Airflow)", type="string", minLength=1),
        "conversion_type": Param("QUALIFIED_LEAD", type="string"),
        "ad_account_id": Param(
            None, type=["null", "string"], description="Empty: use the connection's ad_account_id."
        ),
        "campaign_ids": Param(
            [], type="array", items={"type": ["string", "integer"]}, description="Campaigns to credit."
        ),
        "linkedin_capi_conn_id": Param("linkedin_capi_default", type="string"),
        "sql_conn_id": Param("crm_db", type="string"),
        "source_table": Param("crm_conversions", type="string", pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$"),
        "rejects_dir": Param("/tmp/linkedin_capi/rejects", type="string"),
        "ledger_dir": Param(
            "/tmp/linkedin_capi/ledger",
            type="string",
            description="Delivery ledgers, one per day (an ObjectStoragePath URI in production). Empty: "
            "no ledger, and a second run of a day resends its rows with the same eventIds.",
        ),
        "max_rejected_fraction": Param(0.2, type="number", minimum=0, maximum=1),
    },
) as dag:
    # [START howto_linkedin_capi_create_rule]
    create_rule = LinkedInCapiCreateConversionRuleOperator(
        task_id="create_conversion_rule",
        name="{{ params.conversion_rule_name }}",
        conversion_type="{{ params.conversion_type }}",
        ad_account_id="{{ params.ad_account_id or '' }}",
        if_exists="reuse",
        linkedin_capi_conn_id="{{ params.linkedin_capi_conn_id }}",
        pool=LINKEDIN_POOL,
    )
    # [END howto_linkedin_capi_create_rule]

    # [START howto_linkedin_capi_associate]
    associate = LinkedInCapiAssociateCampaignsOperator(
        task_id="associate_campaigns",
        conversion_rule_id=RULE_ID,
        campaign_ids="{{ params.campaign_ids }}",
        mode="add",
        ad_account_id="{{ params.ad_account_id or '' }}",
        linkedin_capi_conn_id="{{ params.linkedin_capi_conn_id }}",
        pool=LINKEDIN_POOL,
    )
    # [END howto_linkedin_capi_associate]

    # [START howto_linkedin_capi_sensor]
    wait_ready = LinkedInCapiConversionRuleSensor(
        task_id="wait_for_rule_ready",
        conversion_rule_id=RULE_ID,
        wait_for="ready",
        # No campaign_ids: the rule stays unlinked, so only "enabled" is awaited (see the DAG doc).
        min_campaigns="{{ 1 if params.campaign_ids else 0 }}",
        ad_account_id="{{ params.ad_account_id or '' }}",
        linkedin_capi_conn_id="{{ params.linkedin_capi_conn_id }}",
        deferrable=True,
        poke_interval=60,
        timeout=60 * 60,
        pool=LINKEDIN_POOL,
    )
    # [END howto_linkedin_capi_sensor]

    # [START howto_linkedin_capi_push]
    push = SqlToLinkedInCapiOperator(
        task_id="push_conversions",
        sql=CONVERSIONS_SQL,
        sql_conn_id="{{ params.sql_conn_id }}",
        conversion_rule_id=RULE_ID,
        key_columns=["crm_id"],
        rejects_path=REJECTS_PATH,
        ledger_path=LEDGER_PATH,
        # Our CRM records conversions every day: no rows means a broken export, not a quiet day.
        on_empty="fail",
        linkedin_capi_conn_id="{{ params.linkedin_capi_conn_id }}",
        outlets=[LINKEDIN_CONVERSIONS],
        pool=LINKEDIN_POOL,
    )
    # [END howto_linkedin_capi_push]

    @task
    def check_rejections(summary: dict, params: dict | None = None) -> dict:
        """Fail the run when too many rows were rejected: a mapping or CRM problem, not bad luck."""
        import logging

        from airflow.providers.common.compat.sdk import AirflowFailException

        limit = float((params or {}).get("max_rejected_fraction", 0.2))
        rows, rejected = summary.get("rows_read", 0), summary.get("events_rejected", 0)
        fraction = rejected / rows if rows else 0.0
        by_code = ", ".join(f"{code}={n}" for code, n in sorted(summary.get("rejections", {}).items()))
        logging.getLogger(__name__).info(
            "Rows read %d, events sent %d, rejected %d (%.1f%%; limit %.1f%%)%s. Rejects file: %s",
            rows,
            summary.get("events_sent", 0),
            rejected,
            100 * fraction,
            100 * limit,
            f": {by_code}" if by_code else "",
            summary.get("rejects_path"),
        )
        if fraction > limit:
            raise AirflowFailException(
                f"{rejected} of {rows} rows ({fraction:.1%}) were rejected, above max_rejected_fraction "
                f"{limit:.1%} ({by_code}). See the rejects file {summary.get('rejects_path')}."
            )
        return {"rows_read": rows, "rejected_fraction": round(fraction, 6)}

    @task(retries=0)
    def sync_window(data_interval_start=None, data_interval_end=None, dag_run=None) -> dict[str, str]:
        """The UTC day this run syncs, as ISO-8601 bounds the SQL compares ``recorded_at`` with.

        A run with a data interval syncs it (midnight runs: the day that just ended). A run without one,
        started by the CRM's asset event or triggered without a logical date, syncs the UTC day before it
        was queued (its ``run_after``): the same day the midnight run covers, so the day's ledger keeps
        the two from sending a row twice.
        """
        if data_interval_start is not None and data_interval_end is not None:
            start, end = pendulum.instance(data_interval_start), pendulum.instance(data_interval_end)
        else:
            end = pendulum.instance(dag_run.run_after).in_timezone("UTC").start_of("day")
            start = end.subtract(days=1)
        return {"start": start.isoformat(), "end": end.isoformat(), "day": start.to_date_string()}

    sync_window() >> create_rule >> associate >> wait_ready >> push
    check_rejections(push.output)


if __name__ == "__main__":
    dag.test()
