"""Invoices: the desk's checkout of a visit, lines, and totals that always equal the sums they stand for.

`total` is the sum of the lines; `paid` the succeeded payments less refunds not failed, up to `total`, and
`overpaid` whatever of that money is beyond `total` (see `billing.models`). They are recomputed from the rows
(never incremented) under the invoice's lock after every change, and the balance reaching 0 settles the
invoice (`billing.events.invoice_settled`); once that commits, the invoice's other open ways to pay are closed
(`billing.after_commit`, `billing.settlement.follow_up`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import events
from billing.after_commit import follow_up_after_commit
from billing.models import (
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from scheduler.booking.models import Appointment, AppointmentStatus
from scheduler.db import begin_write
from scheduler.errors import InvalidInput, InvalidTransition, NotFound, RuleViolation
from scheduler.practice.models import Practice, Service

# Kinds the desk adds by hand, and whether each counts for FSA/HSA unless told otherwise.
DESK_KINDS: dict[str, bool] = {
    "service": True,
    "addon": True,
    "retail": False,
    "tip": False,
    "discount": False,
    "fee": False,
}
MAX_LINE_AMOUNT = 10_000_000  # 100 000.00 in a two-decimal currency: larger is a typo
MAX_QUANTITY = 1000
CHECKOUT_STATUSES = {
    AppointmentStatus.PENDING_PAYMENT,
    AppointmentStatus.BOOKED,
    AppointmentStatus.ARRIVED,
    AppointmentStatus.COMPLETED,
    AppointmentStatus.NO_SHOW,
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def write_lock(session: AsyncSession) -> None:
    """Hold the database's write lock for a check-then-write (SQLite); a session that already wrote holds it."""
    if session.bind.dialect.name == "sqlite" and session.info.get("wrote"):
        return
    await begin_write(session)


async def lock_invoice(session: AsyncSession, invoice_id: uuid.UUID) -> Invoice:
    """The invoice, re-read under its row lock (PostgreSQL) / the write lock (SQLite)."""
    await write_lock(session)
    invoice = await session.scalar(
        select(Invoice).where(Invoice.id == invoice_id).with_for_update().execution_options(populate_existing=True)
    )
    if invoice is None:
        raise NotFound("No such invoice.", field="invoice_id")
    return invoice


async def get_invoice(session: AsyncSession, invoice_id: uuid.UUID) -> Invoice:
    invoice = await session.scalar(select(Invoice).where(Invoice.id == invoice_id))
    if invoice is None:
        raise NotFound("No such invoice.", field="invoice_id")
    return invoice


async def lines_of(session: AsyncSession, invoice: Invoice) -> list[InvoiceLine]:
    return list(
        await session.scalars(
            select(InvoiceLine)
            .where(InvoiceLine.invoice_id == invoice.id)
            .order_by(InvoiceLine.created_at, InvoiceLine.id)
        )
    )


async def payments_of(session: AsyncSession, invoice: Invoice) -> list[Payment]:
    return list(
        await session.scalars(
            select(Payment).where(Payment.invoice_id == invoice.id).order_by(Payment.created_at, Payment.id)
        )
    )


