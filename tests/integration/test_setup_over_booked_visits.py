"""Time off and deactivations over visits already booked: refused with the visits listed, or kept on request.

Which visits are in the way: pending payment, booked or arrived, not yet over, and (for time off) whose
service time overlaps the span. The buffers do not count, as they do not when booking (availability rule
`time_off`): a visit ending when the time off starts is not in the way, even with its clean-up after it.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from sqlalchemy import update

from scheduler.booking.models import Appointment, AppointmentStatus
from scheduler.db import scope_session, session_scope
from scheduler.practice.models import Role
from tests.integration.booking_helpers import NEW_YORK, Client, Demo, at, load_demo, weekday_ahead
from tests.integration.conftest import PASSWORD, Factory, Staff

MASSAGE_NAME = "Therapeutic Massage (60 min)"  # the demo's 60 minutes, 15 minutes' clean-up after
HTML = {"accept": "text/html"}


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


async def _client_id(client: Client, staff: Staff, first: str, last: str) -> str:
    created = await client.post(
        "/api/v1/clients",
        json={
            "first_name": first,
            "last_name": last,
            "email": f"{first.lower()}@example.test",
            "phone": "212-555-0199",
        },
        headers=staff.headers,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _book(
    client: Client,
    staff: Staff,
    demo: Demo,
    client_id: str,
    start: str,
    *,
    therapist: int = 0,
    room_id: str | None = None,
) -> str:
    response = await client.post(
        "/api/v1/appointments",
        json={
            "client_id": client_id,
            "service_id": demo.massage,
            "therapist_id": demo.therapists[therapist]["id"],
            "start": start,
            "room_id": room_id,
        },
        headers=staff.headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _in_the_way(appointment_id: str, start: str, end: str, initials: str) -> dict[str, Any]:
    return {
        "id": appointment_id,
        "start": start,
        "end": end,
        "status": "booked",
        "service": MASSAGE_NAME,
        "client_initials": initials,
    }


def _past_weekday() -> dt.date:
    past = dt.datetime.now(NEW_YORK).date() - dt.timedelta(days=7)
    while past.weekday() > 4:
        past -= dt.timedelta(days=1)
    return past


async def _time_off(client: Client, owner: Staff, therapist_id: str) -> list[dict[str, Any]]:
    listed = await client.get(f"/api/v1/therapists/{therapist_id}/time-off", headers=owner.headers)
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


async def test_time_off_over_booked_visits_gets_409_listing_exactly_those_in_the_way(
    client: Client, factory: Factory
) -> None:
    practice = await factory.demo()
    owner = await factory.staff(practice, Role.OWNER)
    demo = await load_demo(client)
    therapist_id = demo.therapist
    day = weekday_ahead()
    ann = await _client_id(client, owner, "Ann", "Lee")
    bo = await _client_id(client, owner, "Bo", "Diaz")

    ends_at_start = await _book(client, owner, demo, ann, at(day, 9))  # 09:00-10:00, clean-up until 10:15
    inside = await _book(client, owner, demo, bo, at(day, 10, 15))
    cancelled = await _book(client, owner, demo, ann, at(day, 11, 30))
    cancel = await client.post(f"/api/v1/appointments/{cancelled}/cancel", json={}, headers=owner.headers)
    assert cancel.status_code == 200, cancel.text
    straddles_end = await _book(client, owner, demo, ann, at(day, 12, 30))  # 12:30-13:30
    await _book(client, owner, demo, bo, at(day, 10, 15), therapist=1)  # another therapist's visit
    past = _past_weekday()
    await _book(client, owner, demo, ann, at(past, 10))  # back-entered: already over

    path = f"/api/v1/therapists/{therapist_id}/time-off"
    refused = await client.post(
        path, json={"start": at(day, 10), "end": at(day, 13), "reason": "Funeral"}, headers=owner.headers
    )
    body = _problem(refused, 409)
    assert (body["code"], body["field"]) == ("appointments_in_the_way", "start")
    expected = [
        _in_the_way(inside, at(day, 10, 15), at(day, 11, 15), "B.D."),
        _in_the_way(straddles_end, at(day, 12, 30), at(day, 13, 30), "A.L."),
    ]
    assert body["appointments"] == expected
    assert ends_at_start not in str(body)
    assert "Ann" not in str(body), "nothing but initials about the client"
    assert await _time_off(client, owner, therapist_id) == [], "nothing written on refusal"

    # A span starting when the last visit ends, and one over a visit already over, are not in the way.
    after = await client.post(path, json={"start": at(day, 13, 30), "end": at(day, 17)}, headers=owner.headers)
    assert after.status_code == 201, after.text
    assert after.json()["appointments_in_the_way"] == []
    over = await client.post(path, json={"start": at(past, 9), "end": at(past, 17)}, headers=owner.headers)
    assert over.status_code == 201, over.text
    assert over.json()["appointments_in_the_way"] == []

    kept = await client.post(
        path,
        json={"start": at(day, 10), "end": at(day, 13), "reason": "Funeral", "keep_appointments": True},
        headers=owner.headers,
    )
    assert kept.status_code == 201, kept.text
    assert kept.json()["appointments_in_the_way"] == expected
    assert kept.json()["reason"] == "Funeral"
    assert kept.json()["id"] in {t["id"] for t in await _time_off(client, owner, therapist_id)}
    visits = await client.get(
        "/api/v1/appointments",
        params={"date_from": day.isoformat(), "date_to": day.isoformat(), "therapist_id": therapist_id},
        headers=owner.headers,
    )
    statuses = {a["id"]: a["status"] for a in visits.json()["items"]}
    assert (statuses[inside], statuses[straddles_end]) == ("booked", "booked"), "kept visits stay booked"


async def test_the_clean_up_buffer_inside_time_off_is_not_in_the_way(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    owner = await factory.staff(practice, Role.OWNER)
    demo = await load_demo(client)
    day = weekday_ahead()
    ann = await _client_id(client, owner, "Ann", "Lee")
    await _book(client, owner, demo, ann, at(day, 9))  # 09:00-10:00 + 15 minutes' clean-up
    path = f"/api/v1/therapists/{demo.therapist}/time-off"
    touching = await client.post(path, json={"start": at(day, 10), "end": at(day, 12)}, headers=owner.headers)
    assert touching.status_code == 201, touching.text
    one_minute_in = await client.post(path, json={"start": at(day, 8), "end": at(day, 9, 1)}, headers=owner.headers)
    assert _problem(one_minute_in, 409)["code"] == "appointments_in_the_way"


async def test_online_availability_leaves_out_time_off_added_through_the_api(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    owner = await factory.staff(practice, Role.OWNER)
    demo = await load_demo(client)
    day = weekday_ahead()
    params = {
        "service_id": demo.massage,
        "date_from": day.isoformat(),
        "date_to": day.isoformat(),
        "therapist_id": demo.therapist,
    }
    before = {
        s["start"] for s in (await client.get("/api/v1/practices/demo/availability", params=params)).json()["slots"]
    }
    assert {at(day, 9), at(day, 11), at(day, 15)} <= before
    added = await client.post(
        f"/api/v1/therapists/{demo.therapist}/time-off",
        json={"start": at(day, 10), "end": at(day, 14)},
        headers=owner.headers,
    )
    assert added.status_code == 201, added.text
    after = {
        s["start"] for s in (await client.get("/api/v1/practices/demo/availability", params=params)).json()["slots"]
    }
    assert at(day, 9) in after, "ends when the time off starts"
    assert at(day, 14) in after, "starts when it ends"
    assert not {s for s in after if at(day, 9, 1) <= s < at(day, 14)}, "nothing whose visit overlaps it"
    assert at(day, 15) in after


async def test_time_off_bad_input_still_names_the_field(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    owner = await factory.staff(practice, Role.OWNER)
    demo = await load_demo(client)
    day = weekday_ahead()
    ann = await _client_id(client, owner, "Ann", "Lee")
    await _book(client, owner, demo, ann, at(day, 10))
    path = f"/api/v1/therapists/{demo.therapist}/time-off"
    for body, field in (
        ({"start": at(day, 9), "end": at(day, 12), "keep_appointments": "yes"}, "keep_appointments"),
        ({"start": at(day, 12), "end": at(day, 9), "keep_appointments": True}, "end"),
        ({"start": at(day, 12), "end": at(day, 9)}, "end"),
    ):
        refused = await client.post(path, json=body, headers=owner.headers)
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["field"] == field, refused.text
    assert await _time_off(client, owner, demo.therapist) == []


async def test_deactivating_a_therapist_with_visits_to_come_gets_409_unless_kept(
    client: Client, factory: Factory
) -> None:
    practice = await factory.demo()
    owner = await factory.staff(practice, Role.OWNER)
    demo = await load_demo(client)
    day = weekday_ahead()
    ann = await _client_id(client, owner, "Ann", "Lee")
    upcoming = await _book(client, owner, demo, ann, at(day, 10))
    await _book(client, owner, demo, ann, at(_past_weekday(), 10))
    therapist = f"/api/v1/therapists/{demo.therapist}"

    refused = await client.delete(therapist, headers=owner.headers)
    body = _problem(refused, 409)
    assert (body["code"], body["field"]) == ("appointments_in_the_way", "therapist_id")
    assert body["appointments"] == [_in_the_way(upcoming, at(day, 10), at(day, 11), "A.L.")]
    patched = await client.patch(therapist, json={"is_active": False}, headers=owner.headers)
    assert (_problem(patched, 409)["code"], patched.json()["field"]) == ("appointments_in_the_way", "is_active")
    assert (await client.get(therapist, headers=owner.headers)).json()["is_active"] is True, "nothing written"
    renamed = await client.patch(therapist, json={"bio": "Back soon."}, headers=owner.headers)
    assert renamed.status_code == 200, "other changes are not held up by the visits"

    bad = await client.delete(f"{therapist}?keep_appointments=perhaps", headers=owner.headers)
    assert bad.status_code == 400
    assert bad.json()["field"] == "keep_appointments"

    kept = await client.delete(f"{therapist}?keep_appointments=true", headers=owner.headers)
    assert kept.status_code == 204, kept.text
    assert (await client.get(therapist, headers=owner.headers)).json()["is_active"] is False
    visit = await client.get(f"/api/v1/appointments/{upcoming}", headers=owner.headers)
    assert visit.json()["status"] == "booked"


async def test_only_visits_that_still_need_the_therapist_are_in_the_way(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    owner = await factory.staff(practice, Role.OWNER)
    demo = await load_demo(client)
    day = weekday_ahead()
    ann = await _client_id(client, owner, "Ann", "Lee")
    arrived, completed, held, lapsed = [
        await _book(client, owner, demo, ann, at(day, hour)) for hour in (9, 11, 13, 15)
    ]
    marked = await client.post(f"/api/v1/appointments/{arrived}/arrive", headers=owner.headers)
    assert marked.status_code == 200, marked.text
    now = dt.datetime.now(dt.UTC)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, practice.id)
        # A visit ahead cannot be completed through the API (not started yet): set as if it had been.
        await session.execute(
            update(Appointment).where(Appointment.id == uuid.UUID(completed)).values(status=AppointmentStatus.COMPLETED)
        )
        for appointment_id, expires in ((held, now + dt.timedelta(hours=1)), (lapsed, now - dt.timedelta(minutes=1))):
            await session.execute(
                update(Appointment)
                .where(Appointment.id == uuid.UUID(appointment_id))
                .values(status=AppointmentStatus.PENDING_PAYMENT, hold_expires_at=expires)
            )

    refused = await client.delete(f"/api/v1/therapists/{demo.therapist}", headers=owner.headers)
    listed = [(a["id"], a["status"]) for a in _problem(refused, 409)["appointments"]]
    assert listed == [(arrived, "arrived"), (held, "pending_payment")], "a completed visit or a lapsed hold is not"


async def test_deactivating_a_room_with_visits_to_come_gets_409_unless_kept(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    owner = await factory.staff(practice, Role.OWNER)
    demo = await load_demo(client)
    rooms = (await client.get("/api/v1/rooms", headers=owner.headers)).json()["items"]
    willow, cedar = rooms[0]["id"], rooms[1]["id"]
    day = weekday_ahead()
    ann = await _client_id(client, owner, "Ann", "Lee")
    in_willow = await _book(client, owner, demo, ann, at(day, 10), room_id=willow)

    refused = await client.delete(f"/api/v1/rooms/{willow}", headers=owner.headers)
    body = _problem(refused, 409)
    assert (body["code"], body["field"]) == ("appointments_in_the_way", "room_id")
    assert [a["id"] for a in body["appointments"]] == [in_willow]
    patched = await client.patch(f"/api/v1/rooms/{willow}", json={"is_active": False}, headers=owner.headers)
    assert _problem(patched, 409)["field"] == "is_active"
    assert (await client.get(f"/api/v1/rooms/{willow}", headers=owner.headers)).json()["is_active"] is True

    assert (await client.delete(f"/api/v1/rooms/{cedar}", headers=owner.headers)).status_code == 204, "empty room"
    kept = await client.patch(
        f"/api/v1/rooms/{willow}?keep_appointments=true", json={"is_active": False}, headers=owner.headers
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["is_active"] is False


async def test_deactivating_a_service_keeps_its_booked_visits(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    owner = await factory.staff(practice, Role.OWNER)
    demo = await load_demo(client)
    day = weekday_ahead()
    ann = await _client_id(client, owner, "Ann", "Lee")
    upcoming = await _book(client, owner, demo, ann, at(day, 10))
    assert (await client.delete(f"/api/v1/services/{demo.massage}", headers=owner.headers)).status_code == 204
    visit = await client.get(f"/api/v1/appointments/{upcoming}", headers=owner.headers)
    assert visit.json()["status"] == "booked"
    public = (await client.get("/api/v1/practices/demo/services")).json()["items"]
    assert demo.massage not in {s["id"] for s in public}, "no new bookings of it"


# --- the owner's time-off page ------------------------------------------------------------------------


def _csrf(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


async def _sign_in(client: Client, email: str) -> str:
    page = await client.get("/login", headers=HTML)
    response = await client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "_csrf_token": _csrf(page.text)},
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303
    return _csrf(page.text)


async def test_time_off_form_lists_visits_in_the_way_and_saves_only_when_asked(
    client: Client, factory: Factory
) -> None:
    practice = await factory.demo()
    owner = await factory.staff(practice, Role.OWNER)
    demo = await load_demo(client)
    day = weekday_ahead()
    ann = await _client_id(client, owner, "Ann", "Lee")
    inside = await _book(client, owner, demo, ann, at(day, 10))
    csrf = await _sign_in(client, owner.user.email)
    page = f"/staff/setup/therapists/{demo.therapist}/time-off"
    form = {
        "_csrf_token": csrf,
        "start_day": day.isoformat(),
        "start_time": "09:00",
        "end_day": day.isoformat(),
        "end_time": "17:00",
        "reason": "Funeral",
    }

    refused = await client.post(page, data=form, headers=HTML, follow_redirects=False)
    assert refused.status_code == 409
    assert f'href="/staff/appointments/{inside}"' in refused.text
    assert "A.L." in refused.text
    assert MASSAGE_NAME in refused.text
    assert day.strftime("%a %d %b %Y, 10:00") in refused.text
    assert 'name="keep_appointments"' in refused.text
    assert 'value="Funeral"' in refused.text, "what was typed is kept"
    assert await _time_off(client, owner, demo.therapist) == []

    saved = await client.post(page, data=form | {"keep_appointments": "on"}, headers=HTML, follow_redirects=False)
    assert saved.status_code == 303, saved.text[:2000]
    assert [t["reason"] for t in await _time_off(client, owner, demo.therapist)] == ["Funeral"]
    shown = await client.get(page, headers=HTML)
    assert "Still booked inside this time off" in shown.text
    assert f'href="/staff/appointments/{inside}"' in shown.text
    visit = await client.get(f"/staff/appointments/{inside}", headers=HTML)
    assert visit.status_code == 200


async def test_deactivate_buttons_list_visits_in_the_way_and_deactivate_only_when_asked(
    client: Client, factory: Factory
) -> None:
    practice = await factory.demo()
    owner = await factory.staff(practice, Role.OWNER)
    demo = await load_demo(client)
    willow = (await client.get("/api/v1/rooms", headers=owner.headers)).json()["items"][0]["id"]
    ann = await _client_id(client, owner, "Ann", "Lee")
    inside = await _book(client, owner, demo, ann, at(weekday_ahead(), 10), room_id=willow)
    csrf = await _sign_in(client, owner.user.email)

    for page, api in (
        (f"/staff/setup/therapists/{demo.therapist}", f"/api/v1/therapists/{demo.therapist}"),
        (f"/staff/setup/rooms/{willow}", f"/api/v1/rooms/{willow}"),
    ):
        refused = await client.post(f"{page}/active", data={"_csrf_token": csrf}, headers=HTML, follow_redirects=False)
        assert refused.status_code == 409, page
        assert f'href="/staff/appointments/{inside}"' in refused.text
        assert 'name="keep_appointments"' in refused.text
        assert (await client.get(api, headers=owner.headers)).json()["is_active"] is True

        done = await client.post(
            f"{page}/active",
            data={"_csrf_token": csrf, "keep_appointments": "on"},
            headers=HTML,
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text[:2000]
        assert (await client.get(api, headers=owner.headers)).json()["is_active"] is False
    visit = await client.get(f"/api/v1/appointments/{inside}", headers=owner.headers)
    assert visit.json()["status"] == "booked"
