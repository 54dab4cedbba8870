"""One meaning of "a usable rule" for the push's rule gate, the sensor (and its trigger) and the operators.

Every combination of ``conversionMethod`` (CONVERSIONS_API / absent / another method) and ``enabled``
(true / false / absent) is judged by the pure function, then by each caller against a rule the sandbox
serves over real HTTP with exactly those fields.
"""

from __future__ import annotations

import asyncio

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiAsyncHook, LinkedInCapiHook
from airflow_provider_linkedin_capi.operators.conversion_rules import (
    LinkedInCapiAssociateCampaignsOperator,
    LinkedInCapiCreateConversionRuleOperator,
)
from airflow_provider_linkedin_capi.push.pipeline import ConversionRuleGate
from airflow_provider_linkedin_capi.rules import CONVERSIONS_API, rule_usability
from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID
from airflow_provider_linkedin_capi.sensors.conversion_rule import LinkedInCapiConversionRuleSensor
from airflow_provider_linkedin_capi.triggers.conversion_rule import LinkedInCapiConversionRuleTrigger

ABSENT = object()
METHODS = {"capi": CONVERSIONS_API, "no method": ABSENT, "insight tag": "INSIGHT_TAG_URL_MATCH_RULES"}
ENABLED = {"enabled": True, "disabled": False, "no enabled": ABSENT}
# (method, enabled) -> verdict: "usable", "disabled" (may become usable) or "never" (no wait helps).
EXPECTED = {
    (method, enabled): ("never" if method != "capi" else "disabled" if enabled == "disabled" else "usable")
    for method in METHODS
    for enabled in ENABLED
}
COMBINATIONS = sorted(EXPECTED)
CAMPAIGN = "urn:li:sponsoredCampaign:7001"


def _fields(method: str, enabled: str) -> dict:
    fields = {"conversionMethod": METHODS[method], "enabled": ENABLED[enabled]}
    # None asks the sandbox to leave the field out of the entity, as LinkedIn leaves out unset fields.
    return {key: (None if value is ABSENT else value) for key, value in fields.items()}


def _entity(method: str, enabled: str) -> dict:
    return {"id": 5, **{key: value for key, value in _fields(method, enabled).items() if value is not None}}


@pytest.mark.parametrize(("method", "enabled"), COMBINATIONS)
def test_the_function_decides_every_combination(method, enabled):
    verdict = rule_usability(_entity(method, enabled))

    expected = EXPECTED[(method, enabled)]
    assert verdict.usable is (expected == "usable")
    assert verdict.permanent is (expected == "never")
    assert verdict.enabled is (enabled != "disabled")
    if expected == "never":
        assert "conversionMethod" in verdict.problem
        assert "Conversion rule 5" in verdict.problem
    if expected == "disabled":
        assert "disabled" in verdict.problem


def test_enabled_that_is_not_a_boolean_is_not_enabled():
    verdict = rule_usability({"id": 5, "conversionMethod": CONVERSIONS_API, "enabled": "false"})
    assert not verdict.usable
    assert not verdict.permanent
    assert "enabled='false'" in verdict.problem


def _seed(sandbox, method: str, enabled: str, **more) -> dict:
    rule = sandbox.admin.create_rule(
        name=f"{method} / {enabled}", type="LEAD", **_fields(method, enabled), **more
    )
    served = LinkedInCapiHook().get_conversion_rule(rule["id"])
    for key, value in _fields(method, enabled).items():
        assert (key in served) is (value is not None)  # the sandbox really serves the combination
    return rule


@pytest.mark.parametrize(("method", "enabled"), COMBINATIONS)
def test_push_rule_gate(sandbox, method, enabled):
    rule = _seed(sandbox, method, enabled)
    gate = ConversionRuleGate(LinkedInCapiHook())

    if EXPECTED[(method, enabled)] == "usable":
        assert gate.require(rule["id"]) == f"urn:lla:llaPartnerConversion:{rule['id']}"
    else:
        with pytest.raises(AirflowFailException, match=f"Conversion rule {rule['id']} .*Nothing was read"):
            gate.require(rule["id"])


