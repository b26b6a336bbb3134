"""Gap-free document numbers: one counter row per (practice, kind), bumped inside the issuing transaction.

The bump is a single `UPDATE ... RETURNING`: on PostgreSQL it takes the counter row's lock, so a second
issuer waits until the first commits (or rolls back, and then its number is reused — no gap). On SQLite
the issuing transaction holds the database's write lock (`BEGIN IMMEDIATE`) from its start.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing.documents.models import DocumentCounter
from billing.documents.snapshot import DocumentKind
from scheduler.db import begin_write, insert_unless_conflict


async def hold_write_lock(session: AsyncSession) -> None:
    """On SQLite, make sure this transaction holds the write lock before it reads what it will number.

    A transaction that already wrote holds it already (SQLite allows one writer); one that has only read
    is restarted with `BEGIN IMMEDIATE`.
    """
    if session.bind.dialect.name == "sqlite" and not session.info.get("wrote"):
        await begin_write(session)


async def lock_counter(session: AsyncSession, practice_id: uuid.UUID, kind: DocumentKind) -> None:
    """Create the counter if missing and hold its lock: issuers of one kind in one practice go one by one,
    so "is there already a statement like this?" and "issue one" cannot interleave."""
    await hold_write_lock(session)
    await session.execute(
        insert_unless_conflict(
            session, DocumentCounter, ["practice_id", "kind"], practice_id=practice_id, kind=kind, last_seq=0
        )
    )
    await session.execute(
        select(DocumentCounter.last_seq)
        .where(DocumentCounter.practice_id == practice_id, DocumentCounter.kind == kind)
        .with_for_update()
    )
    session.info["wrote"] = True


async def next_seq(session: AsyncSession, practice_id: uuid.UUID, kind: DocumentKind) -> int:
    """The next number of `kind` in the practice, reserved until this transaction ends."""
    await lock_counter(session, practice_id, kind)
    bumped = await session.execute(
        update(DocumentCounter)
        .where(DocumentCounter.practice_id == practice_id, DocumentCounter.kind == kind)
        .values(last_seq=DocumentCounter.last_seq + 1)
        .returning(DocumentCounter.last_seq)
        .execution_options(synchronize_session=False)
    )
    session.info["wrote"] = True
    return int(bumped.scalar_one())
