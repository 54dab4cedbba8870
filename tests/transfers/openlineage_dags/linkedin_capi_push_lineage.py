"""One push, run with ``dag.test()`` in a child process with OpenLineage on (test_push_openlineage.py)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator

with DAG(
    dag_id="linkedin_capi_push_lineage",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    params={"rule": "", "batch_size": 5000},
) as dag:
    SqlToLinkedInCapiOperator(
        task_id="push_conversions",
        sql="SELECT * FROM crm_conversions ORDER BY seq",
        sql_conn_id="crm",
        conversion_rule_id="{{ params.rule }}",
        key_columns=["crm_id"],
        batch_size=10,
        retries=0,
    )
