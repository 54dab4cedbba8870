"""``eventId``: the row's own id, or one derived so that re-running the same data sends the same ids.

Retries, a killed worker re-running its task, or a backfill over an overlapping interval all send rows
again. LinkedIn deduplicates by ``eventId`` (against the Insight Tag for sure,
docs/linkedin-contract.md §2.4), so every
event carries one, and a derived id depends only on the data, never on time of sending or row order.

Derived ids are the lower-hex SHA-256 (64 characters, LinkedIn's maximum) of a compact JSON array,
serialised by orjson (UTF-8, no whitespace), whose first element ``"v1"`` versions the recipe:

- with ``key_columns``: ``["v1", conversion URN, key value, ...]``, each key value as text (see
  :func:`key_text`; NULL as ``null``). The text comes from the value's content, for every type a DB-API
  driver or pandas returns: bytes (``bytea``) hash to ``sha256:<hex>`` unless they are UTF-8 text, so
  psycopg2's ``memoryview`` and psycopg 3's ``bytes`` agree. A value that cannot be keyed by content (a
  float that is not an exact integer below 2**53, a list, an arbitrary object) is refused with
  ``invalid_event_id`` on the ``key_columns`` field, which stops the push: never ``repr()``, which for
  many objects holds a memory address that changes from run to run. Only the rule and the keys count,
  so correcting a name or an amount in the CRM and re-sending keeps the id. If every key is NULL, the
  row has no key and the content recipe below is used instead, so keyless rows do not all share one id.
- otherwise: ``["v1", conversion URN, conversionHappenedAt, user, conversionValue or null]`` with
  ``user`` and ``conversionValue`` exactly as sent (hashed e-mail, normalised ids, names). Two rows that
  agree on all of these are the same conversion as far as LinkedIn can tell, and get the same id.
"""

from __future__ import annotations

import hashlib
import numbers
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import orjson

from airflow_provider_linkedin_capi.conversions.rejections import RejectionCode, RowRejected
from airflow_provider_linkedin_capi.conversions.values import NotText, is_bool, to_text

FIELD = "eventId"
#: The field a key value that cannot be keyed is refused on; the push stops on such a refusal.
KEY_COLUMNS_FIELD = "key_columns"
MAX_EVENT_ID_LENGTH = 64
RECIPE_VERSION = "v1"
#: Floats hold every integer exactly only below this: a 64-bit id that pandas stored as float64 (its
#: column had a NULL) may already have lost digits, and two ids would then merge into one eventId.
_EXACT_FLOAT_LIMIT = 2**53
_BYTES_TYPES = (bytes, bytearray, memoryview)
# numpy's date and duration scalars print their content (``2026-01-01T00:00``); recognised by name, so the
# pure layer need not import numpy.
_NUMPY_TIME_TYPE_NAMES = frozenset({"datetime64", "timedelta64"})


def row_event_id(value: Any) -> str:
    """The row's own eventId, trimmed; ``""`` when absent (then one is derived).

    Numbers read as text (``42.0`` -> ``"42"``). Longer than 64 characters, or not text at all (a date,
    a list): ``invalid_event_id``, because truncating or rewriting would break deduplication.
    """
    try:
        text = to_text(value)
    except NotText:
        raise RowRejected(
            RejectionCode.INVALID_EVENT_ID,
            FIELD,
            f"{FIELD} holds a {type(value).__name__} that cannot be read as text",
        ) from None
    if len(text) > MAX_EVENT_ID_LENGTH:
        raise too_long()
    return text


def too_long() -> RowRejected:
    return RowRejected(
        RejectionCode.INVALID_EVENT_ID,
        FIELD,
        f"{FIELD} is longer than LinkedIn's {MAX_EVENT_ID_LENGTH} characters",
    )


def key_text(value: Any) -> str | None:
    """A key value in a form that does not depend on the driver: ``42``, ``42.0`` and ``"42"`` agree.

    Text is trimmed but keeps its case; timezone-aware datetimes are written in UTC, naive ones as they
    are; integers in decimal, except those longer than Python prints in decimal (4,300 digits unless
    ``PYTHONINTMAXSTRDIGITS`` says otherwise), which are written in hex (``0x...``) rather than refused:
    a key only has to be stable, and hex is linear and has no such limit. Bytes that are not UTF-8 text
    hash to ``sha256:<hex>``. NULL and empty text are ``None``. A value that cannot be keyed by its content
    raises :class:`RowRejected` (see the module).
    """
    if isinstance(value, _BYTES_TYPES):
        return _bytes_key(bytes(value))
    if _is_float(value):
        return _float_key(value)
    try:
        text = to_text(value)
    except NotText:
        text = _non_text_key(value)
    return text or None


