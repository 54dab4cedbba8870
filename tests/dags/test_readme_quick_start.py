"""The README's Quick start DAG, pasted as it is, sends exactly the valid rows of its data interval, once.

The first code block under ``## Quick start`` in README.md is written, verbatim, into a DAG folder of its
own, and run with ``dag.test()`` against the sandbox and a SQLite CRM table holding the columns its query
reads: five valid rows and one invalid row recorded inside the run's data interval, and two valid rows
recorded just outside it. The run must deliver the five, explain the one in the rejects file, and a second
run of the same interval (a retry, a re-run) must send nothing again.

``dag.test()`` runs in a child process, because Airflow 3.3 runs only DAGs from its configured DAGs folder,
which this test session has pointed at ``example_dags/`` before Airflow was imported.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

pytestmark = [pytest.mark.dag, pytest.mark.timeout(400)]

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"

#: Runs the DAG of a folder with ``dag.test()`` ``runs`` times for one logical date, and prints, per run,
#: its state and the XCom summary of each SQL push task.
RUN_DAG = """
import json
import sys
from datetime import datetime

try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 3.1
    from airflow.models.dagbag import DagBag
from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator

folder, logical_date, conf, runs = sys.argv[1], datetime.fromisoformat(sys.argv[2]), sys.argv[3], sys.argv[4]
bag = DagBag(dag_folder=folder)
assert not bag.import_errors, bag.import_errors
assert len(bag.dags) == 1, sorted(bag.dags)
(dag,) = bag.dags.values()
pushes = [t.task_id for t in dag.tasks if isinstance(t, SqlToLinkedInCapiOperator)]
for _ in range(int(runs)):
    run = dag.test(logical_date=logical_date, run_conf=json.loads(conf))
    summaries = {task_id: run.get_task_instance(task_id).xcom_pull(task_ids=task_id) for task_id in pushes}
    print("QUICK_START_RUN=" + json.dumps({"state": str(run.state), "summaries": summaries}, default=str))
"""

#: The columns the Quick start's query reads from ``crm_conversions``.
CRM_TABLE = """
CREATE TABLE crm_conversions (
    crm_id        INTEGER PRIMARY KEY,
    converted_at  TEXT,
    email         TEXT,
    first_name    TEXT,
    last_name     TEXT,
    deal_currency TEXT,
    deal_value    REAL,
    recorded_at   TEXT
)
"""


def quick_start_block() -> str:
    """The first fenced code block of README.md's ``## Quick start`` section, as it is written there."""
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## Quick start[ \t]*\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert section, "README.md has no '## Quick start' section"
    block = re.search(r"^```([\w+-]*)[ \t]*\n(.*?)^```", section.group(1), re.MULTILINE | re.DOTALL)
    assert block, "the Quick start section has no code block"
    language, code = block.groups()
    assert language == "python", f"the Quick start's first code block is {language or 'untyped'!r}"
    assert "SqlToLinkedInCapiOperator" in code, "the Quick start's first code block has no push"
    return code


