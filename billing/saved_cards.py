"""The client's saved card as billing trusts it: only while the processor still has it.

A customer or payment method we stored can disappear at the processor — the offline sandbox's account was reset,
the key switched from test to live, someone deleted it in Stripe's dashboard. The gateway then answers
`resource_missing` (`billing.gateway.MissingObject`). Wherever the saved card was used, billing forgets it
(`forget`) and answers `CardNotOnFile`, never the processor's sentence, so the desk's pages stop showing a card
that cannot be charged.

A customer found gone is forgotten too, and the link's `generation` goes up: the next customer is created under
`customer:<client id>:<generation>` (`customer_key`), because the first key, `customer:<client id>`, would replay
the customer that no longer exists for as long as the processor keeps its result.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.gateway import CardNotOnFile, MissingObject
from billing.models import Payment, PaymentStatus, StripeCustomer

log = logging.getLogger(__name__)


def customer_key(client_id: uuid.UUID, generation: int) -> str:
    """The idempotency key that creates the client's customer: the first keeps its historical form."""
    return f"customer:{client_id}" if generation == 0 else f"customer:{client_id}:{generation}"


def fresh_suffix(generation: int) -> str:
    """What a key derived from the customer adds once the first customer was found gone (`""` before)."""
    return "" if generation == 0 else f":{generation}"


@dataclass(frozen=True)
class CardOnFile:
    """A card that can be charged off-session: the customer it is saved on and its payment method."""

    customer: str
    payment_method: str
    brand: str | None
    last4: str | None


def on_file(link: StripeCustomer | None) -> CardOnFile | None:
    """The client's saved card, or None when there is none (never saved, or forgotten)."""
    if link is None or not link.customer_id or not link.default_payment_method:
        return None
    return CardOnFile(link.customer_id, link.default_payment_method, link.card_brand, link.card_last4)


async def forget(
    session: AsyncSession, client_id: uuid.UUID, missing: MissingObject, *, customer: str, payment_method: str | None
) -> None:
    """The processor no longer has the customer or card this call used: clear the saved card, and the customer
    itself when that is what is gone. Only what the failed call used is cleared — a card saved meanwhile (the
    desk saving a new one while this charge failed) stays."""
    link = await session.scalar(
        select(StripeCustomer).where(StripeCustomer.client_id == client_id).execution_options(populate_existing=True)
    )
    if link is None or link.customer_id != customer:
        return
    if missing.customer_gone:
        link.customer_id = None
        link.generation += 1
    elif payment_method is not None and link.default_payment_method != payment_method:
        return
    link.default_payment_method = None
    link.card_brand = None
    link.card_last4 = None
    await session.flush()
    log.warning(
        "saved card forgotten: the processor no longer has it",
        extra={"client_id": str(client_id), "missing": missing.param or "object"},
    )


async def charge_found_card_gone(
    session: AsyncSession, payment: Payment, client_id: uuid.UUID, missing: MissingObject, card: CardOnFile
) -> None:
    """A charge of the saved card answered `resource_missing`: the payment fails as `card_not_on_file` (our
    sentence on it, never the processor's) and the card is forgotten, in the caller's transaction."""
    gone = CardNotOnFile()
    payment.status = PaymentStatus.FAILED
    payment.failure_code = gone.code
    payment.failure_message = gone.detail
    # The card it names no longer exists: the desk's pages show none (the failure says why).
    payment.card_brand = None
    payment.card_last4 = None
    await forget(session, client_id, missing, customer=card.customer, payment_method=card.payment_method)
