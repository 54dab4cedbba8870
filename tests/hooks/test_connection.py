"""Connection parsing: JSON env-var connections, URI round-trips, clear errors."""

from __future__ import annotations

import json

import pytest
from airflow.sdk import Connection

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiConfigError
from airflow_provider_linkedin_capi.hooks._connection import (
    DEFAULT_API_VERSION,
    DEFAULT_HOST,
    DEFAULT_TOKEN_URL,
    LinkedInCapiConnectionConfig,
)


def _conn(extra: dict, **fields) -> Connection:
    fields.setdefault("login", "client-id")
    fields.setdefault("password", "client-secret")
    return Connection(conn_id="li", conn_type="linkedin_capi", extra=json.dumps(extra), **fields)


def test_defaults_with_refresh_token():
    config = LinkedInCapiConnectionConfig.from_connection(_conn({"refresh_token": "r-token"}))
    assert config.base_url == DEFAULT_HOST
    assert config.oauth_url == DEFAULT_TOKEN_URL
    assert config.api_version == DEFAULT_API_VERSION == "202608"
    assert config.requests_per_minute == 600
    assert config.uses_refresh_token
    assert (config.client_id, config.client_secret, config.refresh_token) == (
        "client-id",
        "client-secret",
        "r-token",
    )
    assert config.timeout is None
    assert config.max_retries is None
    assert config.ad_account_id is None
    assert "r-token" not in repr(config)
    assert "client-secret" not in repr(config)


