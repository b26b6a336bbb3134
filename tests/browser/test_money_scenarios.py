"""Issue 14's money races in a real browser: the desk at a desktop, the client on a phone, the sandbox's hosted
checkout page between them.

- a pay link the client pays after the desk took cash: the client is told the money is on its way back, the
  desk's invoice says "Paid twice — … refunded on …", and the sandbox nets the card to nothing;
- a saved-card charge whose answer was lost: the desk is told to try again (no error page), takes cash, and
  the late success that arrives afterwards is refunded;
- a deposit declined on the hosted page and then paid with another card: the client lands on "booked" and the
  desk sees the deposit paid.

The first two steer the sandbox (a fault on one Stripe call, webhooks held back), which lives in the memory of
the process that serves the app; so they run the app in a uvicorn server on a thread of this process — same
socket, middleware, handlers and database as `live_server`, with the sandbox in reach. Every step leaves a
screenshot in /tmp/money-*.png for a person to look at.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from litestar import Litestar
from playwright.async_api import Browser, Locator, Page, Response, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.sandbox import StripeSandbox
from billing.stripe_gateway import StripeGateway
from scheduler.app import create_app
from scheduler.db import build_alchemy_config, session_scope
from scheduler.format import format_date
from scheduler.mail.models import OutboxMessage
from scheduler.practice import services as practice_services
from scheduler.practice.demo import DEMO_DESK, DEMO_OWNER
from scheduler.settings import Settings
from tests.browser.conftest import DESKTOP_VIEWPORT, PHONE_VIEWPORT, _open_page
from tests.browser.test_client_booking import MASSAGE, NEW_YORK, _first_slot_from
from tests.browser.test_front_desk import DeskApi, _at, _sign_in, _working_day
from tests.live_server import SERVER_SECRET_KEY, SERVER_START_TIMEOUT, free_port, healthy

SHOTS = Path("/tmp")  # noqa: S108  (where the brief asks for them)
PRICE = "$120.00"  # the demo's 60-minute massage


# --- an app whose sandbox the test can steer ----------------------------------------------------------------------


@dataclass
class SteeredServer:
    base_url: str
    app: Litestar

    @property
    def sandbox(self) -> StripeSandbox:
        gateway: StripeGateway = self.app.state.payment_gateway
        assert gateway.sandbox is not None
        return gateway.sandbox


@pytest.fixture(scope="module")
def steered_server(database_url: str) -> Iterator[SteeredServer]:
    """The app under uvicorn on a free loopback port, served from a thread of this process."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    app = create_app(Settings(database_url=database_url, secret_key=SERVER_SECRET_KEY, base_url=base_url))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="carebook-steered-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while not healthy(f"{base_url}/health"):
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the steered app server did not answer GET /health", pytrace=False)
        time.sleep(0.1)
    try:
        yield SteeredServer(base_url, app)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
async def sandbox(steered_server: SteeredServer) -> AsyncIterator[StripeSandbox]:
    sandbox = steered_server.sandbox
    yield sandbox
    sandbox.faults.clear()
    await sandbox.webhooks.release()  # leave auto delivery on for the next test, nothing held over


@pytest.fixture
async def desk_page(
    request: pytest.FixtureRequest, browser: Browser, steered_server: SteeredServer
) -> AsyncIterator[Page]:
    async with _open_page(request, browser, steered_server.base_url, viewport=DESKTOP_VIEWPORT) as opened:
        yield opened


@pytest.fixture
async def client_phone(
    request: pytest.FixtureRequest, browser: Browser, steered_server: SteeredServer
) -> AsyncIterator[Page]:
    async with _open_page(
        request, browser, steered_server.base_url, viewport=PHONE_VIEWPORT, is_mobile=True, has_touch=True
    ) as opened:
        yield opened


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
async def desk_api(settings: Settings, steered_server: SteeredServer) -> AsyncIterator[DeskApi]:
    token = await _token(settings, DEMO_DESK)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=steered_server.base_url, headers=headers, timeout=30) as http:
        api = DeskApi(http)
        await api.load()
        yield api


# --- what the test watches ----------------------------------------------------------------------------------------


def _server_errors(page: Page) -> list[str]:
    """Every 5xx the page is answered with, from now on (a list the test asserts empty at the end)."""
    seen: list[str] = []

    def record(response: Response) -> None:
        if response.status >= 500:
            seen.append(f"{response.status} {response.request.method} {response.url}")

    page.on("response", record)
    return seen


