"""Documents for clients: the portal's "Receipts and statements" page (every document, the balance due with
"Pay now", year-end statements and FSA/HSA claim packets) and signed download links.

Wired in app.py next to the scheduler's portal (scheduler never imports billing). Every route resolves
the practice from the slug and scopes the session to it; the portal routes then require the signed-in
client and serve only that client's own documents.
"""

from __future__ import annotations

import uuid
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from billing import invoices, payments
from billing.documents import claim_packet, services, statements
from billing.documents.controllers import parse_pdf_name, parse_year, pdf_response, signed_url
from billing.documents.links import DEFAULT_LIFETIME, LinkInvalid, read_download_token
from billing.documents.snapshot import TITLES, DocumentKind
from scheduler.deps import AppSettings, DbSession, PathPractice
from scheduler.errors import NotFound, SuperbillNotReady
from scheduler.format import format_money
from scheduler.practice.deps import provide_public_practice
from scheduler.practice.models import Practice
from scheduler.settings import Settings
from scheduler.validation import parse_uuid
from scheduler.web.portal import PortalClient, PortalSignInRequired, provide_portal_client

# The kinds an invoice's checkout confirmation links to.
PORTAL_KINDS = (
    DocumentKind.RECEIPT,
    DocumentKind.CREDIT_NOTE,
    DocumentKind.PAYMENT_ACK,
    DocumentKind.STATEMENT,
    DocumentKind.FEE_NOTICE,
)


# What a superbill lacks, said to the client (the desk's sentences name CMS-1500 boxes and fix pages).
CLIENT_WORDS = {
    "date_of_birth": "your date of birth",
    "referring_provider_npi": "the NPI of the provider who referred you, from your letter of medical necessity",
    "diagnosis_codes": "a diagnosis code on your treatment plan",
    "therapist_npi": "your therapist's NPI (provider number)",
    "therapist_licence": "your therapist's licence number",
    "practice_npi_or_ein": "the practice's NPI or tax id (EIN)",
}


def kind_label(kind: DocumentKind) -> str:
    """What the portal calls a kind of document (a kind added later is listed by its own name)."""
    return TITLES.get(kind) or kind.value.replace("_", " ").capitalize()


def _to_sign_in(request: Request[Any, Any, Any], _exc: PortalSignInRequired) -> Response[Any]:
    return Redirect(path=f"/p/{request.path_params.get('slug', '')}/portal", status_code=303)


