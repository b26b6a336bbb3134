"""HTTP for billing: the desk's checkout API, payments, refunds, packages, policy, and the Stripe webhook.

Handlers parse, call a billing service and convert to a schema; the rules live in the services."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post, put
from litestar.di import Provide
from litestar.params import FromPath, JSONBody

from billing import invoices, packages, parking, payments, plans, policy, visits, webhooks
from billing.models import Invoice, ParkedWebhookEvent, Payment, StripeCustomer
from billing.runtime import get_gateway
from billing.schemas import (
    ClientBilling,
    InvoiceOut,
    LineCreate,
    LineOut,
    PackageCreateIn,
    PackageList,
    PackageOut,
    PackageSale,
    ParkedEventList,
    ParkedEventOut,
    PaymentCreate,
    PaymentOut,
    PlanBillingIO,
    PlanBillingList,
    PolicyIO,
    PurchaseOut,
    RefundCreate,
    RefundOut,
    SaveCardIn,
    WebhookAck,
)
from scheduler.auth import api_staff
from scheduler.booking import services as booking
from scheduler.clients import services as client_services
from scheduler.deps import AppSettings, CurrentStaff, DbSession, PathPractice
from scheduler.idempotency import Idempotency
from scheduler.openapi import STAFF_READ_PROBLEMS, STAFF_SECURITY, problems
from scheduler.practice.deps import provide_staff_practice
from scheduler.practice.models import Role
from scheduler.validation import parse_uuid, parse_uuid_field

PAYMENT_PROBLEMS = problems(400, 401, 402, 403, 404, 409, 413, 415, 422, 503)
WRITE_PROBLEMS = problems(400, 401, 403, 404, 409, 413, 415, 422)
DESK = Provide(api_staff(Role.OWNER, Role.DESK))


def payment_out(payment: Payment) -> PaymentOut:
    return PaymentOut(
        id=str(payment.id),
        invoice_id=str(payment.invoice_id),
        method=payment.method.value,
        amount=payment.amount,
        currency=payment.currency,
        status=payment.status.value,
        refunded=payment.refunded,
        refundable=payment.refundable,
        card_brand=payment.card_brand,
        card_last4=payment.card_last4,
        failure_code=payment.failure_code,
        failure_message=payment.failure_message,
        checkout_url=payment.checkout_url,
        purpose=payment.purpose,
    )


def parked_event_out(row: ParkedWebhookEvent) -> ParkedEventOut:
    return ParkedEventOut(
        id=str(row.id),
        event_id=row.event_id,
        type=row.type,
        object_id=row.object_id,
        reason=row.reason,
        attempts=row.attempts,
        parked_at=row.parked_at,
        resolved_at=row.resolved_at,
    )


async def invoice_out(db_session: DbSession, invoice: Invoice) -> InvoiceOut:
    lines = await invoices.lines_of(db_session, invoice)
    paid = await invoices.payments_of(db_session, invoice)
    return InvoiceOut(
        id=str(invoice.id),
        status=invoice.status.value,
        currency=invoice.currency,
        total=invoice.total,
        paid=invoice.paid,
        overpaid=invoice.overpaid,
        balance=invoice.balance,
        lines=[
            LineOut(
                id=str(line.id),
                kind=line.kind.value,
                description=line.description,
                amount=line.amount,
                quantity=line.quantity,
                total=line.total,
                fsa_eligible=line.fsa_eligible,
                service_date=line.service_date,
                cpt_code=line.cpt_code,
                credits_line_id=str(line.credits_line_id) if line.credits_line_id else None,
            )
            for line in lines
        ],
        payments=[payment_out(p) for p in paid],
        appointment_id=str(invoice.appointment_id) if invoice.appointment_id else None,
        client_id=str(invoice.client_id),
    )


class CheckoutController(Controller):
    """The desk checks a visit out."""

    path = "/api/v1/appointments"
    tags = ["billing"]
    dependencies = {"staff": DESK, "practice": Provide(provide_staff_practice)}
    security = STAFF_SECURITY

    @post(
        "/{appointment_id:str}/checkout",
        operation_id="checkoutAppointment",
        summary="Open (or return) the visit's invoice with its service line and any deposit applied",
        status_code=201,
        responses=WRITE_PROBLEMS,
    )
    async def checkout(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, appointment_id: FromPath[str]
    ) -> InvoiceOut:
        appointment = await booking.get_for_staff(db_session, staff, parse_uuid(appointment_id, "appointment_id"))
        invoice = await invoices.checkout(db_session, practice, appointment)
        return await invoice_out(db_session, invoice)


class InvoiceController(Controller):
    path = "/api/v1/invoices"
    tags = ["billing"]
    dependencies = {"staff": DESK, "practice": Provide(provide_staff_practice)}
    security = STAFF_SECURITY

    @get("/{invoice_id:str}", operation_id="getInvoice", responses=STAFF_READ_PROBLEMS)
    async def get_one(self, db_session: DbSession, staff: CurrentStaff, invoice_id: FromPath[str]) -> InvoiceOut:
        invoice = await invoices.get_invoice(db_session, parse_uuid(invoice_id, "invoice_id"))
        return await invoice_out(db_session, invoice)

    @post(
        "/{invoice_id:str}/lines",
        operation_id="addInvoiceLine",
        summary="Add an add-on, retail item, tip, discount or fee",
        status_code=201,
        responses=WRITE_PROBLEMS,
    )
    async def add_line(
        self, db_session: DbSession, staff: CurrentStaff, invoice_id: FromPath[str], data: JSONBody[LineCreate]
    ) -> InvoiceOut:
        invoice = await invoices.add_line(
            db_session,
            parse_uuid(invoice_id, "invoice_id"),
            invoices.NewLine(
                kind=data.kind,
                description=data.description,
                amount=data.amount,
                quantity=data.quantity,
                fsa_eligible=data.fsa_eligible,
                applies_to=parse_uuid_field(data.applies_to_line_id, "applies_to_line_id")
                if data.applies_to_line_id is not None
                else None,
            ),
        )
        return await invoice_out(db_session, invoice)

    @post(
        "/{invoice_id:str}/payments",
        operation_id="takePayment",
        summary="Take one tender (saved card, pay link, cash, check, external card, package session)",
        description="201 with the new payment; 200 with the earlier one when this repeats a tender that has "
        "meanwhile succeeded (a retry after a timeout that a webhook settled).",
        status_code=201,
        responses=PAYMENT_PROBLEMS,
    )
    async def take_payment(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        settings: AppSettings,
        invoice_id: FromPath[str],
        data: JSONBody[PaymentCreate],
        idempotency: Idempotency,
    ) -> Response[PaymentOut]:
        taken = await payments.take_tender(
            db_session,
            practice,
            parse_uuid(invoice_id, "invoice_id"),
            payments.TenderIn(method=data.method, amount=data.amount),
            base_url=settings.base_url,
        )
        return Response(payment_out(taken.payment), status_code=200 if taken.replayed else 201)

    @post(
        "/{invoice_id:str}/packages",
        operation_id="sellPackage",
        summary="Sell a package on this invoice (its sessions are usable once the invoice is paid)",
        status_code=201,
        responses=WRITE_PROBLEMS,
    )
    async def sell_package(
        self, db_session: DbSession, staff: CurrentStaff, invoice_id: FromPath[str], data: JSONBody[PackageSale]
    ) -> InvoiceOut:
        invoice = await packages.sell_on_invoice(
            db_session,
            parse_uuid(invoice_id, "invoice_id"),
            data.package_id,
            data.quantity,
        )
        return await invoice_out(db_session, invoice)


class PaymentController(Controller):
    path = "/api/v1/payments"
    tags = ["billing"]
    dependencies = {"staff": DESK, "practice": Provide(provide_staff_practice)}
    security = STAFF_SECURITY

    @get("/{payment_id:str}", operation_id="getPayment", responses=STAFF_READ_PROBLEMS)
    async def get_one(self, db_session: DbSession, staff: CurrentStaff, payment_id: FromPath[str]) -> PaymentOut:
        return payment_out(await payments.get_payment(db_session, parse_uuid(payment_id, "payment_id")))

    @post(
        "/{payment_id:str}/refunds",
        operation_id="refundPayment",
        summary="Refund part or all of what is left of a payment",
        status_code=201,
        responses=PAYMENT_PROBLEMS,
    )
    async def refund(
        self, db_session: DbSession, staff: CurrentStaff, payment_id: FromPath[str], data: JSONBody[RefundCreate]
    ) -> RefundOut:
        refund = await visits.refund_payment(
            db_session,
            parse_uuid(payment_id, "payment_id"),
            payments.RefundIn(
                amount=data.amount,
                reason=data.reason,
                line_id=parse_uuid_field(data.line_id, "line_id") if data.line_id else None,
            ),
        )
        payment = await payments.get_payment(db_session, refund.payment_id)
        invoice = await invoices.get_invoice(db_session, payment.invoice_id)
        return RefundOut(
            id=str(refund.id),
            payment_id=str(refund.payment_id),
            amount=refund.amount,
            status=refund.status.value,
            reason=refund.reason,
            invoice=await invoice_out(db_session, invoice),
        )


def _policy_out(row: Any) -> PolicyIO:
    return PolicyIO(
        deposit_kind=row.deposit_kind.value,
        deposit_fixed=row.deposit_fixed,
        deposit_percent_bp=row.deposit_percent_bp,
        card_required=row.card_required,
        late_cancel_fee=row.late_cancel_fee,
        no_show_fee=row.no_show_fee,
        hold_minutes=row.hold_minutes,
        kept_deposit=row.kept_deposit.value,
    )


class BillingSetupController(Controller):
    """The owner's payment policy and package catalogue; the desk reads them."""

    path = "/api/v1/billing"
    tags = ["billing"]
    dependencies = {"staff": DESK, "practice": Provide(provide_staff_practice)}
    security = STAFF_SECURITY

    @get("/policy", operation_id="getPaymentPolicy", responses=STAFF_READ_PROBLEMS)
    async def get_policy(self, db_session: DbSession, staff: CurrentStaff) -> PolicyIO:
        return _policy_out(await policy.get_policy(db_session))

    @put(
        "/policy",
        operation_id="setPaymentPolicy",
        responses=WRITE_PROBLEMS,
        dependencies={"staff": Provide(api_staff(Role.OWNER))},
    )
    async def set_policy(self, db_session: DbSession, staff: CurrentStaff, data: JSONBody[PolicyIO]) -> PolicyIO:
        row = await policy.set_policy(
            db_session,
            policy.PolicyChange(
                deposit_kind=data.deposit_kind,
                deposit_fixed=data.deposit_fixed,
                deposit_percent_bp=data.deposit_percent_bp,
                card_required=data.card_required,
                late_cancel_fee=data.late_cancel_fee,
                no_show_fee=data.no_show_fee,
                hold_minutes=data.hold_minutes,
                kept_deposit=data.kept_deposit,
            ),
        )
        return _policy_out(row)

    @get(
        "/parked-events",
        operation_id="listParkedWebhookEvents",
        summary="Stripe events that could not be applied, for the owner (replayed by `carebook stripe reconcile`)",
        responses=STAFF_READ_PROBLEMS,
        dependencies={"staff": Provide(api_staff(Role.OWNER))},
    )
    async def parked_events(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice
    ) -> ParkedEventList:
        rows = await parking.list_parked(db_session, practice.id)
        return ParkedEventList(items=[parked_event_out(row) for row in rows])

    @get("/packages", operation_id="listPackages", responses=STAFF_READ_PROBLEMS)
    async def list_packages(self, db_session: DbSession, staff: CurrentStaff) -> PackageList:
        return PackageList(items=[_package_out(p) for p in await packages.list_packages(db_session)])

    @post(
        "/packages",
        operation_id="createPackage",
        status_code=201,
        responses=WRITE_PROBLEMS,
        dependencies={"staff": Provide(api_staff(Role.OWNER))},
    )
    async def create_package(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, data: JSONBody[PackageCreateIn]
    ) -> PackageOut:
        package = await packages.create_package(
            db_session,
            practice,
            packages.PackageCreate(
                name=data.name,
                sessions=data.sessions,
                price=data.price,
                service_id=parse_uuid_field(data.service_id, "service_id") if data.service_id else None,
            ),
        )
        return _package_out(package)


