"""When billing and the schedule say so, issue documents: the link between invoices and issued documents.

- A visit's **receipt** once the visit is completed AND its invoice settled, whichever comes second
  (`invoice_settled` and the booking status hook both call `receipt_when_due`).
- A **payment acknowledgement** ("not a medical receipt") for each payment taken before care: a deposit,
  a visit paid before it is completed, a package or gift card bought.
- A **credit note** for each refund that succeeds after the receipt was issued; the receipt never changes.
  Refunds made before the receipt are already on it as credit lines.

Every issue is idempotent (looked up by subject first), so a hook that fires twice issues once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.discounts import Discount, allocate
from billing.documents import services
from billing.documents.models import IssuedDocument
from billing.documents.numbering import lock_counter
from billing.documents.services import DocumentLinks, client_party, practice_party
from billing.documents.snapshot import DocumentKind, DocumentLine, DocumentSnapshot, LineKind, LmnReference, Tender
from billing.models import (
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Package,
    PackagePurchase,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from billing.models import LineKind as BillingLineKind
from billing.money import format_money
from scheduler.booking.models import Appointment, AppointmentSeries, AppointmentStatus
from scheduler.clients.models import Client
from scheduler.format import format_date
from scheduler.plans.models import LetterOfMedicalNecessity, TreatmentPlan
from scheduler.practice.models import Practice, Therapist

FEE_PURPOSES = frozenset({"no_show_fee", "late_cancel_fee"})
FEE_LINE_KINDS = frozenset({LineKind.FEE, LineKind.NO_SHOW_FEE, LineKind.LATE_CANCEL_FEE})
# Billing writes these descriptions on the fee lines it adds for a missed or late-cancelled visit.
FEE_KINDS = {"No-show fee": LineKind.NO_SHOW_FEE, "Late-cancel fee": LineKind.LATE_CANCEL_FEE}
_LINE_KINDS = {
    BillingLineKind.SERVICE: LineKind.SERVICE,
    BillingLineKind.ADDON: LineKind.ADDON,
    BillingLineKind.RETAIL: LineKind.RETAIL,
    BillingLineKind.TIP: LineKind.TIP,
    BillingLineKind.DISCOUNT: LineKind.DISCOUNT,
    BillingLineKind.FEE: LineKind.FEE,
    BillingLineKind.PACKAGE: LineKind.PACKAGE,
    BillingLineKind.DEPOSIT: LineKind.DEPOSIT,
}


def document_line(line: InvoiceLine, service_date: dt.date, by_id: dict[uuid.UUID, InvoiceLine]) -> DocumentLine:
    """An invoice line as a document prints it. A refund's credit line keeps the eligibility of the line it
    gives back; a refund naming no line counts against the eligible amount (never claim money returned)."""
    kind = _LINE_KINDS[line.kind]
    eligible = line.fsa_eligible
    if line.kind is BillingLineKind.FEE:
        kind = FEE_KINDS.get(line.description, LineKind.FEE)
    if is_refund_credit(line):
        credited = by_id.get(line.credits_line_id) if line.credits_line_id else None
        kind = LineKind.REFUND if credited is None or credited.kind is not BillingLineKind.RETAIL else kind
        eligible = credited.fsa_eligible if credited is not None else True
    return DocumentLine(
        service_date=line.service_date or service_date,
        description=line.description,
        amount=line.amount * line.quantity,
        kind=kind,
        fsa_eligible=eligible,
        minutes=line.minutes,
        cpt_code=line.cpt_code,
        quantity=line.quantity,
    )


def is_refund_credit(line: InvoiceLine) -> bool:
    """A credit line a refund wrote ("Refund", "Refund: <line>"): money given back, printed as such."""
    return line.amount < 0 and line.description.startswith("Refund")


def _is_discount(line: InvoiceLine) -> bool:
    return line.kind is BillingLineKind.DISCOUNT and line.amount < 0 and not is_refund_credit(line)


def _reducible(line: InvoiceLine) -> bool:
    return line.kind is not BillingLineKind.DISCOUNT and line.credits_line_id is None and line.total > 0


def document_lines(lines: Sequence[InvoiceLine], service_date: dt.date, currency: str) -> list[DocumentLine]:
    """The invoice's lines as a document prints them: every discount folded into the lines it reduces
    (`billing.discounts`: a named line, else pro rata by amount), so each line shows what was paid for it and
    the eligible subtotal is never more than the money paid for eligible care. A discount with nothing left
    to reduce stays a line of its own, counted against the eligible amount."""
    by_id = {line.id: line for line in lines}
    discounts = [
        Discount(key=line.id, amount=-line.total, applies_to=line.credits_line_id)
        for line in lines
        if _is_discount(line)
    ]
    after, unplaced = allocate([(line.id, line.total) for line in lines if _reducible(line)], discounts)
    labels = {
        target: line.description
        for line in lines
        if _is_discount(line) and (target := line.credits_line_id) is not None
    }
    printed = []
    for line in lines:
        if _is_discount(line):
            continue
        shown = document_line(line, service_date, by_id)
        if line.id in after and after[line.id] != line.total:
            taken = line.total - after[line.id]
            named = labels.get(line.id, "discount")
            label = named[:1].lower() + named[1:]
            listed, less = format_money(line.total, currency), format_money(taken, currency)
            shown = dataclasses.replace(
                shown,
                amount=after[line.id],
                discount=taken,
                discount_note=f"list {listed}, less {less} {label}",
            )
        printed.append(shown)
    if unplaced:
        printed.append(
            DocumentLine(service_date=service_date, description="Discount", amount=-unplaced, kind=LineKind.DISCOUNT)
        )
    return printed


def tender(payment: Payment, paid_on: dt.date | None = None, detail: str = "") -> Tender:
    brand = payment.card_brand if payment.card_last4 else None
    method = {PaymentMethod.PACKAGE: "package session", PaymentMethod.CREDIT: "account credit"}.get(
        payment.method, payment.method.value
    )
    last4 = payment.card_last4 if payment.card_last4 and payment.card_last4.isdigit() else None
    return Tender(
        method=method,
        amount=payment.amount - payment.refunded,
        card_brand=brand,
        card_last4=last4,
        paid_on=paid_on,
        detail=detail,
    )


async def tenders_of(session: AsyncSession, practice: Practice, payments: Sequence[Payment]) -> list[Tender]:
    """Each payment as a tender dated on the practice's calendar; a package session names the package, the day
    it was bought and the acknowledgement (or receipt) that was issued for it."""
    zone = _zone(practice)
    out = []
    for payment in payments:
        detail = ""
        if payment.package_purchase_id is not None:
            detail = await package_tender_text(session, zone, payment.package_purchase_id)
        out.append(tender(payment, payment.created_at.astimezone(zone).date(), detail))
    return out


async def package_tender_text(session: AsyncSession, zone: ZoneInfo, purchase_id: uuid.UUID) -> str:
    """'Package Five massages, bought March 2, 2026, PA-000003'."""
    purchase = await session.get_one(PackagePurchase, purchase_id)
    package = await session.get_one(Package, purchase.package_id)
    bought = purchase.created_at.astimezone(zone).date()
    text = f"Package {package.name}, bought {format_date(bought)}"
    if purchase.invoice_id is not None:
        number = await session.scalar(
            select(IssuedDocument.number)
            .where(
                IssuedDocument.invoice_id == purchase.invoice_id,
                IssuedDocument.kind.in_([DocumentKind.PAYMENT_ACK, DocumentKind.RECEIPT]),
            )
            .order_by(IssuedDocument.kind == DocumentKind.RECEIPT, IssuedDocument.seq)
            .limit(1)
        )
        if number:
            text += f", {number}"
    return text


async def _rows(session: AsyncSession, invoice: Invoice) -> tuple[list[InvoiceLine], list[Payment], list[Refund]]:
    lines = list(
        await session.scalars(
            select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id).order_by(InvoiceLine.created_at)
        )
    )
    payments = list(
        await session.scalars(
            select(Payment)
            .where(Payment.invoice_id == invoice.id, Payment.status == PaymentStatus.SUCCEEDED)
            .order_by(Payment.created_at)
        )
    )
    refunds = list(
        await session.scalars(
            select(Refund)
            .join(Payment, Payment.id == Refund.payment_id)
            # Money received twice and given back was never part of what the visit cost: its refund is no
            # credit note, and the tender it came with already counts only what was kept.
            .where(
                Payment.invoice_id == invoice.id,
                Refund.status != RefundStatus.FAILED,
                Refund.overpayment.is_(False),
            )
            .order_by(Refund.created_at)
        )
    )
    return lines, payments, refunds


async def _sessions_remaining(session: AsyncSession, payments: Sequence[Payment]) -> int | None:
    purchase_ids = [p.package_purchase_id for p in payments if p.package_purchase_id is not None]
    if not purchase_ids:
        return None
    purchases = await session.scalars(select(PackagePurchase).where(PackagePurchase.id.in_(purchase_ids)))
    return sum(purchase.remaining for purchase in purchases)


async def receipt_when_due(session: AsyncSession, invoice: Invoice) -> IssuedDocument | None:
    """Issue the visit's receipt if its invoice is paid and the visit completed (once)."""
    if invoice.appointment_id is None or invoice.status is not InvoiceStatus.PAID:
        return None
    appointment = await session.get_one(Appointment, invoice.appointment_id)
    if appointment.status is not AppointmentStatus.COMPLETED:
        return None
    practice = await session.get_one(Practice, invoice.practice_id)
    await session.flush()
    await lock_counter(session, practice.id, DocumentKind.RECEIPT)
    existing = await services.latest_for_subject(session, DocumentKind.RECEIPT, f"invoice:{invoice.id}")
    if existing is not None:
        return existing
    lines, payments, refunds = await _rows(session, invoice)
    visit_day = appointment.start_at.astimezone(_zone(practice)).date()
    plan = await plan_of(session, appointment)
    letters = await letters_of(session, plan)
    codes = tuple(plan.diagnosis_codes) if plan is not None else ()
    printed = [with_codes(line, codes) for line in document_lines(lines, visit_day, invoice.currency)]
    therapist = await session.get_one(Therapist, appointment.therapist_id)
    client = await session.get_one(Client, invoice.client_id)
    charges = services.VisitCharges(
        invoice_id=invoice.id,
        client=client,
        therapist=therapist,
        appointment_id=appointment.id,
        lines=printed,
        tenders=await tenders_of(
            session, practice, [p for p in payments if p.purpose not in FEE_PURPOSES and p.amount > p.refunded]
        ),
        package_sessions_remaining=await _sessions_remaining(session, payments),
        lmn=letters,
        included_refunds=tuple(str(r.id) for r in refunds),
    )
    return await services.issue_for_invoice(session, practice, charges, kind=DocumentKind.RECEIPT)


