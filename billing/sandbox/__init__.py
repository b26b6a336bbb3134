"""The offline Stripe sandbox: a stateful emulation of the v1 API subset Carebook uses (see specs/stripe.md).

It runs whenever no `CAREBOOK_STRIPE_SECRET_KEY` is set: `billing.gateway_factory.build_gateway` plugs a
`StripeSandbox` into the real `stripe.StripeClient` through a custom `HTTPClient`, so everything above the
HTTP layer (the SDK, its errors and retries, our gateway) runs as it would against Stripe.
"""

from billing.sandbox.cards import TEST_CARDS, TestCard
from billing.sandbox.checkout import CheckoutNeedsAuthentication
from billing.sandbox.emulator import DEFAULT_WEBHOOK_SECRET, SANDBOX_API_BASE, SANDBOX_API_KEY, StripeSandbox
from billing.sandbox.errors import StripeApiError
from billing.sandbox.faults import Fault, SandboxTimeout
from billing.sandbox.webhooks import sign

__all__ = [
    "DEFAULT_WEBHOOK_SECRET",
    "SANDBOX_API_BASE",
    "SANDBOX_API_KEY",
    "TEST_CARDS",
    "CheckoutNeedsAuthentication",
    "Fault",
    "SandboxTimeout",
    "StripeApiError",
    "StripeSandbox",
    "TestCard",
    "sign",
]
