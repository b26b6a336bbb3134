"""Calendar feeds served from the database, read back by three independent calendar engines."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import event, select, update

from scheduler.booking.models import LIVE_STATUSES, Appointment, AppointmentSeries
from scheduler.db import scope_session, session_scope
from scheduler.feeds.services import window
from scheduler.plans.models import TreatmentPlan
from tests.feed_oracles import by_ical, by_icaljs, by_recurring_ical_events, lint, node_available, occurrence
from tests.integration import feed_helpers as fh
from tests.integration.booking_helpers import at, load_demo
from tests.integration.conftest import Factory
from tests.integration.test_series import new_client, plan_body

Client = AsyncTestClient[Litestar]
ZONES = ["America/New_York", "Europe/Berlin", "Australia/Sydney"]


async def issue(client: Client, staff_headers: dict[str, str], collection: str, owner_id: uuid.UUID) -> str:
    response = await client.post(f"/api/v1/{collection}/{owner_id}/feed-token", headers=staff_headers)
    assert response.status_code == 201, response.text
    url = response.json()["url"]
    assert url.startswith("http://testserver.local/feeds/")
    assert url.endswith(".ics")
    assert response.json()["webcal_url"] == "webcal://" + url.removeprefix("http://")
    return str(url.removeprefix("http://testserver.local"))


@pytest.mark.parametrize("tzid", ZONES)
async def test_three_calendar_engines_read_exactly_the_live_appointments_in_the_database(
    client: Client, factory: Factory, tzid: str
) -> None:
    world = await fh.build_world(factory, tzid)
    soon = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2, hours=3)
    await fh.add_single(factory, world, soon)
    staff = await factory.staff(world.practice)
    path = await issue(client, staff.headers, "therapists", world.therapist_id)

    response = await client.get(path)
    assert response.status_code == 200
    body = response.content
    start, end = window(dt.datetime.now(dt.UTC))
    async with session_scope(factory.alchemy) as session:
        expected = await fh.live_appointments(session, world, start, end)
    assert len(expected) == 2 * (fh.WEEKS - 2) + 1  # two series without the cancelled and skipped, one single
    zone = ZoneInfo(tzid)
    assert by_recurring_ical_events(body, start, end, zone) == expected
    assert by_ical(body, start, end, zone) == expected
    if node_available():
        assert by_icaljs(body, start, end, zone) == expected
    assert lint(body) == []
    assert body.count(b"RRULE:FREQ=WEEKLY") == 2
    assert body.count(b"RECURRENCE-ID;TZID=") == 2


async def test_feed_is_served_as_a_cacheable_calendar_without_gzip_or_attachment(
    client: Client, factory: Factory
) -> None:
    world = await fh.build_world(factory, "America/New_York")
    staff = await factory.staff(world.practice)
    path = await issue(client, staff.headers, "therapists", world.therapist_id)

    first = await client.get(path, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert first.status_code == 200
    assert first.headers["content-type"] == "text/calendar; charset=utf-8"
    assert "content-encoding" not in first.headers
    assert "content-disposition" not in first.headers
    etag = first.headers["etag"]
    assert etag.startswith('"')
    assert not etag.startswith("W/")

    second = await client.get(path)
    assert second.content == first.content
    assert second.headers["etag"] == etag

    not_modified = await client.get(path, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    since = await client.get(path, headers={"If-Modified-Since": first.headers["last-modified"]})
    assert since.status_code == 304
    stale = await client.get(path, headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200


async def test_head_answers_what_get_would_without_the_body(client: Client, factory: Factory) -> None:
    world = await fh.build_world(factory, "America/New_York")
    staff = await factory.staff(world.practice)
    path = await issue(client, staff.headers, "therapists", world.therapist_id)
    got = await client.get(path)

    headed = await client.head(path)
    assert headed.status_code == 200
    assert headed.content == b""
    for header in ("etag", "last-modified", "content-type", "cache-control"):
        assert headed.headers[header] == got.headers[header], header
    assert headed.headers["content-length"] == str(len(got.content))
    assert (await client.head(path, headers={"If-None-Match": got.headers["etag"]})).status_code == 304
    assert (await client.head(path.replace("/feeds/", "/feeds/x"))).status_code == 404


async def test_an_unchanged_poll_is_one_statement_outside_any_transaction(
    app: Litestar, client: Client, factory: Factory
) -> None:
    """Calendar apps poll all day: a poll that ends in 304 reads the fingerprint and nothing else (no BEGIN)."""
    world = await fh.build_world(factory, "America/New_York")
    staff = await factory.staff(world.practice)
    path = await issue(client, staff.headers, "therapists", world.therapist_id)
    etag = (await client.get(path)).headers["etag"]
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(statement)

    engine = app.state.alchemy.get_engine().sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        polled = await client.get(path, headers={"If-None-Match": etag})
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert polled.status_code == 304
    assert len(statements) == 1, statements
    assert "feed_token" in statements[0]


async def test_moving_an_occurrence_changes_the_etag_and_bumps_sequence_on_every_component(
    client: Client, factory: Factory
) -> None:
    world = await fh.build_world(factory, "Europe/Berlin")
    staff = await factory.staff(world.practice)
    path = await issue(client, staff.headers, "therapists", world.therapist_id)
    before = await client.get(path)
    series_id = world.series_ids[0]
    uid = f"UID:{series_id}@carebook".encode()
    assert uid in before.content

    # What the series service does on a move: the occurrence moves, the series' SEQUENCE goes up by one.
    async with session_scope(factory.alchemy) as session:
        scope_session(session, world.practice.id)
        series = await session.get_one(AppointmentSeries, series_id)
        occurrence = await session.scalar(
            select(Appointment).where(Appointment.series_id == series_id).order_by(Appointment.start_at).limit(1)
        )
        assert occurrence is not None
        occurrence.start_at += dt.timedelta(hours=2)
        occurrence.end_at += dt.timedelta(hours=2)
        occurrence.block_start, occurrence.block_end = occurrence.start_at, occurrence.end_at
        series.sequence += 1

    after = await client.get(path, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    events = [block for block in after.content.split(b"BEGIN:VEVENT")[1:] if uid in block]
    assert len(events) == 3  # master, the earlier override, and the new one
    assert all(b"SEQUENCE:4\r\n" in block for block in events)
    assert lint(after.content) == []


async def test_issuing_a_new_token_retires_the_old_url(client: Client, factory: Factory) -> None:
    world = await fh.build_world(factory, "America/New_York")
    staff = await factory.staff(world.practice)
    old = await issue(client, staff.headers, "rooms", world.room_id)
    assert (await client.get(old)).status_code == 200

    new = await issue(client, staff.headers, "rooms", world.room_id)
    gone = await client.get(old)
    unknown = await client.get("/feeds/" + "x" * 43 + ".ics")
    assert gone.status_code == 404
    assert unknown.status_code == 404
    assert gone.content == unknown.content
    assert gone.headers["content-type"] == unknown.headers["content-type"]
    assert (await client.get(new)).status_code == 200

    revoked = await client.delete(f"/api/v1/rooms/{world.room_id}/feed-token", headers=staff.headers)
    assert revoked.status_code == 204
    after_revoke = await client.get(new)
    assert after_revoke.status_code == 404
    assert after_revoke.content == unknown.content


async def test_each_feed_names_only_what_its_reader_may_see(client: Client, factory: Factory) -> None:
    world = await fh.build_world(factory, "America/New_York")
    staff = await factory.staff(world.practice)
    therapist = await client.get(await issue(client, staff.headers, "therapists", world.therapist_id))
    client_feed = await client.get(await issue(client, staff.headers, "clients", world.client_id))
    room = await client.get(await issue(client, staff.headers, "rooms", world.room_id))
    assert b"SUMMARY:Appointment A.B. (Therapeutic Massage)" in therapist.content
    assert b"LOCATION:Room 1" in therapist.content
    assert b"SUMMARY:Massage appointment" in client_feed.content
    assert f"LOCATION:{world.practice.name}".encode() in client_feed.content
    assert b"Ada" not in client_feed.content + room.content + therapist.content
    assert b"SUMMARY:Booked" in room.content
    for body in (therapist.content, client_feed.content, room.content):
        assert b"ATTENDEE" not in body
        assert b"DESCRIPTION" not in body
        assert lint(body) == []


async def test_feed_token_is_refused_for_unknown_or_foreign_owners(client: Client, factory: Factory) -> None:
    world = await fh.build_world(factory, "America/New_York")
    other = await factory.practice()
    outsider = await factory.staff(other)
    foreign = await client.post(f"/api/v1/therapists/{world.therapist_id}/feed-token", headers=outsider.headers)
    assert foreign.status_code == 404
    assert foreign.json()["field"] == "therapist_id"
    missing = await client.post(f"/api/v1/clients/{uuid.uuid4()}/feed-token", headers=outsider.headers)
    assert missing.status_code == 404
    bad = await client.post("/api/v1/rooms/not-a-uuid/feed-token", headers=outsider.headers)
    assert bad.status_code in {400, 404}
    assert bad.json()["field"] == "room_id"
    nowhere = await client.post(f"/api/v1/invoices/{uuid.uuid4()}/feed-token", headers=outsider.headers)
    assert nowhere.status_code == 404
    anonymous = await client.post(f"/api/v1/therapists/{world.therapist_id}/feed-token")
    assert anonymous.status_code == 401


async def test_no_feed_leaks_health_details_or_contact_data(client: Client, factory: Factory) -> None:
    private = {
        "email": "ada.private@example.test",
        "phone": "+1 555 0199 777",
        "diagnosis": "M54.16",
        "goal": "Reduce sciatic pain radiating left leg",
        "home care": "Ice lumbar region twice daily",
        "series note": "Client disclosed anxiety medication",
        "single note": "Bruising on left shoulder noted",
    }
    world = await fh.build_world(
        factory,
        "America/New_York",
        client_email=private["email"],
        client_phone=private["phone"],
    )
    async with session_scope(factory.alchemy) as session:
        scope_session(session, world.practice.id)
        plan = TreatmentPlan(
            client_id=world.client_id,
            therapist_id=world.therapist_id,
            service_id=world.service_id,
            diagnosis_codes=[private["diagnosis"]],
            goals=[private["goal"]],
            techniques=["myofascial release"],
            frequency={"per": "week", "times": 1},
            sessions=8,
            first_start_local=dt.datetime(2027, 1, 5, 9, 0),
            home_care=private["home care"],
        )
        session.add(plan)
        await session.flush()
        for series_id in world.series_ids:
            (await session.get_one(AppointmentSeries, series_id)).plan_id = plan.id
        await session.execute(
            update(Appointment)
            .where(Appointment.series_id.in_(world.series_ids))
            .values(notes=private["series note"], plan_id=plan.id)
        )
    soon = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=3)
    await fh.add_single(factory, world, soon, notes=private["single note"])
    staff = await factory.staff(world.practice)

    bodies = [
        (await client.get(await issue(client, staff.headers, collection, owner))).content
        for collection, owner in (
            ("therapists", world.therapist_id),
            ("clients", world.client_id),
            ("rooms", world.room_id),
        )
    ]
    for body in bodies:
        assert b"BEGIN:VEVENT" in body
        unfolded = body.replace(b"\r\n ", b"").decode()
        for what, value in private.items():
            assert value not in unfolded, what
            assert value.replace(",", "\\,") not in unfolded, what


async def test_series_edited_through_the_api_reads_back_as_the_live_appointments(
    client: Client, factory: Factory
) -> None:
    """Plan → series → cancel, move, jump and split, all through the API, across New York's next DST change."""
    practice = await factory.demo()
    owner = await factory.staff(practice)
    demo = await load_demo(client)
    client_id = await new_client(client, owner.headers, "rosa@example.test")
    change = fh.next_dst_changes("America/New_York", dt.datetime.now(dt.UTC).date(), count=1)[0]
    first = change - dt.timedelta(days=18)
    first -= dt.timedelta(days=(first.weekday() - 1) % 7)  # the Tuesday on or before
    plan = await client.post("/api/v1/treatment-plans", json=plan_body(demo, client_id, first), headers=owner.headers)
    assert plan.status_code == 201, plan.text
    committed = await client.post(
        f"/api/v1/treatment-plans/{plan.json()['id']}/series", json={"conflict_policy": "fail"}, headers=owner.headers
    )
    assert committed.status_code == 201, committed.text
    series = committed.json()["series"]
    occurrences = series["occurrences"]
    base = f"/api/v1/series/{series['id']}/occurrences"
    day = [first + dt.timedelta(weeks=n) for n in range(8)]
    edits = [
        (f"{base}/{occurrences[1]['id']}/cancel", {"reason": "ill"}),
        (f"{base}/{occurrences[3]['id']}/move", {"start": at(day[3] + dt.timedelta(days=1), 14)}),
        (f"{base}/{occurrences[4]['id']}/move", {"start": at(day[5] + dt.timedelta(days=1), 10)}),  # jumps the 6th
        (
            f"/api/v1/series/{series['id']}/reschedule",
            {"scope": "following", "from_appointment_id": occurrences[6]["id"], "first_start": f"{day[6]}T14:00"},
        ),
    ]
    for url, body in edits:
        edited = await client.post(url, json=body, headers=owner.headers)
        assert edited.status_code == 200, edited.text

    path = await issue(client, owner.headers, "therapists", uuid.UUID(demo.therapist))
    feed = await client.get(path)
    start, end = window(dt.datetime.now(dt.UTC))
    async with session_scope(factory.alchemy) as session:
        scope_session(session, practice.id)
        rows = await session.execute(
            select(Appointment.start_at, Appointment.end_at).where(
                Appointment.therapist_id == uuid.UUID(demo.therapist),
                Appointment.status.in_(LIVE_STATUSES),
                Appointment.start_at < end,
                Appointment.end_at > start,
            )
        )
        expected = sorted(occurrence(s, e, fh.NEW_YORK) for s, e in rows)
    assert len(expected) == 7
    assert by_recurring_ical_events(feed.content, start, end, fh.NEW_YORK) == expected
    assert by_ical(feed.content, start, end, fh.NEW_YORK) == expected
    if node_available():
        assert by_icaljs(feed.content, start, end, fh.NEW_YORK) == expected
    assert lint(feed.content) == []
    assert feed.content.count(b"RRULE:FREQ=WEEKLY") == 2  # the series and its continuation after the split

    unchanged = await client.get(path, headers={"If-None-Match": feed.headers["etag"]})
    assert unchanged.status_code == 304
    # One more change through the API: a new ETag, and every component of the series at the new SEQUENCE.
    before = (await client.get(f"/api/v1/series/{series['id']}", headers=owner.headers)).json()["sequence"]
    moved = await client.post(
        f"{base}/{occurrences[2]['id']}/move",
        json={"start": at(day[2], 15)},
        headers=owner.headers,
    )
    assert moved.status_code == 200, moved.text
    changed = await client.get(path, headers={"If-None-Match": feed.headers["etag"]})
    assert changed.status_code == 200
    assert changed.headers["etag"] != feed.headers["etag"]
    uid = f"UID:{series['id']}@carebook".encode()
    components = [block for block in changed.content.split(b"BEGIN:VEVENT")[1:] if uid in block]
    assert len(components) >= 2
    assert all(f"SEQUENCE:{before + 1}\r\n".encode() in block for block in components)
    assert lint(changed.content) == []


async def test_junk_feed_addresses_are_404_problem_json(client: Client, factory: Factory) -> None:
    world = await fh.build_world(factory, "Europe/Berlin")
    staff = await factory.staff(world.practice)
    real = await issue(client, staff.headers, "therapists", world.therapist_id)
    token = real.removeprefix("/feeds/").removesuffix(".ics")
    for junk in (token, f"{token}.ics.ics", f"{token[:-1]}.ics", f"{token}.ICS", "..%2F..%2Fetc.ics", "x" * 5000):
        response = await client.get(f"/feeds/{junk}")
        assert response.status_code == 404, junk
        assert response.headers["content-type"].startswith("application/problem+json"), junk
