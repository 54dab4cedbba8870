"""Moved to :mod:`airflow_provider_linkedin_capi.utils.templated_values`; this old path keeps working.

The operators, the sensor and the push all read templated values, so the helpers live in ``utils/``,
which no role imports from another. Import from ``airflow_provider_linkedin_capi.utils.templated_values``.
"""

from __future__ import annotations

from airflow_provider_linkedin_capi.utils.templated_values import is_templated, optional_account_id

__all__ = ["is_templated", "optional_account_id"]
