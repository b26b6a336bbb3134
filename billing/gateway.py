"""The payment gateway boundary: what billing asks of a card processor, and the errors it can get back.

Billing code depends on `PaymentGateway` and these value types and errors only; `billing.stripe_gateway` is
the one implementation (against real Stripe, or the offline sandbox through the same SDK), built by
`billing.gateway_factory.build_gateway(settings)`.

Rules every caller follows (see /shared/specs/stripe.md "Exactly-once"):

- every call that can move money or create an object takes an `idempotency_key` derived from OUR row
  (`charge:<payment id>`, `refund:<refund id>`, `deposit:<appointment id>`, `customer:<client id>`) and
  persisted before the call; retrying with the same key and the same arguments replays the first result
  (errors included) and never charges twice; the same key with different arguments raises
  `IdempotencyConflict`;
- `GatewayUnavailable` means the outcome is UNKNOWN (the request may have been applied and its response
  lost): retry later with the same key and the same arguments, never with a new key;
- metadata carries ids and amounts only — never health information (`check_metadata` enforces the shape).

The errors are `CarebookError`s, so a controller that lets one escape answers with problem+json:
402 `card_declined` / `authentication_required`, 409 `idempotency_conflict`, 503 `gateway_unavailable`,
400 `invalid_webhook`, 422 `payment_rejected` (and `MissingObject`, its `resource_missing` kind), 409
`card_not_on_file` (raised by billing, not the gateway, when a `MissingObject` was the client's saved card).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from scheduler.errors import CarebookError

CheckoutMode = Literal["payment", "setup"]

# Metadata is for joining Stripe objects back to our rows: short ids, amounts, kinds. Stripe allows 50 keys of
# 40 characters with values of 500; we allow much less so free text (which could carry health information)
# has no room to slip in.
_METADATA_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_METADATA_VALUE = re.compile(r"^[A-Za-z0-9_:.\-]{0,100}$")
MAX_METADATA_KEYS = 20


def check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Return metadata as a plain dict, refusing anything but id-like keys and values (no prose, no PHI)."""
    if not metadata:
        return {}
    if len(metadata) > MAX_METADATA_KEYS:
        raise ValueError(f"at most {MAX_METADATA_KEYS} metadata keys")
    clean: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(value, str) or not _METADATA_KEY.match(key) or not _METADATA_VALUE.match(value):
            raise ValueError(f"metadata {key!r} must be an id-like key and value (ids and amounts only)")
        clean[key] = value
    return clean


# ---------------------------------------------------------------------------------------------- value types


@dataclass(frozen=True)
class SavedCard:
    """A card kept on a customer for later off-session charges."""

    payment_method_id: str
    brand: str | None
    last4: str | None
    exp_month: int | None = None
    exp_year: int | None = None
    customer_id: str | None = None


@dataclass(frozen=True)
class ChargeResult:
    """The state of one payment intent (the answer to a charge, or a later look-up).

    `status` is Stripe's: `succeeded`, `processing`, `requires_action`, `requires_payment_method`,
    `requires_confirmation`, `requires_capture`, `canceled`. Money moved only when `succeeded`.
    """

    payment_intent_id: str
    status: str
    amount: int
    amount_received: int
    currency: str
    customer_id: str | None
    payment_method_id: str | None
    card_brand: str | None
    card_last4: str | None
    charge_id: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    # Why the last attempt failed (the issuer's decline code, else Stripe's error code) and Stripe's sentence.
    last_error_code: str | None = None
    last_error_message: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


@dataclass(frozen=True)
class CheckoutSession:
    """A hosted payment page (Stripe Checkout) and, once completed, what it produced.

    `status`: `open` | `complete` | `expired`; `payment_status`: `paid` | `unpaid` | `no_payment_required`.
    After completion `payment_method_id` is the card the customer used (saved on the customer when the
    session was created with `save_card=True` or in `setup` mode), with its brand and last 4 digits.
    """

    id: str
    url: str | None
    mode: CheckoutMode
    status: str
    payment_status: str
    customer_id: str | None
    amount_total: int | None
    currency: str | None
    payment_intent_id: str | None
    setup_intent_id: str | None
    payment_method_id: str | None
    card_brand: str | None
    card_last4: str | None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def paid(self) -> bool:
        return self.status == "complete" and self.payment_status == "paid"