def _sha256(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def _iso(moment) -> str:
    """UTC ISO-8601, the form ``{{ data_interval_start | ts }}`` renders (and the README asks for)."""
    return moment.isoformat()


def _build_crm(path: Path, interval_start) -> dict[str, list]:
    """Five valid rows and one invalid row recorded inside ``[interval_start, +1 day)``, two valid rows
    recorded just outside it. Times come as ISO strings, epoch seconds and epoch milliseconds."""
    day = interval_start

    def at(hours: float) -> str:
        return _iso(day + timedelta(hours=hours))

    def epoch_s(hours: float) -> str:
        return str(int((day + timedelta(hours=hours)).timestamp()))

    # crm_id, converted_at, email, first_name, last_name, deal_currency, deal_value
    valid = [
        (1, at(8), "ada@example.com", "Ada", "Lovelace", "EUR", 1200.0),
        (2, at(9), "  Grace.Hopper@Example.COM ", "Grace", "Hopper", "USD", 99.5),
        (3, epoch_s(10), "alan@example.org", None, None, None, None),
        (4, epoch_s(11) + "000", "barbara@example.com", None, None, None, None),  # epoch milliseconds
        (5, at(12), "margaret@example.com", "Margaret", "Hamilton", "GBP", 10.0),
    ]
    # A malformed address, and no other identifier.
    invalid = [(6, at(13), "edsger.dijkstra(at)example.net", None, None, None, None)]
    outside = [
        (7, at(-2), "before@example.com", None, None, None, None),
        (8, at(20), "after@example.com", None, None, None, None),
    ]
    recorded = [(*row, at(14 + row[0] / 60)) for row in [*valid, *invalid]]
    recorded.append((*outside[0], _iso(day - timedelta(seconds=1))))  # just before the interval
    recorded.append((*outside[1], at(24)))  # at its end, which is exclusive
    with sqlite3.connect(path) as db:
        db.execute(CRM_TABLE)
        db.executemany("INSERT INTO crm_conversions VALUES (?, ?, ?, ?, ?, ?, ?, ?)", recorded)
    return {"valid": valid, "invalid": invalid, "outside": outside}


def _run_quick_start(dag_folder: Path, logical_date, conf: dict, runs: int = 1) -> list[dict]:
    arguments = [str(dag_folder), logical_date.isoformat(), json.dumps(conf), str(runs)]
    done = subprocess.run(
        [sys.executable, "-c", RUN_DAG, *arguments],
        env={**os.environ, "AIRFLOW__CORE__DAGS_FOLDER": str(dag_folder)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    results = [json.loads(line) for line in re.findall(r"^QUICK_START_RUN=(.*)$", done.stdout, re.MULTILINE)]
    assert len(results) == runs, (done.returncode, done.stdout[-3000:], done.stderr[-6000:])
    return results


def test_the_quick_start_block_is_a_dag_that_delivers_the_valid_rows_of_its_interval_once(
    airflow_db, sandbox, monkeypatch, today, tmp_path
):
    dag_folder = tmp_path / "dags"
    dag_folder.mkdir()
    (dag_folder / "quick_start.py").write_text(quick_start_block(), encoding="utf-8")
    interval_start = today - timedelta(days=1)
    crm = _build_crm(tmp_path / "crm.db", interval_start)
    monkeypatch.setenv(
        "AIRFLOW_CONN_CRM_DB", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "crm.db")})
    )
    rejects_dir, ledger_dir = tmp_path / "rejects", tmp_path / "ledger"
    conf = {"rejects_dir": str(rejects_dir), "ledger_dir": str(ledger_dir)}

    # The run whose data interval is yesterday (UTC).
    (first,) = _run_quick_start(dag_folder, today, conf)

    assert first["state"] == "success", first
    (summary,) = first["summaries"].values()
    assert summary["rows_read"] == len(crm["valid"]) + len(crm["invalid"])
    assert summary["events_sent"] == len(crm["valid"])
    assert summary["rejections"] == {"invalid_email": 1}

    # LinkedIn received exactly the valid rows recorded inside the interval, once each.
    events = sandbox.admin.events()
    assert len(events) == len(crm["valid"])
    assert len({event["eventId"] for event in events}) == len(crm["valid"])
    sent_emails = {
        user_id["idValue"]
        for event in events
        for user_id in event["user"]["userIds"]
        if user_id["idType"] == "SHA256_EMAIL"
    }
    assert sent_emails == {_sha256(row[2]) for row in crm["valid"]}

    # The invalid row is explained in the rejects file, without its raw e-mail.
    files = sorted(rejects_dir.rglob("*.jsonl"))
    assert [str(path) for path in files] == [summary["rejects_path"]]
    lines = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert [(line["code"], line["field"]) for line in lines] == [("invalid_email", "email")]
    assert "edsger" not in files[0].read_text().lower()

    # The ledger recorded what LinkedIn took: another run of the interval (a retry, a re-run) resends none.
    assert any(ledger_dir.rglob("*")), "the Quick start keeps no ledger under params.ledger_dir"
    (again,) = _run_quick_start(dag_folder, today, conf)
    assert again["state"] == "success", again
    (summary,) = again["summaries"].values()
    assert summary["events_sent"] == 0
    assert summary["already_delivered"] == len(crm["valid"])
    assert len(sandbox.admin.events()) == len(crm["valid"])
