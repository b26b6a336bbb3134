"""The bad-input catalogue, proved over HTTP on the run's database: oversized bodies, wrong content types,
undecodable bytes, unknown fields, absurd dates and amounts, SQL and HTML in every text field, junk in
every path id and abused Authorization headers. Every answer is a 4xx (problem+json on the API, a page
for HTML), never a 500; text is stored and returned verbatim and rendered escaped.

The JSON operations and the paths with ids are read from the OpenAPI document, so an endpoint added
later is covered without editing this file (a path parameter nobody knows a value for fails loudly).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from sqlalchemy import select

from scheduler.db import scope_session, session_scope
from scheduler.mail.models import OutboxMessage
from scheduler.practice.models import Practice, Role
from tests.integration.booking_helpers import Client, at, booking, weekday_ahead
from tests.integration.conftest import PASSWORD, Factory, Staff
from tests.integration.portal_helpers import follow_sign_in_link

HTML = {"accept": "text/html"}
CSRF_RE = re.compile(r'name="_csrf_token" value="([^"]+)"')
PARAM_RE = re.compile(r"\{(\w+)(?::\w+)?\}")

# Text that would run as a script or end an SQL string if anything pasted it instead of binding/escaping it.
PAYLOAD = "<script>alert(1)</script>' OR '1'='1'; DROP TABLE clients; --"
SHORT = "<script>' OR 1=1--"  # for the fields limited to 20 characters
ESCAPED = "&lt;script&gt;"
UNKNOWN = "definitely_not_a_field"

MIB = 1024 * 1024
# Path values that name no row, so "another practice's" value is no different from ours.
NOT_IDS = frozenset({"year_pdf"})
STATEMENT_YEAR = "2026.pdf"
JUNK_IDS = {
    "traversal": "../../etc/passwd",
    "encoded traversal": "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "sql": "' OR 1=1 --",
    "10,000 characters": "a" * 10_000,
    "unicode": "ünïcødé-☃-🙂-ﷺ",
}


def assert_problem(response: Any, *statuses: int, field: str | None = None, where: object = "") -> dict[str, Any]:
    assert response.status_code in statuses, (str(where), response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/problem+json"), (str(where), response.headers)
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    assert body["code"]
    if field is not None:
        assert body.get("field") == field, (str(where), body)
    return body


def assert_escaped(html: str, where: str) -> None:
    assert "<script>" not in html, f"raw <script> on {where}"
    assert ESCAPED in html, f"the escaped text is on {where}"


# --- the scene: the demo practice with a visit, and another practice with one of everything -------------------


@dataclass
class Scene:
    practice: Practice
    owner: Staff
    ids: dict[str, str]  # a valid value for every path parameter, in the demo practice
    foreign: dict[str, str] = field(default_factory=dict)  # the same kinds of ids, of another practice


async def _post(client: Client, staff: Staff | None, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=staff.headers if staff else {})
    assert response.status_code == 201, (path, response.text)
    return dict(response.json())


def _token_of(manage_url: str) -> str:
    return manage_url.rstrip("/").rsplit("/", 1)[1]


async def _practice_ids(client: Client, owner: Staff, slug: str, email: str) -> dict[str, str]:
    """One of every object a path can name, made through the API in the owner's practice."""
    api = "/api/v1"
    rooms = (await client.get(f"{api}/rooms", headers=owner.headers)).json()["items"]
    room = rooms[0] if rooms else await _post(client, owner, f"{api}/rooms", {"name": "Room A"})
    services = (await client.get(f"{api}/services", headers=owner.headers)).json()["items"]
    service = (
        services[0]
        if services
        else await _post(client, owner, f"{api}/services", {"name": "Massage", "duration_minutes": 60, "price": 100})
    )
    therapists = (await client.get(f"{api}/therapists", headers=owner.headers)).json()["items"]
    if therapists:
        therapist = therapists[0]
    else:
        therapist = await _post(
            client,
            owner,
            f"{api}/therapists",
            {"first_name": "Tess", "last_name": "Ray", "service_ids": [service["id"]]},
        )
        week = [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(7)]
        hours = await client.put(
            f"{api}/therapists/{therapist['id']}/hours", json={"items": week}, headers=owner.headers
        )
        assert hours.status_code == 200, hours.text
    therapist_id = str(therapist["id"])
    time_off = await _post(
        client,
        owner,
        f"{api}/therapists/{therapist_id}/time-off",
        {"start": "2031-01-01T00:00:00Z", "end": "2031-01-02T00:00:00Z"},
    )
    extra = await _post(
        client,
        owner,
        f"{api}/therapists/{therapist_id}/extra-hours",
        {"day": "2031-01-04", "start": "08:00", "end": "09:00"},
    )
    day = weekday_ahead()
    booked = await _post(
        client, None, f"{api}/practices/{slug}/bookings", booking(str(service["id"]), therapist_id, at(day, 9), email)
    )
    user = await _post(
        client, owner, f"{api}/users", {"email": f"spare-desk@{slug}.test", "password": PASSWORD, "role": "desk"}
    )
    token = await _post(client, owner, f"{api}/tokens", {"label": "spare"})
    invoice = await _post(client, owner, f"{api}/appointments/{booked['appointment']['id']}/checkout", {})
    payment = await _post(client, owner, f"{api}/invoices/{invoice['id']}/payments", {"method": "cash", "amount": 100})
    plan = await _post(
        client,
        owner,
        f"{api}/treatment-plans",
        {
            "client_id": str(booked["appointment"]["client_id"]),
            "therapist_id": therapist_id,
            "service_id": str(service["id"]),
            "diagnosis_codes": ["M62.830"],
            "frequency": {"freq": "weekly", "weekdays": ["WE"]},
            "sessions": 2,
            "first_start": f"{weekday_ahead(21, 2).isoformat()}T11:00",
        },
    )
    series = await _post(client, owner, f"{api}/treatment-plans/{plan['id']}/series", {"conflict_policy": "skip"})
    client_id = str(booked["appointment"]["client_id"])
    statement = await client.get(f"{api}/clients/{client_id}/statements/{STATEMENT_YEAR}", headers=owner.headers)
    assert statement.status_code == 200, statement.text
    documents = await client.get(f"{api}/clients/{client_id}/documents", headers=owner.headers)
    document_id = str(documents.json()["items"][0]["id"])
    return {
        "slug": slug,
        "therapist_id": therapist_id,
        "room_id": str(room["id"]),
        "service_id": str(service["id"]),
        "client_id": str(booked["appointment"]["client_id"]),
        "appointment_id": str(booked["appointment"]["id"]),
        "token": _token_of(str(booked["manage_url"])),
        "time_off_id": str(time_off["id"]),
        "extra_id": str(extra["id"]),
        "user_id": str(user["id"]),
        "token_id": str(token["id"]),
        "invoice_id": str(invoice["id"]),
        "payment_id": str(payment["id"]),
        "plan_id": str(plan["id"]),
        "series_id": str(series["series"]["id"]),
        "document_id": document_id,
        "document_pdf": f"{document_id}.pdf",
        "appointment_pdf": f"{booked['appointment']['id']}.pdf",
        "credit_note_pdf": f"{document_id}.pdf",
        "year_pdf": STATEMENT_YEAR,
    }


