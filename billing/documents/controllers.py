"""HTTP for issued documents: staff API (PDFs and JSON lists), the client portal's documents page, and
signed download links. Parse, call a service, answer; no rules here."""

from __future__ import annotations

import datetime as dt

from litestar import Controller, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody

from billing.documents import services, statements
from billing.documents.links import DEFAULT_LIFETIME, make_download_token
from billing.documents.models import IssuedDocument
from billing.documents.schemas import CreditNoteIn, DocumentList, DocumentOut, DownloadLinkOut
from billing.documents.snapshot import DocumentKind
from scheduler.auth import api_staff
from scheduler.clients import services as client_services
from scheduler.clients.models import Client
from scheduler.deps import AppSettings, CurrentStaff, DbSession, PathPractice
from scheduler.errors import InvalidInput, NotFound
from scheduler.openapi import STAFF_READ_PROBLEMS, STAFF_SECURITY, STAFF_WRITE_PROBLEMS, problems
from scheduler.practice.deps import provide_staff_practice
from scheduler.practice.models import Practice, Role
from scheduler.settings import Settings
from scheduler.validation import parse_uuid

PDF = "application/pdf"


def pdf_response(
    document: IssuedDocument, pdf: bytes, *, copy: bool = False, attachment: bool = False
) -> Response[bytes]:
    """The PDF, shown in the browser (`inline`) or, with `attachment`, saved as a file."""
    filename = f"{document.number}{'-COPY' if copy else ''}.pdf"
    return Response(
        content=pdf,
        media_type=PDF,
        headers={
            "Content-Disposition": f'{"attachment" if attachment else "inline"}; filename="{filename}"',
            # Health-adjacent and personal: never kept by shared caches.
            "Cache-Control": "private, no-store",
            "X-Document-Number": document.number,
        },
    )


def parse_pdf_name(raw: str, field: str) -> str:
    """'2026.pdf' -> '2026'; anything not ending in .pdf names nothing."""
    if not raw.endswith(".pdf"):
        raise NotFound("No such document.", field=field)
    return raw.removesuffix(".pdf")


def parse_year(raw: str) -> int:
    stem = parse_pdf_name(raw, "year")
    if not (stem.isascii() and stem.isdigit() and len(stem) == 4):
        raise InvalidInput("Use a four-digit year, e.g. 2026.pdf.", field="year")
    return int(stem)


def document_out(document: IssuedDocument) -> DocumentOut:
    snapshot = document.snapshot
    return DocumentOut(
        id=str(document.id),
        kind=document.kind.value,
        number=document.number,
        issued_at=document.issued_at,
        issued_on=document.issued_on,
        currency=snapshot.currency,
        total=snapshot.total,
        eligible_subtotal=snapshot.eligible_subtotal,
        paid=snapshot.paid,
        client_id=str(document.client_id) if document.client_id else None,
        invoice_id=str(document.invoice_id) if document.invoice_id else None,
        appointment_id=str(document.appointment_id) if document.appointment_id else None,
        references_id=str(document.references_id) if document.references_id else None,
        references_number=snapshot.references_number,
        pdf_url=f"/api/v1/documents/{document.id}.pdf",
    )


async def _client(db_session: DbSession, client_id: str) -> Client:
    return await client_services.get_client(db_session, parse_uuid(client_id, "client_id"))


