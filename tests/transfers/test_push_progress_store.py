"""The push's progress in Airflow 3.3's task state store, and what a retry logs from it.

Airflow's store lives behind the task runner's supervisor, which only ``dag.test()`` or a worker provides
(``tests/dags/test_dataframe_push_dag.py`` reads what a real run stored). Here a dict-backed store with
the same ``get``/``set`` API plays the part, so a failed attempt and its retry can run back to back.
"""

from __future__ import annotations

import inspect
import logging
from types import SimpleNamespace

import pytest

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiError
from airflow_provider_linkedin_capi.push.report import PROGRESS_KEY

from .conftest import FAST_BUDGET, make_operator
from .crm_rows import valid


class DictStateStore:
    """Airflow's ``TaskStateStoreAccessor`` API (``get(key, default)``, ``set(key, value, *, retention)``)."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}
        self.writes = 0

    def get(self, key, default=None):
        return self.values.get(key, default)

    def set(self, key, value, *, retention=None):
        if value is None:
            raise ValueError("Cannot set value as None")
        self.values[key] = value
        self.writes += 1


def test_the_stand_in_has_airflows_api():
    try:
        from airflow.sdk.execution_time.context import TaskStateStoreAccessor
    except ImportError:  # Airflow 3.1 and 3.2 have no task state store; the push must not need one
        return
    for name in ("get", "set"):
        real = list(inspect.signature(getattr(TaskStateStoreAccessor, name)).parameters)
        ours = list(inspect.signature(getattr(DictStateStore, name)).parameters)
        assert real[: len(ours)] == ours, name


def context(store, try_number):
    return {"task_state_store": store, "ti": SimpleNamespace(try_number=try_number)}


def test_progress_is_stored_at_each_tick_and_a_retry_reads_it(
    linkedin, sqlite_crm, crm_rows, rule_ids, monkeypatch, capsys, caplog
):
    store = DictStateStore()
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT",
        linkedin.connection_json(requests_per_minute=FAST_BUDGET, max_retries=0),
    )
    linkedin.admin.set_faults([{"kind": "500", "every": 1, "after": 1, "path": "/rest/conversionEvents"}])
    options = {"batch_size": 10, "fetch_size": 10, "progress_interval_seconds": 1e-9}

    with pytest.raises(LinkedInCapiError):
        make_operator(rule_ids, **options).execute(context=context(store, 1))

    first = store.values[PROGRESS_KEY]
    assert first["try_number"] == 1
    assert first["events_sent"] == 10
    assert first["batches"] == 1
    assert first["last_batch_at"]
    assert first["rows_read"] >= 10
    assert first["finished"] is False
    assert store.writes >= 2  # at the ticks and at the end
    assert set(first) == {
        "try_number",
        "rows_read",
        "events_sent",
        "events_rejected",
        "batches",
        "last_batch_at",
        "updated_at",
        "finished",
    }

    linkedin.admin.clear_faults()
    with caplog.at_level(logging.WARNING):
        summary = make_operator(rule_ids, **options).execute(context=context(store, 2))

    captured = capsys.readouterr()
    logged = captured.out + captured.err + caplog.text
    assert "previous attempt (try 1) stopped after" in logged
    assert "10 events sent in 1 batches" in logged
    final = store.values[PROGRESS_KEY]
    assert final["try_number"] == 2
    assert final["finished"] is True
    assert final["events_sent"] == summary["events_sent"] == len(valid(crm_rows))
    assert final["rows_read"] == summary["rows_read"]


def test_a_first_attempt_logs_no_previous_attempt(linkedin, sqlite_crm, rule_ids, capsys, caplog):
    store = DictStateStore()
    with caplog.at_level(logging.WARNING):
        make_operator(rule_ids).execute(context=context(store, 1))

    captured = capsys.readouterr()
    assert "previous attempt" not in captured.out + captured.err + caplog.text
    assert store.values[PROGRESS_KEY]["finished"] is True


def test_a_failing_store_never_fails_the_push(linkedin, sqlite_crm, rule_ids, capsys, caplog):
    class BrokenStore(DictStateStore):
        def set(self, key, value, *, retention=None):
            self.writes += 1
            raise RuntimeError("API server said no")

    store = BrokenStore()
    with caplog.at_level(logging.WARNING):
        summary = make_operator(rule_ids, progress_interval_seconds=1e-9).execute(context=context(store, 1))

    assert summary["events_sent"] > 0
    assert store.writes == 1  # given up after the first failure
    captured = capsys.readouterr()
    assert "task state store failed" in captured.out + captured.err + caplog.text
