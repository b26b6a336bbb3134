"""The front desk in a real browser: the day schedule, a visit walked through arrival and completion,
a visit booked from the schedule, and the schedule on a phone."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Page, expect

from scheduler.db import build_alchemy_config, session_scope
from scheduler.practice import services as practice_services
from scheduler.practice.demo import DEMO_DESK
from scheduler.settings import Settings
from tests.browser.conftest import PASSWORD, PHONE_VIEWPORT

NEW_YORK = ZoneInfo("America/New_York")
DESKTOP_SHOT = Path("/tmp/schedule-desktop.png")  # noqa: S108  (where the brief asks for them)
PHONE_SHOT = Path("/tmp/schedule-phone.png")  # noqa: S108


class DeskApi:
    """The staff JSON API as the desk's token sees it: enough to put visits on a day."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.therapists: list[dict[str, Any]] = []
        self.services: dict[str, str] = {}

    async def load(self) -> None:
        self.therapists = (await self.http.get("/api/v1/practices/demo/therapists")).json()["items"]
        services = (await self.http.get("/api/v1/practices/demo/services")).json()["items"]
        self.services = {s["name"]: s["id"] for s in services}

    async def client(self, first: str, last: str) -> str:
        created = await self.http.post(
            "/api/v1/clients",
            json={"first_name": first, "last_name": last, "email": f"{first.lower()}.{last.lower()}@example.test"},
        )
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    async def book(self, client_id: str, service: str, therapist: int, start: dt.datetime) -> dict[str, Any]:
        created = await self.http.post(
            "/api/v1/appointments",
            json={
                "client_id": client_id,
                "service_id": self.services[service],
                "therapist_id": self.therapists[therapist]["id"],
                "start": start.isoformat(),
            },
        )
        assert created.status_code == 201, created.text
        return dict(created.json())


@pytest.fixture
async def desk_api(settings: Settings, live_server: str) -> AsyncIterator[DeskApi]:
    config = build_alchemy_config(settings, pooled=False)
    try:
        async with session_scope(config) as session:
            user = await practice_services.find_user_by_email(session, DEMO_DESK)
            assert user is not None
            _, token = await practice_services.create_token(session, user, label="browser test")
    finally:
        await config.get_engine().dispose()
    async with httpx.AsyncClient(base_url=live_server, headers={"Authorization": f"Bearer {token}"}) as http:
        api = DeskApi(http)
        await api.load()
        yield api


def _working_day() -> dt.date:
    """A weekday a week or more ahead: the demo therapists work it and nothing is in the past."""
    day = dt.datetime.now(NEW_YORK).date() + dt.timedelta(days=7)
    while day.weekday() > 4:
        day += dt.timedelta(days=1)
    return day


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), NEW_YORK)


async def _a_busy_day(api: DeskApi, day: dt.date) -> dict[str, Any]:
    """A realistic day: visits for each therapist in different states; returns Kim Park's 10:00 visit."""
    kim = await api.client("Kim", "Park")
    kims = await api.book(kim, "Therapeutic Massage (60 min)", 0, _at(day, 10))
    noor = await api.client("Noor", "Haddad")
    await api.book(noor, "Therapeutic Massage (60 min)", 1, _at(day, 9))
    sam = await api.client("Sam", "Oduya")
    arrived = await api.book(sam, "Deep Tissue Massage (90 min)", 2, _at(day, 13, 30))
    assert (await api.http.post(f"/api/v1/appointments/{arrived['id']}/arrive")).status_code == 200
    ana = await api.client("Ana", "Ruiz")
    await api.book(ana, "Re-assessment (30 min)", 0, _at(day, 15))
    lee = await api.client("Lee", "Morgan")
    gone = await api.book(lee, "Therapeutic Massage (60 min)", 1, _at(day, 11, 30))
    cancelled = await api.http.post(f"/api/v1/appointments/{gone['id']}/cancel", json={"reason": "Moved away"})
    assert cancelled.status_code == 200
    return kims


async def _sign_in(page: Page) -> None:
    await page.goto("/login")
    await page.get_by_label("E-mail").fill(DEMO_DESK)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")