@dataclass(frozen=True)
class RefundResult:
    """A refund; `status` is `pending`, `succeeded`, `failed`, `requires_action` or `canceled`."""

    id: str
    status: str
    amount: int
    currency: str
    payment_intent_id: str | None
    charge_id: str | None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook event. `data` is the event's object (`data.object`) as plain JSON values."""

    id: str
    type: str
    created: datetime
    data: dict[str, Any]
    previous_attributes: dict[str, Any] | None = None
    livemode: bool = False

    @property
    def object_id(self) -> str | None:
        value = self.data.get("id")
        return value if isinstance(value, str) else None


# ------------------------------------------------------------------------------------------------- errors


class PaymentError(CarebookError):
    """Base of every gateway error."""

    status = 402
    code = "payment_failed"
    title = "The payment did not go through"


class CardDeclined(PaymentError):
    """The card was declined; ask for another card. `code` is Stripe's error code (`card_declined`,
    `expired_card`, `incorrect_cvc`, ...), `decline_code` the issuer's reason (`insufficient_funds`,
    `generic_decline`, ...), `message` a sentence fit to show to staff."""

    code = "card_declined"
    title = "The card was declined"

    def __init__(
        self,
        message: str | None = None,
        *,
        stripe_code: str | None = "card_declined",
        decline_code: str | None = None,
        payment_intent_id: str | None = None,
    ) -> None:
        super().__init__(message, decline_code=decline_code, stripe_code=stripe_code)
        self.message = self.detail
        self.stripe_code = stripe_code
        self.decline_code = decline_code
        self.payment_intent_id = payment_intent_id


