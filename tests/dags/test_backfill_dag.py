"""Run the mapped backfill with ``dag.test()`` over a window that straddles LinkedIn's 90-day limit.

This is also the test of the scaling recipe in docs/scaling.md: one mapped task per day, all in one pool,
each day sent with deterministic eventIds so that a re-run sends the same ids.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

pytestmark = [pytest.mark.dag, pytest.mark.timeout(400)]

DAG_ID = "linkedin_capi_backfill"
OLD_DAYS = (95, 94, 93, 92)  # ended before now - 90 days: LinkedIn would refuse every row
VALID_DAYS = (88, 87, 86)  # inside LinkedIn's window, however late in the day the test runs


def _conversion_day(event: dict) -> str:
    return datetime.fromtimestamp(event["conversionHappenedAt"] / 1000, UTC).date().isoformat()


@pytest.fixture
def backfill(load_dag):
    return load_dag(DAG_ID)


def test_backfill_skips_expired_days_sends_oldest_first_and_reruns_with_the_same_event_ids(
    sandbox, crm_factory, backfill, metadata_db, today, tmp_path
):
    rows = {today - timedelta(days=n): 120 for n in OLD_DAYS + VALID_DAYS}
    crm = crm_factory(rows, dirty_fraction=0.1)
    valid_days = sorted((today - timedelta(days=n)).date().isoformat() for n in VALID_DAYS)
    expected_events = sum(crm.valid_rows(day) for day in valid_days)
    conf = {
        "start_date": (today - timedelta(days=95)).date().isoformat(),
        "end_date": (today - timedelta(days=86)).date().isoformat(),
        "rejects_dir": str(tmp_path / "rejects"),
        "ledger_dir": str(tmp_path / "ledger"),
        "conversion_rule_name": "backfill test rule",
    }

    first = backfill.test(run_conf=conf)

    assert first.state == "success"
    states = metadata_db.task_states(DAG_ID, first.run_id)
    assert set(states.values()) == {"success"}, states

    # Old days are skipped and counted, not failed; the boundary day is skipped only after midday UTC.
    skipped = metadata_db.xcom(DAG_ID, first.run_id, "plan_days", key="days_too_old")
    old = {(today - timedelta(days=n)).date().isoformat() for n in OLD_DAYS}
    assert old <= set(skipped)
    assert len(skipped) in (5, 6)  # days 95..91, plus day 90 when the test runs after 12:00 UTC
    planned = metadata_db.xcom(DAG_ID, first.run_id, "plan_days")
    assert len(planned) == 10 - len(skipped)  # days 95..86
    assert [index for task_id, index in states if task_id == "push_day"] == list(range(len(planned)))

    # Oldest day first: the scheduler queues mapped instances in map_index order (dag.test() runs them
    # in no guaranteed order, so the plan itself is checked).
    planned_days = [entry["rejects_path"].rsplit("/", 1)[-1].removesuffix(".jsonl") for entry in planned]
    assert planned_days == sorted(planned_days)
    assert set(valid_days) <= set(planned_days)
    assert not set(planned_days) & set(skipped)

    # Only valid rows of valid days arrived, once each, for one rule.
    events = sandbox.admin.events()
    assert len(events) == expected_events
    assert len({event["conversion"] for event in events}) == 1
    first_ids = Counter(event["eventId"] for event in events)
    assert len(first_ids) == expected_events
    assert {_conversion_day(event) for event in events} == set(valid_days)

    summaries = [s for s in metadata_db.mapped_xcoms(DAG_ID, first.run_id, "push_day") if s]
    assert sum(s["events_sent"] for s in summaries) == expected_events
    report = metadata_db.xcom(DAG_ID, first.run_id, "report")
    assert report["events_sent"] == expected_events
    assert report["events_rejected"] == sum(crm.dirty_rows(day) for day in valid_days)

    # A re-run of the same window sends nothing: each day's ledger holds what LinkedIn took.
    second = backfill.test(run_conf=conf)

    assert second.state == "success"
    counts = Counter(sandbox.admin.event_ids())
    assert set(counts) == set(first_ids)
    assert set(counts.values()) == {1}
    again = [s for s in metadata_db.mapped_xcoms(DAG_ID, second.run_id, "push_day") if s]
    assert sum(s["events_sent"] for s in again) == 0
    assert sum(s["already_delivered"] for s in again) == expected_events


def test_a_window_entirely_past_the_90_day_limit_succeeds_without_sending(
    sandbox, crm_factory, backfill, metadata_db, today, tmp_path
):
    crm_factory({today - timedelta(days=n): 50 for n in (120, 119)})
    conf = {
        "start_date": (today - timedelta(days=121)).date().isoformat(),
        "end_date": (today - timedelta(days=118)).date().isoformat(),
        "rejects_dir": str(tmp_path / "rejects"),
        "ledger_dir": str(tmp_path / "ledger"),
    }

    dag_run = backfill.test(run_conf=conf)

    assert dag_run.state == "success"
    assert len(metadata_db.xcom(DAG_ID, dag_run.run_id, "plan_days", key="days_too_old")) == 4
    assert metadata_db.xcom(DAG_ID, dag_run.run_id, "plan_days") == []
    states = metadata_db.task_states(DAG_ID, dag_run.run_id)
    assert states[("report", -1)] == "success"
    assert metadata_db.xcom(DAG_ID, dag_run.run_id, "report")["days"] == 0
    assert sandbox.admin.stats()["events_total"] == 0


@pytest.fixture(scope="module")
def window_days():
    """The backfill's day planner, imported from the example file like the DAG processor would."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "example_dags" / f"{DAG_ID}.py"
    spec = importlib.util.spec_from_file_location("backfill_example_for_tests", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.window_days


@pytest.mark.parametrize(
    ("params", "first", "last"),
    [
        ({"days_back": 3}, "2026-11-28", "2026-11-30"),
        ({"start_date": "2026-11-25", "days_back": 3}, "2026-11-25", "2026-11-30"),
        ({"end_date": "2026-10-01", "days_back": 3}, "2026-09-29", "2026-10-01"),
        ({"start_date": "2026-09-30", "end_date": "2026-10-01", "days_back": 3}, "2026-09-30", "2026-10-01"),
    ],
)
def test_window_days(window_days, params, first, last):
    from datetime import date

    days = window_days(params, date(2026, 12, 1))
    assert (days[0].isoformat(), days[-1].isoformat()) == (first, last)
    assert len(days) == (days[-1] - days[0]).days + 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start_date": "2026-10-02", "end_date": "2026-10-01", "days_back": 3}, "ends on end_date"),
        ({"start_date": "2026-12-01", "days_back": 3}, "yesterday \\(no end_date given\\)"),
    ],
)
def test_an_impossible_window_fails_without_retries(window_days, params, message):
    from datetime import date

    from airflow.providers.common.compat.sdk import AirflowFailException

    with pytest.raises(AirflowFailException, match=message):
        window_days(params, date(2026, 12, 1))


