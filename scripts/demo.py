"""``make demo``: run the nightly CRM sync end to end on this machine, against the local LinkedIn sandbox.

Everything lives under ``.demo/`` (wiped at the start, so a second run starts clean): an Airflow home with
a migrated SQLite metadata DB, a demo CRM database, the rejects files and the full Airflow log. Nothing
talks to linkedin.com. The script exits non-zero when the DAG run fails.

Steps: build the CRM database, start the sandbox and register a few campaigns in its ad account, point
the ``linkedin_capi_default`` and ``crm_db`` connections at them through environment variables, create the
``linkedin_capi`` pool, run ``airflow dags test linkedin_capi_nightly_crm_sync`` for yesterday's data
interval, then print what was read, sent and rejected, and what the sandbox received.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from demo.crm_data import build_crm_db, utc_midnight  # noqa: E402

DEMO_DIR = REPO_ROOT / ".demo"
AIRFLOW_HOME = DEMO_DIR / "airflow"
CRM_DB = DEMO_DIR / "crm.db"
REJECTS_DIR = DEMO_DIR / "rejects"
LEDGER_DIR = DEMO_DIR / "ledger"  # wiped with .demo/, so every demo sends its rows afresh
AIRFLOW_LOG = DEMO_DIR / "airflow-dags-test.log"
DAG_ID = "linkedin_capi_nightly_crm_sync"
PUSH_TASK = "push_conversions"
DEMO_CAMPAIGNS = ["610000001", "610000002", "610000003"]
RULE_NAME = "Demo CRM qualified lead"


def main() -> int:
    started = time.monotonic()
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    AIRFLOW_HOME.mkdir(parents=True)
    env = _airflow_env()

    _step("Migrating the Airflow metadata DB (SQLite) under .demo/airflow")
    _airflow(["db", "migrate"], env)

    today = utc_midnight(datetime.now(UTC))
    yesterday = today - timedelta(days=1)
    _step("Building the demo CRM database .demo/crm.db")
    crm = build_crm_db(CRM_DB, rows_by_day={yesterday - timedelta(days=1): 400, yesterday: 2600})
    print(
        f"    {crm.rows} rows: {crm.rows_on(yesterday.date().isoformat())} recorded yesterday "
        f"({crm.valid_rows(yesterday.date().isoformat())} valid, "
        f"{crm.dirty_rows(yesterday.date().isoformat())} dirty), the rest the day before"
    )

    from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID
    from airflow_provider_linkedin_capi.sandbox.testing import SandboxProcess

    _step("Starting the LinkedIn CAPI sandbox")
    with SandboxProcess() as sandbox:
        print(f"    listening on {sandbox.rest_url}")
        sandbox.admin.add_campaigns(AD_ACCOUNT_ID, DEMO_CAMPAIGNS)
        env["AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT"] = sandbox.connection_json()
        env["AIRFLOW_CONN_CRM_DB"] = json.dumps({"conn_type": "sqlite", "host": str(CRM_DB)})

        _step('Creating the pool "linkedin_capi" (the scheduler needs it; dags test ignores pools)')
        _airflow(["pools", "set", "linkedin_capi", "2", "LinkedIn Conversions API calls for one token"], env)

        logical_date = today.isoformat()
        conf = {
            "campaign_ids": DEMO_CAMPAIGNS,
            "rejects_dir": str(REJECTS_DIR),
            "ledger_dir": str(LEDGER_DIR),
            "conversion_rule_name": RULE_NAME,
        }
        _step(f"Running: airflow dags test {DAG_ID} {logical_date}  (log: .demo/{AIRFLOW_LOG.name})")
        with AIRFLOW_LOG.open("w") as log:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "airflow",
                    "dags",
                    "test",
                    DAG_ID,
                    logical_date,
                    "--conf",
                    json.dumps(conf),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
                cwd=REPO_ROOT,
            )
        received = _sandbox_received(sandbox)

    run_state, task_states, summary = _read_run(AIRFLOW_HOME / "airflow.db")
    _print_report(run_state, task_states, summary, received, time.monotonic() - started)
    if run_state != "success":
        print(f"\nThe DAG run ended in state {run_state!r}. Last lines of .demo/{AIRFLOW_LOG.name}:\n")
        print("\n".join(AIRFLOW_LOG.read_text(errors="replace").splitlines()[-40:]))
        return 1
    return 0


def _airflow_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(AIRFLOW_HOME),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "example_dags"),
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # Quieter start-up: no provider example-DAG discovery noise, no usage telemetry.
            "SCARF_ANALYTICS": "false",
            "DO_NOT_TRACK": "1",
        }
    )
    return env


def _airflow(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-3000:] + result.stderr[-3000:])
        raise SystemExit(f"airflow {' '.join(args[:2])} failed with exit code {result.returncode}")


def _sandbox_received(sandbox) -> dict[str, object]:
    """What the sandbox accepted: events per conversion rule, distinct eventIds, answers by HTTP status."""
    stats = sandbox.admin.stats()
    return {
        "events": stats["events_total"],
        "per_rule": stats["events_by_rule"],
        "distinct_event_ids": stats["distinct_event_ids"],
        "batches": stats["batches_accepted"],
        "requests_by_status": stats["requests_by_status"],
    }


def _read_run(metadata_db: Path) -> tuple[str | None, dict[str, str], dict | None]:
    """State of the latest run, its task states and the push task's XCom summary, from the metadata DB."""
    with sqlite3.connect(metadata_db) as db:
        row = db.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (DAG_ID,)
        ).fetchone()
        if row is None:
            return None, {}, None
        run_id, state = row
        task_states = dict(
            db.execute(
                "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ? "
                "ORDER BY start_date",
                (DAG_ID, run_id),
            ).fetchall()
        )
        xcom = db.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = 'return_value'",
            (DAG_ID, run_id, PUSH_TASK),
        ).fetchone()
    summary = _decode_xcom(xcom[0]) if xcom else None
    return state, task_states, summary