async def test_desk_walks_a_visit_through_the_day_and_books_another(
    page: Page, live_server: str, desk_api: DeskApi
) -> None:
    day = _working_day()
    visit = await _a_busy_day(desk_api, day)
    await _sign_in(page)

    await page.get_by_role("link", name=re.compile(r"Open today.s schedule")).click()
    await expect(page).to_have_url(re.compile(r"/staff/schedule$"))
    await page.get_by_label("Date").fill(day.isoformat())
    await page.get_by_role("button", name="Go").click()
    await expect(page).to_have_url(re.compile(rf"date={day.isoformat()}"))
    grid = page.get_by_role("region", name="Day grid")
    for therapist in desk_api.therapists:
        await expect(grid.get_by_role("heading", name=therapist["name"])).to_be_visible()
    kims_block = page.locator(f"#appt-{visit['id']}")
    await expect(kims_block).to_contain_text("Kim Park")
    await expect(kims_block).to_contain_text("10:00 AM \N{EN DASH} 11:00 AM")
    await expect(kims_block).to_contain_text("Booked")
    await expect(page.get_by_role("heading", name="Cancelled (1)")).to_be_visible()
    DESKTOP_SHOT.unlink(missing_ok=True)
    await page.screenshot(path=str(DESKTOP_SHOT), full_page=True)

    await kims_block.click()
    await expect(page.get_by_role("heading", level=1, name="Kim Park")).to_be_visible()
    status = page.locator("#visit-status")
    await expect(status).to_have_text("Booked")
    await page.get_by_role("button", name="Arrived").click()
    await expect(status).to_have_text("Arrived")
    await expect(page.get_by_role("button", name="Arrived")).to_have_count(0)
    # The visit is a week ahead: it can be completed (or missed) only once it has started.
    await expect(page.get_by_role("button", name="Completed")).to_have_count(0)
    await expect(page.get_by_role("button", name="Cancel appointment")).to_have_count(0)

    await page.get_by_role("link", name=re.compile(r"^← ")).click()
    await expect(kims_block).to_contain_text("Arrived")

    # Book Kim again, with the third therapist, from that therapist's column.
    third = desk_api.therapists[2]
    await grid.get_by_role("link", name=f"Book with {third['name']}").click()
    await expect(page.get_by_role("heading", name="Book a visit")).to_be_visible()
    await page.get_by_label("Find a client").fill("kim")
    await page.get_by_role("button", name="Search").click()
    await page.get_by_role("link", name="Kim Park").click()
    await expect(page.locator(".client-chosen")).to_contain_text("Kim Park")
    await expect(page.get_by_label("Therapist")).to_have_value(str(third["id"]))
    await page.get_by_label("Service").select_option(label="Therapeutic Massage (60 min)")
    await page.get_by_role("button", name="Show free times").click()
    await page.get_by_label("11:00 AM", exact=True).check()
    await page.get_by_role("button", name="Book", exact=True).click()

    await expect(page).to_have_url(re.compile(rf"/staff/schedule\?date={day.isoformat()}&highlight="))
    column = grid.locator(f'section[data-column="{third["id"]}"]')
    booked = column.locator(".visit.highlighted")
    await expect(booked).to_contain_text("Kim Park")
    await expect(booked).to_contain_text("11:00 AM \N{EN DASH} 12:00 PM")
    await expect(booked).to_contain_text("Booked")


async def test_schedule_reads_as_a_list_on_a_phone(phone_page: Page, desk_api: DeskApi) -> None:
    page = phone_page
    day = _working_day()
    visit = await _a_busy_day(desk_api, day)
    await _sign_in(page)

    await page.goto(f"/staff/schedule?date={day.isoformat()}")

    await expect(page.get_by_role("region", name="Day grid")).to_be_hidden()
    first = desk_api.therapists[0]
    await expect(page.get_by_role("heading", name=first["name"])).to_be_visible()
    link = page.get_by_role("link", name=re.compile("Kim Park"))
    await expect(link).to_be_visible()
    box = await link.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= PHONE_VIEWPORT["width"]
    scroll_width = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= PHONE_VIEWPORT["width"]
    PHONE_SHOT.unlink(missing_ok=True)
    await page.screenshot(path=str(PHONE_SHOT), full_page=True)

    await link.click()
    await expect(page).to_have_url(re.compile(f"/staff/appointments/{visit['id']}$"))
    await expect(page.get_by_role("button", name="Arrived")).to_be_visible()
    scroll_width = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= PHONE_VIEWPORT["width"]


