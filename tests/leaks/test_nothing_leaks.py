"""Nothing a user owns leaks out of a push: no raw e-mail, no name, no client secret, no token.

A push runs with rows that carry known e-mails and names, over a connection with a known client secret
and refresh token, while the sandbox makes it retry (500), refresh its token (expired mid-run) and resolve a
422 (a poisoned eventId). Logging is at DEBUG for every logger, stdlib and structlog (Airflow's task
logger), and the process's stdout/stderr are captured as well. Then everything the run produced is
searched for the known strings: every log record (message and arguments rendered), everything printed,
the returned XCom summary, the rejects file, and the text of the exceptions of two failing runs.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import traceback
from datetime import UTC, datetime, timedelta

import pytest
import requests
import structlog

from airflow_provider_linkedin_capi.sandbox import CLIENT_SECRET, REFRESH_TOKEN
from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator

SQL_CONN_ID = "leaks_sqlite"
EMAILS = [
    "  Gwendolyn.Featherstonehaugh@Leak-Probe.example ",
    "Bartholomew.Quillfeather@LEAK-PROBE.example",
    "ottoline.marchbanks@leak-probe.example",
]
INVALID_EMAIL = "Ignatius.Wolfenbarger.at.leak-probe.example"
FIRST_NAMES = ["Gwendolyn", "Bartholomew", "Ottoline", "Ignatius", "Perpetua"]
LAST_NAMES = ["Featherstonehaugh", "Quillfeather", "Marchbanks", "Wolfenbarger", "Throckmorton"]


def _forbidden(access_tokens: list[str]) -> dict[str, str]:
    """Every string that must never appear, keyed by a label that says what it is (not the value)."""
    values: dict[str, str] = {}
    for i, email in enumerate([*EMAILS, INVALID_EMAIL]):
        values[f"raw email {i}"] = email
        values[f"trimmed email {i}"] = email.strip()
        values[f"lower-cased email {i}"] = email.strip().lower()
        values[f"local part of email {i}"] = email.strip().split("@")[0].split(".at.")[0]
    for name in FIRST_NAMES + LAST_NAMES:
        values[f"name {name[:2]}..."] = name
        values[f"lower-cased name {name[:2]}..."] = name.lower()
    values["client secret"] = CLIENT_SECRET
    values["refresh token"] = REFRESH_TOKEN
    for i, token in enumerate(access_tokens):
        values[f"access token {i}"] = token
    return values


def _assert_absent(where: str, text: str, forbidden: dict[str, str]) -> None:
    found = [label for label, value in forbidden.items() if value in text]
    assert not found, f"{where} contains: {', '.join(found)}"


@pytest.fixture
def leak_rows(tmp_path, monkeypatch) -> str:
    """Rows with known identifiers: valid ones, and ones rejected for each reason that names a field."""
    now = datetime.now(UTC)
    recent = (now - timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")
    too_old = (now - timedelta(days=200)).strftime("%Y-%m-%d %H:%M:%S")
    rows = [
        # eventId, email, firstName, lastName, companyName, amount, currency, conversionHappenedAt
        ("leak-1", EMAILS[0], FIRST_NAMES[0], LAST_NAMES[0], "Probe Ltd", 10.5, "EUR", recent),
        ("leak-2", EMAILS[1], FIRST_NAMES[1], LAST_NAMES[1], None, None, None, recent),
        ("leak-3", EMAILS[2], FIRST_NAMES[2], LAST_NAMES[2], None, 99.0, "USD", recent),
        # Rejected by LinkedIn (the sandbox poisons this eventId): a 422 path.
        ("leak-4", EMAILS[0], FIRST_NAMES[0], LAST_NAMES[0], None, None, None, recent),
        # Rejected locally, each naming a field that holds a personal value.
        ("leak-5", INVALID_EMAIL, FIRST_NAMES[3], LAST_NAMES[3], None, None, None, recent),
        ("leak-6", None, FIRST_NAMES[4], None, None, None, None, recent),
        ("leak-7", EMAILS[1], FIRST_NAMES[1], LAST_NAMES[4], None, None, None, too_old),
        ("leak-8", EMAILS[2], None, None, None, -5.0, "EUR", recent),
    ]
    path = tmp_path / "leaks.sqlite"
    conn = sqlite3.connect(path)
    try:
        conn.execute(
            "CREATE TABLE crm (eventId TEXT, email TEXT, firstName TEXT, lastName TEXT, companyName TEXT, "
            "amount REAL, currencyCode TEXT, conversionHappenedAt TEXT)"
        )
        conn.executemany("INSERT INTO crm VALUES (?,?,?,?,?,?,?,?)", rows)
        conn.commit()
    finally:
        conn.close()
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{SQL_CONN_ID.upper()}", json.dumps({"conn_type": "sqlite", "host": str(path)})
    )
    return "SELECT * FROM crm ORDER BY eventId"


@pytest.fixture
def minted_tokens(monkeypatch, sandbox) -> list[str]:
    """Access tokens the sandbox hands out, read off the real token responses as they pass by."""
    tokens: list[str] = []
    send = requests.Session.send

    def recording_send(self, request, **kwargs):
        response = send(self, request, **kwargs)
        if request.url == sandbox.token_url and response.ok:
            tokens.append(response.json()["access_token"])
        return response

    monkeypatch.setattr(requests.Session, "send", recording_send)
    return tokens


@pytest.fixture
def debug_everywhere(caplog):
    """DEBUG for every stdlib logger (caplog) and for structlog, which Airflow's task loggers use."""
    caplog.set_level(logging.DEBUG)
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    yield caplog
    structlog.configure(**saved)


