"""Airflow crashes at start-up on a malformed provider dict, so it is checked against Airflow's own schema."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from importlib import metadata
from importlib.resources import files
from pathlib import Path

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
        "oauth_url",
        "propagation_wait",
        "api_version",
        "ad_account_id",
        "requests_per_minute",
        "max_in_flight",
    }
    assert fields["max_in_flight"]["schema"]["default"] == "auto"
    in_flight = re.compile(fields["max_in_flight"]["schema"]["pattern"])
    assert all(in_flight.match(value) for value in ("auto", "1", "9", "16"))
    assert not any(in_flight.match(value) for value in ("0", "17", "four", "auto4"))
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


def _should_hide_value_for_key():
    """Airflow's own test for a field name it masks in the UI and the API (the task SDK's secrets masker)."""
    try:
        from airflow.sdk._shared.secrets_masker import should_hide_value_for_key
    except ImportError:  # Airflow 3.1
        from airflow.sdk.execution_time.secrets_masker import should_hide_value_for_key
    return should_hide_value_for_key


def test_only_secret_fields_have_names_airflow_masks():
    """Airflow masks a field named like a secret, and its form saves the mask back; so only secrets may be."""
    hide = _should_hide_value_for_key()
    (conn_type,) = get_provider_info()["connection-types"]
    fields = conn_type["conn-fields"]
    secrets = {name for name, spec in fields.items() if spec["schema"].get("format") == "password"}
    assert secrets == {"refresh_token", "access_token"}
    assert [name for name in fields if name not in secrets and hide(name)] == []
    assert all(hide(name) for name in secrets)
    assert hide("password")  # the Client Secret is the connection's password field
    assert not conn_type["ui-field-behaviour"]["hidden-fields"].count("password")


def _airflow_cli_json(*args: str) -> str:
    command = [sys.executable, "-m", "airflow", *args, "-o", "json"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def test_airflow_cli_lists_provider_and_connection_type():
    assert DIST in _airflow_cli_json("providers", "list")
    hooks = _airflow_cli_json("providers", "hooks")
    assert "linkedin_capi" in hooks


REPO_ROOT = Path(__file__).resolve().parents[1]


def test_every_extra_link_class_imports_and_is_an_operator_link():
    from airflow.providers.common.compat.sdk import BaseOperatorLink

    links = get_provider_info()["extra-links"]
    assert links
    for path in links:
        module_name, _, class_name = path.rpartition(".")
        link_class = getattr(importlib.import_module(module_name), class_name)
        assert issubclass(link_class, BaseOperatorLink)


def test_the_logo_ships_inside_the_package():
    (integration,) = get_provider_info()["integrations"]
    logo = integration["logo"]
    assert logo.startswith("/docs/integration-logos/")
    shipped = files("airflow_provider_linkedin_capi").joinpath(logo.lstrip("/"))
    assert shipped.is_file()
    assert shipped.read_text().lstrip().startswith("<svg")


def test_how_to_guides_exist():
    (integration,) = get_provider_info()["integrations"]
    guides = integration["how-to-guide"]
    assert "/docs/metrics.md" in guides
    for guide in guides:
        assert (REPO_ROOT / guide.lstrip("/")).is_file(), guide


def test_versions_are_the_package_version_first_and_each_has_a_changelog_section():
    versions = get_provider_info()["versions"]
    assert versions[0] == importlib.import_module("airflow_provider_linkedin_capi").__version__
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog
    for version in versions:
        assert f"## [{version}]" in changelog, version


def test_config_defaults_match_the_code():
    from airflow_provider_linkedin_capi.links.campaign_manager import DEFAULT_RULE_URL

    option = get_provider_info()["config"]["linkedin_capi"]["options"]["campaign_manager_rule_url"]
    assert option["default"] == DEFAULT_RULE_URL


def test_airflow_loads_the_provider_config_with_its_braces():
    """Airflow fills ``{...}`` in config defaults with its variables unless told the value is a template."""
    from airflow_provider_linkedin_capi.links.campaign_manager import DEFAULT_RULE_URL

    code = (
        "from airflow.configuration import conf; "
        "print(conf.get('linkedin_capi', 'campaign_manager_rule_url'))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip().splitlines()[-1] == DEFAULT_RULE_URL


def _design_names() -> list[str]:
    """The dotted names in DESIGN.md's "Names" table (shared/ beside the clone), attributes included."""
    design = Path(__file__).resolve().parents[2] / "shared" / "DESIGN.md"
    if not design.exists():
        return []
    table = design.read_text(encoding="utf-8").split("## Names", 1)[1].split("\n## ", 1)[0]
    names = []
    for line in table.splitlines():
        for code in line.split("`")[1::2]:
            if code.startswith("airflow_provider_linkedin_capi") and " " not in code:
                names.append(code.removesuffix("()"))
    return names


def test_design_public_names_still_import():
    """Every public name DESIGN.md lists (hook, operators, sensor, trigger, push engine ...) imports."""
    names = _design_names()
    if not names:
        import os

        assert os.environ.get("CI") != "true", "shared/DESIGN.md is missing beside the clone"
        return
    missing = []
    for name in names:
        module, _, attribute = name.rpartition(".")
        try:
            importlib.import_module(name)
            continue
        except ImportError:
            pass
        try:
            if not hasattr(importlib.import_module(module), attribute):
                missing.append(name)
        except ImportError:
            missing.append(name)
    assert len(names) >= 10
    assert missing == []
