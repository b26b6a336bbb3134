"""A single booking racing a series commit for one of its times: never a double booking.

The two requests go to the real app served by uvicorn (`live_server`) at the same moment; whichever
transaction wins keeps the slot, the other gets a 409 and saves nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduler.practice.models import Role
from tests.integration.booking_helpers import Client, at, load_demo, weekday_ahead
from tests.integration.conftest import Factory
from tests.integration.test_series import assert_no_double_booking, new_client, plan_body

ROUNDS = 4


@pytest.fixture
async def http(live_server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server, timeout=120) as racing:
        yield racing


async def test_single_booking_racing_a_series_commit_never_double_books(
    client: Client, http: httpx.AsyncClient, factory: Factory, engine: AsyncEngine
) -> None:
    practice = await factory.demo()
    owner = await factory.staff(practice, Role.OWNER)
    demo = await load_demo(client)
    for round_ in range(ROUNDS):
        client_id = await new_client(client, owner.headers, f"series{round_}@example.test")
        other_id = await new_client(client, owner.headers, f"single{round_}@example.test")
        first = weekday_ahead(14 + 70 * round_, 1)
        created = await client.post(
            "/api/v1/treatment-plans", json=plan_body(demo, client_id, first), headers=owner.headers
        )
        assert created.status_code == 201, created.text
        plan_id = created.json()["id"]
        third = first + dt.timedelta(weeks=2)
        series, single = await asyncio.gather(
            http.post(
                f"/api/v1/treatment-plans/{plan_id}/series", json={"conflict_policy": "fail"}, headers=owner.headers
            ),
            http.post(
                "/api/v1/appointments",
                json={
                    "client_id": other_id,
                    "service_id": demo.massage,
                    "therapist_id": demo.therapist,
                    "start": at(third, 10, 30),
                },
                headers=owner.headers,
            ),
        )
        assert sorted([series.status_code, single.status_code]) == [201, 409], (series.text, single.text)
        loser = series if series.status_code == 409 else single
        assert loser.json()["code"] in {"slot_taken", "series_conflicts"}
        if series.status_code == 409:
            listed = await client.get(
                "/api/v1/appointments",
                params={
                    "date_from": first.isoformat(),
                    "date_to": (first + dt.timedelta(weeks=8)).isoformat(),
                    "client_id": client_id,
                },
                headers=owner.headers,
            )
            assert listed.json()["items"] == [], "a refused series leaves nothing behind"
        await assert_no_double_booking(engine)
