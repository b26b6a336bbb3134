"""msgspec shapes of the billing API. Amounts are integer minor units of `currency`."""

from __future__ import annotations

import datetime as dt

import msgspec


class LineOut(msgspec.Struct):
    id: str
    kind: str
    description: str
    amount: int
    quantity: int
    total: int
    fsa_eligible: bool
    service_date: dt.date | None
    cpt_code: str | None
    credits_line_id: str | None


class PaymentOut(msgspec.Struct):
    id: str
    invoice_id: str
    method: str
    amount: int
    currency: str
    status: str
    refunded: int
    refundable: int
    card_brand: str | None
    card_last4: str | None
    failure_code: str | None
    failure_message: str | None
    checkout_url: str | None
    purpose: str


class InvoiceOut(msgspec.Struct):
    id: str
    status: str
    currency: str
    total: int
    paid: int
    balance: int
    lines: list[LineOut]
    payments: list[PaymentOut]
    appointment_id: str | None
    client_id: str
    # Money received beyond the total and not on its way back (a refund of money paid twice that failed).
    overpaid: int = 0


class LineCreate(msgspec.Struct, forbid_unknown_fields=True):
    kind: str
    description: str
    amount: int
    quantity: int = 1
    # None: the kind's default (service and add-on lines count for FSA/HSA; retail, tips and fees do not).
    fsa_eligible: bool | None = None
    # A discount on one line (the visit's service line); without it a discount is spread over every line pro
    # rata by amount. Either way each line's receipt shows its amount after discount.
    applies_to_line_id: str | None = None


class PaymentCreate(msgspec.Struct, forbid_unknown_fields=True):
    method: str
    amount: int


class RefundCreate(msgspec.Struct, forbid_unknown_fields=True):
    amount: int
    reason: str = ""
    line_id: str | None = None  # the line given back (a returned retail item); its credit line names it


class RefundOut(msgspec.Struct):
    id: str
    payment_id: str
    amount: int
    status: str
    reason: str
    invoice: InvoiceOut


class PolicyIO(msgspec.Struct, forbid_unknown_fields=True):
    deposit_kind: str = "none"  # none | fixed | percent | full
    deposit_fixed: int = 0
    deposit_percent_bp: int = 0  # basis points: 2500 = 25 %
    card_required: bool = False
    late_cancel_fee: int = 0
    no_show_fee: int = 0
    hold_minutes: int = 15
    kept_deposit: str = "fee"  # fee | credit: what a late cancel's or a no-show's deposit becomes


class PackageCreateIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    sessions: int
    price: int
    service_id: str | None = None


class PackageOut(msgspec.Struct):
    id: str
    name: str
    sessions: int
    price: int
    currency: str
    service_id: str | None


class PackageList(msgspec.Struct):
    items: list[PackageOut]


class PackageSale(msgspec.Struct, forbid_unknown_fields=True):
    package_id: str
    quantity: int = 1


class PurchaseOut(msgspec.Struct):
    id: str
    package_id: str
    sessions_total: int
    sessions_used: int
    remaining: int


class ClientBilling(msgspec.Struct):
    client_id: str
    sessions_remaining: int
    packages: list[PurchaseOut]
    card_brand: str | None
    card_last4: str | None
    has_saved_card: bool
    disputed: bool


class SaveCardIn(msgspec.Struct, forbid_unknown_fields=True):
    payment_method: str


class WebhookAck(msgspec.Struct):
    received: bool
    outcome: str


class PlanBillingIO(msgspec.Struct, forbid_unknown_fields=True):
    plan_id: str
    mode: str = "per_visit"  # per_visit | auto_charge | package
    package_purchase_id: str | None = None


class PlanBillingList(msgspec.Struct):
    items: list[PlanBillingIO]


class ParkedEventOut(msgspec.Struct):
    """A Stripe event that could not be applied: why, and whether a replay has applied it since."""

    id: str
    event_id: str
    type: str
    object_id: str | None
    reason: str
    attempts: int
    parked_at: dt.datetime
    resolved_at: dt.datetime | None


class ParkedEventList(msgspec.Struct):
    items: list[ParkedEventOut]
