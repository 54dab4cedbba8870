"""Tokens over real HTTP: refresh then use, static tokens, expiry mid-run, dead credentials, versions."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_linkedin_capi.api_versions import sunset_is_near, sunset_of
from airflow_provider_linkedin_capi.exceptions import (
    LinkedInCapiAuthError,
    LinkedInCapiConfigError,
    LinkedInCapiVersionError,
)
from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
from airflow_provider_linkedin_capi.push.delivery import deliver_events
from airflow_provider_linkedin_capi.sandbox.config import default_active_versions


def test_no_io_in_init_and_connection_read_lazily(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT", raising=False)
    hook = LinkedInCapiHook("no_such_connection_anywhere")  # nothing is read yet
    assert hook.linkedin_capi_conn_id == "no_such_connection_anywhere"
    with pytest.raises(Exception, match="no_such_connection_anywhere"):
        _ = hook.config


def test_refresh_then_use(hook, sandbox, rule, make_events):
    result = hook.send_conversion_events(make_events(rule["id"], 3))
    assert result.ok
    assert result.accepted == 3
    assert hook.list_conversion_rules() == [hook.get_conversion_rule(rule["id"])]
    stats = sandbox.admin.stats()
    assert stats["tokens_issued"] == 1  # one refresh, then reused for every call
    assert stats["events_total"] == 3


def test_static_access_token(make_hook, sandbox, rule, make_events, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT", sandbox.connection_json(auth="access_token"))
    hook = make_hook()
    assert hook.send_conversion_events(make_events(rule["id"], 2)).accepted == 2
    assert sandbox.admin.stats()["tokens_issued"] == 0


def test_static_token_refused_names_the_access_token_field(make_hook, sandbox, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT", sandbox.connection_json(auth="access_token"))
    sandbox.admin.expire_tokens(include_static=True)
    with pytest.raises(LinkedInCapiAuthError, match="'access_token'") as info:
        make_hook().list_conversion_rules()
    assert info.value.status == 401


def test_token_expiring_mid_run_is_refreshed_once_and_nothing_is_lost(hook, sandbox, rule, make_events):
    events = make_events(rule["id"], 30)
    assert hook.send_conversion_events(events[:10]).accepted == 10
    # The token dies on the second of the next requests: it is answered 401, not processed.
    sandbox.admin.set_faults([{"kind": "expire_token", "after": 1, "every": 1, "limit": 1}])
    assert hook.send_conversion_events(events[10:20]).accepted == 10
    assert hook.send_conversion_events(events[20:]).accepted == 10
    stats = sandbox.admin.stats()
    assert stats["faults_injected"] == {"expire_token": 1}
    assert stats["tokens_issued"] == 2  # the first token and exactly one refresh
    assert stats["requests_by_status"]["401"] == 1
    assert stats["events_total"] == 30
    assert stats["duplicate_event_ids"] == 0


def test_all_tokens_expired_between_calls(hook, sandbox, rule, make_events):
    hook.get_conversion_rule(rule["id"])
    sandbox.admin.expire_tokens()
    assert hook.send_conversion_events(make_events(rule["id"], 5)).accepted == 5
    assert sandbox.admin.stats()["tokens_issued"] == 2


@pytest.mark.parametrize("style", ["invalid_request", "invalid_grant"])
def test_dead_refresh_token_fails_fast_with_reauthorise_message(hook, sandbox, style):
    sandbox.admin.configure(refresh_error_style=style)
    sandbox.admin.revoke_refresh_token()
    with pytest.raises(LinkedInCapiAuthError, match="re-authorise") as info:
        hook.list_conversion_rules()
    assert "'refresh_token'" in str(info.value)
    assert info.value.status == 400
    stats = sandbox.admin.stats()
    assert stats["requests_by_status"] == {"400": 1}  # one token request, no retry, no API call


def test_revoked_fresh_token_is_retried_once_then_refreshed_then_fails(hook, sandbox, rule):
    hook.get_conversion_rule(rule["id"])
    sandbox.admin.revoke_tokens()  # as on LinkedIn, this kills the refresh token too
    with pytest.raises(LinkedInCapiAuthError, match="re-authorise"):
        hook.get_conversion_rule(rule["id"])
    # A just-minted token answered 401/65601 may not have propagated
    # (docs/linkedin-contract.md §7.11): one short wait and
    # retry, then one refresh, which LinkedIn refuses because the refresh token died with the access token.
    stats = sandbox.admin.stats()
    assert stats["requests_by_status"]["401"] == 2
    assert stats["requests_by_status"]["400"] == 1


def test_a_fresh_token_that_has_not_propagated_is_retried_after_a_short_wait(hook, sandbox, rule):
    # LinkedIn answers 401/65601 for a token minted moments ago
    # (docs/linkedin-contract.md §7.11): the hook waits once and
    # retries the same token instead of refreshing or failing.
    sandbox.admin.set_faults([{"kind": "unpropagated_token", "every": 1, "limit": 1, "path": "/rest"}])
    assert hook.get_conversion_rule(rule["id"])["id"] == rule["id"]
    stats = sandbox.admin.stats()
    assert stats["faults_injected"] == {"unpropagated_token": 1}
    assert stats["requests_by_status"]["401"] == 1
    assert stats["requests_by_path"].get("/oauth/v2/accessToken") == 1  # no second refresh


def test_revoked_old_token_is_refreshed_without_waiting(hook, sandbox, rule):
    hook.get_conversion_rule(rule["id"])
    hook._tokens._token = type(hook._tokens._token)(
        hook._tokens._token.value, hook._tokens._token.expires_at, None, obtained_at=0.0
    )
    sandbox.admin.revoke_tokens()
    with pytest.raises(LinkedInCapiAuthError, match="re-authorise"):
        hook.get_conversion_rule(rule["id"])
    assert sandbox.admin.stats()["requests_by_status"]["401"] == 1


def test_wrong_client_secret(make_hook, sandbox, monkeypatch):
    conn = sandbox.connection()
    conn["password"] = "not-the-secret"
    import json

    monkeypatch.setenv("AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT", json.dumps(conn))
    with pytest.raises(LinkedInCapiAuthError):
        make_hook().get_access_token()


def test_sunset_version_fails_fast_naming_the_field(make_hook, sandbox):
    hook = make_hook(api_version="202001")
    with pytest.raises(LinkedInCapiVersionError) as info:
        hook.list_conversion_rules()
    message = str(info.value)
    assert "202001" in message
    assert "'api_version'" in message
    assert info.value.status == 426
    assert sandbox.admin.stats()["requests_by_status"]["426"] == 1  # never retried


def test_version_from_connection_extra(make_hook, sandbox, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT", sandbox.connection_json(api_version="202101"))
    hook = make_hook()
    assert hook.api_version == "202101"
    with pytest.raises(LinkedInCapiVersionError, match="202101"):
        hook.list_conversion_rules()


def test_incomplete_connection_names_missing_fields(make_hook, sandbox, monkeypatch):
    conn = sandbox.connection()
    del conn["login"]
    import json

    monkeypatch.setenv("AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT", json.dumps(conn))
    with pytest.raises(LinkedInCapiConfigError, match=r"Client ID \(login\)"):
        make_hook().list_conversion_rules()


def test_hook_rejects_malformed_arguments():
    with pytest.raises(ValueError, match="api_version"):
        LinkedInCapiHook(api_version="2026-08")
    with pytest.raises(ValueError, match="max_retries"):
        LinkedInCapiHook(max_retries=-1)


def _version_served_but_near_its_sunset(today: date) -> str:
    """The oldest month the sandbox serves today; it is sunset within the warning window."""
    version = default_active_versions()[0]
    assert sunset_is_near(version, today), f"{version}: no served version is near its sunset today"
    return version


def _sunset_warnings(capfd) -> list[str]:
    """The hook's sunset warnings: task-side logging goes through structlog to stdout, not to caplog."""
    out, err = capfd.readouterr()
    return [line for line in (out + err).splitlines() if "HTTP 426" in line]


