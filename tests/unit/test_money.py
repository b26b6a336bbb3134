"""Money is integer minor units; percentages round half up to the minor unit (see billing/money.py)."""

from __future__ import annotations

import pytest

from billing.money import Money, deposit_amount, format_money, line_total, parse_amount, percent_of, to_decimal


@pytest.mark.parametrize(
    ("amount", "bp", "expected"),
    [
        (12000, 2500, 3000),  # 25 % of $120.00
        (99, 1250, 12),  # 12.375 ¢ rounds down
        (10, 1500, 2),  # 1.5 ¢ rounds half up
        (-10, 1500, -2),  # and away from zero below zero
        (10, -1500, -2),
        (30, 5000, 15),
        (1, 5000, 1),  # half a cent is a cent
        (1, 4999, 0),
        (0, 3333, 0),
        (12345, 10000, 12345),
        (3, 3333, 1),  # 0.9999 ¢
    ],
)
def test_percent_rounds_half_up_to_the_minor_unit(amount: int, bp: int, expected: int) -> None:
    assert percent_of(amount, bp) == expected


def test_percent_refuses_floats() -> None:
    with pytest.raises(TypeError):
        percent_of(100, 12.5)  # type: ignore[arg-type]


def test_every_percent_of_every_small_amount_is_within_half_a_minor_unit() -> None:
    for amount in range(0, 301):
        for bp in range(0, 10001, 37):
            exact = amount * bp / 10000
            assert abs(percent_of(amount, bp) - exact) <= 0.5


@pytest.mark.parametrize(
    ("kind", "price", "fixed", "bp", "expected"),
    [
        ("none", 12000, 0, 0, 0),
        ("full", 12000, 0, 0, 12000),
        ("fixed", 12000, 2500, 0, 2500),
        ("fixed", 2000, 2500, 0, 2000),  # never more than the price
        ("percent", 12000, 0, 2000, 2400),
        ("percent", 9999, 0, 5000, 5000),  # 4999.5 → 5000
        ("percent", 100, 0, 20000, 100),
    ],
)
def test_deposit_amount_follows_the_policy(kind: str, price: int, fixed: int, bp: int, expected: int) -> None:
    assert deposit_amount(kind, price, fixed=fixed, percent_bp=bp) == expected


def test_line_total_is_exact() -> None:
    assert line_total(1999, 3) == 5997
    assert line_total(-500, 2) == -1000


def test_display_uses_the_currency_precision() -> None:
    assert format_money(12345, "USD") == "$123.45"
    assert format_money(500, "JPY") == "¥500"
    assert str(to_decimal(1234, "KWD")) == "1.234"
    assert str(Money(150, "USD") + Money(50, "USD")) == "$2.00"


def test_money_refuses_mixed_currencies() -> None:
    with pytest.raises(ValueError, match="cannot combine"):
        Money(1, "USD") + Money(1, "EUR")


@pytest.mark.parametrize(
    ("text", "currency", "expected"),
    [
        ("12.50", "USD", 1250),
        ("$1,299", "USD", 129900),
        ("80", "USD", 8000),
        ("0.5", "USD", 50),
        ("-10", "USD", -1000),
        ("500", "JPY", 500),
        ("1.234", "KWD", 1234),
    ],
)
def test_typed_amounts_become_minor_units(text: str, currency: str, expected: int) -> None:
    assert parse_amount(text, currency) == expected


@pytest.mark.parametrize("text", ["", "abc", "1.234", "1.2.3", "12,50.1.", "5 usd"])
def test_amounts_with_too_many_decimals_or_junk_are_refused(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        parse_amount(text, "USD")
