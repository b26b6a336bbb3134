"""A treatment plan becomes a checked series: preview, commit under each conflict policy, and edits.

The demo practice (America/New_York): therapists work weekdays 09:00-17:00; the 60-minute massage
has a buffer after it. Every plan here is weekly on Tuesdays at 10:00 for 8 sessions, re-assessing
every 4th, starting at least two weeks ahead.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduler.practice.models import Role
from tests.integration.booking_helpers import NEW_YORK, Client, Demo, at, booking_clock, load_demo, weekday_ahead
from tests.integration.conftest import PASSWORD, Factory, Staff

CONFLICT_DATES = (2, 4, 7)  # 1-based occurrences booked by someone else first


async def new_client(client: Client, headers: dict[str, str], email: str) -> str:
    created = await client.post(
        "/api/v1/clients",
        json={
            "first_name": "Rosa",
            "last_name": "Diaz",
            "email": email,
            "phone": "212-555-0142",
            "date_of_birth": "1980-04-02",
            "address": {"line1": "12 Elm St", "city": "Brooklyn", "region": "NY", "postal_code": "11201"},
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def plan_body(demo: Demo, client_id: str, first: dt.date, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_id": client_id,
        "therapist_id": demo.therapist,
        "service_id": demo.massage,
        "diagnosis_codes": ["M62.830"],
        "goals": ["Turn the head without pain"],
        "frequency": {"freq": "weekly", "interval": 1, "weekdays": ["TU"]},
        "sessions": 8,
        "first_start": f"{first.isoformat()}T10:00",
        "reassess_every": 4,
        "techniques": ["myofascial release"],
        "home_care": "Heat 15 minutes daily",
    }
    body.update(extra or {})
    return body


async def setup_plan(client: Client, factory: Factory) -> tuple[Staff, Demo, str, str, list[dt.date]]:
    practice = await factory.demo()
    owner = await factory.staff(practice, Role.OWNER)
    demo = await load_demo(client)
    client_id = await new_client(client, owner.headers, "rosa@example.test")
    first = weekday_ahead(14, 1)
    created = await client.post(
        "/api/v1/treatment-plans", json=plan_body(demo, client_id, first), headers=owner.headers
    )
    assert created.status_code == 201, created.text
    dates = [first + dt.timedelta(weeks=n) for n in range(8)]
    return owner, demo, client_id, str(created.json()["id"]), dates


async def book_single(client: Client, staff: Staff, demo: Demo, start: str, email: str) -> Any:
    other = await new_client(client, staff.headers, email)
    return await client.post(
        "/api/v1/appointments",
        json={"client_id": other, "service_id": demo.massage, "therapist_id": demo.therapist, "start": start},
        headers=staff.headers,
    )


async def block_dates(client: Client, staff: Staff, demo: Demo, dates: list[dt.date]) -> None:
    for n in CONFLICT_DATES:
        taken = await book_single(client, staff, demo, at(dates[n - 1], 10), f"other{n}@example.test")
        assert taken.status_code == 201, taken.text


async def series_appointments(client: Client, staff: Staff, client_id: str, dates: list[dt.date]) -> list[Any]:
    listed = await client.get(
        "/api/v1/appointments",
        params={
            "date_from": (dates[0] - dt.timedelta(days=4)).isoformat(),
            "date_to": (dates[-1] + dt.timedelta(days=4)).isoformat(),
            "client_id": client_id,
        },
        headers=staff.headers,
    )
    assert listed.status_code == 200, listed.text
    return [a for a in listed.json()["items"] if a["status"] == "booked"]


async def assert_no_double_booking(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT therapist_id, block_start, block_end FROM appointment "
                    "WHERE status IN ('pending_payment', 'booked', 'arrived', 'completed')"
                )
            )
        ).all()
    by_therapist: dict[Any, list[Any]] = {}
    for therapist_id, start, end in rows:
        by_therapist.setdefault(therapist_id, []).append((start, end))
    for blocks in by_therapist.values():
        for (_, end), (next_start, _) in itertools.pairwise(sorted(blocks)):
            assert end <= next_start, "two live appointments of one therapist overlap"


async def test_plan_is_created_read_and_listed_by_client(client: Client, factory: Factory) -> None:
    owner, _demo, client_id, plan_id, dates = await setup_plan(client, factory)
    plan = (await client.get(f"/api/v1/treatment-plans/{plan_id}", headers=owner.headers)).json()
    assert plan["diagnosis_codes"] == ["M62.830"]
    assert plan["frequency"] == {"freq": "weekly", "interval": 1, "weekdays": ["TU"]}
    assert plan["first_start"] == f"{dates[0].isoformat()}T10:00"
    assert plan["timezone"] == "America/New_York"
    listed = await client.get("/api/v1/treatment-plans", params={"client_id": client_id}, headers=owner.headers)
    assert [p["id"] for p in listed.json()["items"]] == [plan_id]
    changed = await client.patch(
        f"/api/v1/treatment-plans/{plan_id}",
        json={"frequency": {"freq": "weekly", "interval": 2, "weekdays": ["TU"]}, "sessions": 6},
        headers=owner.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["frequency"]["interval"] == 2
    assert changed.json()["sessions"] == 6
    offset = await client.patch(
        f"/api/v1/treatment-plans/{plan_id}", json={"first_start": "2030-01-01T10:00Z"}, headers=owner.headers
    )
    assert (offset.status_code, offset.json()["field"]) == (400, "first_start")
    both = await client.patch(
        f"/api/v1/treatment-plans/{plan_id}", json={"sessions": 4, "until": "2031-01-01"}, headers=owner.headers
    )
    assert both.status_code == 400
    ended = await client.patch(
        f"/api/v1/treatment-plans/{plan_id}", json={"status": "cancelled"}, headers=owner.headers
    )
    assert ended.json()["status"] == "cancelled"
    refused = await client.post(
        f"/api/v1/treatment-plans/{plan_id}/series", json={"conflict_policy": "skip"}, headers=owner.headers
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "invalid_transition"
    client_row = (await client.get(f"/api/v1/clients/{client_id}", headers=owner.headers)).json()
    assert (client_row["address_line1"], client_row["city"], client_row["postal_code"]) == (
        "12 Elm St",
        "Brooklyn",
        "11201",
    )


async def test_preview_lists_exactly_the_three_booked_dates_with_reasons_and_alternatives(
    client: Client, factory: Factory
) -> None:
    owner, demo, _client_id, plan_id, dates = await setup_plan(client, factory)
    await block_dates(client, owner, demo, dates)
    preview = await client.post(f"/api/v1/treatment-plans/{plan_id}/series/preview", headers=owner.headers)
    assert preview.status_code == 200, preview.text
    occurrences = preview.json()["occurrences"]
    assert len(occurrences) == 8
    assert [o["index"] for o in occurrences if o["conflict"]] == list(CONFLICT_DATES)
    assert [o["kind"] for o in occurrences].count("reassessment") == 2
    assert [o["index"] for o in occurrences if o["kind"] == "reassessment"] == [4, 8]
    for o in occurrences:
        start = dt.datetime.fromisoformat(o["start"])
        assert start.astimezone(NEW_YORK).time() == dt.time(10, 0)
        if o["conflict"] is None:
            continue
        assert o["conflict"]["reason"] == "therapist_busy"
        alternative = o["conflict"]["alternative"]
        assert alternative is not None
        # Same day first: the therapist is free later that morning.
        assert dt.datetime.fromisoformat(alternative["start"]).date() == start.date()
        assert dt.datetime.fromisoformat(alternative["start"]) != start


async def test_fail_saves_nothing_and_lists_every_conflict(client: Client, factory: Factory) -> None:
    owner, demo, client_id, plan_id, dates = await setup_plan(client, factory)
    await block_dates(client, owner, demo, dates)
    failed = await client.post(
        f"/api/v1/treatment-plans/{plan_id}/series", json={"conflict_policy": "fail"}, headers=owner.headers
    )
    assert failed.status_code == 409, failed.text
    body = failed.json()
    assert body["code"] == "series_conflicts"
    assert [c["index"] for c in body["conflicts"]] == list(CONFLICT_DATES)
    assert all(c["reason"] == "therapist_busy" and c["alternative"] for c in body["conflicts"])
    assert await series_appointments(client, owner, client_id, dates) == []
    plan = (await client.get(f"/api/v1/treatment-plans/{plan_id}", headers=owner.headers)).json()
    assert plan["series_ids"] == []


async def test_skip_saves_five_and_shift_saves_eight_with_three_moved(
    client: Client, factory: Factory, engine: AsyncEngine
) -> None:
    owner, demo, client_id, plan_id, dates = await setup_plan(client, factory)
    await block_dates(client, owner, demo, dates)
    skipped = await client.post(
        f"/api/v1/treatment-plans/{plan_id}/series", json={"conflict_policy": "skip"}, headers=owner.headers
    )
    assert skipped.status_code == 201, skipped.text
    result = skipped.json()
    assert [o["index"] for o in result["skipped"]] == list(CONFLICT_DATES)
    assert len(result["series"]["occurrences"]) == 5
    assert result["series"]["rrule"] == "FREQ=WEEKLY;INTERVAL=1;BYDAY=TU;COUNT=8"
    assert result["series"]["timezone"] == "America/New_York"
    assert result["series"]["dtstart_local"] == f"{dates[0].isoformat()}T10:00"
    assert len(await series_appointments(client, owner, client_id, dates)) == 5
    await assert_no_double_booking(engine)

    # A plan has one active series: cancel this one, then book again with shift.
    series_id = result["series"]["id"]
    again = await client.post(
        f"/api/v1/treatment-plans/{plan_id}/series", json={"conflict_policy": "shift"}, headers=owner.headers
    )
    assert again.status_code == 409
    assert again.json()["code"] == "already_exists"
    cancelled = await client.post(f"/api/v1/series/{series_id}/cancel", json={"reason": "redo"}, headers=owner.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"

    shifted = await client.post(
        f"/api/v1/treatment-plans/{plan_id}/series", json={"conflict_policy": "shift"}, headers=owner.headers
    )
    assert shifted.status_code == 201, shifted.text
    committed = shifted.json()
    assert [o["index"] for o in committed["shifted"]] == list(CONFLICT_DATES)
    occurrences = committed["series"]["occurrences"]
    assert len(occurrences) == 8
    moved = [o for o in occurrences if dt.datetime.fromisoformat(o["start"]).astimezone(NEW_YORK).time() != dt.time(10)]
    assert len(moved) == 3
    assert sorted(o["recurrence_id"][:10] for o in moved) == [dates[n - 1].isoformat() for n in CONFLICT_DATES]
    assert [o["kind"] for o in occurrences].count("reassessment") == 2
    assert len(await series_appointments(client, owner, client_id, dates)) == 8
    await assert_no_double_booking(engine)


async def test_explicit_decisions_per_occurrence(client: Client, factory: Factory) -> None:
    owner, demo, _client_id, plan_id, dates = await setup_plan(client, factory)
    await block_dates(client, owner, demo, dates)
    url = f"/api/v1/treatment-plans/{plan_id}/series"
    partial = await client.post(
        url, json={"conflict_policy": "decide", "decisions": [{"index": 2, "action": "skip"}]}, headers=owner.headers
    )
    assert partial.status_code == 409
    assert [c["index"] for c in partial.json()["conflicts"]] == [4, 7]
    unknown = await client.post(
        url, json={"conflict_policy": "decide", "decisions": [{"index": 99, "action": "skip"}]}, headers=owner.headers
    )
    assert unknown.status_code == 400
    assert unknown.json()["field"] == "decisions"
    decided = await client.post(
        url,
        json={
            "conflict_policy": "decide",
            "decisions": [
                {"index": 2, "action": "skip"},
                {"index": 4, "action": "shift"},
                {"index": 7, "action": "shift"},
            ],
        },
        headers=owner.headers,
    )
    assert decided.status_code == 201, decided.text
    assert len(decided.json()["series"]["occurrences"]) == 7
    assert [o["index"] for o in decided.json()["shifted"]] == [4, 7]


async def commit_clean(client: Client, owner: Staff, plan_id: str) -> dict[str, Any]:
    committed = await client.post(
        f"/api/v1/treatment-plans/{plan_id}/series", json={"conflict_policy": "fail"}, headers=owner.headers
    )
    assert committed.status_code == 201, committed.text
    series: dict[str, Any] = committed.json()["series"]
    return series


async def test_moving_occurrence_three_alone_leaves_the_others_untouched(client: Client, factory: Factory) -> None:
    owner, _demo, _client_id, plan_id, dates = await setup_plan(client, factory)
    series = await commit_clean(client, owner, plan_id)
    before = {o["id"]: o["start"] for o in series["occurrences"]}
    third = series["occurrences"][2]
    moved = await client.post(
        f"/api/v1/series/{series['id']}/occurrences/{third['id']}/move",
        json={"start": at(dates[2] + dt.timedelta(days=1), 14)},
        headers=owner.headers,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["recurrence_id"] == third["recurrence_id"]
    after = (await client.get(f"/api/v1/series/{series['id']}", headers=owner.headers)).json()
    assert after["sequence"] == series["sequence"] + 1
    for o in after["occurrences"]:
        if o["id"] == third["id"]:
            assert dt.datetime.fromisoformat(o["start"]) == dt.datetime.fromisoformat(
                at(dates[2] + dt.timedelta(days=1), 14)
            )
        else:
            assert o["start"] == before[o["id"]]
    cancelled = await client.post(
        f"/api/v1/series/{series['id']}/occurrences/{after['occurrences'][0]['id']}/cancel",
        json={"reason": "ill"},
        headers=owner.headers,
    )
    assert cancelled.json()["status"] == "cancelled"
    latest = (await client.get(f"/api/v1/series/{series['id']}", headers=owner.headers)).json()
    assert latest["sequence"] == series["sequence"] + 2
    assert [o["status"] for o in latest["occurrences"]].count("booked") == 7


async def test_this_and_following_from_five_splits_the_series(client: Client, factory: Factory) -> None:
    owner, _demo, _client_id, plan_id, dates = await setup_plan(client, factory)
    series = await commit_clean(client, owner, plan_id)
    before = [o["start"] for o in series["occurrences"]]
    fifth = series["occurrences"][4]
    edited = await client.post(
        f"/api/v1/series/{series['id']}/reschedule",
        json={"scope": "following", "from_appointment_id": fifth["id"], "first_start": f"{dates[4].isoformat()}T14:00"},
        headers=owner.headers,
    )
    assert edited.status_code == 200, edited.text
    old, new = edited.json()["series"]
    assert old["id"] == series["id"]
    assert old["status"] == "ended"
    assert old["rrule"] == "FREQ=WEEKLY;INTERVAL=1;BYDAY=TU;COUNT=4"
    assert old["sequence"] == series["sequence"] + 1
    assert [o["start"] for o in old["occurrences"]] == before[:4]
    assert new["parent_series_id"] == series["id"]
    assert new["rrule"] == "FREQ=WEEKLY;INTERVAL=1;BYDAY=TU;COUNT=4"
    assert new["dtstart_local"] == f"{dates[4].isoformat()}T14:00"
    assert [o["id"] for o in new["occurrences"]] == [o["id"] for o in series["occurrences"][4:]]
    assert [dt.datetime.fromisoformat(o["start"]) for o in new["occurrences"]] == [
        dt.datetime.fromisoformat(at(day, 14)) for day in dates[4:]
    ]
    # The occurrences keep their kinds: the 8th is still the reassessment.
    assert [o["kind"] for o in new["occurrences"]] == ["treatment", "treatment", "treatment", "reassessment"]


async def test_this_and_following_into_a_conflict_is_refused_and_changes_nothing(
    client: Client, factory: Factory
) -> None:
    owner, demo, _client_id, plan_id, dates = await setup_plan(client, factory)
    series = await commit_clean(client, owner, plan_id)
    taken = await book_single(client, owner, demo, at(dates[6], 14), "blocker@example.test")
    assert taken.status_code == 201, taken.text
    refused = await client.post(
        f"/api/v1/series/{series['id']}/reschedule",
        json={
            "scope": "following",
            "from_appointment_id": series["occurrences"][4]["id"],
            "first_start": f"{dates[4].isoformat()}T14:00",
        },
        headers=owner.headers,
    )
    assert refused.status_code == 409, refused.text
    assert [c["index"] for c in refused.json()["conflicts"]] == [3]
    unchanged = (await client.get(f"/api/v1/series/{series['id']}", headers=owner.headers)).json()
    assert [o["start"] for o in unchanged["occurrences"]] == [o["start"] for o in series["occurrences"]]
    assert unchanged["status"] == "active"


async def test_all_moves_every_occurrence_until_one_has_happened(client: Client, factory: Factory) -> None:
    owner, _demo, _client_id, plan_id, dates = await setup_plan(client, factory)
    series = await commit_clean(client, owner, plan_id)
    thursday = dates[0] + dt.timedelta(days=2)
    moved = await client.post(
        f"/api/v1/series/{series['id']}/reschedule",
        json={
            "scope": "all",
            "first_start": f"{thursday.isoformat()}T11:00",
            "frequency": {"freq": "weekly", "weekdays": ["TH"]},
        },
        headers=owner.headers,
    )
    assert moved.status_code == 200, moved.text
    (same,) = moved.json()["series"]
    assert same["id"] == series["id"]
    assert same["rrule"] == "FREQ=WEEKLY;INTERVAL=1;BYDAY=TH;COUNT=8"
    assert [dt.datetime.fromisoformat(o["start"]) for o in same["occurrences"]] == [
        dt.datetime.fromisoformat(at(thursday + dt.timedelta(weeks=n), 11)) for n in range(8)
    ]
    first = same["occurrences"][0]["id"]
    with booking_clock(same["occurrences"][0]["end"]):
        assert (await client.post(f"/api/v1/appointments/{first}/complete", headers=owner.headers)).status_code == 200
    refused = await client.post(
        f"/api/v1/series/{series['id']}/reschedule",
        json={"scope": "all", "first_start": f"{thursday.isoformat()}T12:00"},
        headers=owner.headers,
    )
    assert refused.status_code == 409
    assert refused.json()["field"] == "scope"


async def test_cancelling_the_remaining_series_leaves_past_occurrences_intact(client: Client, factory: Factory) -> None:
    owner, _demo, _client_id, plan_id, _dates = await setup_plan(client, factory)
    series = await commit_clean(client, owner, plan_id)
    for occurrence in series["occurrences"][:2]:
        with booking_clock(occurrence["end"]):
            done = await client.post(f"/api/v1/appointments/{occurrence['id']}/complete", headers=owner.headers)
        assert done.status_code == 200
    cancelled = await client.post(
        f"/api/v1/series/{series['id']}/cancel",
        json={"reason": "moving away", "from_appointment_id": series["occurrences"][2]["id"]},
        headers=owner.headers,
    )
    assert cancelled.status_code == 200, cancelled.text
    result = cancelled.json()
    assert [o["status"] for o in result["occurrences"]] == ["completed"] * 2 + ["cancelled"] * 6
    assert [o["start"] for o in result["occurrences"]] == [o["start"] for o in series["occurrences"]]
    assert result["status"] == "cancelled"
    assert result["rrule"].endswith("COUNT=2")
    assert result["sequence"] > series["sequence"]


async def test_plan_in_a_dst_gap_is_rejected(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    owner = await factory.staff(practice, Role.OWNER)
    demo = await load_demo(client)
    client_id = await new_client(client, owner.headers, "gap@example.test")
    # 14 March 2027, 02:30 does not exist in New York.
    body = plan_body(demo, client_id, dt.date(2027, 3, 14), {"frequency": {"freq": "weekly", "weekdays": ["SU"]}})
    body["first_start"] = "2027-03-14T02:30"
    refused = await client.post("/api/v1/treatment-plans", json=body, headers=owner.headers)
    assert refused.status_code == 400
    assert refused.json()["code"] == "nonexistent_local_time"
    assert refused.json()["field"] == "first_start"


BAD_PLANS: list[tuple[dict[str, Any], str, int]] = [
    ({"first_start": "2030-01-01T10:00-05:00"}, "first_start", 400),
    ({"first_start": "next tuesday"}, "first_start", 400),
    ({"diagnosis_codes": ["not a code"]}, "diagnosis_codes[0]", 400),
    ({"diagnosis_codes": []}, "diagnosis_codes", 400),
    ({"until": "2030-06-01"}, "until", 400),
    ({"sessions": 0}, "sessions", 400),
    ({"frequency": {"freq": "yearly"}}, "frequency.freq", 400),
    ({"frequency": {"freq": "weekly", "weekdays": ["XX"]}}, "frequency.weekdays", 400),
    ({"frequency": {"freq": "weekly", "weekdays": ["WE"]}}, "first_start", 400),
    ({"reassess_every": 0}, "reassess_every", 400),
    ({"client_id": "00000000-0000-0000-0000-000000000000"}, "client_id", 404),
    ({"client_id": "nope"}, "client_id", 400),
    ({"reassessment_service_id": "00000000-0000-0000-0000-000000000000"}, "reassessment_service_id", 404),
    (
        {"lmn": {"issuer_name": "Dr. Ng", "signed_on": "2030-02-01", "expires_on": "2030-01-01"}},
        "lmn.expires_on",
        400,
    ),
    (
        {"lmn": {"issuer_name": "Dr. Ng", "signed_on": "2030-01-01", "expires_on": "2030-12-31", "issuer_npi": "12"}},
        "lmn.issuer_npi",
        400,
    ),
]


async def test_bad_plans_get_a_4xx_naming_the_field(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    owner = await factory.staff(practice, Role.OWNER)
    demo = await load_demo(client)
    client_id = await new_client(client, owner.headers, "bad@example.test")
    first = weekday_ahead(14, 1)
    for change, field, status in BAD_PLANS:
        response = await client.post(
            "/api/v1/treatment-plans", json=plan_body(demo, client_id, first, change), headers=owner.headers
        )
        assert response.status_code == status, (change, response.text)
        assert response.json()["field"] == field, (change, response.json())
    listed = await client.get("/api/v1/treatment-plans", params={"client_id": client_id}, headers=owner.headers)
    assert listed.json()["items"] == []


async def test_the_desk_reads_no_treatment_plans_but_sees_the_series_on_the_schedule(
    client: Client, factory: Factory
) -> None:
    owner, _demo, client_id, plan_id, dates = await setup_plan(client, factory)
    desk = await factory.staff(owner.practice, Role.DESK)
    assert (await client.get(f"/api/v1/treatment-plans/{plan_id}", headers=desk.headers)).status_code == 403
    preview = await client.post(f"/api/v1/treatment-plans/{plan_id}/series/preview", headers=desk.headers)
    assert preview.status_code == 403
    series = await commit_clean(client, owner, plan_id)
    seen = await series_appointments(client, desk, client_id, dates)
    assert {a["series_id"] for a in seen} == {series["id"]}
    assert len(seen) == 8


async def test_the_desk_schedule_marks_series_occurrences(client: Client, factory: Factory) -> None:
    owner, _demo, _client_id, plan_id, dates = await setup_plan(client, factory)
    await commit_clean(client, owner, plan_id)
    await factory.staff(owner.practice, Role.DESK, email="frontdesk@demo.test")
    login = await client.get("/login", headers={"accept": "text/html"})
    token = re.search(r'name="_csrf_token" value="([^"]+)"', login.text)
    assert token
    signed_in = await client.post(
        "/login",
        data={"email": "frontdesk@demo.test", "password": PASSWORD, "_csrf_token": token.group(1)},
        headers={"accept": "text/html"},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    page = await client.get(f"/staff/schedule?date={dates[2].isoformat()}", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "Rosa Diaz" in page.text
    assert "series 3/8" in page.text
    assert "M62.830" not in page.text, "no diagnosis on the desk's schedule"


async def test_reassessments_use_the_reassessment_service_and_the_lmn_window_is_checked(
    client: Client, factory: Factory
) -> None:
    practice = await factory.demo()
    owner = await factory.staff(practice, Role.OWNER)
    demo = await load_demo(client)
    client_id = await new_client(client, owner.headers, "lmn@example.test")
    first = weekday_ahead(14, 1)
    longer = demo.services["90"]
    lmn = {
        "issuer_name": "Dr. Ng",
        "issuer_credential": "MD",
        "issuer_npi": "1234567893",
        "signed_on": (first - dt.timedelta(days=30)).isoformat(),
        "expires_on": (first + dt.timedelta(weeks=5)).isoformat(),  # covers sessions 1-6
        "condition": "Cervicalgia",
    }
    body = plan_body(demo, client_id, first, {"reassessment_service_id": str(longer["id"]), "lmn": lmn})
    created = await client.post("/api/v1/treatment-plans", json=body, headers=owner.headers)
    assert created.status_code == 201, created.text
    plan = created.json()
    assert plan["lmn"]["issuer_name"] == "Dr. Ng"
    preview = await client.post(f"/api/v1/treatment-plans/{plan['id']}/series/preview", headers=owner.headers)
    occurrences = preview.json()["occurrences"]
    for o in occurrences:
        minutes = (dt.datetime.fromisoformat(o["end"]) - dt.datetime.fromisoformat(o["start"])).total_seconds() / 60
        if o["kind"] == "reassessment":
            assert (o["service_id"], minutes) == (str(longer["id"]), longer["duration_minutes"])
        else:
            assert (o["service_id"], minutes) == (demo.massage, 60)
    outside = [o for o in occurrences if o["conflict"]]
    assert [o["index"] for o in outside] == [7, 8]
    assert all(
        o["conflict"]["reason"] == "outside_lmn_window" and o["conflict"]["alternative"] is None for o in outside
    )
    kept = await client.post(
        f"/api/v1/treatment-plans/{plan['id']}/series",
        json={
            "conflict_policy": "decide",
            "decisions": [{"index": 7, "action": "keep"}, {"index": 8, "action": "skip"}],
        },
        headers=owner.headers,
    )
    assert kept.status_code == 201, kept.text
    assert len(kept.json()["series"]["occurrences"]) == 7
    assert kept.json()["series"]["plan_id"] == plan["id"]
