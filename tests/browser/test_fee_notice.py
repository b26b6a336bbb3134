"""A no-show in a real browser: the desk marks a past visit missed, the saved card pays the practice's fee, and the
visit's invoice shows the fee alone, nothing owed, no "Take payment", and the fee notice to open."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import httpx
from playwright.async_api import Page, expect

from tests.browser.test_checkout import _balance_is, _sign_in_desk, owner_api
from tests.browser.test_client_booking import NEW_YORK

__all__ = ["owner_api"]


def _past_weekday() -> dt.date:
    day = dt.datetime.now(NEW_YORK).date() - dt.timedelta(days=7)
    while day.weekday() > 4:
        day -= dt.timedelta(days=1)
    return day


async def test_the_desk_sees_only_the_no_show_fee_and_its_fee_notice(
    page: Page, owner_api: httpx.AsyncClient, tmp_path: Path
) -> None:
    policy = await owner_api.put("/api/v1/billing/policy", json={"deposit_kind": "none", "no_show_fee": 5000})
    assert policy.status_code == 200, policy.text
    services = (await owner_api.get("/api/v1/practices/demo/services")).json()["items"]
    therapists = (await owner_api.get("/api/v1/practices/demo/therapists")).json()["items"]
    massage = next(s for s in services if s["duration_minutes"] == 60)
    client = await owner_api.post(
        "/api/v1/clients", json={"first_name": "Noel", "last_name": "Shaw", "email": "noel@example.test"}
    )
    assert client.status_code == 201, client.text
    card = await owner_api.post(f"/api/v1/clients/{client.json()['id']}/card", json={"payment_method": "pm_card_visa"})
    assert card.status_code == 201, card.text
    start = dt.datetime.combine(_past_weekday(), dt.time(10), NEW_YORK)
    booked = await owner_api.post(
        "/api/v1/appointments",
        json={
            "client_id": client.json()["id"],
            "service_id": massage["id"],
            "therapist_id": therapists[0]["id"],
            "start": start.isoformat(),
        },
    )
    assert booked.status_code == 201, booked.text
    visit = booked.json()["id"]
    missed = await owner_api.post(f"/api/v1/appointments/{visit}/no-show")
    assert missed.status_code == 200, missed.text

    await _sign_in_desk(page)
    await page.goto(f"/staff/appointments/{visit}")
    await page.get_by_role("button", name="Open the invoice (fee only)").click()
    await expect(page).to_have_url(re.compile(r"/staff/invoices/"))
    await _balance_is(page, "$50.00", "$50.00", "$0.00")
    await expect(page.locator("#invoice-status")).to_have_text("paid")
    await expect(page.locator("#invoice-lines tbody tr")).to_have_count(1)
    await expect(page.locator("#invoice-lines")).to_contain_text("No-show fee")
    await expect(page.locator("#invoice-lines")).not_to_contain_text(massage["name"])
    await expect(page.get_by_role("button", name="Take payment")).to_have_count(0)
    await expect(page.locator("#missed-visit")).to_be_visible()
    notice = page.get_by_role("link", name=re.compile(r"Fee notice FN-\d{6}"))
    await expect(notice).to_be_visible()
    await page.screenshot(path=str(tmp_path / "fee-notice-desk.png"), full_page=True)
    href = await notice.get_attribute("href")
    assert href is not None
    pdf = await page.request.get(href)
    assert pdf.ok
    assert (await pdf.body()).startswith(b"%PDF")
