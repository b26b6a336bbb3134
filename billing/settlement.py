"""A late success is never lost: what follows money settling an invoice, and money arriving after it did.

Stripe lets a client pay until a Checkout Session is expired, and a charge whose answer was lost may have
gone through, so between "the invoice is settled" and Stripe's answer to our cancel, money can still come.
This module owns the two halves of that rule:

- **money that arrives is recorded** (`payment_succeeded`, under the invoice's lock, in the caller's
  transaction): the payment succeeds whatever the invoice's state; whatever it brings beyond the total is
  written as a pending *overpayment refund* of that payment (key `overpayment_refund:<payment id>`, no credit
  line — the visit's price did not change) and the invoice is noted for follow-up;
- **after the commit** (`follow_up`, run from `billing.after_commit`'s queue): a settled invoice's other
  pending payments are closed at the processor — the Checkout Session expired (`expire:<payment id>`), the
  unconfirmed PaymentIntent cancelled (`cancel:<payment id>`) — and marked failed `superseded` once the
  processor confirms nothing can come through them; pending overpayment refunds are sent (their key was
  committed with the row) and the client is e-mailed that the money is on its way back.

No gateway call here runs inside a transaction: each follow-up reads, ends the read, calls, then writes in a
new transaction under the invoice's lock, re-checking what it read. A call that fails (network) leaves the row
as it was; the next follow-up or `carebook stripe reconcile` (`sweep`) sends the same key again, and a late
success that slips through is recorded and refunded by the first half.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import invoices
from billing.after_commit import FollowUp, follow_up_after_commit, take_committed
from billing.gateway import GatewayUnavailable, PaymentError
from billing.models import (
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from billing.money import format_money
from billing.runtime import get_gateway
from scheduler.clients.models import Client
from scheduler.db import scope_session, session_scope, unscoped
from scheduler.mail import services as mail
from scheduler.practice.models import Practice

log = logging.getLogger(__name__)

SUPERSEDED = "superseded"
SUPERSEDED_MESSAGE = "Not needed: the invoice was settled by another payment."
OVERPAYMENT_REASON = "Paid twice: the invoice was already settled"
# Payments that are taken through the processor and so can arrive after the invoice was settled.
GATEWAY_METHODS = {PaymentMethod.CARD_ON_FILE, PaymentMethod.PAY_LINK, PaymentMethod.ONLINE_DEPOSIT}


def overpayment_key(payment: Payment) -> str:
    return f"overpayment_refund:{payment.id}"


async def payment_succeeded(session: AsyncSession, invoice: Invoice, payment: Payment) -> None:
    """`payment` has just moved to succeeded (under the invoice's lock): recompute the invoice, and give back
    what the payment brought beyond its total. Idempotent: the refund's key is derived from the payment."""
    await invoices.recompute(session, invoice)
    if invoice.overpaid <= 0 or payment.status is not PaymentStatus.SUCCEEDED or not payment.gateway_payment_intent:
        return
    key = overpayment_key(payment)
    if await session.scalar(select(Refund.id).where(Refund.idempotency_key == key)) is not None:
        return  # given back once already; any excess left (the refund failed) is the desk's to settle
    amount = min(invoice.overpaid, payment.refundable)
    if amount <= 0:
        return
    # The id is derived from the key too, so a retry after a rollback writes the same row and sends the same
    # metadata under the same key.
    refund = Refund(
        payment_id=payment.id,
        amount=amount,
        reason=OVERPAYMENT_REASON,
        status=RefundStatus.PENDING,
        idempotency_key=key,
        overpayment=True,
    )
    refund.id = uuid.uuid5(payment.id, key)
    session.add(refund)
    payment.refunded += amount
    await invoices.recompute(session, invoice)
    # The client is told in the transaction that decides the refund, so exactly once: told later, when the refund
    # is sent, the `charge.refunded` webhook could record it first and the sender would find nothing left to do.
    await _tell_the_client(session, invoice, payment, refund)
    follow_up_after_commit(session, invoice.practice_id, invoice.id)
    log.warning(
        "money received twice: refunding the excess",
        extra={"invoice_id": str(invoice.id), "payment_id": str(payment.id), "amount": amount},
    )


# --- after the commit ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Open:
    """A pending payment of a settled invoice, as read before calling the processor."""

    payment_id: uuid.UUID
    checkout_session: str | None
    payment_intent: str | None


@dataclass(frozen=True)
class _Unsent:
    refund_id: uuid.UUID
    key: str
    amount: int
    payment_intent: str


async def run_committed(config: SQLAlchemyAsyncConfig) -> None:
    """Follow up every invoice noted by transactions that have committed (see `billing.after_commit`)."""
    for note in take_committed():
        try:
            await follow_up(config, note)
        except Exception:
            # Never a failed response or a stopped reconcile: the row is as it was, and the sweep comes back to it.
            log.exception("follow-up of a settled invoice failed", extra={"invoice_id": str(note.invoice_id)})


async def follow_up(config: SQLAlchemyAsyncConfig, note: FollowUp) -> None:
    """Close a settled invoice's other ways to pay and send its pending overpayment refunds (see module doc)."""
    async with session_scope(config) as session:
        scope_session(session, note.practice_id)
        invoice = await session.get(Invoice, note.invoice_id)
        if invoice is None:
            return
        still_open = await _still_open(session, invoice) if invoice.status is InvoiceStatus.PAID else []
        unsent = await _unsent_refunds(session, invoice)
    for item in still_open:
        await _close(config, note, item)
    for refund in unsent:
        await _send_overpayment_refund(config, note, refund)


async def _still_open(session: AsyncSession, invoice: Invoice) -> list[_Open]:
    rows = await session.scalars(
        select(Payment).where(
            Payment.invoice_id == invoice.id,
            Payment.status == PaymentStatus.PENDING,
            Payment.method.in_(GATEWAY_METHODS),
        )
    )
    return [_Open(p.id, p.gateway_checkout_session, p.gateway_payment_intent) for p in rows]


async def _unsent_refunds(session: AsyncSession, invoice: Invoice) -> list[_Unsent]:
    rows = await session.execute(
        select(Refund, Payment.gateway_payment_intent)
        .join(Payment, Payment.id == Refund.payment_id)
        .where(
            Payment.invoice_id == invoice.id,
            Refund.overpayment.is_(True),
            Refund.status == RefundStatus.PENDING,
            Refund.gateway_refund_id.is_(None),
        )
    )
    return [_Unsent(refund.id, refund.idempotency_key, refund.amount, intent) for refund, intent in rows if intent]


async def _close(config: SQLAlchemyAsyncConfig, note: FollowUp, item: _Open) -> None:
    """Expire the payment's Checkout Session or cancel its PaymentIntent; mark it superseded once the processor
    says nothing can come through it. Paid meanwhile (`complete`, `succeeded`): left for the success to land."""
    gateway = get_gateway()
    try:
        if item.checkout_session:
            answer = await gateway.expire_checkout_session(f"expire:{item.payment_id}", item.checkout_session)
            closed = answer.status == "expired"
        elif item.payment_intent:
            intent = await gateway.cancel_payment_intent(f"cancel:{item.payment_id}", item.payment_intent)
            closed = intent.status == "canceled"
        else:
            # Nothing reached the processor that we know of (a charge whose answer was lost): there is nothing to
            # cancel. If it did charge, its success arrives by webhook or reconcile and is refunded as above.
            closed = True
    except (GatewayUnavailable, PaymentError) as exc:
        log.warning("could not close a pay link of a settled invoice: %s", exc.code, extra={"payment": str(item)})
        return
    if not closed:
        return
    async with session_scope(config) as session:
        scope_session(session, note.practice_id)
        invoice = await invoices.lock_invoice(session, note.invoice_id)
        payment = await session.get_one(Payment, item.payment_id, populate_existing=True)
        if payment.status is not PaymentStatus.PENDING or invoice.status is not InvoiceStatus.PAID:
            return
        payment.status = PaymentStatus.FAILED
        payment.failure_code = SUPERSEDED
        payment.failure_message = SUPERSEDED_MESSAGE
        await session.flush()


async def _send_overpayment_refund(config: SQLAlchemyAsyncConfig, note: FollowUp, unsent: _Unsent) -> None:
    try:
        result = await get_gateway().refund(
            unsent.key,
            payment_intent=unsent.payment_intent,
            amount=unsent.amount,
            metadata={"practice_id": str(note.practice_id), "refund_id": str(unsent.refund_id)},
            reason="duplicate",
        )
    except GatewayUnavailable:
        return  # still pending with its key: the next follow-up or the sweep sends the same key
    except PaymentError as exc:
        log.warning("the processor refused an overpayment refund: %s", exc.code, extra={"refund": str(unsent)})
        status, gateway_id = "failed", None
    else:
        status, gateway_id = result.status, result.id
    async with session_scope(config) as session:
        scope_session(session, note.practice_id)
        invoice = await invoices.lock_invoice(session, note.invoice_id)
        refund = await session.get_one(Refund, unsent.refund_id, populate_existing=True)
        if refund.status is not RefundStatus.PENDING or refund.gateway_refund_id is not None:
            return  # recorded already (charge.refunded, another process)
        payment = await session.get_one(Payment, refund.payment_id, populate_existing=True)
        if status in {"failed", "canceled"}:
            # The money stays with the practice: the invoice shows it as overpaid for the desk to give back.
            refund.status = RefundStatus.FAILED
            payment.refunded -= refund.amount
            await invoices.recompute(session, invoice)
            return
        refund.gateway_refund_id = gateway_id
        if status == "succeeded":
            refund.status = RefundStatus.SUCCEEDED
        await invoices.recompute(session, invoice)


async def _tell_the_client(session: AsyncSession, invoice: Invoice, payment: Payment, refund: Refund) -> None:
    practice = await session.get_one(Practice, invoice.practice_id)
    client = await session.get_one(Client, invoice.client_id)
    card = f"{(payment.card_brand or 'card').title()} •••• {payment.card_last4}" if payment.card_last4 else "card"
    body = mail.render(
        "overpayment_refunded.txt",
        first_name=client.first_name,
        practice={"name": practice.name, "phone": practice.phone},
        amount=format_money(refund.amount, payment.currency),
        paid=format_money(payment.amount, payment.currency),
        card=card,
    )
    await mail.enqueue(
        session,
        to=client.email,
        subject=f"{practice.name}: you paid twice — {format_money(refund.amount, payment.currency)} is on its way back",
        body_text=body,
        kind="overpayment_refund",
        practice_id=practice.id,
    )


async def sweep(config: SQLAlchemyAsyncConfig) -> int:
    """Follow up every invoice with an unsent overpayment refund or, settled, a payment still pending (what a
    process that stopped between its commit and its follow-up left behind). Returns how many were looked at."""
    async with session_scope(config) as session:
        with unscoped(session):
            notes = await _needing_follow_up(session)
    for note in notes:
        await follow_up(config, note)
    return len(notes)


async def _needing_follow_up(session: AsyncSession) -> list[FollowUp]:
    refunds = await session.execute(
        select(Invoice.practice_id, Invoice.id)
        .join(Payment, Payment.invoice_id == Invoice.id)
        .join(Refund, Refund.payment_id == Payment.id)
        .where(
            Refund.overpayment.is_(True),
            Refund.status == RefundStatus.PENDING,
            Refund.gateway_refund_id.is_(None),
        )
    )
    pending = await session.execute(
        select(Invoice.practice_id, Invoice.id)
        .join(Payment, Payment.invoice_id == Invoice.id)
        .where(
            Invoice.status == InvoiceStatus.PAID,
            Payment.status == PaymentStatus.PENDING,
            Payment.method.in_(GATEWAY_METHODS),
        )
    )
    return list({FollowUp(practice_id, invoice_id): None for practice_id, invoice_id in [*refunds, *pending]})
