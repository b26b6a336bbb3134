"""Billing's public pages: the deposit link that opens the hosted checkout, and where the checkout sends the
client back (deposit or pay link)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, get
from litestar.di import Provide
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy import select

from billing import visits, webhooks
from billing.documents.pages import signed_links_for_invoice
from billing.models import Payment, PaymentStatus, Refund, RefundStatus
from billing.money import format_money
from scheduler.booking.models import Appointment, AppointmentStatus
from scheduler.deps import AppSettings, DbSession, PathPractice
from scheduler.errors import CarebookError, NotFound
from scheduler.format import format_when
from scheduler.web.booking_pages import PRIVATE_HEADERS, handle_page_error, provide_page_practice
from scheduler.web.booking_views import page_context


class CheckoutReturnPage(Controller):
    path = "/p/{slug:str}/checkout"
    include_in_schema = False
    opt = {"skip_session": True}
    dependencies = {"practice": Provide(provide_page_practice)}
    exception_handlers = {CarebookError: handle_page_error}

    @get("/return", name="checkout_return")
    async def checkout_return(
        self,
        db_session: DbSession,
        practice: PathPractice,
        settings: AppSettings,
        session_id: FromQuery[str | None] = None,
    ) -> Template:
        """The success redirect: confirms the payment (and the held visit) if the webhook has not yet."""
        if session_id is None or not session_id.startswith("cs_") or len(session_id) > 255:
            raise NotFound("This payment link is not valid.")
        payment = await webhooks.confirm_checkout(db_session, session_id)
        if payment is None:
            raise NotFound("This payment link is not valid.")
        context: dict[str, Any] = page_context(practice) | {
            "paid": payment.status is PaymentStatus.SUCCEEDED,
            "amount": format_money(payment.amount, payment.currency),
            "card": f"{(payment.card_brand or 'card').title()} ending {payment.card_last4}"
            if payment.card_last4
            else None,
            "visit_confirmed": False,
            "deposit_refunded": False,
            "paid_twice": await _paid_twice(db_session, payment),
        }
        invoice = await webhooks.invoice_of(db_session, payment)
        # The receipt (or the acknowledgement of a payment before the visit), by signed link: no sign-in needed.
        context["documents"] = await signed_links_for_invoice(db_session, settings, practice, invoice.id)
        if payment.purpose == "deposit" and invoice.appointment_id is not None:
            appointment = await db_session.get_one(Appointment, invoice.appointment_id)
            context["visit_confirmed"] = appointment.status is AppointmentStatus.BOOKED
            # Paid after the hold ran out and the time was taken meanwhile: the deposit went straight back.
            context["deposit_refunded"] = (
                appointment.status is AppointmentStatus.CANCELLED and payment.refunded >= payment.amount
            )
            context["when"] = format_when(appointment.start_at, ZoneInfo(practice.timezone))
        return Template(template_name="billing/checkout_return.html", context=context, headers=PRIVATE_HEADERS)


async def _paid_twice(db_session: DbSession, payment: Payment) -> str | None:
    """What of this payment is given back because the invoice was paid before it arrived (else None)."""
    refund = await db_session.scalar(
        select(Refund).where(
            Refund.payment_id == payment.id, Refund.overpayment.is_(True), Refund.status != RefundStatus.FAILED
        )
    )
    return format_money(refund.amount, payment.currency) if refund is not None else None


class DepositLinkPage(Controller):
    """The link an online booking with a deposit hands out: opening it opens (or reopens) the Checkout Session."""

    path = "/p/{slug:str}/deposit"
    include_in_schema = False
    opt = {"skip_session": True}
    dependencies = {"practice": Provide(provide_page_practice)}
    exception_handlers = {CarebookError: handle_page_error}

    @get("/{token:str}", name="deposit_checkout", status_code=303)
    async def open_checkout(
        self, db_session: DbSession, practice: PathPractice, settings: AppSettings, token: FromPath[str]
    ) -> Redirect:
        """303 to the hosted checkout (or, once paid, the return page); 404, 410 or 503 pages otherwise."""
        target = await visits.open_deposit_checkout(db_session, practice, token, settings.base_url)
        return Redirect(path=target, status_code=303, headers=PRIVATE_HEADERS)
