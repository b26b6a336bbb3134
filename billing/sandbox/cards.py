"""Stripe's test payment methods (`pm_card_*`) and how each behaves, as documented at docs.stripe.com/testing."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Outcome(Enum):
    SUCCEED = "succeed"
    DECLINE = "decline"  # declined on every charge, and refused when attached
    DECLINE_ON_CHARGE = "decline_on_charge"  # attaches fine, every charge is declined
    AUTH_ALWAYS = "auth_always"  # 3-D Secure on every payment, even off-session after set-up
    AUTH_UNLESS_SET_UP = "auth_unless_set_up"  # 3-D Secure unless saved for off-session use with a set-up


@dataclass(frozen=True)
class TestCard:
    test_id: str
    label: str
    brand: str
    last4: str
    outcome: Outcome
    decline_code: str | None = None
    message: str | None = None


_DECLINED = "Your card was declined."
TEST_CARDS: dict[str, TestCard] = {
    card.test_id: card
    for card in (
        TestCard("pm_card_visa", "Visa — succeeds", "visa", "4242", Outcome.SUCCEED),
        TestCard("pm_card_mastercard", "Mastercard — succeeds", "mastercard", "4444", Outcome.SUCCEED),
        TestCard(
            "pm_card_chargeDeclined",
            "Visa — declined",
            "visa",
            "0002",
            Outcome.DECLINE,
            "generic_decline",
            _DECLINED,
        ),
        TestCard(
            "pm_card_chargeDeclinedInsufficientFunds",
            "Visa — insufficient funds",
            "visa",
            "9995",
            Outcome.DECLINE,
            "insufficient_funds",
            "Your card has insufficient funds.",
        ),
        TestCard(
            "pm_card_chargeCustomerFail",
            "Visa — saves, then every charge is declined",
            "visa",
            "0341",
            Outcome.DECLINE_ON_CHARGE,
            "generic_decline",
            _DECLINED,
        ),
        TestCard(
            "pm_card_authenticationRequired",
            "Visa — 3-D Secure on every payment",
            "visa",
            "3184",
            Outcome.AUTH_ALWAYS,
        ),
        TestCard(
            "pm_card_authenticationRequiredSetupForOffSession",
            "Visa — 3-D Secure unless saved for later",
            "visa",
            "3155",
            Outcome.AUTH_UNLESS_SET_UP,
        ),
    )
}

AUTH_MESSAGE = "Your card was declined. This transaction requires authentication."
