"""Subscribe links on the pages: staff for therapists and rooms, the client on the confirmation and in the portal."""

from __future__ import annotations

import re

from scheduler.practice.models import Role
from tests.integration.booking_helpers import Client, at, booking, load_demo, weekday_ahead
from tests.integration.conftest import PASSWORD, Factory
from tests.integration.test_bad_input import HTML, _csrf, sign_in_portal, sign_in_staff

LINK_RE = re.compile(r'value="http://testserver\.local(/feeds/[A-Za-z0-9_-]{43}\.ics)"')
WEBCAL_RE = re.compile(r'href="webcal://testserver\.local(/feeds/[A-Za-z0-9_-]{43}\.ics)"')


def links(page: str) -> str:
    https = LINK_RE.search(page)
    webcal = WEBCAL_RE.search(page)
    assert https, "the page shows the https subscription address"
    assert webcal, "the page offers the webcal:// link"
    assert https.group(1) == webcal.group(1)
    return https.group(1)


async def test_owner_subscribes_to_a_therapist_and_a_room_from_the_set_up_pages(
    client: Client, factory: Factory
) -> None:
    practice = await factory.demo()
    owner = await factory.staff(practice, Role.OWNER)
    demo = await load_demo(client)
    rooms = (await client.get("/api/v1/rooms", headers=owner.headers)).json()["items"]
    await sign_in_staff(client, owner)

    page = await client.get(f"/staff/setup/therapists/{demo.therapist}", headers=HTML)
    assert "Subscribe to this therapist" in page.text
    made = await client.post(
        f"/staff/feeds/therapists/{demo.therapist}", data={"_csrf_token": _csrf(page.text)}, headers=HTML
    )
    assert made.status_code == 200, made.text
    assert made.headers["cache-control"] == "no-store"
    feed = await client.get(links(made.text))
    assert feed.status_code == 200
    assert feed.headers["content-type"] == "text/calendar; charset=utf-8"

    room_page = await client.get(f"/staff/setup/rooms/{rooms[0]['id']}", headers=HTML)
    room_made = await client.post(
        f"/staff/feeds/rooms/{rooms[0]['id']}", data={"_csrf_token": _csrf(room_page.text)}, headers=HTML
    )
    assert room_made.status_code == 200, room_made.text
    assert (await client.get(links(room_made.text))).status_code == 200


async def test_a_therapist_subscribes_to_their_own_calendar_only(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    demo = await load_demo(client)
    owner = await factory.staff(practice, Role.OWNER)
    email = "tess@demo.test"
    made_user = await client.post(
        "/api/v1/users",
        json={"email": email, "password": PASSWORD, "role": "therapist", "therapist_id": demo.therapist},
        headers=owner.headers,
    )
    assert made_user.status_code == 201, made_user.text
    form = await client.get("/login", headers=HTML)
    signed_in = await client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "_csrf_token": _csrf(form.text)},
        headers=HTML,
        follow_redirects=False,
    )
    assert signed_in.status_code == 303, signed_in.text
    home = await client.get("/staff", headers=HTML)
    assert "Subscribe to my appointments" in home.text
    mine = await client.post(
        f"/staff/feeds/therapists/{demo.therapist}", data={"_csrf_token": _csrf(home.text)}, headers=HTML
    )
    assert mine.status_code == 200, mine.text
    links(mine.text)
    other = await client.post(
        f"/staff/feeds/therapists/{demo.therapists[1]['id']}", data={"_csrf_token": _csrf(home.text)}, headers=HTML
    )
    assert other.status_code == 403


async def test_client_subscribes_from_the_booking_confirmation(client: Client, factory: Factory) -> None:
    await factory.demo()
    demo = await load_demo(client)
    created = await client.post(
        "/api/v1/practices/demo/bookings", json=booking(demo.massage, demo.therapist, at(weekday_ahead(), 10))
    )
    assert created.status_code == 201, created.text
    manage_path = created.json()["manage_url"].removeprefix("http://testserver.local")
    page = await client.get(manage_path + "?booked=1", headers=HTML)
    assert "Subscribe to all my appointments" in page.text
    made = await client.post(f"{manage_path}/feed", data={"_csrf_token": _csrf(page.text)}, headers=HTML)
    assert made.status_code == 200, made.text
    feed = await client.get(links(made.text))
    assert b"SUMMARY:Massage appointment" in feed.content
    assert b"Therapeutic Massage" not in feed.content

    unknown = await client.post("/p/demo/manage/not-a-token/feed", data={"_csrf_token": _csrf(page.text)}, headers=HTML)
    assert unknown.status_code == 404


async def test_client_subscribes_from_the_portal(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    demo = await load_demo(client)
    created = await client.post(
        "/api/v1/practices/demo/bookings",
        json=booking(demo.massage, demo.therapist, at(weekday_ahead(), 11), "ann@example.test"),
    )
    assert created.status_code == 201, created.text
    await sign_in_portal(client, factory, practice, "ann@example.test")
    home = await client.get("/p/demo/portal/home", headers=HTML)
    assert "Subscribe to my visits" in home.text
    made = await client.post("/p/demo/portal/feed", data={"_csrf_token": _csrf(home.text)}, headers=HTML)
    assert made.status_code == 200, made.text
    first = links(made.text)
    assert b"SUMMARY:Massage appointment" in (await client.get(first)).content
    again = await client.post("/p/demo/portal/feed", data={"_csrf_token": _csrf(home.text)}, headers=HTML)
    assert (await client.get(first)).status_code == 404
    assert (await client.get(links(again.text))).status_code == 200
