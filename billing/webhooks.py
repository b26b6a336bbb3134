"""Gateway events applied exactly once, in any order, pretix-style: the event is a trigger.

`handle_event` inserts the event id under its UNIQUE constraint in the same transaction as the effect (a
second delivery finds it and changes nothing), re-reads the object from the gateway rather than trusting
the event body, and only ever moves state forward (a pending payment succeeds or fails; a succeeded one
stays succeeded). The same effect reached by two roads — `checkout.session.completed` and the success
redirect, `payment_intent.succeeded` and the synchronous charge response — is made once by the state
check under the invoice's lock. Fulfilling a deposit releases the visit's held confirmation in the same
transaction; a deposit for a hold already released re-instates the visit or is refunded once
(`billing.visits.settle_late_deposit`).

Money is the one fact that moves a payment from failed to succeeded: the processor says it arrived, so it is
recorded, and anything beyond the invoice's total is refunded (`billing.settlement.payment_succeeded`). A
decline is final only off-session: on a Checkout Session (a deposit, a pay link) the client may try another
card until the session expires, so `payment_intent.payment_failed` only notes why the last card failed and
`checkout.session.expired` ends the payment.

An event that cannot be applied — our own constraint refuses it, the state is not one we expected, a row is
missing — is parked (`parked_webhook_event`, in a new transaction after the failed one is rolled back) and
answered 200: Stripe would retry it for three days to the same end, and the follow-up is ours (owners see
it; `carebook stripe reconcile` replays it). Only an unreachable processor or database answers 5xx, so that
Stripe retries what may well work a minute later.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DisconnectionError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from billing import card_setup, invoices, parking, payments, settlement, visits
from billing.gateway import GatewayUnavailable, WebhookEvent
from billing.models import (
    ClientDispute,
    Invoice,
    InvoiceLine,
    LineKind,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    StripeCustomer,
)
from billing.models import WebhookEvent as WebhookEventRow
from billing.runtime import get_gateway
from scheduler.booking import services as booking
from scheduler.booking.models import Appointment, AppointmentStatus
from scheduler.db import TENANT_KEY, scope_session, unscoped
from scheduler.errors import CarebookError, NotFound
from scheduler.mail import services as mail

log = logging.getLogger(__name__)


def _sync_info(session: AsyncSession) -> dict[str, Any]:
    return session.sync_session.info


async def _payment_where(session: AsyncSession, *conditions: Any) -> Payment | None:
    """Find a payment across practices (a webhook names no practice), then scope the session to its practice."""
    with unscoped(session):
        payment = await session.scalar(select(Payment).where(*conditions))
    if payment is not None:
        current = _sync_info(session).get(TENANT_KEY)
        if current is not None and current != payment.practice_id:
            return None  # a public page of one practice never touches another's payment
        scope_session(session, payment.practice_id)
    return payment


def _uuid(raw: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        return None


async def _payment_for_intent(session: AsyncSession, intent_id: str | None, metadata: dict[str, Any]) -> Payment | None:
    if intent_id:
        payment = await _payment_where(session, Payment.gateway_payment_intent == intent_id)
        if payment is not None:
            return payment
    payment_id = _uuid(metadata.get("payment_id")) if metadata else None
    if payment_id is not None:
        return await _payment_where(session, Payment.id == payment_id)
    return None


async def confirm_checkout(session: AsyncSession, checkout_session_id: str) -> Payment | None:
    """A Checkout Session was completed (webhook or success redirect): record the payment, save the card,
    and confirm the held visit. Idempotent; safe in any order."""
    checkout = await get_gateway().retrieve_checkout_session(checkout_session_id)
    payment = await _payment_where(session, Payment.gateway_checkout_session == checkout_session_id)
    if payment is None or not checkout.paid:
        return payment
    invoice = await invoices.lock_invoice(session, payment.invoice_id)
    await session.refresh(payment)
    if payment.status is not PaymentStatus.SUCCEEDED:
        payment.status = PaymentStatus.SUCCEEDED
        payment.failure_code = None
        payment.failure_message = None
        payment.gateway_payment_intent = checkout.payment_intent_id
        payment.card_brand = checkout.card_brand
        payment.card_last4 = checkout.card_last4
        await settlement.payment_succeeded(session, invoice, payment)
    # Whichever event settled the payment (this one or payment_intent.succeeded), the card is kept.
    await _remember_card(session, invoice, checkout.payment_method_id, checkout.card_brand, checkout.card_last4)
    if payment.purpose == "deposit" and invoice.appointment_id is not None:
        await _confirm_hold(session, invoice, payment)
    return payment


async def _remember_card(
    session: AsyncSession, invoice: Invoice, payment_method: str | None, brand: str | None, last4: str | None
) -> None:
    if not payment_method:
        return
    link = await session.scalar(select(StripeCustomer).where(StripeCustomer.client_id == invoice.client_id))
    if link is None:
        return
    link.default_payment_method = payment_method
    link.card_brand = brand
    link.card_last4 = last4


async def _confirm_hold(session: AsyncSession, invoice: Invoice, payment: Payment) -> None:
    """The deposit is paid: booking books the held visit and releases its held confirmation, in this transaction
    (`booking.confirm_paid_hold`; billing never writes the appointment). A hold released before the money came —
    or found run out and released just now — is re-instated or its deposit refunded (`settle_late_deposit`)."""
    if invoice.appointment_id is None:
        return
    appointment = await session.get_one(Appointment, invoice.appointment_id, populate_existing=True)
    status = await booking.confirm_paid_hold(session, appointment, now=invoices.utcnow())
    if status is AppointmentStatus.CANCELLED:
        await visits.settle_late_deposit(session, invoice, payment)


def _is_setup(event: WebhookEvent) -> bool:
    """A Checkout Session in `setup` mode saves a card and pays nothing (`billing.card_setup`); a session's mode
    never changes, so the event's word for it is as good as a re-read."""
    return event.data.get("mode") == "setup"


