"""OpenLineage facets of a push: the query's tables in, one dataset per LinkedIn conversion rule out.

Imported only by the push operators' ``get_openlineage_facets_on_*`` methods, which the OpenLineage
provider calls (``pip install 'airflow-provider-linkedin-capi[openlineage]'``), so this module may import
OpenLineage at the top. It takes plain values, not the operator, and calls nothing at LinkedIn: the outputs
are named from the LinkedIn connection as stored (its ``host`` and ``ad_account_id``) and from the counts
the push recorded while it ran.

- **Inputs** come from the SQL text through common-sql's helper (``get_openlineage_facets_with_sql``), the
  same as common-sql's and Google's SQL operators, without its information-schema lookup. Hooks that give
  no OpenLineage database info (SQLite) are parsed with a namespace built from their connection
  (``sqlite://<file>``, tables as ``main.<table>``).
- **Outputs** are named like the ``linkedin-capi://`` asset converter names them: namespace
  ``linkedin-capi://<API host>``, name ``<ad account id>/conversion/<rule id>``. Each carries the
  ``linkedinCapi`` facet (API version, dry run) and, after the push, ``outputStatistics`` with
  ``rowCount`` = the events LinkedIn accepted for that rule.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

import attrs
from airflow.providers.common.compat.openlineage.facet import (
    OutputDataset,
    OutputStatisticsOutputDatasetFacet,
    SQLJobFacet,
)
from airflow.providers.openlineage.extractors import OperatorLineage
from openlineage.client.facet_v2 import DatasetFacet

from airflow_provider_linkedin_capi import urns
from airflow_provider_linkedin_capi.assets.linkedin_capi import openlineage_name, openlineage_namespace
from airflow_provider_linkedin_capi.constants import DEFAULT_API_VERSION

if TYPE_CHECKING:
    from airflow_provider_linkedin_capi.push.report import PushRecord

log = logging.getLogger(__name__)

FACET_NAME = "linkedinCapi"
_SCHEMA_URL = (
    "https://github.com/airflow-provider-linkedin-capi/airflow-provider-linkedin-capi/blob/main/"
    "docs/openlineage/LinkedInCapiDatasetFacet.json"
)


@attrs.define
class LinkedInCapiDatasetFacet(DatasetFacet):
    """The LinkedIn API version the events were sent with, and whether the run was a dry run."""

    apiVersion: str  # OpenLineage facet fields are camelCase
    dryRun: bool

    @staticmethod
    def _get_schema() -> str:
        return _SCHEMA_URL


def push_lineage(
    *,
    sql: str | None,
    sql_conn_id: str | None,
    hook_params: dict[str, Any] | None,
    conversion_rule_id: object,
    linkedin_capi_conn_id: str,
    dry_run: bool,
    record: PushRecord | None,
) -> OperatorLineage:
    """Inputs from the SQL (``None`` for a DataFrame); outputs from the rules.

    :param record: what the push did, ``None`` before it ran.
    """
    lineage = _sql_lineage(sql, sql_conn_id, hook_params)
    lineage.outputs = _rule_datasets(conversion_rule_id, linkedin_capi_conn_id, dry_run, record)
    return lineage


# ------------------------------------------------------------------------------------------ inputs


def _sql_lineage(sql: str | None, conn_id: str | None, hook_params: dict[str, Any] | None) -> OperatorLineage:
    if not isinstance(sql, str) or not sql.strip() or not conn_id:
        return OperatorLineage()
    try:
        from airflow_provider_linkedin_capi.push.sources import get_db_hook

        hook = get_db_hook(conn_id, hook_params)
        lineage = _from_common_sql(hook, sql, conn_id) or _from_connection(hook, sql, conn_id)
    except Exception as error:  # lineage must never fail the task, nor hide the outputs
        # Only the type: a parser or driver message can quote the SQL, which may hold e-mail addresses.
        log.warning("OpenLineage: the query's input tables could not be named (%s)", type(error).__name__)
        lineage = None
    return lineage or OperatorLineage(job_facets={"sql": SQLJobFacet(query=sql)})


def _from_common_sql(hook: Any, sql: str, conn_id: str) -> OperatorLineage | None:
    """common-sql's own helper, for hooks that describe their database to OpenLineage (PostgreSQL ...)."""
    from airflow.providers.openlineage.sqlparser import get_openlineage_facets_with_sql

    arguments = {"hook": hook, "sql": sql, "conn_id": conn_id, "database": getattr(hook, "database", None)}
    try:  # no information-schema query: the input tables are named from the SQL alone
        return get_openlineage_facets_with_sql(**arguments, use_connection=False)
    except TypeError:  # OpenLineage providers before use_connection existed always query it
        return get_openlineage_facets_with_sql(**arguments)


