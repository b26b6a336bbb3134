"""Helpers for document tests: a practice with every registered detail, a therapist, a client, and charges."""

from __future__ import annotations

import datetime as dt
import io
import secrets
import uuid
from dataclasses import dataclass

from pypdf import PdfReader

from billing.documents.samples import LMN
from billing.documents.services import VisitCharges
from billing.documents.snapshot import DocumentLine, LineKind, Tender
from scheduler.clients.models import Client
from scheduler.db import scope_session, session_scope
from scheduler.practice import services
from scheduler.practice.models import Practice, Therapist
from tests.integration.conftest import Factory

VISIT_DAY = dt.date(2026, 3, 2)


@dataclass
class Clinic:
    practice: Practice
    therapist: Therapist
    client: Client


async def clinic(factory: Factory, slug: str | None = None, *, client_email: str = "ada@example.test") -> Clinic:
    practice = await factory.practice(slug)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, practice.id)
        practice = await services.get_practice_by_slug(session, practice.slug)
        practice.legal_name = "Harbor Therapeutic Massage LLC"
        practice.address_line1 = "120 Atlantic Avenue, Suite 4"
        practice.city = "Boston"
        practice.region = "MA"
        practice.postal_code = "02110"
        practice.phone = "(617) 555-0142"
        practice.ein = "12-3456789"
        practice.npi = "1234567893"
        therapist = Therapist(
            first_name="Sam",
            last_name="Rivera",
            credential="LMT",
            license_number="MT-20417",
            license_state="MA",
            npi="1987654321",
        )
        client = Client(
            first_name="Ada",
            last_name="Lovelace",
            email=client_email,
            date_of_birth=dt.date(1980, 5, 17),
            address_line1="9 Beacon Street",
            city="Boston",
            region="MA",
            postal_code="02108",
        )
        session.add_all([therapist, client])
    return Clinic(practice=practice, therapist=therapist, client=client)


def visit_charges(
    place: Clinic,
    *,
    day: dt.date = VISIT_DAY,
    extra: tuple[DocumentLine, ...] = (),
    paid: int | None = None,
    appointment_id: uuid.UUID | None = None,
) -> VisitCharges:
    lines = (
        DocumentLine(
            service_date=day,
            description="Therapeutic massage, 60 min",
            amount=120_00,
            minutes=60,
            cpt_code="97124",
            diagnosis_codes=("M54.50", "M62.830"),
        ),
        DocumentLine(service_date=day, description="Gratuity", amount=25_00, kind=LineKind.TIP),
        DocumentLine(service_date=day, description="Arnica massage lotion", amount=18_00, kind=LineKind.RETAIL),
        *extra,
    )
    total = sum(line.amount for line in lines)
    return VisitCharges(
        invoice_id=uuid.uuid4(),
        client=place.client,
        therapist=place.therapist,
        appointment_id=appointment_id,
        lines=lines,
        tenders=(Tender(method="card", amount=total if paid is None else paid, card_brand="visa", card_last4="4242"),),
        lmn=(LMN,),
    )


def pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


async def sign_in_link(factory: Factory, place: Clinic, client: Client | None = None) -> str:
    """A portal sign-in path for the client, as the e-mailed link would carry it."""
    from scheduler.clients.models import ClientSignInLink
    from scheduler.practice.services import hash_token

    token = secrets.token_urlsafe(24)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        session.add(
            ClientSignInLink(
                client_id=(client or place.client).id,
                token_hash=hash_token(token),
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30),
            )
        )
    return f"/p/{place.practice.slug}/portal/sign-in/{token}"
