"""The sandbox's objects and the rules that move them: customers, payment methods, setup and payment intents,
charges, and the events each change emits (refunds and disputes: `refunds.py`; Checkout: `checkout.py`).
Shapes follow Stripe's v1 API.

Pure rules (no SDK, no web framework): each request gets a `SandboxState` over one store transaction
(`store.py`), so the rules read and change plain dicts and never see the database.
"""

from __future__ import annotations

import copy
import json
import secrets
import time
from typing import Any

from billing.sandbox.cards import AUTH_MESSAGE, TEST_CARDS, Outcome, TestCard
from billing.sandbox.errors import StripeApiError, invalid_param, invalid_request, metadata_of, missing, to_bool, to_int
from billing.sandbox.store import UnitOfWork

API_VERSION = "2026-10-28.endive"


class SandboxState:
    """The sandbox's account as one request sees it: objects read through from the store, changes written back
    when the request's transaction commits, and the events the changes produced."""

    def __init__(self, *, base_url: str, store: UnitOfWork) -> None:
        self.base_url = base_url.rstrip("/")
        self.store = store
        self.emitted: list[str] = []  # event ids created in this request, for delivery once committed

    # ------------------------------------------------------------------------------------------- helpers

    @staticmethod
    def now() -> int:
        return int(time.time())

    def new_id(self, prefix: str) -> str:
        return prefix + secrets.token_hex(12)

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.store.put(obj)
        return obj

    def find(self, object_id: str) -> dict[str, Any] | None:
        return self.store.load(object_id)

    def get(self, object_id: str, kind: str, param: str = "id") -> dict[str, Any]:
        obj = self.store.load(object_id)
        if obj is None or obj["object"] != kind:
            raise missing(kind, object_id, param)
        return obj

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return self.store.of_kind(kind)

    def extras_of(self, object_id: str) -> dict[str, Any]:
        """What the sandbox keeps beside an object and Stripe does not show (saved with the object)."""
        return self.store.extras_of(object_id)

    def card_of(self, pm_id: str) -> TestCard:
        """How a payment method made from one of Stripe's test cards behaves."""
        return TEST_CARDS[self.extras_of(pm_id)["card"]]

    def is_set_up_off_session(self, pm_id: str) -> bool:
        return bool(self.extras_of(pm_id).get("set_up_off_session"))

    def set_up_off_session(self, pm_id: str) -> None:
        self.extras_of(pm_id)["set_up_off_session"] = True

    def emit(self, event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> str:
        event_id = self.new_id("evt_")
        data: dict[str, Any] = {"object": copy.deepcopy(obj)}
        if previous is not None:
            data["previous_attributes"] = previous
        event = {
            "id": event_id,
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        self.store.add_event(event, json.dumps(event, indent=2).encode())
        self.emitted.append(event_id)
        return event_id

    # ----------------------------------------------------------------------------------------- customers

    def create_customer(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = {
            "id": self.new_id("cus_"),
            "object": "customer",
            "created": self.now(),
            "email": params.get("email") or None,
            "name": params.get("name") or None,
            "description": params.get("description") or None,
            "metadata": metadata_of(params),
            "invoice_settings": {"default_payment_method": None},
            "livemode": False,
        }
        self.put(customer)
        self.emit("customer.created", customer)
        return customer

    # ----------------------------------------------------------------------------------- payment methods

    def resolve_payment_method(self, pm_id: str, param: str = "payment_method") -> dict[str, Any]:
        """A stored payment method, or a fresh one made from one of Stripe's `pm_card_*` test ids."""
        card = TEST_CARDS.get(pm_id)
        if card is None:  # a payment method made earlier
            return self.get(pm_id, "payment_method", param)
        pm: dict[str, Any] = {
            "id": self.new_id("pm_"),
            "object": "payment_method",
            "type": "card",
            "created": self.now(),
            "customer": None,
            "livemode": False,
            "metadata": {},
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "card": {
                "brand": card.brand,
                "last4": card.last4,
                "exp_month": 12,
                "exp_year": time.gmtime().tm_year + 3,
                "funding": "credit",
                "country": "US",
            },
        }
        self.put(pm)
        self.extras_of(pm["id"])["card"] = card.test_id
        return pm

    def attach(self, pm_id: str, customer_id: str) -> dict[str, Any]:
        customer = self.get(customer_id, "customer", "customer")
        pm = self.resolve_payment_method(pm_id, "payment_method")
        card = self.card_of(pm["id"])
        if card.outcome is Outcome.DECLINE:
            raise self._card_error(card, pm=pm, pi=None)
        if pm["customer"] and pm["customer"] != customer["id"]:
            raise invalid_request(
                "The payment method you provided has already been attached to a customer.",
                param="payment_method",
                code="payment_method_unexpected_state",
            )
        if pm["customer"] is None:
            pm["customer"] = customer["id"]
            self.emit("payment_method.attached", pm)
        return pm

    # ---------------------------------------------------------------------------------- charging a card

    def _card_error(
        self, card: TestCard, *, pm: dict[str, Any], pi: dict[str, Any] | None, auth: bool = False
    ) -> StripeApiError:
        code = "authentication_required" if auth else "card_declined"
        error: dict[str, Any] = {
            "type": "card_error",
            "code": code,
            "decline_code": "authentication_required" if auth else card.decline_code,
            "message": AUTH_MESSAGE if auth else (card.message or "Your card was declined."),
            "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
            "payment_method": copy.deepcopy(pm),
        }
        if pi is not None:
            error["payment_intent"] = copy.deepcopy(pi)
            if pi.get("latest_charge"):
                error["charge"] = pi["latest_charge"]
        return StripeApiError(402, error)

    def _new_charge(self, pi: dict[str, Any], pm: dict[str, Any], *, paid: bool, failure: str | None) -> dict[str, Any]:
        charge = {
            "id": self.new_id("ch_"),
            "object": "charge",
            "amount": pi["amount"],
            "amount_captured": pi["amount"] if paid else 0,
            "amount_refunded": 0,
            "captured": paid,
            "paid": paid,
            "refunded": False,
            "disputed": False,
            "status": "succeeded" if paid else "failed",
            "failure_code": failure,
            "failure_message": None,
            "billing_details": copy.deepcopy(pm["billing_details"]),
            "receipt_email": None,
            "currency": pi["currency"],
            "customer": pi["customer"],
            "description": pi.get("description"),
            "metadata": dict(pi["metadata"]),
            "payment_intent": pi["id"],
            "payment_method": pm["id"],
            "payment_method_details": {
                "type": "card",
                "card": {"brand": pm["card"]["brand"], "last4": pm["card"]["last4"]},
            },
            "created": self.now(),
            "livemode": False,
        }
        pi["latest_charge"] = charge["id"]
        return self.put(charge)

    def confirm_payment_intent(self, pi: dict[str, Any], *, off_session: bool, authenticated: bool = False) -> None:
        """Attempt the charge. Raises the 402 card error Stripe answers; on success moves money."""
        pm = self.get(pi["payment_method"], "payment_method", "payment_method")
        card = self.card_of(pm["id"])
        needs_auth = card.outcome is Outcome.AUTH_ALWAYS or (
            card.outcome is Outcome.AUTH_UNLESS_SET_UP and not (off_session and self.is_set_up_off_session(pm["id"]))
        )
        if needs_auth and not authenticated:
            if off_session:
                pi["status"] = "requires_payment_method"
                pi["last_payment_error"] = {
                    "code": "authentication_required",
                    "type": "card_error",
                    "message": AUTH_MESSAGE,
                }
                self.emit("payment_intent.payment_failed", pi)
                raise self._card_error(card, pm=pm, pi=pi, auth=True)
            pi["status"] = "requires_action"
            pi["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {}}
            self.emit("payment_intent.requires_action", pi)
            return
        if card.outcome in (Outcome.DECLINE, Outcome.DECLINE_ON_CHARGE):
            charge = self._new_charge(pi, pm, paid=False, failure="card_declined")
            charge["failure_message"] = card.message
            pi["status"] = "requires_payment_method"
            pi["last_payment_error"] = {
                "code": "card_declined",
                "decline_code": card.decline_code,
                "type": "card_error",
                "message": card.message,
                "charge": charge["id"],
            }
            self.emit("charge.failed", charge)
            self.emit("payment_intent.payment_failed", pi)
            raise self._card_error(card, pm=pm, pi=pi)
        charge = self._new_charge(pi, pm, paid=True, failure=None)
        pi["status"] = "succeeded"
        pi["amount_received"] = pi["amount"]
        pi["last_payment_error"] = None
        pi["next_action"] = None
        if pi.get("setup_future_usage") and pi["customer"]:
            if pm["customer"] is None:
                pm["customer"] = pi["customer"]
                self.emit("payment_method.attached", pm)
            self.set_up_off_session(pm["id"])
        self.emit("charge.succeeded", charge)
        self.emit("payment_intent.succeeded", pi)

    def create_payment_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        amount = to_int(params, "amount", minimum=1)
        currency = str(params.get("currency") or "").lower()
        if not currency:
            raise invalid_param("Missing required param: currency.", param="currency", code="parameter_missing")
        customer_id = params.get("customer") or None
        if customer_id:
            self.get(customer_id, "customer", "customer")
        off_session = to_bool(params.get("off_session", "false"))
        confirm = to_bool(params.get("confirm", "false"))
        if off_session and not confirm:
            raise invalid_param("`off_session` can only be used with `confirm=true`.", param="off_session")
        pm = None
        if params.get("payment_method"):
            pm = self.resolve_payment_method(str(params["payment_method"]))
            if customer_id and pm["customer"] not in (None, customer_id):
                raise invalid_request(
                    f"The provided PaymentMethod {pm['id']} does not belong to the Customer {customer_id}.",
                    param="payment_method",
                )
        if confirm and pm is None:
            raise invalid_request(
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                code="payment_intent_unexpected_state",
            )
        pi_id = self.new_id("pi_")
        pi: dict[str, Any] = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "amount_capturable": 0,
            "canceled_at": None,
            "cancellation_reason": None,
            "currency": currency,
            "customer": customer_id,
            "description": params.get("description") or None,
            "payment_method": pm["id"] if pm else None,
            "payment_method_types": ["card"],
            "status": "requires_confirmation" if pm else "requires_payment_method",
            "client_secret": f"{pi_id}_secret_{secrets.token_hex(8)}",
            "capture_method": "automatic",
            "confirmation_method": "automatic",
            "setup_future_usage": params.get("setup_future_usage") or None,
            "latest_charge": None,
            "last_payment_error": None,
            "next_action": None,
            "metadata": metadata_of(params),
            "created": self.now(),
            "livemode": False,
        }
        self.put(pi)
        self.emit("payment_intent.created", pi)
        if confirm:
            self.confirm_payment_intent(pi, off_session=off_session)
        return pi

    # --------------------------------------------------------------------------------------- set-ups

    def create_setup_intent(self, params: dict[str, Any], *, authenticated: bool = False) -> dict[str, Any]:
        customer_id = params.get("customer") or None
        if customer_id:
            self.get(customer_id, "customer", "customer")
        pm = self.resolve_payment_method(str(params["payment_method"])) if params.get("payment_method") else None
        seti_id = self.new_id("seti_")
        seti: dict[str, Any] = {
            "id": seti_id,
            "object": "setup_intent",
            "customer": customer_id,
            "payment_method": pm["id"] if pm else None,
            "usage": params.get("usage") or "off_session",
            "description": params.get("description") or None,
            "cancellation_reason": None,
            "payment_method_types": ["card"],
            "status": "requires_confirmation" if pm else "requires_payment_method",
            "client_secret": f"{seti_id}_secret_{secrets.token_hex(8)}",
            "last_setup_error": None,
            "next_action": None,
            "metadata": metadata_of(params),
            "created": self.now(),
            "livemode": False,
        }
        self.put(seti)
        self.emit("setup_intent.created", seti)
        if pm is not None and to_bool(params.get("confirm", "false")):
            self.confirm_setup_intent(seti, authenticated=authenticated)
        return seti

    def confirm_setup_intent(self, seti: dict[str, Any], *, authenticated: bool) -> None:
        pm = self.get(seti["payment_method"], "payment_method", "payment_method")
        card = self.card_of(pm["id"])
        if card.outcome is Outcome.DECLINE:
            seti["status"] = "requires_payment_method"
            self.emit("setup_intent.setup_failed", seti)
            raise self._card_error(card, pm=pm, pi=None)
        if card.outcome in (Outcome.AUTH_ALWAYS, Outcome.AUTH_UNLESS_SET_UP) and not authenticated:
            seti["status"] = "requires_action"
            seti["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {}}
            return
        if seti["customer"] and pm["customer"] is None:
            pm["customer"] = seti["customer"]
            self.emit("payment_method.attached", pm)
        if seti["usage"] == "off_session":
            self.set_up_off_session(pm["id"])
        seti["status"] = "succeeded"
        seti["next_action"] = None
        self.emit("setup_intent.succeeded", seti)
