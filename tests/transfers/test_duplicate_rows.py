"""Rows of one run that repeat an eventId (a JOIN fan-out) are sent once and counted, or fail the task.

A deal joined to its contacts comes back once per contact; with ``key_columns=["deal_id"]`` every copy
derives the same eventId. The sandbox must then hold each deal once, and the summary must say how many
rows were left out as repeats.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_linkedin_capi.exceptions import DuplicateRowError
from airflow_provider_linkedin_capi.push import pipeline as duplicates
from airflow_provider_linkedin_capi.push.pipeline import SeenEventIds
from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator

DEALS = 30
FAN_OUT_QUERY = (
    "SELECT d.deal_id, c.email, d.happened AS conversionHappenedAt "
    "FROM deals d JOIN contacts c ON c.deal_id = d.deal_id ORDER BY c.contact_id"
)


@pytest.fixture
def fan_out_db(tmp_path, monkeypatch) -> int:
    """Deals with 1 to 3 contacts each, behind the ``fan_out`` connection; returns the joined row count."""
    path = tmp_path / "crm.sqlite"
    happened = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    conn = sqlite3.connect(path)
    contacts = [(deal, f"buyer{deal}.{n}@example.com") for deal in range(DEALS) for n in range(1 + deal % 3)]
    try:
        conn.execute("CREATE TABLE deals (deal_id INTEGER PRIMARY KEY, happened TEXT)")
        conn.execute("CREATE TABLE contacts (contact_id INTEGER PRIMARY KEY, deal_id INTEGER, email TEXT)")
        conn.executemany("INSERT INTO deals VALUES (?, ?)", [(deal, happened) for deal in range(DEALS)])
        conn.executemany("INSERT INTO contacts (deal_id, email) VALUES (?, ?)", contacts)
        conn.commit()
    finally:
        conn.close()
    monkeypatch.setenv("AIRFLOW_CONN_FAN_OUT", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return len(contacts)


def _push(rule_id, **kwargs) -> dict:
    kwargs.setdefault("batch_size", 7)  # repeats fall both inside a batch and across batches
    return SqlToLinkedInCapiOperator(
        task_id="push",
        sql=FAN_OUT_QUERY,
        sql_conn_id="fan_out",
        conversion_rule_id=rule_id,
        key_columns=["deal_id"],
        **kwargs,
    ).execute(context={})


def test_a_join_fan_out_sends_each_conversion_once_and_counts_the_repeats(linkedin, fan_out_db):
    rule_id = str(linkedin.admin.create_rule(name="fan-out")["id"])
    summary = _push(rule_id)
    assert summary["rows_read"] == fan_out_db
    assert summary["events_sent"] == DEALS
    assert summary["duplicate_rows"] == fan_out_db - DEALS
    assert summary["events_rejected"] == 0
    stored = linkedin.admin.event_ids(rule_id)
    assert len(stored) == DEALS
    assert set(stored.values()) == {1}
    assert linkedin.admin.stats()["events_total"] == DEALS


def test_on_invalid_fail_with_the_default_on_duplicate_sends_each_conversion_once(linkedin, fan_out_db):
    """The spool keeps the row numbers the duplicate filter leaves gaps in (it used to raise ValueError)."""
    rule_id = str(linkedin.admin.create_rule(name="fan-out, validate first")["id"])
    summary = _push(rule_id, on_invalid="fail")
    assert summary["rows_read"] == fan_out_db
    assert summary["events_sent"] == DEALS
    assert summary["duplicate_rows"] == fan_out_db - DEALS
    stored = linkedin.admin.event_ids(rule_id)
    assert len(stored) == DEALS
    assert set(stored.values()) == {1}


def test_on_duplicate_fail_with_on_invalid_fail_sends_nothing(linkedin, fan_out_db):
    rule_id = str(linkedin.admin.create_rule(name="fan-out, fail")["id"])
    with pytest.raises(DuplicateRowError, match=r"Row \d+ .*repeats eventId"):
        _push(rule_id, on_duplicate="fail", on_invalid="fail")
    assert linkedin.admin.stats()["events_total"] == 0


def test_on_duplicate_fail_while_streaming_stops_at_the_first_repeat(linkedin, fan_out_db):
    rule_id = str(linkedin.admin.create_rule(name="fan-out, fail streaming")["id"])
    with pytest.raises(DuplicateRowError) as failure:
        _push(rule_id, on_duplicate="fail", batch_size=1)
    # Rows 1 and 2 are deals 0 and 1; row 3 is deal 1's second contact.
    assert failure.value.row == 3
    assert linkedin.admin.stats()["events_total"] == 2
    assert "2 events were delivered" in "\n".join(getattr(failure.value, "__notes__", []))


def test_on_duplicate_is_checked_when_the_dag_is_parsed():
    with pytest.raises(ValueError, match="on_duplicate"):
        SqlToLinkedInCapiOperator(task_id="push", sql="SELECT 1", sql_conn_id="crm", on_duplicate="skip")


def test_seen_event_ids_stay_exact_across_the_compact_arrays(monkeypatch):
    monkeypatch.setattr(duplicates, "_SET_LIMIT", 50)
    seen = SeenEventIds()
    answers = []
    for start in range(0, 2_000, 37):  # overlapping windows: each id comes back in a later batch
        batch = [f"evt-{n}" for n in range(start, start + 60)]
        answers.append(seen.first_copies(batch) or [True] * len(batch))
    expected, known = [], set()
    for start in range(0, 2_000, 37):
        batch = [f"evt-{n}" for n in range(start, start + 60)]
        expected.append([not (n in known or known.add(n)) for n in batch])
    assert answers == expected
    assert len(seen) == len(known)
    assert seen.first_copies(["evt-5", "evt-5", "new"]) == [False, False, True]
    assert seen.first_copies(["brand-new", "also-new"]) is None
