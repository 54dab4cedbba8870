"""Moved to :mod:`airflow_provider_linkedin_capi.rules.spec`; this old import path keeps working.

The rule spec is pure validation of a rule's settings (types, windows), not operator code, so it lives
with the other rule knowledge in ``rules/``. Import from ``airflow_provider_linkedin_capi.rules.spec``.
"""

from __future__ import annotations

from airflow_provider_linkedin_capi.rules.spec import (
    ATTRIBUTION_TYPES,
    AUTO_ASSOCIATION_TYPES,
    CONVERSION_TYPES,
    IF_EXISTS_CHOICES,
    TYPES_ALLOWING_365_DAYS,
    VALUE_TYPES,
    WINDOW_DAYS,
    ConversionRuleSpec,
    ConversionRuleSpecError,
    check_if_exists,
)

__all__ = [
    "ATTRIBUTION_TYPES",
    "AUTO_ASSOCIATION_TYPES",
    "CONVERSION_TYPES",
    "IF_EXISTS_CHOICES",
    "TYPES_ALLOWING_365_DAYS",
    "VALUE_TYPES",
    "WINDOW_DAYS",
    "ConversionRuleSpec",
    "ConversionRuleSpecError",
    "check_if_exists",
]
