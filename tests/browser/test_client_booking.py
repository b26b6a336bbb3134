"""A client books, moves and cancels a visit through the public pages, on a phone-sized screen."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.async_api import Locator, Page, expect

from tests.browser.conftest import PHONE_VIEWPORT, PRACTICE_NAME

NEW_YORK = ZoneInfo("America/New_York")
MASSAGE = "Therapeutic Massage (60 min)"
# Set to a folder to keep a screenshot of every step (for looking at the pages, not for the assertions).
SCREENSHOTS = os.environ.get("CAREBOOK_BOOKING_SCREENSHOTS")


async def _check_fits(page: Page, step: str) -> None:
    """No horizontal scrolling on a 390-px-wide phone."""
    scroll_width = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= PHONE_VIEWPORT["width"], f"{step}: the page is {scroll_width}px wide"
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SCREENSHOTS) / f"booking-{step}.png"), full_page=True)


async def _first_slot_from(page: Page, earliest: dt.date, *, last: bool = False) -> tuple[Locator, str, str]:
    """The first (or last) free time on the first day on or after `earliest` that has one, paging weeks."""
    for _ in range(4):
        sections = page.locator("section.day")
        for index in range(await sections.count()):
            section = sections.nth(index)
            label = await section.get_attribute("aria-labelledby")
            assert label
            day = dt.date.fromisoformat(label.removeprefix("day-"))
            slots = section.locator("a.slot")
            if day >= earliest and await slots.count():
                slot = slots.last if last else slots.first
                heading = await section.get_by_role("heading").inner_text()
                return slot, heading, await slot.locator(".slot-time").inner_text()
        await page.get_by_role("link", name="Next week").click()
    raise AssertionError(f"no free time on or after {earliest}")


async def _tab_to(page: Page, name: str, limit: int = 30) -> None:
    """Move keyboard focus forward until it lands on the link or button called `name`."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        focused = await page.evaluate("document.activeElement && document.activeElement.textContent.trim()")
        if focused == name:
            return
    raise AssertionError(f"Tab never reached {name!r}")


async def _book(page: Page, earliest: dt.date) -> tuple[str, str]:
    """Steps 1 to 4 as a client on a phone; returns the day heading and the time picked."""
    # Step 1, by keyboard: Tab to the service and press Enter; the focused link shows a focus ring.
    await page.goto("/p/demo/book")
    await expect(page.get_by_text("Step 1 of 4")).to_be_visible()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Choose a service")
    await expect(page.get_by_role("link", name=PRACTICE_NAME)).to_have_attribute("href", "/p/demo/book")
    await expect(page.get_by_text("60 minutes · $120.00")).to_be_visible()
    await _check_fits(page, "1-services")
    await _tab_to(page, MASSAGE)
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "keyboard focus is visible"
    await page.keyboard.press("Enter")

    # Step 2: any available therapist.
    await expect(page.get_by_text("Step 2 of 4")).to_be_visible()
    await _check_fits(page, "2-therapist")
    await page.get_by_role("link", name="Any available therapist").click()

    # Step 3: a day at least three days ahead with free times; the first of them.
    await expect(page.get_by_text("Step 3 of 4")).to_be_visible()
    await expect(page.get_by_text("Eastern Time (America/New_York)")).to_be_visible()
    await _check_fits(page, "3-time")
    slot, day_heading, time_label = await _first_slot_from(page, earliest)
    box = await slot.bounding_box()
    assert box is not None
    assert box["height"] >= 44, "slots are big enough to tap"
    await slot.click()

    # Step 4: details.
    await expect(page.get_by_text("Step 4 of 4")).to_be_visible()
    await expect(page.get_by_text(day_heading, exact=False).first).to_be_visible()
    await page.get_by_label("First name").fill("Ann")
    await page.get_by_label("Last name").fill("Lee")
    await page.get_by_label("E-mail").fill("ann.lee@example.test")
    await page.get_by_label("Phone").fill("+1 212 555 0100")
    await _check_fits(page, "4-details")
    await page.get_by_role("button", name="Book this appointment").click()
    return day_heading, time_label


async def test_client_books_moves_and_cancels_on_a_phone(phone_page: Page) -> None:
    page = phone_page
    earliest = dt.datetime.now(NEW_YORK).date() + dt.timedelta(days=3)
    day_heading, time_label = await _book(page, earliest)

    # Confirmation: the time chosen, the calendar file and the link to keep.
    await expect(page.get_by_role("heading", level=1)).to_have_text("You're booked")
    await expect(page).to_have_url(re.compile(r"/p/demo/manage/[^/?]+\?booked=1$"))
    await expect(page.locator("dl.facts")).to_contain_text(time_label)
    await expect(page.locator("dl.facts")).to_contain_text(day_heading)
    calendar = page.get_by_role("link", name="Add to calendar")
    await expect(calendar).to_be_visible()
    await expect(calendar).to_have_attribute("href", re.compile(r"^/api/v1/practices/demo/manage/.+/calendar\.ics$"))
    await expect(page.get_by_text("Keep this link")).to_be_visible()
    await _check_fits(page, "5-confirmation")

    # Move: another free time with the same therapist, confirmed on its own page.
    await page.get_by_role("link", name="Move to another time").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Move your appointment")
    await _check_fits(page, "6-move")
    new_slot, new_day, new_time = await _first_slot_from(page, earliest, last=True)
    assert (new_day, new_time) != (day_heading, time_label)
    await new_slot.click()
    await expect(page.get_by_role("heading", name=re.compile(r"^Move to "))).to_contain_text(new_time)
    await _check_fits(page, "7-move-confirm")
    await page.get_by_role("button", name=f"Move to {new_time}").click()
    await expect(page.get_by_role("status")).to_have_text("Your appointment has been moved.")
    await expect(page.locator("dl.facts")).to_contain_text(new_time)
    await expect(page.locator("dl.facts")).to_contain_text(new_day)
    await _check_fits(page, "8-moved")

    # Cancel.
    await page.get_by_label("Reason for cancelling").fill("Something came up")
    await page.get_by_role("button", name="Cancel this appointment").click()
    await expect(page.get_by_role("status")).to_have_text("Your appointment has been cancelled.")
    await expect(page.locator(".status")).to_have_text("Cancelled")
    await expect(page.get_by_role("link", name="Book another appointment")).to_be_visible()
    await expect(page.get_by_role("button", name="Cancel this appointment")).to_have_count(0)
    await _check_fits(page, "9-cancelled")


async def test_details_errors_are_announced_and_linked_to_the_field(phone_page: Page) -> None:
    page = phone_page
    await page.goto("/p/demo/book")
    await page.get_by_role("link", name=MASSAGE).click()
    await page.get_by_role("link", name="Any available therapist").click()
    earliest = dt.datetime.now(NEW_YORK).date() + dt.timedelta(days=3)
    slot, _, _ = await _first_slot_from(page, earliest)
    await slot.click()
    await page.get_by_label("First name").fill("Ann")
    await page.get_by_label("Last name").fill("Lee")
    await page.get_by_label("E-mail").fill("not-an-address")
    await page.get_by_role("button", name="Book this appointment").click()

    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("Enter a valid e-mail address.")
    email = page.get_by_label("E-mail")
    await expect(email).to_have_attribute("aria-invalid", "true")
    await expect(email).to_have_value("not-an-address")
    await expect(page.get_by_label("First name")).to_have_value("Ann")
    await alert.get_by_role("link", name="Enter a valid e-mail address.").click()
    await expect(email).to_be_focused()
    await _check_fits(page, "4-details-error")
