"""A client's visits as staff may see them: the next visit per client for the directory, and one client's
visits from today on and before today (days in the practice's zone) for the client overview.

A therapist sees only visits on their own schedule, exactly as on the day schedule and the appointment
page (`Actor.for_staff`); the desk and owners see everyone's. Nothing here reads health information.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.booking import day_sheet
from scheduler.booking.day_sheet import Visit
from scheduler.booking.models import Appointment, AppointmentStatus
from scheduler.booking.services import Actor, not_an_expired_hold
from scheduler.clients.models import Client
from scheduler.practice.models import Practice, StaffUser

# Statuses of a visit the client is still expected at: what "next visit" means to the desk.
EXPECTED = (AppointmentStatus.PENDING_PAYMENT, AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED)
UPCOMING_LIMIT = 20
PAST_LIMIT = 10


@dataclass(frozen=True)
class ClientVisits:
    upcoming: list[Visit]  # today (in the practice's zone) and later, soonest first
    past: list[Visit]  # before today, most recent first
    more_past: bool  # there are older visits than those shown


def start_of_today(practice: Practice, now: dt.datetime) -> dt.datetime:
    """Midnight today on the practice's wall clock, as an aware UTC moment."""
    zone = ZoneInfo(practice.timezone)
    return dt.datetime.combine(now.astimezone(zone).date(), dt.time(0), zone).astimezone(dt.UTC)


def _visible_to(staff: StaffUser) -> list[Any]:
    own = Actor.for_staff(staff).own_therapist_id
    return [Appointment.therapist_id == own] if own is not None else []


async def next_visits(
    session: AsyncSession, practice: Practice, staff: StaffUser, client_ids: Sequence[uuid.UUID], now: dt.datetime
) -> dict[uuid.UUID, dt.datetime]:
    """Each client's first expected visit from today on (one query); clients with none are left out."""
    if not client_ids:
        return {}
    rows = await session.execute(
        select(Appointment.client_id, func.min(Appointment.start_at))
        .where(
            Appointment.client_id.in_(client_ids),
            Appointment.start_at >= start_of_today(practice, now),
            Appointment.status.in_(EXPECTED),
            not_an_expired_hold(now),
            *_visible_to(staff),
        )
        .group_by(Appointment.client_id)
    )
    return {client_id: _aware(start) for client_id, start in rows}


async def clients_expected_soon(
    session: AsyncSession, practice: Practice, staff: StaffUser, now: dt.datetime, limit: int
) -> list[Client]:
    """The clients expected next, soonest first: those with an expected visit from today on."""
    first = (
        select(Appointment.client_id, func.min(Appointment.start_at).label("first_start"))
        .where(
            Appointment.start_at >= start_of_today(practice, now),
            Appointment.status.in_(EXPECTED),
            not_an_expired_hold(now),
            *_visible_to(staff),
        )
        .group_by(Appointment.client_id)
        .subquery()
    )
    return list(
        await session.scalars(
            select(Client)
            .join(first, first.c.client_id == Client.id)
            .order_by(first.c.first_start, Client.last_name, Client.first_name)
            .limit(limit)
        )
    )


async def client_visits(
    session: AsyncSession, practice: Practice, staff: StaffUser, client: Client, now: dt.datetime
) -> ClientVisits:
    """The client's visits from today on and the most recent ones before today; expired unpaid holds
    are left out (they never became visits)."""
    today = start_of_today(practice, now)
    base = select(Appointment).where(Appointment.client_id == client.id, not_an_expired_hold(now), *_visible_to(staff))
    upcoming = list(
        await session.scalars(
            base.where(Appointment.start_at >= today).order_by(Appointment.start_at).limit(UPCOMING_LIMIT)
        )
    )
    past = list(
        await session.scalars(
            base.where(Appointment.start_at < today).order_by(Appointment.start_at.desc()).limit(PAST_LIMIT + 1)
        )
    )
    described = await day_sheet.describe(session, practice, [*upcoming, *past[:PAST_LIMIT]])
    return ClientVisits(
        upcoming=described[: len(upcoming)], past=described[len(upcoming) :], more_past=len(past) > PAST_LIMIT
    )


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite hands an aggregate back as it stored it, without the column type's zone.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
