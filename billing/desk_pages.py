"""The desk's checkout screen: the visit's invoice with its lines, tenders and balance, and the forms that
add a line, take a payment or refund one. Same services as the API; amounts are typed in currency units
("12.50") and shown through babel. A refused form shows the page again with the reason and its status."""

from __future__ import annotations

import uuid
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, get, post
from litestar.di import Provide
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import credit, invoices, parking, payments, visits
from billing.documents import services as documents
from billing.documents.snapshot import TITLES
from billing.gateway import PaymentError
from billing.models import Invoice, InvoiceLine, LineKind, Payment, PaymentStatus, Refund, RefundStatus
from billing.money import format_money, parse_amount, to_decimal
from scheduler.auth import page_staff
from scheduler.booking import services as booking
from scheduler.booking.models import Appointment, AppointmentStatus
from scheduler.clients.models import Client
from scheduler.deps import AppSettings, CurrentStaff, DbSession, PathPractice
from scheduler.errors import CarebookError, Conflict, InvalidInput, NotFound, RuleViolation
from scheduler.format import format_date
from scheduler.practice.deps import provide_staff_practice
from scheduler.practice.models import Practice, Role, StaffUser
from scheduler.validation import parse_uuid

FORM_ERRORS = (Conflict, RuleViolation, InvalidInput, PaymentError)
METHOD_LABELS = {
    "card_on_file": "Saved card",
    "pay_link": "Pay link (e-mail)",
    "cash": "Cash",
    "check": "Check",
    "external_card": "Card terminal",
    "package": "Package session",
    "online_deposit": "Online deposit",
    "credit": "Account credit",
}
MISSED = frozenset({AppointmentStatus.NO_SHOW, AppointmentStatus.CANCELLED})
KIND_LABELS = {"addon": "Add-on", "retail": "Retail", "tip": "Tip", "discount": "Discount", "fee": "Fee"}


class LineForm(msgspec.Struct):
    kind: str = ""
    description: str = ""
    amount: str = ""
    quantity: str = "1"
    fsa_eligible: str = ""  # "" the kind's default, "yes" or "no"
    applies_to_line_id: str = (
        ""  # a discount's line (named as in the API, so its errors point at this field); "" every line pro rata
    )


FSA_CHOICES: dict[str, bool | None] = {"": None, "yes": True, "no": False}


def _kind_defaults() -> str:
    """'add-on yes; retail, tip, discount, fee no': what the FSA switch's default means, kind by kind."""
    yes = [KIND_LABELS[k].lower() for k, v in invoices.DESK_KINDS.items() if v and k in KIND_LABELS]
    no = [KIND_LABELS[k].lower() for k, v in invoices.DESK_KINDS.items() if not v and k in KIND_LABELS]
    return f"{', '.join(yes)} yes; {', '.join(no)} no"


class PaymentForm(msgspec.Struct):
    method: str = ""
    amount: str = ""


class RefundForm(msgspec.Struct):
    amount: str = ""
    line_id: str = ""
    reason: str = ""


def _amount(raw: str, currency: str, field: str = "amount") -> int:
    try:
        return parse_amount(raw, currency)
    except ValueError:
        raise InvalidInput("Enter an amount like 12.50.", field=field) from None


