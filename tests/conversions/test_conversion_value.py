"""conversionValue: ISO-4217 currency plus a non-negative amount, always as a two-decimal string."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from conversion_helpers import build_row, event_of, rejection_of

EMAIL = "buyer@example.com"


def value_of(amount, currency="USD"):
    return event_of(build_row(email=EMAIL, amount=amount, currencyCode=currency)).get("conversionValue")


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (1500, "1500.00"),
        (0, "0.00"),
        (12.5, "12.50"),
        (12.34, "12.34"),
        (0.1 + 0.2, "0.30"),
        (1.005, "1.01"),  # half-up on the decimal the user sees, not on binary 1.00499...
        (2.675, "2.68"),
        (0.125, "0.13"),
        (1e-7, "0.00"),
        (-0.0, "0.00"),
        (Decimal("99.995"), "100.00"),
        (Decimal("1E+3"), "1000.00"),
        (Decimal("-0"), "0.00"),
        ("  1500.0 ", "1500.00"),
        ("7", "7.00"),
        ("1e2", "100.00"),
        (b"19.99", "19.99"),
        (np.int64(42), "42.00"),
        (np.float32(0.5), "0.50"),
        (999_999_999_999_999, "999999999999999.00"),
    ],
)
def test_amounts_render_with_exactly_two_decimals(amount, expected):
    assert value_of(amount) == {"currencyCode": "USD", "amount": expected}


def test_currency_is_upper_cased_and_checked_against_iso_4217():
    assert value_of(10, " eur ") == {"currencyCode": "EUR", "amount": "10.00"}
    assert value_of(10, b"jpy") == {"currencyCode": "JPY", "amount": "10.00"}
    for bad in ("EURO", "US$", "XYZ", 840, True):
        rejection_of(build_row(email=EMAIL, amount=10, currencyCode=bad), "invalid_currency")


@pytest.mark.parametrize(
    "amount",
    [
        -1,
        -0.01,
        Decimal("-5"),
        "-3",
        "12,50",
        "$12",
        "ten",
        "nan",
        "Infinity",
        float("inf"),
        Decimal("Infinity"),
        True,
        10**15,
        1e15,
        "1e400",
        [12],
        object(),
    ],
)
def test_unusable_amounts_are_invalid_amount(amount):
    rejection_of(build_row(email=EMAIL, amount=amount, currencyCode="USD"), "invalid_amount")


def test_an_amount_without_currency_is_invalid_currency():
    rejection_of(build_row(email=EMAIL, amount=10), "invalid_currency")
    rejection_of(build_row(email=EMAIL, amount=10, currencyCode="  "), "invalid_currency")


def test_no_amount_means_no_conversion_value_whatever_the_currency():
    for amount in (None, "", float("nan"), Decimal("NaN")):
        assert value_of(amount, "USD") is None
        assert value_of(amount, "not a currency") is None
    assert "conversionValue" not in event_of(build_row(email=EMAIL, currencyCode="USD"))


def test_amount_is_checked_before_currency():
    rejection_of(build_row(email=EMAIL, amount="garbage"), "invalid_amount")
