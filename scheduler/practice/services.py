"""Use cases for practices, staff users and API tokens. Services flush; the caller commits."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.db import scope_session, unscoped
from scheduler.errors import AlreadyExists, InvalidInput, NotAuthenticated, NotFound
from scheduler.practice import rules
from scheduler.practice.models import (
    ApiToken,
    Practice,
    Role,
    Room,
    Service,
    StaffUser,
    Therapist,
    TherapistService,
)

_hasher = PasswordHasher()
# Verifying against this keeps the time of "no such user" equal to "wrong password".
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_PREFIX = "cb_"  # noqa: S105  (a label, not a secret)
MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL_RE.match(email) or len(email) > 254:
        raise InvalidInput("Enter a valid e-mail address.", field="email")
    return email


def validate_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"Unknown IANA time zone {name!r}.", field="timezone") from None
    return name


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def get_practice_by_slug(session: AsyncSession, slug: str) -> Practice:
    practice = await session.scalar(select(Practice).where(Practice.slug == slug))
    if practice is None:
        raise NotFound("No practice with that address.", field="slug")
    return practice


async def create_practice(
    session: AsyncSession, *, slug: str, name: str, timezone: str, currency: str = "USD", **details: str
) -> Practice:
    slug = slug.strip().lower()
    if not SLUG_RE.match(slug):
        raise InvalidInput("Use lowercase letters, digits and hyphens.", field="slug")
    if not name.strip():
        raise InvalidInput("A practice needs a name.", field="name")
    currency = currency.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise InvalidInput("Use a three-letter ISO currency code.", field="currency")
    validate_timezone(timezone)
    if await session.scalar(select(Practice.id).where(Practice.slug == slug)) is not None:
        raise AlreadyExists(f"A practice with slug {slug!r} exists.", field="slug")
    practice = Practice(slug=slug, name=name.strip(), timezone=timezone, currency=currency, policies={}, **details)
    session.add(practice)
    await session.flush()
    return practice


async def add_user(
    session: AsyncSession,
    *,
    practice: Practice,
    email: str,
    password: str,
    role: Role | str,
    full_name: str = "",
    therapist_id: uuid.UUID | None = None,
) -> StaffUser:
    email = normalise_email(email)
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput("Role must be owner, desk or therapist.", field="role") from None
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"Use at least {MIN_PASSWORD_LENGTH} characters.", field="password")
    with unscoped(session):
        if await session.scalar(select(StaffUser.id).where(StaffUser.email == email)) is not None:
            raise AlreadyExists("That e-mail already has an account.", field="email")
    user = StaffUser(
        practice_id=practice.id,
        email=email,
        password_hash=hash_password(password),
        role=role,
        full_name=full_name,
        therapist_id=therapist_id,
    )
    session.add(user)
    await session.flush()
    return user


async def find_user_by_email(session: AsyncSession, email: str) -> StaffUser | None:
    with unscoped(session):
        user: StaffUser | None = await session.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))
    return user


async def authenticate(session: AsyncSession, email: str, password: str) -> StaffUser:
    """Return the active user whose password matches, or raise `NotAuthenticated` (same time either way)."""
    user = await find_user_by_email(session, email)
    if user is None or not user.is_active:
        verify_password(_DUMMY_HASH, password)
        raise NotAuthenticated("E-mail or password is wrong.")
    if not verify_password(user.password_hash, password):
        raise NotAuthenticated("E-mail or password is wrong.")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


async def create_token(session: AsyncSession, user: StaffUser, label: str = "") -> tuple[ApiToken, str]:
    """Issue a token (256 random bits). Returns the row and the plain token, which is never stored."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        practice_id=user.practice_id,
        user_id=user.id,
        token_hash=hash_token(plain),
        prefix=plain[:10],
        label=label,
    )
    scope_session(session, user.practice_id)
    session.add(token)
    await session.flush()
    return token, plain


async def resolve_token(session: AsyncSession, plain: str) -> StaffUser:
    """The active user behind a bearer token; unknown, revoked and inactive all read alike."""
    # The lookup is by the SHA-256 of the token through a unique index, so timing reveals nothing
    # about how close a guess was.
    with unscoped(session):
        token = await session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(plain)))
    if token is None or token.revoked_at is not None or not token.user.is_active:
        raise NotAuthenticated("The API token is not valid.")
    return token.user


