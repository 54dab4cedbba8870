"""Column resolution and configuration errors: mistakes that would reject every row fail at construction."""

from __future__ import annotations

from datetime import datetime

import pytest
from conversion_helpers import NOW, RECENT_MS, RULE_URN, event_of, settings

from airflow_provider_linkedin_capi.conversions import ConversionSettings, EventBuilder


def test_columns_match_case_insensitively_as_postgres_folds_them():
    builder = EventBuilder(["EMAIL", "firstname", "LASTNAME", "conversionhappenedat"], settings())
    event = event_of(builder.build(["a@example.com", "Ada", "Lovelace", RECENT_MS]))
    assert event["user"]["userInfo"] == {"firstName": "Ada", "lastName": "Lovelace"}
    assert event["user"]["userIds"][0]["idType"] == "SHA256_EMAIL"


def test_column_map_renames_and_beats_a_same_named_column():
    builder = EventBuilder(
        ["email", "Work_Email", "happened"],
        settings(column_map={"work_email": "EMAIL", "HAPPENED": "conversionHappenedAt"}),
    )
    assert builder.source_columns["email"] == "Work_Email"
    assert "email" in builder.ignored_columns
    plain = event_of(
        EventBuilder(["email", "conversionHappenedAt"], settings()).build(["b@example.com", RECENT_MS])
    )
    mapped = event_of(builder.build(["a@example.com", "b@example.com", RECENT_MS]))
    assert mapped["user"]["userIds"] == plain["user"]["userIds"]


def test_li_fat_id_alias_feeds_the_first_party_tracking_id():
    event = event_of(
        EventBuilder(["LI_FAT_ID", "conversionHappenedAt"], settings()).build(["df3a-li-fat", RECENT_MS])
    )
    assert event["user"]["userIds"] == [
        {"idType": "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", "idValue": "df3a-li-fat"}
    ]


def test_ignored_columns_lists_unknown_columns_but_not_key_columns():
    builder = EventBuilder(
        ["crm_id", "email", "notes", "conversionHappenedAt", "region"], settings(key_columns=["CRM_ID"])
    )
    assert builder.ignored_columns == ("notes", "region")


@pytest.mark.parametrize(
    ("columns", "overrides", "expected"),
    [
        (["email", "conversionHappenedAt"], {"column_map": {"nope": "email"}}, "does not return"),
        (["email", "x", "conversionHappenedAt"], {"column_map": {"x": "favourite_colour"}}, "not a contract"),
        (["a", "b", "conversionHappenedAt"], {"column_map": {"a": "email", "b": "email"}}, "two columns"),
        (["email", "EMAIL", "conversionHappenedAt"], {}, "all feed 'email'"),
        (["li_fat_id", "linkedin_first_party_ads_tracking_uuid", "conversionHappenedAt"], {}, "all feed"),
        (["email", "conversionHappenedAt"], {"key_columns": ["crm_id"]}, "key_columns names column 'crm_id'"),
        (
            ["email", "conversionHappenedAt"],
            {"conversion_rule_id": "urn:li:conversion:1"},
            "conversion_rule_id",
        ),
        (["email", "conversionHappenedAt"], {"conversion_rule_id": None}, "no conversion rule"),
        (["email", "happened"], {}, "no conversionHappenedAt column"),
        (["crm_id", "conversionHappenedAt"], {}, "no identifier column"),
    ],
)
def test_configuration_mistakes_raise_value_error(columns, overrides, expected):
    with pytest.raises(ValueError, match=expected):
        EventBuilder(columns, settings(**overrides))


def test_a_conversion_column_is_enough_without_a_default_rule():
    builder = EventBuilder(["conversion", "email", "conversionHappenedAt"], settings(conversion_rule_id=None))
    assert event_of(builder.build(["7", "a@example.com", RECENT_MS]))["conversion"] == (
        "urn:lla:llaPartnerConversion:7"
    )


def test_rule_id_setting_accepts_id_urn_and_int():
    for rule in (104012, "104012", " urn:lla:llaPartnerConversion:104012 "):
        builder = EventBuilder(["email", "conversionHappenedAt"], settings(conversion_rule_id=rule))
        assert event_of(builder.build(["a@example.com", RECENT_MS]))["conversion"] == RULE_URN


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"timestamp_unit": "minutes"}, "timestamp_unit"),
        ({"default_timezone": "Mars/Olympus_Mons"}, "default_timezone"),
        ({"max_event_age_days": -1}, "must not be negative"),
        ({"max_event_age_days": float("nan")}, "finite"),
        ({"max_future_skew_seconds": True}, "finite number"),
        ({"max_event_age_days": 0.25, "event_age_safety_margin_hours": 6}, "no accepted window"),
        ({"now": datetime(2026, 11, 1)}, "timezone-aware"),
        ({"key_columns": "crm_id"}, "not a single string"),
    ],
)
def test_bad_settings_raise_value_error(overrides, expected):
    with pytest.raises(ValueError, match=expected):
        ConversionSettings(**{"conversion_rule_id": 1, "now": NOW, **overrides})


def test_columns_match_case_insensitively_and_a_missing_column_is_null():
    exact = EventBuilder(["email", "firstName", "lastName", "conversionHappenedAt"], settings()).build(
        ("a@example.com", "Ada", "L", RECENT_MS)
    )
    folded = EventBuilder(["EMAIL", "firstname", "conversionhappenedat"], settings()).build(
        ("a@example.com", "Ada", RECENT_MS)
    )
    assert event_of(exact)["user"]["userInfo"] == {"firstName": "Ada", "lastName": "L"}
    assert (
        "userInfo" not in event_of(folded)["user"]
    )  # lastName missing: half name dropped, e-mail carries it
    assert exact["user"]["userIds"] == folded["user"]["userIds"]


def test_builder_reads_the_clock_once_when_now_is_not_given():
    builder = EventBuilder(["email", "conversionHappenedAt"], ConversionSettings(conversion_rule_id=1))
    assert builder.now.tzinfo is not None
    assert (
        builder.timestamps.latest_ms - builder.timestamps.earliest_ms == (90 * 24 - 12) * 3_600_000 + 300_000
    )
