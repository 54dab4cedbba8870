"""Test harness shared by every test.

Airflow reads its configuration when first imported, so the environment is set here, at import time of
this conftest, before any test module imports Airflow: a private AIRFLOW_HOME, no example DAGs, the
project's example_dags/ as the DAGs folder (``dag.test()`` refuses DAGs outside it) and connection
testing enabled.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="linkedin-capi-airflow-home-"))

os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO_ROOT / "example_dags")
os.environ["AIRFLOW__CORE__TEST_CONNECTION"] = "Enabled"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
os.environ.pop("AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT", None)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
#: The tests of the connection form as Airflow's UI shows it.
_UI_FORM_TESTS = "tests/test_connection_from_airflow_ui.py::"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On Airflow 3.1, run the connection-form tests first.

    Airflow 3.1 builds a hook's form (from its ``get_connection_form_widgets``) only when its UI endpoint
    is the first code in the process to load the hooks, because it mocks Flask-AppBuilder just for that;
    after a test has used a hook, the form stays empty for every provider. Airflow 3.2+ read the form from
    the provider info, in any order.
    """
    from airflow import __version__ as airflow_version
    from packaging.version import Version

    if Version(airflow_version) < Version("3.2"):
        items.sort(key=lambda item: not item.nodeid.startswith(_UI_FORM_TESTS))


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata DB, made once per session, for tests that run DAGs."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def sandbox_process():
    """One sandbox server process for the whole session, over real HTTP on 127.0.0.1."""
    from airflow_provider_linkedin_capi.sandbox.testing import SandboxProcess

    with SandboxProcess() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(sandbox_process, monkeypatch):
    """The session sandbox, reset to a clean state, with ``linkedin_capi_default`` pointing at it."""
    sandbox_process.admin.reset()
    monkeypatch.setenv("AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT", sandbox_process.connection_json())
    yield sandbox_process
    sandbox_process.admin.reset()


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """DSN of the local PostgreSQL server; a missing server fails under CI=true and skips elsewhere."""
    import psycopg2

    dsn = os.environ.get("LINKEDIN_CAPI_TEST_PG_DSN", "host=127.0.0.1 port=5432 dbname=test user=postgres")
    try:
        psycopg2.connect(dsn, connect_timeout=5).close()
    except psycopg2.OperationalError as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true but not reachable at {dsn!r}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {dsn!r}")
    return dsn
