"""The FSA/HSA claim packet: one PDF per client and plan year that an administrator can take as it is.

Pages: a cover (the eligible total by date of service, the practice's identifiers, a summary of each letter of
medical necessity: signed date, signer, window), the letters themselves as stored on the client's treatment
plans (issuer, address, condition, frequency, window), then every receipt and credit note with a date of service
in the plan year, in number order (receipts, then credit notes), appended as the very PDFs the client was given.

It is an issued document like the others (kind `claim_packet`, CP-000001): numbered, its snapshot frozen, its PDF
rendered once. The cover is made only from the issued receipts and credit notes (never from invoices), so it can
never disagree with the pages behind it; asked again with nothing changed, the same packet is served, and a later
receipt or refund makes a new number (the earlier packet stays as issued).

The plan year is the calendar year, or starts on the first of `practice.policies["plan_year_start_month"]`
(1-12) when the practice sets one; a packet is named by the year its plan year starts in.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.documents.models import IssuedDocument
from billing.documents.numbering import lock_counter
from billing.documents.services import (
    PARTS_KEY,
    DocumentLinks,
    client_documents,
    client_party,
    issue_unless_unchanged,
    practice_party,
)
from billing.documents.snapshot import DocumentKind, DocumentLine, DocumentSnapshot, LineKind, LmnReference
from scheduler.clients.models import Client
from scheduler.errors import InvalidInput, NotFound
from scheduler.plans.models import LetterOfMedicalNecessity, TreatmentPlan
from scheduler.practice.models import Practice

PLAN_YEAR_SETTING = "plan_year_start_month"
LETTERS_KEY = "letters"
PART_KINDS = (DocumentKind.RECEIPT, DocumentKind.CREDIT_NOTE)


@dataclass(frozen=True)
class LetterOnFile:
    """A letter of medical necessity as stored on the treatment plan, printed whole on the packet's LMN page."""

    signed_on: dt.date
    expires_on: dt.date
    issuer_name: str
    issuer_credential: str = ""
    issuer_npi: str | None = None
    issuer_address: str = ""
    condition: str = ""
    frequency: str = ""

    @property
    def signer(self) -> str:
        return f"{self.issuer_name}, {self.issuer_credential}" if self.issuer_credential else self.issuer_name


