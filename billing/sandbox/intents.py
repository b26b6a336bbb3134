"""A PaymentIntent after creation: update, confirm (again, with another card after a decline) and cancel, with
the states Stripe allows each from (docs.stripe.com/api/payment_intents, …/payments/paymentintents/lifecycle)."""

from __future__ import annotations

import copy
from typing import Any

from billing.sandbox.errors import StripeApiError, invalid_param, invalid_request, metadata_of, to_bool, to_int
from billing.sandbox.state import SandboxState

CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing")
CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
UPDATABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")


def _unexpected_state(pi: dict[str, Any], message: str) -> StripeApiError:
    error = invalid_request(message, code="payment_intent_unexpected_state")
    error.error["payment_intent"] = copy.deepcopy(pi)
    return error


def _use_payment_method(state: SandboxState, pi: dict[str, Any], pm_id: str) -> None:
    pm = state.resolve_payment_method(pm_id)
    if pi["customer"] and pm["customer"] not in (None, pi["customer"]):
        raise invalid_request(
            f"The provided PaymentMethod {pm['id']} does not belong to the Customer {pi['customer']}.",
            param="payment_method",
        )
    pi["payment_method"] = pm["id"]
    if pi["status"] == "requires_payment_method":
        pi["status"] = "requires_confirmation"


def update_payment_intent(state: SandboxState, pi_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """`POST /v1/payment_intents/{id}`: amount, description, metadata (merged; "" unsets a key), payment_method."""
    amount = to_int(params, "amount", required=False, minimum=1)
    metadata = metadata_of(params) if "metadata" in params else None
    pi = state.get(pi_id, "payment_intent")
    if pi["status"] not in UPDATABLE:
        raise _unexpected_state(
            pi,
            f"This PaymentIntent's status is {pi['status']}, but must be one of "
            + ", ".join(UPDATABLE)
            + " to be updated.",
        )
    if amount is not None:
        pi["amount"] = amount
    if "description" in params:
        pi["description"] = params["description"] or None
    if metadata is not None:
        raw = params["metadata"] if isinstance(params["metadata"], dict) else {}
        merged = {**pi["metadata"], **metadata}
        pi["metadata"] = {key: value for key, value in merged.items() if raw.get(key, value) != ""}
    if params.get("payment_method"):
        _use_payment_method(state, pi, str(params["payment_method"]))
    return pi


def confirm_payment_intent(state: SandboxState, pi_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """`POST /v1/payment_intents/{id}/confirm`, optionally with a new `payment_method`. A declined intent is back
    in `requires_payment_method` and may be confirmed again with another card."""
    pi = state.get(pi_id, "payment_intent")
    if pi["status"] not in CONFIRMABLE:
        raise _unexpected_state(
            pi,
            f"This PaymentIntent's status is {pi['status']}, but must be one of "
            + ", ".join(CONFIRMABLE)
            + " to confirm.",
        )
    if params.get("payment_method"):
        _use_payment_method(state, pi, str(params["payment_method"]))
    if not pi["payment_method"]:
        raise _unexpected_state(pi, "You cannot confirm this PaymentIntent because it's missing a payment method.")
    off_session = to_bool(params.get("off_session", "false"))
    state.confirm_payment_intent(pi, off_session=off_session)
    return pi


def cancel_payment_intent(state: SandboxState, pi_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """`POST /v1/payment_intents/{id}/cancel`: only from the states Stripe lists; emits `payment_intent.canceled`."""
    reason = params.get("cancellation_reason") or None
    if reason is not None and reason not in CANCELLATION_REASONS:
        raise invalid_param(
            "Invalid cancellation_reason: must be one of " + ", ".join(CANCELLATION_REASONS),
            param="cancellation_reason",
        )
    pi = state.get(pi_id, "payment_intent")
    if pi["status"] not in CANCELABLE:
        raise _unexpected_state(
            pi,
            f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}. Only a "
            "PaymentIntent with one of the following statuses may be canceled: " + ", ".join(CANCELABLE) + ".",
        )
    pi["status"] = "canceled"
    pi["canceled_at"] = state.now()
    pi["cancellation_reason"] = reason
    pi["next_action"] = None
    state.emit("payment_intent.canceled", pi)
    return pi
