"""The desk finds a client (/staff/clients) and opens their overview (/staff/clients/{id}): contact
details, visits split into today-and-upcoming and past in the practice's zone, and links by role."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from scheduler.booking.models import Appointment, AppointmentStatus
from scheduler.clients.models import Client as ClientRow
from scheduler.db import scope_session, session_scope
from scheduler.practice.demo import DEMO_DESK, DEMO_OWNER
from scheduler.practice.models import Practice, Role, Room
from tests.integration.booking_helpers import NEW_YORK, Demo, at, load_demo, weekday_ahead
from tests.integration.clinical_helpers import HTML, Client, fill_intake, intake_link, sign_in
from tests.integration.conftest import Factory, Staff

MAYA = "maya@demo.test"
# What clinical_helpers.intake_answers fills in, and the schedule's contraindication badge.
CLINICAL_WORDS = (
    "HEALTH-MED",
    "HEALTH-LOW-BACK",
    "warfarin",
    "Whiplash",
    "Knee arthroscopy",
    "Nut oils",
    "Blood thinners",
    "blood thinners",
    "contraindication",
    "Lower back",
    "Neck",
)  # the demo's therapist account, linked to the first demo therapist


async def _client(client: Client, staff: Staff, first: str, last: str, email: str, phone: str = "2125550199") -> str:
    created = await client.post(
        "/api/v1/clients",
        json={"first_name": first, "last_name": last, "email": email, "phone": phone},
        headers=staff.headers,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _book(client: Client, staff: Staff, demo: Demo, client_id: str, start: str, therapist: int = 0) -> str:
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
    return str(created.json()["id"])


async def _insert_visit(factory: Factory, practice: Practice, demo: Demo, client_id: str, start: dt.datetime) -> str:
    """A visit written straight to the table: booking refuses a time outside working hours, but the
    split between past and upcoming has to be tried at the edges of the practice's day."""
    async with session_scope(factory.alchemy) as session:
        scope_session(session, practice.id)
        room = await session.scalar(select(Room).order_by(Room.name))
        assert room is not None
        end = start + dt.timedelta(hours=1)
        visit = Appointment(
            client_id=uuid.UUID(client_id),
            therapist_id=uuid.UUID(str(demo.therapists[0]["id"])),
            service_id=uuid.UUID(demo.massage),
            room_id=room.id,
            start_at=start,
            end_at=end,
            block_start=start,
            block_end=end,
            status=AppointmentStatus.COMPLETED if start < dt.datetime.now(dt.UTC) else AppointmentStatus.BOOKED,
        )
        session.add(visit)
        await session.flush()
        return str(visit.id)


async def _demo_desk(client: Client, factory: Factory) -> tuple[Practice, Staff, Demo]:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    return practice, desk, await load_demo(client)


def _section(html: str, heading_id: str) -> str:
    """The HTML of the card whose heading has this id."""
    start = html.index(f'id="{heading_id}"')
    return html[start : html.index("</section>", start)]


def _names(html: str) -> list[str]:
    """The client names listed in the directory's results, in order."""
    results = html[html.index('id="results-heading"') :]
    return [part.split("</strong>", 1)[0] for part in results.split('class="client-name"')[1:]]


def _name(row: str) -> str:
    return row.split("<strong>", 1)[1]


async def _search(client: Client, q: str) -> list[str]:
    page = await client.get("/staff/clients", params={"q": q}, headers=HTML)
    assert page.status_code == 200, page.text
    return [_name(row) for row in _names(page.text)]


def _us_when(start: dt.datetime) -> str:
    """'Tue, Mar 2, 2027, 10:00 AM' for a New York moment, written out independently of scheduler.format."""
    local = start.astimezone(NEW_YORK)
    hour = local.hour % 12 or 12
    return f"{local:%a}, {local:%b} {local.day}, {local.year}, {hour}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"


# --- the directory --------------------------------------------------------------------------------------