async def _shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(SHOTS / f"money-{name}.png"), full_page=True)


async def _fits(page: Page, width: int) -> None:
    scroll_width = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page.url} is {scroll_width}px wide"


async def _outbox(engine: AsyncEngine, kind: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(OutboxMessage.body_text).where(OutboxMessage.kind == kind).order_by(OutboxMessage.created_at)
        )
        return [str(body) for (body,) in rows.all()]


async def _card_net(sandbox: StripeSandbox) -> tuple[int, int]:
    """Cents charged and cents refunded on the sandbox account, over every payment intent."""
    charged = sum(int(c["amount"]) for c in await sandbox.objects_async("charge") if c["status"] == "succeeded")
    refunded = sum(int(r["amount"]) for r in await sandbox.objects_async("refund") if r["status"] == "succeeded")
    return charged, refunded


async def _visit_with_saved_card(api: DeskApi, card: str) -> dict[str, Any]:
    client_id = await api.client("Kim", "Park")
    saved = await api.http.post(f"/api/v1/clients/{client_id}/card", json={"payment_method": card})
    assert saved.status_code == 201, saved.text
    return await api.book(client_id, MASSAGE, 0, _at(_working_day(), 10))


async def _check_out(page: Page, visit: dict[str, Any]) -> None:
    await _sign_in(page)
    await page.goto(f"/staff/appointments/{visit['id']}")
    await page.get_by_role("button", name="Check out").click()
    await expect(page).to_have_url(re.compile(r"/staff/invoices/"))
    await expect(page.locator("#invoice-balance")).to_have_text(PRICE)


async def _take(page: Page, method: str) -> None:
    await page.locator("#payment-method").select_option(method)
    await expect(page.locator("#payment-amount")).to_have_value("120.00")
    await page.get_by_role("button", name="Take payment").click()


async def _settled_in_cash(page: Page) -> None:
    await _take(page, "cash")
    await expect(page.locator("#invoice-status")).to_have_text("paid")
    await expect(page.locator("#invoice-balance")).to_have_text("$0.00")
    await expect(page.locator("#payments li", has_text="Cash")).to_contain_text("succeeded")


def _payment(page: Page, method: str) -> Locator:
    """The invoice's payment row taken by `method` (its label as the desk reads it)."""
    label = page.locator("strong", has_text=re.compile(f"^{re.escape(method)}$"))
    return page.locator("#payments > li").filter(has=label)


def _today() -> str:
    return format_date(dt.datetime.now(NEW_YORK).date())


# --- the scenarios ------------------------------------------------------------------------------------------------


