"""Receipts follow the money and the visit: the desk's checkout, payments, completion and refunds issue
the right documents, each once, through the same API the front desk uses."""

from __future__ import annotations

import datetime as dt

from tests.integration.billing_helpers import (
    checkout,
    desk_with_client,
    fake,
    past_weekday,
    pay,
    save_card,
    visit,
)
from tests.integration.booking_helpers import NEW_YORK, Client, weekday_ahead
from tests.integration.conftest import Factory
from tests.integration.documents_helpers import pdf_text
from tests.integration.fake_gateway import FakeGateway

__all__ = ["fake"]


async def _documents(client: Client, headers: dict[str, str], client_id: str) -> list[tuple[str, str]]:
    listed = await client.get(f"/api/v1/clients/{client_id}/documents", headers=headers)
    assert listed.status_code == 200, listed.text
    return [(d["kind"], d["number"]) for d in listed.json()["items"]]


async def test_paid_before_completion_gets_an_acknowledgement_then_the_receipt_on_completion(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    appointment = await visit(client, desk)
    inv = await checkout(client, desk, appointment)
    for line in (
        {"kind": "tip", "description": "Gratuity", "amount": 2500},
        {"kind": "retail", "description": "Arnica gel", "amount": 1800},
    ):
        added = await client.post(f"/api/v1/invoices/{inv['id']}/lines", json=line, headers=desk.headers)
        assert added.status_code in {200, 201}, added.text
    paid = await pay(client, desk, inv["id"], "card_on_file", desk.price + 4300)
    assert paid.status_code == 201, paid.text

    before = await client.get(f"/api/v1/invoices/{inv['id']}/receipt.pdf", headers=desk.headers)
    assert before.status_code == 404
    assert await _documents(client, desk.headers, desk.client_id) == [("payment_ack", "PA-000001")]
    ack = await client.get(f"/api/v1/invoices/{inv['id']}/documents", headers=desk.headers)
    ack_pdf = await client.get(ack.json()["items"][0]["pdf_url"], headers=desk.headers)
    assert "NOT A MEDICAL RECEIPT" in pdf_text(ack_pdf.content)

    completed = await client.post(f"/api/v1/appointments/{appointment}/complete", headers=desk.headers)
    assert completed.status_code == 200, completed.text
    receipt = await client.get(f"/api/v1/invoices/{inv['id']}/receipt.pdf", headers=desk.headers)
    assert receipt.status_code == 200
    text = pdf_text(receipt.content)
    price = f"${desk.price // 100}.{desk.price % 100:02d}"
    assert f"Eligible subtotal {price}" in text
    assert "Not eligible subtotal $43.00" in text
    assert "Visa ending 4242" in text
    assert "97124" in text
    assert await _documents(client, desk.headers, desk.client_id) == [
        ("payment_ack", "PA-000001"),
        ("receipt", "R-000001"),
    ]
    # completing again (a repeated click) issues nothing new
    await client.post(f"/api/v1/appointments/{appointment}/complete", headers=desk.headers)
    assert len(await _documents(client, desk.headers, desk.client_id)) == 2


async def test_completed_first_then_settled_issues_the_receipt_at_settlement(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    appointment = await visit(client, desk)
    assert (await client.post(f"/api/v1/appointments/{appointment}/complete", headers=desk.headers)).status_code == 200
    inv = await checkout(client, desk, appointment)
    part = await pay(client, desk, inv["id"], "cash", 5000)
    assert part.status_code == 201
    assert (await client.get(f"/api/v1/invoices/{inv['id']}/receipt.pdf", headers=desk.headers)).status_code == 404
    rest = await pay(client, desk, inv["id"], "cash", desk.price - 5000)
    assert rest.status_code == 201
    receipt = await client.get(f"/api/v1/invoices/{inv['id']}/receipt.pdf", headers=desk.headers)
    assert receipt.status_code == 200
    assert "Cash" in pdf_text(receipt.content)
    assert await _documents(client, desk.headers, desk.client_id) == [("receipt", "R-000001")]


async def test_a_refund_after_the_receipt_is_a_credit_note_and_the_receipt_stays_byte_identical(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    appointment = await visit(client, desk)
    await client.post(f"/api/v1/appointments/{appointment}/complete", headers=desk.headers)
    inv = await checkout(client, desk, appointment)
    charged = (await pay(client, desk, inv["id"], "card_on_file", desk.price)).json()
    first = await client.get(f"/api/v1/invoices/{inv['id']}/receipt.pdf", headers=desk.headers)
    assert first.status_code == 200

    refund = await client.post(
        f"/api/v1/payments/{charged['id']}/refunds",
        json={"amount": 2000, "reason": "Session cut short"},
        headers=desk.headers,
    )
    assert refund.status_code == 201, refund.text
    documents = await _documents(client, desk.headers, desk.client_id)
    assert documents == [("receipt", "R-000001"), ("credit_note", "CN-000001")]
    listed = (await client.get(f"/api/v1/invoices/{inv['id']}/documents", headers=desk.headers)).json()["items"]
    note = next(d for d in listed if d["kind"] == "credit_note")
    assert note["references_number"] == "R-000001"
    assert note["total"] == -2000
    note_pdf = await client.get(f"/api/v1/credit-notes/{note['id']}.pdf", headers=desk.headers)
    text = pdf_text(note_pdf.content)
    assert "Credit note for receipt R-000001" in text
    assert "Session cut short" in text
    assert "Visa ending 4242" in text
    again = await client.get(f"/api/v1/invoices/{inv['id']}/receipt.pdf", headers=desk.headers)
    assert again.content == first.content


async def test_a_no_show_fee_gets_no_receipt_and_no_acknowledgement(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    await client.put("/api/v1/billing/policy", json={"no_show_fee": 4000}, headers=desk.owner.headers)
    appointment = await visit(client, desk)
    assert (await client.post(f"/api/v1/appointments/{appointment}/no-show", headers=desk.headers)).status_code == 200
    # The fee has its own notice (not a medical receipt); the missed visit has no receipt or acknowledgement.
    assert await _documents(client, desk.headers, desk.client_id) == [("fee_notice", "FN-000001")]
    # A missed visit is no eligible activity: no statement for its year either.
    year = past_weekday().year
    statement = await client.get(f"/api/v1/clients/{desk.client_id}/statements/{year}.pdf", headers=desk.headers)
    assert statement.status_code == 404
    assert statement.json()["detail"].startswith(f"No FSA-eligible visits in {year}")


async def test_receipt_carries_the_plans_icd10_codes_and_lmn_and_the_superbill_its_referring_provider(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    today = dt.datetime.now(NEW_YORK).date()
    signed = today - dt.timedelta(days=60)
    plan = await client.post(
        "/api/v1/treatment-plans",
        json={
            "client_id": desk.client_id,
            "therapist_id": desk.therapist_id,
            "service_id": desk.service_id,
            "diagnosis_codes": ["M54.50", "M62.830"],
            "frequency": {"freq": "weekly", "weekdays": ["WE"]},
            "sessions": 4,
            "first_start": f"{weekday_ahead(21, 2).isoformat()}T11:00",
            "lmn": {
                "issuer_name": "Dr. Grace Hopper",
                "issuer_credential": "DC",
                "issuer_npi": "1122334455",
                "signed_on": signed.isoformat(),
                "expires_on": (signed + dt.timedelta(days=364)).isoformat(),
                "condition": "Chronic low back pain",
            },
        },
        headers=desk.owner.headers,
    )
    assert plan.status_code == 201, plan.text
    appointment = await visit(client, desk)
    await client.post(f"/api/v1/appointments/{appointment}/complete", headers=desk.headers)
    inv = await checkout(client, desk, appointment)
    assert (await pay(client, desk, inv["id"], "cash", desk.price)).status_code == 201

    receipt = pdf_text((await client.get(f"/api/v1/invoices/{inv['id']}/receipt.pdf", headers=desk.headers)).content)
    assert "M54.50, M62.830" in receipt
    assert f"LMN on file, signed {signed:%B} {signed.day}, {signed.year} by Dr. Grace Hopper, DC" in receipt
    assert "Chronic low back pain" not in receipt  # the letter is cited, its condition never printed

    not_ready = await client.get(f"/api/v1/appointments/{appointment}/superbill.pdf", headers=desk.headers)
    assert not_ready.status_code == 422  # the client's date of birth is not on file yet
    assert [m["item"] for m in not_ready.json()["missing"]] == ["date_of_birth"]
    born = await client.patch(
        f"/api/v1/clients/{desk.client_id}",
        json={"first_name": "Kim", "last_name": "Park", "email": "kim@example.test", "date_of_birth": "1984-02-29"},
        headers=desk.headers,
    )
    assert born.status_code == 200, born.text
    superbill = await client.get(f"/api/v1/appointments/{appointment}/superbill.pdf", headers=desk.headers)
    assert superbill.status_code == 200
    text = pdf_text(superbill.content)
    for expected in [
        "Date of birth Feb 29, 1984",
        "A. M54.50",
        "B. M62.830",
        "Dr. Grace Hopper, DC",
        "NPI 1122334455",
        " 11 97124",
        "AB 4",
    ]:
        assert expected in text, expected
