"""Charges a visit's status change decides — a no-show or late-cancel fee, a series visit's charge — sent once the
status change has committed.

The status change runs in a transaction that holds SQLite's only write lock (and the visit's row locks on
PostgreSQL); a call to Stripe inside it would hold them across the network, and its outcome would be lost with a
rollback. So that transaction only writes the pending card-on-file payment (`write_pending`), under a key derived
from the visit (`no_show_fee:<appointment id>`, `late_cancel_fee:<appointment id>`, `visit:<appointment id>`), and
notes it (`billing.after_commit.charge_after_commit`). Once it has committed the app sends it after the response
(`send_after_response`), each charge in its own short unit of work through the one `payments.charge_saved_card`.

A row whose send never happened or never got an answer (the process stopped, Stripe was away) is sent again by the
once-a-minute sweep after a response and by `carebook stripe reconcile` (`send_held_charges`): the same key, so
Stripe charges once and replays its first answer. A refusal is the desk's to follow up: the payment fails with its
reason and the fee or visit stays on the open invoice.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import Any

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from litestar import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import invoices, payments, saved_cards, settlement
from billing.after_commit import charge_after_commit, take_committed_charges
from billing.gateway import CardNotOnFile, GatewayUnavailable, IdempotencyConflict, PaymentError
from billing.models import Invoice, InvoiceStatus, Payment, PaymentMethod, PaymentStatus
from scheduler.db import scope_session, session_scope, unscoped
from scheduler.transaction import own_unit_of_work

log = logging.getLogger(__name__)

# The purposes of the charges a status change writes and this module sends (the desk sends its own).
SENT_AFTER_COMMIT = frozenset({"plan_visit", "no_show_fee", "late_cancel_fee"})
# The sweep after a response leaves alone a row younger than this: the request that wrote it may still be sending
# it, and a second send of the key while the first is in flight is refused by Stripe. Longer than the SDK's worst
# case (80 s a try, MAX_NETWORK_RETRIES retries with back-off).
SWEEP_EVERY_SECONDS = 60.0
SWEEP_AGE = dt.timedelta(minutes=10)
_last_sweep = {"at": 0.0}


def write_pending(
    session: AsyncSession,
    invoice: Invoice,
    card: saved_cards.CardOnFile,
    *,
    amount: int,
    purpose: str,
    key: str,
) -> Payment:
    """The pending charge of the saved card, written in the caller's (status-change) transaction and sent once it
    commits. Nothing goes to the network here."""
    payment = Payment(
        invoice_id=invoice.id,
        method=PaymentMethod.CARD_ON_FILE,
        amount=amount,
        currency=invoice.currency,
        status=PaymentStatus.PENDING,
        refunded=0,
        purpose=purpose,
        idempotency_key=key,
        card_brand=card.brand,
        card_last4=card.last4,
    )
    payment.id = uuid.uuid4()
    session.add(payment)
    charge_after_commit(session, invoice.practice_id, payment.id)
    return payment


async def send_written_charge(session: AsyncSession, payment_id: uuid.UUID) -> Payment:
    """Send one charge written by a status change and not yet answered, and record the answer (see
    `payments.charge_saved_card`); the session is the caller's fresh unit of work, scoped to the practice. A
    refusal is recorded, not raised; Stripe away leaves the row pending for the sweep."""
    payment = await session.get_one(Payment, payment_id, populate_existing=True)
    if payment.status is not PaymentStatus.PENDING or payment.gateway_payment_intent is not None:
        return payment  # answered already (another send, the webhook)
    invoice = await session.get_one(Invoice, payment.invoice_id, populate_existing=True)
    if invoice.status is not InvoiceStatus.OPEN:
        return await _close_unsent(session, payment_id, invoice.id)
    card = saved_cards.on_file(await payments.customer_for(session, invoice.client_id))
    if card is None:
        return await _no_card(session, payment_id, invoice.id)
    try:
        return await payments.charge_saved_card(session, invoice, payment, card)
    except (GatewayUnavailable, IdempotencyConflict):
        log.info("charge left pending: Stripe unreachable or its key in use", extra={"payment_id": str(payment_id)})
    except PaymentError as exc:
        log.info("charge refused: %s", exc.code, extra={"payment_id": str(payment_id), "purpose": payment.purpose})
    return await session.get_one(Payment, payment_id, populate_existing=True)


async def _close_unsent(session: AsyncSession, payment_id: uuid.UUID, invoice_id: uuid.UUID) -> Payment:
    """The invoice was settled (or voided) before the charge went out: it is not sent at all."""
    invoice = await invoices.lock_invoice(session, invoice_id)
    payment = await session.get_one(Payment, payment_id, populate_existing=True)
    if payment.status is PaymentStatus.PENDING and invoice.status is not InvoiceStatus.OPEN:
        payment.status = PaymentStatus.FAILED
        payment.failure_code = settlement.SUPERSEDED
        payment.failure_message = settlement.SUPERSEDED_MESSAGE
        await invoices.recompute(session, invoice)
    return payment


async def _no_card(session: AsyncSession, payment_id: uuid.UUID, invoice_id: uuid.UUID) -> Payment:
    """The saved card was removed (or found gone) before the charge went out: the desk asks for a new one."""
    invoice = await invoices.lock_invoice(session, invoice_id)
    payment = await session.get_one(Payment, payment_id, populate_existing=True)
    if payment.status is PaymentStatus.PENDING and payment.gateway_payment_intent is None:
        gone = CardNotOnFile()
        payment.status = PaymentStatus.FAILED
        payment.failure_code = gone.code
        payment.failure_message = gone.detail
        await invoices.recompute(session, invoice)
    return payment


async def _send(config: SQLAlchemyAsyncConfig, practice_id: uuid.UUID, payment_id: uuid.UUID) -> bool:
    """One charge in its own unit of work; the webhooks its call raises are posted once that unit has ended.
    True when Stripe answered (the row is no longer pending)."""
    with own_unit_of_work():
        async with session_scope(config) as session:
            scope_session(session, practice_id)
            payment = await send_written_charge(session, payment_id)
            return payment.status is not PaymentStatus.PENDING


async def send_committed(config: SQLAlchemyAsyncConfig) -> int:
    """Send the charges written by transactions that have committed in this process; how many were answered."""
    answered = 0
    for due in take_committed_charges():
        try:
            answered += await _send(config, due.practice_id, due.payment_id)
        except Exception:
            # Never a failed response: the row is pending with its key, and the sweep comes back to it.
            log.exception("sending a charge after its commit failed", extra={"payment_id": str(due.payment_id)})
    return answered


async def send_held_charges(
    config: SQLAlchemyAsyncConfig, limit: int = 50, *, older_than: dt.timedelta = dt.timedelta(0)
) -> int:
    """Send every charge a status change wrote that Stripe has not answered (what a stopped process or an
    unreachable Stripe left pending), written at least `older_than` ago; how many were answered. Safe in any
    number of processes: the key is the visit's, so Stripe charges once."""
    written_before = invoices.utcnow() - older_than
    async with session_scope(config) as session:
        with unscoped(session):
            due = (
                await session.execute(
                    select(Payment.practice_id, Payment.id)
                    .where(
                        Payment.method == PaymentMethod.CARD_ON_FILE,
                        Payment.status == PaymentStatus.PENDING,
                        Payment.gateway_payment_intent.is_(None),
                        Payment.purpose.in_(SENT_AFTER_COMMIT),
                        Payment.created_at <= written_before,
                    )
                    .order_by(Payment.created_at)
                    .limit(limit)
                )
            ).all()
    answered = 0
    for practice_id, payment_id in due:
        answered += await _send(config, practice_id, payment_id)
    return answered


async def send_after_response(request: Request[Any, Any, Any]) -> None:
    """After a response: send the charges its transaction wrote (it has committed), and at most once a minute
    sweep for any left pending by others. Never fails the request that ran before it."""
    config = request.app.state.alchemy
    await send_committed(config)
    now = time.monotonic()
    if now - _last_sweep["at"] < SWEEP_EVERY_SECONDS:
        return
    _last_sweep["at"] = now
    try:
        await send_held_charges(config, older_than=SWEEP_AGE)
    except Exception:
        log.exception("card charges: the sweep after the response failed")
