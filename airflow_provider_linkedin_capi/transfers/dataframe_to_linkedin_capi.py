"""Push a DataFrame to LinkedIn: ``push_dataframe()`` inside ``@task``, or an operator taking one by XCom.

Both run the push engine (:class:`~airflow_provider_linkedin_capi.push.engine.ConversionPush`) on a
:class:`~airflow_provider_linkedin_capi.push.sources.TableSource`: the same column contract and event
builder, rule checks, batches, rejects file, ledger, metrics, ``on_empty`` and summary as the SQL push.
The table is read in chunks of row tuples, never copied into one dict per row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_linkedin_capi.constants import DEFAULT_CONN_ID
from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
from airflow_provider_linkedin_capi.push.engine import ConversionPush
from airflow_provider_linkedin_capi.push.options import PushOptions
from airflow_provider_linkedin_capi.push.sources import SUPPORTED, TableSource, table_rows
from airflow_provider_linkedin_capi.transfers.base import BaseLinkedInCapiPushOperator


class DataFrameToLinkedInCapiOperator(BaseLinkedInCapiPushOperator):
    """
    Send the rows of a pandas DataFrame (or a pyarrow Table) to the LinkedIn Conversions API.

    Meant for a DataFrame an upstream ``@task`` returned: ``dataframe=make_frame()`` (an ``XComArg``) is
    resolved when the task runs. Returning a DataFrame from a task needs an XCom backend that can store it
    (Airflow's default stores pandas DataFrames as Parquet, which needs ``pyarrow``).

    Columns follow the same contract as the SQL push's query (``conversion``, ``conversionHappenedAt``,
    ``email`` ...; case-insensitive, renamed with ``column_map``), and every argument of
    :class:`.BaseLinkedInCapiPushOperator` works the same, with the same summary in XCom. pandas' missing
    values (``NaN``, ``NaT``, ``pd.NA``, ``None``) count as NULL; ``datetime64`` columns and
    ``pd.Timestamp`` values are read like any timestamp (a naive one in ``default_timezone``). Row numbers
    in the rejects file are 1-based positions in the DataFrame.

    :param dataframe: The table: a pandas DataFrame or a pyarrow Table, usually an upstream task's
        output. (templated)
    :param chunk_size: Rows handed to the conversion loop at a time; defaults to ``batch_size``.
    """

    template_fields: Sequence[str] = ("dataframe", *BaseLinkedInCapiPushOperator.template_fields)

    def __init__(self, *, dataframe: Any, chunk_size: int | None = None, **kwargs: Any) -> None:
        self.dataframe = dataframe
        self.chunk_size = chunk_size
        super().__init__(**kwargs)
        TableSource(None, chunk_size)  # checks chunk_size when the DAG is parsed

    def _row_source(self) -> TableSource:
        return TableSource(self.dataframe, self.chunk_size)


def push_dataframe(
    dataframe: Any,
    *,
    conversion_rule_id: str | int | None = None,
    linkedin_capi_conn_id: str = DEFAULT_CONN_ID,
    context: Mapping[str, Any] | None = None,
    chunk_size: int | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Send a DataFrame's rows to LinkedIn from inside a ``@task``; returns the push's summary.

    ::

        @task
        def push_scored_leads():
            frame = load_and_score_leads()  # a pandas DataFrame
            return push_dataframe(frame, conversion_rule_id=123, rejects_path="/data/rejects.jsonl")

    ``options`` are :class:`~airflow_provider_linkedin_capi.push.options.PushOptions` (the operators'
    arguments: ``column_map``, ``key_columns``, ``batch_size``, ``on_invalid``, ``on_empty``,
    ``rejects_path``, ``ledger_path``, ``dry_run`` ...). They are used as given: no Jinja is rendered (inside
    a task you have the values). ``context`` defaults to the running task's; outside a task, pass ``{}``.
    Raises what the operators raise (``AirflowFailException`` for bad input or too many rejections,
    ``LinkedInCapiError`` when LinkedIn fails), so the calling task fails or retries as an operator would.
    """
    try:
        table_rows(dataframe, 1)
    except TypeError:
        raise TypeError(f"push_dataframe expects {SUPPORTED}, got {type(dataframe).__name__}") from None
    unknown = sorted(set(options) - set(PushOptions.names()))
    if unknown:
        raise TypeError(f"push_dataframe got unexpected argument(s): {', '.join(unknown)}")
    if context is None:
        from airflow.sdk import get_current_context

        context = get_current_context()
    push = ConversionPush(
        PushOptions(conversion_rule_id=conversion_rule_id, **options),
        TableSource(dataframe, chunk_size),
        LinkedInCapiHook(linkedin_capi_conn_id),
        context=context,
    )
    return push.run()
