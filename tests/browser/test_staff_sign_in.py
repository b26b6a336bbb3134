"""Staff sign-in, sign-out and the staff home, in a real browser against the served app."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.browser.conftest import OWNER_EMAIL, PASSWORD, PHONE_VIEWPORT, PRACTICE_NAME


async def _sign_in(page: Page, email: str, password: str) -> None:
    await page.goto("/login")
    await expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def test_owner_signs_in_sees_home_and_signs_out(page: Page, live_server: str) -> None:
    await _sign_in(page, OWNER_EMAIL, PASSWORD)

    await expect(page).to_have_url(f"{live_server}/staff")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
    await expect(page.get_by_role("heading", name=PRACTICE_NAME, exact=True)).to_be_visible()
    await expect(page).to_have_title(re.compile(re.escape(PRACTICE_NAME)))

    await page.get_by_role("button", name="Sign out").click()

    await expect(page).to_have_url(f"{live_server}/login")
    await expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()

    response = await page.goto("/staff")
    assert response is not None
    assert response.request.redirected_from is not None, "GET /staff after sign-out was not redirected"
    assert response.request.redirected_from.url == f"{live_server}/staff"
    await expect(page).to_have_url(f"{live_server}/login")
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()


async def test_wrong_password_shows_alert_and_stays_on_login(page: Page, live_server: str) -> None:
    await _sign_in(page, OWNER_EMAIL, "not the password")

    alert = page.get_by_role("alert")
    await expect(alert).to_have_text("E-mail or password is wrong.")
    await expect(page).to_have_url(f"{live_server}/login")
    # The address typed is kept; the fields point at the error for assistive technology.
    await expect(page.get_by_label("E-mail")).to_have_value(OWNER_EMAIL)
    await expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label("Password")).to_have_attribute("aria-describedby", "login-error")
    await expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    await expect(page.get_by_text("Welcome")).to_have_count(0)


async def test_sign_in_form_fits_a_phone_screen(phone_page: Page) -> None:
    page = phone_page
    width = PHONE_VIEWPORT["width"]
    await page.goto("/login")

    controls = [page.get_by_label("E-mail"), page.get_by_label("Password"), page.get_by_role("button", name="Sign in")]
    for control in controls:
        await expect(control).to_be_visible()
        box = await control.bounding_box()
        assert box is not None
        assert box["x"] >= 0, box
        assert box["x"] + box["width"] <= width, box

    scroll_width = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width
