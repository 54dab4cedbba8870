"""
### After a LinkedIn sync: report what reached LinkedIn

Scheduled on the asset alias `linkedin_capi_crm_conversions`, which the nightly sync's push resolves to one
`linkedin-capi://<ad account>/conversion/<rule>` asset per conversion rule it sent events to. So this DAG
runs once per successful sync that delivered something, with no schedule of its own.

* **report_delivery** reads the asset events that started the run (or, when triggered by hand, the latest
  one) and logs, per rule, the events LinkedIn took and the run's rejected fraction. The counts come from
  the event's `extra`, which holds counts and times only (`rows_read`, `events_sent`, `events_rejected`,
  `rejections` by code, `batches`, `already_delivered`, `first_event_at`, `last_event_at`, `dry_run`,
  `rule_events_sent`), never a row value. Put your own follow-up here: refresh a conversions dashboard,
  notify the CRM team, start an attribution report.

When your rule is fixed, schedule on its asset instead of the alias:
`schedule=create_asset(ad_account_id, rule_id)` from `airflow_provider_linkedin_capi.assets.linkedin_capi`,
and give the push `outlets=[the same asset]`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, AssetAlias, task

#: The alias the nightly sync's push resolves (linkedin_capi_nightly_crm_sync.LINKEDIN_CONVERSIONS).
LINKEDIN_CONVERSIONS = AssetAlias("linkedin_capi_crm_conversions")

with DAG(
    dag_id="linkedin_capi_after_sync",
    description="Report what each LinkedIn CRM sync delivered, per conversion rule",
    doc_md=__doc__,
    schedule=LINKEDIN_CONVERSIONS,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["example", "linkedin_capi"],
) as dag:

    @task(inlets=[LINKEDIN_CONVERSIONS])
    def report_delivery(triggering_asset_events=None, inlet_events=None) -> list[dict]:
        """One line per rule: events LinkedIn took, out of how many rows, and the run's rejected fraction."""
        import logging

        events = [event for events in (triggering_asset_events or {}).values() for event in events]
        if not events:  # a run triggered by hand: the latest sync's events
            latest = list(inlet_events[LINKEDIN_CONVERSIONS])
            events = latest[-1:]
        report = []
        for event in events:
            extra = dict(event.extra or {})
            rows = extra.get("rows_read") or 0
            line = {
                "asset": event.asset.uri,
                "rule_events_sent": extra.get("rule_events_sent", 0),
                "events_sent": extra.get("events_sent", 0),
                "rows_read": rows,
                "rejected_fraction": round((extra.get("events_rejected") or 0) / rows, 6) if rows else 0.0,
                "first_event_at": extra.get("first_event_at"),
                "last_event_at": extra.get("last_event_at"),
            }
            logging.getLogger(__name__).info(
                "%s: %d event(s) delivered (the run sent %d of %d rows; %.1f%% rejected)",
                line["asset"],
                line["rule_events_sent"],
                line["events_sent"],
                rows,
                100 * line["rejected_fraction"],
            )
            report.append(line)
        return report

    report_delivery()


if __name__ == "__main__":
    dag.test()