async def _scene(client: Client, factory: Factory, *, foreign: bool = False) -> Scene:
    practice = await factory.demo()
    owner = await factory.staff(practice, Role.OWNER)
    ids = await _practice_ids(client, owner, "demo", "ann@example.test")
    scene = Scene(practice=practice, owner=owner, ids=ids)
    if foreign:
        other = await factory.practice("elsewhere")
        other_owner = await factory.staff(other, Role.OWNER)
        scene.foreign = await _practice_ids(client, other_owner, "elsewhere", "bea@example.test")
        scene.foreign["slug"] = str(other.id)  # a valid UUID, but no practice's address
    return scene


# --- the OpenAPI document -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # the template, /api/v1/clients/{client_id}
    body_schema: dict[str, Any] | None
    query: tuple[tuple[str, Any], ...] = ()  # the required query parameters, with a value of their type

    def url(self, values: dict[str, str]) -> str:
        return PARAM_RE.sub(lambda m: quote(values[m.group(1)], safe=""), self.path)

    @property
    def params(self) -> list[str]:
        return PARAM_RE.findall(self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


async def operations(client: Client) -> list[Operation]:
    doc = (await client.get("/schema/openapi.json")).json()
    found = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            content = (op.get("requestBody") or {}).get("content", {})
            schema = content.get("application/json", {}).get("schema") if content else None
            query = tuple(
                (p["name"], sample(_resolve(doc, p["schema"])))
                for p in op.get("parameters", [])
                if p["in"] == "query" and p.get("required")
            )
            found.append(Operation(method.upper(), path, _resolve(doc, schema) if schema else None, query))
    assert found
    return found


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = doc["components"]["schemas"][name]
    return {**schema, "_doc": doc}


SCALARS: dict[str, Any] = {"integer": 1, "number": 1, "boolean": True, "array": []}
STRINGS = {"date-time": "2031-01-06T10:00:00-05:00", "date": "2031-01-06"}


def sample(schema: dict[str, Any]) -> Any:
    """The smallest value of the schema's shape: only required properties, each of its declared type."""
    doc = schema["_doc"]
    schema = _resolve(doc, schema)
    choices = [_resolve(doc, s) for s in schema.get("oneOf", schema.get("anyOf", [])) if s.get("type") != "null"]
    if choices:
        return sample(choices[0])
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: sample({**props[name], "_doc": doc}) for name in schema.get("required", [])}
    if kind == "string":
        return STRINGS.get(schema.get("format", ""), "x")
    return SCALARS.get(str(kind))


async def json_operations(client: Client) -> list[Operation]:
    ops = [op for op in await operations(client) if op.body_schema is not None]
    assert {op.method for op in ops} == {"POST", "PUT", "PATCH"}
    return ops


# --- oversized bodies ---------------------------------------------------------------------------------------


async def test_every_json_endpoint_refuses_a_body_over_one_mebibyte_with_413(client: Client, factory: Factory) -> None:
    scene = await _scene(client, factory)
    big = json.dumps({"first_name": "x" * (2 * MIB)}).encode()
    for op in await json_operations(client):
        response = await client.request(
            op.method,
            op.url(scene.ids),
            content=big,
            headers={**scene.owner.headers, "content-type": "application/json"},
        )
        body = assert_problem(response, 413, where=op)
        assert body["code"] == "body_too_large", op


