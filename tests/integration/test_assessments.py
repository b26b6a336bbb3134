"""Baseline and periodic assessments of a treatment plan, the progress they show and the report PDF."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import subprocess
from pathlib import Path
from typing import Any

import pypdf

from scheduler.practice.models import Role
from tests.integration.booking_helpers import at, load_demo
from tests.integration.clinical_helpers import Client, new_client
from tests.integration.conftest import Factory, Staff
from tests.integration.plan_helpers import make_plan, therapist_staff

TODAY = dt.datetime.now(dt.UTC).date()


def assessment(days_ago: int, back: int, neck_rotation: int, sitting: int, **more: Any) -> dict[str, Any]:
    return {
        "assessed_on": (TODAY - dt.timedelta(days=days_ago)).isoformat(),
        "pain": [{"area": "Lower back", "intensity": back}, {"area": "Neck", "intensity": 4}],
        "range_of_motion": [{"joint": "Neck", "movement": "rotation left", "degrees": neck_rotation}],
        "functional_limits": [{"activity": "Sitting at a desk", "score": sitting, "note": "breaks every 20 min"}],
        **more,
    }


async def _plan(client: Client, factory: Factory) -> tuple[str, Staff, Staff, Staff, str]:
    practice = await factory.demo()
    demo = await load_demo(client)
    owner = await factory.staff(practice, Role.OWNER)
    desk = await factory.staff(practice, Role.DESK)
    therapist = await therapist_staff(factory, practice, demo.therapist)
    client_id = await new_client(client, desk)
    plan_id = await make_plan(
        factory, practice, client_id=client_id, therapist_id=demo.therapist, service_id=demo.massage
    )
    return plan_id, owner, desk, therapist, client_id


async def test_first_assessment_is_the_baseline_and_later_ones_are_compared_with_it(
    client: Client, factory: Factory
) -> None:
    plan_id, _, _, therapist, _ = await _plan(client, factory)
    url = f"/api/v1/treatment-plans/{plan_id}/assessments"
    first = await client.post(
        url, json=assessment(56, 7, 45, 6, notes="PRIVATE guarded on palpation"), headers=therapist.headers
    )
    assert first.status_code == 201, first.text
    assert first.json()["baseline"] is True
    second = await client.post(url, json=assessment(28, 5, 60, 4), headers=therapist.headers)
    assert second.json()["baseline"] is False
    listed = (await client.get(url, headers=therapist.headers)).json()["items"]
    assert [a["baseline"] for a in listed] == [True, False]
    assert listed[0]["range_of_motion"] == [{"joint": "Neck", "movement": "rotation left", "degrees": 45}]
    assert listed[0]["notes"] == "PRIVATE guarded on palpation"


async def test_first_assessment_can_be_flagged_not_baseline_and_a_later_one_rebaselines(
    client: Client, factory: Factory
) -> None:
    plan_id, owner, _, _, _ = await _plan(client, factory)
    url = f"/api/v1/treatment-plans/{plan_id}/assessments"
    assert (await client.post(url, json=assessment(30, 7, 45, 6, baseline=False), headers=owner.headers)).json()[
        "baseline"
    ] is False
    await client.post(url, json=assessment(20, 6, 50, 5, baseline=True), headers=owner.headers)
    await client.post(url, json=assessment(10, 5, 55, 5), headers=owner.headers)
    assert [a["baseline"] for a in (await client.get(url, headers=owner.headers)).json()["items"]] == [
        False,
        True,
        False,
    ]


async def test_assessments_are_for_therapists_and_owners_of_the_practice_only(client: Client, factory: Factory) -> None:
    plan_id, _, desk, therapist, _ = await _plan(client, factory)
    url = f"/api/v1/treatment-plans/{plan_id}/assessments"
    await client.post(url, json=assessment(5, 7, 45, 6), headers=therapist.headers)
    assert (await client.get(url, headers=desk.headers)).status_code == 403
    assert (await client.post(url, json=assessment(4, 7, 45, 6), headers=desk.headers)).status_code == 403
    assert (
        await client.get(f"/api/v1/treatment-plans/{plan_id}/progress-report.pdf", headers=desk.headers)
    ).status_code == 403
    other = await factory.staff(await factory.practice("elsewhere"), Role.OWNER)
    assert (await client.get(url, headers=other.headers)).status_code == 404
    assert (await client.post(url, json=assessment(4, 7, 45, 6), headers=other.headers)).status_code == 404
    assert (
        await client.get(f"/api/v1/treatment-plans/{plan_id}/progress-report.pdf", headers=other.headers)
    ).status_code == 404
    assert len((await client.get(url, headers=therapist.headers)).json()["items"]) == 1
    # Another therapist of the practice works with their own clients' plans only.
    colleague = await therapist_staff(factory, therapist.practice, (await load_demo(client)).therapists[1]["id"])
    assert (await client.get(url, headers=colleague.headers)).status_code == 404


async def test_bad_assessments_get_400_naming_the_field_and_store_nothing(client: Client, factory: Factory) -> None:
    plan_id, owner, _, _, _ = await _plan(client, factory)
    url = f"/api/v1/treatment-plans/{plan_id}/assessments"
    future = (TODAY + dt.timedelta(days=3)).isoformat()
    cases: dict[str, dict[str, Any]] = {
        "pain[0].intensity": assessment(1, 11, 45, 6),
        "range_of_motion[0].degrees": assessment(1, 5, 400, 6),
        "functional_limits[0].score": assessment(1, 5, 45, -1),
        "assessed_on": assessment(1, 5, 45, 6, assessed_on=future),
        "pain": {"pain": [], "range_of_motion": [], "functional_limits": []},
        "pain[1]": {"pain": [{"area": "Neck", "intensity": 3}, {"area": "neck", "intensity": 4}]},
        "pain[0].area": {"pain": [{"area": "  ", "intensity": 3}]},
        "appointment_id": assessment(1, 5, 45, 6, appointment_id="not-an-id"),
    }
    for field, body in cases.items():
        refused = await client.post(url, json=body, headers=owner.headers)
        assert refused.status_code == 400, (field, refused.text)
        assert refused.json()["field"] == field, refused.json()
    unknown = await client.post(url, json={**assessment(1, 5, 45, 6), "mood": "good"}, headers=owner.headers)
    assert unknown.status_code == 400
    assert (await client.get(url, headers=owner.headers)).json()["items"] == []
    missing = await client.post(
        "/api/v1/treatment-plans/01900000-0000-7000-8000-000000000000/assessments",
        json=assessment(1, 5, 45, 6),
        headers=owner.headers,
    )
    assert missing.status_code == 404


async def test_assessment_at_a_visit_links_that_visit_to_the_plan(client: Client, factory: Factory) -> None:
    plan_id, owner, desk, _, client_id = await _plan(client, factory)
    demo = await load_demo(client)
    day = TODAY - dt.timedelta(days=2)
    while day.weekday() > 4:  # the demo's therapists work weekdays
        day -= dt.timedelta(days=1)
    start = at(day, 10)
    visit = await client.post(
        "/api/v1/appointments",
        json={"client_id": client_id, "service_id": demo.massage, "therapist_id": demo.therapist, "start": start},
        headers=desk.headers,
    )
    assert visit.status_code == 201, visit.text
    visit_id = visit.json()["id"]
    body = assessment(0, 6, 50, 5, appointment_id=visit_id)
    del body["assessed_on"]
    recorded = await client.post(f"/api/v1/treatment-plans/{plan_id}/assessments", json=body, headers=owner.headers)
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["appointment_id"] == visit_id
    assert recorded.json()["assessed_on"] == day.isoformat()

    stranger = await new_client(client, desk, "Lee")
    theirs = await client.post(
        "/api/v1/appointments",
        json={"client_id": stranger, "service_id": demo.massage, "therapist_id": demo.therapist, "start": at(day, 12)},
        headers=desk.headers,
    )
    refused = await client.post(
        f"/api/v1/treatment-plans/{plan_id}/assessments",
        json=assessment(0, 6, 50, 5, appointment_id=theirs.json()["id"]),
        headers=owner.headers,
    )
    assert refused.status_code == 400
    assert refused.json()["field"] == "appointment_id"


async def test_progress_report_pdf_shows_plan_measures_chart_and_attendance(
    client: Client, factory: Factory, tmp_path: Path
) -> None:
    plan_id, owner, _, therapist, _ = await _plan(client, factory)
    url = f"/api/v1/treatment-plans/{plan_id}/assessments"
    await client.post(
        url, json=assessment(56, 7, 45, 6, notes="PRIVATE guarded on palpation"), headers=therapist.headers
    )
    await client.post(url, json=assessment(28, 5, 60, 4), headers=therapist.headers)
    await client.post(url, json=assessment(1, 3, 70, 2), headers=therapist.headers)

    response = await client.get(f"/api/v1/treatment-plans/{plan_id}/progress-report.pdf", headers=owner.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(response.content))
    text = " ".join((page.extract_text() or "") for page in reader.pages)
    for expected in (
        "Treatment progress report",
        "Kim Park",
        "M62.830",
        "Sit through a work day without pain",
        "myofascial release",
        "Weekly on Tuesday",
        "Dr. Ada Reyes",
        "Pain \N{EN DASH} Lower back",
        "Neck rotation left",
        "Attendance",
        "Baseline",
        "Re-assessment",
    ):
        assert expected in text, expected
    assert "PRIVATE" not in text, "the therapist's notes stay out of the report"
    pdf_path = tmp_path / "report.pdf"
    pdf_path.write_bytes(response.content)
    await asyncio.to_thread(
        subprocess.run,
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf_path), str(tmp_path / "page")],
        check=True,
    )
    pngs = sorted(tmp_path.glob("page*.png"))
    assert pngs
    assert pngs[0].stat().st_size > 10_000
    print(f"progress report page 1: {pngs[0]}")
