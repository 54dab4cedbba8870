"""Entry-point target for Airflow's providers manager.

A pure literal on purpose: Airflow calls this in every process at start-up and validates it against its
schema; importing hooks here would slow every CLI call and turn an import error into a crash of Airflow.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_linkedin_capi import __version__
from airflow_provider_linkedin_capi.links import CAMPAIGN_MANAGER_RULE_URL

_INTEGRATION = "LinkedIn Conversions API"
_PACKAGE = "airflow_provider_linkedin_capi"
#: Released versions, newest first (each has a section in CHANGELOG.md).
VERSIONS = [__version__]
#: The label of the connection's ``port``: the port of the API base URL, checked against it by the hook.
API_PORT_LABEL = "Port of the API base URL"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-linkedin-capi",
        "name": _INTEGRATION,
        "description": "Stream SQL query results to the LinkedIn Conversions API and manage the conversion "
        "rules and campaign links they need.",
        "versions": VERSIONS,
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://learn.microsoft.com/en-us/linkedin/marketing/integrations/"
                "ads-reporting/conversions-api",
                "how-to-guide": [
                    "/docs/credentials.md",
                    "/docs/operators.md",
                    "/docs/dataframes.md",
                    "/docs/metrics.md",
                ],
                # Shipped inside the package, under the same relative path.
                "logo": "/docs/integration-logos/linkedin-capi.svg",
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
        "asset-uris": [
            {
                "schemes": ["linkedin-capi"],
                "handler": f"{_PACKAGE}.assets.linkedin_capi.sanitize_uri",
                "factory": f"{_PACKAGE}.assets.linkedin_capi.create_asset",
                "to_openlineage_converter": f"{_PACKAGE}.assets.linkedin_capi.convert_asset_to_openlineage",
            }
        ],
        "extra-links": [f"{_PACKAGE}.links.campaign_manager.LinkedInCampaignManagerLink"],
        "config": {
            "linkedin_capi": {
                "description": "Settings of the LinkedIn Conversions API provider.",
                "options": {
                    "campaign_manager_rule_url": {
                        "description": "Address of a conversion rule's page in Campaign Manager, for the "
                        "tasks' 'Campaign Manager' link; {account} and {rule} stand for the numeric ids. "
                        "LinkedIn does not document it (UNKNOWN), hence the setting.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": CAMPAIGN_MANAGER_RULE_URL,
                        "default": CAMPAIGN_MANAGER_RULE_URL,
                        # Airflow would otherwise fill the {...} with its own variables (3.1 crashes).
                        "is_template": True,
                    },
                    "ledger_path": {
                        "description": "Where pushes keep their delivery ledger when the operator sets "
                        "no ledger_path: a local folder or an ObjectStoragePath URI "
                        "(s3://bucket/linkedin-ledger/), shared by every worker. Each push uses "
                        "<ledger_path>/<dag_id>/<task_id>/<map_index>, so a retry or a re-run resends "
                        "nothing LinkedIn accepted. Empty: no ledger.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "s3://bucket/linkedin-ledger/",
                        "default": "",
                    },
                },
            }
        },
        "connection-types": [
            {
                "connection-type": "linkedin_capi",
                "hook-class-name": f"{_PACKAGE}.hooks.linkedin_capi.LinkedInCapiHook",
                "hook-name": _INTEGRATION,
                # ``port`` is shown, not hidden: Airflow 3.3.1-3.3.2's Test button posts ``port: 0`` for a
                # connection stored without a port, and the API refuses that as "host or port differs from
                # the stored connection" (fixed in apache/airflow#73298). The port typed here makes it match.
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "extra"],
                    "relabeling": {
                        "login": "Client ID",
                        "password": "Client Secret",
                        "host": "API base URL (including /rest)",
                        "port": API_PORT_LABEL,
                    },
                    "placeholders": {
                        "host": "https://api.linkedin.com/rest",
                        "port": "443 for LinkedIn; the Test button of Airflow 3.3 needs it",
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
                    "oauth_url": {
                        "label": "OAuth endpoint override",
                        "description": "Leave empty: derived from the API base URL (LinkedIn's "
                        "https://www.linkedin.com/oauth/v2/accessToken for api.linkedin.com, else the same "
                        "scheme, host and port + /oauth/v2/accessToken). An override must be on that origin "
                        "or on www.linkedin.com.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "api_version": {
                        "label": "LinkedIn-Version (YYYYMM)",
                        "description": "Monthly API version sent on every request; versions sunset about a "
                        "year after release.",
                        "schema": {"type": ["string", "null"], "pattern": "^[0-9]{6}$"},
                    },
                    "identifier_versions": {
                        "label": "Identifier types by version (override)",
                        "description": "Leave empty. A JSON object overriding which LinkedIn-Version first "
                        'accepts and first refuses an idType (third-party reports), e.g. {"ORACLE_MOAT_ID": '
                        "[null, null]} to keep sending it under 202609.",
                        "schema": {"type": ["string", "null"]},
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
                        "minute: auto sizes it to LinkedIn's time per batch (4 to start, 1 to 16, halved on "
                        "a 429); a number from 1 to 16 fixes it (1 sends one at a time). An operator's "
                        "max_in_flight overrides it.",
                        "schema": {
                            "type": ["string", "null"],
                            "pattern": "^(auto|[1-9]|1[0-6])$",
                            "default": "auto",
                        },
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
                    "propagation_wait": {
                        "label": "Fresh-token wait (seconds)",
                        "description": "Waited once when LinkedIn refuses an access token minted moments ago "
                        "as revoked (third-party sourced behaviour).",
                        "schema": {"type": ["number", "null"], "minimum": 0, "default": 2},
                    },
                },
            }
        ],
    }
