"""What a database value means to the pure layer: absent, text, or unusable.

Rows come from any DB-API driver (and from pandas), so one column can hold ``None``, ``NaN``, pandas
``NA``/``NaT``, ``bytes``, ``Decimal``, numpy scalars, ``uuid.UUID`` or ``ipaddress`` objects. This module
decides once, for every field, which of those are "no value" and how the rest read as text, so that
``42``, ``42.0`` and ``"42"`` from three different drivers all mean the same id.
"""

from __future__ import annotations

import ipaddress
import numbers
import uuid
from decimal import Decimal
from typing import Any

# Recognised by type name so the pure layer need not import pandas (heavy) to spot pandas' missing values.
_NULL_TYPE_NAMES = frozenset({"NAType", "NaTType"})
_BOOL_TYPE_NAMES = frozenset({"bool", "bool_"})
_BYTES_TYPES = (bytes, bytearray, memoryview)
_TEXT_OBJECT_TYPES = (uuid.UUID, ipaddress.IPv4Address, ipaddress.IPv6Address)
# Integral floats below this print as integers (42.0 -> "42"); the bound is where JavaScript also stops.
_INTEGRAL_FLOAT_LIMIT = 1e21
# Decimals with more integer digits than this are not identifiers; refusing them avoids huge strings.
_MAX_DECIMAL_DIGITS = 40


class NotText(ValueError):
    """A value that cannot stand for text: a list, a boolean, a datetime, undecodable bytes, ..."""


def is_null(value: Any) -> bool:
    """True for SQL NULL in all its Python spellings, and for empty or whitespace-only strings.

    Anything that is not equal to itself (float and numpy NaN, ``Decimal("NaN")``, numpy ``NaT``)
    counts as NULL. Comparisons that raise or are ambiguous (numpy arrays) count as "not NULL".
    """
    if value is None:
        return True
    cls = value.__class__
    if cls is str:
        return not value.strip()
    if cls is float:
        return value != value
    if cls.__name__ in _NULL_TYPE_NAMES:
        return True
    if isinstance(value, str):
        return not str.strip(value)
    if isinstance(value, _BYTES_TYPES):
        return not bytes(value).strip()
    try:
        return bool(value != value)
    except Exception:  # any exotic __ne__: a value we cannot compare is at least present
        return False


def is_bool(value: Any) -> bool:
    """Python and numpy booleans, which are never a timestamp, an amount or an identifier."""
    return isinstance(value, bool) or value.__class__.__name__ in _BOOL_TYPE_NAMES


def to_text(value: Any) -> str:
    """The value as trimmed text, ``""`` when it is absent; :class:`NotText` when it cannot be text.

    - strings are stripped; bytes are decoded as UTF-8;
    - integers (Python, numpy) print in decimal; integral floats and Decimals print as integers
      (``42.0`` -> ``"42"``), because drivers and pandas turn integer columns with NULLs into floats;
      other floats print in their shortest round-trip form. Integers with more digits than Python
      converts (``sys.get_int_max_str_digits()``, 4,300 by default) and reals too large for a float
      are not text: no identifier is that long, and the conversion itself would raise;
    - ``uuid.UUID`` and ``ipaddress`` objects (psycopg 3 returns them) print in canonical form;
    - booleans, dates, containers and anything else are not text.

    The result is guaranteed to encode as UTF-8 (no lone surrogates), so the events built from it always
    serialise.
    """
    cls = value.__class__
    if cls is str:
        text = value.strip()
    elif value is None:
        return ""
    elif cls is int:  # exact types first: key columns are mostly ints, and ABC checks cost a microsecond
        try:
            return str(value)
        except ValueError:  # more digits than sys.get_int_max_str_digits(): no identifier is that long
            raise NotText("the integer is too large to be text") from None
    elif cls is float:
        return _float_text(value)
    else:
        text = _coerce_to_text(value)
    if not text.isascii():
        ensure_utf8(text)
    return text


def ensure_utf8(text: str) -> str:
    """``text`` itself, or :class:`NotText` when it holds lone surrogates that no JSON encoder accepts."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NotText("text is not valid Unicode") from None
    return text


def _coerce_to_text(value: Any) -> str:
    if is_null(value):
        return ""
    if isinstance(value, str):
        return str.strip(value)
    if is_bool(value):
        raise NotText("a boolean is not text")
    if isinstance(value, numbers.Integral):
        return _int_text(int(value))
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, numbers.Real):
        try:
            number = float(value)
        except OverflowError:  # a huge Fraction: float() raises where Decimal and text give infinity
            raise NotText("the number is too large to be text") from None
        return _float_text(number)
    if isinstance(value, _BYTES_TYPES):
        try:
            return bytes(value).decode("utf-8").strip()
        except UnicodeDecodeError:
            raise NotText("bytes are not UTF-8 text") from None
    if isinstance(
        value, (ipaddress.IPv4Interface, ipaddress.IPv6Interface)
    ):  # before: they subclass addresses
        return str(value.ip)
    if isinstance(value, _TEXT_OBJECT_TYPES):
        return str(value)
    raise NotText(f"a {type(value).__name__} is not text")


def _int_text(number: int) -> str:
    """Decimal text; :class:`NotText` past Python's digit limit for decimal conversion (it is quadratic)."""
    try:
        return str(number)
    except ValueError:
        raise NotText("the integer is too large to be text") from None


def _float_text(number: float) -> str:
    if number != number:
        return ""
    if number in (float("inf"), float("-inf")):
        raise NotText("an infinite number is not text")
    if number.is_integer() and abs(number) < _INTEGRAL_FLOAT_LIMIT:
        return str(int(number))
    return repr(number)


def _decimal_text(number: Decimal) -> str:
    if number.is_nan():
        return ""
    if number.is_infinite() or number.adjusted() > _MAX_DECIMAL_DIGITS:
        raise NotText("the number is too large to be text")
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")
