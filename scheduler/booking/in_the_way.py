"""Live visits still to come that a change to the practice's set-up would strand (time off, deactivation).

Which visits count: pending payment (an unexpired hold), booked or arrived, and not yet over. A cancelled,
no-show or completed visit frees its time; one already over cannot be moved any more.

Time off is compared with the visit's service time, not its block: the availability engine lets the
buffers around a visit overlap time off (rule `time_off` in `availability`), so exactly the visits that
could not be booked under the time off are the ones in its way. A visit ending when the time off starts
is not in the way, whatever its clean-up buffer.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.booking.models import Appointment, AppointmentStatus
from scheduler.booking.services import not_an_expired_hold, utcnow
from scheduler.clients.models import Client
from scheduler.db import TENANT_KEY
from scheduler.practice.models import Practice, Service

# `completed` is live for double booking, but a completed visit is over and needs no one any more.
STRANDABLE_STATUSES = (AppointmentStatus.PENDING_PAYMENT, AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED)


async def live_visits(
    session: AsyncSession,
    *,
    therapist_id: uuid.UUID | None = None,
    room_id: uuid.UUID | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """The therapist's or room's live visits not yet over (within [start, end) when given), earliest first,
    each as `{id, start, end, status, service, client_initials}` with times in the practice's zone."""
    now = now or utcnow()
    stmt = (
        select(Appointment, Service.name, Client)
        .join(Service, Service.id == Appointment.service_id)
        .join(Client, Client.id == Appointment.client_id)
        .where(
            Appointment.status.in_(STRANDABLE_STATUSES),
            not_an_expired_hold(now),
            Appointment.end_at > now,
        )
        .order_by(Appointment.start_at, Appointment.id)
    )
    if therapist_id is not None:
        stmt = stmt.where(Appointment.therapist_id == therapist_id)
    if room_id is not None:
        stmt = stmt.where(Appointment.room_id == room_id)
    if start is not None:
        stmt = stmt.where(Appointment.end_at > start)
    if end is not None:
        stmt = stmt.where(Appointment.start_at < end)
    rows = (await session.execute(stmt)).all()
    if not rows:
        return []
    practice = await session.get_one(Practice, session.info[TENANT_KEY])
    zone = ZoneInfo(practice.timezone)
    return [
        {
            "id": str(appointment.id),
            "start": appointment.start_at.astimezone(zone).isoformat(),
            "end": appointment.end_at.astimezone(zone).isoformat(),
            "status": appointment.status.value,
            "service": service_name,
            "client_initials": client.initials,
        }
        for appointment, service_name, client in rows
    ]
