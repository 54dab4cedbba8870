"""Moved to :mod:`airflow_provider_linkedin_capi.utils.campaign_ids`; this old import path keeps working.

Reading a templated campaign list is shared by several roles, so it lives in ``utils/``. Import from
``airflow_provider_linkedin_capi.utils.campaign_ids``.
"""

from __future__ import annotations

from airflow_provider_linkedin_capi.utils.campaign_ids import MAX_CAMPAIGN_IDS_TEXT, parse_campaign_ids

__all__ = ["MAX_CAMPAIGN_IDS_TEXT", "parse_campaign_ids"]
