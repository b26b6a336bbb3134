"""Year-end FSA/HSA statements and superbills: documents made on request from issued receipts (so they can
never disagree with them), re-used while their content is unchanged."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.documents.issuing import letters_of, plan_of
from billing.documents.models import IssuedDocument
from billing.documents.numbering import lock_counter
from billing.documents.services import (
    DocumentLinks,
    client_documents,
    client_party,
    issue_unless_unchanged,
    practice_party,
    therapist_party,
)
from billing.documents.snapshot import (
    DocumentKind,
    DocumentLine,
    DocumentSnapshot,
    LineKind,
    LmnReference,
    Tender,
    diagnosis_codes,
    medical_lines,
)
from billing.documents.superbill_readiness import FixPages, MissingItem, missing_for_superbill, not_ready_sentence
from scheduler.booking.models import Appointment
from scheduler.clients.models import Client
from scheduler.errors import InvalidInput, NotFound, SuperbillNotReady
from scheduler.plans.diagnosis_codes import billable_and_refused
from scheduler.practice.models import Practice, Therapist


def _receipt_lines_for_statement(receipt: IssuedDocument, year: int) -> list[DocumentLine]:
    snapshot = receipt.snapshot
    therapist = snapshot.therapist.display_name if snapshot.therapist else ""
    # A balance still owed on the receipt is shown as unpaid on its eligible lines, first lines first.
    unpaid_share = min(max(snapshot.balance, 0), snapshot.eligible_subtotal)
    lines = []
    for line in snapshot.eligible_lines:
        paid = line.amount - min(unpaid_share, max(line.amount, 0))
        unpaid_share -= line.amount - paid
        if line.service_date.year == year:
            lines.append(replace(line, therapist_name=therapist, paid=paid, reference=receipt.number))
    return lines


async def statement_snapshot(session: AsyncSession, practice: Practice, client: Client, year: int) -> DocumentSnapshot:
    documents = await client_documents(session, client.id, (DocumentKind.RECEIPT, DocumentKind.CREDIT_NOTE))
    lines: list[DocumentLine] = []
    letters: dict[LmnReference, None] = {}
    for document in documents:
        snapshot = document.snapshot
        if document.kind == DocumentKind.RECEIPT:
            year_lines = _receipt_lines_for_statement(document, year)
            lines.extend(year_lines)
            if year_lines:
                letters.update(dict.fromkeys(snapshot.lmn))
        else:
            therapist = snapshot.therapist.display_name if snapshot.therapist else ""
            lines.extend(
                replace(line, therapist_name=therapist, paid=line.amount, reference=document.number)
                for line in snapshot.eligible_lines
                if line.service_date.year == year
            )
    lines.sort(key=lambda line: (line.service_date, line.reference))
    return DocumentSnapshot(
        kind=DocumentKind.STATEMENT,
        currency=practice.currency,
        practice=practice_party(practice),
        client=client_party(client),
        lines=tuple(lines),
        lmn=tuple(letters),
        year=year,
    )


async def issue_statement(session: AsyncSession, practice: Practice, client: Client, year: int) -> IssuedDocument:
    if not 1900 <= year <= 9999:
        raise InvalidInput("year out of range", field="year")
    await lock_counter(session, practice.id, DocumentKind.STATEMENT)
    snapshot = await statement_snapshot(session, practice, client, year)
    links = DocumentLinks(subject_key=f"statement:{client.id}:{year}", client_id=client.id)
    return await issue_unless_unchanged(session, practice, snapshot, links)


async def visit_receipt(session: AsyncSession, appointment_id: uuid.UUID) -> IssuedDocument | None:
    receipt: IssuedDocument | None = await session.scalar(
        select(IssuedDocument)
        .where(IssuedDocument.kind == DocumentKind.RECEIPT, IssuedDocument.appointment_id == appointment_id)
        .order_by(IssuedDocument.seq)
        .limit(1)
    )
    return receipt


# The lines a diagnosis applies to (CMS-1500 24E): the care, never a credit.
CARE_KINDS = frozenset({LineKind.SERVICE, LineKind.ADDON})


@dataclass(frozen=True)
class SuperbillDraft:
    """What a superbill for the visit would say today, and every item an insurer needs that it lacks."""

    snapshot: DocumentSnapshot
    receipt: IssuedDocument
    missing: tuple[MissingItem, ...]
    fix_pages: FixPages


async def superbill_draft(
    session: AsyncSession, practice: Practice, client: Client, appointment_id: uuid.UUID
) -> SuperbillDraft:
    """The superbill from the visit's receipt (so it never disagrees with it) with today's parties and the
    plan's codes (a date of birth, an NPI or a code fixed after the receipt counts), its refunds and
    corrections taken off as on the invoice."""
    receipt = await visit_receipt(session, appointment_id)
    if receipt is None:
        raise NotFound("The visit has no receipt yet: a superbill follows the receipt.", field="appointment_id")
    original = receipt.snapshot
    appointment = await session.get(Appointment, appointment_id)
    plan = await plan_of(session, appointment) if appointment is not None else None
    therapist_row = await session.get(Therapist, appointment.therapist_id) if appointment is not None else None
    therapist = therapist_party(therapist_row) if therapist_row is not None else original.therapist
    on_file = tuple(plan.diagnosis_codes) if plan is not None else diagnosis_codes(original.lines)
    codes, refused = billable_and_refused(on_file)
    letters = original.lmn or tuple(reversed(await letters_of(session, plan)))[:1]
    notes = await credit_notes_of(session, receipt)
    lines = tuple(
        replace(line, diagnosis_codes=codes) if line.kind in CARE_KINDS else line
        for line in medical_lines(original.eligible_lines)
        if line.kind != LineKind.DISCOUNT
    ) + tuple(_credit_line(note) for note in notes if note.snapshot.eligible_subtotal)
    tenders = list(original.tenders)
    refunded = sum(t.amount for note in notes for t in note.snapshot.tenders)
    if refunded:
        tenders.append(Tender(method="refund", amount=refunded))
    snapshot = DocumentSnapshot(
        kind=DocumentKind.SUPERBILL,
        currency=original.currency,
        practice=practice_party(practice),
        client=client_party(client),
        therapist=therapist,
        lines=lines,
        tenders=_cap_paid(tenders, sum(line.amount for line in lines)),
        lmn=letters,
        references_number=receipt.number,
    )
    return SuperbillDraft(
        snapshot=snapshot,
        receipt=receipt,
        missing=missing_for_superbill(snapshot, refused),
        fix_pages=FixPages(
            client_id=client.id,
            therapist_id=therapist_row.id if therapist_row is not None else None,
            plan_id=plan.id if plan is not None else None,
        ),
    )


async def credit_notes_of(session: AsyncSession, receipt: IssuedDocument) -> list[IssuedDocument]:
    """The receipt's credit notes (refunds and corrections after it was issued), in number order."""
    notes = await session.scalars(
        select(IssuedDocument)
        .where(IssuedDocument.kind == DocumentKind.CREDIT_NOTE, IssuedDocument.references_id == receipt.id)
        .order_by(IssuedDocument.seq)
    )
    return list(notes)


