"""Nothing secret reaches a log record, and the minted token is registered with Airflow's masker."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
from airflow.sdk.log import redact

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiError
from airflow_provider_linkedin_capi.push.delivery import deliver_events
from airflow_provider_linkedin_capi.sandbox import (
    AD_ACCOUNT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    STATIC_ACCESS_TOKEN,
)


@pytest.fixture
def hook_logs_in_caplog():
    """Route structlog (what ``self.log`` of a hook is) into stdlib logging at DEBUG, for caplog to see.

    Airflow renders hook logs through structlog at the configured level (INFO here); this makes the test see
    every record, DEBUG included.
    """
    import structlog

    previous = structlog.get_config()
    structlog.configure(
        processors=[structlog.stdlib.PositionalArgumentsFormatter(), structlog.stdlib.render_to_log_kwargs],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    yield
    structlog.configure(**previous)


def _record_texts(records: list[logging.LogRecord]) -> list[str]:
    texts = []
    for record in records:
        texts.append(record.getMessage())
        texts.append(repr(record.args))
        texts.append(repr(record.__dict__))
    return texts


def test_no_secret_in_any_log_record(
    make_hook, sandbox, rule, make_events, caplog, capsys, hook_logs_in_caplog
):
    hook = make_hook(max_retries=1)
    events = make_events(rule["id"], 4)
    del events[2]["user"]["userIds"]
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="airflow.task"):
        first_token = hook.get_access_token()
        sandbox.admin.set_faults(
            [{"kind": "expire_token", "every": 2, "limit": 1}, {"kind": "503", "every": 3}]
        )
        deliver_events(hook, events)
        sandbox.admin.add_campaigns(AD_ACCOUNT_ID, [1, 2])  # the sandbox refuses unknown campaigns
        hook.associate_campaigns(rule["id"], [1, 2])
        second_token = hook.get_access_token()
        sandbox.admin.set_faults([{"kind": "503", "every": 1}])
        with pytest.raises(LinkedInCapiError):
            hook.list_conversion_rules()
    assert first_token != second_token  # a refresh happened while logging at DEBUG
    secrets = [first_token, second_token, REFRESH_TOKEN, CLIENT_SECRET, STATIC_ACCESS_TOKEN]
    texts = [*_record_texts(caplog.records), capsys.readouterr().out]
    # the log did capture the calls, at DEBUG, with LinkedIn's request id
    assert any("LinkedIn POST /conversionEvents -> 422" in text and "x-li-uuid" in text for text in texts)
    for secret in secrets:
        assert not any(secret in text for text in texts)
    # no event body either: hashed identifiers and event ids stay out of the log
    assert not any(events[0]["user"]["userIds"][0]["idValue"] in text for text in texts)
    assert not any(events[0]["eventId"] in text for text in texts)


def test_minted_token_is_masked_by_airflow(hook, sandbox):
    token = hook.get_access_token()
    assert redact(f"Authorization: Bearer {token}") == "Authorization: Bearer ***"
    assert redact(f"client: {CLIENT_SECRET}") == "client: ***"
    assert redact(f"refresh: {REFRESH_TOKEN}") == "refresh: ***"


def test_errors_never_carry_the_request_body(make_hook, sandbox, rule, make_events):
    events = make_events(rule["id"], 3)
    hook = make_hook(retry_min_wait=0.0, retry_max_wait=0.0)
    hook.get_access_token()
    sandbox.admin.set_faults([{"kind": "500", "every": 1, "path": "/rest"}])
    with pytest.raises(LinkedInCapiError) as info:
        hook.send_conversion_events(events)
    assert events[0]["eventId"] not in str(info.value)
    assert events[0]["user"]["userIds"][0]["idValue"] not in str(info.value)


def _as_uri(conn: dict) -> str:
    from airflow.sdk import Connection

    fields = {k: v for k, v in conn.items() if k != "extra"}
    return Connection(conn_id="linkedin_capi_default", extra=json.dumps(conn["extra"]), **fields).get_uri()


@pytest.mark.parametrize("form", ["json", "uri"])
def test_airflow_connections_test_cli_succeeds_against_the_sandbox(sandbox, form):
    env = os.environ.copy()
    env["AIRFLOW__CORE__TEST_CONNECTION"] = "Enabled"
    conn = sandbox.connection()
    env["AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT"] = json.dumps(conn) if form == "json" else _as_uri(conn)
    completed = subprocess.run(
        [sys.executable, "-m", "airflow", "connections", "test", "linkedin_capi_default"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "Connection success!" in output
    stats = sandbox.admin.stats()
    assert stats["tokens_issued"] == 1
    assert stats["requests_by_status"] == {"200": 2}  # the token, then the one-rule finder read


def test_airflow_connections_test_cli_reports_failure(sandbox):
    env = os.environ.copy()
    env["AIRFLOW__CORE__TEST_CONNECTION"] = "Enabled"
    conn = sandbox.connection(api_version="202001")
    env["AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT"] = json.dumps(conn)
    completed = subprocess.run(
        [sys.executable, "-m", "airflow", "connections", "test", "linkedin_capi_default"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    output = completed.stdout + completed.stderr
    assert "Connection failed!" in output, output
    assert "api_version" in output
    assert REFRESH_TOKEN not in output
    assert CLIENT_SECRET not in output
