"""The therapist's clinical pages: intake → plan → assessments and chart → series preview → commit."""

from __future__ import annotations

import datetime as dt
import re

from scheduler.practice.models import Role
from tests.integration.booking_helpers import NEW_YORK, at, load_demo, weekday_ahead
from tests.integration.clinical_helpers import HTML, Client, fill_intake, intake_link, new_client, post_form, sign_in
from tests.integration.conftest import Factory


def plan_form(therapist_id: str, service_id: str, first: dt.date, **more: str) -> dict[str, object]:
    return {
        "therapist_id": therapist_id,
        "service_id": service_id,
        "diagnosis_codes": "m62.830, M54.50",
        "goals": "Sit through a work day\nSleep without waking from pain",
        "techniques": ["myofascial release", "trigger point"],
        "freq": "weekly",
        "interval": "1",
        "weekdays": ["TU"],
        "first_date": first.isoformat(),
        "first_time": "10:00",
        "ends": "sessions",
        "sessions": "4",
        "reassess_every": "2",
        "home_care": "Heat daily; no heavy lifting.",
        **more,
    }


async def _plan_dates_read_the_us_way(client: Client, kim: str, plan_path: str, first: dt.date) -> None:
    plan_page = await client.get(plan_path, headers=HTML)
    assert f"first {first:%b} {first.day}, {first.year}, 10:00 AM</dd>" in plan_page.text
    health = await client.get(f"/staff/clients/{kim}/health", headers=HTML)
    assert f"· from {first:%b} {first.day}, {first.year}</a>" in health.text


async def test_therapist_plans_from_intake_and_books_series_resolving_a_conflict(
    client: Client, factory: Factory
) -> None:
    practice = await factory.demo()
    demo = await load_demo(client)
    desk = await factory.staff(practice, Role.DESK)
    kim = await new_client(client, desk, "Kim")
    other = await new_client(client, desk, "Lee")
    await fill_intake(client, await intake_link(client, desk, kim))
    first = weekday_ahead(8, weekday=1)
    clash = await client.post(
        "/api/v1/appointments",
        json={
            "client_id": other,
            "service_id": demo.massage,
            "therapist_id": demo.therapist,
            "start": at(first + dt.timedelta(days=7), 10),
        },
        headers=desk.headers,
    )
    assert clash.status_code == 201, clash.text

    await sign_in(client, "maya@demo.test")
    health = await client.get(f"/staff/clients/{kim}/health", headers=HTML)
    assert health.status_code == 200
    assert "HEALTH-MED warfarin 5 mg" in health.text
    assert "Takes blood thinners" in health.text
    today = dt.datetime.now(NEW_YORK).date()
    assert f"Filled in {today:%A}, {today:%B} {today.day}, {today.year}, consent given." in health.text

    refused = await post_form(
        client,
        f"/staff/clients/{kim}/plans",
        plan_form(demo.therapist, demo.massage, first, diagnosis_codes="not a code"),
        csrf_from=f"/staff/clients/{kim}/health",
    )
    assert refused.status_code == 400
    assert "diagnosis_codes" in refused.text

    created = await post_form(
        client,
        f"/staff/clients/{kim}/plans",
        plan_form(demo.therapist, demo.massage, first),
        csrf_from=f"/staff/clients/{kim}/health",
    )
    assert created.status_code == 303, created.text
    plan_path = created.headers["location"]
    plan_page = await client.get(plan_path, headers=HTML)
    assert plan_page.status_code == 200
    assert "M62.830" in plan_page.text
    assert "No assessments recorded yet" in plan_page.text
    await _plan_dates_read_the_us_way(client, kim, plan_path, first)

    await _record_baseline_and_see_chart(client, plan_path)

    preview = await client.get(f"{plan_path}/series", headers=HTML)
    assert preview.status_code == 200
    conflicts = re.findall(r'<tr class="conflict" data-index="(\d+)"', preview.text)
    assert conflicts == ["2"]
    assert "Therapist busy" in preview.text
    assert f"<td>{first:%A}, {first:%B} {first.day}, {first.year}, 10:00 AM \N{EN DASH} 11:00 AM" in preview.text

    committed = await post_form(client, f"{plan_path}/series", {"decision_2": "shift"}, csrf_from=f"{plan_path}/series")
    assert committed.status_code == 303, committed.text
    assert committed.headers["location"].startswith(f"/staff/schedule?date={first.isoformat()}")

    listed = await client.get(
        "/api/v1/appointments",
        params={
            "date_from": first.isoformat(),
            "date_to": (first + dt.timedelta(days=30)).isoformat(),
            "client_id": kim,
        },
        headers=desk.headers,
    )
    visits = listed.json()["items"]
    assert len(visits) == 4
    assert (
        sum(1 for v in visits if not v["start"].endswith("T10:00:00-05:00") and "T10:00:00-04:00" not in v["start"])
        == 1
    )

    await client.post("/logout", headers=HTML)
    await sign_in(client, "desk@demo.test")
    assert (await client.get(f"/staff/clients/{kim}/health", headers=HTML)).status_code == 403
    assert (await client.get(plan_path, headers=HTML)).status_code == 403
    schedule = await client.get(f"/staff/schedule?date={first.isoformat()}", headers=HTML)
    assert "Kim Park" in schedule.text
    assert "⚠ contraindication" in schedule.text
    assert "warfarin" not in schedule.text


async def _record_baseline_and_see_chart(client: Client, plan_path: str) -> None:
    today = dt.datetime.now(dt.UTC).date()
    recorded = await post_form(
        client,
        f"{plan_path}/assessments",
        {
            "assessed_on": (today - dt.timedelta(days=1)).isoformat(),
            "pain_area_0": "Lower back",
            "pain_intensity_0": "7",
            "rom_joint_0": "Neck",
            "rom_movement_0": "rotation left",
            "rom_degrees_0": "45",
            "fn_activity_0": "Sitting",
            "fn_score_0": "6",
            "notes": "Guarded",
        },
        csrf_from=plan_path,
    )
    assert recorded.status_code == 303, recorded.text
    bad = await post_form(
        client, f"{plan_path}/assessments", {"pain_area_0": "Neck", "pain_intensity_0": "12"}, csrf_from=plan_path
    )
    assert bad.status_code == 400
    assert "pain[0].intensity" in bad.text
    plan_page = await client.get(plan_path, headers=HTML)
    assert "<svg" in plan_page.text
    assert "baseline 7" in plan_page.text
