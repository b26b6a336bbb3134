"""The fee notice: a numbered document for a no-show or late-cancellation fee, and the e-mail that links to it.

A visit that did not happen is never receipted (FSA/HSA administrators reject such fees, and no care was
given); its fee gets a notice of its own, series `FN-`, marked "Not a medical receipt — not eligible for FSA/HSA".
It names the fee, the practice's rule that set it, the visit it concerns, and how it was paid: the card charged
(brand and last four, date), the deposit it was kept from, or "due at your next visit".

One notice per fee line (subject `fee:<line id>`), issued when the fee's money is settled:
- the invoice settles (`on_invoice_settled`): the saved card was charged (after the status change committed, by
  a webhook or by the sweep), or the deposit kept covers it;
- the fee could not be charged: no saved card (`issue_when_due(..., final=True)` from `billing.visits`), or the
  charge sent after the status change committed was refused (`on_invoice_recomputed`, which issues nothing
  else); it is then due at the next visit. A charge still pending waits for its answer.
Issuing it e-mails the client a signed download link; the e-mail carries amounts and the visit's date only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.documents import services
from billing.documents.delivery import download_url
from billing.documents.links import DEFAULT_LIFETIME
from billing.documents.models import IssuedDocument
from billing.documents.numbering import lock_counter
from billing.documents.services import DocumentLinks, client_party, practice_party, therapist_party
from billing.documents.snapshot import DocumentKind, DocumentLine, DocumentSnapshot, LineKind, Tender
from billing.models import Invoice, InvoiceLine, InvoiceStatus, Payment, PaymentStatus, Refund, RefundStatus
from billing.models import LineKind as BillingLineKind
from scheduler.booking.models import Appointment, AppointmentStatus
from scheduler.booking.visits import PracticeFacts, visit_facts
from scheduler.clients.models import Client
from scheduler.format import format_money
from scheduler.mail import services as mail
from scheduler.practice.models import Practice, Service, Therapist


@dataclass(frozen=True)
class FeeRule:
    """One kind of fee: the line billing writes, the payment's purpose, and how the client reads it."""

    line_description: str
    purpose: str
    kind: LineKind
    name: str  # "no-show fee", in a sentence


NO_SHOW = FeeRule("No-show fee", "no_show_fee", LineKind.NO_SHOW_FEE, "no-show fee")
LATE_CANCEL = FeeRule("Late-cancel fee", "late_cancel_fee", LineKind.LATE_CANCEL_FEE, "late-cancellation fee")
RULES = {rule.line_description: rule for rule in (NO_SHOW, LATE_CANCEL)}
DUE_NEXT_VISIT = "Not charged: due at your next visit."
DEPOSIT_METHOD = "online_deposit"


def policy_text(rule: FeeRule, amount: str, window_hours: int) -> str:
    """The practice's rule, as the notice prints it (pure)."""
    if rule is NO_SHOW:
        return f"A visit missed without notice is charged a no-show fee of {amount}."
    return (
        f"A visit cancelled less than {window_hours} hours before its start is charged a late-cancellation fee"
        f" of {amount}."
    )


@dataclass(frozen=True)
class FeeMoney:
    """How one fee was paid: charged to the saved card, kept from the deposit, the rest still due."""

    charged: int
    kept: int
    due: int
    card: Payment | None
    deposit: Payment | None
    returned: int  # the rest of the deposit, refunded


def fee_money(
    fee: int, invoice: Invoice, fee_payment: Payment | None, deposits: list[Payment], returned: int
) -> FeeMoney:
    """Split the fee over the card charge and the deposit the invoice holds (pure). The deposit's part is what
    the invoice holds beyond the card charge, at most the rest of the fee (money paid ahead for care is not)."""
    charged = fee_payment.amount if fee_payment is not None and fee_payment.status is PaymentStatus.SUCCEEDED else 0
    charged = min(charged, fee)
    kept = min(fee - charged, max(invoice.paid - charged, 0)) if deposits else 0
    return FeeMoney(
        charged=charged,
        kept=kept,
        due=fee - charged - kept,
        card=fee_payment if charged else None,
        deposit=deposits[0] if kept else None,
        returned=returned,
    )


