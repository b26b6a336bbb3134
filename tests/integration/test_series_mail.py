"""A bulk change to a client's series tells them once: one e-mail listing every upcoming visit it touched.

Same demo practice and plan as test_series.py: weekly on Tuesdays at 10:00 for 8 sessions, starting at
least two weeks ahead, for Rosa (rosa@example.test).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import update

from scheduler.booking.models import Appointment
from scheduler.db import session_scope, unscoped
from scheduler.mail.models import OutboxMessage
from tests.integration.booking_helpers import NEW_YORK, Client, at
from tests.integration.conftest import Factory, Staff
from tests.integration.test_mail_and_portal import HEALTH_NOTE, HEALTH_REASON, outbox
from tests.integration.test_series import book_single, commit_clean, setup_plan

# What the plan in test_series.plan_body says about Rosa's health; none of it may reach her inbox.
PLAN_DETAILS = ("M62.830", "Turn the head without pain", "myofascial release", "Heat 15 minutes daily")


def when(start: str, end: str) -> str:
    """An API start/end pair as the e-mail writes it: 'Thursday 21 May 2026, 11:00 AM to 12:00 PM EDT'."""
    begin = dt.datetime.fromisoformat(start).astimezone(NEW_YORK)
    finish = dt.datetime.fromisoformat(end).astimezone(NEW_YORK)

    def clock(moment: dt.datetime) -> str:
        return f"{moment.hour % 12 or 12}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"

    return f"{begin:%A} {begin.day} {begin:%B %Y}, {clock(begin)} to {clock(finish)} {begin.tzname()}"


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
        f"Your series moved: Therapeutic Massage (60 min), from "
        f"{first_thursday:%A} {first_thursday.day} {first_thursday:%B %Y}, 11:00 AM"
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
    assert f"{thursday:%A} {thursday.day} {thursday:%B %Y}, 2:00 PM to 3:00 PM" in message.body_text
