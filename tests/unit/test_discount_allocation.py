"""Discounts on the lines they reduce (`billing.discounts`) and a package session's share (`billing.packages`)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.discounts import Discount, allocate, pro_rata
from billing.packages import session_share


def test_seventeen_dollars_over_a_massage_retail_and_a_tip_is_ten_five_and_two() -> None:
    assert pro_rata(1700, [("massage", 10000), ("retail", 5000), ("tip", 2000)]) == {
        "massage": 1000,
        "retail": 500,
        "tip": 200,
    }


def test_the_cent_left_over_goes_to_the_largest_remainder() -> None:
    # $1.00 over three equal lines: 33, 33, 33 and the extra cent on the first (ties: earlier line)
    assert pro_rata(100, [("a", 500), ("b", 500), ("c", 500)]) == {"a": 34, "b": 33, "c": 33}
    # 10 over 1 and 2: exact shares 3.33 and 6.67, the cent goes to the larger remainder
    assert pro_rata(10, [("small", 100), ("large", 200)]) == {"small": 3, "large": 7}


def test_a_named_discount_reduces_its_line_only_and_a_wide_one_what_is_left() -> None:
    after, unplaced = allocate(
        [("massage", 12000), ("retail", 3000)],
        [Discount(key="wide", amount=1000), Discount(key="visit", amount=2000, applies_to="massage")],
    )
    # the visit's $20 first: massage 100, retail 30; then $10 pro rata over 130: 7.69 and 2.31
    assert after == {"massage": 10000 - 769, "retail": 3000 - 231}
    assert unplaced == 0


def test_a_discount_larger_than_the_lines_takes_them_to_zero_and_keeps_the_rest() -> None:
    after, unplaced = allocate([("massage", 5000)], [Discount(key="d", amount=6000, applies_to="massage")])
    assert after == {"massage": 0}
    assert unplaced == 1000


@given(
    discount=st.integers(min_value=0, max_value=10_000_000),
    amounts=st.lists(st.integers(min_value=0, max_value=10_000_000), min_size=1, max_size=12),
)
def test_pro_rata_adds_up_never_goes_negative_and_is_within_a_cent(discount: int, amounts: list[int]) -> None:
    lines = list(enumerate(amounts))
    base = sum(amounts)
    shares = pro_rata(discount, lines)
    if discount >= base:
        assert shares == dict(lines)
        return
    assert sum(shares.values()) == discount
    for key, amount in lines:
        assert 0 <= shares[key] <= amount
        assert abs(shares[key] - Fraction(discount * amount, base)) < 1


@given(
    amounts=st.lists(st.integers(min_value=1, max_value=1_000_000), min_size=1, max_size=8),
    discounts=st.lists(
        st.tuples(st.integers(min_value=1, max_value=500_000), st.none() | st.integers(min_value=0, max_value=9)),
        max_size=5,
    ),
)
def test_allocate_takes_exactly_the_discounts_and_no_line_below_zero(
    amounts: list[int], discounts: list[tuple[int, int | None]]
) -> None:
    lines = list(enumerate(amounts))
    after, unplaced = allocate(
        lines, [Discount(key=f"d{i}", amount=amount, applies_to=target) for i, (amount, target) in enumerate(discounts)]
    )
    assert all(0 <= after[key] <= amount for key, amount in lines)
    taken = sum(amounts) - sum(after.values())
    assert taken + unplaced == sum(amount for amount, _ in discounts)
    if all(target is None or target >= len(amounts) for _, target in discounts):  # all spread pro rata
        assert unplaced == 0 or sum(after.values()) == 0


@pytest.mark.parametrize(
    ("price", "sessions", "shares"),
    [(25000, 3, [8333, 8333, 8334]), (50000, 5, [10000] * 5), (1, 3, [0, 0, 1]), (0, 2, [0, 0])],
)
def test_a_sessions_share_is_price_over_sessions_with_the_remainder_on_the_last(
    price: int, sessions: int, shares: list[int]
) -> None:
    assert [session_share(price, sessions, n) for n in range(1, sessions + 1)] == shares
    assert sum(shares) == price


@given(price=st.integers(min_value=0, max_value=10_000_000), sessions=st.integers(min_value=1, max_value=1000))
def test_session_shares_add_up_to_the_price(price: int, sessions: int) -> None:
    shares = [session_share(price, sessions, n) for n in range(1, sessions + 1)]
    assert sum(shares) == price
    assert max(shares) - min(shares) < sessions or sessions == 1
