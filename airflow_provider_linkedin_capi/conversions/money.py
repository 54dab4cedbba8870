"""``conversionValue``: an ISO-4217 currency and a non-negative amount as a decimal string.

LinkedIn wants ``amount`` as a string holding a decimal (docs/linkedin-contract.md §2.1.5). Amounts are
rendered with exactly two decimals (``"1500.00"``, ``"0.50"``, ``"12.35"``): one fixed shape is easy to
compare in logs and tests, and never more precision than money has. Rounding is half-up, applied to the
decimal the user sees: floats are read through their shortest ``repr`` (``1.005`` is rounded as "1.005",
giving ``"1.01"``, not as the binary 1.00499...), ``Decimal`` values (PostgreSQL ``numeric``) exactly.

Rules (the builder applies them in this order):

- no amount (NULL/empty): no ``conversionValue``, whatever ``currencyCode`` holds. A constant currency
  column with NULL amounts for unvalued conversions is common and is not an error;
- an amount that is not a finite, non-negative number, or is 10^15 or more once rounded to cents (no
  conversion is worth a quadrillion; such values are wrong columns or cents multiplied twice):
  ``invalid_amount``;
- an amount without a currency, or with a currency that is not ISO-4217: ``invalid_currency``.
"""

from __future__ import annotations

import functools
import numbers
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

from airflow_provider_linkedin_capi.conversions.rejections import RejectionCode, RowRejected
from airflow_provider_linkedin_capi.conversions.values import is_bool, is_null, to_text

MAX_AMOUNT = 10**15
_CENT = Decimal("0.01")
#: The smallest Decimal that rounds half-up to MAX_AMOUNT: the bound applies to the amount as sent.
_DECIMAL_MAX = Decimal(MAX_AMOUNT) - _CENT / 2
_CONTEXT = Context(prec=40, rounding=ROUND_HALF_UP)


def amount_text(value: Any) -> str:
    """The amount as a two-decimal string, ``""`` when absent; ``invalid_amount`` when unusable."""
    cls = value.__class__
    if cls is float:
        return _float_amount(value)
    if cls is int:
        if 0 <= value < MAX_AMOUNT:
            return f"{value}.00"
        raise _invalid("is negative" if value < 0 else "is implausibly large (10^15 or more)")
    if cls is str or isinstance(value, (str, bytes, bytearray, memoryview)):
        if is_null(value):
            return ""
        return _text_amount(value)
    if cls is Decimal:
        return _decimal_amount(value)
    if is_null(value):
        return ""
    if is_bool(value):
        raise _invalid("is a boolean, not a number")
    if isinstance(value, numbers.Integral):
        return amount_text(int(value))
    if isinstance(value, Decimal):
        return _decimal_amount(value)
    if isinstance(value, numbers.Real):
        try:
            number = float(value)
        except OverflowError:  # a huge Fraction: float() raises where Decimal and text give infinity
            raise _invalid("is negative" if value < 0 else "is implausibly large (10^15 or more)") from None
        return _float_amount(number)
    raise _invalid(f"is a {type(value).__name__}, not a number")


def _float_amount(number: float) -> str:
    if number != number:
        return ""
    if not 0 <= number < MAX_AMOUNT:
        if number in (float("inf"), float("-inf")):
            raise _invalid("is not a finite number")
        raise _invalid("is negative" if number < 0 else "is implausibly large (10^15 or more)")
    text = repr(abs(number))
    dot = text.find(".")
    if dot > 0 and len(text) - dot <= 3 and "e" not in text:
        # Already at most two decimals: pad ("12.5" -> "12.50") without a round trip through Decimal.
        return text if len(text) - dot == 3 else text + "0"
    return _decimal_amount(Decimal(text))


def _text_amount(value: Any) -> str:
    try:
        text = to_text(value)
    except ValueError:
        raise _invalid("is not text") from None
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        raise _invalid("is not a decimal number") from None
    if number.is_nan():  # the text "NaN" is not SQL NULL
        raise _invalid("is not a finite number")
    return _decimal_amount(number)


def _decimal_amount(number: Decimal) -> str:
    if number.is_nan():
        return ""
    if not number.is_finite():
        raise _invalid("is not a finite number")
    if number < 0:
        raise _invalid("is negative")
    if number >= _DECIMAL_MAX:
        raise _invalid("is implausibly large (10^15 or more)")
    return str(number.quantize(_CENT, context=_CONTEXT).copy_abs())


def _invalid(why: str) -> RowRejected:
    return RowRejected(RejectionCode.INVALID_AMOUNT, "amount", f"amount {why}")


@functools.cache
def _currency_codes() -> frozenset[str]:
    import pycountry

    return frozenset(currency.alpha_3 for currency in pycountry.currencies)


def currency_code(value: Any) -> str:
    """ISO-4217 code, upper-case; ``invalid_currency`` when missing or unknown (only asked with an amount)."""
    try:
        text = to_text(value)
    except ValueError:
        text = None
    if not text:
        raise RowRejected(
            RejectionCode.INVALID_CURRENCY,
            "currencyCode",
            "amount is set but currencyCode is empty" if text == "" else "currencyCode is not text",
        )
    code = text.upper()
    if code not in _currency_codes():
        raise RowRejected(
            RejectionCode.INVALID_CURRENCY, "currencyCode", "currencyCode is not an ISO 4217 currency code"
        )
    return code
