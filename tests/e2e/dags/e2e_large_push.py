"""A single large push for the end-to-end suite's killed-worker scenario (not an example for users).

It reads every row of ``params.source_table`` on ``params.sql_conn_id`` and records what LinkedIn accepted
in ``params.ledger_path``, with short retries, so that a retry after a killed worker comes within seconds.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator

with DAG(
    dag_id="e2e_large_push",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["e2e"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=2)},
    params={
        "sql_conn_id": Param("crm_large", type="string"),
        "source_table": Param("crm_conversions", type="string", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$"),
        "conversion_rule_id": Param("", type="string"),
        "ledger_path": Param("", type="string"),
        "rejects_path": Param("", type="string"),
    },
):
    SqlToLinkedInCapiOperator(
        task_id="push_conversions",
        sql="""
            SELECT crm_id, converted_at AS conversionHappenedAt, email, li_fat_id,
                   first_name AS firstName, last_name AS lastName, company AS companyName,
                   job_title AS title, country AS countryCode, deal_currency AS currencyCode,
                   deal_value AS amount
            FROM {{ params.source_table }}
        """,
        sql_conn_id="{{ params.sql_conn_id }}",
        conversion_rule_id="{{ params.conversion_rule_id }}",
        key_columns=["crm_id"],
        ledger_path="{{ params.ledger_path }}",
        rejects_path="{{ params.rejects_path }}",
        pool="linkedin_capi",
    )
