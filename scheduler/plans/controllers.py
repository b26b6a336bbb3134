"""HTTP for treatment plans (staff: owner and therapists; the desk does not read health information)."""

from __future__ import annotations

import msgspec
from litestar import Controller, get, patch, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody

from scheduler.auth import api_staff
from scheduler.booking.services import Actor
from scheduler.deps import CurrentStaff, DbSession, PathPractice
from scheduler.openapi import STAFF_READ_PROBLEMS, STAFF_SECURITY, STAFF_WRITE_PROBLEMS
from scheduler.plans import services
from scheduler.plans.models import LetterOfMedicalNecessity
from scheduler.plans.schemas import (
    FrequencyIn,
    FrequencyOut,
    LmnIn,
    LmnOut,
    PlanCreate,
    PlanList,
    PlanOut,
    PlanUpdate,
)
from scheduler.plans.services import LmnDetails, PlanChanges, PlanDetails, PlanView
from scheduler.practice.deps import provide_staff_practice
from scheduler.practice.models import Practice, Role
from scheduler.validation import parse_uuid, parse_uuid_field

CLINICAL_ROLES = (Role.OWNER, Role.THERAPIST)


def lmn_out(letter: LetterOfMedicalNecessity) -> LmnOut:
    return LmnOut(
        id=str(letter.id),
        issuer_name=letter.issuer_name,
        issuer_credential=letter.issuer_credential,
        issuer_npi=letter.issuer_npi,
        issuer_address=letter.issuer_address,
        signed_on=letter.signed_on,
        expires_on=letter.expires_on,
        condition=letter.condition,
        frequency=letter.frequency,
    )


def plan_out(found: PlanView, practice: Practice) -> PlanOut:
    plan = found.plan
    frequency = plan.frequency
    return PlanOut(
        id=str(plan.id),
        client_id=str(plan.client_id),
        therapist_id=str(plan.therapist_id),
        service_id=str(plan.service_id),
        reassessment_service_id=str(plan.reassessment_service_id) if plan.reassessment_service_id else None,
        diagnosis_codes=list(plan.diagnosis_codes),
        goals=list(plan.goals),
        techniques=list(plan.techniques),
        frequency=FrequencyOut(
            freq=str(frequency["freq"]), interval=int(frequency["interval"]), weekdays=list(frequency["weekdays"])
        ),
        sessions=plan.sessions,
        until=plan.until,
        first_start=plan.first_start_local.isoformat(timespec="minutes"),
        timezone=practice.timezone,
        reassess_every=plan.reassess_every,
        home_care=plan.home_care,
        status=plan.status.value,
        lmn=lmn_out(found.lmn) if found.lmn is not None else None,
        series_ids=[str(i) for i in found.series_ids],
        created_at=plan.created_at,
    )


def _lmn(data: LmnIn) -> LmnDetails:
    return LmnDetails(**{f: getattr(data, f) for f in data.__struct_fields__})


def _frequency(data: FrequencyIn) -> dict[str, object]:
    return {"freq": data.freq, "interval": data.interval, "weekdays": list(data.weekdays)}


class TreatmentPlanController(Controller):
    path = "/api/v1/treatment-plans"
    tags = ["treatment plans"]
    dependencies = {"staff": Provide(api_staff(*CLINICAL_ROLES)), "practice": Provide(provide_staff_practice)}
    security = STAFF_SECURITY

    @post("/", operation_id="createTreatmentPlan", summary="Write a treatment plan", responses=STAFF_WRITE_PROBLEMS)
    async def create(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, data: JSONBody[PlanCreate]
    ) -> PlanOut:
        details = PlanDetails(
            client_id=parse_uuid_field(data.client_id, "client_id"),
            therapist_id=parse_uuid_field(data.therapist_id, "therapist_id"),
            service_id=parse_uuid_field(data.service_id, "service_id"),
            reassessment_service_id=(
                parse_uuid_field(data.reassessment_service_id, "reassessment_service_id")
                if data.reassessment_service_id
                else None
            ),
            diagnosis_codes=data.diagnosis_codes,
            goals=data.goals,
            techniques=data.techniques,
            frequency=_frequency(data.frequency),
            first_start=data.first_start,
            sessions=data.sessions,
            until=data.until,
            reassess_every=data.reassess_every,
            home_care=data.home_care,
            lmn=_lmn(data.lmn) if data.lmn is not None else None,
        )
        return plan_out(await services.create_plan(db_session, practice, details, Actor.for_staff(staff)), practice)

    @get("/", operation_id="listTreatmentPlans", summary="A client's treatment plans", responses=STAFF_READ_PROBLEMS)
    async def list_plans(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, client_id: FromQuery[str]
    ) -> PlanList:
        client = parse_uuid_field(client_id, "client_id")
        found = await services.list_plans(db_session, client, Actor.for_staff(staff))
        return PlanList(items=[plan_out(v, practice) for v in found])

    @get("/{plan_id:str}", operation_id="getTreatmentPlan", responses=STAFF_READ_PROBLEMS)
    async def get_one(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, plan_id: FromPath[str]
    ) -> PlanOut:
        plan = await services.get_plan(db_session, parse_uuid(plan_id, "plan_id"), Actor.for_staff(staff))
        return plan_out(await services.view(db_session, plan), practice)

    @patch(
        "/{plan_id:str}",
        operation_id="updateTreatmentPlan",
        summary="Adjust a plan (frequency, remaining sessions, end date, cadence, texts)",
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def update(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        plan_id: FromPath[str],
        data: JSONBody[PlanUpdate],
    ) -> PlanOut:
        plan = await services.get_plan(db_session, parse_uuid(plan_id, "plan_id"), Actor.for_staff(staff))
        present = frozenset(f for f in data.__struct_fields__ if getattr(data, f) is not msgspec.UNSET)

        frequency = data.frequency
        changes = PlanChanges(
            present=present,
            frequency=_frequency(frequency) if isinstance(frequency, FrequencyIn) else None,
            sessions=data.sessions if isinstance(data.sessions, int) else None,
            until=data.until if not isinstance(data.until, msgspec.UnsetType) else None,
            first_start=data.first_start if isinstance(data.first_start, str) else None,
            reassess_every=data.reassess_every if isinstance(data.reassess_every, int) else None,
            diagnosis_codes=data.diagnosis_codes if isinstance(data.diagnosis_codes, list) else (),
            goals=data.goals if isinstance(data.goals, list) else (),
            techniques=data.techniques if isinstance(data.techniques, list) else (),
            home_care=data.home_care if isinstance(data.home_care, str) else "",
            status=data.status if isinstance(data.status, str) else "",
            lmn=_lmn(data.lmn) if isinstance(data.lmn, LmnIn) else None,
        )
        return plan_out(await services.update_plan(db_session, practice, plan, changes), practice)