class PlanBillingController(Controller):
    """How a treatment plan's series is paid: per visit, the saved card as each visit completes, or a package."""

    path = "/api/v1/billing/plans"
    tags = ["billing"]
    dependencies = {"staff": DESK, "practice": Provide(provide_staff_practice)}
    security = STAFF_SECURITY

    @get("/", operation_id="listPlanBilling", responses=STAFF_READ_PROBLEMS)
    async def list_all(self, db_session: DbSession, staff: CurrentStaff) -> PlanBillingList:
        return PlanBillingList(items=[_plan_billing_out(row) for row in await plans.list_plan_billing(db_session)])

    @put("/", operation_id="setPlanBilling", responses=WRITE_PROBLEMS)
    async def set_one(self, db_session: DbSession, staff: CurrentStaff, data: JSONBody[PlanBillingIO]) -> PlanBillingIO:
        row = await plans.set_plan_billing(
            db_session,
            parse_uuid_field(data.plan_id, "plan_id"),
            plans.PlanBillingIn(
                mode=data.mode,
                package_purchase_id=parse_uuid_field(data.package_purchase_id, "package_purchase_id")
                if data.package_purchase_id
                else None,
            ),
        )
        return _plan_billing_out(row)


def _plan_billing_out(row: Any) -> PlanBillingIO:
    return PlanBillingIO(
        plan_id=str(row.plan_id),
        mode=row.mode.value,
        package_purchase_id=str(row.package_purchase_id) if row.package_purchase_id else None,
    )


