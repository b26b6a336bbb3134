"""Parked webhook events: verified events we could not apply, kept for the owner and for replay.

`billing.webhooks.handle_event` parks an event (after rolling back the transaction that failed) and answers
200; `resolve` marks it applied when a later delivery or `carebook stripe reconcile` (`replay_parked`) gets it
through. The event's object is kept as Stripe sent it (ids, amounts, statuses — Stripe metadata never carries
health information) so a replay needs nothing from the processor but what the handlers re-read anyway.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import invoices
from billing.gateway import WebhookEvent
from billing.models import ParkedWebhookEvent
from scheduler.db import session_scope
from scheduler.practice.models import Practice

if TYPE_CHECKING:
    from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _practice_of(session: AsyncSession, event: WebhookEvent) -> uuid.UUID | None:
    """The practice named in the object's metadata, if it is one of ours (the object may be anyone's)."""
    metadata = event.data.get("metadata")
    raw = metadata.get("practice_id") if isinstance(metadata, dict) else None
    try:
        practice_id = uuid.UUID(str(raw)) if raw else None
    except ValueError:
        return None
    if practice_id is None:
        return None
    found: uuid.UUID | None = await session.scalar(select(Practice.id).where(Practice.id == practice_id))
    return found


async def park(session: AsyncSession, event: WebhookEvent, reason: str) -> ParkedWebhookEvent:
    """Record (or, parked before, record again) an event that could not be applied. The caller rolled back
    the failed transaction; this one commits with the response like any other."""
    await invoices.write_lock(session)
    row = await session.scalar(select(ParkedWebhookEvent).where(ParkedWebhookEvent.event_id == event.id))
    now = utcnow()
    if row is None:
        row = ParkedWebhookEvent(
            event_id=event.id,
            type=event.type[:100],
            object_id=(event.object_id or "")[:255] or None,
            reason=reason[:500],
            payload=json.dumps(event.data),
            event_created=event.created,
            parked_at=now,
            attempts=1,
            practice_id=await _practice_of(session, event),
        )
        session.add(row)
    else:
        row.reason = reason[:500]
        row.attempts += 1
        row.resolved_at = None
    await session.flush()
    return row


async def resolve(session: AsyncSession, event_id: str) -> None:
    """The event has now been applied (or found applied): in the transaction of its effect."""
    row = await session.scalar(
        select(ParkedWebhookEvent).where(
            ParkedWebhookEvent.event_id == event_id, ParkedWebhookEvent.resolved_at.is_(None)
        )
    )
    if row is not None:
        row.resolved_at = utcnow()


def as_event(row: ParkedWebhookEvent) -> WebhookEvent:
    return WebhookEvent(id=row.event_id, type=row.type, created=row.event_created, data=json.loads(row.payload))


async def list_parked(session: AsyncSession, practice_id: uuid.UUID, limit: int = 200) -> list[ParkedWebhookEvent]:
    """A practice's parked events, unresolved first, newest first."""
    return list(
        await session.scalars(
            select(ParkedWebhookEvent)
            .where(ParkedWebhookEvent.practice_id == practice_id)
            .order_by(ParkedWebhookEvent.resolved_at.is_not(None), ParkedWebhookEvent.parked_at.desc())
            .limit(limit)
        )
    )


async def unresolved(config: SQLAlchemyAsyncConfig) -> list[WebhookEvent]:
    async with session_scope(config) as session:
        rows = await session.scalars(
            select(ParkedWebhookEvent)
            .where(ParkedWebhookEvent.resolved_at.is_(None))
            .order_by(ParkedWebhookEvent.event_created, ParkedWebhookEvent.parked_at)
        )
        return [as_event(row) for row in rows]
