"""Front-desk pages: the day schedule (by therapist or by room), one appointment with its actions, moving
a visit, and booking one.

Every page is for signed-in staff; a therapist sees and acts on their own visits only (the booking
service's `list_for_staff` / `get_for_staff` decide). Forms post with the CSRF token, run the same use
cases as the API, and redirect on success (post/redirect/get). A refused action shows the page again
with the reason in an alert and the error's status (409, 422, 400), so the request's transaction rolls
back and nothing is half-written.
"""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.auth import page_staff
from scheduler.booking import day_sheet, services
from scheduler.clients import services as client_services
from scheduler.clients.services import ClientDetails
from scheduler.deps import CurrentStaff, DbSession, PathPractice
from scheduler.errors import InvalidInput
from scheduler.practice.deps import provide_staff_practice
from scheduler.practice.models import Practice, StaffUser
from scheduler.validation import check_day, parse_uuid, parse_uuid_field
from scheduler.web.schedule_pages import FORM_ERRORS, appointment_page, book_page, move_page
from scheduler.web.schedule_views import book_url, schedule_page, schedule_url


class CancelForm(msgspec.Struct):
    reason: str = ""


class MoveForm(msgspec.Struct):
    start: str = ""
    therapist_id: str = ""
    date: str = ""


class BookForm(msgspec.Struct):
    client_id: str = ""
    service_id: str = ""
    therapist_id: str = ""
    start: str = ""
    date: str = ""


class NewClientForm(msgspec.Struct):
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    date: str = ""
    therapist_id: str = ""
    service_id: str = ""


def _today(practice: Practice) -> dt.date:
    return services.utcnow().astimezone(ZoneInfo(practice.timezone)).date()


def _day(raw: str, practice: Practice) -> dt.date:
    if not raw.strip():
        return _today(practice)
    try:
        day = dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput("Give the date as YYYY-MM-DD.", field="date") from None
    return check_day(day, "date")


def _start(raw: str) -> dt.datetime:
    try:
        start = dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput("Choose a time.", field="start") from None
    if start.tzinfo is None:
        raise InvalidInput("Choose a time.", field="start")
    return start


def _optional_id(raw: str, field: str) -> uuid.UUID | None:
    return parse_uuid_field(raw.strip(), field) if raw.strip() else None