class DocumentController(Controller):
    """Staff: receipts, credit notes, statements and superbills, as PDF and as JSON lists."""

    path = "/api/v1"
    tags = ["documents"]
    dependencies = {"staff": Provide(api_staff()), "practice": Provide(provide_staff_practice)}
    security = STAFF_SECURITY

    @get(
        "/invoices/{invoice_id:str}/receipt.pdf",
        operation_id="getInvoiceReceiptPdf",
        summary="The visit's receipt (404 until the visit is completed and its invoice settled)",
        media_type=PDF,
        responses=STAFF_READ_PROBLEMS,
    )
    async def invoice_receipt(
        self, db_session: DbSession, staff: CurrentStaff, invoice_id: FromPath[str], copy: FromQuery[bool] = False
    ) -> Response[bytes]:
        document = await services.receipt_for_invoice(db_session, parse_uuid(invoice_id, "invoice_id"))
        return pdf_response(document, await services.document_pdf(db_session, document, copy=copy), copy=copy)

    @get(
        "/clients/{client_id:str}/statements/{year_pdf:str}",
        operation_id="getClientStatementPdf",
        summary="Year-end FSA/HSA statement, e.g. /statements/2026.pdf (a new number only when its content changed)",
        media_type=PDF,
        responses=STAFF_READ_PROBLEMS,
    )
    async def statement(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        client_id: FromPath[str],
        year_pdf: FromPath[str],
    ) -> Response[bytes]:
        year = parse_year(year_pdf)
        client = await _client(db_session, client_id)
        document = await statements.issue_statement(db_session, practice, client, year)
        return pdf_response(document, await services.issued_pdf(db_session, document))

    @get(
        "/appointments/{appointment_id:str}/superbill.pdf",
        operation_id="getAppointmentSuperbillPdf",
        summary="Superbill (CMS-1500 fields) for a visit whose receipt is issued; 422 `superbill_not_ready` lists "
        "every missing item (`missing`: item, detail, fix_url)",
        media_type=PDF,
        responses=problems(400, 401, 403, 404, 422),
    )
    async def superbill(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, appointment_id: FromPath[str]
    ) -> Response[bytes]:
        receipt = await statements.visit_receipt(db_session, parse_uuid(appointment_id, "appointment_id"))
        if receipt is None or receipt.client_id is None:
            raise NotFound("The visit has no receipt yet: a superbill follows the receipt.", field="appointment_id")
        client = await client_services.get_client(db_session, receipt.client_id)
        document = await statements.issue_superbill(db_session, practice, client, receipt.appointment_id)  # type: ignore[arg-type]
        return pdf_response(document, await services.issued_pdf(db_session, document))

    @get(
        "/credit-notes/{credit_note_pdf:str}",
        operation_id="getCreditNotePdf",
        summary="A credit note, by id: /credit-notes/{id}.pdf",
        media_type=PDF,
        responses=STAFF_READ_PROBLEMS,
    )
    async def credit_note(
        self, db_session: DbSession, staff: CurrentStaff, credit_note_pdf: FromPath[str], copy: FromQuery[bool] = False
    ) -> Response[bytes]:
        document_id = parse_uuid(parse_pdf_name(credit_note_pdf, "credit_note_id"), "credit_note_id")
        document, pdf = await services.open_document(db_session, document_id, copy=copy, kind=DocumentKind.CREDIT_NOTE)
        return pdf_response(document, pdf, copy=copy)

    @get(
        "/documents/{document_pdf:str}",
        operation_id="getDocumentPdf",
        summary="Any issued document, by id: /documents/{id}.pdf; ?copy=true for the reprint marked COPY",
        media_type=PDF,
        responses=STAFF_READ_PROBLEMS,
    )
    async def document_pdf(
        self, db_session: DbSession, staff: CurrentStaff, document_pdf: FromPath[str], copy: FromQuery[bool] = False
    ) -> Response[bytes]:
        document_id = parse_uuid(parse_pdf_name(document_pdf, "document_id"), "document_id")
        document, pdf = await services.open_document(db_session, document_id, copy=copy)
        return pdf_response(document, pdf, copy=copy)

    @get(
        "/clients/{client_id:str}/documents",
        operation_id="listClientDocuments",
        summary="Every document issued to a client, oldest first, with its number",
        responses=STAFF_READ_PROBLEMS,
    )
    async def client_documents(
        self, db_session: DbSession, staff: CurrentStaff, client_id: FromPath[str]
    ) -> DocumentList:
        client = await _client(db_session, client_id)
        return DocumentList(items=[document_out(d) for d in await services.client_documents(db_session, client.id)])

    @get(
        "/invoices/{invoice_id:str}/documents",
        operation_id="listInvoiceDocuments",
        summary="The receipt or acknowledgement of an invoice and its credit notes",
        responses=STAFF_READ_PROBLEMS,
    )
    async def invoice_documents(
        self, db_session: DbSession, staff: CurrentStaff, invoice_id: FromPath[str]
    ) -> DocumentList:
        documents = await services.invoice_documents(db_session, parse_uuid(invoice_id, "invoice_id"))
        return DocumentList(items=[document_out(d) for d in documents])

    @post(
        "/documents/{document_id:str}/download-link",
        operation_id="createDocumentDownloadLink",
        summary="A signed link a client can open without signing in; expires after 30 days",
        responses=STAFF_WRITE_PROBLEMS,
        status_code=201,
    )
    async def download_link(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        settings: AppSettings,
        document_id: FromPath[str],
    ) -> DownloadLinkOut:
        document = await services.get_document(db_session, parse_uuid(document_id, "document_id"))
        expires_at = services.utcnow() + DEFAULT_LIFETIME
        return DownloadLinkOut(url=signed_url(settings, practice, document, expires_at), expires_at=expires_at)

    @post(
        "/documents/{document_id:str}/credit-notes",
        operation_id="createCreditNote",
        summary="Correct a receipt: issue a numbered credit note against it (the receipt never changes)",
        responses=STAFF_WRITE_PROBLEMS,
        status_code=201,
        dependencies={"staff": Provide(api_staff(Role.OWNER, Role.DESK))},
    )
    async def create_credit_note(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        document_id: FromPath[str],
        data: JSONBody[CreditNoteIn],
    ) -> DocumentOut:
        receipt = await services.get_document(db_session, parse_uuid(document_id, "document_id"))
        note = await services.issue_credit_note(
            db_session, practice, receipt, amount=data.amount, reason=data.reason.strip()[:200], eligible=data.eligible
        )
        return document_out(note)


def signed_url(settings: Settings, practice: Practice, document: IssuedDocument, expires_at: dt.datetime) -> str:
    """A link that opens one document until it expires; it names no number and cannot be made up."""
    token = make_download_token(settings.secret_key, document.id, expires_at)
    return f"{settings.base_url}/p/{practice.slug}/documents/{token}"