def _decode_xcom(raw: object) -> dict | None:
    value = raw.decode() if isinstance(raw, bytes) else raw
    while isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else None


def _print_report(
    run_state: str | None,
    task_states: dict[str, str],
    summary: dict | None,
    received: dict[str, object],
    seconds: float,
) -> None:
    _step(f"Result: DAG run {run_state}")
    for task_id, state in task_states.items():
        print(f"    {task_id:<26} {state}")
    if summary:
        print("\n    Push summary (XCom of push_conversions)")
        print(f"      rows read          {summary.get('rows_read')}")
        print(f"      events sent        {summary.get('events_sent')}  in {summary.get('batches')} batch(es)")
        print(f"      conversions from   {summary.get('first_event_at')} to {summary.get('last_event_at')}")
        print(f"      events rejected    {summary.get('events_rejected')}")
        for code, count in sorted((summary.get("rejections") or {}).items(), key=lambda item: -item[1]):
            print(f"        {code:<24} {count}")
        rejects = summary.get("rejects_path")
        if rejects:
            print(f"      rejects file       {Path(rejects).resolve().relative_to(REPO_ROOT)}")
            print(
                "                         (JSON lines: row, event_id, code, field, message, value, keys,"
                " sha256_email)"
            )
    print("\n    What the sandbox received")
    print(
        f"      events             {received['events']}  ({received['distinct_event_ids']} distinct eventIds)"
    )
    print(f"      batches accepted   {received['batches']}")
    for rule, count in sorted(received["per_rule"].items()):
        print(f"      rule {rule:<31} {count} events")
    statuses = ", ".join(f"{status}: {n}" for status, n in received["requests_by_status"].items())
    print(f"      HTTP answers       {statuses}")
    print(f"\n    Finished in {seconds:.0f} s. Re-run with `make demo`; everything is under .demo/.")


def _step(text: str) -> None:
    print(f"==> {text}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
