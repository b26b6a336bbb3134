"""Clients get their documents without asking, and fast: a document is rendered right after the request that
issued it (before anyone downloads it), the client is e-mailed a signed link to it (once, with no PDF and no
health detail), and the portal lists every kind, shows what is owed and offers "Pay now"."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid

from sqlalchemy import func, select

from billing.documents import issuing, rendering, services
from billing.documents.delivery import MAIL_KIND
from billing.documents.models import DocumentRendition, IssuedDocument
from billing.documents.render_queue import ToRender, take_committed
from billing.models import Invoice
from scheduler.booking.models import Appointment, AppointmentStatus
from scheduler.clients.models import ClientSignInLink
from scheduler.db import scope_session, session_scope
from scheduler.format import format_money
from scheduler.mail.models import OutboxMessage
from scheduler.practice.services import hash_token
from tests.integration.billing_helpers import Desk, checkout, desk_with_client, invoice, pay, visit
from tests.integration.booking_helpers import Client
from tests.integration.conftest import Factory
from tests.integration.documents_helpers import clinic, pdf_text, visit_charges
from tests.integration.portal_helpers import follow_sign_in_link
from tests.integration.test_mail_and_portal import HTML, csrf_of

HEALTH_WORDS = ("massage", "97124", "m54", "m62", "diagnos", "therap", "lmn", "$")


async def _paid_visit(client: Client, desk: Desk, hour: int = 10) -> str:
    appointment = await visit(client, desk, hour=hour)
    completed = await client.post(f"/api/v1/appointments/{appointment}/complete", headers=desk.headers)
    assert completed.status_code == 200, completed.text
    invoice = await checkout(client, desk, appointment)
    assert (await pay(client, desk, invoice["id"], "cash", invoice["balance"])).status_code == 201
    return str(invoice["id"])


async def _mail(factory: Factory, practice_id: object) -> list[OutboxMessage]:
    async with session_scope(factory.alchemy) as session:
        scope_session(session, practice_id)  # type: ignore[arg-type]
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == MAIL_KIND).order_by(OutboxMessage.created_at)
        )
        return list(rows)


async def test_a_receipt_is_rendered_before_any_download_and_mailed_once_as_a_signed_link(
    client: Client, factory: Factory
) -> None:
    desk = await desk_with_client(client, factory)
    invoice_id = await _paid_visit(client, desk)
    practice = desk.staff.practice
    async with session_scope(factory.alchemy) as session:
        scope_session(session, practice.id)
        receipt = await session.scalar(select(IssuedDocument).where(IssuedDocument.invoice_id == uuid.UUID(invoice_id)))
        assert receipt is not None
        assert receipt.number == "R-000001"
        stored = await session.scalar(
            select(func.count()).select_from(DocumentRendition).where(DocumentRendition.document_id == receipt.id)
        )
        assert stored == 1, "rendered after the request that issued it, before any download"
        # A second settlement signal issues nothing new, so mails nothing new.
        invoice = await session.get_one(Invoice, receipt.invoice_id)
        assert (await issuing.receipt_when_due(session, invoice)).id == receipt.id  # type: ignore[union-attr]

    messages = await _mail(factory, practice.id)
    assert [m.to_address for m in messages] == ["kim@example.test"]
    message = messages[0]
    assert "R-000001" in message.subject
    assert message.attachments == []
    # The practice's own name ("Demo Massage & Bodywork") is no health detail; nothing else may name the care.
    body = message.body_text.replace(practice.name, "PRACTICE")
    subject = message.subject.replace(practice.name, "PRACTICE")
    for word in HEALTH_WORDS:
        assert word not in body.lower(), f"{word!r} in the e-mail body"
        assert word not in subject.lower(), f"{word!r} in the subject"
    link = re.search(r"http://testserver\.local(/p/demo/documents/\S+)", body)
    assert link, body
    downloaded = await client.get(link.group(1))
    assert downloaded.status_code == 200
    assert downloaded.headers["content-type"] == "application/pdf"
    assert "No. R-000001" in pdf_text(downloaded.content)
    forged = await client.get(link.group(1)[:-3] + "AAA")
    assert forged.status_code == 404


async def _sign_in(client: Client, factory: Factory, desk: Desk) -> None:
    token = secrets.token_urlsafe(24)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, desk.staff.practice.id)
        session.add(
            ClientSignInLink(
                client_id=uuid.UUID(desk.client_id),
                token_hash=hash_token(token),
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30),
            )
        )
    assert (await follow_sign_in_link(client, f"/p/demo/portal/sign-in/{token}")).status_code == 303


async def test_the_portal_lists_every_kind_shows_the_balance_and_pay_now_opens_the_pay_link(
    client: Client, factory: Factory
) -> None:
    desk = await desk_with_client(client, factory)
    await _paid_visit(client, desk)
    unpaid = await visit(client, desk, hour=14)
    assert (await client.post(f"/api/v1/appointments/{unpaid}/complete", headers=desk.headers)).status_code == 200
    owed = await checkout(client, desk, unpaid)
    other = await desk_with_client(client, factory, email="lee@example.test")
    others_visit = await visit(client, other, hour=16)
    await client.post(f"/api/v1/appointments/{others_visit}/complete", headers=desk.headers)
    others_invoice = await checkout(client, other, others_visit)

    await _sign_in(client, factory, desk)
    statement = await client.get(f"/p/demo/portal/documents/statements/{dt.datetime.now(dt.UTC).year}.pdf")
    assert statement.status_code == 200
    page = await client.get("/p/demo/portal/documents/", headers=HTML)
    assert page.status_code == 200
    assert f"You owe {format_money(owed['balance'], 'USD')}" in page.text
    assert "Receipt R-000001" in page.text
    assert "FSA/HSA year-end statement ST-000001" in page.text
    assert 'data-kind="receipt"' in page.text
    assert 'data-kind="statement"' in page.text
    assert "claim-packets/" in page.text

    form = {"_csrf_token": csrf_of(page.text)}
    paid = await client.post(f"/p/demo/portal/documents/pay/{owed['id']}", data=form, follow_redirects=False)
    assert paid.status_code == 303, paid.text
    assert re.search(r"/sandbox/checkout/cs_test_\w+$", paid.headers["location"])
    again = await client.post(f"/p/demo/portal/documents/pay/{owed['id']}", data=form, follow_redirects=False)
    assert again.headers["location"] == paid.headers["location"], "the open pay link, not a second one"
    theirs = await client.post(
        f"/p/demo/portal/documents/pay/{others_invoice['id']}", data=form, follow_redirects=False
    )
    assert theirs.status_code == 404


async def test_the_sweep_renders_what_a_stopped_process_left_unrendered_and_a_rolled_back_issue_is_not_queued(
    factory: Factory,
) -> None:
    place = await clinic(factory)
    take_committed()
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        receipt = await services.issue_for_invoice(session, place.practice, visit_charges(place))
    # Queued when its transaction committed; dropped here as a process that stopped before rendering drops it.
    assert take_committed() == [ToRender(place.practice.id, receipt.id)]
    async with factory.alchemy.get_session() as session:
        scope_session(session, place.practice.id)
        await session.begin()
        await services.issue_for_invoice(session, place.practice, visit_charges(place))
        await session.rollback()
        assert await services.stored_pdf(session, receipt) is None
    assert take_committed() == [], "a rolled-back issue renders nothing"

    assert await rendering.render_unrendered(factory.alchemy) == 1
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        stored = await services.stored_pdf(session, receipt)
    assert stored is not None
    assert "No. R-000001" in pdf_text(stored)
    assert await rendering.render_unrendered(factory.alchemy) == 0


async def test_pay_now_is_not_offered_for_a_visit_still_to_come(client: Client, factory: Factory) -> None:
    """An upcoming visit's invoice (the desk opened its checkout ahead) is not the client's to pay from the portal:
    money paid ahead would be stranded by a cancellation or a missed hold. Neither listed nor payable."""
    desk = await desk_with_client(client, factory)
    upcoming = await visit(client, desk, past=False)
    ahead = await checkout(client, desk, upcoming)
    assert ahead["balance"] > 0

    await _sign_in(client, factory, desk)
    page = await client.get("/p/demo/portal/documents/", headers=HTML)
    assert "Nothing to pay. Thank you." in page.text
    assert f"/pay/{ahead['id']}" not in page.text
    form = {"_csrf_token": csrf_of(page.text)}
    refused = await client.post(f"/p/demo/portal/documents/pay/{ahead['id']}", data=form, follow_redirects=False)
    assert refused.status_code == 404
    assert (await invoice(client, desk, ahead["id"]))["payments"] == [], "no pay link was made"

    # Once the visit has happened, it is the client's to pay.
    async with session_scope(factory.alchemy) as session:
        scope_session(session, desk.staff.practice.id)
        row = await session.get_one(Appointment, uuid.UUID(upcoming))
        row.status = AppointmentStatus.COMPLETED
    page = await client.get("/p/demo/portal/documents/", headers=HTML)
    assert f"/pay/{ahead['id']}" in page.text
