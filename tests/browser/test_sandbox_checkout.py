"""The sandbox's hosted checkout page in Chromium: a declined card, then a 3-D Secure card confirmed, and the
payment shows on the sandbox dashboard."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect


async def test_a_card_is_declined_then_a_3ds_card_pays_after_confirmation(page: Page, live_server: str) -> None:
    await page.goto("/sandbox/")
    await page.get_by_label("Try the checkout page: amount in cents").fill("4500")
    await page.get_by_role("button", name="Open a test checkout").click()

    await expect(page).to_have_url(re.compile(r"/sandbox/checkout/cs_test_\w+$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Pay $45.00")
    await page.get_by_label("Visa — insufficient funds").check()
    await page.get_by_role("button", name="Pay $45.00").click()

    await expect(page.get_by_role("alert")).to_have_text("Your card has insufficient funds.")
    await page.get_by_label("Visa — 3-D Secure on every payment").check()
    await page.get_by_role("button", name="Pay $45.00").click()

    await expect(page.get_by_role("heading", name="Confirm this payment")).to_be_visible()
    await page.get_by_role("button", name="Complete authentication").click()

    await expect(page).to_have_url(re.compile(r"/sandbox/\?paid=cs_test_\w+$"))
    row = page.get_by_role("row").filter(has_text="$45.00")
    await expect(row).to_contain_text("succeeded")
    await expect(page.get_by_role("row").filter(has_text="requires_payment_method")).to_have_count(0)
