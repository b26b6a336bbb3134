"""Reconciliation: apply the gateway's events whose webhook delivery failed (Stripe lists 30 days of them),
replay the events we parked because they could not be applied, and finish what a stopped process left undone.

Each event goes through the same `webhooks.handle_event` as a delivery, in its own transaction, so an event
already applied (delivered late after all, or replayed twice) is recognised by its id and changes nothing; a
parked event that now applies is marked resolved in the transaction of its effect, and one that still cannot
stays parked. Then every settled invoice with a pay link still open or an overpayment refund not yet sent is
followed up (`billing.settlement.sweep`). Last, the fees and series charges a status change wrote and no process
sent (or Stripe never answered) are sent under their own keys (`billing.card_charges.send_held_charges`).
"""

from __future__ import annotations

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig

from billing import card_charges, parking, settlement, webhooks
from billing.gateway import PaymentGateway
from scheduler.db import session_scope


async def replay_undelivered(
    config: SQLAlchemyAsyncConfig, gateway: PaymentGateway, limit: int = 100
) -> dict[str, int]:
    counts = {"applied": 0, "duplicate": 0, "ignored": 0, "parked": 0}
    for event in await gateway.list_undelivered_events(limit=limit):
        async with session_scope(config) as session:
            counts[await webhooks.handle_event(session, event)] += 1
        await settlement.run_committed(config)
    return counts


async def replay_parked(config: SQLAlchemyAsyncConfig) -> dict[str, int]:
    """Try every unresolved parked event again: "resolved" once it applies (or was applied meanwhile)."""
    counts = {"resolved": 0, "still_parked": 0}
    for event in await parking.unresolved(config):
        async with session_scope(config) as session:
            outcome = await webhooks.handle_event(session, event)
        counts["still_parked" if outcome == "parked" else "resolved"] += 1
        await settlement.run_committed(config)
    return counts


async def reconcile(config: SQLAlchemyAsyncConfig, gateway: PaymentGateway, limit: int = 100) -> dict[str, int]:
    """Everything `carebook stripe reconcile` does, in order; the counts of each step."""
    counts = await replay_undelivered(config, gateway, limit)
    counts |= await replay_parked(config)
    counts["followed_up"] = await settlement.sweep(config)
    await settlement.run_committed(config)
    counts["card_charges"] = await card_charges.send_held_charges(config, limit)
    await settlement.run_committed(config)
    return counts
