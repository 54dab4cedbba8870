"""``SqlToLinkedInCapiOperator``: one task runs a SQL query and delivers its rows to LinkedIn as conversions.

The query streams from any ``DbApiHook`` (:class:`~airflow_provider_linkedin_capi.push.sources.SqlSource`);
everything else is the push every operator shares (:class:`.BaseLinkedInCapiPushOperator`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_linkedin_capi.push.sources import SqlSource
from airflow_provider_linkedin_capi.transfers.base import BaseLinkedInCapiPushOperator


class SqlToLinkedInCapiOperator(BaseLinkedInCapiPushOperator):
    """
    Run a SQL query and send every valid row to the LinkedIn Conversions API as a conversion event.

    Every argument of :class:`.BaseLinkedInCapiPushOperator` applies (the column contract, ``on_invalid``,
    ``ledger_path``, ``max_in_flight`` ...); row numbers in the rejects file are 1-based positions in the
    query result. SQL and parameters are not logged.

    :param sql: The query (or a path to a ``.sql`` file) whose result rows become conversions. (templated)
    :param sql_conn_id: Connection of any SQL database with a ``DbApiHook`` (postgres, sqlite, mysql,
        snowflake ...). PostgreSQL results stream through a server-side (named) cursor. (templated)
    :param parameters: Query parameters, in the DB-API paramstyle of the driver. (templated)
    :param hook_params: Extra keyword arguments for the SQL hook. ``log_sql`` is ``False`` unless set here
        because statements and parameters can contain e-mail addresses. (templated)
    :param fetch_size: Rows fetched from the database at a time; defaults to ``batch_size``.
    """

    template_fields: Sequence[str] = (
        "sql",
        "parameters",
        "sql_conn_id",
        "hook_params",
        *BaseLinkedInCapiPushOperator.template_fields,
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {
        **BaseLinkedInCapiPushOperator.template_fields_renderers,
        "sql": "sql",
        "parameters": "json",
        "hook_params": "json",
    }

    def __init__(
        self,
        *,
        sql: str,
        sql_conn_id: str,
        parameters: Mapping[str, Any] | Sequence[Any] | None = None,
        hook_params: dict[str, Any] | None = None,
        fetch_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.sql = sql
        self.sql_conn_id = sql_conn_id
        self.parameters = parameters
        self.hook_params = hook_params
        self.fetch_size = fetch_size
        # Kept as written: rendering replaces ``sql`` and ``parameters``, and execute() checks what they read.
        self._query_templates = (sql, parameters)
        super().__init__(**kwargs)
        SqlSource(sql, sql_conn_id, fetch_size=fetch_size)  # checks fetch_size when the DAG is parsed

    def _row_source(self) -> SqlSource:
        return SqlSource(self.sql, self.sql_conn_id, self.parameters, self.hook_params, self.fetch_size)

    def _row_selecting_templates(self) -> tuple[Any, ...]:
        return self._query_templates

    def _lineage_sql(self) -> tuple[str | None, str | None, dict[str, Any] | None]:
        return self.sql, self.sql_conn_id, self.hook_params
