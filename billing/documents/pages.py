"""Documents for clients: the portal's "Receipts and statements" page and signed download links.

Wired in app.py next to the scheduler's portal (scheduler never imports billing). Every route resolves
the practice from the slug and scopes the session to it; the portal routes then require the signed-in
client and serve only that client's own documents.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from billing.documents import services, statements
from billing.documents.controllers import parse_pdf_name, parse_year, pdf_response, signed_url
from billing.documents.links import DEFAULT_LIFETIME, LinkInvalid, read_download_token
from billing.documents.snapshot import TITLES, DocumentKind
from scheduler.deps import AppSettings, DbSession, PathPractice
from scheduler.errors import NotFound
from scheduler.format import format_money
from scheduler.practice.deps import provide_public_practice
from scheduler.practice.models import Practice
from scheduler.settings import Settings
from scheduler.validation import parse_uuid
from scheduler.web.portal import PortalClient, PortalSignInRequired, provide_portal_client

PORTAL_KINDS = (
    DocumentKind.RECEIPT,
    DocumentKind.CREDIT_NOTE,
    DocumentKind.PAYMENT_ACK,
    DocumentKind.STATEMENT,
    DocumentKind.FEE_NOTICE,
)


def _to_sign_in(request: Request[Any, Any, Any], _exc: PortalSignInRequired) -> Response[Any]:
    return Redirect(path=f"/p/{request.path_params.get('slug', '')}/portal", status_code=303)


class PortalDocumentsController(Controller):
    """/p/{slug}/portal/documents: the signed-in client's receipts and statements."""

    path = "/p/{slug:str}/portal/documents"
    include_in_schema = False
    dependencies = {"practice": Provide(provide_public_practice), "client": Provide(provide_portal_client)}
    exception_handlers = {PortalSignInRequired: _to_sign_in}

    @get("/", name="portal_documents")
    async def index(self, db_session: DbSession, practice: PathPractice, client: PortalClient) -> Template:
        documents = await services.client_documents(db_session, client.id, PORTAL_KINDS)
        this_year = dt.datetime.now(dt.UTC).year
        rows = [
            {
                "id": str(d.id),
                "number": d.number,
                "title": TITLES[d.kind],
                "issued_on": d.issued_on,
                "total": format_money(d.snapshot.total, d.snapshot.currency),
                "dates": sorted({line.service_date for line in d.snapshot.lines}),
            }
            for d in reversed(documents)
            if d.kind != DocumentKind.STATEMENT
        ]
        return Template(
            template_name="portal/documents.html",
            context={
                "practice": practice,
                "portal": f"/p/{practice.slug}/portal",
                "client": client,
                "signed_in": True,
                "documents": rows,
                "years": [this_year, this_year - 1],
            },
        )

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
        return pdf_response(document, await services.document_pdf(db_session, document))


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
