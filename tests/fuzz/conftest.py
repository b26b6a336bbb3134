"""Fuzzing fixtures: the demo practice with an owner token on the served app, and ids the fuzzer can aim at.

- `fuzz_data` (once per module): empty tables, the seeded demo practice, an owner API token, and one row of each
  kind (a booking with its manage token, time off, extra hours, a client) created through the served API. Their
  ids fill `KNOWN`, which `swap_known_values` (a schemathesis hook) uses so that generated path parameters,
  query values and body ids sometimes name rows that exist: the fuzzer then reaches past "404 no such id" into
  the handlers and services.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import requests
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.core.parameters import ParameterLocation
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduler.db import build_alchemy_config, scope_session, session_scope
from scheduler.practice import services
from scheduler.practice.demo import DEMO_OWNER, seed_demo
from scheduler.settings import Settings
from tests.conftest import empty_all_tables

PASSWORD = "correct horse battery"
NEW_YORK = ZoneInfo("America/New_York")
# Ids that exist in the demo practice, by the parameter or field name the API uses; filled by `fuzz_data`.
KNOWN: dict[str, list[str]] = {}


@dataclass
class FuzzData:
    """The owner's API token."""

    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _weekday_ahead(days: int) -> dt.date:
    day = dt.datetime.now(NEW_YORK).date() + dt.timedelta(days=days)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def _ids(http: httpx.Client, path: str) -> list[str]:
    response = http.get(path)
    response.raise_for_status()
    return [str(item["id"]) for item in response.json()["items"]]


def _create(http: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = http.post(path, json=body)
    assert response.status_code == 201, (path, response.status_code, response.text)
    result: dict[str, Any] = response.json()
    return result


def _known_rows(base_url: str, token: str) -> dict[str, list[str]]:
    """One of everything, created through the served API; returns the ids by parameter name."""
    day = _weekday_ahead(7)
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        therapists = _ids(http, "/api/v1/therapists")
        services_ = _ids(http, "/api/v1/services")
        rooms = _ids(http, "/api/v1/rooms")
        users = _ids(http, "/api/v1/users")
        # The fuzzer may revoke any token it knows of: a spare one, never the token it authenticates with.
        spare = _create(http, "/api/v1/tokens", {"label": "spare"})
        start = dt.datetime.combine(day, dt.time(10, 0), NEW_YORK)
        booked = _create(
            http,
            "/api/v1/practices/demo/bookings",
            {
                "service_id": services_[0],
                "therapist_id": therapists[0],
                "start": start.isoformat(),
                "client": {"first_name": "Fuzz", "last_name": "Client", "email": "fuzz@example.test"},
            },
        )
        manage_token = booked["manage_url"].rsplit("/", 1)[1]
        time_off = _create(
            http,
            f"/api/v1/therapists/{therapists[1]}/time-off",
            {"start": start.isoformat(), "end": (start + dt.timedelta(hours=2)).isoformat(), "reason": "fuzz"},
        )
        extra = _create(
            http,
            f"/api/v1/therapists/{therapists[2]}/extra-hours",
            {"day": (day + dt.timedelta(days=(5 - day.weekday()))).isoformat(), "start": "10:00", "end": "12:00"},
        )
    starts = [dt.datetime.combine(day + dt.timedelta(days=d), dt.time(h, 0), NEW_YORK) for d in (0, 1) for h in (9, 14)]
    return {
        "slug": ["demo"],
        "therapist_id": therapists,
        "service_id": services_,
        "room_id": rooms,
        "user_id": users,
        "token_id": [spare["id"]],
        "client_id": [booked["appointment"]["client_id"]],
        "appointment_id": [booked["appointment"]["id"]],
        "token": [manage_token],
        "time_off_id": [time_off["id"]],
        "extra_id": [extra["id"]],
        "date_from": [day.isoformat()],
        "date_to": [(day + dt.timedelta(days=6)).isoformat()],
        # Free starts on the seeded day and the next (instants for bookings and time off, HH:MM for extra hours).
        "start": [s.isoformat() for s in starts] + ["10:00"],
        "end": [(s + dt.timedelta(hours=1)).isoformat() for s in starts] + ["11:00"],
        "day": [day.isoformat()],
        "email": ["fuzz@example.test", "new.client@example.test"],
        "first_name": ["Ann"],
        "last_name": ["Lee"],
    }


@pytest.fixture(scope="module")
async def fuzz_data(engine: AsyncEngine, settings: Settings, live_server: str) -> FuzzData:
    """Empty tables, the demo practice, an owner token, and one row of each kind the API addresses by id.

    Once per module: the fuzzer's own writes (new therapists, a cancelled visit, a changed policy) stay for the
    rest of the run, which is part of the point: every state it reaches must still answer well.
    """
    await empty_all_tables(engine)
    config = build_alchemy_config(settings, pooled=False)
    try:
        async with session_scope(config) as session:
            await seed_demo(session, password=PASSWORD)
            owner = await services.find_user_by_email(session, DEMO_OWNER)
            assert owner is not None
            scope_session(session, owner.practice_id)
            _, token = await services.create_token(session, owner, label="fuzz")
    finally:
        await config.get_engine().dispose()
    KNOWN.clear()
    KNOWN.update(_known_rows(live_server, token))
    return FuzzData(token=token)


def _swap(value: Any, *, all_known: bool) -> st.SearchStrategy[Any]:
    if not isinstance(value, dict):
        return st.just(value)
    choices: dict[Any, st.SearchStrategy[Any]] = {}
    for key, item in value.items():
        if isinstance(item, str) and KNOWN.get(key):
            choices[key] = st.sampled_from(KNOWN[key] if all_known else [item, *KNOWN[key]])
        elif key in {"service_ids", "room_ids"} and isinstance(item, list) and KNOWN.get(key[:-1]):
            ids = KNOWN[key[:-1]]
            choices[key] = st.sampled_from([ids[:1], ids] if all_known else [item, ids[:1], ids])
        else:
            choices[key] = _swap(item, all_known=all_known)
    return st.fixed_dictionaries(choices)


_SWAPPED = (
    (ParameterLocation.PATH, "path_parameters"),
    (ParameterLocation.QUERY, "query"),
    (ParameterLocation.BODY, "body"),
)


def swap_known_values(context: Any, case: Case) -> st.SearchStrategy[Case]:
    """A schemathesis `flatmap_case` hook: in the path, query and body of a case, generated strings whose names
    have known values are swapped for them, either all at once (a request naming a real practice, service and
    free day, so it can succeed) or each on its own (a real id next to generated values).

    Only components generated as valid are touched: a negative component keeps its invalid value, and a known
    value is as valid as the generated string it replaces (or a 4xx the fuzzer accepts for valid input).
    """
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for location, attribute in _SWAPPED:
        value = getattr(case, attribute)
        if isinstance(value, dict) and not (case.meta is not None and case.meta.is_negative_at(location)):
            parts[attribute] = st.one_of(_swap(value, all_known=True), _swap(value, all_known=False))

    def apply(values: dict[str, Any]) -> Case:
        for attribute, value in values.items():
            setattr(case, attribute, value)
        return case

    return st.fixed_dictionaries(parts).map(apply)


@pytest.fixture(scope="module")
def http_session() -> Iterator[requests.Session]:
    """One keep-alive connection pool for the module's requests."""
    with requests.Session() as session:
        yield session
