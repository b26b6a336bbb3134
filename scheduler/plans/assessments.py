"""Use cases for a plan's baseline and periodic assessments, and the progress they add up to.

The first assessment of a plan is its baseline unless the request says otherwise; a later one flagged as
baseline re-baselines the plan. An assessment recorded at a visit names that appointment, which must be
the plan's client's and not another plan's; a re-assessment visit booked by the series is linked to the
plan already (Appointment.plan_id, kind "reassessment").
"""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.booking.models import Appointment
from scheduler.db import begin_write
from scheduler.errors import InvalidInput
from scheduler.plans.assessment_models import Assessment
from scheduler.plans.measures import (
    Measures,
    MeasureSeries,
    Recorded,
    check_measures,
    measures_from_json,
    measures_to_json,
    progress,
)
from scheduler.plans.models import TreatmentPlan
from scheduler.practice.models import Practice, StaffUser
from scheduler.validation import check_day

MAX_NOTES = 5000


def measures_of(assessment: Assessment) -> Measures:
    return measures_from_json(assessment.pain, assessment.range_of_motion, assessment.functional_limits)


async def _visit_for(session: AsyncSession, plan: TreatmentPlan, appointment_id: uuid.UUID) -> Appointment:
    appointment = await session.scalar(select(Appointment).where(Appointment.id == appointment_id))
    if appointment is None or appointment.client_id != plan.client_id:
        raise InvalidInput("Choose one of this client's visits.", field="appointment_id")
    if appointment.plan_id is not None and appointment.plan_id != plan.id:
        raise InvalidInput("This visit belongs to another treatment plan.", field="appointment_id")
    return appointment


async def record_assessment(
    session: AsyncSession,
    practice: Practice,
    plan: TreatmentPlan,
    measures: Measures,
    *,
    recorded_by: StaffUser,
    assessed_on: dt.date | None = None,
    appointment_id: uuid.UUID | None = None,
    baseline: bool | None = None,
    notes: str = "",
    now: dt.datetime | None = None,
) -> Assessment:
    """Check and store one assessment; nothing is written when any part is refused."""
    checked = check_measures(measures)
    notes = notes.strip()
    if len(notes) > MAX_NOTES:
        raise InvalidInput(f"Keep the notes under {MAX_NOTES} characters.", field="notes")
    zone = ZoneInfo(practice.timezone)
    today = (now or dt.datetime.now(dt.UTC)).astimezone(zone).date()
    await begin_write(session)
    appointment = await _visit_for(session, plan, appointment_id) if appointment_id else None
    if assessed_on is None:
        assessed_on = appointment.start_at.astimezone(zone).date() if appointment else today
    check_day(assessed_on, "assessed_on")
    if assessed_on > today:
        raise InvalidInput("An assessment cannot be dated in the future.", field="assessed_on")
    has_any = await session.scalar(select(Assessment.id).where(Assessment.plan_id == plan.id).limit(1))
    is_baseline = baseline if baseline is not None else has_any is None
    if is_baseline and has_any is not None:
        await session.execute(
            update(Assessment)
            .where(Assessment.plan_id == plan.id, Assessment.is_baseline.is_(True))
            .values(is_baseline=False)
            .execution_options(synchronize_session=False)
        )
    stored = measures_to_json(checked)
    assessment = Assessment(
        plan_id=plan.id,
        appointment_id=appointment.id if appointment else None,
        recorded_by_user_id=recorded_by.id,
        is_baseline=is_baseline,
        assessed_on=assessed_on,
        pain=stored["pain"],
        range_of_motion=stored["range_of_motion"],
        functional_limits=stored["functional_limits"],
        notes=notes,
    )
    session.add(assessment)
    if appointment is not None and appointment.plan_id is None:
        appointment.plan_id = plan.id
    await session.flush()
    return assessment


async def list_assessments(session: AsyncSession, plan: TreatmentPlan) -> list[Assessment]:
    """The plan's assessments, oldest first."""
    return list(
        await session.scalars(
            select(Assessment)
            .where(Assessment.plan_id == plan.id)
            .order_by(Assessment.assessed_on, Assessment.created_at, Assessment.id)
        )
    )


def progress_of(assessments: list[Assessment]) -> list[MeasureSeries]:
    return progress([Recorded(a.assessed_on, a.is_baseline, measures_of(a)) for a in assessments])
