"""What a client may see of a visit — for e-mails, the client portal and the visit's .ics — and nothing more.

These read models carry the service, the therapist, the time and the status. Appointment notes, intake,
plans and cancel reasons never enter them, so no template that renders them can leak health details
(DESIGN.md: minimum necessary health information).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.booking.models import Appointment, AppointmentEvent, AppointmentStatus
from scheduler.feeds.ical import EventView
from scheduler.format import format_clock, format_long_day
from scheduler.practice.models import Practice, Service, Therapist

STATUS_LABELS = {
    AppointmentStatus.PENDING_PAYMENT: "Awaiting payment",
    AppointmentStatus.BOOKED: "Booked",
    AppointmentStatus.ARRIVED: "Checked in",
    AppointmentStatus.COMPLETED: "Completed",
    AppointmentStatus.NO_SHOW: "Missed",
    AppointmentStatus.CANCELLED: "Cancelled",
}
CHANGEABLE = frozenset({AppointmentStatus.BOOKED, AppointmentStatus.PENDING_PAYMENT})


# E-mails and the portal write times as the pages do (scheduler.format: Babel, en_US), in the zone the
# datetimes carry; the practice's locale is not modelled yet.


def clock(moment: dt.datetime) -> str:
    """'9:00 AM'."""
    return format_clock(moment.time())


def long_date(moment: dt.datetime) -> str:
    """'Tuesday, May 12, 2026'."""
    return format_long_day(moment.date())


def describe_when(start: dt.datetime, end: dt.datetime) -> str:
    """'Tuesday, May 12, 2026, 9:00 AM to 10:00 AM EDT' in the zone the datetimes carry."""
    return f"{long_date(start)}, {clock(start)} to {clock(end)} {start.tzname() or ''}".rstrip()


@dataclass(frozen=True)
class PracticeFacts:
    slug: str
    name: str
    address_lines: tuple[str, ...]
    phone: str
    email: str
    timezone: str
    cancellation_window_hours: int

    @classmethod
    def of(cls, practice: Practice) -> PracticeFacts:
        return cls(
            slug=practice.slug,
            name=practice.name,
            address_lines=tuple(practice.address_lines),
            phone=practice.phone,
            email=practice.email,
            timezone=practice.timezone,
            cancellation_window_hours=practice.cancellation_window_hours,
        )


@dataclass(frozen=True)
class VisitFacts:
    """One visit as the client may see it. Adding a field here is adding it to every e-mail's reach."""

    appointment_id: uuid.UUID
    service_name: str
    therapist_name: str
    start: dt.datetime  # aware, in the practice's zone
    end: dt.datetime
    when: str
    status: str
    status_label: str
    can_change: bool  # the client may still move or cancel it online
    change_deadline: dt.datetime
    change_deadline_text: str


def _facts(
    practice: Practice, appointment: Appointment, service: Service, therapist: Therapist, now: dt.datetime
) -> VisitFacts:
    zone = ZoneInfo(practice.timezone)
    start = appointment.start_at.astimezone(zone)
    end = appointment.end_at.astimezone(zone)
    deadline = start - dt.timedelta(hours=practice.cancellation_window_hours)
    return VisitFacts(
        appointment_id=appointment.id,
        service_name=service.name,
        therapist_name=therapist.display_name,
        start=start,
        end=end,
        when=describe_when(start, end),
        status=appointment.status.value,
        status_label=STATUS_LABELS.get(appointment.status, appointment.status.value),
        can_change=appointment.status in CHANGEABLE and now < deadline,
        change_deadline=deadline,
        change_deadline_text=f"{long_date(deadline)}, {clock(deadline)} {deadline.tzname() or ''}".rstrip(),
    )


async def visit_facts(
    session: AsyncSession, practice: Practice, appointment: Appointment, now: dt.datetime | None = None
) -> VisitFacts:
    service = await session.get_one(Service, appointment.service_id)
    therapist = await session.get_one(Therapist, appointment.therapist_id)
    return _facts(practice, appointment, service, therapist, now or dt.datetime.now(dt.UTC))


async def visits_facts(
    session: AsyncSession, practice: Practice, appointments: Sequence[Appointment], now: dt.datetime | None = None
) -> list[VisitFacts]:
    """The same for many visits, with one query per kind of row instead of two per visit."""
    if not appointments:
        return []
    service_ids = {a.service_id for a in appointments}
    therapist_ids = {a.therapist_id for a in appointments}
    services = {s.id: s for s in await session.scalars(select(Service).where(Service.id.in_(service_ids)))}
    therapists = {t.id: t for t in await session.scalars(select(Therapist).where(Therapist.id.in_(therapist_ids)))}
    moment = now or dt.datetime.now(dt.UTC)
    return [
        _facts(practice, a, services[a.service_id], therapists[a.therapist_id], moment)
        for a in appointments
        if a.service_id in services and a.therapist_id in therapists
    ]


async def appointment_event_view(session: AsyncSession, practice: Practice, appointment: Appointment) -> EventView:
    """The client's view of their visit as a calendar event: no health details, no other client."""
    service = await session.get_one(Service, appointment.service_id)
    therapist = await session.get_one(Therapist, appointment.therapist_id)
    changes = await session.scalar(
        select(func.count()).select_from(AppointmentEvent).where(AppointmentEvent.appointment_id == appointment.id)
    )
    return EventView(
        uid=f"{appointment.id}@carebook",
        start=appointment.start_at,
        end=appointment.end_at,
        summary=f"{service.name} at {practice.name}",
        location=", ".join([practice.name, *practice.address_lines]),
        description=f"With {therapist.display_name}. To change or cancel, use the link in your confirmation "
        f"or call {practice.phone}.",
        sequence=max(int(changes or 0) - 1, 0),
        last_modified=appointment.updated_at,
        cancelled=not appointment.is_live,
        tzid=practice.timezone,
    )