def _rendered_records(caplog) -> str:
    lines = []
    for record in caplog.records:
        lines.append(f"{record.name} {record.getMessage()} {record.args!r} {record.msg!r}")
        if record.exc_info:
            lines.append("".join(traceback.format_exception(*record.exc_info)))
    return "\n".join(lines)


def _exception_text(exc: BaseException) -> str:
    return f"{exc}\n{exc!r}\n" + "".join(traceback.format_exception(exc))


def test_no_identifier_secret_or_token_leaks_from_a_push(
    sandbox, leak_rows, minted_tokens, debug_everywhere, capfd, tmp_path, monkeypatch
):
    # A just-minted token refused as revoked is retried after 0.01 s, set on the connection as a user would.
    monkeypatch.setenv("AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT", sandbox.connection_json(propagation_wait=0.01))
    caplog = debug_everywhere
    rule_id = str(sandbox.admin.create_rule(name="leak probe")["id"])
    sandbox.admin.poison(["leak-4"])
    sandbox.admin.set_faults(
        [
            {"kind": "500", "every": 1, "limit": 1, "path": "/rest/conversionEvents"},
            {"kind": "expire_token", "every": 1, "after": 1, "limit": 1, "path": "/rest/conversionEvents"},
        ]
    )
    rejects = tmp_path / "rejects" / "run.jsonl"

    summary = SqlToLinkedInCapiOperator(
        task_id="push",
        sql=leak_rows,
        sql_conn_id=SQL_CONN_ID,
        conversion_rule_id=rule_id,
        rejects_path=str(rejects),
        batch_size=10,
    ).execute(context={})

    # The run did what the scan relies on: events sent, every rejection kind, a retry and a refresh.
    assert summary["events_sent"] == 3
    assert sandbox.admin.stats()["distinct_event_ids"] == 3
    assert summary["rejections"].get("rejected_by_linkedin") == 1
    assert summary["events_rejected"] == 5
    assert sandbox.admin.stats()["faults_injected"] == {"500": 1, "expire_token": 1}
    assert len(minted_tokens) >= 2, "the expired token was not replaced"

    # A run that fails on the invalid e-mail (on_invalid="fail") ...
    with pytest.raises(Exception, match="invalid") as invalid_row:
        SqlToLinkedInCapiOperator(
            task_id="push_strict",
            sql="SELECT * FROM crm WHERE eventId = 'leak-5'",
            sql_conn_id=SQL_CONN_ID,
            conversion_rule_id=rule_id,
            on_invalid="fail",
        ).execute(context={})
    # ... and one that fails because LinkedIn is down.
    sandbox.admin.set_faults([{"kind": "503", "every": 1, "path": "/rest/conversionEvents"}])
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT",
        sandbox.connection_json(max_retries=0, propagation_wait=0.01),
    )
    with pytest.raises(Exception, match="delivered") as outage:
        SqlToLinkedInCapiOperator(
            task_id="push_outage", sql=leak_rows, sql_conn_id=SQL_CONN_ID, conversion_rule_id=rule_id
        ).execute(context={})

    forbidden = _forbidden(minted_tokens)
    out, err = capfd.readouterr()
    assert caplog.records, "nothing was logged: the scan would prove nothing"
    assert any(record.levelno == logging.DEBUG for record in caplog.records)
    assert "Obtained a LinkedIn access token" in out, "the task logger printed nothing: nothing to scan"
    _assert_absent("a log record", _rendered_records(caplog), forbidden)
    _assert_absent("stdout", out, forbidden)
    _assert_absent("stderr", err, forbidden)
    _assert_absent("the XCom summary", json.dumps(summary), forbidden)
    rejects_text = rejects.read_text(encoding="utf-8")
    assert len(rejects_text.splitlines()) == 5
    _assert_absent("the rejects file", rejects_text, forbidden)
    _assert_absent("the on_invalid='fail' exception", _exception_text(invalid_row.value), forbidden)
    _assert_absent("the outage exception", _exception_text(outage.value), forbidden)
