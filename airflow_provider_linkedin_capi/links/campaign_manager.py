"""A "Campaign Manager" button on the rule operators, the sensor and the push: it opens the rule's page.

How Airflow 3 shows an extra link: when a task ends, the worker calls ``get_link`` on the operator that
just ran and stores the answer in XCom (key ``_link_<link class>``); the UI reads it from there. So the
operator only has to remember the URL while it runs, which :func:`remember_rule_page` does (it sets an
attribute and touches no network). A task that never learned its rule and ad account gets no link.

The page address is not documented by LinkedIn. Campaign Manager's account pages live under
``https://www.linkedin.com/campaignmanager/accounts/<account id>/`` (seen in many third-party tools);
the rule page below that is UNKNOWN, so the pattern is a setting: ``[linkedin_capi]
campaign_manager_rule_url`` in Airflow's configuration
(``AIRFLOW__LINKEDIN_CAPI__CAMPAIGN_MANAGER_RULE_URL``), with ``{account}`` and ``{rule}`` standing for
the numeric ids.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperatorLink

from airflow_provider_linkedin_capi import urns
from airflow_provider_linkedin_capi.constants import CONFIG_SECTION
from airflow_provider_linkedin_capi.links import CAMPAIGN_MANAGER_RULE_URL

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import TaskInstanceKey

log = logging.getLogger(__name__)

CONFIG_OPTION = "campaign_manager_rule_url"
DEFAULT_RULE_URL = CAMPAIGN_MANAGER_RULE_URL
#: The operator attribute holding the URL of the rule's page once the task knows it.
URL_ATTRIBUTE = "campaign_manager_url"


def rule_url_pattern() -> str:
    """The configured pattern, or the default; read on the worker, where the link is built."""
    from airflow.providers.common.compat.sdk import conf

    return conf.get(CONFIG_SECTION, CONFIG_OPTION, fallback=DEFAULT_RULE_URL) or DEFAULT_RULE_URL


def rule_page_url(account: object, rule: object) -> str | None:
    """The Campaign Manager page of ``rule`` in ``account`` (ids or URNs); ``None`` without both ids."""
    if account in (None, "") or rule in (None, ""):
        return None
    try:
        account_id = urns.account_id(account)
        rule_id = urns.conversion_rule_id(rule)
    except ValueError:
        return None
    pattern = rule_url_pattern()
    try:
        return pattern.format(account=account_id, rule=rule_id)
    except (KeyError, IndexError, ValueError) as error:
        log.warning(
            "[%s] %s=%r is not a valid pattern ({account} and {rule} only): %s",
            CONFIG_SECTION,
            CONFIG_OPTION,
            pattern,
            error,
        )
        return None


def remember_rule_page(operator: Any, account: object, rule: object) -> str | None:
    """Let ``operator``'s Campaign Manager link point at ``rule``; returns the URL (``None``: no link)."""
    url = rule_page_url(account, rule)
    setattr(operator, URL_ATTRIBUTE, url)
    return url


class LinkedInCampaignManagerLink(BaseOperatorLink):
    """Opens the conversion rule the task worked on in LinkedIn Campaign Manager."""

    name = "Campaign Manager"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        return getattr(operator, URL_ATTRIBUTE, None) or ""
