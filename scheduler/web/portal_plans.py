"""The client's own treatment plans in the portal: goals, home care, progress chart, report PDF.

Same sign-in and scoping as the rest of the portal (`scheduler.web.portal`): a plan that is not the
signed-in client's is simply not found. The client's view carries no private assessment notes.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.clients.models import Client
from scheduler.deps import DbSession, PathPractice
from scheduler.errors import NotFound
from scheduler.plans.models import TreatmentPlan
from scheduler.plans.report import describe_frequency, progress_report_pdf, progress_view
from scheduler.practice.deps import provide_public_practice
from scheduler.validation import parse_uuid
from scheduler.web.portal import PortalClient, PortalSignInRequired, provide_portal_client


def _to_sign_in(request: Request[Any, Any, Any], _exc: PortalSignInRequired) -> Response[Any]:
    return Redirect(path=f"/p/{request.path_params.get('slug', '')}/portal", status_code=303)


async def _own_plan(session: AsyncSession, client: Client, plan_id: str) -> TreatmentPlan:
    plan = await session.scalar(
        select(TreatmentPlan).where(
            TreatmentPlan.id == parse_uuid(plan_id, "plan_id"), TreatmentPlan.client_id == client.id
        )
    )
    if plan is None:
        raise NotFound("No such treatment plan.", field="plan_id")
    return plan


async def own_plans(session: AsyncSession, client_id: uuid.UUID) -> list[TreatmentPlan]:
    return list(
        await session.scalars(
            select(TreatmentPlan).where(TreatmentPlan.client_id == client_id).order_by(TreatmentPlan.created_at.desc())
        )
    )


class PortalPlansController(Controller):
    path = "/p/{slug:str}/portal/plans"
    include_in_schema = False
    dependencies = {"practice": Provide(provide_public_practice), "client": Provide(provide_portal_client)}
    exception_handlers = {PortalSignInRequired: _to_sign_in}

    @get("/", name="portal_plans")
    async def plans(self, db_session: DbSession, practice: PathPractice, client: PortalClient) -> Template:
        plans = await own_plans(db_session, client.id)
        return Template(
            template_name="portal/plans.html",
            context={
                "practice": practice,
                "portal": f"/p/{practice.slug}/portal",
                "client": client,
                "signed_in": True,
                "plans": [(p, describe_frequency(p.frequency or {})) for p in plans],
            },
        )

    @get("/{plan_id:str}", name="portal_plan")
    async def plan(
        self, db_session: DbSession, practice: PathPractice, client: PortalClient, plan_id: FromPath[str]
    ) -> Template:
        found = await _own_plan(db_session, client, plan_id)
        return Template(
            template_name="portal/plan.html",
            context={
                "practice": practice,
                "portal": f"/p/{practice.slug}/portal",
                "client": client,
                "signed_in": True,
                "view": await progress_view(db_session, practice, found, for_client=True),
            },
        )

    @get("/{plan_id:str}/progress-report.pdf", media_type="application/pdf")
    async def report(
        self, db_session: DbSession, practice: PathPractice, client: PortalClient, plan_id: FromPath[str]
    ) -> Response[bytes]:
        found = await _own_plan(db_session, client, plan_id)
        return Response(
            await progress_report_pdf(db_session, practice, found),
            media_type="application/pdf",
            headers={"Content-Disposition": 'attachment; filename="progress-report.pdf"', "Cache-Control": "no-store"},
        )
