"""Checks of the push operator's arguments that need no database and no LinkedIn.

They run when the DAG is parsed (for literal values) and again at the start of ``execute`` (for rendered
templates), before the rule lookup and the query, so a mistake fails the task once, without retries,
naming the parameter, and nothing is read or sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.providers.common.compat.sdk import AirflowFailException


class BadArgumentError(AirflowFailException, ValueError):
    """A parameter that can never work: not worth a retry. Also a ValueError, as argument errors were."""


def column_map_argument(value: Any) -> dict[str, str] | None:
    """``column_map`` as a dict; a string (a template rendered as text) is refused, not guessed at."""
    if value is None or (isinstance(value, str | Mapping) and not value):
        return None
    if not isinstance(value, Mapping):
        hint = (
            " (a template renders to text unless the DAG sets render_template_as_native_obj=True)"
            if isinstance(value, str)
            else ""
        )
        raise BadArgumentError(
            f"column_map must be a mapping of source column -> contract column, got a "
            f"{type(value).__name__}{hint}"
        )
    for source, target in value.items():
        if not isinstance(source, str) or not isinstance(target, str):
            raise BadArgumentError(
                f"column_map must map column names to column names, got {source!r}: {target!r}"[:300]
            )
    return dict(value)


def key_columns_argument(value: Any) -> list[str] | None:
    """``key_columns`` as a list of names; a plain string would be read as characters, so it is refused."""
    if value is None or (isinstance(value, str | Sequence) and not value):
        return None
    if isinstance(value, str):
        raise BadArgumentError(
            f"key_columns must be a list of column names, not a single string: write [{value!r}]"
        )
    if not isinstance(value, Sequence) or not all(isinstance(name, str) and name for name in value):
        raise BadArgumentError(f"key_columns must be a list of column names, got {value!r}"[:300])
    return list(value)


def fetch_size_argument(value: Any) -> int | None:
    """``fetch_size``: ``None`` (use ``batch_size``) or a whole number of rows, at least 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadArgumentError(f"fetch_size must be a whole number of rows, got {value!r}")
    if value < 1:
        raise BadArgumentError(f"fetch_size must be at least 1, got {value}")
    return value


# Operator arguments passed straight to ConversionSettings; all templated, so numbers may arrive as text.
SETTING_FIELDS = (
    "timestamp_unit",
    "default_timezone",
    "max_event_age_days",
    "event_age_safety_margin_hours",
    "max_future_skew_seconds",
)
NUMERIC_SETTINGS = frozenset(
    {"max_event_age_days", "event_age_safety_margin_hours", "max_future_skew_seconds"}
)


def numeric_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Rendered templates are strings unless the DAG renders native objects; read the numbers back."""
    return {
        name: float(value) if name in NUMERIC_SETTINGS and isinstance(value, str) else value
        for name, value in settings.items()
    }


def rejected_fraction_limit(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in {"", "none"}):
        return None
    try:
        limit = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"max_rejected_fraction must be a number between 0 and 1, got {value!r}") from None
    if not 0.0 <= limit <= 1.0:
        raise ValueError(f"max_rejected_fraction must be between 0 and 1, got {value!r}")
    return limit