def _package_out(package: Any) -> PackageOut:
    return PackageOut(
        id=str(package.id),
        name=package.name,
        sessions=package.sessions,
        price=package.price,
        currency=package.currency,
        service_id=str(package.service_id) if package.service_id else None,
    )


class ClientBillingController(Controller):
    path = "/api/v1/clients"
    tags = ["billing"]
    dependencies = {"staff": DESK, "practice": Provide(provide_staff_practice)}
    security = STAFF_SECURITY

    @get("/{client_id:str}/billing", operation_id="getClientBilling", responses=STAFF_READ_PROBLEMS)
    async def billing(self, db_session: DbSession, staff: CurrentStaff, client_id: FromPath[str]) -> ClientBilling:
        client = await client_services.get_client(db_session, parse_uuid(client_id, "client_id"))
        return await _client_billing(db_session, client.id)

    @post(
        "/{client_id:str}/card",
        operation_id="saveClientCard",
        summary="Save a card (a gateway payment-method id) for off-session charges",
        status_code=201,
        responses=PAYMENT_PROBLEMS,
    )
    async def save_card(
        self, db_session: DbSession, staff: CurrentStaff, client_id: FromPath[str], data: JSONBody[SaveCardIn]
    ) -> ClientBilling:
        client = await client_services.get_client(db_session, parse_uuid(client_id, "client_id"))
        await payments.save_card(db_session, client, data.payment_method)
        return await _client_billing(db_session, client.id)


