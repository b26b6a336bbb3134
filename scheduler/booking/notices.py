"""What the client is told by e-mail about their visits: the booking confirmation and change notices.

Called from the booking use cases inside their unit of work, so a notice is queued exactly when its
change commits. Bodies are rendered from `templates/emails/*.txt` with `PracticeFacts` and `VisitFacts`
(or a `SeriesChange` made of them) only — never the appointment, the series, the client record or
anything clinical.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.booking.models import Appointment, AppointmentSeries, AppointmentStatus
from scheduler.booking.visits import (
    PracticeFacts,
    VisitFacts,
    appointment_event_view,
    clock,
    describe_when,
    long_date,
    visit_facts,
    visits_facts,
)
from scheduler.clients.models import Client
from scheduler.feeds.ical import events_calendar
from scheduler.mail import services as mail
from scheduler.practice.models import Practice, Service
from scheduler.settings import get_settings

ICS_CONTENT_TYPE = "text/calendar"


def manage_url(base_url: str, practice: Practice, token: str) -> str:
    return f"{base_url}/p/{practice.slug}/manage/{token}"


def portal_url(base_url: str, practice: Practice) -> str:
    return f"{base_url}/p/{practice.slug}/portal"


def _held_for(appointment: Appointment) -> uuid.UUID | None:
    """A visit still held for its online deposit: what the client is told waits until it is paid."""
    return appointment.id if appointment.status is AppointmentStatus.PENDING_PAYMENT else None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _base(base_url: str | None) -> str:
    # Callers pass the app's CAREBOOK_BASE_URL; the fallback keeps a caller that does not (yet) from
    # sending a link-less e-mail.
    return (base_url or get_settings().base_url).rstrip("/")


async def _ics(
    session: AsyncSession, practice: Practice, appointments: Sequence[Appointment], filename: str = "appointment.ics"
) -> mail.Attachment:
    body = events_calendar([await appointment_event_view(session, practice, a) for a in appointments])
    return mail.Attachment(filename=filename, content_type=ICS_CONTENT_TYPE, content=body.decode())


async def booking_confirmed(
    session: AsyncSession,
    practice: Practice,
    appointment: Appointment,
    manage_token: str,
    *,
    base_url: str | None = None,
) -> None:
    """The confirmation of an online booking: when, where, with whom, the manage link and the .ics.

    For a visit held for its deposit the message is held too (see `scheduler.mail.services`): the client
    gets it when the deposit is paid, never if the hold is released unpaid."""
    base = _base(base_url)
    client = await session.get_one(Client, appointment.client_id)
    visit = await visit_facts(session, practice, appointment)
    body = mail.render(
        "booking_confirmation.txt",
        first_name=client.first_name,
        practice=PracticeFacts.of(practice),
        visit=visit,
        manage_url=manage_url(base, practice, manage_token),
        portal_url=portal_url(base, practice),
    )
    await mail.enqueue(
        session,
        to=client.email,
        subject=f"Booked: {visit.service_name}, {visit.when}",
        body_text=body,
        kind="booking_confirmation",
        attachments=[await _ics(session, practice, [appointment])],
        held_for=_held_for(appointment),
    )


async def deposit_refunded(
    session: AsyncSession, practice: Practice, appointment: Appointment, amount: str, *, cancelled: bool = False
) -> None:
    """A deposit that came after its hold was released, for a time booked since: not booked, `amount` refunded.
    `cancelled`: it came for a visit cancelled while its checkout was still open, and is refunded for that."""
    client = await session.get_one(Client, appointment.client_id)
    visit = await visit_facts(session, practice, appointment)
    body = mail.render(
        "deposit_refunded_cancelled.txt" if cancelled else "deposit_refunded.txt",
        first_name=client.first_name,
        practice=PracticeFacts.of(practice),
        visit=visit,
        amount=amount,
        portal_url=portal_url(_base(None), practice),
    )
    await mail.enqueue(
        session,
        to=client.email,
        subject=f"{'Cancelled' if cancelled else 'Not booked'}, deposit refunded: {visit.service_name}, {visit.when}",
        body_text=body,
        kind="deposit_refunded",
        practice_id=practice.id,
    )


async def visit_rescheduled(
    session: AsyncSession,
    practice: Practice,
    appointment: Appointment,
    *,
    previous_start: dt.datetime,
    base_url: str | None = None,
) -> None:
    """The visit moved (by the client or the practice): the new time and an updated .ics (same UID).

    The desk correcting the record of a visit that is already over tells the client nothing.
    """
    if appointment.start_at <= _now():
        return
    base = _base(base_url)
    client = await session.get_one(Client, appointment.client_id)
    visit = await visit_facts(session, practice, appointment)
    previous = previous_start.astimezone(visit.start.tzinfo)
    body = mail.render(
        "visit_rescheduled.txt",
        first_name=client.first_name,
        practice=PracticeFacts.of(practice),
        visit=visit,
        previous_when=describe_when(previous, previous + (visit.end - visit.start)),
        portal_url=portal_url(base, practice),
    )
    await mail.enqueue(
        session,
        to=client.email,
        subject=f"Moved: {visit.service_name}, now {visit.when}",
        body_text=body,
        kind="visit_rescheduled",
        attachments=[await _ics(session, practice, [appointment])],
        # A held visit moved before it was paid: the move follows the held confirmation, or neither goes.
        held_for=_held_for(appointment),
    )


async def visit_cancelled(
    session: AsyncSession,
    practice: Practice,
    appointment: Appointment,
    *,
    base_url: str | None = None,
    money: Sequence[str] = (),
) -> None:
    """The visit was cancelled (by the client or the practice). The reason is not repeated: it may be clinical.
    `money` is what the status hooks said happened to the client's money (a deposit refunded or kept as the
    fee), printed as it is."""
    if appointment.start_at <= _now():
        return
    base = _base(base_url)
    client = await session.get_one(Client, appointment.client_id)
    visit = await visit_facts(session, practice, appointment)
    body = mail.render(
        "visit_cancelled.txt",
        first_name=client.first_name,
        practice=PracticeFacts.of(practice),
        visit=visit,
        money=list(money),
        portal_url=portal_url(base, practice),
    )
    await mail.enqueue(
        session,
        to=client.email,
        subject=f"Cancelled: {visit.service_name}, {visit.when}",
        body_text=body,
        kind="visit_cancelled",
        attachments=[await _ics(session, practice, [appointment])],
    )


# -- a series booked or changed in bulk: one e-mail for all the visits it touches ------------------------


@dataclass(frozen=True)
class SeriesVisit:
    """One visit a series change touched: its time now and, after a move, the time it had before."""

    visit: VisitFacts
    previous_when: str | None = None


@dataclass(frozen=True)
class SeriesChange:
    """A series booked or changed in bulk as the client may see it: the series' service, the therapist, the visits."""

    service_name: str
    therapist_name: str
    visits: tuple[SeriesVisit, ...]

    @property
    def first(self) -> VisitFacts:
        return self.visits[0].visit

    @property
    def first_start_text(self) -> str:
        """'Thursday 21 May 2026, 11:00 AM' — a subject line's worth of the first visit's time."""
        return f"{long_date(self.first.start)}, {clock(self.first.start)}"


