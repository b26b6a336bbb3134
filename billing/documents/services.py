"""Issuing documents: number, snapshot, render once, store; and finding them again.

Services never commit: the request (or the settlement that triggers an issue) owns the transaction, and
the number, the row and the rendered bytes land together or not at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.documents.assemble import concatenate
from billing.documents.delivery import mail_download_link
from billing.documents.models import DocumentRendition, IssuedDocument
from billing.documents.numbering import hold_write_lock, lock_counter, next_seq
from billing.documents.render import page_size_for, render_pdf_off_loop
from billing.documents.render_queue import render_after_commit
from billing.documents.snapshot import (
    ClientParty,
    DocumentKind,
    DocumentLine,
    DocumentSnapshot,
    LineKind,
    LmnReference,
    PracticeParty,
    Tender,
    TherapistParty,
    format_number,
    is_prepayment,
    medical_lines,
)
from billing.models import Invoice
from scheduler.clients.models import Client
from scheduler.db import insert_unless_conflict
from scheduler.errors import InvalidInput, NotFound
from scheduler.practice.models import Practice, Therapist

# A snapshot's `extra` key listing the issued documents (ids, comma-separated) whose PDFs follow its own pages.
PARTS_KEY = "parts"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- parties as they are today, frozen into a snapshot ---------------------------------------------------------


def practice_party(practice: Practice) -> PracticeParty:
    return PracticeParty(
        name=practice.legal_name or practice.name,
        address_lines=tuple(practice.address_lines),
        phone=practice.phone,
        ein=practice.ein,
        npi=practice.npi or None,
    )


def therapist_party(therapist: Therapist) -> TherapistParty:
    return TherapistParty(
        name=f"{therapist.first_name} {therapist.last_name}".strip(),
        credential=therapist.credential,
        license_number=therapist.license_number,
        license_state=therapist.license_state,
        npi=therapist.npi or None,
    )


def client_party(client: Client) -> ClientParty:
    return ClientParty(name=client.full_name, address_lines=client.address_lines, date_of_birth=client.date_of_birth)


# --- issuing ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentLinks:
    """What a document is about, for finding it again (never printed)."""

    subject_key: str = ""
    invoice_id: uuid.UUID | None = None
    appointment_id: uuid.UUID | None = None
    client_id: uuid.UUID | None = None
    references: IssuedDocument | None = None


async def issue_document(
    session: AsyncSession,
    practice: Practice,
    snapshot: DocumentSnapshot,
    links: DocumentLinks,
    *,
    now: dt.datetime | None = None,
) -> IssuedDocument:
    """Number the snapshot and store it in the caller's transaction, with the e-mail that tells the client.

    Its PDF is rendered once the transaction commits (`rendering`), outside the lock the number holds."""
    seq = await next_seq(session, practice.id, snapshot.kind)
    number = format_number(snapshot.kind, seq)
    issued_at = now or utcnow()
    page_size = page_size_for(practice.country, (practice.policies or {}).get("paper_size"))
    document = IssuedDocument(
        practice_id=practice.id,
        kind=snapshot.kind,
        seq=seq,
        number=number,
        issued_at=issued_at,
        snapshot_json=snapshot.to_json().decode(),
        subject_key=links.subject_key,
        source_digest=snapshot.digest,
        issued_on=issued_at.astimezone(ZoneInfo(practice.timezone)).date(),
        page_size=page_size,
        references_id=links.references.id if links.references else None,
        invoice_id=links.invoice_id,
        appointment_id=links.appointment_id,
        client_id=links.client_id,
    )
    session.add(document)
    await session.flush()
    render_after_commit(session, practice.id, document.id)
    await mail_download_link(session, practice, document, now=issued_at)
    return document


async def latest_for_subject(session: AsyncSession, kind: DocumentKind, subject_key: str) -> IssuedDocument | None:
    latest: IssuedDocument | None = await session.scalar(
        select(IssuedDocument)
        .where(IssuedDocument.kind == kind, IssuedDocument.subject_key == subject_key)
        .order_by(IssuedDocument.seq.desc())
        .limit(1)
    )
    return latest


async def issue_unless_unchanged(
    session: AsyncSession, practice: Practice, snapshot: DocumentSnapshot, links: DocumentLinks
) -> IssuedDocument:
    """The latest document for this subject when it would say the same; else a new, numbered one.

    Statements and superbills are made on request: the same request twice serves the same bytes, and a
    later visit or refund makes a new numbered document (the earlier one stays as issued).
    """
    await lock_counter(session, practice.id, snapshot.kind)
    latest = await latest_for_subject(session, snapshot.kind, links.subject_key)
    if latest is not None and latest.source_digest == snapshot.digest:
        return latest
    return await issue_document(session, practice, snapshot, links)


# --- receipts, acknowledgements, credit notes ------------------------------------------------------------------


@dataclass(frozen=True)
class VisitCharges:
    """What a settled invoice says about one visit or one prepayment, read by billing at settlement."""

    invoice_id: uuid.UUID
    client: Client
    lines: Sequence[DocumentLine]
    tenders: Sequence[Tender]
    therapist: Therapist | None = None
    appointment_id: uuid.UUID | None = None
    lmn: Sequence[LmnReference] = ()
    package_sessions_remaining: int | None = None
    included_refunds: tuple[str, ...] = ()  # refunds already on the invoice's lines (no credit note for them)


async def issue_for_invoice(
    session: AsyncSession,
    practice: Practice,
    charges: VisitCharges,
    *,
    kind: DocumentKind | None = None,
    now: dt.datetime | None = None,
) -> IssuedDocument:
    """A receipt for care given (per date of service), or a payment acknowledgement for money taken before it.

    Once per invoice and kind: a second settlement signal returns the document already issued.
    No-show and late-cancellation fees never reach the receipt.
    """
    if kind is None:
        kind = DocumentKind.PAYMENT_ACK if is_prepayment(charges.lines) else DocumentKind.RECEIPT
    prepayment = kind is DocumentKind.PAYMENT_ACK
    subject_key = f"invoice:{charges.invoice_id}"
    await lock_counter(session, practice.id, kind)
    existing = await latest_for_subject(session, kind, subject_key)
    if existing is not None:
        return existing
    lines = tuple(charges.lines) if prepayment else medical_lines(charges.lines)
    if not lines:
        raise InvalidInput("nothing to put on a receipt", field="lines")
    snapshot = DocumentSnapshot(
        kind=kind,
        currency=practice.currency,
        practice=practice_party(practice),
        client=client_party(charges.client),
        therapist=therapist_party(charges.therapist) if charges.therapist else None,
        lines=lines,
        tenders=tuple(charges.tenders),
        lmn=() if prepayment else _covering(charges.lmn, lines),
        package_sessions_remaining=charges.package_sessions_remaining,
        extra={"refund_ids": ",".join(charges.included_refunds)} if charges.included_refunds else {},
    )
    links = DocumentLinks(
        subject_key=subject_key,
        invoice_id=charges.invoice_id,
        appointment_id=charges.appointment_id,
        client_id=charges.client.id,
    )
    return await issue_document(session, practice, snapshot, links, now=now)


def _covering(letters: Sequence[LmnReference], lines: Sequence[DocumentLine]) -> tuple[LmnReference, ...]:
    """The letters that cover at least one eligible line's date of service (none is printed otherwise)."""
    days = [line.service_date for line in lines if line.eligible]
    return tuple(lmn for lmn in letters if any(lmn.covers(day) for day in days))


