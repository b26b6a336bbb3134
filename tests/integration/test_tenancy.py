"""One deployment, many practices: nothing of practice B is visible or changeable by practice A."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from scheduler.db import TenantNotSet, scope_session, session_scope
from scheduler.practice.models import ApiToken, Role, Room, Service, Therapist
from tests.integration.conftest import Factory

Client = AsyncTestClient[Litestar]


async def test_staff_of_one_practice_get_404_for_every_object_of_another(
    client: Client, factory: Factory, app: Litestar
) -> None:
    await factory.demo()
    demo_owner_headers = (await factory.staff(await _demo(factory), Role.OWNER)).headers
    other = await factory.practice("other-place")
    outsider = await factory.staff(other, Role.OWNER)

    demo_ids: dict[str, list[str]] = {}
    for kind in ("therapists", "rooms", "services", "users"):
        listed = await client.get(f"/api/v1/{kind}", headers=demo_owner_headers)
        assert listed.status_code == 200
        demo_ids[kind] = [item["id"] for item in listed.json()["items"]]
        assert demo_ids[kind], f"the demo has {kind}"
    tokens = (await client.get("/api/v1/tokens", headers=demo_owner_headers)).json()["items"]

    for kind, ids in demo_ids.items():
        for object_id in ids:
            response = await client.get(f"/api/v1/{kind}/{object_id}", headers=outsider.headers)
            assert response.status_code == 404, (kind, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        # and their own lists never include the other practice's rows
        own = (await client.get(f"/api/v1/{kind}", headers=outsider.headers)).json()["items"]
        assert not {item["id"] for item in own} & set(ids)
    revoke = await client.delete(f"/api/v1/tokens/{tokens[0]['id']}", headers=outsider.headers)
    assert revoke.status_code == 404
    assert (await client.get("/api/v1/practice", headers=demo_owner_headers)).status_code == 200
    practice = (await client.get("/api/v1/practice", headers=outsider.headers)).json()
    assert practice["slug"] == "other-place"


async def test_public_paths_show_only_the_named_practice(client: Client, factory: Factory) -> None:
    await factory.demo()
    empty = await factory.practice("empty-studio")
    assert empty.slug == "empty-studio"
    demo = (await client.get("/api/v1/practices/demo/services")).json()["items"]
    assert len(demo) == 4
    assert (await client.get("/api/v1/practices/empty-studio/services")).json() == {"items": []}
    assert (await client.get("/api/v1/practices/empty-studio/therapists")).json() == {"items": []}
    missing = await client.get("/api/v1/practices/no-such-place/services")
    assert missing.status_code == 404
    assert missing.json()["field"] == "slug"


async def test_scoping_is_a_mechanism_not_a_habit(factory: Factory) -> None:
    """A query written without any practice filter still sees only the session's practice."""
    demo = await factory.demo()
    other = await factory.practice("second")
    async with session_scope(factory.alchemy) as session:
        scope_session(session, other.id)
        assert list(await session.scalars(select(Therapist))) == []
        assert list(await session.scalars(select(Service))) == []
    async with session_scope(factory.alchemy) as session:
        scope_session(session, demo.id)
        assert len(list(await session.scalars(select(Room)))) == 2
        # new rows are stamped with the session's practice
        session.add(Room(name="Annex"))
        await session.flush()
        annex = await session.scalar(select(Room).where(Room.name == "Annex"))
        assert annex is not None
        assert annex.practice_id == demo.id
    async with session_scope(factory.alchemy) as session:
        with pytest.raises(TenantNotSet):
            await session.scalars(select(ApiToken))


async def _demo(factory: Factory):  # type: ignore[no-untyped-def]
    from scheduler.practice import services

    async with session_scope(factory.alchemy) as session:
        return await services.get_practice_by_slug(session, "demo")
