"""Practice set-up by the owner: therapists, rooms, services, weekly hours, time off, extra hours, policy."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from scheduler.practice.models import Role
from tests.integration.conftest import PASSWORD, Factory, Staff

Client = AsyncTestClient[Litestar]

VALID_NPI = "1234567893"
WEEK = [
    {"weekday": 0, "start": "09:00", "end": "12:00"},
    {"weekday": 0, "start": "13:00", "end": "17:00"},
    {"weekday": 2, "start": "10:00", "end": "18:30"},
]


def _problem(response: Any, status: set[int] | int) -> dict[str, Any]:
    expected = status if isinstance(status, set) else {status}
    assert response.status_code in expected, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


async def _post(client: Client, staff: Staff, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"/api/v1{path}", json=body, headers=staff.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _catalogue(client: Client, owner: Staff) -> dict[str, Any]:
    """Two rooms, one service hosted in the first, one therapist who performs it, with hours."""
    willow = await _post(client, owner, "/rooms", {"name": "Willow"})
    cedar = await _post(client, owner, "/rooms", {"name": "Cedar"})
    service = await _post(
        client,
        owner,
        "/services",
        {"name": "Therapeutic massage", "duration_minutes": 60, "price": 12000, "room_ids": [willow["id"]]},
    )
    therapist = await _post(
        client, owner, "/therapists", {"first_name": "Maya", "last_name": "Okafor", "service_ids": [service["id"]]}
    )
    put = await client.put(f"/api/v1/therapists/{therapist['id']}/hours", json={"items": WEEK}, headers=owner.headers)
    assert put.status_code == 200, put.text
    return {"willow": willow, "cedar": cedar, "service": service, "therapist": therapist}


async def test_owner_sets_up_rooms_services_and_a_therapist(client: Client, factory: Factory) -> None:
    practice = await factory.practice()
    owner = await factory.staff(practice)
    willow = await _post(client, owner, "/rooms", {"name": "Willow"})
    cedar = await _post(client, owner, "/rooms", {"name": "Cedar"})
    service = await _post(
        client,
        owner,
        "/services",
        {
            "name": "Deep tissue (90 min)",
            "description": "Slow, deep work.",
            "duration_minutes": 90,
            "price": 16500,
            "cpt_code": "97124",
            "fsa_eligible": True,
            "buffer_before_minutes": 5,
            "buffer_after_minutes": 15,
            "bookable_online": False,
            "room_ids": [willow["id"], cedar["id"], willow["id"]],
        },
    )
    assert service["price"] == 16500
    assert service["currency"] == "USD"
    assert service["cpt_code"] == "97124"
    assert service["bookable_online"] is False
    assert (service["buffer_before_minutes"], service["buffer_after_minutes"]) == (5, 15)
    assert sorted(service["room_ids"]) == sorted([willow["id"], cedar["id"]])

    therapist = await _post(
        client,
        owner,
        "/therapists",
        {
            "first_name": "Maya",
            "last_name": "Okafor",
            "credential": "LMT",
            "license_number": "MA-60121",
            "license_state": "NY",
            "npi": VALID_NPI,
            "bio": "Pain relief and recovery.",
            "service_ids": [service["id"]],
        },
    )
    assert therapist["name"] == "Maya Okafor, LMT"
    assert therapist["npi"] == VALID_NPI
    assert therapist["service_ids"] == [service["id"]]
    assert therapist["is_active"] is True

    fetched = await client.get(f"/api/v1/therapists/{therapist['id']}", headers=owner.headers)
    assert fetched.json() == therapist

    patched = await client.patch(
        f"/api/v1/therapists/{therapist['id']}",
        json={"bio": "Sports massage too.", "npi": None, "service_ids": []},
        headers=owner.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["bio"] == "Sports massage too."
    assert patched.json()["npi"] is None
    assert patched.json()["service_ids"] == []
    assert patched.json()["license_number"] == "MA-60121", "fields left out of a PATCH are kept"

    # A service with no rooms can use any room.
    anywhere = await client.patch(
        f"/api/v1/services/{service['id']}", json={"room_ids": [], "price": 0, "cpt_code": None}, headers=owner.headers
    )
    assert anywhere.status_code == 200, anywhere.text
    assert (anywhere.json()["room_ids"], anywhere.json()["price"], anywhere.json()["cpt_code"]) == ([], 0, None)

    renamed = await client.patch(f"/api/v1/rooms/{cedar['id']}", json={"name": "Cedar Room"}, headers=owner.headers)
    assert renamed.json() == {"id": cedar["id"], "name": "Cedar Room", "is_active": True}


async def test_delete_deactivates_and_keeps_the_row(client: Client, factory: Factory) -> None:
    practice = await factory.practice()
    owner = await factory.staff(practice)
    made = await _catalogue(client, owner)
    for kind, key in (("therapists", "therapist"), ("rooms", "cedar"), ("services", "service")):
        object_id = made[key]["id"]
        assert (await client.delete(f"/api/v1/{kind}/{object_id}", headers=owner.headers)).status_code == 204
        active = (await client.get(f"/api/v1/{kind}", headers=owner.headers)).json()["items"]
        assert object_id not in {item["id"] for item in active}
        everything = (await client.get(f"/api/v1/{kind}?include_inactive=true", headers=owner.headers)).json()
        kept = [item for item in everything["items"] if item["id"] == object_id]
        assert [item["is_active"] for item in kept] == [False]
        again = await client.patch(f"/api/v1/{kind}/{object_id}", json={"is_active": True}, headers=owner.headers)
        assert again.json()["is_active"] is True
    public = (await client.get(f"/api/v1/practices/{practice.slug}/services")).json()["items"]
    assert [s["id"] for s in public] == [made["service"]["id"]]


async def test_weekly_hours_are_replaced_as_a_whole_week(client: Client, factory: Factory) -> None:
    practice = await factory.practice()
    owner = await factory.staff(practice)
    therapist_id = (await _catalogue(client, owner))["therapist"]["id"]
    hours = await client.get(f"/api/v1/therapists/{therapist_id}/hours", headers=owner.headers)
    assert hours.json() == {"items": WEEK}

    shorter = [{"weekday": 4, "start": "08:00", "end": "12:00"}, {"weekday": 4, "start": "12:00", "end": "16:00"}]
    put = await client.put(f"/api/v1/therapists/{therapist_id}/hours", json={"items": shorter}, headers=owner.headers)
    assert put.json() == {"items": shorter}, "touching intervals are not overlapping"
    assert (await client.get(f"/api/v1/therapists/{therapist_id}/hours", headers=owner.headers)).json() == {
        "items": shorter
    }
    cleared = await client.put(f"/api/v1/therapists/{therapist_id}/hours", json={"items": []}, headers=owner.headers)
    assert cleared.json() == {"items": []}


async def test_time_off_is_stored_as_instants_and_extra_hours_as_local_times(client: Client, factory: Factory) -> None:
    practice = await factory.practice()
    owner = await factory.staff(practice)
    therapist_id = (await _catalogue(client, owner))["therapist"]["id"]
    base = f"/api/v1/therapists/{therapist_id}"

    away = await _post(
        client,
        owner,
        f"/therapists/{therapist_id}/time-off",
        {"start": "2030-07-01T09:00:00-04:00", "end": "2030-07-05T17:00:00-04:00", "reason": "Vacation"},
    )
    assert away["start"] == "2030-07-01T13:00:00Z"
    assert away["end"] == "2030-07-05T21:00:00Z"
    assert away["reason"] == "Vacation"
    listed = (await client.get(f"{base}/time-off", headers=owner.headers)).json()["items"]
    assert [t["id"] for t in listed] == [away["id"]]

    saturday = await _post(
        client,
        owner,
        f"/therapists/{therapist_id}/extra-hours",
        {"day": "2030-07-13", "start": "10:00", "end": "14:00"},
    )
    assert (saturday["day"], saturday["start"], saturday["end"]) == ("2030-07-13", "10:00", "14:00")
    assert [e["id"] for e in (await client.get(f"{base}/extra-hours", headers=owner.headers)).json()["items"]] == [
        saturday["id"]
    ]
    overlapping = await client.post(
        f"{base}/extra-hours", json={"day": "2030-07-13", "start": "13:00", "end": "15:00"}, headers=owner.headers
    )
    assert _problem(overlapping, 422)["field"] == "start"

    assert (await client.delete(f"{base}/time-off/{away['id']}", headers=owner.headers)).status_code == 204
    assert (await client.delete(f"{base}/extra-hours/{saturday['id']}", headers=owner.headers)).status_code == 204
    assert (await client.get(f"{base}/time-off", headers=owner.headers)).json() == {"items": []}
    assert (await client.get(f"{base}/extra-hours", headers=owner.headers)).json() == {"items": []}
    gone = await client.delete(f"{base}/time-off/{away['id']}", headers=owner.headers)
    assert _problem(gone, 404)["field"] == "time_off_id"


async def test_owner_updates_the_booking_policy_and_all_staff_read_it(client: Client, factory: Factory) -> None:
    practice = await factory.practice()
    owner = await factory.staff(practice)
    desk = await factory.staff(practice, Role.DESK)
    before = (await client.get("/api/v1/practice/policy", headers=desk.headers)).json()
    assert before == {
        "min_notice_minutes": 120,
        "horizon_days": 90,
        "slot_granularity_minutes": 15,
        "cancellation_window_hours": 24,
    }
    patched = await client.patch(
        "/api/v1/practice/policy",
        json={"min_notice_minutes": 0, "horizon_days": 730, "slot_granularity_minutes": 30},
        headers=owner.headers,
    )
    assert patched.status_code == 200, patched.text
    after = (await client.get("/api/v1/practice/policy", headers=desk.headers)).json()
    assert after == {**before, "min_notice_minutes": 0, "horizon_days": 730, "slot_granularity_minutes": 30}


async def test_desk_and_therapist_get_403_on_every_write(client: Client, factory: Factory) -> None:
    practice = await factory.practice()
    owner = await factory.staff(practice)
    made = await _catalogue(client, owner)
    therapist_id, room_id, service_id = made["therapist"]["id"], made["cedar"]["id"], made["service"]["id"]
    time_off = await _post(
        client,
        owner,
        f"/therapists/{therapist_id}/time-off",
        {"start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"},
    )
    extra = await _post(
        client,
        owner,
        f"/therapists/{therapist_id}/extra-hours",
        {"day": "2030-01-05", "start": "10:00", "end": "12:00"},
    )
    writes: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", "/therapists", {"first_name": "A", "last_name": "B"}),
        ("PATCH", f"/therapists/{therapist_id}", {"bio": "x"}),
        ("DELETE", f"/therapists/{therapist_id}", None),
        ("PUT", f"/therapists/{therapist_id}/hours", {"items": []}),
        (
            "POST",
            f"/therapists/{therapist_id}/time-off",
            {"start": "2030-02-01T00:00:00Z", "end": "2030-02-02T00:00:00Z"},
        ),
        ("DELETE", f"/therapists/{therapist_id}/time-off/{time_off['id']}", None),
        ("POST", f"/therapists/{therapist_id}/extra-hours", {"day": "2030-02-01", "start": "10:00", "end": "11:00"}),
        ("DELETE", f"/therapists/{therapist_id}/extra-hours/{extra['id']}", None),
        ("POST", "/rooms", {"name": "Annex"}),
        ("PATCH", f"/rooms/{room_id}", {"name": "Annex"}),
        ("DELETE", f"/rooms/{room_id}", None),
        ("POST", "/services", {"name": "Chair", "duration_minutes": 30, "price": 4500}),
        ("PATCH", f"/services/{service_id}", {"price": 1}),
        ("DELETE", f"/services/{service_id}", None),
        ("PATCH", "/practice/policy", {"horizon_days": 10}),
    ]
    for role in (Role.DESK, Role.THERAPIST):
        outsider = await factory.staff(practice, role)
        for method, path, body in writes:
            response = await client.request(method, f"/api/v1{path}", json=body, headers=outsider.headers)
            assert _problem(response, 403)["code"] == "permission_denied", (role, method, path)
        # and reading stays open to every member of staff
        for path in ("/therapists", f"/therapists/{therapist_id}/hours", "/rooms", "/services", "/practice/policy"):
            assert (await client.get(f"/api/v1{path}", headers=outsider.headers)).status_code == 200
    assert (await client.get(f"/api/v1/therapists/{therapist_id}/hours", headers=owner.headers)).json() == {
        "items": WEEK
    }
    assert (await client.get("/api/v1/practice/policy", headers=owner.headers)).json()["horizon_days"] == 90
    assert len((await client.get("/api/v1/rooms", headers=owner.headers)).json()["items"]) == 2


BAD_INPUTS: list[tuple[str, str, str, dict[str, Any], str]] = [
    # (name, method, path template, body, field at fault)
    (
        "overlapping hours",
        "PUT",
        "/therapists/{therapist}/hours",
        {"items": [*WEEK, {"weekday": 0, "start": "11:30", "end": "12:30"}]},
        "items[3].start",
    ),
    (
        "end before start",
        "PUT",
        "/therapists/{therapist}/hours",
        {"items": [*WEEK, {"weekday": 1, "start": "17:00", "end": "09:00"}]},
        "items[3].end",
    ),
    (
        "weekday out of range",
        "PUT",
        "/therapists/{therapist}/hours",
        {"items": [{"weekday": 7, "start": "09:00", "end": "17:00"}]},
        "items[0].weekday",
    ),
    (
        "malformed time",
        "PUT",
        "/therapists/{therapist}/hours",
        {"items": [{"weekday": 1, "start": "9am", "end": "17:00"}]},
        "items[0].start",
    ),
    (
        "unknown field in an hours item",
        "PUT",
        "/therapists/{therapist}/hours",
        {"items": [{"weekday": 1, "start": "09:00", "end": "17:00", "room": "x"}]},
        "items[0].room",
    ),
    (
        "bad CPT code",
        "POST",
        "/services",
        {"name": "Odd", "duration_minutes": 60, "price": 100, "cpt_code": "9712"},
        "cpt_code",
    ),
    ("negative price", "POST", "/services", {"name": "Odd", "duration_minutes": 60, "price": -1}, "price"),
    ("too short", "POST", "/services", {"name": "Odd", "duration_minutes": 4, "price": 1}, "duration_minutes"),
    ("price as a float", "POST", "/services", {"name": "Odd", "duration_minutes": 60, "price": 12.5}, "price"),
    (
        "buffer too long",
        "PATCH",
        "/services/{service}",
        {"buffer_after_minutes": 121},
        "buffer_after_minutes",
    ),
    ("empty service name", "PATCH", "/services/{service}", {"name": "  "}, "name"),
    (
        "room of another practice",
        "PATCH",
        "/services/{service}",
        {"room_ids": ["{cedar}", "{foreign_room}"]},
        "room_ids[1]",
    ),
    (
        "service of another practice",
        "POST",
        "/therapists",
        {"first_name": "Nia", "last_name": "Cole", "service_ids": ["{foreign_service}"]},
        "service_ids[0]",
    ),
    (
        "malformed service id",
        "PATCH",
        "/therapists/{therapist}",
        {"service_ids": ["{service}", "not-a-uuid"]},
        "service_ids[1]",
    ),
    ("bad NPI check digit", "PATCH", "/therapists/{therapist}", {"npi": "1234567890"}, "npi"),
    ("missing last name", "POST", "/therapists", {"first_name": "Nia"}, "last_name"),
    ("unknown field", "POST", "/rooms", {"name": "Annex", "colour": "blue"}, "colour"),
    ("duplicate room name", "POST", "/rooms", {"name": "willow"}, "name"),
    (
        "naive datetime",
        "POST",
        "/therapists/{therapist}/time-off",
        {"start": "2030-07-01T09:00:00", "end": "2030-07-01T17:00:00+00:00"},
        "start",
    ),
    (
        "time off ending before it starts",
        "POST",
        "/therapists/{therapist}/time-off",
        {"start": "2030-07-02T09:00:00Z", "end": "2030-07-01T09:00:00Z"},
        "end",
    ),
    (
        "extra hours on a date that does not exist",
        "POST",
        "/therapists/{therapist}/extra-hours",
        {"day": "2030-02-30", "start": "10:00", "end": "12:00"},
        "day",
    ),
    (
        "extra hours ending before they start",
        "POST",
        "/therapists/{therapist}/extra-hours",
        {"day": "2030-02-03", "start": "12:00", "end": "10:00"},
        "end",
    ),
    (
        "slot granularity off the menu",
        "PATCH",
        "/practice/policy",
        {"slot_granularity_minutes": 7},
        "slot_granularity_minutes",
    ),
    ("horizon too short", "PATCH", "/practice/policy", {"horizon_days": 0}, "horizon_days"),
    ("notice too long", "PATCH", "/practice/policy", {"min_notice_minutes": 10081}, "min_notice_minutes"),
    ("window too long", "PATCH", "/practice/policy", {"cancellation_window_hours": 169}, "cancellation_window_hours"),
]


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], value)
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


async def _snapshot(client: Client, owner: Staff, therapist_id: str) -> dict[str, Any]:
    paths = [
        "/therapists?include_inactive=true",
        "/rooms?include_inactive=true",
        "/services?include_inactive=true",
        "/practice/policy",
        f"/therapists/{therapist_id}/hours",
        f"/therapists/{therapist_id}/time-off",
        f"/therapists/{therapist_id}/extra-hours",
    ]
    return {path: (await client.get(f"/api/v1{path}", headers=owner.headers)).json() for path in paths}


@pytest.mark.parametrize(("case", "method", "path", "body", "field"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
async def test_bad_input_names_the_field_and_stores_nothing(
    client: Client, factory: Factory, case: str, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    practice = await factory.practice()
    owner = await factory.staff(practice)
    made = await _catalogue(client, owner)
    other = await factory.staff(await factory.practice())
    foreign_room = await _post(client, other, "/rooms", {"name": "Elsewhere"})
    foreign_service = await _post(client, other, "/services", {"name": "Elsewhere", "duration_minutes": 30, "price": 1})
    ids = {
        "therapist": made["therapist"]["id"],
        "service": made["service"]["id"],
        "cedar": made["cedar"]["id"],
        "foreign_room": foreign_room["id"],
        "foreign_service": foreign_service["id"],
    }
    before = await _snapshot(client, owner, ids["therapist"])

    response = await client.request(method, f"/api/v1{_fill(path, ids)}", json=_fill(body, ids), headers=owner.headers)

    problem = _problem(response, {400, 409, 422})
    assert problem["field"] == field, (case, problem)
    assert problem["detail"]
    assert await _snapshot(client, owner, ids["therapist"]) == before, f"{case}: nothing is stored"


async def test_ids_of_another_practice_or_malformed_read_as_404(client: Client, factory: Factory) -> None:
    practice = await factory.practice()
    owner = await factory.staff(practice)
    made = await _catalogue(client, owner)
    therapist_id = made["therapist"]["id"]
    time_off = await _post(
        client,
        owner,
        f"/therapists/{therapist_id}/time-off",
        {"start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"},
    )
    outsider = await factory.staff(await factory.practice(), Role.OWNER)
    attempts: list[tuple[str, str, dict[str, Any] | None]] = [
        ("PATCH", f"/therapists/{therapist_id}", {"bio": "mine now"}),
        ("DELETE", f"/therapists/{therapist_id}", None),
        ("GET", f"/therapists/{therapist_id}/hours", None),
        ("PUT", f"/therapists/{therapist_id}/hours", {"items": []}),
        ("DELETE", f"/therapists/{therapist_id}/time-off/{time_off['id']}", None),
        ("POST", f"/therapists/{therapist_id}/extra-hours", {"day": "2030-01-05", "start": "10:00", "end": "12:00"}),
        ("PATCH", f"/rooms/{made['cedar']['id']}", {"name": "Taken"}),
        ("DELETE", f"/services/{made['service']['id']}", None),
        ("PATCH", "/services/not-a-uuid", {"price": 1}),
        ("DELETE", f"/therapists/{therapist_id}/time-off/not-a-uuid", None),
    ]
    for method, path, body in attempts:
        response = await client.request(method, f"/api/v1{path}", json=body, headers=outsider.headers)
        assert _problem(response, 404)["code"] == "not_found", (method, path)
    assert (await client.get(f"/api/v1/therapists/{therapist_id}", headers=owner.headers)).json()["is_active"] is True
    listed = (await client.get(f"/api/v1/therapists/{therapist_id}/time-off", headers=owner.headers)).json()
    assert [t["id"] for t in listed["items"]] == [time_off["id"]]
    # a time-off id of one therapist does not reach through another's path
    second = await _post(client, owner, "/therapists", {"first_name": "Ben", "last_name": "Ng"})
    crossed = await client.delete(f"/api/v1/therapists/{second['id']}/time-off/{time_off['id']}", headers=owner.headers)
    assert _problem(crossed, 404)["field"] == "time_off_id"


# --- owner pages --------------------------------------------------------------------------------------

HTML = {"accept": "text/html"}


def _csrf(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "every form carries a CSRF token"
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


def _forms_without_csrf(html: str) -> list[str]:
    forms = re.findall(r"<form\b.*?</form>", html, flags=re.DOTALL)
    assert forms
    return [form[:80] for form in forms if 'name="_csrf_token"' not in form]


async def test_owner_loads_every_setup_page_and_desk_gets_a_403_page(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    owner = await factory.staff(practice, Role.OWNER)
    desk = await factory.staff(practice, Role.DESK)
    therapist = (await client.get("/api/v1/therapists", headers=owner.headers)).json()["items"][0]
    room = (await client.get("/api/v1/rooms", headers=owner.headers)).json()["items"][0]
    service = (await client.get("/api/v1/services", headers=owner.headers)).json()["items"][0]

    await _sign_in(client, owner.user.email)
    home = await client.get("/staff", headers=HTML)
    assert 'href="/staff/setup"' in home.text, "owners see the Set-up link"
    overview = await client.get("/staff/setup", headers=HTML)
    assert overview.status_code == 200
    assert overview.headers["content-type"].startswith("text/html")
    for expected in ("Practice set-up", "Maya Okafor, LMT", "Willow Room", "Therapeutic Massage (60 min)", "$120.00"):
        assert expected in overview.text
    pages = [
        "/staff/setup",
        "/staff/setup/therapists/new",
        f"/staff/setup/therapists/{therapist['id']}",
        f"/staff/setup/therapists/{therapist['id']}/time-off",
        "/staff/setup/rooms/new",
        f"/staff/setup/rooms/{room['id']}",
        "/staff/setup/services/new",
        f"/staff/setup/services/{service['id']}",
        "/staff/setup/policy",
    ]
    for path in pages:
        page = await client.get(path, headers=HTML)
        assert page.status_code == 200, (path, page.text[:500])
        assert _forms_without_csrf(page.text) == [], path
    edit = await client.get(f"/staff/setup/therapists/{therapist['id']}", headers=HTML)
    assert 'id="h0_0_start" name="h0_0_start" type="time" value="09:00"' in edit.text
    assert 'id="h5_1_end"' in edit.text, "two intervals a day, every day"
    assert (await client.get("/staff/setup/therapists/nope", headers=HTML)).status_code == 404

    # One client throughout: a second one would run on another event loop than the app's pooled connections.
    await client.post("/logout", data={"_csrf_token": _csrf(overview.text)}, headers=HTML, follow_redirects=False)
    signed_out = await client.get("/staff/setup", headers=HTML, follow_redirects=False)
    assert signed_out.status_code in {302, 303, 307}
    assert signed_out.headers["location"].endswith("/login")

    await _sign_in(client, desk.user.email)
    assert 'href="/staff/setup"' not in (await client.get("/staff", headers=HTML)).text
    for path in pages:
        refused = await client.get(path, headers=HTML)
        assert refused.status_code == 403, path
        assert refused.headers["content-type"].startswith("text/html")
        assert "Not allowed for your role" in refused.text
    csrf = _csrf((await client.get("/staff", headers=HTML)).text)
    posted = await client.post("/staff/setup/rooms/new", data={"name": "Annex", "_csrf_token": csrf}, headers=HTML)
    assert posted.status_code == 403
    assert "Annex" not in {
        r["name"] for r in (await client.get("/api/v1/rooms", headers=owner.headers)).json()["items"]
    }


async def test_owner_adds_a_therapist_with_services_and_a_split_week_through_the_form(
    client: Client, factory: Factory
) -> None:
    practice = await factory.practice()
    owner = await factory.staff(practice)
    massage = await _post(client, owner, "/services", {"name": "Massage", "duration_minutes": 60, "price": 100})
    reassess = await _post(client, owner, "/services", {"name": "Re-assess", "duration_minutes": 30, "price": 100})
    csrf = await _sign_in(client, owner.user.email)
    form = await client.get("/staff/setup/therapists/new", headers=HTML)
    assert "Massage" in form.text
    assert "Re-assess" in form.text

    response = await client.post(
        "/staff/setup/therapists/new",
        data={
            "_csrf_token": csrf,
            "first_name": "Nia",
            "last_name": "Cole",
            "credential": "LMT",
            "npi": VALID_NPI,
            "bio": "",
            "service_ids": [massage["id"], reassess["id"]],
            "h0_0_start": "09:00",
            "h0_0_end": "12:00",
            "h0_1_start": "13:00",
            "h0_1_end": "17:00",
            "h3_0_start": "10:00",
            "h3_0_end": "16:00",
            "h3_1_start": "",
            "h3_1_end": "",
        },
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = await client.get(response.headers["location"], headers=HTML)
    assert 'role="status"' in page.text

    listed = (await client.get("/api/v1/therapists", headers=owner.headers)).json()["items"]
    assert [(t["name"], t["npi"]) for t in listed] == [("Nia Cole, LMT", VALID_NPI)]
    assert sorted(listed[0]["service_ids"]) == sorted([massage["id"], reassess["id"]])
    hours = (await client.get(f"/api/v1/therapists/{listed[0]['id']}/hours", headers=owner.headers)).json()
    assert hours == {
        "items": [
            {"weekday": 0, "start": "09:00", "end": "12:00"},
            {"weekday": 0, "start": "13:00", "end": "17:00"},
            {"weekday": 3, "start": "10:00", "end": "16:00"},
        ]
    }


async def test_a_refused_form_shows_the_error_by_its_field_and_stores_nothing(client: Client, factory: Factory) -> None:
    practice = await factory.practice()
    owner = await factory.staff(practice)
    made = await _catalogue(client, owner)
    therapist_id = made["therapist"]["id"]
    csrf = await _sign_in(client, owner.user.email)

    refused = await client.post(
        f"/staff/setup/therapists/{therapist_id}",
        data={
            "_csrf_token": csrf,
            "first_name": "Renamed",
            "last_name": "Okafor",
            "h0_0_start": "09:00",
            "h0_0_end": "12:00",
            "h0_1_start": "11:00",
            "h0_1_end": "13:00",
        },
        headers=HTML,
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert 'role="alert"' in refused.text
    assert 'id="h0_1_start" name="h0_1_start" type="time" value="11:00" aria-invalid="true"' in refused.text
    assert 'value="Renamed"' in refused.text, "what was typed is kept"
    therapist = (await client.get(f"/api/v1/therapists/{therapist_id}", headers=owner.headers)).json()
    assert therapist["first_name"] == "Maya", "the details were not half-saved"
    hours = (await client.get(f"/api/v1/therapists/{therapist_id}/hours", headers=owner.headers)).json()
    assert hours == {"items": WEEK}

    bad_price = await client.post(
        "/staff/setup/services/new",
        data={
            "_csrf_token": csrf,
            "name": "Hot stones",
            "duration_minutes": "60",
            "price": "12.345",
            "buffer_before_minutes": "0",
            "buffer_after_minutes": "0",
        },
        headers=HTML,
    )
    assert bad_price.status_code == 400
    assert 'id="price"' in bad_price.text
    assert 'aria-invalid="true" aria-describedby="price-error"' in bad_price.text
    names = {s["name"] for s in (await client.get("/api/v1/services", headers=owner.headers)).json()["items"]}
    assert "Hot stones" not in names


async def test_owner_manages_rooms_services_policy_and_absences_through_the_pages(
    client: Client, factory: Factory
) -> None:
    practice = await factory.practice()  # America/New_York
    owner = await factory.staff(practice)
    therapist = await _post(client, owner, "/therapists", {"first_name": "Ben", "last_name": "Ng"})
    csrf = await _sign_in(client, owner.user.email)

    async def submit(path: str, data: dict[str, Any]) -> str:
        response = await client.post(path, data={"_csrf_token": csrf, **data}, headers=HTML, follow_redirects=False)
        assert response.status_code == 303, (path, response.text[:2000])
        return str(response.headers["location"])

    await submit("/staff/setup/rooms/new", {"name": "Annex"})
    room = (await client.get("/api/v1/rooms", headers=owner.headers)).json()["items"][0]
    assert room["name"] == "Annex"
    await submit(
        "/staff/setup/services/new",
        {
            "name": "Hot stones",
            "description": "Warm basalt.",
            "duration_minutes": "75",
            "price": "120.50",
            "cpt_code": "",
            "buffer_before_minutes": "5",
            "buffer_after_minutes": "10",
            "fsa_eligible": "on",
            "room_ids": [room["id"]],
        },
    )
    service = (await client.get("/api/v1/services", headers=owner.headers)).json()["items"][0]
    assert (service["price"], service["duration_minutes"], service["cpt_code"]) == (12050, 75, None)
    assert (service["fsa_eligible"], service["bookable_online"], service["room_ids"]) == (True, False, [room["id"]])
    edit = await client.get(f"/staff/setup/services/{service['id']}", headers=HTML)
    assert 'value="120.50"' in edit.text

    await submit(f"/staff/setup/rooms/{room['id']}/active", {})
    assert (await client.get("/api/v1/rooms", headers=owner.headers)).json()["items"] == []

    await submit(
        "/staff/setup/policy",
        {
            "min_notice_minutes": "60",
            "horizon_days": "30",
            "slot_granularity_minutes": "30",
            "cancellation_window_hours": "48",
        },
    )
    policy = (await client.get("/api/v1/practice/policy", headers=owner.headers)).json()
    assert policy == {
        "min_notice_minutes": 60,
        "horizon_days": 30,
        "slot_granularity_minutes": 30,
        "cancellation_window_hours": 48,
    }

    absences = f"/staff/setup/therapists/{therapist['id']}"
    await submit(
        f"{absences}/time-off",
        {
            "start_day": "2030-07-01",
            "start_time": "09:00",
            "end_day": "2030-07-03",
            "end_time": "17:00",
            "reason": "Course",
        },
    )
    time_off = (await client.get(f"/api/v1/therapists/{therapist['id']}/time-off", headers=owner.headers)).json()
    assert [(t["start"], t["end"], t["reason"]) for t in time_off["items"]] == [
        ("2030-07-01T13:00:00Z", "2030-07-03T21:00:00Z", "Course")
    ], "local New York times become UTC instants"
    await submit(f"{absences}/extra-hours", {"extra_day": "2030-07-06", "extra_start": "10:00", "extra_end": "14:00"})
    page = await client.get(f"{absences}/time-off", headers=HTML)
    assert "Mon, Jul 1, 2030, 9:00 AM" in page.text
    assert "Sat, Jul 6, 2030" in page.text
    assert _forms_without_csrf(page.text) == []

    # 02:30 on 10 March 2030 does not exist in New York (the clocks go forward).
    gap = await client.post(
        f"{absences}/time-off",
        data={
            "_csrf_token": csrf,
            "start_day": "2030-03-10",
            "start_time": "02:30",
            "end_day": "2030-03-10",
            "end_time": "05:00",
        },
        headers=HTML,
    )
    assert gap.status_code == 400
    assert 'aria-invalid="true" aria-describedby="start_time-error"' in gap.text

    extra_id = (await client.get(f"/api/v1/therapists/{therapist['id']}/extra-hours", headers=owner.headers)).json()[
        "items"
    ][0]["id"]
    await submit(f"{absences}/extra-hours/{extra_id}/delete", {})
    await submit(f"{absences}/time-off/{time_off['items'][0]['id']}/delete", {})
    assert (await client.get(f"/api/v1/therapists/{therapist['id']}/time-off", headers=owner.headers)).json() == {
        "items": []
    }


async def test_demo_therapist_saves_unchanged_from_the_page(client: Client, factory: Factory) -> None:
    """The form posts every field back; saving it unchanged keeps everything as it was."""
    practice = await factory.demo()
    owner = await factory.staff(practice)
    therapist = (await client.get("/api/v1/therapists", headers=owner.headers)).json()["items"][0]
    before = (await client.get(f"/api/v1/therapists/{therapist['id']}/hours", headers=owner.headers)).json()
    await _sign_in(client, owner.user.email)
    page = (await client.get(f"/staff/setup/therapists/{therapist['id']}", headers=HTML)).text
    form = re.search(r'<form method="post" action="/staff/setup/therapists/[^"]+" novalidate>(.*?)</form>', page, re.S)
    assert form
    data: dict[str, Any] = {}
    for tag in re.findall(r"<input\b[^>]*>", form.group(1)):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if not name or ('type="checkbox"' in tag and " checked" not in tag):
            continue
        data.setdefault(name.group(1), []).append(value.group(1) if value else "")
    bio = re.search(r'<textarea id="bio" name="bio"[^>]*>(.*?)</textarea>', form.group(1), re.S)
    assert bio
    data["bio"] = [bio.group(1)]
    saved = await client.post(
        f"/staff/setup/therapists/{therapist['id']}", data=data, headers=HTML, follow_redirects=False
    )
    assert saved.status_code == 303, saved.text[:3000]
    after = (await client.get(f"/api/v1/therapists/{therapist['id']}", headers=owner.headers)).json()
    assert after == therapist
    assert (await client.get(f"/api/v1/therapists/{therapist['id']}/hours", headers=owner.headers)).json() == before
