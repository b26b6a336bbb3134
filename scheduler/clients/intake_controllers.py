"""HTTP for the intake (staff API): read a client's intake (therapists and owners only) and issue links."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.params import FromPath, JSONBody

from scheduler.auth import api_staff
from scheduler.clients import intake, services
from scheduler.clients.intake_rules import IntakeAnswers
from scheduler.clients.intake_schemas import (
    ContraindicationOut,
    IntakeAnswersOut,
    IntakeLinkIn,
    IntakeLinkOut,
    IntakeOut,
    PainAreaOut,
)
from scheduler.clients.models import ClientIntake
from scheduler.deps import AppSettings, CurrentStaff, DbSession
from scheduler.openapi import STAFF_READ_PROBLEMS, STAFF_SECURITY, STAFF_WRITE_PROBLEMS
from scheduler.practice.models import Practice, Role
from scheduler.validation import parse_uuid

CLINICAL_ROLES = (Role.THERAPIST, Role.OWNER)


def intake_out(found: ClientIntake, practice: Practice) -> IntakeOut:
    answers = IntakeAnswers.from_json(found.answers)
    codes = intake.flags_of(found, intake.local_today(practice))
    return IntakeOut(
        id=str(found.id),
        client_id=str(found.client_id),
        submitted_at=found.created_at,
        answers=IntakeAnswersOut(
            current_health_issues=answers.current_health_issues,
            past_health_issues=answers.past_health_issues,
            conditions=list(answers.conditions),
            medications=answers.medications,
            takes_blood_thinners=answers.takes_blood_thinners,
            surgeries_and_injuries=answers.surgeries_and_injuries,
            last_surgery_on=answers.last_surgery_on,
            pregnant=answers.pregnant,
            pregnancy_weeks=answers.pregnancy_weeks,
            allergies=answers.allergies,
            pain_areas=[PainAreaOut(area=p.area, intensity=p.intensity) for p in answers.pain_areas],
            goals=answers.goals,
            consent=answers.consent,
        ),
        contraindications=[
            ContraindicationOut(code=code, label=label)
            for code, label in zip(codes, intake.flag_labels(codes), strict=True)
        ],
    )


class IntakeController(Controller):
    path = "/api/v1/clients/{client_id:str}"
    tags = ["intake"]
    security = STAFF_SECURITY

    @get(
        "/intake",
        operation_id="getClientIntake",
        summary="The client's current intake questionnaire and contraindications (therapists and owners)",
        dependencies={"staff": Provide(api_staff(*CLINICAL_ROLES))},
        responses=STAFF_READ_PROBLEMS,
    )
    async def get_intake(self, db_session: DbSession, staff: CurrentStaff, client_id: FromPath[str]) -> IntakeOut:
        client = await services.get_client(db_session, parse_uuid(client_id, "client_id"))
        practice = await db_session.get_one(Practice, staff.practice_id)
        return intake_out(await intake.get_latest_intake(db_session, client.id), practice)

    @post(
        "/intake-link",
        operation_id="createIntakeLink",
        summary="A link the client fills the intake at, without an account (optionally e-mailed to them)",
        dependencies={"staff": Provide(api_staff())},
        responses=STAFF_WRITE_PROBLEMS,
        status_code=201,
    )
    async def create_link(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        settings: AppSettings,
        client_id: FromPath[str],
        data: JSONBody[IntakeLinkIn],
    ) -> IntakeLinkOut:
        client = await services.get_client(db_session, parse_uuid(client_id, "client_id"))
        practice = await db_session.get_one(Practice, staff.practice_id)
        issued = await intake.create_intake_link(
            db_session, practice, client, base_url=settings.base_url, send_email=data.send_email
        )
        return IntakeLinkOut(url=issued.url, expires_at=issued.expires_at, emailed=issued.emailed)
