"""Reconciliation: apply the gateway's events whose webhook delivery failed (Stripe lists 30 days of them).

Each event goes through the same `webhooks.handle_event` as a delivery, in its own transaction, so an event
already applied (delivered late after all, or replayed twice) is recognised by its id and changes nothing.
"""

from __future__ import annotations

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig

from billing import webhooks
from billing.gateway import PaymentGateway
from scheduler.db import session_scope


async def replay_undelivered(
    config: SQLAlchemyAsyncConfig, gateway: PaymentGateway, limit: int = 100
) -> dict[str, int]:
    counts = {"applied": 0, "duplicate": 0, "ignored": 0}
    for event in await gateway.list_undelivered_events(limit=limit):
        async with session_scope(config) as session:
            counts[await webhooks.handle_event(session, event)] += 1
    return counts
