"""The front desk's document pages (session cookie): a client's receipts and statements, an invoice's
documents, and the PDFs behind them. The same services as the staff API; staff of another practice see 404."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get
from litestar.di import Provide
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from billing.documents import claim_packet, services, statements
from billing.documents.controllers import parse_pdf_name, parse_year, pdf_response
from billing.documents.models import IssuedDocument
from billing.documents.snapshot import TITLES, DocumentKind
from scheduler.auth import page_staff
from scheduler.clients import services as client_services
from scheduler.deps import CurrentStaff, DbSession, PathPractice
from scheduler.format import format_money
from scheduler.practice.deps import provide_staff_practice
from scheduler.validation import parse_uuid


def document_rows(documents: list[IssuedDocument]) -> list[dict[str, Any]]:
    rows = []
    for document in documents:
        snapshot = document.snapshot
        rows.append(
            {
                "id": str(document.id),
                "number": document.number,
                "title": TITLES[document.kind],
                "kind": document.kind.value,
                "issued_on": document.issued_on,
                "total": format_money(snapshot.total, snapshot.currency),
                "references": snapshot.references_number,
                "dates": sorted({line.service_date for line in snapshot.lines}),
            }
        )
    return rows


class StaffDocumentsPages(Controller):
    path = "/staff"
    include_in_schema = False
    dependencies = {"staff": Provide(page_staff()), "practice": Provide(provide_staff_practice)}

    @get("/clients/{client_id:str}/documents", name="staff_client_documents")
    async def client_documents(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, client_id: FromPath[str]
    ) -> Template:
        client = await client_services.get_client(db_session, parse_uuid(client_id, "client_id"))
        return Template(
            template_name="staff/documents.html",
            context={
                "practice": practice,
                "user": staff,
                "heading": f"{client.full_name}: receipts and statements",
                "client": client,
                "no_receipt": False,
                "years": await statements.statement_years(db_session, practice, client),
                "documents": document_rows(list(reversed(await services.client_documents(db_session, client.id)))),
            },
        )

    @get("/invoices/{invoice_id:str}/documents", name="staff_invoice_documents")
    async def invoice_documents(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, invoice_id: FromPath[str]
    ) -> Template:
        documents = await services.invoice_documents(db_session, parse_uuid(invoice_id, "invoice_id"))
        return Template(
            template_name="staff/documents.html",
            context={
                "practice": practice,
                "user": staff,
                "heading": "Invoice documents",
                "no_receipt": not any(d.kind is DocumentKind.RECEIPT for d in documents),
                "client": None,
                "years": [],
                "documents": document_rows(documents),
            },
        )

    @get("/invoices/{invoice_id:str}/receipt", name="staff_invoice_receipt")
    async def invoice_receipt(self, db_session: DbSession, staff: CurrentStaff, invoice_id: FromPath[str]) -> Redirect:
        """The checkout screen's "Receipt" link: the receipt's PDF once issued, else the invoice's documents
        (a payment acknowledgement, or nothing yet) with the reason."""
        documents = await services.invoice_documents(db_session, parse_uuid(invoice_id, "invoice_id"))
        receipt = next((d for d in documents if d.kind is DocumentKind.RECEIPT), None)
        if receipt is not None:
            return Redirect(path=f"/staff/documents/{receipt.id}.pdf", status_code=303)
        return Redirect(path=f"/staff/invoices/{invoice_id}/documents", status_code=303)

    @get("/documents/{document_pdf:str}")
    async def document_pdf(
        self, db_session: DbSession, staff: CurrentStaff, document_pdf: FromPath[str], copy: FromQuery[bool] = False
    ) -> Response[bytes]:
        document_id = parse_uuid(parse_pdf_name(document_pdf, "document_id"), "document_id")
        document, pdf = await services.open_document(db_session, document_id, copy=copy)
        return pdf_response(document, pdf, copy=copy)

    @get("/clients/{client_id:str}/statements/{year_pdf:str}")
    async def statement(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        client_id: FromPath[str],
        year_pdf: FromPath[str],
    ) -> Response[bytes]:
        year = parse_year(year_pdf)
        client = await client_services.get_client(db_session, parse_uuid(client_id, "client_id"))
        document = await statements.issue_statement(db_session, practice, client, year)
        return pdf_response(document, await services.issued_pdf(db_session, document))

    @get("/clients/{client_id:str}/claim-packets/{year_pdf:str}")
    async def claim_packet(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        client_id: FromPath[str],
        year_pdf: FromPath[str],
    ) -> Response[bytes]:
        year = parse_year(year_pdf)
        client = await client_services.get_client(db_session, parse_uuid(client_id, "client_id"))
        document = await claim_packet.issue_claim_packet(db_session, practice, client, year)
        return pdf_response(document, await services.issued_pdf(db_session, document))
