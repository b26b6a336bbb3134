"""Billing rows: invoices and their lines, payments and refunds, packages, the practice's payment policy,
the client's Stripe customer link, disputes, the webhook events already applied and those parked.

Amounts are integer minor units of the invoice's currency. Every payment and refund carries the
idempotency key it is sent to the gateway with, derived from its own row id and stored (flushed, and
for charges committed) before the call, so a retry after a timeout reuses it.

Money that arrives for an invoice already settled (a pay link paid after the desk took cash, a charge whose
answer was lost before another tender) is never refused: its payment succeeds, because the money moved. The
invoice keeps two numbers apart:

- `paid` is what the invoice's payments cover of its `total`: succeeded payments less refunds that did not
  fail, never more than `total` (the `not_overpaid` check);
- `overpaid` is money received beyond that and not (yet) on its way back. A late success writes an
  *overpayment refund* (`Refund.overpayment`, key `overpayment_refund:<payment id>`, no credit line: the
  visit's price did not change) for the excess in the same transaction, so `overpaid` is 0 while that refund
  is pending or done; it shows money the practice still owes the client only when the processor refused it.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.db import Base, TenantScoped, enum_values


def _enum(cls: type[enum.Enum], length: int = 20) -> Enum:
    return Enum(cls, native_enum=False, length=length, validate_strings=True, values_callable=enum_values)


class PlanPaymentMode(enum.StrEnum):
    PER_VISIT = "per_visit"  # paid at the desk after each visit (the default)
    AUTO_CHARGE = "auto_charge"  # the saved card is charged when each occurrence is completed
    PACKAGE = "package"  # a session of a package bought for the plan is used when each is completed


class InvoiceStatus(enum.StrEnum):
    """`void`: nothing is owed — the visit did not happen (cancelled, its hold released, no fee kept). Money taken
    for it is given back, and the void invoice's payments carry those refunds (pending, succeeded, or failed for
    the desk to retry). There is deliberately no separate `refunded` status: it would say what the refunds already
    say, and every reader of the status (checkout, documents, reports) would have to learn a second "closed".
    A visit that did not happen but kept a fee (a deposit kept as the late-cancel or no-show fee) ends `paid`."""

    OPEN = "open"
    PAID = "paid"
    VOID = "void"


class LineKind(enum.StrEnum):
    SERVICE = "service"
    ADDON = "addon"
    RETAIL = "retail"
    TIP = "tip"
    DISCOUNT = "discount"
    FEE = "fee"
    PACKAGE = "package"
    DEPOSIT = "deposit"


class PaymentMethod(enum.StrEnum):
    CARD_ON_FILE = "card_on_file"
    PAY_LINK = "pay_link"
    CASH = "cash"
    CHECK = "check"
    EXTERNAL_CARD = "external_card"
    PACKAGE = "package"
    ONLINE_DEPOSIT = "online_deposit"
    CREDIT = "credit"  # the client's account credit (a deposit kept for a late cancel), drawn at the desk


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"  # row written, gateway not (yet) answered, or a pay link not yet paid
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RefundStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class DepositKind(enum.StrEnum):
    NONE = "none"
    FIXED = "fixed"
    PERCENT = "percent"
    FULL = "full"


class KeptDeposit(enum.StrEnum):
    """What a deposit kept for a late cancellation or a no-show becomes."""

    FEE = "fee"  # kept up to the late-cancel / no-show fee, the rest refunded (the default)
    CREDIT = "credit"  # kept whole as the client's account credit, drawn at a later checkout; no fee is charged


class Invoice(TenantScoped, Base):
    """What a client owes for a visit (or a retail sale); `total` and `paid` are kept equal to the sums of
    its lines and its payments less refunds by the billing services, under the invoice's row lock."""

    __tablename__ = "invoice"
    __table_args__ = (
        CheckConstraint("paid <= total OR status = 'void'", name="not_overpaid"),
        CheckConstraint("overpaid >= 0", name="overpaid_not_negative"),
    )

    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointment.id", ondelete="RESTRICT"), unique=True, nullable=True
    )
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("client.id", ondelete="RESTRICT"), index=True)
    status: Mapped[InvoiceStatus] = mapped_column(_enum(InvoiceStatus), default=InvoiceStatus.OPEN)
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[int] = mapped_column(Integer, default=0)
    paid: Mapped[int] = mapped_column(Integer, default=0)
    # Received beyond `total` and not on its way back (see the module docstring).
    overpaid: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    settled_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)

    @property
    def balance(self) -> int:
        return self.total - self.paid


class InvoiceLine(TenantScoped, Base):
    __tablename__ = "invoice_line"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), index=True)
    kind: Mapped[LineKind] = mapped_column(_enum(LineKind))
    description: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(Integer)  # per unit; negative for a discount or a credit
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    fsa_eligible: Mapped[bool] = mapped_column(Boolean, default=False)
    service_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cpt_code: Mapped[str | None] = mapped_column(String(10), nullable=True)
    # A credit line written by a refund names the line it gives back.
    credits_line_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("invoice_line.id", ondelete="RESTRICT"), nullable=True
    )
    package_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("package.id", ondelete="RESTRICT"), nullable=True)

    @property
    def total(self) -> int:
        return self.amount * self.quantity


