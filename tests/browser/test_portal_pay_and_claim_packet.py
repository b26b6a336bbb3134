"""A client signs in to the portal, sees what she owes, pays it on the (sandbox) checkout page, then downloads a
visit's superbill and the year's FSA/HSA claim packet, in a real browser. The first page of each PDF is
rendered to PNG (pdftoppm) for review; the paths are printed in the test output."""

from __future__ import annotations

import datetime as dt
import io
import re
import secrets
import subprocess
import uuid
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from pypdf import PdfReader
from sqlalchemy import select

from billing import invoices
from billing.documents import services
from billing.documents.samples import LMN
from billing.documents.snapshot import DocumentLine, Tender
from scheduler.booking.models import Appointment, AppointmentStatus
from scheduler.clients.models import Client, ClientSignInLink
from scheduler.db import build_alchemy_config, scope_session, session_scope
from scheduler.plans.models import LetterOfMedicalNecessity, TreatmentPlan
from scheduler.practice.models import Practice, Service, Therapist
from scheduler.practice.services import hash_token
from scheduler.settings import Settings
from tests.browser.test_portal_documents import _download, _first_page_png
from tests.integration.documents_helpers import pdf_text

TODAY = dt.datetime.now(dt.UTC).date()
# Two past weekdays of this year (the packet is this year's): a paid visit with its receipt, and an unpaid one.
FIRST_DAY = max(TODAY - dt.timedelta(days=14), TODAY.replace(month=1, day=1))
SECOND_DAY = max(TODAY - dt.timedelta(days=7), TODAY.replace(month=1, day=1))


def _visit(client: Client, therapist: Therapist, service: Service, day: dt.date) -> Appointment:
    start = dt.datetime.combine(day, dt.time(15, 0), tzinfo=dt.UTC)
    end = start + dt.timedelta(minutes=service.duration_minutes)
    return Appointment(
        client_id=client.id,
        therapist_id=therapist.id,
        service_id=service.id,
        start_at=start,
        end_at=end,
        block_start=start,
        block_end=end,
        status=AppointmentStatus.COMPLETED,
    )


async def _ada_owes_for_one_visit(settings: Settings) -> tuple[str, int]:
    """Ada: a paid visit with its receipt, an LMN on her plan, and a completed visit not paid yet.
    Returns her sign-in path and what she owes."""
    config = build_alchemy_config(settings, pooled=False)
    token = secrets.token_urlsafe(24)
    try:
        async with session_scope(config) as session:
            practice = await session.scalar(select(Practice).where(Practice.slug == "demo"))
            assert practice is not None
            scope_session(session, practice.id)
            practice.address_line1, practice.city, practice.region, practice.postal_code = (
                "120 Atlantic Avenue",
                "Boston",
                "MA",
                "02110",
            )
            practice.phone, practice.ein, practice.npi = "(617) 555-0142", "12-3456789", "1234567893"
            therapist = (await session.scalars(select(Therapist).order_by(Therapist.last_name))).first()
            service = (await session.scalars(select(Service).where(Service.duration_minutes == 60))).first()
            assert therapist is not None
            assert service is not None
            therapist.license_number, therapist.license_state, therapist.npi = "MT-20417", "MA", "1987654321"
            client = Client(
                first_name="Ada",
                last_name="Lovelace",
                email="ada@example.test",
                address_line1="9 Beacon Street",
                city="Boston",
                region="MA",
                postal_code="02108",
                date_of_birth=dt.date(1980, 5, 17),
            )
            session.add(client)
            await session.flush()
            plan = TreatmentPlan(
                client_id=client.id,
                therapist_id=therapist.id,
                service_id=service.id,
                diagnosis_codes=["M54.50"],
                sessions=10,
                first_start_local=dt.datetime.combine(FIRST_DAY, dt.time(10)),
            )
            session.add(plan)
            await session.flush()
            signed = FIRST_DAY - dt.timedelta(days=30)
            session.add(
                LetterOfMedicalNecessity(
                    plan_id=plan.id,
                    issuer_name="Dr. Grace Hopper",
                    issuer_credential="DC",
                    issuer_npi="1122334455",
                    issuer_address="44 Harbor Road, Boston, MA 02110",
                    signed_on=signed,
                    expires_on=signed + dt.timedelta(days=364),
                    condition="Chronic low back pain",
                    frequency="Weekly, 60 minutes",
                )
            )
            paid_visit = _visit(client, therapist, service, FIRST_DAY)
            unpaid_visit = _visit(client, therapist, service, SECOND_DAY)
            session.add_all([paid_visit, unpaid_visit])
            await session.flush()
            lmn = LMN.__class__(
                signed_on=signed, issuer_name="Dr. Grace Hopper", issuer_credential="DC", issuer_npi="1122334455"
            )
            await services.issue_for_invoice(
                session,
                practice,
                services.VisitCharges(
                    invoice_id=uuid.uuid4(),
                    client=client,
                    therapist=therapist,
                    appointment_id=paid_visit.id,
                    lines=(
                        DocumentLine(
                            service_date=FIRST_DAY,
                            description="Therapeutic massage, 60 min",
                            amount=service.price,
                            minutes=60,
                            cpt_code="97124",
                            diagnosis_codes=("M54.50",),
                        ),
                    ),
                    tenders=(Tender(method="card", amount=service.price, card_brand="visa", card_last4="4242"),),
                    lmn=(lmn,),
                ),
            )
            invoice = await invoices.checkout(session, practice, unpaid_visit)
            owed = invoice.balance
            session.add(
                ClientSignInLink(
                    client_id=client.id,
                    token_hash=hash_token(token),
                    expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30),
                )
            )
    finally:
        await config.get_engine().dispose()
    return f"/p/demo/portal/sign-in/{token}", owed


