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

#: LinkedIn's OAuth host and the paths of its consent page and token endpoint (docs/linkedin-contract.md
#: §5.1, §5.11). ``hooks/_connection.py`` still spells the host and token path itself (same names, same
#: values; tests/test_authorize.py checks that they agree) until it imports them from here.
LINKEDIN_OAUTH_HOST = "www.linkedin.com"
AUTHORIZATION_PATH = "/oauth/v2/authorization"
TOKEN_PATH = "/oauth/v2/accessToken"

#: The scopes the Conversions API needs (docs/linkedin-contract.md §5.7): upload conversions and manage
#: rules and links (``rw_conversions``), read the member's ad accounts (``r_ads``). ``rw_ads`` is not needed.
CAPI_SCOPES = ("rw_conversions", "r_ads")

#: A month LinkedIn serves for about a year after its release (docs/linkedin-contract.md §1.8-1.9); bump it
#: with each release of this provider. Users pin their own with the connection's ``api_version`` extra.
DEFAULT_API_VERSION = "202608"

#: The Airflow connection id every hook, operator, sensor and trigger uses unless told otherwise.
DEFAULT_CONN_ID = "linkedin_capi_default"

#: The provider's section of the Airflow configuration (``[linkedin_capi]``, ``AIRFLOW__LINKEDIN_CAPI__*``).
CONFIG_SECTION = "linkedin_capi"

#: The colour of the provider's tasks in Airflow's UI (LinkedIn's brand blue).
LINKEDIN_BLUE = "#0a66c2"

#: ``max_in_flight="auto"``: the push sizes its window of event batches in flight to LinkedIn's time per
#: batch (UNKNOWN), between 1 and :data:`MAX_IN_FLIGHT` (``push/sizing.py``). Whether LinkedIn limits
#: concurrent requests per token is UNKNOWN too: a 429 halves the window. The budget per minute bounds the
#: requests whatever the window.
AUTO_IN_FLIGHT = "auto"
#: What a push uses when neither the operator nor the connection sets ``max_in_flight``.
DEFAULT_MAX_IN_FLIGHT = AUTO_IN_FLIGHT
#: Where an ``auto`` window starts (the fixed default before ``auto`` existed).
AUTO_IN_FLIGHT_START = 4
#: The most batches a push may keep in flight, fixed or ``auto``: the keep-alive connections the sync hook
#: pools (16), so that no request has to open a connection of its own.
MAX_IN_FLIGHT = 16
