"""The client's own treatment plans in the portal: goals, home care, progress chart and report PDF."""

from __future__ import annotations

import datetime as dt
import io
import re

import pypdf
from sqlalchemy import select

from scheduler.db import session_scope, unscoped
from scheduler.mail.models import OutboxMessage
from scheduler.practice.models import Role
from tests.integration.booking_helpers import NEW_YORK, load_demo
from tests.integration.clinical_helpers import HTML, Client, new_client, post_form
from tests.integration.conftest import Factory
from tests.integration.plan_helpers import make_plan
from tests.integration.portal_helpers import follow_sign_in_link

TODAY = dt.datetime.now(dt.UTC).date()


async def portal_sign_in(client: Client, factory: Factory, email: str) -> None:
    sent = await post_form(client, "/p/demo/portal", {"email": email}, csrf_from="/p/demo/portal")
    assert sent.status_code == 200
    async with session_scope(factory.alchemy) as session:
        with unscoped(session):
            bodies = [m.body_text for m in await session.scalars(select(OutboxMessage)) if m.to_address == email]
    match = re.search(r"/p/demo/portal/sign-in/\S+", bodies[-1])
    assert match
    assert (await follow_sign_in_link(client, match.group(0))).status_code == 303


async def test_client_sees_own_plan_progress_without_private_notes(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    demo = await load_demo(client)
    owner = await factory.staff(practice, Role.OWNER)
    kim = await new_client(client, owner, "Kim")
    lee = await new_client(client, owner, "Lee")
    kim_plan = await make_plan(factory, practice, client_id=kim, therapist_id=demo.therapist, service_id=demo.massage)
    lee_plan = await make_plan(factory, practice, client_id=lee, therapist_id=demo.therapist, service_id=demo.massage)
    url = f"/api/v1/treatment-plans/{kim_plan}/assessments"
    for days, back, notes in ((30, 7, "PRIVATE-NOTE guarded"), (2, 4, "")):
        body = {
            "assessed_on": (TODAY - dt.timedelta(days=days)).isoformat(),
            "pain": [{"area": "Lower back", "intensity": back}],
            "notes": notes,
        }
        assert (await client.post(url, json=body, headers=owner.headers)).status_code == 201

    assert (
        await client.get(f"/p/demo/portal/plans/{kim_plan}", headers=HTML, follow_redirects=False)
    ).status_code == 303
    await portal_sign_in(client, factory, "kim@example.test")
    listed = await client.get("/p/demo/portal/plans", headers=HTML)
    assert kim_plan in listed.text
    assert lee_plan not in listed.text
    page = await client.get(f"/p/demo/portal/plans/{kim_plan}", headers=HTML)
    assert page.status_code == 200
    assert "Sit through a work day without pain" in page.text
    assert "Heat 15 minutes daily" in page.text
    assert "<svg" in page.text
    assert "better (" in page.text
    assert "PRIVATE-NOTE" not in page.text

    pdf = await client.get(f"/p/demo/portal/plans/{kim_plan}/progress-report.pdf")
    assert pdf.status_code == 200
    text = " ".join(p.extract_text() or "" for p in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Treatment progress report" in text
    today = dt.datetime.now(NEW_YORK).date()
    assert f"Report date {today:%b} {today.day}, {today.year}" in text  # not 2027-03-02
    assert "PRIVATE-NOTE" not in text

    assert (await client.get(f"/p/demo/portal/plans/{lee_plan}", headers=HTML)).status_code == 404
    assert (await client.get(f"/p/demo/portal/plans/{lee_plan}/progress-report.pdf")).status_code == 404
