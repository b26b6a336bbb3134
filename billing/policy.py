"""The practice's payment policy: deposits for online booking, saved cards, fees, hold time."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import DepositKind, KeptDeposit, PaymentPolicy
from scheduler.errors import InvalidInput

MAX_HOLD_MINUTES = 24 * 60


async def get_policy(session: AsyncSession) -> PaymentPolicy:
    """The session's practice's policy; a practice that never set one has the defaults (no deposit, no fees)."""
    policy = await session.scalar(select(PaymentPolicy))
    return policy or PaymentPolicy(
        deposit_kind=DepositKind.NONE,
        deposit_fixed=0,
        deposit_percent_bp=0,
        card_required=False,
        late_cancel_fee=0,
        no_show_fee=0,
        hold_minutes=15,
        kept_deposit=KeptDeposit.FEE,
    )


@dataclass(frozen=True)
class PolicyChange:
    deposit_kind: str
    deposit_fixed: int
    deposit_percent_bp: int
    card_required: bool
    late_cancel_fee: int
    no_show_fee: int
    hold_minutes: int
    kept_deposit: str = KeptDeposit.FEE.value


async def set_policy(session: AsyncSession, change: PolicyChange) -> PaymentPolicy:
    try:
        kind = DepositKind(change.deposit_kind)
    except ValueError:
        raise InvalidInput("Deposit is none, fixed, percent or full.", field="deposit_kind") from None
    try:
        kept = KeptDeposit(change.kept_deposit)
    except ValueError:
        raise InvalidInput(
            "A deposit kept for a late cancel or a no-show is kept as the fee or as account credit (fee, credit).",
            field="kept_deposit",
        ) from None
    for name in ("deposit_fixed", "late_cancel_fee", "no_show_fee"):
        if getattr(change, name) < 0:
            raise InvalidInput("Amounts cannot be negative.", field=name)
    if not 0 <= change.deposit_percent_bp <= 10_000:
        raise InvalidInput("A percentage is 0 to 10000 basis points (100 %).", field="deposit_percent_bp")
    if not 1 <= change.hold_minutes <= MAX_HOLD_MINUTES:
        raise InvalidInput(f"Hold between 1 and {MAX_HOLD_MINUTES} minutes.", field="hold_minutes")
    policy = await session.scalar(select(PaymentPolicy))
    if policy is None:
        policy = PaymentPolicy()
        session.add(policy)
    policy.deposit_kind = kind
    policy.deposit_fixed = change.deposit_fixed
    policy.deposit_percent_bp = change.deposit_percent_bp
    policy.card_required = change.card_required
    policy.late_cancel_fee = change.late_cancel_fee
    policy.no_show_fee = change.no_show_fee
    policy.hold_minutes = change.hold_minutes
    policy.kept_deposit = kept
    await session.flush()
    return policy