def test_a_run_with_the_default_params_succeeds(sandbox, crm_factory, backfill, metadata_db, today):
    """Triggered as shipped: the last 30 days, the default rejects_dir and ledger_dir (this run's folders
    are removed)."""
    import shutil
    from pathlib import Path

    days = (1, 5)
    crm = crm_factory({today - timedelta(days=n): 40 for n in days}, dirty_fraction=0.1)
    # The default ledger_dir outlives a run: start this DAG's ledgers empty (the sandbox numbers its rules
    # the same way every session, so an earlier run's ledger would hold these very eventIds).
    ledgers = Path(backfill.params["ledger_dir"]) / DAG_ID
    shutil.rmtree(ledgers, ignore_errors=True)

    run = backfill.test()

    planned = metadata_db.xcom(DAG_ID, run.run_id, "plan_days") or []
    try:
        assert run.state == "success"
        assert len(planned) == 30
        report = metadata_db.xcom(DAG_ID, run.run_id, "report")
        expected = sum(crm.valid_rows((today - timedelta(days=n)).date().isoformat()) for n in days)
        assert report["events_sent"] == expected
        assert len(sandbox.admin.events()) == expected
    finally:
        shutil.rmtree(ledgers, ignore_errors=True)
        if planned:
            shutil.rmtree(Path(planned[0]["rejects_path"]).parent, ignore_errors=True)
