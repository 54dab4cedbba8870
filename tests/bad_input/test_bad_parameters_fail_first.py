"""Bad parameters fail the task at once, naming the parameter, before LinkedIn or the database is asked.

Each mistake below used to get past the checks: a plain string of key columns was split into characters,
a huge ``max_event_age_days`` raised a raw OverflowError (so Airflow retried it), a fractional
``fetch_size`` reached the cursor, and deeply nested ``campaign_ids`` raised RecursionError. Now each is
an ``AirflowFailException`` (no retries) raised before the rule lookup and before the query: the sandbox
saw no request at all, and the query was never opened.
"""

from __future__ import annotations

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_linkedin_capi.operators.conversion_rules import LinkedInCapiAssociateCampaignsOperator
from airflow_provider_linkedin_capi.push import sources
from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator


@pytest.fixture
def no_query(monkeypatch):
    """Fails the test if the push opens its query or looks up its SQL connection."""

    def never(*args, **kwargs):
        raise AssertionError("the query was run (or its connection looked up) despite a bad parameter")

    monkeypatch.setattr(sources, "open_row_stream", never)
    monkeypatch.setattr(sources, "get_db_hook", never)


def _requests(sandbox) -> dict:
    stats = sandbox.admin.stats()
    return {"by_path": stats["requests_by_path"], "tokens": stats["tokens_issued"]}


def _push_operator(rule_id: str, **kwargs) -> SqlToLinkedInCapiOperator:
    operator = SqlToLinkedInCapiOperator(
        task_id="push", sql="SELECT * FROM crm", sql_conn_id="bad_input_sqlite", conversion_rule_id=rule_id
    )
    # Set after construction, as rendering a template does: the checks at execute time must catch them.
    for name, value in kwargs.items():
        setattr(operator, name, value)
    return operator


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("key_columns", "crm_id"),
        ("column_map", '{"work_email": "email"}'),
        ("column_map", "work_email=email"),
        ("max_event_age_days", 1e306),
        ("max_event_age_days", "1e306"),
        ("max_event_age_days", 366),
        ("max_event_age_days", float("nan")),
        ("fetch_size", 2.5),
        ("fetch_size", "100"),
    ],
)
def test_a_bad_push_parameter_fails_before_the_rule_lookup_and_the_query(
    sandbox, crm_sqlite, no_query, parameter, value
):
    rule_id = str(sandbox.admin.create_rule(name="bad parameter")["id"])
    before = _requests(sandbox)
    with pytest.raises(AirflowFailException, match=parameter):
        _push_operator(rule_id, **{parameter: value}).execute(context={})
    assert _requests(sandbox) == before


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("key_columns", "crm_id"),
        ("max_event_age_days", 1e306),
        ("max_event_age_days", 400),
        ("fetch_size", 2.5),
    ],
)
def test_a_bad_literal_push_parameter_fails_when_the_dag_is_parsed(parameter, value):
    with pytest.raises(AirflowFailException, match=parameter):
        SqlToLinkedInCapiOperator(task_id="push", sql="SELECT 1", sql_conn_id="crm", **{parameter: value})


def _nested(depth: int) -> list:
    value: list = [1]
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "campaign_ids",
    ["[" * 100_000 + "1" + "]" * 100_000, "(" * 5_000 + "1," + ")" * 5_000, _nested(100_000), [[1], [2]]],
    ids=["text-json", "text-python", "native-deep", "native-shallow"],
)
def test_nested_campaign_ids_fail_before_the_rule_is_read(sandbox, campaign_ids):
    rule_id = str(sandbox.admin.create_rule(name="nested campaigns")["id"])
    before = _requests(sandbox)
    operator = LinkedInCapiAssociateCampaignsOperator(
        task_id="link", conversion_rule_id=rule_id, campaign_ids=[1]
    )
    # Set as a rendered template would be, past BaseOperator.__setattr__ (which, outside a running task,
    # walks a native value for XCom references, recursively).
    object.__setattr__(operator, "campaign_ids", campaign_ids)
    with pytest.raises(AirflowFailException, match="campaign_ids"):
        operator.execute(context={})
    assert _requests(sandbox) == before
