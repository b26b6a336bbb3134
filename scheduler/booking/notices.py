"""What the client is told by e-mail about their visit: the booking confirmation and change notices.

Called from the booking use cases inside their unit of work, so a notice is queued exactly when its
change commits. Bodies are rendered from `templates/emails/*.txt` with `PracticeFacts` and `VisitFacts`
only — never the appointment, the client record or anything clinical.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.booking.models import Appointment
from scheduler.booking.visits import PracticeFacts, appointment_event_view, describe_when, visit_facts
from scheduler.clients.models import Client
from scheduler.feeds.ical import single_event_calendar
from scheduler.mail import services as mail
from scheduler.practice.models import Practice
from scheduler.settings import get_settings

ICS_CONTENT_TYPE = "text/calendar"


def manage_url(base_url: str, practice: Practice, token: str) -> str:
    return f"{base_url}/p/{practice.slug}/manage/{token}"


def portal_url(base_url: str, practice: Practice) -> str:
    return f"{base_url}/p/{practice.slug}/portal"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _base(base_url: str | None) -> str:
    # Callers pass the app's CAREBOOK_BASE_URL; the fallback keeps a caller that does not (yet) from
    # sending a link-less e-mail.
    return (base_url or get_settings().base_url).rstrip("/")


async def _ics(session: AsyncSession, practice: Practice, appointment: Appointment) -> mail.Attachment:
    body = single_event_calendar(await appointment_event_view(session, practice, appointment))
    return mail.Attachment(filename="appointment.ics", content_type=ICS_CONTENT_TYPE, content=body.decode())


async def booking_confirmed(
    session: AsyncSession,
    practice: Practice,
    appointment: Appointment,
    manage_token: str,
    *,
    base_url: str | None = None,
) -> None:
    """The confirmation of an online booking: when, where, with whom, the manage link and the .ics."""
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
        attachments=[await _ics(session, practice, appointment)],
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
        attachments=[await _ics(session, practice, appointment)],
    )


async def visit_cancelled(
    session: AsyncSession, practice: Practice, appointment: Appointment, *, base_url: str | None = None
) -> None:
    """The visit was cancelled (by the client or the practice). The reason is not repeated: it may be clinical."""
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
        portal_url=portal_url(base, practice),
    )
    await mail.enqueue(
        session,
        to=client.email,
        subject=f"Cancelled: {visit.service_name}, {visit.when}",
        body_text=body,
        kind="visit_cancelled",
        attachments=[await _ics(session, practice, appointment)],
    )
