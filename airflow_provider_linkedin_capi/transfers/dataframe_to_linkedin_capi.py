"""Push a DataFrame to LinkedIn: ``push_dataframe()`` inside ``@task``, or an operator taking one by XCom.

Both run the SQL push's own pipeline (:class:`.SqlToLinkedInCapiOperator`), with only the row source
swapped: the same column contract and ``EventBuilder``, rule checks, batches, rejects file, ledger,
metrics, ``on_empty`` and XCom summary. The table is read in chunks of row tuples
(:mod:`.dataframe_source`), never copied into one dict per row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
from airflow_provider_linkedin_capi.transfers.dataframe_source import (
    SUPPORTED,
    describe,
    open_table_rows,
    table_rows,
)
from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator

#: Arguments of the SQL push that mean nothing for a DataFrame.
_SQL_ONLY = ("sql", "sql_conn_id", "parameters", "hook_params", "fetch_size")


class DataFrameToLinkedInCapiOperator(SqlToLinkedInCapiOperator):
    """
    Send the rows of a pandas DataFrame (or a pyarrow Table) to the LinkedIn Conversions API.

    Meant for a DataFrame an upstream ``@task`` returned: ``dataframe=make_frame()`` (an ``XComArg``) is
    resolved when the task runs. Returning a DataFrame from a task needs an XCom backend that can store it
    (Airflow's default stores pandas DataFrames as Parquet, which needs ``pyarrow``).

    Columns follow the same contract as :class:`.SqlToLinkedInCapiOperator`'s query (``conversion``,
    ``conversionHappenedAt``, ``email`` ...; case-insensitive, renamed with ``column_map``), and every
    other argument of that operator except the SQL ones (``sql``, ``sql_conn_id``, ``parameters``,
    ``hook_params``, ``fetch_size``) works the same, with the same summary in XCom. pandas' missing values
    (``NaN``, ``NaT``, ``pd.NA``, ``None``) count as NULL; ``datetime64`` columns and ``pd.Timestamp``
    values are read like any timestamp (a naive one in ``default_timezone``). Row numbers in the rejects
    file are 1-based positions in the DataFrame.

    :param dataframe: The table: a pandas DataFrame or a pyarrow Table, usually an upstream task's
        output. (templated)
    :param chunk_size: Rows handed to the conversion loop at a time; defaults to ``batch_size``.
    """

    # The SQL push's templated settings (so a new one is templated here too), less the SQL-only ones.
    template_fields: Sequence[str] = (
        "dataframe",
        *(name for name in SqlToLinkedInCapiOperator.template_fields if name not in _SQL_ONLY),
    )
    template_ext: Sequence[str] = ()
    template_fields_renderers = {"column_map": "json"}

    def __init__(self, *, dataframe: Any, chunk_size: int | None = None, **kwargs: Any) -> None:
        given = sorted(name for name in _SQL_ONLY if name in kwargs)
        if given:
            raise TypeError(f"{type(self).__name__} reads a DataFrame, not SQL; remove {', '.join(given)}")
        super().__init__(sql="", sql_conn_id="", **kwargs)
        self.dataframe = dataframe
        self.chunk_size = chunk_size
        if chunk_size is not None and (isinstance(chunk_size, bool) or chunk_size < 1):
            raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")

    def _row_source(self) -> Any:
        try:  # checked before anything is sent; the rows themselves are read later, chunk by chunk
            table_rows(self.dataframe, 1)
        except TypeError as error:
            raise AirflowFailException(f"dataframe: {error}") from None
        self.log.info("Pushing a %s", describe(self.dataframe))
        return self.dataframe

    def _open_rows(self, source: Any) -> AbstractContextManager[Any]:
        return open_table_rows(source, self.chunk_size or self.batch_size)

    def _source_description(self) -> str:
        return f"the dataframe ({describe(self.dataframe)})"


def push_dataframe(
    dataframe: Any,
    *,
    conversion_rule_id: str | int | None = None,
    linkedin_capi_conn_id: str = LinkedInCapiHook.default_conn_name,
    context: Mapping[str, Any] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Send a DataFrame's rows to LinkedIn from inside a ``@task``; returns the push's summary.

    ::

        @task
        def push_scored_leads():
            frame = load_and_score_leads()  # a pandas DataFrame
            return push_dataframe(frame, conversion_rule_id=123, rejects_path="/data/rejects.jsonl")

    ``options`` are :class:`DataFrameToLinkedInCapiOperator`'s arguments (``column_map``,
    ``key_columns``, ``batch_size``, ``on_invalid``, ``on_empty``, ``rejects_path``, ``ledger_path``,
    ``dry_run`` ...). They are used as given: no Jinja is rendered (inside a task you have the values).
    ``context`` defaults to the running task's; outside a task, pass ``{}``. Raises what the operator
    raises (``AirflowFailException`` for bad input or too many rejections, ``LinkedInCapiError`` when
    LinkedIn fails), so the calling task fails or retries as the operator would.
    """
    if _not_a_table(dataframe):
        raise TypeError(f"push_dataframe expects {SUPPORTED}, got {type(dataframe).__name__}")
    if context is None:
        from airflow.sdk import get_current_context

        context = get_current_context()
    push = DataFrameToLinkedInCapiOperator(
        task_id=options.pop("task_id", "push_dataframe"),
        dataframe=dataframe,
        conversion_rule_id=conversion_rule_id,
        linkedin_capi_conn_id=linkedin_capi_conn_id,
        **options,
    )
    return push._run(context)  # type: ignore[arg-type]


def _not_a_table(dataframe: Any) -> bool:
    try:
        table_rows(dataframe, 1)
    except TypeError:
        return True
    return False
