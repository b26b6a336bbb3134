"""Treatment plan use cases: create, read, list by client, adjust. Validation of clinical shapes lives here.

A plan's schedule is checked by the pure recurrence module as soon as it is written, so a plan whose
time falls in a DST gap, or whose first session is not on its weekdays, is refused up front.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.booking.models import AppointmentSeries
from scheduler.booking.recurrence import MAX_OCCURRENCES, Recurrence, expand, parse_frequency
from scheduler.booking.services import Actor, get_service, therapists_for
from scheduler.clients.services import get_client
from scheduler.errors import InvalidInput, NotFound
from scheduler.plans.diagnosis_codes import check_codes
from scheduler.plans.models import LetterOfMedicalNecessity, PlanStatus, TreatmentPlan
from scheduler.practice.models import Practice

MAX_ITEMS = 20
MAX_ITEM_LENGTH = 500
NPI = re.compile(r"^[0-9]{10}$")


@dataclass(frozen=True)
class LmnDetails:
    issuer_name: str
    signed_on: dt.date
    expires_on: dt.date
    issuer_credential: str = ""
    issuer_npi: str | None = None
    issuer_address: str = ""
    condition: str = ""
    frequency: str = ""


@dataclass(frozen=True)
class PlanDetails:
    client_id: uuid.UUID
    therapist_id: uuid.UUID
    service_id: uuid.UUID
    diagnosis_codes: Sequence[str]
    frequency: dict[str, Any]
    first_start: str
    goals: Sequence[str] = ()
    sessions: int | None = None
    until: dt.date | None = None
    reassess_every: int | None = None
    reassessment_service_id: uuid.UUID | None = None
    techniques: Sequence[str] = ()
    home_care: str = ""
    lmn: LmnDetails | None = None


@dataclass
class PlanView:
    plan: TreatmentPlan
    lmn: LetterOfMedicalNecessity | None
    series_ids: list[uuid.UUID] = field(default_factory=list)


def parse_local(raw: str, field_name: str = "first_start") -> dt.datetime:
    """A local wall time "YYYY-MM-DDTHH:MM" (seconds :00 allowed). An offset is refused: the plan's
    time is the practice's wall clock, and an offset would say something else."""
    try:
        value = dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput("Give a local time like 2027-03-02T09:00.", field=field_name) from None
    if value.tzinfo is not None:
        raise InvalidInput(
            "Give the local wall time without a UTC offset (e.g. 2027-03-02T09:00); the practice's time zone applies.",
            field=field_name,
        )
    if value.second or value.microsecond:
        raise InvalidInput("Sessions start on a whole minute.", field=field_name)
    if not dt.date(1900, 1, 1) <= value.date() <= dt.date(2999, 12, 31):
        raise InvalidInput("Use a date from 1900 to 2999.", field=field_name)
    return value


def clean_codes(codes: Sequence[str]) -> list[str]:
    """Billable ICD-10-CM codes only, checked against the code set (see `diagnosis_codes`)."""
    return check_codes(codes)


def _clean_texts(items: Sequence[str], field_name: str) -> list[str]:
    if len(items) > MAX_ITEMS:
        raise InvalidInput(f"At most {MAX_ITEMS} entries.", field=field_name)
    cleaned = [item.strip() for item in items]
    for index, item in enumerate(cleaned):
        if not item or len(item) > MAX_ITEM_LENGTH:
            raise InvalidInput(f"Entries are 1 to {MAX_ITEM_LENGTH} characters.", field=f"{field_name}[{index}]")
    return cleaned


