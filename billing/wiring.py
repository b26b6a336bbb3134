"""Billing's part of the composition root: `scheduler/app.py` calls `install(settings, gateway)` and serves
the handlers it returns. Registers billing's callbacks on the scheduler's booking hooks and makes the app's
payment gateway (`billing.plugin.PaymentGatewayPlugin`: the offline sandbox without
`CAREBOOK_STRIPE_SECRET_KEY`, Stripe with one) the one billing services use. The CLI, with no app, builds
its own."""

from __future__ import annotations

from typing import Any

from litestar import Request

from billing import card_charges, card_setup, credit, visits
from billing.card_pages import CardSetupPages
from billing.controllers import (
    BillingSetupController,
    CheckoutController,
    ClientBillingController,
    InvoiceController,
    PaymentController,
    PlanBillingController,
    stripe_webhook,
)
from billing.desk_pages import CheckoutPagesController
from billing.documents import rendering
from billing.gateway import PaymentGateway
from billing.pages import CheckoutReturnPage, DepositLinkPage
from billing.runtime import set_base_url, set_gateway, set_gateway_factory, set_link_secret
from scheduler.booking import hooks
from scheduler.settings import Settings

ROUTE_HANDLERS: list[Any] = [
    CheckoutController,
    InvoiceController,
    PaymentController,
    BillingSetupController,
    ClientBillingController,
    PlanBillingController,
    CheckoutReturnPage,
    DepositLinkPage,
    CardSetupPages,
    CheckoutPagesController,
    stripe_webhook,
]


def build_default_gateway(settings: Settings) -> PaymentGateway:
    from billing.gateway_factory import build_gateway

    return build_gateway(settings)


def install(settings: Settings, gateway: PaymentGateway | None = None) -> list[Any]:
    hooks.register_status_change(visits.visit_status_changed)
    hooks.register_online_booking(visits.deposit_hold)
    # After the deposit's: a deposit's checkout saves the card already, so a card setup is only for no deposit.
    hooks.register_online_booking(card_setup.card_setup_hold)
    hooks.register_booking_page(card_setup.booking_note)
    hooks.register_client_page(credit.client_page_note)
    set_link_secret(settings.secret_key)
    set_base_url(settings.base_url)
    if gateway is not None:
        set_gateway(gateway)
    else:
        set_gateway_factory(lambda: build_default_gateway(settings))
    return ROUTE_HANDLERS


async def after_response(request: Request[Any, Any, Any]) -> None:
    """Billing's work after a response and its commit: send the fees and series charges a status change wrote,
    and the refunds a cancellation wrote, and render the documents the request issued (before the outbox sends
    their download links)."""
    await card_charges.send_after_response(request)
    await visits.send_refunds_after_response(request)
    await rendering.after_response(request.app.state.alchemy)
