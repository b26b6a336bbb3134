"""`StripeGateway`: the `PaymentGateway` on Stripe's own SDK — the only module that imports `stripe`.

It talks to real Stripe (a `sk_test_…`/`sk_live_…` key) or, with no key, to the offline `StripeSandbox` through
`SandboxHTTPClient`, a `stripe.HTTPClient` that hands each request to the sandbox instead of a socket. Either
way the calls, the form encoding, the SDK's retries (`max_network_retries`) and its exception classes are
Stripe's; this module maps those exceptions to the domain errors in `billing.gateway`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import stripe

from billing.gateway import (
    AuthenticationRequired,
    CardDeclined,
    ChargeResult,
    CheckoutMode,
    CheckoutSession,
    GatewayUnavailable,
    IdempotencyConflict,
    InvalidWebhook,
    MissingObject,
    PaymentError,
    PaymentRejected,
    RefundResult,
    SavedCard,
    WebhookEvent,
    check_metadata,
)
from billing.sandbox import SandboxTimeout, StripeSandbox
from billing.stripe_objects import charge_result, checkout_session, object_id, saved_card, webhook_event

MAX_NETWORK_RETRIES = 2
WEBHOOK_TOLERANCE_SECONDS = 300


class SandboxHTTPClient(stripe.HTTPClient):
    """The SDK's transport, answered in-process by a `StripeSandbox` (no sockets). An injected timeout becomes
    the SDK's retryable `APIConnectionError`, exactly what a lost connection produces with a real client."""

    name = "carebook-sandbox"

    def __init__(self, sandbox: StripeSandbox) -> None:
        super().__init__()
        self.sandbox = sandbox

    def _call(
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any
    ) -> tuple[bytes, int, dict[str, str]]:
        try:
            status, response_headers, body = self.sandbox.handle(method, url, dict(headers or {}), post_data)
        except SandboxTimeout as exc:
            message = f"Request to Stripe timed out ({exc})."
            raise stripe.APIConnectionError(message, should_retry=True) from exc  # type: ignore[no-untyped-call]
        return body, status, response_headers

    def request(
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None, **_: Any
    ) -> tuple[str, int, dict[str, str]]:
        body, status, response_headers = self._call(method, url, headers, post_data)
        return body.decode(), status, response_headers

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, dict[str, str]]:
        # The sandbox keeps its account in a database: `handle_async` waits for it off the event loop.
        try:
            status, response_headers, body = await self.sandbox.handle_async(method, url, dict(headers), post_data)
        except SandboxTimeout as exc:
            message = f"Request to Stripe timed out ({exc})."
            raise stripe.APIConnectionError(message, should_retry=True) from exc  # type: ignore[no-untyped-call]
        return body, status, response_headers

    async def sleep_async(self, secs: float) -> None:
        # The SDK backs off between retries; the sandbox has nothing to wait for.
        await asyncio.sleep(0)

    def close(self) -> None:
        return None

    async def close_async(self) -> None:
        return None