async def credited_so_far(session: AsyncSession, receipt: IssuedDocument) -> int:
    notes = await session.scalars(
        select(IssuedDocument).where(
            IssuedDocument.kind == DocumentKind.CREDIT_NOTE, IssuedDocument.references_id == receipt.id
        )
    )
    return -sum(note.snapshot.total for note in notes)


async def issue_credit_note(
    session: AsyncSession,
    practice: Practice,
    receipt: IssuedDocument,
    *,
    amount: int,
    reason: str,
    tenders: Sequence[Tender] = (),
    eligible: bool = True,
    subject_key: str | None = None,
    now: dt.datetime | None = None,
) -> IssuedDocument:
    """A numbered credit note taking `amount` off a receipt; the receipt itself is never touched."""
    if receipt.kind != DocumentKind.RECEIPT:
        raise InvalidInput("a credit note references a receipt", field="receipt_id")
    if amount <= 0:
        raise InvalidInput("the amount credited must be positive", field="amount")
    await lock_counter(session, practice.id, DocumentKind.CREDIT_NOTE)
    original = receipt.snapshot
    if amount > original.total - await credited_so_far(session, receipt):
        raise InvalidInput("more than is left on the receipt", field="amount")
    service_date = next((line.service_date for line in original.lines), (now or utcnow()).date())
    # No tender: nothing was given back, the receipt's amounts are corrected (a price typed wrong, a discount
    # forgotten). Calling that a refund would tell the client's plan that money came back when none did.
    what = "Refund against receipt" if tenders else "Correction to receipt"
    line = DocumentLine(
        service_date=service_date,
        description=f"{what} {receipt.number}" + (f": {reason}" if reason else ""),
        amount=-amount,
        kind=LineKind.REFUND,
        fsa_eligible=eligible,
    )
    snapshot = DocumentSnapshot(
        kind=DocumentKind.CREDIT_NOTE,
        currency=original.currency,
        practice=original.practice,
        client=original.client,
        therapist=original.therapist,
        lines=(line,),
        tenders=tuple(tenders),
        references_number=receipt.number,
        reason=reason,
    )
    links = DocumentLinks(
        subject_key=subject_key or f"receipt:{receipt.id}",
        invoice_id=receipt.invoice_id,
        appointment_id=receipt.appointment_id,
        client_id=receipt.client_id,
        references=receipt,
    )
    return await issue_document(session, practice, snapshot, links, now=now)


