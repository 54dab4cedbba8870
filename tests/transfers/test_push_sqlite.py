"""SqlToLinkedInCapiOperator from a SQLite file to the sandbox over real HTTP."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiAuthError, LinkedInCapiError
from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID

from .conftest import MISSING_RULE_ID, make_operator
from .crm_rows import SENT, build_rows, raw_pii, rule_urn, valid
from .outcome import (
    assert_delivered_exactly,
    assert_rejects_file,
    assert_summary,
    expected_codes,
    read_rejects,
)


def test_every_valid_row_arrives_once_and_every_invalid_row_is_explained(
    linkedin, sqlite_crm, crm_rows, rule_ids, run_push, tmp_path
):
    rejects = tmp_path / "out" / "nested" / "rejects.jsonl"

    summary = run_push(rejects_path=str(rejects))

    codes = expected_codes(crm_rows)
    assert_delivered_exactly(linkedin, valid(crm_rows), rule_ids)
    assert_rejects_file(rejects, crm_rows, codes)
    assert_summary(summary, crm_rows, codes, dry_run=False)
    assert summary["batches"] == 1
    assert summary["rejects_path"] == str(rejects)


def test_rows_naming_unusable_rules_say_which_rule(
    linkedin, sqlite_crm, crm_rows, rule_ids, run_push, tmp_path
):
    rejects = tmp_path / "rejects.jsonl"
    run_push(rejects_path=str(rejects))

    messages = {line["row"]: line["message"] for line in read_rejects(rejects)}
    by_rule = {row.rule: position for position, row in enumerate(crm_rows, 1) if row.expect != SENT}
    assert str(MISSING_RULE_ID) in messages[by_rule["missing"]]
    assert "does not exist" in messages[by_rule["missing"]]
    assert str(rule_ids["insight"]) in messages[by_rule["insight"]]
    assert "CONVERSIONS_API" in messages[by_rule["insight"]]


@pytest.mark.parametrize("message_format", ["indexed", "opaque"])
def test_linkedin_422_rejects_only_the_poisoned_rows(
    linkedin, tmp_path, rule_ids, run_push, monkeypatch, message_format
):
    rows = build_rows(rule_ids, filler=40)
    _write_rows(tmp_path, rows, monkeypatch)
    poisoned = [row for row in valid(rows) if row.seq % 9 == 4][:5]
    assert len(poisoned) == 5
    linkedin.admin.poison([row.event_id(rule_ids) for row in poisoned], message_format=message_format)
    rejects = tmp_path / "rejects.jsonl"

    summary = run_push(rejects_path=str(rejects), batch_size=20)

    refused = {row.seq for row in poisoned}
    codes = expected_codes(rows, refused)
    delivered = [row for row in valid(rows) if row.seq not in refused]
    assert_delivered_exactly(linkedin, delivered, rule_ids)
    lines = assert_rejects_file(rejects, rows, codes)
    assert_summary(summary, rows, codes, dry_run=False)
    linkedin_lines = [line for line in lines if line["code"] == "rejected_by_linkedin"]
    assert {line["event_id"] for line in linkedin_lines} == {row.event_id(rule_ids) for row in poisoned}
    assert all(line["message"] for line in linkedin_lines)


def test_rerun_sends_the_same_event_ids(linkedin, sqlite_crm, crm_rows, rule_ids, run_push):
    first = run_push()
    ids_after_first = linkedin.admin.event_ids()

    second = run_push()

    # Every count is the same; what was measured of LinkedIn (its time, the window it led to) may not be.
    measured = {"batch_seconds", "in_flight_window"}
    assert {k: v for k, v in first.items() if k not in measured} == {
        k: v for k, v in second.items() if k not in measured
    }
    assert set(linkedin.admin.event_ids()) == set(ids_after_first)
    assert all(count == 2 for count in linkedin.admin.event_ids().values())


def test_dry_run_sends_nothing_and_reports_the_same_counts(
    linkedin, sqlite_crm, crm_rows, rule_ids, run_push, tmp_path
):
    rejects = tmp_path / "dry.jsonl"

    summary = run_push(dry_run=True, rejects_path=str(rejects))

    assert linkedin.admin.events() == []
    codes = expected_codes(crm_rows)
    assert_summary(summary, crm_rows, codes, dry_run=True)
    assert_rejects_file(rejects, crm_rows, codes)


def test_on_invalid_fail_sends_nothing(linkedin, sqlite_crm, crm_rows, run_push, tmp_path):
    rejects = tmp_path / "rejects.jsonl"
    first_invalid = next(position for position, row in enumerate(crm_rows, 1) if row.expect != SENT)

    with pytest.raises(AirflowFailException, match=f"Row {first_invalid} .*nothing was sent"):
        run_push(on_invalid="fail", rejects_path=str(rejects))

    assert linkedin.admin.events() == []
    assert [line["row"] for line in read_rejects(rejects)] == [first_invalid]


def test_on_invalid_fail_sends_everything_when_all_rows_are_valid(
    linkedin, sqlite_crm, crm_rows, rule_ids, run_push
):
    good_ids = ", ".join(f"'{row.crm_id}'" for row in valid(crm_rows))

    summary = run_push(
        on_invalid="fail",
        batch_size=4,
        sql=f"SELECT * FROM crm_conversions WHERE crm_id IN ({good_ids}) ORDER BY seq",
    )

    assert_delivered_exactly(linkedin, valid(crm_rows), rule_ids)
    assert summary["events_sent"] == summary["rows_read"] == len(valid(crm_rows))
    assert summary["batches"] == -(-len(valid(crm_rows)) // 4)


def test_max_rejected_fraction_fails_after_sending(linkedin, sqlite_crm, crm_rows, rule_ids, run_push):
    with pytest.raises(AirflowException, match=r"max_rejected_fraction=0\.1") as failure:
        run_push(max_rejected_fraction=0.1)

    assert_delivered_exactly(linkedin, valid(crm_rows), rule_ids)
    assert f"'events_sent': {len(valid(crm_rows))}" in str(failure.value)


def test_max_rejected_fraction_at_or_above_the_share_passes(linkedin, sqlite_crm, crm_rows, run_push):
    share = (len(crm_rows) - len(valid(crm_rows))) / len(crm_rows)
    summary = run_push(max_rejected_fraction=share)
    assert summary["events_sent"] == len(valid(crm_rows))


def test_templated_sql_file_and_parameters(linkedin, sqlite_crm, crm_rows, rule_ids, tmp_path):
    from airflow.sdk import DAG

    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    (sql_dir / "conversions.sql").write_text(
        "SELECT * FROM {{ params.table }} WHERE seq <= CAST(:last_seq AS INTEGER) ORDER BY seq -- {{ ds }}\n"
    )
    with DAG("templated_push", schedule=None, template_searchpath=[str(sql_dir)]):
        op = make_operator(
            rule_ids,
            sql="conversions.sql",
            parameters={"last_seq": "{{ params.last_seq }}"},
            params={"table": "crm_conversions", "last_seq": 10},
            rejects_path=str(tmp_path / "{{ ds }}" / "rejects.jsonl"),
        )
    context = {"ds": "2026-11-22", "params": {"table": "crm_conversions", "last_seq": 10}}
    op.render_template_fields(context)
    assert op.sql.startswith("SELECT * FROM crm_conversions WHERE seq <= CAST(:last_seq")
    assert op.parameters == {"last_seq": "10"}

    summary = op.execute(context=context)

    first_ten = crm_rows[:10]
    assert summary["rows_read"] == 10
    assert_delivered_exactly(linkedin, valid(first_ten), rule_ids)
    assert summary["rejects_path"] == str(tmp_path / "2026-11-22" / "rejects.jsonl")
    assert Path(summary["rejects_path"]).exists()


def test_batches_split_per_rule_when_asked(linkedin, sqlite_crm, crm_rows, rule_ids, run_push):
    summary = run_push(batch_per_rule=True, batch_size=5000)

    assert_delivered_exactly(linkedin, valid(crm_rows), rule_ids)
    assert summary["batches"] == 2  # one for the main rule, one for the rule named per row
    assert len(linkedin.admin.events(rule_id=rule_ids["second"])) == 2


def test_per_rule_batches_from_the_spool_keep_their_row_numbers(
    linkedin, sqlite_crm, crm_rows, rule_ids, run_push, tmp_path
):
    # on_invalid="fail" validates everything into a spool first; batch_per_rule regroups it when read back.
    good = [(position, row) for position, row in enumerate(crm_rows, 1) if row.expect == SENT]
    good_ids = ", ".join(f"'{row.crm_id}'" for _, row in good)
    second = [(number, row) for number, (_, row) in enumerate(good, 1) if row.rule == "second"]
    assert second, "the CRM rows name the second rule per row"
    poisoned_number, poisoned = second[-1]
    linkedin.admin.poison([poisoned.event_id(rule_ids)])
    rejects = tmp_path / "rejects.jsonl"

    summary = run_push(
        on_invalid="fail",
        batch_per_rule=True,
        rejects_path=str(rejects),
        sql=f"SELECT * FROM crm_conversions WHERE crm_id IN ({good_ids}) ORDER BY seq",
    )

    delivered = [row for _, row in good if row is not poisoned]
    assert_delivered_exactly(linkedin, delivered, rule_ids)
    assert summary["batches"] == 2  # one per rule
    assert summary["events_sent"] == len(delivered)
    [line] = read_rejects(rejects)
    assert (line["row"], line["code"]) == (poisoned_number, "rejected_by_linkedin")
    assert line["event_id"] == poisoned.event_id(rule_ids)


def test_small_batches_and_fetches(linkedin, sqlite_crm, crm_rows, rule_ids, run_push):
    summary = run_push(batch_size=3, fetch_size=2)

    assert_delivered_exactly(linkedin, valid(crm_rows), rule_ids)
    assert summary["batches"] == -(-len(valid(crm_rows)) // 3)


def test_rejects_to_an_object_storage_uri(linkedin, sqlite_crm, crm_rows, run_push, tmp_path):
    target = tmp_path / "bucket" / "rejects.jsonl"

    summary = run_push(rejects_path=f"file://{target}")

    assert_rejects_file(target, crm_rows, expected_codes(crm_rows))
    assert summary["rejects_path"] == f"file://{target}"


def test_missing_operator_rule_fails_before_reading_rows(linkedin, rule_ids, run_push):
    # The SQL connection does not even exist: the task must fail on the rule before touching it.
    with pytest.raises(AirflowFailException, match=f"{MISSING_RULE_ID} does not exist.*Nothing was read"):
        run_push(conversion_rule_id=MISSING_RULE_ID, sql_conn_id="no_such_connection")
    assert linkedin.admin.events() == []


def test_non_capi_operator_rule_fails(linkedin, rule_ids, run_push):
    with pytest.raises(AirflowFailException, match="INSIGHT_TAG_URL_MATCH_RULES"):
        run_push(conversion_rule_id=rule_urn(rule_ids["insight"]), sql_conn_id="no_such_connection")


def test_disabled_operator_rule_fails(linkedin, rule_ids, run_push):
    linkedin.admin.update_rule(rule_ids["main"], enabled=False)
    with pytest.raises(AirflowFailException, match="disabled"):
        run_push(sql_conn_id="no_such_connection")


def test_linkedin_failing_mid_run_says_what_was_delivered(
    linkedin, sqlite_crm, crm_rows, rule_ids, run_push, monkeypatch
):
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT",
        linkedin.connection_json(requests_per_minute=1_000_000, max_retries=0),
    )
    # Token and two rule reads pass; the first event batch passes; every later request fails.
    linkedin.admin.set_faults([{"kind": "500", "every": 1, "after": 1, "path": "/rest/conversionEvents"}])

    with pytest.raises(LinkedInCapiError) as failure:
        run_push(batch_size=10)

    message = str(failure.value)
    assert "after 10 events were delivered in 1 batches" in message
    # Without a ledger a retry would send those 10 again: the message says so, and never calls it safe.
    assert "no delivery ledger, so a re-run sends the 10 delivered events again" in message
    assert "safe" not in message.lower()
    received = linkedin.admin.events()
    assert len(received) == 10
    assert failure.value.status == 500


def test_a_failure_with_a_ledger_says_what_a_rerun_leaves_out_and_the_rerun_sends_the_rest(
    linkedin, sqlite_crm, crm_rows, rule_ids, run_push, monkeypatch, tmp_path
):
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT",
        linkedin.connection_json(requests_per_minute=1_000_000, max_retries=0),
    )
    ledger = tmp_path / "ledger"
    linkedin.admin.set_faults([{"kind": "500", "every": 1, "after": 1, "path": "/rest/conversionEvents"}])
    with pytest.raises(LinkedInCapiError) as failure:
        run_push(batch_size=10, ledger_path=str(ledger))
    assert f"A re-run with the same ledger ({ledger}) sends none of the events LinkedIn accepted" in str(
        failure.value
    )
    linkedin.admin.clear_faults()
    summary = run_push(batch_size=10, ledger_path=str(ledger))
    assert summary["already_delivered"] == 10
    assert summary["events_sent"] == len(valid(crm_rows)) - 10
    assert_delivered_exactly(linkedin, valid(crm_rows), rule_ids)


def test_the_deployments_ledger_path_serves_a_push_that_names_none(
    linkedin, sqlite_crm, crm_rows, rule_ids, monkeypatch, tmp_path
):
    """``[linkedin_capi] ledger_path``: one folder per DAG, task and map index, so a retry resends nothing."""
    monkeypatch.setenv("AIRFLOW__LINKEDIN_CAPI__LEDGER_PATH", str(tmp_path / "ledgers"))
    context = {"ti": SimpleNamespace(dag_id="crm_sync", task_id="push", map_index=-1, try_number=1)}
    first = make_operator(rule_ids).execute(context=context)
    again = make_operator(rule_ids).execute(context=context)
    assert first["events_sent"] == len(valid(crm_rows))
    assert (again["events_sent"], again["already_delivered"]) == (0, len(valid(crm_rows)))
    assert (tmp_path / "ledgers" / "crm_sync" / "push" / "-1").is_dir()
    assert_delivered_exactly(linkedin, valid(crm_rows), rule_ids)


@pytest.mark.parametrize(
    ("message_format", "poisoned_at", "fault_after", "delivered", "refused"),
    [
        # 422 naming no element -> first half (5 accepted) -> second half: 500.
        ("opaque", 10, 2, 5, 0),
        # 422 naming row 3 -> the other nine resent: 500.
        ("indexed", 3, 1, 0, 1),
    ],
)
def test_linkedin_failing_inside_a_split_batch_counts_what_it_took(
    linkedin,
    sqlite_crm,
    crm_rows,
    rule_ids,
    run_push,
    monkeypatch,
    tmp_path,
    message_format,
    poisoned_at,
    fault_after,
    delivered,
    refused,
):
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT",
        linkedin.connection_json(requests_per_minute=1_000_000, max_retries=0),
    )
    rows = [row for row in valid(crm_rows) if row.rule == "main"][:10]
    assert len(rows) == 10
    ids = ", ".join(f"'{row.crm_id}'" for row in rows)
    linkedin.admin.poison([rows[poisoned_at - 1].event_id(rule_ids)], message_format=message_format)
    linkedin.admin.set_faults(
        [{"kind": "500", "every": 1, "after": fault_after, "path": "/rest/conversionEvents"}]
    )
    rejects = tmp_path / "rejects.jsonl"

    with pytest.raises(LinkedInCapiError) as failure:
        run_push(
            rejects_path=str(rejects),
            sql=f"SELECT * FROM crm_conversions WHERE crm_id IN ({ids}) ORDER BY seq",
        )

    message = str(failure.value)
    assert f"after {delivered} events were delivered" in message
    assert f"10 rows were read; {10 - delivered} of them were not delivered ({refused} rejected" in message
    assert len(linkedin.admin.events()) == delivered
    expected_lines = [(poisoned_at, "rejected_by_linkedin")] * refused
    assert [(line["row"], line["code"]) for line in read_rejects(rejects)] == expected_lines


def test_not_a_sql_connection_is_refused(linkedin, rule_ids, run_push):
    with pytest.raises(AirflowException, match="not a SQL"):
        run_push(sql_conn_id="linkedin_capi_default")


def test_query_without_a_rule_or_timestamp_column_fails_clearly(linkedin, sqlite_crm, rule_ids, run_push):
    with pytest.raises(AirflowFailException, match="conversionHappenedAt"):
        run_push(sql="SELECT crm_id, email FROM crm_conversions")


def test_column_map_renames_source_columns(linkedin, tmp_path, rule_ids, run_push, monkeypatch):
    import sqlite3

    path = tmp_path / "mapped.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE leads (contact_email, closed_at, order_id)")
        conn.execute(
            "INSERT INTO leads VALUES (?, ?, ?)",
            ("Mapped.Person@Example.com", valid(build_rows(rule_ids))[0].happened_ms, "o-1"),
        )
    conn.close()
    monkeypatch.setenv("AIRFLOW_CONN_LEADS", json.dumps({"conn_type": "sqlite", "host": str(path)}))

    summary = run_push(
        sql_conn_id="leads",
        sql="SELECT * FROM leads",
        column_map={"contact_email": "email", "closed_at": "conversionHappenedAt"},
        key_columns=["order_id"],
    )

    assert summary["events_sent"] == 1
    (event,) = linkedin.admin.events()
    import hashlib

    assert event["user"]["userIds"] == [
        {"idType": "SHA256_EMAIL", "idValue": hashlib.sha256(b"mapped.person@example.com").hexdigest()}
    ]


def _write_rows(tmp_path, rows, monkeypatch):
    from .conftest import write_sqlite_table

    path = tmp_path / "crm.db"
    write_sqlite_table(path, rows)
    monkeypatch.setenv("AIRFLOW_CONN_CRM", json.dumps({"conn_type": "sqlite", "host": str(path)}))


def test_no_sql_parameters_or_row_data_reach_the_log_or_xcom(
    linkedin, sqlite_crm, crm_rows, run_push, capsys, caplog
):
    sql = "SELECT * FROM crm_conversions WHERE internal_notes <> :marker ORDER BY seq /* sql-marker-6b1f */"

    with caplog.at_level(logging.DEBUG):
        summary = run_push(
            sql=sql, parameters={"marker": "param-marker-93c2"}, progress_interval_seconds=1e-9
        )

    captured = capsys.readouterr()
    logged = (captured.out + captured.err + caplog.text).lower()
    assert "ignoring 2 column(s)" in logged  # the log is captured at all
    assert "sql-marker-6b1f" not in logged
    assert "param-marker-93c2" not in logged
    leaked = {value for value in raw_pii(crm_rows) if value in logged}
    assert not leaked
    assert set(summary) == {
        "rows_read",
        "events_sent",
        "events_rejected",
        "rejections",
        "batches",
        "first_event_at",
        "last_event_at",
        "dry_run",
        "rejects_path",
        "already_delivered",
        "duplicate_rows",
        "resent_in_doubt",
        "skipped_in_doubt",
        "rule_has_campaigns",
        "identifier_coverage",
        "in_flight_window",
        "batch_seconds",
    }
    assert not {value for value in raw_pii(crm_rows) if value in json.dumps(summary).lower()}


def _no_campaign_warnings(capfd) -> list[str]:
    """Task logging goes through structlog to stdout, not to caplog."""
    out, err = capfd.readouterr()
    return [line for line in (out + err).splitlines() if "is linked to no campaign" in line]


def test_a_rule_linked_to_no_campaign_is_warned_about_once(linkedin, sqlite_crm, rule_ids, run_push, capfd):
    # The suite's rules are linked to no campaign: events are taken but credited to no campaign.
    summary = run_push()
    warnings = _no_campaign_warnings(capfd)
    assert summary["rule_has_campaigns"] is False
    # Once per rule the push read (the operator's and the one named per row), never per row or batch.
    assert sorted(line.split("Conversion rule ")[1].split()[0] for line in warnings) == sorted(
        f"urn:lla:llaPartnerConversion:{rule_ids[name]}" for name in ("main", "second")
    )
    assert "('CRM purchases')" in " ".join(warnings)


def test_a_rule_linked_to_campaigns_is_not_warned_about(linkedin, sqlite_crm, rule_ids, run_push, capfd):
    linkedin.admin.add_campaigns(AD_ACCOUNT_ID, ["630000001"])
    hook = LinkedInCapiHook()
    for name in ("main", "second"):
        hook.associate_campaigns(f"urn:lla:llaPartnerConversion:{rule_ids[name]}", ["630000001"])
    summary = run_push()
    assert summary["rule_has_campaigns"] is True
    assert _no_campaign_warnings(capfd) == []


def test_a_rerun_with_a_ledger_resends_nothing_linkedin_took(
    linkedin, sqlite_crm, crm_rows, rule_ids, run_push, monkeypatch, tmp_path
):
    ledger = tmp_path / "ledger" / "2026-11-30"
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT",
        linkedin.connection_json(requests_per_minute=1_000_000, max_retries=0),
    )
    # The first run dies after two batches of five; LinkedIn took those ten.
    linkedin.admin.set_faults([{"kind": "500", "every": 1, "after": 2, "path": "/rest/conversionEvents"}])
    with pytest.raises(LinkedInCapiError, match="after 10 events were delivered"):
        run_push(batch_size=5, ledger_path=str(ledger))
    linkedin.admin.clear_faults()

    second = run_push(batch_size=5, ledger_path=str(ledger))
    third = run_push(batch_size=5, ledger_path=f"file://{ledger}")  # the same folder as a URI

    assert_delivered_exactly(linkedin, valid(crm_rows), rule_ids)  # every valid row, each exactly once
    assert (second["already_delivered"], second["events_sent"]) == (10, len(valid(crm_rows)) - 10)
    assert (third["already_delivered"], third["events_sent"], third["batches"]) == (
        len(valid(crm_rows)),
        0,
        0,
    )
    assert third["events_rejected"] == second["events_rejected"]  # invalid rows are still explained
    parts = list(ledger.iterdir())
    assert parts
    assert all(part.stat().st_size % 8 == 0 for part in parts)  # digests only
    stored = b"".join(part.read_bytes() for part in parts)
    assert not {value for value in raw_pii(crm_rows) if value.encode() in stored.lower()}


def test_a_dry_run_reads_the_ledger_but_records_nothing(linkedin, sqlite_crm, crm_rows, run_push, tmp_path):
    ledger = tmp_path / "ledger"
    run_push(ledger_path=str(ledger))
    parts_after_push = sorted(ledger.iterdir())

    dry = run_push(ledger_path=str(ledger), dry_run=True)

    assert (dry["already_delivered"], dry["events_sent"]) == (len(valid(crm_rows)), 0)
    assert sorted(ledger.iterdir()) == parts_after_push


def test_revoked_credentials_mid_run_fail_without_retry_and_say_what_was_delivered(
    linkedin, sqlite_crm, crm_rows, run_push, monkeypatch
):
    deliver = LinkedInCapiHook.send_conversion_events
    calls = []

    def deliver_then_revoke(self, events):
        calls.append(len(events))
        result = deliver(self, events)
        linkedin.admin.revoke_tokens()  # revokes the refresh token too, as LinkedIn does
        return result

    monkeypatch.setattr(LinkedInCapiHook, "send_conversion_events", deliver_then_revoke)

    with pytest.raises(LinkedInCapiAuthError) as failure:
        run_push(batch_size=8, max_in_flight=1)

    assert isinstance(failure.value, AirflowFailException)
    assert "after 8 events were delivered in 1 batches" in str(failure.value)
    assert len(linkedin.admin.events()) == 8
    assert calls == [8, 8]


def test_on_invalid_fail_reports_a_failure_while_sending_the_spool(
    linkedin, sqlite_crm, crm_rows, run_push, monkeypatch
):
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT",
        linkedin.connection_json(requests_per_minute=1_000_000, max_retries=0),
    )
    linkedin.admin.set_faults([{"kind": "503", "every": 1, "after": 2, "path": "/rest/conversionEvents"}])
    good_ids = ", ".join(f"'{row.crm_id}'" for row in valid(crm_rows))

    with pytest.raises(LinkedInCapiError, match="after 10 events were delivered in 2 batches") as failure:
        run_push(
            on_invalid="fail", batch_size=5, sql=f"SELECT * FROM crm_conversions WHERE crm_id IN ({good_ids})"
        )

    read = len(valid(crm_rows))
    assert f"{read} rows were read; {read - 10} of them were not delivered" in str(failure.value)
    assert len(linkedin.admin.events()) == 10


def test_each_rule_is_read_from_linkedin_once(linkedin, sqlite_crm, crm_rows, rule_ids, run_push, lookups):
    run_push()
    run_push(batch_size=2)  # a fresh task reads them again, once each

    once = sorted(str(rule_ids[role]) for role in ("main", "second", "insight", "missing"))
    assert sorted(lookups) == sorted(once * 2)
    assert sum(1 for row in crm_rows if row.rule == "second") >= 2


def test_rejection_limit_and_event_window_can_come_from_dag_params(
    linkedin, sqlite_crm, crm_rows, rule_ids, tmp_path
):
    """A nightly DAG sets these from params: rendered as text, they must still act as numbers."""
    from airflow.sdk import DAG

    with DAG("templated_limits", schedule=None):
        op = make_operator(
            rule_ids,
            max_rejected_fraction="{{ params.max_rejected_fraction }}",
            max_event_age_days="{{ params.max_event_age_days }}",
            event_age_safety_margin_hours="{{ params.margin_hours }}",
            max_future_skew_seconds="{{ params.skew_seconds }}",
            params={
                "max_rejected_fraction": 0.1,
                "max_event_age_days": 90,
                "margin_hours": 12,
                "skew_seconds": 300,
            },
        )
    context = {
        "params": {
            "max_rejected_fraction": 0.1,
            "max_event_age_days": 90,
            "margin_hours": 12,
            "skew_seconds": 300,
        }
    }
    op.render_template_fields(context)
    assert op.max_rejected_fraction == "0.1"

    with pytest.raises(AirflowFailException, match=r"above max_rejected_fraction=0\.1"):
        op.execute(context=context)
    assert_delivered_exactly(linkedin, valid(crm_rows), rule_ids)


def test_a_limit_that_renders_to_no_number_fails_clearly(linkedin, sqlite_crm, rule_ids):
    with pytest.raises(ValueError, match="max_rejected_fraction must be a number"):
        make_operator(rule_ids, max_rejected_fraction="a lot")  # a literal is checked at parse time

    op = make_operator(rule_ids, max_rejected_fraction="{{ params.limit }}", params={"limit": "a lot"})
    op.render_template_fields({"params": {"limit": "a lot"}})
    with pytest.raises(AirflowFailException, match=r"max_rejected_fraction must be a number.*Nothing was"):
        op.execute(context={})
    assert linkedin.admin.events() == []  # refused before anything was sent


def test_max_in_flight_is_auto_by_default_and_the_summary_reports_its_range_and_the_latency(
    linkedin, sqlite_crm, crm_rows, rule_ids, monkeypatch
):
    # LinkedIn slower than the budget's spacing: the window grows from 4, never past 16.
    linkedin.admin.configure(latency_ms=100)
    summary = make_operator(rule_ids, batch_size=5).execute(context={})
    window = summary["in_flight_window"]
    assert window["auto"] is True
    assert window["min"] == 4
    assert 4 < window["max"] <= 16
    assert window["final"] <= window["max"]
    assert linkedin.admin.stats()["event_requests_max_concurrent"] <= window["most_at_once"] <= window["max"]
    assert window["throttled"] == 0
    assert set(summary["batch_seconds"]) == {"median", "p95"}
    assert summary["batch_seconds"]["median"] <= summary["batch_seconds"]["p95"]

    # "auto" in the connection's extra, or as the operator's argument, is the same window.
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT",
        linkedin.connection_json(requests_per_minute=1_000_000, max_in_flight="auto"),
    )
    assert make_operator(rule_ids, batch_size=5).execute(context={})["in_flight_window"]["auto"] is True
    fixed = make_operator(rule_ids, batch_size=5, max_in_flight="2").execute(context={})["in_flight_window"]
    assert (fixed["auto"], fixed["min"], fixed["max"], fixed["final"]) == (False, 2, 2, 2)


def test_max_in_flight_from_a_template_or_the_connection(
    linkedin, sqlite_crm, crm_rows, rule_ids, monkeypatch
):
    op = make_operator(rule_ids, max_in_flight="{{ params.in_flight }}", params={"in_flight": "none of them"})
    op.render_template_fields({"params": {"in_flight": "none of them"}})
    with pytest.raises(AirflowFailException, match=r"max_in_flight must be a whole number.*Nothing was"):
        op.execute(context={})
    assert linkedin.admin.events() == []  # refused before anything was sent

    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT",
        linkedin.connection_json(requests_per_minute=1_000_000, max_in_flight="17"),
    )
    with pytest.raises(AirflowFailException, match="max_in_flight"):
        make_operator(rule_ids, batch_size=5).execute(context={})
    assert linkedin.admin.events() == []

    # The connection's value applies when the operator sets none; the operator's wins when it does.
    linkedin.admin.configure(latency_ms=200)
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT",
        linkedin.connection_json(requests_per_minute=1_000_000, max_in_flight=1),
    )
    make_operator(rule_ids, batch_size=5).execute(context={})
    assert linkedin.admin.stats()["event_requests_max_concurrent"] == 1
    linkedin.admin.reset()
    linkedin.admin.configure(latency_ms=200)
    rule_ids["main"] = linkedin.admin.create_rule(name="again", type="PURCHASE")["id"]
    summary = make_operator(rule_ids, batch_size=5, max_in_flight="{{ 3 }}")
    summary.render_template_fields({})
    summary.execute(context={})
    assert 2 <= linkedin.admin.stats()["event_requests_max_concurrent"] <= 3
