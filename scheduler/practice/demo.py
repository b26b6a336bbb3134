"""The demo practice (slug `demo`): idempotent seed used by `make run` and `carebook demo`."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.db import scope_session, unscoped
from scheduler.practice import services
from scheduler.practice.models import (
    Practice,
    Role,
    Room,
    Service,
    StaffUser,
    Therapist,
    TherapistService,
    WorkingHours,
)

DEMO_SLUG = "demo"
DEMO_OWNER = "owner@demo.test"
DEMO_DESK = "desk@demo.test"

_THERAPISTS = [
    ("Maya", "Okafor", "LMT", "MA-60121", "1558473926"),
    ("Daniel", "Reyes", "LMT", "MA-60877", "1669584033"),
    ("Priya", "Shah", "LMT, CNMT", "MA-61304", None),
]
_ROOMS = ["Willow Room", "Cedar Room"]
# (name, minutes, price in cents, CPT, FSA eligible, buffer after, description)
_SERVICES = [
    (
        "Therapeutic Massage (60 min)",
        60,
        12000,
        "97124",
        True,
        15,
        "Focused treatment of the areas in your plan.",
    ),
    (
        "Deep Tissue Massage (90 min)",
        90,
        16500,
        "97124",
        True,
        15,
        "Slow, deep work for chronic tension and restricted movement.",
    ),
    ("Re-assessment (30 min)", 30, 6000, "97124", True, 0, "Progress check against your baseline measures."),
    (
        "Chair Massage (30 min)",
        30,
        4500,
        None,
        False,
        0,
        "Seated relaxation massage, clothed. Not eligible for FSA/HSA.",
    ),
]


@dataclass
class DemoCredentials:
    owner_email: str
    desk_email: str
    password: str


async def seed_demo(session: AsyncSession, password: str | None = None) -> DemoCredentials:
    """Create the demo practice if missing and (re)set the demo staff password. Safe to run repeatedly."""
    password = password or secrets.token_urlsafe(12)
    practice = await session.scalar(select(Practice).where(Practice.slug == DEMO_SLUG))
    if practice is None:
        practice = await services.create_practice(
            session,
            slug=DEMO_SLUG,
            name="Demo Massage & Bodywork",
            timezone="America/New_York",
            currency="USD",
            legal_name="Demo Massage & Bodywork LLC",
            address_line1="120 Elm Street, Suite 4",
            city="Brooklyn",
            region="NY",
            postal_code="11201",
            phone="+1 718 555 0142",
            email="hello@demo.test",
            ein="12-3456789",
            npi="1881234565",
        )
    scope_session(session, practice.id)
    await _seed_catalogue(session)
    therapists = list(await session.scalars(select(Therapist).order_by(Therapist.created_at)))
    for email, role, full_name, therapist in (
        (DEMO_OWNER, Role.OWNER, "Olivia Owner", None),
        (DEMO_DESK, Role.DESK, "Dana Desk", None),
        ("maya@demo.test", Role.THERAPIST, "Maya Okafor", therapists[0] if therapists else None),
    ):
        with unscoped(session):
            user = await session.scalar(select(StaffUser).where(StaffUser.email == email))
        if user is None:
            await services.add_user(
                session,
                practice=practice,
                email=email,
                password=password,
                role=role,
                full_name=full_name,
                therapist_id=therapist.id if therapist else None,
            )
        else:
            user.password_hash = services.hash_password(password)
    await session.flush()
    return DemoCredentials(owner_email=DEMO_OWNER, desk_email=DEMO_DESK, password=password)


async def _seed_catalogue(session: AsyncSession) -> None:
    if await session.scalar(select(Therapist.id).limit(1)) is not None:
        return
    for name in _ROOMS:
        session.add(Room(name=name))
    service_rows = []
    for name, minutes, price, cpt, eligible, buffer_after, description in _SERVICES:
        service = Service(
            name=name,
            description=description,
            duration_minutes=minutes,
            price=price,
            cpt_code=cpt,
            fsa_eligible=eligible,
            buffer_before_minutes=0,
            buffer_after_minutes=buffer_after,
            bookable_online=True,
        )
        session.add(service)
        service_rows.append(service)
    for first, last, credential, licence, npi in _THERAPISTS:
        therapist = Therapist(
            first_name=first,
            last_name=last,
            credential=credential,
            license_number=licence,
            license_state="NY",
            npi=npi,
            bio=f"{first} is a licensed massage therapist focused on pain relief and recovery.",
        )
        session.add(therapist)
        await session.flush()
        for service in service_rows:
            session.add(TherapistService(therapist_id=therapist.id, service_id=service.id))
        for weekday in range(5):
            session.add(
                WorkingHours(
                    therapist_id=therapist.id,
                    weekday=weekday,
                    start_time=dt.time(9, 0),
                    end_time=dt.time(17, 0),
                )
            )
    await session.flush()
