"""HTTP for practice set-up: therapists (with hours, time off, extra hours), rooms, services and the booking policy.

Every staff member reads; only owners write (the handler-level `staff` dependency overrides the
controller's). Handlers parse, call `scheduler.practice.setup`, and shape the answer.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, patch, post, put
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from scheduler.auth import api_staff
from scheduler.deps import CurrentStaff, DbSession
from scheduler.openapi import STAFF_READ_PROBLEMS, STAFF_SECURITY, STAFF_WRITE_PROBLEMS
from scheduler.practice import rules, services, setup
from scheduler.practice.controllers import room_out, service_detail, therapist_detail
from scheduler.practice.models import ExtraHours, Practice, Role, TimeOff
from scheduler.practice.schemas import (
    AppointmentInTheWay,
    ExtraHoursCreate,
    ExtraHoursList,
    ExtraHoursOut,
    PolicyOut,
    PolicyUpdate,
    RoomCreate,
    RoomList,
    RoomOut,
    RoomUpdate,
    ServiceCreate,
    ServiceDetail,
    ServiceDetailList,
    ServiceUpdate,
    TherapistCreate,
    TherapistDetail,
    TherapistDetailList,
    TherapistUpdate,
    TimeOffCreate,
    TimeOffCreated,
    TimeOffList,
    TimeOffOut,
    WeeklyHours,
    WeeklyHoursList,
)
from scheduler.validation import parse_uuid


def owner_only() -> dict[str, Any]:
    return {"staff": Provide(api_staff(Role.OWNER))}


def week_out(week: list[rules.WeeklyInterval]) -> WeeklyHoursList:
    return WeeklyHoursList(
        items=[WeeklyHours(weekday=i.weekday, start=rules.hhmm(i.start), end=rules.hhmm(i.end)) for i in week]
    )


def time_off_out(row: TimeOff) -> TimeOffOut:
    return TimeOffOut(
        id=str(row.id), therapist_id=str(row.therapist_id), start=row.start_at, end=row.end_at, reason=row.reason
    )


def time_off_created(row: TimeOff, kept: list[dict[str, Any]]) -> TimeOffCreated:
    return TimeOffCreated(
        **msgspec.structs.asdict(time_off_out(row)),
        appointments_in_the_way=msgspec.convert(kept, list[AppointmentInTheWay]),
    )


# The opt-in of a deactivation (DELETE, or PATCH with is_active false) over live visits still to come.
KeepAppointments = Annotated[
    bool,
    QueryParameter(
        description="Deactivate even though live visits are still to come (they stay booked); without it, "
        "such a deactivation is refused with 409 `appointments_in_the_way` listing them."
    ),
]


def extra_hours_out(row: ExtraHours) -> ExtraHoursOut:
    return ExtraHoursOut(
        id=str(row.id),
        therapist_id=str(row.therapist_id),
        day=row.day,
        start=rules.hhmm(row.start_time),
        end=rules.hhmm(row.end_time),
    )


def policy_out(practice: Practice) -> PolicyOut:
    return PolicyOut(
        min_notice_minutes=practice.min_notice_minutes,
        horizon_days=practice.horizon_days,
        slot_granularity_minutes=practice.slot_granularity_minutes,
        cancellation_window_hours=practice.cancellation_window_hours,
    )


class TherapistController(Controller):
    """Therapists, the services they perform, their regular week, time off and one-off extra hours."""

    path = "/api/v1/therapists"
    tags = ["practice set-up"]
    dependencies = {"staff": Provide(api_staff())}
    security = STAFF_SECURITY

    @get(
        "/",
        operation_id="listTherapists",
        summary="Active therapists (add ?include_inactive=true for all)",
        responses=STAFF_READ_PROBLEMS,
    )
    async def list_therapists(
        self, db_session: DbSession, staff: CurrentStaff, include_inactive: FromQuery[bool] = False
    ) -> TherapistDetailList:
        rows = await services.list_therapists(db_session, include_inactive=include_inactive)
        return TherapistDetailList(items=[therapist_detail(t, ids) for t, ids in rows])

    @get("/{therapist_id:str}", operation_id="getTherapist", responses=STAFF_READ_PROBLEMS)
    async def get_therapist(
        self, db_session: DbSession, staff: CurrentStaff, therapist_id: FromPath[str]
    ) -> TherapistDetail:
        therapist, ids = await services.get_therapist(db_session, parse_uuid(therapist_id, "therapist_id"))
        return therapist_detail(therapist, ids)

    @post("/", operation_id="createTherapist", dependencies=owner_only(), responses=STAFF_WRITE_PROBLEMS)
    async def create_therapist(
        self, db_session: DbSession, staff: CurrentStaff, data: JSONBody[TherapistCreate]
    ) -> TherapistDetail:
        therapist, ids = await setup.create_therapist(db_session, data)
        return therapist_detail(therapist, ids)

    @patch(
        "/{therapist_id:str}", operation_id="updateTherapist", dependencies=owner_only(), responses=STAFF_WRITE_PROBLEMS
    )
    async def update_therapist(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        therapist_id: FromPath[str],
        data: JSONBody[TherapistUpdate],
        keep_appointments: KeepAppointments = False,
    ) -> TherapistDetail:
        therapist, ids = await setup.update_therapist(
            db_session, parse_uuid(therapist_id, "therapist_id"), data, keep_appointments=keep_appointments
        )
        return therapist_detail(therapist, ids)

    @delete(
        "/{therapist_id:str}",
        operation_id="deactivateTherapist",
        summary="Deactivate (past visits keep pointing at the therapist)",
        description="409 `appointments_in_the_way` lists the therapist's live visits still to come; "
        "`?keep_appointments=true` deactivates anyway and leaves them booked.",
        dependencies=owner_only(),
        status_code=204,
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def deactivate_therapist(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        therapist_id: FromPath[str],
        keep_appointments: KeepAppointments = False,
    ) -> None:
        await setup.deactivate_therapist(
            db_session, parse_uuid(therapist_id, "therapist_id"), keep_appointments=keep_appointments
        )

    @get(
        "/{therapist_id:str}/hours",
        operation_id="getWeeklyHours",
        summary="Regular weekly hours (local time)",
        responses=STAFF_READ_PROBLEMS,
    )
    async def get_hours(
        self, db_session: DbSession, staff: CurrentStaff, therapist_id: FromPath[str]
    ) -> WeeklyHoursList:
        return week_out(await setup.get_weekly_hours(db_session, parse_uuid(therapist_id, "therapist_id")))

    @put(
        "/{therapist_id:str}/hours",
        operation_id="replaceWeeklyHours",
        summary="Replace the whole regular week",
        dependencies=owner_only(),
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def replace_hours(
        self, db_session: DbSession, staff: CurrentStaff, therapist_id: FromPath[str], data: JSONBody[WeeklyHoursList]
    ) -> WeeklyHoursList:
        week = await setup.replace_weekly_hours(db_session, parse_uuid(therapist_id, "therapist_id"), data.items)
        return week_out(week)

    @get("/{therapist_id:str}/time-off", operation_id="listTimeOff", responses=STAFF_READ_PROBLEMS)
    async def list_time_off(
        self, db_session: DbSession, staff: CurrentStaff, therapist_id: FromPath[str]
    ) -> TimeOffList:
        rows = await setup.list_time_off(db_session, parse_uuid(therapist_id, "therapist_id"))
        return TimeOffList(items=[time_off_out(r) for r in rows])

    @post(
        "/{therapist_id:str}/time-off",
        operation_id="addTimeOff",
        description="409 `appointments_in_the_way` (field `start`) lists the live visits still to come inside "
        "the span; `keep_appointments: true` saves anyway and the answer lists them.",
        dependencies=owner_only(),
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def add_time_off(
        self, db_session: DbSession, staff: CurrentStaff, therapist_id: FromPath[str], data: JSONBody[TimeOffCreate]
    ) -> TimeOffCreated:
        row, kept = await setup.add_time_off(db_session, parse_uuid(therapist_id, "therapist_id"), data)
        return time_off_created(row, kept)

    @delete(
        "/{therapist_id:str}/time-off/{time_off_id:str}",
        operation_id="removeTimeOff",
        dependencies=owner_only(),
        status_code=204,
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def remove_time_off(
        self, db_session: DbSession, staff: CurrentStaff, therapist_id: FromPath[str], time_off_id: FromPath[str]
    ) -> None:
        await setup.remove_time_off(
            db_session, parse_uuid(therapist_id, "therapist_id"), parse_uuid(time_off_id, "time_off_id")
        )

    @get("/{therapist_id:str}/extra-hours", operation_id="listExtraHours", responses=STAFF_READ_PROBLEMS)
    async def list_extra_hours(
        self, db_session: DbSession, staff: CurrentStaff, therapist_id: FromPath[str]
    ) -> ExtraHoursList:
        rows = await setup.list_extra_hours(db_session, parse_uuid(therapist_id, "therapist_id"))
        return ExtraHoursList(items=[extra_hours_out(r) for r in rows])

    @post(
        "/{therapist_id:str}/extra-hours",
        operation_id="addExtraHours",
        dependencies=owner_only(),
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def add_extra_hours(
        self, db_session: DbSession, staff: CurrentStaff, therapist_id: FromPath[str], data: JSONBody[ExtraHoursCreate]
    ) -> ExtraHoursOut:
        return extra_hours_out(await setup.add_extra_hours(db_session, parse_uuid(therapist_id, "therapist_id"), data))

    @delete(
        "/{therapist_id:str}/extra-hours/{extra_id:str}",
        operation_id="removeExtraHours",
        dependencies=owner_only(),
        status_code=204,
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def remove_extra_hours(
        self, db_session: DbSession, staff: CurrentStaff, therapist_id: FromPath[str], extra_id: FromPath[str]
    ) -> None:
        await setup.remove_extra_hours(
            db_session, parse_uuid(therapist_id, "therapist_id"), parse_uuid(extra_id, "extra_id")
        )


class RoomController(Controller):
    """Treatment rooms."""

    path = "/api/v1/rooms"
    tags = ["practice set-up"]
    dependencies = {"staff": Provide(api_staff())}
    security = STAFF_SECURITY

    @get(
        "/",
        operation_id="listRooms",
        summary="Active rooms (add ?include_inactive=true for all)",
        responses=STAFF_READ_PROBLEMS,
    )
    async def list_rooms(
        self, db_session: DbSession, staff: CurrentStaff, include_inactive: FromQuery[bool] = False
    ) -> RoomList:
        return RoomList(
            items=[room_out(r) for r in await services.list_rooms(db_session, include_inactive=include_inactive)]
        )

    @get("/{room_id:str}", operation_id="getRoom", responses=STAFF_READ_PROBLEMS)
    async def get_room(self, db_session: DbSession, staff: CurrentStaff, room_id: FromPath[str]) -> RoomOut:
        return room_out(await services.get_room(db_session, parse_uuid(room_id, "room_id")))

    @post("/", operation_id="createRoom", dependencies=owner_only(), responses=STAFF_WRITE_PROBLEMS)
    async def create_room(self, db_session: DbSession, staff: CurrentStaff, data: JSONBody[RoomCreate]) -> RoomOut:
        return room_out(await setup.create_room(db_session, data))

    @patch("/{room_id:str}", operation_id="updateRoom", dependencies=owner_only(), responses=STAFF_WRITE_PROBLEMS)
    async def update_room(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        room_id: FromPath[str],
        data: JSONBody[RoomUpdate],
        keep_appointments: KeepAppointments = False,
    ) -> RoomOut:
        room = await setup.update_room(
            db_session, parse_uuid(room_id, "room_id"), data, keep_appointments=keep_appointments
        )
        return room_out(room)

    @delete(
        "/{room_id:str}",
        operation_id="deactivateRoom",
        description="409 `appointments_in_the_way` lists the live visits still to come in the room; "
        "`?keep_appointments=true` deactivates anyway and leaves them booked.",
        dependencies=owner_only(),
        status_code=204,
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def deactivate_room(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        room_id: FromPath[str],
        keep_appointments: KeepAppointments = False,
    ) -> None:
        await setup.deactivate_room(db_session, parse_uuid(room_id, "room_id"), keep_appointments=keep_appointments)


class ServiceController(Controller):
    """Services: duration, price, CPT code, FSA eligibility, buffers, rooms that can host them."""

    path = "/api/v1/services"
    tags = ["practice set-up"]
    dependencies = {"staff": Provide(api_staff())}
    security = STAFF_SECURITY

    @get(
        "/",
        operation_id="listServices",
        summary="Active services (add ?include_inactive=true for all)",
        responses=STAFF_READ_PROBLEMS,
    )
    async def list_services(
        self, db_session: DbSession, staff: CurrentStaff, include_inactive: FromQuery[bool] = False
    ) -> ServiceDetailList:
        practice = await db_session.get_one(Practice, staff.practice_id)
        rows = await setup.list_services(db_session, include_inactive=include_inactive)
        return ServiceDetailList(items=[service_detail(s, rooms, practice.currency) for s, rooms in rows])

    @get("/{service_id:str}", operation_id="getService", responses=STAFF_READ_PROBLEMS)
    async def get_service(self, db_session: DbSession, staff: CurrentStaff, service_id: FromPath[str]) -> ServiceDetail:
        practice = await db_session.get_one(Practice, staff.practice_id)
        service, rooms = await setup.get_service(db_session, parse_uuid(service_id, "service_id"))
        return service_detail(service, rooms, practice.currency)

    @post("/", operation_id="createService", dependencies=owner_only(), responses=STAFF_WRITE_PROBLEMS)
    async def create_service(
        self, db_session: DbSession, staff: CurrentStaff, data: JSONBody[ServiceCreate]
    ) -> ServiceDetail:
        practice = await db_session.get_one(Practice, staff.practice_id)
        service, rooms = await setup.create_service(db_session, data)
        return service_detail(service, rooms, practice.currency)

    @patch("/{service_id:str}", operation_id="updateService", dependencies=owner_only(), responses=STAFF_WRITE_PROBLEMS)
    async def update_service(
        self, db_session: DbSession, staff: CurrentStaff, service_id: FromPath[str], data: JSONBody[ServiceUpdate]
    ) -> ServiceDetail:
        practice = await db_session.get_one(Practice, staff.practice_id)
        service, rooms = await setup.update_service(db_session, parse_uuid(service_id, "service_id"), data)
        return service_detail(service, rooms, practice.currency)

    @delete(
        "/{service_id:str}",
        operation_id="deactivateService",
        summary="Deactivate: no new bookings; visits already booked stay as they are",
        dependencies=owner_only(),
        status_code=204,
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def deactivate_service(self, db_session: DbSession, staff: CurrentStaff, service_id: FromPath[str]) -> None:
        await setup.deactivate_service(db_session, parse_uuid(service_id, "service_id"))


class PolicyController(Controller):
    """Booking policy: minimum notice, horizon, slot grid and the window for self-service cancel/reschedule."""

    path = "/api/v1/practice/policy"
    tags = ["practice set-up"]
    dependencies = {"staff": Provide(api_staff())}
    security = STAFF_SECURITY

    @get("/", operation_id="getBookingPolicy", responses=STAFF_READ_PROBLEMS)
    async def get_policy(self, db_session: DbSession, staff: CurrentStaff) -> PolicyOut:
        return policy_out(await db_session.get_one(Practice, staff.practice_id))

    @patch("/", operation_id="updateBookingPolicy", dependencies=owner_only(), responses=STAFF_WRITE_PROBLEMS)
    async def update_policy(
        self, db_session: DbSession, staff: CurrentStaff, data: JSONBody[PolicyUpdate]
    ) -> PolicyOut:
        return policy_out(await setup.update_policy(db_session, staff.practice_id, data))