def test_a_version_near_its_sunset_is_warned_about_once_per_hook(make_hook, sandbox, rule, capfd):
    today = datetime.now(UTC).date()
    version = _version_served_but_near_its_sunset(today)
    hook = make_hook(api_version=version)
    hook.get_conversion_rule(rule["id"])
    hook.list_conversion_rules()
    warnings = _sunset_warnings(capfd)
    assert len(warnings) == 1
    assert f"LinkedIn-Version {version} sunset {sunset_of(version).on.isoformat()}" in warnings[0]
    ok, message = hook.test_connection()
    assert ok, message
    assert f"LinkedIn-Version {version} ({sunset_of(version).describe(today)})" in message


def test_the_pinned_default_version_is_not_warned_about_while_it_is_fresh(make_hook, sandbox, rule, capfd):
    # tests/test_api_versions.py fails the build 90 days before the default's sunset, well before this.
    make_hook().get_conversion_rule(rule["id"])
    assert not _sunset_warnings(capfd)


def test_forbidden_fails_the_task_at_once_and_names_scopes_and_role(
    make_hook, sandbox, rule, make_events, two_legged_token, monkeypatch
):
    # A 403 means a missing scope, role or product: task retries cannot fix it (conventions: fail fast),
    # and the async hook of the deferrable sensor already fails it that way.
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT",
        sandbox.connection_json(auth="access_token", access_token=two_legged_token),
    )
    hook = make_hook()
    calls = [
        lambda: hook.get_conversion_rule(rule["id"]),
        lambda: hook.send_conversion_events(make_events(rule["id"], 1)),
    ]
    for call in calls:
        with pytest.raises(LinkedInCapiAuthError, match="rw_conversions and r_ads") as info:
            call()
        assert isinstance(info.value, AirflowFailException)
        assert info.value.status == 403
        assert info.value.code == "ACCESS_DENIED"
        assert "VIEWER" in str(info.value)
    assert sandbox.admin.stats()["requests_by_status"]["403"] == 2  # no retries either


def test_forbidden_delivery_keeps_what_was_delivered_before(
    make_hook, sandbox, rule, make_events, two_legged_token, monkeypatch
):
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT",
        sandbox.connection_json(auth="access_token", access_token=two_legged_token),
    )
    with pytest.raises(LinkedInCapiAuthError) as info:
        deliver_events(make_hook(), make_events(rule["id"], 3))
    partial = info.value.delivered_before_failure
    assert (partial.accepted, partial.rejected, partial.unsent) == (0, {}, (0, 1, 2))