def test_json_env_connection_with_every_field(monkeypatch):
    payload = {
        "conn_type": "linkedin_capi",
        "host": "http://127.0.0.1:8765/rest/",
        "login": "cid",
        "password": "secret",
        "extra": {
            "refresh_token": "rt",
            "oauth_url": "http://127.0.0.1:8765/oauth/v2/accessToken",
            "api_version": "202607",
            "ad_account_id": "urn:li:sponsoredAccount:507404993",
            "requests_per_minute": 120,
            "timeout": 5,
            "max_retries": 2,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_LI_JSON", json.dumps(payload))
    config = LinkedInCapiConnectionConfig.from_connection(Connection.get("li_json"))
    assert config.base_url == "http://127.0.0.1:8765/rest"
    assert config.oauth_url == "http://127.0.0.1:8765/oauth/v2/accessToken"
    assert config.api_version == "202607"
    assert config.ad_account_id == "507404993"
    assert (config.requests_per_minute, config.timeout, config.max_retries) == (120, 5.0, 2)


def test_uri_round_trip_keeps_every_field():
    original = _conn(
        {
            "refresh_token": "r t/+=",
            "requests_per_minute": "90",
            "ad_account_id": "42",
            "oauth_url": "http://127.0.0.1:8765/oauth/v2/accessToken",
        },
        host="http://127.0.0.1:8765/rest",
        password="s/e:c@ret",
    )
    round_tripped = Connection.from_uri(original.get_uri(), conn_id="li")
    config = LinkedInCapiConnectionConfig.from_connection(round_tripped)
    assert config == LinkedInCapiConnectionConfig.from_connection(original)
    assert config.client_secret == "s/e:c@ret"
    assert config.refresh_token == "r t/+="
    assert config.requests_per_minute == 90


def test_hand_written_uri_with_host_port_and_schema():
    conn = Connection.from_uri(
        "linkedin-capi://cid:sec@localhost:8765/rest?refresh_token=abc&requests_per_minute=30", conn_id="li"
    )
    config = LinkedInCapiConnectionConfig.from_connection(conn)
    assert config.base_url == "https://localhost:8765/rest"
    assert config.requests_per_minute == 30
    assert config.refresh_token == "abc"


@pytest.mark.parametrize(
    ("host", "port"),
    [(None, 443), ("https://api.linkedin.com/rest", 443), ("http://127.0.0.1:8765/rest", 8765), (None, 0)],
)
def test_a_port_that_matches_the_api_url_is_accepted(host, port):
    """The form's port field is filled only so that Airflow 3.3's Test button matches the stored port."""
    config = LinkedInCapiConnectionConfig.from_connection(_conn({"access_token": "a"}, host=host, port=port))
    assert config.base_url == (host or DEFAULT_HOST)


def test_static_access_token_needs_no_client():
    config = LinkedInCapiConnectionConfig.from_connection(
        _conn({"access_token": "tok"}, login=None, password=None)
    )
    assert config.access_token == "tok"
    assert not config.uses_refresh_token


@pytest.mark.parametrize(
    ("extra", "fields", "match"),
    [
        ({}, {}, "no credentials.*refresh_token.*access_token"),
        ({"refresh_token": "r", "access_token": "a"}, {}, "not both"),
        ({"refresh_token": "r"}, {"login": None}, r"Client ID \(login\)"),
        ({"refresh_token": "r"}, {"login": None, "password": ""}, r"Client ID \(login\) and Client Secret"),
        ({"access_token": "a", "api_version": "2026-08"}, {}, "api_version.*YYYYMM"),
        ({"access_token": "a", "api_version": "202613"}, {}, "api_version"),
        ({"access_token": "a", "ad_account_id": "urn:li:sponsoredCampaign:1"}, {}, "ad_account_id"),
        ({"access_token": "a", "requests_per_minute": 0}, {}, "requests_per_minute"),
        ({"access_token": "a", "requests_per_minute": "lots"}, {}, "requests_per_minute"),
        ({"access_token": "a", "max_retries": -1}, {}, "max_retries"),
        ({"access_token": "a", "max_in_flight": 0}, {}, "max_in_flight"),
        ({"access_token": "a", "max_in_flight": "17"}, {}, "max_in_flight"),
        ({"access_token": "a", "max_in_flight": "four"}, {}, "max_in_flight"),
        ({"access_token": "a", "propagation_wait": "-0.5"}, {}, "propagation_wait"),
        ({"access_token": "a"}, {"port": 8443}, r"port 8443 differs .*api\.linkedin\.com, port 443"),
        (
            {"access_token": "a"},
            {"host": "http://127.0.0.1:8765/rest", "port": 443},
            "port 443 differs .*port 8765.*set the port to 8765",
        ),
    ],
)
def test_invalid_connections_name_the_field(extra, fields, match):
    with pytest.raises(LinkedInCapiConfigError, match=match) as info:
        LinkedInCapiConnectionConfig.from_connection(_conn(extra, **fields))
    assert isinstance(info.value, ValueError)


def test_waits_come_from_the_connection_unless_the_hook_is_given_them(monkeypatch):
    from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook

    payload = {
        "conn_type": "linkedin_capi",
        "extra": {
            "access_token": "static-token-abcdef",
            "retry_min_wait": "0.25",
            "retry_max_wait": 4,
            "propagation_wait": "0.5",
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_LI_WAITS", json.dumps(payload))
    hook = LinkedInCapiHook("li_waits")
    assert (hook.retry_min_wait, hook.retry_max_wait, hook.propagation_wait) == (0.25, 4.0, 0.5)
    assert (LinkedInCapiHook("li_waits", retry_min_wait=0.0).retry_min_wait) == 0.0
    assert LinkedInCapiHook("li_waits", propagation_wait=0).propagation_wait == 0

    monkeypatch.setenv(
        "AIRFLOW_CONN_LI_NO_WAITS", json.dumps({**payload, "extra": {"access_token": "t" * 20}})
    )
    defaults = LinkedInCapiHook("li_no_waits")
    assert (defaults.retry_min_wait, defaults.retry_max_wait, defaults.propagation_wait) == (
        1.0,
        60.0,
        2.0,
    )

    with pytest.raises(LinkedInCapiConfigError, match="retry_min_wait"):
        LinkedInCapiConnectionConfig.from_connection(_conn({"access_token": "a", "retry_min_wait": -1}))


def test_max_in_flight_is_read_from_the_extra_as_a_number_or_text():
    assert LinkedInCapiConnectionConfig.from_connection(_conn({"refresh_token": "r"})).max_in_flight is None
    for value in (8, "8", " 8 ", 8.0):
        config = LinkedInCapiConnectionConfig.from_connection(
            _conn({"refresh_token": "r", "max_in_flight": value})
        )
        assert config.max_in_flight == 8
    uri = Connection.from_uri(
        "linkedin-capi://cid:sec@localhost:8765/rest?refresh_token=abc&max_in_flight=10", conn_id="li"
    )
    assert LinkedInCapiConnectionConfig.from_connection(uri).max_in_flight == 10


@pytest.mark.parametrize("value", ["auto", "AUTO", " Auto "])
def test_max_in_flight_may_be_auto_in_the_extra(value):
    config = LinkedInCapiConnectionConfig.from_connection(
        _conn({"refresh_token": "r", "max_in_flight": value})
    )
    assert config.max_in_flight == "auto"


@pytest.mark.parametrize(
    "name",
    ["timeout", "max_retries", "retry_min_wait", "retry_max_wait", "requests_per_minute", "propagation_wait"],
)
@pytest.mark.parametrize("value", [float("inf"), float("nan"), -1])
def test_inf_nan_and_negatives_are_refused_as_configuration_in_an_argument_and_an_extra(name, value):
    """They used to reach a sleep or an int() and fail with a raw OverflowError or ValueError."""
    from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiAsyncHook, LinkedInCapiHook

    for hook_class in (LinkedInCapiHook, LinkedInCapiAsyncHook):
        with pytest.raises(LinkedInCapiConfigError, match=name):
            hook_class("li", **{name: value})
    with pytest.raises(LinkedInCapiConfigError, match=f"extra '{name}'"):
        LinkedInCapiConnectionConfig.from_connection(_conn({"refresh_token": "r", name: str(value)}))


@pytest.mark.parametrize("value", ["inf", "nan", "1e400", 2.5, 17])
def test_an_unusable_max_in_flight_extra_is_refused_as_configuration(value):
    with pytest.raises(LinkedInCapiConfigError, match="extra 'max_in_flight'"):
        LinkedInCapiConnectionConfig.from_connection(_conn({"refresh_token": "r", "max_in_flight": value}))


def test_identifier_versions_are_read_as_json_from_any_connection_form():
    override = {"ORACLE_MOAT_ID": [None, None]}
    for extra in (override, json.dumps(override)):  # JSON connection, or text from a URI or the form
        config = LinkedInCapiConnectionConfig.from_connection(
            _conn({"refresh_token": "r", "identifier_versions": extra})
        )
        assert config.identifier_versions == override
    plain = LinkedInCapiConnectionConfig.from_connection(_conn({"refresh_token": "r"}))
    assert plain.identifier_versions is None


@pytest.mark.parametrize(
    "value", ["not json", "[1, 2]", '{"oracle_moat_id": [null, null]}', '{"X": "202609"}']
)
def test_a_malformed_identifier_versions_extra_is_refused_as_configuration(value):
    with pytest.raises(LinkedInCapiConfigError, match="identifier_versions"):
        LinkedInCapiConnectionConfig.from_connection(
            _conn({"refresh_token": "r", "identifier_versions": value})
        )
