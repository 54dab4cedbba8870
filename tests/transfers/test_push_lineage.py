"""The push's OpenLineage facets, asked of the operator as the OpenLineage listener asks them.

Inputs are the query's tables (SQLite and PostgreSQL), outputs one dataset per conversion rule with the
events LinkedIn took for it, on success and on failure, and none of it may call LinkedIn.
"""

from __future__ import annotations

from collections import Counter

import pytest

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiError
from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID

from .conftest import PG_CONN_ID, make_operator

pytest.importorskip("airflow.providers.openlineage", reason="the openlineage extra is not installed")
pytestmark = pytest.mark.timeout(120)


def _namespace(linkedin) -> str:
    return "linkedin-capi://" + linkedin.rest_url.split("://", 1)[1].split("/", 1)[0]


def _sent_per_rule(linkedin) -> Counter:
    return Counter(event["conversion"].rsplit(":", 1)[-1] for event in linkedin.admin.events())


def _requests(linkedin) -> int:
    return sum(linkedin.admin.stats()["requests_by_path"].values())


def _outputs(lineage) -> dict[str, object]:
    return {dataset.name: dataset for dataset in lineage.outputs}


def test_on_start_names_the_source_table_and_the_operators_rule_without_calling_linkedin(
    linkedin, sqlite_crm, rule_ids
):
    operator = make_operator(rule_ids)
    before = _requests(linkedin)

    lineage = operator.get_openlineage_facets_on_start()

    assert _requests(linkedin) == before
    (source,) = lineage.inputs
    assert source.name == "main.crm_conversions"
    assert source.namespace == f"sqlite://{sqlite_crm}"
    assert lineage.job_facets["sql"].query.startswith("SELECT * FROM crm_conversions")
    (output,) = lineage.outputs
    assert output.namespace == _namespace(linkedin)
    assert output.name == f"{AD_ACCOUNT_ID}/conversion/{rule_ids['main']}"
    assert output.facets["linkedinCapi"].apiVersion
    assert output.facets["linkedinCapi"].dryRun is False
    assert "outputStatistics" not in (output.outputFacets or {})


def test_on_complete_gives_one_dataset_per_rule_with_the_events_linkedin_took(linkedin, sqlite_crm, rule_ids):
    operator = make_operator(rule_ids)
    summary = operator.execute(context={})
    before = _requests(linkedin)

    lineage = operator.get_openlineage_facets_on_complete(None)

    assert _requests(linkedin) == before
    sent = _sent_per_rule(linkedin)
    assert len(sent) >= 2
    outputs = _outputs(lineage)
    assert set(outputs) == {f"{AD_ACCOUNT_ID}/conversion/{rule}" for rule in sent}
    for rule, count in sent.items():
        statistics = outputs[f"{AD_ACCOUNT_ID}/conversion/{rule}"].outputFacets["outputStatistics"]
        assert statistics.rowCount == count
    assert sum(sent.values()) == summary["events_sent"]
    assert [dataset.name for dataset in lineage.inputs] == ["main.crm_conversions"]


def test_on_failure_counts_only_what_was_delivered_before_linkedin_failed(
    linkedin, sqlite_crm, rule_ids, monkeypatch
):
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT",
        linkedin.connection_json(requests_per_minute=1_000_000, max_retries=0),
    )
    linkedin.admin.set_faults([{"kind": "500", "every": 1, "after": 1, "path": "/rest/conversionEvents"}])
    operator = make_operator(rule_ids, batch_size=10)
    with pytest.raises(LinkedInCapiError):
        operator.execute(context={})

    lineage = operator.get_openlineage_facets_on_failure(None)

    delivered = _sent_per_rule(linkedin)
    assert sum(delivered.values()) == 10
    counts = {
        name: dataset.outputFacets["outputStatistics"].rowCount for name, dataset in _outputs(lineage).items()
    }
    main = f"{AD_ACCOUNT_ID}/conversion/{rule_ids['main']}"
    assert main in counts  # the operator's rule is an output even when nothing went to it
    assert {name: n for name, n in counts.items() if n} == {
        f"{AD_ACCOUNT_ID}/conversion/{rule}": n for rule, n in delivered.items()
    }


def test_a_connection_without_an_ad_account_names_no_output(linkedin, sqlite_crm, rule_ids, monkeypatch):
    connection = linkedin.connection(requests_per_minute=1_000_000)
    del connection["extra"]["ad_account_id"]
    monkeypatch.setenv("AIRFLOW_CONN_LINKEDIN_CAPI_DEFAULT", __import__("json").dumps(connection))

    lineage = make_operator(rule_ids).get_openlineage_facets_on_start()

    assert lineage.outputs == []
    assert [dataset.name for dataset in lineage.inputs] == ["main.crm_conversions"]


@pytest.mark.postgres
def test_postgres_inputs_are_named_as_common_sql_names_them(linkedin, pg_crm, rule_ids):
    operator = make_operator(rule_ids, sql_conn_id=PG_CONN_ID, sql=f"SELECT * FROM {pg_crm} ORDER BY seq")

    lineage = operator.get_openlineage_facets_on_start()

    (source,) = lineage.inputs
    assert source.namespace == "postgres://127.0.0.1:5432"
    assert source.name == f"test.public.{pg_crm}"


def test_lineage_that_cannot_name_the_inputs_quotes_no_sql_and_keeps_the_outputs(
    linkedin, sqlite_crm, rule_ids, monkeypatch, caplog
):
    from airflow_provider_linkedin_capi.push import sources as row_source

    def refuse(*_args, **_kwargs):
        raise ValueError("syntax error near 'alice@example.com'")

    monkeypatch.setattr(row_source, "get_db_hook", refuse)

    lineage = make_operator(rule_ids).get_openlineage_facets_on_start()

    assert lineage.inputs == []
    assert [dataset.name for dataset in lineage.outputs] == [f"{AD_ACCOUNT_ID}/conversion/{rule_ids['main']}"]
    assert "could not be named (ValueError)" in caplog.text
    assert "alice@example.com" not in caplog.text
