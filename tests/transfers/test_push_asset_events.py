"""The push's asset events: its counts in the ``extra`` of ``linkedin-capi://`` outlets and resolved aliases.

The operator runs as a worker runs it, against the sandbox, with Airflow's own ``OutletEventAccessors`` in
the context (what the task runner hands ``execute``), so the events checked are the ones Airflow records.
"""

from __future__ import annotations

from collections import Counter

import pytest
from airflow.sdk import Asset, AssetAlias
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_provider_linkedin_capi.assets.linkedin_capi import create_asset
from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID

from .conftest import make_operator
from .crm_rows import raw_pii

pytestmark = pytest.mark.timeout(120)

ALIAS = AssetAlias("linkedin_capi_crm_conversions")
RUN_KEYS = {
    "rows_read",
    "events_sent",
    "events_rejected",
    "rejections",
    "batches",
    "already_delivered",
    "duplicate_rows",
    "resent_in_doubt",
    "skipped_in_doubt",
    "identifier_coverage",
    "first_event_at",
    "last_event_at",
    "dry_run",
    "rule_events_sent",
}


def _execute(rule_ids, outlets, **kwargs):
    operator = make_operator(rule_ids, outlets=outlets, **kwargs)
    outlet_events = OutletEventAccessors()
    summary = operator.execute(context={"outlet_events": outlet_events})
    return summary, outlet_events


def _sent_per_rule(linkedin) -> Counter:
    return Counter(event["conversion"].rsplit(":", 1)[-1] for event in linkedin.admin.events())


def test_a_rule_asset_outlet_carries_the_runs_counts(linkedin, sqlite_crm, rule_ids, crm_rows):
    asset = create_asset(AD_ACCOUNT_ID, rule_ids["main"])

    summary, outlet_events = _execute(rule_ids, [asset])

    extra = outlet_events[asset].extra
    assert set(extra) == RUN_KEYS
    for key in RUN_KEYS - {"rule_events_sent"}:
        assert extra[key] == summary[key], key
    assert extra["rule_events_sent"] == _sent_per_rule(linkedin)[str(rule_ids["main"])] > 0
    assert extra["first_event_at"] <= extra["last_event_at"]
    # Counts and times only: no row value, path or identifier.
    text = repr(extra).lower()
    assert not any(value in text for value in raw_pii(crm_rows))
    assert "rejects" not in text
    assert "@" not in text


def test_an_alias_resolves_to_one_asset_per_rule_that_received_events(linkedin, sqlite_crm, rule_ids):
    summary, outlet_events = _execute(rule_ids, [ALIAS])

    events = outlet_events[ALIAS].asset_alias_events
    sent = _sent_per_rule(linkedin)
    assert len(sent) >= 2  # the table names a second rule per row
    assert {event.dest_asset_key.uri for event in events} == {
        f"linkedin-capi://{AD_ACCOUNT_ID}/conversion/{rule}" for rule in sent
    }
    for event in events:
        rule = event.dest_asset_key.uri.rsplit("/", 1)[-1]
        assert event.extra["rule_events_sent"] == sent[rule]
        assert event.extra["events_sent"] == summary["events_sent"] == sum(sent.values())


def test_other_outlets_are_left_alone_and_a_dry_run_resolves_no_alias(linkedin, sqlite_crm, rule_ids):
    other = Asset("crm_conversions_export")

    _, outlet_events = _execute(rule_ids, [other, ALIAS], dry_run=True)

    assert outlet_events[other].extra == {}
    assert outlet_events[ALIAS].asset_alias_events == []
    assert linkedin.admin.events() == []


def test_an_outlet_naming_a_rule_that_got_nothing_says_so(linkedin, sqlite_crm, rule_ids, caplog):
    untouched = create_asset(AD_ACCOUNT_ID, 4242)

    summary, outlet_events = _execute(rule_ids, [untouched])

    assert outlet_events[untouched].extra["rule_events_sent"] == 0
    assert outlet_events[untouched].extra["events_sent"] == summary["events_sent"]
    assert "received no event in this run" in caplog.text