async def plan_of(session: AsyncSession, appointment: Appointment) -> TreatmentPlan | None:
    """The visit's treatment plan: its own, its series', or the client's latest plan for the same service."""
    plan_id = appointment.plan_id
    if plan_id is None and appointment.series_id is not None:
        series = await session.get(AppointmentSeries, appointment.series_id)
        plan_id = series.plan_id if series is not None else None
    if plan_id is not None:
        return await session.get(TreatmentPlan, plan_id)
    plan: TreatmentPlan | None = await session.scalar(
        select(TreatmentPlan)
        .where(TreatmentPlan.client_id == appointment.client_id, TreatmentPlan.service_id == appointment.service_id)
        .order_by(TreatmentPlan.created_at.desc())
        .limit(1)
    )
    return plan


async def letters_of(session: AsyncSession, plan: TreatmentPlan | None) -> list[LmnReference]:
    """The plan's letters of medical necessity as a receipt cites them (never the condition's text)."""
    if plan is None:
        return []
    letters = await session.scalars(
        select(LetterOfMedicalNecessity)
        .where(LetterOfMedicalNecessity.plan_id == plan.id)
        .order_by(LetterOfMedicalNecessity.signed_on)
    )
    return [
        LmnReference(
            signed_on=letter.signed_on,
            issuer_name=letter.issuer_name,
            issuer_credential=letter.issuer_credential,
            issuer_npi=letter.issuer_npi,
            expires_on=letter.expires_on,
        )
        for letter in letters
    ]