async def recompute(session: AsyncSession, invoice: Invoice) -> Invoice:
    """Set total and paid from the rows; settle the invoice when its balance reaches 0 (once)."""
    await session.flush()
    total = await session.scalar(
        select(func.coalesce(func.sum(InvoiceLine.amount * InvoiceLine.quantity), 0)).where(
            InvoiceLine.invoice_id == invoice.id
        )
    )
    received = await session.scalar(
        select(func.coalesce(func.sum(Payment.amount), 0)).where(
            Payment.invoice_id == invoice.id, Payment.status == PaymentStatus.SUCCEEDED
        )
    )
    returned = await session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0))
        .join(Payment, Payment.id == Refund.payment_id)
        .where(Payment.invoice_id == invoice.id, Refund.status != RefundStatus.FAILED)
    )
    invoice.total = int(total or 0)
    held = int(received or 0) - int(returned or 0)
    if invoice.status is InvoiceStatus.VOID:
        invoice.paid, invoice.overpaid = held, 0
        return invoice
    # Money beyond the total is never refused (it moved); it is kept apart, and refunded by whoever recorded
    # it (`billing.settlement.payment_succeeded`).
    invoice.paid = min(held, invoice.total)
    invoice.overpaid = max(held - invoice.total, 0)
    if invoice.balance == 0 and invoice.total > 0 and invoice.status is InvoiceStatus.OPEN:
        invoice.status = InvoiceStatus.PAID
        invoice.settled_at = utcnow()
        await session.flush()
        await events.invoice_settled(session, invoice)
        follow_up_after_commit(session, invoice.practice_id, invoice.id)
    elif invoice.balance != 0 and invoice.status is InvoiceStatus.PAID:
        invoice.status = InvoiceStatus.OPEN  # a tip added after payment reopens it
    await session.flush()
    await events.invoice_recomputed(session, invoice)
    return invoice


async def invoice_for_appointment(session: AsyncSession, appointment_id: uuid.UUID) -> Invoice | None:
    invoice: Invoice | None = await session.scalar(select(Invoice).where(Invoice.appointment_id == appointment_id))
    return invoice


# A visit's invoice is the client's to pay once the visit has happened (or been missed, or cancelled late with a fee):
# before that its money is a deposit (the hold's own checkout) or taken at checkout, and money paid ahead on an
# upcoming visit would be stranded by a cancellation.
DUE_AFTER = (AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW, AppointmentStatus.CANCELLED)


def due_from_client(invoice: Invoice, appointment: Appointment | None) -> bool:
    """Whether the client may pay the invoice's balance themselves ("Pay now"): open, something owed, and no
    visit still to come."""
    if invoice.status is not InvoiceStatus.OPEN or invoice.balance <= 0:
        return False
    return appointment is None or appointment.status in DUE_AFTER


async def open_with_balance(session: AsyncSession, client_id: uuid.UUID) -> list[Invoice]:
    """The client's open invoices that still have something to pay and are due (`due_from_client`), oldest first."""
    rows = (
        await session.execute(
            select(Invoice, Appointment)
            .outerjoin(Appointment, Appointment.id == Invoice.appointment_id)
            .where(Invoice.client_id == client_id, Invoice.status == InvoiceStatus.OPEN)
            .order_by(Invoice.created_at)
        )
    ).all()
    return [invoice for invoice, appointment in rows if due_from_client(invoice, appointment)]


async def open_for_appointment(
    session: AsyncSession, practice: Practice, appointment: Appointment, *, with_service_line: bool = True
) -> Invoice:
    """The visit's invoice, created on first use with the service line (price of the booked service).
    Call under the write lock."""
    invoice = await invoice_for_appointment(session, appointment.id)
    if invoice is not None:
        return invoice
    invoice = Invoice(
        appointment_id=appointment.id,
        client_id=appointment.client_id,
        currency=practice.currency,
        status=InvoiceStatus.OPEN,
        total=0,
        paid=0,
    )
    session.add(invoice)
    await session.flush()
    if with_service_line:
        await _add_service_line(session, practice, invoice, appointment)
    return await recompute(session, invoice)


async def _add_service_line(
    session: AsyncSession, practice: Practice, invoice: Invoice, appointment: Appointment
) -> None:
    """The visit itself: its service at list price, dated on the practice's calendar (the caller recomputes)."""
    service = await session.get_one(Service, appointment.service_id)
    session.add(
        InvoiceLine(
            invoice_id=invoice.id,
            kind=LineKind.SERVICE,
            description=service.name,
            amount=service.price,
            quantity=1,
            fsa_eligible=service.fsa_eligible,
            service_date=appointment.start_at.astimezone(ZoneInfo(practice.timezone)).date(),
            minutes=service.duration_minutes,
            cpt_code=service.cpt_code,
        )
    )


