"""The pure layer: source rows in, LinkedIn Conversions API event elements (or explained rejections) out.

No Airflow, no HTTP: everything here is plain Python over plain values, so it is fast, testable with
property tests, and reusable outside Airflow. Typical use::

    builder = EventBuilder([d[0] for d in cursor.description], ConversionSettings(conversion_rule_id=123))
    for row in cursor:
        result = builder.build(row)
        if isinstance(result, Rejection):
            ...  # count result.code, write it to the rejects file
        else:
            ...  # result is the event element, ready for orjson.dumps

The column contract, normalisation and rejection codes are the README's "The column contract" and
"Rejection codes"; each module documents its own rules and the choices made where LinkedIn is silent
(what LinkedIn is known to do, and how sure that is: docs/linkedin-contract.md).
"""

from __future__ import annotations

from airflow_provider_linkedin_capi.conversions.builder import (
    IDENTIFIER_KINDS,
    EventBuilder,
    event_summary_fields,
)
from airflow_provider_linkedin_capi.conversions.columns import ALIASES, CONTRACT_COLUMNS
from airflow_provider_linkedin_capi.conversions.rejections import Rejection, RejectionCode
from airflow_provider_linkedin_capi.conversions.settings import ConversionSettings

__all__ = [
    "ALIASES",
    "CONTRACT_COLUMNS",
    "IDENTIFIER_KINDS",
    "ConversionSettings",
    "EventBuilder",
    "Rejection",
    "RejectionCode",
    "event_summary_fields",
]
