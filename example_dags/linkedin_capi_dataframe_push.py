"""
### Push a pandas DataFrame to the LinkedIn Conversions API

For teams whose conversions are shaped in pandas (scored, deduplicated, joined) before they go to
LinkedIn. The DataFrame goes through the same pipeline as the SQL push: same column contract, hashing and
validation, batches, rejects file, ledger and summary.

1. **prepare_conversions** (`@task`) reads the CRM rows of the run's data interval into a pandas
   DataFrame, keeps one row per CRM id and renames the columns to the provider's contract. It returns the
   DataFrame, which Airflow stores in XCom (as Parquet, which needs `pyarrow`; Airflow 3.1 cannot store
   a pandas 3 DataFrame, see `docs/dataframes.md`).
2. **preview_conversions** (`@task`) calls `push_dataframe(frame, dry_run=True)`: everything but the
   POST, so a frame that is mostly invalid (a broken join, a renamed column) fails here, before anything
   reaches LinkedIn.
3. **push_conversions** (`DataFrameToLinkedInCapiOperator`) takes the DataFrame from XCom and sends it.
   `on_empty="skip"`: a day without conversions is normal for this source, and skipping tells the
   downstream reporting there is nothing to report.

`push_dataframe` is the same thing as a function, for code that already holds a DataFrame inside a
`@task`. The rule must exist (see the `linkedin_capi_rule_setup` DAG); pass its id as
`params.conversion_rule_id`. Connections and the `linkedin_capi` pool as in the nightly CRM sync.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_linkedin_capi.transfers.dataframe_to_linkedin_capi import (
    DataFrameToLinkedInCapiOperator,
    push_dataframe,
)

if TYPE_CHECKING:
    import pandas as pd

try:
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # pragma: no cover - task SDKs that do not export the timetables yet
    from airflow.timetables.interval import CronDataIntervalTimetable

DAG_ID = "linkedin_capi_dataframe_push"
LINKEDIN_POOL = "linkedin_capi"

# The contract's names for the CRM's columns.
CONTRACT_NAMES = {
    "converted_at": "conversionHappenedAt",
    "first_name": "firstName",
    "last_name": "lastName",
    "company": "companyName",
    "job_title": "title",
    "country": "countryCode",
    "deal_currency": "currencyCode",
    "deal_value": "amount",
}

with DAG(
    dag_id=DAG_ID,
    description="Shape CRM conversions in pandas, then send the DataFrame to LinkedIn",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["example", "linkedin_capi"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    params={
        "conversion_rule_id": Param("", type="string", description="Rule id (numeric) or URN"),
        "linkedin_capi_conn_id": Param("linkedin_capi_default", type="string"),
        "sql_conn_id": Param("crm_db", type="string"),
        "source_table": Param("crm_conversions", type="string", pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$"),
        "max_rejected_fraction": Param(0.2, type="number", minimum=0, maximum=1),
        "ledger_dir": Param("/tmp/linkedin_capi/ledger", type="string", minLength=1),
    },
) as dag:

    @task
    def prepare_conversions(params=None, data_interval_start=None, data_interval_end=None) -> pd.DataFrame:
        """The interval's CRM rows as a DataFrame in the provider's column names, one row per CRM id."""
        from airflow_provider_linkedin_capi.push.sources import get_db_hook

        hook = get_db_hook(params["sql_conn_id"])
        mark = hook.placeholder  # the driver's parameter style: "?" for SQLite, "%s" for PostgreSQL
        frame = hook.get_df(
            f"SELECT * FROM {params['source_table']} WHERE recorded_at >= {mark} AND recorded_at < {mark}",
            parameters=(data_interval_start.isoformat(), data_interval_end.isoformat()),
            df_type="pandas",
        )
        frame = frame.drop_duplicates("crm_id").rename(columns=CONTRACT_NAMES)
        # XCom stores a DataFrame as Parquet: one type per column. This CRM's conversion time mixes epoch
        # numbers and ISO-8601 text, so it travels as text; the provider reads numeric text as epoch time.
        frame["conversionHappenedAt"] = frame["conversionHappenedAt"].astype("string")
        return frame.drop(columns=["recorded_at", "stage", "demo_kind"])

    @task
    def preview_conversions(frame: pd.DataFrame, params=None) -> dict:
        """A dry run of the push: validate every row, send nothing, stop a mostly invalid frame here."""
        from airflow.providers.common.compat.sdk import AirflowFailException

        summary = push_dataframe(
            frame,
            conversion_rule_id=params["conversion_rule_id"],
            linkedin_capi_conn_id=params["linkedin_capi_conn_id"],
            key_columns=["crm_id"],
            dry_run=True,
        )
        if summary["rows_read"] and summary["events_rejected"] / summary["rows_read"] > float(
            params["max_rejected_fraction"]
        ):
            raise AirflowFailException(f"Too many invalid rows; nothing was sent: {summary['rejections']}")
        return summary

    frame = prepare_conversions()

    # [START howto_linkedin_capi_dataframe_push]
    push = DataFrameToLinkedInCapiOperator(
        task_id="push_conversions",
        dataframe=frame,
        conversion_rule_id="{{ params.conversion_rule_id }}",
        key_columns=["crm_id"],
        on_empty="skip",
        # One ledger per day: a retry resends nothing LinkedIn took. An ObjectStoragePath URI in production.
        ledger_path="{{ params.ledger_dir }}/{{ dag.dag_id }}/{{ data_interval_start | ds }}",
        linkedin_capi_conn_id="{{ params.linkedin_capi_conn_id }}",
        pool=LINKEDIN_POOL,
    )
    # [END howto_linkedin_capi_dataframe_push]

    preview_conversions(frame) >> push


if __name__ == "__main__":
    dag.test()
