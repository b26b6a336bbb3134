"""The sandbox's hosted pages: the Checkout stand-in a client pays on, and a small dashboard for demos.

Mounted only when the app runs on the sandbox (no `CAREBOOK_STRIPE_SECRET_KEY`). Paying completes the Checkout
Session the way Stripe does (a succeeded payment intent; the card saved on the customer when the session asked
for it), delivers the resulting signed webhooks to the app's own `/webhooks/stripe`, then redirects to the
session's `success_url`. Test cards that want 3-D Secure get a confirmation step first.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any, TypeAlias

import msgspec
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from billing.sandbox.cards import TEST_CARDS
from billing.sandbox.checkout import CheckoutNeedsAuthentication
from billing.sandbox.emulator import StripeSandbox
from billing.sandbox.errors import StripeApiError
from scheduler.format import format_money

Sandbox: TypeAlias = NamedDependency[StripeSandbox]
DELIVERY_WAIT_SECONDS = 10.0


class PayForm(msgspec.Struct):
    card: str = "pm_card_visa"
    authenticated: str = ""


class FailAuthForm(msgspec.Struct):
    card: str = ""


class TestCheckoutForm(msgspec.Struct):
    amount: str = "1000"
    save_card: str = ""


class DisputeForm(msgspec.Struct):
    reason: str = "fraudulent"


def _checkout_page(
    session: dict[str, Any] | None, *, error: str | None = None, card: str = "pm_card_visa", status_code: int = 200
) -> Template:
    amount = None
    if session is not None and session.get("amount_total") is not None:
        amount = format_money(int(session["amount_total"]), str(session["currency"]).upper())
    return Template(
        template_name="sandbox/checkout.html",
        context={
            "session": session,
            "amount": amount,
            "cards": list(TEST_CARDS.values()),
            "error": error,
            "card": card,
        },
        status_code=status_code if session is not None else 404,
    )


async def _deliver_webhooks(sandbox: StripeSandbox) -> None:
    # Stripe sends the events about when it redirects; waiting here keeps the demo and the tests deterministic.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(sandbox.webhooks.drain(), DELIVERY_WAIT_SECONDS)


WORKER_HEADER = "X-Sandbox-Worker"


async def _name_the_worker(response: Response[Any]) -> Response[Any]:
    # Which `carebook serve --workers N` process answered: lets a test prove a checkout opened through one
    # worker is paid through another. Only on these sandbox pages (never mounted with a real Stripe key).
    response.headers[WORKER_HEADER] = str(os.getpid())
    return response


class SandboxPagesController(Controller):
    path = "/sandbox"
    include_in_schema = False
    after_request = staticmethod(_name_the_worker)

    @get("/checkout/{session_id:str}", name="sandbox_checkout")
    async def checkout(self, stripe_sandbox: Sandbox, session_id: FromPath[str]) -> Template:
        return _checkout_page(await stripe_sandbox.checkout_session_async(session_id))

    @post("/checkout/{session_id:str}/pay", status_code=303)
    async def pay(
        self, stripe_sandbox: Sandbox, session_id: FromPath[str], data: URLEncodedBody[PayForm]
    ) -> Template | Redirect:
        try:
            session = await stripe_sandbox.complete_checkout_async(
                session_id, data.card, authenticated=data.authenticated == "1"
            )
        except CheckoutNeedsAuthentication:
            current = await stripe_sandbox.checkout_session_async(session_id)
            return Template(
                template_name="sandbox/authenticate.html",
                context={"session": current, "card": TEST_CARDS[data.card]},
                status_code=200,
            )
        except StripeApiError as exc:
            current = await stripe_sandbox.checkout_session_async(session_id)
            return _checkout_page(current, error=str(exc.error.get("message")), card=data.card, status_code=402)
        await _deliver_webhooks(stripe_sandbox)
        return Redirect(
            path=str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session["id"]), status_code=303
        )

    @post("/checkout/{session_id:str}/fail-authentication", status_code=402)
    async def fail_authentication(
        self, stripe_sandbox: Sandbox, session_id: FromPath[str], data: URLEncodedBody[FailAuthForm]
    ) -> Template:
        message = "We are unable to authenticate your payment method. Please choose a different payment method."
        return _checkout_page(
            await stripe_sandbox.checkout_session_async(session_id), error=message, card=data.card, status_code=402
        )

    @post("/checkout/{session_id:str}/cancel", status_code=303)
    async def cancel(self, stripe_sandbox: Sandbox, session_id: FromPath[str]) -> Template | Redirect:
        session = await stripe_sandbox.checkout_session_async(session_id)
        if session is None or not session.get("cancel_url"):
            return _checkout_page(session)
        return Redirect(path=str(session["cancel_url"]), status_code=303)

    @get("/", name="sandbox_dashboard")
    async def dashboard(self, stripe_sandbox: Sandbox) -> Template:
        payments = [
            {**pi, "shown_amount": format_money(int(pi["amount"]), str(pi["currency"]).upper())}
            for pi in reversed(await stripe_sandbox.objects_async("payment_intent"))
        ]
        events = list(reversed(await stripe_sandbox.events_async()))[:50]
        delivered = {event["id"] for event in events if event["pending_webhooks"] == 0}
        return Template(
            template_name="sandbox/dashboard.html",
            context={"payments": payments, "events": events, "delivered": delivered},
        )

    @post("/checkout", status_code=303)
    async def new_test_checkout(self, stripe_sandbox: Sandbox, data: URLEncodedBody[TestCheckoutForm]) -> Redirect:
        """Open a Checkout Session by hand (amount in cents), to try the hosted page without the app's flows."""
        amount = int(data.amount) if data.amount.isdigit() and 0 < int(data.amount) <= 99_999_999 else 1000
        session = await stripe_sandbox.create_test_checkout_async(amount, save_card=data.save_card == "1")
        return Redirect(path=f"/sandbox/checkout/{session['id']}", status_code=303)

    @post("/payments/{payment_intent_id:str}/dispute", status_code=303)
    async def dispute(
        self, stripe_sandbox: Sandbox, payment_intent_id: FromPath[str], data: URLEncodedBody[DisputeForm]
    ) -> Redirect:
        with contextlib.suppress(StripeApiError):
            await stripe_sandbox.open_dispute_async(payment_intent_id, data.reason or "fraudulent")
        await _deliver_webhooks(stripe_sandbox)
        return Redirect(path="/sandbox/", status_code=303)

    @post("/events/redeliver", status_code=303)
    async def redeliver(self, stripe_sandbox: Sandbox) -> Redirect:
        """Send every event whose delivery has not succeeded yet (what Stripe's automatic retries do)."""
        pending = [event["id"] for event in await stripe_sandbox.events_async() if event["pending_webhooks"]]
        for event_id in pending:
            await stripe_sandbox.webhooks.deliver(event_id)
        return Redirect(path="/sandbox/", status_code=303)
