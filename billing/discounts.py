"""Discounts allocated to the lines they reduce, so each line's amount is what was paid for it. Pure.

An FSA/HSA administrator reimburses what the client paid for eligible care: a $120 massage with a $20
discount is $100 of eligible money, not $120 with a separate "not eligible" discount. So a document never
prints a discount on its own; it prints every line at its amount after discount:

- a discount that names a line (`applies_to`: the visit's discount on its service line, a package session's
  price on the visit) reduces that line only, up to its amount;
- a discount that names none is invoice-wide: it is spread **pro rata by amount** over the lines it can
  reduce (every positive line that is not itself a credit), each line's share rounded down to the minor unit
  and the cents left over given one each to the lines with the largest remainders (ties: the larger line,
  then the earlier). So the shares add up to the discount exactly, each is within one cent of its exact pro
  rata share, and no line goes below zero. A $17 discount over a $100 massage, $50 of retail and a $20 tip is
  $10, $5 and $2.

Named discounts come first, then invoice-wide ones, each spread over what the lines have left. A discount
larger than what is left (never written by the desk: the total cannot go below what was paid) keeps the rest
unallocated, for the caller to print as it stands.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Discount:
    """`amount` taken off (positive minor units); `applies_to` the key of the line it reduces, or None."""

    key: Hashable
    amount: int
    applies_to: Hashable | None = None


def pro_rata(discount: int, amounts: Sequence[tuple[K, int]]) -> dict[K, int]:
    """Split `discount` (>= 0) over `amounts` (each >= 0) by amount, largest remainder to the minor unit.

    When the discount is at least the sum of the amounts every line is taken to zero."""
    if discount < 0 or any(amount < 0 for _, amount in amounts):
        msg = "pro_rata splits a non-negative discount over non-negative amounts"
        raise ValueError(msg)
    base = sum(amount for _, amount in amounts)
    if discount >= base:
        return dict(amounts)
    shares: dict[K, int] = {}
    remainders: list[tuple[int, int, int, K]] = []
    for order, (key, amount) in enumerate(amounts):
        share, remainder = divmod(discount * amount, base)
        shares[key] = share
        remainders.append((-remainder, -amount, order, key))
    left = discount - sum(shares.values())
    for _, _, _, key in sorted(remainders, key=lambda r: r[:3])[:left]:
        shares[key] += 1
    return shares


def allocate(amounts: Sequence[tuple[K, int]], discounts: Sequence[Discount]) -> tuple[dict[K, int], int]:
    """Each line's amount after the discounts, and what of the discounts could not be placed (>= 0).

    `amounts` are the lines a discount may reduce, in invoice order, with their positive totals."""
    left: dict[K, int] = dict(amounts)
    unplaced = 0
    named = [d for d in discounts if d.applies_to is not None]
    wide = [d for d in discounts if d.applies_to is None]
    for discount in named:
        target = discount.applies_to
        if target in left:
            key: K = target
            taken = min(discount.amount, left[key])
            left[key] -= taken
            unplaced += discount.amount - taken
        else:
            wide.append(Discount(key=discount.key, amount=discount.amount))
    for discount in wide:
        shares = pro_rata(discount.amount, [(k, a) for k, a in left.items() if a > 0])
        for key, share in shares.items():
            left[key] -= share
        unplaced += discount.amount - sum(shares.values())
    return left, unplaced
