"""``on_empty``: what a push whose query returned no row does (succeed with a warning, skip, or fail)."""

from __future__ import annotations

import logging

import pendulum
import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSkipException

from .conftest import make_operator

EMPTY_SQL = "SELECT * FROM crm_conversions WHERE 1 = 0"
INTERVAL = {
    "data_interval_start": pendulum.datetime(2026, 11, 20, tz="UTC"),
    "data_interval_end": pendulum.datetime(2026, 11, 21, tz="UTC"),
}


def test_succeed_is_the_default_and_warns(linkedin, sqlite_crm, rule_ids, capsys, caplog):
    op = make_operator(rule_ids, sql=EMPTY_SQL)
    assert op.on_empty == "succeed"

    with caplog.at_level(logging.WARNING):
        summary = op.execute(context=dict(INTERVAL))

    assert summary["rows_read"] == 0
    assert summary["events_sent"] == 0
    captured = capsys.readouterr()
    logged = captured.out + captured.err + caplog.text
    assert "warning" in logged.lower()
    assert "returned no rows (sql_conn_id 'crm', data interval 2026-11-20T00:00:00+00:00" in logged
    assert linkedin.admin.events() == []


def test_skip_raises_a_skip(linkedin, sqlite_crm, rule_ids):
    op = make_operator(rule_ids, sql=EMPTY_SQL, on_empty="skip")

    with pytest.raises(AirflowSkipException, match="returned no rows"):
        op.execute(context=dict(INTERVAL))


def test_fail_fails_without_retries_naming_the_connection_and_the_interval(linkedin, sqlite_crm, rule_ids):
    op = make_operator(rule_ids, sql=EMPTY_SQL, on_empty="fail", retries=3)

    with pytest.raises(AirflowFailException) as failure:  # AirflowFailException: no retry
        op.execute(context=dict(INTERVAL))

    message = str(failure.value)
    assert "sql_conn_id 'crm'" in message
    assert "2026-11-20T00:00:00+00:00" in message
    assert "2026-11-21T00:00:00+00:00" in message
    assert "on_empty='fail'" in message


def test_fail_without_a_data_interval_says_so(linkedin, sqlite_crm, rule_ids):
    op = make_operator(rule_ids, sql=EMPTY_SQL, on_empty="fail")

    with pytest.raises(AirflowFailException, match="no data interval"):
        op.execute(context={})


@pytest.mark.parametrize("on_empty", ["skip", "fail"])
def test_rows_that_are_all_rejected_are_not_an_empty_result(linkedin, sqlite_crm, rule_ids, on_empty):
    """Rows were read (and explained); only a query that returned nothing is empty."""
    op = make_operator(
        rule_ids, sql="SELECT * FROM crm_conversions WHERE conversionHappenedAt IS NULL", on_empty=on_empty
    )

    summary = op.execute(context=dict(INTERVAL))

    assert summary["rows_read"] >= 1
    assert summary["events_sent"] == 0


def test_an_unknown_choice_fails_at_parse_time(rule_ids):
    with pytest.raises(ValueError, match="on_empty must be one of"):
        make_operator(rule_ids, on_empty="ignore")
