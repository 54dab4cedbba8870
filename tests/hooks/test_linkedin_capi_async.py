"""The trigger's async hook against the sandbox: retries, token refresh, masking and error mapping."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import httpx
import pytest
from airflow.providers.common.compat.sdk import AirflowFailException
from airflow.sdk.log import redact

from airflow_provider_linkedin_capi.exceptions import (
    LinkedInCapiAuthError,
    LinkedInCapiError,
    LinkedInCapiNotFoundError,
    LinkedInCapiVersionError,
)
from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiAsyncHook, LinkedInCapiHook


def read_rule(rule_id, conn_id: str = "linkedin_capi_default", **hook_kwargs):
    async def call():
        async with LinkedInCapiAsyncHook(
            conn_id, retry_min_wait=0.01, retry_max_wait=0.05, **hook_kwargs
        ) as hook:
            return await hook.get_conversion_rule(rule_id), hook

    return asyncio.run(call())


def use_connection(monkeypatch, sandbox, conn_id: str, **overrides) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", sandbox.connection_json(**overrides))
    return conn_id


def test_reads_a_rule_and_masks_the_new_token(sandbox):
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD", campaigns=["urn:li:sponsoredCampaign:9"])
    entity, hook = read_rule(f"urn:lla:llaPartnerConversion:{rule['id']}")
    assert entity["id"] == rule["id"]
    assert entity["campaigns"] == ["urn:li:sponsoredCampaign:9"]
    token = hook._tokens._token.value
    assert redact(f"bearer {token}") == "bearer ***"


def test_concurrent_reads_share_one_refresh(sandbox):
    """Ten reads at once found no token: one refresh, the others wait for it (they made ten before)."""
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD")
    issued = sandbox.admin.stats()["tokens_issued"]

    async def call():
        async with LinkedInCapiAsyncHook(retry_min_wait=0.01, retry_max_wait=0.05) as hook:
            return await asyncio.gather(*(hook.get_conversion_rule(rule["id"]) for _ in range(10)))

    entities = asyncio.run(call())
    assert [entity["id"] for entity in entities] == [rule["id"]] * 10
    assert sandbox.admin.stats()["tokens_issued"] == issued + 1


def test_static_token_needs_no_refresh(sandbox, monkeypatch):
    conn_id = use_connection(monkeypatch, sandbox, "linkedin_static", auth="access_token")
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD")
    issued = sandbox.admin.stats()["tokens_issued"]
    assert read_rule(rule["id"], conn_id)[0]["name"] == "Leads"
    assert sandbox.admin.stats()["tokens_issued"] == issued


@pytest.mark.parametrize("kind", ["503", "429", "drop"])
def test_transient_failures_are_retried(sandbox, kind):
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD")
    sandbox.admin.set_faults([{"kind": kind, "every": 1, "limit": 2, "path": "/rest/conversions"}])
    assert read_rule(rule["id"])[0]["id"] == rule["id"]
    assert [fault["injected"] for fault in sandbox.admin.faults()] == [2]


def test_retries_are_bounded(sandbox):
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD")
    sandbox.admin.set_faults([{"kind": "429", "every": 1, "path": "/rest/conversions"}])
    with pytest.raises(LinkedInCapiError) as raised:
        read_rule(rule["id"], max_retries=2)
    assert raised.value.status == 429
    assert [fault["injected"] for fault in sandbox.admin.faults()] == [3]


def test_expired_token_is_refreshed_once(sandbox):
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD")

    async def two_reads() -> dict:
        async with LinkedInCapiAsyncHook() as hook:
            await hook.get_conversion_rule(rule["id"])
            await asyncio.to_thread(sandbox.admin.expire_tokens)
            return await hook.get_conversion_rule(rule["id"])

    issued = sandbox.admin.stats()["tokens_issued"]
    assert asyncio.run(two_reads())["id"] == rule["id"]
    assert sandbox.admin.stats()["tokens_issued"] == issued + 2


def test_revoked_refresh_token_fails_without_retry(sandbox):
    sandbox.admin.revoke_refresh_token()
    with pytest.raises(LinkedInCapiAuthError, match="re-authorise"):
        read_rule(1)


def test_missing_rule_is_not_found(sandbox):
    with pytest.raises(LinkedInCapiNotFoundError) as raised:
        read_rule(424242)
    assert raised.value.status == 404


def test_sunset_version_names_api_version(sandbox, monkeypatch):
    conn_id = use_connection(monkeypatch, sandbox, "linkedin_old", api_version="202301")
    with pytest.raises(LinkedInCapiVersionError, match="api_version"):
        read_rule(1, conn_id)


def test_no_account_anywhere_is_a_config_error(sandbox, monkeypatch):
    conn = sandbox.connection()
    del conn["extra"]["ad_account_id"]
    monkeypatch.setenv("AIRFLOW_CONN_LINKEDIN_NO_ACCOUNT", json.dumps(conn))
    with pytest.raises(LinkedInCapiError, match="no 'ad_account_id'"):
        read_rule(1, "linkedin_no_account")


# --------------------------------------------------------------- a fresh token that has not propagated


def token_requests(sandbox) -> int:
    return sandbox.admin.stats()["requests_by_path"].get("/oauth/v2/accessToken", 0)


def test_a_fresh_token_refused_as_revoked_is_waited_for_not_replaced(sandbox, monkeypatch):
    # Contract 7.11: a token minted moments ago can get 401/65601 until it has propagated. Minting another
    # would give an equally fresh token, so the hook waits (the connection's propagation_wait) and
    # retries the same one, as the sync hook does.
    conn_id = use_connection(monkeypatch, sandbox, "linkedin_propagation", propagation_wait=0.3)
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD")
    sandbox.admin.set_faults([{"kind": "unpropagated_token", "every": 1, "limit": 1, "path": "/rest"}])
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(seconds: float, *args: object) -> None:
        waits.append(seconds)
        await real_sleep(seconds, *args)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    entity, hook = read_rule(rule["id"], conn_id)
    assert entity["id"] == rule["id"]
    assert 0.3 in waits  # the connection's propagation_wait, asked for once
    assert hook.propagation_wait == 0.3
    assert sandbox.admin.stats()["faults_injected"] == {"unpropagated_token": 1}
    assert token_requests(sandbox) == 1  # the same token, not a second one


def test_a_token_still_unpropagated_after_the_wait_is_refreshed_once(sandbox, monkeypatch):
    # The reviewer's repro: two 401/65601 in a row used to end the read (and the trigger) for good.
    conn_id = use_connection(monkeypatch, sandbox, "linkedin_propagation", propagation_wait=0.01)
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD")
    sandbox.admin.set_faults(
        [{"kind": "unpropagated_token", "every": 1, "limit": 2, "path": "/rest/conversions"}]
    )
    assert read_rule(rule["id"], conn_id)[0]["id"] == rule["id"]
    assert sandbox.admin.stats()["requests_by_status"]["401"] == 2
    assert token_requests(sandbox) == 2  # the first token, then one refresh after the wait did not help


def test_an_old_token_refused_as_revoked_is_refreshed_without_waiting(sandbox):
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD")

    async def read_with_an_old_token() -> None:
        async with LinkedInCapiAsyncHook(propagation_wait=30) as hook:
            await hook.get_conversion_rule(rule["id"])
            hook._tokens._token = replace(hook._tokens._token, obtained_at=0.0)
            await asyncio.to_thread(sandbox.admin.revoke_tokens)  # kills the refresh token too
            await hook.get_conversion_rule(rule["id"])

    with pytest.raises(LinkedInCapiAuthError, match="re-authorise"):
        asyncio.run(asyncio.wait_for(read_with_an_old_token(), timeout=10))
    assert sandbox.admin.stats()["requests_by_status"]["401"] == 1


# --------------------------------------------------------------- settings: argument, connection, default


def settings_of(hook: LinkedInCapiAsyncHook) -> tuple:
    async def resolve() -> tuple:
        async with hook:
            await hook.get_config()
            client = await hook._get_client()
            return (
                hook.timeout,
                hook.max_retries,
                hook.retry_min_wait,
                hook.retry_max_wait,
                hook.propagation_wait,
                client.timeout.read,
            )

    return asyncio.run(resolve())


CONNECTION_SETTINGS = {
    "timeout": "12",
    "max_retries": 3,
    "retry_min_wait": "0.25",
    "retry_max_wait": 4,
    "propagation_wait": "0.5",
}


def test_settings_come_from_the_connection(sandbox, monkeypatch):
    conn_id = use_connection(monkeypatch, sandbox, "linkedin_tuned", **CONNECTION_SETTINGS)
    assert settings_of(LinkedInCapiAsyncHook(conn_id)) == (12.0, 3, 0.25, 4.0, 0.5, 12.0)


def test_arguments_win_over_the_connection(sandbox, monkeypatch):
    conn_id = use_connection(monkeypatch, sandbox, "linkedin_tuned", **CONNECTION_SETTINGS)
    hook = LinkedInCapiAsyncHook(
        conn_id, timeout=5, max_retries=0, retry_min_wait=0, retry_max_wait=0.5, propagation_wait=0
    )
    assert settings_of(hook) == (5, 0, 0, 0.5, 0, 5)


def test_defaults_are_the_sync_hooks(sandbox):
    # The documented defaults (README "The connection"): a deferred sensor retries like a poked one.
    sync = LinkedInCapiHook()
    expected = (sync.timeout, sync.max_retries, sync.retry_min_wait, sync.retry_max_wait)
    expected += (sync.propagation_wait, sync.timeout)
    assert expected == (60.0, 8, 1.0, 60.0, 2.0, 60.0)
    assert settings_of(LinkedInCapiAsyncHook()) == expected


def test_negative_max_retries_is_refused():
    with pytest.raises(ValueError, match="max_retries"):
        LinkedInCapiAsyncHook(max_retries=-1)


# --------------------------------------------------------------- 403 and Retry-After


def test_forbidden_is_an_auth_error_that_names_scopes_and_role(sandbox, monkeypatch):
    conn_id = use_connection(
        monkeypatch,
        sandbox,
        "linkedin_two_legged",
        auth="access_token",
        access_token=sandbox.two_legged_token(),
    )
    with pytest.raises(LinkedInCapiAuthError, match="rw_conversions and r_ads") as raised:
        read_rule(1, conn_id)
    assert isinstance(raised.value, AirflowFailException)
    assert raised.value.status == 403
    assert "VIEWER" in str(raised.value)


class _FirstAnswerIs503(httpx.AsyncBaseTransport):
    """Answer the first API request with a 503 carrying ``retry_after``, then pass through."""

    def __init__(self, retry_after: str) -> None:
        self.retry_after = retry_after
        self.faked = 0
        self._real = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.faked == 0 and "/rest/" in request.url.path:
            self.faked += 1
            return httpx.Response(
                503, headers={"Retry-After": self.retry_after}, json={"status": 503, "message": "down"}
            )
        return await self._real.handle_async_request(request)

    async def aclose(self) -> None:
        await self._real.aclose()


@pytest.mark.parametrize("retry_after", ["nan", "inf", "-Infinity"])
def test_a_non_finite_retry_after_falls_back_to_the_backoff(sandbox, retry_after):
    rule = sandbox.admin.create_rule(name="Leads", type="LEAD")
    transport = _FirstAnswerIs503(retry_after)

    async def read() -> dict:
        async with LinkedInCapiAsyncHook(retry_min_wait=0.01, retry_max_wait=0.05) as hook:
            hook._client = httpx.AsyncClient(transport=transport)
            return await hook.get_conversion_rule(rule["id"])

    assert asyncio.run(asyncio.wait_for(read(), timeout=10))["id"] == rule["id"]
    assert transport.faked == 1


def test_a_refused_static_token_gets_the_same_advice_as_in_the_sync_hook(sandbox, monkeypatch):
    # Both hooks read a 401 with hooks/answers.py: a static token is never refreshed, so the error says
    # which field to fix instead of a bare "HTTP 401".
    conn_id = use_connection(monkeypatch, sandbox, "linkedin_static_async", auth="access_token")
    sandbox.admin.expire_tokens(include_static=True)
    with pytest.raises(LinkedInCapiAuthError, match=r"static access token .*'access_token' extra") as raised:
        read_rule(1, conn_id)
    assert raised.value.status == 401
    sync = LinkedInCapiHook(conn_id, requests_per_minute=1_000_000)
    with pytest.raises(LinkedInCapiAuthError) as sync_raised:
        sync.get_conversion_rule(1)
    assert str(sync_raised.value).split(" (HTTP")[0] in str(raised.value)
