"""Run the DataFrame example with ``dag.test()``: a DataFrame through XCom, a dry-run preview, the push."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID

pytestmark = [pytest.mark.dag, pytest.mark.timeout(300)]


def _airflow_stores_dataframes_in_xcom() -> bool:
    """Airflow 3.1's XCom serializer knows pandas 2's class name only, not pandas 3's ``pandas.DataFrame``."""
    import pandas as pd

    try:
        from airflow.sdk.serde import serialize
    except ImportError:  # Airflow 3.1
        from airflow.serialization.serde import serialize
    try:
        serialize(pd.DataFrame({"a": [1]}))
    except TypeError:
        return False
    return True


@pytest.fixture(autouse=True)
def _dataframe_xcom():
    if not _airflow_stores_dataframes_in_xcom():
        pytest.skip("this Airflow cannot store a pandas DataFrame in XCom (Airflow 3.1 with pandas 3)")


DAG_ID = "linkedin_capi_dataframe_push"


def test_the_interval_rows_go_through_the_dataframe_once(
    sandbox, crm_factory, load_dag, metadata_db, today, tmp_path
):
    yesterday = today - timedelta(days=1)
    crm = crm_factory({yesterday - timedelta(days=1): 40, yesterday: 120, today: 30})
    rule = sandbox.admin.create_rule(name="DataFrame rule", type="PURCHASE")
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, ["620000001"])
    dag = load_dag(DAG_ID)

    conf = {"conversion_rule_id": str(rule["id"]), "ledger_dir": str(tmp_path / "ledger")}
    run = dag.test(logical_date=today, run_conf=conf)

    assert run.state == "success"
    states = metadata_db.task_states(DAG_ID, run.run_id)
    assert set(states.values()) == {"success"}, states
    day = yesterday.date().isoformat()
    events = sandbox.admin.events()
    assert len(events) == crm.valid_rows(day)
    assert len({event["eventId"] for event in events}) == len(events)
    assert {event["conversion"] for event in events} == {f"urn:lla:llaPartnerConversion:{rule['id']}"}

    preview = metadata_db.xcom(DAG_ID, run.run_id, "preview_conversions")
    summary = metadata_db.xcom(DAG_ID, run.run_id, "push_conversions")
    assert preview["dry_run"] is True
    assert summary["dry_run"] is False
    for counts in (preview, summary):
        assert counts["rows_read"] == crm.rows_on(day)
        assert counts["events_sent"] == crm.valid_rows(day)
        assert counts["events_rejected"] == crm.dirty_rows(day)

    # Airflow 3.3+: the push kept its progress in the task state store (3.1 and 3.2 have none).
    if _has_task_state_store():
        progress = _stored_progress(metadata_db, run.run_id, "push_conversions")
        assert progress["finished"] is True
        assert progress["try_number"] == 1
        assert progress["events_sent"] == crm.valid_rows(day)
        assert progress["events_rejected"] == crm.dirty_rows(day)
        assert progress["rows_read"] == crm.rows_on(day)
        assert progress["batches"] >= 1


def test_a_day_without_rows_skips_the_push(sandbox, crm_factory, load_dag, metadata_db, today):
    crm_factory({today - timedelta(days=3): 10})
    rule = sandbox.admin.create_rule(name="DataFrame rule", type="PURCHASE")
    dag = load_dag(DAG_ID)

    run = dag.test(logical_date=today, run_conf={"conversion_rule_id": str(rule["id"])})

    states = metadata_db.task_states(DAG_ID, run.run_id)
    assert states[("push_conversions", -1)] == "skipped"
    assert sandbox.admin.events() == []


def _has_task_state_store() -> bool:
    try:
        from airflow.sdk.execution_time.context import TaskStateStoreAccessor  # noqa: F401
    except ImportError:
        return False
    return True


def _stored_progress(metadata_db, run_id: str, task_id: str) -> dict:
    import json
    import sqlite3

    with sqlite3.connect(metadata_db.path) as db:
        ((value,),) = db.execute(
            "SELECT value FROM task_state_store WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = ?",
            (DAG_ID, run_id, task_id, "linkedin_capi.push_progress"),
        ).fetchall()
    return json.loads(value)
