"""The push engine: rows from a SQL query or a DataFrame to LinkedIn, with no operator around it.

::

    from airflow_provider_linkedin_capi.push import ConversionPush, PushOptions, SqlSource

    summary = ConversionPush(PushOptions(conversion_rule_id=123), SqlSource(sql, "crm"), hook).run()

Both push operators and ``push_dataframe()`` run it; see :mod:`.engine` for how its steps are wired.
"""

from __future__ import annotations

from airflow_provider_linkedin_capi.push.engine import ConversionPush
from airflow_provider_linkedin_capi.push.options import PushOptions
from airflow_provider_linkedin_capi.push.sources import RowSource, SqlSource, TableSource

__all__ = ["ConversionPush", "PushOptions", "RowSource", "SqlSource", "TableSource"]