class Payment(TenantScoped, Base):
    __tablename__ = "payment"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("refunded >= 0 AND refunded <= amount", name="refunded_within_amount"),
    )

    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoice.id", ondelete="RESTRICT"), index=True)
    method: Mapped[PaymentMethod] = mapped_column(_enum(PaymentMethod))
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[PaymentStatus] = mapped_column(_enum(PaymentStatus), default=PaymentStatus.PENDING)
    refunded: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    gateway_payment_intent: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    gateway_checkout_session: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    checkout_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    card_brand: Mapped[str | None] = mapped_column(String(20), nullable=True)
    card_last4: Mapped[str | None] = mapped_column(String(4), nullable=True)
    failure_code: Mapped[str | None] = mapped_column(String(60), nullable=True)
    failure_message: Mapped[str | None] = mapped_column(String(500), nullable=True)
    disputed: Mapped[bool] = mapped_column(Boolean, default=False)
    package_purchase_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("package_purchase.id", ondelete="RESTRICT"), nullable=True
    )
    # What the charge is for when it is not the desk's own tender: "deposit", "no_show_fee", "visit", …
    purpose: Mapped[str] = mapped_column(String(30), default="checkout")

    @property
    def refundable(self) -> int:
        return self.amount - self.refunded if self.status is PaymentStatus.SUCCEEDED else 0


class Refund(TenantScoped, Base):
    __tablename__ = "refund"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment.id", ondelete="RESTRICT"), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[RefundStatus] = mapped_column(_enum(RefundStatus), default=RefundStatus.PENDING)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    gateway_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    line_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("invoice_line.id", ondelete="RESTRICT"), nullable=True)
    # Gives back money received twice (no credit line: the invoice's total stays); receipts never count it.
    overpayment: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Package(TenantScoped, Base):
    """A catalogue item: `sessions` visits of a service for one price."""

    __tablename__ = "package"
    __table_args__ = (
        CheckConstraint("sessions > 0", name="sessions_positive"),
        CheckConstraint("price >= 0", name="price_not_negative"),
    )

    name: Mapped[str] = mapped_column(String(200))
    service_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("service.id", ondelete="RESTRICT"), nullable=True)
    sessions: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class PackagePurchase(TenantScoped, Base):
    """Sessions a client bought; `sessions_used` can never pass `sessions_total` (the database checks)."""

    __tablename__ = "package_purchase"
    __table_args__ = (
        CheckConstraint("sessions_used >= 0 AND sessions_used <= sessions_total", name="balance_not_negative"),
    )

    package_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("package.id", ondelete="RESTRICT"))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("client.id", ondelete="RESTRICT"), index=True)
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("invoice.id", ondelete="RESTRICT"), nullable=True)
    # The treatment plan the package was bought for, if any.
    plan_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("treatment_plan.id", ondelete="RESTRICT"), nullable=True
    )
    sessions_total: Mapped[int] = mapped_column(Integer)
    sessions_used: Mapped[int] = mapped_column(Integer, default=0)
    value_per_session: Mapped[int] = mapped_column(Integer)

    @property
    def remaining(self) -> int:
        return self.sessions_total - self.sessions_used


class PackageRedemption(TenantScoped, Base):
    __tablename__ = "package_redemption"
    __table_args__ = (UniqueConstraint("purchase_id", "appointment_id", name="uq_package_redemption_visit"),)

    purchase_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("package_purchase.id", ondelete="RESTRICT"), index=True)
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointment.id", ondelete="RESTRICT"), nullable=True
    )
    payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payment.id", ondelete="RESTRICT"), nullable=True)


class PaymentPolicy(TenantScoped, Base):
    """The practice's money rules. No row reads as: no deposit, no card required, no fees."""

    __tablename__ = "payment_policy"
    __table_args__ = (
        UniqueConstraint("practice_id", name="uq_payment_policy_practice"),
        CheckConstraint("deposit_fixed >= 0 AND late_cancel_fee >= 0 AND no_show_fee >= 0", name="amounts_positive"),
        CheckConstraint("deposit_percent_bp >= 0 AND deposit_percent_bp <= 10000", name="percent_in_range"),
        CheckConstraint("hold_minutes > 0", name="hold_positive"),
    )

    deposit_kind: Mapped[DepositKind] = mapped_column(_enum(DepositKind), default=DepositKind.NONE)
    deposit_fixed: Mapped[int] = mapped_column(Integer, default=0)
    deposit_percent_bp: Mapped[int] = mapped_column(Integer, default=0)
    card_required: Mapped[bool] = mapped_column(Boolean, default=False)
    late_cancel_fee: Mapped[int] = mapped_column(Integer, default=0)
    no_show_fee: Mapped[int] = mapped_column(Integer, default=0)
    hold_minutes: Mapped[int] = mapped_column(Integer, default=15)
    kept_deposit: Mapped[KeptDeposit] = mapped_column(
        _enum(KeptDeposit), default=KeptDeposit.FEE, server_default=KeptDeposit.FEE.value
    )