def _clean_lmn(lmn: LmnDetails) -> LmnDetails:
    if not lmn.issuer_name.strip():
        raise InvalidInput("Name the physician who issued the letter.", field="lmn.issuer_name")
    if lmn.expires_on < lmn.signed_on:
        raise InvalidInput("The letter expires before it was signed.", field="lmn.expires_on")
    if lmn.issuer_npi is not None and not NPI.match(lmn.issuer_npi.strip()):
        raise InvalidInput("An NPI has 10 digits.", field="lmn.issuer_npi")
    for name in ("signed_on", "expires_on"):
        day: dt.date = getattr(lmn, name)
        if not dt.date(1900, 1, 1) <= day <= dt.date(2999, 12, 31):
            raise InvalidInput("Use a date from 1900 to 2999.", field=f"lmn.{name}")
    return LmnDetails(
        issuer_name=lmn.issuer_name.strip()[:200],
        signed_on=lmn.signed_on,
        expires_on=lmn.expires_on,
        issuer_credential=lmn.issuer_credential.strip()[:100],
        issuer_npi=lmn.issuer_npi.strip() if lmn.issuer_npi else None,
        issuer_address=lmn.issuer_address.strip()[:2000],
        condition=lmn.condition.strip()[:2000],
        frequency=lmn.frequency.strip()[:500],
    )


def recurrence_of(plan: TreatmentPlan, practice: Practice) -> Recurrence:
    return Recurrence(
        frequency=parse_frequency(plan.frequency),
        first_start=plan.first_start_local,
        zone=practice.timezone,
        sessions=plan.sessions,
        until=plan.until,
        reassess_every=plan.reassess_every,
    )


def _check_counts(sessions: int | None, reassess_every: int | None) -> None:
    if sessions is not None and not 1 <= sessions <= MAX_OCCURRENCES:
        raise InvalidInput(f"sessions is from 1 to {MAX_OCCURRENCES}.", field="sessions")
    if reassess_every is not None and not 1 <= reassess_every <= MAX_OCCURRENCES:
        raise InvalidInput(f"reassess_every is from 1 to {MAX_OCCURRENCES}.", field="reassess_every")


async def create_plan(session: AsyncSession, practice: Practice, details: PlanDetails, actor: Actor) -> PlanView:
    actor.require_therapist(details.therapist_id)
    await get_client(session, details.client_id)
    service = await get_service(session, details.service_id, online=False)
    await therapists_for(session, service, details.therapist_id)
    if details.reassessment_service_id is not None:
        try:
            await get_service(session, details.reassessment_service_id, online=False)
        except NotFound:
            raise NotFound("No such service.", field="reassessment_service_id") from None
    codes = clean_codes(details.diagnosis_codes)
    goals = _clean_texts(details.goals, "goals")
    techniques = _clean_texts(details.techniques, "techniques")
    frequency = parse_frequency(details.frequency)
    first_start = parse_local(details.first_start)
    if details.sessions is not None and details.until is not None:
        raise InvalidInput("Give either sessions or until, not both.", field="until")
    _check_counts(details.sessions, details.reassess_every)
    lmn = _clean_lmn(details.lmn) if details.lmn is not None else None
    # The whole schedule must exist in the practice's zone (no DST gap) before the plan is written.
    expand(
        Recurrence(frequency, first_start, practice.timezone, details.sessions, details.until, details.reassess_every)
    )
    plan = TreatmentPlan(
        client_id=details.client_id,
        therapist_id=details.therapist_id,
        service_id=details.service_id,
        reassessment_service_id=details.reassessment_service_id,
        diagnosis_codes=codes,
        goals=goals,
        techniques=techniques,
        frequency=frequency.as_dict(),
        sessions=details.sessions,
        until=details.until,
        first_start_local=first_start,
        reassess_every=details.reassess_every,
        home_care=details.home_care.strip()[:10000],
        status=PlanStatus.ACTIVE,
    )
    session.add(plan)
    await session.flush()
    letter = None
    if lmn is not None:
        letter = LetterOfMedicalNecessity(plan_id=plan.id, **lmn.__dict__)
        session.add(letter)
        await session.flush()
    return PlanView(plan, letter)


async def get_plan(session: AsyncSession, plan_id: uuid.UUID, actor: Actor | None = None) -> TreatmentPlan:
    plan = await session.scalar(select(TreatmentPlan).where(TreatmentPlan.id == plan_id))
    if plan is None or (actor is not None and actor.own_therapist_id not in (None, plan.therapist_id)):
        raise NotFound("No such treatment plan.", field="plan_id")
    return plan


