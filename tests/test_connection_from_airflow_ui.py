"""A connection made as Airflow's UI makes it works: form defaults from the API, saved, shown, tested, used.

Airflow's API server runs in process (``airflow.api_fastapi.app.create_app``) on the session's migrated
SQLite metadata DB, with the simple auth manager letting every request in as admin. The Add Connection form
takes its defaults from ``/ui/connections/hook_meta``, where Airflow replaces the value of every field whose
name it deems sensitive with ``***``; the form then posts what it shows. The edit form shows the connection
as ``/api/v2/connections/{id}`` returns it, masked, and its Test button posts that back.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from airflow_provider_linkedin_capi.get_provider_info import API_PORT_LABEL, get_provider_info
from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN
from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator

CONN_ID = "linkedin_from_the_ui"
MASK = "***"


@pytest.fixture
def airflow_api(airflow_db, monkeypatch):
    """A test client of Airflow's API server (public ``/api/v2`` and the UI's ``/ui``)."""
    monkeypatch.setenv(
        "AIRFLOW__CORE__AUTH_MANAGER",
        "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
    )
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    monkeypatch.setenv(
        "AIRFLOW__API_AUTH__JWT_SECRET", "linkedin-capi-tests-jwt-secret-" + "0123456789abcdef" * 3
    )
    from airflow.api_fastapi.app import create_app, purge_cached_app
    from fastapi.testclient import TestClient

    purge_cached_app()
    with TestClient(create_app(apps="core")) as client:
        # What the UI does with all-admins on: a token without credentials (Airflow 3.1 has no middleware).
        token = client.get("/auth/token")
        assert token.status_code == 201, token.text
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        client.delete(f"/api/v2/connections/{CONN_ID}")
        yield client
        client.delete(f"/api/v2/connections/{CONN_ID}")
    purge_cached_app()


def _form_meta(client) -> dict:
    """What the UI's Add Connection form is built from, for the LinkedIn connection type."""
    answer = client.get("/ui/connections/hook_meta")
    assert answer.status_code == 200, answer.text
    (meta,) = [m for m in answer.json() if m["connection_type"] == "linkedin_capi"]
    return meta


def _form_defaults(client) -> dict:
    """The LinkedIn form's extra fields as the UI pre-fills them (each field's ``value``).

    On Airflow 3.1 they come from the hook's ``get_connection_form_widgets``; on 3.2+ from ``conn-fields``.
    """
    meta = _form_meta(client)
    assert meta["extra_fields"], meta
    return {name: spec["value"] for name, spec in meta["extra_fields"].items() if spec["value"] is not None}


@pytest.mark.timeout(300)
def test_a_connection_made_in_the_ui_tests_green_and_pushes(airflow_api, sandbox, tmp_path, monkeypatch):
    defaults = _form_defaults(airflow_api)
    assert MASK not in defaults.values(), defaults  # nothing the form pre-fills is masked
    assert defaults == {
        "requests_per_minute": 600,
        "max_in_flight": "auto",
        "timeout": 60,
        "max_retries": 8,
        "retry_min_wait": 1,
        "retry_max_wait": 60,
        "propagation_wait": 2,
    }
    extra = {**defaults, "refresh_token": REFRESH_TOKEN, "ad_account_id": AD_ACCOUNT_ID}
    created = airflow_api.post(
        "/api/v2/connections",
        json={
            "connection_id": CONN_ID,
            "conn_type": "linkedin_capi",
            "host": sandbox.rest_url,
            "login": CLIENT_ID,
            "password": CLIENT_SECRET,
            "extra": json.dumps(extra),
        },
    )
    assert created.status_code == 201, created.text

    # The edit form shows the connection as the API returns it: the secrets masked, nothing else.
    shown = airflow_api.get(f"/api/v2/connections/{CONN_ID}").json()
    shown_extra = json.loads(shown["extra"])
    assert shown["password"] == MASK
    assert shown_extra == {**extra, "refresh_token": MASK}

    # Its Test button posts the shown, masked connection; Airflow restores the stored secrets.
    tested = airflow_api.post("/api/v2/connections/test", json=shown)
    assert tested.status_code == 200, tested.text
    assert tested.json()["status"] is True, tested.json()
    assert f"read the conversion rules of urn:li:sponsoredAccount:{AD_ACCOUNT_ID}" in tested.json()["message"]
    assert sandbox.admin.stats()["tokens_issued"] == 1

    # A push reads the stored connection from the metadata DB, as the API server and triggerer do.
    monkeypatch.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")
    rule = sandbox.admin.create_rule(name="CRM purchases", type="PURCHASE")
    summary = _push(tmp_path, monkeypatch, rule["id"])
    assert summary["events_sent"] == 3, summary
    assert sandbox.admin.stats()["events_total"] == 3


