"""Modules that moved still import from their old paths, and give the very same objects.

DAGs and plugins written against an earlier release import these paths; a shim that re-exported a copy
(or forgot a name) would break ``isinstance`` checks or the import itself.
"""

from __future__ import annotations

import importlib

import pytest

PACKAGE = "airflow_provider_linkedin_capi"

#: old module -> (new module, names the old module offered before the move).
MOVED = {
    "operators.conversion_rule_spec": (
        "rules.spec",
        {
            "CONVERSION_TYPES",
            "TYPES_ALLOWING_365_DAYS",
            "WINDOW_DAYS",
            "ATTRIBUTION_TYPES",
            "VALUE_TYPES",
            "AUTO_ASSOCIATION_TYPES",
            "IF_EXISTS_CHOICES",
            "ConversionRuleSpec",
            "ConversionRuleSpecError",
            "check_if_exists",
        },
    ),
    "rule_status": (
        "rules.status",
        {
            "WAIT_FOR_READY",
            "WAIT_FOR_EVENTS",
            "WAIT_FOR_CHOICES",
            "RuleEvaluation",
            "linked_campaign_urns",
            "latest_callback_ms",
            "rule_status_fields",
            "evaluate_rule",
            "to_epoch_ms",
        },
    ),
    "operators.templated_values": ("utils.templated_values", {"is_templated", "optional_account_id"}),
    "operators.campaign_ids": ("utils.campaign_ids", {"MAX_CAMPAIGN_IDS_TEXT", "parse_campaign_ids"}),
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_the_old_path_offers_the_same_objects_as_the_new_one(old):
    new, names = MOVED[old]
    old_module = importlib.import_module(f"{PACKAGE}.{old}")
    new_module = importlib.import_module(f"{PACKAGE}.{new}")
    assert set(old_module.__all__) == names
    for name in names:
        assert getattr(old_module, name) is getattr(new_module, name), name
    assert f"{PACKAGE}.{new}" in old_module.__doc__, "the shim's docstring says where the module went"
