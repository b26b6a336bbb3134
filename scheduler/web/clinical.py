"""Clinical pages for therapists and owners: a client's health intake and plans, a plan with its
assessments and progress chart, and the plan's series preview where each conflict is resolved and the
series committed.

The desk never reaches these pages (403); it may only issue an intake link, which carries no health
detail. Forms post with the CSRF token and run the same services as the API; a refusal shows the form
again with the reason and the error's status, so the request's transaction rolls back.
"""

from __future__ import annotations

import uuid
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.auth import page_staff
from scheduler.booking import series as series_service
from scheduler.booking.models import Appointment, AppointmentSeries
from scheduler.booking.services import Actor
from scheduler.clients import intake
from scheduler.clients import services as client_services
from scheduler.clients.intake_rules import CONDITIONS, IntakeAnswers
from scheduler.deps import AppSettings, CurrentStaff, DbSession, PathPractice
from scheduler.errors import CarebookError, PermissionDenied
from scheduler.format import format_long_day, format_visit_when
from scheduler.plans import assessments
from scheduler.plans import services as plan_services
from scheduler.plans.assessment_models import Assessment
from scheduler.plans.models import TreatmentPlan
from scheduler.plans.report import progress_report_pdf, progress_view
from scheduler.practice import services as practice_services
from scheduler.practice.deps import provide_staff_practice
from scheduler.practice.models import Practice, Role, StaffUser
from scheduler.validation import parse_uuid, parse_uuid_field
from scheduler.web import clinical_forms as forms
from scheduler.web.schedule_views import schedule_url

# Who may open the clinical pages (health intake and plans); other pages link here only for these roles.
CLINICAL_ROLES = (Role.THERAPIST, Role.OWNER)
CLINICAL = page_staff(*CLINICAL_ROLES)
REASONS = {
    "therapist_busy": "Therapist busy",
    "room_busy": "No room free",
    "outside_hours": "Outside working hours",
    "time_off": "Therapist away",
    "outside_lmn_window": "Outside the letter of medical necessity",
    "in_the_past": "In the past",
}


async def _choices(session: AsyncSession, staff: StaffUser) -> dict[str, Any]:
    therapists = [
        {"id": str(t.id), "name": t.display_name}
        for t, _ in await practice_services.list_therapists(session)
        if staff.role is not Role.THERAPIST or t.id == staff.therapist_id
    ]
    services = [{"id": str(s.id), "name": s.name} for s in await practice_services.list_services(session, public=False)]
    return {"therapists": therapists, "services": services}


async def client_health_page(
    session: AsyncSession,
    practice: Practice,
    staff: StaffUser,
    client_id: uuid.UUID,
    *,
    values: dict[str, Any] | None = None,
    error: CarebookError | None = None,
) -> Template:
    client = await client_services.get_client(session, client_id)
    found = await intake.latest_intake(session, client.id)
    answers = IntakeAnswers.from_json(found.answers) if found else None
    codes = intake.flags_of(found, intake.local_today(practice)) if found else []
    plans = await plan_services.list_plans(session, client.id, Actor.for_staff(staff))
    filled_in = format_long_day(found.created_at.astimezone(ZoneInfo(practice.timezone)).date()) if found else ""
    return Template(
        template_name="staff/clinical/client.html",
        context={
            "practice": practice,
            "user": staff,
            "client": client,
            "intake": found,
            "filled_in": filled_in,
            "answers": answers,
            "condition_labels": CONDITIONS,
            "flags": intake.flag_labels(codes),
            "plans": [p.plan for p in plans],
            "values": values or {},
            "techniques": forms.TECHNIQUES,
            "weekdays": forms.WEEKDAY_CODES,
            "error": error,
            **await _choices(session, staff),
        },
        status_code=error.status if error else 200,
    )


async def _staff_plan(session: AsyncSession, staff: StaffUser, plan_id: str) -> TreatmentPlan:
    """The plan named in the path, as this staff member may see it (a therapist: only their own)."""
    return await plan_services.get_plan(session, parse_uuid(plan_id, "plan_id"), Actor.for_staff(staff))


