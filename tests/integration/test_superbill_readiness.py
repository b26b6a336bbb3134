"""A superbill an insurer will take: issued only with the patient's date of birth, a billable ICD-10-CM code,
the therapist's NPI and licence, the practice's NPI or EIN and the referring provider's NPI; otherwise a 422
listing every missing item and a desk checklist linking to where each is fixed. Its balance is the invoice's."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import update

from billing.documents import services, statements
from billing.documents.snapshot import DocumentKind
from scheduler.clients.models import Client as ClientRow
from scheduler.db import scope_session, session_scope
from scheduler.errors import SuperbillNotReady
from scheduler.plans.models import TreatmentPlan
from scheduler.practice.models import Practice, Therapist
from tests.integration.billing_helpers import Desk, checkout, desk_with_client, invoice, pay, save_card, visit
from tests.integration.booking_helpers import NEW_YORK, Client, weekday_ahead
from tests.integration.clinical_helpers import HTML, post_form, sign_in
from tests.integration.conftest import Factory
from tests.integration.documents_helpers import clinic, pdf_text
from tests.integration.test_documents_delivery import _sign_in as _sign_in_to_portal
from tests.integration.test_documents_issue import _appointment, _issue


async def _plan(client: Client, desk: Desk, *, codes: list[str], issuer_npi: str | None) -> dict[str, Any]:
    signed = dt.datetime.now(NEW_YORK).date() - dt.timedelta(days=60)
    created = await client.post(
        "/api/v1/treatment-plans",
        json={
            "client_id": desk.client_id,
            "therapist_id": desk.therapist_id,
            "service_id": desk.service_id,
            "diagnosis_codes": codes,
            "frequency": {"freq": "weekly", "weekdays": ["WE"]},
            "sessions": 4,
            "first_start": f"{weekday_ahead(21, 2).isoformat()}T11:00",
            "lmn": {
                "issuer_name": "Dr. Grace Hopper",
                "issuer_credential": "DC",
                "issuer_npi": issuer_npi,
                "signed_on": signed.isoformat(),
                "expires_on": (signed + dt.timedelta(days=364)).isoformat(),
            },
        },
        headers=desk.owner.headers,
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


async def _born(client: Client, desk: Desk) -> None:
    born = await client.patch(
        f"/api/v1/clients/{desk.client_id}",
        json={"first_name": "Kim", "last_name": "Park", "email": "kim@example.test", "date_of_birth": "1984-02-29"},
        headers=desk.headers,
    )
    assert born.status_code == 200, born.text


async def _paid_visit(client: Client, desk: Desk) -> tuple[str, dict[str, Any], dict[str, Any]]:
    await save_card(client, desk)
    appointment = await visit(client, desk)
    assert (await client.post(f"/api/v1/appointments/{appointment}/complete", headers=desk.headers)).status_code == 200
    inv = await checkout(client, desk, appointment)
    charged = await pay(client, desk, inv["id"], "card_on_file", desk.price)
    assert charged.status_code == 201, charged.text
    return appointment, inv, charged.json()


async def test_a_superbill_missing_what_insurers_need_is_422_listing_every_item(
    client: Client, factory: Factory
) -> None:
    desk = await desk_with_client(client, factory)
    plan = await _plan(client, desk, codes=["M62.830"], issuer_npi=None)
    async with session_scope(factory.alchemy) as session:
        # What a desk finds on older records: a therapist without NPI or licence, a practice without NPI or EIN,
        # a plan written before codes were checked.
        scope_session(session, desk.staff.practice.id)
        practice = await session.get_one(Practice, desk.staff.practice.id)
        practice.npi = None
        practice.ein = ""
        therapist = await session.get_one(Therapist, desk.therapist_id)
        therapist.npi = None
        therapist.license_number = ""
        await session.execute(
            update(TreatmentPlan).where(TreatmentPlan.client_id == desk.client_id).values(diagnosis_codes=["M54.5"])
        )
    appointment, _, _ = await _paid_visit(client, desk)

    refused = await client.get(f"/api/v1/appointments/{appointment}/superbill.pdf", headers=desk.headers)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["code"] == "superbill_not_ready"
    missing = {m["item"]: m for m in problem["missing"]}
    assert list(missing) == [
        "date_of_birth",
        "referring_provider_npi",
        "diagnosis_codes",
        "therapist_npi",
        "therapist_licence",
        "practice_npi_or_ein",
    ]
    assert missing["date_of_birth"]["detail"] == "Kim Park's date of birth is not on file (box 3)."
    assert "Dr. Grace Hopper" in missing["referring_provider_npi"]["detail"]
    assert (
        "M54.5 is a heading, not a billable ICD-10-CM code: use one of M54.50, M54.51, M54.59."
        in (missing["diagnosis_codes"]["detail"])
    )
    assert missing["date_of_birth"]["fix_url"] == f"/staff/clients/{desk.client_id}#date-of-birth"
    assert missing["therapist_npi"]["fix_url"] == f"/staff/setup/therapists/{desk.therapist_id}"
    assert missing["diagnosis_codes"]["fix_url"] == f"/staff/plans/{plan['id']}"
    assert missing["practice_npi_or_ein"]["fix_url"] == "/staff/setup#identifiers"
    for item in missing.values():
        assert item["detail"].rstrip(".") in problem["detail"]
    listed = await client.get(f"/api/v1/clients/{desk.client_id}/documents", headers=desk.headers)
    assert "superbill" not in [d["kind"] for d in listed.json()["items"]]  # nothing numbered

    # The desk's checklist shows the same items, each linking to the page that fixes it.
    await sign_in(client, desk.staff.user.email)
    page = await client.get(f"/staff/appointments/{appointment}/superbill", headers=HTML)
    assert page.status_code == 422
    for item in missing.values():
        assert item["detail"].split(" (box")[0].replace("'", "&#39;") in page.text
        assert f'href="{item["fix_url"]}"' in page.text


async def test_a_ready_superbill_prints_dob_npi_licence_codes_and_referring_provider(
    client: Client, factory: Factory
) -> None:
    desk = await desk_with_client(client, factory)
    await _plan(client, desk, codes=["M54.50", "M62.830"], issuer_npi="1122334455")
    await _born(client, desk)
    appointment, _, _ = await _paid_visit(client, desk)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, desk.staff.practice.id)
        therapist = await session.get_one(Therapist, desk.therapist_id)
        practice = await session.get_one(Practice, desk.staff.practice.id)
        expected_therapist = (therapist.npi, therapist.license_number, practice.npi)

    superbill = await client.get(f"/api/v1/appointments/{appointment}/superbill.pdf", headers=desk.headers)
    assert superbill.status_code == 200, superbill.text
    text = pdf_text(superbill.content)
    npi, licence, practice_npi = expected_therapist
    for expected in [
        "Date of birth Feb 29, 1984",
        f"NPI {npi}",
        f"Licence NY {licence}",
        f"NPI {practice_npi}",
        "A. M54.50",
        "B. M62.830",
        "Dr. Grace Hopper, DC",
        "NPI 1122334455",
    ]:
        assert expected in text, expected

    await sign_in(client, desk.staff.user.email)
    visit_page = await client.get(f"/staff/appointments/{appointment}", headers=HTML)
    assert f'href="/staff/appointments/{appointment}/superbill"' in visit_page.text
    page = await client.get(f"/staff/appointments/{appointment}/superbill", headers=HTML)
    assert page.status_code == 200
    assert "Ready to issue" in page.text
    assert f'href="/staff/appointments/{appointment}/superbill.pdf"' in page.text
    pdf = await client.get(f"/staff/appointments/{appointment}/superbill.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content == superbill.content


async def test_the_superbill_balance_after_a_goodwill_refund_is_the_invoices(client: Client, factory: Factory) -> None:
    desk = await desk_with_client(client, factory)
    await _plan(client, desk, codes=["M54.50"], issuer_npi="1122334455")
    await _born(client, desk)
    appointment, inv, charged = await _paid_visit(client, desk)
    refund = await client.post(
        f"/api/v1/payments/{charged['id']}/refunds", json={"amount": 2000, "reason": "goodwill"}, headers=desk.headers
    )
    assert refund.status_code == 201, refund.text
    settled = await invoice(client, desk, inv["id"])
    assert settled["balance"] == 0

    superbill = await client.get(f"/api/v1/appointments/{appointment}/superbill.pdf", headers=desk.headers)
    assert superbill.status_code == 200, superbill.text
    text = pdf_text(superbill.content)
    price = desk.price - 2000
    paid = f"${price // 100}.{price % 100:02d}"
    assert f"Amount paid (29) {paid}" in text
    assert "Balance $0.00" in text
    assert "Credit note CN-000001: goodwill" in text


async def test_a_correction_with_no_money_moved_leaves_no_balance_either(factory: Factory) -> None:
    place = await clinic(factory)
    appointment_id = await _appointment(factory, place)
    receipt = await _issue(factory, place, appointment_id=appointment_id)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        practice = await session.get_one(Practice, place.practice.id)
        await services.issue_credit_note(session, practice, receipt, amount=20_00, reason="goodwill")
        superbill = await statements.issue_superbill(session, practice, place.client, appointment_id)
    assert superbill.kind == DocumentKind.SUPERBILL
    assert (superbill.snapshot.total, superbill.snapshot.paid, superbill.snapshot.balance) == (100_00, 100_00, 0)


async def test_issue_superbill_raises_not_ready_without_a_date_of_birth(factory: Factory) -> None:
    place = await clinic(factory)
    appointment_id = await _appointment(factory, place)
    await _issue(factory, place, appointment_id=appointment_id)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        (await session.get_one(ClientRow, place.client.id)).date_of_birth = None
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        practice = await session.get_one(Practice, place.practice.id)
        client_row = await session.get_one(ClientRow, place.client.id)
        with pytest.raises(SuperbillNotReady) as refused:
            await statements.issue_superbill(session, practice, client_row, appointment_id)
    assert [m["item"] for m in refused.value.extra["missing"]] == ["date_of_birth"]


async def test_the_checklists_links_fix_the_date_of_birth_and_the_practice_identifiers(
    client: Client, factory: Factory
) -> None:
    desk = await desk_with_client(client, factory)
    await _plan(client, desk, codes=["M54.50"], issuer_npi="1122334455")
    async with session_scope(factory.alchemy) as session:
        scope_session(session, desk.staff.practice.id)
        practice = await session.get_one(Practice, desk.staff.practice.id)
        practice.npi = None
        practice.ein = ""
    appointment, _, _ = await _paid_visit(client, desk)
    refused = await client.get(f"/api/v1/appointments/{appointment}/superbill.pdf", headers=desk.headers)
    assert [m["item"] for m in refused.json()["missing"]] == ["date_of_birth", "practice_npi_or_ein"]

    await sign_in(client, desk.staff.user.email)
    client_page = f"/staff/clients/{desk.client_id}"
    bad = await post_form(
        client, f"{client_page}/date-of-birth", {"date_of_birth": "2999-01-01"}, csrf_from=client_page
    )
    assert bad.status_code == 400
    saved = await post_form(
        client, f"{client_page}/date-of-birth", {"date_of_birth": "1984-02-29"}, csrf_from=client_page
    )
    assert saved.status_code == 303
    assert "Feb 29, 1984" in (await client.get(client_page, headers=HTML)).text

    await sign_in(client, desk.owner.user.email)
    wrong = await post_form(client, "/staff/setup/identifiers", {"ein": "12-345", "npi": ""}, csrf_from="/staff/setup")
    assert wrong.status_code == 400
    assert "An EIN is nine digits" in wrong.text
    bad_npi = await post_form(
        client, "/staff/setup/identifiers", {"ein": "", "npi": "1234567890"}, csrf_from="/staff/setup"
    )
    assert bad_npi.status_code == 400
    assert "check digit" in bad_npi.text
    ok = await post_form(client, "/staff/setup/identifiers", {"ein": "123456789", "npi": ""}, csrf_from="/staff/setup")
    assert ok.status_code == 303, ok.text

    superbill = await client.get(f"/api/v1/appointments/{appointment}/superbill.pdf", headers=desk.headers)
    assert superbill.status_code == 200, superbill.text
    text = pdf_text(superbill.content)
    assert "Date of birth Feb 29, 1984" in text
    assert "EIN 12-3456789" in text


async def test_the_portal_tells_the_client_in_plain_words_what_a_superbill_still_needs(
    client: Client, factory: Factory
) -> None:
    """The portal's superbill link is a download: a superbill not ready yet must answer a page the client can
    read (not a problem document saved as a ".pdf"), naming what is missing in their words; once the date of
    birth is on file the same link saves the PDF."""
    desk = await desk_with_client(client, factory)
    await _plan(client, desk, codes=["M54.50"], issuer_npi="1234567893")
    appointment, _, _ = await _paid_visit(client, desk)
    await _sign_in_to_portal(client, factory, desk)

    page = await client.get(f"/p/demo/portal/documents/superbills/{appointment}.pdf", headers=HTML)
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert "Your superbill is not ready yet" in page.text
    assert "your date of birth" in page.text
    assert "box 3" not in page.text  # the desk's wording stays on the desk

    await _born(client, desk)
    saved = await client.get(f"/p/demo/portal/documents/superbills/{appointment}.pdf")
    assert saved.status_code == 200, saved.text
    assert saved.headers["content-disposition"].startswith("attachment;")
    assert "SUPERBILL" in pdf_text(saved.content).upper()