def with_codes(line: DocumentLine, codes: tuple[str, ...]) -> DocumentLine:
    """The plan's ICD-10 codes on the care lines (a coded service or add-on), nowhere else."""
    if not codes or line.kind not in {LineKind.SERVICE, LineKind.ADDON} or not line.eligible:
        return line
    return dataclasses.replace(line, diagnosis_codes=codes)


def _zone(practice: Practice) -> ZoneInfo:
    return ZoneInfo(practice.timezone)


async def acknowledge_payments(session: AsyncSession, invoice: Invoice) -> list[IssuedDocument]:
    """A payment acknowledgement for each payment taken before care (never for a fee, never after the receipt)."""
    appointment = await session.get(Appointment, invoice.appointment_id) if invoice.appointment_id else None
    if appointment is not None and appointment.status is AppointmentStatus.COMPLETED:
        return []
    lines, payments, _ = await _rows(session, invoice)
    payments = [p for p in payments if p.purpose not in FEE_PURPOSES and p.method is not PaymentMethod.PACKAGE]
    if not payments:
        return []
    practice = await session.get_one(Practice, invoice.practice_id)
    client = await session.get_one(Client, invoice.client_id)
    await session.flush()
    await lock_counter(session, practice.id, DocumentKind.PAYMENT_ACK)
    issued = []
    for payment in payments:
        subject_key = f"payment:{payment.id}"
        if await services.latest_for_subject(session, DocumentKind.PAYMENT_ACK, subject_key) is not None:
            continue
        paid_on = payment.created_at.astimezone(_zone(practice)).date()
        snapshot = DocumentSnapshot(
            kind=DocumentKind.PAYMENT_ACK,
            currency=invoice.currency,
            practice=practice_party(practice),
            client=client_party(client),
            lines=tuple(
                line
                for line in document_lines(lines, paid_on, invoice.currency)
                if line.kind not in FEE_LINE_KINDS and line.amount != 0
            ),
            tenders=tuple(await tenders_of(session, practice, [payment])),
            note=(
                "Paid before the visit. An itemised receipt is issued once the visit is completed and paid in full."
                if appointment is not None
                else ""
            ),
        )
        links = DocumentLinks(
            subject_key=subject_key, invoice_id=invoice.id, appointment_id=invoice.appointment_id, client_id=client.id
        )
        issued.append(await services.issue_document(session, practice, snapshot, links))
    return issued


