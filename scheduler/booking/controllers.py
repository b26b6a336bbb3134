"""HTTP for booking: public availability, bookings and manage links; the staff appointment API."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from litestar import Controller, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody

from scheduler.auth import api_staff
from scheduler.booking import services
from scheduler.booking.models import Appointment
from scheduler.booking.schemas import (
    AppointmentCreate,
    AppointmentEventList,
    AppointmentEventOut,
    AppointmentList,
    AppointmentOut,
    Availability,
    BookingCreate,
    BookingCreated,
    CancelIn,
    ManagedAppointment,
    Reschedule,
    SlotOut,
)
from scheduler.booking.visits import appointment_event_view
from scheduler.clients.services import ClientDetails
from scheduler.deps import AppSettings, CurrentStaff, DbSession, PathPractice
from scheduler.feeds.ical import single_event_calendar
from scheduler.idempotency import Idempotency
from scheduler.openapi import (
    PUBLIC_READ_PROBLEMS,
    PUBLIC_WRITE_PROBLEMS,
    STAFF_READ_PROBLEMS,
    STAFF_SECURITY,
    STAFF_WRITE_PROBLEMS,
)
from scheduler.practice.deps import provide_public_practice, provide_staff_practice
from scheduler.practice.models import Practice, Service, Therapist
from scheduler.validation import parse_uuid, parse_uuid_field


def appointment_out(appointment: Appointment, zone: ZoneInfo) -> AppointmentOut:
    return AppointmentOut(
        id=str(appointment.id),
        start=appointment.start_at.astimezone(zone),
        end=appointment.end_at.astimezone(zone),
        status=appointment.status.value,
        therapist_id=str(appointment.therapist_id),
        client_id=str(appointment.client_id),
        service_id=str(appointment.service_id),
        room_id=str(appointment.room_id) if appointment.room_id else None,
        source=appointment.source,
        cancel_reason=appointment.cancel_reason,
        cancelled_late=appointment.cancelled_late,
        series_id=str(appointment.series_id) if appointment.series_id else None,
        recurrence_id=appointment.recurrence_id.isoformat(timespec="minutes") if appointment.recurrence_id else None,
        kind=appointment.kind,
    )


def manage_url(base: str, practice: Practice, token: str) -> str:
    return f"{base}/p/{practice.slug}/manage/{token}"


def calendar_url(base: str, practice: Practice, token: str) -> str:
    return f"{base}/api/v1/practices/{practice.slug}/manage/{token}/calendar.ics"


def _optional_therapist(raw: str | None) -> uuid.UUID | None:
    if raw is None or raw in {"", "any"}:
        return None
    return parse_uuid_field(raw, "therapist_id")


class PublicBookingController(Controller):
    """What a client's phone talks to: free slots, booking, and the manage link."""

    path = "/api/v1/practices/{slug:str}"
    tags = ["public"]
    dependencies = {"practice": Provide(provide_public_practice)}

    @get(
        "/availability",
        operation_id="getAvailability",
        summary="Free slots for a service",
        responses=PUBLIC_READ_PROBLEMS,
    )
    async def availability(
        self,
        db_session: DbSession,
        practice: PathPractice,
        service_id: FromQuery[str],
        date_from: FromQuery[dt.date],
        date_to: FromQuery[dt.date],
        therapist_id: FromQuery[str | None] = None,
    ) -> Availability:
        slots = await services.availability(
            db_session,
            practice,
            service_id=parse_uuid_field(service_id, "service_id"),
            date_from=date_from,
            date_to=date_to,
            therapist_id=_optional_therapist(therapist_id),
        )
        return Availability(slots=[SlotOut(s.start, s.end, str(s.therapist_id)) for s in slots])

    @post(
        "/bookings",
        operation_id="createBooking",
        summary="Book a visit (409 when the slot is gone)",
        responses=PUBLIC_WRITE_PROBLEMS,
    )
    async def book(
        self,
        db_session: DbSession,
        practice: PathPractice,
        settings: AppSettings,
        data: JSONBody[BookingCreate],
        idempotency: Idempotency,
    ) -> BookingCreated:
        booked = await services.book_online(
            db_session,
            practice,
            service_id=parse_uuid_field(data.service_id, "service_id"),
            therapist_id=_optional_therapist(data.therapist_id),
            start=data.start,
            client=ClientDetails(
                first_name=data.client.first_name,
                last_name=data.client.last_name,
                email=data.client.email,
                phone=data.client.phone,
            ),
            base_url=settings.base_url,
        )
        return BookingCreated(
            appointment=appointment_out(booked.appointment, ZoneInfo(practice.timezone)),
            manage_url=manage_url(settings.base_url, practice, booked.manage_token),
            calendar_url=calendar_url(settings.base_url, practice, booked.manage_token),
            checkout_url=booked.checkout_url,
        )

    @get("/manage/{token:str}", operation_id="getManagedAppointment", responses=PUBLIC_READ_PROBLEMS)
    async def managed(
        self, db_session: DbSession, practice: PathPractice, settings: AppSettings, token: FromPath[str]
    ) -> ManagedAppointment:
        appointment = await services.get_by_manage_token(db_session, token)
        return await _managed_view(db_session, practice, appointment, settings.base_url, token)

    @post(
        "/manage/{token:str}/reschedule",
        operation_id="rescheduleManagedAppointment",
        status_code=200,
        responses=PUBLIC_WRITE_PROBLEMS,
    )
    async def reschedule(
        self,
        db_session: DbSession,
        practice: PathPractice,
        settings: AppSettings,
        token: FromPath[str],
        data: JSONBody[Reschedule],
    ) -> ManagedAppointment:
        appointment = await services.get_by_manage_token(db_session, token)
        await services.reschedule(
            db_session, practice, appointment, start=data.start, actor=services.CLIENT, base_url=settings.base_url
        )
        return await _managed_view(db_session, practice, appointment, settings.base_url, token)

    @post(
        "/manage/{token:str}/cancel",
        operation_id="cancelManagedAppointment",
        status_code=200,
        responses=PUBLIC_WRITE_PROBLEMS,
    )
    async def cancel(
        self,
        db_session: DbSession,
        practice: PathPractice,
        settings: AppSettings,
        token: FromPath[str],
        data: JSONBody[CancelIn],
    ) -> ManagedAppointment:
        appointment = await services.get_by_manage_token(db_session, token)
        await services.cancel(
            db_session, practice, appointment, reason=data.reason, actor=services.CLIENT, base_url=settings.base_url
        )
        return await _managed_view(db_session, practice, appointment, settings.base_url, token)

    @get(
        "/manage/{token:str}/calendar.ics",
        operation_id="getManagedAppointmentCalendar",
        media_type="text/calendar; charset=utf-8",
        responses=PUBLIC_READ_PROBLEMS,
    )
    async def calendar(self, db_session: DbSession, practice: PathPractice, token: FromPath[str]) -> Response[bytes]:
        appointment = await services.get_by_manage_token(db_session, token)
        body = single_event_calendar(await appointment_event_view(db_session, practice, appointment))
        return Response(
            body,
            media_type="text/calendar; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="appointment.ics"', "Cache-Control": "no-store"},
        )


