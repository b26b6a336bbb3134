"""The client booking pages and the manage link's pages, driven as a browser without JavaScript would."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlencode, urlsplit

from sqlalchemy import update

from scheduler.db import session_scope
from scheduler.practice.models import Practice
from tests.integration.booking_helpers import NEW_YORK, Client, Demo, at, booking, load_demo, weekday_ahead
from tests.integration.conftest import Factory

HTML = {"accept": "text/html"}
DASH = "\u2013"  # between the two ends of a time range
CSRF_RE = re.compile(r'name="_csrf_token" value="([^"]+)"')


def _csrf(page: str) -> str:
    match = CSRF_RE.search(page)
    assert match, "the form carries a CSRF token"
    return match.group(1)


def _day_section(page: str, day: dt.date) -> str:
    match = re.search(rf'<section class="day" aria-labelledby="day-{day.isoformat()}">(.*?)</section>', page, re.S)
    assert match, f"no section for {day}"
    return match.group(1)


def _slot_times(section: str) -> list[str]:
    return re.findall(r'<span class="slot-time">([^<]+)</span>', section)


async def _demo(client: Client, factory: Factory) -> Demo:
    await factory.demo()
    return await load_demo(client)


def _details_url(demo: Demo, start: str, therapist_id: str = "any") -> str:
    query = urlencode({"service_id": demo.massage, "therapist_id": therapist_id, "start": start})
    return f"/p/demo/book/details?{query}"


def _form(demo: Demo, start: str, csrf: str | None, **fields: str) -> dict[str, str]:
    data = {
        "service_id": demo.massage,
        "therapist_id": "any",
        "start": start,
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann@example.test",
        "phone": "+1 212 555 0100",
        **fields,
    }
    if csrf is not None:
        data["_csrf_token"] = csrf
    return data


async def _book_through_pages(client: Client, demo: Demo, start: str) -> str:
    """Books through the details form; returns the manage page path."""
    form_page = await client.get(_details_url(demo, start), headers=HTML)
    assert form_page.status_code == 200, form_page.text
    response = await client.post(
        "/p/demo/book/details",
        data=_form(demo, start, _csrf(form_page.text)),
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["location"])
    assert parse_qs(location.query) == {"booked": ["1"]}
    return location.path


async def test_services_page_lists_what_can_be_booked_with_prices(client: Client, factory: Factory) -> None:
    demo = await _demo(client, factory)
    page = await client.get("/p/demo/book", headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert "Step 1 of 4" in text
    assert "<title>Choose a service · Demo Massage &amp; Bodywork</title>" in text
    assert "Therapeutic Massage (60 min)" in text
    assert "60 minutes · $120.00" in text
    assert "90 minutes · $165.00" in text
    assert "Focused treatment of the areas in your plan." in text
    assert f'href="/p/demo/book/therapist?service_id={demo.massage}"' in text
    assert 'href="/p/demo/book"' in text, "the brand links back to the practice's booking start"
    assert "/staff" not in text


async def test_therapist_page_offers_any_therapist_first(client: Client, factory: Factory) -> None:
    demo = await _demo(client, factory)
    page = await client.get(f"/p/demo/book/therapist?service_id={demo.massage}", headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert "Step 2 of 4" in text
    names = [f"{t['first_name']} {t['last_name']}" for t in demo.therapists]
    positions = [text.index(name) for name in names]
    assert text.index("Any available therapist") < min(positions)
    assert "LMT, CNMT" in text
    assert "licensed massage therapist" in text
    assert "therapist_id=any" in text


async def test_time_page_shows_a_week_of_local_times_once_each(client: Client, factory: Factory) -> None:
    demo = await _demo(client, factory)
    day = weekday_ahead()  # a Tuesday at least a week ahead
    monday = day - dt.timedelta(days=1)
    page = await client.get(
        f"/p/demo/book/time?service_id={demo.massage}&therapist_id=any&week={monday.isoformat()}", headers=HTML
    )
    assert page.status_code == 200
    text = page.text
    assert "Step 3 of 4" in text
    assert "Eastern Time (America/New_York)" in text
    times = _slot_times(_day_section(text, day))
    assert times[0] == "9:00 AM"
    assert times[-1] == "4:00 PM", "a 60-minute visit ends by 17:00"
    assert len(times) == len(set(times)), "with any therapist each time is offered once"
    saturday = monday + dt.timedelta(days=5)
    assert "No free times on this day." in _day_section(text, saturday)
    assert "Next week" in text
    assert "Previous week" in text
    # A slot links to step 4 with the start as ISO 8601 with its offset, encoded for a query string.
    link = re.search(r'<a class="slot" href="([^"]+)"', _day_section(text, day))
    assert link
    query = parse_qs(urlsplit(link.group(1).replace("&amp;", "&")).query)
    assert query["start"] == [at(day, 9)]
    assert query["therapist_id"] == ["any"]


async def test_time_page_for_one_therapist_leaves_out_their_booked_time(client: Client, factory: Factory) -> None:
    demo = await _demo(client, factory)
    day = weekday_ahead()
    taken = await client.post("/api/v1/practices/demo/bookings", json=booking(demo.massage, demo.therapist, at(day, 9)))
    assert taken.status_code == 201
    url = f"/p/demo/book/time?service_id={demo.massage}&week={day.isoformat()}"
    mine = _slot_times(_day_section((await client.get(f"{url}&therapist_id={demo.therapist}", headers=HTML)).text, day))
    anyone = _slot_times(_day_section((await client.get(f"{url}&therapist_id=any", headers=HTML)).text, day))
    assert "9:00 AM" not in mine
    assert mine[0] == "10:15 AM", "the visit's 15-minute buffer keeps 10:00 free of a new start"
    assert anyone[0] == "9:00 AM", "another therapist is free at 9:00"


async def test_unknown_service_or_link_is_a_404_page(client: Client, factory: Factory) -> None:
    await _demo(client, factory)
    for url in (
        "/p/demo/book/therapist?service_id=not-an-id",
        "/p/demo/book/therapist?service_id=00000000-0000-0000-0000-000000000000",
        "/p/demo/book/time?service_id=00000000-0000-0000-0000-000000000000&therapist_id=any",
        "/p/demo/manage/not-a-real-token",
        "/p/nowhere/book",
    ):
        page = await client.get(url, headers=HTML)
        assert page.status_code == 404, url
        assert page.headers["content-type"].startswith("text/html")
    page = await client.get("/p/demo/manage/not-a-real-token", headers=HTML)
    assert 'href="/p/demo/book"' in page.text
    assert "Demo Massage &amp; Bodywork" in page.text


async def test_details_page_has_labelled_fields_with_autocomplete(client: Client, factory: Factory) -> None:
    demo = await _demo(client, factory)
    day = weekday_ahead()
    page = await client.get(_details_url(demo, at(day, 10)), headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert "Step 4 of 4" in text
    assert f"10:00 AM {DASH} 11:00 AM" in text
    assert "First available therapist" in text
    for name, autocomplete in (
        ("first_name", "given-name"),
        ("last_name", "family-name"),
        ("email", "email"),
        ("phone", "tel"),
    ):
        assert f'<label for="{name}">' in text
        assert re.search(rf'<input id="{name}" name="{name}" [^>]*autocomplete="{autocomplete}"', text), name
    assert _csrf(text)


async def test_booking_without_csrf_token_is_refused(client: Client, factory: Factory) -> None:
    demo = await _demo(client, factory)
    start = at(weekday_ahead(), 10)
    await client.get(_details_url(demo, start), headers=HTML)
    response = await client.post(
        "/p/demo/book/details", data=_form(demo, start, csrf=None), headers=HTML, follow_redirects=False
    )
    assert response.status_code == 403
    appointments = await client.get(
        f"/api/v1/practices/demo/availability?service_id={demo.massage}&date_from={weekday_ahead()}"
        f"&date_to={weekday_ahead()}&therapist_id={demo.therapist}"
    )
    assert at(weekday_ahead(), 10) in [s["start"] for s in appointments.json()["slots"]], "nothing was booked"


async def test_booking_through_the_form_redirects_to_the_confirmation(client: Client, factory: Factory) -> None:
    demo = await _demo(client, factory)
    day = weekday_ahead()
    manage_path = await _book_through_pages(client, demo, at(day, 11))
    token = manage_path.rsplit("/", 1)[1]

    page = await client.get(f"{manage_path}?booked=1", headers=HTML)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    text = page.text
    assert "You&#39;re booked" in text or "You're booked" in text
    assert f"11:00 AM {DASH} 12:00 PM" in text
    assert f'href="/api/v1/practices/demo/manage/{token}/calendar.ics"' in text
    assert "Add to calendar" in text
    assert f"http://testserver.local/p/demo/manage/{token}" in text, "the page shows its own link to keep"
    assert "120 Elm Street, Suite 4" in text
    assert 'href="tel:+17185550142"' in text
    assert "Move to another time" in text
    assert "Cancel this appointment" in text

    calendar = await client.get(f"/api/v1/practices/demo/manage/{token}/calendar.ics")
    assert calendar.status_code == 200
    assert "Therapeutic Massage" in calendar.text


async def test_taken_slot_shows_the_form_again_with_409_and_an_alert(client: Client, factory: Factory) -> None:
    demo = await _demo(client, factory)
    day = weekday_ahead()
    start = at(day, 9)
    taken = await client.post("/api/v1/practices/demo/bookings", json=booking(demo.massage, demo.therapist, start))
    assert taken.status_code == 201
    form_page = await client.get(_details_url(demo, start, demo.therapist), headers=HTML)
    response = await client.post(
        "/p/demo/book/details",
        data=_form(
            demo,
            start,
            _csrf(form_page.text),
            therapist_id=demo.therapist,
            first_name="Zoë",
            email="other@example.test",
        ),
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 409
    text = response.text
    alert = re.search(r'<div class="alert error-summary" role="alert".*?</div>', text, re.S)
    assert alert, "an error summary is announced"
    assert "That time is no longer available." in alert.group(0)
    assert "Choose another time" in text
    assert f"week={day.isoformat()}" in text
    assert 'value="Zoë"' in text, "what the client typed is kept"
    assert 'value="other@example.test"' in text


async def test_bad_email_points_at_the_field(client: Client, factory: Factory) -> None:
    demo = await _demo(client, factory)
    start = at(weekday_ahead(), 13)
    form_page = await client.get(_details_url(demo, start), headers=HTML)
    response = await client.post(
        "/p/demo/book/details",
        data=_form(demo, start, _csrf(form_page.text), email="not an address"),
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 400
    text = response.text
    assert 'role="alert"' in text
    assert '<a href="#email">Enter a valid e-mail address.</a>' in text
    email_input = re.search(r'<input id="email"[^>]*>', text)
    assert email_input
    assert 'aria-invalid="true"' in email_input.group(0)
    assert 'aria-describedby="email-hint email-error"' in email_input.group(0)
    assert 'id="email-error"' in text
    assert 'value="not an address"' in text
    first_name = re.search(r'<input id="first_name"[^>]*>', text)
    assert first_name
    assert "aria-invalid" not in first_name.group(0)


async def test_client_moves_then_cancels_from_the_manage_page(client: Client, factory: Factory) -> None:
    demo = await _demo(client, factory)
    day = weekday_ahead()
    manage_path = await _book_through_pages(client, demo, at(day, 9))

    picker = await client.get(f"{manage_path}/move?week={day.isoformat()}", headers=HTML)
    assert picker.status_code == 200
    times = _slot_times(_day_section(picker.text, day))
    assert "9:00 AM" not in times, "the current time is not offered"
    assert "2:00 PM" in times

    new_start = at(day, 14)
    confirm = await client.get(f"{manage_path}/move?{urlencode({'start': new_start})}", headers=HTML)
    assert confirm.status_code == 200
    assert "Move to 2:00 PM" in confirm.text
    moved = await client.post(
        f"{manage_path}/move",
        data={"start": new_start, "_csrf_token": _csrf(confirm.text)},
        headers=HTML,
        follow_redirects=False,
    )
    assert moved.status_code == 303, moved.text
    after = await client.get(moved.headers["location"], headers=HTML)
    assert "Your appointment has been moved." in after.text
    assert f"2:00 PM {DASH} 3:00 PM" in after.text

    cancelled = await client.post(
        f"{manage_path}/cancel",
        data={"reason": "Feeling better", "_csrf_token": _csrf(after.text)},
        headers=HTML,
        follow_redirects=False,
    )
    assert cancelled.status_code == 303
    final = await client.get(cancelled.headers["location"], headers=HTML)
    assert "Your appointment has been cancelled." in final.text
    assert "This appointment was cancelled" in final.text
    assert "Book another appointment" in final.text
    assert "Move to another time" not in final.text
    assert "Add to calendar" not in final.text


async def test_moving_to_a_taken_time_shows_409_and_keeps_the_visit(client: Client, factory: Factory) -> None:
    demo = await _demo(client, factory)
    day = weekday_ahead()
    manage_path = await _book_through_pages(client, demo, at(day, 9))
    token = manage_path.rsplit("/", 1)[1]
    view = (await client.get(f"/api/v1/practices/demo/manage/{token}")).json()
    therapist_id = view["appointment"]["therapist_id"]
    other = await client.post(
        "/api/v1/practices/demo/bookings",
        json=booking(demo.massage, therapist_id, at(day, 14), email="other@example.test"),
    )
    assert other.status_code == 201
    confirm = await client.get(f"{manage_path}/move?{urlencode({'start': at(day, 14)})}", headers=HTML)
    refused = await client.post(
        f"{manage_path}/move",
        data={"start": at(day, 14), "_csrf_token": _csrf(confirm.text)},
        headers=HTML,
        follow_redirects=False,
    )
    assert refused.status_code == 409
    assert 'role="alert"' in refused.text
    assert "That time is no longer available." in refused.text
    assert "9:00 AM" in refused.text, "the page still shows the visit's current time"
    view = (await client.get(f"/api/v1/practices/demo/manage/{token}")).json()
    assert view["appointment"]["start"] == at(day, 9)


async def test_inside_the_window_the_page_says_whom_to_call(client: Client, factory: Factory) -> None:
    demo = await _demo(client, factory)
    manage_path = await _book_through_pages(client, demo, at(weekday_ahead(), 9))
    async with session_scope(factory.alchemy) as session:
        await session.execute(update(Practice).where(Practice.slug == "demo").values(cancellation_window_hours=24 * 60))
    page = await client.get(manage_path, headers=HTML)
    assert page.status_code == 200
    assert "can no longer be moved or cancelled online" in page.text
    assert '<a href="tel:+17185550142">+1 718 555 0142</a>' in page.text
    assert "Move to another time" not in page.text
    assert "Cancel this appointment" not in page.text
    move = await client.get(f"{manage_path}/move", headers=HTML)
    assert "can no longer be moved online" in move.text
    assert 'class="slot"' not in move.text

    # The page offers no cancel form any more; a form kept open from before is still refused.
    csrf = _csrf((await client.get(_details_url(demo, at(weekday_ahead(), 10)), headers=HTML)).text)
    refused = await client.post(
        f"{manage_path}/cancel", data={"_csrf_token": csrf}, headers=HTML, follow_redirects=False
    )
    assert refused.status_code == 422
    assert 'role="alert"' in refused.text
    assert "+1 718 555 0142" in refused.text


async def test_a_manage_link_does_not_open_under_another_practice(client: Client, factory: Factory) -> None:
    demo = await _demo(client, factory)
    manage_path = await _book_through_pages(client, demo, at(weekday_ahead(), 9))
    await factory.practice("other-place")
    token = manage_path.rsplit("/", 1)[1]
    page = await client.get(f"/p/other-place/manage/{token}", headers=HTML)
    assert page.status_code == 404
    assert "Practice other-place" in page.text


async def test_time_page_never_shows_days_before_today(client: Client, factory: Factory) -> None:
    demo = await _demo(client, factory)
    today = dt.datetime.now(NEW_YORK).date()
    page = await client.get(
        f"/p/demo/book/time?service_id={demo.massage}&therapist_id=any&week=2000-01-03", headers=HTML
    )
    assert page.status_code == 200
    assert f'aria-labelledby="day-{today.isoformat()}"' in page.text
    assert "Previous week" not in page.text