async def _plan_visits(session: AsyncSession, plan: TreatmentPlan) -> list[Appointment]:
    series_ids = select(AppointmentSeries.id).where(AppointmentSeries.plan_id == plan.id).scalar_subquery()
    return list(
        await session.scalars(
            select(Appointment)
            .where(or_(Appointment.plan_id == plan.id, Appointment.series_id.in_(series_ids)))
            .order_by(Appointment.start_at)
        )
    )


def _same_measures_as(last: Assessment) -> dict[str, Any]:
    """The form pre-filled with the names (not the values) of the last assessment's measures."""
    measures = assessments.measures_of(last)
    values: dict[str, Any] = {}
    for i, p in enumerate(measures.pain[: forms.MEASURE_ROWS]):
        values[f"pain_area_{i}"] = p.area
    for i, r in enumerate(measures.range_of_motion[: forms.MEASURE_ROWS]):
        values[f"rom_joint_{i}"], values[f"rom_movement_{i}"] = r.joint, r.movement
    for i, f in enumerate(measures.functional_limits[: forms.MEASURE_ROWS]):
        values[f"fn_activity_{i}"] = f.activity
    return values


async def plan_page(
    session: AsyncSession,
    practice: Practice,
    staff: StaffUser,
    plan: TreatmentPlan,
    *,
    values: dict[str, Any] | None = None,
    error: CarebookError | None = None,
) -> Template:
    zone = ZoneInfo(practice.timezone)
    view = await progress_view(session, practice, plan)
    visits = [
        {
            "id": str(a.id),
            "label": format_visit_when(a.start_at, a.end_at, zone)
            + (" (re-assessment)" if a.kind == "reassessment" else ""),
            "kind": a.kind,
        }
        for a in await _plan_visits(session, plan)
    ]
    has_series = (await plan_services.view(session, plan)).series_ids
    recorded = await assessments.list_assessments(session, plan)
    if values is None and recorded:
        values = _same_measures_as(recorded[-1])
    return Template(
        template_name="staff/clinical/plan.html",
        context={
            "practice": practice,
            "user": staff,
            "view": view,
            "plan": plan,
            "visits": visits,
            "has_series": bool(has_series),
            "rows": forms.MEASURE_ROWS,
            "values": values or {},
            "today": intake.local_today(practice).isoformat(),
            "error": error,
        },
        status_code=error.status if error else 200,
    )


async def series_page(
    session: AsyncSession,
    practice: Practice,
    staff: StaffUser,
    plan: TreatmentPlan,
    *,
    error: CarebookError | None = None,
) -> Template:
    zone = ZoneInfo(practice.timezone)
    proposals = await series_service.preview_series(session, practice, plan)
    rooms = {str(r.id): r.name for r in await practice_services.list_rooms(session, include_inactive=True)}
    rows = []
    for p in proposals:
        conflict = p.conflict
        alternative = conflict.alternative if conflict else None
        rows.append(
            {
                "index": p.index,
                "when": format_visit_when(p.start, p.end, zone),
                "kind": p.kind,
                "room": rooms.get(str(p.room_id), "") if p.room_id else "",
                "conflict": conflict,
                "reason": REASONS.get(conflict.reason, conflict.reason) if conflict else "",
                "alternative": format_visit_when(alternative.start, alternative.end, zone) if alternative else None,
            }
        )
    has_series = (await plan_services.view(session, plan)).series_ids
    client = await client_services.get_client(session, plan.client_id)
    return Template(
        template_name="staff/clinical/series.html",
        context={
            "practice": practice,
            "user": staff,
            "plan": plan,
            "client": client,
            "rows": rows,
            "conflicts": sum(1 for r in rows if r["conflict"]),
            "has_series": bool(has_series),
            "error": error,
        },
        status_code=error.status if error else 200,
    )