def _last4(payment: Payment) -> str | None:
    return payment.card_last4 if payment.card_last4 and payment.card_last4.isdigit() else None


def tenders_of(money: FeeMoney) -> tuple[Tender, ...]:
    tenders = []
    if money.card is not None:
        tenders.append(
            Tender(
                method=money.card.method.value,
                amount=money.charged,
                card_brand=money.card.card_brand if _last4(money.card) else None,
                card_last4=_last4(money.card),
            )
        )
    if money.deposit is not None:
        tenders.append(
            Tender(
                method=DEPOSIT_METHOD,
                amount=money.kept,
                card_brand=money.deposit.card_brand if _last4(money.deposit) else None,
                card_last4=_last4(money.deposit),
            )
        )
    return tuple(tenders)


async def on_invoice_settled(session: AsyncSession, invoice: Invoice) -> None:
    """`billing.events.invoice_settled`: a missed visit's fee is paid (card or deposit): its notice."""
    await issue_when_due(session, invoice)


async def on_invoice_recomputed(session: AsyncSession, invoice: Invoice) -> None:
    """`billing.events.invoice_recomputed`: a fee's charge was refused (sent after the no-show committed, see
    `billing.card_charges`): its notice, as due at the next visit."""
    if invoice.status is InvoiceStatus.OPEN and invoice.appointment_id is not None:
        await issue_when_due(session, invoice, refused_only=True)


async def issue_when_due(
    session: AsyncSession, invoice: Invoice, *, final: bool = False, refused_only: bool = False
) -> list[IssuedDocument]:
    """Issue (once) and e-mail the notice of each fee on a missed visit's invoice whose money is settled; with
    `final`, also a fee that was tried and not charged (no card, declined), as due at the next visit. A fee whose
    charge is still pending waits for its settlement. Answers the notices issued now."""
    if invoice.appointment_id is None:
        return []
    appointment = await session.get_one(Appointment, invoice.appointment_id)
    if appointment.status not in {AppointmentStatus.NO_SHOW, AppointmentStatus.CANCELLED}:
        return []
    lines = [
        line
        for line in await session.scalars(
            select(InvoiceLine)
            .where(InvoiceLine.invoice_id == invoice.id, InvoiceLine.kind == BillingLineKind.FEE)
            .order_by(InvoiceLine.created_at, InvoiceLine.id)
        )
        if line.description in RULES and line.total > 0
    ]
    if not lines:
        return []
    practice = await session.get_one(Practice, invoice.practice_id)
    await session.flush()
    await lock_counter(session, practice.id, DocumentKind.FEE_NOTICE)
    issued = []
    for line in lines:
        subject_key = f"fee:{line.id}"
        if await services.latest_for_subject(session, DocumentKind.FEE_NOTICE, subject_key) is not None:
            continue
        rule = RULES[line.description]
        payments = list(
            await session.scalars(
                select(Payment).where(Payment.invoice_id == invoice.id).order_by(Payment.created_at, Payment.id)
            )
        )
        fee_payment = next((p for p in reversed(payments) if p.purpose == rule.purpose), None)
        if fee_payment is not None and fee_payment.status is PaymentStatus.PENDING:
            continue  # the card's answer is still to come: its settlement issues the notice
        deposits = [p for p in payments if p.purpose == "deposit" and p.status is PaymentStatus.SUCCEEDED]
        money = fee_money(line.total, invoice, fee_payment, deposits, await _refunded(session, deposits))
        refused = fee_payment is not None and fee_payment.status is PaymentStatus.FAILED
        if refused_only and not refused:
            continue  # mid-way through the visit's status change: it issues the notice when it is done
        if money.due > 0 and not (final or refused):
            continue  # still being charged (or about to be): its answer issues the notice
        document = await _issue(session, practice, invoice, appointment, line, rule, money)
        await _email(session, practice, appointment, document, rule, money)
        issued.append(document)
    return issued