async def revoke_token(session: AsyncSession, token_id: uuid.UUID, actor: StaffUser) -> ApiToken:
    token = await session.get(ApiToken, token_id)
    if token is None or token.practice_id != actor.practice_id:
        raise NotFound("No such token.")
    if actor.role is not Role.OWNER and token.user_id != actor.id:
        raise NotFound("No such token.")
    if token.revoked_at is None:
        token.revoked_at = dt.datetime.now(dt.UTC)
    await session.flush()
    return token


async def get_user_for_session(session: AsyncSession, user_id: uuid.UUID) -> StaffUser | None:
    with unscoped(session):
        user = await session.get(StaffUser, user_id)
    if user is None or not user.is_active:
        return None
    return user


async def list_services(session: AsyncSession, *, public: bool, include_inactive: bool = False) -> list[Service]:
    query = select(Service).order_by(Service.name)
    if public or not include_inactive:
        query = query.where(Service.is_active.is_(True))
    if public:
        query = query.where(Service.bookable_online.is_(True))
    return list(await session.scalars(query))


async def list_therapists(
    session: AsyncSession, *, include_inactive: bool = False, public: bool = False
) -> list[tuple[Therapist, list[uuid.UUID]]]:
    """Therapists with the ids of the services they perform (for the public: only services it can book)."""
    query = select(Therapist).order_by(Therapist.last_name, Therapist.first_name)
    if public or not include_inactive:
        query = query.where(Therapist.is_active.is_(True))
    therapists = list(await session.scalars(query))
    link_query = select(TherapistService.therapist_id, TherapistService.service_id)
    if public:
        link_query = link_query.join(Service, Service.id == TherapistService.service_id).where(
            Service.is_active.is_(True), Service.bookable_online.is_(True)
        )
    links = await session.execute(link_query)
    by_therapist: dict[uuid.UUID, list[uuid.UUID]] = {}
    for therapist_id, service_id in links:
        by_therapist.setdefault(therapist_id, []).append(service_id)
    return [(t, sorted(by_therapist.get(t.id, []))) for t in therapists]


async def get_therapist(session: AsyncSession, therapist_id: uuid.UUID) -> tuple[Therapist, list[uuid.UUID]]:
    therapist = await session.scalar(select(Therapist).where(Therapist.id == therapist_id))
    if therapist is None:
        raise NotFound("No such therapist.", field="therapist_id")
    service_ids = await session.scalars(
        select(TherapistService.service_id).where(TherapistService.therapist_id == therapist_id)
    )
    return therapist, sorted(service_ids)


async def get_service(session: AsyncSession, service_id: uuid.UUID) -> Service:
    service = await session.scalar(select(Service).where(Service.id == service_id))
    if service is None:
        raise NotFound("No such service.", field="service_id")
    return service


async def list_rooms(session: AsyncSession, *, include_inactive: bool = False) -> list[Room]:
    query = select(Room).order_by(Room.name)
    if not include_inactive:
        query = query.where(Room.is_active.is_(True))
    return list(await session.scalars(query))


async def get_room(session: AsyncSession, room_id: uuid.UUID) -> Room:
    room = await session.scalar(select(Room).where(Room.id == room_id))
    if room is None:
        raise NotFound("No such room.", field="room_id")
    return room


async def list_users(session: AsyncSession) -> list[StaffUser]:
    return list(await session.scalars(select(StaffUser).order_by(StaffUser.email)))


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> StaffUser:
    user = await session.scalar(select(StaffUser).where(StaffUser.id == user_id))
    if user is None:
        raise NotFound("No such user.", field="user_id")
    return user


async def list_tokens(session: AsyncSession, user: StaffUser) -> list[ApiToken]:
    return list(
        await session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at))
    )


async def set_billing_identifiers(session: AsyncSession, practice: Practice, *, ein: str, npi: str) -> Practice:
    """The practice's EIN and organisation NPI, printed on receipts and superbills (CMS-1500 boxes 25, 33a).
    Both are checked before either is written; an empty one is cleared."""
    cleaned_ein = rules.ein(ein)
    cleaned_npi = rules.npi(npi)
    practice.ein = cleaned_ein
    practice.npi = cleaned_npi
    await session.flush()
    return practice
