"""Shared test set-up: one database per run (SQLite by default, PostgreSQL with
CAREBOOK_TEST_DATABASE_URL), created by the migrations, emptied between tests."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from scheduler.migrations import runner
from scheduler.practice import services as practice_services
from scheduler.settings import Settings, _normalise_database_url
from tests.live_server import ServerStartError, log_tail, serve_app

IN_CI = os.environ.get("CI", "").lower() == "true"

# Argon2 at production cost takes ~50 ms a hash; in-process tests hash hundreds of passwords. The
# algorithm and code path stay the same, only the work factors drop. Served apps (browser tests, the
# CLI) run in their own processes at full cost.
practice_services._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _requested_url() -> str | None:
    raw = os.environ.get("CAREBOOK_TEST_DATABASE_URL")
    return _normalise_database_url(raw) if raw else None


async def _create_pg_database(server_url: str, name: str) -> None:
    admin = create_async_engine(server_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()


async def _drop_pg_database(server_url: str, name: str) -> None:
    admin = create_async_engine(server_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh, migrated database for this test run."""
    requested = _requested_url()
    if requested is None or requested.startswith("sqlite"):
        with tempfile.TemporaryDirectory(prefix="carebook-test-") as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'test.sqlite3'}"
            runner.upgrade(url)
            yield url
        return
    server = make_url(requested)
    name = f"carebook_test_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_create_pg_database(requested, name))
    except OSError as exc:  # connection refused and friends
        message = f"PostgreSQL at {server.host}:{server.port} is unreachable: {exc}"
        pytest.exit(message, returncode=3)
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        runner.upgrade(url)
        yield url
    finally:
        asyncio.run(_drop_pg_database(requested, name))


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test-secret-key-not-for-production-0123456789",
        base_url="http://testserver.local",
    )


@pytest.fixture(scope="session")
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(database_url, poolclass=NullPool)
    yield eng
    await eng.dispose()


async def empty_all_tables(engine: AsyncEngine) -> None:
    from billing.sandbox.store import SandboxStore
    from scheduler.db import metadata

    # The offline Stripe account lives beside the app's database and outlives apps: each test starts a new one.
    sandbox_store = SandboxStore.for_database(engine.url.render_as_string(hide_password=False))
    try:
        await asyncio.to_thread(sandbox_store.clear)
    finally:
        sandbox_store.close()

    tables = [t.name for t in reversed(metadata.sorted_tables)]
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
        else:
            # Triggers that refuse DELETE (issued documents are immutable) are lifted for the clean-up only
            # and put back as the migrations wrote them, in the same transaction. PostgreSQL's TRUNCATE
            # fires no row trigger, so nothing needs lifting there.
            found = await conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
            triggers = found.all()
            for name, _sql in triggers:
                await conn.execute(text(f'DROP TRIGGER "{name}"'))
            for table in tables:
                await conn.execute(text(f'DELETE FROM "{table}"'))
            for _name, sql in triggers:
                await conn.execute(text(sql))


# --- the app served over HTTP (browser tests, API fuzzing) --------------------------------------------------------

SERVER_LOG = pytest.StashKey[Path]()


@pytest.fixture(scope="session")
def live_server(
    database_url: str, pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`uvicorn scheduler.asgi:app` on a free loopback port, on the run's database; yields its base URL."""
    log_path = tmp_path_factory.mktemp("carebook-server") / "server.log"
    pytestconfig.stash[SERVER_LOG] = log_path
    try:
        with serve_app(database_url, log_path) as base_url:
            yield base_url
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    """A failed test that talked to the live server gets the tail of the server's log in its report."""
    outcome = yield
    report = outcome.get_result()
    log_path = item.config.stash.get(SERVER_LOG, None)
    if report.failed and log_path is not None and "live_server" in getattr(item, "fixturenames", ()):
        report.sections.append(("carebook server log (tail)", log_tail(log_path)))
