"""Room names are unique per practice whatever their case, in any script (found by tests/fuzz: a second room
named "x\\x120?Ù" passed SQLite's ASCII-only lower() check and hit the unique index as a 500)."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.integration.conftest import Factory

Client = AsyncTestClient[Litestar]


@pytest.mark.parametrize(("first", "second"), [("Salle Ü", "Salle Ü"), ("Salle Ü", "salle ü"), ("Cedar", "CEDAR")])
async def test_a_room_name_taken_in_any_case_is_409(client: Client, factory: Factory, first: str, second: str) -> None:
    owner = await factory.staff(await factory.practice())
    created = await client.post("/api/v1/rooms", json={"name": first}, headers=owner.headers)
    assert created.status_code == 201, created.text
    again = await client.post("/api/v1/rooms", json={"name": second}, headers=owner.headers)
    assert again.status_code == 409, again.text
    assert again.json()["code"] == "already_exists"
    assert again.json()["field"] == "name"
    other = await client.post("/api/v1/rooms", json={"name": "Willow"}, headers=owner.headers)
    renamed = await client.patch(f"/api/v1/rooms/{other.json()['id']}", json={"name": second}, headers=owner.headers)
    assert renamed.status_code == 409, renamed.text
