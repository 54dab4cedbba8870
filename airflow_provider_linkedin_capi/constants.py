"""Names and numbers that several parts of the provider share, each defined here once.

This module imports nothing of the package, so any layer may import it (``conversions/`` included)
without pulling anything else in. LinkedIn's facts behind the values are in
``docs/linkedin-contract.md``; the sandbox keeps its own copies on purpose (it plays an independent
LinkedIn, and a test compares its tables with the provider's).
"""

from __future__ import annotations

#: The only ``conversionMethod`` whose rules take events from the Conversions API
#: (docs/linkedin-contract.md §3.1 and §2.1.17: other rules answer 400).
CONVERSIONS_API = "CONVERSIONS_API"

#: LinkedIn's defaults for a rule's attribution (docs/linkedin-contract.md §3.1): a rule created without
#: these settings gets them, and a rule read back without them has them.
DEFAULT_ATTRIBUTION_TYPE = "LAST_TOUCH_BY_CAMPAIGN"
DEFAULT_POST_CLICK_WINDOW_DAYS = 30
DEFAULT_VIEW_THROUGH_WINDOW_DAYS = 7

#: Most events LinkedIn takes in one BATCH_CREATE (docs/linkedin-contract.md §2.1.18, THIRD-PARTY; what
#: happens above it is UNKNOWN, so the provider never sends more).
MAX_BATCH_SIZE = 5000

#: LinkedIn's REST API, the connection's default ``host``.
DEFAULT_HOST = "https://api.linkedin.com/rest"

#: A month LinkedIn serves for about a year after its release (docs/linkedin-contract.md §1.8-1.9); bump it
#: with each release of this provider. Users pin their own with the connection's ``api_version`` extra.
DEFAULT_API_VERSION = "202608"

#: The Airflow connection id every hook, operator, sensor and trigger uses unless told otherwise.
DEFAULT_CONN_ID = "linkedin_capi_default"

#: The provider's section of the Airflow configuration (``[linkedin_capi]``, ``AIRFLOW__LINKEDIN_CAPI__*``).
CONFIG_SECTION = "linkedin_capi"

#: The colour of the provider's tasks in Airflow's UI (LinkedIn's brand blue).
LINKEDIN_BLUE = "#0a66c2"

#: Event batches a push keeps in flight at once. Whether LinkedIn limits concurrent requests per token is
#: UNKNOWN; the budget per minute above bounds them anyway. The cap matches the keep-alive connections the
#: sync hook pools (16), so that no request has to open a connection of its own.
DEFAULT_MAX_IN_FLIGHT = 4
#: The most batches a push may keep in flight: the keep-alive connections the sync hook pools.
MAX_IN_FLIGHT = 16
