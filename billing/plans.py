"""Paying for a treatment plan's series: per visit at the desk, the saved card charged as each occurrence
is completed, or a session of a package bought for the plan drawn as each is completed.

Runs from the `on_status_change` hook when a visit becomes `completed`. The charge's idempotency key is
`visit:<appointment id>` (one charge per occurrence, however often the visit is marked completed or the
request retried); the completing transaction only writes it, pending, and it is sent once that transaction has
committed (`billing.card_charges`). A package draw is once per occurrence by the redemption's unique (purchase,
visit). A charge that fails leaves the visit's invoice open for the desk, with the failure on its payment.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import card_charges, invoices, packages, payments, saved_cards
from billing.models import (
    Invoice,
    PackagePurchase,
    Payment,
    PaymentMethod,
    PaymentStatus,
    PlanBilling,
    PlanPaymentMode,
)
from scheduler.booking.models import Appointment
from scheduler.errors import InvalidInput, NotFound, RuleViolation
from scheduler.plans.models import TreatmentPlan
from scheduler.practice.models import Practice

log = logging.getLogger(__name__)


def plan_of(appointment: Appointment) -> uuid.UUID | None:
    """The treatment plan a visit belongs to (a series occurrence carries its plan)."""
    return appointment.plan_id


@dataclass(frozen=True)
class PlanBillingIn:
    mode: str
    package_purchase_id: uuid.UUID | None = None


async def get_plan_billing(session: AsyncSession, plan_id: uuid.UUID) -> PlanBilling | None:
    row: PlanBilling | None = await session.scalar(select(PlanBilling).where(PlanBilling.plan_id == plan_id))
    return row


async def list_plan_billing(session: AsyncSession) -> list[PlanBilling]:
    return list(await session.scalars(select(PlanBilling).order_by(PlanBilling.created_at)))


async def set_plan_billing(session: AsyncSession, plan_id: uuid.UUID, data: PlanBillingIn) -> PlanBilling:
    try:
        mode = PlanPaymentMode(data.mode)
    except ValueError:
        raise InvalidInput("Mode is per_visit, auto_charge or package.", field="mode") from None
    if await session.scalar(select(TreatmentPlan.id).where(TreatmentPlan.id == plan_id)) is None:
        raise NotFound("No such treatment plan.", field="plan_id")
    if mode is PlanPaymentMode.PACKAGE:
        if data.package_purchase_id is None:
            raise InvalidInput("Name the package bought for this plan.", field="package_purchase_id")
        purchase = await session.scalar(select(PackagePurchase).where(PackagePurchase.id == data.package_purchase_id))
        if purchase is None:
            raise NotFound("No such package purchase.", field="package_purchase_id")
        purchase.plan_id = plan_id
    row = await get_plan_billing(session, plan_id)
    if row is None:
        row = PlanBilling(plan_id=plan_id)
        session.add(row)
    row.mode = mode
    row.package_purchase_id = data.package_purchase_id if mode is PlanPaymentMode.PACKAGE else None
    await session.flush()
    return row


async def visit_completed(session: AsyncSession, appointment: Appointment) -> None:
    plan_id = plan_of(appointment)
    if plan_id is None:
        return
    billing = await get_plan_billing(session, plan_id)
    if billing is None or billing.mode is PlanPaymentMode.PER_VISIT:
        return
    practice = await session.get_one(Practice, appointment.practice_id)
    await invoices.write_lock(session)
    invoice = await invoices.open_for_appointment(session, practice, appointment)
    if invoice.balance <= 0:
        return
    if billing.mode is PlanPaymentMode.PACKAGE:
        await _draw_from_package(session, invoice, appointment)
    else:
        await _charge_visit(session, invoice, appointment)


async def _draw_from_package(session: AsyncSession, invoice: Invoice, appointment: Appointment) -> None:
    already = await session.scalar(
        select(Payment.id).where(Payment.invoice_id == invoice.id, Payment.method == PaymentMethod.PACKAGE)
    )
    if already is not None:
        return
    payment = Payment(
        invoice_id=invoice.id,
        method=PaymentMethod.PACKAGE,
        amount=invoice.balance,
        currency=invoice.currency,
        status=PaymentStatus.PENDING,
        refunded=0,
        purpose="plan_visit",
    )
    session.add(payment)
    await session.flush()
    try:  # a session of the plan's package that covers this visit's service, at the session's share
        await packages.pay_visit_with_session(session, invoice, payment, appointment, plan_id=plan_of(appointment))
    except RuleViolation:
        await session.delete(payment)  # the plan's package is used up: the desk takes payment instead
        await session.flush()
        log.info("plan package used up", extra={"invoice_id": str(invoice.id)})
        return
    payment.status = PaymentStatus.SUCCEEDED
    await invoices.recompute(session, invoice)


async def _charge_visit(session: AsyncSession, invoice: Invoice, appointment: Appointment) -> None:
    """Write the visit's charge to the saved card, pending: it is sent once the completing transaction has
    committed (`billing.card_charges`), never inside it."""
    key = f"visit:{appointment.id}"
    if await session.scalar(select(Payment.id).where(Payment.idempotency_key == key)) is not None:
        return
    card = saved_cards.on_file(await payments.customer_for(session, appointment.client_id))
    if card is None:
        log.info("plan visit left for the desk: no saved card", extra={"invoice_id": str(invoice.id)})
        return
    card_charges.write_pending(session, invoice, card, amount=invoice.balance, purpose="plan_visit", key=key)
    await session.flush()
