"""Mistakes in the task's setup fail the task clearly, and nothing reaches LinkedIn.

A failed query, a SQL connection id that does not exist and a conversion rule that LinkedIn does not know
are the three mistakes a user makes first. Each must name the problem, and the sandbox must show that not
one events request was made (not even a rejected one) and not one event stored.
"""

from __future__ import annotations

import sqlite3

import pytest
from airflow.exceptions import AirflowNotFoundException
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator


def _push(sql_conn_id: str, rule_id: str, sql: str = "SELECT * FROM crm") -> dict:
    return SqlToLinkedInCapiOperator(
        task_id="push", sql=sql, sql_conn_id=sql_conn_id, conversion_rule_id=rule_id, key_columns=["crm_id"]
    ).execute(context={})


def _assert_nothing_sent(sandbox, events_requests) -> None:
    stats = sandbox.admin.stats()
    assert stats["events_total"] == 0
    assert stats["batches_accepted"] == stats["batches_rejected"] == 0
    assert events_requests() == 0


def test_a_valid_push_is_counted(sandbox, crm_sqlite, events_requests):
    """The control: the counters used below do see a push that works."""
    rule_id = str(sandbox.admin.create_rule(name="control")["id"])
    summary = _push(crm_sqlite, rule_id)
    assert summary["events_sent"] == 50
    assert sandbox.admin.stats()["events_total"] == 50
    assert events_requests() == 1


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM no_such_table", "no such table: no_such_table"),
        ("SELEC email FROM crm", "syntax error"),
        ("SELECT email, conversionHappenedAt FROM crm WHERE crm_id = :missing", "bindings"),
    ],
    ids=["missing-table", "syntax-error", "unbound-parameter"],
)
def test_a_failing_query_is_a_clear_error_and_sends_nothing(
    sandbox, crm_sqlite, events_requests, sql, expected
):
    rule_id = str(sandbox.admin.create_rule(name="bad sql")["id"])
    with pytest.raises((sqlite3.Error, AirflowException)) as failure:
        _push(crm_sqlite, rule_id, sql=sql)
    assert expected in str(failure.value).lower() or expected in repr(failure.value).lower()
    _assert_nothing_sent(sandbox, events_requests)


def test_an_unknown_sql_connection_is_a_clear_error_and_sends_nothing(sandbox, events_requests):
    rule_id = str(sandbox.admin.create_rule(name="no conn")["id"])
    with pytest.raises(AirflowNotFoundException, match="no_such_warehouse"):
        _push("no_such_warehouse", rule_id)
    _assert_nothing_sent(sandbox, events_requests)


def test_a_connection_that_is_not_a_database_is_a_clear_error_and_sends_nothing(sandbox, events_requests):
    rule_id = str(sandbox.admin.create_rule(name="not sql")["id"])
    with pytest.raises(AirflowException, match="not a SQL"):
        _push("linkedin_capi_default", rule_id)
    _assert_nothing_sent(sandbox, events_requests)


@pytest.mark.parametrize("rule_id", ["987654321", "urn:lla:llaPartnerConversion:987654321"])
def test_a_rule_linkedin_does_not_know_is_a_clear_error_and_sends_nothing(
    sandbox, crm_sqlite, events_requests, rule_id
):
    sandbox.admin.create_rule(name="some other rule")
    with pytest.raises(AirflowFailException, match=r"987654321.*(does not exist|not found)") as failure:
        _push(crm_sqlite, rule_id)
    assert "Nothing was" in str(failure.value)
    _assert_nothing_sent(sandbox, events_requests)


def test_a_rule_that_is_not_a_conversions_api_rule_is_refused_before_sending(
    sandbox, crm_sqlite, events_requests
):
    rule = sandbox.admin.create_rule(name="insight tag rule", conversionMethod="INSIGHT_TAG")
    with pytest.raises(AirflowFailException, match=str(rule["id"])):
        _push(crm_sqlite, str(rule["id"]))
    _assert_nothing_sent(sandbox, events_requests)
