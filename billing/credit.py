"""A client's account credit: a deposit kept for a late cancellation (or a no-show) when the practice's policy keeps
it as credit (`PaymentPolicy.kept_deposit = credit`), drawn as a tender at a later checkout (a desk refund of that
tender gives it back: `credit_return:<refund id>`).

The credit is card money the practice keeps: the deposit's charge stays at Stripe, and the cancelled visit's
invoice gives it up with a refund *to credit* (key `deposit_credit:<payment id>`, succeeded at once, no gateway
refund), so that invoice ends void with nothing paid for care that did not happen and no receipt. The ledger
(`ClientCredit`) gets +amount under the same key; a checkout's `credit` tender gets -amount under
`credit_use:<payment id>`. The balance is the sum of the entries, and both keys are unique: a retried
cancellation or tender never writes an entry twice.

Credit drawn for care is paid money for that care (it was paid by card for a visit that did not happen, then
applied): it counts towards the invoice's paid sum like any tender, and receipts print it as a tender,
"Account credit", including for FSA/HSA purposes.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import ClientCredit, Invoice, Payment, Refund, RefundStatus
from billing.money import format_money
from scheduler.clients.models import Client
from scheduler.errors import RuleViolation

KEPT_PREFIX = "deposit_credit:"
USE_PREFIX = "credit_use:"
RETURN_PREFIX = "credit_return:"
KEPT_REASON = "Kept as account credit"


async def balance(session: AsyncSession, client_id: uuid.UUID) -> int:
    """The client's account credit, in minor units (the sum of the ledger)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(ClientCredit.amount), 0)).where(ClientCredit.client_id == client_id)
    )
    return int(total or 0)


async def keep_deposit_as_credit(session: AsyncSession, invoice: Invoice, deposit: Payment) -> int:
    """Under the invoice's lock: move what is left of a succeeded deposit into the client's credit — a refund to
    credit on the deposit (no money moves at the processor) and a + ledger entry. Answers the amount kept (0 when
    this deposit was already kept: the key is on record)."""
    key = f"{KEPT_PREFIX}{deposit.id}"
    if await session.scalar(select(ClientCredit.id).where(ClientCredit.idempotency_key == key)) is not None:
        return 0
    amount = deposit.refundable
    if amount <= 0:
        return 0
    refund = Refund(payment_id=deposit.id, amount=amount, reason=KEPT_REASON, line_id=None)
    refund.id = uuid.uuid5(deposit.id, key)
    refund.idempotency_key = key
    refund.status = RefundStatus.SUCCEEDED
    session.add(refund)
    deposit.refunded += amount
    session.add(
        ClientCredit(
            client_id=invoice.client_id,
            amount=amount,
            currency=deposit.currency,
            payment_id=deposit.id,
            idempotency_key=key,
        )
    )
    await session.flush()
    return amount


async def client_page_note(session: AsyncSession, client: Client) -> str | None:
    """`on_client_page`: the client's account credit, when there is any, for the desk."""
    amount = await balance(session, client.id)
    if amount <= 0:
        return None
    currency = await session.scalar(select(ClientCredit.currency).where(ClientCredit.client_id == client.id).limit(1))
    return f"Account credit {format_money(amount, currency or 'USD')} — use it at the next checkout."


async def lock_client(session: AsyncSession, client_id: uuid.UUID) -> None:
    """Serialise draws on one client's credit across invoices (PostgreSQL row lock; SQLite holds the write lock)."""
    await session.scalar(select(Client.id).where(Client.id == client_id).with_for_update())


async def check_draw(session: AsyncSession, invoice: Invoice, amount: int) -> None:
    """Under the invoice's lock, before a `credit` tender is written: the client's credit covers `amount`, or 422
    naming `amount` (nothing is written)."""
    await lock_client(session, invoice.client_id)
    available = await balance(session, invoice.client_id)
    if amount > available:
        raise RuleViolation(
            f"That is more than the client's account credit of {format_money(available, invoice.currency)}.",
            rule="exceeds_credit",
            field="amount",
            credit=available,
        )


def record_draw(session: AsyncSession, invoice: Invoice, payment: Payment) -> None:
    """The - ledger entry of a `credit` tender (`credit_use:<payment id>`), after `check_draw` in the same lock."""
    session.add(
        ClientCredit(
            client_id=invoice.client_id,
            amount=-payment.amount,
            currency=payment.currency,
            payment_id=payment.id,
            idempotency_key=f"{USE_PREFIX}{payment.id}",
        )
    )


def record_return(session: AsyncSession, invoice: Invoice, refund: Refund) -> None:
    """A desk refund of a `credit` tender gives the amount back to the client's credit (`credit_return:<refund id>`)."""
    session.add(
        ClientCredit(
            client_id=invoice.client_id,
            amount=refund.amount,
            currency=invoice.currency,
            payment_id=refund.payment_id,
            idempotency_key=f"{RETURN_PREFIX}{refund.id}",
        )
    )