async def _on_checkout_completed(session: AsyncSession, event: WebhookEvent) -> None:
    if event.object_id and _is_setup(event):
        await card_setup.confirm_card_setup(session, event.object_id)
    elif event.object_id:
        await confirm_checkout(session, event.object_id)


async def _on_checkout_expired(session: AsyncSession, event: WebhookEvent) -> None:
    """An abandoned checkout: the pending payment failed and the visit's hold is released."""
    if not event.object_id:
        return
    if _is_setup(event):
        await card_setup.expire_card_setup(session, event.object_id)
        return
    checkout = await get_gateway().retrieve_checkout_session(event.object_id)
    payment = await _payment_where(session, Payment.gateway_checkout_session == event.object_id)
    if payment is None or checkout.status != "expired":
        return
    invoice = await invoices.lock_invoice(session, payment.invoice_id)
    await session.refresh(payment)
    if payment.status is not PaymentStatus.PENDING:
        return
    payment.status = PaymentStatus.FAILED
    payment.failure_code = "expired"
    if payment.purpose == "deposit" and invoice.appointment_id is not None:
        appointment = await session.get_one(Appointment, invoice.appointment_id, populate_existing=True)
        if appointment.status is AppointmentStatus.PENDING_PAYMENT:
            await booking.release_hold(session, appointment, invoices.utcnow())
        # The checkout is closed: no payment can come for this visit, so what was held for it is never sent.
        await mail.drop_held(session, [appointment.id])
    await invoices.recompute(session, invoice)


async def _settle_intent(session: AsyncSession, intent_id: str | None, metadata: dict[str, Any]) -> Payment | None:
    """Re-read the payment intent and move our payment forward to what it says."""
    payment = await _payment_for_intent(session, intent_id, metadata)
    if payment is None:
        return None
    intent = intent_id or payment.gateway_payment_intent
    if intent is None:
        return payment
    result = await get_gateway().retrieve_payment_intent(intent)
    invoice = await invoices.lock_invoice(session, payment.invoice_id)
    await session.refresh(payment)
    if not result.succeeded and payment.status is PaymentStatus.PENDING and _client_may_retry(payment, result.status):
        # The client is still on the hosted page and may try another card: not final (see module docstring).
        payment.failure_code = result.last_error_code
        payment.failure_message = (result.last_error_message or "")[:500] or None
    else:
        await payments.record_charge(session, invoice, payment, result)
    return payment


def _client_may_retry(payment: Payment, intent_status: str) -> bool:
    """A Checkout Session's payment intent back in `requires_payment_method` waits for the next card."""
    return payment.gateway_checkout_session is not None and intent_status == "requires_payment_method"


async def _on_intent_succeeded(session: AsyncSession, event: WebhookEvent) -> None:
    metadata = event.data.get("metadata") or {}
    payment = await _settle_intent(session, event.object_id, metadata)
    if payment is None and metadata.get("payment_id") and metadata.get("practice_id"):
        # Money arrived for a payment of ours we cannot find: never dropped silently (parked for the owner).
        raise NotFound("Money arrived for a payment that is not on record.", payment_id=str(metadata["payment_id"]))


async def _on_intent_failed(session: AsyncSession, event: WebhookEvent) -> None:
    await _settle_intent(session, event.object_id, event.data.get("metadata") or {})


