"""Builds the application's `PaymentGateway` from settings: Stripe when a secret key is set, else the sandbox."""

from __future__ import annotations

from billing.sandbox import DEFAULT_WEBHOOK_SECRET, SANDBOX_API_BASE, SANDBOX_API_KEY, StripeSandbox
from billing.sandbox.store import SandboxStore
from billing.stripe_gateway import StripeGateway
from scheduler.settings import Settings


def build_gateway(settings: Settings) -> StripeGateway:
    """`CAREBOOK_STRIPE_SECRET_KEY` set → real Stripe (optionally at `CAREBOOK_STRIPE_API_BASE`); unset → a
    `StripeSandbox` reached through the same SDK, keeping its account in the store beside the app's database
    (`billing.sandbox.store`), so every process and every restart of this deployment sees the same account."""
    if settings.stripe_secret_key:
        if not settings.stripe_webhook_secret:
            raise ValueError("CAREBOOK_STRIPE_WEBHOOK_SECRET is required with CAREBOOK_STRIPE_SECRET_KEY")
        return StripeGateway.for_stripe(
            settings.stripe_secret_key,
            webhook_secret=settings.stripe_webhook_secret,
            api_base=settings.stripe_api_base,
        )
    sandbox = StripeSandbox(
        base_url=settings.base_url,
        webhook_secret=settings.stripe_webhook_secret or DEFAULT_WEBHOOK_SECRET,
        store=SandboxStore.for_database(settings.database_url),
    )
    return StripeGateway.for_sandbox(
        sandbox, api_key=SANDBOX_API_KEY, api_base=settings.stripe_api_base or SANDBOX_API_BASE
    )