def _money(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


@pytest.mark.usefixtures("live_server")
async def test_client_sees_the_balance_pays_it_and_downloads_a_superbill_and_the_claim_packet(
    page: Page, settings: Settings, tmp_path_factory: pytest.TempPathFactory, record_property: pytest.RecordProperty
) -> None:
    sign_in, owed = await _ada_owes_for_one_visit(settings)
    await page.goto(sign_in)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Hello, Ada")).to_be_visible()
    await page.get_by_role("link", name="Receipts and statements").click()
    await expect(page.get_by_text(f"You owe {_money(owed)}.")).to_be_visible()
    await page.screenshot(path="/tmp/carebook-portal-balance.png", full_page=True)  # noqa: S108
    await page.get_by_role("button", name=f"Pay now {_money(owed)}").click()

    await expect(page).to_have_url(re.compile(r"/sandbox/checkout/cs_\w+$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Pay {_money(owed)}")
    await page.get_by_label("Visa — succeeds").check()
    await page.get_by_role("button", name=f"Pay {_money(owed)}").click()
    await expect(page).to_have_url(re.compile(r"/p/demo/checkout/return\?session_id=cs_"))

    # The payment lands by the processor's webhook, right after the return page: look again until it has.
    for _ in range(20):
        await page.goto("/p/demo/portal/documents/")
        if await page.get_by_text("Nothing to pay. Thank you.").count():
            break
        await page.wait_for_timeout(500)
    await expect(page.get_by_text("Nothing to pay. Thank you.")).to_be_visible()
    await expect(page.get_by_role("link", name="Receipt R-000002")).to_be_visible()
    folder = tmp_path_factory.mktemp("portal-claim-packet")
    superbill = await _download(page, "Superbill for R-000001", folder)
    packet = await _download(page, f"FSA/HSA claim packet {TODAY.year}", folder)

    superbill_text = pdf_text(superbill.read_bytes())
    assert "SUPERBILL" in superbill_text.upper()
    assert "M54.50" in superbill_text
    assert "97124" in superbill_text
    packet_pdf = packet.read_bytes()
    packet_text = pdf_text(packet_pdf)
    both = _money(2 * owed)
    assert re.search(rf"Eligible total to claim \{both} \{both}", packet_text), packet_text
    assert "Letter of medical necessity on file" in packet_text
    assert "Chronic low back pain" in packet_text
    numbers = re.findall(r"No\. (R-\d{6})", packet_text)
    assert numbers == ["R-000001", "R-000002"]
    assert len(PdfReader(io.BytesIO(packet_pdf)).pages) >= 4

    for name, pdf in (("superbill", superbill), ("claim-packet", packet)):
        png = _first_page_png(pdf, name)
        assert png.stat().st_size > 10_000
        record_property(f"{name}_png", str(png))
        print(f"{name} first page: {png}")
    _all_pages_png(packet)


def _all_pages_png(pdf: Path) -> None:
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(pdf), "/tmp/carebook-claim-packet-page"], check=True)  # noqa: S108
