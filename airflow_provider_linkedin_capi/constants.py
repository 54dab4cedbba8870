"""Values used by several layers of the provider, defined once."""

from __future__ import annotations

#: The only ``conversionMethod`` whose rules take events through the Conversions API.
CONVERSIONS_API = "CONVERSIONS_API"
#: Most events LinkedIn takes in one BATCH_CREATE (docs/linkedin-contract.md §2.1.18).
MAX_BATCH_SIZE = 5000
#: The connection id every hook, operator and sensor uses by default.
DEFAULT_CONN_ID = "linkedin_capi_default"
#: LinkedIn's brand blue, the colour of this provider's tasks in the Airflow UI.
LINKEDIN_BLUE = "#0a66c2"