def _dict(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict()
    return dict(obj) if isinstance(obj, Mapping) else {}


def translate_error(exc: stripe.StripeError) -> PaymentError:  # noqa: PLR0911
    """Stripe's exception → our domain error (the caller raises it `from` the original)."""
    if isinstance(exc, stripe.CardError):
        error = exc.error
        pi = _dict(getattr(error, "payment_intent", None)) if error is not None else {}
        pm = _dict(getattr(error, "payment_method", None)) if error is not None else {}
        message = exc.user_message or "The card was declined."
        if exc.code == "authentication_required":
            return AuthenticationRequired(
                message,
                payment_intent_id=pi.get("id"),
                client_secret=pi.get("client_secret"),
                payment_method_id=pm.get("id"),
            )
        return CardDeclined(
            message,
            stripe_code=exc.code,
            decline_code=getattr(error, "decline_code", None) if error is not None else None,
            payment_intent_id=pi.get("id"),
        )
    if isinstance(exc, stripe.IdempotencyError):
        return IdempotencyConflict(exc.user_message)
    if isinstance(exc, stripe.RateLimitError | stripe.APIConnectionError):
        return GatewayUnavailable(exc.user_message or "The payment processor could not be reached.")
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return GatewayUnavailable("The payment processor refused our credentials.", retryable=False)
    if isinstance(exc, stripe.InvalidRequestError) and exc.code == "resource_missing":
        return MissingObject(exc.user_message, param=exc.param)
    if isinstance(exc, stripe.InvalidRequestError):
        return PaymentRejected(exc.user_message, stripe_code=exc.code, param=exc.param)
    return GatewayUnavailable(exc.user_message or "The payment processor failed.")


class StripeGateway:
    """`PaymentGateway` over `stripe.StripeClient` (v1, `*_async` calls, explicit network retries)."""

    def __init__(
        self,
        client: stripe.StripeClient,
        *,
        webhook_secret: str,
        sandbox: StripeSandbox | None = None,
        tolerance: int = WEBHOOK_TOLERANCE_SECONDS,
    ) -> None:
        self.client = client
        self.webhook_secret = webhook_secret
        self.sandbox = sandbox
        self.tolerance = tolerance

    @classmethod
    def for_stripe(cls, api_key: str, *, webhook_secret: str, api_base: str | None = None) -> StripeGateway:
        """Against Stripe itself, with the SDK's async-capable httpx transport."""
        client = stripe.StripeClient(
            api_key,
            http_client=stripe.HTTPXClient(),
            max_network_retries=MAX_NETWORK_RETRIES,
            base_addresses={"api": api_base} if api_base else None,
        )
        return cls(client, webhook_secret=webhook_secret)

    @classmethod
    def for_sandbox(cls, sandbox: StripeSandbox, *, api_key: str, api_base: str) -> StripeGateway:
        """Against the offline sandbox: the same SDK, answered in-process."""
        client = stripe.StripeClient(
            api_key,
            http_client=SandboxHTTPClient(sandbox),
            max_network_retries=MAX_NETWORK_RETRIES,
            base_addresses={"api": api_base},
        )
        return cls(client, webhook_secret=sandbox.webhooks.secret, sandbox=sandbox)

    @property
    def is_sandbox(self) -> bool:
        return self.sandbox is not None

    # ------------------------------------------------------------------------------------ customers

    async def ensure_customer(
        self,
        idempotency_key: str,
        *,
        email: str | None,
        name: str | None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        params: dict[str, Any] = {"metadata": check_metadata(metadata)}
        if email:
            params["email"] = email
        if name:
            params["name"] = name
        try:
            customer = await self.client.v1.customers.create_async(params, {"idempotency_key": idempotency_key})  # type: ignore[arg-type]
        except stripe.StripeError as exc:
            raise translate_error(exc) from exc
        return str(customer.id)

    # ------------------------------------------------------------------------------------- checkout

    async def create_checkout_session(
        self,
        idempotency_key: str,
        *,
        customer: str | None,
        amount: int | None,
        currency: str,
        description: str,
        success_url: str,
        cancel_url: str,
        metadata: Mapping[str, str] | None = None,
        save_card: bool = False,
        mode: CheckoutMode = "payment",
        expires_in_seconds: int | None = None,
        expires_at: datetime | None = None,
    ) -> CheckoutSession:
        clean = check_metadata(metadata)
        params: dict[str, Any] = {
            "mode": mode,
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": clean,
        }
        if customer:
            params["customer"] = customer
        if expires_at is not None:
            params["expires_at"] = int(expires_at.timestamp())
        elif expires_in_seconds is not None:
            params["expires_at"] = int(datetime.now(UTC).timestamp()) + expires_in_seconds
        if mode == "payment":
            if amount is None or amount <= 0:
                raise ValueError("a payment Checkout Session needs a positive amount")
            params["line_items"] = [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": currency.lower(),
                        "unit_amount": amount,
                        "product_data": {"name": description},
                    },
                }
            ]
            intent_data: dict[str, Any] = {"metadata": clean}
            if save_card:
                intent_data["setup_future_usage"] = "off_session"
            params["payment_intent_data"] = intent_data
        else:
            params["currency"] = currency.lower()
            params["setup_intent_data"] = {"metadata": clean}
        try:
            session = await self.client.v1.checkout.sessions.create_async(params, {"idempotency_key": idempotency_key})  # type: ignore[arg-type]
        except stripe.StripeError as exc:
            raise translate_error(exc) from exc
        return checkout_session(session.to_dict())

    async def retrieve_checkout_session(self, session_id: str) -> CheckoutSession:
        params = {"expand": ["payment_intent.payment_method", "setup_intent.payment_method"]}
        try:
            session = await self.client.v1.checkout.sessions.retrieve_async(session_id, params)  # type: ignore[arg-type]
        except stripe.StripeError as exc:
            raise translate_error(exc) from exc
        return checkout_session(session.to_dict())

    async def expire_checkout_session(self, idempotency_key: str, session_id: str) -> CheckoutSession:
        try:
            await self.client.v1.checkout.sessions.expire_async(
                session_id, options={"idempotency_key": idempotency_key}
            )
        except stripe.InvalidRequestError as exc:
            # Stripe answers 400 for a session that is not open (paid meanwhile, or expired already): a fact
            # about the session, read back below, not an error for the desk.
            if exc.http_status != 400:
                raise translate_error(exc) from exc
        except stripe.StripeError as exc:
            raise translate_error(exc) from exc
        return await self.retrieve_checkout_session(session_id)

    # --------------------------------------------------------------------------------------- charges

    async def charge_saved_card(
        self,
        idempotency_key: str,
        *,
        customer: str,
        payment_method: str,
        amount: int,
        currency: str,
        metadata: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> ChargeResult:
        if amount <= 0:
            raise ValueError("a charge needs a positive amount")
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency.lower(),
            "customer": customer,
            "payment_method": payment_method,
            "off_session": True,
            "confirm": True,
            "metadata": check_metadata(metadata),
            "expand": ["payment_method"],
        }
        if description:
            params["description"] = description
        try:
            intent = await self.client.v1.payment_intents.create_async(params, {"idempotency_key": idempotency_key})  # type: ignore[arg-type]
        except stripe.StripeError as exc:
            raise translate_error(exc) from exc
        return charge_result(intent.to_dict())

    async def retrieve_payment_intent(self, payment_intent_id: str) -> ChargeResult:
        try:
            intent = await self.client.v1.payment_intents.retrieve_async(
                payment_intent_id, {"expand": ["payment_method"]}
            )
        except stripe.StripeError as exc:
            raise translate_error(exc) from exc
        return charge_result(intent.to_dict())

    async def cancel_payment_intent(self, idempotency_key: str, payment_intent_id: str) -> ChargeResult:
        try:
            await self.client.v1.payment_intents.cancel_async(
                payment_intent_id, options={"idempotency_key": idempotency_key}
            )
        except stripe.InvalidRequestError as exc:
            # 400 `payment_intent_unexpected_state`: it succeeded or was canceled already; read what it is.
            if exc.http_status != 400:
                raise translate_error(exc) from exc
        except stripe.StripeError as exc:
            raise translate_error(exc) from exc
        return await self.retrieve_payment_intent(payment_intent_id)

    # ------------------------------------------------------------------------------------ saved cards

    async def list_saved_cards(self, customer: str) -> list[SavedCard]:
        try:
            page = await self.client.v1.payment_methods.list_async({"customer": customer, "type": "card", "limit": 100})
        except stripe.StripeError as exc:
            raise translate_error(exc) from exc
        return [saved_card(pm.to_dict()) for pm in page.data]

    async def attach_card(self, idempotency_key: str, *, customer: str, payment_method: str) -> SavedCard:
        try:
            pm = await self.client.v1.payment_methods.attach_async(
                payment_method, {"customer": customer}, {"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as exc:
            raise translate_error(exc) from exc
        return saved_card(pm.to_dict())

    # ---------------------------------------------------------------------------------------- refunds

    async def refund(
        self,
        idempotency_key: str,
        *,
        payment_intent: str,
        amount: int | None = None,
        metadata: Mapping[str, str] | None = None,
        reason: Literal["duplicate", "fraudulent", "requested_by_customer"] | None = None,
    ) -> RefundResult:
        params: dict[str, Any] = {"payment_intent": payment_intent, "metadata": check_metadata(metadata)}
        if amount is not None:
            if amount <= 0:
                raise ValueError("a refund needs a positive amount")
            params["amount"] = amount
        if reason:
            params["reason"] = reason
        try:
            refund = await self.client.v1.refunds.create_async(params, {"idempotency_key": idempotency_key})  # type: ignore[arg-type]
        except stripe.StripeError as exc:
            raise translate_error(exc) from exc
        data = refund.to_dict()
        return RefundResult(
            id=str(data["id"]),
            status=str(data.get("status")),
            amount=int(data["amount"]),
            currency=str(data["currency"]),
            payment_intent_id=object_id(data.get("payment_intent")),
            charge_id=object_id(data.get("charge")),
            metadata=dict(data.get("metadata") or {}),
        )

    # --------------------------------------------------------------------------------------- webhooks

    async def list_undelivered_events(self, *, limit: int = 100) -> list[WebhookEvent]:
        events: list[WebhookEvent] = []
        params: dict[str, Any] = {"delivery_success": False, "limit": min(limit, 100)}
        try:
            while len(events) < limit:
                page = await self.client.v1.events.list_async(params)  # type: ignore[arg-type]
                events.extend(webhook_event(event.to_dict()) for event in page.data)
                if not page.has_more or not page.data:
                    break
                params["starting_after"] = page.data[-1].id
        except stripe.StripeError as exc:
            raise translate_error(exc) from exc
        events = events[:limit]
        events.reverse()  # Stripe lists newest first; replay in the order things happened
        return events

    def construct_event(self, raw_body: bytes, sig_header: str | None) -> WebhookEvent:
        try:
            stripe.WebhookSignature.verify_header(
                raw_body.decode("utf-8"), sig_header or "", self.webhook_secret, self.tolerance
            )
            payload = json.loads(raw_body)
        except stripe.SignatureVerificationError as exc:
            raise InvalidWebhook(f"Bad Stripe-Signature: {exc.user_message or exc}") from exc
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidWebhook("The webhook body is not JSON.") from exc
        if (
            not isinstance(payload, dict)
            or payload.get("object") != "event"
            or not isinstance(payload.get("data"), dict)
        ):
            raise InvalidWebhook("The webhook body is not a Stripe event.")
        try:
            return webhook_event(payload)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidWebhook("The webhook body is not a Stripe event.") from exc

    async def close(self) -> None:
        http_client = self.client._requestor._client
        if http_client is not None:
            await http_client.close_async()  # type: ignore[no-untyped-call]
