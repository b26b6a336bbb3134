"""`carebook stripe …`: reconciliation with the payment processor (added to the CLI by scheduler/app.py)."""

from __future__ import annotations

import asyncio

import click

from billing.reconcile import replay_undelivered
from billing.runtime import get_gateway
from billing.wiring import install
from scheduler.db import build_alchemy_config
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
        try:
            return await replay_undelivered(config, get_gateway(), limit)
        finally:
            await config.get_engine().dispose()
            await get_gateway().close()

    counts = asyncio.run(work())
    click.echo(
        f"replayed {sum(counts.values())} events: {counts['applied']} applied, "
        f"{counts['duplicate']} already applied, {counts['ignored']} ignored"
    )
