"""The front-desk schedule pages: the day by therapist and by room, an appointment's actions, moving and
booking a visit, and who may see what — driven through the pages' own forms with the session cookie."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import update

from scheduler.db import scope_session, session_scope
from scheduler.practice.demo import DEMO_DESK
from scheduler.practice.models import Practice, Role, StaffUser
from tests.integration.booking_helpers import NEW_YORK, Client, Demo, at, booking_clock, load_demo, weekday_ahead
from tests.integration.conftest import PASSWORD, Factory, Staff

HTML = {"accept": "text/html"}
DASH = "\N{EN DASH}"


def _long_day(day: dt.date) -> str:
    """How every page writes a day: 'Tuesday, March 2, 2027' (the US way, as client pages do)."""
    return f"{day:%A}, {day:%B} {day.day}, {day.year}"


CSRF_RE = re.compile(r'name="_csrf_token" value="([^"]+)"')


# --- helpers -----------------------------------------------------------------------------------------------------


def _csrf(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "the page carries a CSRF token"
    return match.group(1)


async def _sign_in(client: Client, email: str) -> None:
    page = await client.get("/login", headers=HTML)
    response = await client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "_csrf_token": _csrf(page.text)},
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


async def _post_form(client: Client, path: str, data: dict[str, str] | None = None, *, csrf_from: str) -> Any:
    """Post a page form the way a browser does: with the CSRF token of the page it sits on."""
    page = await client.get(csrf_from, headers=HTML)
    assert page.status_code == 200, page.text
    return await client.post(
        path, data={**(data or {}), "_csrf_token": _csrf(page.text)}, headers=HTML, follow_redirects=False
    )


async def _new_client(client: Client, staff: Staff, first: str = "Kim", last: str = "Park") -> str:
    created = await client.post(
        "/api/v1/clients",
        json={"first_name": first, "last_name": last, "email": f"{first.lower()}@example.test", "phone": "2125550199"},
        headers=staff.headers,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _book(
    client: Client, staff: Staff, demo: Demo, client_id: str, start: str, therapist: int = 0
) -> dict[str, Any]:
    created = await client.post(
        "/api/v1/appointments",
        json={
            "client_id": client_id,
            "service_id": demo.massage,
            "therapist_id": str(demo.therapists[therapist]["id"]),
            "start": start,
        },
        headers=staff.headers,
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


async def _appointment(client: Client, staff: Staff, appointment_id: str) -> dict[str, Any]:
    found = await client.get(f"/api/v1/appointments/{appointment_id}", headers=staff.headers)
    assert found.status_code == 200, found.text
    return dict(found.json())


def _column(html: str, column_id: str) -> str:
    """The grid column (a <section data-column>) for one therapist or room."""
    match = re.search(
        rf'<section class="col"[^>]*data-column="{re.escape(column_id)}"[^>]*>(.*?)</section>', html, flags=re.DOTALL
    )
    assert match, f"no grid column {column_id}"
    return match.group(1)


async def _desk_with_a_visit(client: Client, factory: Factory) -> tuple[Practice, Staff, Demo, dt.date, dict[str, Any]]:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    demo = await load_demo(client)
    day = weekday_ahead()
    visit = await _book(client, desk, demo, await _new_client(client, desk), at(day, 10), therapist=1)
    await _sign_in(client, DEMO_DESK)
    return practice, desk, demo, day, visit


# --- the day -----------------------------------------------------------------------------------------------------


async def test_day_view_shows_every_therapist_and_the_visit_in_its_column(client: Client, factory: Factory) -> None:
    _, _, demo, day, visit = await _desk_with_a_visit(client, factory)

    page = await client.get("/staff/schedule", params={"date": day.isoformat()}, headers=HTML)

    assert page.status_code == 200, page.text
    for therapist in demo.therapists:
        assert f'id="col-{therapist["id"]}">{therapist["name"]}</h2>' in page.text
    theirs = _column(page.text, str(demo.therapists[1]["id"]))
    assert "Kim Park" in theirs
    assert f'<span class="visit-time"><span>10:00 AM {DASH}</span> <span>11:00 AM</span></span>' in theirs
    assert f'href="/staff/appointments/{visit["id"]}"' in theirs
    assert "Booked" in theirs
    for other in (demo.therapists[0], demo.therapists[2]):
        assert "Kim Park" not in _column(page.text, str(other["id"]))
    # Working hours are drawn (the demo works 09:00-17:00) and the day can be paged through.
    assert f"Works 9:00 AM {DASH} 5:00 PM" in theirs
    assert f'<span class="visit-time">10:00 AM {DASH} 11:00 AM</span>' in page.text  # the list, on phones
    # The day and the time axis read the US way too; no 24-hour clock is left for people to read.
    assert f"<h1>{_long_day(day)}" in page.text
    assert '<span class="tick" style="grid-row: 14">9 AM</span>' in page.text
    assert '<span class="tick" style="grid-row: 86">3 PM</span>' in page.text
    assert not re.search(r">[^<]*\b(0\d|1[3-9]|2[0-3]):[0-5]\d", page.text)  # "09:00", "14:30"
    assert f"date={(day + dt.timedelta(days=1)).isoformat()}" in page.text
    assert f"date={(day - dt.timedelta(days=1)).isoformat()}" in page.text


async def test_schedule_defaults_to_today_in_the_practice_zone(client: Client, factory: Factory) -> None:
    await factory.demo()
    await _sign_in(client, DEMO_DESK)
    page = await client.get("/staff/schedule", headers=HTML)
    assert page.status_code == 200
    assert f'value="{dt.datetime.now(NEW_YORK).date().isoformat()}"' in page.text
    home = await client.get("/staff", headers=HTML)
    assert 'href="/staff/schedule"' in home.text
    assert f"<dd>{_long_day(dt.datetime.now(NEW_YORK).date())}</dd>" in home.text


async def test_room_view_shows_the_rooms_and_the_visit_in_its_room(client: Client, factory: Factory) -> None:
    _, desk, _, day, visit = await _desk_with_a_visit(client, factory)
    rooms = (await client.get("/api/v1/rooms", headers=desk.headers)).json()["items"]

    page = await client.get("/staff/schedule", params={"date": day.isoformat(), "view": "rooms"}, headers=HTML)

    assert page.status_code == 200
    for name in ("Willow Room", "Cedar Room"):
        assert name in page.text
    assert visit["room_id"] in {r["id"] for r in rooms}
    assert "Kim Park" in _column(page.text, visit["room_id"])


async def test_bad_date_is_a_400_page(client: Client, factory: Factory) -> None:
    await factory.demo()
    await _sign_in(client, DEMO_DESK)
    page = await client.get("/staff/schedule", params={"date": "next tuesday"}, headers=HTML)
    assert page.status_code == 400
    assert "YYYY-MM-DD" in page.text


async def test_signed_out_visitor_is_sent_to_sign_in(client: Client, factory: Factory) -> None:
    await factory.demo()
    page = await client.get("/staff/schedule", headers=HTML, follow_redirects=False)
    assert page.status_code in {302, 303, 307}
    assert page.headers["location"].endswith("/login")


# --- one appointment ---------------------------------------------------------------------------------------------


async def test_desk_marks_a_visit_arrived_then_completed_from_its_page(client: Client, factory: Factory) -> None:
    _, desk, _, day, visit = await _desk_with_a_visit(client, factory)
    path = f"/staff/appointments/{visit['id']}"

    page = await client.get(path, headers=HTML)
    assert page.status_code == 200
    assert "Kim Park" in page.text
    assert "Therapeutic Massage" in page.text
    assert f"<dd>{_long_day(day)}, 10:00 AM {DASH} 11:00 AM</dd>" in page.text

    arrived = await _post_form(client, f"{path}/arrive", csrf_from=path)
    assert arrived.status_code == 303
    assert arrived.headers["location"] == path
    assert (await _appointment(client, desk, visit["id"]))["status"] == "arrived"
    # Arriving early is fine; "Completed" waits for the visit's start, and a forged form gets the sentence.
    early = await client.get(path, headers=HTML)
    assert f'action="{path}/complete"' not in early.text
    assert "Completed and No-show are offered once the visit has started." in early.text
    refused = await _post_form(client, f"{path}/complete", csrf_from=path)
    assert refused.status_code == 409
    assert 'role="alert"' in refused.text
    assert "This visit has not started yet" in refused.text
    assert (await _appointment(client, desk, visit["id"]))["status"] == "arrived"

    with booking_clock(visit["end"]):
        assert f'action="{path}/complete"' in (await client.get(path, headers=HTML)).text
        completed = await _post_form(client, f"{path}/complete", csrf_from=path)
    assert completed.status_code == 303
    assert (await _appointment(client, desk, visit["id"]))["status"] == "completed"
    page = await client.get(path, headers=HTML)
    assert "badge-completed" in page.text
    assert "Marked arrived" in page.text


async def test_page_forms_without_the_csrf_token_are_refused(client: Client, factory: Factory) -> None:
    _, desk, _, _, visit = await _desk_with_a_visit(client, factory)
    path = f"/staff/appointments/{visit['id']}"
    for action, data in (("arrive", {}), ("complete", {}), ("cancel", {"reason": "x"})):
        refused = await client.post(f"{path}/{action}", data=data, headers=HTML, follow_redirects=False)
        assert refused.status_code == 403, action
    assert (await _appointment(client, desk, visit["id"]))["status"] == "booked"


async def test_desk_cancels_with_a_reason_and_the_day_lists_it_apart(client: Client, factory: Factory) -> None:
    _, desk, _, day, visit = await _desk_with_a_visit(client, factory)
    path = f"/staff/appointments/{visit['id']}"

    cancelled = await _post_form(client, f"{path}/cancel", {"reason": "Client has the flu"}, csrf_from=path)

    assert cancelled.status_code == 303
    stored = await _appointment(client, desk, visit["id"])
    assert stored["status"] == "cancelled"
    assert stored["cancel_reason"] == "Client has the flu"
    schedule = await client.get("/staff/schedule", params={"date": day.isoformat()}, headers=HTML)
    assert "Cancelled (1)" in schedule.text
    assert "Kim Park" not in _column(schedule.text, stored["therapist_id"])
    # Cancelling again is refused on the page itself, with the reason in an alert.
    again = await _post_form(client, f"{path}/complete", csrf_from=path)
    assert again.status_code == 409
    assert 'role="alert"' in again.text
    assert "cannot be marked completed" in again.text


async def test_late_cancellation_is_warned_about(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    demo = await load_demo(client)
    past = dt.datetime.now(NEW_YORK).date() - dt.timedelta(days=7)
    while past.weekday() > 4:
        past -= dt.timedelta(days=1)
    visit = await _book(client, desk, demo, await _new_client(client, desk), at(past, 11))
    await _sign_in(client, DEMO_DESK)
    page = await client.get(f"/staff/appointments/{visit['id']}", headers=HTML)
    assert "recorded as a late cancellation" in page.text
    # A visit that has started can be a no-show.
    assert f'action="/staff/appointments/{visit["id"]}/no-show"' in page.text


# --- moving ------------------------------------------------------------------------------------------------------


async def test_desk_moves_a_visit_to_a_free_time(client: Client, factory: Factory) -> None:
    _, desk, _, day, visit = await _desk_with_a_visit(client, factory)
    move = f"/staff/appointments/{visit['id']}/move"

    page = await client.get(move, params={"date": day.isoformat()}, headers=HTML)
    assert page.status_code == 200
    assert f'value="{at(day, 14)}" required> 2:00 PM</label>' in page.text
    assert f"Free times on {_long_day(day)} with" in page.text
    # Half an hour later overlaps only the visit itself, so it is offered.
    new_start = at(day, 10, 30)
    assert f'value="{new_start}"' in page.text

    moved = await _post_form(client, move, {"start": new_start, "therapist_id": visit["therapist_id"]}, csrf_from=move)

    assert moved.status_code == 303
    assert moved.headers["location"].startswith(f"/staff/schedule?date={day.isoformat()}&highlight={visit['id']}")
    assert dt.datetime.fromisoformat((await _appointment(client, desk, visit["id"]))["start"]) == (
        dt.datetime.fromisoformat(new_start)
    )
    # The history says where it was, and when it was moved, in the same words as the rest of the page.
    page = await client.get(f"/staff/appointments/{visit['id']}", headers=HTML)
    assert f"(was {day:%a}, {day:%b} {day.day}, 10:00 AM)" in page.text
    moved_on = dt.datetime.now(NEW_YORK).date()
    assert re.search(rf"· {moved_on:%b} {moved_on.day}, {moved_on.year}, \d{{1,2}}:\d\d [AP]M</span>", page.text)


async def test_refused_move_shows_why_and_changes_nothing(client: Client, factory: Factory) -> None:
    _, desk, _, day, visit = await _desk_with_a_visit(client, factory)
    move = f"/staff/appointments/{visit['id']}/move"

    refused = await _post_form(client, move, {"start": at(day, 21)}, csrf_from=move)

    assert refused.status_code == 422
    assert 'role="alert"' in refused.text
    assert "does not work at that time" in refused.text
    assert (await _appointment(client, desk, visit["id"]))["start"] == visit["start"]


# --- booking -----------------------------------------------------------------------------------------------------


async def test_desk_books_an_existing_client_from_the_schedule(client: Client, factory: Factory) -> None:
    _, desk, demo, day, _ = await _desk_with_a_visit(client, factory)
    therapist = str(demo.therapists[2]["id"])
    schedule = await client.get("/staff/schedule", params={"date": day.isoformat()}, headers=HTML)
    book_link = f"/staff/book?date={day.isoformat()}&amp;therapist_id={therapist}"
    assert book_link in schedule.text

    found = await client.get(
        "/staff/book", params={"date": day.isoformat(), "therapist_id": therapist, "q": "park"}, headers=HTML
    )
    assert found.status_code == 200
    choose = re.search(r'<a href="(/staff/book\?[^"]*client_id=[^"]+)"><strong>Kim Park</strong>', found.text)
    assert choose, "the search finds the client"
    chosen_url = choose.group(1).replace("&amp;", "&")
    client_id = parse_qs(urlsplit(chosen_url).query)["client_id"][0]
    with_service = f"{chosen_url}&service_id={demo.massage}"
    slots = await client.get(with_service, headers=HTML)
    assert slots.status_code == 200
    start = at(day, 11)
    assert f'value="{start}"' in slots.text

    booked = await _post_form(
        client,
        "/staff/book",
        {
            "client_id": client_id,
            "service_id": demo.massage,
            "therapist_id": therapist,
            "start": start,
            "date": day.isoformat(),
        },
        csrf_from=with_service,
    )

    assert booked.status_code == 303
    location = booked.headers["location"]
    assert location.startswith(f"/staff/schedule?date={day.isoformat()}&highlight=")
    new_id = parse_qs(urlsplit(location).query)["highlight"][0]
    stored = await _appointment(client, desk, new_id)
    assert stored["therapist_id"] == therapist
    assert stored["client_id"] == client_id
    day_page = await client.get(location, headers=HTML)
    column = _column(day_page.text, therapist)
    assert "highlighted" in column
    assert f"<span>11:00 AM {DASH}</span> <span>12:00 PM</span>" in column


async def test_desk_adds_a_new_client_then_books_and_a_taken_time_is_refused(client: Client, factory: Factory) -> None:
    _, _, demo, day, visit = await _desk_with_a_visit(client, factory)
    therapist = visit["therapist_id"]
    book = f"/staff/book?date={day.isoformat()}&therapist_id={therapist}&service_id={demo.massage}"

    added = await _post_form(
        client,
        "/staff/book/client",
        {
            "first_name": "Noor",
            "last_name": "Haddad",
            "email": "noor@example.test",
            "phone": "+1 212 555 0142",
            "date": day.isoformat(),
            "therapist_id": therapist,
            "service_id": demo.massage,
        },
        csrf_from=book,
    )
    assert added.status_code == 303
    query = parse_qs(urlsplit(added.headers["location"]).query)
    assert query["service_id"] == [demo.massage]
    client_id = query["client_id"][0]

    duplicate = await _post_form(
        client,
        "/staff/book/client",
        {"first_name": "Noor", "last_name": "H", "email": "NOOR@example.test", "date": day.isoformat()},
        csrf_from=book,
    )
    assert duplicate.status_code == 409
    assert 'role="alert"' in duplicate.text
    assert client_id in duplicate.text  # offers the client who has that e-mail

    taken = await _post_form(
        client,
        "/staff/book",
        {
            "client_id": client_id,
            "service_id": demo.massage,
            "therapist_id": therapist,
            "start": visit["start"],
            "date": day.isoformat(),
        },
        csrf_from=book,
    )
    assert taken.status_code == 409
    assert 'role="alert"' in taken.text
    assert "no longer available" in taken.text


# --- who sees what -----------------------------------------------------------------------------------------------


async def test_therapist_sees_only_their_own_column_and_visits(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    demo = await load_demo(client)
    day = weekday_ahead()
    client_id = await _new_client(client, desk)
    mine = await _book(client, desk, demo, client_id, at(day, 10), therapist=0)
    theirs = await _book(client, desk, demo, client_id, at(day, 13), therapist=1)
    therapist_user = await factory.staff(practice, Role.THERAPIST)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, practice.id)
        await session.execute(
            update(StaffUser)
            .where(StaffUser.id == therapist_user.user.id)
            .values(therapist_id=uuid.UUID(str(demo.therapists[0]["id"])))
        )
    await _sign_in(client, therapist_user.user.email)

    page = await client.get("/staff/schedule", params={"date": day.isoformat()}, headers=HTML)

    assert page.status_code == 200
    assert f'data-column="{demo.therapists[0]["id"]}"' in page.text
    for other in demo.therapists[1:]:
        assert f'data-column="{other["id"]}"' not in page.text
    assert f"/staff/appointments/{mine['id']}" in page.text
    assert f"/staff/appointments/{theirs['id']}" not in page.text
    assert (await client.get(f"/staff/appointments/{theirs['id']}", headers=HTML)).status_code == 404
    assert (await client.get(f"/staff/appointments/{mine['id']}", headers=HTML)).status_code == 200


async def test_desk_of_another_practice_cannot_open_the_appointment(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    demo = await load_demo(client)
    visit = await _book(client, desk, demo, await _new_client(client, desk), at(weekday_ahead(), 10))
    elsewhere = await factory.practice("elsewhere")
    stranger = await factory.staff(elsewhere, Role.DESK)
    await _sign_in(client, stranger.user.email)

    for path in ("", "/move"):
        page = await client.get(f"/staff/appointments/{visit['id']}{path}", headers=HTML)
        assert page.status_code == 404, path
    refused = await _post_form(client, f"/staff/appointments/{visit['id']}/arrive", csrf_from="/staff/schedule")
    assert refused.status_code == 404
    assert (await _appointment(client, desk, visit["id"]))["status"] == "booked"
    schedule = await client.get("/staff/schedule", headers=HTML)
    assert "Kim Park" not in schedule.text
