"""One real Airflow deployment per session, shared by every end-to-end scenario.

What it starts: a fresh PostgreSQL metadata database (dropped afterwards), ``airflow db migrate``, a
CeleryExecutor on Redis (database 7) with PostgreSQL as the result backend, two ``airflow celery worker``
processes with distinct hostnames, the api-server, scheduler, dag-processor and triggerer on free ports of
127.0.0.1, and the LinkedIn sandbox. Then the pool ``linkedin_capi`` (2 slots) and the connections
``linkedin_capi_default`` (the sandbox) and ``crm_db`` (a SQLite CRM built like ``make demo`` does).

With ``CI=true`` a missing PostgreSQL, Redis or Chromium fails the suite; elsewhere it is skipped with a
message saying what to install.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from e2e.deployment import REDIS_URL, REPO_ROOT, Deployment, wait_for

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from demo.crm_data import build_crm_db, utc_midnight

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = Path(os.environ.get("LINKEDIN_CAPI_E2E_CHROMIUM", "/usr/bin/chromium"))
E2E_DAGS = Path(__file__).resolve().parent / "dags"
#: Days of CRM data, counted back from today (UTC): the nightly runs read days 1 and 2, the backfill 3-8.
CRM_DAYS = range(1, 9)
ROWS_PER_DAY = 300


def pytest_collection_modifyitems(items):
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.timeout(900))


def _missing(what: str, install: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required for the end-to-end suite under CI=true: {install}")
    pytest.skip(f"{what} not available; {install}")


def _require_airflow_33() -> None:
    from airflow import __version__

    if not __version__.startswith("3.3."):
        pytest.skip(
            f"the end-to-end suite runs against the Airflow of requirements/lock.txt (3.3), not {__version__}"
        )


def _require_postgres() -> None:
    import psycopg2

    try:
        psycopg2.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", connect_timeout=5).close()
    except psycopg2.OperationalError as exc:
        _missing("PostgreSQL on 127.0.0.1:5432 (user postgres)", f"install and start postgresql ({exc})")


def _require_redis() -> None:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=5) as sock:
            sock.sendall(b"PING\r\n")
            if not sock.recv(64).startswith(b"+PONG"):
                raise OSError("no PONG")
    except OSError as exc:
        _missing("Redis on 127.0.0.1:6379", f"install and start redis-server ({exc})")


def require_chromium() -> Path:
    if not CHROMIUM.exists():
        _missing(f"Chromium at {CHROMIUM}", "apt-get install -y chromium")
    return CHROMIUM


def _pg(sql: str) -> None:
    import psycopg2

    db = psycopg2.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", connect_timeout=5)
    db.autocommit = True
    try:
        with db.cursor() as cursor:
            cursor.execute(sql)
    finally:
        db.close()


def _drop_redis_queue(queue: str) -> None:
    """Forget this deployment's Celery queue (not the whole database: other sessions may share it)."""
    import redis

    redis.Redis.from_url(REDIS_URL).delete(queue)


@pytest.fixture(scope="session")
def crm(tmp_path_factory):
    """The CRM database the ``crm_db`` connection reads: ROWS_PER_DAY rows on each of CRM_DAYS."""
    today = utc_midnight(datetime.now(UTC))
    path = tmp_path_factory.mktemp("crm") / "crm.db"
    return build_crm_db(path, rows_by_day={today - timedelta(days=n): ROWS_PER_DAY for n in CRM_DAYS})


