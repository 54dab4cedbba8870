"""Apache Airflow provider for the LinkedIn Conversions API.

Kept import-light on purpose: Airflow imports provider packages in the scheduler, API server and DAG
processor, so nothing heavy may run here.
"""

from __future__ import annotations

__version__ = "0.2.0"