async def test_an_oversized_body_is_refused_without_content_length_and_on_forms_too(
    client: Client, factory: Factory
) -> None:
    scene = await _scene(client, factory)
    # Streamed in chunks with no Content-Length: counted as it arrives.
    status, headers, _ = await raw_request(
        client,
        "POST",
        "/api/v1/clients",
        b"",
        {**scene.owner.headers, "content-type": "application/json"},
        body=[b"x" * MIB] * 3,
    )
    assert status == 413
    assert headers["content-type"].startswith("application/problem+json")

    form = await client.post("/login", data={"email": "a@b.test", "password": "x" * (2 * MIB)}, headers=HTML)
    assert form.status_code == 413
    assert "text/html" in form.headers["content-type"]

    # Just under the limit is still read (and refused for what it says, not for its size).
    fits = await client.post(
        "/api/v1/clients",
        json={"first_name": "x" * (MIB // 2), "last_name": "Lee", "email": "big@example.test"},
        headers=scene.owner.headers,
    )
    assert_problem(fits, 400, field="first_name")


# --- wrong content types, undecodable bytes, unknown fields ---------------------------------------------------


async def test_json_endpoints_refuse_other_content_types_with_415_naming_the_body(
    client: Client, factory: Factory
) -> None:
    scene = await _scene(client, factory)
    for op in await json_operations(client):
        assert op.body_schema is not None
        body = sample(op.body_schema)
        url = op.url(scene.ids)
        attempts = {
            "text/plain": {"content": json.dumps(body), "headers": {"content-type": "text/plain"}},
            "form": {"data": {k: str(v) for k, v in body.items()} or {"a": "b"}},
            "multipart": {"files": {"file": ("body.json", json.dumps(body).encode(), "application/json")}},
            "xml": {"content": "<client/>", "headers": {"content-type": "application/xml"}},
        }
        for label, kwargs in attempts.items():
            headers = {**scene.owner.headers, **kwargs.pop("headers", {})}
            response = await client.request(op.method, url, headers=headers, **kwargs)
            problem = assert_problem(response, 415, field="body", where=(op, label))
            assert problem["code"] == "unsupported_media_type", (op, label)
            assert "application/json" in problem["detail"], (op, label)


async def test_json_with_a_charset_or_a_json_suffix_is_accepted(client: Client, factory: Factory) -> None:
    scene = await _scene(client, factory)
    for index, content_type in enumerate(("application/json; charset=utf-8", "application/merge-patch+json")):
        created = await client.post(
            "/api/v1/clients",
            content=json.dumps({"first_name": "Cy", "last_name": "Lee", "email": f"cy{index}@example.test"}),
            headers={**scene.owner.headers, "content-type": content_type},
        )
        assert created.status_code == 201, (content_type, created.text)


async def test_invalid_utf8_or_malformed_json_bodies_are_400_naming_the_body(client: Client, factory: Factory) -> None:
    scene = await _scene(client, factory)
    bodies = {
        "invalid utf-8": b'{"first_name": "\xff\xfe", "last_name": "Lee"}',
        "lone surrogate": b'{"first_name": "\xed\xa0\x80"}',
        "truncated": b'{"first_name": ',
        "not json": b"first_name=Ann",
        "array": b"[1, 2]",
        "null": b"null",
        "deeply nested": b"[" * 100_000 + b"]" * 100_000,
    }
    for op in await json_operations(client):
        for label, raw in bodies.items():
            response = await client.request(
                op.method,
                op.url(scene.ids),
                content=raw,
                headers={**scene.owner.headers, "content-type": "application/json"},
            )
            assert_problem(response, 400, field="body", where=(op, label))


async def test_nul_characters_in_text_are_refused_naming_the_field(client: Client, factory: Factory) -> None:
    """PostgreSQL cannot store U+0000 in text; it is refused up front on both databases alike."""
    scene = await _scene(client, factory)
    response = await client.post(
        "/api/v1/clients",
        json={"first_name": "A\x00nn", "last_name": "Lee", "email": "nul@example.test"},
        headers=scene.owner.headers,
    )
    assert_problem(response, 400, field="first_name")
    nested = await client.post(
        "/api/v1/practices/demo/bookings",
        json={**booking(scene.ids["service_id"], None, at(weekday_ahead(), 11)), "client": {"first_name": "\x00"}},
    )
    assert_problem(nested, 400, field="client.first_name")
    listed = await client.put(
        f"/api/v1/therapists/{scene.ids['therapist_id']}/hours",
        json={"items": [{"weekday": 0, "start": "09:00", "end": "1\x0000"}]},
        headers=scene.owner.headers,
    )
    assert_problem(listed, 400, field="items[0].end")
    json_headers = {**scene.owner.headers, "content-type": "application/json"}
    surrogate = await client.post("/api/v1/clients", content=b'{"last_name": "\\ud800"}', headers=json_headers)
    assert_problem(surrogate, 400, field="body")  # msgspec refuses an unpaired surrogate as malformed JSON
    in_a_name = await client.post("/api/v1/clients", content=b'{"first_\\u0000name": "Ann"}', headers=json_headers)
    assert_problem(in_a_name, 400, field="first_\x00name")
    form = await client.get("/login", headers=HTML)
    login = await client.post(
        "/login", data={"email": "a\x00@b.test", "password": "x", "_csrf_token": _csrf(form.text)}, headers=HTML
    )
    assert login.status_code == 400, login.text
    await sign_in_staff(client, scene.owner)
    form = await client.get("/staff/setup/rooms/new", headers=HTML)
    room = await client.post(
        "/staff/setup/rooms/new", data={"name": "Room\x00A", "_csrf_token": _csrf(form.text)}, headers=HTML
    )
    assert room.status_code == 400, room.text
    for path in ("/api/v1/clients?q=%00", f"/api/v1/practices/demo/manage/{scene.ids['token']}%00"):
        answer = await client.get(path, headers=scene.owner.headers)
        assert_problem(answer, 400, 404)
    for path in ("/staff/book?q=%00", "/p/demo/book/therapist?service_id=%00"):
        page = await client.get(path, headers=HTML)
        assert 400 <= page.status_code < 500, (path, page.status_code)


async def test_invalid_utf8_in_query_strings_is_400(client: Client, factory: Factory) -> None:
    scene = await _scene(client, factory)
    queries = [
        ("/api/v1/clients", b"q=%FF%FE", "q"),
        ("/api/v1/clients", b"q=\xff\xfe", "q"),
        ("/api/v1/clients", b"%FF=1", "query"),
        ("/api/v1/appointments", b"date_from=2031-01-06&date_to=2031-01-07&therapist_id=%C3%28", "therapist_id"),
        (
            "/api/v1/practices/demo/availability",
            b"service_id=%FF&date_from=2031-01-06&date_to=2031-01-07",
            "service_id",
        ),
        ("/api/v1/therapists", b"include_inactive=%ED%A0%80", "include_inactive"),
    ]
    for path, query, field_name in queries:
        status, headers, body = await raw_request(client, "GET", path, query, scene.owner.headers)
        assert status == 400, (path, query, status, body[:300])
        assert headers["content-type"].startswith("application/problem+json")
        assert json.loads(body)["field"] == field_name, body
    status, headers, _ = await raw_request(client, "GET", "/staff/book", b"q=%FF", {"accept": "text/html"})
    assert status in {302, 303, 400}, status  # signed out: to sign-in; never a 500


async def test_every_json_endpoint_names_an_unknown_field(client: Client, factory: Factory) -> None:
    scene = await _scene(client, factory)
    for op in await json_operations(client):
        assert op.body_schema is not None
        body = {**sample(op.body_schema), UNKNOWN: 1}
        response = await client.request(op.method, op.url(scene.ids), json=body, headers=scene.owner.headers)
        assert_problem(response, 400, field=UNKNOWN, where=op)
    # ... and where it is nested, the path to it.
    nested = booking(scene.ids["service_id"], None, at(weekday_ahead(), 11))
    nested["client"][UNKNOWN] = 1
    assert_problem(await client.post("/api/v1/practices/demo/bookings", json=nested), 400, field=f"client.{UNKNOWN}")
    hours = {"items": [{"weekday": 0, "start": "09:00", "end": "12:00", UNKNOWN: 1}]}
    response = await client.put(
        f"/api/v1/therapists/{scene.ids['therapist_id']}/hours", json=hours, headers=scene.owner.headers
    )
    assert_problem(response, 400, field=f"items[0].{UNKNOWN}")


async def test_an_empty_body_where_one_is_required_names_the_body(client: Client, factory: Factory) -> None:
    scene = await _scene(client, factory)
    response = await client.post("/api/v1/clients", headers=scene.owner.headers)
    assert_problem(response, 400, field="body")


# --- dates and amounts -----------------------------------------------------------------------------------------


async def test_huge_date_ranges_are_400_naming_date_to(client: Client, factory: Factory) -> None:
    scene = await _scene(client, factory)
    service = scene.ids["service_id"]
    for query in (
        {"date_from": "2031-01-01", "date_to": "2041-01-01"},
        {"date_from": "0001-01-01", "date_to": "9999-12-31"},
    ):
        available = await client.get("/api/v1/practices/demo/availability", params={"service_id": service, **query})
        assert_problem(available, 400, field="date_to")
        listed = await client.get("/api/v1/appointments", params=query, headers=scene.owner.headers)
        assert_problem(listed, 400, field="date_to")


ABSURD_DAYS = [("9999-12-30", "9999-12-31"), ("0001-01-01", "0001-01-02"), ("9999-12-31", "9999-12-31")]
ABSURD_INSTANTS = ["9999-12-31T23:30:00+00:00", "9999-12-31T23:30:00-12:00", "0001-01-01T00:00:00+14:00"]


async def test_absurd_dates_in_queries_are_4xx_not_500(client: Client, factory: Factory) -> None:
    scene = await _scene(client, factory)
    service = scene.ids["service_id"]
    for date_from, date_to in ABSURD_DAYS:
        query = {"date_from": date_from, "date_to": date_to}
        available = await client.get("/api/v1/practices/demo/availability", params={"service_id": service, **query})
        problem = assert_problem(available, 400)
        assert problem["field"] in {"date_from", "date_to"}
        listed = await client.get("/api/v1/appointments", params=query, headers=scene.owner.headers)
        problem = assert_problem(listed, 400)
        assert problem["field"] in {"date_from", "date_to"}


async def test_absurd_instants_in_bodies_are_4xx_naming_the_field(client: Client, factory: Factory) -> None:
    scene = await _scene(client, factory)
    ids = scene.ids
    for instant in ABSURD_INSTANTS:
        attempts: list[tuple[str, str, dict[str, Any], str, dict[str, str]]] = [
            ("POST", "/api/v1/practices/demo/bookings", booking(ids["service_id"], None, instant), "start", {}),
            (
                "POST",
                "/api/v1/appointments",
                {
                    "client_id": ids["client_id"],
                    "service_id": ids["service_id"],
                    "therapist_id": ids["therapist_id"],
                    "start": instant,
                },
                "start",
                scene.owner.headers,
            ),
            (
                "POST",
                f"/api/v1/appointments/{ids['appointment_id']}/reschedule",
                {"start": instant},
                "start",
                scene.owner.headers,
            ),
            ("POST", f"/api/v1/practices/demo/manage/{ids['token']}/reschedule", {"start": instant}, "start", {}),
            (
                "POST",
                f"/api/v1/therapists/{ids['therapist_id']}/time-off",
                {"start": instant, "end": "2031-01-01T00:00:00Z"}
                if instant.startswith("0001")
                else {"start": "2031-01-01T00:00:00Z", "end": instant},
                "start" if instant.startswith("0001") else "end",
                scene.owner.headers,
            ),
        ]
        for method, path, body, field_name, headers in attempts:
            response = await client.request(method, path, json=body, headers=headers)
            assert_problem(response, 400, 422, field=field_name, where=(path, instant))
    for day in ("9999-12-31", "0001-01-01"):
        extra = await client.post(
            f"/api/v1/therapists/{ids['therapist_id']}/extra-hours",
            json={"day": day, "start": "09:00", "end": "10:00"},
            headers=scene.owner.headers,
        )
        assert_problem(extra, 400, field="day")
    born = await client.post(
        "/api/v1/clients",
        json={"first_name": "Old", "last_name": "Timer", "email": "old@example.test", "date_of_birth": "0001-01-01"},
        headers=scene.owner.headers,
    )
    assert_problem(born, 400, field="date_of_birth")


async def test_absurd_dates_on_pages_are_4xx_not_500(client: Client, factory: Factory) -> None:
    scene = await _scene(client, factory)
    await sign_in_staff(client, scene.owner)
    ids = scene.ids
    for day in ("9999-12-31", "0001-01-01"):
        pages = [
            f"/staff/schedule?date={day}",
            f"/staff/book?date={day}",
            f"/staff/appointments/{ids['appointment_id']}/move?date={day}",
            f"/p/demo/book/time?service_id={ids['service_id']}&week={day}",
        ]
        for path in pages:
            page = await client.get(path, headers=HTML)
            assert page.status_code < 500, (path, page.status_code)
            assert "text/html" in page.headers["content-type"]
    far = await client.get("/staff/schedule?date=9999-12-31", headers=HTML)
    assert far.status_code == 400


@pytest.mark.parametrize(
    ("body", "field_name"),
    [
        ({"price": -1}, "price"),
        ({"price": 10**12}, "price"),
        ({"price": 10**30}, "price"),
        ({"price": 12.5}, "price"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"duration_minutes": 100_000}, "duration_minutes"),
        ({"duration_minutes": -30}, "duration_minutes"),
        ({"buffer_before_minutes": -1}, "buffer_before_minutes"),
        ({"buffer_after_minutes": 10**9}, "buffer_after_minutes"),
    ],
)
async def test_negative_or_absurd_amounts_and_durations_are_400_naming_the_field(
    client: Client, factory: Factory, body: dict[str, Any], field_name: str
) -> None:
    practice = await factory.practice()
    owner = await factory.staff(practice)
    base = {"name": "Massage", "duration_minutes": 60, "price": 100}
    created = await client.post("/api/v1/services", json={**base, **body}, headers=owner.headers)
    assert_problem(created, 400, field=field_name)
    service = await _post(client, owner, "/api/v1/services", base)
    patched = await client.patch(f"/api/v1/services/{service['id']}", json=body, headers=owner.headers)
    assert_problem(patched, 400, field=field_name)
    kept = (await client.get(f"/api/v1/services/{service['id']}", headers=owner.headers)).json()
    assert (kept["price"], kept["duration_minutes"]) == (100, 60)


async def test_absurd_policy_numbers_are_400_naming_the_field(client: Client, factory: Factory) -> None:
    owner = await factory.staff(await factory.practice())
    for name in ("min_notice_minutes", "horizon_days", "slot_granularity_minutes", "cancellation_window_hours"):
        for value in (-1, 10**12, 10**30):
            response = await client.patch("/api/v1/practice/policy", json={name: value}, headers=owner.headers)
            assert_problem(response, 400, field=name)


# --- SQL and HTML in every text field ---------------------------------------------------------------------------


async def test_sql_and_html_in_text_are_stored_and_returned_verbatim(client: Client, factory: Factory) -> None:
    scene = await _scene(client, factory)
    headers = scene.owner.headers
    email = "o'hara<script>@example.test"
    client_body = {
        "first_name": PAYLOAD,
        "last_name": PAYLOAD,
        "email": email,
        "phone": "+1 212 555 0100 <script>",
        "address_line1": PAYLOAD,
        "address_line2": PAYLOAD,
        "city": PAYLOAD,
        "region": PAYLOAD,
        "postal_code": SHORT,
    }
    made = await _post(client, scene.owner, "/api/v1/clients", client_body)
    fetched = (await client.get(f"/api/v1/clients/{made['id']}", headers=headers)).json()
    for name, value in client_body.items():
        assert made[name] == value == fetched[name], name
    patched = await client.patch(f"/api/v1/clients/{made['id']}", json={**client_body, "city": SHORT}, headers=headers)
    assert patched.status_code == 200, patched.text
    assert patched.json()["city"] == SHORT
    # A search with SQL in it is a search for that text, nothing more.
    assert (await client.get("/api/v1/clients", params={"q": "' OR 1=1 --"}, headers=headers)).json()["items"] == []
    found = (await client.get("/api/v1/clients", params={"q": "drop table"}, headers=headers)).json()["items"]
    assert [c["id"] for c in found] == [made["id"]]

    therapist_body = {
        "first_name": PAYLOAD,
        "last_name": PAYLOAD,
        "credential": SHORT,
        "license_number": SHORT,
        "license_state": SHORT,
        "bio": PAYLOAD * 3,
    }
    therapist = await _post(client, scene.owner, "/api/v1/therapists", therapist_body)
    again = (await client.get(f"/api/v1/therapists/{therapist['id']}", headers=headers)).json()
    for name, value in therapist_body.items():
        assert therapist[name] == value == again[name], name

    service_body = {"name": PAYLOAD, "description": PAYLOAD * 3, "duration_minutes": 30, "price": 100}
    service = await _post(client, scene.owner, "/api/v1/services", service_body)
    assert (service["name"], service["description"]) == (PAYLOAD, PAYLOAD * 3)
    room = await _post(client, scene.owner, "/api/v1/rooms", {"name": PAYLOAD})
    assert (await client.get(f"/api/v1/rooms/{room['id']}", headers=headers)).json()["name"] == PAYLOAD
    time_off = await _post(
        client,
        scene.owner,
        f"/api/v1/therapists/{therapist['id']}/time-off",
        {"start": "2031-02-01T00:00:00Z", "end": "2031-02-02T00:00:00Z", "reason": PAYLOAD},
    )
    assert time_off["reason"] == PAYLOAD
    token = await _post(client, scene.owner, "/api/v1/tokens", {"label": PAYLOAD})
    assert token["label"] == PAYLOAD
    user = await _post(
        client,
        scene.owner,
        "/api/v1/users",
        {"email": "x'<b>@demo.test", "password": PASSWORD, "role": "desk", "full_name": PAYLOAD},
    )
    assert (user["email"], user["full_name"]) == ("x'<b>@demo.test", PAYLOAD)

    cancelled = await client.post(
        f"/api/v1/appointments/{scene.ids['appointment_id']}/cancel", json={"reason": PAYLOAD}, headers=headers
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["cancel_reason"] == PAYLOAD
    listed = (await client.get("/api/v1/clients", headers=headers)).json()["items"]
    assert len(listed) == 2, "nothing was dropped or rewritten"


async def test_sql_and_html_in_text_are_rendered_escaped_on_every_page(client: Client, factory: Factory) -> None:
    scene = await _scene(client, factory)
    headers = scene.owner.headers
    ids = scene.ids
    # The public booking pages: a service's name and description, a therapist's name and bio.
    service = await client.patch(
        f"/api/v1/services/{ids['service_id']}", json={"name": PAYLOAD, "description": PAYLOAD}, headers=headers
    )
    assert service.status_code == 200, service.text
    therapist = await client.patch(
        f"/api/v1/therapists/{ids['therapist_id']}", json={"bio": PAYLOAD, "credential": SHORT}, headers=headers
    )
    assert therapist.status_code == 200, therapist.text
    for path in ("/p/demo/book", f"/p/demo/book/therapist?service_id={ids['service_id']}"):
        page = await client.get(path, headers=HTML)
        assert page.status_code == 200, page.text
        assert_escaped(page.text, path)
    assert PAYLOAD.replace("<", "&lt;").replace(">", "&gt;").split("'")[0] in page.text

    # A client whose name is the payload books online: the staff schedule, the appointment page and the
    # confirmation in the outbox all show the name escaped.
    day = weekday_ahead(days=8)
    body = booking(ids["service_id"], ids["therapist_id"], at(day, 14), "o'hara<script>@example.test")
    body["client"] |= {"first_name": PAYLOAD, "last_name": PAYLOAD}
    booked = await _post(client, None, "/api/v1/practices/demo/bookings", body)
    appointment_id = booked["appointment"]["id"]
    cancelled = await client.post(
        f"/api/v1/practices/demo/manage/{_token_of(booked['manage_url'])}/cancel", json={"reason": PAYLOAD}
    )
    assert cancelled.status_code == 200, cancelled.text
    manage = await client.get(f"/p/demo/manage/{_token_of(booked['manage_url'])}", headers=HTML)
    assert manage.status_code == 200
    assert "<script>" not in manage.text

    await sign_in_staff(client, scene.owner)
    pages = [
        f"/staff/schedule?date={day.isoformat()}",
        f"/staff/appointments/{appointment_id}",
        f"/staff/book?date={day.isoformat()}&client_id={booked['appointment']['client_id']}",
        "/staff/outbox",
        f"/staff/setup/therapists/{ids['therapist_id']}",
        f"/staff/setup/services/{ids['service_id']}",
    ]
    message_ids = await outbox_ids(factory, scene.practice, to="o'hara<script>@example.test")
    assert len(message_ids) == 2, "the confirmation and the cancellation notice"
    pages += [f"/staff/outbox/{message_id}" for message_id in message_ids]
    for path in pages:
        page = await client.get(path, headers=HTML)
        assert page.status_code == 200, (path, page.text[:300])
        assert_escaped(page.text, path)


# --- junk in every id of every path --------------------------------------------------------------------------


def junk_values(scene: Scene, param: str) -> Iterator[tuple[str, str]]:
    yield from JUNK_IDS.items()
    if param not in NOT_IDS:
        yield "another practice's id", scene.foreign[param]


async def test_junk_in_every_api_path_id_is_404_problem_json(client: Client, factory: Factory) -> None:
    scene = await _scene(client, factory, foreign=True)
    tried = 0
    for op in await operations(client):
        if op.path.startswith("/feeds/"):
            continue  # the path IS the credential, valid across practices; tests/integration/test_feeds.py
        for param in op.params:
            assert param in scene.ids, f"{op}: no known value for {{{param}}}"
            body = sample(op.body_schema) if op.body_schema else None
            for label, junk in junk_values(scene, param):
                url = op.url({**scene.ids, param: junk})
                if label == "traversal":  # unencoded, as a careless client would send it
                    url = op.path.replace("{" + param + "}", junk)
                    url = PARAM_RE.sub(lambda m: scene.ids[m.group(1)], url)
                response = await client.request(
                    op.method, url, params=dict(op.query), json=body, headers=scene.owner.headers
                )
                assert_problem(response, 404, where=(op, param, label))
                tried += 1
    assert tried > 100
    # Nothing of the other practice was touched by the attempts (DELETEs included).
    other = await factory.staff(await _practice_by_slug(factory, "elsewhere"), Role.OWNER)
    for path in ("/api/v1/rooms", "/api/v1/services", "/api/v1/therapists"):
        assert (await client.get(path, headers=other.headers)).json()["items"], path
    tokens = (await client.get("/api/v1/tokens", headers=other.headers)).json()["items"]
    assert not any(t["revoked"] for t in tokens)


async def sandbox_checkout_id(app: Litestar) -> str:
    session = await app.state.payment_gateway.create_checkout_session(
        "bad-input:checkout",
        customer=None,
        amount=1000,
        currency="usd",
        description="Test",
        success_url="http://testserver.local/done",
        cancel_url="http://testserver.local/back",
    )
    return str(session.id)


def html_get_routes(app: Litestar) -> list[str]:
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith(("/api/", "/static", "/schema", "/feeds/")):
            continue
        if "GET" in route.methods and PARAM_RE.search(route.path):
            found.append(route.path)
    return sorted(set(found))


async def test_junk_in_every_page_path_id_is_a_404_page(app: Litestar, client: Client, factory: Factory) -> None:
    scene = await _scene(client, factory, foreign=True)
    await sign_in_staff(client, scene.owner)
    await sign_in_portal(client, factory, scene.practice, "ann@example.test")
    values = {**scene.ids, "message_id": (await outbox_ids(factory, scene.practice))[0]}
    foreign_message = (await outbox_ids(factory, await _practice_by_slug(factory, "elsewhere")))[0]
    values["session_id"] = await sandbox_checkout_id(app)
    paths = html_get_routes(app)
    assert "/staff/appointments/{appointment_id:str}" in paths
    for template in paths:
        for param in PARAM_RE.findall(template):
            assert param in values, f"{template}: no known value for {{{param}}}"
            # A sandbox checkout belongs to no practice (like Stripe's hosted page), and a statement year names
            # no row: only junk applies to them.
            if param == "session_id" or param in NOT_IDS:
                foreign = []
            else:
                foreign = [
                    ("another practice's id", foreign_message if param == "message_id" else scene.foreign[param])
                ]
            for label, junk in [*JUNK_IDS.items(), *foreign]:
                url = PARAM_RE.sub(
                    lambda m, p=param, j=junk: quote(j if m.group(1) == p else values[m.group(1)], safe=""), template
                )
                response = await client.get(url, headers=HTML, follow_redirects=False)
                # An unusable sign-in or intake link is "gone" (410), whatever it looks like; the rest is 404.
                link = "sign-in" in template or "/intake/" in template
                expected = {404, 410} if link and param == "token" else {404}
                assert response.status_code in expected, (template, param, label, response.status_code)
                assert "text/html" in response.headers["content-type"], (template, label)
    for day in ("9999-12-31", "0001-01-01", "2999-12-31"):
        portal = await client.get(f"/p/demo/portal/appointments/{values['appointment_id']}?date={day}", headers=HTML)
        assert portal.status_code == 200, (day, portal.status_code)


async def test_an_unusable_sign_in_link_is_gone_whether_opened_or_confirmed(client: Client, factory: Factory) -> None:
    await factory.demo()
    csrf_token = _csrf((await client.get("/p/demo/portal", headers=HTML)).text)
    never_issued = {"well-formed but never issued": "q" * 43}
    for label, junk in {**JUNK_IDS, **never_issued}.items():
        url = f"/p/demo/portal/sign-in/{quote(junk, safe='')}"
        opened = await client.get(url, headers=HTML, follow_redirects=False)
        confirmed = await client.post(url, data={"_csrf_token": csrf_token}, headers=HTML, follow_redirects=False)
        # Opening and confirming answer alike: 410 "gone" for any token, 404 where the path matches no route.
        assert opened.status_code == confirmed.status_code, (label, opened.status_code, confirmed.status_code)
        assert opened.status_code in ({410} if label in never_issued else {404, 410}), (label, opened.status_code)
        for response in (opened, confirmed):
            assert "text/html" in response.headers["content-type"], label
            assert "Sign in</button>" not in response.text, label
            if response.status_code == 410:
                assert "This link has expired" in response.text, label


async def test_path_traversal_under_static_is_404(client: Client) -> None:
    for path in (
        "/static/..%2f..%2f..%2fetc%2fpasswd",
        "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%5c..%5cscheduler%5capp.py",
        "/static/%00",
        "/static/" + "a" * 10_000,
    ):
        response = await client.get(path)
        assert response.status_code == 404, (path, response.status_code)
        assert "root:" not in response.text


# --- header abuse ------------------------------------------------------------------------------------------------


async def test_abused_authorization_headers_are_401_problem_json(client: Client, factory: Factory) -> None:
    scene = await _scene(client, factory)
    values: list[str | bytes] = [
        "Basic Zm9vOmJhcg==",
        'Digest username="x"',
        "Bearer",
        "Bearer ",
        "Bearer\t" + scene.owner.token[:-1],
        "bearer " + scene.owner.token[:-1] + "X",
        "Token " + scene.owner.token,
        "Bearer a b c",
        "Bearer " + "x" * 100_000,
        "x" * 100_000,
        "Bearer tökén-€".encode(),
        "Bearer ünicode".encode("latin-1"),
        b"Bearer \xff\xfe\xfd",
        b"\xff\xfe",
        "Bearer ' OR 1=1 --",
        "Bearer %00",
    ]
    for value in values:
        status, headers, body = await raw_request(client, "GET", "/api/v1/practice", b"", {"authorization": value})
        assert status == 401, (value[:40], status, body[:300])
        assert headers["content-type"].startswith("application/problem+json")
        assert headers.get("www-authenticate", "").startswith("Bearer")
    # Two Authorization headers, both junk: 401, never a 500.
    status, _, _ = await raw_request(
        client, "GET", "/api/v1/practice", b"", [("authorization", "Basic x"), ("authorization", "Bearer junk")]
    )
    assert status == 401
    # A garbage session cookie on a page is just "not signed in".
    for cookie in ("carebook_session=" + "x" * 5000, "carebook_session=ünï", "carebook_session=%00; x=\xff"):
        status, headers, _ = await raw_request(client, "GET", "/staff", b"", {"cookie": cookie, "accept": "text/html"})
        assert status in {302, 303}, (cookie[:30], status)
    status, headers, body = await raw_request(
        client, "POST", "/api/v1/clients", b"", {**scene.owner.headers, "content-length": "abc"}
    )
    assert status == 400, (status, body[:300])


# --- helpers: raw ASGI requests, signing in, the outbox -------------------------------------------------------


async def raw_request(
    client: Client,
    method: str,
    path: str,
    query: bytes,
    headers: dict[str, str | bytes] | list[tuple[str, str | bytes]],
    body: bytes | list[bytes] = b"",
) -> tuple[int, dict[str, str], bytes]:
    """One request straight into the ASGI app, with bytes no HTTP client library would send. It runs where the
    test client runs the app (its portal's event loop), so pooled database connections stay on their loop."""
    pairs = headers.items() if isinstance(headers, dict) else headers
    raw_headers = [(b"host", b"testserver.local")] + [
        (k.lower().encode("latin-1"), v if isinstance(v, bytes) else v.encode("utf-8")) for k, v in pairs
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver.local", 80),
        "state": {},
    }
    chunks = [body] if isinstance(body, bytes) else list(body)
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if chunks:
            return {"type": "http.request", "body": chunks.pop(0), "more_body": bool(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    with client.portal() as portal:
        portal.call(client.app, scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    response_headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]}
    content = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start["status"], response_headers, content


def _csrf(page: str) -> str:
    match = CSRF_RE.search(page)
    assert match, "the page carries a CSRF token"
    return match.group(1)


async def sign_in_staff(client: Client, staff: Staff) -> None:
    form = await client.get("/login", headers=HTML)
    response = await client.post(
        "/login",
        data={"email": staff.user.email, "password": PASSWORD, "_csrf_token": _csrf(form.text)},
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


async def sign_in_portal(client: Client, factory: Factory, practice: Practice, address: str) -> None:
    form = await client.get(f"/p/{practice.slug}/portal", headers=HTML)
    sent = await client.post(
        f"/p/{practice.slug}/portal", data={"email": address, "_csrf_token": _csrf(form.text)}, headers=HTML
    )
    assert sent.status_code == 200, sent.text
    async with session_scope(factory.alchemy) as session:
        scope_session(session, practice.id)
        bodies = list(
            await session.scalars(
                select(OutboxMessage.body_text)
                .where(OutboxMessage.kind == "portal_link", OutboxMessage.practice_id == practice.id)
                .order_by(OutboxMessage.created_at.desc())
            )
        )
    match = re.search(r"http://testserver\.local(/p/[a-z0-9-]+/portal/sign-in/\S+)", bodies[0])
    assert match, "the e-mail carries the sign-in link"
    signed_in = await follow_sign_in_link(client, match.group(1))
    assert signed_in.status_code == 303, signed_in.text


async def outbox_ids(factory: Factory, practice: Practice, to: str | None = None) -> list[str]:
    async with session_scope(factory.alchemy) as session:
        scope_session(session, practice.id)
        stmt = select(OutboxMessage.id).order_by(OutboxMessage.created_at)
        if to is not None:
            stmt = stmt.where(OutboxMessage.to_address == to)
        return [str(r) for r in await session.scalars(stmt)]


async def _practice_by_slug(factory: Factory, slug: str) -> Practice:
    from scheduler.practice import services

    async with session_scope(factory.alchemy) as session:
        return await services.get_practice_by_slug(session, slug)


async def test_json_types_are_checked_strictly_not_coerced(client: Any, factory: Any) -> None:
    """A string where the schema says boolean or integer is refused, naming the field (no silent coercion)."""
    from scheduler.practice.models import Role

    practice = await factory.demo()
    owner = await factory.staff(practice, Role.OWNER)
    policy = await client.patch("/api/v1/practice/policy", json={"horizon_days": "30"}, headers=owner.headers)
    assert policy.status_code == 400, policy.text
    assert policy.json()["field"] == "horizon_days"
    rooms = (await client.get("/api/v1/rooms", headers=owner.headers)).json()["items"]
    flag = await client.patch(f"/api/v1/rooms/{rooms[0]['id']}", json={"is_active": "TRUE"}, headers=owner.headers)
    assert flag.status_code == 400, flag.text
    assert flag.json()["field"] == "is_active"
    fine = await client.patch("/api/v1/practice/policy", json={"horizon_days": 30}, headers=owner.headers)
    assert fine.status_code == 200, fine.text