async def checkout(session: AsyncSession, practice: Practice, appointment: Appointment) -> Invoice:
    """The desk checks a visit out: its invoice with the service line and any deposit already paid. A cancelled
    or missed visit's invoice is shown as it stands (its fee, its deposit to refund); no service line is added."""
    await write_lock(session)
    await session.refresh(appointment)
    if appointment.status is AppointmentStatus.CANCELLED:
        existing = await invoice_for_appointment(session, appointment.id)
        if existing is not None:
            return existing
        raise InvalidTransition(
            "Nothing was charged for this cancelled appointment: it has no invoice.",
            appointment_status=appointment.status.value,
        )
    if appointment.status not in CHECKOUT_STATUSES:
        raise InvalidTransition(
            f"A {appointment.status.value.replace('_', ' ')} appointment cannot be checked out.",
            appointment_status=appointment.status.value,
        )
    if appointment.status is AppointmentStatus.NO_SHOW:
        return await _missed_visit_invoice(session, practice, appointment)
    invoice = await open_for_appointment(session, practice, appointment)
    has_service = await session.scalar(
        select(func.count())
        .select_from(InvoiceLine)
        .where(InvoiceLine.invoice_id == invoice.id, InvoiceLine.kind == LineKind.SERVICE)
    )
    if not has_service:  # an invoice opened for a fee only: the visit itself is added now
        await _add_service_line(session, practice, invoice, appointment)
        await recompute(session, invoice)
    return invoice


async def _missed_visit_invoice(session: AsyncSession, practice: Practice, appointment: Appointment) -> Invoice:
    """A no-show's invoice as billing left it (its fee, or void): the massage that did not happen is never added.
    A no-show with no fee and no deposit has none yet: it gets a void one, so the desk sees nothing is owed."""
    existing = await invoice_for_appointment(session, appointment.id)
    if existing is not None:
        return existing
    invoice = await open_for_appointment(session, practice, appointment, with_service_line=False)
    return await close_for_cancelled_visit(session, invoice)


@dataclass(frozen=True)
class NewLine:
    """A line the desk adds. `fsa_eligible` None takes the kind's default (`DESK_KINDS`). A discount reduces the
    line it `applies_to` (the visit's service line, say), or, naming none, every line pro rata by amount: each
    line's receipt shows its amount after discount (`billing.discounts`)."""

    kind: str
    description: str
    amount: int
    quantity: int = 1
    fsa_eligible: bool | None = None
    applies_to: uuid.UUID | None = None


def check_line(line: NewLine) -> None:
    """The desk's line, checked before anything is written (pure)."""
    if line.kind not in DESK_KINDS:
        raise InvalidInput(f"Line kind is one of {', '.join(DESK_KINDS)}.", field="kind")
    if not line.description.strip():
        raise InvalidInput("Describe the line.", field="description")
    if len(line.description) > 200:
        raise InvalidInput("At most 200 characters.", field="description")
    if not 1 <= line.quantity <= MAX_QUANTITY:
        raise InvalidInput(f"Quantity is 1 to {MAX_QUANTITY}.", field="quantity")
    if abs(line.amount) > MAX_LINE_AMOUNT:
        raise InvalidInput("That amount is too large.", field="amount")
    if line.kind == "discount":
        if line.amount >= 0:
            raise InvalidInput("A discount is a negative amount.", field="amount")
    elif line.amount <= 0:
        raise InvalidInput("The amount is a positive number of minor units (cents).", field="amount")
    if line.applies_to is not None and line.kind != "discount":
        raise InvalidInput("Only a discount applies to another line.", field="applies_to_line_id")


