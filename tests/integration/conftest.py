"""Integration fixtures: the real app on the run's database, an HTTP client, and data factories."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduler.app import create_app
from scheduler.db import build_alchemy_config, scope_session, session_scope
from scheduler.practice import services
from scheduler.practice.demo import seed_demo
from scheduler.practice.models import Practice, Role, StaffUser
from scheduler.settings import Settings
from tests.conftest import empty_all_tables

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
async def _clean_database(engine: AsyncEngine) -> None:
    """Each test starts from empty tables (the schema stays, as the migrations made it)."""
    await empty_all_tables(engine)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Litestar]:
    application = create_app(settings)
    yield application
    await application.state.alchemy.get_engine().dispose()


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as test_client:
        yield test_client


@dataclass
class Staff:
    user: StaffUser
    token: str
    practice: Practice

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Factory:
    """Builds just the rows a test needs, committed, through the same services the app uses."""

    _counter = itertools.count(1)

    def __init__(self, settings: Settings) -> None:
        # Its own unpooled engine: the app serves requests on the test client's event loop, and a
        # pooled connection must never cross loops.
        self.alchemy = build_alchemy_config(settings, pooled=False)

    async def practice(self, slug: str | None = None, timezone: str = "America/New_York") -> Practice:
        slug = slug or f"practice-{next(self._counter)}"
        async with session_scope(self.alchemy) as session:
            return await services.create_practice(session, slug=slug, name=f"Practice {slug}", timezone=timezone)

    async def staff(self, practice: Practice, role: Role = Role.OWNER, email: str | None = None) -> Staff:
        email = email or f"{role.value}{next(self._counter)}@{practice.slug}.test"
        async with session_scope(self.alchemy) as session:
            scope_session(session, practice.id)
            user = await services.add_user(session, practice=practice, email=email, password=PASSWORD, role=role)
            _, token = await services.create_token(session, user, label="test")
        return Staff(user=user, token=token, practice=practice)

    async def demo(self) -> Practice:
        async with session_scope(self.alchemy) as session:
            await seed_demo(session, password=PASSWORD)
            return await services.get_practice_by_slug(session, "demo")


@pytest.fixture
async def factory(settings: Settings) -> AsyncIterator[Factory]:
    built = Factory(settings)
    yield built
    await built.alchemy.get_engine().dispose()
