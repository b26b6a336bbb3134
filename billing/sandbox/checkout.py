"""Checkout Sessions in the sandbox: creation through the API, completion from the hosted stand-in page."""

from __future__ import annotations

from typing import Any

from billing.sandbox.cards import TEST_CARDS, Outcome
from billing.sandbox.errors import StripeApiError, invalid_param, invalid_request, metadata_of, to_int
from billing.sandbox.state import SandboxState

DEFAULT_LIFETIME = 24 * 3600
MIN_LIFETIME = 30 * 60


class CheckoutNeedsAuthentication(Exception):
    """The card chosen on the hosted page wants 3-D Secure: the page asks the cardholder to confirm."""


def create_session(state: SandboxState, params: dict[str, Any]) -> dict[str, Any]:
    mode = params.get("mode")
    if mode not in ("payment", "setup"):
        raise invalid_param("Invalid mode: must be one of payment, setup or subscription", param="mode")
    for name in ("success_url",):
        if not params.get(name):
            raise invalid_param(f"Missing required param: {name}.", param=name, code="parameter_missing")
    customer_id = params.get("customer") or None
    if customer_id:
        state.get(customer_id, "customer", "customer")
    amount: int | None = None
    currency = str(params.get("currency") or "").lower() or None
    if mode == "payment":
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise invalid_param("Missing required param: line_items.", param="line_items", code="parameter_missing")
        amount = 0
        for index, item in enumerate(items):
            price = item.get("price_data") if isinstance(item, dict) else None
            if not isinstance(price, dict):
                raise invalid_param("Only price_data line items are supported.", param=f"line_items[{index}]")
            unit = to_int(price, "unit_amount", minimum=0) or 0
            quantity = to_int(item, "quantity", required=False, minimum=1) or 1
            amount += unit * quantity
            currency = str(price.get("currency") or currency or "").lower()
    if not currency:
        raise invalid_param("Missing required param: currency.", param="currency", code="parameter_missing")
    now = state.now()
    expires_at = to_int(params, "expires_at", required=False) or now + DEFAULT_LIFETIME
    if not now + MIN_LIFETIME <= expires_at <= now + DEFAULT_LIFETIME:
        raise invalid_param(
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
            param="expires_at",
        )
    intent_data = _sub(params, "payment_intent_data")
    setup_data = _sub(params, "setup_intent_data")
    session_id = "cs_test_" + state.new_id("")
    session: dict[str, Any] = {
        "id": session_id,
        "object": "checkout.session",
        "mode": mode,
        "status": "open",
        "payment_status": "unpaid" if mode == "payment" else "no_payment_required",
        "url": f"{state.base_url}/sandbox/checkout/{session_id}",
        "customer": customer_id,
        "customer_email": params.get("customer_email") or None,
        "client_reference_id": params.get("client_reference_id") or None,
        "amount_total": amount,
        "amount_subtotal": amount,
        "currency": currency,
        "payment_intent": None,
        "setup_intent": None,
        "success_url": params["success_url"],
        "cancel_url": params.get("cancel_url") or None,
        "metadata": metadata_of(params),
        "created": now,
        "expires_at": expires_at,
        "payment_method_types": ["card"],
        "customer_details": None,
        "client_secret": None,  # only embedded (ui_mode "embedded") sessions have one
        "ui_mode": "hosted",
        "locale": None,
        "livemode": False,
    }
    state.put(session)
    # Not part of Stripe's object: what the page shows and what completion needs.
    state.extras_of(session_id).update(
        {
            "description": _description(params),
            "setup_future_usage": intent_data.get("setup_future_usage") or None,
            "intent_metadata": metadata_of(intent_data) if mode == "payment" else metadata_of(setup_data),
        }
    )
    return session


def _sub(params: dict[str, Any], name: str) -> dict[str, Any]:
    value = params.get(name)
    return value if isinstance(value, dict) else {}


def _description(params: dict[str, Any]) -> str:
    items = params.get("line_items")
    if isinstance(items, list) and items and isinstance(items[0], dict):
        product = (items[0].get("price_data") or {}).get("product_data") or {}
        if isinstance(product, dict) and product.get("name"):
            return str(product["name"])
    return "Save a card for later payments"


def expire_session(state: SandboxState, session_id: str) -> dict[str, Any]:
    session = state.get(session_id, "checkout.session")
    refresh_expiry(state, session)
    if session["status"] != "open":
        # What Stripe answers for a complete or an already expired session alike.
        raise invalid_request('Only Checkout Sessions with a status in ["open"] can be expired.')
    session["status"] = "expired"
    state.emit("checkout.session.expired", session)
    return session


def refresh_expiry(state: SandboxState, session: dict[str, Any]) -> None:
    if session["status"] == "open" and session["expires_at"] <= state.now():
        session["status"] = "expired"
        state.emit("checkout.session.expired", session)


def complete_session(state: SandboxState, session_id: str, card_id: str, *, authenticated: bool) -> dict[str, Any]:
    """The cardholder pressed Pay with one of the test cards. Raises `StripeApiError` (402) on a decline and
    `CheckoutNeedsAuthentication` when the card wants 3-D Secure and the page has not confirmed it yet."""
    session = state.get(session_id, "checkout.session")
    refresh_expiry(state, session)
    if session["status"] != "open":
        raise invalid_request(f"This Checkout Session is {session['status']}.")
    card = TEST_CARDS.get(card_id)
    if card is None:
        raise invalid_request(f"Unknown test card {card_id}.", param="card")
    wants_auth = card.outcome in (Outcome.AUTH_ALWAYS, Outcome.AUTH_UNLESS_SET_UP)
    if wants_auth and not authenticated:
        raise CheckoutNeedsAuthentication
    extras = state.extras_of(session_id)
    saves_card = session["mode"] == "setup" or bool(extras["setup_future_usage"])
    if saves_card and session["customer"] is None:
        session["customer"] = state.create_customer({"email": session["customer_email"]})["id"]
    if session["mode"] == "setup":
        seti = state.create_setup_intent(
            {
                "customer": session["customer"],
                "payment_method": card_id,
                "usage": "off_session",
                "confirm": "true",
                "metadata": extras["intent_metadata"],
            },
            authenticated=True,
        )
        session["setup_intent"] = seti["id"]
    else:
        pi = _session_payment_intent(state, session, extras, card_id)
        session["payment_intent"] = pi["id"]
        try:
            state.confirm_payment_intent(pi, off_session=False, authenticated=True)
        except StripeApiError:
            # Checkout keeps the session open after a decline so the cardholder can try another card.
            session["payment_intent"] = None
            raise
        session["payment_status"] = "paid"
    session["status"] = "complete"
    state.emit("checkout.session.completed", session)
    return session


def _session_payment_intent(
    state: SandboxState, session: dict[str, Any], extras: dict[str, Any], card_id: str
) -> dict[str, Any]:
    """The session's one payment intent: made on the first attempt, given the new card on each retry."""
    if extras.get("payment_intent"):
        pi = state.get(extras["payment_intent"], "payment_intent")
        pi["payment_method"] = state.resolve_payment_method(card_id)["id"]
        pi["status"] = "requires_confirmation"
        return pi
    params: dict[str, Any] = {
        "amount": str(session["amount_total"]),
        "currency": session["currency"],
        "customer": session["customer"] or "",
        "payment_method": card_id,
        "description": extras["description"],
        "metadata": extras["intent_metadata"],
    }
    if extras["setup_future_usage"]:
        params["setup_future_usage"] = extras["setup_future_usage"]
    pi = state.create_payment_intent(params)
    extras["payment_intent"] = pi["id"]
    return pi
