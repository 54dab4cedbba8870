"""The trigger's async hook against the sandbox: retries, token refresh, masking and error mapping."""

from __future__ import annotations

import asyncio
import json

import pytest
from airflow.sdk.log import redact

from airflow_provider_linkedin_capi.exceptions import (
    LinkedInCapiAuthError,
    LinkedInCapiError,
    LinkedInCapiNotFoundError,
    LinkedInCapiVersionError,
)
from airflow_provider_linkedin_capi.hooks.linkedin_capi_async import LinkedInCapiAsyncHook


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
    token = hook._token.value
    assert redact(f"bearer {token}") == "bearer ***"


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
