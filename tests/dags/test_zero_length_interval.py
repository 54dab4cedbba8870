"""A push whose query is windowed on a zero-length data interval fails instead of going green with 0 rows.

On Airflow 3 a cron ``schedule`` gives each run a zero-length data interval (``create_cron_data_intervals``
is off by default), so ``recorded_at >= data_interval_start AND recorded_at < data_interval_end`` reads
nothing. These DAGs run through ``dag.test()``, so the interval comes from Airflow's own timetables.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

pytestmark = [pytest.mark.dag, pytest.mark.timeout(300)]

COLUMNS = (
    "crm_id, converted_at AS conversionHappenedAt, email, li_fat_id, first_name AS firstName, "
    "last_name AS lastName, company AS companyName, country AS countryCode, deal_currency AS currencyCode, "
    "deal_value AS amount"
)
WINDOWED_SQL = (
    f"SELECT {COLUMNS} FROM crm_conversions WHERE recorded_at >= '{{{{ data_interval_start.isoformat() }}}}' "
    "AND recorded_at < '{{ data_interval_end.isoformat() }}'"
)


_DAG_FILE = """
import pendulum
from airflow.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator

with DAG({dag_id!r}, schedule={schedule}, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False):
    SqlToLinkedInCapiOperator(
        task_id="push",
        sql={sql!r},
        sql_conn_id="crm_db",
        conversion_rule_id={rule_id},
        key_columns=["crm_id"],
        ledger_path={ledger!r},
        max_rejected_fraction=0.5,
        retries=3,
    )
"""


@pytest.fixture
def dag_file(tmp_path, monkeypatch, airflow_db, rule_id):
    """``dag_file(dag_id, schedule, sql)``: the DAG, parsed from a file in a DAGs folder of its own."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag

    folder = tmp_path / "dags"
    folder.mkdir()
    from airflow import settings

    # dag.test() writes the DAG through the dags-folder bundle, which reads settings.DAGS_FOLDER.
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(folder))

    def write(dag_id: str, schedule: str, sql: str):
        ledger = str(tmp_path / "ledger")
        source = _DAG_FILE.format(dag_id=dag_id, schedule=schedule, sql=sql, rule_id=rule_id, ledger=ledger)
        (folder / f"{dag_id}.py").write_text(source)
        bag = DagBag(dag_folder=str(folder / f"{dag_id}.py"))
        assert bag.import_errors == {}
        return bag.dags[dag_id]

    return write


@pytest.fixture
def rule_id(sandbox) -> int:
    return sandbox.admin.create_rule(name="Qualified leads", type="QUALIFIED_LEAD")["id"]


def test_a_cron_schedule_windowed_query_fails_and_sends_nothing(
    sandbox, crm_factory, dag_file, metadata_db, today, capfd
):
    crm_factory({today - timedelta(days=1): 40})
    dag = dag_file("zero_length_cron", "'0 2 * * *'", WINDOWED_SQL)

    run = dag.test(logical_date=today)

    assert run.state == "failed"
    assert metadata_db.task_states(dag.dag_id, run.run_id)[("push", -1)] == "failed"
    assert sandbox.admin.events() == []
    out, err = capfd.readouterr()
    assert "data_interval_end and data_interval_start, but this run's data interval is empty" in out + err
    assert "CronDataIntervalTimetable" in out + err


def test_the_data_interval_timetable_reads_the_day(sandbox, crm_factory, dag_file, today):
    crm = crm_factory({today - timedelta(days=1): 40})
    schedule = 'CronDataIntervalTimetable("0 0 * * *", timezone="UTC")'
    dag = dag_file("day_interval_cron", schedule, WINDOWED_SQL)

    run = dag.test(logical_date=today)

    assert run.state == "success"
    assert len(sandbox.admin.events()) == crm.valid_rows((today - timedelta(days=1)).date().isoformat())


def test_a_query_that_does_not_read_the_interval_runs_on_a_cron_schedule(
    sandbox, crm_factory, dag_file, today
):
    # A comment and a column that merely look like the variable do not count; only the template's variables.
    sql = f"SELECT {COLUMNS} FROM crm_conversions -- rows since data_interval_end\n"
    crm = crm_factory({today - timedelta(days=1): 40})
    dag = dag_file("cron_without_interval", "'0 2 * * *'", sql)

    run = dag.test(logical_date=today)

    assert run.state == "success"
    assert len(sandbox.admin.events()) == crm.valid_rows((today - timedelta(days=1)).date().isoformat())
