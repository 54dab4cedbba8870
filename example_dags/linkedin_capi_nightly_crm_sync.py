"""
### Nightly CRM sync to the LinkedIn Conversions API

Every night, send the conversions your CRM recorded during the previous day to LinkedIn, and explain every
row that could not be sent.

0. **require_data_interval** — stop at once if the run has no data interval (triggered without a
   logical date): the SQL below selects on it.
1. **create_conversion_rule** — create the Conversions API rule named by `params.conversion_rule_name`, or
   reuse it if it already exists (never a duplicate).
2. **associate_campaigns** — link the rule to `params.campaign_ids` (a rule linked to no campaign records
   nothing in LinkedIn's reports).
3. **wait_for_rule_ready** — deferrable: wait until the rule is enabled, uses `CONVERSIONS_API` and has
   at least one campaign.
4. **push_conversions** — run the SQL below on `params.sql_conn_id` for this run's data interval and stream
   the rows to LinkedIn in batches of up to 5,000; invalid rows go to a JSON-lines rejects file under
   `params.rejects_dir/<dag_id>/<run_id>/`. It uses `on_empty="fail"`: a CRM that records conversions
   every day returns no rows for a day only when something broke (the export did not land, the table or
   the interval is wrong), so an empty day fails at once, without retries, naming the SQL connection and
   the data interval. A CRM with quiet days should use `"succeed"` (a warning) or `"skip"`.
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

#### The SQL and the data interval
The source table has a `recorded_at` column holding UTC ISO-8601 text (`2026-11-21T13:45:12+00:00`) or a
`timestamp with time zone`. The query compares it with `{{ data_interval_start | ts }}`, which renders in
the same ISO-8601 form: PostgreSQL reads the literal as a timestamp, and SQLite compares the text, which
sorts in time order as long as every value is UTC in that one form. Adapt the `SELECT` aliases to your
columns (or pass `column_map`); the provider reads the column names case-insensitively.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param, task

try:
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # pragma: no cover - task SDKs that do not export the timetables yet
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
WHERE recorded_at >= '{{ data_interval_start | ts }}'
  AND recorded_at <  '{{ data_interval_end | ts }}'
"""
# [END howto_linkedin_capi_nightly_sql]

REJECTS_PATH = (
    "{{ params.rejects_dir }}/{{ dag.dag_id }}/{{ run_id | replace(':', '-') | replace('+', '_') }}"
    "/rejects.jsonl"
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
    # A data-interval timetable, not the bare "@daily" string: since Airflow 3 a cron string gives a
    # zero-length interval (CronTriggerTimetable), and the SQL selects on the interval.
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
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
        min_campaigns=1,
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
        # Our CRM records conversions every day: no rows means a broken export, not a quiet day.
        on_empty="fail",
        linkedin_capi_conn_id="{{ params.linkedin_capi_conn_id }}",
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
    def require_data_interval(data_interval_start=None, data_interval_end=None) -> None:
        """Stop a run that has no data interval before it touches LinkedIn: the SQL selects on it.

        Airflow 3 creates such runs when triggered without a logical date (``airflow dags trigger``
        without ``-l``, or the REST API with ``"logical_date": null``).
        """
        from airflow.providers.common.compat.sdk import AirflowFailException

        if data_interval_start is None or data_interval_end is None:
            raise AirflowFailException(
                "This run has no data interval, so there is no day to sync. Trigger it with a logical "
                "date (`airflow dags trigger -l 2026-11-21T00:00:00+00:00 ...`, or the UI's form), or push "
                "a window of days with the linkedin_capi_backfill DAG."
            )

    require_data_interval() >> create_rule >> associate >> wait_ready >> push
    check_rejections(push.output)


if __name__ == "__main__":
    dag.test()
