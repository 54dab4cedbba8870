from __future__ import annotations

import pytest

from airflow_provider_linkedin_capi.exceptions import ConversionRuleSpecError
from airflow_provider_linkedin_capi.rules.spec import ConversionRuleSpec, check_if_exists
from airflow_provider_linkedin_capi.urns import optional_account_id, parse_campaign_ids


def test_templated_strings_are_coerced():
    spec = ConversionRuleSpec.build(
        name=" Leads ",
        conversion_type="lead",
        post_click_window_days="90",
        view_through_window_days="30",
        enabled="False",
        value_type="None",
        attribution_type="last_touch_by_conversion",
    )
    assert spec == ConversionRuleSpec(
        name="Leads",
        conversion_type="LEAD",
        attribution_type="LAST_TOUCH_BY_CONVERSION",
        post_click_window_days=90,
        view_through_window_days=30,
        value_type=None,
        enabled=False,
    )


@pytest.mark.parametrize("window", ["post_click_window_days", "view_through_window_days"])
def test_365_days_only_for_the_five_types(window):
    assert (
        getattr(ConversionRuleSpec.build(name="n", conversion_type="PURCHASE", **{window: 365}), window)
        == 365
    )
    with pytest.raises(ConversionRuleSpecError, match=f"{window}=365 is only allowed"):
        ConversionRuleSpec.build(name="n", conversion_type="SIGN_UP", **{window: 365})


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConversionRuleSpecError) as err:
        ConversionRuleSpec.build(
            name="",
            conversion_type="NOT_A_TYPE",
            attribution_type="FIRST_TOUCH",
            post_click_window_days=14,
            view_through_window_days="seven",
            value_type="SOME",
            enabled="maybe",
            auto_association="EVERYTHING",
        )
    text = str(err.value)
    for fragment in (
        "name must be",
        "'NOT_A_TYPE' is not a known",
        "attribution_type must be",
        "post_click_window_days must be one of 1, 7, 30, 90",
        "view_through_window_days must be a whole number",
        "value_type must be",
        "enabled must be a boolean",
        "auto_association must be",
    ):
        assert fragment in text


def test_unknown_type_allowed_when_check_is_off():
    assert ConversionRuleSpec.build(
        name="n", conversion_type="NEW_TYPE", check_type=False
    ).conversion_type == ("NEW_TYPE")


def test_differences_use_linkedin_defaults_and_skip_unset_value_type():
    spec = ConversionRuleSpec.build(name="n", conversion_type="LEAD", post_click_window_days=90)
    rule = {"name": "n", "type": "LEAD", "valueType": "FIXED"}
    assert spec.differences(rule) == {"postClickAttributionWindowSize": 90}
    assert ConversionRuleSpec.build(name="n", conversion_type="LEAD", value_type="DYNAMIC").differences(
        rule
    ) == {"valueType": "DYNAMIC"}


def test_if_exists_choices():
    assert check_if_exists(" Update ") == "update"
    with pytest.raises(ConversionRuleSpecError, match="if_exists must be one of"):
        check_if_exists("replace")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([1, "2", "urn:li:sponsoredCampaign:3", 1], ["1", "2", "3"]),
        ("[1, 2]", ["1", "2"]),
        ("['urn:li:sponsoredCampaign:7', '8']", ["7", "8"]),
        ('["9"]', ["9"]),
        ("10, 11 12", ["10", "11", "12"]),
        (13, ["13"]),
        ("", []),
        (None, []),
        ((14,), ["14"]),
    ],
)
def test_campaign_ids_in_every_rendered_shape(value, expected):
    assert parse_campaign_ids(value) == [f"urn:li:sponsoredCampaign:{n}" for n in expected]


@pytest.mark.parametrize("value", ["[1, 2", "1,abc", "urn:li:sponsoredAccount:1", True, {"a": 1}, [1.5]])
def test_campaign_ids_typos_fail(value):
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by shape
        parse_campaign_ids(value)


def test_optional_account_id():
    assert optional_account_id("None") is None
    assert optional_account_id("") is None
    assert optional_account_id(None) is None
    assert optional_account_id("urn:li:sponsoredAccount:42") == "42"
