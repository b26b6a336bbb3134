"""Moments other billing modules hook into. `invoice_settled` runs when an invoice's balance reaches 0,
inside the transaction that settled it (receipts are issued from here)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from billing.models import Invoice

SettledHook = Callable[["AsyncSession", "Invoice"], Awaitable[None]]
on_invoice_settled: list[SettledHook] = []


on_invoice_recomputed: list[SettledHook] = []


def register_recomputed(hook: SettledHook) -> None:
    """After every recompute of an invoice (a payment, a refund, a line): receipts' credit notes hook in."""
    if hook not in on_invoice_recomputed:
        on_invoice_recomputed.append(hook)


async def invoice_recomputed(session: AsyncSession, invoice: Invoice) -> None:
    for hook in list(on_invoice_recomputed):
        await hook(session, invoice)


def register_settled(hook: SettledHook) -> None:
    if hook not in on_invoice_settled:
        on_invoice_settled.append(hook)


async def invoice_settled(session: AsyncSession, invoice: Invoice) -> None:
    """The invoice was just paid in full. Packages sold on it become usable; receipts hook in here."""
    from billing import packages  # a package sale is one of the settled invoice's effects

    await packages.activate_purchases(session, invoice)
    for hook in list(on_invoice_settled):
        await hook(session, invoice)