# --- statements and superbills ---------------------------------------------------------------------------------


async def client_documents(
    session: AsyncSession, client_id: uuid.UUID, kinds: Sequence[DocumentKind] | None = None
) -> list[IssuedDocument]:
    query = select(IssuedDocument).where(IssuedDocument.client_id == client_id)
    if kinds:
        query = query.where(IssuedDocument.kind.in_(list(kinds)))
    return list(await session.scalars(query.order_by(IssuedDocument.issued_at, IssuedDocument.number)))


async def get_document(
    session: AsyncSession, document_id: uuid.UUID, *, kind: DocumentKind | None = None
) -> IssuedDocument:
    document = await session.get(IssuedDocument, document_id)
    if document is None or (kind is not None and document.kind != kind):
        raise NotFound("No such document.", field="document_id")
    return document


async def invoice_documents(session: AsyncSession, invoice_id: uuid.UUID) -> list[IssuedDocument]:
    if await session.scalar(select(Invoice.id).where(Invoice.id == invoice_id)) is None:
        raise NotFound("No such invoice.", field="invoice_id")
    query = select(IssuedDocument).where(IssuedDocument.invoice_id == invoice_id)
    return list(await session.scalars(query.order_by(IssuedDocument.issued_at, IssuedDocument.number)))


async def client_document(session: AsyncSession, client: Client, document_id: uuid.UUID) -> IssuedDocument:
    """One of the client's own documents (a superbill included); anyone else's reads as not found."""
    document = await session.get(IssuedDocument, document_id)
    if document is None or document.client_id != client.id:
        raise NotFound("No such document.", field="document_id")
    return document


async def receipt_for_invoice(session: AsyncSession, invoice_id: uuid.UUID) -> IssuedDocument:
    document = await session.scalar(
        select(IssuedDocument).where(
            IssuedDocument.kind == DocumentKind.RECEIPT, IssuedDocument.invoice_id == invoice_id
        )
    )
    if document is None:
        raise NotFound("No receipt has been issued for this invoice yet.", field="invoice_id")
    return document


