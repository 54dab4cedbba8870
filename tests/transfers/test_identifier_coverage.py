"""Identifier coverage: events sent per identifier kind, and a warning (or a failure) when a kind falls."""

from __future__ import annotations

import json
import sqlite3
import time
from types import SimpleNamespace

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_linkedin_capi.conversions import IDENTIFIER_KINDS

from .conftest import make_operator

N = 40


def _write_crm(path, *, with_email: bool) -> None:
    now_ms = int(time.time() * 1000) - 3_600_000
    rows = [
        (
            f"c{n}",
            f"person{n}@example.com" if with_email else None,
            "Ada" if n % 2 else None,
            "Byron" if n % 2 else None,
            f"ext-{n}" if n % 4 == 0 else None,
            "urn:li:leadGenFormResponse:abc" if n % 4 == 1 else None,
            now_ms,
        )
        for n in range(N)
    ]
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE IF EXISTS crm")
        db.execute(
            "CREATE TABLE crm (crm_id, email, firstName, lastName, externalIds, lead, conversionHappenedAt)"
        )
        db.executemany("INSERT INTO crm VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    db.close()


@pytest.fixture
def crm(tmp_path, monkeypatch):
    path = tmp_path / "crm.db"
    _write_crm(path, with_email=True)
    monkeypatch.setenv("AIRFLOW_CONN_CRM", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return path


def _context(previous_summary):
    """A task context whose XCom holds the previous run's summary, as ``include_prior_dates`` finds it."""
    asked = []

    def xcom_pull(**kwargs):
        asked.append(kwargs)
        return previous_summary

    ti = SimpleNamespace(dag_id="crm", task_id="push", map_index=-1, try_number=1, xcom_pull=xcom_pull)
    return {"ti": ti}, asked


def _push(rule_ids, context=None, **kwargs):
    op = make_operator(rule_ids, sql="SELECT * FROM crm ORDER BY crm_id", max_in_flight=1, **kwargs)
    return op.execute(context=context or {})


def _counted_by_hand(sandbox) -> dict[str, int]:
    counts = dict.fromkeys(IDENTIFIER_KINDS, 0)
    for event in sandbox.admin.events():
        user = event["user"]
        for user_id in user["userIds"]:
            counts[user_id["idType"]] += 1
        for kind in ("userInfo", "externalIds", "lead"):
            counts[kind] += kind in user
    return counts


def test_the_summary_counts_the_events_sent_per_kind(linkedin, crm, rule_ids, capfd):
    summary = _push(rule_ids)

    assert summary["events_sent"] == N
    assert summary["identifier_coverage"] == _counted_by_hand(linkedin)
    assert summary["identifier_coverage"]["SHA256_EMAIL"] == N
    assert summary["identifier_coverage"]["userInfo"] == N // 2
    out, _ = capfd.readouterr()
    assert f"Identifier coverage of the {N} event(s) sent: SHA256_EMAIL 100%, userInfo 50%" in out


def test_a_kind_that_fell_is_named_in_a_warning(linkedin, crm, rule_ids, capfd):
    previous = _push(rule_ids)
    _write_crm(crm, with_email=False)  # the export lost its e-mail column
    context, asked = _context(previous)
    capfd.readouterr()

    summary = _push(rule_ids, context)

    assert asked == [{"task_ids": "push", "include_prior_dates": True, "map_indexes": -1}]
    assert summary["identifier_coverage"]["SHA256_EMAIL"] == 0
    out, _ = capfd.readouterr()
    warnings = [line for line in out.splitlines() if "Identifier coverage fell" in line]
    assert len(warnings) == 1
    assert "SHA256_EMAIL 100% -> 0%" in warnings[0]
    assert "userInfo" not in warnings[0]  # its share held


def test_on_coverage_drop_fail_fails_before_anything_is_sent(linkedin, crm, rule_ids):
    previous = _push(rule_ids)
    sent_before = len(linkedin.admin.events())
    _write_crm(crm, with_email=False)
    context, _ = _context(previous)

    with pytest.raises(AirflowFailException, match=r"SHA256_EMAIL 100% -> 0%.*Nothing was sent"):
        _push(rule_ids, context, on_coverage_drop="fail")

    assert len(linkedin.admin.events()) == sent_before


def test_a_small_change_or_no_previous_run_is_not_flagged(linkedin, crm, rule_ids, capfd):
    previous = _push(rule_ids)
    context, _ = _context(previous)
    _push(rule_ids, context, on_coverage_drop="fail")  # same data: nothing fell
    _push(rule_ids, _context(None)[0], on_coverage_drop="fail")  # a first run has nothing to compare to
    out, _ = capfd.readouterr()
    assert "Identifier coverage fell" not in out


def test_coverage_arguments_are_checked_at_parse_time(rule_ids):
    with pytest.raises(ValueError, match="on_coverage_drop"):
        make_operator(rule_ids, on_coverage_drop="ignore")
    with pytest.raises(ValueError, match="coverage_drop_warning"):
        make_operator(rule_ids, coverage_drop_warning=150)
