"""A per-row ``conversion`` column that holds something else (deal ids) cannot cost one lookup per row."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator


@pytest.fixture
def deals_table(tmp_path, monkeypatch):
    """300 rows whose ``conversion`` column holds a different deal id on every row."""
    path = tmp_path / "deals.db"
    now_ms = int(time.time() * 1000)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE deals (conversion, conversionHappenedAt, email, eventId)")
        conn.executemany(
            "INSERT INTO deals VALUES (?, ?, ?, ?)",
            [(700_000 + i, now_ms - 3_600_000, f"buyer{i}@example.com", f"deal-{i}") for i in range(300)],
        )
    conn.close()
    monkeypatch.setenv("AIRFLOW_CONN_DEALS", json.dumps({"conn_type": "sqlite", "host": str(path)}))


def _operator(**kwargs) -> SqlToLinkedInCapiOperator:
    return SqlToLinkedInCapiOperator(
        task_id="push_deals", sql="SELECT * FROM deals", sql_conn_id="deals", **kwargs
    )


def test_more_distinct_rules_than_the_cap_fail_before_more_lookups(sandbox, deals_table, lookups):
    with pytest.raises(AirflowFailException, match=r"'conversion' column names more than 100 distinct"):
        _operator().execute(context={})
    assert len(lookups) == 100  # not one GET per row
    assert sandbox.admin.events() == []


def test_the_cap_can_come_from_a_dag_param(sandbox, deals_table, lookups):
    op = _operator(max_distinct_rules="{{ params.rules }}", params={"rules": 5})
    op.render_template_fields({"params": {"rules": 5}})
    with pytest.raises(AirflowFailException, match=r"max_distinct_rules=5"):
        op.execute(context={})
    assert len(lookups) == 5


def test_rules_within_the_cap_are_looked_up_once_each(sandbox, deals_table, lookups):
    summary = _operator(max_distinct_rules=300).execute(context={})
    assert len(lookups) == 300
    assert summary["rejections"] == {"missing_conversion_rule": 300}


@pytest.mark.parametrize("value", [0, -1, "many", 2.5, True])
def test_a_cap_that_is_not_a_positive_whole_number_is_refused(value):
    with pytest.raises(ValueError, match="max_distinct_rules"):
        _operator(max_distinct_rules=value)


def test_a_templated_cap_that_renders_badly_fails_before_anything_is_read(sandbox, deals_table, lookups):
    op = _operator(max_distinct_rules="{{ params.rules }}", params={"rules": "lots"})
    op.render_template_fields({"params": {"rules": "lots"}})
    with pytest.raises(AirflowFailException, match=r"max_distinct_rules.*Nothing was read or sent"):
        op.execute(context={})
    assert lookups == []