class SchedulePagesController(Controller):
    path = "/staff"
    include_in_schema = False
    dependencies = {"staff": Provide(page_staff()), "practice": Provide(provide_staff_practice)}

    # --- the day ------------------------------------------------------------------------------------

    @get("/schedule", name="staff_schedule")
    async def schedule(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        date: FromQuery[str] = "",
        view: FromQuery[str] = "therapists",
        highlight: FromQuery[str] = "",
    ) -> Template:
        day = _day(date, practice)
        sheet = await day_sheet.load_day_sheet(db_session, practice, staff, day)
        page = schedule_page(sheet, view, services.utcnow(), highlight)
        return Template(
            template_name="staff/schedule.html",
            context={
                "practice": practice,
                "user": staff,
                "page": page,
                "own_only": day_sheet.own_therapist_only(staff),
            },
        )

    # --- one appointment ----------------------------------------------------------------------------

    @get("/appointments/{appointment_id:str}", name="staff_appointment")
    async def appointment(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, appointment_id: FromPath[str]
    ) -> Template:
        found = await services.get_for_staff(db_session, staff, parse_uuid(appointment_id, "appointment_id"))
        return await appointment_page(db_session, practice, staff, found)

    @post("/appointments/{appointment_id:str}/arrive", status_code=303)
    async def arrive(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, appointment_id: FromPath[str]
    ) -> Template | Redirect:
        return await _transition(db_session, staff, practice, appointment_id, "arrive")

    @post("/appointments/{appointment_id:str}/complete", status_code=303)
    async def complete(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, appointment_id: FromPath[str]
    ) -> Template | Redirect:
        return await _transition(db_session, staff, practice, appointment_id, "complete")

    @post("/appointments/{appointment_id:str}/no-show", status_code=303)
    async def no_show(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, appointment_id: FromPath[str]
    ) -> Template | Redirect:
        return await _transition(db_session, staff, practice, appointment_id, "no_show")

    @post("/appointments/{appointment_id:str}/cancel", status_code=303)
    async def cancel(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        appointment_id: FromPath[str],
        data: URLEncodedBody[CancelForm],
    ) -> Template | Redirect:
        found = await services.get_for_staff(db_session, staff, parse_uuid(appointment_id, "appointment_id"))
        try:
            await services.cancel(
                db_session, practice, found, reason=data.reason, actor=services.Actor.for_staff(staff)
            )
        except FORM_ERRORS as exc:
            return await appointment_page(db_session, practice, staff, found, error=exc)
        return Redirect(path=f"/staff/appointments/{found.id}", status_code=303)

    # --- moving a visit -----------------------------------------------------------------------------

    @get("/appointments/{appointment_id:str}/move", name="staff_move")
    async def move_page(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        appointment_id: FromPath[str],
        date: FromQuery[str] = "",
        therapist_id: FromQuery[str] = "",
    ) -> Template:
        found = await services.get_for_staff(db_session, staff, parse_uuid(appointment_id, "appointment_id"))
        zone = ZoneInfo(practice.timezone)
        day = _day(date, practice) if date.strip() else found.start_at.astimezone(zone).date()
        therapist = _optional_id(therapist_id, "therapist_id") or found.therapist_id
        return await move_page(db_session, practice, staff, found, day, therapist)

    @post("/appointments/{appointment_id:str}/move", status_code=303)
    async def move(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        appointment_id: FromPath[str],
        data: URLEncodedBody[MoveForm],
    ) -> Template | Redirect:
        found = await services.get_for_staff(db_session, staff, parse_uuid(appointment_id, "appointment_id"))
        therapist = _optional_id(data.therapist_id, "therapist_id")
        zone = ZoneInfo(practice.timezone)
        try:
            start = _start(data.start)
            await services.reschedule(
                db_session,
                practice,
                found,
                start=start,
                therapist_id=therapist,
                actor=services.Actor.for_staff(staff),
            )
        except FORM_ERRORS as exc:
            # The move may have been refused after the appointment was touched inside a savepoint.
            await db_session.refresh(found)
            day = _day(data.date, practice) if data.date.strip() else found.start_at.astimezone(zone).date()
            return await move_page(db_session, practice, staff, found, day, therapist or found.therapist_id, error=exc)
        day = found.start_at.astimezone(zone).date()
        return Redirect(path=schedule_url(day, highlight=str(found.id)), status_code=303)

    # --- booking ------------------------------------------------------------------------------------

    @get("/book", name="staff_book")
    async def book_page(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        date: FromQuery[str] = "",
        therapist_id: FromQuery[str] = "",
        service_id: FromQuery[str] = "",
        client_id: FromQuery[str] = "",
        q: FromQuery[str] = "",
    ) -> Template:
        return await book_page(
            db_session,
            practice,
            staff,
            day=_day(date, practice),
            therapist_id=_optional_id(therapist_id, "therapist_id"),
            service_id=_optional_id(service_id, "service_id"),
            client_id=_optional_id(client_id, "client_id"),
            query=q[:100],
        )

    @post("/book", status_code=303)
    async def book(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, data: URLEncodedBody[BookForm]
    ) -> Template | Redirect:
        client_id = _optional_id(data.client_id, "client_id")
        service_id = _optional_id(data.service_id, "service_id")
        therapist_id = _optional_id(data.therapist_id, "therapist_id")
        try:
            if client_id is None:
                raise InvalidInput("Choose the client first.", field="client_id")
            if service_id is None:
                raise InvalidInput("Choose a service.", field="service_id")
            if therapist_id is None:
                raise InvalidInput("Choose a therapist.", field="therapist_id")
            booked = await services.book_by_staff(
                db_session,
                practice,
                client_id=client_id,
                service_id=service_id,
                therapist_id=therapist_id,
                start=_start(data.start),
                actor=services.Actor.for_staff(staff),
            )
        except FORM_ERRORS as exc:
            return await book_page(
                db_session,
                practice,
                staff,
                day=_day(data.date, practice),
                therapist_id=therapist_id,
                service_id=service_id,
                client_id=client_id,
                error=exc,
            )
        day = booked.appointment.start_at.astimezone(ZoneInfo(practice.timezone)).date()
        return Redirect(path=schedule_url(day, highlight=str(booked.appointment.id)), status_code=303)

    @post("/book/client", status_code=303)
    async def add_client(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        data: URLEncodedBody[NewClientForm],
    ) -> Template | Redirect:
        day = _day(data.date, practice)
        therapist_id = _optional_id(data.therapist_id, "therapist_id")
        service_id = _optional_id(data.service_id, "service_id")
        try:
            created = await client_services.create_client(
                db_session,
                ClientDetails(first_name=data.first_name, last_name=data.last_name, email=data.email, phone=data.phone),
            )
        except FORM_ERRORS as exc:
            return await book_page(
                db_session,
                practice,
                staff,
                day=day,
                therapist_id=therapist_id,
                service_id=service_id,
                client_id=None,
                error=exc,
                new_client=msgspec.structs.asdict(data),
            )
        more = {"service_id": str(service_id) if service_id else "", "client_id": str(created.id)}
        return Redirect(path=book_url(day, str(therapist_id) if therapist_id else None, **more), status_code=303)


async def _transition(
    db_session: AsyncSession, staff: StaffUser, practice: Practice, appointment_id: str, action: str
) -> Template | Redirect:
    found = await services.get_for_staff(db_session, staff, parse_uuid(appointment_id, "appointment_id"))
    try:
        await services.transition(db_session, found, action, services.Actor.for_staff(staff))
    except FORM_ERRORS as exc:
        return await appointment_page(db_session, practice, staff, found, error=exc)
    return Redirect(path=f"/staff/appointments/{found.id}", status_code=303)
