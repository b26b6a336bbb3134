"""The intake questionnaire: a client fills it at a link without an account; only therapists and owners
read it; the schedule shows a discreet contraindication badge and nothing more."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from scheduler.clients.models import ClientIntakeLink
from scheduler.db import session_scope, unscoped
from scheduler.mail.models import OutboxMessage
from scheduler.practice.models import Role
from tests.integration.booking_helpers import at, load_demo, weekday_ahead
from tests.integration.clinical_helpers import (
    HTML,
    Client,
    fill_intake,
    intake_link,
    new_client,
    post_form,
    sign_in,
)
from tests.integration.conftest import Factory


async def test_client_fills_intake_at_link_and_therapist_reads_it_with_flags(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    therapist = await factory.staff(practice, Role.THERAPIST)
    client_id = await new_client(client, desk)
    link = await intake_link(client, desk, client_id)

    form = await client.get(link, headers=HTML)
    assert form.status_code == 200
    assert "Health questionnaire" in form.text
    assert "Hello Kim" in form.text

    submitted = await fill_intake(client, link)
    assert submitted.status_code == 303
    assert submitted.headers["location"] == "/p/demo/intake/thanks"

    read = await client.get(f"/api/v1/clients/{client_id}/intake", headers=therapist.headers)
    assert read.status_code == 200, read.text
    body = read.json()
    assert body["answers"]["medications"] == "HEALTH-MED warfarin 5 mg"
    assert body["answers"]["pain_areas"] == [{"area": "Lower back", "intensity": 7}, {"area": "Neck", "intensity": 4}]
    assert body["answers"]["consent"] is True
    assert [c["code"] for c in body["contraindications"]] == ["blood_thinners", "recent_surgery"]


async def test_desk_cannot_read_intake_but_owner_can(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    owner = await factory.staff(practice, Role.OWNER)
    client_id = await new_client(client, desk)
    await fill_intake(client, await intake_link(client, desk, client_id))

    denied = await client.get(f"/api/v1/clients/{client_id}/intake", headers=desk.headers)
    assert denied.status_code == 403
    assert "warfarin" not in denied.text
    assert (await client.get(f"/api/v1/clients/{client_id}/intake", headers=owner.headers)).status_code == 200


async def test_another_practice_cannot_read_intake_nor_use_the_link(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    client_id = await new_client(client, desk)
    link = await intake_link(client, desk, client_id)
    other = await factory.practice("other-studio")
    outsider = await factory.staff(other, Role.OWNER)

    token = link.rsplit("/", 1)[1]
    assert (await client.get(f"/p/other-studio/intake/{token}", headers=HTML)).status_code == 410
    await fill_intake(client, link)
    stolen = await client.get(f"/api/v1/clients/{client_id}/intake", headers=outsider.headers)
    assert stolen.status_code == 404
    assert "warfarin" not in stolen.text


async def test_intake_link_works_once_and_only_for_its_client(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    owner = await factory.staff(practice, Role.OWNER)
    kim = await new_client(client, desk, "Kim")
    lee = await new_client(client, desk, "Lee")
    kim_link = await intake_link(client, desk, kim)

    assert (await fill_intake(client, kim_link)).status_code == 303
    # The spent link shows the expired page; a second submission stores nothing.
    again = await client.get(kim_link, headers=HTML)
    assert again.status_code == 410
    assert (await client.get(f"/api/v1/clients/{lee}/intake", headers=owner.headers)).status_code == 404
    assert (await client.get("/p/demo/intake/not-a-real-token", headers=HTML)).status_code == 410


async def test_intake_link_expires(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    link = await intake_link(client, desk, await new_client(client, desk))
    async with session_scope(factory.alchemy) as session:
        with unscoped(session):
            for row in await session.scalars(select(ClientIntakeLink)):
                row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    assert (await client.get(link, headers=HTML)).status_code == 410


async def test_intake_refuses_missing_consent_and_bad_answers_naming_the_field(
    client: Client, factory: Factory
) -> None:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    owner = await factory.staff(practice, Role.OWNER)
    client_id = await new_client(client, desk)
    link = await intake_link(client, desk, client_id)
    future = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)).isoformat()
    cases = {
        "consent": {"consent": None},
        "pain_areas[0].intensity": {"pain_intensity_0": "11"},
        "pain_areas[1].area": {"pain_area_1": ""},
        "last_surgery_on": {"last_surgery_on": future},
        "conditions": {"conditions": ["flying"]},
        "pregnancy_weeks": {"pregnant": "on", "pregnancy_weeks": "many"},
    }
    for field, overrides in cases.items():
        refused = await fill_intake(client, link, **overrides)
        assert refused.status_code == 400, (field, refused.text)
        assert 'aria-invalid="true"' in refused.text or field == "conditions", field
        assert "Lower back" in refused.text, "the answers are kept"
    # Nothing was stored, and the link still works.
    assert (await client.get(f"/api/v1/clients/{client_id}/intake", headers=owner.headers)).status_code == 404
    assert (await fill_intake(client, link)).status_code == 303


async def test_intake_link_email_names_no_health_detail(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    client_id = await new_client(client, desk)
    link = await intake_link(client, desk, client_id, send_email=True)
    await fill_intake(client, link)
    async with session_scope(factory.alchemy) as session:
        with unscoped(session):
            messages = list(await session.scalars(select(OutboxMessage)))
    assert [m.kind for m in messages] == ["intake_link"]
    assert link in messages[0].body_text
    assert "HEALTH" not in messages[0].body_text


async def test_schedule_shows_a_discreet_contraindication_badge_to_desk_and_therapist(
    client: Client, factory: Factory
) -> None:
    practice = await factory.demo()
    demo = await load_demo(client)
    desk = await factory.staff(practice, Role.DESK)
    flagged = await new_client(client, desk, "Kim")
    plain = await new_client(client, desk, "Lee")
    await fill_intake(client, await intake_link(client, desk, flagged))
    await fill_intake(client, await intake_link(client, desk, plain), takes_blood_thinners=None, last_surgery_on=None)
    day = weekday_ahead(7)
    for client_id, hour in ((flagged, 10), (plain, 12)):
        booked = await client.post(
            "/api/v1/appointments",
            json={
                "client_id": client_id,
                "service_id": demo.massage,
                "therapist_id": demo.therapist,
                "start": at(day, hour),
            },
            headers=desk.headers,
        )
        assert booked.status_code == 201, booked.text

    await sign_in(client, "desk@demo.test")
    page = await client.get(f"/staff/schedule?date={day.isoformat()}", headers=HTML)
    assert page.status_code == 200
    assert page.text.count("⚠ contraindication") == 2, "grid and list each flag Kim once"
    assert "warfarin" not in page.text
    assert "blood thinner" not in page.text.lower()
    await client.post("/logout", headers=HTML)

    await sign_in(client, "maya@demo.test")
    own = await client.get(f"/staff/schedule?date={day.isoformat()}", headers=HTML)
    assert "⚠ contraindication" in own.text


async def test_desk_sends_the_questionnaire_from_a_visit_page_without_seeing_health_details(
    client: Client, factory: Factory
) -> None:
    practice = await factory.demo()
    demo = await load_demo(client)
    desk = await factory.staff(practice, Role.DESK)
    kim = await new_client(client, desk, "Kim")
    await fill_intake(client, await intake_link(client, desk, kim))
    booked = await client.post(
        "/api/v1/appointments",
        json={
            "client_id": kim,
            "service_id": demo.massage,
            "therapist_id": demo.therapist,
            "start": at(weekday_ahead(7), 10),
        },
        headers=desk.headers,
    )
    visit_page = f"/staff/appointments/{booked.json()['id']}"

    await sign_in(client, "desk@demo.test")
    page = await client.get(visit_page, headers=HTML)
    assert "⚠ contraindication" in page.text
    assert "warfarin" not in page.text
    assert "Health intake and plans" not in page.text
    sent = await post_form(client, f"/staff/clients/{kim}/intake-link", {"send": "email"}, csrf_from=visit_page)
    assert sent.status_code == 200, sent.text
    assert re.search(r'value="http://[^"]+/p/demo/intake/[^"]+"', sent.text)
    assert "We e-mailed the link to kim@example.test" in sent.text
    assert "warfarin" not in sent.text