def _is_float(value: Any) -> bool:
    """Binary floating point of any kind (Python, numpy ``float32``/``float64``, a ``Fraction`` too)."""
    return isinstance(value, float) or (
        isinstance(value, numbers.Real)
        and not isinstance(value, numbers.Integral | Decimal)
        and not is_bool(value)
    )


def _float_key(value: Any) -> str | None:
    try:
        number = float(value)
    except OverflowError:
        number = float("inf")
    if number != number:  # NaN: pandas' NULL
        return None
    if not number.is_integer() or abs(number) >= _EXACT_FLOAT_LIMIT:
        raise RowRejected(
            RejectionCode.INVALID_EVENT_ID,
            KEY_COLUMNS_FIELD,
            "a key column holds a floating-point number that is not an exact integer below 2**53, so it "
            "cannot identify a row (distinct ids would merge); cast the column to an integer or text in the "
            "query (pandas stores an integer column that has a NULL as float64: use the 'Int64' dtype)",
        )
    return str(int(number))


def _bytes_key(data: bytes) -> str | None:
    try:
        return data.decode("utf-8").strip() or None
    except UnicodeDecodeError:
        return "sha256:" + hashlib.sha256(data).hexdigest()


def _non_text_key(value: Any) -> str:
    if is_bool(value):
        return "true" if value else "false"
    if isinstance(value, datetime):
        try:
            if value.utcoffset() is not None:
                value = value.astimezone(UTC)
            return value.isoformat()
        except (OverflowError, ValueError):
            return value.replace(tzinfo=None).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"{value.days}d{value.seconds}s{value.microseconds}us"
    if isinstance(value, numbers.Integral):  # an integer too long for decimal text (see key_text)
        return format(int(value), "#x")
    if type(value).__name__ in _NUMPY_TIME_TYPE_NAMES:
        return str(value)
    raise RowRejected(
        RejectionCode.INVALID_EVENT_ID,
        KEY_COLUMNS_FIELD,
        f"a key column holds a {type(value).__name__}, whose content cannot derive a stable eventId; "
        "cast the column to text or a number in the query",
    )


def key_event_id(rule_urn: str, key_values: Sequence[Any]) -> str | None:
    """The id from the rule and the key columns' values; ``None`` when every key is NULL."""
    texts = [
        (value.strip() or None) if value.__class__ is str and value.isascii() else key_text(value)
        for value in key_values
    ]
    if texts.count(None) == len(texts):
        return None
    return hashlib.sha256(orjson.dumps([RECIPE_VERSION, rule_urn, *texts])).hexdigest()


class KeyEventIds:
    """:func:`key_event_id` for the hot loop, byte for byte the same ids, in about half the time.

    The material always starts with ``["v1","<rule>",``, so that part is serialised once per rule; and
    the usual key, one integer CRM id, is written as its decimal text directly (``str(42)`` is what
    :func:`key_text` gives an int). Everything else takes the general text rules.
    """

    def __init__(self) -> None:
        self._prefixes: dict[str, bytes] = {}

    def derive(self, rule_urn: str, key_values: Sequence[Any]) -> str | None:
        prefix = self._prefixes.get(rule_urn)
        if prefix is None:
            prefix = self._prefixes[rule_urn] = orjson.dumps([RECIPE_VERSION, rule_urn])[:-1] + b","
        if len(key_values) == 1 and key_values[0].__class__ is int:
            try:
                return hashlib.sha256(b'%s"%d"]' % (prefix, key_values[0])).hexdigest()
            except ValueError:  # too many digits for decimal text: the general path writes it in hex
                pass
        texts = [
            (value.strip() or None) if value.__class__ is str and value.isascii() else key_text(value)
            for value in key_values
        ]
        if texts.count(None) == len(texts):
            return None
        return hashlib.sha256(prefix + orjson.dumps(texts)[1:]).hexdigest()


def content_event_id(
    rule_urn: str, happened_at: int, user: dict[str, Any], conversion_value: dict[str, str] | None
) -> str:
    """The id from everything LinkedIn sees of the event (see the module docstring)."""
    material = orjson.dumps((RECIPE_VERSION, rule_urn, happened_at, user, conversion_value))
    return hashlib.sha256(material).hexdigest()