async def stored_pdf(session: AsyncSession, document: IssuedDocument, *, copy: bool = False) -> bytes | None:
    pdf: bytes | None = await session.scalar(
        select(DocumentRendition.pdf).where(
            DocumentRendition.document_id == document.id, DocumentRendition.is_copy == copy
        )
    )
    return pdf


async def open_document(
    session: AsyncSession, document_id: uuid.UUID, *, copy: bool = False, kind: DocumentKind | None = None
) -> tuple[IssuedDocument, bytes]:
    """A document and its PDF for a download. A stored PDF comes back with the row in one query."""
    found = (
        await session.execute(
            select(IssuedDocument, DocumentRendition.pdf)
            .outerjoin(
                DocumentRendition,
                (DocumentRendition.document_id == IssuedDocument.id) & (DocumentRendition.is_copy == copy),
            )
            .where(IssuedDocument.id == document_id)
        )
    ).one_or_none()
    if found is None or (kind is not None and found[0].kind != kind):
        raise NotFound("No such document.", field="document_id")
    document, pdf = found
    return document, pdf if pdf is not None else await _render_and_store(session, document, copy=copy)


async def issued_pdf(session: AsyncSession, document: IssuedDocument) -> bytes:
    """The PDF of a document the request has just issued (a statement, superbill or claim packet asked for):
    the issue is committed first, so its numbering lock (SQLite's only write lock, the counter's row lock) is not
    held while the PDF is rendered — a claim packet's rendering takes seconds."""
    await session.commit()
    return await document_pdf(session, document)


async def document_pdf(session: AsyncSession, document: IssuedDocument, *, copy: bool = False) -> bytes:
    """The document's PDF (or its reprint marked COPY): rendered the first time, stored, then always those bytes."""
    stored = await stored_pdf(session, document, copy=copy)
    return stored if stored is not None else await _render_and_store(session, document, copy=copy)


async def _render(session: AsyncSession, document: IssuedDocument, *, copy: bool) -> bytes:
    """The snapshot laid out; a document made of others (a claim packet) then has their stored PDFs appended,
    in the order its snapshot lists them (`PARTS_KEY`)."""
    snapshot = document.snapshot
    pdf = await render_pdf_off_loop(
        snapshot, number=document.number, issued_on=document.issued_on, page_size=document.page_size, copy=copy
    )
    part_ids = [part for part in snapshot.extra.get(PARTS_KEY, "").split(",") if part]
    if not part_ids:
        return pdf
    parts = [pdf]
    for part_id in part_ids:
        part = await get_document(session, uuid.UUID(part_id))
        parts.append(await document_pdf(session, part, copy=copy))
    return await anyio.to_thread.run_sync(concatenate, parts)


async def _render_and_store(session: AsyncSession, document: IssuedDocument, *, copy: bool) -> bytes:
    """Render the document's PDF and store it, unless another download stored one first: then serve that one.

    The rendering runs with no lock held; only storing it takes SQLite's write lock. Two first downloads at
    once both render, the unique (document, copy) keeps the first stored, and both serve that one.
    """
    pdf = await _render(session, document, copy=copy)
    await hold_write_lock(session)
    inserted = await session.scalar(
        insert_unless_conflict(
            session,
            DocumentRendition,
            ["document_id", "is_copy"],
            practice_id=document.practice_id,
            document_id=document.id,
            is_copy=copy,
            pdf=pdf,
            sha256=hashlib.sha256(pdf).hexdigest(),
        ).returning(DocumentRendition.id)
    )
    session.info["wrote"] = True
    if inserted is not None:
        return pdf
    stored = await stored_pdf(session, document, copy=copy)
    if stored is None:  # the conflicting row is committed, or this insert would have waited for it
        msg = f"document {document.id}: a rendition conflicted but none is stored"
        raise RuntimeError(msg)
    return stored
