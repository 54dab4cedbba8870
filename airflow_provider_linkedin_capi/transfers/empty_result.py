"""What a push does when its query returned no row at all: succeed with a warning, skip, or fail.

An empty result is normal for some sources (a quiet Sunday) and a sign of breakage for others (an export
that did not land, a wrong data interval). ``on_empty`` lets the DAG say which:

- ``"succeed"`` (default): the task succeeds, with a warning in its log;
- ``"skip"``: the task is skipped, so downstream tasks that need events skip too;
- ``"fail"``: the task fails at once, without retries (a retry would read the same nothing), naming the
  SQL connection and the data interval it read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSkipException

ON_EMPTY_CHOICES = ("succeed", "skip", "fail")


def check_on_empty(value: str) -> str:
    if value not in ON_EMPTY_CHOICES:
        raise ValueError(f"on_empty must be one of {ON_EMPTY_CHOICES}, got {value!r}")
    return value


def data_interval(context: Mapping[str, Any]) -> str:
    """The run's data interval as text, or a note that the run has none."""
    start = context.get("data_interval_start") if hasattr(context, "get") else None
    end = context.get("data_interval_end") if hasattr(context, "get") else None
    if start is None and end is None:
        return "no data interval"
    return f"data interval {_text(start)} to {_text(end)}"


def _text(value: Any) -> str:
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if callable(isoformat) else str(value)


def handle_empty_result(
    on_empty: str, *, source: str, context: Mapping[str, Any], log: logging.Logger
) -> None:
    """Act on a push that read no row; ``source`` names where the rows came from (e.g. a connection)."""
    where = f"{source}, {data_interval(context)}"
    if on_empty == "fail":
        raise AirflowFailException(
            f"The query returned no rows ({where}) and on_empty='fail'. Nothing was sent."
        )
    if on_empty == "skip":
        raise AirflowSkipException(f"The query returned no rows ({where}); on_empty='skip'.")
    log.warning(
        "The query returned no rows (%s); nothing was sent (on_empty='succeed'; 'skip' or 'fail' would "
        "stop the run here)",
        where,
    )
