"""Set up a Conversions API rule, once or on demand: create it, link campaigns, wait until it is usable.

Run it before the first sync, and again whenever campaigns are added (LinkedIn links campaigns to a rule
only once, at creation, even with auto-association). Every step is idempotent: a re-run reuses the rule of
the same name and only adds missing links. Trigger it with params, e.g.
``airflow dags trigger linkedin_capi_rule_setup --conf '{"campaign_ids": [111, 222]}'``. Against the
sandbox, register the campaigns first (``POST /_sandbox/campaigns``, or ``SandboxAdmin.add_campaigns``):
it refuses to link a campaign its ad account does not have.

Without ``campaign_ids`` (the default) nothing is linked and the sensor waits only until the rule is
enabled, unless ``min_campaigns`` says otherwise; with them it waits for at least one linked campaign.

``conversion_rule_name`` and ``conversion_type`` default to what the nightly sync and the backfill use, so
all three DAGs work on the same rule. Like them, every task runs in the pool ``linkedin_capi`` (one token,
one request budget) and retries LinkedIn outages.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, Param

from airflow_provider_linkedin_capi.operators.conversion_rules import (
    LinkedInCapiAssociateCampaignsOperator,
    LinkedInCapiCreateConversionRuleOperator,
)
from airflow_provider_linkedin_capi.sensors.conversion_rule import LinkedInCapiConversionRuleSensor

with DAG(
    dag_id="linkedin_capi_rule_setup",
    description="Create or reuse a LinkedIn Conversions API rule, link campaigns, wait until it is ready",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    default_args={"retries": 3, "retry_delay": dt.timedelta(minutes=2), "pool": "linkedin_capi"},
    # Lets the XCom rule id and the campaign list arrive as real objects, not their string renderings.
    render_template_as_native_obj=True,
    tags=["linkedin", "conversions-api"],
    params={
        "conversion_rule_name": Param("CRM qualified lead (Airflow)", type="string", minLength=1),
        "conversion_type": Param("QUALIFIED_LEAD", type="string"),
        "ad_account_id": Param(
            None, type=["null", "string", "integer"], description="Default: the connection's"
        ),
        "campaign_ids": Param([], type="array", description="Campaign ids or urn:li:sponsoredCampaign:N"),
        "link_mode": Param("add", enum=["add", "exact"]),
        "min_campaigns": Param(
            None,
            type=["null", "integer"],
            minimum=0,
            description="Linked campaigns to wait for; empty: 1 with campaign_ids, else 0 (only 'enabled')",
        ),
        "linkedin_capi_conn_id": Param("linkedin_capi_default", type="string"),
    },
) as dag:
    create_rule = LinkedInCapiCreateConversionRuleOperator(
        task_id="create_rule",
        name="{{ params.conversion_rule_name }}",
        conversion_type="{{ params.conversion_type }}",
        ad_account_id="{{ params.ad_account_id }}",
        post_click_window_days=30,
        view_through_window_days=7,
        if_exists="reuse",
        linkedin_capi_conn_id="{{ params.linkedin_capi_conn_id }}",
    )

    link_campaigns = LinkedInCapiAssociateCampaignsOperator(
        task_id="link_campaigns",
        conversion_rule_id="{{ ti.xcom_pull(task_ids='create_rule')['rule_id'] }}",
        campaign_ids="{{ params.campaign_ids }}",
        mode="{{ params.link_mode }}",
        ad_account_id="{{ params.ad_account_id }}",
        linkedin_capi_conn_id="{{ params.linkedin_capi_conn_id }}",
    )

    wait_until_ready = LinkedInCapiConversionRuleSensor(
        task_id="wait_until_ready",
        conversion_rule_id="{{ ti.xcom_pull(task_ids='create_rule')['rule_id'] }}",
        wait_for="ready",
        min_campaigns=(
            "{{ params.min_campaigns if params.min_campaigns is not none "
            "else (1 if params.campaign_ids else 0) }}"
        ),
        ad_account_id="{{ params.ad_account_id }}",
        linkedin_capi_conn_id="{{ params.linkedin_capi_conn_id }}",
        deferrable=True,
        poke_interval=60,
        timeout=dt.timedelta(hours=1),
    )

    create_rule >> link_campaigns >> wait_until_ready


if __name__ == "__main__":
    dag.test()
