"""OpenLineage events of a real task run: the listener, a file transport, the push, the sandbox.

The push runs with ``dag.test()`` in a child process, because the OpenLineage provider reads its
transport once per process and registers its listener only when one is configured. The events in the file
are what a lineage backend would receive: START and COMPLETE (or FAIL) for the push, naming the source
table as input and one LinkedIn dataset per conversion rule as output, with the events LinkedIn took.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID

pytest.importorskip("airflow.providers.openlineage", reason="the openlineage extra is not installed")
pytestmark = [pytest.mark.dag, pytest.mark.timeout(300)]

DAGS = Path(__file__).parent / "openlineage_dags"
JOB = "linkedin_capi_push_lineage.push_conversions"
RUN_DAG = """
import sys
from datetime import datetime
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 3.1
    from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
run = bag.dags["linkedin_capi_push_lineage"].test(
    logical_date=datetime.fromisoformat(sys.argv[2]), run_conf={"rule": sys.argv[3]}
)
print("DAG_RUN_STATE=" + str(run.state))
"""


def _run_with_openlineage(tmp_path: Path, rule: int) -> tuple[str, list[dict]]:
    events_file = tmp_path / "openlineage.jsonl"
    env = {
        **os.environ,
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "linkedin_capi_tests",
    }
    logical_date = datetime.now(UTC).replace(microsecond=0).isoformat()
    done = subprocess.run(
        [sys.executable, "-c", RUN_DAG, str(DAGS), logical_date, str(rule)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    found = re.search(r"DAG_RUN_STATE=(\w+)", done.stdout)
    assert found, done.stderr[-4000:]
    state = found.group(1)
    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    return state, [event for event in events if event["job"]["name"] == JOB]


def _linkedin_namespace(linkedin) -> str:
    return "linkedin-capi://" + linkedin.rest_url.split("://", 1)[1].split("/", 1)[0]


def _sent_per_rule(linkedin) -> Counter:
    return Counter(event["conversion"].rsplit(":", 1)[-1] for event in linkedin.admin.events())


def _row_count(output: dict) -> int:
    return output["outputFacets"]["outputStatistics"]["rowCount"]


def _outputs(event: dict) -> dict[str, dict]:
    return {output["name"]: output for output in event["outputs"]}


def test_a_successful_push_emits_its_source_table_and_rules_with_the_events_sent(
    airflow_db, linkedin, sqlite_crm, rule_ids, tmp_path
):
    state, events = _run_with_openlineage(tmp_path, rule_ids["main"])

    assert state == "success"
    by_type = {event["eventType"]: event for event in events}
    assert set(by_type) == {"START", "COMPLETE"}
    sent = _sent_per_rule(linkedin)
    assert len(sent) >= 2
    for event in by_type.values():
        assert [(i["namespace"], i["name"]) for i in event["inputs"]] == [
            (f"sqlite://{sqlite_crm}", "main.crm_conversions")
        ]
        for output in event["outputs"]:
            assert output["namespace"] == _linkedin_namespace(linkedin)
            assert output["facets"]["linkedinCapi"]["apiVersion"]
    start = _outputs(by_type["START"])
    assert set(start) == {f"{AD_ACCOUNT_ID}/conversion/{rule_ids['main']}"}
    complete = _outputs(by_type["COMPLETE"])
    assert {name: _row_count(output) for name, output in complete.items()} == {
        f"{AD_ACCOUNT_ID}/conversion/{rule}": n for rule, n in sent.items()
    }


def test_a_failed_push_emits_what_was_delivered_before_it_stopped(
    airflow_db, linkedin, sqlite_crm, rule_ids, tmp_path, monkeypatch
):
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT",
        linkedin.connection_json(requests_per_minute=1_000_000, max_retries=0),
    )
    # The token, the rule reads and the first batch of ten pass; every later batch fails.
    linkedin.admin.set_faults([{"kind": "500", "every": 1, "after": 1, "path": "/rest/conversionEvents"}])

    state, events = _run_with_openlineage(tmp_path, rule_ids["main"])

    assert state == "failed"
    (fail,) = [event for event in events if event["eventType"] == "FAIL"]
    assert [i["name"] for i in fail["inputs"]] == ["main.crm_conversions"]
    delivered = _sent_per_rule(linkedin)
    assert sum(delivered.values()) == 10
    counts = {name: _row_count(output) for name, output in _outputs(fail).items()}
    assert {name: n for name, n in counts.items() if n} == {
        f"{AD_ACCOUNT_ID}/conversion/{rule}": n for rule, n in delivered.items()
    }
