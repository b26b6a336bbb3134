"""Billing's answers to what happens to a visit: the online deposit hold, no-show and late-cancel fees.

These are the callbacks `scheduler.booking.hooks` runs (registered by `billing.wiring`), inside the
booking transaction. Their idempotency keys come from the visit (`deposit:<appointment id>`,
`no_show_fee:<appointment id>`, `late_cancel_fee:<appointment id>`), so a retried request resends the
same key and is never charged twice, even though the rows are written in the caller's transaction.
A fee that cannot be charged (no saved card, a decline) never undoes the no-show or the cancellation:
the fee stays on the visit's invoice for the desk, with the failure recorded on its payment.

A deposit paid after its hold was released (`settle_late_deposit`) puts the visit back if its time is still
free; otherwise it is refunded in full under the key `deposit_refund:<payment id>` and the client is told.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import invoices, payments, plans
from billing.documents.links import DEPOSIT_CHECKOUT, LinkExpired, LinkInvalid, make_token, read_token
from billing.gateway import GatewayUnavailable, PaymentError
from billing.models import (
    DepositKind,
    Invoice,
    InvoiceLine,
    LineKind,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundStatus,
    StripeCustomer,
)
from billing.money import deposit_amount, format_money
from billing.policy import get_policy
from billing.runtime import get_gateway, link_secret
from scheduler.booking import notices
from scheduler.booking import services as booking
from scheduler.booking.hooks import PaymentHold
from scheduler.booking.models import Appointment, AppointmentStatus
from scheduler.clients.models import Client
from scheduler.db import begin_write, insert_unless_conflict
from scheduler.errors import Gone, NotFound
from scheduler.format import format_stamp
from scheduler.mail import services as mail
from scheduler.practice.models import Practice, Service

log = logging.getLogger(__name__)

# Stripe keeps a Checkout Session open for 30 minutes at least and 24 hours at most.
MIN_CHECKOUT_SECONDS = 30 * 60
MAX_CHECKOUT_SECONDS = 24 * 60 * 60
STRIPE_AWAY = "The payment page cannot be reached just now. Your time is still held: please try again in a minute."
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
    customer = await payments.customer_for(session, client.id)
    if session.in_transaction():
        await session.commit()  # only read so far: end it before the network call
    # The practice's wall clock: a 9 PM visit in New York is already tomorrow in UTC.
    when = format_stamp(appointment.start_at, ZoneInfo(practice.timezone))
    try:
        customer_id = customer.customer_id if customer is not None else await payments.open_customer(client)
        checkout = await get_gateway().create_checkout_session(
            payment.idempotency_key or f"deposit:{appointment.id}",
            customer=customer_id,
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
    await begin_write(session)
    if customer is None:
        await session.execute(
            insert_unless_conflict(
                session,
                StripeCustomer,
                ["client_id"],
                practice_id=practice.id,
                client_id=client.id,
                customer_id=customer_id,
            )
        )
    # Two openings racing write the same session (Stripe replayed the key); a webhook may have settled the
    # payment meanwhile, which this leaves alone (only these two columns are written).
    payment.gateway_checkout_session = checkout.id
    payment.checkout_url = checkout.url
    await session.flush()
    return checkout.url


async def visit_status_changed(
    session: AsyncSession, appointment: Appointment, old: AppointmentStatus, new: AppointmentStatus
) -> None:
    """`on_status_change`: a completed plan visit is paid per the plan's policy; the no-show fee; the late-cancel
    fee when the desk cancels inside the window."""
    if old is AppointmentStatus.PENDING_PAYMENT:
        return  # an unpaid hold owes nothing
    if new is AppointmentStatus.COMPLETED:
        await plans.visit_completed(session, appointment)
        return
    policy = await get_policy(session)
    if new is AppointmentStatus.NO_SHOW and policy.no_show_fee > 0:
        await charge_fee(session, appointment, policy.no_show_fee, kind="no_show_fee", label="No-show fee")
    elif new is AppointmentStatus.CANCELLED and appointment.cancelled_late and policy.late_cancel_fee > 0:
        await charge_fee(session, appointment, policy.late_cancel_fee, kind="late_cancel_fee", label="Late-cancel fee")


async def charge_fee(session: AsyncSession, appointment: Appointment, amount: int, *, kind: str, label: str) -> None:
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
    customer = await payments.customer_for(session, appointment.client_id)
    if customer is None or not customer.default_payment_method:
        log.info("fee left on the invoice: no saved card", extra={"invoice_id": str(invoice.id), "fee": kind})
        return
    payment = Payment(
        invoice_id=invoice.id,
        method=PaymentMethod.CARD_ON_FILE,
        amount=amount,
        currency=invoice.currency,
        status=PaymentStatus.PENDING,
        refunded=0,
        purpose=kind,
        idempotency_key=key,
        card_brand=customer.card_brand,
        card_last4=customer.card_last4,
    )
    session.add(payment)
    await session.flush()
    try:
        result = await get_gateway().charge_saved_card(
            key,
            customer=customer.customer_id,
            payment_method=customer.default_payment_method,
            amount=amount,
            currency=invoice.currency.lower(),
            metadata={
                "practice_id": str(practice.id),
                "invoice_id": str(invoice.id),
                "payment_id": str(payment.id),
                "purpose": kind,
            },
            description=f"{practice.name} {label.lower()}",
        )
    except GatewayUnavailable:
        return  # pending: the payment_intent.succeeded webhook or reconcile settles it
    except PaymentError as exc:
        payments.mark_failed(payment, exc)
        await session.flush()
        log.info(
            "fee not charged",
            extra={"invoice_id": str(invoice.id), "fee": kind, "amount": format_money(amount, invoice.currency)},
        )
        return
    payments.apply_charge(payment, result)
    await invoices.recompute(session, invoice)


async def settle_late_deposit(session: AsyncSession, invoice: Invoice, payment: Payment) -> None:
    """A succeeded deposit whose visit's hold was released before the money came (`confirm_checkout`, under the
    invoice's lock): re-instate the visit and send its held confirmation, or, when its time is gone, refund the
    deposit and e-mail the client why. Once either happened, a later call (another delivery, the redirect)
    changes nothing: the visit is booked again, or the refund's key is on record."""
    if payment.status is not PaymentStatus.SUCCEEDED or invoice.appointment_id is None:
        return
    key = f"deposit_refund:{payment.id}"
    if await session.scalar(select(Refund.id).where(Refund.idempotency_key == key)) is not None:
        return
    appointment = await session.get_one(Appointment, invoice.appointment_id, populate_existing=True)
    if not booking.is_released_hold(appointment):
        # Cancelled by the client or the desk while the checkout was open: the deposit stays for the desk.
        log.warning("deposit paid for a cancelled visit", extra={"appointment_id": str(appointment.id)})
        return
    practice = await session.get_one(Practice, appointment.practice_id)
    if await booking.reinstate_released_hold(session, practice, appointment):
        log.info("late deposit: visit re-instated", extra={"appointment_id": str(appointment.id)})
        return
    if payment.refundable <= 0:
        return  # the desk already gave it back
    amount = payment.refundable
    refund = await payments.refund_the_rest(
        session, invoice, payment, key=key, reason="Deposit paid after the hold ran out; the time was taken"
    )
    await mail.drop_held(session, [appointment.id])
    if refund.status is RefundStatus.FAILED:
        # The processor refused it: the desk sees the failed refund; the client is not told of money not sent.
        log.warning("late deposit: refund refused", extra={"appointment_id": str(appointment.id)})
        return
    await notices.deposit_refunded(session, practice, appointment, format_money(amount, payment.currency))
    log.info("late deposit: time taken, deposit refunded", extra={"appointment_id": str(appointment.id)})


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
