"""The client portal's use cases: one-time sign-in links by e-mail, and the signed-in client's own visits.

A client has no password. They ask for a link; if the address belongs to a client of this practice a
link valid for 30 minutes is queued in the outbox, and the answer is the same either way, so the form
cannot be used to learn who is a client. Only the link's SHA-256 is stored. Opening the link only shows
a confirmation (mail scanners open links too); confirming it spends it, once.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.booking.models import Appointment
from scheduler.booking.visits import PracticeFacts, clock, long_date
from scheduler.clients.models import Client, ClientSignInLink
from scheduler.db import begin_write
from scheduler.errors import CarebookError, InvalidInput, NotFound
from scheduler.mail import services as mail
from scheduler.practice.models import Practice
from scheduler.practice.services import hash_token, normalise_email

LINK_LIFETIME = dt.timedelta(minutes=30)
PAST_VISITS_SHOWN = 50
LINK_UNUSABLE = "This sign-in link has expired or was already used. Ask for a new one below."


class SignInLinkInvalid(CarebookError):
    """Unknown, used or expired: the page says the same for all three."""

    status = 410
    code = "sign_in_link_invalid"
    title = "This sign-in link has expired"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def sign_in_url(base_url: str, practice: Practice, token: str) -> str:
    return f"{base_url.rstrip('/')}/p/{practice.slug}/portal/sign-in/{token}"


def clean_email(raw: str) -> str:
    try:
        return normalise_email(raw)
    except InvalidInput:
        raise InvalidInput("Enter the e-mail address you booked with.", field="email") from None


async def request_sign_in_link(
    session: AsyncSession, practice: Practice, email: str, *, base_url: str, now: dt.datetime | None = None
) -> None:
    """Queue a sign-in link for the client with this e-mail, if there is one. Says nothing either way."""
    address = clean_email(email)
    await begin_write(session)
    client = await session.scalar(select(Client).where(Client.email == address))
    if client is None:
        return
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    expires_at = now + LINK_LIFETIME
    session.add(ClientSignInLink(client_id=client.id, token_hash=hash_token(token), expires_at=expires_at))
    local_expiry = expires_at.astimezone(ZoneInfo(practice.timezone))
    body = mail.render(
        "portal_link.txt",
        first_name=client.first_name,
        practice=PracticeFacts.of(practice),
        sign_in_url=sign_in_url(base_url, practice, token),
        expires_text=f"{clock(local_expiry)} {local_expiry.tzname() or ''} on {long_date(local_expiry)}",
        valid_minutes=int(LINK_LIFETIME.total_seconds() // 60),
    )
    await mail.enqueue(
        session, to=client.email, subject=f"Your sign-in link for {practice.name}", body_text=body, kind="portal_link"
    )


def _usable(link: ClientSignInLink | None, now: dt.datetime) -> ClientSignInLink:
    """The one validity rule for a link, shared by looking at it and spending it."""
    if link is None or link.used_at is not None or link.expires_at <= now:
        raise SignInLinkInvalid(LINK_UNUSABLE)
    return link


async def _usable_link(session: AsyncSession, token: str, now: dt.datetime) -> ClientSignInLink:
    found = await session.scalar(select(ClientSignInLink).where(ClientSignInLink.token_hash == hash_token(token)))
    return _usable(found, now)


async def _link_client(session: AsyncSession, link: ClientSignInLink) -> Client:
    client = await session.scalar(select(Client).where(Client.id == link.client_id))
    if client is None:
        raise SignInLinkInvalid(LINK_UNUSABLE)
    return client


async def check_sign_in_link(session: AsyncSession, token: str, now: dt.datetime | None = None) -> Client:
    """Look at a link without spending it: valid, unused and unexpired → its client; else SignInLinkInvalid.

    Mail scanners fetch every link in a message before the client clicks; the page they see must not
    spend the link, so only `redeem_sign_in_link` (behind a form post) does.
    """
    link = await _usable_link(session, token, now or utcnow())
    return await _link_client(session, link)


async def redeem_sign_in_link(session: AsyncSession, token: str, now: dt.datetime | None = None) -> Client:
    """Spend a link: valid, unused and unexpired → the client; anything else → SignInLinkInvalid.

    The spend is a conditional update, so two clicks racing on one link sign in at most once.
    """
    now = now or utcnow()
    await begin_write(session)
    link = await _usable_link(session, token, now)
    spent = await session.execute(
        update(ClientSignInLink)
        .where(ClientSignInLink.id == link.id, ClientSignInLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(spent, "rowcount", 0) != 1:
        raise SignInLinkInvalid(LINK_UNUSABLE)
    return await _link_client(session, link)


async def get_signed_in_client(session: AsyncSession, client_id: uuid.UUID) -> Client | None:
    """The client named by a portal session, if they still exist in the session's practice."""
    found: Client | None = await session.scalar(select(Client).where(Client.id == client_id))
    return found


async def client_visits(
    session: AsyncSession, client: Client, now: dt.datetime | None = None
) -> tuple[list[Appointment], list[Appointment]]:
    """The client's upcoming visits (soonest first) and past ones (latest first, the last 50)."""
    now = now or utcnow()
    mine = select(Appointment).where(Appointment.client_id == client.id)
    upcoming = list(await session.scalars(mine.where(Appointment.end_at > now).order_by(Appointment.start_at)))
    past = list(
        await session.scalars(
            mine.where(Appointment.end_at <= now).order_by(Appointment.start_at.desc()).limit(PAST_VISITS_SHOWN)
        )
    )
    return upcoming, past


async def client_visit(session: AsyncSession, client: Client, appointment_id: uuid.UUID) -> Appointment:
    """One of the client's own visits; anyone else's is simply not found."""
    appointment = await session.scalar(
        select(Appointment).where(Appointment.id == appointment_id, Appointment.client_id == client.id)
    )
    if appointment is None:
        raise NotFound("No such appointment.", field="appointment_id")
    return appointment
