"""Year-end FSA/HSA statements and superbills: documents made on request from issued receipts (so they can
never disagree with them), re-used while their content is unchanged."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import replace
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.documents.models import IssuedDocument
from billing.documents.numbering import lock_counter
from billing.documents.services import (
    DocumentLinks,
    client_documents,
    client_party,
    credited_so_far,
    issue_unless_unchanged,
    practice_party,
    utcnow,
)
from billing.documents.snapshot import (
    DocumentKind,
    DocumentLine,
    DocumentSnapshot,
    LineKind,
    LmnReference,
    Tender,
    TherapistParty,
    medical_lines,
)
from scheduler.clients.models import Client
from scheduler.errors import NotFound
from scheduler.practice.models import Practice

STATEMENT_SOURCES = (DocumentKind.RECEIPT, DocumentKind.CREDIT_NOTE)


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
    documents = await client_documents(session, client.id, STATEMENT_SOURCES)
    lines: list[DocumentLine] = []
    letters: dict[LmnReference, None] = {}
    therapists: dict[str, TherapistParty] = {}
    for document in documents:
        snapshot = document.snapshot
        if document.kind == DocumentKind.RECEIPT:
            year_lines = _receipt_lines_for_statement(document, year)
            lines.extend(year_lines)
            if year_lines:
                letters.update(dict.fromkeys(snapshot.lmn))
                if snapshot.therapist is not None:
                    therapists.setdefault(snapshot.therapist.display_name, snapshot.therapist)
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
        therapists=tuple(therapists.values()),
    )


def _this_year(practice: Practice, now: dt.datetime | None) -> int:
    return (now or utcnow()).astimezone(ZoneInfo(practice.timezone)).year


async def statement_years(
    session: AsyncSession, practice: Practice, client: Client, now: dt.datetime | None = None
) -> list[int]:
    """The years a statement can be issued for, newest first: those that have started and hold eligible
    activity on the client's receipts or credit notes (the pages offer only these)."""
    this_year = _this_year(practice, now)
    years = {
        line.service_date.year
        for document in await client_documents(session, client.id, STATEMENT_SOURCES)
        for line in document.snapshot.eligible_lines
    }
    return sorted((year for year in years if year <= this_year), reverse=True)


async def issue_statement(
    session: AsyncSession, practice: Practice, client: Client, year: int, now: dt.datetime | None = None
) -> IssuedDocument:
    """The client's statement for `year`; a year still to come, or one with nothing eligible, is a 404 with
    a sentence (a numbered empty statement would be a document that says nothing)."""
    if year > _this_year(practice, now):
        raise NotFound(f"No FSA-eligible visits in {year}: that year has not started yet.", field="year")
    await lock_counter(session, practice.id, DocumentKind.STATEMENT)
    snapshot = await statement_snapshot(session, practice, client, year)
    if not snapshot.lines:
        raise NotFound(
            f"No FSA-eligible visits in {year} for {client.full_name}: there is nothing to put on a statement.",
            field="year",
        )
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


async def issue_superbill(
    session: AsyncSession, practice: Practice, client: Client, appointment_id: uuid.UUID
) -> IssuedDocument:
    """A CMS-1500-style superbill from the visit's receipt (so it can never disagree with it)."""
    receipt = await visit_receipt(session, appointment_id)
    if receipt is None:
        raise NotFound("The visit has no receipt yet: a superbill follows the receipt.", field="appointment_id")
    original = receipt.snapshot
    lines = tuple(line for line in medical_lines(original.eligible_lines) if line.kind != LineKind.DISCOUNT)
    credited = await credited_so_far(session, receipt)
    tenders = list(original.tenders)
    if credited:
        tenders.append(Tender(method="refund", amount=-credited))
    snapshot = DocumentSnapshot(
        kind=DocumentKind.SUPERBILL,
        currency=original.currency,
        practice=practice_party(practice),
        client=client_party(client),
        therapist=original.therapist,
        lines=lines,
        tenders=_cap_paid(tenders, sum(line.amount for line in lines)),
        lmn=original.lmn,
        references_number=receipt.number,
    )
    links = DocumentLinks(
        subject_key=f"superbill:{appointment_id}",
        invoice_id=receipt.invoice_id,
        appointment_id=appointment_id,
        client_id=client.id,
        references=receipt,
    )
    return await issue_unless_unchanged(session, practice, snapshot, links)


def _cap_paid(tenders: Sequence[Tender], charged: int) -> tuple[Tender, ...]:
    """The superbill's amount paid covers its own charges only (a tip paid on the same card is not a charge)."""
    paid = sum(t.amount for t in tenders)
    if paid <= charged:
        return tuple(tenders)
    return (Tender(method="paid", amount=charged),)
