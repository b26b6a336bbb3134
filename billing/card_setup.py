"""The practice's `card_required`: a client booking online with no deposit saves a card before the visit is kept.

Same hold rules as a deposit (`billing.visits.deposit_hold`): the booking is held (`pending_payment` until
`hold_expires_at`), and the client is sent to our own signed link, `/p/<slug>/card/<token>`, which opens a Checkout
Session in `setup` mode (no charge) under the key `card_setup:<appointment id>` — the row `CardSetup` names it
before any call. Completing it (`checkout.session.completed`, or the success redirect, whichever comes first; both
idempotent) saves the card on the client's customer and asks booking to confirm the visit
(`booking.confirm_held_visit`); the session expiring unused releases the hold. A client whose card is already on
file is not asked again: the booking is kept at once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import invoices, payments, saved_cards, visits
from billing.documents.links import LinkExpired, LinkInvalid, make_token, read_token
from billing.gateway import CheckoutSession, GatewayUnavailable
from billing.models import CardSetup, CardSetupStatus, DepositKind, StripeCustomer
from billing.policy import get_policy
from billing.runtime import get_gateway, link_secret
from scheduler.booking import services as booking
from scheduler.booking.hooks import PaymentHold
from scheduler.booking.models import Appointment, AppointmentStatus
from scheduler.clients.models import Client
from scheduler.db import TENANT_KEY, scope_session, unscoped
from scheduler.errors import Gone, NotFound
from scheduler.format import format_stamp
from scheduler.mail import services as mail
from scheduler.practice.models import Practice, Service

CARD_SETUP_LINK = b"carebook.card-setup.v1:"
BOOKING_NOTE = (
    "This practice keeps a card on file: unless it already has yours, you will save one on the next page"
    " — nothing is charged now."
)
NOT_KEPT = "The time for saving a card ran out, so the appointment was not kept. Please book again."


def card_link(base_url: str, practice: Practice, setup_id: uuid.UUID, hold_expires_at: dt.datetime) -> str:
    """Our own address for saving the card (`/p/<slug>/card/<signed setup id>`); it lives as long as a deposit
    link does (`visits.checkout_closes_at`)."""
    token = make_token(link_secret(), CARD_SETUP_LINK, setup_id, visits.checkout_closes_at(hold_expires_at))
    return f"{base_url.rstrip('/')}/p/{practice.slug}/card/{token}"


def return_url(base_url: str, practice: Practice, session_id: str) -> str:
    return f"{base_url.rstrip('/')}/p/{practice.slug}/card-saved?session_id={session_id}"


async def card_required(session: AsyncSession) -> bool:
    """The practice requires a card and takes no deposit (a deposit's checkout saves the card already)."""
    policy = await get_policy(session)
    return policy.card_required and policy.deposit_kind is DepositKind.NONE


async def booking_note(session: AsyncSession, practice: Practice) -> str | None:  # noqa: ARG001
    """`on_booking_page`: the sentence the client reads before "Book" (the session is scoped to `practice`)."""
    return BOOKING_NOTE if await card_required(session) else None


async def card_setup_hold(
    session: AsyncSession, practice: Practice, appointment: Appointment, base_url: str
) -> PaymentHold | None:
    """`on_online_booking`, after the deposit's: hold the visit until the client saves a card, unless the practice
    does not ask for one or the client's card is already on file. No network here (the calendar lock is held)."""
    if not await card_required(session):
        return None
    if saved_cards.on_file(await payments.customer_for(session, appointment.client_id)) is not None:
        return None
    policy = await get_policy(session)
    setup = CardSetup(
        appointment_id=appointment.id,
        client_id=appointment.client_id,
        status=CardSetupStatus.PENDING,
        idempotency_key=f"card_setup:{appointment.id}",
    )
    session.add(setup)
    await session.flush()
    hold_expires_at = visits.utcnow() + dt.timedelta(minutes=policy.hold_minutes)
    return PaymentHold(
        checkout_url=card_link(base_url, practice, setup.id, hold_expires_at), expires_at=hold_expires_at
    )


async def open_card_checkout(session: AsyncSession, practice: Practice, token: str, base_url: str) -> str:
    """Where the card link sends the client: the setup page already opened, or one opened now (same key and
    parameters, so two tabs get one session), or, once saved, the confirmation page. `NotFound` for a link that
    does not verify (or names another practice's setup), `Gone` once the hold was released or ran out,
    `GatewayUnavailable` when Stripe cannot be reached (the hold is kept). Nothing is written before the call."""
    now = visits.utcnow()
    expired = False
    try:
        setup_id = read_token(link_secret(), CARD_SETUP_LINK, token, now)
    except LinkExpired as exc:
        setup_id, expired = exc.item_id, True
    except LinkInvalid as exc:
        raise NotFound("This link is not valid.") from exc
    setup = await session.scalar(select(CardSetup).where(CardSetup.id == setup_id))
    if setup is None:
        raise NotFound("This link is not valid.")
    if setup.status is CardSetupStatus.SAVED and setup.gateway_checkout_session:
        return return_url(base_url, practice, setup.gateway_checkout_session)
    appointment = await session.get_one(Appointment, setup.appointment_id)
    hold_expires_at = appointment.hold_expires_at
    if (
        expired
        or setup.status is not CardSetupStatus.PENDING
        or appointment.status is not AppointmentStatus.PENDING_PAYMENT
        or hold_expires_at is None
        or hold_expires_at <= now
    ):
        raise Gone(NOT_KEPT)
    if setup.checkout_url:
        return setup.checkout_url
    service = await session.get_one(Service, appointment.service_id)
    client = await session.get_one(Client, appointment.client_id)
    when = format_stamp(appointment.start_at, ZoneInfo(practice.timezone))
    base = base_url.rstrip("/")
    try:
        checkout = await payments.client_checkout(
            session,
            client,
            setup.idempotency_key,
            amount=None,
            currency=practice.currency.lower(),
            description=f"Card on file for {service.name}, {when}",
            success_url=return_url(base, practice, "{CHECKOUT_SESSION_ID}"),
            cancel_url=f"{base}/p/{practice.slug}/book",
            metadata={
                "practice_id": str(practice.id),
                "appointment_id": str(appointment.id),
                "card_setup_id": str(setup.id),
                "purpose": "card_setup",
            },
            mode="setup",
            expires_at=visits.checkout_expiry(hold_expires_at, now),
        )
    except GatewayUnavailable as exc:
        raise GatewayUnavailable(visits.STRIPE_AWAY) from exc
    if checkout.url is None:
        raise GatewayUnavailable(visits.STRIPE_AWAY)
    # Two openings racing write the same session (Stripe replayed the key).
    setup.gateway_checkout_session = checkout.id
    setup.checkout_url = checkout.url
    await session.flush()
    return checkout.url


async def _setup_for(session: AsyncSession, checkout_session_id: str) -> CardSetup | None:
    """The setup a Checkout Session was opened for, across practices (a webhook names none); the session is then
    scoped to its practice. A public page of one practice never reaches another's setup."""
    with unscoped(session):
        setup = await session.scalar(select(CardSetup).where(CardSetup.gateway_checkout_session == checkout_session_id))
    if setup is None:
        return None
    current = session.sync_session.info.get(TENANT_KEY)
    if current is not None and current != setup.practice_id:
        return None
    scope_session(session, setup.practice_id)
    return setup


async def confirm_card_setup(session: AsyncSession, checkout_session_id: str) -> CardSetup | None:
    """The setup page was completed (webhook or success redirect): keep the card on the client's customer and have
    booking confirm the held visit. Idempotent, in any order; None when the session is not one of ours."""
    checkout = await get_gateway().retrieve_checkout_session(checkout_session_id)
    setup = await _setup_for(session, checkout_session_id)
    if setup is None or checkout.status != "complete":
        return setup
    await invoices.write_lock(session)
    await session.refresh(setup)
    if setup.status is not CardSetupStatus.SAVED:
        setup.status = CardSetupStatus.SAVED
        setup.card_brand = checkout.card_brand
        setup.card_last4 = checkout.card_last4
        await _keep_card(session, setup, checkout)
    appointment = await session.get_one(Appointment, setup.appointment_id)
    practice = await session.get_one(Practice, setup.practice_id)
    if appointment.status is AppointmentStatus.PENDING_PAYMENT or booking.is_released_hold(appointment):
        await booking.confirm_held_visit(session, practice, appointment, action="card_saved")
    await session.flush()
    return setup


async def _keep_card(session: AsyncSession, setup: CardSetup, checkout: CheckoutSession) -> None:
    if not checkout.payment_method_id or not checkout.customer_id:
        return
    link = await session.scalar(select(StripeCustomer).where(StripeCustomer.client_id == setup.client_id))
    if link is None:
        link = StripeCustomer(client_id=setup.client_id, customer_id=checkout.customer_id)
        session.add(link)
    elif link.customer_id is None:
        link.customer_id = checkout.customer_id
    if link.customer_id != checkout.customer_id:
        return  # the client's customer changed meanwhile: this card is on another one
    link.default_payment_method = checkout.payment_method_id
    link.card_brand = checkout.card_brand
    link.card_last4 = checkout.card_last4
    await session.flush()


async def expire_card_setup(session: AsyncSession, checkout_session_id: str) -> None:
    """The setup page closed unused: the setup ends and the visit's hold is released (its held confirmation is
    never sent)."""
    checkout = await get_gateway().retrieve_checkout_session(checkout_session_id)
    setup = await _setup_for(session, checkout_session_id)
    if setup is None or checkout.status != "expired":
        return
    await invoices.write_lock(session)
    await session.refresh(setup)
    if setup.status is not CardSetupStatus.PENDING:
        return
    setup.status = CardSetupStatus.EXPIRED
    appointment = await session.get_one(Appointment, setup.appointment_id, populate_existing=True)
    if appointment.status is AppointmentStatus.PENDING_PAYMENT:
        await booking.release_hold(session, appointment, visits.utcnow())
    await mail.drop_held(session, [appointment.id])
    await session.flush()