async def test_desk_finds_a_client_by_part_of_a_name_email_or_phone(client: Client, factory: Factory) -> None:
    _, desk, _ = await _demo_desk(client, factory)
    await _client(client, desk, "Kim", "Parkinson", "kim.p@example.test", "(212) 555-0199")
    await _client(client, desk, "Lee", "Chan", "lee@chan.example.test", "718 555 0142")
    await sign_in(client, DEMO_DESK)

    assert await _search(client, "arkin") == ["Kim Parkinson"]
    assert await _search(client, "KIM PARK") == ["Kim Parkinson"]
    assert await _search(client, "chan.EXAMPLE") == ["Lee Chan"]
    assert await _search(client, "555-0142") == ["Lee Chan"]
    assert await _search(client, "2125550199") == ["Kim Parkinson"]
    assert await _search(client, "nobody") == []

    page = await client.get("/staff/clients", params={"q": "kim"}, headers=HTML)
    assert 'href="mailto:kim.p@example.test"' in page.text
    assert 'href="tel:2125550199">(212) 555-0199</a>' in page.text
    assert "No visit booked" in page.text


async def test_percent_and_underscore_are_characters_to_find(client: Client, factory: Factory) -> None:
    _, desk, _ = await _demo_desk(client, factory)
    await _client(client, desk, "Ann", "O_Neil", "ann@example.test")
    await _client(client, desk, "Bea", "OxNeil", "bea@example.test")
    await _client(client, desk, "Cy", "Full100%", "cy@example.test")
    await sign_in(client, DEMO_DESK)

    assert await _search(client, "o_n") == ["Ann O_Neil"]
    assert await _search(client, "%") == ["Cy Full100%"]
    assert await _search(client, "_") == ["Ann O_Neil"]


async def test_a_search_with_too_many_matches_asks_to_refine(client: Client, factory: Factory) -> None:
    practice, _, _ = await _demo_desk(client, factory)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, practice.id)
        for i in range(51):
            session.add(ClientRow(first_name="Sam", last_name=f"Many{i:02}", email=f"sam{i}@example.test"))
    await sign_in(client, DEMO_DESK)

    page = await client.get("/staff/clients", params={"q": "many"}, headers=HTML)

    assert 'id="refine"' in page.text
    assert len(_names(page.text)) == 50
    narrower = await client.get("/staff/clients", params={"q": "many0"}, headers=HTML)
    assert 'id="refine"' not in narrower.text
    assert len(_names(narrower.text)) == 10


async def test_empty_search_lists_clients_expected_next_soonest_first(client: Client, factory: Factory) -> None:
    _, desk, demo = await _demo_desk(client, factory)
    later = await _client(client, desk, "Lou", "Later", "lou@example.test")
    sooner = await _client(client, desk, "Sue", "Sooner", "sue@example.test")
    await _client(client, desk, "Nia", "Nobooking", "nia@example.test")
    day = weekday_ahead(8)
    await _book(client, desk, demo, later, at(day, 14))
    await _book(client, desk, demo, sooner, at(day, 10))
    await _book(client, desk, demo, sooner, at(day + dt.timedelta(days=7), 10))
    await sign_in(client, DEMO_DESK)

    page = await client.get("/staff/clients", headers=HTML)

    assert [_name(row) for row in _names(page.text)] == ["Sue Sooner", "Lou Later"]
    start = dt.datetime.combine(day, dt.time(10), NEW_YORK)
    assert f"Next visit {_us_when(start)}" in page.text


async def test_another_practices_clients_never_appear_and_their_page_is_404(client: Client, factory: Factory) -> None:
    _, desk, demo = await _demo_desk(client, factory)
    ours = await _client(client, desk, "Kim", "Park", "kim@example.test")
    await _book(client, desk, demo, ours, at(weekday_ahead(), 10))
    elsewhere = await factory.practice("elsewhere")
    their_desk = await factory.staff(elsewhere, Role.DESK)
    theirs = await _client(client, their_desk, "Kim", "Other", "kim.other@example.test")

    await sign_in(client, DEMO_DESK)
    assert await _search(client, "kim") == ["Kim Park"]
    assert (await client.get(f"/staff/clients/{theirs}", headers=HTML)).status_code == 404

    await sign_in(client, their_desk.user.email)
    assert await _search(client, "kim") == ["Kim Other"]
    listing = await client.get("/staff/clients", headers=HTML)
    assert "Kim Park" not in listing.text
    missing = await client.get(f"/staff/clients/{ours}", headers=HTML)
    assert missing.status_code == 404
    assert "Kim Park" not in missing.text


