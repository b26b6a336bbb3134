"""Feed tokens: issue (rotating the previous one) and revoke; feeds/services.py resolves them by hash."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.clients.models import Client
from scheduler.db import scope_session
from scheduler.errors import NotFound, PermissionDenied
from scheduler.feeds.models import FeedOwnerKind, FeedToken
from scheduler.practice.models import Practice, Role, Room, StaffUser, Therapist

_OWNER_MODELS: dict[FeedOwnerKind, type[Therapist] | type[Client] | type[Room]] = {
    FeedOwnerKind.THERAPIST: Therapist,
    FeedOwnerKind.CLIENT: Client,
    FeedOwnerKind.ROOM: Room,
}


def hash_feed_token(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def feed_url(base_url: str, plain: str) -> str:
    return f"{base_url}/feeds/{plain}.ics"


def webcal_url(https_url: str) -> str:
    """The same feed for calendar apps that subscribe on a `webcal://` link."""
    return "webcal://" + https_url.split("://", 1)[1]


def check_may_manage(staff: StaffUser, kind: FeedOwnerKind, owner_id: uuid.UUID) -> None:
    """A therapist manages only their own feed; clients' and rooms' feeds are the desk's and the owner's."""
    if staff.role is Role.THERAPIST and not (kind is FeedOwnerKind.THERAPIST and staff.therapist_id == owner_id):
        raise PermissionDenied("Therapists manage only their own calendar feed.")


async def _check_owner(session: AsyncSession, kind: FeedOwnerKind, owner_id: uuid.UUID) -> None:
    """The owner exists in the session's practice (the query is tenant-scoped)."""
    model = _OWNER_MODELS[kind]
    if await session.scalar(select(model.id).where(model.id == owner_id)) is None:
        raise NotFound(f"No such {kind.value}.", field=f"{kind.value}_id")


async def _revoke_live(session: AsyncSession, kind: FeedOwnerKind, owner_id: uuid.UUID, now: dt.datetime) -> None:
    await session.execute(
        update(FeedToken)
        .where(FeedToken.owner_kind == kind, FeedToken.owner_id == owner_id, FeedToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


async def issue_feed_token(session: AsyncSession, practice: Practice, kind: FeedOwnerKind, owner_id: uuid.UUID) -> str:
    """A new token (256 random bits) for the owner's feed; the previous one stops working. Returns it once."""
    scope_session(session, practice.id)
    await _check_owner(session, kind, owner_id)
    now = dt.datetime.now(dt.UTC)
    await _revoke_live(session, kind, owner_id, now)
    plain = secrets.token_urlsafe(32)
    session.add(
        FeedToken(practice_id=practice.id, owner_kind=kind, owner_id=owner_id, token_hash=hash_feed_token(plain))
    )
    await session.flush()
    return plain


async def revoke_feed_tokens(
    session: AsyncSession, practice: Practice, kind: FeedOwnerKind, owner_id: uuid.UUID
) -> None:
    scope_session(session, practice.id)
    await _check_owner(session, kind, owner_id)
    await _revoke_live(session, kind, owner_id, dt.datetime.now(dt.UTC))
    await session.flush()
