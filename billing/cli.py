"""`carebook stripe …`: reconciliation with the payment processor (added to the CLI by scheduler/app.py)."""

from __future__ import annotations

import asyncio

import click

from billing import webhooks
from billing.runtime import get_gateway
from billing.wiring import install
from scheduler.db import build_alchemy_config, session_scope
from scheduler.settings import get_settings


@click.group()
def stripe() -> None:
    """Payments: reconcile with Stripe (or the offline sandbox)."""


@stripe.command("reconcile")
@click.option("--limit", default=100, show_default=True, help="At most this many events.")
def reconcile(limit: int) -> None:
    """Replay the events whose webhook delivery failed (last 30 days); each is applied at most once."""
    settings = get_settings()
    install(settings)

    async def work() -> dict[str, int]:
        config = build_alchemy_config(settings, pooled=False)
        counts = {"applied": 0, "duplicate": 0, "ignored": 0}
        try:
            for event in await get_gateway().list_undelivered_events(limit=limit):
                async with session_scope(config) as session:
                    counts[await webhooks.handle_event(session, event)] += 1
        finally:
            await config.get_engine().dispose()
            await get_gateway().close()
        return counts

    counts = asyncio.run(work())
    click.echo(
        f"replayed {sum(counts.values())} events: {counts['applied']} applied, "
        f"{counts['duplicate']} already applied, {counts['ignored']} ignored"
    )
