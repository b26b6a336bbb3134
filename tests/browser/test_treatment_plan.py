"""From intake to a booked series in a real browser: the client fills the questionnaire at the link the
desk sent, the therapist writes a plan and records assessments, previews the series with a conflict,
shifts it and commits; the desk sees the series (and only a discreet flag) on the schedule."""

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
from tests.browser.conftest import PASSWORD

NEW_YORK = ZoneInfo("America/New_York")
MASSAGE = "Therapeutic Massage (60 min)"
THERAPIST_EMAIL = "maya@demo.test"


@pytest.fixture
async def desk_http(settings: Settings, live_server: str) -> AsyncIterator[httpx.AsyncClient]:
    config = build_alchemy_config(settings, pooled=False)
    try:
        async with session_scope(config) as session:
            user = await practice_services.find_user_by_email(session, DEMO_DESK)
            assert user is not None
            _, token = await practice_services.create_token(session, user, label="browser test")
    finally:
        await config.get_engine().dispose()
    async with httpx.AsyncClient(base_url=live_server, headers={"Authorization": f"Bearer {token}"}) as http:
        yield http


async def _new_client(http: httpx.AsyncClient, first: str, last: str) -> str:
    created = await http.post(
        "/api/v1/clients",
        json={"first_name": first, "last_name": last, "email": f"{first.lower()}.{last.lower()}@example.test"},
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _demo(http: httpx.AsyncClient) -> tuple[dict[str, Any], str]:
    therapists = (await http.get("/api/v1/practices/demo/therapists")).json()["items"]
    maya = next(t for t in therapists if t["name"].startswith("Maya"))
    services = (await http.get("/api/v1/practices/demo/services")).json()["items"]
    return maya, next(s["id"] for s in services if s["name"] == MASSAGE)


def _first_tuesday() -> dt.date:
    day = dt.datetime.now(NEW_YORK).date() + dt.timedelta(days=8)
    while day.weekday() != 1:
        day += dt.timedelta(days=1)
    return day


async def _sign_in(page: Page, email: str) -> None:
    await page.goto("/login")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")


async def _sign_out(page: Page) -> None:
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(re.compile(r"/login$"))


async def _client_fills_intake(page: Page, link: str) -> None:
    await page.goto(link)
    await expect(page.get_by_role("heading", name="Health questionnaire")).to_be_visible()
    await page.get_by_label("Current health issues").fill("Low back pain since a fall in January")
    await page.get_by_label("Medications you take").fill("Warfarin 5 mg")
    await page.get_by_label(re.compile("I take blood thinners")).check()
    await page.locator("#pain_area_0").fill("Lower back")
    await page.locator("#pain_intensity_0").select_option("7")
    await page.get_by_label("What would you like to get out of treatment?").fill("Sit through a work day")
    await page.get_by_role("button", name="Send my answers").click()
    await expect(page.get_by_role("alert")).to_contain_text("consent")
    await page.get_by_label("I have read this and consent to treatment").check()
    await page.get_by_role("button", name="Send my answers").click()
    await expect(page.get_by_role("heading", name="Thank you")).to_be_visible()


async def _record_assessment(page: Page, on: dt.date, back: int, rotation: int, sitting: int) -> None:
    await page.get_by_label("Date", exact=True).fill(on.isoformat())
    await page.locator("#pain_area_0").fill("Lower back")
    await page.locator("#pain_intensity_0").fill(str(back))
    await page.locator("#rom_joint_0").fill("Neck")
    await page.locator("#rom_movement_0").fill("rotation left")
    await page.locator("#rom_degrees_0").fill(str(rotation))
    await page.locator("#fn_activity_0").fill("Sitting at a desk")
    await page.locator("#fn_score_0").fill(str(sitting))
    await page.get_by_role("button", name="Save assessment").click()
    await expect(page).to_have_url(re.compile(r"/staff/plans/[^/]+#progress$"))


async def _therapist_writes_plan(page: Page, kim: str, first: dt.date) -> None:
    await page.goto(f"/staff/clients/{kim}/health")
    await expect(page.locator("#contraindications")).to_contain_text("blood thinners")
    await page.get_by_label("Service", exact=True).select_option(label=MASSAGE)
    await page.get_by_label("Conditions: ICD-10 codes").fill("M54.50, M62.830")
    await page.get_by_label("TU", exact=True).check()
    await page.get_by_label("First session").fill(first.isoformat())
    await page.get_by_label("At (local time)").fill("10:00")
    await page.get_by_label("Number of sessions").fill("4")
    await page.get_by_label("Re-assess every … sessions").fill("2")
    await page.get_by_label("Home care: what to do and not do").fill("Heat 15 minutes daily")
    await page.get_by_role("button", name="Create plan").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Treatment plan: Kim Park")


async def _desk_sees_the_series(page: Page, maya_id: str, first: dt.date, second: dt.date) -> None:
    await _sign_in(page, DEMO_DESK)
    for day in (first, second, first + dt.timedelta(days=14)):
        await page.goto(f"/staff/schedule?date={day.isoformat()}")
        column = page.get_by_role("region", name="Day grid").locator(f'section[data-column="{maya_id}"]')
        kims = column.locator(".visit", has_text="Kim Park")
        await expect(kims).to_have_count(1)
        await expect(kims).to_contain_text("⚠ contraindication")
        await expect(page.locator("body")).not_to_contain_text("arfarin")
    await page.goto(f"/staff/schedule?date={first.isoformat()}")
    await expect(page.locator(".visit", has_text="Kim Park").first).to_contain_text("10:00 AM \N{EN DASH} 11:00 AM")
    await page.goto(f"/staff/schedule?date={second.isoformat()}")
    shifted = page.locator(".visit", has_text="Kim Park").first
    await expect(shifted).not_to_contain_text("10:00 AM \N{EN DASH} 11:00 AM")


async def test_intake_to_plan_to_series_with_one_shift_seen_by_the_desk(
    page: Page, desk_http: httpx.AsyncClient, tmp_path: Path
) -> None:
    maya, massage = await _demo(desk_http)
    kim = await _new_client(desk_http, "Kim", "Park")
    other = await _new_client(desk_http, "Noor", "Haddad")
    first = _first_tuesday()
    second = first + dt.timedelta(days=7)
    clash = await desk_http.post(
        "/api/v1/appointments",
        json={
            "client_id": other,
            "service_id": massage,
            "therapist_id": maya["id"],
            "start": dt.datetime.combine(second, dt.time(10), NEW_YORK).isoformat(),
        },
    )
    assert clash.status_code == 201, clash.text
    issued = await desk_http.post(f"/api/v1/clients/{kim}/intake-link", json={"send_email": False})
    assert issued.status_code == 201, issued.text
    link = issued.json()["url"]
    link = link[link.index("/p/") :]

    await _client_fills_intake(page, link)
    await page.go_back()
    await page.screenshot(path=str(tmp_path / "intake-form.png"), full_page=True)

    await _sign_in(page, THERAPIST_EMAIL)
    await _therapist_writes_plan(page, kim, first)

    today = dt.datetime.now(NEW_YORK).date()
    await _record_assessment(page, today - dt.timedelta(days=21), 7, 45, 6)
    await _record_assessment(page, today - dt.timedelta(days=7), 5, 60, 4)
    await _record_assessment(page, today, 3, 70, 2)
    chart = page.locator("#progress-chart svg")
    await expect(chart).to_contain_text("better (")
    await expect(chart.locator("line.baseline")).to_have_count(3)
    await page.screenshot(path=str(tmp_path / "plan-page.png"), full_page=True)
    shot = tmp_path / "progress-chart.png"
    await page.locator("#progress-chart").screenshot(path=str(shot))
    assert shot.stat().st_size > 5_000
    print(f"\nprogress chart screenshot: {shot}")

    await page.get_by_role("link", name="Book the series").click()
    rows = page.locator("#occurrences tbody tr")
    await expect(rows).to_have_count(4)
    conflicts = page.locator("#occurrences tr.conflict")
    await expect(conflicts).to_have_count(1)
    await expect(conflicts).to_have_attribute("data-index", "2")
    await expect(conflicts).to_contain_text("Therapist busy")
    await expect(conflicts).to_contain_text("Proposed:")
    await conflicts.get_by_label("Shift").check()
    await page.screenshot(path=str(tmp_path / "series-preview.png"), full_page=True)
    await page.get_by_role("button", name="Book the series").click()
    await expect(page).to_have_url(re.compile(rf"/staff/schedule\?date={first.isoformat()}&highlight="))
    await expect(page.locator(".visit.highlighted")).to_contain_text("Kim Park")
    await _sign_out(page)

    await _desk_sees_the_series(page, maya["id"], first, second)
