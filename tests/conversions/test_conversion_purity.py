"""The pure layer stays pure: importing and using it pulls in no Airflow, no HTTP client and no pandas."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
from airflow_provider_linkedin_capi.conversions import ConversionSettings, EventBuilder
builder = EventBuilder(["email", "countryCode", "firstName", "lastName", "amount", "currencyCode",
                        "conversionHappenedAt"], ConversionSettings(conversion_rule_id=1))
builder.build(["a@example.com", "FR", "A", "B", 1, "EUR", "2026-01-01"])
heavy = sorted({name.split(".")[0] for name in sys.modules} & {
    "airflow", "requests", "httpx", "urllib3", "http", "aiohttp", "pandas", "numpy", "sqlalchemy"})
print(",".join(heavy))
"""


def test_the_pure_layer_imports_no_airflow_http_or_pandas():
    completed = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == ""