async def checkout_page(
    session: AsyncSession,
    practice: Practice,
    staff: StaffUser,
    invoice: Invoice,
    error: CarebookError | None = None,
) -> Template:
    def money(amount: int) -> str:
        return format_money(amount, invoice.currency)

    lines = await invoices.lines_of(session, invoice)
    taken = await invoices.payments_of(session, invoice)
    appointment = await session.get(Appointment, invoice.appointment_id) if invoice.appointment_id else None
    client = await session.get_one(Client, invoice.client_id)
    card = await payments.customer_for(session, client.id)
    account_credit = await credit.balance(session, client.id)
    context: dict[str, Any] = {
        "practice": practice,
        "user": staff,
        "invoice": invoice,
        "client_name": f"{client.first_name} {client.last_name}",
        "total": money(invoice.total),
        "paid": money(invoice.paid),
        "balance": money(invoice.balance),
        "balance_input": str(to_decimal(invoice.balance, invoice.currency)) if invoice.balance > 0 else "",
        "lines": [
            {
                "id": str(line.id),
                "kind": line.kind.value,
                "description": line.description,
                "quantity": line.quantity,
                "amount": money(line.amount),
                "total": money(line.total),
                "fsa": line.fsa_eligible,
                "fsa_text": _fsa_text(line, lines),
                "refundable": line.total > 0 and line.credits_line_id is None,
                "discountable": line.total > 0 and line.credits_line_id is None and line.kind.value != "discount",
            }
            for line in lines
        ],
        "payments": [
            {
                "id": str(p.id),
                "method": METHOD_LABELS.get(p.method.value, p.method.value),
                "amount": money(p.amount),
                "status": p.status.value,
                "card": f"{(p.card_brand or '').title()} •••• {p.card_last4}" if p.card_last4 else "",
                "failure": p.failure_message,
                "failure_code": p.failure_code,
                "refunded": money(p.refunded) if p.refunded else "",
                "refundable": p.refundable > 0 and p.method.value != "package",
                "checkout_url": p.checkout_url if p.status is PaymentStatus.PENDING else None,
            }
            for p in taken
        ],
        "paid_twice": await _paid_twice(session, practice, taken),
        "overpaid": money(invoice.overpaid) if invoice.overpaid else None,
        "saved_card": f"{(card.card_brand or 'card').title()} •••• {card.card_last4}"
        if card and card.card_last4
        else None,
        "account_credit": money(account_credit) if account_credit > 0 else None,
        "credit_input": str(to_decimal(min(account_credit, invoice.balance), invoice.currency))
        if account_credit > 0 and invoice.balance > 0
        else "",
        "methods": {
            k: v for k, v in METHOD_LABELS.items() if k != "online_deposit" and (k != "credit" or account_credit > 0)
        },
        "kinds": KIND_LABELS,
        "kind_defaults": _kind_defaults(),
        "visit_url": f"/staff/appointments/{invoice.appointment_id}" if invoice.appointment_id else None,
        "missed": appointment is not None and appointment.status in MISSED,
        "documents": [
            {"label": f"{TITLES[d.kind]} {d.number}", "kind": d.kind.value, "url": f"/staff/documents/{d.id}.pdf"}
            for d in await documents.invoice_documents(session, invoice.id)
        ],
        "error": {"message": error.detail, "field": error.field, "code": error.code} if error else None,
    }
    return Template(template_name="staff/checkout.html", context=context, status_code=error.status if error else 200)


def _fsa_text(line: InvoiceLine, lines: list[InvoiceLine]) -> str:
    """A charge says whether it counts; a discount says which line it comes off (receipts print it there)."""
    if line.kind is not LineKind.DISCOUNT or line.amount >= 0 or line.description.startswith("Refund"):
        return "yes" if line.fsa_eligible else "no"
    target = next((other for other in lines if other.id == line.credits_line_id), None)
    return f"off {target.description}" if target is not None else "off every line, pro rata"


async def _paid_twice(session: AsyncSession, practice: Practice, taken: list[Payment]) -> list[dict[str, str]]:
    """One sentence per payment that arrived after the invoice was settled and was given back automatically."""
    by_id = {p.id: p for p in taken}
    rows = await session.scalars(
        select(Refund).where(Refund.payment_id.in_(by_id), Refund.overpayment.is_(True)).order_by(Refund.created_at)
    )
    zone = ZoneInfo(practice.timezone)
    said = []
    for refund in rows:
        amount = format_money(refund.amount, by_id[refund.payment_id].currency)
        if refund.status is RefundStatus.SUCCEEDED:
            day = format_date(refund.updated_at.astimezone(zone).date())
            text = f"Paid twice — {amount} refunded on {day}"
        elif refund.status is RefundStatus.PENDING:
            text = f"Paid twice — {amount} is being refunded"
        else:
            text = f"Paid twice — the refund of {amount} was refused"
        said.append({"text": text, "status": refund.status.value})
    return said


