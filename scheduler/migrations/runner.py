"""Run Alembic from code, with the migrations found next to the installed package."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from scheduler.db import ensure_sqlite_folder
from scheduler.settings import MIGRATIONS_DIR


def alembic_config(database_url: str) -> Config:
    ensure_sqlite_folder(database_url)
    config = Config()
    config.set_main_option("path_separator", "os")
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def revision(database_url: str, message: str) -> None:
    command.revision(alembic_config(database_url), message=message, autogenerate=True)
