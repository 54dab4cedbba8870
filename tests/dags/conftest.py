"""Fixtures for running the example DAGs with ``dag.test()`` against the sandbox and a SQLite CRM."""

from __future__ import annotations

import json
import secrets
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # the demo data builder lives in demo/, outside the package

from demo.crm_data import CrmDataSummary, build_crm_db, utc_midnight  # noqa: E402

EXAMPLE_DAGS = REPO_ROOT / "example_dags"


@pytest.fixture
def today() -> datetime:
    return utc_midnight(datetime.now(UTC))


@pytest.fixture
def crm_factory(tmp_path, monkeypatch):
    """Build a CRM database in tmp_path and point the ``crm_db`` connection at it."""

    def build(rows_by_day, **kwargs) -> CrmDataSummary:
        summary = build_crm_db(tmp_path / "crm.db", rows_by_day=rows_by_day, **kwargs)
        monkeypatch.setenv(
            "AIRFLOW_CONN_CRM_DB", json.dumps({"conn_type": "sqlite", "host": str(summary.path)})
        )
        return summary

    return build


@pytest.fixture
def load_dag(airflow_db):
    """Parse one example DAG file the way the DAG processor does (it must be inside DAGS_FOLDER)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag

    def load(dag_id: str):
        bag = DagBag(dag_folder=str(EXAMPLE_DAGS / f"{dag_id}.py"))
        assert bag.import_errors == {}
        return bag.dags[dag_id]

    return load


class MetadataDb:
    """Read-only look at the SQLite metadata DB that ``dag.test()`` wrote to."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _query(self, sql: str, *args):
        with sqlite3.connect(self.path) as db:
            return db.execute(sql, args).fetchall()

    def task_states(self, dag_id: str, run_id: str) -> dict[tuple[str, int], str]:
        rows = self._query(
            "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = ? AND run_id = ?",
            dag_id,
            run_id,
        )
        return {(task_id, map_index): state for task_id, map_index, state in rows}

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1):
        rows = self._query(
            "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = ? "
            "AND map_index = ?",
            dag_id,
            run_id,
            task_id,
            key,
            map_index,
        )
        if not rows:
            return None
        value = rows[0][0]
        value = value.decode() if isinstance(value, bytes) else value
        while isinstance(value, str):
            value = json.loads(value)
        return value

    def asset_events(self, dag_id: str, run_id: str) -> dict[str, dict]:
        """``{asset uri: extra}`` of the asset events a DAG run's tasks recorded."""
        rows = self._query(
            "SELECT asset.uri, asset_event.extra FROM asset_event "
            "JOIN asset ON asset.id = asset_event.asset_id "
            "WHERE asset_event.source_dag_id = ? AND asset_event.source_run_id = ?",
            dag_id,
            run_id,
        )
        return {uri: json.loads(extra) if isinstance(extra, str) else extra for uri, extra in rows}

    def mapped_xcoms(self, dag_id: str, run_id: str, task_id: str) -> list:
        rows = self._query(
            "SELECT map_index FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? "
            "AND key = 'return_value' ORDER BY map_index",
            dag_id,
            run_id,
            task_id,
        )
        return [self.xcom(dag_id, run_id, task_id, map_index=index) for (index,) in rows]


@pytest.fixture
def metadata_db(airflow_db) -> MetadataDb:
    return MetadataDb(Path(airflow_db) / "airflow.db")


@pytest.fixture
def rest_api(airflow_db, monkeypatch):
    """Airflow's own REST API app, in process, on the same metadata DB, called with an admin's token."""
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_urlsafe(64))
    with TestClient(create_app()) as client:
        token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
        client.headers["Authorization"] = f"Bearer {token}"
        yield client
