"""Booking a series, or a bulk change to it, tells the client once: one e-mail listing every upcoming visit.

Same demo practice and plan as test_series.py: weekly on Tuesdays at 10:00 for 8 sessions, starting at
least two weeks ahead, for Rosa (rosa@example.test).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from sqlalchemy import update

from scheduler.booking.models import Appointment
from scheduler.db import session_scope, unscoped
from scheduler.mail.models import OutboxMessage
from scheduler.practice.models import Role
from tests.integration.booking_helpers import NEW_YORK, Client, at, booking_clock, load_demo, weekday_ahead
from tests.integration.conftest import Factory, Staff
from tests.integration.test_mail_and_portal import HEALTH_NOTE, HEALTH_REASON, outbox
from tests.integration.test_series import book_single, commit_clean, new_client, plan_body, setup_plan

# What the plan in test_series.plan_body says about Rosa's health; none of it may reach her inbox.
PLAN_DETAILS = ("M62.830", "Turn the head without pain", "myofascial release", "Heat 15 minutes daily")


def long_day(day: dt.date) -> str:
    """A day as every page and e-mail writes it (US English): 'Thursday, May 21, 2026'."""
    return f"{day:%A}, {day:%B} {day.day}, {day.year}"


def when(start: str, end: str) -> str:
    """An API start/end pair as the e-mail writes it: 'Thursday, May 21, 2026, 11:00 AM to 12:00 PM EDT'."""
    begin = dt.datetime.fromisoformat(start).astimezone(NEW_YORK)
    finish = dt.datetime.fromisoformat(end).astimezone(NEW_YORK)

    def clock(moment: dt.datetime) -> str:
        return f"{moment.hour % 12 or 12}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"

    return f"{long_day(begin)}, {clock(begin)} to {clock(finish)} {begin.tzname()}"


def listed_visits(body: str) -> list[str]:
    """The visit lines of a booking e-mail: '  Tuesday, January 12, 2027, 10:00 AM to 11:00 AM EST'."""
    return re.findall(r"^  \w+day, \w+ \d+, \d{4}, .*$", body, flags=re.MULTILINE)


async def new_messages(factory: Factory, before: list[OutboxMessage]) -> list[OutboxMessage]:
    seen = {m.id for m in before}
    return [m for m in await outbox(factory) if m.id not in seen]


async def move_following_to_thursdays(
    client: Client, owner: Staff, series: dict[str, Any], dates: list[dt.date], *, from_index: int = 4
) -> Any:
    thursday = dates[from_index] + dt.timedelta(days=2)
    return await client.post(
        f"/api/v1/series/{series['id']}/reschedule",
        json={
            "scope": "following",
            "from_appointment_id": series["occurrences"][from_index]["id"],
            "first_start": f"{thursday.isoformat()}T11:00",
            "frequency": {"freq": "weekly", "weekdays": ["TH"]},
        },
        headers=owner.headers,
    )


def everything_in(message: OutboxMessage) -> str:
    return message.subject + message.body_text + "".join(a["content"] for a in message.attachments)


async def test_this_and_following_reschedule_sends_one_mail_listing_each_moved_visit(
    client: Client, factory: Factory
) -> None:
    owner, _demo, _client_id, plan_id, dates = await setup_plan(client, factory)
    series = await commit_clean(client, owner, plan_id)
    before = await outbox(factory)

    edited = await move_following_to_thursdays(client, owner, series, dates)
    assert edited.status_code == 200, edited.text

    [message] = await new_messages(factory, before)
    assert message.kind == "series_rescheduled"
    assert message.to_address == "rosa@example.test"
    _old, new = edited.json()["series"]
    first_thursday = dates[4] + dt.timedelta(days=2)
    assert message.subject == (
        f"Your series moved: Therapeutic Massage (60 min), from {long_day(first_thursday)}, 11:00 AM"
    )
    body = message.body_text
    earlier = {o["id"]: o for o in series["occurrences"]}
    assert len(new["occurrences"]) == 4
    for moved in new["occurrences"]:
        was = earlier[moved["id"]]
        assert f"Now:    {when(moved['start'], moved['end'])}\n" in body
        assert f"(was {when(was['start'], was['end'])})" in body
    assert body.count("Now:    ") == 4, "only the moved visits are listed"
    for untouched in series["occurrences"][:4]:
        assert when(untouched["start"], untouched["end"]) not in body
    assert "America/New_York" in body
    assert "120 Elm Street, Suite 4" in body
    assert "+1 718 555 0142" in body
    assert "http://testserver.local/p/demo/portal" in body
    [ics] = message.attachments
    assert ics["filename"] == "appointments.ics"
    assert ics["content_type"] == "text/calendar"
    for moved in new["occurrences"]:
        assert f"UID:{moved['id']}@carebook" in ics["content"]
    assert ics["content"].count("BEGIN:VEVENT") == 4
    assert "SEQUENCE:1" in ics["content"], "the calendar app replaces the visits it already has"


async def test_rescheduling_all_sends_one_mail_for_all_eight_visits(client: Client, factory: Factory) -> None:
    owner, _demo, _client_id, plan_id, dates = await setup_plan(client, factory)
    series = await commit_clean(client, owner, plan_id)
    before = await outbox(factory)
    thursday = dates[0] + dt.timedelta(days=2)
    moved = await client.post(
        f"/api/v1/series/{series['id']}/reschedule",
        json={"scope": "all", "first_start": f"{thursday.isoformat()}T11:00", "frequency": {"freq": "weekly"}},
        headers=owner.headers,
    )
    assert moved.status_code == 200, moved.text
    [message] = await new_messages(factory, before)
    assert message.kind == "series_rescheduled"
    [same] = moved.json()["series"]
    for occurrence in same["occurrences"]:
        assert f"Now:    {when(occurrence['start'], occurrence['end'])}\n" in message.body_text
    assert message.body_text.count("(was ") == 8


async def test_cancelling_the_remaining_series_sends_one_mail_listing_the_cancelled_visits(
    client: Client, factory: Factory
) -> None:
    owner, _demo, _client_id, plan_id, _dates = await setup_plan(client, factory)
    series = await commit_clean(client, owner, plan_id)
    for occurrence in series["occurrences"][:2]:
        with booking_clock(occurrence["end"]):
            done = await client.post(f"/api/v1/appointments/{occurrence['id']}/complete", headers=owner.headers)
        assert done.status_code == 200, done.text
    before = await outbox(factory)

    cancelled = await client.post(
        f"/api/v1/series/{series['id']}/cancel",
        json={"reason": "moving away", "from_appointment_id": series["occurrences"][2]["id"]},
        headers=owner.headers,
    )
    assert cancelled.status_code == 200, cancelled.text

    [message] = await new_messages(factory, before)
    assert message.kind == "series_cancelled"
    assert message.to_address == "rosa@example.test"
    assert message.subject == "Cancelled: your remaining Therapeutic Massage (60 min) visits"
    body = message.body_text
    assert "have been cancelled" in body
    for gone in series["occurrences"][2:]:
        assert f"  {when(gone['start'], gone['end'])}\n" in body
    for completed in series["occurrences"][:2]:
        assert when(completed["start"], completed["end"]) not in body, "visits that happened are not news"
    assert "America/New_York" in body
    [ics] = message.attachments
    assert ics["content"].count("BEGIN:VEVENT") == 6
    assert ics["content"].count("STATUS:CANCELLED") == 6


async def test_series_mails_carry_no_health_details_nor_the_cancel_reason(client: Client, factory: Factory) -> None:
    owner, _demo, _client_id, plan_id, dates = await setup_plan(client, factory)
    series = await commit_clean(client, owner, plan_id)
    async with session_scope(factory.alchemy) as session:
        with unscoped(session):
            await session.execute(
                update(Appointment)
                .where(Appointment.id.in_([uuid.UUID(o["id"]) for o in series["occurrences"]]))
                .values(notes=HEALTH_NOTE)
            )
    before = await outbox(factory)
    edited = await move_following_to_thursdays(client, owner, series, dates)
    assert edited.status_code == 200, edited.text
    new_series = edited.json()["series"][1]
    cancelled = await client.post(
        f"/api/v1/series/{new_series['id']}/cancel", json={"reason": HEALTH_REASON}, headers=owner.headers
    )
    assert cancelled.status_code == 200, cancelled.text

    messages = await new_messages(factory, before)
    assert [m.kind for m in messages] == ["series_rescheduled", "series_cancelled"]
    for message in messages:
        text = everything_in(message)
        for secret in (*PLAN_DETAILS, "HEALTH-NOTE", "sciatica", "HEALTH-REASON", "migraine"):
            assert secret not in text, (message.kind, secret)


async def test_a_reschedule_refused_for_a_conflict_sends_nothing_and_the_retry_sends_one(
    client: Client, factory: Factory
) -> None:
    owner, demo, _client_id, plan_id, dates = await setup_plan(client, factory)
    series = await commit_clean(client, owner, plan_id)
    taken = await book_single(client, owner, demo, at(dates[6] + dt.timedelta(days=2), 11), "blocker@example.test")
    assert taken.status_code == 201, taken.text
    before = await outbox(factory)

    refused = await move_following_to_thursdays(client, owner, series, dates)
    assert refused.status_code == 409, refused.text
    assert await new_messages(factory, before) == []

    # The desk picks the afternoon instead: now the client hears about it, once, with the times that stuck.
    thursday = dates[4] + dt.timedelta(days=2)
    retried = await client.post(
        f"/api/v1/series/{series['id']}/reschedule",
        json={
            "scope": "following",
            "from_appointment_id": series["occurrences"][4]["id"],
            "first_start": f"{thursday.isoformat()}T14:00",
            "frequency": {"freq": "weekly", "weekdays": ["TH"]},
        },
        headers=owner.headers,
    )
    assert retried.status_code == 200, retried.text
    [message] = await new_messages(factory, before)
    assert message.kind == "series_rescheduled"
    assert "11:00 AM to 12:00 PM" not in message.body_text, "nothing of the refused attempt"
    assert message.body_text.count("Now:    ") == 4
    assert f"{long_day(thursday)}, 2:00 PM to 3:00 PM" in message.body_text


# -- committing a series: the client is told once, with every visit it booked -----------------------------


async def commit(client: Client, owner: Staff, plan_id: str, body: dict[str, Any]) -> Any:
    return await client.post(f"/api/v1/treatment-plans/{plan_id}/series", json=body, headers=owner.headers)


async def test_committing_a_series_sends_one_mail_listing_every_visit_with_a_calendar_file(
    client: Client, factory: Factory
) -> None:
    practice = await factory.demo()
    owner = await factory.staff(practice, Role.OWNER)
    demo = await load_demo(client)
    client_id = await new_client(client, owner.headers, "rosa@example.test")
    first = weekday_ahead(14, 1)
    reassessment = demo.services["90"]
    created = await client.post(
        "/api/v1/treatment-plans",
        json=plan_body(demo, client_id, first, {"reassessment_service_id": str(reassessment["id"])}),
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    before = await outbox(factory)

    committed = await commit(client, owner, created.json()["id"], {"conflict_policy": "fail"})
    assert committed.status_code == 201, committed.text

    [message] = await new_messages(factory, before)
    assert message.kind == "series_booked"
    assert message.to_address == "rosa@example.test"
    assert message.subject == (f"Booked: 8 visits, Therapeutic Massage (60 min), from {long_day(first)}, 10:00 AM")
    body = message.body_text
    assert "Hello Rosa," in body
    occurrences = committed.json()["series"]["occurrences"]
    assert len(occurrences) == 8
    for n, occurrence in enumerate(occurrences, start=1):
        line = f"  {when(occurrence['start'], occurrence['end'])}"
        # Every 4th visit is the re-assessment, a different service: the e-mail says so next to it.
        assert line + (f" - {reassessment['name']}\n" if n % 4 == 0 else "\n") in body, n
    assert len(listed_visits(body)) == 8
    assert body.count(f" - {reassessment['name']}") == 2
    assert "10:00 AM to 11:00 AM" in body, "local wall time, not UTC"
    assert "Maya Okafor" in body
    assert "America/New_York" in body
    assert "120 Elm Street, Suite 4" in body
    assert "+1 718 555 0142" in body
    assert "http://testserver.local/p/demo/portal" in body
    [ics] = message.attachments
    assert ics["filename"] == "appointments.ics"
    assert ics["content_type"] == "text/calendar"
    assert ics["content"].count("BEGIN:VEVENT") == 8
    for occurrence in occurrences:
        assert f"UID:{occurrence['id']}@carebook" in ics["content"]
    assert "STATUS:CANCELLED" not in ics["content"]


async def test_a_skipped_conflict_is_not_listed_in_the_booking_mail(client: Client, factory: Factory) -> None:
    owner, demo, _client_id, plan_id, dates = await setup_plan(client, factory)
    taken = await book_single(client, owner, demo, at(dates[2], 10), "blocker@example.test")
    assert taken.status_code == 201, taken.text
    before = await outbox(factory)

    committed = await commit(client, owner, plan_id, {"conflict_policy": "skip"})
    assert committed.status_code == 201, committed.text
    assert [o["index"] for o in committed.json()["skipped"]] == [3]

    [message] = await new_messages(factory, before)
    assert message.kind == "series_booked"
    assert message.to_address == "rosa@example.test"
    assert message.subject.startswith("Booked: 7 visits, Therapeutic Massage (60 min), from ")
    occurrences = committed.json()["series"]["occurrences"]
    assert len(occurrences) == 7
    assert len(listed_visits(message.body_text)) == 7
    for occurrence in occurrences:
        assert f"  {when(occurrence['start'], occurrence['end'])}\n" in message.body_text
    skipped = dates[2]
    assert long_day(skipped) not in message.body_text, "the skipped date is not booked"
    assert message.attachments[0]["content"].count("BEGIN:VEVENT") == 7


async def test_the_booking_mail_carries_nothing_of_the_plan(client: Client, factory: Factory) -> None:
    owner, _demo, _client_id, plan_id, _dates = await setup_plan(client, factory)
    before = await outbox(factory)
    await commit_clean(client, owner, plan_id)

    [message] = await new_messages(factory, before)
    assert message.kind == "series_booked"
    text = everything_in(message)
    for secret in (*PLAN_DETAILS, "diagnos", "goal", "technique", "re-assess", "reassessment"):
        assert secret.lower() not in text.lower(), secret


async def test_a_commit_refused_for_a_conflict_sends_nothing_and_the_retry_sends_one(
    client: Client, factory: Factory
) -> None:
    owner, demo, _client_id, plan_id, dates = await setup_plan(client, factory)
    taken = await book_single(client, owner, demo, at(dates[5], 10), "blocker@example.test")
    assert taken.status_code == 201, taken.text
    before = await outbox(factory)

    refused = await commit(client, owner, plan_id, {"conflict_policy": "fail"})
    assert refused.status_code == 409, refused.text
    assert await new_messages(factory, before) == []

    shifted = await commit(client, owner, plan_id, {"conflict_policy": "shift"})
    assert shifted.status_code == 201, shifted.text
    [message] = await new_messages(factory, before)
    assert message.kind == "series_booked"
    assert len(listed_visits(message.body_text)) == 8
    moved = shifted.json()["series"]["occurrences"][5]
    assert f"  {when(moved['start'], moved['end'])}\n" in message.body_text, "the visit at its shifted time"
