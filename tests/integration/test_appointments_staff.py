"""The desk's appointment API: book, back-enter, list, mark arrived/completed/no-show, cancel, audit."""

from __future__ import annotations

import datetime as dt

import pytest

from scheduler.practice.models import Role
from tests.integration.booking_helpers import NEW_YORK, Client, at, booking_clock, load_demo, weekday_ahead
from tests.integration.conftest import Factory


async def _client_id(client: Client, headers: dict[str, str], email: str = "kim@example.test") -> str:
    created = await client.post(
        "/api/v1/clients",
        json={"first_name": "Kim", "last_name": "Park", "email": email, "phone": "212-555-0199"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_desk_books_lists_and_walks_a_visit_through_its_statuses(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    demo = await load_demo(client)
    client_id = await _client_id(client, desk.headers)
    day = weekday_ahead()
    created = await client.post(
        "/api/v1/appointments",
        json={"client_id": client_id, "service_id": demo.massage, "therapist_id": demo.therapist, "start": at(day, 16)},
        headers=desk.headers,
    )
    assert created.status_code == 201, created.text
    appointment = created.json()
    assert {"id", "start", "end", "status", "therapist_id", "client_id", "service_id"} <= appointment.keys()
    listed = await client.get(
        "/api/v1/appointments", params={"date_from": day.isoformat(), "date_to": day.isoformat()}, headers=desk.headers
    )
    assert [a["id"] for a in listed.json()["items"]] == [appointment["id"]]

    base = f"/api/v1/appointments/{appointment['id']}"
    assert (await client.post(f"{base}/arrive", headers=desk.headers)).json()["status"] == "arrived"
    with booking_clock(appointment["end"]):
        assert (await client.post(f"{base}/complete", headers=desk.headers)).json()["status"] == "completed"
    cancel_done = await client.post(f"{base}/cancel", json={"reason": "oops"}, headers=desk.headers)
    assert cancel_done.status_code == 409
    assert cancel_done.json()["code"] == "invalid_transition"
    events = (await client.get(f"{base}/events", headers=desk.headers)).json()["items"]
    assert [e["action"] for e in events] == ["booked", "arrived", "completed"]
    assert all(e["actor"] == "staff" and e["actor_user_id"] == str(desk.user.id) for e in events)


@pytest.mark.parametrize("action", ["complete", "no-show"])
async def test_completing_or_no_showing_a_visit_before_it_starts_is_409_and_changes_nothing(
    client: Client, factory: Factory, action: str
) -> None:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    demo = await load_demo(client)
    client_id = await _client_id(client, desk.headers)
    body = {"client_id": client_id, "service_id": demo.massage, "therapist_id": demo.therapist}
    created = await client.post(
        "/api/v1/appointments", json={**body, "start": at(weekday_ahead(), 16)}, headers=desk.headers
    )
    assert created.status_code == 201, created.text
    base = f"/api/v1/appointments/{created.json()['id']}"
    early = await client.post(f"{base}/{action}", headers=desk.headers)
    assert early.status_code == 409
    assert early.headers["content-type"].startswith("application/problem+json")
    assert early.json()["code"] == "visit_not_started"
    assert "has not started yet" in early.json()["detail"]
    # Arriving early is fine; the visit is still not completed (or missed) once the client is in.
    assert (await client.post(f"{base}/arrive", headers=desk.headers)).status_code == 200
    if action == "complete":
        again = await client.post(f"{base}/complete", headers=desk.headers)
        assert (again.status_code, again.json()["code"]) == (409, "visit_not_started")
    assert (await client.get(base, headers=desk.headers)).json()["status"] == "arrived"
    events = (await client.get(f"{base}/events", headers=desk.headers)).json()["items"]
    assert [e["action"] for e in events] == ["booked", "arrived"]
    documents = await client.get(f"/api/v1/clients/{client_id}/documents", headers=desk.headers)
    assert documents.json()["items"] == []


async def test_desk_back_enters_a_visit_that_already_happened(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    demo = await load_demo(client)
    client_id = await _client_id(client, desk.headers)
    past = dt.datetime.now(NEW_YORK).date() - dt.timedelta(days=7)
    while past.weekday() > 4:
        past -= dt.timedelta(days=1)
    created = await client.post(
        "/api/v1/appointments",
        json={
            "client_id": client_id,
            "service_id": demo.massage,
            "therapist_id": demo.therapist,
            "start": at(past, 10),
        },
        headers=desk.headers,
    )
    assert created.status_code == 201, created.text
    events = (await client.get(f"/api/v1/appointments/{created.json()['id']}/events", headers=desk.headers)).json()
    assert events["items"][0]["detail"]["back_entered"] is True
    done = await client.post(f"/api/v1/appointments/{created.json()['id']}/complete", headers=desk.headers)
    assert done.json()["status"] == "completed"


async def test_desk_cannot_double_book_either(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    demo = await load_demo(client)
    client_id = await _client_id(client, desk.headers)
    body = {
        "client_id": client_id,
        "service_id": demo.massage,
        "therapist_id": demo.therapist,
        "start": at(weekday_ahead(), 11),
    }
    assert (await client.post("/api/v1/appointments", json=body, headers=desk.headers)).status_code == 201
    second = await client.post(
        "/api/v1/appointments", json=body | {"start": at(weekday_ahead(), 11, 30)}, headers=desk.headers
    )
    assert second.status_code == 409
    assert second.json()["code"] == "slot_taken"
    assert second.json()["start"] == at(weekday_ahead(), 11, 30)


async def test_therapists_see_only_their_own_schedule(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    demo = await load_demo(client)
    client_id = await _client_id(client, desk.headers)
    day = weekday_ahead()
    ids = []
    for therapist in demo.therapists[:2]:
        made = await client.post(
            "/api/v1/appointments",
            json={
                "client_id": client_id,
                "service_id": demo.massage,
                "therapist_id": therapist["id"],
                "start": at(day, 9 if not ids else 13),
            },
            headers=desk.headers,
        )
        ids.append(made.json()["id"])
    therapist_user = await factory.staff(practice, Role.THERAPIST)
    # link the account to the first therapist
    from sqlalchemy import update

    from scheduler.db import scope_session, session_scope
    from scheduler.practice.models import StaffUser

    async with session_scope(factory.alchemy) as session:
        scope_session(session, practice.id)
        await session.execute(
            update(StaffUser)
            .where(StaffUser.id == therapist_user.user.id)
            .values(therapist_id=__import__("uuid").UUID(demo.therapists[0]["id"]))
        )
    params = {"date_from": day.isoformat(), "date_to": day.isoformat()}
    mine = (await client.get("/api/v1/appointments", params=params, headers=therapist_user.headers)).json()["items"]
    assert [a["id"] for a in mine] == [ids[0]]
    other = await client.get(f"/api/v1/appointments/{ids[1]}", headers=therapist_user.headers)
    assert other.status_code == 404
    asked_for_other = await client.get(
        "/api/v1/appointments",
        params=params | {"therapist_id": demo.therapists[1]["id"]},
        headers=therapist_user.headers,
    )
    assert asked_for_other.json()["items"] == []
    booked_for_other = await client.post(
        "/api/v1/appointments",
        json={
            "client_id": client_id,
            "service_id": demo.massage,
            "therapist_id": demo.therapists[1]["id"],
            "start": at(day, 15),
        },
        headers=therapist_user.headers,
    )
    assert booked_for_other.status_code == 403
    assert booked_for_other.json()["field"] == "therapist_id"
    own = await client.post(
        "/api/v1/appointments",
        json={
            "client_id": client_id,
            "service_id": demo.massage,
            "therapist_id": demo.therapists[0]["id"],
            "start": at(day, 15),
        },
        headers=therapist_user.headers,
    )
    assert own.status_code == 201


async def test_client_search_finds_percent_and_underscore_literally(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    plain = await _client_id(client, desk.headers, "plain@example.test")
    underscored = await _client_id(client, desk.headers, "o_neil@example.test")

    def ids(found: object) -> list[str]:
        assert isinstance(found, dict)
        return [c["id"] for c in found["items"]]

    for wildcard in ("%", "_"):  # a wildcard would list every client
        found = (await client.get("/api/v1/clients", params={"q": wildcard}, headers=desk.headers)).json()
        assert plain not in ids(found), wildcard
    found = (await client.get("/api/v1/clients", params={"q": "o_neil"}, headers=desk.headers)).json()
    assert ids(found) == [underscored]


async def test_clients_are_deduplicated_on_email_and_searchable(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    first = await _client_id(client, desk.headers, "dup@example.test")
    again = await client.post(
        "/api/v1/clients",
        json={"first_name": "Other", "last_name": "Person", "email": "DUP@example.test"},
        headers=desk.headers,
    )
    assert again.status_code == 409
    assert again.json()["client_id"] == first
    by_phone = (await client.get("/api/v1/clients", params={"q": "555-0199"}, headers=desk.headers)).json()["items"]
    assert [c["id"] for c in by_phone] == [first]
    edited = await client.patch(
        f"/api/v1/clients/{first}",
        json={"first_name": "Kimberly", "last_name": "Park", "email": "dup@example.test", "phone": ""},
        headers=desk.headers,
    )
    assert edited.json()["first_name"] == "Kimberly"
