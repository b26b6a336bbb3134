"""Packages: a catalogue of session bundles, sold on an invoice and redeemed one session per visit.

A visit paid with a session costs the session's **share** of the package price, not the service's list price:
the price divided by the sessions, rounded down to the minor unit, with the cents left over on the last session
($250 for 3 sessions is $83.33, $83.33, $83.34), so the shares add up to the price. The visit's service line is
reduced to that share (a discount line naming it), and the package tender records the share: the receipt then
claims what the client paid for that visit. A package is only used for a service it covers (one for any
service, or for the visit's own).

A purchase becomes usable when the invoice that sold it is settled. Redeeming takes one session with a
conditional UPDATE (`sessions_used < sessions_total`), so two desks redeeming the last session at once
cannot both succeed; the database's check constraint is the backstop. A client's balance never goes
negative.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing import invoices
from billing.models import Invoice, InvoiceLine, LineKind, Package, PackagePurchase, PackageRedemption, Payment
from scheduler.booking.models import Appointment
from scheduler.errors import InvalidInput, NotFound, RuleViolation
from scheduler.practice.models import Practice, Service
from scheduler.validation import parse_uuid_field


@dataclass(frozen=True)
class PackageCreate:
    name: str
    sessions: int
    price: int
    service_id: uuid.UUID | None = None


async def create_package(session: AsyncSession, practice: Practice, data: PackageCreate) -> Package:
    if not data.name.strip() or len(data.name) > 200:
        raise InvalidInput("Name the package (at most 200 characters).", field="name")
    if not 1 <= data.sessions <= 1000:
        raise InvalidInput("A package holds 1 to 1000 sessions.", field="sessions")
    if not 0 <= data.price <= 100_000_000:
        raise InvalidInput("The price is a non-negative number of minor units.", field="price")
    if data.service_id is not None:
        service = await session.scalar(select(Service).where(Service.id == data.service_id))
        if service is None:
            raise NotFound("No such service.", field="service_id")
    package = Package(
        name=data.name.strip(),
        sessions=data.sessions,
        price=data.price,
        currency=practice.currency,
        service_id=data.service_id,
        is_active=True,
    )
    session.add(package)
    await session.flush()
    return package


async def list_packages(session: AsyncSession) -> list[Package]:
    return list(await session.scalars(select(Package).where(Package.is_active.is_(True)).order_by(Package.name)))


async def get_package(session: AsyncSession, package_id: uuid.UUID) -> Package:
    package = await session.scalar(select(Package).where(Package.id == package_id, Package.is_active.is_(True)))
    if package is None:
        raise NotFound("No such package.", field="package_id")
    return package


async def sell_on_invoice(session: AsyncSession, invoice_id: uuid.UUID, package_id: str, quantity: int) -> Invoice:
    """Sell `quantity` of a package on an invoice; its sessions become usable once the invoice is paid."""
    invoice = await invoices.lock_invoice(session, invoice_id)
    if not 1 <= quantity <= 100:
        raise InvalidInput("Quantity is 1 to 100.", field="quantity")
    package = await get_package(session, parse_uuid_field(package_id, "package_id"))
    for _ in range(quantity):
        await _add_package_line(session, invoice, package)
    await invoices.recompute(session, invoice)
    return invoice


async def _add_package_line(session: AsyncSession, invoice: Invoice, package: Package) -> None:
    """One package line (the caller holds the invoice lock and recomputes)."""
    session.add(
        InvoiceLine(
            invoice_id=invoice.id,
            kind=LineKind.PACKAGE,
            description=f"{package.name} ({package.sessions} sessions)",
            amount=package.price,
            quantity=1,
            fsa_eligible=False,
            package_id=package.id,
        )
    )


async def activate_purchases(session: AsyncSession, invoice: Invoice) -> None:
    """The invoice was paid: each package line on it becomes the client's sessions (once per line)."""
    lines = await session.scalars(
        select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id, InvoiceLine.package_id.is_not(None))
    )
    for line in lines:
        if line.package_id is None:
            continue
        already = await session.scalar(
            select(PackagePurchase.id).where(
                PackagePurchase.invoice_id == invoice.id, PackagePurchase.package_id == line.package_id
            )
        )
        if already is not None:
            continue
        package = await session.get_one(Package, line.package_id)
        for _ in range(line.quantity):
            session.add(
                PackagePurchase(
                    package_id=package.id,
                    client_id=invoice.client_id,
                    invoice_id=invoice.id,
                    sessions_total=package.sessions,
                    sessions_used=0,
                    value_per_session=package.price // package.sessions,
                )
            )
    await session.flush()


async def purchases_for(session: AsyncSession, client_id: uuid.UUID) -> list[PackagePurchase]:
    return list(
        await session.scalars(
            select(PackagePurchase)
            .where(PackagePurchase.client_id == client_id)
            .order_by(PackagePurchase.created_at, PackagePurchase.id)
        )
    )


