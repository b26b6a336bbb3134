"""The desk's superbill page (session cookie): a checklist of what an insurer needs, each missing item linked to
the page that fixes it, and the superbill's PDF once nothing is missing. Same service as the staff API."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Template

from billing.documents import services, statements
from billing.documents.controllers import pdf_response
from billing.documents.statements import SuperbillDraft
from billing.documents.superbill_readiness import REQUIREMENTS
from scheduler.auth import page_staff
from scheduler.clients import services as client_services
from scheduler.clients.models import Client
from scheduler.deps import CurrentStaff, DbSession, PathPractice
from scheduler.errors import NotFound
from scheduler.practice.deps import provide_staff_practice
from scheduler.validation import parse_uuid


async def _visit_client(db_session: DbSession, appointment_id: str) -> tuple[Client, str]:
    receipt = await statements.visit_receipt(db_session, parse_uuid(appointment_id, "appointment_id"))
    if receipt is None or receipt.client_id is None:
        raise NotFound("The visit has no receipt yet: a superbill follows the receipt.", field="appointment_id")
    return await client_services.get_client(db_session, receipt.client_id), str(receipt.appointment_id)


def checklist(draft: SuperbillDraft) -> list[dict[str, str | bool]]:
    missing = {item.item: item for item in draft.missing}
    rows: list[dict[str, str | bool]] = []
    for key, label in REQUIREMENTS.items():
        item = missing.get(key)
        rows.append(
            {
                "key": key,
                "label": label,
                "ok": item is None,
                "detail": item.detail if item else "",
                "fix_url": draft.fix_pages.url(item.fix) if item else "",
                "fix_text": item.fix.link_text if item else "",
            }
        )
    return rows


class StaffSuperbillPages(Controller):
    path = "/staff/appointments"
    include_in_schema = False
    dependencies = {"staff": Provide(page_staff()), "practice": Provide(provide_staff_practice)}

    @get("/{appointment_id:str}/superbill", name="staff_superbill")
    async def superbill_page(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, appointment_id: FromPath[str]
    ) -> Template:
        client, visit_id = await _visit_client(db_session, appointment_id)
        draft = await statements.superbill_draft(db_session, practice, client, parse_uuid(visit_id, "appointment_id"))
        return Template(
            template_name="staff/superbill.html",
            context={
                "practice": practice,
                "user": staff,
                "client": client,
                "appointment_id": visit_id,
                "receipt_number": draft.receipt.number,
                "checklist": checklist(draft),
                "ready": not draft.missing,
            },
            status_code=422 if draft.missing else 200,
        )

    @get("/{appointment_id:str}/superbill.pdf")
    async def superbill_pdf(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, appointment_id: FromPath[str]
    ) -> Response[bytes]:
        client, visit_id = await _visit_client(db_session, appointment_id)
        document = await statements.issue_superbill(
            db_session, practice, client, parse_uuid(visit_id, "appointment_id")
        )
        return pdf_response(document, await services.issued_pdf(db_session, document))