async def _pay_link_paid_after_cash(
    desk: Page, client: Page, desk_api: DeskApi, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    """3-D Secure card at the desk → pay link e-mailed → cash → the client pays the link on a phone anyway."""
    desk_errors, client_errors = _server_errors(desk), _server_errors(client)
    visit = await _visit_with_saved_card(desk_api, "pm_card_authenticationRequired")

    # The bank wants 3-D Secure: the saved card cannot be charged at the desk, a pay link goes out instead.
    await _check_out(desk, visit)
    await _take(desk, "card_on_file")
    await expect(desk.locator("#form-error")).to_contain_text("We e-mailed them a pay link")
    await expect(_payment(desk, "Pay link (e-mail)")).to_contain_text("Pay link e-mailed to the client")
    await expect(_payment(desk, "Saved card")).to_contain_text("3-D Secure")
    await _shot(desk, "paylink-1-desk-3ds")
    [mail] = await _outbox(engine, "pay_link")
    found = re.search(r"https?://\S+/sandbox/checkout/cs_\w+", mail)
    assert found is not None, mail
    pay_link = found.group(0)

    # Stripe cannot be reached when the desk takes cash, so the link cannot be closed: the race is real.
    sandbox.faults.inject("server_error", times=10, method="POST", path="/expire")
    await _settled_in_cash(desk)
    sandbox.faults.clear()
    await expect(_payment(desk, "Pay link (e-mail)")).to_contain_text("could not be closed yet")
    await _shot(desk, "paylink-2-desk-cash")

    # The client, on a phone, opens the e-mailed link later and pays it.
    await client.goto(pay_link)
    await expect(client.get_by_role("heading", level=1)).to_have_text(f"Pay {PRICE}")
    await client.get_by_label("Visa — succeeds").check()
    await client.get_by_role("button", name=f"Pay {PRICE}").click()
    await expect(client).to_have_url(re.compile(r"/p/demo/checkout/return\?session_id=cs_"))
    await expect(client.get_by_role("heading", level=1)).to_have_text("This was already paid")
    await expect(client.get_by_test_id("paid-twice")).to_contain_text(f"{PRICE} is on its way back")
    await expect(client.get_by_text("Payment not completed")).to_have_count(0)
    await _fits(client, PHONE_VIEWPORT["width"])
    await _shot(client, "paylink-3-client-return")

    # The desk sees what happened.
    await desk.reload()
    await expect(desk.locator("#paid-twice")).to_contain_text(f"Paid twice — {PRICE} refunded on {_today()}")
    await expect(desk.locator("#invoice-status")).to_have_text("paid")
    await expect(desk.locator("#invoice-paid")).to_have_text(PRICE)
    await expect(desk.locator("#overpaid")).to_have_count(0)
    await _shot(desk, "paylink-4-desk-paid-twice")

    # The client was charged once (in cash): the card charge is given back in full.
    assert await _card_net(sandbox) == (12000, 12000)
    assert desk_errors + client_errors == []


async def test_pay_link_paid_after_the_desk_took_cash_is_refunded_and_both_sides_are_told(
    desk_page: Page, client_phone: Page, desk_api: DeskApi, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    await _pay_link_paid_after_cash(desk_page, client_phone, desk_api, sandbox, engine)


async def test_the_client_who_paid_a_link_after_cash_is_emailed_that_the_money_is_on_its_way_back(
    desk_page: Page, client_phone: Page, desk_api: DeskApi, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    await _pay_link_paid_after_cash(desk_page, client_phone, desk_api, sandbox, engine)
    [refund_mail] = await _outbox(engine, "overpayment_refund")
    assert f"{PRICE} is on its way back" in refund_mail


async def test_a_card_charge_whose_answer_was_lost_then_cash_is_refunded_when_its_success_arrives(
    desk_page: Page, desk_api: DeskApi, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = desk_page
    desk_errors = _server_errors(desk)
    visit = await _visit_with_saved_card(desk_api, "pm_card_visa")
    await sandbox.webhooks.drain()
    sandbox.webhooks.hold()  # Stripe's events about the charge arrive only after the desk has moved on

    # Stripe charges the card, but its answer never reaches us (every retry of the SDK too).
    await _check_out(desk, visit)
    sandbox.faults.inject("timeout_after", times=3, method="POST", path="/v1/payment_intents")
    await _take(desk, "card_on_file")
    error = desk.locator("#form-error")
    await expect(error).to_contain_text("We couldn't reach the card processor")
    await expect(error).to_contain_text("Try again in a moment")
    await _shot(desk, "timeout-1-desk-no-answer")
    sandbox.faults.clear()
    # 503 is the honest answer while Stripe cannot be reached (as the chaos test holds); the page still explains.
    assert [error.split(" ", 2)[:2] for error in desk_errors] == [["503", "POST"]], desk_errors
    desk_errors.clear()

    # The desk does not wait: the client pays cash.
    await _settled_in_cash(desk)
    await _shot(desk, "timeout-2-desk-cash")

    # The success Stripe sent arrives late: recorded, and refunded in full.
    await sandbox.webhooks.release()
    await sandbox.webhooks.drain()
    assert {attempt.status for attempt in sandbox.webhooks.attempts} <= {200}, sandbox.webhooks.attempts
    await desk.reload()
    await expect(desk.locator("#paid-twice")).to_contain_text(f"Paid twice — {PRICE} refunded on {_today()}")
    await expect(_payment(desk, "Saved card")).to_contain_text(f"refunded {PRICE}")
    await expect(desk.locator("#invoice-paid")).to_have_text(PRICE)
    await _shot(desk, "timeout-3-desk-paid-twice")

    # The same page on the desk's phone: what happened still reads, nothing runs off the screen.
    await desk.set_viewport_size(PHONE_VIEWPORT)
    await _fits(desk, PHONE_VIEWPORT["width"])
    await _shot(desk, "timeout-4-desk-phone")

    assert await _card_net(sandbox) == (12000, 12000)
    assert len(await _outbox(engine, "overpayment_refund")) == 1
    assert desk_errors == []


async def _book_on_a_phone_declined_then_paid(client: Page) -> dt.date:
    """The client books a 60-minute massage, is declined on the deposit page, pays with another card; returns
    the earliest day that was searched from."""
    # The client books on a phone and is sent to pay the 25 % deposit.
    await client.goto("/p/demo/book")
    await client.get_by_role("link", name=MASSAGE).click()
    await client.get_by_role("link", name="Any available therapist").click()
    earliest = dt.datetime.now(NEW_YORK).date() + dt.timedelta(days=3)
    slot, _, _ = await _first_slot_from(client, earliest)
    await slot.click()
    await client.get_by_label("First name").fill("Ann")
    await client.get_by_label("Last name").fill("Lee")
    await client.get_by_label("E-mail").fill("ann.lee@example.test")
    await client.get_by_role("button", name="Book this appointment").click()
    await expect(client).to_have_url(re.compile(r"/sandbox/checkout/cs_"))
    await expect(client.locator("#checkout-amount")).to_have_text("$30.00")

    # The first card is declined; the page says so and lets the client try another.
    await client.get_by_label("Visa — insufficient funds").check()
    await client.get_by_role("button", name="Pay $30.00").click()
    await expect(client.get_by_role("alert")).to_have_text("Your card has insufficient funds.")
    await _fits(client, PHONE_VIEWPORT["width"])
    await _shot(client, "deposit-1-client-declined")

    await client.get_by_label("Visa — succeeds").check()
    await client.get_by_role("button", name="Pay $30.00").click()
    await expect(client).to_have_url(re.compile(r"/p/demo/checkout/return\?session_id=cs_"))
    await expect(client.get_by_test_id("visit-confirmed")).to_be_visible()
    await expect(client.get_by_text("We received $30.00")).to_be_visible()
    await expect(client.get_by_text("Payment not completed")).to_have_count(0)
    await _fits(client, PHONE_VIEWPORT["width"])
    await _shot(client, "deposit-2-client-booked")
    return earliest


async def test_a_declined_deposit_then_another_card_books_the_visit(
    phone_page: Page, page: Page, settings: Settings, live_server: str
) -> None:
    client, desk = phone_page, page
    client_errors, desk_errors = _server_errors(client), _server_errors(desk)
    token = await _token(settings, DEMO_OWNER)
    owner = httpx.AsyncClient(base_url=live_server, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    policy = await owner.put(
        "/api/v1/billing/policy", json={"deposit_kind": "percent", "deposit_percent_bp": 2500, "hold_minutes": 30}
    )
    assert policy.status_code == 200, policy.text

    earliest = await _book_on_a_phone_declined_then_paid(client)

    # The desk finds the visit booked on its day and the deposit paid.
    found = await owner.get(
        "/api/v1/appointments",
        params={"date_from": earliest.isoformat(), "date_to": (earliest + dt.timedelta(days=30)).isoformat()},
    )
    await owner.aclose()
    [visit] = found.json()["items"]
    assert visit["status"] == "booked"
    day = dt.datetime.fromisoformat(visit["start"]).astimezone(NEW_YORK).date()
    await _sign_in(desk)
    await desk.goto(f"/staff/schedule?date={day.isoformat()}")
    await expect(desk.locator(f"#appt-{visit['id']}")).to_contain_text("Ann Lee")
    await _shot(desk, "deposit-3-desk-schedule")
    await desk.locator(f"#appt-{visit['id']}").click()
    await expect(desk.locator("#visit-status")).to_have_text("Booked")
    await _shot(desk, "deposit-4-desk-visit")
    await desk.get_by_role("button", name="Check out").click()
    await expect(desk).to_have_url(re.compile(r"/staff/invoices/"))
    deposit = _payment(desk, "Online deposit")
    await expect(deposit).to_contain_text("$30.00")
    await expect(deposit).to_contain_text("succeeded")
    await expect(desk.locator("#invoice-paid")).to_have_text("$30.00")
    await expect(desk.locator("#invoice-balance")).to_have_text("$90.00")
    await _shot(desk, "deposit-5-desk-invoice")
    assert client_errors + desk_errors == []