def _upcoming(appointments: Sequence[Appointment]) -> list[Appointment]:
    # Visits already over are history, not news: a change that touches only those tells the client nothing.
    now = _now()
    return sorted((a for a in appointments if a.start_at > now), key=lambda a: a.start_at)


async def _series_change(
    session: AsyncSession,
    practice: Practice,
    series: AppointmentSeries,
    upcoming: Sequence[Appointment],
    previous_starts: Mapping[uuid.UUID, dt.datetime] | None = None,
) -> SeriesChange:
    service = await session.get_one(Service, series.service_id)
    facts = await visits_facts(session, practice, upcoming)
    zone = ZoneInfo(practice.timezone)
    visits: list[SeriesVisit] = []
    for visit in facts:
        previous_when = None
        if previous_starts is not None:
            was = previous_starts[visit.appointment_id].astimezone(zone)
            previous_when = describe_when(was, was + (visit.end - visit.start))
        visits.append(SeriesVisit(visit, previous_when))
    return SeriesChange(service_name=service.name, therapist_name=facts[0].therapist_name, visits=tuple(visits))


async def _send_series_notice(
    session: AsyncSession,
    practice: Practice,
    series: AppointmentSeries,
    change: SeriesChange,
    upcoming: Sequence[Appointment],
    *,
    template: str,
    subject: str,
    kind: str,
    base_url: str | None,
) -> None:
    client = await session.get_one(Client, series.client_id)
    body = mail.render(
        template,
        first_name=client.first_name,
        practice=PracticeFacts.of(practice),
        series=change,
        portal_url=portal_url(_base(base_url), practice),
    )
    await mail.enqueue(
        session,
        to=client.email,
        subject=subject,
        body_text=body,
        kind=kind,
        attachments=[await _ics(session, practice, upcoming, filename="appointments.ics")],
    )


async def series_booked(
    session: AsyncSession,
    practice: Practice,
    series: AppointmentSeries,
    booked: Sequence[Appointment],
    *,
    base_url: str | None = None,
) -> None:
    """A series was committed from a plan: one e-mail listing every upcoming visit it booked, and one .ics that
    adds them all. Occurrences left out at commit were never booked, so they are not in `booked`.
    """
    upcoming = _upcoming(booked)
    if not upcoming:
        return
    change = await _series_change(session, practice, series, upcoming)
    count = len(change.visits)
    await _send_series_notice(
        session,
        practice,
        series,
        change,
        upcoming,
        template="series_booked.txt",
        subject=f"Booked: {count} visit{'' if count == 1 else 's'}, {change.service_name}, "
        f"from {change.first_start_text}",
        kind="series_booked",
        base_url=base_url,
    )


async def series_rescheduled(
    session: AsyncSession,
    practice: Practice,
    series: AppointmentSeries,
    moved: Sequence[Appointment],
    *,
    previous_starts: Mapping[uuid.UUID, dt.datetime],
    base_url: str | None = None,
) -> None:
    """Visits of a series moved together (this and following, or all): one e-mail listing each upcoming visit
    with its new and its old time, and one .ics that updates them all (each visit keeps its UID).
    """
    upcoming = _upcoming(moved)
    if not upcoming:
        return
    change = await _series_change(session, practice, series, upcoming, previous_starts)
    await _send_series_notice(
        session,
        practice,
        series,
        change,
        upcoming,
        template="series_rescheduled.txt",
        subject=f"Your series moved: {change.service_name}, from {change.first_start_text}",
        kind="series_rescheduled",
        base_url=base_url,
    )


async def series_cancelled(
    session: AsyncSession,
    practice: Practice,
    series: AppointmentSeries,
    cancelled: Sequence[Appointment],
    *,
    base_url: str | None = None,
) -> None:
    """The rest of a series was cancelled: one e-mail listing the upcoming visits that are off, and one .ics
    that removes them. The reason is not repeated: it may be clinical.
    """
    upcoming = _upcoming(cancelled)
    if not upcoming:
        return
    change = await _series_change(session, practice, series, upcoming)
    await _send_series_notice(
        session,
        practice,
        series,
        change,
        upcoming,
        template="series_cancelled.txt",
        subject=f"Cancelled: your remaining {change.service_name} visits",
        kind="series_cancelled",
        base_url=base_url,
    )