async def redeem_session(
    session: AsyncSession,
    *,
    client_id: uuid.UUID,
    service_id: uuid.UUID | None,
    appointment_id: uuid.UUID | None,
    payment_id: uuid.UUID | None,
    plan_id: uuid.UUID | None = None,
) -> PackagePurchase:
    """Use one session of the client's oldest package that covers the service (and the plan, if named)."""
    stmt = (
        select(PackagePurchase)
        .join(Package, Package.id == PackagePurchase.package_id)
        .where(
            PackagePurchase.client_id == client_id,
            PackagePurchase.sessions_used < PackagePurchase.sessions_total,
        )
        .order_by(PackagePurchase.created_at, PackagePurchase.id)
    )
    if service_id is not None:
        stmt = stmt.where((Package.service_id.is_(None)) | (Package.service_id == service_id))
    if plan_id is not None:
        stmt = stmt.where(PackagePurchase.plan_id == plan_id)
    for purchase in await session.scalars(stmt):
        taken = await session.execute(
            update(PackagePurchase)
            .where(
                PackagePurchase.id == purchase.id,
                PackagePurchase.sessions_used < PackagePurchase.sessions_total,
            )
            .values(sessions_used=PackagePurchase.sessions_used + 1)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            session.add(
                PackageRedemption(purchase_id=purchase.id, appointment_id=appointment_id, payment_id=payment_id)
            )
            await session.flush()
            await session.refresh(purchase)
            return purchase
    raise RuleViolation("The client has no package sessions left for this service.", rule="no_package_sessions")


def session_share(price: int, sessions: int, session_number: int) -> int:
    """What session `session_number` (1-based) of a package costs: price // sessions, the remainder on the last."""
    if not 1 <= session_number <= sessions:
        msg = "session_number is 1 to sessions"
        raise ValueError(msg)
    share, remainder = divmod(price, sessions)
    return share + remainder if session_number == sessions else share


async def pay_visit_with_session(
    session: AsyncSession,
    invoice: Invoice,
    payment: Payment,
    appointment: Appointment | None,
    *,
    plan_id: uuid.UUID | None = None,
) -> PackagePurchase:
    """Pay the visit's service line with one session of a package valid for its service (and plan, if named):
    the line is reduced to the session's share and `payment` (a package tender, not yet succeeded) records it.
    The caller holds the invoice lock, marks the payment succeeded and recomputes.

    A session pays for the whole visit, so it is taken before other money for the visit: once more has been
    paid than the invoice's other lines come to, it is refused (before any session is used)."""
    if appointment is None:
        raise RuleViolation("A package session pays for a visit.", rule="package_needs_visit", field="method")
    line = await session.scalar(
        select(InvoiceLine)
        .where(
            InvoiceLine.invoice_id == invoice.id,
            InvoiceLine.kind == LineKind.SERVICE,
            InvoiceLine.credits_line_id.is_(None),
            InvoiceLine.amount > 0,
        )
        .order_by(InvoiceLine.created_at, InvoiceLine.id)
        .limit(1)
    )
    if line is None or invoice.paid > max(invoice.total - line.total, 0):
        raise RuleViolation(
            "A package session pays for the whole visit: use it before other tenders, or refund them first.",
            rule="package_after_payment",
            field="method",
        )
    purchase = await redeem_session(
        session,
        client_id=invoice.client_id,
        service_id=appointment.service_id,
        appointment_id=appointment.id,
        payment_id=payment.id,
        plan_id=plan_id,
    )
    package = await session.get_one(Package, purchase.package_id)
    # The catalogue's price, unless the package was re-cut since: then what the purchase was sold at.
    price = purchase.value_per_session * purchase.sessions_total
    if package.sessions == purchase.sessions_total:
        price = package.price
    share = session_share(price, purchase.sessions_total, purchase.sessions_used)
    reduction = min(line.total - share, invoice.total - invoice.paid)  # never below what was already paid
    if reduction > 0:
        session.add(
            InvoiceLine(
                invoice_id=invoice.id,
                kind=LineKind.DISCOUNT,
                description=f"Package session price ({package.name})"[:200],
                amount=-reduction,
                quantity=1,
                fsa_eligible=line.fsa_eligible,
                service_date=line.service_date,
                credits_line_id=line.id,  # no package_id: that marks a package sold (`activate_purchases`)
            )
        )
    await invoices.recompute(session, invoice)
    payment.amount = min(share, invoice.balance)
    payment.package_purchase_id = purchase.id
    if payment.amount <= 0:
        raise RuleViolation("This package's sessions are free: nothing to record.", rule="package_free", field="method")
    return purchase