class PortalDocumentsController(Controller):
    """/p/{slug}/portal/documents: the signed-in client's documents, what they owe, and a way to pay it."""

    path = "/p/{slug:str}/portal/documents"
    include_in_schema = False
    dependencies = {"practice": Provide(provide_public_practice), "client": Provide(provide_portal_client)}
    exception_handlers = {PortalSignInRequired: _to_sign_in}

    @get("/", name="portal_documents")
    async def index(self, db_session: DbSession, practice: PathPractice, client: PortalClient) -> Template:
        documents = await services.client_documents(db_session, client.id)
        owed = await invoices.open_with_balance(db_session, client.id)
        rows = [
            {
                "id": str(d.id),
                "number": d.number,
                "kind": d.kind.value,
                "title": kind_label(d.kind),
                "issued_on": d.issued_on,
                "total": format_money(d.snapshot.total, d.snapshot.currency),
                "dates": sorted({line.service_date for line in d.snapshot.lines}),
                # A visit's receipt offers its superbill (made on request, from the receipt).
                "superbill": str(d.appointment_id) if d.kind == DocumentKind.RECEIPT and d.appointment_id else None,
            }
            for d in reversed(documents)
        ]
        return Template(
            template_name="portal/documents.html",
            context={
                "practice": practice,
                "portal": f"/p/{practice.slug}/portal",
                "client": client,
                "signed_in": True,
                "documents": rows,
                "kinds": list(dict.fromkeys(row["title"] for row in rows)),
                "years": await statements.statement_years(db_session, practice, client),
                "balance": format_money(sum(i.balance for i in owed), practice.currency) if owed else None,
                "owed": [
                    {
                        "id": str(i.id),
                        "balance": format_money(i.balance, i.currency),
                        "since": i.created_at.astimezone(ZoneInfo(practice.timezone)).date(),
                    }
                    for i in owed
                ],
            },
        )

    @post("/pay/{invoice_id:str}", status_code=303)
    async def pay(
        self,
        db_session: DbSession,
        practice: PathPractice,
        client: PortalClient,
        settings: AppSettings,
        invoice_id: FromPath[str],
    ) -> Redirect:
        """ "Pay now": the invoice's pay link (the payment processor's checkout page)."""
        url = await payments.client_pay_link(
            db_session, practice, client.id, parse_uuid(invoice_id, "invoice_id"), base_url=settings.base_url
        )
        return Redirect(path=url, status_code=303)

    @get("/claim-packets/{year_pdf:str}")
    async def claim_packet(
        self, db_session: DbSession, practice: PathPractice, client: PortalClient, year_pdf: FromPath[str]
    ) -> Response[bytes]:
        document = await claim_packet.issue_claim_packet(db_session, practice, client, parse_year(year_pdf))
        return pdf_response(document, await services.issued_pdf(db_session, document))

    @get("/superbills/{appointment_pdf:str}")
    async def superbill(
        self, db_session: DbSession, practice: PathPractice, client: PortalClient, appointment_pdf: FromPath[str]
    ) -> Response[Any]:
        """The superbill of one of the client's own visits that has a receipt (anyone else's reads as not found)."""
        appointment_id = parse_uuid(parse_pdf_name(appointment_pdf, "appointment_id"), "appointment_id")
        receipt = await statements.visit_receipt(db_session, appointment_id)
        if receipt is None or receipt.client_id != client.id:
            raise NotFound("No receipt for this visit yet: a superbill follows the receipt.", field="appointment_id")
        try:
            document = await statements.issue_superbill(db_session, practice, client, appointment_id)
        except SuperbillNotReady as exc:
            return Template(
                template_name="portal/superbill_not_ready.html",
                status_code=exc.status,
                context={
                    "practice": practice,
                    "portal": f"/p/{practice.slug}/portal",
                    "signed_in": True,
                    "receipt": receipt.number,
                    "missing": [CLIENT_WORDS.get(item["item"], item["detail"]) for item in exc.extra["missing"]],
                },
            )
        # Saved as a file (the link is a download); an HTML page, above, when the superbill cannot be made yet.
        return pdf_response(document, await services.issued_pdf(db_session, document), attachment=True)

    @get("/{document_pdf:str}")
    async def download(
        self, db_session: DbSession, practice: PathPractice, client: PortalClient, document_pdf: FromPath[str]
    ) -> Response[bytes]:
        document_id = parse_uuid(parse_pdf_name(document_pdf, "document_id"), "document_id")
        document = await services.client_document(db_session, client, document_id)
        return pdf_response(document, await services.document_pdf(db_session, document))

    @get("/statements/{year_pdf:str}")
    async def statement(
        self, db_session: DbSession, practice: PathPractice, client: PortalClient, year_pdf: FromPath[str]
    ) -> Response[bytes]:
        document = await statements.issue_statement(db_session, practice, client, parse_year(year_pdf))
        return pdf_response(document, await services.issued_pdf(db_session, document))


class SignedDocumentController(Controller):
    """/p/{slug}/documents/{token}: one document by a signed, expiring link (e.g. from the checkout e-mail)."""

    path = "/p/{slug:str}/documents"
    include_in_schema = False
    dependencies = {"practice": Provide(provide_public_practice)}

    @get("/{token:str}")
    async def download(
        self, db_session: DbSession, practice: PathPractice, settings: AppSettings, token: FromPath[str]
    ) -> Response[bytes]:
        try:
            document_id = read_download_token(settings.secret_key, token, services.utcnow())
        except LinkInvalid as exc:
            raise NotFound("This download link is not valid or has expired.", field="token") from exc
        # The session is scoped to the slug's practice: a genuine token under another practice's slug finds nothing.
        document, pdf = await services.open_document(db_session, document_id)
        return pdf_response(document, pdf)


async def signed_links_for_invoice(
    session: AsyncSession, settings: Settings, practice: Practice, invoice_id: uuid.UUID
) -> list[dict[str, str]]:
    """Signed, expiring links to the receipt or acknowledgement an invoice has, for the checkout confirmation."""
    expires_at = services.utcnow() + DEFAULT_LIFETIME
    return [
        {"label": f"{TITLES[d.kind]} {d.number}", "url": signed_url(settings, practice, d, expires_at)}
        for d in await services.invoice_documents(session, invoice_id)
        if d.kind in PORTAL_KINDS
    ]