async def _refunded(session: AsyncSession, deposits: list[Payment]) -> int:
    if not deposits:
        return 0
    refunds = await session.scalars(
        select(Refund).where(Refund.payment_id.in_([p.id for p in deposits]), Refund.status != RefundStatus.FAILED)
    )
    return sum(refund.amount for refund in refunds)


async def _issue(
    session: AsyncSession,
    practice: Practice,
    invoice: Invoice,
    appointment: Appointment,
    line: InvoiceLine,
    rule: FeeRule,
    money: FeeMoney,
) -> IssuedDocument:
    zone = ZoneInfo(practice.timezone)
    start = appointment.start_at.astimezone(zone)
    service = await session.get_one(Service, appointment.service_id)
    therapist = await session.get_one(Therapist, appointment.therapist_id)
    client = await session.get_one(Client, invoice.client_id)
    amount = format_money(line.total, invoice.currency)
    snapshot = DocumentSnapshot(
        kind=DocumentKind.FEE_NOTICE,
        currency=invoice.currency,
        practice=practice_party(practice),
        client=client_party(client),
        therapist=therapist_party(therapist),
        lines=(
            DocumentLine(
                service_date=start.date(),
                description=rule.line_description,
                amount=line.total,
                kind=rule.kind,
                fsa_eligible=False,
            ),
        ),
        tenders=tenders_of(money),
        reason=policy_text(rule, amount, practice.cancellation_window_hours),
        note=DUE_NEXT_VISIT if money.due > 0 else "",
        extra={
            "visit_service": service.name,
            "visit_time": f"{start:%I:%M %p}".lstrip("0") + (f" {start.tzname()}" if start.tzname() else ""),
            "paid_on": dt.datetime.now(dt.UTC).astimezone(zone).date().isoformat() if money.due < line.total else "",
        },
    )
    links = DocumentLinks(
        subject_key=f"fee:{line.id}", invoice_id=invoice.id, appointment_id=appointment.id, client_id=client.id
    )
    return await services.issue_document(session, practice, snapshot, links)


async def _email(
    session: AsyncSession,
    practice: Practice,
    appointment: Appointment,
    document: IssuedDocument,
    rule: FeeRule,
    money: FeeMoney,
) -> None:
    """The client's e-mail: the fee, how it was paid, and the link. No service, therapist or health detail."""
    client = await session.get_one(Client, appointment.client_id)
    visit = await visit_facts(session, practice, appointment)
    currency = document.snapshot.currency

    def card(payment: Payment | None) -> str:
        last4 = _last4(payment) if payment is not None else None
        if payment is None or last4 is None:
            return "the card you paid with"
        return f"your {(payment.card_brand or 'card').title()} ending {last4}"

    body = mail.render(
        "fee_notice.txt",
        first_name=client.first_name,
        practice=PracticeFacts.of(practice),
        visit=visit,
        fee_name=rule.name,
        fee=format_money(money.charged + money.kept + money.due, currency),
        charged=format_money(money.charged, currency) if money.charged else "",
        card=card(money.card),
        kept=format_money(money.kept, currency) if money.kept else "",
        due=format_money(money.due, currency) if money.due else "",
        returned=format_money(money.returned, currency) if money.returned else "",
        deposit_card=card(money.deposit),
        number=document.number,
        download_url=download_url(practice, document, services.utcnow() + DEFAULT_LIFETIME),
    )
    await mail.enqueue(
        session,
        to=client.email,
        subject=f"{rule.name[:1].upper()}{rule.name[1:]} notice {document.number}",
        body_text=body,
        kind="fee_notice",
        practice_id=practice.id,
    )
