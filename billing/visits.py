"""Billing's answers to what happens to a visit: the online deposit hold, no-show and late-cancel fees.

These are the callbacks `scheduler.booking.hooks` runs (registered by `billing.wiring`), inside the
booking transaction. Their idempotency keys come from the visit (`deposit:<appointment id>`,
`no_show_fee:<appointment id>`, `late_cancel_fee:<appointment id>`), so a retried request resends the
same key and is never charged twice. A fee's charge is only written here, pending, in the caller's transaction:
it is sent once that transaction has committed (`billing.card_charges`), never across the booking's locks.
A fee that cannot be charged (no saved card, a decline) never undoes the no-show or the cancellation:
the fee stays on the visit's invoice for the desk, with the failure recorded on its payment.

A deposit paid after its hold was released (`settle_late_deposit`) puts the visit back if its time is still
free; otherwise it is refunded in full under the key `deposit_refund:<payment id>` and the client is told.

**A visit that does not happen** (cancelled by anyone, an unpaid hold released, a no-show) has its deposit
resolved by one rule, `resolve_deposit_on_cancel`: the deposit guarantees the visit's fee. Cancelled in time (or
with no fee in the policy) it is refunded in full; cancelled late (`cancelled_late`) or missed, it is kept up to
the late-cancel or no-show fee (a fee line; the client gets a fee notice), the rest of a larger fee is charged to
the saved card, and any excess is refunded — or, when the policy keeps such deposits as credit
(`kept_deposit = credit`), it is kept whole as the client's account credit (`billing.credit`), no fee is charged,
and the invoice ends void. The visit's invoice is then closed
(`invoices.close_for_cancelled_visit`): `void` when nothing is owed, paid when a fee was kept, never open with a
balance for care that did not happen. Those refunds are written in the cancelling transaction (key
`deposit_refund:<payment id>`, pending) and sent after it commits (`send_held_refunds`, run after the response),
so no call to Stripe holds SQLite's write lock or the calendar lock, and Stripe being away never fails a
cancellation: the refund stays pending for the next sweep, or failed for the desk. What happened to the money is
answered to booking's hook as one sentence, which the cancellation e-mail prints.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from litestar import Request
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from billing import card_charges, credit, invoices, payments, plans, saved_cards
from billing.documents import fee_notices
from billing.documents.links import DEPOSIT_CHECKOUT, LinkExpired, LinkInvalid, make_token, read_token
from billing.gateway import GatewayUnavailable
from billing.models import (
    DepositKind,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    KeptDeposit,
    LineKind,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from billing.money import deposit_amount, format_money
from billing.policy import get_policy
from billing.runtime import link_secret
from scheduler.booking import notices
from scheduler.booking import services as booking
from scheduler.booking.hooks import PaymentHold
from scheduler.booking.models import Appointment, AppointmentStatus
from scheduler.clients.models import Client
from scheduler.db import scope_session, session_scope, unscoped
from scheduler.errors import Gone, NotFound
from scheduler.format import format_stamp
from scheduler.mail import services as mail
from scheduler.practice.models import Practice, Service

log = logging.getLogger(__name__)

# Stripe keeps a Checkout Session open for 30 minutes at least and 24 hours at most.
MIN_CHECKOUT_SECONDS = 30 * 60
MAX_CHECKOUT_SECONDS = 24 * 60 * 60
STRIPE_AWAY = "The payment page cannot be reached just now. Your time is still held: please try again in a minute."
FEE_PURPOSES = frozenset({"no_show_fee", "late_cancel_fee"})
NOT_KEPT = "The time for paying this deposit ran out, so the appointment was not kept. Please book again."


def checkout_closes_at(hold_expires_at: dt.datetime) -> dt.datetime:
    """The hold's end plus Stripe's minimum checkout life: when a session opened at the hold's last moment
    would close, and so when the deposit link stops opening one."""
    return hold_expires_at + dt.timedelta(seconds=MIN_CHECKOUT_SECONDS)


def deposit_link(base_url: str, practice: Practice, payment_id: uuid.UUID, hold_expires_at: dt.datetime) -> str:
    """Our own address for paying a deposit (`/p/<slug>/deposit/<signed payment id>`): opening it opens the
    Checkout Session. It outlives the hold by Stripe's minimum checkout life, as a session opened at the last
    moment does, so a late click still reads "not kept" rather than "not valid"."""
    token = make_token(link_secret(), DEPOSIT_CHECKOUT, payment_id, checkout_closes_at(hold_expires_at))
    return f"{base_url.rstrip('/')}/p/{practice.slug}/deposit/{token}"


async def deposit_hold(
    session: AsyncSession, practice: Practice, appointment: Appointment, base_url: str
) -> PaymentHold | None:
    """`on_online_booking`: when the practice asks for a deposit, open the visit's invoice and write the deposit
    payment (key `deposit:<appointment id>`), pending. No network here: this runs under the practice's calendar
    lock. The client is sent to our deposit link, which opens the Checkout Session (`open_deposit_checkout`)."""
    policy = await get_policy(session)
    if policy.deposit_kind is DepositKind.NONE:
        return None
    service = await session.get_one(Service, appointment.service_id)
    amount = deposit_amount(
        policy.deposit_kind.value,
        service.price,
        fixed=policy.deposit_fixed,
        percent_bp=policy.deposit_percent_bp,
    )
    if amount <= 0:
        return None
    invoice = await invoices.open_for_appointment(session, practice, appointment)
    payment = Payment(
        invoice_id=invoice.id,
        method=PaymentMethod.ONLINE_DEPOSIT,
        amount=amount,
        currency=invoice.currency,
        status=PaymentStatus.PENDING,
        refunded=0,
        purpose="deposit",
        idempotency_key=f"deposit:{appointment.id}",
    )
    session.add(payment)
    await session.flush()
    hold_expires_at = utcnow() + dt.timedelta(minutes=policy.hold_minutes)
    return PaymentHold(
        checkout_url=deposit_link(base_url, practice, payment.id, hold_expires_at), expires_at=hold_expires_at
    )


def checkout_expiry(hold_expires_at: dt.datetime, now: dt.datetime) -> dt.datetime:
    """When a deposit's Checkout Session closes: a fixed instant (the hold's end plus Stripe's minimum life),
    so two tabs opening the link send the same parameters under the same key and get the same session; it is
    30 minutes away at least whenever the hold is still live. Holds close to 24 hours are capped to Stripe's
    maximum."""
    fixed = checkout_closes_at(hold_expires_at)
    # Stripe counts its 30 minutes from when it creates the session: a link opened in a hold's last minute
    # asks for a little more, so latency and clock skew cannot make Stripe refuse it.
    earliest = now + dt.timedelta(seconds=MIN_CHECKOUT_SECONDS + 60)
    return min(max(fixed, earliest), now + dt.timedelta(seconds=MAX_CHECKOUT_SECONDS - 60))


async def open_deposit_checkout(session: AsyncSession, practice: Practice, token: str, base_url: str) -> str:
    """Where a deposit link sends the client: the Checkout Session already opened for it, or one opened now
    (same key and parameters as any other opening, so a race gets one session), or, once paid, the return
    page. `NotFound` for a link that does not verify (or names another practice's payment), `Gone` once the
    hold was released or ran out, `GatewayUnavailable` when Stripe cannot be reached (the hold is kept).

    Nothing is written before the call to Stripe, and the read is ended first: no transaction (and no SQLite
    write lock or calendar lock) is held across the network."""
    now = utcnow()
    expired = False
    try:
        payment_id = read_token(link_secret(), DEPOSIT_CHECKOUT, token, now)
    except LinkExpired as exc:
        # Genuine but late: a client who paid and comes back later is still shown their confirmation.
        payment_id, expired = exc.item_id, True
    except LinkInvalid as exc:
        raise NotFound("This payment link is not valid.") from exc
    # The session is scoped to the slug's practice: a genuine link under another practice's slug finds nothing.
    payment = await session.scalar(select(Payment).where(Payment.id == payment_id, Payment.purpose == "deposit"))
    if payment is None:
        raise NotFound("This payment link is not valid.")
    invoice = await session.get_one(Invoice, payment.invoice_id)
    if invoice.appointment_id is None:
        raise NotFound("This payment link is not valid.")
    appointment = await session.get_one(Appointment, invoice.appointment_id)
    base = base_url.rstrip("/")
    if payment.status is PaymentStatus.SUCCEEDED and payment.gateway_checkout_session:
        return f"{base}/p/{practice.slug}/checkout/return?session_id={payment.gateway_checkout_session}"
    hold_expires_at = appointment.hold_expires_at
    if (
        expired
        or payment.status is not PaymentStatus.PENDING
        or appointment.status is not AppointmentStatus.PENDING_PAYMENT
        or hold_expires_at is None
        or hold_expires_at <= now
    ):
        raise Gone(NOT_KEPT)
    if payment.checkout_url:
        return payment.checkout_url
    service = await session.get_one(Service, appointment.service_id)
    client = await session.get_one(Client, appointment.client_id)
    # The practice's wall clock: a 9 PM visit in New York is already tomorrow in UTC.
    when = format_stamp(appointment.start_at, ZoneInfo(practice.timezone))
    try:
        # Nothing written yet: the read is ended before the network call (see `payments.client_checkout`).
        checkout = await payments.client_checkout(
            session,
            client,
            payment.idempotency_key or f"deposit:{appointment.id}",
            amount=payment.amount,
            currency=payment.currency.lower(),
            description=f"Deposit for {service.name}, {when}",
            success_url=f"{base}/p/{practice.slug}/checkout/return?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{base}/p/{practice.slug}/book",
            metadata={
                "practice_id": str(practice.id),
                "invoice_id": str(invoice.id),
                "payment_id": str(payment.id),
                "appointment_id": str(appointment.id),
                "purpose": "deposit",
            },
            save_card=True,
            expires_at=checkout_expiry(hold_expires_at, now),
        )
    except GatewayUnavailable as exc:
        raise GatewayUnavailable(STRIPE_AWAY) from exc
    if checkout.url is None:
        raise GatewayUnavailable(STRIPE_AWAY)
    # Two openings racing write the same session (Stripe replayed the key); a webhook may have settled the
    # payment meanwhile, which this leaves alone (only these two columns are written).
    payment.gateway_checkout_session = checkout.id
    payment.checkout_url = checkout.url
    await session.flush()
    return checkout.url


async def visit_status_changed(
    session: AsyncSession, appointment: Appointment, old: AppointmentStatus, new: AppointmentStatus
) -> str | None:
    """`on_status_change`: a completed plan visit is paid per the plan's policy; a visit that did not happen
    (cancelled, released, a no-show) has its deposit and fee resolved (`resolve_deposit_on_cancel`). Answers the
    sentence the cancellation e-mail tells the client about their money, if any."""
    if new is AppointmentStatus.COMPLETED:
        if old is not AppointmentStatus.PENDING_PAYMENT:
            await plans.visit_completed(session, appointment)
        return None
    if new in {AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW}:
        return await resolve_deposit_on_cancel(session, appointment, old)
    return None


# The fee a deposit guarantees, by how the visit did not happen: (policy field, payment purpose, line label,
# the fee's name for the client).
_LATE = ("late_cancel_fee", "late_cancel_fee", "Late-cancel fee", "late-cancellation fee")
_NO_SHOW = ("no_show_fee", "no_show_fee", "No-show fee", "no-show fee")
DEPOSIT_REFUND = "deposit_refund:"
REFUNDS_DUE_KEY = "deposit_refunds_due"


async def resolve_deposit_on_cancel(  # noqa: PLR0912  (one rule, read top to bottom: see the module docstring)
    session: AsyncSession, appointment: Appointment, old: AppointmentStatus
) -> str | None:
    """Resolve the money of a visit that did not happen, by the policy (see the module docstring), and close its
    invoice. An unpaid hold released or cancelled owes nothing: its invoice is voided (a deposit still arriving
    for it is `settle_late_deposit`'s). Answers one sentence for the client about their deposit, or None."""
    invoice = await invoices.invoice_for_appointment(session, appointment.id)
    if old is AppointmentStatus.PENDING_PAYMENT:
        if invoice is not None:
            await invoices.close_for_cancelled_visit(session, await invoices.lock_invoice(session, invoice.id))
        return None
    policy = await get_policy(session)
    rule = (
        _NO_SHOW if appointment.status is AppointmentStatus.NO_SHOW else _LATE if appointment.cancelled_late else None
    )
    fee = int(getattr(policy, rule[0])) if rule is not None else 0
    if invoice is None:
        if rule is not None and fee > 0:
            await charge_fee(session, appointment, fee, kind=rule[1], label=rule[2])
            await _fee_notice(session, appointment)
        return None
    invoice = await invoices.lock_invoice(session, invoice.id)
    paid = [p for p in await invoices.payments_of(session, invoice) if p.refundable > 0]
    deposits = [p for p in paid if p.purpose == "deposit"]
    if any(p.purpose not in {"deposit", *FEE_PURPOSES} for p in paid):
        # Paid for at the desk before it was cancelled: the desk decides (refund, or keep it as credit).
        # The care stays charged only as far as that money pays it: the invoice then owes its fee, nothing more.
        log.info("cancelled visit paid ahead: left to the desk", extra={"invoice_id": str(invoice.id)})
        if rule is not None and fee > 0:
            await charge_fee(session, appointment, fee, kind=rule[1], label=rule[2])
        paid_ahead = sum(p.refundable for p in paid if p.purpose not in FEE_PURPOSES)
        await invoices.close_for_cancelled_visit(session, invoice, keep=paid_ahead)
        if rule is not None and fee > 0:
            await _fee_notice(session, appointment)
        return None
    held = sum(p.refundable for p in deposits)
    if rule is not None and held > 0 and policy.kept_deposit is KeptDeposit.CREDIT:
        return await _keep_as_credit(session, invoice, deposits, held)
    kept = min(fee, held)
    if rule is not None and fee > 0:
        await charge_fee(session, appointment, fee, kind=rule[1], label=rule[2], covered=kept)
    to_keep, returned, card = kept, 0, ""
    for deposit in deposits:
        keep_here = min(to_keep, deposit.refundable)
        to_keep -= keep_here
        give = deposit.refundable - keep_here
        card = card or (deposit.card_last4 or "")
        if give > 0:
            payments.write_cancellation_refund(
                session,
                deposit,
                give,
                key=f"{DEPOSIT_REFUND}{deposit.id}",
                reason="Deposit for a visit that did not happen" if keep_here == 0 else "Deposit less the fee kept",
            )
            returned += give
    await session.flush()
    await invoices.close_for_cancelled_visit(session, invoice)
    if rule is not None and fee > 0:
        await _fee_notice(session, appointment)
    if returned:
        session.sync_session.info[REFUNDS_DUE_KEY] = True
    if held == 0:
        return None
    currency = invoice.currency
    return deposit_sentence(
        held=format_money(held, currency),
        kept=format_money(kept, currency) if kept else "",
        fee=format_money(fee, currency) if kept else "",
        returned=format_money(returned, currency) if returned else "",
        fee_name=rule[3] if rule is not None else "",
        card=card,
    )


async def _keep_as_credit(session: AsyncSession, invoice: Invoice, deposits: list[Payment], held: int) -> str:
    """The policy keeps a late cancel's (or a no-show's) deposit as the client's account credit, whole, and charges
    no fee: the deposit is moved to credit (`billing.credit`), the invoice ends void with nothing paid for care
    (no receipt), and the client is told the credit waits for their next visit."""
    for deposit in deposits:
        await credit.keep_deposit_as_credit(session, invoice, deposit)
    await invoices.close_for_cancelled_visit(session, invoice)
    return deposit_sentence(
        held=format_money(held, invoice.currency), kept="", fee="", returned="", fee_name="", card="", credit=True
    )


def _to_card(card: str) -> str:
    return f"your card ending {card}" if card else "the card you paid with"


def deposit_sentence(
    *, held: str, kept: str, fee: str, returned: str, fee_name: str, card: str, credit: bool = False
) -> str:
    """What the client is told happened to their deposit (pure: amounts already formatted)."""
    if credit:
        return f"Your {held} deposit was kept as credit for your next visit."
    back = f"will be refunded to {_to_card(card)} within 5–10 business days"  # noqa: RUF001
    if not kept:
        return f"Your {held} deposit {back}."
    if not returned:
        if kept == fee:
            return f"Your {held} deposit was kept as the {fee_name}."
        return f"Your {held} deposit was kept towards the {fee} {fee_name}."
    return f"{kept} of your {held} deposit was kept as the {fee_name}; the other {returned} {back}."


async def _fee_notice(session: AsyncSession, appointment: Appointment) -> None:
    """The fee's numbered notice, e-mailed with its link, once the fee was charged, kept from the deposit, or could
    not be charged (then it is due at the next visit). A charge still pending is noticed when it settles."""
    invoice = await invoices.invoice_for_appointment(session, appointment.id)
    if invoice is not None:
        await fee_notices.issue_when_due(session, invoice, final=True)


async def charge_fee(
    session: AsyncSession, appointment: Appointment, amount: int, *, kind: str, label: str, covered: int = 0
) -> None:
    """The fee's line on the visit's invoice, and a charge to the saved card of what the deposit (`covered`)
    does not already pay — written pending in the caller's transaction, sent after it commits."""
    practice = await session.get_one(Practice, appointment.practice_id)
    await invoices.write_lock(session)
    invoice = await invoices.open_for_appointment(session, practice, appointment, with_service_line=False)
    key = f"{kind}:{appointment.id}"
    if await session.scalar(select(Payment.id).where(Payment.idempotency_key == key)) is not None:
        return  # already charged (or tried) for this visit
    session.add(
        InvoiceLine(
            invoice_id=invoice.id, kind=LineKind.FEE, description=label, amount=amount, quantity=1, fsa_eligible=False
        )
    )
    await invoices.recompute(session, invoice)
    amount -= covered
    if amount <= 0:
        return  # the deposit pays it
    card = saved_cards.on_file(await payments.customer_for(session, appointment.client_id))
    if card is None:
        log.info("fee left on the invoice: no saved card", extra={"invoice_id": str(invoice.id), "fee": kind})
        return
    # Written only: sent once this status change has committed (`billing.card_charges`), never inside it.
    card_charges.write_pending(session, invoice, card, amount=amount, purpose=kind, key=key)
    await session.flush()


async def settle_late_deposit(session: AsyncSession, invoice: Invoice, payment: Payment) -> None:
    """A succeeded deposit whose visit's hold was released, or which was cancelled, before the money came
    (`confirm_checkout`, under the invoice's lock): re-instate a released visit and send its held confirmation,
    or, when its time is gone or the visit was cancelled, refund the deposit and e-mail the client why. Once
    either happened, a later call (another delivery, the redirect) changes nothing: the visit is booked again,
    or the refund's key is on record.

    The refund is sent inside this (webhook's) transaction: if Stripe cannot be reached the delivery fails and
    Stripe's retry sends the same key, which is how the event stays unapplied until its effect is."""
    if payment.status is not PaymentStatus.SUCCEEDED or invoice.appointment_id is None:
        return
    key = f"{DEPOSIT_REFUND}{payment.id}"
    if await session.scalar(select(Refund.id).where(Refund.idempotency_key == key)) is not None:
        return
    appointment = await session.get_one(Appointment, invoice.appointment_id, populate_existing=True)
    if appointment.status is not AppointmentStatus.CANCELLED:
        return
    practice = await session.get_one(Practice, appointment.practice_id)
    released = booking.is_released_hold(appointment)
    if released and await booking.reinstate_released_hold(session, practice, appointment):
        await invoices.reopen_for_reinstated_visit(session, invoice)
        log.info("late deposit: visit re-instated", extra={"appointment_id": str(appointment.id)})
        return
    if payment.refundable <= 0:
        return  # the desk already gave it back
    amount = payment.refundable
    reason = (
        "Deposit paid after the hold ran out; the time was taken"
        if released
        else "Deposit paid after the visit was cancelled"
    )
    refund = payments.write_cancellation_refund(session, payment, amount, key=key, reason=reason)
    await session.flush()
    await invoices.close_for_cancelled_visit(session, invoice)
    refund = await payments.send_written_refund(session, refund.id, commit_first=False)
    await mail.drop_held(session, [appointment.id])
    if refund.status is RefundStatus.FAILED:
        # The processor refused it: the desk sees the failed refund; the client is not told of money not sent.
        log.warning("late deposit: refund refused", extra={"appointment_id": str(appointment.id)})
        return
    await notices.deposit_refunded(
        session, practice, appointment, format_money(amount, payment.currency), cancelled=not released
    )
    log.info("late deposit: deposit refunded", extra={"appointment_id": str(appointment.id)})


async def refund_payment(session: AsyncSession, payment_id: uuid.UUID, data: payments.RefundIn) -> Refund:
    """The desk refunds a payment (API and invoice page). On the invoice of a visit that did not happen the
    books are closed again afterwards (a waived fee leaves it void); on one that is already void — nothing owed,
    e.g. a deposit whose automatic refund failed — the money goes back with no credit line, as the automatic
    refund would have, and Stripe being away leaves it pending rather than failing the desk's request."""
    payment = await payments.get_payment(session, payment_id)
    invoice = await invoices.get_invoice(session, payment.invoice_id)
    appointment = await session.get(Appointment, invoice.appointment_id) if invoice.appointment_id else None
    if appointment is None or appointment.status not in {AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW}:
        return await payments.refund_payment(session, payment_id, data)
    if invoice.status is not InvoiceStatus.VOID:
        refund = await payments.refund_payment(session, payment_id, data)
        await invoices.close_for_cancelled_visit(session, await invoices.lock_invoice(session, invoice.id))
        return refund
    invoice = await invoices.lock_invoice(session, invoice.id)
    payment = await session.get_one(Payment, payment_id, populate_existing=True)
    if payment.method not in payments.CARD_METHODS or payment.gateway_payment_intent is None:
        return await payments.refund_payment(session, payment_id, data)
    payments.check_refund_input(data)
    payments.check_refundable(payment, data.amount)
    refund_id = uuid.uuid4()
    refund = payments.write_cancellation_refund(
        session,
        payment,
        data.amount,
        key=f"refund:{refund_id}",
        reason=data.reason.strip() or "Refund for a visit that did not happen",
        refund_id=refund_id,
    )
    await invoices.recompute(session, invoice)
    return await payments.send_written_refund(session, refund.id, commit_first=True)


# -- after the commit: send the refunds written for visits that did not happen ------------------------------

_due_in_process = {"flag": False}


@event.listens_for(Session, "after_commit")
def _note_refunds_due(session: Session) -> None:
    if not session.in_nested_transaction() and session.info.pop(REFUNDS_DUE_KEY, False):
        _due_in_process["flag"] = True


@event.listens_for(Session, "after_rollback")
def _forget_refunds_due(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(REFUNDS_DUE_KEY, None)


SWEEP_EVERY_SECONDS = 60.0
_last_sweep = {"at": 0.0}


async def send_held_refunds(config: SQLAlchemyAsyncConfig, limit: int = 50) -> int:
    """Send every deposit refund written by a cancellation and not yet answered by Stripe, each in its own short
    unit of work with no transaction open across the call; how many were sent. Safe in any number of processes:
    the key is the refund's, so Stripe makes it once, and its answer only moves the row forward."""
    async with session_scope(config) as session:
        with unscoped(session):
            due = (
                await session.execute(
                    select(Refund.id, Refund.practice_id)
                    .where(
                        Refund.status == RefundStatus.PENDING,
                        Refund.gateway_refund_id.is_(None),
                        Refund.idempotency_key.startswith(DEPOSIT_REFUND),
                    )
                    .order_by(Refund.created_at)
                    .limit(limit)
                )
            ).all()
    sent = 0
    for refund_id, practice_id in due:
        async with session_scope(config) as session:
            scope_session(session, practice_id)
            refund = await payments.send_written_refund(session, refund_id, commit_first=True)
            sent += refund.gateway_refund_id is not None or refund.status is RefundStatus.FAILED
    return sent


async def send_refunds_after_response(request: Request[Any, Any, Any]) -> None:
    """After a request whose transaction wrote deposit refunds (a cancellation), send them at once; otherwise
    look for any left pending at most once a minute. Never fails the request that ran before it."""
    due = _due_in_process["flag"]
    _due_in_process["flag"] = False
    now = time.monotonic()
    if not due and now - _last_sweep["at"] < SWEEP_EVERY_SECONDS:
        return
    _last_sweep["at"] = now
    try:
        await send_held_refunds(request.app.state.alchemy)
    except Exception:
        log.exception("deposit refunds: sending after the response failed")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