async def _on_charge_refunded(session: AsyncSession, event: WebhookEvent) -> None:
    """Refunds at the gateway are final: ours move from pending to succeeded; one made elsewhere (the
    Stripe dashboard) is recorded with its credit line so the books match."""
    intent = event.data.get("payment_intent")
    payment = await _settle_intent(
        session, intent if isinstance(intent, str) else None, event.data.get("metadata") or {}
    )
    if payment is None or payment.status is not PaymentStatus.SUCCEEDED:
        return
    invoice = await invoices.lock_invoice(session, payment.invoice_id)
    await session.refresh(payment)
    for refund in await session.scalars(
        select(Refund).where(Refund.payment_id == payment.id, Refund.status == RefundStatus.PENDING)
    ):
        refund.status = RefundStatus.SUCCEEDED
    refunded_there = event.data.get("amount_refunded")
    if isinstance(refunded_there, int) and refunded_there > payment.refunded:
        extra = min(refunded_there, payment.amount) - payment.refunded
        session.add(
            Refund(
                payment_id=payment.id,
                amount=extra,
                reason="refunded at the payment processor",
                status=RefundStatus.SUCCEEDED,
                idempotency_key=f"external:{event.id}",
            )
        )
        payment.refunded += extra
        session.add(
            InvoiceLine(invoice_id=invoice.id, kind=LineKind.DISCOUNT, description="Refund", amount=-extra, quantity=1)
        )
    await invoices.recompute(session, invoice)


async def _on_dispute_created(session: AsyncSession, event: WebhookEvent) -> None:
    intent = event.data.get("payment_intent")
    payment = await _payment_for_intent(session, intent if isinstance(intent, str) else None, {})
    if payment is None or not event.object_id:
        return
    invoice = await session.get_one(Invoice, payment.invoice_id)
    payment.disputed = True
    exists = await session.scalar(select(ClientDispute.id).where(ClientDispute.gateway_dispute_id == event.object_id))
    if exists is None:
        amount = event.data.get("amount")
        reason = event.data.get("reason")
        session.add(
            ClientDispute(
                client_id=invoice.client_id,
                payment_id=payment.id,
                gateway_dispute_id=event.object_id,
                amount=amount if isinstance(amount, int) else payment.amount,
                reason=str(reason or "")[:100],
            )
        )
    await session.flush()


Handler = Callable[[AsyncSession, WebhookEvent], Awaitable[None]]
HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": _on_checkout_completed,
    "checkout.session.async_payment_succeeded": _on_checkout_completed,
    "checkout.session.expired": _on_checkout_expired,
    "payment_intent.succeeded": _on_intent_succeeded,
    "payment_intent.payment_failed": _on_intent_failed,
    "charge.refunded": _on_charge_refunded,
    "charge.dispute.created": _on_dispute_created,
}


async def handle_event(session: AsyncSession, event: WebhookEvent) -> str:
    """Apply one verified event once: "applied", "duplicate" (seen before), "ignored" (a type we do not use) or
    "parked" (it could not be applied: see the module docstring). Raises only what is worth Stripe's retry."""
    try:
        return await _apply(session, event)
    except RETRY_LATER:
        raise
    except Exception as exc:  # anything else is ours to follow up, never Stripe's to retry
        log.exception("webhook event parked", extra={"event_id": event.id, "type": event.type})
        await session.rollback()
        await parking.park(session, event, _reason(exc))
        return "parked"


async def _apply(session: AsyncSession, event: WebhookEvent) -> str:
    await invoices.write_lock(session)
    try:
        async with session.begin_nested():
            session.add(WebhookEventRow(event_id=event.id, type=event.type[:100]))
    except IntegrityError:
        await parking.resolve(session, event.id)
        return "duplicate"
    handler = HANDLERS.get(event.type)
    if handler is not None:
        await handler(session, event)
    await parking.resolve(session, event.id)
    await session.flush()
    return "applied" if handler is not None else "ignored"


# The processor or the database is unreachable or busy: a retry a minute later may well apply the event.
RETRY_LATER = (GatewayUnavailable, OperationalError, DisconnectionError, TimeoutError)


def _reason(exc: Exception) -> str:
    if isinstance(exc, IntegrityError):
        return f"refused by the database: {exc.orig}"[:500]
    if isinstance(exc, CarebookError):
        return f"{exc.code}: {exc.detail}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


async def is_disputed(session: AsyncSession, client_id: uuid.UUID) -> bool:
    return (await session.scalar(select(ClientDispute.id).where(ClientDispute.client_id == client_id))) is not None


async def invoice_of(session: AsyncSession, payment: Payment) -> Invoice:
    return await session.get_one(Invoice, payment.invoice_id)
