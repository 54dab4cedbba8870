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

#: Most events LinkedIn takes in one BATCH_CREATE (docs/linkedin-contract.md §2.1.18, THIRD-PARTY; what
#: happens above it is UNKNOWN, so the provider never sends more).
MAX_BATCH_SIZE = 5000

#: The Airflow connection id every hook, operator, sensor and trigger uses unless told otherwise.
DEFAULT_CONN_ID = "linkedin_capi_default"

#: The colour of the provider's tasks in Airflow's UI (LinkedIn's brand blue).
LINKEDIN_BLUE = "#0a66c2"