@dataclass(frozen=True)
class PlanYear:
    year: int
    start: dt.date
    end: dt.date  # inclusive

    def holds(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


def plan_year(practice: Practice, year: int) -> PlanYear:
    month = (practice.policies or {}).get(PLAN_YEAR_SETTING, 1)
    if not isinstance(month, int) or not 1 <= month <= 12:
        month = 1
    start = dt.date(year, month, 1)
    end = (dt.date(year + 1, 1, 1) if month == 1 else dt.date(year + 1, month, 1)) - dt.timedelta(days=1)
    return PlanYear(year, start, end)


def letters_from_extra(extra: dict[str, str]) -> list[LetterOnFile]:
    """The letters a packet's snapshot stored (its template reads them back)."""
    raw = extra.get(LETTERS_KEY)
    return msgspec.json.decode(raw, type=list[LetterOnFile]) if raw else []


async def _letters(session: AsyncSession, client: Client, period: PlanYear) -> list[LetterOnFile]:
    """The client's letters whose window overlaps the plan year, oldest first."""
    rows = await session.scalars(
        select(LetterOfMedicalNecessity)
        .join(TreatmentPlan, TreatmentPlan.id == LetterOfMedicalNecessity.plan_id)
        .where(
            TreatmentPlan.client_id == client.id,
            LetterOfMedicalNecessity.signed_on <= period.end,
            LetterOfMedicalNecessity.expires_on >= period.start,
        )
        .order_by(LetterOfMedicalNecessity.signed_on, LetterOfMedicalNecessity.id)
    )
    return [
        LetterOnFile(
            signed_on=row.signed_on,
            expires_on=row.expires_on,
            issuer_name=row.issuer_name,
            issuer_credential=row.issuer_credential,
            issuer_npi=row.issuer_npi,
            issuer_address=row.issuer_address,
            condition=row.condition,
            frequency=row.frequency,
        )
        for row in rows
    ]


def _claimable(document: IssuedDocument) -> list[tuple[dt.date, int, int]]:
    """(date of service, eligible amount, eligible amount paid) per eligible line of a receipt or credit note.

    A balance still owed on a receipt is taken off its eligible lines, first lines first (what was not paid
    cannot be claimed); a credit note gives back exactly what it says."""
    snapshot = document.snapshot
    unpaid = min(max(snapshot.balance, 0), snapshot.eligible_subtotal) if document.kind == DocumentKind.RECEIPT else 0
    out = []
    for line in snapshot.eligible_lines:
        owed = min(unpaid, max(line.amount, 0))
        unpaid -= owed
        out.append((line.service_date, line.amount, line.amount - owed))
    return out


def in_number_order(documents: list[IssuedDocument]) -> list[IssuedDocument]:
    return sorted(documents, key=lambda d: (PART_KINDS.index(d.kind), d.seq))


async def packet_snapshot(
    session: AsyncSession, practice: Practice, client: Client, year: int, *, today: dt.date
) -> DocumentSnapshot:
    period = plan_year(practice, year)
    if period.start > today:
        raise NotFound(f"The {year} plan year has not started yet: there is nothing to claim.", field="year")
    documents = in_number_order(
        [
            d
            for d in await client_documents(session, client.id, PART_KINDS)
            if any(period.holds(line.service_date) for line in d.snapshot.lines)
        ]
    )
    if not documents:
        raise NotFound(
            f"There are no receipts or credit notes with a date of service in the {year} plan year, "
            "so there is no claim packet to make.",
            field="year",
        )
    charged: dict[dt.date, int] = defaultdict(int)
    paid: dict[dt.date, int] = defaultdict(int)
    numbers: dict[dt.date, list[str]] = defaultdict(list)
    for document in documents:
        for day, amount, amount_paid in _claimable(document):
            if period.holds(day):
                charged[day] += amount
                paid[day] += amount_paid
                if document.number not in numbers[day]:
                    numbers[day].append(document.number)
    lines = tuple(
        DocumentLine(
            service_date=day,
            description="Eligible care",
            amount=charged[day],
            kind=LineKind.SERVICE,
            paid=paid[day],
            reference=", ".join(numbers[day]),
        )
        for day in sorted(charged)
    )
    letters = await _letters(session, client, period)
    therapists = {d.snapshot.therapist for d in documents if d.snapshot.therapist is not None}
    return DocumentSnapshot(
        kind=DocumentKind.CLAIM_PACKET,
        currency=practice.currency,
        practice=practice_party(practice),
        client=client_party(client),
        therapist=next(iter(therapists)) if len(therapists) == 1 else None,
        lines=lines,
        lmn=tuple(
            LmnReference(
                signed_on=letter.signed_on,
                issuer_name=letter.issuer_name,
                issuer_credential=letter.issuer_credential,
                issuer_npi=letter.issuer_npi,
                expires_on=letter.expires_on,
            )
            for letter in letters
        ),
        year=year,
        extra={
            PARTS_KEY: ",".join(str(d.id) for d in documents),
            "part_numbers": ", ".join(d.number for d in documents),
            "period_start": period.start.isoformat(),
            "period_end": period.end.isoformat(),
            LETTERS_KEY: msgspec.json.encode(letters).decode(),
        },
    )


async def issue_claim_packet(
    session: AsyncSession, practice: Practice, client: Client, year: int, *, today: dt.date | None = None
) -> IssuedDocument:
    """The client's claim packet for the plan year: the one already issued when nothing changed, else a new one.

    No receipt or credit note in the plan year, or a plan year that has not started: `NotFound` with a sentence."""
    if not 1900 <= year <= 9998:  # the plan year may end in the next calendar year
        raise InvalidInput("year out of range", field="year")
    await lock_counter(session, practice.id, DocumentKind.CLAIM_PACKET)
    snapshot = await packet_snapshot(session, practice, client, year, today=today or dt.datetime.now(dt.UTC).date())
    links = DocumentLinks(subject_key=f"claim_packet:{client.id}:{year}", client_id=client.id)
    return await issue_unless_unchanged(session, practice, snapshot, links)
