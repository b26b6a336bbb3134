"""`carebook stripe …`: reconciliation with the payment processor (added to the CLI by scheduler/app.py)."""

from __future__ import annotations

import asyncio

import click

from billing.documents import rendering
from billing.reconcile import reconcile as reconcile_all
from billing.runtime import get_gateway
from billing.visits import send_held_refunds
from billing.wiring import install
from scheduler.db import build_alchemy_config
from scheduler.settings import get_settings


@click.group()
def stripe() -> None:
    """Payments: reconcile with Stripe (or the offline sandbox)."""


@stripe.command("reconcile")
@click.option("--limit", default=100, show_default=True, help="At most this many events.")
def reconcile(limit: int) -> None:
    """Replay the events whose webhook delivery failed (last 30 days) and the parked ones; each is applied at
    most once. Then close the pay links of settled invoices and send refunds of money received twice, and the
    deposit refunds cancellations wrote and the fees and series charges status changes wrote that Stripe has not
    answered yet (same keys: made once); and render the PDF of every issued document that has none yet."""
    settings = get_settings()
    install(settings)

    async def work() -> dict[str, int]:
        config = build_alchemy_config(settings, pooled=False)
        try:
            counts = await reconcile_all(config, get_gateway(), limit)
            counts["deposit_refunds"] = await send_held_refunds(config, limit)
            # The documents those events issued, then any other document left without its PDF.
            counts["rendered"] = await rendering.render_committed(config)
            counts["rendered"] += await rendering.render_unrendered(config, limit)
            return counts
        finally:
            await config.get_engine().dispose()
            await get_gateway().close()

    counts = asyncio.run(work())
    replayed = counts["applied"] + counts["duplicate"] + counts["ignored"] + counts["parked"]
    click.echo(
        f"replayed {replayed} events: {counts['applied']} applied, "
        f"{counts['duplicate']} already applied, {counts['ignored']} ignored, {counts['parked']} parked"
    )
    click.echo(
        f"parked events: {counts['resolved']} resolved, {counts['still_parked']} still parked; "
        f"{counts['followed_up']} settled invoices followed up; "
        f"{counts['deposit_refunds']} pending deposit refunds sent; "
        f"{counts['card_charges']} pending fee and series charges sent; {counts['rendered']} documents rendered"
    )