def _row_test_button_body(shown: dict) -> dict:
    """What the Test button of Airflow 3.3's connection list posts: ``port`` is ``Number(port)``, so 0 for
    a connection stored without one, which the API then refuses as "host or port differs"."""
    return {
        **shown,
        "description": shown["description"] or "",
        "schema": shown["schema"] or "",
        "port": shown["port"] or 0,
    }


def test_the_form_airflow_shows_is_the_one_declared_in_the_provider_info(airflow_api):
    """Airflow 3.2+ read ``get_provider_info()``; 3.1 calls the hook's form methods, built from it."""
    meta = _form_meta(airflow_api)
    (declared,) = get_provider_info()["connection-types"]
    shown = meta["extra_fields"]
    assert set(shown) == set(declared["conn-fields"])
    for name, field in declared["conn-fields"].items():
        schema = shown[name]["schema"]
        assert schema["title"] == field["label"], name
        assert schema.get("format") == (
            "password" if field["schema"].get("format") == "password" else None
        ), name
    behaviour = declared["ui-field-behaviour"]
    standard = meta["standard_fields"]
    for name, label in behaviour["relabeling"].items():
        assert standard[name]["title"] == label
        assert standard[name]["hidden"] is False
    for name in behaviour["hidden-fields"]:
        key = "url_schema" if name == "schema" else name
        if key in standard:  # the form has no field for ``extra`` itself
            assert standard[key]["hidden"] is True, name


def test_the_form_shows_the_port_and_the_list_test_button_then_tests_green(airflow_api, sandbox):
    """The form shows ``port`` (labelled, with a placeholder) so that a user fills it; saved with the
    port the user typed, the connection passes the list's Test button."""
    meta = _form_meta(airflow_api)
    port_field = meta["standard_fields"]["port"]
    assert port_field["hidden"] is False, port_field
    assert port_field["title"] == API_PORT_LABEL
    assert "443" in port_field["placeholder"]
    # What the Add form posts when the user typed the port of the API URL (the sandbox's here).
    created = airflow_api.post(
        "/api/v2/connections",
        json={
            "connection_id": CONN_ID,
            "conn_type": "linkedin_capi",
            "host": sandbox.rest_url,
            "port": urlsplit(sandbox.rest_url).port,
            "login": CLIENT_ID,
            "password": CLIENT_SECRET,
            "extra": json.dumps({"refresh_token": REFRESH_TOKEN, "ad_account_id": AD_ACCOUNT_ID}),
        },
    )
    assert created.status_code == 201, created.text
    shown = airflow_api.get(f"/api/v2/connections/{CONN_ID}").json()

    tested = airflow_api.post("/api/v2/connections/test", json=_row_test_button_body(shown))

    assert tested.status_code == 200, tested.text
    assert tested.json()["status"] is True, tested.json()
    assert sandbox.admin.stats()["tokens_issued"] == 1


def test_testing_the_stored_connection_with_a_foreign_oauth_url_sends_no_secret(airflow_api, sandbox):
    """A user who may not read the secrets changes only the token endpoint and presses Test."""
    extra = {"refresh_token": REFRESH_TOKEN, "ad_account_id": AD_ACCOUNT_ID}
    body = {
        "connection_id": CONN_ID,
        "conn_type": "linkedin_capi",
        "host": sandbox.rest_url,
        "login": CLIENT_ID,
        "password": CLIENT_SECRET,
        "extra": json.dumps(extra),
    }
    assert airflow_api.post("/api/v2/connections", json=body).status_code == 201
    shown = airflow_api.get(f"/api/v2/connections/{CONN_ID}").json()
    foreign = {**json.loads(shown["extra"]), "oauth_url": "http://127.0.0.1:9/oauth/v2/accessToken"}

    tested = airflow_api.post("/api/v2/connections/test", json={**shown, "extra": json.dumps(foreign)}).json()

    assert tested["status"] is False
    assert "extra 'oauth_url' points at 127.0.0.1" in tested["message"]
    assert REFRESH_TOKEN not in tested["message"]
    assert CLIENT_SECRET not in tested["message"]
    assert sandbox.admin.stats()["tokens_issued"] == 0


def _push(tmp_path: Path, monkeypatch, rule_id: int) -> dict:
    database = tmp_path / "crm.db"
    now_ms = int(time.time() * 1000)
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE crm (crm_id, email, conversionHappenedAt)")
        db.executemany(
            "INSERT INTO crm VALUES (?, ?, ?)",
            [(i, f"buyer{i}@example.com", now_ms - 3_600_000 - i) for i in range(3)],
        )
    db.close()
    monkeypatch.setenv("AIRFLOW_CONN_CRM_UI", json.dumps({"conn_type": "sqlite", "host": str(database)}))
    operator = SqlToLinkedInCapiOperator(
        task_id="push",
        sql="SELECT * FROM crm",
        sql_conn_id="crm_ui",
        conversion_rule_id=rule_id,
        key_columns=["crm_id"],
        linkedin_capi_conn_id=CONN_ID,
    )
    return operator.execute(context={})