async def credit_notes_for_refunds(session: AsyncSession, invoice: Invoice) -> list[IssuedDocument]:
    """A numbered credit note for each refund that succeeded after the receipt was issued."""
    receipt = await session.scalar(
        select(IssuedDocument).where(
            IssuedDocument.kind == DocumentKind.RECEIPT, IssuedDocument.invoice_id == invoice.id
        )
    )
    if receipt is None:
        return []
    included = set(receipt.snapshot.extra.get("refund_ids", "").split(","))
    _, _, refunds = await _rows(session, invoice)
    due = [r for r in refunds if r.status is RefundStatus.SUCCEEDED and str(r.id) not in included]
    if not due:
        return []
    practice = await session.get_one(Practice, invoice.practice_id)
    await session.flush()
    await lock_counter(session, practice.id, DocumentKind.CREDIT_NOTE)
    issued = []
    for refund in due:
        if await services.latest_for_subject(session, DocumentKind.CREDIT_NOTE, f"refund:{refund.id}") is not None:
            continue
        payment = await session.get_one(Payment, refund.payment_id)
        line = await session.get(InvoiceLine, refund.line_id) if refund.line_id else None
        refunded_tender = tender(payment)
        refunded_on = refund.updated_at.astimezone(_zone(practice)).date()
        issued.append(
            await services.issue_credit_note(
                session,
                practice,
                receipt,
                amount=refund.amount,
                reason=refund.reason or (line.description if line else ""),
                tenders=(
                    Tender(
                        method=refunded_tender.method,
                        amount=-refund.amount,
                        card_brand=refunded_tender.card_brand,
                        card_last4=refunded_tender.card_last4,
                        paid_on=refunded_on,
                    ),
                ),
                eligible=line.fsa_eligible if line is not None else True,
                subject_key=f"refund:{refund.id}",
            )
        )
    return issued


async def on_invoice_settled(session: AsyncSession, invoice: Invoice) -> None:
    """`billing.events.invoice_settled`: the receipt if the visit is done, else acknowledge the money."""
    if await receipt_when_due(session, invoice) is None:
        await acknowledge_payments(session, invoice)


async def on_invoice_recomputed(session: AsyncSession, invoice: Invoice) -> None:
    """`billing.events.invoice_recomputed`: refunds after the receipt become credit notes; a deposit or
    part payment before the visit is acknowledged."""
    await credit_notes_for_refunds(session, invoice)
    if invoice.status is InvoiceStatus.OPEN and invoice.paid > 0:
        await acknowledge_payments(session, invoice)


async def on_status_change(
    session: AsyncSession, appointment: Appointment, _old: AppointmentStatus, new: AppointmentStatus
) -> None:
    """The booking hook: completing a visit whose invoice is already settled issues its receipt."""
    if new is not AppointmentStatus.COMPLETED:
        return
    invoice = await session.scalar(select(Invoice).where(Invoice.appointment_id == appointment.id))
    if invoice is not None:
        await receipt_when_due(session, invoice)
