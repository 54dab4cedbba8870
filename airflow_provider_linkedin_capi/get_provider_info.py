"""Entry-point target for Airflow's providers manager.

A pure literal on purpose: Airflow calls this in every process at start-up and validates it against its
schema; importing hooks here would slow every CLI call and turn an import error into a crash of Airflow.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_linkedin_capi import __version__

_INTEGRATION = "LinkedIn Conversions API"
_PACKAGE = "airflow_provider_linkedin_capi"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-linkedin-capi",
        "name": _INTEGRATION,
        "description": "Stream SQL query results to the LinkedIn Conversions API and manage the conversion "
        "rules and campaign links they need.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://learn.microsoft.com/en-us/linkedin/marketing/integrations/"
                "ads-reporting/conversions-api",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.hooks.linkedin_capi"]}],
        "operators": [
            {"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.operators.conversion_rules"]}
        ],
        "transfers": [
            {
                "source-integration-name": "Common SQL",
                "target-integration-name": _INTEGRATION,
                "python-module": f"{_PACKAGE}.transfers.sql_to_linkedin_capi",
            }
        ],
        "sensors": [
            {"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.sensors.conversion_rule"]}
        ],
        "triggers": [
            {"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.triggers.conversion_rule"]}
        ],
        "connection-types": [
            {
                "connection-type": "linkedin_capi",
                "hook-class-name": f"{_PACKAGE}.hooks.linkedin_capi.LinkedInCapiHook",
                "hook-name": _INTEGRATION,
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "extra"],
                    "relabeling": {
                        "login": "Client ID",
                        "password": "Client Secret",
                        "host": "API base URL (including /rest)",
                    },
                    "placeholders": {
                        "host": "https://api.linkedin.com/rest",
                        "login": "OAuth client id of your LinkedIn app",
                        "password": "OAuth client secret (only with a refresh token)",
                    },
                },
                "conn-fields": {
                    "refresh_token": {
                        "label": "Refresh token",
                        "description": "Programmatic refresh token (3-legged OAuth, scopes "
                        "rw_conversions and r_ads). Lives 365 days from the first authorisation.",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "access_token": {
                        "label": "Access token",
                        "description": "A static token instead of a refresh token, e.g. the Direct API token "
                        "from Campaign Manager. Never refreshed.",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "token_url": {
                        "label": "OAuth token URL",
                        "schema": {
                            "type": ["string", "null"],
                            "default": "https://www.linkedin.com/oauth/v2/accessToken",
                        },
                    },
                    "api_version": {
                        "label": "LinkedIn-Version (YYYYMM)",
                        "description": "Monthly API version sent on every request; versions sunset about a "
                        "year after release.",
                        "schema": {"type": ["string", "null"], "pattern": "^[0-9]{6}$"},
                    },
                    "ad_account_id": {
                        "label": "Default ad account",
                        "description": "Numeric id or urn:li:sponsoredAccount:N",
                        "schema": {"type": ["string", "null"]},
                    },
                    "requests_per_minute": {
                        "label": "Request budget per minute",
                        "description": "Client-side pacing for this token (LinkedIn's published figure is "
                        "600/min, third-party sourced).",
                        "schema": {"type": ["integer", "null"], "minimum": 1, "default": 600},
                    },
                    "max_in_flight": {
                        "label": "Event batches in flight",
                        "description": "Batches of events a push sends at once, within the budget per "
                        "minute (1 to 16; 1 sends one at a time). An operator's max_in_flight overrides it.",
                        "schema": {"type": ["integer", "null"], "minimum": 1, "maximum": 16, "default": 4},
                    },
                    "timeout": {
                        "label": "HTTP timeout (seconds)",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0, "default": 60},
                    },
                    "max_retries": {
                        "label": "Retries",
                        "description": "Retries after a 429, 5xx, timeout or dropped connection, in tasks "
                        "and in the deferred sensor's trigger alike.",
                        "schema": {"type": ["integer", "null"], "minimum": 0, "default": 8},
                    },
                    "retry_min_wait": {
                        "label": "First retry wait (seconds)",
                        "description": "Backoff doubles from here, with jitter.",
                        "schema": {"type": ["number", "null"], "minimum": 0, "default": 1},
                    },
                    "retry_max_wait": {
                        "label": "Longest retry wait (seconds)",
                        "description": "A Retry-After header, when LinkedIn sends one, is waited instead "
                        "(at most 900 s; a non-numeric or infinite one is ignored).",
                        "schema": {"type": ["number", "null"], "minimum": 0, "default": 60},
                    },
                    "token_propagation_wait": {
                        "label": "Fresh-token wait (seconds)",
                        "description": "Waited once when LinkedIn refuses a token minted moments ago as "
                        "revoked (third-party sourced behaviour).",
                        "schema": {"type": ["number", "null"], "minimum": 0, "default": 2},
                    },
                },
            }
        ],
    }