class AuthenticationRequired(PaymentError):
    """The bank wants the cardholder to authenticate (3-D Secure): an off-session charge cannot finish.
    Send the client a pay link (a Checkout Session for the same amount); billing may fill `pay_url` with it
    before re-raising, and it then appears in the problem document."""

    code = "authentication_required"
    title = "The card needs the cardholder to authenticate"

    def __init__(
        self,
        message: str | None = None,
        *,
        payment_intent_id: str | None = None,
        client_secret: str | None = None,
        payment_method_id: str | None = None,
        pay_url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = self.detail
        self.payment_intent_id = payment_intent_id
        self.client_secret = client_secret
        self.payment_method_id = payment_method_id
        self.pay_url = pay_url

    def to_problem(self) -> dict[str, Any]:
        body = super().to_problem()
        if self.payment_intent_id:
            body["payment_intent"] = self.payment_intent_id
        if self.pay_url:
            body["pay_url"] = self.pay_url
        return body


class GatewayUnavailable(PaymentError):
    """The processor could not be reached, timed out, failed (5xx) or rate-limited us after the SDK's own
    retries. The request MAY have been applied: retry with the same idempotency key, never a new one."""

    status = 503
    code = "gateway_unavailable"
    title = "The payment processor is unavailable; try again"

    def __init__(self, message: str | None = None, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class IdempotencyConflict(PaymentError):
    """The idempotency key was already used with different arguments (a bug in the caller, not a retry)."""

    status = 409
    code = "idempotency_conflict"
    title = "The idempotency key was already used for a different request"


class PaymentRejected(PaymentError):
    """The processor refused the request itself (unknown payment method, refund above what is left, ...).
    `stripe_code` is Stripe's error code when it gave one, `param` the parameter at fault."""

    status = 422
    code = "payment_rejected"
    title = "The payment processor refused the request"

    def __init__(self, message: str | None = None, *, stripe_code: str | None = None, param: str | None = None) -> None:
        super().__init__(message, stripe_code=stripe_code, param=param)
        self.stripe_code = stripe_code
        self.param = param


class MissingObject(PaymentRejected):
    """The processor has no such object (Stripe's `resource_missing`): a customer or payment method we stored is
    gone — the sandbox's account was reset, the key switched from test to live, someone deleted it. `param` names
    the parameter that pointed at it (`customer`, `payment_method`, ...). Billing turns it into `CardNotOnFile`
    where the object was the client's saved card, and forgets that card."""

    def __init__(self, message: str | None = None, *, param: str | None = None) -> None:
        super().__init__(message, stripe_code="resource_missing", param=param)

    @property
    def customer_gone(self) -> bool:
        return self.param == "customer"


class CardNotOnFile(PaymentError):
    """The client's saved card (or the customer it was saved on) no longer exists at the processor. The card has
    been forgotten; the desk asks the client for a new one. The sentence is ours: never the processor's."""

    status = 409
    code = "card_not_on_file"
    title = "The saved card is no longer on file"

    def __init__(self) -> None:
        super().__init__("The saved card is no longer on file — ask the client for a new one.")


class InvalidWebhook(PaymentError):
    """A webhook whose signature, timestamp or body is wrong: answer 400 and change nothing."""

    status = 400
    code = "invalid_webhook"
    title = "Invalid webhook"


# ---------------------------------------------------------------------------------------------- protocol


@runtime_checkable
class PaymentGateway(Protocol):
    """What billing needs from a card processor. Every method is async and safe to retry with the same key."""

    @property
    def is_sandbox(self) -> bool:
        """True when this gateway talks to the offline sandbox rather than Stripe."""
        ...

    async def ensure_customer(
        self,
        idempotency_key: str,
        *,
        email: str | None,
        name: str | None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Create the processor's customer for one of our clients (key `customer:<client id>`) and return its
        id; a retry with the same key returns the same customer. Name and e-mail only, never health info."""
        ...

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
        """A hosted page where the client pays `amount` (mode `payment`; `save_card` keeps the card on the
        customer for off-session use) or only saves a card (mode `setup`, `amount` ignored). `description` is
        what the client sees ("Deposit for 60-min massage, Dec 3, 2026, 9:00 PM"): no health information. `success_url`
        may contain `{CHECKOUT_SESSION_ID}`. Stripe requires 30 min ≤ expiry ≤ 24 h (default 24 h). `expires_at` (a
        fixed instant) rather than `expires_in_seconds` lets a retry with the same key send the same parameters."""
        ...

    async def retrieve_checkout_session(self, session_id: str) -> CheckoutSession:
        """The current state of a Checkout Session, with the payment method it produced."""
        ...

    async def expire_checkout_session(self, idempotency_key: str, session_id: str) -> CheckoutSession:
        """Close an open Checkout Session so it can no longer be paid (key `expire:<payment id>`): an invoice
        settled by another tender, or an abandoned hold released. A session that is no longer open (complete:
        the client paid first; already expired) is not an error: it is returned as it now is, and the caller
        reads `status` — `expired` means no money can come through it any more, `complete` that it already did."""
        ...

    async def cancel_payment_intent(self, idempotency_key: str, payment_intent_id: str) -> ChargeResult:
        """Cancel a payment intent that has not succeeded (key `cancel:<payment id>`), so it can never be
        confirmed later. One that cannot be cancelled any more (succeeded, already canceled) is returned as it
        now is: `status` says whether money moved (`succeeded`) or never will (`canceled`)."""
        ...

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
        """Charge a saved card with the client absent (off-session, confirmed at once).
        Raises `CardDeclined`, `AuthenticationRequired`, `GatewayUnavailable`, `IdempotencyConflict`."""
        ...

    async def retrieve_payment_intent(self, payment_intent_id: str) -> ChargeResult:
        """The current state of a payment intent (after a webhook, or to settle an unknown outcome)."""
        ...

    async def list_saved_cards(self, customer: str) -> list[SavedCard]:
        """The cards saved on a customer, newest first."""
        ...

    async def attach_card(self, idempotency_key: str, *, customer: str, payment_method: str) -> SavedCard:
        """Save a card (a payment method id from the processor, e.g. Stripe's `pm_card_visa` test id) on a
        customer for later off-session charges."""
        ...

    async def refund(
        self,
        idempotency_key: str,
        *,
        payment_intent: str,
        amount: int | None = None,
        metadata: Mapping[str, str] | None = None,
        reason: Literal["duplicate", "fraudulent", "requested_by_customer"] | None = None,
    ) -> RefundResult:
        """Refund `amount` (all that is left when None) of a succeeded payment intent. A refund above what
        remains raises `PaymentRejected`. The status may be `pending`: `charge.refunded` confirms it."""
        ...

    async def list_undelivered_events(self, *, limit: int = 100) -> list[WebhookEvent]:
        """Events whose webhook delivery has not succeeded (last 30 days), oldest first, for reconciliation."""
        ...

    def construct_event(self, raw_body: bytes, sig_header: str | None) -> WebhookEvent:
        """Verify a webhook on its RAW body (signature with the webhook secret, timestamp within 5 minutes,
        JSON) and return the event; raises `InvalidWebhook`. Synchronous: no network involved."""
        ...

    async def close(self) -> None:
        """Release the HTTP client (application shutdown)."""
        ...
