"""An owner makes a therapist's subscribe link in a real browser, and a calendar app could fetch it."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect

from tests.browser.conftest import OWNER_EMAIL, PASSWORD


async def test_owner_makes_a_therapist_subscribe_link_that_serves_the_calendar(page: Page, live_server: str) -> None:
    await page.goto("/login")
    await page.get_by_label("E-mail").fill(OWNER_EMAIL)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{live_server}/staff")

    await page.goto("/staff/setup")
    await page.get_by_role("link", name=re.compile("Edit")).first.click()
    await page.get_by_role("button", name="Subscribe to this therapist's calendar").click()

    await expect(page.get_by_role("heading", level=1)).to_contain_text("Subscribe to")
    webcal = await page.get_by_role("link", name="Subscribe in Apple Calendar or Outlook").get_attribute("href")
    address = await page.get_by_label("Calendar address").input_value()
    assert address.startswith(f"{live_server}/feeds/")
    assert webcal == "webcal://" + address.split("://", 1)[1]
    async with httpx.AsyncClient() as http:
        feed = await http.get(address)
    assert feed.status_code == 200
    assert feed.headers["content-type"] == "text/calendar; charset=utf-8"
    assert feed.text.startswith("BEGIN:VCALENDAR\r\n")