@pytest.fixture(scope="session")
def linkedin():
    from airflow_provider_linkedin_capi.sandbox.testing import SandboxProcess

    with SandboxProcess() as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def deployment(crm, linkedin):
    _require_airflow_33()
    _require_postgres()
    _require_redis()
    if IN_CI:  # fail the whole suite at once rather than at its UI scenario
        require_chromium()
    try:
        import airflow.providers.celery  # noqa: F401
    except ImportError:
        _missing("apache-airflow-providers-celery", "make .venv/.installed (requirements/lock.txt)")

    home = Path(tempfile.mkdtemp(prefix="linkedin-capi-e2e-"))
    database = f"linkedin_capi_e2e_{uuid.uuid4().hex[:10]}"
    _pg(f'CREATE DATABASE "{database}"')
    deploy = Deployment(home=home, database=database, extra_dags=E2E_DAGS)
    deploy.env = deploy.build_env()
    try:
        deploy.airflow("db", "migrate", timeout=300)
        deploy.start("api-server", "api-server")
        deploy.start("scheduler", "scheduler")
        deploy.start("dag-processor", "dag-processor")
        deploy.start("triggerer", "triggerer")
        deploy.start_worker(0)
        deploy.start_worker(1)
        wait_for(
            "the api-server to answer",
            lambda: deploy.check_alive() or deploy.get("monitor/health"),
            timeout=120,
            hint=deploy.all_log_tails,
        )
        _configure(deploy, crm, linkedin)
        wait_for(
            "the DAG processor to parse the example DAGs",
            lambda: (
                {"linkedin_capi_nightly_crm_sync", "linkedin_capi_backfill", "e2e_large_push"}
                <= {d["dag_id"] for d in deploy.get("dags", limit=100)["dags"]}
            ),
            timeout=180,
            interval=2,
            hint=deploy.all_log_tails,
        )
        wait_for(
            "both Celery workers to be up",
            lambda: all("ready." in deploy.log_tail(f"worker-{i}", 400) for i in (0, 1)),
            timeout=120,
            hint=deploy.all_log_tails,
        )
        yield deploy
    finally:
        left = deploy.stop()
        _pg(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        _drop_redis_queue(database)
        assert not left, f"processes left after stopping the deployment: {left}"


def _configure(deploy: Deployment, crm, linkedin) -> None:
    response = deploy.api(
        "POST",
        "pools",
        json={"name": "linkedin_capi", "slots": 2, "description": "LinkedIn Conversions API (one token)"},
    )
    assert response.status_code in (200, 201), response.text
    connection = linkedin.connection()
    for body in (
        {
            "connection_id": "linkedin_capi_default",
            "conn_type": "linkedin_capi",
            "host": connection["host"],
            "login": connection["login"],
            "password": connection["password"],
            "extra": json.dumps(connection["extra"]),
        },
        {"connection_id": "crm_db", "conn_type": "sqlite", "host": str(crm.path)},
    ):
        response = deploy.api("POST", "connections", json=body)
        assert response.status_code in (200, 201), response.text


@pytest.fixture
def sandbox(linkedin):
    """The session's sandbox, reset before each scenario (events, rules, faults, tokens)."""
    linkedin.admin.reset()
    yield linkedin
    linkedin.admin.clear_faults()


@pytest.fixture(scope="session")
def nightly_scheduled_run(deployment, linkedin):
    """Unpause the nightly DAG with its default params and let its scheduled interval run (bounded).

    Session-scoped so that it happens before any manual nightly run whatever the test order: with
    ``max_active_runs=1`` a manual run would otherwise queue behind it. Returns the run as the API shows
    it at the end of the wait; a run still unfinished then is marked failed and the DAG paused again.
    With its default params the sensor waits only until the rule is enabled, which the sandbox's new rules
    are: the run takes about 25 s here, and 90 s bound the wait on a loaded machine.
    """
    from e2e.runs import fail_unfinished_runs, unpause, wait_for_run

    dag_id = "linkedin_capi_nightly_crm_sync"
    linkedin.admin.reset()
    # The DAG keeps a delivery ledger per day under its default ledger_dir, which outlives a session: a
    # fresh sandbox numbers its rules the same way, so an earlier session's ledger would hold these very
    # eventIds and the runs would send nothing. Start this DAG's ledgers empty.
    ledger_dir = deployment.get(f"dags/{dag_id}/details")["params"]["ledger_dir"]["value"]
    shutil.rmtree(Path(ledger_dir) / dag_id, ignore_errors=True)
    unpause(deployment, dag_id)
    try:
        run = wait_for(
            "the scheduler to create the nightly DAG's scheduled run",
            lambda: deployment.get(f"dags/{dag_id}/dagRuns", run_type="scheduled")["dag_runs"][:1],
            timeout=60,
            interval=1,
        )[0]
        try:
            run = wait_for_run(deployment, dag_id, run["dag_run_id"], timeout=90)
        except AssertionError as exc:
            run = {**deployment.get(f"dags/{dag_id}/dagRuns/{run['dag_run_id']}"), "wait_error": str(exc)}
        event_ids = {}
        if run["state"] == "success":
            from e2e.runs import xcom

            rule_id = xcom(deployment, dag_id, run["dag_run_id"], "create_conversion_rule")["rule_id"]
            event_ids = linkedin.admin.event_ids(rule_id)
        return {"run": run, "event_ids": event_ids}
    finally:
        unpause(deployment, dag_id, paused=True)
        fail_unfinished_runs(deployment, dag_id)