async def _managed_view(
    db_session: DbSession, practice: Practice, appointment: Appointment, base: str, token: str
) -> ManagedAppointment:
    service = await db_session.get_one(Service, appointment.service_id)
    therapist = await db_session.get_one(Therapist, appointment.therapist_id)
    zone = ZoneInfo(practice.timezone)
    deadline = appointment.start_at - dt.timedelta(hours=practice.cancellation_window_hours)
    can_change = appointment.status.value in {"booked", "pending_payment"} and not services.in_cancellation_window(
        practice, appointment, services.utcnow()
    )
    return ManagedAppointment(
        appointment=appointment_out(appointment, zone),
        service_name=service.name,
        therapist_name=therapist.display_name,
        practice_name=practice.name,
        practice_phone=practice.phone,
        can_change=can_change,
        change_deadline=deadline.astimezone(zone),
        calendar_url=calendar_url(base, practice, token),
    )


class AppointmentController(Controller):
    """The staff schedule API. Therapists see and act on their own appointments only."""

    path = "/api/v1/appointments"
    tags = ["appointments"]
    dependencies = {"staff": Provide(api_staff()), "practice": Provide(provide_staff_practice)}
    security = STAFF_SECURITY

    @get("/", operation_id="listAppointments", responses=STAFF_READ_PROBLEMS)
    async def list_appointments(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        date_from: FromQuery[dt.date],
        date_to: FromQuery[dt.date],
        therapist_id: FromQuery[str | None] = None,
        client_id: FromQuery[str | None] = None,
    ) -> AppointmentList:
        items = await services.list_for_staff(
            db_session,
            practice,
            staff,
            date_from=date_from,
            date_to=date_to,
            therapist_id=parse_uuid_field(therapist_id, "therapist_id") if therapist_id else None,
            client_id=parse_uuid_field(client_id, "client_id") if client_id else None,
        )
        zone = ZoneInfo(practice.timezone)
        return AppointmentList(items=[appointment_out(a, zone) for a in items])

    @post("/", operation_id="createAppointment", summary="Book (or back-enter) a visit", responses=STAFF_WRITE_PROBLEMS)
    async def create(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        data: JSONBody[AppointmentCreate],
        idempotency: Idempotency,
    ) -> AppointmentOut:
        booked = await services.book_by_staff(
            db_session,
            practice,
            client_id=parse_uuid_field(data.client_id, "client_id"),
            service_id=parse_uuid_field(data.service_id, "service_id"),
            therapist_id=parse_uuid_field(data.therapist_id, "therapist_id"),
            start=data.start,
            room_id=parse_uuid_field(data.room_id, "room_id") if data.room_id else None,
            actor=services.Actor.for_staff(staff),
        )
        return appointment_out(booked.appointment, ZoneInfo(practice.timezone))

    @get("/{appointment_id:str}", operation_id="getAppointment", responses=STAFF_READ_PROBLEMS)
    async def get_one(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, appointment_id: FromPath[str]
    ) -> AppointmentOut:
        appointment = await services.get_for_staff(db_session, staff, parse_uuid(appointment_id, "appointment_id"))
        return appointment_out(appointment, ZoneInfo(practice.timezone))

    @get(
        "/{appointment_id:str}/events",
        operation_id="listAppointmentEvents",
        summary="Audit trail",
        responses=STAFF_READ_PROBLEMS,
    )
    async def events(
        self, db_session: DbSession, staff: CurrentStaff, appointment_id: FromPath[str]
    ) -> AppointmentEventList:
        appointment = await services.get_for_staff(db_session, staff, parse_uuid(appointment_id, "appointment_id"))
        return AppointmentEventList(
            items=[
                AppointmentEventOut(
                    at=e.created_at,
                    actor=e.actor,
                    actor_user_id=str(e.actor_user_id) if e.actor_user_id else None,
                    action=e.action,
                    detail=e.detail,
                )
                for e in await services.events_for(db_session, appointment)
            ]
        )

    async def _act(
        self, db_session: DbSession, staff: CurrentStaff, practice: Practice, appointment_id: str, action: str
    ) -> AppointmentOut:
        appointment = await services.get_for_staff(db_session, staff, parse_uuid(appointment_id, "appointment_id"))
        await services.transition(db_session, appointment, action, services.Actor.for_staff(staff))
        return appointment_out(appointment, ZoneInfo(practice.timezone))

    @post("/{appointment_id:str}/arrive", operation_id="markArrived", status_code=200, responses=STAFF_WRITE_PROBLEMS)
    async def arrive(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, appointment_id: FromPath[str]
    ) -> AppointmentOut:
        return await self._act(db_session, staff, practice, appointment_id, "arrive")

    @post(
        "/{appointment_id:str}/complete", operation_id="markCompleted", status_code=200, responses=STAFF_WRITE_PROBLEMS
    )
    async def complete(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, appointment_id: FromPath[str]
    ) -> AppointmentOut:
        return await self._act(db_session, staff, practice, appointment_id, "complete")

    @post("/{appointment_id:str}/no-show", operation_id="markNoShow", status_code=200, responses=STAFF_WRITE_PROBLEMS)
    async def no_show(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, appointment_id: FromPath[str]
    ) -> AppointmentOut:
        return await self._act(db_session, staff, practice, appointment_id, "no_show")

    @post(
        "/{appointment_id:str}/cancel",
        operation_id="cancelAppointment",
        status_code=200,
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def cancel(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        settings: AppSettings,
        appointment_id: FromPath[str],
        data: JSONBody[CancelIn],
    ) -> AppointmentOut:
        appointment = await services.get_for_staff(db_session, staff, parse_uuid(appointment_id, "appointment_id"))
        await services.cancel(
            db_session,
            practice,
            appointment,
            reason=data.reason,
            actor=services.Actor.for_staff(staff),
            base_url=settings.base_url,
        )
        return appointment_out(appointment, ZoneInfo(practice.timezone))

    @post(
        "/{appointment_id:str}/reschedule",
        operation_id="rescheduleAppointment",
        status_code=200,
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def reschedule(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        settings: AppSettings,
        appointment_id: FromPath[str],
        data: JSONBody[Reschedule],
    ) -> AppointmentOut:
        appointment = await services.get_for_staff(db_session, staff, parse_uuid(appointment_id, "appointment_id"))
        await services.reschedule(
            db_session,
            practice,
            appointment,
            start=data.start,
            therapist_id=parse_uuid_field(data.therapist_id, "therapist_id") if data.therapist_id else None,
            actor=services.Actor.for_staff(staff),
            base_url=settings.base_url,
        )
        return appointment_out(appointment, ZoneInfo(practice.timezone))
