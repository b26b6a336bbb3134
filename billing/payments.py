"""Taking money: tenders at the desk, saved-card charges, pay links, refunds and fees — exactly once.

Every gateway call carries an idempotency key derived from our own row (`charge:<payment id>`,
`paylink:<payment id>`, `refund:<refund id>`, `customer:<client id>`) or from the visit it is for
(`no_show_fee:<appointment id>`, `late_cancel_fee:<appointment id>`, `deposit:<appointment id>`,
`visit:<appointment id>`).

A key derived from a fresh row must outlive a failed request: if the gateway times out after it charged,
the retry has to send the same key. So for those calls this module **commits the pending row before the
call** (`persist_before_call`) — the one place billing services commit — and keeps the outcome facts
(declined, failed) committed too before the 402 goes out. The desk's retry of the same tender (same
method and amount on the same invoice) finds the pending row and resends its key; the gateway replays
the first result and nothing is charged twice.

The saved card is charged in one place, `charge_saved_card`, for the desk's tender, a series visit and a fee: a
fee's or a series visit's row is written pending by the visit's status change and sent by `billing.card_charges`
once that transaction has committed. A refund under a key derived from its payment (`refund_the_rest`) may run
inside the caller's transaction: its retry after a rollback resends the same key.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import credit, invoices, packages, saved_cards, settlement
from billing.gateway import (
    AuthenticationRequired,
    CardDeclined,
    CardNotOnFile,
    ChargeResult,
    CheckoutSession,
    GatewayUnavailable,
    IdempotencyConflict,
    MissingObject,
    PaymentError,
    SavedCard,
)
from billing.models import (
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundStatus,
    StripeCustomer,
)
from billing.money import format_money
from billing.runtime import get_gateway
from scheduler.booking.models import Appointment
from scheduler.clients.models import Client
from scheduler.db import begin_write, end_reads_before_call, insert_unless_conflict
from scheduler.errors import InvalidInput, InvalidTransition, NotFound, RuleViolation
from scheduler.mail import services as mail
from scheduler.practice.models import Practice

DESK_METHODS = ("card_on_file", "pay_link", "cash", "check", "external_card", "package", "credit")
OFFLINE_METHODS = {PaymentMethod.CASH, PaymentMethod.CHECK, PaymentMethod.EXTERNAL_CARD}
CARD_METHODS = {PaymentMethod.CARD_ON_FILE, PaymentMethod.PAY_LINK, PaymentMethod.ONLINE_DEPOSIT}


async def persist_before_call(session: AsyncSession) -> None:
    """Commit the row that names an idempotency key before the gateway sees the key (see module doc)."""
    await session.commit()


# --- the client's customer and saved card -------------------------------------------------------------------


async def customer_for(session: AsyncSession, client_id: uuid.UUID) -> StripeCustomer | None:
    link: StripeCustomer | None = await session.scalar(
        select(StripeCustomer).where(StripeCustomer.client_id == client_id)
    )
    return link


async def open_customer(client: Client, generation: int = 0) -> str:
    """Create (or, by its key `customer:<client id>`, find again) the client's customer at the gateway. Network
    only: the caller records it. `generation` counts the client's customers found gone (`billing.saved_cards`)."""
    return await get_gateway().ensure_customer(
        saved_cards.customer_key(client.id, generation),
        email=client.email,
        name=f"{client.first_name} {client.last_name}".strip(),
        metadata={"client_id": str(client.id), "practice_id": str(client.practice_id)},
    )


async def ensure_customer(session: AsyncSession, client: Client) -> StripeCustomer:
    """The client's customer at the gateway (created once: key `customer:<client id>`). Name and e-mail only."""
    existing = await customer_for(session, client.id)
    if existing is not None and existing.customer_id:
        return existing
    customer_id = await open_customer(client, existing.generation if existing is not None else 0)
    if existing is not None:  # its customer was found gone: this is the fresh one
        existing.customer_id = customer_id
        await session.flush()
        return existing
    link = StripeCustomer(client_id=client.id, customer_id=customer_id)
    session.add(link)
    await session.flush()
    return link


