"""Refunds and disputes in the sandbox: money going back, in full, in part, or contested by the cardholder."""

from __future__ import annotations

from typing import Any

from billing.sandbox.errors import invalid_param, invalid_request, metadata_of, to_int
from billing.sandbox.state import SandboxState


def create_refund(state: SandboxState, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("payment_intent"):
        pi = state.get(str(params["payment_intent"]), "payment_intent", "payment_intent")
        charge_id = pi["latest_charge"] if pi["status"] == "succeeded" else None
        if charge_id is None:
            raise invalid_request(
                f"This PaymentIntent ({pi['id']}) does not have a successful charge to refund.",
                param="payment_intent",
                code="charge_not_refundable",
            )
        charge = state.get(charge_id, "charge")
    elif params.get("charge"):
        charge = state.get(str(params["charge"]), "charge", "charge")
    else:
        raise invalid_param(
            "One of the following params should be provided for this request: payment_intent or charge."
        )
    remaining = charge["amount_captured"] - charge["amount_refunded"]
    if remaining <= 0:
        raise invalid_request(
            f"Charge {charge['id']} has already been refunded.", param="charge", code="charge_already_refunded"
        )
    amount = to_int(params, "amount", required=False, minimum=1) or remaining
    if amount > remaining:
        raise invalid_request(
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
            param="amount",
            code="amount_too_large",
        )
    refund = {
        "id": state.new_id("re_"),
        "object": "refund",
        "amount": amount,
        "charge": charge["id"],
        "payment_intent": charge["payment_intent"],
        "currency": charge["currency"],
        "customer": charge["customer"],
        "payment_method": charge["payment_method"],
        "status": "succeeded",
        "reason": params.get("reason") or None,
        "metadata": metadata_of(params),
        "created": state.now(),
    }
    state.put(refund)
    previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
    state.emit("refund.created", refund)
    state.emit("charge.refunded", charge, previous)
    return refund


def create_dispute(state: SandboxState, payment_intent_id: str, reason: str = "fraudulent") -> dict[str, Any]:
    pi = state.get(payment_intent_id, "payment_intent", "payment_intent")
    if pi["status"] != "succeeded" or not pi["latest_charge"]:
        raise invalid_request("Only a succeeded payment can be disputed.", param="payment_intent")
    charge = state.get(pi["latest_charge"], "charge")
    dispute = {
        "id": state.new_id("dp_"),
        "object": "dispute",
        "amount": charge["amount"] - charge["amount_refunded"],
        "charge": charge["id"],
        "payment_intent": pi["id"],
        "currency": charge["currency"],
        "reason": reason,
        "status": "needs_response",
        "is_charge_refundable": False,
        "livemode": False,
        "created": state.now(),
        "metadata": {},
    }
    state.put(dispute)
    charge["disputed"] = True
    state.emit("charge.dispute.created", dispute)
    return dispute
