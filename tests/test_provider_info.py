"""Airflow crashes at start-up on a malformed provider dict, so it is checked against Airflow's own schema."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from importlib import metadata
from importlib.resources import files

import jsonschema
from packaging.utils import canonicalize_name

from airflow_provider_linkedin_capi.get_provider_info import get_provider_info

DIST = "airflow-provider-linkedin-capi"


def test_provider_info_matches_airflow_schema():
    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_package_name_is_the_canonical_distribution_name():
    assert get_provider_info()["package-name"] == canonicalize_name(metadata.metadata(DIST)["Name"])


def test_entry_point_points_at_get_provider_info():
    (entry_point,) = [
        ep for ep in metadata.entry_points(group="apache_airflow_provider") if ep.dist.name == DIST
    ]
    assert entry_point.load() is get_provider_info


def test_every_declared_module_and_hook_class_imports():
    info = get_provider_info()
    modules = [
        m
        for section in ("hooks", "operators", "sensors", "triggers")
        for e in info[section]
        for m in e["python-modules"]
    ]
    modules += [t["python-module"] for t in info["transfers"]]
    for module in modules:
        importlib.import_module(module)
    for conn_type in info["connection-types"]:
        module_name, _, class_name = conn_type["hook-class-name"].rpartition(".")
        hook_class = getattr(importlib.import_module(module_name), class_name)
        assert hook_class.conn_type == conn_type["connection-type"] == "linkedin_capi"
        assert hook_class.default_conn_name == "linkedin_capi_default"


def test_connection_form_is_declarative_with_secrets_as_password_fields():
    (conn_type,) = get_provider_info()["connection-types"]
    fields = conn_type["conn-fields"]
    assert set(fields) >= {
        "refresh_token",
        "access_token",
        "token_url",
        "api_version",
        "ad_account_id",
        "requests_per_minute",
        "max_in_flight",
    }
    assert fields["max_in_flight"]["schema"]["default"] == 4
    # Airflow masks extras whose name contains a sensitive word: the in-flight limit must not be one.
    try:
        from airflow.sdk._shared.secrets_masker import should_hide_value_for_key
    except ImportError:  # Airflow 3.1
        from airflow.sdk.execution_time.secrets_masker import should_hide_value_for_key

    assert not should_hide_value_for_key("max_in_flight")
    assert should_hide_value_for_key("refresh_token")
    assert fields["refresh_token"]["schema"]["format"] == "password"
    assert fields["access_token"]["schema"]["format"] == "password"
    assert conn_type["ui-field-behaviour"]["relabeling"]["password"] == "Client Secret"


def _airflow_cli_json(*args: str) -> str:
    command = [sys.executable, "-m", "airflow", *args, "-o", "json"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def test_airflow_cli_lists_provider_and_connection_type():
    assert DIST in _airflow_cli_json("providers", "list")
    hooks = _airflow_cli_json("providers", "hooks")
    assert "linkedin_capi" in hooks