async def test_a_malformed_or_unknown_client_id_is_a_404_page(client: Client, factory: Factory) -> None:
    _, desk, _ = await _demo_desk(client, factory)
    kim = await _client(client, desk, "Kim", "Park", "kim@example.test")
    await sign_in(client, DEMO_DESK)
    assert (await client.get(f"/staff/clients/{kim}", headers=HTML)).status_code == 200

    for raw in ("not-a-uuid", "123", str(uuid.uuid4())):
        page = await client.get(f"/staff/clients/{raw}", headers=HTML)
        assert page.status_code == 404, raw
        assert page.headers["content-type"].startswith("text/html")


async def test_the_pages_need_a_signed_in_staff_member(client: Client, factory: Factory) -> None:
    _, desk, _ = await _demo_desk(client, factory)
    kim = await _client(client, desk, "Kim", "Park", "kim@example.test")

    for path in ("/staff/clients", f"/staff/clients/{kim}"):
        page = await client.get(path, headers=HTML, follow_redirects=False)
        assert page.status_code in (302, 303, 401), path
        assert "Kim Park" not in page.text


# --- the overview ---------------------------------------------------------------------------------------


async def test_overview_splits_visits_at_midnight_in_the_practices_zone(client: Client, factory: Factory) -> None:
    practice, desk, demo = await _demo_desk(client, factory)
    kim = await _client(client, desk, "Kim", "Park", "kim@example.test")
    today = dt.datetime.now(NEW_YORK).date()
    # 11:30 PM yesterday in New York is already today in UTC: still a past visit for a New York practice.
    late_yesterday = await _insert_visit(
        factory, practice, demo, kim, dt.datetime.combine(today - dt.timedelta(days=1), dt.time(23, 30), NEW_YORK)
    )
    # 12:30 AM tomorrow in New York: upcoming, whatever the hour now.
    early_tomorrow = await _insert_visit(
        factory, practice, demo, kim, dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0, 30), NEW_YORK)
    )
    # 6:30 PM today in New York is 11:30 PM UTC: part of today, whichever UTC day it is now.
    this_evening = await _insert_visit(
        factory, practice, demo, kim, dt.datetime.combine(today, dt.time(18, 30), NEW_YORK)
    )
    ahead = weekday_ahead()
    booked = await _book(client, desk, demo, kim, at(ahead, 10))
    await sign_in(client, DEMO_DESK)

    page = await client.get(f"/staff/clients/{kim}", headers=HTML)

    assert page.status_code == 200
    upcoming = _section(page.text, "upcoming-heading")
    past = _section(page.text, "past-heading")
    assert f"/staff/appointments/{late_yesterday}" in past
    assert f"/staff/appointments/{early_tomorrow}" in upcoming
    assert f"/staff/appointments/{this_evening}" in upcoming
    assert f"/staff/appointments/{booked}" in upcoming
    assert upcoming.index(early_tomorrow) < upcoming.index(booked)
    yesterday = today - dt.timedelta(days=1)
    assert f"{yesterday:%a}, {yesterday:%b} {yesterday.day}, {yesterday.year}" in past
    assert "11:30 PM \u2013 12:30 AM" in past
    assert "Completed" in past
    assert (
        f'{ahead:%a}, {ahead:%b} {ahead.day}, {ahead.year}</span>, <span class="client-visit-time">10:00 AM' in upcoming
    )
    assert f"with {demo.therapists[0]['name']}" in upcoming
    assert "Booked" in upcoming
    assert 'href="mailto:kim@example.test"' in page.text


