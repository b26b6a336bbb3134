"""Builds the front desk's appointment, move and booking pages (the Template and its context).

Shared by the GET handlers and by refused POSTs, which show the same page again with the error in an
alert and the error's status. Context values are plain data, never ORM rows.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.booking import day_sheet, services
from scheduler.booking.models import Appointment
from scheduler.clients import services as client_services
from scheduler.errors import AlreadyExists, Conflict, InvalidInput, RuleViolation
from scheduler.format import format_long_day, format_visit_when
from scheduler.practice import services as practice_services
from scheduler.practice.models import Practice, StaffUser
from scheduler.web.schedule_views import (
    STATUS_LABELS,
    FreeTimes,
    book_url,
    can_move_or_cancel,
    free_times,
    history,
    schedule_url,
    visit_actions,
)

# Refusals a form shows next to itself; anything else (404, 403) gets the error page.
FormError = Conflict | RuleViolation | InvalidInput
FORM_ERRORS = (Conflict, RuleViolation, InvalidInput)
CLIENT_SEARCH_LIMIT = 20
NEW_CLIENT_FIELDS = ("first_name", "last_name", "email", "phone")


def _error(exc: FormError | None) -> dict[str, Any] | None:
    return {"message": exc.detail, "field": exc.field} if exc else None


def _status(problem: FormError | None) -> int:
    return problem.status if problem else 200


async def appointment_page(
    session: AsyncSession,
    practice: Practice,
    staff: StaffUser,
    appointment: Appointment,
    error: FormError | None = None,
) -> Template:
    now = services.utcnow()
    [visit] = await day_sheet.describe(session, practice, [appointment])
    names = {u.id: u.full_name or u.email for u in await practice_services.list_users(session)}
    events = await services.events_for(session, appointment)
    return Template(
        template_name="staff/appointment.html",
        context={
            "practice": practice,
            "user": staff,
            "visit": visit,
            "when": format_visit_when(visit.start, visit.end, ZoneInfo(practice.timezone)),
            "status_label": STATUS_LABELS.get(visit.status, visit.status),
            "actions": visit_actions(visit, now),
            "not_started": visit.status in {"booked", "arrived"} and visit.start > now,
            "can_change": can_move_or_cancel(visit),
            "late_cancel": can_move_or_cancel(visit) and services.in_cancellation_window(practice, appointment, now),
            "window_hours": practice.cancellation_window_hours,
            "history": history(events, names, ZoneInfo(practice.timezone)),
            "back_url": schedule_url(visit.start.date(), highlight=visit.id),
            "back_label": format_long_day(visit.start.date()),
            "error": _error(error),
        },
        status_code=_status(error),
    )


async def therapist_choices(
    session: AsyncSession, staff: StaffUser, service_id: uuid.UUID | None = None
) -> tuple[list[dict[str, str]], dict[str, set[str]]]:
    """Therapists this user may book for (those performing `service_id`, if given), and who performs what."""
    visible = {t.id for t in await day_sheet.visible_therapists(session, staff)}
    choices: list[dict[str, str]] = []
    performs: dict[str, set[str]] = {}
    for therapist, service_ids in await practice_services.list_therapists(session):
        if str(therapist.id) not in visible:
            continue
        performs[str(therapist.id)] = {str(s) for s in service_ids}
        if service_id is None or service_id in service_ids:
            choices.append({"id": str(therapist.id), "name": therapist.display_name})
    return choices, performs


async def move_page(
    session: AsyncSession,
    practice: Practice,
    staff: StaffUser,
    appointment: Appointment,
    day: dt.date,
    therapist_id: uuid.UUID,
    error: FormError | None = None,
) -> Template:
    [visit] = await day_sheet.describe(session, practice, [appointment])
    therapists, _ = await therapist_choices(session, staff, appointment.service_id)
    slots: list[FreeTimes] = []
    problem = error
    if can_move_or_cancel(visit):
        try:
            options = await day_sheet.move_options(session, practice, appointment, therapist_id=therapist_id, day=day)
            slots = free_times(options, ZoneInfo(practice.timezone), practice.slot_granularity_minutes)
        except FORM_ERRORS as exc:
            problem = problem or exc
    therapist_name = next((t["name"] for t in therapists if t["id"] == str(therapist_id)), visit.therapist_name)
    return Template(
        template_name="staff/appointment_move.html",
        context={
            "practice": practice,
            "user": staff,
            "visit": visit,
            "when": format_visit_when(visit.start, visit.end, ZoneInfo(practice.timezone)),
            "can_change": can_move_or_cancel(visit),
            "status_label": STATUS_LABELS.get(visit.status, visit.status),
            "day": day,
            "day_label": format_long_day(day),
            "therapists": therapists,
            "therapist_id": str(therapist_id),
            "therapist_name": therapist_name,
            "slots": slots,
            "error": _error(problem),
        },
        status_code=_status(problem),
    )


async def book_page(
    session: AsyncSession,
    practice: Practice,
    staff: StaffUser,
    *,
    day: dt.date,
    therapist_id: uuid.UUID | None,
    service_id: uuid.UUID | None,
    client_id: uuid.UUID | None,
    query: str = "",
    error: FormError | None = None,
    new_client: dict[str, str] | None = None,
) -> Template:
    therapists, performs = await therapist_choices(session, staff)
    if therapist_id is None and therapists:
        therapist_id = uuid.UUID(therapists[0]["id"])
    offered = performs.get(str(therapist_id), set())
    service_choices = [
        {"id": str(s.id), "name": s.name}
        for s in await practice_services.list_services(session, public=False)
        if str(s.id) in offered
    ]
    client = await client_services.get_client(session, client_id) if client_id else None
    matches = await client_services.search_clients(session, query, CLIENT_SEARCH_LIMIT) if query.strip() else []
    problem = error
    slots: list[FreeTimes] = []
    if client is not None and service_id is not None and therapist_id is not None:
        try:
            found = await services.availability(
                session,
                practice,
                service_id=service_id,
                therapist_id=therapist_id,
                date_from=day,
                date_to=day,
                online=False,
            )
            slots = free_times(found, ZoneInfo(practice.timezone), practice.slot_granularity_minutes)
        except FORM_ERRORS as exc:
            problem = problem or exc
    keep = {
        "date": day.isoformat(),
        "therapist_id": str(therapist_id) if therapist_id else "",
        "service_id": str(service_id) if service_id else "",
    }

    def choose(other_client: str | None = None) -> str:
        return book_url(day, keep["therapist_id"], service_id=keep["service_id"], client_id=other_client or "")

    known = str(error.extra.get("client_id") or "") if isinstance(error, AlreadyExists) else ""
    return Template(
        template_name="staff/book.html",
        context={
            "practice": practice,
            "user": staff,
            "day": day,
            "day_label": format_long_day(day),
            "therapists": therapists,
            "therapist_id": keep["therapist_id"],
            "services": service_choices,
            "service_id": keep["service_id"],
            "client": {"id": str(client.id), "name": client.full_name, "email": client.email, "phone": client.phone}
            if client
            else None,
            "query": query,
            "matches": [
                {
                    "name": c.full_name,
                    "contact": ", ".join(p for p in (c.email, c.phone) if p),
                    "url": choose(str(c.id)),
                }
                for c in matches
            ],
            "change_client_url": choose(),
            "existing_client_url": choose(known) if known else None,
            "new_client": {name: (new_client or {}).get(name, "") for name in NEW_CLIENT_FIELDS},
            "keep": keep,
            "slots": slots,
            "schedule_url": schedule_url(day),
            "error": _error(problem),
        },
        status_code=_status(problem),
    )