class CheckoutPagesController(Controller):
    path = "/staff"
    include_in_schema = False
    dependencies = {"staff": Provide(page_staff(Role.OWNER, Role.DESK)), "practice": Provide(provide_staff_practice)}

    @post("/appointments/{appointment_id:str}/checkout", status_code=303)
    async def open_checkout(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, appointment_id: FromPath[str]
    ) -> Redirect:
        appointment = await booking.get_for_staff(db_session, staff, parse_uuid(appointment_id, "appointment_id"))
        invoice = await invoices.checkout(db_session, practice, appointment)
        return Redirect(path=f"/staff/invoices/{invoice.id}", status_code=303)

    @get(
        "/billing/parked-events",
        name="staff_parked_events",
        dependencies={"staff": Provide(page_staff(Role.OWNER))},
    )
    async def parked_events(self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice) -> Template:
        """The owner's list of Stripe events that could not be applied (`billing.parking`)."""
        return Template(
            template_name="staff/parked_events.html",
            context={
                "practice": practice,
                "user": staff,
                "zone": ZoneInfo(practice.timezone),
                "events": await parking.list_parked(db_session, practice.id),
            },
        )

    @get("/invoices/{invoice_id:str}", name="staff_checkout")
    async def show(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, invoice_id: FromPath[str]
    ) -> Template:
        invoice = await invoices.get_invoice(db_session, parse_uuid(invoice_id, "invoice_id"))
        return await checkout_page(db_session, practice, staff, invoice)

    @post("/invoices/{invoice_id:str}/lines", status_code=303)
    async def add_line(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        invoice_id: FromPath[str],
        data: URLEncodedBody[LineForm],
    ) -> Template | Redirect:
        invoice = await invoices.get_invoice(db_session, parse_uuid(invoice_id, "invoice_id"))
        try:
            amount = _amount(data.amount, invoice.currency)
            if data.kind == "discount" and amount > 0:
                amount = -amount  # the desk types the discount as a positive number
            quantity = int(data.quantity) if data.quantity.strip().isdigit() else 0
            if data.fsa_eligible not in FSA_CHOICES:
                raise InvalidInput("Choose yes, no or the default for the kind.", field="fsa_eligible")
            await invoices.add_line(
                db_session,
                invoice.id,
                invoices.NewLine(
                    kind=data.kind,
                    description=data.description,
                    amount=amount,
                    quantity=quantity,
                    fsa_eligible=FSA_CHOICES[data.fsa_eligible],
                    applies_to=_line_id(data.applies_to_line_id, "applies_to_line_id"),
                ),
            )
        except FORM_ERRORS as exc:
            return await checkout_page(db_session, practice, staff, invoice, error=exc)
        return Redirect(path=f"/staff/invoices/{invoice.id}", status_code=303)

    @post("/invoices/{invoice_id:str}/payments", status_code=303)
    async def take_payment(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        settings: AppSettings,
        invoice_id: FromPath[str],
        data: URLEncodedBody[PaymentForm],
    ) -> Template | Redirect:
        invoice = await invoices.get_invoice(db_session, parse_uuid(invoice_id, "invoice_id"))
        try:
            tender = payments.TenderIn(method=data.method, amount=_amount(data.amount, invoice.currency))
            await payments.take_payment(db_session, practice, invoice.id, tender, base_url=settings.base_url)
        except FORM_ERRORS as exc:
            await db_session.refresh(invoice)
            return await checkout_page(db_session, practice, staff, invoice, error=exc)
        return Redirect(path=f"/staff/invoices/{invoice.id}", status_code=303)

    @post("/payments/{payment_id:str}/refunds", status_code=303)
    async def refund(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        payment_id: FromPath[str],
        data: URLEncodedBody[RefundForm],
    ) -> Template | Redirect:
        payment = await payments.get_payment(db_session, parse_uuid(payment_id, "payment_id"))
        invoice = await invoices.get_invoice(db_session, payment.invoice_id)
        try:
            line_id = _line_id(data.line_id)
            await visits.refund_payment(
                db_session,
                payment.id,
                payments.RefundIn(amount=_amount(data.amount, invoice.currency), reason=data.reason, line_id=line_id),
            )
        except FORM_ERRORS as exc:
            await db_session.refresh(invoice)
            return await checkout_page(db_session, practice, staff, invoice, error=exc)
        return Redirect(path=f"/staff/invoices/{invoice.id}", status_code=303)


def _line_id(raw: str, field: str = "line_id") -> uuid.UUID | None:
    if not raw.strip():
        return None
    try:
        return uuid.UUID(raw.strip())
    except ValueError:
        raise NotFound("No such line.", field=field) from None
