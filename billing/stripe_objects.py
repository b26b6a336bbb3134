"""Stripe's JSON objects (as plain dicts) read into the gateway's value types. Pure: no SDK import."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from billing.gateway import ChargeResult, CheckoutMode, CheckoutSession, SavedCard, WebhookEvent


def object_id(value: Any) -> str | None:
    """An id field that may have been expanded into an object."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        found = value.get("id")
        return found if isinstance(found, str) else None
    return None


def card_of(payment_method: Any) -> tuple[str | None, str | None]:
    card = payment_method.get("card") if isinstance(payment_method, Mapping) else None
    if not isinstance(card, Mapping):
        return None, None
    return card.get("brand"), card.get("last4")


def charge_result(pi: Mapping[str, Any]) -> ChargeResult:
    brand, last4 = card_of(pi.get("payment_method"))
    charge = pi.get("latest_charge")
    if brand is None and isinstance(charge, Mapping):
        details = charge.get("payment_method_details") or {}
        brand, last4 = card_of(details)
    last_error = pi.get("last_payment_error")
    error: Mapping[str, Any] = last_error if isinstance(last_error, Mapping) else {}
    return ChargeResult(
        payment_intent_id=str(pi["id"]),
        status=str(pi["status"]),
        amount=int(pi["amount"]),
        amount_received=int(pi.get("amount_received") or 0),
        currency=str(pi["currency"]),
        customer_id=object_id(pi.get("customer")),
        payment_method_id=object_id(pi.get("payment_method")),
        card_brand=brand,
        card_last4=last4,
        charge_id=object_id(charge),
        metadata=dict(pi.get("metadata") or {}),
        last_error_code=error.get("decline_code") or error.get("code"),
        last_error_message=error.get("message"),
    )


def checkout_session(session: Mapping[str, Any]) -> CheckoutSession:
    pi = session.get("payment_intent")
    seti = session.get("setup_intent")
    intent = pi if isinstance(pi, Mapping) else seti if isinstance(seti, Mapping) else {}
    payment_method = intent.get("payment_method")
    brand, last4 = card_of(payment_method)
    mode: CheckoutMode = "setup" if session.get("mode") == "setup" else "payment"
    return CheckoutSession(
        id=str(session["id"]),
        url=session.get("url"),
        mode=mode,
        status=str(session.get("status")),
        payment_status=str(session.get("payment_status")),
        customer_id=object_id(session.get("customer")),
        amount_total=session.get("amount_total"),
        currency=session.get("currency"),
        payment_intent_id=object_id(pi),
        setup_intent_id=object_id(seti),
        payment_method_id=object_id(payment_method),
        card_brand=brand,
        card_last4=last4,
        metadata=dict(session.get("metadata") or {}),
    )


def saved_card(pm: Mapping[str, Any]) -> SavedCard:
    card = pm.get("card") or {}
    return SavedCard(
        payment_method_id=str(pm["id"]),
        brand=card.get("brand"),
        last4=card.get("last4"),
        exp_month=card.get("exp_month"),
        exp_year=card.get("exp_year"),
        customer_id=object_id(pm.get("customer")),
    )


def webhook_event(event: Mapping[str, Any]) -> WebhookEvent:
    data = event["data"]
    obj = data["object"]
    if not isinstance(obj, dict):
        raise TypeError("event data.object must be an object")
    previous = data.get("previous_attributes")
    return WebhookEvent(
        id=str(event["id"]),
        type=str(event["type"]),
        created=datetime.fromtimestamp(int(event["created"]), tz=UTC),
        data=obj,
        previous_attributes=previous if isinstance(previous, dict) else None,
        livemode=bool(event.get("livemode", False)),
    )
