"""Every argument of a push, in one value, checked in one place with one exception type.

Both push operators, ``push_dataframe()`` and the engine take a :class:`PushOptions`. Its
:meth:`PushOptions.validate` runs twice in an operator's life: when the DAG is parsed (literal values
only, templates wait) and at the start of ``execute`` (everything, rendered), before the rule lookup and
the query. A mistake therefore fails the task once, without retries (:class:`BadArgumentError`), naming the
parameter, and nothing is read or sent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_linkedin_capi.constants import AUTO_IN_FLIGHT, MAX_BATCH_SIZE, MAX_IN_FLIGHT
from airflow_provider_linkedin_capi.conversions import ConversionSettings
from airflow_provider_linkedin_capi.exceptions import BadArgumentError
from airflow_provider_linkedin_capi.urns import is_templated

ON_INVALID_CHOICES = ("skip", "fail")
#: ``"send_once"`` sends a repeated eventId once and counts the repeats; ``"fail"`` stops at the first.
ON_DUPLICATE_CHOICES = ("send_once", "fail")
#: What a retry does with events an earlier try left in doubt (killed before LinkedIn answered): send them
#: again (LinkedIn may then hold them twice) or leave them out (LinkedIn may then hold them never).
ON_IN_DOUBT_CHOICES = ("resend", "skip")
ON_COVERAGE_DROP_CHOICES = ("warn", "fail")
#: Percentage points an identifier kind's share of the events may fall, against the previous run, unflagged.
DEFAULT_COVERAGE_DROP_WARNING = 20.0
#: What an empty source means: succeed with a warning, skip the task, or fail it.
ON_EMPTY_CHOICES = ("succeed", "skip", "fail")
#: Distinct rules a per-row ``conversion`` column may name in one push: each costs one lookup at LinkedIn,
#: and a column that holds deal ids instead would otherwise cost one GET per row.
DEFAULT_MAX_DISTINCT_RULES = 100

# Arguments passed straight to ConversionSettings; templated, so numbers may arrive as text.
_SETTING_FIELDS = (
    "timestamp_unit",
    "default_timezone",
    "max_event_age_days",
    "event_age_safety_margin_hours",
    "max_future_skew_seconds",
    "hash_ip_address",
)
_NUMERIC_SETTINGS = frozenset(
    {"max_event_age_days", "event_age_safety_margin_hours", "max_future_skew_seconds"}
)


@dataclass(frozen=True)
class PushOptions:
    """What a push does with its rows; the operators' arguments of the same names (see their docs).

    Values may be Jinja templates until :meth:`validate` is called with ``templates_allowed=False``,
    which returns a copy with every value read: numbers rendered as text become numbers, ``column_map``
    a dict, ``key_columns`` a list, ``max_rejected_fraction`` a float or ``None``.
    """

    conversion_rule_id: str | int | None = None
    column_map: Mapping[str, str] | None = None
    key_columns: Sequence[str] | None = None
    batch_size: int = MAX_BATCH_SIZE
    timestamp_unit: str = "auto"
    default_timezone: str = "UTC"
    max_event_age_days: float = 90.0
    event_age_safety_margin_hours: float = 12.0
    max_future_skew_seconds: float = 300.0
    on_invalid: str = "skip"
    on_duplicate: str = "send_once"
    max_rejected_fraction: float | None = None
    rejects_path: str | None = None
    dry_run: bool = False
    progress_interval_seconds: float = 10.0
    batch_per_rule: bool = False
    ledger_path: str | None = None
    max_distinct_rules: int = DEFAULT_MAX_DISTINCT_RULES
    on_empty: str = "succeed"
    max_in_flight: int | str | None = None
    on_in_doubt: str = "resend"
    hash_ip_address: bool = False
    coverage_drop_warning: float = DEFAULT_COVERAGE_DROP_WARNING
    on_coverage_drop: str = "warn"

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every option's name: the operators take each as an argument of the same name."""
        return tuple(field.name for field in dataclasses.fields(cls))

    @classmethod
    def of(cls, source: object) -> PushOptions:
        """The options held as attributes of ``source`` (an operator, after templating)."""
        return cls(**{name: getattr(source, name) for name in cls.names()})

    def validate(self, *, templates_allowed: bool = False) -> PushOptions:
        """These options with every value read and checked; raises :class:`BadArgumentError`.

        :param templates_allowed: skip the values that are still Jinja templates (at DAG parse time).
        """
        try:
            return self._validated(templates_allowed)
        except (TypeError, ValueError, OverflowError) as error:  # BadArgumentError is a ValueError
            if templates_allowed:  # the DAG is being parsed: nothing could have been read or sent
                raise BadArgumentError(str(error)) from None
            raise BadArgumentError(f"{error}. Nothing was read or sent.") from None

    def conversion_settings(
        self, api_version: str | None = None, identifier_versions: Mapping[str, Any] | None = None
    ) -> ConversionSettings:
        """The pure layer's settings (call on validated options), for events sent with ``api_version``
        under the connection's ``identifier_versions`` overrides."""
        return ConversionSettings(
            conversion_rule_id=self.conversion_rule_id if self.conversion_rule_id not in (None, "") else None,
            column_map=self.column_map,
            key_columns=self.key_columns,
            api_version=api_version,
            identifier_versions=identifier_versions,
            **{name: getattr(self, name) for name in _SETTING_FIELDS},
        )

    def _validated(self, templates_allowed: bool) -> PushOptions:
        def given(name: str) -> bool:
            return not (templates_allowed and is_templated(getattr(self, name)))

        read: dict[str, Any] = {}
        whole_number("batch_size", self.batch_size, 1, MAX_BATCH_SIZE)
        _one_of("on_invalid", self.on_invalid, ON_INVALID_CHOICES)
        _one_of("on_duplicate", self.on_duplicate, ON_DUPLICATE_CHOICES)
        _one_of("on_empty", self.on_empty, ON_EMPTY_CHOICES)
        _one_of("on_in_doubt", self.on_in_doubt, ON_IN_DOUBT_CHOICES)
        _one_of("on_coverage_drop", self.on_coverage_drop, ON_COVERAGE_DROP_CHOICES)
        _positive_number("progress_interval_seconds", self.progress_interval_seconds)
        _percentage_points("coverage_drop_warning", self.coverage_drop_warning)
        if given("max_rejected_fraction"):
            read["max_rejected_fraction"] = _rejected_fraction(self.max_rejected_fraction)
        if given("max_distinct_rules"):
            read["max_distinct_rules"] = whole_number(
                "max_distinct_rules", self.max_distinct_rules, 1, templated=True
            )
        if given("max_in_flight"):
            read["max_in_flight"] = in_flight_limit(self.max_in_flight)
        if given("key_columns"):
            read["key_columns"] = _key_columns(self.key_columns)
        if given("column_map"):
            read["column_map"] = _column_map(self.column_map)
        for name in _SETTING_FIELDS:
            value = getattr(self, name)
            if given(name) and name in _NUMERIC_SETTINGS and isinstance(value, str):
                read[name] = float(value)
        checked = dataclasses.replace(self, **read)
        # ConversionSettings checks the zone, the unit and the window; templated ones wait for execute.
        ConversionSettings(**{name: getattr(checked, name) for name in _SETTING_FIELDS if given(name)})
        return checked


