"""Money in a real browser: a client books online and pays a deposit on the sandbox's hosted checkout page;
the desk checks the visit out, adds a tip and a retail item, charges the saved card and refunds the retail
item — with the balance right at every step."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Page, expect

from scheduler.db import build_alchemy_config, session_scope
from scheduler.practice import services as practice_services
from scheduler.practice.demo import DEMO_DESK, DEMO_OWNER
from scheduler.settings import Settings
from tests.browser.conftest import PASSWORD
from tests.browser.test_client_booking import MASSAGE, NEW_YORK, _first_slot_from


async def _token(settings: Settings, email: str) -> str:
    config = build_alchemy_config(settings, pooled=False)
    try:
        async with session_scope(config) as session:
            user = await practice_services.find_user_by_email(session, email)
            assert user is not None
            _, token = await practice_services.create_token(session, user, label="browser test")
    finally:
        await config.get_engine().dispose()
    return token


@pytest.fixture
async def owner_api(settings: Settings, live_server: str) -> AsyncIterator[httpx.AsyncClient]:
    token = await _token(settings, DEMO_OWNER)
    async with httpx.AsyncClient(base_url=live_server, headers={"Authorization": f"Bearer {token}"}) as http:
        yield http


async def _balance_is(page: Page, total: str, paid: str, balance: str) -> None:
    await expect(page.locator("#invoice-total")).to_have_text(total)
    await expect(page.locator("#invoice-paid")).to_have_text(paid)
    await expect(page.locator("#invoice-balance")).to_have_text(balance)


async def _book_and_pay_deposit(page: Page) -> dt.date:
    """The client books a 60-minute massage ($120.00) and pays 25 % on the hosted checkout page."""
    await page.goto("/p/demo/book")
    await page.get_by_role("link", name=MASSAGE).click()
    await page.get_by_role("link", name="Any available therapist").click()
    earliest = dt.datetime.now(NEW_YORK).date() + dt.timedelta(days=3)
    slot, _, _ = await _first_slot_from(page, earliest)
    await slot.click()
    await page.get_by_label("First name").fill("Ann")
    await page.get_by_label("Last name").fill("Lee")
    await page.get_by_label("E-mail").fill("ann.lee@example.test")
    visited: list[str] = []
    page.on("request", lambda request: visited.append(request.url))
    await page.get_by_role("button", name="Book this appointment").click()
    await expect(page).to_have_url(re.compile(r"/sandbox/checkout/cs_"))
    # Booking answered our deposit link; following it opened the Checkout Session.
    assert any(re.search(r"/p/demo/deposit/[\w.-]+$", url) for url in visited), visited
    await expect(page.locator("#checkout-amount")).to_have_text("$30.00")
    await page.locator("#pay").click()
    await expect(page).to_have_url(re.compile(r"/p/demo/checkout/return\?session_id=cs_"))
    await expect(page.get_by_test_id("visit-confirmed")).to_be_visible()
    await expect(page.get_by_text("We received $30.00")).to_be_visible()
    return earliest


async def _sign_in_desk(page: Page) -> None:
    await page.goto("/login")
    await page.get_by_label("E-mail").fill(DEMO_DESK)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")


async def test_deposit_online_then_desk_checkout_tip_retail_saved_card_and_refund(
    page: Page, owner_api: httpx.AsyncClient
) -> None:
    policy = await owner_api.put(
        "/api/v1/billing/policy", json={"deposit_kind": "percent", "deposit_percent_bp": 2500, "hold_minutes": 30}
    )
    assert policy.status_code == 200, policy.text
    earliest = await _book_and_pay_deposit(page)

    # The desk finds the visit and checks it out: the deposit is already applied.
    found = await owner_api.get(
        "/api/v1/appointments",
        params={"date_from": earliest.isoformat(), "date_to": (earliest + dt.timedelta(days=30)).isoformat()},
    )
    [appointment] = found.json()["items"]
    assert appointment["status"] == "booked"
    await _sign_in_desk(page)
    await page.goto(f"/staff/appointments/{appointment['id']}")
    await page.get_by_role("button", name="Check out").click()
    await expect(page).to_have_url(re.compile(r"/staff/invoices/"))
    await _balance_is(page, "$120.00", "$30.00", "$90.00")

    await page.get_by_label("Kind").select_option("tip")
    await page.get_by_label("Description").fill("Tip")
    await page.get_by_label("Line amount (USD)").fill("20")
    await page.get_by_role("button", name="Add line").click()
    await _balance_is(page, "$140.00", "$30.00", "$110.00")

    await page.get_by_label("Kind").select_option("retail")
    await page.get_by_label("Description").fill("Arnica gel")
    await page.get_by_label("Line amount (USD)").fill("18.00")
    await page.get_by_role("button", name="Add line").click()
    await _balance_is(page, "$158.00", "$30.00", "$128.00")
    await expect(page.locator("#invoice-lines tr[data-kind=retail]")).to_contain_text("no")  # not FSA-eligible

    # The card the client paid the deposit with was saved: charge it for the rest.
    await expect(page.locator("#saved-card")).to_contain_text("4242")
    await page.locator("#payment-method").select_option("card_on_file")
    await expect(page.locator("#payment-amount")).to_have_value("128.00")
    await page.get_by_role("button", name="Take payment").click()
    await _balance_is(page, "$158.00", "$158.00", "$0.00")
    await expect(page.locator("#invoice-status")).to_have_text("paid")

    # The client brings the gel back: refund it from the card payment.
    card_payment = page.locator("#payments li", has_text="Saved card")
    await card_payment.get_by_label("Refund amount").fill("18.00")
    await card_payment.get_by_label("For line").select_option(label="Arnica gel ($18.00)")
    await card_payment.get_by_role("button", name="Refund").click()
    await _balance_is(page, "$140.00", "$140.00", "$0.00")
    await expect(page.locator("#invoice-status")).to_have_text("paid")
    await expect(page.locator("#payments li", has_text="Saved card")).to_contain_text("refunded $18.00")
    await expect(page.locator("#invoice-lines")).to_contain_text("Refund: Arnica gel")
    await expect(page.locator("#receipt-link")).to_be_visible()


async def test_card_required_booking_saves_a_card_without_charging_then_books(
    page: Page, owner_api: httpx.AsyncClient
) -> None:
    policy = await owner_api.put("/api/v1/billing/policy", json={"deposit_kind": "none", "card_required": True})
    assert policy.status_code == 200, policy.text
    await page.goto("/p/demo/book")
    await page.get_by_role("link", name=MASSAGE).click()
    await page.get_by_role("link", name="Any available therapist").click()
    slot, _, _ = await _first_slot_from(page, dt.datetime.now(NEW_YORK).date() + dt.timedelta(days=3))
    await slot.click()
    # Before "Book", the client is told a card will be saved and nothing charged.
    await expect(page.locator(".payment-note")).to_contain_text("nothing is charged now")
    await page.get_by_label("First name").fill("Ann")
    await page.get_by_label("Last name").fill("Lee")
    await page.get_by_label("E-mail").fill("ann.card@example.test")
    await page.get_by_role("button", name="Book this appointment").click()
    await expect(page).to_have_url(re.compile(r"/sandbox/checkout/cs_"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Save a card")
    await page.locator("#pay").click()
    await expect(page).to_have_url(re.compile(r"/p/demo/card-saved\?session_id=cs_"))
    await expect(page.get_by_text("Nothing was charged")).to_be_visible()
    await expect(page.get_by_test_id("visit-confirmed")).to_be_visible()
