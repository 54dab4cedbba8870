"""Argument checks happen at DAG parse time, and the operator's Airflow surface is what the docs promise."""

from __future__ import annotations

import pytest

from airflow_provider_linkedin_capi.exceptions import BadArgumentError
from airflow_provider_linkedin_capi.push.options import PushOptions
from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator


def _operator(**kwargs) -> SqlToLinkedInCapiOperator:
    kwargs.setdefault("task_id", "push")
    kwargs.setdefault("sql", "SELECT 1")
    kwargs.setdefault("sql_conn_id", "crm")
    return SqlToLinkedInCapiOperator(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 5001}, "batch_size"),
        ({"on_invalid": "ignore"}, "on_invalid"),
        ({"max_rejected_fraction": 1.5}, "max_rejected_fraction"),
        ({"max_rejected_fraction": -0.1}, "max_rejected_fraction"),
        ({"fetch_size": 0}, "fetch_size"),
        ({"progress_interval_seconds": 0}, "progress_interval_seconds"),
        ({"timestamp_unit": "minutes"}, "timestamp_unit"),
        ({"default_timezone": "Mars/Olympus"}, "default_timezone"),
        ({"max_event_age_days": -1}, "max_event_age_days"),
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"max_in_flight": 17}, "max_in_flight"),
        ({"max_in_flight": "many"}, "max_in_flight"),
        ({"max_in_flight": 2.5}, "max_in_flight"),
        ({"max_in_flight": True}, "max_in_flight"),
    ],
)
def test_bad_arguments_fail_at_parse_time(kwargs, error):
    with pytest.raises(ValueError, match=error):
        _operator(**kwargs)


def test_batch_size_must_be_an_int():
    with pytest.raises(BadArgumentError, match="batch_size"):
        _operator(batch_size="5000")


def test_defaults_and_templating_surface():
    op = _operator()
    assert op.batch_size == 5000
    assert op.on_invalid == "skip"
    assert op.dry_run is False
    assert op.linkedin_capi_conn_id == "linkedin_capi_default"
    assert op.max_in_flight is None  # the connection's max_in_flight, else "auto"
    assert _operator(max_in_flight="{{ params.in_flight }}").max_in_flight.startswith("{{")
    for field in (
        "sql",
        "parameters",
        "conversion_rule_id",
        "rejects_path",
        "sql_conn_id",
        "linkedin_capi_conn_id",
        "max_in_flight",
    ):
        assert field in SqlToLinkedInCapiOperator.template_fields
        assert hasattr(op, field)
    assert SqlToLinkedInCapiOperator.template_ext == (".sql",)
    assert SqlToLinkedInCapiOperator.template_fields_renderers["sql"] == "sql"
    assert SqlToLinkedInCapiOperator.template_fields_renderers["parameters"] == "json"
    assert SqlToLinkedInCapiOperator.ui_color == "#0a66c2"


def test_a_jinja_block_is_not_checked_before_it_is_rendered():
    op = _operator(max_rejected_fraction="{% if params.strict %}0.01{% else %}0.2{% endif %}")
    assert op.max_rejected_fraction.startswith("{%")


@pytest.mark.parametrize("value", [float("inf"), float("nan"), "inf", 2.5, 0, 17])
def test_an_unusable_max_in_flight_is_refused_with_the_usual_argument_error(value):
    with pytest.raises(BadArgumentError, match="max_in_flight"):
        _operator(max_in_flight=value)


@pytest.mark.parametrize(("value", "read"), [("auto", "auto"), (" AUTO ", "auto"), ("8", 8), (16, 16)])
def test_max_in_flight_is_auto_or_a_whole_number(value, read):
    assert PushOptions.of(_operator(max_in_flight=value)).validate().max_in_flight == read


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 0])
def test_an_unusable_progress_interval_is_refused_with_the_usual_argument_error(value):
    with pytest.raises(BadArgumentError, match="progress_interval_seconds"):
        _operator(progress_interval_seconds=value)