async def lmn_for(session: AsyncSession, plan_id: uuid.UUID) -> LetterOfMedicalNecessity | None:
    """The plan's current letter: the latest one recorded."""
    letter: LetterOfMedicalNecessity | None = await session.scalar(
        select(LetterOfMedicalNecessity)
        .where(LetterOfMedicalNecessity.plan_id == plan_id)
        .order_by(LetterOfMedicalNecessity.created_at.desc())
        .limit(1)
    )
    return letter


async def view(session: AsyncSession, plan: TreatmentPlan) -> PlanView:
    series = list(
        await session.scalars(
            select(AppointmentSeries.id)
            .where(AppointmentSeries.plan_id == plan.id)
            .order_by(AppointmentSeries.created_at)
        )
    )
    return PlanView(plan, await lmn_for(session, plan.id), series)


async def list_plans(session: AsyncSession, client_id: uuid.UUID, actor: Actor) -> list[PlanView]:
    await get_client(session, client_id)
    stmt = select(TreatmentPlan).where(TreatmentPlan.client_id == client_id).order_by(TreatmentPlan.created_at)
    if actor.own_therapist_id is not None:
        stmt = stmt.where(TreatmentPlan.therapist_id == actor.own_therapist_id)
    return [await view(session, plan) for plan in await session.scalars(stmt)]


@dataclass(frozen=True)
class PlanChanges:
    """Only the members present are changed (`present` names them)."""

    present: frozenset[str]
    frequency: dict[str, Any] | None = None
    sessions: int | None = None
    until: dt.date | None = None
    first_start: str | None = None
    reassess_every: int | None = None
    diagnosis_codes: Sequence[str] = ()
    goals: Sequence[str] = ()
    techniques: Sequence[str] = ()
    home_care: str = ""
    status: str = ""
    lmn: LmnDetails | None = None


async def update_plan(session: AsyncSession, practice: Practice, plan: TreatmentPlan, changes: PlanChanges) -> PlanView:
    """Adjust frequency, remaining sessions, end date, cadence or the clinical texts. The committed series
    is not rewritten here: reshape it with the series' "this and following" edit."""
    given = changes.present
    frequency = parse_frequency(changes.frequency) if "frequency" in given else parse_frequency(plan.frequency)
    first_start = parse_local(changes.first_start or "") if "first_start" in given else plan.first_start_local
    sessions, until = plan.sessions, plan.until
    if "sessions" in given or "until" in given:
        sessions = changes.sessions if "sessions" in given else None
        until = changes.until if "until" in given else None
        if (sessions is None) == (until is None):
            raise InvalidInput("Give either sessions or until, not both.", field="sessions")
    reassess_every = changes.reassess_every if "reassess_every" in given else plan.reassess_every
    _check_counts(sessions, reassess_every)
    expand(Recurrence(frequency, first_start, practice.timezone, sessions, until, reassess_every))
    if "status" in given:
        try:
            plan.status = PlanStatus(changes.status)
        except ValueError:
            raise InvalidInput("status is one of active, completed, cancelled.", field="status") from None
    if "diagnosis_codes" in given:
        plan.diagnosis_codes = clean_codes(changes.diagnosis_codes)
    if "goals" in given:
        plan.goals = _clean_texts(changes.goals, "goals")
    if "techniques" in given:
        plan.techniques = _clean_texts(changes.techniques, "techniques")
    if "home_care" in given:
        plan.home_care = changes.home_care.strip()[:10000]
    plan.frequency = frequency.as_dict()
    plan.first_start_local = first_start
    plan.sessions, plan.until = sessions, until
    plan.reassess_every = reassess_every
    if "lmn" in given and changes.lmn is not None:
        session.add(LetterOfMedicalNecessity(plan_id=plan.id, **_clean_lmn(changes.lmn).__dict__))
    await session.flush()
    return await view(session, plan)