TABLET_SHOT = Path("/tmp/schedule-tablet.png")  # noqa: S108
TABLET_LANES_SHOT = Path("/tmp/schedule-tablet-lanes.png")  # noqa: S108


async def _times_fit_their_cards(page: Page) -> None:
    """Every visit card (30 minutes or longer) shows its whole time and then the client's name, inside its edges."""
    clipped = await page.evaluate(
        """() => [...document.querySelectorAll('.day-grid .visit')].flatMap(card => {
            const box = card.getBoundingClientRect();
            const time = card.querySelector('.visit-time').getBoundingClientRect();
            const name = card.querySelector('.visit-client').getBoundingClientRect();
            const out = r => r.left < box.left || r.right > box.right + 0.5 || r.bottom > box.bottom + 0.5;
            return out(time) || out(name) || name.top < time.bottom - 0.5 ? [card.textContent.trim()] : [];
        })"""
    )
    assert clipped == []


async def test_grid_cards_show_twelve_hour_times_whole_on_a_tablet(page: Page, desk_api: DeskApi) -> None:
    await page.set_viewport_size({"width": 660, "height": 1000})
    day = _working_day()
    kim = await desk_api.client("Kim", "Park")
    await desk_api.book(kim, "Therapeutic Massage (60 min)", 0, _at(day, 10, 30))
    noor = await desk_api.client("Noor", "Haddad")
    await desk_api.book(noor, "Re-assessment (30 min)", 1, _at(day, 11, 30))
    sam = await desk_api.client("Sam", "Oduya")
    await desk_api.book(sam, "Deep Tissue Massage (90 min)", 2, _at(day, 13, 30))
    await _sign_in(page)

    await page.goto(f"/staff/schedule?date={day.isoformat()}")
    grid = page.get_by_role("region", name="Day grid")
    await expect(grid).to_be_visible()
    for label in ("10:30 AM \N{EN DASH} 11:30 AM", "11:30 AM \N{EN DASH} 12:00 PM", "1:30 PM \N{EN DASH} 3:00 PM"):
        await expect(grid.locator(".visit-time", has_text=label)).to_have_count(1)
    await expect(grid.locator(".axis .tick", has_text=re.compile(r"^12 PM$"))).to_have_count(1)
    await _times_fit_their_cards(page)
    TABLET_SHOT.unlink(missing_ok=True)
    await page.screenshot(path=str(TABLET_SHOT), full_page=True)


async def test_side_by_side_cards_show_their_times_whole(page: Page, desk_api: DeskApi) -> None:
    """A no-show and the visit booked into its freed time share the column: each card gets half its width."""
    await page.set_viewport_size({"width": 660, "height": 1000})
    day = dt.datetime.now(NEW_YORK).date() - dt.timedelta(days=7)
    while day.weekday() > 4:
        day -= dt.timedelta(days=1)
    kim = await desk_api.client("Kim", "Park")
    missed = await desk_api.book(kim, "Therapeutic Massage (60 min)", 0, _at(day, 10, 30))
    assert (await desk_api.http.post(f"/api/v1/appointments/{missed['id']}/no-show")).status_code == 200
    noor = await desk_api.client("Noor", "Haddad")
    await desk_api.book(noor, "Re-assessment (30 min)", 0, _at(day, 10, 30))
    await _sign_in(page)

    await page.goto(f"/staff/schedule?date={day.isoformat()}")
    grid = page.get_by_role("region", name="Day grid")
    await expect(grid.locator(".visit")).to_have_count(2)
    await _times_fit_their_cards(page)
    TABLET_LANES_SHOT.unlink(missing_ok=True)
    await page.screenshot(path=str(TABLET_LANES_SHOT), full_page=True)
