"""Plans for clinical tests: a treatment plan row for a demo client, until the plan API is used."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import update

from scheduler.db import scope_session, session_scope
from scheduler.plans.models import LetterOfMedicalNecessity, TreatmentPlan
from scheduler.practice.models import Practice, Role, StaffUser
from tests.integration.conftest import Factory, Staff


async def therapist_staff(factory: Factory, practice: Practice, therapist_id: str) -> Staff:
    """A therapist's staff account linked to that therapist (a therapist works with their own plans)."""
    staff = await factory.staff(practice, Role.THERAPIST)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, practice.id)
        await session.execute(
            update(StaffUser).where(StaffUser.id == staff.user.id).values(therapist_id=uuid.UUID(therapist_id))
        )
    return staff


async def make_plan(
    factory: Factory, practice: Practice, *, client_id: str, therapist_id: str, service_id: str, lmn: bool = True
) -> str:
    async with session_scope(factory.alchemy) as session:
        scope_session(session, practice.id)
        plan = TreatmentPlan(
            client_id=uuid.UUID(client_id),
            therapist_id=uuid.UUID(therapist_id),
            service_id=uuid.UUID(service_id),
            diagnosis_codes=["M62.830", "M54.50"],
            goals=["Sit through a work day without pain", "Turn the head fully to check blind spots"],
            techniques=["myofascial release", "trigger point"],
            frequency={"freq": "weekly", "interval": 1, "weekdays": ["TU"]},
            sessions=8,
            first_start_local=dt.datetime(2027, 3, 2, 9, 0),
            reassess_every=4,
            home_care="Heat 15 minutes daily; no heavy lifting for two weeks.",
        )
        session.add(plan)
        await session.flush()
        if lmn:
            session.add(
                LetterOfMedicalNecessity(
                    plan_id=plan.id,
                    issuer_name="Dr. Ada Reyes",
                    issuer_credential="MD",
                    issuer_npi="1234567893",
                    signed_on=dt.date(2027, 2, 20),
                    expires_on=dt.date(2028, 2, 20),
                    condition="Muscle spasm of back",
                    frequency="Weekly for 8 weeks",
                )
            )
        return str(plan.id)
