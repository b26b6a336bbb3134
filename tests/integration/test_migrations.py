"""The migrations are the schema: applying them gives exactly what the models describe."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import scheduler.models  # noqa: F401  (registers every table)
from scheduler.db import metadata
from scheduler.migrations.compare import compare_type, include_object
from scheduler.migrations.runner import alembic_config


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": compare_type, "include_object": include_object}
    )
    return list(compare_metadata(context, metadata))


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == [], f"models and migrations differ; add a revision (carebook db revision -m ...): {diff}"


async def test_database_is_at_the_single_head(engine: AsyncEngine, database_url: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(database_url))
    heads = script.get_heads()
    assert len(heads) == 1, f"migration history has branched: {heads}"

    def current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as conn:
        assert await conn.run_sync(current) == heads[0]
