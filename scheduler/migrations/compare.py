"""How autogenerate and the drift test compare models with a live schema.

SQLite cannot report advanced-alchemy's portable types (GUID as BINARY(16) reads back as NUMERIC), and
some of its tables carry indexes meant for other databases only (`ddl_if`). Both are noise, not drift.
"""

from __future__ import annotations

from typing import Any

from alembic.migration import MigrationContext
from sqlalchemy import Index
from sqlalchemy.types import TypeDecorator, TypeEngine


def compare_type(
    context: MigrationContext,
    inspected_column: Any,
    metadata_column: Any,
    inspected_type: TypeEngine[Any],
    metadata_type: TypeEngine[Any],
) -> bool | None:
    if context.dialect.name == "sqlite" and isinstance(metadata_type, TypeDecorator):
        return False
    return None  # alembic's own comparison


# The offline Stripe sandbox keeps its account in tables of its own that it creates itself, next to the app's on
# PostgreSQL (billing/sandbox/store.py): an emulated external service, not part of the app's schema.
FOREIGN_TABLE_PREFIX = "stripe_sandbox_"


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    if type_ == "table" and reflected and compare_to is None and (name or "").startswith(FOREIGN_TABLE_PREFIX):
        return False
    # Indexes declared with `ddl_if` are for other databases (advanced-alchemy's Spanner variants).
    if type_ == "index" and isinstance(obj, Index) and not reflected:
        condition = getattr(obj, "_ddl_if", None)
        return condition is None or condition.callable_ is None
    return True