@pytest.mark.parametrize(("method", "enabled"), COMBINATIONS)
def test_sensor_poke(sandbox, method, enabled):
    rule = _seed(sandbox, method, enabled, campaigns=[CAMPAIGN])
    sensor = LinkedInCapiConversionRuleSensor(
        task_id="wait", conversion_rule_id=rule["id"], deferrable=False, poke_interval=5, timeout=60
    )

    expected = EXPECTED[(method, enabled)]
    if expected == "never":
        with pytest.raises(AirflowFailException, match="conversionMethod"):
            sensor.poke(context={})
    else:
        result = sensor.poke(context={})
        assert result.is_done is (expected == "usable")
        if result.is_done:
            assert result.xcom_value["enabled"] is True


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("method", "enabled"), COMBINATIONS)
def test_sensor_trigger(sandbox, method, enabled):
    rule = _seed(sandbox, method, enabled, campaigns=[CAMPAIGN])
    trigger = LinkedInCapiConversionRuleTrigger(conversion_rule_id=str(rule["id"]), poll_interval=5)

    async def one_poll() -> dict | None:
        async with LinkedInCapiAsyncHook() as hook:
            return await trigger._poll_once(hook)

    event = asyncio.run(one_poll())

    expected = EXPECTED[(method, enabled)]
    if expected == "usable":
        assert event["status"] == "success"
    elif expected == "disabled":
        assert event is None  # still waiting: someone may enable it
    else:
        assert event["status"] == "failed"
        assert "conversionMethod" in event["message"]


@pytest.mark.parametrize(("method", "enabled"), COMBINATIONS)
def test_create_rule_operator_reuses_only_a_conversions_api_namesake(sandbox, method, enabled):
    seeded = _seed(sandbox, method, enabled)
    operator = LinkedInCapiCreateConversionRuleOperator(
        task_id="create", name=seeded["name"], conversion_type="LEAD", if_exists="update"
    )

    if EXPECTED[(method, enabled)] == "never":
        with pytest.raises(AirflowFailException, match=f"Conversion rule {seeded['id']} .*conversionMethod"):
            operator.execute(context={})
        return
    result = operator.execute(context={})
    assert result["rule_id"] == str(seeded["id"])
    # The task wants an enabled rule: only a rule the gate would refuse as disabled is updated.
    assert ("enabled" in result["updated_fields"]) is (enabled == "disabled")


@pytest.mark.parametrize(("method", "enabled"), COMBINATIONS)
def test_associate_operator_warns_about_an_unusable_rule(sandbox, capfd, method, enabled):
    rule = _seed(sandbox, method, enabled)
    sandbox.admin.add_campaigns(AD_ACCOUNT_ID, [CAMPAIGN])
    operator = LinkedInCapiAssociateCampaignsOperator(
        task_id="link", conversion_rule_id=rule["id"], campaign_ids=[CAMPAIGN]
    )
    capfd.readouterr()

    result = operator.execute(context={})

    assert result["added"] == [CAMPAIGN]
    # Task-side logging goes through structlog to stdout, not to caplog.
    warned = [line for line in capfd.readouterr().out.splitlines() if "[warning" in line]
    problem = rule_usability(LinkedInCapiHook().get_conversion_rule(rule["id"])).problem
    if EXPECTED[(method, enabled)] == "usable":
        assert problem is None
        assert not any("Conversion rule" in line for line in warned), warned
    else:
        assert any(problem in line for line in warned), warned


def test_the_rules_package_imports_no_airflow_layer():
    """``rules`` is below every caller: it may not import operators, sensors, transfers or triggers."""
    import ast
    from pathlib import Path

    import airflow_provider_linkedin_capi.rules as rules

    forbidden = ("operators", "sensors", "transfers", "triggers", "airflow")
    for source in Path(rules.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                parts = name.split(".")
                assert parts[0] != "airflow", f"{source.name} imports {name}"
                assert not set(parts[1:2]) & set(forbidden), f"{source.name} imports {name}"
