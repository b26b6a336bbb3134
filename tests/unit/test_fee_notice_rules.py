"""How a fee notice splits a fee over the card charge, the deposit kept and what is still due; and its policy."""

from __future__ import annotations

import pytest

from billing.documents.fee_notices import LATE_CANCEL, NO_SHOW, fee_money, policy_text, tenders_of
from billing.models import Invoice, Payment, PaymentMethod, PaymentStatus


def _payment(purpose: str, amount: int, status: PaymentStatus, last4: str = "4242") -> Payment:
    return Payment(
        method=PaymentMethod.ONLINE_DEPOSIT if purpose == "deposit" else PaymentMethod.CARD_ON_FILE,
        amount=amount,
        status=status,
        purpose=purpose,
        refunded=0,
        card_brand="visa",
        card_last4=last4,
        currency="USD",
    )


@pytest.mark.parametrize(
    ("fee", "paid", "charged", "deposit", "expected"),
    [
        (5000, 5000, 5000, None, (5000, 0, 0)),  # the saved card paid it all
        (5000, 5000, 2000, 3000, (2000, 3000, 0)),  # the deposit covers part, the card the rest
        (2500, 2500, None, 3000, (0, 2500, 0)),  # the deposit covers it; the rest of the deposit went back
        (5000, 0, None, None, (0, 0, 5000)),  # no card: due at the next visit
        (5000, 0, -1, None, (0, 0, 5000)),  # declined: due at the next visit
        (5000, 17000, 5000, None, (5000, 0, 0)),  # paid ahead for the massage: not counted as the fee's deposit
    ],
)
def test_the_fee_is_split_over_card_deposit_and_due(
    fee: int, paid: int, charged: int | None, deposit: int | None, expected: tuple[int, int, int]
) -> None:
    invoice = Invoice(paid=paid, total=fee, currency="USD")
    fee_payment = None
    if charged is not None:
        status = PaymentStatus.FAILED if charged < 0 else PaymentStatus.SUCCEEDED
        fee_payment = _payment("no_show_fee", abs(charged) if charged > 0 else fee, status)
    deposits = [_payment("deposit", deposit, PaymentStatus.SUCCEEDED, "4444")] if deposit else []
    money = fee_money(fee, invoice, fee_payment, deposits, returned=0)
    assert (money.charged, money.kept, money.due) == expected
    assert sum(t.amount for t in tenders_of(money)) == money.charged + money.kept


def test_tenders_name_the_card_and_the_deposit_by_brand_and_last_four() -> None:
    invoice = Invoice(paid=5000, total=5000, currency="USD")
    money = fee_money(
        5000,
        invoice,
        _payment("no_show_fee", 2000, PaymentStatus.SUCCEEDED),
        [_payment("deposit", 3000, PaymentStatus.SUCCEEDED, "4444")],
        returned=0,
    )
    assert [(t.method, t.label, t.amount) for t in tenders_of(money)] == [
        ("card_on_file", "Visa ending 4242", 2000),
        ("online_deposit", "Visa ending 4444", 3000),
    ]


def test_the_policy_is_printed_as_the_practice_set_it() -> None:
    assert policy_text(NO_SHOW, "$50.00", 24) == "A visit missed without notice is charged a no-show fee of $50.00."
    assert policy_text(LATE_CANCEL, "$25.00", 48) == (
        "A visit cancelled less than 48 hours before its start is charged a late-cancellation fee of $25.00."
    )
