"""Load tests: the app served by `carebook serve --workers 2` on a throw-away database, driven by client
processes (bench/burst.py). They are made for PostgreSQL (`make test-postgres`); on SQLite only a tiny
burst runs and the restart test is skipped."""

from __future__ import annotations

import pytest

SQLITE_REASON = (
    "needs PostgreSQL: SQLite is single-writer by design (a booking takes BEGIN IMMEDIATE), so a served "
    "burst there measures lock waits, not the exclusion constraints under test"
)


@pytest.fixture
def pg_url(database_url: str) -> str:
    """The run's PostgreSQL URL; the tests make (and drop) databases of their own on that server."""
    if not database_url.startswith("postgresql"):
        pytest.skip(SQLITE_REASON)
    return database_url
