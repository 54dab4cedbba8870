"""The connection's LinkedIn-Version decides which identifier types a push sends (``api_versions``)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time

import pytest

from .conftest import FAST_BUDGET, make_operator

ROWS = [  # (crm_id, email, oracle_moat_id, ip_address)
    ("c1", "ann@example.com", "moat-1", "192.0.2.1"),
    ("c2", None, "moat-2", None),  # ORACLE_MOAT_ID is its only identifier
    ("c3", "bob@example.com", None, "192.0.2.3"),
]


@pytest.fixture
def crm(tmp_path, monkeypatch):
    path = tmp_path / "crm.db"
    now_ms = int(time.time() * 1000) - 3_600_000
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE crm (crm_id, email, oracle_moat_id, ip_address, conversionHappenedAt)")
        db.executemany("INSERT INTO crm VALUES (?, ?, ?, ?, ?)", [(*row, now_ms) for row in ROWS])
    db.close()
    monkeypatch.setenv("AIRFLOW_CONN_CRM", json.dumps({"conn_type": "sqlite", "host": str(path)}))


def _push(sandbox, monkeypatch, rule_ids, tmp_path, api_version, **kwargs):
    conn = sandbox.connection(requests_per_minute=FAST_BUDGET, api_version=api_version)
    monkeypatch.setenv("AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT", json.dumps(conn))
    rejects = tmp_path / f"rejects-{api_version}.jsonl"
    summary = make_operator(
        rule_ids, sql="SELECT * FROM crm ORDER BY crm_id", rejects_path=str(rejects), **kwargs
    ).execute(context={})
    return summary, [json.loads(line) for line in rejects.read_text().splitlines()]


def _sent_types(sandbox) -> dict[str, list[str]]:
    return {
        event["eventId"]: [user_id["idType"] for user_id in event["user"]["userIds"]]
        for event in sandbox.admin.events()
    }


def test_a_version_that_dropped_a_type_sends_the_rest_and_rejects_rows_with_nothing_else(
    linkedin, crm, rule_ids, monkeypatch, tmp_path, capfd
):
    summary, rejects = _push(linkedin, monkeypatch, rule_ids, tmp_path, "202609")

    assert summary["events_sent"] == 2
    assert summary["rejections"] == {"unsupported_in_api_version": 1}
    assert [(line["keys"], line["field"]) for line in rejects] == [({"crm_id": "c2"}, "oracle_moat_id")]
    assert all("ORACLE_MOAT_ID" not in types for types in _sent_types(linkedin).values())
    out, err = capfd.readouterr()
    warnings = [line for line in (out + err).splitlines() if "without their ORACLE_MOAT_ID" in line]
    assert len(warnings) == 1
    assert "Sent 1 event(s)" in warnings[0]  # c1 lost it; c3 never had it


def test_hash_ip_address_sends_sha256_ip_address_where_the_version_takes_it(
    linkedin, crm, rule_ids, monkeypatch, tmp_path
):
    summary, _ = _push(linkedin, monkeypatch, rule_ids, tmp_path, "202608", hash_ip_address=True)

    assert summary["events_sent"] == 3
    values = [u for event in linkedin.admin.events() for u in event["user"]["userIds"]]
    hashed = {u["idValue"] for u in values if u["idType"] == "SHA256_IP_ADDRESS"}
    assert hashed == {hashlib.sha256(ip.encode()).hexdigest() for *_, ip in ROWS if ip}
    assert not [u for u in values if u["idType"] == "PLAINTEXT_IP_ADDRESS"]
