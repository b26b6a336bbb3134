"""Money arithmetic: integer minor units of an ISO 4217 currency, percentages, display.

No floats. A percentage is given in basis points (1 % = 100 bp) so that it is an integer too, and the
result is rounded **half up (away from zero) to the minor unit**: 12.5 % of $0.99 is 12.375 ¢ → 12 ¢,
15 % of $0.10 = 1.5 ¢ → 2 ¢ and -1.5 ¢ → -2 ¢. Half-up is what a client checks on a calculator and
what a receipt shows; banker's rounding would surprise them on a deposit. Display goes through babel,
which knows each currency's precision (JPY has none, KWD three) and the locale's symbols.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import format_currency, get_currency_precision

BASIS_POINTS = 10_000  # 100 %


def percent_of(amount: int, basis_points: int) -> int:
    """`basis_points`/10 000 of `amount` minor units, rounded half up (away from zero) to the minor unit."""
    if not isinstance(amount, int) or not isinstance(basis_points, int):
        msg = "money arithmetic takes integers (minor units, basis points)"
        raise TypeError(msg)
    numerator = abs(amount) * abs(basis_points)
    quotient, remainder = divmod(numerator, BASIS_POINTS)
    if remainder * 2 >= BASIS_POINTS:
        quotient += 1
    negative = (amount < 0) != (basis_points < 0)
    return -quotient if negative else quotient


def line_total(amount: int, quantity: int) -> int:
    """A line's amount is per unit; its total is exact (integers)."""
    return amount * quantity


def minor_digits(currency: str) -> int:
    return int(get_currency_precision(currency.upper()))


def to_decimal(amount: int, currency: str) -> Decimal:
    """Minor units as a Decimal in major units: 12345 USD → Decimal('123.45'), 500 JPY → Decimal('500')."""
    return Decimal(amount).scaleb(-minor_digits(currency))


def format_money(amount: int, currency: str, locale: str = "en_US") -> str:
    """For people: `format_money(12345, "USD")` → "$123.45"."""
    return str(format_currency(to_decimal(amount, currency), currency.upper(), locale=locale))


@dataclass(frozen=True)
class Money:
    """An amount in minor units with its currency; adding two currencies is a programming error."""

    amount: int
    currency: str

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            msg = f"cannot combine {self.currency} and {other.currency}"
            raise ValueError(msg)

    def __str__(self) -> str:
        return format_money(self.amount, self.currency)


def deposit_amount(kind: str, price: int, *, fixed: int = 0, percent_bp: int = 0) -> int:
    """What an online booking must pay up front under a deposit policy, never more than the price."""
    if kind == "none":
        return 0
    if kind == "full":
        return price
    if kind == "fixed":
        return min(max(fixed, 0), price)
    if kind == "percent":
        return min(percent_of(price, max(percent_bp, 0)), price)
    msg = f"unknown deposit kind {kind!r}"
    raise ValueError(msg)


def parse_amount(text: str, currency: str) -> int:
    """What a person types ("12.50", "$1,299", "80") as minor units; more decimals than the currency has
    is refused rather than rounded. Raises ValueError."""
    cleaned = text.strip().replace(",", "").lstrip("$€£¥").strip()
    negative = cleaned.startswith("-")
    cleaned = cleaned.lstrip("-").strip()
    if not cleaned or not all(ch.isdigit() or ch == "." for ch in cleaned) or cleaned.count(".") > 1:
        msg = f"not an amount: {text!r}"
        raise ValueError(msg)
    digits = minor_digits(currency)
    whole, _, fraction = cleaned.partition(".")
    if len(fraction) > digits:
        msg = f"{currency} has {digits} decimal places"
        raise ValueError(msg)
    value: int = int(whole or "0") * 10**digits + int(fraction.ljust(digits, "0") or "0")
    return -value if negative else value