async def add_line(session: AsyncSession, invoice_id: uuid.UUID, line: NewLine) -> Invoice:
    invoice = await lock_invoice(session, invoice_id)
    check_line(line)
    if invoice.status is InvoiceStatus.VOID:
        raise InvalidTransition("A void invoice takes no lines.", invoice_status=invoice.status.value)
    new_total = invoice.total + line.amount * line.quantity
    if new_total < invoice.paid:
        raise RuleViolation(
            "A discount cannot bring the total below what was already paid; refund instead.",
            rule="below_paid",
            field="amount",
        )
    fsa = DESK_KINDS[line.kind] if line.fsa_eligible is None else line.fsa_eligible
    if line.applies_to is not None:
        target = await session.scalar(
            select(InvoiceLine).where(InvoiceLine.id == line.applies_to, InvoiceLine.invoice_id == invoice.id)
        )
        if target is None or target.total <= 0 or target.credits_line_id is not None:
            raise NotFound("No such charge on this invoice to discount.", field="applies_to_line_id")
        if -line.amount * line.quantity > target.total:
            raise InvalidInput(
                "A discount on one line is at most that line's amount.", field="amount", line_total=target.total
            )
    session.add(
        InvoiceLine(
            invoice_id=invoice.id,
            kind=LineKind(line.kind),
            description=line.description.strip(),
            amount=line.amount,
            quantity=line.quantity,
            fsa_eligible=fsa,
            credits_line_id=line.applies_to,
        )
    )
    return await recompute(session, invoice)


# --- a visit that did not happen -------------------------------------------------------------------------------

CARE_KINDS = (LineKind.SERVICE, LineKind.ADDON)
CANCELLED_PREFIX = "Cancelled: "


async def close_for_cancelled_visit(session: AsyncSession, invoice: Invoice, *, keep: int = 0) -> Invoice:
    """Settle the books of a visit that did not happen (cancelled, released, a no-show), under the invoice's lock:
    its care lines (service, add-ons) get credit lines "Cancelled: …" for what the invoice still charges beyond
    its fees (a refund the desk already credited against the visit is not credited twice), so the total is what
    is still owed for it — its fees. With no fee the invoice ends `void` (nothing owed; any money taken is
    refunded, which its payments' refunds show); with a fee it is paid once the fee is. Idempotent.

    `keep`: money the client paid ahead for the care at the desk, which the desk decides about (refund it, or keep
    it): that much of the care stays charged, so the invoice is neither overpaid nor owing more than its fees."""
    lines = await lines_of(session, invoice)
    credited = {line.credits_line_id for line in lines if line.description.startswith(CANCELLED_PREFIX)}
    owed = sum(line.total for line in lines if line.kind is LineKind.FEE)
    excess = sum(line.total for line in lines) - owed - keep
    for line in lines:
        if excess <= 0:
            break
        if line.kind not in CARE_KINDS or line.total <= 0 or line.credits_line_id is not None or line.id in credited:
            continue
        credit = min(line.total, excess)
        excess -= credit
        session.add(
            InvoiceLine(
                invoice_id=invoice.id,
                kind=line.kind,
                description=f"{CANCELLED_PREFIX}{line.description}"[:200],
                amount=-credit,
                quantity=1,
                fsa_eligible=line.fsa_eligible,
                service_date=line.service_date,
                credits_line_id=line.id,
            )
        )
    if owed <= 0 and keep <= 0:
        invoice.status = InvoiceStatus.VOID
    await recompute(session, invoice)
    if invoice.status is not InvoiceStatus.VOID and invoice.total <= 0 and invoice.paid <= 0:
        invoice.status = InvoiceStatus.VOID  # its fee was waived and given back: nothing owed, nothing kept
        await session.flush()
    return invoice


async def reopen_for_reinstated_visit(session: AsyncSession, invoice: Invoice) -> Invoice:
    """A released visit was put back (its deposit came late but its time was still free): its care lines are
    owed again — the "Cancelled: …" credits `close_for_cancelled_visit` wrote are removed — and it is open."""
    for line in await lines_of(session, invoice):
        if (
            line.kind in CARE_KINDS
            and line.credits_line_id is not None
            and line.description.startswith(CANCELLED_PREFIX)
        ):
            await session.delete(line)
    await recompute(session, invoice)  # totals first: a void invoice may hold the deposit its lines now owe
    if invoice.status is InvoiceStatus.VOID:
        invoice.status = InvoiceStatus.OPEN
        invoice.settled_at = None
        await recompute(session, invoice)
    return invoice
