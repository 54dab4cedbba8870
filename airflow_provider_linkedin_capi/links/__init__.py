"""Operator extra links: buttons in the Airflow UI that open what a task worked on, outside Airflow.

This module imports nothing, so that ``get_provider_info`` can read the default below cheaply.
"""

from __future__ import annotations

#: Default address of a conversion rule's page in Campaign Manager. The account part is seen in many
#: third-party tools (THIRD-PARTY); the rule page below it is not documented by LinkedIn (UNKNOWN).
CAMPAIGN_MANAGER_RULE_URL = "https://www.linkedin.com/campaignmanager/accounts/{account}/conversions/{rule}"