async def _client_billing(db_session: DbSession, client_id: Any) -> ClientBilling:
    purchases = await packages.purchases_for(db_session, client_id)
    link: StripeCustomer | None = await payments.customer_for(db_session, client_id)
    return ClientBilling(
        client_id=str(client_id),
        sessions_remaining=sum(p.remaining for p in purchases),
        packages=[
            PurchaseOut(
                id=str(p.id),
                package_id=str(p.package_id),
                sessions_total=p.sessions_total,
                sessions_used=p.sessions_used,
                remaining=p.remaining,
            )
            for p in purchases
        ],
        card_brand=link.card_brand if link else None,
        card_last4=link.card_last4 if link else None,
        has_saved_card=bool(link and link.default_payment_method),
        disputed=await webhooks.is_disputed(db_session, client_id),
    )


@post(
    "/webhooks/stripe",
    operation_id="stripeWebhook",
    summary="Stripe events, verified on the raw body; each applied once",
    status_code=200,
    tags=["webhooks"],
    responses=problems(400, 503),
)
async def stripe_webhook(request: Request[Any, Any, Any], db_session: DbSession) -> WebhookAck:
    raw = await request.body()
    event = get_gateway().construct_event(raw, request.headers.get("stripe-signature"))
    outcome = await webhooks.handle_event(db_session, event)
    return WebhookAck(received=True, outcome=outcome)