def _links(html: str) -> set[str]:
    return {name for name in ("documents-link", "health-link", "plans-link", "book-client") if f'id="{name}"' in html}


async def test_each_link_shows_only_for_roles_that_may_open_it(client: Client, factory: Factory) -> None:
    _, desk, _ = await _demo_desk(client, factory)
    kim = await _client(client, desk, "Kim", "Park", "kim@example.test")
    expected = {
        DEMO_DESK: {"documents-link", "book-client"},
        MAYA: {"documents-link", "health-link", "plans-link", "book-client"},
        DEMO_OWNER: {"documents-link", "health-link", "plans-link", "book-client"},
    }
    for email, links in expected.items():
        await sign_in(client, email)
        page = await client.get(f"/staff/clients/{kim}", headers=HTML)
        assert page.status_code == 200, email
        assert _links(page.text) == links, email
        # Every link shown opens for this role; the health page stays closed to the desk.
        health = await client.get(f"/staff/clients/{kim}/health", headers=HTML)
        assert health.status_code == (200 if "health-link" in links else 403), email
        documents = await client.get(f"/staff/clients/{kim}/documents", headers=HTML)
        assert documents.status_code == 200, email
        book = page.text.split('id="book-client" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        assert f"client_id={kim}" in book
        booking = await client.get(book, headers=HTML)
        assert booking.status_code == 200, email
        assert "Kim Park" in booking.text


async def test_overview_and_directory_carry_no_health_information(client: Client, factory: Factory) -> None:
    _, desk, demo = await _demo_desk(client, factory)
    kim = await _client(client, desk, "Kim", "Park", "kim@example.test")
    await fill_intake(client, await intake_link(client, desk, kim))
    await _book(client, desk, demo, kim, at(weekday_ahead(), 10))
    await sign_in(client, DEMO_OWNER)
    health = await client.get(f"/staff/clients/{kim}/health", headers=HTML)
    assert "HEALTH-MED" in health.text  # the intake is there, on the clinical page

    for path, params in ((f"/staff/clients/{kim}", {}), ("/staff/clients", {}), ("/staff/clients", {"q": "kim"})):
        page = await client.get(path, params=params, headers=HTML)
        assert page.status_code == 200
        for clinical in CLINICAL_WORDS:
            assert clinical not in page.text, (path, params, clinical)


async def test_a_therapist_sees_only_visits_on_their_own_schedule(client: Client, factory: Factory) -> None:
    _, desk, demo = await _demo_desk(client, factory)
    kim = await _client(client, desk, "Kim", "Park", "kim@example.test")
    day = weekday_ahead()
    mine = await _book(client, desk, demo, kim, at(day, 10), therapist=0)
    theirs = await _book(client, desk, demo, kim, at(day, 13), therapist=1)

    await sign_in(client, MAYA)
    page = await client.get(f"/staff/clients/{kim}", headers=HTML)
    assert f"/staff/appointments/{mine}" in page.text
    assert f"/staff/appointments/{theirs}" not in page.text

    await sign_in(client, DEMO_DESK)
    page = await client.get(f"/staff/clients/{kim}", headers=HTML)
    assert f"/staff/appointments/{mine}" in page.text
    assert f"/staff/appointments/{theirs}" in page.text


async def test_nav_and_appointment_page_link_to_the_client(client: Client, factory: Factory) -> None:
    _, desk, demo = await _demo_desk(client, factory)
    kim = await _client(client, desk, "Kim", "Park", "kim@example.test")
    visit = await _book(client, desk, demo, kim, at(weekday_ahead(), 10))
    await sign_in(client, DEMO_DESK)

    appointment = await client.get(f"/staff/appointments/{visit}", headers=HTML)

    assert '<a href="/staff/clients">Clients</a>' in appointment.text
    assert f'<a href="/staff/clients/{kim}" id="client-link">Kim Park</a>' in appointment.text