async def save_card(session: AsyncSession, client: Client, payment_method: str) -> StripeCustomer:
    """The desk saves a card (a gateway payment-method id) for off-session charges."""
    if not payment_method.strip() or len(payment_method) > 255:
        raise InvalidInput("Name the card's payment method id.", field="payment_method")
    # The gateway first, outside SQLite's write lock: both keys are derived from the client and the card
    # (`customer:<client id>`, `attach:<client id>:<card>`), so a retry reaches the same customer and card.
    existing = await customer_for(session, client.id)
    generation = existing.generation if existing is not None else 0
    stored = existing.customer_id if existing is not None else None
    await end_reads_before_call(session)
    try:
        customer_id, card = await _attach(client, payment_method, stored, generation)
    except MissingObject as exc:
        if stored is None or not exc.customer_gone:
            raise
        # The customer we stored is gone at the processor: forget it, and save the card on a fresh customer
        # under a fresh key (committed first: the key is derived from the new generation).
        await begin_write(session)
        await saved_cards.forget(session, client.id, exc, customer=stored, payment_method=None)
        link = await customer_for(session, client.id)
        generation = link.generation if link is not None else generation + 1
        await persist_before_call(session)
        customer_id, card = await _attach(client, payment_method, None, generation)
    # Then record it in one write transaction: a save racing this one (or a deposit's checkout) may have
    # linked the customer meanwhile, and the key made it the same customer.
    await begin_write(session)
    link = await link_customer(session, client, customer_id)
    if link.customer_id == customer_id:
        link.default_payment_method = card.payment_method_id
        link.card_brand = card.brand
        link.card_last4 = card.last4
    await session.flush()
    return link


async def _attach(
    client: Client, payment_method: str, customer_id: str | None, generation: int
) -> tuple[str, SavedCard]:
    customer_id = customer_id or await open_customer(client, generation)
    card = await get_gateway().attach_card(
        f"attach:{client.id}:{payment_method}{saved_cards.fresh_suffix(generation)}",
        customer=customer_id,
        payment_method=payment_method,
    )
    return customer_id, card


