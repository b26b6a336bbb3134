"""Each defect the money chaos test found, as a deterministic regression test (issue 14).

Every test drives the same `MoneyWorld` as `test_money_chaos.py` (the app in process, the demo practice with a
25 % deposit, a $40 no-show fee, a $25 late-cancel fee and a 7-day cancellation window, the real Stripe SDK on
the offline sandbox) through the few steps that reproduce one defect, then asserts the chaos test's invariants
(`MoneyWorld.check(strict=True)` after `settle`) and what the client and the desk should see.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from billing.sandbox import Fault
from scheduler.settings import Settings
from tests.chaos.world import POLICY, MoneyWorld, Visit


@pytest.fixture
def world(settings: Settings) -> Iterator[MoneyWorld]:
    built = MoneyWorld(settings)
    try:
        built.begin_step("the demo practice asks a 25 % deposit, fees on, 7-day cancellation window")
        built.configure()
        yield built
    finally:
        built.close()


def _booked_online(world: MoneyWorld, when: str = "early") -> Visit:
    world.begin_step(f"a client books online ({when})")
    visit = world.book_online(when, 1)
    assert visit is not None
    assert visit.deposit_link is not None
    return visit


def _invoice(world: MoneyWorld, visit: Visit) -> dict[str, object]:
    invoice = world.checkout(visit)
    assert invoice is not None
    return invoice


def test_a_deposit_paid_with_a_second_card_after_a_decline_is_recorded(world: MoneyWorld) -> None:
    """The decline's `payment_intent.payment_failed` marked the deposit failed for good; the second card's
    success (same PaymentIntent, session still open) was then ignored: Stripe holds $30 that no invoice records."""
    visit = _booked_online(world)
    world.begin_step("the first card is declined, the second goes through")
    session_id = world.open_deposit(visit)
    assert session_id is not None
    assert world.pay_checkout(
        session_id, ["pm_card_chargeDeclinedInsufficientFunds", "pm_card_visa"], follow_return=True
    )
    world.begin_step("settle")
    world.settle()
    world.check(strict=True)
    ledger = world.ledger()
    deposit = next(p for p in ledger.payments if p["purpose"] == "deposit")
    assert deposit["status"] == "succeeded"
    assert world.visit_status(ledger, visit) == "booked"


def test_a_pay_link_paid_after_the_desk_took_cash_is_recorded_and_refunded(world: MoneyWorld) -> None:
    """3-D Secure card at the desk → pay link e-mailed → the desk takes cash → the client pays the link anyway:
    the webhook and the return page answered 500 (ck_invoice_not_overpaid) and Stripe kept a charge no
    invoice records."""
    client = world.clients[0]
    world.begin_step("a past visit; the client's saved card wants 3-D Secure")
    visit = world.desk_visit(client, "past")
    assert visit is not None
    world.save_card(client, "pm_card_authenticationRequired")
    world.begin_step("the desk charges the card (a pay link goes out), then takes cash")
    world.tender(visit, "card_on_file", "balance")
    world.tender(visit, "cash", "balance")
    link = next(p for p in world.ledger().payments if p["method"] == "pay_link")
    world.begin_step("the client pays the e-mailed link")
    world.pay_checkout(str(link["gateway_checkout_session"]), ["pm_card_visa"], follow_return=True)
    world.check(strict=False)
    world.begin_step("settle")
    world.settle()
    world.check(strict=True)


def test_a_second_pay_link_paid_after_the_first_settled_the_invoice_is_recorded_and_refunded(
    world: MoneyWorld,
) -> None:
    """The desk e-mails a pay link for the balance twice; the client pays both: the first settles the invoice,
    the second is still open at Stripe, and paying it answered 500 (ck_invoice_not_overpaid) on the return page
    and the webhooks, leaving a charge no invoice records."""
    world.begin_step("a past visit; the desk sends a pay link for the balance, then another")
    visit = world.desk_visit(world.clients[0], "past")
    assert visit is not None
    world.tender(visit, "pay_link", "balance")
    world.tender(visit, "pay_link", "balance")
    links = [p for p in world.ledger().payments if p["method"] == "pay_link"]
    assert len(links) == 2
    for link in links:
        world.begin_step("the client pays a link")
        world.pay_checkout(str(link["gateway_checkout_session"]), ["pm_card_visa"], follow_return=True)
    world.check(strict=False)
    world.settle()
    world.check(strict=True)


def test_a_late_success_after_a_timeout_and_another_tender_is_recorded_and_refunded(world: MoneyWorld) -> None:
    """The charge's answer is lost (TIMEOUT_AFTER, beyond the SDK's retries), the desk takes cash; Stripe's late
    `payment_intent.succeeded` then violated ck_invoice_not_overpaid: the webhook answered 500 on every
    redelivery and reconcile could not apply it."""
    client = world.clients[0]
    world.begin_step("a past visit, a saved Visa")
    visit = world.desk_visit(client, "past")
    assert visit is not None
    world.save_card(client, "pm_card_visa")
    world.begin_step("webhooks held; the charge's answer is lost three times; the desk takes cash")
    world.hold()
    world.inject(Fault.TIMEOUT_AFTER, 3, "/v1/payment_intents")
    world.tender(visit, "card_on_file", "balance")
    world.tender(visit, "cash", "balance")
    world.check(strict=False)
    world.begin_step("Stripe's events arrive")
    world.release(reverse=False, times=1)
    world.check(strict=False)
    world.begin_step("settle")
    world.settle()
    world.check(strict=True)


def test_a_desk_retry_after_the_webhook_settled_the_invoice_returns_the_payment(world: MoneyWorld) -> None:
    """The charge's answer is lost, the webhook settles the invoice, the desk presses "charge" again: 422
    "more than the balance $0.00" instead of the settled payment."""
    client = world.clients[0]
    world.begin_step("a past visit, a saved Visa; the charge's answer is lost three times")
    visit = world.desk_visit(client, "past")
    assert visit is not None
    world.save_card(client, "pm_card_visa")
    world.inject(Fault.TIMEOUT_AFTER, 3, "/v1/payment_intents")
    world.tender(visit, "card_on_file", "balance")
    invoice = _invoice(world, visit)
    assert invoice["balance"] == 0  # the webhook settled it
    world.begin_step("the desk retries the same tender")
    retry = world.http(
        "POST",
        f"/api/v1/invoices/{invoice['id']}/payments",
        json={"method": "card_on_file", "amount": world.massage["price"]},
        headers=world.staff,
    )
    assert retry.status_code == 200, retry.text
    assert retry.json()["status"] == "succeeded"


def test_no_shows_and_card_saves_beside_webhook_writes_answer_no_5xx(world: MoneyWorld) -> None:
    """On SQLite a read-then-write transaction that is not `BEGIN IMMEDIATE` loses to a webhook's commit without
    waiting (`database is locked`, 500): the chaos test saw a card save's `payment_method.attached` webhook
    answer 500; the issue saw no-shows with a fee and client creations answer 500 beside card saves."""
    world.begin_step("six past visits for two clients with saved Visas")
    payers = world.clients[:2]
    visits = []
    for index in range(6):
        visit = world.desk_visit(payers[index % 2], "past")
        assert visit is not None
        visits.append(visit)
    for payer in payers:
        world.save_card(payer, "pm_card_visa")
    others = [world.new_desk_client() for _ in range(4)]
    world.check(strict=False)
    world.begin_step("no-shows (fee on the card), card saves and new clients, all at once")
    calls = [lambda visit=visit: world.act(visit, "no-show") for visit in visits]
    calls += [
        lambda other=other: world.http(
            "POST", f"/api/v1/clients/{other.id}/card", json={"payment_method": "pm_card_visa"}, headers=world.staff
        )
        for other in others
    ]
    calls += [
        lambda n=n: world.http(
            "POST",
            "/api/v1/clients",
            json={"first_name": "Rush", "last_name": f"Hour{n}", "email": f"rush{n}@example.test", "phone": ""},
            headers=world.staff,
        )
        for n in range(6)
    ]
    answers = world.concurrently(calls)
    assert [a.status_code for a in answers if a.status_code >= 500] == [], world.errors.records[-3:]
    world.settle()
    world.check(strict=True)


def test_cancelling_an_unpaid_held_visit_leaves_no_invoice_owing(world: MoneyWorld) -> None:
    """The desk cancels a visit still held for its deposit: the invoice stayed open owing the full price."""
    visit = _booked_online(world)
    world.begin_step("the desk cancels it before the deposit is paid")
    assert world.act(visit, "cancel").status_code == 200
    world.settle()
    world.check(strict=True)


def test_an_abandoned_deposit_checkout_leaves_no_invoice_owing(world: MoneyWorld) -> None:
    """The client walks away from the deposit checkout; the session expires and the hold is released: the
    invoice stayed open owing the full price."""
    visit = _booked_online(world)
    world.begin_step("the client opens the deposit link and walks away; the session expires")
    session_id = world.open_deposit(visit)
    assert session_id is not None
    world.expire_checkout(session_id)
    world.settle()
    world.check(strict=True)
    assert world.visit_status(world.ledger(), visit) == "cancelled"


@pytest.mark.parametrize("who", ["desk", "client"])
def test_a_paid_deposit_of_a_visit_cancelled_outside_the_window_is_resolved(world: MoneyWorld, who: str) -> None:
    """A deposit paid, then the visit cancelled well ahead (desk or the client's manage link): the $30 stayed
    kept with the invoice open owing $90, and nothing was refunded."""
    visit = _booked_online(world, "early")
    session_id = world.open_deposit(visit)
    assert session_id is not None
    assert world.pay_checkout(session_id, ["pm_card_visa"], follow_return=True)
    world.begin_step(f"the {who} cancels nine days or more ahead")
    answer = world.act(visit, "cancel") if who == "desk" else world.cancel_online(visit)
    assert answer.status_code == 200, answer.text
    world.settle()
    world.check(strict=True)


def test_a_deposit_refunded_in_full_leaves_no_invoice_owing(world: MoneyWorld) -> None:
    """The desk refunds a paid deposit and cancels the visit: the invoice stayed open with the full price owed."""
    visit = _booked_online(world, "early")
    session_id = world.open_deposit(visit)
    assert session_id is not None
    assert world.pay_checkout(session_id, ["pm_card_visa"], follow_return=True)
    deposit = next(p for p in world.ledger().payments if p["purpose"] == "deposit")
    world.begin_step("the desk refunds the deposit and cancels the visit")
    world.refund(str(deposit["id"]), int(deposit["amount"]))
    assert world.act(visit, "cancel").status_code == 200
    world.settle()
    world.check(strict=True)


@pytest.mark.parametrize("card", [None, "pm_card_visa"])
def test_a_visit_paid_ahead_in_part_and_cancelled_late_owes_its_fee_only(world: MoneyWorld, card: str | None) -> None:
    """Found by `make chaos`: the desk took half the price in cash ahead of a visit, then cancelled it inside the
    window. The invoice stayed open owing the rest of the massage beside the late-cancel fee ($85 = $145 - $60). The
    care now stays charged only as far as the money paid ahead covers it (the desk decides about that money): the
    invoice owes the fee, which the saved card pays when there is one."""
    client = world.clients[0]
    if card is not None:
        world.save_card(client, card)
    visit = world.desk_visit(client, "late")
    assert visit is not None
    world.begin_step("the desk takes half the price in cash ahead, then cancels inside the window")
    world.tender(visit, "cash", "half")
    assert world.act(visit, "cancel").status_code == 200
    world.settle()
    world.check(strict=True)
    invoice = world.checkout(visit)
    assert invoice is not None
    assert int(invoice["balance"]) == (0 if card else POLICY["late_cancel_fee"])
