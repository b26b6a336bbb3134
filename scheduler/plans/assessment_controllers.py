"""HTTP for assessments and the progress report of a treatment plan (therapists and owners only)."""

from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath, JSONBody

from scheduler.auth import api_staff
from scheduler.booking.services import Actor
from scheduler.deps import CurrentStaff, DbSession
from scheduler.openapi import STAFF_READ_PROBLEMS, STAFF_SECURITY, STAFF_WRITE_PROBLEMS
from scheduler.plans import assessments
from scheduler.plans.assessment_models import Assessment
from scheduler.plans.assessment_schemas import (
    AssessmentIn,
    AssessmentList,
    AssessmentOut,
    FunctionalLimitOut,
    PainOut,
    RangeOfMotionOut,
)
from scheduler.plans.measures import FunctionalLimit, Measures, Pain, RangeOfMotion
from scheduler.plans.report import progress_report_pdf
from scheduler.plans.services import get_plan
from scheduler.practice.models import Practice, Role
from scheduler.validation import parse_uuid, parse_uuid_field

CLINICAL_ROLES = (Role.THERAPIST, Role.OWNER)


def assessment_out(found: Assessment) -> AssessmentOut:
    measures = assessments.measures_of(found)
    return AssessmentOut(
        id=str(found.id),
        plan_id=str(found.plan_id),
        appointment_id=str(found.appointment_id) if found.appointment_id else None,
        baseline=found.is_baseline,
        assessed_on=found.assessed_on,
        pain=[PainOut(area=p.area, intensity=p.intensity) for p in measures.pain],
        range_of_motion=[
            RangeOfMotionOut(joint=r.joint, movement=r.movement, degrees=r.degrees) for r in measures.range_of_motion
        ],
        functional_limits=[
            FunctionalLimitOut(activity=f.activity, score=f.score, note=f.note) for f in measures.functional_limits
        ],
        notes=found.notes,
    )


def measures_in(data: AssessmentIn) -> Measures:
    return Measures(
        pain=tuple(Pain(p.area, p.intensity) for p in data.pain),
        range_of_motion=tuple(RangeOfMotion(r.joint, r.movement, r.degrees) for r in data.range_of_motion),
        functional_limits=tuple(FunctionalLimit(f.activity, f.score, f.note) for f in data.functional_limits),
    )


class AssessmentController(Controller):
    path = "/api/v1/treatment-plans/{plan_id:str}"
    tags = ["treatment plans"]
    dependencies = {"staff": Provide(api_staff(*CLINICAL_ROLES))}
    security = STAFF_SECURITY

    @post(
        "/assessments",
        operation_id="recordAssessment",
        summary="Record a baseline or periodic assessment (pain, range of motion, functional limits)",
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def record(
        self, db_session: DbSession, staff: CurrentStaff, plan_id: FromPath[str], data: JSONBody[AssessmentIn]
    ) -> AssessmentOut:
        plan = await get_plan(db_session, parse_uuid(plan_id, "plan_id"), Actor.for_staff(staff))
        practice = await db_session.get_one(Practice, staff.practice_id)
        recorded = await assessments.record_assessment(
            db_session,
            practice,
            plan,
            measures_in(data),
            recorded_by=staff,
            assessed_on=data.assessed_on,
            appointment_id=parse_uuid_field(data.appointment_id, "appointment_id") if data.appointment_id else None,
            baseline=data.baseline,
            notes=data.notes,
        )
        return assessment_out(recorded)

    @get(
        "/assessments",
        operation_id="listAssessments",
        summary="A plan's assessments, oldest first",
        responses=STAFF_READ_PROBLEMS,
    )
    async def list_all(self, db_session: DbSession, staff: CurrentStaff, plan_id: FromPath[str]) -> AssessmentList:
        plan = await get_plan(db_session, parse_uuid(plan_id, "plan_id"), Actor.for_staff(staff))
        return AssessmentList(items=[assessment_out(a) for a in await assessments.list_assessments(db_session, plan)])

    @get(
        "/progress-report.pdf",
        operation_id="getProgressReport",
        summary="The plan's progress report as PDF: plan, measures over time with the chart, attendance",
        media_type="application/pdf",
        responses=STAFF_READ_PROBLEMS,
    )
    async def report(self, db_session: DbSession, staff: CurrentStaff, plan_id: FromPath[str]) -> Response[bytes]:
        plan = await get_plan(db_session, parse_uuid(plan_id, "plan_id"), Actor.for_staff(staff))
        practice = await db_session.get_one(Practice, staff.practice_id)
        pdf = await progress_report_pdf(db_session, practice, plan)
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": 'attachment; filename="progress-report.pdf"',
                "Cache-Control": "no-store",
            },
        )