class ClientCredit(TenantScoped, Base):
    """One entry of a client's account credit: + a deposit kept as credit (`deposit_credit:<payment id>`, naming
    the deposit), - credit drawn at a checkout (`credit_use:<payment id>`, naming the credit tender). The balance is
    the sum. The key is unique, so a retried cancellation or tender never writes its entry twice."""

    __tablename__ = "client_credit"
    __table_args__ = (CheckConstraint("amount <> 0", name="amount_not_zero"),)

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("client.id", ondelete="RESTRICT"), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment.id", ondelete="RESTRICT"))
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)


class StripeCustomer(TenantScoped, Base):
    """The client's customer at the gateway and the card saved for off-session charges.

    The processor may forget either (`resource_missing`: its account reset, the key switched from test to live):
    the card is then cleared, and a customer found gone leaves `customer_id` empty and `generation` one higher, so
    the next customer is created under a fresh idempotency key (`billing.saved_cards.customer_key`) rather than
    the old key replaying the customer that no longer exists."""

    __tablename__ = "stripe_customer"

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("client.id", ondelete="RESTRICT"), unique=True)
    customer_id: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    default_payment_method: Mapped[str | None] = mapped_column(String(255), nullable=True)
    card_brand: Mapped[str | None] = mapped_column(String(20), nullable=True)
    card_last4: Mapped[str | None] = mapped_column(String(4), nullable=True)


class CardSetupStatus(enum.StrEnum):
    PENDING = "pending"  # the visit is held; the client has not saved a card yet
    SAVED = "saved"
    EXPIRED = "expired"  # the setup page closed unused: the hold was released


class CardSetup(TenantScoped, Base):
    """A card the client saves before an online booking is kept (the policy's `card_required`, no deposit): one
    per held visit, opened as a Checkout Session in `setup` mode under the key `card_setup:<appointment id>`."""

    __tablename__ = "card_setup"

    appointment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointment.id", ondelete="RESTRICT"), unique=True)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("client.id", ondelete="RESTRICT"), index=True)
    status: Mapped[CardSetupStatus] = mapped_column(_enum(CardSetupStatus), default=CardSetupStatus.PENDING)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    gateway_checkout_session: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    checkout_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    card_brand: Mapped[str | None] = mapped_column(String(20), nullable=True)
    card_last4: Mapped[str | None] = mapped_column(String(4), nullable=True)


class ClientDispute(TenantScoped, Base):
    """A chargeback: flags the client (and the payment) for the desk."""

    __tablename__ = "client_dispute"

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("client.id", ondelete="RESTRICT"), index=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment.id", ondelete="RESTRICT"))
    gateway_dispute_id: Mapped[str] = mapped_column(String(255), unique=True)
    reason: Mapped[str] = mapped_column(String(100), default="")
    amount: Mapped[int] = mapped_column(Integer)


class WebhookEvent(Base):
    """A gateway event applied once: its id is inserted in the same transaction as its effect."""

    __tablename__ = "webhook_event"
    __table_args__ = (Index("ix_webhook_event_type", "type"),)

    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    practice_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("practice.id", ondelete="SET NULL"), nullable=True)


class ParkedWebhookEvent(Base):
    """A verified gateway event that could not be applied (a constraint, an unexpected state, a missing row).

    The webhook still answers 200 — Stripe would otherwise retry the same failure for three days — and the
    follow-up is ours: owners see the parked events, and `carebook stripe reconcile` replays each (from
    `payload`, the event's object) until it applies, then sets `resolved_at`. The event's id is not in
    `webhook_event` until then: only an applied event is."""

    __tablename__ = "parked_webhook_event"

    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    reason: Mapped[str] = mapped_column(String(500))
    payload: Mapped[str] = mapped_column(Text)
    event_created: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    parked_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    practice_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("practice.id", ondelete="SET NULL"), nullable=True, index=True
    )


class PlanBilling(TenantScoped, Base):
    """How a treatment plan's series is paid for, visit by visit."""

    __tablename__ = "plan_billing"
    __table_args__ = (UniqueConstraint("practice_id", "plan_id", name="uq_plan_billing_plan"),)

    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("treatment_plan.id", ondelete="CASCADE"))
    mode: Mapped[PlanPaymentMode] = mapped_column(_enum(PlanPaymentMode), default=PlanPaymentMode.PER_VISIT)
    package_purchase_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("package_purchase.id", ondelete="RESTRICT"), nullable=True
    )
