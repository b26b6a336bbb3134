"""A client signs in to the portal by their e-mailed link and downloads this year's FSA/HSA statement and a
receipt, in a real browser. The first page of each PDF is rendered to PNG (pdftoppm) for review; the paths
are printed in the test output."""

from __future__ import annotations

import datetime as dt
import secrets
import subprocess
import uuid
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from billing.documents import services
from billing.documents.samples import LMN
from billing.documents.snapshot import DocumentLine, LineKind, Tender
from scheduler.clients.models import Client, ClientSignInLink
from scheduler.db import build_alchemy_config, scope_session, session_scope
from scheduler.practice.models import Practice, Therapist
from scheduler.practice.services import hash_token
from scheduler.settings import Settings
from tests.integration.documents_helpers import pdf_text

# First pages for review, next to the front desk's screenshots (also recorded as test properties).
PNG_DIR = Path("/tmp")  # noqa: S108
TODAY = dt.datetime.now(dt.UTC).date()
VISIT_DAY = TODAY - dt.timedelta(days=1) if TODAY.timetuple().tm_yday > 1 else TODAY


async def _client_with_a_receipt(settings: Settings) -> str:
    """Ada, a client of the demo practice with one paid visit and its receipt; returns her sign-in path."""
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
            practice.phone, practice.ein = "(617) 555-0142", "12-3456789"
            therapist = (await session.scalars(select(Therapist).order_by(Therapist.last_name))).first()
            assert therapist is not None
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
            lmn = LMN.__class__(
                signed_on=VISIT_DAY - dt.timedelta(days=30), issuer_name="Dr. Grace Hopper", issuer_credential="DC"
            )
            await services.issue_for_invoice(
                session,
                practice,
                services.VisitCharges(
                    invoice_id=uuid.uuid4(),
                    client=client,
                    therapist=therapist,
                    lines=(
                        DocumentLine(
                            service_date=VISIT_DAY,
                            description="Therapeutic massage, 60 min",
                            amount=120_00,
                            minutes=60,
                            cpt_code="97124",
                            diagnosis_codes=("M54.50",),
                        ),
                        DocumentLine(service_date=VISIT_DAY, description="Gratuity", amount=20_00, kind=LineKind.TIP),
                    ),
                    tenders=(Tender(method="card", amount=140_00, card_brand="visa", card_last4="4242"),),
                    lmn=(lmn,),
                ),
            )
            session.add(
                ClientSignInLink(
                    client_id=client.id,
                    token_hash=hash_token(token),
                    expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30),
                )
            )
    finally:
        await config.get_engine().dispose()
    return f"/p/demo/portal/sign-in/{token}"


def _first_page_png(pdf: Path, name: str) -> Path:
    stem = PNG_DIR / f"carebook-portal-{name}"
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(stem)], check=True
    )
    return stem.with_suffix(".png")


async def _download(page: Page, link_name: str, folder: Path) -> Path:
    async with page.expect_download() as info:
        await page.get_by_role("link", name=link_name).click()
    download = await info.value
    target = folder / download.suggested_filename
    await download.save_as(target)
    return target


@pytest.mark.usefixtures("live_server")
async def test_client_signs_in_by_link_and_downloads_this_years_statement_and_a_receipt(
    page: Page, settings: Settings, tmp_path_factory: pytest.TempPathFactory, record_property: pytest.RecordProperty
) -> None:
    sign_in = await _client_with_a_receipt(settings)
    await page.goto(sign_in)
    # Opening the link only asks; the button spends it (mail scanners open links too).
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Hello, Ada")).to_be_visible()
    await page.get_by_role("link", name="Receipts and statements").click()
    await expect(page.get_by_role("heading", name="Receipts and statements", level=1)).to_be_visible()
    await expect(page.get_by_role("link", name="Receipt R-000001")).to_be_visible()

    folder = tmp_path_factory.mktemp("portal-documents")
    statement = await _download(page, f"FSA/HSA statement {VISIT_DAY.year}", folder)
    receipt = await _download(page, "Receipt R-000001", folder)

    statement_text = pdf_text(statement.read_bytes())
    assert f"ELIGIBLE SERVICES IN {VISIT_DAY.year}" in statement_text
    assert "Ada Lovelace" in statement_text
    assert "R-000001" in statement_text
    assert "$120.00" in statement_text
    assert "Gratuity" not in statement_text
    receipt_text = pdf_text(receipt.read_bytes())
    assert "No. R-000001" in receipt_text
    assert "Visa ending 4242" in receipt_text
    assert "LMN on file" in receipt_text

    for name, pdf in (("statement", statement), ("receipt", receipt)):
        png = _first_page_png(pdf, name)
        assert png.stat().st_size > 10_000
        record_property(f"{name}_png", str(png))
        print(f"{name} first page: {png}")