class ClinicalPagesController(Controller):
    path = "/staff"
    include_in_schema = False
    dependencies = {"staff": Provide(CLINICAL), "practice": Provide(provide_staff_practice)}

    @get("/clients/{client_id:str}/health", name="staff_client_health")
    async def client_health(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, client_id: FromPath[str]
    ) -> Template:
        return await client_health_page(db_session, practice, staff, parse_uuid(client_id, "client_id"))

    @post("/clients/{client_id:str}/intake-link", dependencies={"staff": Provide(page_staff())}, status_code=200)
    async def intake_link(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        settings: AppSettings,
        request: Request[Any, Any, Any],
        client_id: FromPath[str],
    ) -> Template:
        """Any staff member (the desk too) may send or copy the link: it names no health detail."""
        client = await client_services.get_client(db_session, parse_uuid(client_id, "client_id"))
        form = await request.form()
        issued = await intake.create_intake_link(
            db_session, practice, client, base_url=settings.base_url, send_email=forms.text(form, "send") == "email"
        )
        return Template(
            template_name="staff/clinical/intake_link.html",
            context={"practice": practice, "user": staff, "client": client, "issued": issued},
        )

    @post("/clients/{client_id:str}/plans", status_code=303)
    async def create_plan(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        client_id: FromPath[str],
    ) -> Template | Redirect:
        client = await client_services.get_client(db_session, parse_uuid(client_id, "client_id"))
        form = await request.form()
        try:
            created = await plan_services.create_plan(
                db_session, practice, forms.plan_details(form, client.id), Actor.for_staff(staff)
            )
        except CarebookError as exc:
            if isinstance(exc, PermissionDenied):
                raise
            return await client_health_page(
                db_session, practice, staff, client.id, values=forms.form_values(form), error=exc
            )
        return Redirect(path=f"/staff/plans/{created.plan.id}", status_code=303)

    @get("/plans/{plan_id:str}", name="staff_plan")
    async def plan(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, plan_id: FromPath[str]
    ) -> Template:
        found = await _staff_plan(db_session, staff, plan_id)
        return await plan_page(db_session, practice, staff, found)

    @post("/plans/{plan_id:str}/assessments", status_code=303)
    async def record_assessment(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        plan_id: FromPath[str],
    ) -> Template | Redirect:
        found = await _staff_plan(db_session, staff, plan_id)
        form = await request.form()
        try:
            visit = forms.text(form, "appointment_id")
            await assessments.record_assessment(
                db_session,
                practice,
                found,
                forms.assessment_measures(form),
                recorded_by=staff,
                assessed_on=forms.assessment_date(form),
                appointment_id=parse_uuid_field(visit, "appointment_id") if visit else None,
                baseline=True if forms.text(form, "baseline") == "on" else None,
                notes=forms.text(form, "notes"),
            )
        except CarebookError as exc:
            return await plan_page(db_session, practice, staff, found, values=forms.form_values(form), error=exc)
        return Redirect(path=f"/staff/plans/{found.id}#progress", status_code=303)

    @get("/plans/{plan_id:str}/progress-report.pdf", media_type="application/pdf")
    async def report(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, plan_id: FromPath[str]
    ) -> Response[bytes]:
        found = await _staff_plan(db_session, staff, plan_id)
        return Response(
            await progress_report_pdf(db_session, practice, found),
            media_type="application/pdf",
            headers={"Content-Disposition": 'attachment; filename="progress-report.pdf"', "Cache-Control": "no-store"},
        )

    @get("/plans/{plan_id:str}/series", name="staff_plan_series")
    async def series_preview(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, plan_id: FromPath[str]
    ) -> Template:
        found = await _staff_plan(db_session, staff, plan_id)
        return await series_page(db_session, practice, staff, found)

    @post("/plans/{plan_id:str}/series", status_code=303)
    async def series_commit(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        settings: AppSettings,
        plan_id: FromPath[str],
    ) -> Template | Redirect:
        actor = Actor.for_staff(staff)
        found = await _staff_plan(db_session, staff, plan_id)
        form = await request.form()
        try:
            proposals = await series_service.preview_series(db_session, practice, found)
            decisions = forms.series_decisions(form, [p.index for p in proposals if p.conflict is not None])
            booked = await series_service.book_series(
                db_session,
                practice,
                found,
                policy="decide",
                decisions=decisions,  # type: ignore[arg-type]
                actor=actor,
                base_url=settings.base_url,
            )
        except CarebookError as exc:
            if isinstance(exc, PermissionDenied):
                raise
            return await series_page(db_session, practice, staff, found, error=exc)
        first = booked.appointments[0]
        day = first.start_at.astimezone(ZoneInfo(practice.timezone)).date()
        return Redirect(path=schedule_url(day, highlight=str(first.id)), status_code=303)