async def link_customer(session: AsyncSession, client: Client, customer_id: str) -> StripeCustomer:
    """Record the client's customer (opened at the gateway outside any write) once the write lock is held: a new
    link, or the fresh customer of a link whose customer was found gone. A link that names another customer
    keeps it (a racing save made it first under the same key)."""
    await session.execute(
        insert_unless_conflict(
            session,
            StripeCustomer,
            ["client_id"],
            practice_id=client.practice_id,
            client_id=client.id,
            customer_id=customer_id,
        )
    )
    link = (
        await session.execute(
            select(StripeCustomer)
            .where(StripeCustomer.client_id == client.id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    if link.customer_id is None:
        link.customer_id = customer_id
    return link


async def client_checkout(session: AsyncSession, client: Client, key: str, **params: Any) -> CheckoutSession:
    """A Checkout Session naming the client's customer (opened now when there is none), for a link the client
    follows (a deposit, a card to save). The caller has only read so far: the read is ended before the network.
    A stored customer found gone is forgotten and the session opened on a fresh one, under keys made fresh by the
    link's new generation (`billing.saved_cards`), so the client never meets the processor's error. Returns inside
    a write transaction in which the customer is linked; the caller records the session there."""
    link = await customer_for(session, client.id)
    generation = link.generation if link is not None else 0
    stored = link.customer_id if link is not None else None
    await end_reads_before_call(session)
    gateway = get_gateway()
    try:
        customer_id = stored or await open_customer(client, generation)
        checkout = await gateway.create_checkout_session(
            key + saved_cards.fresh_suffix(generation), customer=customer_id, **params
        )
    except MissingObject as exc:
        if stored is None or not exc.customer_gone:
            raise
        await begin_write(session)
        await saved_cards.forget(session, client.id, exc, customer=stored, payment_method=None)
        link = await customer_for(session, client.id)
        generation = link.generation if link is not None else generation + 1
        await persist_before_call(session)  # the fresh keys are derived from the generation just written
        customer_id = await open_customer(client, generation)
        checkout = await gateway.create_checkout_session(
            key + saved_cards.fresh_suffix(generation), customer=customer_id, **params
        )
    await begin_write(session)
    await link_customer(session, client, customer_id)
    return checkout


def _metadata(invoice: Invoice, payment: Payment) -> dict[str, str]:
    return {
        "practice_id": str(invoice.practice_id),
        "invoice_id": str(invoice.id),
        "payment_id": str(payment.id),
        "purpose": payment.purpose,
    }


def apply_charge(payment: Payment, result: ChargeResult) -> None:
    payment.gateway_payment_intent = result.payment_intent_id
    payment.card_brand = result.card_brand or payment.card_brand
    payment.card_last4 = result.card_last4 or payment.card_last4
    if result.succeeded:
        payment.status = PaymentStatus.SUCCEEDED
        payment.failure_code = None
        payment.failure_message = None
    elif result.status in {"requires_payment_method", "canceled"}:
        payment.status = PaymentStatus.FAILED


def mark_failed(payment: Payment, exc: PaymentError) -> None:
    payment.status = PaymentStatus.FAILED
    if isinstance(exc, CardDeclined):
        payment.failure_code = exc.decline_code or exc.stripe_code or exc.code
        payment.gateway_payment_intent = payment.gateway_payment_intent or exc.payment_intent_id
    else:
        payment.failure_code = exc.code
        if isinstance(exc, AuthenticationRequired):
            payment.gateway_payment_intent = payment.gateway_payment_intent or exc.payment_intent_id
    payment.failure_message = exc.detail[:500]


# --- the desk's tenders ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TenderIn:
    method: str
    amount: int


@dataclass(frozen=True)
class TenderOut:
    """The tender's payment; `replayed` when it is the answer to an earlier attempt at the same tender."""

    payment: Payment
    replayed: bool = False


async def take_payment(
    session: AsyncSession, practice: Practice, invoice_id: uuid.UUID, tender: TenderIn, *, base_url: str
) -> Payment:
    """Record or take one tender against an invoice (split tender: call once per tender)."""
    return (await take_tender(session, practice, invoice_id, tender, base_url=base_url)).payment


async def take_tender(
    session: AsyncSession, practice: Practice, invoice_id: uuid.UUID, tender: TenderIn, *, base_url: str
) -> TenderOut:
    """`take_payment`, saying whether the answer is a retry's: the desk resending a tender whose first attempt
    is still pending gets that attempt's key resent; one whose first attempt has meanwhile succeeded (a
    webhook settled it while the desk saw a timeout) gets that payment back, not "more than the balance"."""
    invoice = await invoices.lock_invoice(session, invoice_id)
    if tender.method not in DESK_METHODS:
        raise InvalidInput(f"Payment method is one of {', '.join(DESK_METHODS)}.", field="method")
    if tender.amount <= 0:
        raise InvalidInput("The amount is a positive number of minor units (cents).", field="amount")
    method = PaymentMethod(tender.method)
    if invoice.status is InvoiceStatus.VOID:
        raise InvalidTransition("A void invoice takes no payments.", invoice_status=invoice.status.value)
    if method is PaymentMethod.CARD_ON_FILE:
        retry = await session.scalar(
            select(Payment).where(
                Payment.invoice_id == invoice.id,
                Payment.method == method,
                Payment.amount == tender.amount,
                Payment.status == PaymentStatus.PENDING,
            )
        )
        if retry is not None:  # the outcome of an earlier attempt is unknown: resend its key
            return TenderOut(await _charge_at_desk(session, practice, invoice, retry, base_url=base_url))
    if tender.amount > invoice.balance:
        settled = await session.scalar(
            select(Payment)
            .where(
                Payment.invoice_id == invoice.id,
                Payment.method == method,
                Payment.amount == tender.amount,
                Payment.status == PaymentStatus.SUCCEEDED,
                Payment.refunded == 0,
            )
            .order_by(Payment.created_at.desc())
            .limit(1)
        )
        if settled is not None:  # the same tender already went through: this is its retry
            return TenderOut(settled, replayed=True)
        raise RuleViolation(
            f"That is more than the balance of {format_money(invoice.balance, invoice.currency)}.",
            rule="exceeds_balance",
            field="amount",
            balance=invoice.balance,
        )
    if method is PaymentMethod.CREDIT:
        await credit.check_draw(session, invoice, tender.amount)
    payment = Payment(
        invoice_id=invoice.id,
        method=method,
        amount=tender.amount,
        currency=invoice.currency,
        status=PaymentStatus.PENDING,
        refunded=0,
        purpose="checkout",
    )
    session.add(payment)
    await session.flush()
    if method in OFFLINE_METHODS or method is PaymentMethod.CREDIT:
        if method is PaymentMethod.CREDIT:
            # Drawn under the invoice's lock (and the client's): never above the balance nor the client's credit.
            credit.record_draw(session, invoice, payment)
        payment.status = PaymentStatus.SUCCEEDED
        await invoices.recompute(session, invoice)
        return TenderOut(payment)
    if method is PaymentMethod.PACKAGE:
        # The session pays the visit at its share of the package price, whatever amount was typed.
        appointment = await session.get(Appointment, invoice.appointment_id) if invoice.appointment_id else None
        await packages.pay_visit_with_session(session, invoice, payment, appointment)
        payment.status = PaymentStatus.SUCCEEDED
        await invoices.recompute(session, invoice)
        return TenderOut(payment)
    if method is PaymentMethod.PAY_LINK:
        await _send_pay_link(session, practice, invoice, payment, base_url=base_url)
        return TenderOut(payment)
    return TenderOut(await _charge_at_desk(session, practice, invoice, payment, base_url=base_url))


async def client_pay_link(
    session: AsyncSession, practice: Practice, client_id: uuid.UUID, invoice_id: uuid.UUID, *, base_url: str
) -> str:
    """The client's own "Pay now" (the portal): a pay link for the invoice's balance, the one already open for
    that amount when there is one, else a new one made (and e-mailed) as the desk's `pay_link` tender makes it.
    An invoice of another client, or with nothing to pay, reads as not found."""
    invoice = await invoices.lock_invoice(session, invoice_id)
    appointment = await session.get(Appointment, invoice.appointment_id) if invoice.appointment_id else None
    if invoice.client_id != client_id or not invoices.due_from_client(invoice, appointment):
        raise NotFound("There is nothing to pay on this invoice yet.", field="invoice_id")
    open_link = await session.scalar(
        select(Payment.checkout_url).where(
            Payment.invoice_id == invoice.id,
            Payment.method == PaymentMethod.PAY_LINK,
            Payment.status == PaymentStatus.PENDING,
            Payment.amount == invoice.balance,
            Payment.checkout_url.is_not(None),
        )
    )
    if open_link:
        return open_link
    out = await take_tender(
        session, practice, invoice.id, TenderIn(method="pay_link", amount=invoice.balance), base_url=base_url
    )
    if not out.payment.checkout_url:
        msg = f"payment {out.payment.id}: a pay link was made without a checkout URL"
        raise RuntimeError(msg)
    return out.payment.checkout_url


async def _charge_at_desk(
    session: AsyncSession, practice: Practice, invoice: Invoice, payment: Payment, *, base_url: str
) -> Payment:
    """The desk's saved-card tender: `charge_saved_card`, and a card that needs the client (3-D Secure) gets a
    pay link e-mailed for the same amount before the 402 goes out."""
    card = saved_cards.on_file(await customer_for(session, invoice.client_id))
    if card is None:
        raise RuleViolation("The client has no saved card.", rule="no_saved_card", field="method")
    invoice_id = invoice.id
    try:
        return await charge_saved_card(session, invoice, payment, card)
    except AuthenticationRequired as exc:
        invoice = await invoices.lock_invoice(session, invoice_id)
        failed = await session.get_one(Payment, payment.id, populate_existing=True)
        link = Payment(
            invoice_id=invoice.id,
            method=PaymentMethod.PAY_LINK,
            amount=failed.amount,
            currency=failed.currency,
            status=PaymentStatus.PENDING,
            refunded=0,
            purpose=failed.purpose,
        )
        session.add(link)
        await session.flush()
        await _send_pay_link(session, practice, invoice, link, base_url=base_url)
        await session.commit()
        exc.pay_url = link.checkout_url
        raise


def charge_description(practice: Practice, payment: Payment) -> str:
    """What the card statement reads, derived from the payment alone: a resend of the same key must send the
    same parameters, or the processor refuses it as another request."""
    fee = {"no_show_fee": "no-show fee", "late_cancel_fee": "late-cancel fee"}.get(payment.purpose)
    return f"{practice.name} {fee or 'visit'}"


async def charge_saved_card(
    session: AsyncSession, invoice: Invoice, payment: Payment, card: saved_cards.CardOnFile
) -> Payment:
    """Charge `card` for a pending card-on-file payment — the one place billing does (desk tender, series visit,
    fee). The row and its idempotency key (`charge:<payment id>` unless it carries one derived from its visit) are
    committed before the call, so a lost answer is resent under the same key and charged once. The answer is
    recorded (`record_charge`) in a new transaction under the invoice's lock, which the caller commits.

    A refusal is recorded and committed before it is raised: declined or needing the client
    (`AuthenticationRequired`) → the payment fails with the processor's code; the card (or customer) gone →
    `card_not_on_file`, the card forgotten, `CardNotOnFile` raised. Stripe away (`GatewayUnavailable`) leaves
    the row pending with its key for a retry, the `payment_intent.succeeded` webhook or the sweep."""
    practice = await session.get_one(Practice, invoice.practice_id)
    payment.idempotency_key = payment.idempotency_key or f"charge:{payment.id}"
    payment.card_brand, payment.card_last4 = card.brand, card.last4
    key, amount, currency = payment.idempotency_key, payment.amount, payment.currency
    metadata = _metadata(invoice, payment)
    description = charge_description(practice, payment)
    payment_id, invoice_id = payment.id, invoice.id
    await persist_before_call(session)
    try:
        result = await get_gateway().charge_saved_card(
            key,
            customer=card.customer,
            payment_method=card.payment_method,
            amount=amount,
            currency=currency.lower(),
            metadata=metadata,
            description=description,
        )
    except (GatewayUnavailable, IdempotencyConflict):
        # The row stays pending with its key: the retry resends it. A conflict on the key is no refusal either: the
        # first send under it may still be running at Stripe (or have charged), and its webhook records the answer.
        raise
    except MissingObject as exc:
        await card_gone(session, invoice_id, payment_id, exc, card)
        raise CardNotOnFile from exc
    except PaymentError as exc:
        invoice = await invoices.lock_invoice(session, invoice_id)
        payment = await session.get_one(Payment, payment_id, populate_existing=True)
        if payment.status is PaymentStatus.PENDING:  # a racing send of the same key may have recorded money
            mark_failed(payment, exc)
        await invoices.recompute(session, invoice)
        await session.commit()
        raise
    invoice = await invoices.lock_invoice(session, invoice_id)
    payment = await session.get_one(Payment, payment_id, populate_existing=True)
    await record_charge(session, invoice, payment, result)
    return payment


async def record_charge(session: AsyncSession, invoice: Invoice, payment: Payment, result: ChargeResult) -> None:
    """Move a payment forward to what the processor answered for its charge, under the invoice's lock, and
    recompute the invoice: money that arrived is recorded whatever the invoice's state (even a payment closed as
    superseded meanwhile) and any excess refunded (`settlement.payment_succeeded`); a pending one takes the
    charge's state; a settled one is left as it is."""
    if result.succeeded and payment.status is not PaymentStatus.SUCCEEDED:
        apply_charge(payment, result)
        await settlement.payment_succeeded(session, invoice, payment)
        return
    if payment.status is PaymentStatus.PENDING:  # a webhook may have got here first
        apply_charge(payment, result)
    await invoices.recompute(session, invoice)


async def card_gone(
    session: AsyncSession,
    invoice_id: uuid.UUID,
    payment_id: uuid.UUID,
    missing: MissingObject,
    used: saved_cards.CardOnFile,
) -> None:
    """The saved card (or its customer) a committed payment row was sent with is gone at the processor: the row
    fails as `card_not_on_file`, the card is forgotten, and both are committed before the 409 goes out."""
    invoice = await invoices.lock_invoice(session, invoice_id)
    payment = await session.get_one(Payment, payment_id, populate_existing=True)
    await saved_cards.charge_found_card_gone(session, payment, invoice.client_id, missing, used)
    await invoices.recompute(session, invoice)
    await session.commit()


def _return_url(base_url: str, practice: Practice) -> str:
    return f"{base_url}/p/{practice.slug}/checkout/return?session_id={{CHECKOUT_SESSION_ID}}"


async def _send_pay_link(
    session: AsyncSession, practice: Practice, invoice: Invoice, payment: Payment, *, base_url: str
) -> None:
    """A Checkout Session for the payment's amount, e-mailed to the client through the outbox."""
    client = await session.get_one(Client, invoice.client_id)
    customer = await ensure_customer(session, client)
    customer_id, invoice_id, payment_id = customer.customer_id, invoice.id, payment.id
    payment.idempotency_key = payment.idempotency_key or f"paylink:{payment.id}"
    await persist_before_call(session)
    try:
        checkout = await get_gateway().create_checkout_session(
            payment.idempotency_key,
            customer=customer_id,
            amount=payment.amount,
            currency=payment.currency.lower(),
            description=f"Payment to {practice.name}",
            success_url=_return_url(base_url, practice),
            cancel_url=f"{base_url}/p/{practice.slug}",
            metadata=_metadata(invoice, payment),
            save_card=True,
        )
    except MissingObject as exc:
        if customer_id is None:
            raise
        # No card was named: only a customer found gone is forgotten (see `saved_cards.forget`).
        await card_gone(session, invoice_id, payment_id, exc, saved_cards.CardOnFile(customer_id, "", None, None))
        raise CardNotOnFile from exc
    await invoices.write_lock(session)
    payment.gateway_checkout_session = checkout.id
    payment.checkout_url = checkout.url
    body = mail.render(
        "pay_link.txt",
        first_name=client.first_name,
        practice={"name": practice.name, "phone": practice.phone},
        amount=format_money(payment.amount, payment.currency),
        pay_url=checkout.url,
    )
    await mail.enqueue(
        session,
        to=client.email,
        subject=f"{practice.name}: please complete your payment",
        body_text=body,
        kind="pay_link",
        practice_id=practice.id,
    )
    await session.flush()


# --- refunds --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundIn:
    amount: int
    reason: str = ""
    line_id: uuid.UUID | None = None


async def get_payment(session: AsyncSession, payment_id: uuid.UUID) -> Payment:
    payment = await session.scalar(select(Payment).where(Payment.id == payment_id))
    if payment is None:
        raise NotFound("No such payment.", field="payment_id")
    return payment


def check_refund_input(data: RefundIn) -> None:
    """The refund form's own fields: a positive amount and a short reason."""
    if data.amount <= 0:
        raise InvalidInput("The amount is a positive number of minor units (cents).", field="amount")
    if len(data.reason) > 200:
        raise InvalidInput("At most 200 characters.", field="reason")


def check_refundable(payment: Payment, amount: int) -> None:
    """Only a succeeded payment is refunded, and never beyond what is left of it (read under the invoice's lock)."""
    if payment.status is not PaymentStatus.SUCCEEDED:
        raise InvalidTransition("Only a payment that succeeded can be refunded.", payment_status=payment.status.value)
    if amount > payment.refundable:
        raise RuleViolation(
            f"At most {format_money(payment.refundable, payment.currency)} of this payment is left to refund.",
            rule="exceeds_refundable",
            field="amount",
            refundable=payment.refundable,
        )


async def refund_payment(session: AsyncSession, payment_id: uuid.UUID, data: RefundIn) -> Refund:
    """Give back up to what is left of a payment. A credit line keeps the invoice's balance where it was:
    it names the refunded line (a returned retail item) or reads "Refund"."""
    payment = await get_payment(session, payment_id)
    check_refund_input(data)
    invoice = await invoices.lock_invoice(session, payment.invoice_id)
    await session.refresh(payment)
    if payment.method is PaymentMethod.PACKAGE:
        raise RuleViolation("A package session is not refunded as money.", rule="package_not_refundable")
    check_refundable(payment, data.amount)
    line: InvoiceLine | None = None
    if data.line_id is not None:
        line = await session.scalar(
            select(InvoiceLine).where(InvoiceLine.id == data.line_id, InvoiceLine.invoice_id == invoice.id)
        )
        if line is None:
            raise NotFound("No such line on this payment's invoice.", field="line_id")
    refund_id = uuid.uuid4()
    refund = _write_refund(
        session, invoice, payment, data.amount, data.reason.strip(), line, refund_id, f"refund:{refund_id}"
    )
    if payment.method in OFFLINE_METHODS:
        refund.status = RefundStatus.SUCCEEDED  # the desk hands the money back
        await invoices.recompute(session, invoice)
        return refund
    if payment.method is PaymentMethod.CREDIT:
        refund.status = RefundStatus.SUCCEEDED  # goes back to the client's account credit
        credit.record_return(session, invoice, refund)
        await invoices.recompute(session, invoice)
        return refund
    await invoices.recompute(session, invoice)
    if payment.gateway_payment_intent is None:
        raise RuleViolation("This card payment has no charge to refund yet.", rule="not_charged")
    return await _send_refund(session, invoice, refund, payment.gateway_payment_intent)


async def refund_the_rest(
    session: AsyncSession, invoice: Invoice, payment: Payment, *, key: str, reason: str
) -> Refund:
    """Give back all that is left of a card payment on its own initiative (a deposit for a visit that could
    not be kept), under the caller's invoice lock. `key` is derived from the payment, so the gateway is
    called inside the caller's transaction: a retry after a rollback resends the same key and Stripe
    replays the first refund. A refusal leaves the refund failed for the desk and is not raised."""
    # The row's id is derived from the key too: it goes to the gateway in the metadata, and a retry of the
    # same key with other parameters would be refused as a different request.
    refund_id = uuid.uuid5(payment.id, key)
    refund = _write_refund(session, invoice, payment, payment.refundable, reason, None, refund_id, key)
    await invoices.recompute(session, invoice)
    if payment.gateway_payment_intent is None:
        raise RuleViolation("This card payment has no charge to refund yet.", rule="not_charged")
    try:
        return await _send_refund(session, invoice, refund, payment.gateway_payment_intent, persist_first=False)
    except GatewayUnavailable:
        raise  # the caller's transaction rolls back; the webhook's retry sends the same key
    except PaymentError:
        return await session.get_one(Refund, refund.id)


def _write_refund(
    session: AsyncSession,
    invoice: Invoice,
    payment: Payment,
    amount: int,
    reason: str,
    line: InvoiceLine | None,
    refund_id: uuid.UUID,
    key: str,
) -> Refund:
    """The pending refund row, its credit line (keeping the invoice's balance) and the payment's refunded sum."""
    refund = Refund(payment_id=payment.id, amount=amount, reason=reason, line_id=line.id if line else None)
    refund.id = refund_id
    refund.idempotency_key = key
    refund.status = RefundStatus.PENDING
    session.add(refund)
    payment.refunded += amount
    session.add(
        InvoiceLine(
            invoice_id=invoice.id,
            kind=line.kind if line is not None else LineKind.DISCOUNT,
            description=f"Refund: {line.description}"[:200] if line is not None else "Refund",
            amount=-amount,
            quantity=1,
            fsa_eligible=line.fsa_eligible if line is not None else False,
            credits_line_id=line.id if line is not None else None,
        )
    )
    return refund


async def _send_refund(
    session: AsyncSession, invoice: Invoice, refund: Refund, intent: str, *, persist_first: bool = True
) -> Refund:
    """Send a written refund and record what the gateway answered. A key made for a fresh row is committed
    first (`persist_first`); a refusal is recorded (and, then, committed) before it is raised."""
    refund_id, key = refund.id, refund.idempotency_key
    if persist_first:
        await persist_before_call(session)
    else:
        await session.flush()
    try:
        result = await get_gateway().refund(
            key,
            payment_intent=intent,
            amount=refund.amount,
            metadata={"practice_id": str(invoice.practice_id), "refund_id": str(refund_id)},
        )
    except GatewayUnavailable:
        raise  # pending with its key; `carebook stripe reconcile` or the charge.refunded webhook settles it
    except PaymentError:
        invoice = await invoices.lock_invoice(session, invoice.id)
        refund = await session.get_one(Refund, refund_id, populate_existing=True)
        await _fail_refund(session, refund)
        await invoices.recompute(session, invoice)
        if persist_first:
            await session.commit()
        raise
    invoice = await invoices.lock_invoice(session, invoice.id)
    refund = await session.get_one(Refund, refund_id, populate_existing=True)
    refund.gateway_refund_id = result.id
    if result.status == "succeeded":
        refund.status = RefundStatus.SUCCEEDED
    elif result.status in {"failed", "canceled"}:
        await _fail_refund(session, refund)
    await invoices.recompute(session, invoice)
    return refund


async def _fail_refund(session: AsyncSession, refund: Refund) -> None:
    """A refund that failed gives the amount back to the payment and drops its credit line."""
    if refund.status is RefundStatus.FAILED:
        return
    refund.status = RefundStatus.FAILED
    payment = await session.get_one(Payment, refund.payment_id, populate_existing=True)
    payment.refunded -= refund.amount
    if refund.overpayment:
        await session.flush()
        return  # an overpayment refund wrote no credit line
    credit = await session.scalar(
        select(InvoiceLine)
        .where(
            InvoiceLine.invoice_id == payment.invoice_id,
            InvoiceLine.amount == -refund.amount,
            InvoiceLine.description.like("Refund%"),
        )
        .order_by(InvoiceLine.created_at.desc())
    )
    if credit is not None:
        await session.delete(credit)
    await session.flush()


async def refunds_of(session: AsyncSession, payment: Payment) -> list[Refund]:
    return list(
        await session.scalars(select(Refund).where(Refund.payment_id == payment.id).order_by(Refund.created_at))
    )


# --- refunds of money taken for a visit that did not happen ---------------------------------------------------


def write_cancellation_refund(
    session: AsyncSession,
    payment: Payment,
    amount: int,
    *,
    key: str,
    reason: str,
    refund_id: uuid.UUID | None = None,
) -> Refund:
    """A pending refund of a card payment for a visit that did not happen, written (not sent) under the caller's
    invoice lock. Its key is derived from the payment (`deposit_refund:<payment id>`) and so is its id, so any
    retry names the same refund (a desk refund passes its own `refund_id`). Unlike a desk refund it writes no
    credit line: the visit's own lines are credited by `invoices.close_for_cancelled_visit`, and the money given
    back simply lowers what was paid."""
    refund = Refund(payment_id=payment.id, amount=amount, reason=reason[:200], line_id=None)
    refund.id = refund_id or uuid.uuid5(payment.id, key)
    refund.idempotency_key = key
    refund.status = RefundStatus.PENDING
    session.add(refund)
    payment.refunded += amount
    return refund


async def send_written_refund(session: AsyncSession, refund_id: uuid.UUID, *, commit_first: bool) -> Refund:
    """Send a refund written earlier and not yet answered, and record the answer. `commit_first` ends the
    caller's transaction (which must hold nothing but reads, or the refund's own writing) before the call, so
    no lock is held across the network; without it the call runs in the caller's transaction, whose retry
    resends the same key. A refusal is recorded (failed, for the desk) and not raised. An unreachable gateway
    leaves a committed refund pending for the next sweep (`billing.visits.send_held_refunds`) or the
    `charge.refunded` webhook; inside the caller's transaction it is raised, so that transaction rolls back and
    its own retry (a webhook redelivery) resends the key."""
    refund = await session.get_one(Refund, refund_id, populate_existing=True)
    payment = await session.get_one(Payment, refund.payment_id)
    invoice = await session.get_one(Invoice, payment.invoice_id)
    if refund.status is not RefundStatus.PENDING or refund.gateway_refund_id or not payment.gateway_payment_intent:
        return refund
    try:
        return await _send_refund(session, invoice, refund, payment.gateway_payment_intent, persist_first=commit_first)
    except GatewayUnavailable:
        if not commit_first:
            raise
        return await session.get_one(Refund, refund_id)
    except PaymentError:
        return await session.get_one(Refund, refund_id)
