"""Use cases for clients: create, find (by e-mail or phone), match on booking, edit."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.clients.models import Client
from scheduler.errors import AlreadyExists, InvalidInput, NotFound
from scheduler.practice.services import normalise_email
from scheduler.validation import check_day

MAX_NAME = 100


@dataclass(frozen=True)
class ClientDetails:
    first_name: str
    last_name: str
    email: str
    phone: str = ""
    date_of_birth: dt.date | None = None
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""


def phone_digits(phone: str) -> str:
    return re.sub(r"\D", "", phone)[-15:]


def _clean(details: ClientDetails, prefix: str = "") -> ClientDetails:
    first = details.first_name.strip()
    last = details.last_name.strip()
    if not first:
        raise InvalidInput("Enter a first name.", field=f"{prefix}first_name")
    if not last:
        raise InvalidInput("Enter a last name.", field=f"{prefix}last_name")
    if len(first) > MAX_NAME or len(last) > MAX_NAME:
        raise InvalidInput("Names are limited to 100 characters.", field=f"{prefix}first_name")
    try:
        email = normalise_email(details.email)
    except InvalidInput:
        raise InvalidInput("Enter a valid e-mail address.", field=f"{prefix}email") from None
    phone = details.phone.strip()
    if phone and not 7 <= len(phone_digits(phone)) <= 15:
        raise InvalidInput("Enter a phone number with 7 to 15 digits.", field=f"{prefix}phone")
    if details.date_of_birth and details.date_of_birth > dt.datetime.now(dt.UTC).date():
        raise InvalidInput("A date of birth cannot be in the future.", field=f"{prefix}date_of_birth")
    if details.date_of_birth:
        check_day(details.date_of_birth, f"{prefix}date_of_birth")
    return ClientDetails(
        first_name=first,
        last_name=last,
        email=email,
        phone=phone[:40],
        date_of_birth=details.date_of_birth,
        address_line1=details.address_line1.strip()[:200],
        address_line2=details.address_line2.strip()[:200],
        city=details.city.strip()[:100],
        region=details.region.strip()[:100],
        postal_code=details.postal_code.strip()[:20],
    )


async def find_by_email(session: AsyncSession, email: str) -> Client | None:
    found: Client | None = await session.scalar(select(Client).where(Client.email == email.strip().lower()))
    return found


async def create_client(session: AsyncSession, details: ClientDetails) -> Client:
    details = _clean(details)
    existing = await find_by_email(session, details.email)
    if existing is not None:
        raise AlreadyExists("A client with this e-mail exists.", field="email", client_id=str(existing.id))
    client = Client(**details.__dict__, phone_digits=phone_digits(details.phone))
    session.add(client)
    await session.flush()
    return client


async def match_or_create(session: AsyncSession, details: ClientDetails, prefix: str = "client.") -> Client:
    """Online booking: the same e-mail is the same client. Blank contact fields are filled in, never
    overwritten, so a stranger who knows an e-mail address cannot change the client's name or phone."""
    details = _clean(details, prefix)
    client = await find_by_email(session, details.email)
    if client is None:
        try:
            # A savepoint: when another request creates the same client first, the unique index
            # refuses this insert and we take theirs instead of failing the booking.
            async with session.begin_nested():
                client = Client(**details.__dict__, phone_digits=phone_digits(details.phone))
                session.add(client)
            return client
        except IntegrityError:
            client = await find_by_email(session, details.email)
            if client is None:
                raise
    if not client.phone and details.phone:
        client.phone = details.phone
        client.phone_digits = phone_digits(details.phone)
    await session.flush()
    return client


async def get_client(session: AsyncSession, client_id: uuid.UUID) -> Client:
    client = await session.scalar(select(Client).where(Client.id == client_id))
    if client is None:
        raise NotFound("No such client.", field="client_id")
    return client


async def search_clients(session: AsyncSession, query: str, limit: int = 50) -> list[Client]:
    stmt = select(Client).order_by(Client.last_name, Client.first_name).limit(limit)
    query = query.strip()
    if query:
        digits = phone_digits(query)
        # autoescape: a "%" or "_" typed into the search box is a character to find, not a wildcard.
        conditions = [
            Client.email.contains(query.lower(), autoescape=True),
            Client.first_name.icontains(query, autoescape=True),
            Client.last_name.icontains(query, autoescape=True),
            # "Kim Park" as the desk hears it on the phone: the whole name, first then last.
            (Client.first_name + " " + Client.last_name).icontains(query, autoescape=True),
        ]
        if len(digits) >= 4:
            conditions.append(Client.phone_digits.like(f"%{digits}%"))
        stmt = stmt.where(or_(*conditions))
    return list(await session.scalars(stmt))


async def update_client(session: AsyncSession, client: Client, details: ClientDetails) -> Client:
    details = _clean(details)
    if details.email != client.email:
        other = await find_by_email(session, details.email)
        if other is not None:
            raise AlreadyExists("Another client has this e-mail.", field="email", client_id=str(other.id))
    for key, value in details.__dict__.items():
        setattr(client, key, value)
    client.phone_digits = phone_digits(details.phone)
    await session.flush()
    return client


async def set_date_of_birth(session: AsyncSession, client: Client, day: dt.date | None) -> Client:
    """The desk records (or clears) a date of birth, checked as on the client's form (superbills need it)."""
    if day is not None and day > dt.datetime.now(dt.UTC).date():
        raise InvalidInput("A date of birth cannot be in the future.", field="date_of_birth")
    if day is not None:
        check_day(day, "date_of_birth")
    client.date_of_birth = day
    await session.flush()
    return client
