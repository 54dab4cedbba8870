"""The LinkedIn-Version calendar: published dates as published, estimates labelled, and a release gate."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_linkedin_capi import api_versions
from airflow_provider_linkedin_capi.api_versions import sunset_is_near, sunset_of
from airflow_provider_linkedin_capi.constants import DEFAULT_API_VERSION

# A release must not ship a default version that dies before users upgrade again.
RELEASE_MARGIN_DAYS = 90


def test_the_pinned_default_version_is_far_from_its_sunset():
    sunset = sunset_of(DEFAULT_API_VERSION)
    days = sunset.days_left(datetime.now(UTC).date())
    assert days > RELEASE_MARGIN_DAYS, (
        f"DEFAULT_API_VERSION {DEFAULT_API_VERSION} is {sunset.describe(datetime.now(UTC).date())}: "
        "move it in constants.py to a current month (and the sandbox and docs with it) before releasing"
    )


@pytest.mark.parametrize(
    ("version", "published"),
    # LinkedIn's migrations page (docs/linkedin-contract.md §1.8); 202508's is two days off the 15th.
    [
        ("202508", date(2026, 8, 17)),
        ("202510", date(2026, 10, 15)),
        ("202511", date(2026, 11, 16)),
        ("202601", date(2027, 1, 15)),
        ("202602", date(2027, 2, 15)),
        ("202603", date(2027, 3, 16)),
    ],
)
def test_published_sunsets_are_used_as_published(version, published):
    sunset = sunset_of(version)
    assert (sunset.on, sunset.label) == (published, api_versions.CONFIRMED)
    assert sunset.source.startswith("https://learn.microsoft.com/")


def test_reported_and_estimated_sunsets_say_so():
    assert (sunset_of("202506").on, sunset_of("202506").label) == (
        date(2026, 6, 15),
        api_versions.THIRD_PARTY,
    )
    estimate = sunset_of("202608")
    assert (estimate.on, estimate.label) == (date(2027, 8, 15), api_versions.ESTIMATED)


@given(year=st.integers(2023, 2040), month=st.integers(1, 12), offset=st.integers(-800, 800))
def test_every_version_has_a_sunset_about_a_year_on(year, month, offset):
    version = f"{year:04d}{month:02d}"
    sunset = sunset_of(version)
    released = date(year, month, 1)
    assert 365 <= (sunset.on - released).days <= 365 + 31
    today = date.fromordinal(sunset.on.toordinal() - offset)
    assert sunset.days_left(today) == offset
    assert sunset_is_near(version, today) == (offset <= api_versions.SUNSET_WARNING_DAYS)
    text = sunset.describe(today)
    assert text.startswith(f"sunset {sunset.on.isoformat()} ({sunset.label.lower()}), ")
    assert text.endswith("ago" if offset < 0 else "today" if offset == 0 else "days")


# -- Which userIds types a version takes (THIRD-PARTY, overridable) ------------------------------------


@pytest.mark.parametrize(
    ("version", "refused"),
    [
        ("202601", {"GOOGLE_AID", "SHA256_IP_ADDRESS"}),
        ("202605", {"SHA256_IP_ADDRESS"}),
        ("202607", set()),
        ("202608", set()),
        ("202609", {"ORACLE_MOAT_ID"}),
    ],
)
def test_identifier_types_follow_the_reported_versions(version, refused):
    assert set(api_versions.refused_id_types(version)) == refused
    assert all(span.label == api_versions.THIRD_PARTY for span in api_versions.IDENTIFIER_SPANS.values())


def test_the_pinned_default_version_takes_every_identifier_type():
    # The provider's own default must not silently drop a column users map.
    assert api_versions.refused_id_types(DEFAULT_API_VERSION) == {}


def test_an_override_replaces_a_span_and_says_so():
    spans = api_versions.refused_id_types(
        "202609", {"ORACLE_MOAT_ID": [None, None], "GOOGLE_AID": ["202610", None]}
    )
    assert set(spans) == {"GOOGLE_AID"}
    assert spans["GOOGLE_AID"].label == "OVERRIDE"


@pytest.mark.parametrize(
    "overrides",
    [
        {"oracle_moat_id": [None, "202609"]},
        {"ORACLE_MOAT_ID": "202609"},
        {"ORACLE_MOAT_ID": [None, "2026-09"]},
        {"ORACLE_MOAT_ID": [None, "202613"]},
        {"ORACLE_MOAT_ID": [None]},
    ],
)
def test_malformed_overrides_are_refused(overrides):
    with pytest.raises(ValueError, match="identifier_versions"):
        api_versions.identifier_spans(overrides)
