"""A PaymentGateway double for billing's own tests: Stripe's idempotency rules in a few dicts, with faults.

It keeps what the exactly-once tests must observe — how many times money really moved per idempotency
key — and can fail the way the network does: `timeout_after_charge` applies a charge and then loses the
answer (GatewayUnavailable), as a timeout after Stripe charged would. Contract tests against the real SDK
and the sandbox live with the gateway itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Mapping
from typing import Any

from billing.gateway import (
    AuthenticationRequired,
    CardDeclined,
    ChargeResult,
    CheckoutSession,
    GatewayUnavailable,
    IdempotencyConflict,
    InvalidWebhook,
    MissingObject,
    PaymentRejected,
    RefundResult,
    SavedCard,
    WebhookEvent,
)

SECRET = "whsec_test_fake"
CARDS = {
    "pm_card_visa": ("visa", "4242", None),
    "pm_card_mastercard": ("mastercard", "4444", None),
    "pm_card_chargeDeclinedInsufficientFunds": ("visa", "9995", "insufficient_funds"),
    "pm_card_chargeCustomerFail": ("visa", "0341", "generic_decline"),
    "pm_card_authenticationRequired": ("visa", "3184", "authentication_required"),
}


def sign(payload: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


class FakeGateway:
    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.replies: dict[str, tuple[Any, Any]] = {}  # key -> (params, result or error)
        self.charges: list[str] = []  # one entry per time money actually moved (per key)
        self.intents: dict[str, ChargeResult] = {}
        self.sessions: dict[str, CheckoutSession] = {}
        self.refunds: dict[str, RefundResult] = {}
        self.cards: dict[str, list[SavedCard]] = {}
        self.timeout_after_charge = 0  # the next N charges are applied, then the answer is lost
        self.unavailable = 0  # the next N calls fail before reaching the processor
        self.undelivered: list[WebhookEvent] = []
        self.gone: set[str] = set()  # customers deleted at the processor (`forget_customer`)

    def forget_customer(self, customer: str) -> None:
        """The processor loses a customer (deleted in the dashboard, a fresh account): calls naming it answer
        `resource_missing`, as `StripeGateway` translates it."""
        self.gone.add(customer)
        self.cards.pop(customer, None)

    def _exists(self, customer: str | None) -> None:
        if customer is not None and customer in self.gone:
            raise MissingObject(f"No such customer: '{customer}'", param="customer")

    @property
    def is_sandbox(self) -> bool:
        return True

    def _id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids)}"

    def _replay(self, key: str, params: Any) -> Any:
        if key in self.replies:
            first, outcome = self.replies[key]
            if first != params:
                raise IdempotencyConflict(f"key {key} reused with other parameters")
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        return None

    def _gate(self) -> None:
        if self.unavailable:
            self.unavailable -= 1
            raise GatewayUnavailable("connection refused")

    async def ensure_customer(
        self, idempotency_key: str, *, email: str | None, name: str | None, metadata: Mapping[str, str] | None = None
    ) -> str:
        self._gate()
        replay = self._replay(idempotency_key, ("customer", email, name))
        if replay is not None:
            return str(replay)
        customer = self._id("cus")
        self.replies[idempotency_key] = (("customer", email, name), customer)
        return customer

    async def attach_card(self, idempotency_key: str, *, customer: str, payment_method: str) -> SavedCard:
        self._gate()
        self._exists(customer)
        if payment_method not in CARDS:
            raise MissingObject(f"No such PaymentMethod: '{payment_method}'", param="payment_method")
        brand, last4, _ = CARDS[payment_method]
        card = SavedCard(payment_method_id=payment_method, brand=brand, last4=last4, customer_id=customer)
        self.cards.setdefault(customer, []).insert(0, card)
        return card

    async def list_saved_cards(self, customer: str) -> list[SavedCard]:
        return list(self.cards.get(customer, []))

    def _intent(self, amount: int, currency: str, customer: str | None, pm: str | None, metadata: Any) -> ChargeResult:
        brand, last4, _ = CARDS.get(pm or "", ("visa", "4242", None))
        intent = ChargeResult(
            payment_intent_id=self._id("pi"),
            status="succeeded",
            amount=amount,
            amount_received=amount,
            currency=currency,
            customer_id=customer,
            payment_method_id=pm,
            card_brand=brand,
            card_last4=last4,
            charge_id=self._id("ch"),
            metadata=dict(metadata or {}),
        )
        self.intents[intent.payment_intent_id] = intent
        return intent

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
        self._gate()
        self._exists(customer)
        params = ("charge", customer, payment_method, amount, currency)
        replay = self._replay(idempotency_key, params)
        if replay is not None:
            return replay  # type: ignore[no-any-return]
        _, _, failure = CARDS.get(payment_method, ("visa", "4242", None))
        outcome: Any
        if failure == "authentication_required":
            outcome = AuthenticationRequired(
                "This payment requires authentication.",
                payment_intent_id=self._id("pi"),
                payment_method_id=payment_method,
            )
        elif failure is not None:
            outcome = CardDeclined("Your card was declined.", decline_code=failure, payment_intent_id=self._id("pi"))
        else:
            outcome = self._intent(amount, currency, customer, payment_method, metadata)
            self.charges.append(idempotency_key)
        self.replies[idempotency_key] = (params, outcome)
        if isinstance(outcome, Exception):
            raise outcome
        if self.timeout_after_charge:
            self.timeout_after_charge -= 1
            raise GatewayUnavailable("timed out reading the response")
        return outcome  # type: ignore[no-any-return]

    async def retrieve_payment_intent(self, payment_intent_id: str) -> ChargeResult:
        self._gate()
        return self.intents[payment_intent_id]

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
        mode: str = "payment",
        expires_in_seconds: int | None = None,
        expires_at: dt.datetime | None = None,
    ) -> CheckoutSession:
        self._gate()
        self._exists(customer)
        params = ("checkout", customer, amount, currency)
        replay = self._replay(idempotency_key, params)
        if replay is not None:
            return replay  # type: ignore[no-any-return]
        session_id = self._id("cs")
        checkout = CheckoutSession(
            id=session_id,
            url=f"https://checkout.fake/{session_id}",
            mode="payment",
            status="open",
            payment_status="unpaid",
            customer_id=customer,
            amount_total=amount,
            currency=currency,
            payment_intent_id=None,
            setup_intent_id=None,
            payment_method_id=None,
            card_brand=None,
            card_last4=None,
            metadata=dict(metadata or {}),
        )
        self.sessions[session_id] = checkout
        self.replies[idempotency_key] = (params, checkout)
        return checkout

    def complete_checkout(self, session_id: str, card: str = "pm_card_visa") -> CheckoutSession:
        """What the client does on the hosted page: pay, and the card is saved on the customer."""
        current = self.sessions[session_id]
        intent = self._intent(current.amount_total or 0, current.currency or "usd", current.customer_id, card, {})
        self.charges.append(f"checkout:{session_id}")
        brand, last4, _ = CARDS[card]
        done = CheckoutSession(
            **{
                **current.__dict__,
                "status": "complete",
                "payment_status": "paid",
                "payment_intent_id": intent.payment_intent_id,
                "payment_method_id": card,
                "card_brand": brand,
                "card_last4": last4,
            }
        )
        self.sessions[session_id] = done
        if current.customer_id:
            self.cards.setdefault(current.customer_id, []).insert(0, SavedCard(card, brand, last4))
        return done

    async def retrieve_checkout_session(self, session_id: str) -> CheckoutSession:
        self._gate()
        return self.sessions[session_id]

    async def expire_checkout_session(self, idempotency_key: str, session_id: str) -> CheckoutSession:
        self._gate()
        current = self.sessions[session_id]
        if current.status == "open":
            self.sessions[session_id] = CheckoutSession(**{**current.__dict__, "status": "expired"})
        self.replies.setdefault(idempotency_key, (("expire", session_id), self.sessions[session_id]))
        return self.sessions[session_id]

    async def cancel_payment_intent(self, idempotency_key: str, payment_intent_id: str) -> ChargeResult:
        """Stripe's rule: only an intent that has not succeeded is canceled; any other is returned as it is."""
        self._gate()
        current = self.intents[payment_intent_id]
        if current.status not in {"succeeded", "canceled"}:
            self.intents[payment_intent_id] = ChargeResult(**{**current.__dict__, "status": "canceled"})
        self.replies.setdefault(idempotency_key, (("cancel", payment_intent_id), self.intents[payment_intent_id]))
        return self.intents[payment_intent_id]

    async def refund(
        self,
        idempotency_key: str,
        *,
        payment_intent: str,
        amount: int | None = None,
        metadata: Mapping[str, str] | None = None,
        reason: str | None = None,
    ) -> RefundResult:
        self._gate()
        params = ("refund", payment_intent, amount)
        replay = self._replay(idempotency_key, params)
        if replay is not None:
            return replay  # type: ignore[no-any-return]
        intent = self.intents[payment_intent]
        done = sum(r.amount for r in self.refunds.values() if r.payment_intent_id == payment_intent)
        if (amount or 0) + done > intent.amount:
            raise PaymentRejected("Refund amount is greater than unrefunded amount on charge", param="amount")
        result = RefundResult(
            id=self._id("re"),
            status="succeeded",
            amount=amount or intent.amount - done,
            currency=intent.currency,
            payment_intent_id=payment_intent,
            charge_id=intent.charge_id,
        )
        self.refunds[result.id] = result
        self.replies[idempotency_key] = (params, result)
        return result

    async def list_undelivered_events(self, *, limit: int = 100) -> list[WebhookEvent]:
        return self.undelivered[:limit]

    def construct_event(self, raw_body: bytes, sig_header: str | None) -> WebhookEvent:
        if not sig_header:
            raise InvalidWebhook("No signature header.")
        try:
            parts = dict(item.split("=", 1) for item in sig_header.split(","))
            stamp = int(parts["t"])
        except (ValueError, KeyError):
            raise InvalidWebhook("Malformed signature header.") from None
        expected = hmac.new(SECRET.encode(), f"{stamp}.".encode() + raw_body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, parts.get("v1", "")):
            raise InvalidWebhook("Signature does not match.")
        if abs(time.time() - stamp) > 300:
            raise InvalidWebhook("Timestamp outside the tolerance.")
        try:
            body = json.loads(raw_body)
        except ValueError:
            raise InvalidWebhook("Body is not JSON.") from None
        return WebhookEvent(
            id=body["id"],
            type=body["type"],
            created=dt.datetime.fromtimestamp(body.get("created", 0), dt.UTC),
            data=body["data"]["object"],
        )

    async def close(self) -> None:
        return None


def event_body(event_id: str, event_type: str, obj: dict[str, Any]) -> bytes:
    return json.dumps(
        {"id": event_id, "object": "event", "type": event_type, "created": int(time.time()), "data": {"object": obj}}
    ).encode()