def _from_connection(hook: Any, sql: str, conn_id: str) -> OperatorLineage:
    """The same parser for hooks without OpenLineage database info: ``<conn type>://<host[:port]>``."""
    from airflow.providers.openlineage.sqlparser import DatabaseInfo, SQLParser

    connection = hook.get_connection(conn_id)
    authority = connection.host or None
    if authority and connection.port:
        authority = f"{authority}:{connection.port}"
    try:
        dialect = hook.get_openlineage_database_dialect(connection)
    except AttributeError:
        dialect = "generic"
    parser = SQLParser(dialect=dialect, default_schema=_default_schema(hook, connection.conn_type))
    return parser.generate_openlineage_metadata_from_sql(
        sql=sql,
        hook=hook,
        database_info=DatabaseInfo(scheme=connection.conn_type or "sql", authority=authority),
        use_connection=False,
    )


def _default_schema(hook: Any, conn_type: str | None) -> str | None:
    """The schema of unqualified table names: SQLite calls its database ``main``; else the hook says."""
    if conn_type == "sqlite":
        return "main"
    try:
        return hook.get_openlineage_default_schema()
    except AttributeError:
        return None


# ------------------------------------------------------------------------------------------ outputs


def _rule_datasets(
    conversion_rule_id: object, conn_id: str, dry_run: bool, record: PushRecord | None
) -> list[OutputDataset]:
    if record is not None:
        base_url, api_version, account = record.base_url, record.api_version, record.account
        sent = record.sent_per_rule()
        dry_run = record.dry_run
    else:
        base_url, api_version, account = _stored_connection(conn_id)
        sent = {}
        dry_run = bool(dry_run)
    if account is None:
        log.info(
            "OpenLineage: no output dataset, because connection %r has no 'ad_account_id' extra to name "
            "the conversion rules' ad account",
            conn_id,
        )
        return []
    rules = dict.fromkeys(sorted(sent))
    if conversion_rule_id not in (None, ""):
        # A malformed id is refused by execute with a clear message; lineage names what it can.
        with contextlib.suppress(ValueError):
            rules = {urns.conversion_rule_urn(conversion_rule_id): None, **rules}
    namespace = openlineage_namespace(base_url)
    facet = LinkedInCapiDatasetFacet(apiVersion=api_version or "", dryRun=dry_run)
    return [
        OutputDataset(
            namespace=namespace,
            name=openlineage_name(account, rule),
            facets={FACET_NAME: facet},
            outputFacets={}
            if record is None
            else {"outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=sent.get(rule, 0))},
        )
        for rule in rules
    ]


def _stored_connection(conn_id: str) -> tuple[str | None, str, str | None]:
    """Host, API version and ad account of the LinkedIn connection as stored (no call to LinkedIn)."""
    from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook

    try:
        config = LinkedInCapiHook(conn_id).config
    except Exception as error:
        log.warning("OpenLineage: LinkedIn connection %r could not be read (%s)", conn_id, error)
        return None, DEFAULT_API_VERSION, None
    return config.base_url, config.api_version, config.ad_account_id