def _credit_line(note: IssuedDocument) -> DocumentLine:
    """A refund or correction of eligible care after the receipt, as the invoice's credit line shows it."""
    snapshot = note.snapshot
    return DocumentLine(
        service_date=snapshot.lines[0].service_date,
        description=f"Credit note {note.number}" + (f": {snapshot.reason}" if snapshot.reason else ""),
        amount=snapshot.eligible_subtotal,
        kind=LineKind.REFUND,
    )


async def issue_superbill(
    session: AsyncSession, practice: Practice, client: Client, appointment_id: uuid.UUID
) -> IssuedDocument:
    """A CMS-1500-style superbill for the visit; 422 `superbill_not_ready` listing every missing item."""
    draft = await superbill_draft(session, practice, client, appointment_id)
    if draft.missing:
        raise SuperbillNotReady(
            not_ready_sentence(draft.missing),
            field="appointment_id",
            missing=[
                {"item": m.item, "detail": m.detail, "fix": m.fix.value, "fix_url": draft.fix_pages.url(m.fix)}
                for m in draft.missing
            ],
        )
    links = DocumentLinks(
        subject_key=f"superbill:{appointment_id}",
        invoice_id=draft.receipt.invoice_id,
        appointment_id=appointment_id,
        client_id=client.id,
        references=draft.receipt,
    )
    return await issue_unless_unchanged(session, practice, draft.snapshot, links)


def _cap_paid(tenders: Sequence[Tender], charged: int) -> tuple[Tender, ...]:
    """The superbill's amount paid covers its own charges only (a tip paid on the same card is not a charge)."""
    paid = sum(t.amount for t in tenders)
    if paid <= charged:
        return tuple(tenders)
    return (Tender(method="paid", amount=charged),)
