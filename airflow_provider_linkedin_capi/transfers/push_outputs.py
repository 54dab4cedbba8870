"""What Airflow sees of a push besides its XCom summary: asset events and OpenLineage.

A mixin of :class:`~airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi.SqlToLinkedInCapiOperator`
(and so of the DataFrame push). The operator keeps a :class:`PushRecord` of what the current execution did;
these methods read it. OpenLineage is optional: its helpers are imported inside the methods only, and none
of them calls LinkedIn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

    from airflow_provider_linkedin_capi.transfers.push_record import PushRecord


class PushOutputs:
    """Asset events and lineage of a push, from the operator's ``_push_record``."""

    _push_record: PushRecord | None
    outlets: Any

    def _record_asset_events(self, context: Context, summary: dict[str, Any]) -> None:
        """Put the run's counts on its ``linkedin-capi://`` outlets and resolve its asset aliases."""
        from airflow_provider_linkedin_capi.transfers.asset_events import record_asset_events

        self._push_record.summary = summary
        record_asset_events(self.outlets, context.get("outlet_events"), self._push_record)

    def get_openlineage_facets_on_start(self) -> OperatorLineage | None:
        """Lineage before the push: the query's tables in, the operator's conversion rule out."""
        from airflow_provider_linkedin_capi.transfers.lineage import push_lineage

        return push_lineage(self, None)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage | None:
        """Lineage after the push: every rule that received events, with the events sent to each."""
        from airflow_provider_linkedin_capi.transfers.lineage import push_lineage

        return push_lineage(self, self._push_record)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage | None:
        """Lineage of a failed push: what had been delivered before it stopped."""
        from airflow_provider_linkedin_capi.transfers.lineage import push_lineage

        return push_lineage(self, self._push_record)