def whole_number(
    name: str, value: Any, minimum: int, maximum: int | None = None, *, templated: bool = False
) -> int:
    """A whole number in ``[minimum, maximum]``; for a ``templated`` argument, text is read as one."""
    text = value
    if templated and isinstance(value, str) and value.strip().isdigit():
        text = int(value.strip())
    if isinstance(text, float) and text.is_integer():
        text = int(text)  # nan and inf are not integers, so they are refused below
    if isinstance(text, bool) or not isinstance(text, int) or text < minimum:
        raise BadArgumentError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    if maximum is not None and text > maximum:
        raise BadArgumentError(f"{name} must be a whole number from {minimum} to {maximum}, got {value!r}")
    return text


def in_flight_limit(value: Any) -> int | str | None:
    """``max_in_flight``: ``None`` (the connection's extra, else the default), ``"auto"`` (the window sizes
    itself to LinkedIn's latency) or a fixed 1 to the cap."""
    if value is None or (isinstance(value, str) and value.strip().lower() in {"", "none"}):
        return None
    if isinstance(value, str) and value.strip().lower() == AUTO_IN_FLIGHT:
        return AUTO_IN_FLIGHT
    try:
        return whole_number("max_in_flight", value, 1, MAX_IN_FLIGHT, templated=True)
    except BadArgumentError:
        raise BadArgumentError(
            f"max_in_flight must be a whole number from 1 to {MAX_IN_FLIGHT} or {AUTO_IN_FLIGHT!r}, "
            f"got {value!r}"
        ) from None


def _one_of(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise BadArgumentError(f"{name} must be one of {choices}, got {value!r}")


def _positive_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
        raise BadArgumentError(f"{name} must be a positive number, got {value!r}")


def _percentage_points(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise BadArgumentError(f"{name} must be a number of percentage points from 0 to 100, got {value!r}")


def _column_map(value: Any) -> dict[str, str] | None:
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


def _key_columns(value: Any) -> list[str] | None:
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


def _rejected_fraction(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in {"", "none"}):
        return None
    try:
        limit = float(value)
    except (TypeError, ValueError):
        raise BadArgumentError(
            f"max_rejected_fraction must be a number between 0 and 1, got {value!r}"
        ) from None
    if not 0.0 <= limit <= 1.0:  # nan fails both comparisons
        raise BadArgumentError(f"max_rejected_fraction must be between 0 and 1, got {value!r}")
    return limit
