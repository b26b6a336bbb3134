"""HTTP for recurring series: preview and commit from a treatment plan; move, split and cancel."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.auth import api_staff
from scheduler.booking import series as series_service
from scheduler.booking import series_edits, services
from scheduler.booking.controllers import appointment_out
from scheduler.booking.models import AppointmentSeries
from scheduler.booking.recurrence import parse_frequency
from scheduler.booking.schemas import AppointmentOut, CancelIn
from scheduler.booking.series import Proposal
from scheduler.booking.series_schemas import (
    AlternativeOut,
    ConflictOut,
    OccurrenceMove,
    OccurrenceOut,
    SeriesCancel,
    SeriesCommit,
    SeriesCommitted,
    SeriesEditedOut,
    SeriesOut,
    SeriesPreview,
    SeriesReschedule,
)
from scheduler.deps import AppSettings, CurrentStaff, DbSession, PathPractice
from scheduler.openapi import STAFF_READ_PROBLEMS, STAFF_SECURITY, STAFF_WRITE_PROBLEMS
from scheduler.plans.controllers import CLINICAL_ROLES
from scheduler.plans.services import get_plan, parse_local
from scheduler.practice.deps import provide_staff_practice
from scheduler.practice.models import Practice
from scheduler.validation import parse_uuid, parse_uuid_field


def occurrence_out(p: Proposal, zone: ZoneInfo) -> OccurrenceOut:
    conflict = None
    if p.conflict is not None:
        alt = p.conflict.alternative
        conflict = ConflictOut(
            reason=p.conflict.reason,
            detail=p.conflict.detail,
            alternative=None
            if alt is None
            else AlternativeOut(
                start=alt.start.astimezone(zone),
                end=alt.end.astimezone(zone),
                room_id=str(alt.room_id) if alt.room_id else None,
            ),
        )
    return OccurrenceOut(
        index=p.index,
        start=p.start.astimezone(zone),
        end=p.end.astimezone(zone),
        room_id=str(p.room_id) if p.room_id else None,
        kind=p.kind,
        service_id=str(p.service_id),
        recurrence_id=p.local.isoformat(timespec="minutes"),
        conflict=conflict,
    )


async def series_out(session: AsyncSession, series: AppointmentSeries, practice: Practice) -> SeriesOut:
    await session.refresh(series)
    zone = ZoneInfo(practice.timezone)
    return SeriesOut(
        id=str(series.id),
        plan_id=str(series.plan_id) if series.plan_id else None,
        client_id=str(series.client_id),
        therapist_id=str(series.therapist_id),
        service_id=str(series.service_id),
        room_id=str(series.room_id) if series.room_id else None,
        timezone=series.timezone,
        dtstart_local=series.dtstart_local.isoformat(timespec="minutes"),
        duration_minutes=series.duration_minutes,
        rrule=series.rrule,
        sequence=series.sequence,
        status=series.status,
        parent_series_id=str(series.parent_series_id) if series.parent_series_id else None,
        occurrences=[appointment_out(a, zone) for a in await series_edits.occurrences_of(session, series)],
    )


class PlanSeriesController(Controller):
    """Turn a treatment plan into a checked series (owner and therapists)."""

    path = "/api/v1/treatment-plans/{plan_id:str}/series"
    tags = ["series"]
    dependencies = {"staff": Provide(api_staff(*CLINICAL_ROLES)), "practice": Provide(provide_staff_practice)}
    security = STAFF_SECURITY

    @post(
        "/preview",
        operation_id="previewSeries",
        summary="Every occurrence of the plan with its conflict and alternative (nothing saved)",
        status_code=200,
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def preview(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, plan_id: FromPath[str]
    ) -> SeriesPreview:
        actor = services.Actor.for_staff(staff)
        plan = await get_plan(db_session, parse_uuid(plan_id, "plan_id"), actor)
        proposals = await series_service.preview_series(db_session, practice, plan)
        zone = ZoneInfo(practice.timezone)
        return SeriesPreview(occurrences=[occurrence_out(p, zone) for p in proposals])

    @post(
        "/",
        operation_id="commitSeries",
        summary="Book the plan's series in one transaction (409 lists conflicts under `fail`)",
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def commit(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        settings: AppSettings,
        plan_id: FromPath[str],
        data: JSONBody[SeriesCommit],
    ) -> SeriesCommitted:
        actor = services.Actor.for_staff(staff)
        plan = await get_plan(db_session, parse_uuid(plan_id, "plan_id"), actor)
        booked = await series_service.book_series(
            db_session,
            practice,
            plan,
            policy=data.conflict_policy,
            decisions={d.index: d.action for d in data.decisions},
            actor=actor,
            base_url=settings.base_url,
        )
        zone = ZoneInfo(practice.timezone)
        return SeriesCommitted(
            series=await series_out(db_session, booked.series, practice),
            skipped=[occurrence_out(p, zone) for p in booked.skipped],
            shifted=[occurrence_out(p, zone) for p in booked.shifted],
        )


class SeriesController(Controller):
    """A committed series: read it, move or cancel one occurrence, re-time following or all, cancel the rest."""

    path = "/api/v1/series"
    tags = ["series"]
    dependencies = {"staff": Provide(api_staff()), "practice": Provide(provide_staff_practice)}
    security = STAFF_SECURITY

    @get("/{series_id:str}", operation_id="getSeries", responses=STAFF_READ_PROBLEMS)
    async def get_one(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, series_id: FromPath[str]
    ) -> SeriesOut:
        actor = services.Actor.for_staff(staff)
        series = await series_edits.get_series(db_session, parse_uuid(series_id, "series_id"), actor)
        return await series_out(db_session, series, practice)

    @post(
        "/{series_id:str}/occurrences/{appointment_id:str}/move",
        operation_id="moveSeriesOccurrence",
        summary="Move THIS occurrence only",
        status_code=200,
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def move_one(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        settings: AppSettings,
        series_id: FromPath[str],
        appointment_id: FromPath[str],
        data: JSONBody[OccurrenceMove],
    ) -> AppointmentOut:
        actor = services.Actor.for_staff(staff)
        series = await series_edits.get_series(db_session, parse_uuid(series_id, "series_id"), actor)
        appointment = await series_edits.occurrence(db_session, series, parse_uuid(appointment_id, "appointment_id"))
        await services.reschedule(
            db_session, practice, appointment, start=data.start, actor=actor, base_url=settings.base_url
        )
        return appointment_out(appointment, ZoneInfo(practice.timezone))

    @post(
        "/{series_id:str}/occurrences/{appointment_id:str}/cancel",
        operation_id="cancelSeriesOccurrence",
        summary="Cancel THIS occurrence only",
        status_code=200,
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def cancel_one(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        settings: AppSettings,
        series_id: FromPath[str],
        appointment_id: FromPath[str],
        data: JSONBody[CancelIn],
    ) -> AppointmentOut:
        actor = services.Actor.for_staff(staff)
        series = await series_edits.get_series(db_session, parse_uuid(series_id, "series_id"), actor)
        appointment = await series_edits.occurrence(db_session, series, parse_uuid(appointment_id, "appointment_id"))
        await services.cancel(
            db_session, practice, appointment, reason=data.reason, actor=actor, base_url=settings.base_url
        )
        return appointment_out(appointment, ZoneInfo(practice.timezone))

    @post(
        "/{series_id:str}/reschedule",
        operation_id="rescheduleSeries",
        summary="Re-time THIS AND FOLLOWING (splits the series) or ALL occurrences",
        status_code=200,
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def reschedule(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        settings: AppSettings,
        series_id: FromPath[str],
        data: JSONBody[SeriesReschedule],
    ) -> SeriesEditedOut:
        actor = services.Actor.for_staff(staff)
        series = await series_edits.get_series(db_session, parse_uuid(series_id, "series_id"), actor)
        frequency = None
        if data.frequency is not None:
            raw = {
                "freq": data.frequency.freq,
                "interval": data.frequency.interval,
                "weekdays": data.frequency.weekdays,
            }
            frequency = parse_frequency(raw)
        edited = await series_edits.reschedule_series(
            db_session,
            practice,
            series,
            scope=data.scope,
            first_start=parse_local(data.first_start),
            frequency=frequency,
            from_appointment_id=(
                parse_uuid_field(data.from_appointment_id, "from_appointment_id") if data.from_appointment_id else None
            ),
            actor=actor,
            base_url=settings.base_url,
        )
        return SeriesEditedOut(series=[await series_out(db_session, s, practice) for s in edited.series])

    @post(
        "/{series_id:str}/cancel",
        operation_id="cancelSeries",
        summary="Cancel the remaining occurrences (from now, or from one occurrence on); past ones stay",
        status_code=200,
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def cancel(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        settings: AppSettings,
        series_id: FromPath[str],
        data: JSONBody[SeriesCancel],
    ) -> SeriesOut:
        actor = services.Actor.for_staff(staff)
        series = await series_edits.get_series(db_session, parse_uuid(series_id, "series_id"), actor)
        await series_edits.cancel_series(
            db_session,
            practice,
            series,
            reason=data.reason,
            actor=actor,
            from_appointment_id=(
                parse_uuid_field(data.from_appointment_id, "from_appointment_id") if data.from_appointment_id else None
            ),
            base_url=settings.base_url,
        )
        return await series_out(db_session, series, practice)
